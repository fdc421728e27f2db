/*
 * test_kmem_cache.c - sm_cache_create / alloc / free / shrink / destroy on
 * isolated instances: constructors, default sheaf capacities, alignment,
 * slab accounting, partial lists, destroy with live objects, wrong-cache
 * frees, the cache limit and invalid arguments.
 */
#include <errno.h>

#include "test.h"
#include "instance.h"
#include "kmem_cache.h"
#include "node.h"
#include "sheaf.h"
#include "size_classes.h"
#include "slab.h"

/* A clock that never moves: no delayed purge can release slabs behind the test's back. */
static uint64_t frozen_clock(void *arg)
{
	(void)arg;
	return 1000;
}
static const struct sm_os_ops frozen_os = { .now_ns = frozen_clock };

static sm_instance_t *new_instance(struct test_errors *e, unsigned slab_max_empty)
{
	struct sm_options o = test_options(e);
	o.os = &frozen_os;
	o.slab_max_empty = slab_max_empty;
	sm_instance_t *inst = sm_instance_create(&o);
	CHECK(inst != NULL);
	return inst;
}

static struct sm_cache_stats stats(sm_cache_t *s)
{
	struct sm_cache_stats st;
	sm_cache_stats_get(s, &st);
	CHECK_EQ(st.total_objects, st.slabs * st.objects_per_slab);
	CHECK_EQ(st.slabs, st.slabs_allocated - st.slabs_freed);
	return st;
}

static size_t instance_caches(sm_instance_t *inst)
{
	struct sm_stats st;
	sm_stats_get(inst, &st);
	return st.caches;
}

/* ---- constructor ---- */

#define CTOR_SIZE 200
#define CTOR_MAGIC 0xc0ffee11u
static unsigned long ctor_calls;

static void ctor(void *p)
{
	ctor_calls++;
	uint32_t *w = p;
	w[0] = CTOR_MAGIC;
	for (unsigned i = 1; i < CTOR_SIZE / 4; i++)
		w[i] = i * 2654435761u;
}

static void check_constructed(const void *p)
{
	const uint32_t *w = p;
	CHECK_EQ(w[0], CTOR_MAGIC);
	for (unsigned i = 1; i < CTOR_SIZE / 4; i++)
		CHECK_EQ(w[i], i * 2654435761u);
}

