/*
 * env.c - the options of the default instance: slabmalloc_conf, the
 * options sm_option_set() recorded, and the SLABMALLOC_* environment
 * (env.h).  Every option is listed once in the table below with its parser
 * and the words its error message uses; docs/usage.md mirrors the table.
 */
#include <string.h>

#include "env.h"
#include "options.h"
#include "os.h"
#include "printk.h"
#include "size_classes.h"

extern char **environ;

/*
 * A program sets options for itself by defining this string (as jemalloc's
 * malloc_conf): "stats=json,purge_delay_ms=200".  Weak and undefined here,
 * so its address is NULL unless the program (or a library) defines it.
 */
extern const char *slabmalloc_conf __attribute__((weak));

#define PREFIX "SLABMALLOC_"
#define PREFIX_LEN (sizeof(PREFIX) - 1)

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* Whether @a (@len bytes) and the NUL-terminated @b are equal, ignoring case. */
static bool eq_nocase(const char *a, size_t len, const char *b)
{
	for (size_t i = 0; i < len; i++)
		if (!b[i] || lower(a[i]) != lower(b[i]))
			return false;
	return b[len] == 0;
}

bool env_parse_size(const char *v, size_t *out)
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
	switch (lower(*v)) {
	case 'k': shift = 10; break;
	case 'm': shift = 20; break;
	case 'g': shift = 30; break;
	case 't': shift = 40; break;
	case 'p': shift = 50; break;
	}
	if (shift) {
		v++;
		if (*v == 'i' && (v[1] == 'B' || v[1] == 'b'))
			v += 2; /* KiB, GiB, ... */
		else if (*v == 'B' || *v == 'b')
			v++;    /* KB, GB, ... (powers of 1024 all the same) */
	} else if (*v == 'B' || *v == 'b') {
		v++;            /* bytes */
	}
	if (*v || (shift && x > (SIZE_MAX >> shift)))
		return false;
	*out = x << shift;
	return true;
}

bool env_parse_bool(const char *v, bool *out)
{
	static const char *const yes[] = { "1", "yes", "true", "on", "y" };
	static const char *const no[] = { "0", "no", "false", "off", "n" };
	size_t len = strlen(v);
	for (size_t i = 0; i < ARRAY_SIZE(yes); i++) {
		if (eq_nocase(v, len, yes[i])) {
			*out = true;
			return true;
		}
		if (eq_nocase(v, len, no[i])) {
			*out = false;
			return true;
		}
	}
	return false;
}

enum kind { K_BOOL, K_UINT, K_SIZE, K_ONERROR, K_STATS, K_PATH, K_DEBUG };

struct opt {
	const char *name;    /* after the prefix, upper case */
	enum kind kind;
	size_t off;          /* into struct sm_env */
	size_t min, max;     /* K_UINT and K_SIZE */
	const char *allowed; /* for the error message */
};

#define OPT(n, k, field, lo, hi, words) { n, k, offsetof(struct sm_env, field), lo, hi, words }
#define BOOL_WORDS "yes/no, on/off, true/false or 1/0"

