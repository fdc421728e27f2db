/*
 * test_options.c - the option parser (env.c: units, booleans, names, the
 * words of each option's allowed values) and the statistics' call counts
 * on isolated instances (allocations counted from the sheaves' turns and
 * slow paths, frees derived, folded when a thread exits, reset when a
 * cache id is given to a new cache).
 */
#include <errno.h>
#include <pthread.h>

#include "env.h"
#include "test.h"

static void test_sizes(void)
{
	static const struct {
		const char *in;
		size_t out;
	} good[] = {
		{ "0", 0 },
		{ "4096", 4096 },
		{ "512k", (size_t)512 << 10 },
		{ "512K", (size_t)512 << 10 },
		{ "512KB", (size_t)512 << 10 },
		{ "64m", (size_t)64 << 20 },
		{ "1GiB", (size_t)1 << 30 },
		{ "1gib", (size_t)1 << 30 },
		{ "2T", (size_t)2 << 40 },
		{ "3TiB", (size_t)3 << 40 },
		{ "1P", (size_t)1 << 50 },
		{ "100B", 100 },
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		size_t v = 1;
		if (!env_parse_size(good[i].in, &v) || v != good[i].out) {
			fprintf(stderr, "env_parse_size(%s) = %zu\n", good[i].in, v);
			CHECK(0);
		}
	}
	static const char *const bad[] = { "", "G", "1.5G", "10Q", "1 G", "-1", "1Gi", "1GiBs",
					   "16777216T", "99999999999999999999" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t v = 7;
		if (env_parse_size(bad[i], &v)) {
			fprintf(stderr, "env_parse_size(%s) accepted: %zu\n", bad[i], v);
			CHECK(0);
		}
		CHECK_EQ(v, 7);
	}
}

static void test_bools(void)
{
	static const char *const yes[] = { "1", "yes", "YES", "on", "On", "true", "TRUE", "y" };
	static const char *const no[] = { "0", "no", "No", "off", "OFF", "false", "False", "n" };
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		bool b = false;
		CHECK(env_parse_bool(yes[i], &b) && b);
		b = true;
		CHECK(env_parse_bool(no[i], &b) && !b);
	}
	bool b = true;
	CHECK(!env_parse_bool("maybe", &b) && b);
	CHECK(!env_parse_bool("", &b) && b);
	CHECK(!env_parse_bool("2", &b) && b);
}

static void test_set(void)
{
	struct sm_env e;
	memset(&e, 0, sizeof(e));
	sm_options_init(&e.opts);
	CHECK_EQ(env_set(&e, "stats", "json"), ENV_STATS);
	CHECK_EQ(e.stats, SM_STATS_JSON);
	CHECK_EQ(env_set(&e, "STATS", "off"), ENV_STATS);
	CHECK_EQ(e.stats, SM_STATS_OFF);
	CHECK_EQ(env_set(&e, "SLABMALLOC_STATS", "yes"), ENV_STATS);
	CHECK_EQ(e.stats, SM_STATS_TEXT);
	CHECK_EQ(env_set(&e, "slabmalloc_node_size", "1GiB"), ENV_NODE_SIZE);
	CHECK_EQ(e.opts.node_size, (size_t)1 << 30);
	CHECK_EQ(env_set(&e, "node_size", "512k"), -2); /* below 1M */
	CHECK_EQ(e.opts.node_size, (size_t)1 << 30);
	CHECK_EQ(env_set(&e, "huge_threshold", "2T"), -2); /* above 512G */
	CHECK_EQ(env_set(&e, "huge_threshold", "512G"), ENV_HUGE_THRESHOLD);
	CHECK_EQ(env_set(&e, "helper_thread", "off"), ENV_HELPER_THREAD);
	CHECK(!e.opts.helper_thread);
	CHECK_EQ(env_set(&e, "on_error", "warn"), -2);
	CHECK_EQ(env_set(&e, "on_error", "Report"), ENV_ON_ERROR);
	CHECK(e.report_only && e.opts.error_handler);
	CHECK_EQ(env_set(&e, "on_error", "abort"), ENV_ON_ERROR);
	CHECK(!e.report_only && !e.opts.error_handler);
	CHECK_EQ(env_set(&e, "stats_file", "/tmp/x-%p.json"), ENV_STATS_FILE);
	CHECK(!strcmp(e.stats_file, "/tmp/x-%p.json"));
	CHECK_EQ(env_set(&e, "stats_interval", "86401"), -2);
	CHECK_EQ(env_set(&e, "stats_interval", "30"), ENV_STATS_INTERVAL);
	CHECK_EQ(e.stats_interval, 30);
	CHECK_EQ(env_set(&e, "no_such_option", "1"), -1);
	CHECK_EQ(env_set(&e, "SLABMALLOC_", "1"), -1);
	/* Each option's allowed values in its own words. */
	CHECK(!strcmp(env_allowed(ENV_ON_ERROR), "abort or report"));
	CHECK(strstr(env_allowed(ENV_VERBOSE), "yes/no") != NULL);
	CHECK(strstr(env_allowed(ENV_STATS), "json") != NULL);
	CHECK(strstr(env_allowed(ENV_NODE_SIZE), "1M to 1T") != NULL);
	CHECK(strstr(env_allowed(ENV_PURGE_DELAY_MS), "milliseconds") != NULL);
}