static void test_ctor(void)
{
	struct test_errors e = { 0 };
	/* Empty slabs are kept (no discards) until the explicit shrink. */
	sm_instance_t *inst = new_instance(&e, 100000);
	sm_cache_t *s = sm_cache_create(inst, "ctor-cache", CTOR_SIZE, 0, 0, ctor);
	CHECK(s != NULL);
	CHECK(strcmp(sm_cache_name(s), "ctor-cache") == 0);
	struct sm_cache_stats st = stats(s);
	/* The free-pointer lives after the object: slot = 200 + 8. */
	CHECK_EQ(st.object_size, 208);
	CHECK_EQ(st.objects_per_slab, 19);
	CHECK_EQ(st.pages_per_slab, 1);
	CHECK_EQ(st.slabs, 0);
	CHECK_EQ(ctor_calls, 0); /* creating the cache constructs nothing */

	enum { N = 100 };
	void *v[N];
	for (unsigned i = 0; i < N; i++) {
		v[i] = sm_cache_alloc(s, 0);
		CHECK(v[i] != NULL);
		check_constructed(v[i]);
		CHECK_EQ(sm_ksize(v[i]), CTOR_SIZE);
		/* slab_new constructs every object of a slab when it makes it. */
		st = stats(s);
		CHECK_EQ(ctor_calls, st.slabs_allocated * st.objects_per_slab);
	}
	st = stats(s);
	CHECK(st.slabs_allocated >= (N + 18) / 19);
	CHECK_EQ(st.active_objects, N);
	unsigned long calls = ctor_calls;
	uint64_t made = st.slabs_allocated;

	/* Free everything, allocate it all again: nothing is constructed twice
	   and every object comes back in its constructed state (the allocator's
	   free-pointer is outside the object). */
	for (int round = 0; round < 3; round++) {
		for (unsigned i = 0; i < N; i++)
			sm_cache_free(s, v[i]);
		st = stats(s);
		CHECK_EQ(st.active_objects, 0);
		if (round == 1)
			sm_thread_flush(inst); /* sheaves to the barn and the slabs */
		for (unsigned i = 0; i < N; i++) {
			v[i] = sm_cache_alloc(s, 0);
			CHECK(v[i] != NULL);
			check_constructed(v[i]);
		}
		st = stats(s);
		CHECK_EQ(st.slabs_allocated, made);
		CHECK_EQ(ctor_calls, calls);
		CHECK_EQ(st.active_objects, N);
	}
	/* Pushed through the slab freelists (shrink flushes the sheaves). */
	for (unsigned i = 0; i < N; i += 2)
		sm_cache_free(s, v[i]);
	size_t freed_early = sm_cache_shrink(s);
	for (unsigned i = 0; i < N; i += 2) {
		v[i] = sm_cache_alloc(s, 0);
		check_constructed(v[i]);
	}
	CHECK_EQ(ctor_calls, calls);
	CHECK_EQ(stats(s).slabs_allocated, made);

	/* After the slabs are given back, new slabs are constructed anew. */
	for (unsigned i = 0; i < N; i++)
		sm_cache_free(s, v[i]);
	size_t freed = sm_cache_shrink(s);
	st = stats(s);
	CHECK_EQ(freed + freed_early, made);
	CHECK_EQ(st.slabs, 0);
	CHECK_EQ(st.slabs_freed, made);
	void *p = sm_cache_alloc(s, 0);
	check_constructed(p);
	st = stats(s);
	CHECK_EQ(st.slabs_allocated, made + 1);
	CHECK_EQ(ctor_calls, calls + st.objects_per_slab);

	/* SM_GFP_ZERO zeroes a constructed object (object_size bytes). */
	void *z = sm_cache_alloc(s, SM_GFP_ZERO);
	for (unsigned i = 0; i < CTOR_SIZE; i++)
		CHECK_EQ(((unsigned char *)z)[i], 0);
	ctor(z); /* put it back into its constructed state before freeing */
	ctor_calls--;
	sm_cache_free(s, z);
	sm_cache_free(s, p);
	CHECK_EQ(sm_cache_destroy(s), 0);
	CHECK_EQ(e.count, 0);
	sm_instance_destroy(inst);
}

/* ---- alignment ---- */

static void test_alignment(void)
{
	struct test_errors e = { 0 };
	sm_instance_t *inst = new_instance(&e, 2);
	const size_t sizes[] = { 1, 40, 100, 3000 };
	for (unsigned si = 0; si < 4; si++) {
		for (size_t al = 0; al <= 4096; al = al ? al * 2 : 8) {
			char name[32];
			snprintf(name, sizeof(name), "al-%zu-%zu", sizes[si], al);
			sm_cache_t *s = sm_cache_create(inst, name, sizes[si], al, 0, NULL);
			CHECK(s != NULL);
			size_t eff = al ? al : 8;
			struct sm_cache_stats st = stats(s);
			CHECK_EQ(st.object_size, (sizes[si] + eff - 1) / eff * eff);
			unsigned n = st.objects_per_slab * 2 + 1;
			if (n > 64)
				n = 64;
			void *v[64];
			for (unsigned i = 0; i < n; i++) {
				v[i] = sm_cache_alloc(s, 0);
				CHECK(v[i] != NULL);
				CHECK_EQ((uintptr_t)v[i] % eff, 0);
				CHECK_EQ(sm_ksize(v[i]), sizes[si]);
				memset(v[i], (int)i, sizes[si]);
			}
			for (unsigned i = 0; i < n; i++) {
				CHECK_EQ(((unsigned char *)v[i])[sizes[si] - 1], (unsigned char)i);
				sm_cache_free(s, v[i]);
			}
			CHECK_EQ(sm_cache_destroy(s), 0);
		}
	}
	/* SM_CACHE_HWCACHE_ALIGN: at least the 64-byte cache line. */
	sm_cache_t *h = sm_cache_create(inst, "hw", 40, 0, SM_CACHE_HWCACHE_ALIGN, NULL);
	CHECK(h != NULL);
	CHECK_EQ(stats(h).object_size, 64);
	sm_cache_t *h2 = sm_cache_create(inst, "hw-16", 40, 16, SM_CACHE_HWCACHE_ALIGN, NULL);
	CHECK_EQ(stats(h2).object_size, 64);
	sm_cache_t *h3 = sm_cache_create(inst, "hw-256", 40, 256, SM_CACHE_HWCACHE_ALIGN, NULL);
	CHECK_EQ(stats(h3).object_size, 256);
	void *v[3][100];
	for (unsigned i = 0; i < 100; i++) {
		v[0][i] = sm_cache_alloc(h, 0);
		v[1][i] = sm_cache_alloc(h2, 0);
		v[2][i] = sm_cache_alloc(h3, 0);
		CHECK_EQ((uintptr_t)v[0][i] % 64, 0);
		CHECK_EQ((uintptr_t)v[1][i] % 64, 0);
		CHECK_EQ((uintptr_t)v[2][i] % 256, 0);
	}
	for (unsigned i = 0; i < 100; i++) {
		sm_cache_free(h, v[0][i]);
		sm_cache_free(h2, v[1][i]);
		sm_cache_free(h3, v[2][i]);
	}
	CHECK_EQ(sm_cache_destroy(h), 0);
	CHECK_EQ(sm_cache_destroy(h2), 0);
	CHECK_EQ(sm_cache_destroy(h3), 0);
	CHECK_EQ(e.count, 0);
	sm_instance_destroy(inst);
}