/* In the order of enum sm_env_opt. */
static const struct opt table[ENV_NR_OPTS] = {
	OPT("STATS", K_STATS, stats, 0, 0, "no (or 0/off/false), yes (or 1/on/true/text) or json"),
	OPT("STATS_FILE", K_PATH, stats_file, 0, 0,
	    "a file name of at most 255 bytes (%p: the process id); empty: stderr"),
	OPT("STATS_INTERVAL", K_UINT, stats_interval, 0, 86400,
	    "0 (only at exit) to 86400 seconds"),
	OPT("VERBOSE", K_BOOL, verbose, 0, 0, BOOL_WORDS),
	OPT("ON_ERROR", K_ONERROR, report_only, 0, 0, "abort or report"),
	OPT("PURGE_DELAY_MS", K_UINT, opts.purge_delay_ms, 0, 3600000, "0 to 3600000 milliseconds"),
	OPT("NODE_SIZE", K_SIZE, opts.node_size, SM_MIN_NODE_SIZE, SM_MAX_NODE_SIZE,
	    "a size from 1M to 1T (units k, M, G, T; 1GiB and 1GB mean 1G)"),
	OPT("MAX_NODES", K_UINT, opts.max_nodes, 1, SM_MAX_NODES, "1 to 16 nodes"),
	OPT("SHEAF_CAPACITY", K_UINT, opts.sheaf_capacity, 0, SM_MAX_SHEAF_CAPACITY,
	    "0 (by object size) to 1024 objects"),
	OPT("BARN_MAX_FULL", K_UINT, opts.barn_max_full, 0, 1024, "0 to 1024 sheaves"),
	OPT("BARN_MAX_EMPTY", K_UINT, opts.barn_max_empty, 0, 1024, "0 to 1024 sheaves"),
	OPT("BARN_BYTES", K_SIZE, opts.barn_bytes, 0, (size_t)1 << 30,
	    "a size from 0 to 1G (units k, M, G)"),
	OPT("BARN_GROW_BYTES", K_SIZE, opts.barn_grow_bytes, 0, (size_t)1 << 30,
	    "a size from 0 to 1G (units k, M, G)"),
	OPT("SLAB_MAX_EMPTY", K_UINT, opts.slab_max_empty, 0, 1u << 20, "0 to 1048576 slabs"),
	OPT("HUGE_THRESHOLD", K_SIZE, opts.huge_threshold, SM_KMALLOC_MAX_CACHE_SIZE,
	    SM_MAX_HUGE_THRESHOLD, "a size from 32k to 512G (units k, M, G)"),
	OPT("HELPER_THREAD", K_BOOL, opts.helper_thread, 0, 0, BOOL_WORDS),
	OPT("HELPER_IDLE_MS", K_UINT, opts.helper_idle_ms, 0, 3600000, "0 to 3600000 milliseconds"),
	OPT("VALGRIND", K_BOOL, valgrind, 0, 0, BOOL_WORDS),
	OPT("HARDEN", K_BOOL, opts.harden, 0, 0, BOOL_WORDS),
	OPT("DEBUG", K_DEBUG, opts.debug, 0, 0,
	    "slab_debug flags (F consistency checks, Z red zones, P poisoning, U owner tracking, "
	    "T backtraces; - or empty: off), then optionally ,cache-name,... (kmalloc-64,...)"),
};

/* Why the last SLABMALLOC_DEBUG value was refused (set_reported prints it). */
static char debug_why[128];

bool env_parse_debug(const char *v, unsigned *flags, char *names, char *why, size_t why_len)
{
	unsigned f = 0;
	const char *c = v;
	for (; *c && *c != ','; c++) {
		switch (*c) {
		case 'F': case 'f': f |= SM_CACHE_DEBUG_CONSISTENCY; break;
		case 'Z': case 'z': f |= SM_CACHE_DEBUG_RED_ZONE; break;
		case 'P': case 'p': f |= SM_CACHE_DEBUG_POISON; break;
		case 'U': case 'u': f |= SM_CACHE_DEBUG_STORE_USER; break;
		case 'T': case 't': f |= SM_CACHE_DEBUG_BACKTRACE | SM_CACHE_DEBUG_STORE_USER; break;
		case '-': break;
		default:
			sm_snprintf(why, why_len, "'%c' is not a flag letter", *c);
			return false;
		}
	}
	size_t len = 0;
	while (*c == ',') {
		const char *name = ++c;
		while (*c && *c != ',')
			c++;
		size_t n = (size_t)(c - name);
		if (!n)
			continue; /* "FZ," or "a,,b" */
		if (n >= 32) {
			sm_snprintf(why, why_len, "cache name '%.*s' is longer than 31 bytes", (int)n, name);
			return false;
		}
		if (n > 8 && !memcmp(name, "kmalloc-", 8)) {
			/* A kmalloc cache must be one of the classes. */
			size_t sz = 0;
			bool ok = false;
			char num[24];
			if (n - 8 < sizeof(num)) {
				memcpy(num, name + 8, n - 8);
				num[n - 8] = 0;
				ok = env_parse_size(num, &sz) && sz && sz <= SM_KMALLOC_MAX_CACHE_SIZE &&
				     kmalloc_class_size(kmalloc_index(sz)) == sz;
			}
			if (!ok) {
				sm_snprintf(why, why_len, "no cache '%.*s': the kmalloc caches are kmalloc-8 to "
					    "kmalloc-32768, four per doubling above 64", (int)n, name);
				return false;
			}
		}
		if (len + n + 2 > SM_DEBUG_CACHES_MAX) {
			sm_snprintf(why, why_len, "the cache names are longer than %d bytes in all",
				    SM_DEBUG_CACHES_MAX - 1);
			return false;
		}
		if (len)
			names[len++] = ',';
		memcpy(names + len, name, n);
		len += n;
	}
	names[len] = 0;
	*flags = f;
	return true;
}

