/*
 * test_typesafe.c - SM_CACHE_TYPESAFE_BY_RCU (the kernel's
 * SLAB_TYPESAFE_BY_RCU) on an isolated instance: a freed object keeps every
 * byte its owner left (the allocator writes nothing inside it, wherever the
 * object sits), the cache's slabs survive shrink, purge and
 * sm_purge(force) while an ordinary cache's go, no other cache or page run
 * is ever given their pages, the memory comes back as objects of the same
 * cache, and destroy gives it all back.
 */
#include <stdbool.h>

#include "test.h"

enum { N = 3000, SIZE = 64 };

static struct sm_cache_stats cstats(sm_cache_t *s)
{
	struct sm_cache_stats st;
	sm_cache_stats_get(s, &st);
	return st;
}

static void *objs[N];

/* Allocate N objects of @s, fill them, free them all; returns the slabs it had. */
static size_t churn(sm_cache_t *s, uint64_t seq)
{
	for (int i = 0; i < N; i++) {
		objs[i] = sm_cache_alloc(s, 0);
		CHECK(objs[i]);
		pat_fill(objs[i], SIZE, seq);
	}
	size_t slabs = cstats(s).slabs;
	for (int i = 0; i < N; i++)
		sm_cache_free(s, objs[i]);
	return slabs;
}

static bool in_typesafe_pages(const void *p, void *const *set, size_t n)
{
	uintptr_t page = (uintptr_t)p & ~(uintptr_t)4095;
	for (size_t i = 0; i < n; i++)
		if (((uintptr_t)set[i] & ~(uintptr_t)4095) == page)
			return true;
	return false;
}

int main(void)
{
	struct test_errors e = { 0 };
	struct sm_options o = test_options(&e);
	o.purge_delay_ms = 0; /* empty slabs and free pages go back at once */
	sm_instance_t *inst = sm_instance_create(&o);
	CHECK(inst);
	sm_cache_t *ts = sm_cache_create(inst, "typesafe", SIZE, 0, SM_CACHE_TYPESAFE_BY_RCU, NULL);
	sm_cache_t *plain = sm_cache_create(inst, "plain", SIZE, 0, 0, NULL);
	CHECK(ts && plain);
	CHECK_EQ(sm_cache_object_size(ts), SIZE);

	/* The ordinary cache: its slabs go back once empty. */
	CHECK(churn(plain, 1) > 0);
	sm_purge(inst, true);
	CHECK_EQ(cstats(plain).slabs, 0);

	/* The type-safe one: all of them stay, contents and all. */
	size_t slabs = churn(ts, 2);
	CHECK(slabs > 0);
	sm_cache_shrink(ts);
	sm_purge(inst, true);
	struct sm_cache_stats st = cstats(ts);
	CHECK_EQ(st.slabs, slabs);
	CHECK_EQ(st.active_objects, 0);
	CHECK_EQ(st.empty_slabs, slabs);
	for (int i = 0; i < N; i++)
		CHECK(pat_ok(objs[i], SIZE, 2)); /* every byte as its owner left it */

	/* Nothing else gets those pages: kmalloc objects, page runs, another cache. */
	static void *other[N];
	for (int i = 0; i < N; i++) {
		other[i] = (i % 100 == 0) ? sm_kmalloc(inst, 20000 + (size_t)i, 0)
			 : (i % 2) ? sm_kmalloc(inst, SIZE, 0) : sm_cache_alloc(plain, 0);
		CHECK(other[i]);
		CHECK(!in_typesafe_pages(other[i], objs, N));
	}
	for (int i = 0; i < N; i++)
		sm_kfree(other[i]);

	/* The memory comes back as this cache's objects: the same slabs, no new one. */
	uint64_t made = cstats(ts).slabs_allocated;
	for (int i = 0; i < N; i++) {
		objs[i] = sm_cache_alloc(ts, 0);
		CHECK(objs[i]);
	}
	CHECK_EQ(cstats(ts).slabs, slabs);
	CHECK_EQ(cstats(ts).slabs_allocated, made);
	for (int i = 0; i < N; i++)
		sm_cache_free(ts, objs[i]);

	/* Destroy gives it back. */
	struct sm_stats before, after;
	sm_stats_get(inst, &before);
	CHECK_EQ(sm_cache_destroy(ts), 0);
	sm_stats_get(inst, &after);
	CHECK(after.slab_bytes + slabs * 4096 <= before.slab_bytes);
	CHECK_EQ(e.count, 0);
	CHECK_EQ(sm_cache_destroy(plain), 0);
	sm_instance_destroy(inst);
	printf("typesafe: ok\n");
	return 0;
}