/* ---- slab accounting, partial list, shrink ---- */

static void test_accounting(void)
{
	struct test_errors e = { 0 };
	sm_instance_t *inst = new_instance(&e, 100000);
	sm_cache_t *s = sm_cache_create(inst, "acct-512", 512, 0, 0, NULL);
	CHECK(s != NULL);
	struct sm_cache_stats st = stats(s);
	CHECK_EQ(st.object_size, 512);
	CHECK_EQ(st.objects_per_slab, 8);
	CHECK_EQ(st.pages_per_slab, 1);
	struct kmem_cache_node *kcn = s->node[0];

	/* One slab's worth: the slab is full, on no list. */
	void *v[100];
	for (unsigned i = 0; i < 8; i++)
		v[i] = sm_cache_alloc(s, 0);
	st = stats(s);
	CHECK_EQ(st.slabs, 1);
	CHECK_EQ(st.total_objects, 8);
	CHECK_EQ(st.active_objects, 8);
	CHECK_EQ(st.sheaf_objects, 0);
	CHECK_EQ(st.partial_slabs, 0);
	CHECK_EQ(st.empty_slabs, 0);
	CHECK_EQ(kcn->nr_partial, 0);
	/* All eight come from the same slab (one page). */
	for (unsigned i = 1; i < 8; i++)
		CHECK_EQ((uintptr_t)v[i] / 4096, (uintptr_t)v[0] / 4096);

	/* Freeing one: it sits in this thread's sheaf ... */
	sm_cache_free(s, v[3]);
	st = stats(s);
	CHECK_EQ(st.active_objects, 7);
	CHECK_EQ(st.sheaf_objects, 1);
	CHECK_EQ(st.partial_slabs, 0);
	/* ... and once the sheaf is flushed, the slab is back on the partial list. */
	CHECK_EQ(sm_cache_shrink(s), 0);
	st = stats(s);
	CHECK_EQ(st.sheaf_objects, 0);
	CHECK_EQ(st.active_objects, 7);
	CHECK_EQ(st.partial_slabs, 1);
	CHECK_EQ(kcn->nr_partial, 1);
	CHECK_EQ(kcn->inuse, 7);
	struct sm_node *n = node_of(v[0]);
	struct slab *d = &n->descs[n->descs[node_page_index(n, v[0])].head];
	CHECK_EQ(d->inuse, 7);
	CHECK_EQ(d->on_list, 1);
	CHECK(d->freelist == (uintptr_t)v[3]);
	/* Taking it again fills the slab: off the partial list. */
	v[3] = sm_cache_alloc(s, 0);
	st = stats(s);
	CHECK_EQ(st.partial_slabs, 0);
	CHECK_EQ(st.slabs, 1);
	CHECK_EQ(d->inuse, 8);
	CHECK_EQ(d->on_list, 0);
	CHECK_EQ(st.active_objects, 8);

	/* 100 objects: 13 slabs (the last one half used), exactly. */
	for (unsigned i = 8; i < 100; i++) {
		v[i] = sm_cache_alloc(s, 0);
		CHECK(v[i] != NULL);
	}
	sm_cache_shrink(s);
	st = stats(s);
	CHECK_EQ(st.active_objects, 100);
	CHECK_EQ(st.sheaf_objects, 0);
	CHECK_EQ(st.slabs, 13);
	CHECK_EQ(st.total_objects, 104);
	CHECK_EQ(st.partial_slabs, 1);
	CHECK_EQ(st.empty_slabs, 0);

	/* Free all: every slab becomes empty (kept: slab_max_empty is large). */
	for (unsigned i = 0; i < 100; i++)
		sm_cache_free(s, v[i]);
	st = stats(s);
	CHECK_EQ(st.active_objects, 0);
	CHECK_EQ(st.slabs, 13);
	size_t freed = sm_cache_shrink(s);
	CHECK_EQ(freed, 13);
	st = stats(s);
	CHECK_EQ(st.slabs, 0);
	CHECK_EQ(st.total_objects, 0);
	CHECK_EQ(st.partial_slabs, 0);
	CHECK_EQ(st.empty_slabs, 0);
	CHECK_EQ(st.slabs_freed, 13);
	CHECK_EQ(sm_cache_shrink(s), 0);
	CHECK_EQ(sm_cache_destroy(s), 0);
	CHECK_EQ(e.count, 0);
	sm_instance_destroy(inst);

	/* With slab_max_empty = 2, only two empty slabs stay per node (no barn:
	   every sheaf that is given back goes straight to the slabs). */
	struct sm_options o = test_options(&e);
	o.os = &frozen_os;
	o.slab_max_empty = 2;
	o.barn_max_full = 0;
	inst = sm_instance_create(&o);
	CHECK(inst != NULL);
	s = sm_cache_create(inst, "acct-2", 512, 0, 0, NULL);
	for (unsigned i = 0; i < 100; i++)
		v[i] = sm_cache_alloc(s, 0);
	for (unsigned i = 0; i < 100; i++)
		sm_cache_free(s, v[i]);
	sm_thread_flush(inst); /* every sheaf flushed to the slabs */
	st = stats(s);
	CHECK_EQ(st.active_objects, 0);
	CHECK_EQ(st.sheaf_objects, 0);
	CHECK_EQ(st.slabs, 2);
	CHECK_EQ(st.empty_slabs, 2);
	CHECK_EQ(st.slabs_allocated, 13);
	CHECK_EQ(st.slabs_freed, 11);
	CHECK_EQ(sm_cache_shrink(s), 2);
	st = stats(s);
	CHECK_EQ(st.slabs, 0);
	CHECK_EQ(st.active_objects, 0);
	CHECK_EQ(sm_cache_destroy(s), 0);
	CHECK_EQ(e.count, 0);
	sm_instance_destroy(inst);
}

