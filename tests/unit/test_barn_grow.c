/*
 * test_barn_grow.c - a barn grows when objects make the round trip
 * sheaf -> slab -> sheaf, and gives the growth back (barn.h, growth).
 *
 * One thread of an isolated instance frees batches of 200 objects and
 * allocates them again.  Sheaves of 8, a barn of 2 full sheaves that may
 * double three times (barn_grow_bytes: 16 sheaves of 8 64-byte objects).
 * Each batch overflows the barn, and the next allocations find it dry: the
 * barn doubles once per batch up to 16 sheaves, and the refills from the
 * slabs per batch fall from 21 to 7.  Then purges with little use halve the
 * limits one step each (and free the empty sheaves over them), and purges
 * with no use drain the barn and reset it.  The purges are sm_purge calls;
 * the clock is fake and never moves, so no purge happens on its own.
 *
 * First, the starting limits by object size: a sheaf of more than 32 KiB
 * of objects counts as that many 32 KiB sheaves against barn_max_full,
 * down to 2 (kmem_cache.c, kmem_cache_init).
 */
#include <string.h>

#include "test.h"
#include "fake_clock.h"
#include "instance.h"
#include "kmem_cache.h"

#define OBJ_SIZE 64
#define BATCH 200

static sm_instance_t *inst;
static struct kmem_cache *s;
static struct node_barn *barn;
static void *objs[BATCH];

static struct sm_cache_stats stats(void)
{
	struct sm_cache_stats st;
	sm_cache_stats_get(s, &st);
	return st;
}

static void alloc_n(unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		objs[i] = sm_kmalloc(inst, OBJ_SIZE, 0);
		CHECK(objs[i] != NULL);
		memset(objs[i], 0x5a, OBJ_SIZE);
	}
}

static void free_n(unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		sm_kfree(objs[i]);
}

/* Refills from the slabs while allocating a batch. */
static uint64_t alloc_batch_refills(void)
{
	uint64_t before = stats().refills;
	alloc_n(BATCH);
	return stats().refills - before;
}

/* The starting barn limit of kmalloc class @size with these options. */
static unsigned start_limit(unsigned max_full, size_t barn_bytes, size_t size)
{
	struct test_errors e = { 0 };
	struct sm_options o = test_options(&e);
	o.barn_max_full = max_full;
	o.barn_bytes = barn_bytes;
	sm_instance_t *in = sm_instance_create(&o);
	CHECK(in != NULL);
	const struct kmem_cache *c = &in->kmalloc_caches[kmalloc_index(size)];
	CHECK_EQ(c->size, size);
	unsigned limit = c->barn_max_full;
	sm_instance_destroy(in);
	return limit;
}

static void check_start_limits(void)
{
	/* The defaults: 8 sheaves, 256 KiB.  Sheaves of 124 (a 1 KiB sheaf;
	   7,936 bytes of 64-byte objects) up to 64-byte objects, of 60 (a
	   512-byte sheaf; 7,680 bytes of 128-byte objects) up to 512-byte
	   objects, 8 objects from 4 KiB up (32, 64, 128, 256 KiB). */
	CHECK_EQ(start_limit(8, 256 << 10, 64), 33);   /* 256 KiB of 7,936-byte sheaves */
	CHECK_EQ(start_limit(8, 256 << 10, 128), 34);  /* 256 KiB of 7,680-byte sheaves */
	CHECK_EQ(start_limit(8, 256 << 10, 4096), 8);
	CHECK_EQ(start_limit(8, 256 << 10, 8192), 4);  /* 256 KiB of objects, not 512 */
	CHECK_EQ(start_limit(8, 256 << 10, 16384), 2); /* not 1 MiB */
	CHECK_EQ(start_limit(8, 256 << 10, 32768), 2); /* the floor: 512 KiB, not 2 MiB */
	/* The counts alone: barn_max_full scaled by the sheaf's size. */
	CHECK_EQ(start_limit(64, 0, 4096), 64);
	CHECK_EQ(start_limit(64, 0, 16384), 16);
	CHECK_EQ(start_limit(64, 0, 32768), 8);
	CHECK_EQ(start_limit(2, 0, 32768), 2);
	CHECK_EQ(start_limit(1, 0, 32768), 1); /* below the floor: as set */
	CHECK_EQ(start_limit(0, 0, 32768), 0); /* no barn */
}

