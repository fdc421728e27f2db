/*
 * introspect.c - the program behind tests/preload/introspect.py (issue 14,
 * sections 3 and 4): glibc's introspection calls, the statistics, and the
 * options set from code.  Each mode does one known thing; the driver runs
 * it with the environment it needs and checks what it prints or writes.
 *
 *   info N          N blocks of 1700 bytes (kmalloc-1792) and one of 64 MiB
 *                   kept, then malloc_info(0, stdout)
 *   mallopt         each mallopt parameter's return, one "name=ret" line,
 *                   and whether M_MMAP_THRESHOLD / M_MMAP_MAX took effect
 *   counts N        N blocks of 1700 bytes, 10 of them realloc'ed in place
 *                   to 1750, then all freed (the statistics count them)
 *   exec MB PROG..  touch MB MiB, then execv PROG (its peak RSS is its own)
 *   interval FILE   wait until FILE holds a periodic report ("final":false)
 *   last_thread     start the helper (periodic statistics asked for), then
 *                   pthread_exit from main: the process must still end
 *   option_set      sm_option_set after set-up: each return, one per line
 *   empty           a new instance, one object allocated and freed: the
 *                   program's live bytes and page runs (both 0)
 *
 * Built twice: linked with libslabmalloc.so (introspect) and with the
 * static library (introspect_static, -DSTATIC_LINK), where a constructor
 * that runs before the default instance is set up calls sm_option_set.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <slabmalloc.h>

#include "ptest.h"

/* Options for the default instance, read before the environment. */
const char *slabmalloc_conf = "purge_delay_ms=250, barn_max_full:6";

#ifdef STATIC_LINK
/* Before the default instance is set up (priority 101 runs before the
   archive's own constructor): every option may be set. */
static int early_rc[2];
__attribute__((constructor(101))) static void early(void)
{
	early_rc[0] = sm_option_set("purge_delay_ms", "275");
	early_rc[1] = sm_option_set("sheaf_capacity", "16");
}
#endif

#define BLOCK 1700

int __libc_mallopt(int param, int value); /* exported, not declared by glibc */

static void *volatile sink;

static int mode_info(int n)
{
	void **p = calloc((size_t)n, sizeof(void *));
	CHECK(p);
	for (int i = 0; i < n; i++)
		CHECK((p[i] = malloc(BLOCK)) != NULL);
	void *big = malloc((size_t)64 << 20);
	CHECK(big);
	sink = big;
	CHECK(malloc_info(0, stdout) == 0);
	errno = 0;
	CHECK(malloc_info(1, stdout) == -1 && errno == EINVAL);
	fflush(stdout);
	for (int i = 0; i < n; i++)
		free(p[i]);
	free(p);
	free(big);
	return 0;
}

static size_t huge_count(void)
{
	struct sm_stats st;
	sm_stats_get(sm_default_instance(), &st);
	return st.huge_allocations;
}