/* ---- destroy ---- */

static void test_destroy_busy(void)
{
	struct test_errors e = { 0 };
	sm_instance_t *inst = new_instance(&e, 2);
	size_t base_caches = instance_caches(inst);
	sm_cache_t *s = sm_cache_create(inst, "busy-cache", 96, 0, 0, NULL);
	CHECK(s != NULL);
	CHECK_EQ(instance_caches(inst), base_caches + 1);
	void *v[37];
	for (unsigned i = 0; i < 37; i++) {
		v[i] = sm_cache_alloc(s, 0);
		memset(v[i], (int)i, 96);
	}
	/* Objects cached in sheaves do not count as live. */
	for (unsigned i = 30; i < 37; i++)
		sm_cache_free(s, v[i]);

	CHECK_EQ(sm_cache_destroy(s), -EBUSY);
	CHECK_EQ(e.count, 1);
	CHECK(strstr(e.last, "busy-cache") != NULL);
	CHECK(strstr(e.last, "30 objects") != NULL);
	CHECK_EQ(instance_caches(inst), base_caches + 1);

	/* Still usable, contents intact. */
	struct sm_cache_stats st = stats(s);
	CHECK_EQ(st.active_objects, 30);
	CHECK_EQ(st.sheaf_objects, 0); /* destroy took the sheaves back */
	for (unsigned i = 0; i < 30; i++)
		CHECK_EQ(((unsigned char *)v[i])[95], (unsigned char)i);
	for (unsigned i = 30; i < 37; i++) {
		v[i] = sm_cache_alloc(s, 0);
		CHECK(v[i] != NULL);
	}
	CHECK_EQ(stats(s).active_objects, 37);

	/* One left: still busy, the count says 1. */
	for (unsigned i = 1; i < 37; i++)
		sm_cache_free(s, v[i]);
	CHECK_EQ(sm_cache_destroy(s), -EBUSY);
	CHECK_EQ(e.count, 2);
	CHECK(strstr(e.last, "busy-cache") != NULL);
	CHECK(strstr(e.last, " 1 objects") != NULL);

	sm_cache_free(s, v[0]);
	CHECK_EQ(sm_cache_destroy(s), 0);
	CHECK_EQ(e.count, 2);
	CHECK_EQ(instance_caches(inst), base_caches);
	CHECK_EQ(sm_cache_destroy(NULL), 0);

	/* A kmalloc cache cannot be destroyed. */
	struct kmem_cache *km = &inst->kmalloc_caches[3];
	CHECK_EQ(sm_cache_destroy(km), -EPERM);
	CHECK_EQ(e.count, 3);
	CHECK(strstr(e.last, "kmalloc-32") != NULL);
	void *p = sm_kmalloc(inst, 32, 0);
	CHECK(p != NULL);
	sm_kfree(p);
	CHECK_EQ(e.count, 3);
	sm_instance_destroy(inst);
}

