/*
 * options_static.c - the SLABMALLOC_* options apply at every entry point,
 * however the library is linked (issue 10, item 7).
 *
 * This program is linked with the static library (libslabmalloc.a) and uses
 * only the kernel-style API of <slabmalloc/kernel.h> (kmem_cache_create,
 * kmem_cache_alloc, kmem_cache_free, kfree): it never calls malloc, so the
 * archive's malloc shim is not linked in and its constructor does not run
 * (checked: malloc must resolve to libc).  The environment used to be read
 * only by that constructor, so none of the options below did anything here.
 *
 *   stats           SLABMALLOC_STATS=1: at exit the statistics table is on
 *                   stderr, with a row for the program's own cache.
 *   verbose         SLABMALLOC_VERBOSE=1: a start-up line about the options.
 *   unknown         SLABMALLOC_NO_SUCH_OPTION=1: a warning naming it.
 *   on_error_report SLABMALLOC_ON_ERROR=report, and the first allocator call
 *                   is a bad kfree (a stack address): the report (naming the
 *                   address) is printed and the program goes on, allocates
 *                   from a cache and exits 0.
 *   on_error_abort  the same without the option: SIGABRT after the report
 *                   (the default must stay).
 */
#define _GNU_SOURCE
#include <dlfcn.h>

#include <slabmalloc/kernel.h>

#include "rtest.h"

#define CACHE_NAME "rel_static_obj"

static void use_cache(void)
{
	struct kmem_cache *s = kmem_cache_create(CACHE_NAME, 200, 0, 0, NULL);
	CHECK(s);
	void *v[100];
	for (int i = 0; i < 100; i++) {
		v[i] = kmem_cache_alloc(s, GFP_KERNEL);
		CHECK(v[i]);
		fill(v[i], 200, (uint64_t)i);
	}
	for (int i = 0; i < 100; i++) {
		CHECK_FILL(v[i], 200, (uint64_t)i);
		if (i % 2)
			kmem_cache_free(s, v[i]);
	}
	/* Half stay allocated, and the cache stays: it has a row in the table. */
}

static int case_use(void)
{
	use_cache();
	return 0;
}

static int case_bad_kfree(void)
{
	char buf[64];
	char *p = launder(buf + 8);
	rt_ctl("ADDR %p", p);
	kfree(p); /* the first allocator call of the process */
	rt_ctl("AFTER");
	use_cache();
	return 0;
}

static const struct rt_case cases[] = {
	{ "use", case_use },
	{ "bad_kfree", case_bad_kfree },
};

static const char *addr_of(const struct rt_outcome *o, char *buf, size_t n)
{
	const char *a = strstr(o->ctl, "ADDR ");
	if (!a)
		return "(no address sent)";
	snprintf(buf, n, "%.*s", (int)strcspn(a + 5, "\n"), a + 5);
	return buf;
}

int main(int argc, char **argv)
{
	int r = rt_case_main(argc, argv, cases, sizeof(cases) / sizeof(cases[0]));
	if (r >= 0)
		return r;

	/* The shim must not be in this program, or the test proves nothing. */
	Dl_info di;
	void *m = dlsym(RTLD_DEFAULT, "malloc");
	CHECK(m && dladdr(m, &di) && di.dli_fname);
	if (!strstr(di.dli_fname, "libc.so")) {
		printf("FAIL malloc resolves to %s, not libc: the malloc shim was linked in, so this "
		       "test would not test the other entry points\n", di.dli_fname);
		return 1;
	}

	static struct rt_outcome o;
	char addr[64];
	const char *why;
	int failed = 0;

	static const char *const stats_env[] = { "SLABMALLOC_STATS=1", NULL };
	rt_run("use", stats_env, 30, &o);
	why = !rt_exit0(&o) ? "expected exit status 0"
	      : !line_with(o.err, CACHE_NAME, NULL) ? "SLABMALLOC_STATS=1: no statistics row for " CACHE_NAME
						       " on stderr at exit" : NULL;
	failed += rt_verdict("stats", why, &o);

	static const char *const verbose_env[] = { "SLABMALLOC_VERBOSE=1", NULL };
	rt_run("use", verbose_env, 30, &o);
	why = !rt_exit0(&o) ? "expected exit status 0"
	      : !line_with(o.err, "slabmalloc", "option") ? "SLABMALLOC_VERBOSE=1: no start-up line about the options"
							    : NULL;
	failed += rt_verdict("verbose", why, &o);

	static const char *const unknown_env[] = { "SLABMALLOC_NO_SUCH_OPTION=1", NULL };
	rt_run("use", unknown_env, 30, &o);
	why = !rt_exit0(&o) ? "expected exit status 0"
	      : !line_with(o.err, "SLABMALLOC_NO_SUCH_OPTION", NULL) ? "no warning naming SLABMALLOC_NO_SUCH_OPTION"
								     : NULL;
	failed += rt_verdict("unknown", why, &o);

	static const char *const report_env[] = { "SLABMALLOC_ON_ERROR=report", NULL };
	rt_run("bad_kfree", report_env, 30, &o);
	addr_of(&o, addr, sizeof(addr));
	why = !rt_exit0(&o) ? "SLABMALLOC_ON_ERROR=report: expected exit status 0 after the bad kfree"
	      : !line_with(o.err, "slabmalloc", addr) ? "no report naming the address" : NULL;
	failed += rt_verdict("on_error_report", why, &o);

	static const char *const abort_env[] = { "SLABMALLOC_ON_ERROR=abort", NULL };
	rt_run("bad_kfree", abort_env, 30, &o);
	addr_of(&o, addr, sizeof(addr));
	why = !rt_signaled(&o, SIGABRT) ? "default: expected SIGABRT after the bad kfree"
	      : !line_with(o.err, "slabmalloc", addr) ? "no report naming the address"
	      : strstr(o.ctl, "AFTER") ? "the bad kfree returned" : NULL;
	failed += rt_verdict("on_error_abort", why, &o);
	return failed != 0;
}
