/*
 * env.c - the SLABMALLOC_* environment variables.  Every option is listed
 * once in the table below with its parser; docs/usage.md mirrors the table.
 */
#include <string.h>

#include "env.h"
#include "options.h"
#include "printk.h"

extern char **environ;

#define PREFIX "SLABMALLOC_"

/* Parse an unsigned decimal with an optional k/m/g suffix (powers of 1024). */
static bool parse_size(const char *v, size_t *out)
{
	size_t x = 0;
	if (*v < '0' || *v > '9')
		return false;
	while (*v >= '0' && *v <= '9') {
		size_t d = (size_t)(*v++ - '0');
		if (x > (SIZE_MAX - d) / 10)
			return false;
		x = x * 10 + d;
	}
	unsigned shift = 0;
	switch (*v) {
	case 'k': case 'K': shift = 10; v++; break;
	case 'm': case 'M': shift = 20; v++; break;
	case 'g': case 'G': shift = 30; v++; break;
	}
	if (*v == 'b' || *v == 'B')
		v++;
	if (*v || (shift && x > (SIZE_MAX >> shift)))
		return false;
	*out = x << shift;
	return true;
}

static bool parse_bool(const char *v, bool *out)
{
	if (!strcmp(v, "1") || !strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "on"))
		*out = true;
	else if (!strcmp(v, "0") || !strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "off"))
		*out = false;
	else
		return false;
	return true;
}

enum kind { K_BOOL, K_UINT, K_SIZE, K_ONERROR };

struct opt {
	const char *name;  /* after the prefix */
	enum kind kind;
	size_t off;        /* into struct sm_env */
	size_t min, max;
};

#define OPT(n, k, field, lo, hi) { n, k, offsetof(struct sm_env, field), lo, hi }

static const struct opt table[] = {
	OPT("STATS", K_BOOL, stats, 0, 1),
	OPT("VERBOSE", K_BOOL, verbose, 0, 1),
	OPT("ON_ERROR", K_ONERROR, report_only, 0, 1),
	OPT("PURGE_DELAY_MS", K_UINT, opts.purge_delay_ms, 0, 3600000),
	OPT("NODE_SIZE", K_SIZE, opts.node_size, SM_MIN_NODE_SIZE, SM_MAX_NODE_SIZE),
	OPT("MAX_NODES", K_UINT, opts.max_nodes, 1, SM_MAX_NODES),
	OPT("SHEAF_CAPACITY", K_UINT, opts.sheaf_capacity, 0, 1024),
	OPT("BARN_MAX_FULL", K_UINT, opts.barn_max_full, 0, 1024),
	OPT("BARN_MAX_EMPTY", K_UINT, opts.barn_max_empty, 0, 1024),
	OPT("BARN_BYTES", K_SIZE, opts.barn_bytes, 0, (size_t)1 << 30),
	OPT("SLAB_MAX_EMPTY", K_UINT, opts.slab_max_empty, 0, 1u << 20),
	OPT("HUGE_THRESHOLD", K_SIZE, opts.huge_threshold, SM_KMALLOC_MAX_CACHE_SIZE, SM_MAX_HUGE_THRESHOLD),
	OPT("HELPER_THREAD", K_BOOL, opts.helper_thread, 0, 1),
	OPT("HELPER_IDLE_MS", K_UINT, opts.helper_idle_ms, 0, 3600000),
	OPT("HARDEN", K_BOOL, opts.harden, 0, 1),
};

static void apply(struct sm_env *env, const struct opt *o, const char *v, const char *var)
{
	char *field = (char *)env + o->off;
	size_t x;
	bool b, ok = true;
	switch (o->kind) {
	case K_BOOL:
		ok = parse_bool(v, &b);
		if (ok)
			*(bool *)field = b;
		break;
	case K_ONERROR:
		ok = !strcmp(v, "abort") || !strcmp(v, "report");
		if (ok)
			*(bool *)field = !strcmp(v, "report");
		break;
	case K_UINT:
	case K_SIZE:
		ok = parse_size(v, &x) && x >= o->min && x <= o->max;
		if (ok && o->kind == K_UINT)
			*(unsigned *)field = (unsigned)x;
		else if (ok)
			*(size_t *)field = x;
		break;
	}
	if (!ok)
		sm_printk("slabmalloc: ignoring %s: malformed or out-of-range value (allowed %zu..%zu%s)\n",
			  var, o->min, o->max, o->kind == K_ONERROR ? ", abort|report" : "");
}

/* SLABMALLOC_ON_ERROR=report: print the report and let the program go on. */
static void report_and_go_on(const char *msg, void *arg)
{
	(void)arg;
	sm_printk("%s (ignored: SLABMALLOC_ON_ERROR=report)\n", msg);
}

/* The value of SLABMALLOC_<name> (the last one, as env_parse applies them), or NULL. */
static const char *env_value(const char *name)
{
	size_t len = strlen(name);
	const char *v = NULL;
	for (char **e = environ; e && *e; e++)
		if (!strncmp(*e, PREFIX, sizeof(PREFIX) - 1) &&
		    !strncmp(*e + sizeof(PREFIX) - 1, name, len) && (*e)[sizeof(PREFIX) - 1 + len] == '=')
			v = *e + sizeof(PREFIX) + len;
	return v;
}

struct report_sink env_error_sink(void)
{
	const char *v = env_value("ON_ERROR");
	struct report_sink sink = { NULL, NULL };
	if (v && !strcmp(v, "report"))
		sink.handler = report_and_go_on;
	return sink;
}

void env_parse(struct sm_env *env)
{
	memset(env, 0, sizeof(*env));
	sm_options_init(&env->opts);
	if (!environ)
		return;
	for (char **e = environ; *e; e++) {
		const char *var = *e;
		if (strncmp(var, PREFIX, sizeof(PREFIX) - 1))
			continue;
		const char *name = var + sizeof(PREFIX) - 1;
		const char *eq = strchr(name, '=');
		if (!eq)
			continue;
		size_t len = (size_t)(eq - name);
		const struct opt *o = NULL;
		for (size_t i = 0; i < ARRAY_SIZE(table); i++)
			if (strlen(table[i].name) == len && !strncmp(table[i].name, name, len))
				o = &table[i];
		if (!o) {
			sm_printk("slabmalloc: ignoring unknown option %.*s\n", (int)(eq - var), var);
			continue;
		}
		apply(env, o, eq + 1, var);
	}
	if (env->report_only)
		env->opts.error_handler = report_and_go_on;
}

void env_print(const struct sm_env *env)
{
	const struct sm_options *o = &env->opts;
	sm_printk("slabmalloc: options: node_size=%zu max_nodes=%u purge_delay_ms=%u sheaf_capacity=%u "
		  "barn_max_full=%u barn_max_empty=%u barn_bytes=%zu slab_max_empty=%u huge_threshold=%zu "
		  "helper_thread=%d helper_idle_ms=%u stats=%d on_error=%s harden=%d\n",
		  o->node_size, o->max_nodes, o->purge_delay_ms, o->sheaf_capacity, o->barn_max_full,
		  o->barn_max_empty, o->barn_bytes, o->slab_max_empty, o->huge_threshold, o->helper_thread,
		  o->helper_idle_ms, env->stats,
		  env->report_only ? "report" : "abort", o->harden);
}