/* ---- freeing to the wrong cache ---- */

static void test_wrong_cache(void)
{
	struct test_errors e = { 0 };
	sm_instance_t *inst = new_instance(&e, 2);
	sm_cache_t *a = sm_cache_create(inst, "cache-a", 64, 0, 0, NULL);
	sm_cache_t *b = sm_cache_create(inst, "cache-b", 64, 0, 0, NULL);
	CHECK(a && b);
	void *pa = sm_cache_alloc(a, 0), *pb = sm_cache_alloc(b, 0);
	memset(pa, 0xaa, 64);
	memset(pb, 0xbb, 64);
	char addr[32];

	sm_cache_free(b, pa);
	CHECK_EQ(e.count, 1);
	snprintf(addr, sizeof(addr), "%p", pa);
	CHECK(strstr(e.last, addr) != NULL);
	CHECK(strstr(e.last, "to cache cache-b") != NULL);
	CHECK(strstr(e.last, "belongs to cache cache-a") != NULL);
	/* Ignored: pa is still allocated from a and intact; b unchanged. */
	CHECK_EQ(stats(a).active_objects, 1);
	CHECK_EQ(stats(b).active_objects, 1);
	for (unsigned i = 0; i < 64; i++)
		CHECK_EQ(((unsigned char *)pa)[i], 0xaa);
	/* b never hands it out. */
	void *vb[200];
	for (unsigned i = 0; i < 200; i++) {
		vb[i] = sm_cache_alloc(b, 0);
		CHECK(vb[i] != pa);
	}
	for (unsigned i = 0; i < 200; i++)
		sm_cache_free(b, vb[i]);

	/* A kmalloc object freed to a user cache. */
	void *k = sm_kmalloc(inst, 64, 0);
	memset(k, 0x11, 64);
	sm_cache_free(a, k);
	CHECK_EQ(e.count, 2);
	snprintf(addr, sizeof(addr), "%p", k);
	CHECK(strstr(e.last, addr) != NULL);
	CHECK(strstr(e.last, "belongs to cache kmalloc-64") != NULL);
	CHECK_EQ(((unsigned char *)k)[63], 0x11);
	sm_kfree(k);

	/* The right frees still work. */
	sm_cache_free(a, pa);
	sm_cache_free(b, pb);
	CHECK_EQ(e.count, 2);
	CHECK_EQ(stats(a).active_objects, 0);
	CHECK_EQ(stats(b).active_objects, 0);
	CHECK_EQ(sm_cache_destroy(a), 0);
	CHECK_EQ(sm_cache_destroy(b), 0);
	sm_cache_free(NULL, NULL); /* NULL is ignored before the cache is looked at */
	CHECK_EQ(e.count, 2);
	sm_instance_destroy(inst);
}

/* ---- the cache limit and ids ---- */