const char *env_allowed(int idx)
{
	return idx >= 0 && idx < ENV_NR_OPTS ? table[idx].allowed : "";
}

/* The option named by @name (@len bytes, any case, prefix optional), or -1. */
static int lookup(const char *name, size_t len)
{
	if (len > PREFIX_LEN) {
		bool prefixed = true;
		for (size_t i = 0; i < PREFIX_LEN; i++)
			if (lower(name[i]) != lower(PREFIX[i]))
				prefixed = false;
		if (prefixed) {
			name += PREFIX_LEN;
			len -= PREFIX_LEN;
		}
	}
	for (int i = 0; i < ENV_NR_OPTS; i++)
		if (eq_nocase(name, len, table[i].name))
			return i;
	return -1;
}

/* Apply @v to option @idx of @env; false (nothing changed) if malformed or out of range. */
static bool apply(struct sm_env *env, int idx, const char *v)
{
	const struct opt *o = &table[idx];
	char *field = (char *)env + o->off;
	size_t x;
	bool b;
	switch (o->kind) {
	case K_BOOL:
		if (!env_parse_bool(v, &b))
			return false;
		*(bool *)field = b;
		return true;
	case K_ONERROR:
		if (eq_nocase(v, strlen(v), "abort"))
			*(bool *)field = false;
		else if (eq_nocase(v, strlen(v), "report"))
			*(bool *)field = true;
		else
			return false;
		return true;
	case K_STATS:
		if (eq_nocase(v, strlen(v), "json"))
			*(uint8_t *)field = SM_STATS_JSON;
		else if (eq_nocase(v, strlen(v), "text"))
			*(uint8_t *)field = SM_STATS_TEXT;
		else if (env_parse_bool(v, &b))
			*(uint8_t *)field = b ? SM_STATS_TEXT : SM_STATS_OFF;
		else
			return false;
		return true;
	case K_PATH:
		if (strlen(v) >= SM_STATS_FILE_MAX)
			return false;
		strcpy(field, v);
		return true;
	case K_DEBUG: {
		unsigned f;
		char names[SM_DEBUG_CACHES_MAX];
		if (!env_parse_debug(v, &f, names, debug_why, sizeof(debug_why)))
			return false;
		*(unsigned *)field = f;
		strcpy(env->debug_caches, names);
		env->opts.debug_caches = names[0] ? env->debug_caches : NULL;
		return true;
	}
	case K_UINT:
	case K_SIZE:
		if (!env_parse_size(v, &x) || x < o->min || x > o->max)
			return false;
		if (o->kind == K_UINT)
			*(unsigned *)field = (unsigned)x;
		else
			*(size_t *)field = x;
		return true;
	}
	return false;
}

int env_set(struct sm_env *env, const char *name, const char *value)
{
	int idx = lookup(name, strlen(name));
	if (idx < 0)
		return -1;
	if (!apply(env, idx, value))
		return -2;
	if (idx == ENV_ON_ERROR)
		env->opts.error_handler = env->report_only ? env_report_and_go_on : NULL;
	return idx;
}