int main(void)
{
	check_start_limits();

	struct test_errors e = { 0 };
	struct sm_options o = test_options(&e);
	o.os = &fake_os;
	o.sheaf_capacity = 8;
	o.barn_max_full = 2;
	o.barn_max_empty = 2;
	o.barn_grow_bytes = 16 * 8 * OBJ_SIZE;
	inst = sm_instance_create(&o);
	CHECK(inst != NULL);
	s = &inst->kmalloc_caches[kmalloc_index(OBJ_SIZE)];
	barn = &s->node[0]->barn;
	CHECK_EQ(s->size, OBJ_SIZE);
	CHECK_EQ(s->barn_max_full, 2);
	CHECK_EQ(s->barn_grow_max, 3);

	/*
	 * The first batch: every object from the slabs (25 refills).  Its
	 * frees fill main and spare, give two full sheaves to the barn and
	 * flush the rest: a full sheaf was turned away.
	 */
	CHECK_EQ(alloc_batch_refills(), 25);
	free_n(BATCH);
	CHECK_EQ(barn->nr_full, 2);
	CHECK_EQ(barn->shift, 0);
	CHECK_EQ(stats().barn_grows, 0);

	/*
	 * Each later batch is served by main, spare and the barn, then finds
	 * the barn dry after an overflow: it doubles.  The second batch still
	 * takes 200 - 2 * 8 - 2 * 8 = 168 objects, 21 refills, from the slabs.
	 */
	CHECK_EQ(alloc_batch_refills(), 21);
	CHECK_EQ(barn->shift, 1);
	free_n(BATCH);
	CHECK_EQ(barn->nr_full, 4);
	alloc_n(BATCH);
	CHECK_EQ(barn->shift, 2);
	free_n(BATCH);
	CHECK_EQ(barn->nr_full, 8);
	alloc_n(BATCH);
	CHECK_EQ(barn->shift, 3);
	free_n(BATCH);
	CHECK_EQ(barn->nr_full, 16);
	CHECK_EQ(stats().barn_max_full, 16);
	/* At its most: 200 - 16 - 16 * 8 = 56 objects, 7 refills. */
	CHECK_EQ(alloc_batch_refills(), 7);
	CHECK_EQ(barn->shift, 3);
	CHECK_EQ(stats().barn_grows, 3);
	free_n(BATCH);
	CHECK_EQ(barn->nr_full, 16);
	CHECK_EQ(alloc_batch_refills(), 7);

	/*
	 * Shrinking.  The first purge sees the barn used up to 16 full
	 * sheaves: it keeps the limits.  Then only 24 objects go back and come
	 * out again between purges: the barn holds at most 1 full sheaf, and
	 * each purge halves the limits once.  The empty sheaves the batch left
	 * in the barn (16) are freed down to each new limit.
	 */
	sm_purge(inst, false);
	CHECK_EQ(barn->shift, 3);
	CHECK_EQ(barn->nr_empty, 16);
	for (unsigned shift = 3; shift-- > 0;) {
		free_n(24);
		alloc_n(24);
		CHECK_LE(barn->peak_full, 1);
		sm_purge(inst, false);
		CHECK_EQ(barn->shift, shift);
		CHECK_LE(barn->nr_empty, 2u << shift);
		CHECK_EQ(stats().barn_max_full, 2u << shift);
	}
	CHECK_EQ(stats().barn_shrinks, 3);
	sm_purge(inst, false); /* the limits are the cache's: nothing to halve */
	CHECK_EQ(barn->shift, 0);
	CHECK_EQ(stats().barn_shrinks, 3);

	/*
	 * Grown again, then idle for a purge interval: drained and back at the
	 * cache's limits.
	 */
	for (unsigned i = 0; i < 4; i++) {
		free_n(BATCH);
		alloc_n(BATCH);
	}
	free_n(BATCH);
	CHECK_EQ(barn->shift, 3);
	CHECK_EQ(barn->nr_full, 16);
	sm_purge(inst, false); /* in use since the last purge */
	CHECK_EQ(barn->nr_full, 16);
	sm_purge(inst, false); /* idle */
	CHECK_EQ(barn->shift, 0);
	CHECK_EQ(barn->nr_full, 0);
	CHECK_EQ(barn->nr_empty, 0);
	CHECK_EQ(stats().barn_max_full, 2);

	/* Nothing was lost on the way: every object is back in a slab. */
	sm_thread_flush(inst);  /* main and spare to the barn */
	sm_purge(inst, true);   /* and the barn to the slabs */
	struct sm_cache_stats st = stats();
	CHECK_EQ(st.active_objects, 0);
	CHECK_EQ(st.sheaf_objects, 0);
	CHECK_EQ(s->node[0]->inuse, 0);
	CHECK_EQ(e.count, 0);
	sm_instance_destroy(inst);
	printf("barn growth ok\n");
	return 0;
}