static int mode_mallopt(void)
{
	static const struct {
		const char *name;
		int param, value;
	} cases[] = {
		{ "M_ARENA_MAX", M_ARENA_MAX, 1 },   { "M_ARENA_TEST", M_ARENA_TEST, 1 },
		{ "M_MXFAST", M_MXFAST, 0 },          { "M_TOP_PAD", M_TOP_PAD, 4096 },
		{ "M_PERTURB", M_PERTURB, 0xa5 },     { "M_CHECK_ACTION", M_CHECK_ACTION, 3 },
		{ "M_TRIM_THRESHOLD", M_TRIM_THRESHOLD, 1 << 20 }, { "M_UNKNOWN", 12345, 1 },
		{ "M_MMAP_THRESHOLD_NEG", M_MMAP_THRESHOLD, -1 }, { "M_MMAP_MAX_1", M_MMAP_MAX, 1 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		printf("%s=%d\n", cases[i].name, mallopt(cases[i].param, cases[i].value));

	/* M_MMAP_THRESHOLD: 2 MiB is a mapping of its own above a 1 MiB threshold. */
	size_t h0 = huge_count();
	printf("M_MMAP_THRESHOLD=%d\n", mallopt(M_MMAP_THRESHOLD, 1 << 20));
	void *a = malloc((size_t)2 << 20);
	CHECK(a);
	printf("huge_after_threshold=%zu\n", huge_count() - h0);
	free(a);
	/* M_MMAP_MAX 0: never a mapping of its own, even at 40 MiB. */
	printf("M_MMAP_MAX=%d\n", mallopt(M_MMAP_MAX, 0));
	h0 = huge_count();
	void *b = malloc((size_t)40 << 20);
	CHECK(b);
	printf("huge_after_mmap_max=%zu\n", huge_count() - h0);
	free(b);
	/* M_TRIM_THRESHOLD 0: free memory goes back at once. */
	printf("M_TRIM_THRESHOLD=%d\n", mallopt(M_TRIM_THRESHOLD, 0));
	printf("__libc_mallopt=%d\n", __libc_mallopt(M_ARENA_MAX, 2));
	return 0;
}

static int mode_counts(int n)
{
	void **p = calloc((size_t)n, sizeof(void *));
	CHECK(p);
	for (int i = 0; i < n; i++)
		CHECK((p[i] = malloc(BLOCK)) != NULL);
	for (int i = 0; i < 10; i++) {
		void *q = realloc(p[i], BLOCK + 50);
		CHECK(q == p[i]); /* the same size class: in place */
	}
	for (int i = 0; i < n; i++)
		free(p[i]);
	free(p);
	return 0;
}

static int mode_exec(size_t mb, char **argv)
{
	size_t len = mb << 20;
	char *big = malloc(len);
	CHECK(big);
	memset(big, 1, len); /* resident */
	sink = big;
	execv(argv[0], argv);
	perror("execv");
	return 1;
}

static int mode_interval(const char *file)
{
	/* Allocations reach a slow path, which starts the helper thread. */
	for (int round = 0; round < 600; round++) {
		for (int i = 0; i < 64; i++)
			free(malloc(BLOCK));
		FILE *f = fopen(file, "r");
		if (f) {
			char line[8192];
			while (fgets(line, sizeof(line), f))
				if (strstr(line, "\"final\":false")) {
					fclose(f);
					printf("periodic report found\n");
					return 0;
				}
			fclose(f);
		}
		usleep(100000);
	}
	fprintf(stderr, "introspect: no periodic report in %s after 60 s\n", file);
	return 1;
}

/* Threads of this process (/proc/self/stat, field 20). */
static int nr_threads(void)
{
	char buf[1024];
	FILE *f = fopen("/proc/self/stat", "r");
	CHECK(f);
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	char *c = strrchr(buf, ')');
	CHECK(c);
	for (int field = 2; field < 20; c++)
		if (*c == ' ')
			field++;
	return atoi(c);
}

static int mode_last_thread(void)
{
	for (int round = 0; round < 600 && nr_threads() < 2; round++) {
		for (int i = 0; i < 64; i++)
			free(malloc(BLOCK)); /* a slow path starts the helper */
		usleep(100000);
	}
	CHECK(nr_threads() >= 2);
	printf("helper running; main exits\n");
	fflush(stdout);
	pthread_exit(NULL);
}

static int mode_option_set(void)
{
	printf("stats=%d\n", sm_option_set("stats", "json"));
	printf("purge_delay_ms=%d\n", sm_option_set("SLABMALLOC_PURGE_DELAY_MS", "500"));
	printf("huge_threshold=%d\n", sm_option_set("huge_threshold", "1GiB"));
	printf("node_size=%d\n", sm_option_set("node_size", "1G"));
	printf("bogus=%d\n", sm_option_set("bogus", "1"));
	printf("bad_value=%d\n", sm_option_set("purge_delay_ms", "10s"));
#ifdef STATIC_LINK
	printf("early_purge_delay_ms=%d\n", early_rc[0]);
	printf("early_sheaf_capacity=%d\n", early_rc[1]);
#endif
	return 0;
}

static void add_active(const struct sm_cache_stats *st, void *arg)
{
	*(size_t *)arg += st->active_objects;
}

static int mode_empty(void)
{
	sm_instance_t *inst = sm_instance_create(NULL);
	CHECK(inst);
	void *p = sm_kmalloc(inst, 100, 0);
	CHECK(p);
	sm_kfree(p);
	struct sm_stats st;
	sm_stats_get(inst, &st);
	size_t active = 0;
	sm_cache_foreach(inst, add_active, &active);
	printf("live_bytes=%zu\nlarge_bytes=%zu\nactive_objects=%zu\ninternal_nonzero=%d\n",
	       st.live_bytes, st.large_bytes, active, st.internal_bytes > 0);
	sm_instance_destroy(inst);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 3 && !strcmp(argv[1], "info"))
		return mode_info(atoi(argv[2]));
	if (argc >= 2 && !strcmp(argv[1], "mallopt"))
		return mode_mallopt();
	if (argc >= 3 && !strcmp(argv[1], "counts"))
		return mode_counts(atoi(argv[2]));
	if (argc >= 4 && !strcmp(argv[1], "exec"))
		return mode_exec((size_t)atol(argv[2]), argv + 3);
	if (argc >= 3 && !strcmp(argv[1], "interval"))
		return mode_interval(argv[2]);
	if (argc >= 2 && !strcmp(argv[1], "last_thread"))
		return mode_last_thread();
	if (argc >= 2 && !strcmp(argv[1], "option_set"))
		return mode_option_set();
	if (argc >= 2 && !strcmp(argv[1], "empty"))
		return mode_empty();
	fprintf(stderr, "usage: introspect info N | mallopt | counts N | exec MB PROG ARGS... | "
			"interval FILE | option_set | empty\n");
	return 2;
}
