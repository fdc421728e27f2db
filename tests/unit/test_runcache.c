/*
 * test_runcache.c - the per-thread cache of freed page runs (runcache.h,
 * issue 11) on isolated instances with a fake clock: a freed run is handed
 * to the next request of its page count; the cache is bounded; the purge
 * flushes it after the delay (also another thread's), sm_purge(force) and
 * thread exit flush it all; a thread without a tcache caches nothing; a
 * run freed next to a dirty free run merges instead of being cached, and
 * a request bigger than the cache gives back the cached runs that can
 * merge; a
 * second free of a cached run is reported; the
 * nolock path never takes from it; a fork child gives back the cache of a
 * thread that did not come along.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"
#include "fake_clock.h"
#include "tcache.h"

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)


static void attach(sm_instance_t *inst);

static sm_instance_t *make(struct test_errors *e, unsigned delay_ms)
{
	struct sm_options o = test_options(e);
	o.purge_delay_ms = delay_ms;
	o.helper_thread = false;
	o.os = &fake_os;
	sm_instance_t *inst = sm_instance_create(&o);
	CHECK(inst != NULL);
	attach(inst);
	return inst;
}

/* A small allocation gives the thread its tcache (a page run alone does not). */
static void attach(sm_instance_t *inst)
{
	sm_kfree(sm_kmalloc(inst, 16, 0));
	CHECK(tcache_mine(inst) != NULL);
}

/* Pages in the calling thread's run cache of @inst. */
static size_t my_cached_pages(sm_instance_t *inst)
{
	struct tcache *tc = tcache_mine(inst);
	return tc ? runcache_pages(&tc->runs) : 0;
}

static size_t stat_large(sm_instance_t *inst)
{
	struct sm_stats st;
	sm_stats_get(inst, &st);
	return st.large_bytes;
}

/* ---- a hit, calloc from the cache, usable size ---- */

static void test_hit(void)
{
	struct test_errors e = { 0 };
	sm_instance_t *inst = make(&e, 100);
	void *a = sm_kmalloc(inst, 64 * KiB, 0);
	CHECK(a != NULL);
	CHECK_EQ(sm_ksize(a), 64 * KiB);
	memset(a, 0x5a, 64 * KiB);
	size_t tcache_bytes = stat_large(inst) - 64 * KiB; /* the thread's tcache is a run too */
	sm_kfree(a);
	CHECK_EQ(my_cached_pages(inst), 16);
	/* Freed: not a large allocation any more, free dirty memory. */
	CHECK_EQ(stat_large(inst), tcache_bytes);
	struct sm_stats st;
	sm_stats_get(inst, &st);
	CHECK(st.free_dirty_bytes >= 64 * KiB);
	/* Not live while cached. */
	CHECK_EQ(sm_ksize(a), 0);
	CHECK_EQ(e.count, 1);
	e.count = 0;

	/* The same page count gets it back, with the size asked for. */
	void *b = sm_kmalloc(inst, 64 * KiB - 100, 0);
	CHECK(b == a);
	CHECK_EQ(my_cached_pages(inst), 0);
	CHECK_EQ(sm_ksize(b), 64 * KiB);
	CHECK_EQ(((unsigned char *)b)[100], 0x5a); /* dirty: as it was left */
	sm_kfree(b);

	/* A zeroed request from the cache is zero. */
	unsigned char *c = sm_kmalloc(inst, 64 * KiB, SM_GFP_ZERO);
	CHECK((void *)c == a);
	for (size_t i = 0; i < 64 * KiB; i++)
		CHECK(c[i] == 0);
	/* Another page count does not take it. */
	sm_kfree(c);
	void *d = sm_kmalloc(inst, 68 * KiB, 0);
	CHECK(d != NULL && d != a);
	CHECK_EQ(my_cached_pages(inst), 16);
	/* realloc in place still works on a live run. */
	void *d2 = sm_krealloc(d, 60 * KiB, 0);
	CHECK(d2 == d);
	sm_kfree(d2);
	/* sm_thread_flush gives the cached runs back to their node. */
	CHECK(my_cached_pages(inst) > 0);
	sm_thread_flush(inst);
	CHECK_EQ(my_cached_pages(inst), 0);
	CHECK_EQ(e.count, 0);
	sm_instance_destroy(inst);
}

