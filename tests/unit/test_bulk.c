/*
 * test_bulk.c - sm_cache_alloc_bulk, sm_cache_free_bulk, sm_kmalloc_bulk and
 * sm_kfree_bulk on isolated instances: a batch moves through the thread's
 * sheaves a run at a time (no refill when the sheaves hold enough), larger
 * batches come straight from the slabs, mixed batches (several slabs,
 * caches, instances, page runs, NULLs) all go back, objects another thread
 * allocated are freed, bad pointers in a batch are reported and skipped,
 * and a batch that cannot be filled returns 0 and keeps nothing.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>

#include "test.h"

static struct sm_cache_stats cstats(sm_cache_t *s)
{
	struct sm_cache_stats st;
	sm_cache_stats_get(s, &st);
	return st;
}

/* True if the @n pointers of @p are distinct (quadratic: small n only). */
static bool distinct(void **p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < i; j++)
			if (p[i] == p[j])
				return false;
	return true;
}

static bool in_set(void *x, void **set, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (set[i] == x)
			return true;
	return false;
}

/* Fisher-Yates with the test's generator. */
static void shuffle(void **p, size_t n, uint64_t seed)
{
	for (size_t i = n; i > 1; i--) {
		size_t j = (size_t)(rnd_next(&seed) % i);
		void *t = p[i - 1];
		p[i - 1] = p[j];
		p[j] = t;
	}
}

/* A batch smaller than a sheaf is served by the sheaves: after the first
   refill, freeing it and taking it again needs no slab at all. */
static void test_through_sheaves(void)
{
	struct test_errors e = { 0 };
	struct sm_options o = test_options(&e);
	sm_instance_t *inst = sm_instance_create(&o);
	CHECK(inst);
	/* Sheaves of 64, for the counts below (by default 60: kmem_cache.c) */
	sm_cache_t *s = sm_cache_create_args(inst, "bulk64", 64,
					     &(struct sm_cache_args){ .sheaf_capacity = 64 }, 0);
	CHECK(s);
	enum { N = 40 }; /* a 64-byte cache's sheaf holds 64 */
	void *a[N], *b[N];
	CHECK_EQ(sm_cache_alloc_bulk(s, 0, N, a), N);
	CHECK(distinct(a, N));
	struct sm_cache_stats st = cstats(s);
	CHECK_EQ(st.refills, 1);         /* main filled once from a slab... */
	CHECK_EQ(st.active_objects, N);
	CHECK_EQ(st.sheaf_objects, 64 - N); /* ...and keeps the rest */
	for (int i = 0; i < N; i++)
		pat_fill(a[i], 64, 1);
	sm_cache_free_bulk(s, N, a);
	st = cstats(s);
	CHECK_EQ(st.active_objects, 0);
	CHECK_EQ(st.sheaf_objects, 64);
	/* Main's 24 and the spare's 40: the same 64 objects, no refill. */
	void *c[64];
	CHECK_EQ(sm_cache_alloc_bulk(s, 0, 64, c), 64);
	CHECK(distinct(c, 64));
	for (int i = 0; i < N; i++)
		CHECK(in_set(a[i], c, 64));
	st = cstats(s);
	CHECK_EQ(st.refills, 1);
	CHECK_EQ(st.slabs_allocated, 1);
	sm_cache_free_bulk(s, 64, c);
	/* SM_GFP_ZERO: the dirty objects come back zeroed. */
	CHECK_EQ(sm_cache_alloc_bulk(s, SM_GFP_ZERO, N, b), N);
	for (int i = 0; i < N; i++) {
		const unsigned char *q = b[i];
		for (int k = 0; k < 64; k++)
			CHECK_EQ(q[k], 0);
	}
	sm_cache_free_bulk(s, N, b);
	CHECK_EQ(sm_cache_alloc_bulk(s, 0, 0, b), 0);
	sm_cache_free_bulk(s, 0, b);
	CHECK_EQ(e.count, 0);
	CHECK_EQ(sm_cache_destroy(s), 0);
	sm_instance_destroy(inst);
}

/* A batch larger than a sheaf comes from the slabs directly, a slab at a
   time, and a batch of several slabs' objects, shuffled, all goes back. */