/* One name=value of @source (for messages: "SLABMALLOC_X=v" or "slabmalloc_conf: x=v"). */
static void set_reported(struct sm_env *env, const char *name, size_t nlen, const char *value,
			 const char *source)
{
	int idx = lookup(name, nlen);
	if (idx < 0) {
		sm_printk("slabmalloc: ignoring unknown option %s%.*s\n", source, (int)nlen, name);
		return;
	}
	if (!apply(env, idx, value)) {
		if (table[idx].kind == K_DEBUG)
			sm_printk("slabmalloc: ignoring %s%.*s=%s: %s; allowed values: %s\n", source, (int)nlen,
				  name, value, debug_why, table[idx].allowed);
		else
			sm_printk("slabmalloc: ignoring %s%.*s=%s: allowed values: %s\n", source, (int)nlen, name,
				  value, table[idx].allowed);
		return;
	}
	if (idx == ENV_ON_ERROR)
		env->opts.error_handler = env->report_only ? env_report_and_go_on : NULL;
}

/*
 * slabmalloc_conf: name=value (or name:value) pairs, separated by commas,
 * semicolons or white space; names as in the environment, without the
 * prefix, in any case.
 */
static void parse_conf(struct sm_env *env, const char *conf)
{
	const char *c = conf;
	while (*c) {
		while (*c == ',' || *c == ';' || *c == ' ' || *c == '\t' || *c == '\n')
			c++;
		if (!*c)
			break;
		const char *name = c;
		while (*c && *c != '=' && *c != ':' && *c != ',' && *c != ';' && *c != ' ')
			c++;
		size_t nlen = (size_t)(c - name);
		char value[SM_STATS_FILE_MAX + 1];
		size_t vlen = 0;
		if (*c == '=' || *c == ':') {
			c++;
			while (*c && *c != ',' && *c != ';' && *c != ' ' && *c != '\t' && *c != '\n') {
				if (vlen < sizeof(value) - 1)
					value[vlen] = *c;
				vlen++;
				c++;
			}
		}
		value[vlen < sizeof(value) ? vlen : sizeof(value) - 1] = 0;
		set_reported(env, name, nlen, value, "slabmalloc_conf option ");
	}
}

/* sm_option_set before the set-up: defaults and slabmalloc_conf, then each call. */
static struct sm_env preset;
static bool preset_used;

static void env_defaults(struct sm_env *env)
{
	memset(env, 0, sizeof(*env));
	sm_options_init(&env->opts);
	env->valgrind = true;
	const char *const *conf = &slabmalloc_conf;
	if (conf && *conf)
		parse_conf(env, *conf);
}

int env_preset(const char *name, const char *value)
{
	if (!preset_used) {
		env_defaults(&preset);
		preset_used = true;
	}
	return env_set(&preset, name, value);
}

void env_report_and_go_on(const char *msg, void *arg)
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
		if (!strncmp(*e, PREFIX, PREFIX_LEN) && !strncmp(*e + PREFIX_LEN, name, len) &&
		    (*e)[PREFIX_LEN + len] == '=')
			v = *e + PREFIX_LEN + len + 1;
	return v;
}

struct report_sink env_error_sink(void)
{
	const char *v = env_value("ON_ERROR");
	struct report_sink sink = { NULL, NULL };
	if (v && eq_nocase(v, strlen(v), "report"))
		sink.handler = env_report_and_go_on;
	return sink;
}

bool env_valgrind(void)
{
	const char *v = env_value("VALGRIND");
	bool on = true;
	return !v || !env_parse_bool(v, &on) || on;
}

/* opts.debug_caches into @env's own copy of the names (after a struct copy). */
static void env_debug_names(struct sm_env *env)
{
	env->opts.debug_caches = env->debug_caches[0] ? env->debug_caches : NULL;
}