/*
 * A thread whose first allocation is a page run: one too big for the cache
 * does not attach it (and its node takes it back when freed); the first
 * one the cache could serve does, before its run is taken, so the
 * tcache's pages come first in the node, and the run is then cached.
 */
static void *page_run_thread(void *v)
{
	sm_instance_t *inst = v;
	char *big = sm_kmalloc(inst, 2 * MiB, 0);
	CHECK(big != NULL);
	CHECK(tcache_mine(inst) == NULL);

	char *p = sm_kmalloc(inst, 64 * KiB, 0);
	struct tcache *tc = tcache_mine(inst);
	CHECK(p != NULL && tc != NULL);
	CHECK((char *)tc == big + 2 * MiB && (char *)tc < p);
	sm_kfree(p);
	CHECK_EQ(my_cached_pages(inst), 16);
	CHECK(sm_kmalloc(inst, 64 * KiB, 0) == p);
	sm_kfree(p);
	sm_kfree(big); /* too big for the cache: back in its node */
	struct sm_stats st;
	sm_stats_get(inst, &st);
	CHECK(st.free_dirty_bytes >= 2 * MiB);
	return NULL;
}

/*
 * A run freed next to a dirty free run goes to its node and merges there
 * instead of being cached (runcache.c, run_has_free_neighbour): a cached
 * run merges with nothing, and the free space around it stays split.
 */
static void test_free_neighbour(void)
{
	struct test_errors e = { 0 };
	sm_instance_t *inst = make(&e, 100);
	char *a = sm_kmalloc(inst, 2 * MiB, 0);    /* too big for the cache */
	char *b = sm_kmalloc(inst, 64 * KiB, 0);
	char *c = sm_kmalloc(inst, 64 * KiB, 0);
	char *d = sm_kmalloc(inst, 64 * KiB, 0);   /* keeps c's far side live */
	CHECK(a && b && c && d);
	/* A fresh instance hands out its pages in order. */
	CHECK(b == a + 2 * MiB && c == b + 64 * KiB && d == c + 64 * KiB);
	sm_kfree(c); /* live on both sides: cached */
	CHECK_EQ(my_cached_pages(inst), 16);
	sm_kfree(a); /* to its node, a dirty free run */
	CHECK_EQ(my_cached_pages(inst), 16);
	sm_kfree(b); /* right after a: merged with it, not cached */
	CHECK_EQ(my_cached_pages(inst), 16);
	struct sm_stats st;
	sm_stats_get(inst, &st);
	CHECK(st.free_dirty_bytes >= 2 * MiB + 64 * KiB);
	/* The next 2 MiB + 64 KiB request fits where a and b were. */
	char *ab = sm_kmalloc(inst, 2 * MiB + 64 * KiB, 0);
	CHECK(ab == a);
	sm_kfree(ab);
	sm_kfree(d);
	CHECK_EQ(e.count, 0);
	sm_instance_destroy(inst);
}

/*
 * Runs cached side by side merge with nothing while cached.  A request
 * bigger than the cache keeps gives back, before it goes to the nodes,
 * the cached runs next to a dirty free run or to another cached run
 * (runcache_release_mergeable): they merge into room the request may use.
 * A request the cache could serve does not (its miss would only turn the
 * cache's runs over).
 */
static void test_release_mergeable(void)
{
	struct test_errors e = { 0 };
	sm_instance_t *inst = make(&e, 100);
	char *x = sm_kmalloc(inst, 64 * KiB, 0);
	char *y = sm_kmalloc(inst, 64 * KiB, 0);
	char *w = sm_kmalloc(inst, 64 * KiB, 0);   /* keeps y's far side live */
	CHECK(x && y && w);
	CHECK(y == x + 64 * KiB && w == y + 64 * KiB);
	sm_kfree(x);
	sm_kfree(y); /* next to a cached run, not a free one: cached too */
	CHECK_EQ(my_cached_pages(inst), 32);
	void *small = sm_kmalloc(inst, 40 * KiB, 0); /* a page run the cache could serve, missed */
	CHECK(small != NULL && sm_ksize(small) == 40 * KiB);
	CHECK_EQ(my_cached_pages(inst), 32);
	void *big = sm_kmalloc(inst, 2 * MiB, 0);    /* bigger than the cache keeps */
	CHECK(big != NULL);
	CHECK_EQ(my_cached_pages(inst), 0);
	/* x and y merged in their node: the two sizes together fit there. */
	char *xy = sm_kmalloc(inst, 128 * KiB, 0);
	CHECK(xy == x);
	sm_kfree(xy);
	sm_kfree(big);
	sm_kfree(small);
	sm_kfree(w);
	CHECK_EQ(e.count, 0);
	sm_instance_destroy(inst);
}