static void test_large_batches(void)
{
	struct test_errors e = { 0 };
	struct sm_options o = test_options(&e);
	sm_instance_t *inst = sm_instance_create(&o);
	CHECK(inst);
	sm_cache_t *s = sm_cache_create(inst, "bulk200", 200, 0, 0, NULL);
	CHECK(s);
	enum { N = 5000 };
	static void *p[N];
	CHECK_EQ(sm_cache_alloc_bulk(s, 0, N, p), N);
	struct sm_cache_stats st = cstats(s);
	CHECK_EQ(st.active_objects, N);
	CHECK_EQ(st.refills, 0);   /* never through a sheaf */
	CHECK_EQ(st.sheaf_objects, 0);
	size_t per_slab = st.objects_per_slab;
	CHECK_EQ(st.slabs, (N + per_slab - 1) / per_slab); /* every slab filled before the next */
	for (int i = 0; i < N; i++)
		pat_fill(p[i], 200, 2);
	for (int i = 0; i < N; i++)
		CHECK(pat_ok(p[i], 200, 2)); /* no object handed out twice */
	shuffle(p, N, 42);
	sm_cache_free_bulk(s, N, p);
	st = cstats(s);
	CHECK_EQ(st.active_objects, 0);
	CHECK_EQ(e.count, 0);
	sm_cache_shrink(s);
	st = cstats(s);
	CHECK_EQ(st.slabs, 0); /* every object reached its slab */
	CHECK_EQ(st.total_objects, 0);
	CHECK_EQ(sm_cache_destroy(s), 0);
	sm_instance_destroy(inst);
}

/* sm_kfree_bulk: objects of two caches, two instances, kmalloc classes,
   page runs and NULLs in one array. */
static void test_mixed(void)
{
	struct test_errors e = { 0 };
	struct sm_options o = test_options(&e);
	sm_instance_t *i1 = sm_instance_create(&o), *i2 = sm_instance_create(&o);
	CHECK(i1 && i2);
	sm_cache_t *a = sm_cache_create(i1, "mix_a", 48, 0, 0, NULL);
	sm_cache_t *b = sm_cache_create(i2, "mix_b", 300, 0, 0, NULL);
	CHECK(a && b);
	enum { N = 600 };
	static void *p[N];
	/* The thread's tcache is a page run of the instance: have it first. */
	sm_kfree(sm_kmalloc(i1, 16, 0));
	struct sm_stats base;
	sm_stats_get(i1, &base);
	for (int i = 0; i < N; i++) {
		switch (i % 6) {
		case 0: p[i] = sm_cache_alloc(a, 0); break;
		case 1: p[i] = sm_cache_alloc(b, 0); break;
		case 2: p[i] = sm_kmalloc(i1, 100, 0); break;
		case 3: p[i] = sm_kmalloc(i2, 2000, 0); break;
		case 4: p[i] = (i % 60 == 4) ? sm_kmalloc(i1, 70000, 0) : sm_cache_alloc(a, 0); break;
		default: p[i] = NULL; break;
		}
		CHECK(p[i] || i % 6 == 5);
	}
	shuffle(p, N, 7);
	struct sm_stats before;
	sm_stats_get(i1, &before);
	CHECK(before.large_bytes >= base.large_bytes + 10 * 70000);
	sm_kfree_bulk(N, p);
	CHECK_EQ(e.count, 0);
	CHECK_EQ(cstats(a).active_objects, 0);
	CHECK_EQ(cstats(b).active_objects, 0);
	struct sm_stats after;
	sm_stats_get(i1, &after);
	CHECK_EQ(after.large_bytes, base.large_bytes);
	CHECK_EQ(sm_cache_destroy(a), 0); /* nothing of a left allocated */
	CHECK_EQ(sm_cache_destroy(b), 0);

	/* sm_kmalloc_bulk: one class, or page runs; sm_kfree_bulk frees both. */
	void *k[100];
	CHECK_EQ(sm_kmalloc_bulk(i1, 100, 0, 100, k), 100);
	CHECK(distinct(k, 100));
	for (int i = 0; i < 100; i++)
		CHECK_EQ(sm_ksize(k[i]), 112);
	sm_kfree_bulk(100, k);
	CHECK_EQ(sm_kmalloc_bulk(i1, 50000, SM_GFP_ZERO, 10, k), 10);
	for (int i = 0; i < 10; i++)
		CHECK_EQ(sm_ksize(k[i]), 13 * 4096);
	sm_kfree_bulk(10, k);
	sm_stats_get(i1, &after);
	CHECK_EQ(after.large_bytes, base.large_bytes);
	CHECK_EQ(e.count, 0);
	sm_instance_destroy(i1);
	sm_instance_destroy(i2);
}