static uint64_t cache_allocs(sm_cache_t *s, uint64_t *frees, size_t *peak)
{
	struct sm_cache_stats st;
	sm_cache_stats_get(s, &st);
	*frees = st.frees;
	*peak = st.peak_objects;
	return st.allocs;
}

struct worker {
	sm_cache_t *s;
	unsigned n;
};

static void *alloc_and_exit(void *arg)
{
	struct worker *w = arg;
	void **p = calloc(w->n, sizeof(void *));
	CHECK(p);
	for (unsigned i = 0; i < w->n; i++)
		CHECK((p[i] = sm_cache_alloc(w->s, 0)) != NULL);
	for (unsigned i = 0; i < w->n; i++)
		sm_cache_free(w->s, p[i]);
	free(p);
	return NULL; /* the exit folds its counts into the cache */
}

static void test_counts(void)
{
	sm_instance_t *inst = sm_instance_create(NULL);
	CHECK(inst);
	sm_cache_t *s = sm_cache_create(inst, "counted", 200, 0, 0, NULL);
	CHECK(s);
	enum { N = 1000 };
	static void *p[N];
	uint64_t frees;
	size_t peak;
	for (unsigned i = 0; i < N; i++)
		CHECK((p[i] = sm_cache_alloc(s, 0)) != NULL);
	CHECK_EQ(cache_allocs(s, &frees, &peak), N);
	CHECK_EQ(frees, 0);
	CHECK(peak >= N && peak <= N + 2 * 64);
	for (unsigned i = 0; i < N / 2; i++)
		sm_cache_free(s, p[i]);
	CHECK_EQ(cache_allocs(s, &frees, &peak), N);
	CHECK_EQ(frees, N / 2);
	/* Past the sheaves (a node asked for): counted all the same. */
	void *q = sm_cache_alloc_node(s, 0, 0);
	CHECK(q);
	CHECK_EQ(cache_allocs(s, &frees, &peak), N + 1);
	sm_cache_free(s, q);
	for (unsigned i = N / 2; i < N; i++)
		sm_cache_free(s, p[i]);
	CHECK_EQ(cache_allocs(s, &frees, &peak), N + 1);
	CHECK_EQ(frees, N + 1);

	/* Another thread's, after it exited. */
	struct worker w = { s, 300 };
	pthread_t t;
	CHECK(pthread_create(&t, NULL, alloc_and_exit, &w) == 0);
	CHECK(pthread_join(t, NULL) == 0);
	CHECK_EQ(cache_allocs(s, &frees, &peak), N + 1 + 300);
	CHECK_EQ(frees, N + 1 + 300);

	/* The instance's totals: the cache's and the kmalloc caches' together. */
	void *k = sm_kmalloc(inst, 5000, 0); /* a size class */
	void *run = sm_kmalloc(inst, 100000, 0); /* a page run */
	CHECK(k && run);
	void *r2 = sm_krealloc(k, sm_ksize(k), 0); /* the same class: in place */
	CHECK(r2 == k);
	struct sm_stats st;
	sm_stats_get(inst, &st);
	CHECK_EQ(st.allocs, N + 1 + 300 + 2);
	CHECK_EQ(st.frees, N + 1 + 300);
	CHECK_EQ(st.reallocs, 1);
	CHECK_EQ(st.large_allocs, 1);
	CHECK_EQ(st.bytes_allocated, (uint64_t)(N + 1 + 300) * 200 + sm_ksize(k) + 100000);
	sm_kfree(k);
	sm_kfree(run);
	sm_stats_get(inst, &st);
	CHECK_EQ(st.frees, N + 1 + 300 + 2);
	CHECK_EQ(st.large_frees, 1);

	/* A new cache given the destroyed one's id counts from 0. */
	sm_thread_flush(inst);
	CHECK_EQ(sm_cache_destroy(s), 0);
	sm_cache_t *s2 = sm_cache_create(inst, "counted2", 200, 0, 0, NULL);
	CHECK(s2);
	CHECK_EQ(cache_allocs(s2, &frees, &peak), 0);
	void *o = sm_cache_alloc(s2, 0);
	CHECK_EQ(cache_allocs(s2, &frees, &peak), 1);
	sm_cache_free(s2, o);
	sm_instance_destroy(inst);
}

int main(void)
{
	test_sizes();
	test_bools();
	test_set();
	printf("parser ok\n");
	test_counts();
	printf("counts ok\n");
	return 0;
}