static void test_many_caches(void)
{
	struct test_errors e = { 0 };
	sm_instance_t *inst = new_instance(&e, 2);
	enum { USER = SM_MAX_CACHES - SM_NR_KMALLOC };
	static sm_cache_t *c[USER];
	for (unsigned i = 0; i < USER; i++) {
		char name[32];
		snprintf(name, sizeof(name), "many-%u", i);
		c[i] = sm_cache_create(inst, name, 16 + i % 200, 0, 0, NULL);
		CHECK(c[i] != NULL);
		CHECK_EQ(c[i]->id, SM_NR_KMALLOC + i);
		CHECK(strcmp(sm_cache_name(c[i]), name) == 0);
	}
	CHECK_EQ(instance_caches(inst), SM_MAX_CACHES);
	errno = 0;
	CHECK(sm_cache_create(inst, "one-too-many", 32, 0, 0, NULL) == NULL);
	CHECK_EQ(errno, ENOSPC);
	CHECK_EQ(instance_caches(inst), SM_MAX_CACHES);

	/* Use a cache, destroy it; its id is reused by the next cache. */
	unsigned victim = 123;
	unsigned vid = c[victim]->id;
	void *p = sm_cache_alloc(c[victim], 0);
	CHECK(p != NULL);
	sm_cache_free(c[victim], p);
	CHECK_EQ(sm_cache_destroy(c[victim]), 0);
	CHECK_EQ(instance_caches(inst), SM_MAX_CACHES - 1);
	c[victim] = sm_cache_create(inst, "reborn", 48, 0, 0, NULL);
	CHECK(c[victim] != NULL);
	CHECK_EQ(c[victim]->id, vid);
	CHECK(inst->cache_by_id[vid] == c[victim]);
	/* The new cache starts clean in this thread (no stale sheaf). */
	struct sm_cache_stats st = stats(c[victim]);
	CHECK_EQ(st.sheaf_objects, 0);
	CHECK_EQ(st.slabs, 0);
	void *q = sm_cache_alloc(c[victim], 0);
	CHECK(q != NULL);
	CHECK_EQ(sm_ksize(q), 48);
	sm_cache_free(c[victim], q);
	errno = 0;
	CHECK(sm_cache_create(inst, "full-again", 32, 0, 0, NULL) == NULL);
	CHECK_EQ(errno, ENOSPC);

	for (unsigned i = 0; i < USER; i++)
		CHECK_EQ(sm_cache_destroy(c[i]), 0);
	CHECK_EQ(instance_caches(inst), SM_NR_KMALLOC);
	sm_cache_t *again = sm_cache_create(inst, "again", 32, 0, 0, NULL);
	CHECK(again != NULL);
	CHECK_EQ(again->id, SM_NR_KMALLOC);
	CHECK_EQ(sm_cache_destroy(again), 0);
	CHECK_EQ(e.count, 0);
	sm_instance_destroy(inst);
}

/* ---- invalid arguments ---- */

static void test_invalid(void)
{
	struct test_errors e = { 0 };
	sm_instance_t *inst = new_instance(&e, 2);
	size_t base = instance_caches(inst);
	struct {
		const char *name;
		size_t size, align;
	} bad[] = {
		{ NULL, 32, 0 },
		{ "zero", 0, 0 },
		{ "too-big", SM_KMALLOC_MAX_CACHE_SIZE + 1, 0 },
		{ "huge", (size_t)1 << 40, 0 },
		{ "align-3", 32, 3 },
		{ "align-24", 32, 24 },
		{ "align-8192", 32, 8192 },
	};
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		errno = 0;
		CHECK(sm_cache_create(inst, bad[i].name, bad[i].size, bad[i].align, 0, NULL) == NULL);
		CHECK_EQ(errno, EINVAL);
		/* SM_CACHE_HWCACHE_ALIGN raises a valid alignment to the line; it
		   does not make an invalid one valid (the fuzzer's F3). */
		errno = 0;
		CHECK(sm_cache_create(inst, bad[i].name, bad[i].size, bad[i].align, SM_CACHE_HWCACHE_ALIGN,
				      NULL) == NULL);
		CHECK_EQ(errno, EINVAL);
	}
	CHECK_EQ(instance_caches(inst), base);
	/* The limits themselves are valid; a long name is cut to 31 characters. */
	sm_cache_t *s1 = sm_cache_create(inst, "a-very-long-cache-name-0123456789abcdef",
					 SM_KMALLOC_MAX_CACHE_SIZE, 4096, 0, NULL);
	CHECK(s1 != NULL);
	CHECK_EQ(strlen(sm_cache_name(s1)), 31);
	CHECK(strncmp(sm_cache_name(s1), "a-very-long-cache-name-01234567", 31) == 0);
	void *p = sm_cache_alloc(s1, 0);
	CHECK(p != NULL);
	CHECK_EQ((uintptr_t)p % 4096, 0);
	memset(p, 1, SM_KMALLOC_MAX_CACHE_SIZE);
	sm_cache_free(s1, p);
	sm_cache_t *s2 = sm_cache_create(inst, "one", 1, 1, 0, NULL);
	CHECK(s2 != NULL);
	CHECK_EQ(stats(s2).object_size, 8);
	CHECK_EQ(sm_cache_destroy(s1), 0);
	CHECK_EQ(sm_cache_destroy(s2), 0);
	CHECK_EQ(e.count, 0);
	sm_instance_destroy(inst);
}