/* ---- the bounds: slots, budget, size ---- */

static void test_bounds(void)
{
	struct test_errors e = { 0 };
	sm_instance_t *inst = make(&e, 100);
	enum { N = 40 };
	void *p[N];
	for (int i = 0; i < N; i++) {
		p[i] = sm_kmalloc(inst, 256 * KiB, 0);
		CHECK(p[i] != NULL);
	}
	for (int i = 0; i < N; i++)
		sm_kfree(p[i]);
	/* 16 runs of 64 pages would be 1024 pages: at the budget, no more. */
	CHECK_LE(my_cached_pages(inst), RUNCACHE_BUDGET_PAGES);
	CHECK_EQ(my_cached_pages(inst), 1024);
	/* The rest went back to the node: only the tcache is live. */
	CHECK_LE(stat_large(inst), ALIGN_UP(sizeof(struct tcache), SM_PAGE_SIZE));

	/* Small runs: at most RUNCACHE_SLOTS of them. */
	sm_purge(inst, true);
	CHECK_EQ(my_cached_pages(inst), 0);
	void *q[N];
	for (int i = 0; i < N; i++)
		q[i] = sm_kmalloc(inst, 40 * KiB, 0);
	for (int i = 0; i < N; i++)
		sm_kfree(q[i]);
	CHECK_EQ(my_cached_pages(inst), RUNCACHE_SLOTS * 10);

	/* Above RUNCACHE_MAX_PAGES: never cached. */
	sm_purge(inst, true);
	void *big = sm_kmalloc(inst, 2 * MiB, 0);
	CHECK(big != NULL);
	sm_kfree(big);
	CHECK_EQ(my_cached_pages(inst), 0);
	CHECK_EQ(e.count, 0);
	sm_instance_destroy(inst);

	/* A thread whose only allocations are page runs (page_run_thread). */
	inst = make(&e, 100);
	pthread_t t;
	CHECK(pthread_create(&t, NULL, page_run_thread, inst) == 0);
	pthread_join(t, NULL);
	sm_instance_destroy(inst);

	/* purge_delay_ms 0: nothing is kept. */
	inst = make(&e, 0);
	void *z = sm_kmalloc(inst, 64 * KiB, 0);
	sm_kfree(z);
	CHECK_EQ(my_cached_pages(inst), 0);
	sm_instance_destroy(inst);
}

/* ---- flush by the purge after the delay, and by sm_purge(force) ---- */

struct idle_arg {
	sm_instance_t *inst;
	int stage;        /* 1: runs freed into its cache; 2: told to exit */
};

static void *idle_thread(void *v)
{
	struct idle_arg *a = v;
	attach(a->inst);
	void *p[4];
	for (int i = 0; i < 4; i++)
		p[i] = sm_kmalloc(a->inst, 128 * KiB, 0);
	for (int i = 0; i < 4; i++)
		sm_kfree(p[i]);
	CHECK_EQ(my_cached_pages(a->inst), 4 * 32);
	__atomic_store_n(&a->stage, 1, __ATOMIC_RELEASE);
	while (__atomic_load_n(&a->stage, __ATOMIC_ACQUIRE) != 2)
		usleep(1000);
	/* Flushed from another thread while it slept. */
	CHECK_EQ(my_cached_pages(a->inst), 0);
	return NULL;
}