/* Objects another thread allocated (in bulk) are freed in bulk here. */
struct producer {
	sm_cache_t *s;
	void **p;
	size_t n;
	uint64_t seq;
};

static void *produce(void *arg)
{
	struct producer *pr = arg;
	CHECK_EQ(sm_cache_alloc_bulk(pr->s, 0, pr->n, pr->p), pr->n);
	for (size_t i = 0; i < pr->n; i++)
		pat_fill(pr->p[i], 128, pr->seq);
	return NULL;
}

static void test_other_threads(void)
{
	struct test_errors e = { 0 };
	struct sm_options o = test_options(&e);
	sm_instance_t *inst = sm_instance_create(&o);
	CHECK(inst);
	sm_cache_t *s = sm_cache_create(inst, "bulk_thr", 128, 0, 0, NULL);
	CHECK(s);
	enum { T = 4, N = 700 };
	static void *objs[T][N];
	struct producer pr[T];
	for (int round = 0; round < 3; round++) {
		pthread_t th[T];
		for (int t = 0; t < T; t++) {
			pr[t] = (struct producer){ s, objs[t], N, (uint64_t)(round * T + t) };
			CHECK(pthread_create(&th[t], NULL, produce, &pr[t]) == 0);
		}
		for (int t = 0; t < T; t++)
			CHECK(pthread_join(th[t], NULL) == 0);
		for (int t = 0; t < T; t++)
			for (int i = 0; i < N; i++)
				CHECK(pat_ok(objs[t][i], 128, (uint64_t)(round * T + t)));
		/* All of them, interleaved across the producers, in one batch. */
		static void *all[T * N];
		for (int i = 0; i < N; i++)
			for (int t = 0; t < T; t++)
				all[i * T + t] = objs[t][i];
		sm_cache_free_bulk(s, T * N, all);
		CHECK_EQ(cstats(s).active_objects, 0);
	}
	/* And they are handed out again, once each. */
	static void *again[T * N];
	CHECK_EQ(sm_cache_alloc_bulk(s, 0, T * N, again), T * N);
	for (int i = 0; i < T * N; i++)
		pat_fill(again[i], 128, 99);
	for (int i = 0; i < T * N; i++)
		CHECK(pat_ok(again[i], 128, 99));
	sm_cache_free_bulk(s, T * N, again);
	CHECK_EQ(e.count, 0);
	CHECK_EQ(sm_cache_destroy(s), 0);
	sm_instance_destroy(inst);
}

/* A batch with bad pointers: each is reported and skipped, the rest freed. */
static void test_bad_entries(void)
{
	struct test_errors e = { 0 };
	struct sm_options o = test_options(&e);
	sm_instance_t *inst = sm_instance_create(&o);
	CHECK(inst);
	sm_cache_t *s = sm_cache_create(inst, "bulk_bad", 64, 0, 0, NULL);
	sm_cache_t *other = sm_cache_create(inst, "bulk_other", 64, 0, 0, NULL);
	CHECK(s && other);
	void *p[10];
	CHECK_EQ(sm_cache_alloc_bulk(s, 0, 6, p), 6);
	void *foreign = malloc(64); /* libc's: not slabmalloc's */
	void *wrong = sm_cache_alloc(other, 0);
	p[6] = foreign;
	p[7] = wrong;
	p[8] = p[2];                /* freed twice in one batch */
	p[9] = (char *)p[3] + 8;    /* interior pointer */
	sm_cache_free_bulk(s, 10, p);
	CHECK_EQ(e.count, 4);
	CHECK(strstr(e.last, "interior pointer"));
	CHECK_EQ(cstats(s).active_objects, 0);
	CHECK_EQ(cstats(other).active_objects, 1); /* left alone */
	/* A second free of the whole batch: each one a double free. */
	e.count = 0;
	sm_cache_free_bulk(s, 6, p);
	CHECK_EQ(e.count, 6);
	CHECK(strstr(e.last, "double free"));
	sm_cache_free(other, wrong);
	free(foreign);
	CHECK_EQ(sm_cache_destroy(s), 0);
	CHECK_EQ(sm_cache_destroy(other), 0);
	sm_instance_destroy(inst);
}