/* ---- sheaf capacity ---- */

/*
 * A default sheaf fills the kmalloc object it is, no slack at its end: the
 * largest object that holds no more than the capacity the object size
 * asks for (124 up to 64 bytes, 64 up to 512 bytes, 32 KiB of objects
 * above, 8 at least) and
 * more than one class below would.  A capacity set by the options or the
 * cache's arguments is kept as given.
 */
static void test_sheaf_capacity(void)
{
	struct test_errors e = { 0 };
	sm_instance_t *inst = new_instance(&e, 0);
	for (unsigned i = 0; i < SM_NR_KMALLOC; i++) {
		const struct kmem_cache *s = &inst->kmalloc_caches[i];
		size_t want = s->size <= 64 ? 124 : s->size <= 512 ? 64 : s->size >= 4096 ? 8 : 32768 / s->size;
		CHECK(s->sheaf_capacity >= 8 && s->sheaf_capacity <= want);
		CHECK_EQ(sheaf_bytes(s->sheaf_capacity), s->sheaf_cache->size);
		/* the next class up would not fit the capacity asked for */
		unsigned next = kmalloc_index(sheaf_bytes(s->sheaf_capacity)) + 1;
		CHECK(kmalloc_class_size(next) > sheaf_bytes((unsigned)want));
	}
	CHECK_EQ(inst->kmalloc_caches[kmalloc_index(16)].sheaf_capacity, 124);   /* 1 KiB sheaves */
	CHECK_EQ(inst->kmalloc_caches[kmalloc_index(64)].sheaf_capacity, 124);
	CHECK_EQ(inst->kmalloc_caches[kmalloc_index(80)].sheaf_capacity, 60);    /* 512-byte sheaves */
	CHECK_EQ(inst->kmalloc_caches[kmalloc_index(512)].sheaf_capacity, 60);
	CHECK_EQ(inst->kmalloc_caches[kmalloc_index(1024)].sheaf_capacity, 28);  /* 256-byte sheaves */
	CHECK_EQ(inst->kmalloc_caches[kmalloc_index(4096)].sheaf_capacity, 8);   /* 96 bytes: exact */
	sm_cache_t *c = sm_cache_create_args(inst, "cap-20", 64, &(struct sm_cache_args){ .sheaf_capacity = 20 }, 0);
	CHECK(c != NULL);
	CHECK_EQ(c->sheaf_capacity, 20);
	sm_cache_destroy(c);
	sm_instance_destroy(inst);

	struct sm_options o = test_options(&e);
	o.sheaf_capacity = 64;
	inst = sm_instance_create(&o);
	CHECK(inst != NULL);
	CHECK_EQ(inst->kmalloc_caches[kmalloc_index(64)].sheaf_capacity, 64);
	sm_instance_destroy(inst);
	CHECK_EQ(e.count, 0);
}

int main(void)
{
	test_ctor();
	test_sheaf_capacity();
	test_alignment();
	test_accounting();
	test_destroy_busy();
	test_wrong_cache();
	test_many_caches();
	test_invalid();
	printf("kmem_cache: ok\n");
	return 0;
}