static void test_flush(void)
{
	struct test_errors e = { 0 };
	sm_instance_t *inst = make(&e, 100);
	void *a = sm_kmalloc(inst, 96 * KiB, 0);
	sm_kfree(a);
	CHECK_EQ(my_cached_pages(inst), 24);
	/* Younger than the delay: kept. */
	advance_ms(50);
	sm_purge(inst, false);
	CHECK_EQ(my_cached_pages(inst), 24);
	/* Past the delay: back to the node, and purged by the same pass. */
	advance_ms(60);
	struct sm_stats before, after;
	sm_stats_get(inst, &before);
	size_t purged = sm_purge(inst, false);
	CHECK_EQ(my_cached_pages(inst), 0);
	CHECK(purged >= 96 * KiB);
	sm_stats_get(inst, &after);
	CHECK(after.free_clean_bytes >= before.free_clean_bytes + 96 * KiB);

	/* An idle thread's cache is flushed by the purge of another thread. */
	struct idle_arg ia = { inst, 0 };
	pthread_t t;
	CHECK(pthread_create(&t, NULL, idle_thread, &ia) == 0);
	while (__atomic_load_n(&ia.stage, __ATOMIC_ACQUIRE) != 1)
		usleep(1000);
	sm_stats_get(inst, &before);
	CHECK(before.free_dirty_bytes >= 4 * 128 * KiB);
	advance_ms(200);
	CHECK(sm_purge(inst, false) >= 4 * 128 * KiB);
	__atomic_store_n(&ia.stage, 2, __ATOMIC_RELEASE);
	pthread_join(t, NULL);

	/* sm_purge(force) takes everything, however young.  (Purged first: a
	   run freed next to the idle thread's dirty runs would merge with
	   them instead of being cached, test_free_neighbour.) */
	sm_purge(inst, true);
	void *b = sm_kmalloc(inst, 48 * KiB, 0);
	sm_kfree(b);
	CHECK_EQ(my_cached_pages(inst), 12);
	CHECK(sm_purge(inst, true) >= 48 * KiB);
	CHECK_EQ(my_cached_pages(inst), 0);
	sm_stats_get(inst, &after);
	CHECK_EQ(after.free_dirty_bytes, 0);
	CHECK_EQ(e.count, 0);
	sm_instance_destroy(inst);
}

/* ---- double free of a cached run; the nolock path ---- */

static void test_double_free(void)
{
	struct test_errors e = { 0 };
	sm_instance_t *inst = make(&e, 100);
	void *a = sm_kmalloc(inst, 64 * KiB, 0);
	sm_kfree(a);
	CHECK_EQ(my_cached_pages(inst), 16);
	sm_kfree(a);
	CHECK_EQ(e.count, 1);
	CHECK(strstr(e.last, "double free") != NULL);
	/* Through the nolock path too. */
	sm_kfree_nolock(a);
	CHECK_EQ(e.count, 2);
	CHECK(strstr(e.last, "double free") != NULL);
	/* Still cached once: handed out once. */
	void *b = sm_kmalloc(inst, 64 * KiB, 0), *c = sm_kmalloc(inst, 64 * KiB, 0);
	CHECK(b == a);
	CHECK(c != a);
	/* The nolock allocation never takes from the cache. */
	sm_kfree(c);
	CHECK_EQ(my_cached_pages(inst), 16);
	void *d = sm_kmalloc_nolock(inst, 64 * KiB, 0, SM_NO_NODE);
	CHECK(d != NULL && d != c);
	CHECK_EQ(my_cached_pages(inst), 16);
	sm_kfree(d);
	sm_kfree(b);
	/* A double free of a run flushed back to its node is still caught. */
	sm_purge(inst, true);
	sm_kfree(b);
	CHECK_EQ(e.count, 3);
	CHECK_EQ(e.count, 3);
	sm_instance_destroy(inst);
}

/* ---- fork: the child gives back a vanished thread's cache ---- */

static void *fill_and_wait(void *v)
{
	struct idle_arg *a = v;
	attach(a->inst);
	void *p = sm_kmalloc(a->inst, 192 * KiB, 0);
	sm_kfree(p);
	__atomic_store_n(&a->stage, 1, __ATOMIC_RELEASE);
	while (__atomic_load_n(&a->stage, __ATOMIC_ACQUIRE) != 2)
		usleep(1000);
	return NULL;
}