/* Out of memory half way: 0, errno ENOMEM, nothing kept, and what fits
   still works afterwards. */
static void test_partial_failure(void)
{
	struct test_errors e = { 0 };
	struct sm_options o = test_options(&e);
	o.node_size = 1 << 20; /* one 1 MiB node and no growth */
	o.max_nodes = 1;
	sm_instance_t *inst = sm_instance_create(&o);
	CHECK(inst);
	sm_cache_t *s = sm_cache_create(inst, "bulk_oom", 4096, 0, 0, NULL);
	CHECK(s);
	enum { N = 400 }; /* 1.6 MiB of objects: more than the node */
	static void *p[N];
	errno = 0;
	CHECK_EQ(sm_cache_alloc_bulk(s, 0, N, p), 0);
	CHECK_EQ(errno, ENOMEM);
	struct sm_cache_stats st = cstats(s);
	CHECK_EQ(st.active_objects, 0); /* what was had went back */
	size_t made = st.slabs_allocated;
	CHECK(made * st.objects_per_slab > 100); /* it had got that far */
	CHECK(made * st.objects_per_slab < N);
	/* What the node holds can still be had, in one batch (one slab less:
	   the sheaves the free made may sit on a page of their own). */
	size_t fit = (made - 1) * st.objects_per_slab;
	CHECK_EQ(sm_cache_alloc_bulk(s, 0, fit, p), fit);
	CHECK(distinct(p, fit));
	CHECK_EQ(sm_cache_alloc_bulk(s, 0, N - fit, p + fit), 0); /* not the rest */
	CHECK_EQ(cstats(s).active_objects, fit);                /* those are kept */
	sm_cache_free_bulk(s, fit, p);
	CHECK_EQ(cstats(s).active_objects, 0);
	/* sm_kmalloc_bulk of page runs: the same contract. */
	struct sm_stats base, ss;
	sm_stats_get(inst, &base); /* the thread's tcache is a page run */
	CHECK_EQ(sm_kmalloc_bulk(inst, 100000, 0, 40, p), 0);
	sm_stats_get(inst, &ss);
	CHECK_EQ(ss.large_bytes, base.large_bytes);
	CHECK_EQ(e.count, 0);
	CHECK_EQ(sm_cache_destroy(s), 0);
	sm_instance_destroy(inst);
}

/* Re-entered (a constructor runs inside the allocator, busy set): the bulk
   calls take the nolock path and still work. */
static sm_cache_t *inner;
static int inner_ok;

static void ctor_bulk(void *obj)
{
	void *p[20];
	(void)obj;
	if (sm_cache_alloc_bulk(inner, SM_GFP_ZERO, 20, p) == 20) {
		inner_ok++;
		sm_cache_free_bulk(inner, 20, p);
	}
}

static void test_reentered(void)
{
	struct test_errors e = { 0 };
	struct sm_options o = test_options(&e);
	sm_instance_t *inst = sm_instance_create(&o);
	CHECK(inst);
	inner = sm_cache_create(inst, "bulk_inner", 32, 0, 0, NULL);
	sm_cache_t *outer = sm_cache_create(inst, "bulk_outer", 1024, 0, 0, ctor_bulk);
	CHECK(inner && outer);
	void *x = sm_cache_alloc(outer, 0); /* a new slab: the constructor runs per object */
	CHECK(x);
	CHECK(inner_ok > 0);
	sm_cache_free(outer, x);
	sm_cache_shrink(inner);
	CHECK_EQ(cstats(inner).active_objects, 0);
	CHECK_EQ(e.count, 0);
	CHECK_EQ(sm_cache_destroy(outer), 0);
	CHECK_EQ(sm_cache_destroy(inner), 0);
	sm_instance_destroy(inst);
}

int main(void)
{
	test_through_sheaves();
	test_large_batches();
	test_mixed();
	test_other_threads();
	test_bad_entries();
	test_partial_failure();
	test_reentered();
	printf("bulk: ok\n");
	return 0;
}