void env_parse(struct sm_env *env)
{
	if (preset_used)
		*env = preset;
	else
		env_defaults(env);
	env_debug_names(env);
	if (!environ)
		return;
	for (char **e = environ; *e; e++) {
		const char *var = *e;
		if (strncmp(var, PREFIX, PREFIX_LEN))
			continue;
		const char *eq = strchr(var, '=');
		if (!eq)
			continue;
		set_reported(env, var, (size_t)(eq - var), eq + 1, "");
	}
}

/* The path of the mapping that holds @addr, from /proc/self/maps, into @buf ("" if not found). */
static void mapping_path(const void *addr, char *buf, size_t n)
{
	char maps[4096];
	size_t off = 0, len;
	uintptr_t a = (uintptr_t)addr;
	buf[0] = 0;
	/* Read a chunk at a time, from the start of the first line not yet seen. */
	while ((len = os_read_file("/proc/self/maps", off, maps, sizeof(maps))) > 0) {
		const char *l = maps, *end;
		while ((end = memchr(l, '\n', (size_t)(maps + len - l))) != NULL) {
			uintptr_t lo = 0, hi = 0;
			const char *c = l;
			for (; c < end && *c != '-'; c++)
				lo = lo * 16 + (uintptr_t)(*c <= '9' ? *c - '0' : lower(*c) - 'a' + 10);
			for (c++; c < end && *c != ' '; c++)
				hi = hi * 16 + (uintptr_t)(*c <= '9' ? *c - '0' : lower(*c) - 'a' + 10);
			if (a >= lo && a < hi) {
				const char *path = memchr(c, '/', (size_t)(end - c));
				if (path)
					sm_snprintf(buf, n, "%.*s", (int)(end - path), path);
				return;
			}
			l = end + 1;
		}
		if (l == maps)
			return; /* a line longer than the buffer */
		off += (size_t)(l - maps);
	}
}

void env_print(const struct sm_env *env)
{
	const struct sm_options *o = &env->opts;
	char path[256];
	mapping_path((const void *)env_print, path, sizeof(path));
	sm_printk("slabmalloc: version %d.%d, %s\n", SLABMALLOC_VERSION_MAJOR, SLABMALLOC_VERSION_MINOR,
		  path[0] ? path : "(path not found in /proc/self/maps)");
	static const char *const stats_word[] = { "no", "text", "json" };
	sm_printk("slabmalloc: options: stats=%s stats_file=%s stats_interval=%u on_error=%s\n",
		  stats_word[env->stats % 3], env->stats_file[0] ? env->stats_file : "(stderr)",
		  env->stats_interval, env->report_only ? "report" : "abort");
	sm_printk("slabmalloc: options: purge_delay_ms=%u node_size=%zu max_nodes=%u sheaf_capacity=%u barn_max_full=%u "
		  "barn_max_empty=%u barn_bytes=%zu barn_grow_bytes=%zu slab_max_empty=%u huge_threshold=%zu "
		  "helper_thread=%s helper_idle_ms=%u harden=%s\n", o->purge_delay_ms,
		  o->node_size, o->max_nodes, o->sheaf_capacity, o->barn_max_full, o->barn_max_empty,
		  o->barn_bytes, o->barn_grow_bytes, o->slab_max_empty, o->huge_threshold, o->helper_thread ? "yes" : "no",
		  o->helper_idle_ms, o->harden ? "yes" : "no");
	if (o->debug)
		sm_printk("slabmalloc: options: debug=%s%s%s%s%s%s%s\n",
			  o->debug & SM_CACHE_DEBUG_CONSISTENCY ? "F" : "",
			  o->debug & SM_CACHE_DEBUG_RED_ZONE ? "Z" : "",
			  o->debug & SM_CACHE_DEBUG_POISON ? "P" : "",
			  o->debug & SM_CACHE_DEBUG_STORE_USER ? "U" : "",
			  o->debug & SM_CACHE_DEBUG_BACKTRACE ? "T" : "",
			  env->debug_caches[0] ? "," : "", env->debug_caches);
}