static void test_fork(void)
{
	struct test_errors e = { 0 };
	sm_instance_t *inst = make(&e, 100);
	void *mine = sm_kmalloc(inst, 64 * KiB, 0);
	sm_kfree(mine);
	struct idle_arg ia = { inst, 0 };
	pthread_t t;
	CHECK(pthread_create(&t, NULL, fill_and_wait, &ia) == 0);
	while (__atomic_load_n(&ia.stage, __ATOMIC_ACQUIRE) != 1)
		usleep(1000);
	struct sm_stats st;
	sm_stats_get(inst, &st);
	CHECK(st.free_dirty_bytes >= (64 + 192) * KiB);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		/* The other thread's tcache was given back, its run with it;
		   ours is intact and still serves. */
		sm_stats_get(inst, &st);
		CHECK(st.free_dirty_bytes >= (64 + 192) * KiB);
		CHECK_EQ(my_cached_pages(inst), 16);
		void *p = sm_kmalloc(inst, 64 * KiB, 0);
		CHECK(p == mine);
		void *q = sm_kmalloc(inst, 192 * KiB, 0);
		CHECK(q != NULL);
		sm_kfree(q);
		sm_kfree(p);
		sm_kfree(p);
		CHECK_EQ(e.count, 1); /* the double free, in the child too */
		CHECK(sm_purge(inst, true) >= (64 + 192) * KiB);
		CHECK_EQ(my_cached_pages(inst), 0);
		_exit(0);
	}
	int status;
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	__atomic_store_n(&ia.stage, 2, __ATOMIC_RELEASE);
	pthread_join(t, NULL);
	/* The thread's exit gave its cache back (and its tcache): only ours is live. */
	sm_stats_get(inst, &st);
	CHECK_LE(st.large_bytes, ALIGN_UP(sizeof(struct tcache), SM_PAGE_SIZE));
	CHECK_EQ(e.count, 0);
	sm_instance_destroy(inst);
}

/* ---- the counts of cached runs: the thread's own, added to the instance's at its exit ---- */

static uint64_t count_base; /* large_allocs = large_frees before test_counts */

static void *count_thread(void *v)
{
	sm_instance_t *inst = v;
	attach(inst);
	for (int i = 0; i < 3; i++) /* a put, a hit and a put, twice more */
		sm_kfree(sm_kmalloc(inst, 64 * KiB, 0));
	/* Counted while the thread lives (its run cache's counters). */
	struct sm_stats st;
	sm_stats_get(inst, &st);
	CHECK_EQ(st.large_allocs - count_base, 2 + 3);
	CHECK_EQ(st.large_frees - count_base, 1 + 1 + 3);
	return NULL;
}

static void test_counts(void)
{
	struct test_errors e = { 0 };
	sm_instance_t *inst = make(&e, 100);
	struct sm_stats st0, st;
	sm_stats_get(inst, &st0);
	CHECK_EQ(st0.large_allocs, st0.large_frees);
	count_base = st0.large_allocs;
	void *a = sm_kmalloc(inst, 64 * KiB, 0);
	sm_kfree(a);                            /* kept */
	void *b = sm_kmalloc(inst, 64 * KiB, 0); /* a hit */
	CHECK(b == a);
	sm_stats_get(inst, &st);
	CHECK_EQ(st.large_allocs - st0.large_allocs, 2);
	CHECK_EQ(st.large_frees - st0.large_frees, 1);
	CHECK_EQ(st.bytes_allocated - st0.bytes_allocated, 128 * KiB);
	sm_kfree(b);
	pthread_t t;
	CHECK(pthread_create(&t, NULL, count_thread, inst) == 0);
	pthread_join(t, NULL);
	/* The thread's counts outlive it. */
	sm_stats_get(inst, &st);
	CHECK_EQ(st.large_allocs - st0.large_allocs, 2 + 3);
	CHECK_EQ(st.large_frees - st0.large_frees, 2 + 3);
	CHECK_EQ(st.bytes_allocated - st0.bytes_allocated, 5 * 64 * KiB + 16);
	CHECK_EQ(e.count, 0);
	sm_instance_destroy(inst);
}

int main(void)
{
	test_hit();
	printf("hit ok\n");
	test_bounds();
	printf("bounds ok\n");
	test_free_neighbour();
	printf("free neighbour ok\n");
	test_release_mergeable();
	printf("release mergeable ok\n");
	test_flush();
	printf("flush ok\n");
	test_double_free();
	printf("double free ok\n");
	test_fork();
	printf("fork ok\n");
	test_counts();
	printf("counts ok\n");
	return 0;
}
