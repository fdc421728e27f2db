/*
 * test_threads.c - the core under several threads: objects freed by another
 * thread than the one that allocated them, threads that exit with objects
 * still cached in their sheaves, a barn that overflows, and sm_thread_flush.
 *
 * Every object carries a pattern derived from its address and a sequence
 * number, checked before it is freed: an object handed out twice, or written
 * by the allocator while live, shows up as a pattern mismatch.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <errno.h>
#include <time.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"
#include "hooks.h"
#include "instance.h"
#include "kmem_cache.h"
#include "os.h"
#include "sheaf.h"
#include "size_classes.h"
#include "slab.h"
#include "registry.h"
#include "tcache.h"

/* ---- helpers ---- */

/*
 * A self-describing object (for exchanges where no side table is possible):
 * word 0 the sequence number, word 1 the size, the rest the pattern.
 */
static void *obj_new(sm_instance_t *inst, size_t size, uint64_t seq)
{
	void *p = sm_kmalloc(inst, size, 0);
	if (!p)
		return NULL;
	uint64_t *w = p;
	w[0] = seq;
	w[1] = size;
	pat_fill(w + 2, size - 16, seq);
	return p;
}

static bool obj_ok(const void *p)
{
	const uint64_t *w = p;
	return w[1] >= 16 && w[1] <= sm_ksize(p) && pat_ok(w + 2, w[1] - 16, w[0]);
}

/* Random size: log-uniform in [8, 4096], or one time in 256 a 40 KiB page run. */
static size_t rnd_size(uint64_t *s, size_t min)
{
	uint64_t r = rnd_next(s);
	size_t size;
	if ((r & 255) == 0) {
		size = 40u << 10;
	} else {
		size_t hi = (size_t)8 << ((r >> 8) % 10), lo = hi / 2;
		size = lo + (size_t)((r >> 16) % (hi - lo + 1));
	}
	return size < min ? min : size;
}

/* Stats of every cache of @inst, kmalloc caches first (sm_cache_foreach order). */
struct all_stats {
	unsigned n;
	struct sm_cache_stats st[SM_MAX_CACHES];
};

static void collect(const struct sm_cache_stats *st, void *arg)
{
	struct all_stats *a = arg;
	a->st[a->n++] = *st;
}

static struct all_stats *get_all_stats(sm_instance_t *inst)
{
	static struct all_stats a;
	a.n = 0;
	sm_cache_foreach(inst, collect, &a);
	return &a;
}

/*
 * Sheaves are objects of the kmalloc caches themselves (allocated straight
 * from the slabs).  Count, per kmalloc class, the sheaves that exist: in the
 * barns and in the threads' tcaches.
 */
static void count_sheaves(sm_instance_t *inst, size_t *per_class)
{
	memset(per_class, 0, SM_NR_KMALLOC * sizeof(*per_class));
	struct list_head *pos;
	for (pos = inst->caches.next; pos != &inst->caches; pos = pos->next) {
		struct kmem_cache *s = list_entry(pos, struct kmem_cache, list);
		unsigned k = kmalloc_index(sizeof(struct slab_sheaf) + s->sheaf_capacity * sizeof(void *));
		for (unsigned n = 0; n < pa_nr_nodes(&inst->pa); n++)
			per_class[k] += s->node[n]->barn.nr_full + s->node[n]->barn.nr_empty;
		struct list_head *t;
		for (t = inst->tcaches.next; t != &inst->tcaches; t = t->next) {
			struct tcache *tc = list_entry(t, struct tcache, link);
			per_class[k] += (tcache_pcs(tc, s->id)->main.capacity != 0) +
					(tcache_pcs(tc, s->id)->spare != NULL);
		}
	}
}

/*
 * With no thread running in @inst and every user object freed, the only
 * objects out of the kmalloc caches are the allocator's own: the sheaves
 * and the descriptors of the caches made with sm_cache_create.  The stats
 * count them as internal_objects of the class they were allocated from
 * (e.g. kmalloc-96 holds the 8-slot sheaves of the caches of 2 KiB and up,
 * and those stay in the barns until sm_purge(inst, true)), never as the
 * program's active objects.
 */
static void check_active_is_sheaves(sm_instance_t *inst)
{
	static size_t want[SM_NR_KMALLOC];
	count_sheaves(inst, want);
	struct list_head *pos;
	for (pos = inst->caches.next; pos != &inst->caches; pos = pos->next)
		if (!list_entry(pos, struct kmem_cache, list)->is_kmalloc)
			want[kmalloc_aligned_index(sizeof(struct kmem_cache_desc), SM_CACHELINE)]++;
	struct all_stats *a = get_all_stats(inst);
	for (unsigned i = 0; i < SM_NR_KMALLOC; i++) {
		if (a->st[i].internal_objects != want[i] || a->st[i].active_objects)
			fprintf(stderr, "%s: active %zu, internal %zu, sheaves and descriptors %zu\n",
				a->st[i].name, a->st[i].active_objects, a->st[i].internal_objects, want[i]);
		CHECK_EQ(a->st[i].active_objects, 0);
		CHECK_EQ(a->st[i].internal_objects, want[i]);
	}
}

/*
 * After every thread that touched @inst exited and sm_purge(inst, true):
 * nothing is allocated, cached or kept in slabs, by any kmalloc cache.
 */
static void check_all_empty(sm_instance_t *inst)
{
	struct all_stats *a = get_all_stats(inst);
	CHECK(a->n >= SM_NR_KMALLOC);
	for (unsigned i = 0; i < SM_NR_KMALLOC; i++) {
		const struct sm_cache_stats *st = &a->st[i];
		CHECK_EQ(st->object_size, kmalloc_class_size(i));
		if (st->active_objects || st->slabs || st->sheaf_objects || st->total_objects)
			fprintf(stderr, "cache %s: active %zu slabs %zu sheaf %zu\n", st->name,
				st->active_objects, st->slabs, st->sheaf_objects);
		CHECK_EQ(st->active_objects, 0);
		CHECK_EQ(st->sheaf_objects, 0);
		CHECK_EQ(st->slabs, 0);
		CHECK_EQ(st->total_objects, 0);
		CHECK_EQ(st->slabs_freed, st->slabs_allocated);
	}
	/* The same from the slab layer itself: no object out of any slab. */
	for (unsigned i = 0; i < SM_NR_KMALLOC; i++)
		for (unsigned n = 0; n < pa_nr_nodes(&inst->pa); n++) {
			CHECK_EQ(inst->kmalloc_caches[i].node[n]->inuse, 0);
			CHECK_EQ(inst->kmalloc_caches[i].node[n]->barn.nr_full, 0);
		}
	struct sm_stats s;
	sm_stats_get(inst, &s);
	CHECK_EQ(s.slab_bytes, 0);
}

/* ---- 1. producers and consumers: every object freed by another thread ---- */

#define NPROD 2
#define NCONS 2
#define BATCH 32
#define RING 128

struct item {
	void *p;
	size_t size;
	uint64_t seq;
};

struct batch {
	unsigned n;
	struct item it[BATCH];
};

static struct {
	sm_instance_t *inst;
	pthread_mutex_t m;
	pthread_cond_t not_full, not_empty;
	struct batch slots[RING];
	unsigned head, tail, count;
	int producers_left;
	size_t per_producer;
	/* results */
	size_t produced[NPROD], consumed[NCONS], bad[NCONS], foreign[NPROD];
	size_t large[NPROD];
} ring = {
	.m = PTHREAD_MUTEX_INITIALIZER,
	.not_full = PTHREAD_COND_INITIALIZER,
	.not_empty = PTHREAD_COND_INITIALIZER,
};

static void ring_push(const struct batch *b)
{
	pthread_mutex_lock(&ring.m);
	while (ring.count == RING)
		pthread_cond_wait(&ring.not_full, &ring.m);
	ring.slots[ring.tail] = *b;
	ring.tail = (ring.tail + 1) % RING;
	ring.count++;
	pthread_cond_signal(&ring.not_empty);
	pthread_mutex_unlock(&ring.m);
}

/* False when every producer is done and the ring is empty. */
static bool ring_pop(struct batch *b)
{
	pthread_mutex_lock(&ring.m);
	while (ring.count == 0 && ring.producers_left > 0)
		pthread_cond_wait(&ring.not_empty, &ring.m);
	if (ring.count == 0) {
		pthread_mutex_unlock(&ring.m);
		return false;
	}
	*b = ring.slots[ring.head];
	ring.head = (ring.head + 1) % RING;
	ring.count--;
	pthread_cond_signal(&ring.not_full);
	pthread_mutex_unlock(&ring.m);
	return true;
}

static void *producer(void *arg)
{
	unsigned id = (unsigned)(uintptr_t)arg;
	uint64_t rs = 0x1234 + id;
	struct batch b = { .n = 0 };
	for (size_t i = 0; i < ring.per_producer; i++) {
		size_t size = rnd_size(&rs, 8);
		uint64_t seq = ((uint64_t)id << 48) | i;
		void *p = sm_kmalloc(ring.inst, size, 0);
		CHECK(p != NULL);
		if (sm_ptr_instance(p) != ring.inst || sm_ksize(p) < size)
			ring.foreign[id]++;
		if (size > SM_KMALLOC_MAX_CACHE_SIZE)
			ring.large[id]++;
		pat_fill(p, size, seq);
		b.it[b.n++] = (struct item){ p, size, seq };
		if (b.n == BATCH) {
			ring_push(&b);
			b.n = 0;
		}
		ring.produced[id]++;
	}
	if (b.n)
		ring_push(&b);
	pthread_mutex_lock(&ring.m);
	ring.producers_left--;
	pthread_cond_broadcast(&ring.not_empty);
	pthread_mutex_unlock(&ring.m);
	return NULL;
}

static void *consumer(void *arg)
{
	unsigned id = (unsigned)(uintptr_t)arg;
	struct batch b;
	while (ring_pop(&b)) {
		for (unsigned i = 0; i < b.n; i++) {
			struct item *it = &b.it[i];
			if (!pat_ok(it->p, it->size, it->seq))
				ring.bad[id]++;
			sm_kfree(it->p);
			ring.consumed[id]++;
		}
	}
	return NULL;
}

/* The soak's purge delay for cross_thread_free (main): -1 the default. */
static long soak_purge_delay_ms = -1;

static void test_cross_thread_free(void)
{
	struct test_errors e = { 0 };
	struct sm_options o = test_options(&e);
	if (soak_purge_delay_ms >= 0)
		o.purge_delay_ms = (unsigned)soak_purge_delay_ms;
	/* Counts of an earlier round (the soak runs this test again). */
	memset(ring.produced, 0, sizeof(ring.produced));
	memset(ring.consumed, 0, sizeof(ring.consumed));
	memset(ring.bad, 0, sizeof(ring.bad));
	memset(ring.foreign, 0, sizeof(ring.foreign));
	memset(ring.large, 0, sizeof(ring.large));
	ring.inst = sm_instance_create(&o);
	CHECK(ring.inst != NULL);
	ring.per_producer = under_valgrind() ? 200000 : 2000000; /* 4 million in all */
	ring.producers_left = NPROD;

	pthread_t pt[NPROD], ct[NCONS];
	for (unsigned i = 0; i < NCONS; i++)
		CHECK_EQ(pthread_create(&ct[i], NULL, consumer, (void *)(uintptr_t)i), 0);
	for (unsigned i = 0; i < NPROD; i++)
		CHECK_EQ(pthread_create(&pt[i], NULL, producer, (void *)(uintptr_t)i), 0);
	for (unsigned i = 0; i < NPROD; i++)
		CHECK_EQ(pthread_join(pt[i], NULL), 0);
	for (unsigned i = 0; i < NCONS; i++)
		CHECK_EQ(pthread_join(ct[i], NULL), 0);

	size_t produced = 0, consumed = 0, large = 0;
	for (unsigned i = 0; i < NPROD; i++) {
		produced += ring.produced[i];
		large += ring.large[i];
		CHECK_EQ(ring.foreign[i], 0);
	}
	for (unsigned i = 0; i < NCONS; i++) {
		consumed += ring.consumed[i];
		CHECK_EQ(ring.bad[i], 0);
	}
	CHECK_EQ(produced, NPROD * ring.per_producer);
	CHECK_EQ(consumed, produced);
	CHECK(large > 0); /* the page-run path was exercised too */
	if (e.count)
		fprintf(stderr, "cross_thread_free: %d reports, the last: %s\n", e.count, e.last);
	CHECK_EQ(e.count, 0);

	/* Every thread exited: their tcaches are gone and their sheaves went to the barns. */
	CHECK(list_empty(&ring.inst->tcaches));
	/*
	 * Every size class from 8 B to 4 KiB that plain requests reach made
	 * slabs (the 24, 40 and 56-byte classes may be kept for explicit 8-byte
	 * alignments: requests above 8 bytes may be rounded to 16).
	 */
	struct all_stats *a = get_all_stats(ring.inst);
	unsigned used = 0;
	for (unsigned i = 0; i <= kmalloc_index(4096); i++) {
		if (kmalloc_class_size(i) % 16 && kmalloc_class_size(i) != 8)
			continue;
		if (!a->st[i].slabs_allocated)
			fprintf(stderr, "%s made no slab\n", a->st[i].name);
		CHECK(a->st[i].slabs_allocated > 0);
		used++;
	}
	CHECK_EQ(used, kmalloc_index(4096) + 1 - 3);
	check_active_is_sheaves(ring.inst);

	size_t purged = sm_purge(ring.inst, true);
	CHECK(purged > 0);
	check_all_empty(ring.inst);
	struct sm_stats s;
	sm_stats_get(ring.inst, &s);
	CHECK_EQ(s.large_bytes, 0); /* page runs and the threads' tcaches were freed */
	CHECK_EQ(s.free_dirty_bytes, 0);
	CHECK_EQ(e.count, 0);
	sm_instance_destroy(ring.inst);
	printf("cross_thread_free: %zu objects (%zu page runs), %zu bytes purged\n", produced, large,
	       purged);
}

/* ---- 2. all-to-all: four threads free each other's objects ---- */

#define NT 4

static struct {
	sm_instance_t *inst;
	pthread_barrier_t bar;
	void **slots;       /* NT partitions of per_part slots */
	uint8_t *owner;     /* thread that allocated slots[i] */
	size_t per_part, rounds, chaos_ops;
	uint64_t allocs[NT], frees[NT], cross[NT], bad[NT];
} a2a;

static void *a2a_thread(void *arg)
{
	unsigned t = (unsigned)(uintptr_t)arg;
	uint64_t rs = 0xabc0 + t, seq = (uint64_t)t << 48;
	size_t np = a2a.per_part;

	/* Round 0: fill my own partition. */
	for (size_t i = 0; i < np; i++) {
		size_t k = t * np + i;
		a2a.slots[k] = obj_new(a2a.inst, rnd_size(&rs, 16), seq++);
		CHECK(a2a.slots[k] != NULL);
		a2a.owner[k] = (uint8_t)t;
		a2a.allocs[t]++;
	}
	pthread_barrier_wait(&a2a.bar);
	/*
	 * Round r: work on partition (t + 1 + (r - 1) % 3) % NT, never my own:
	 * every object freed here was allocated by another thread.
	 */
	for (size_t r = 1; r <= a2a.rounds; r++) {
		unsigned part = (t + 1 + (unsigned)((r - 1) % 3)) % NT;
		for (size_t i = 0; i < np; i++) {
			size_t k = part * np + i;
			void *p = a2a.slots[k];
			if (!obj_ok(p))
				a2a.bad[t]++;
			if (a2a.owner[k] != t)
				a2a.cross[t]++;
			sm_kfree(p);
			a2a.frees[t]++;
			a2a.slots[k] = obj_new(a2a.inst, rnd_size(&rs, 16), seq++);
			CHECK(a2a.slots[k] != NULL);
			a2a.owner[k] = (uint8_t)t;
			a2a.allocs[t]++;
		}
		pthread_barrier_wait(&a2a.bar);
	}
	/* Chaos: swap random slots of the whole array, freeing what comes out. */
	size_t total = NT * np;
	for (size_t i = 0; i < a2a.chaos_ops; i++) {
		size_t k = (size_t)(rnd_next(&rs) % total);
		void *n = obj_new(a2a.inst, rnd_size(&rs, 16), seq++);
		CHECK(n != NULL);
		a2a.allocs[t]++;
		void *old = __atomic_exchange_n(&a2a.slots[k], n, __ATOMIC_ACQ_REL);
		if (!obj_ok(old))
			a2a.bad[t]++;
		sm_kfree(old);
		a2a.frees[t]++;
	}
	pthread_barrier_wait(&a2a.bar);
	/* Last: free the partition of the next thread. */
	unsigned part = (t + 1) % NT;
	for (size_t i = 0; i < np; i++) {
		void *p = a2a.slots[part * np + i];
		if (!obj_ok(p))
			a2a.bad[t]++;
		sm_kfree(p);
		a2a.frees[t]++;
	}
	return NULL;
}

static void test_all_to_all(void)
{
	struct test_errors e = { 0 };
	struct sm_options o = test_options(&e);
	a2a.inst = sm_instance_create(&o);
	CHECK(a2a.inst != NULL);
	a2a.per_part = under_valgrind() ? 1024 : 4096;
	a2a.rounds = under_valgrind() ? 12 : 60;
	a2a.chaos_ops = under_valgrind() ? 20000 : 200000;
	a2a.slots = calloc(NT * a2a.per_part, sizeof(void *));
	a2a.owner = calloc(NT * a2a.per_part, 1);
	CHECK(a2a.slots && a2a.owner);
	CHECK_EQ(pthread_barrier_init(&a2a.bar, NULL, NT), 0);

	pthread_t th[NT];
	for (unsigned t = 0; t < NT; t++)
		CHECK_EQ(pthread_create(&th[t], NULL, a2a_thread, (void *)(uintptr_t)t), 0);
	for (unsigned t = 0; t < NT; t++)
		CHECK_EQ(pthread_join(th[t], NULL), 0);

	uint64_t allocs = 0, frees = 0;
	for (unsigned t = 0; t < NT; t++) {
		CHECK_EQ(a2a.bad[t], 0);
		/* In the barrier rounds every free was of another thread's object. */
		CHECK_EQ(a2a.cross[t], a2a.rounds * a2a.per_part);
		allocs += a2a.allocs[t];
		frees += a2a.frees[t];
	}
	CHECK_EQ(allocs, NT * a2a.per_part * (1 + a2a.rounds) + NT * a2a.chaos_ops);
	CHECK_EQ(frees, allocs);
	CHECK_EQ(e.count, 0);
	CHECK(list_empty(&a2a.inst->tcaches));
	check_active_is_sheaves(a2a.inst);

	sm_purge(a2a.inst, true);
	check_all_empty(a2a.inst);
	struct sm_stats s;
	sm_stats_get(a2a.inst, &s);
	CHECK_EQ(s.large_bytes, 0);
	pthread_barrier_destroy(&a2a.bar);
	free(a2a.slots);
	free(a2a.owner);
	sm_instance_destroy(a2a.inst);
}

/* Objects in @tc's spare sheaf of cache @id (0: none). */
static unsigned spare_size(struct tcache *tc, unsigned id)
{
	const struct slab_sheaf *sp = tcache_pcs(tc, id)->spare;
	return sp ? sp->size : 0;
}

/* ---- 3. a thread exits with objects cached in its sheaves ---- */

#define OBJ_SIZE 64

static struct {
	sm_instance_t *inst;
	size_t nalloc, nfree;
	void *kept[128];          /* objects the thread left allocated */
	unsigned main_size, spare_size;
	size_t sheaf_objects, active, large_bytes, internal_bytes;
} ex;

static struct kmem_cache *cache_of_size(sm_instance_t *inst, size_t size)
{
	return &inst->kmalloc_caches[kmalloc_index(size)];
}

static void *exit_thread(void *arg)
{
	(void)arg;
	void *p[128];
	CHECK(ex.nalloc <= 128);
	for (size_t i = 0; i < ex.nalloc; i++) {
		p[i] = sm_kmalloc(ex.inst, OBJ_SIZE, 0);
		CHECK(p[i] != NULL);
		memset(p[i], 0x5a, OBJ_SIZE);
	}
	for (size_t i = 0; i < ex.nfree; i++)
		sm_kfree(p[i]);
	for (size_t i = ex.nfree; i < ex.nalloc; i++)
		ex.kept[i - ex.nfree] = p[i];

	/* The objects sit in this thread's sheaves. */
	struct kmem_cache *s = cache_of_size(ex.inst, OBJ_SIZE);
	struct tcache *tc = sm_thread.slots[ex.inst->slot].tc;
	CHECK(tc != NULL);
	CHECK_EQ(sm_thread.slots[ex.inst->slot].gen, ex.inst->gen);
	ex.main_size = tcache_pcs(tc, s->id)->main.size;
	ex.spare_size = spare_size(tc, s->id);
	CHECK(ex.main_size > 0);
	struct sm_cache_stats st;
	sm_cache_stats_get(s, &st);
	ex.sheaf_objects = st.sheaf_objects;
	ex.active = st.active_objects;
	struct sm_stats ss;
	sm_stats_get(ex.inst, &ss);
	ex.large_bytes = ss.large_bytes;
	ex.internal_bytes = ss.internal_bytes;
	return NULL;
}

static void run_exit_thread(size_t nalloc, size_t nfree)
{
	ex.nalloc = nalloc;
	ex.nfree = nfree;
	pthread_t th;
	CHECK_EQ(pthread_create(&th, NULL, exit_thread, NULL), 0);
	CHECK_EQ(pthread_join(th, NULL), 0);
}

/* Objects of @s out of its slabs, and full sheaves in its barns, summed over nodes. */
static void slab_and_barn(sm_instance_t *inst, struct kmem_cache *s, size_t *inuse,
			  size_t *full, size_t *empty)
{
	*inuse = *full = *empty = 0;
	for (unsigned n = 0; n < pa_nr_nodes(&inst->pa); n++) {
		*inuse += s->node[n]->inuse;
		*full += s->node[n]->barn.nr_full;
		*empty += s->node[n]->barn.nr_empty;
	}
}

static void test_thread_exit(void)
{
	const size_t tc_bytes = ALIGN_UP(sizeof(struct tcache), SM_PAGE_SIZE);
	struct test_errors e = { 0 };
	struct sm_options o = test_options(&e);
	o.sheaf_capacity = 64; /* the counts below (by default 60: kmem_cache.c) */

	/*
	 * (a) 100 objects allocated and all freed.  kmalloc-64 has sheaves of
	 * 64: the allocations take two refills of 64 (128 objects out of the
	 * slabs) and leave 28 in main.  The frees go onto main: the first 36
	 * fill it, and with no spare it becomes the spare, full, and a new
	 * empty sheaf main; the last 64 fill that.  128 objects in sheaves.
	 */
	ex.inst = sm_instance_create(&o);
	CHECK(ex.inst != NULL);
	struct kmem_cache *s = cache_of_size(ex.inst, OBJ_SIZE);
	CHECK_EQ(s->sheaf_capacity, 64);
	run_exit_thread(100, 100);
	CHECK_EQ(ex.main_size, 64);
	CHECK_EQ(ex.spare_size, 64);
	CHECK_EQ(ex.sheaf_objects, 128);
	CHECK_EQ(ex.active, 0);
	CHECK_EQ(ex.large_bytes, 0); /* the live thread's tcache: the allocator's own */
	CHECK(ex.internal_bytes >= tc_bytes);

	/* After the exit: both full sheaves stay in the barn; none of their
	   objects were lost. */
	size_t inuse, full, empty;
	slab_and_barn(ex.inst, s, &inuse, &full, &empty);
	CHECK_EQ(full, 2);
	CHECK_EQ(empty, 0);
	CHECK_EQ(inuse, full * s->sheaf_capacity);
	struct sm_cache_stats st;
	sm_cache_stats_get(s, &st);
	CHECK_EQ(st.sheaf_objects, full * s->sheaf_capacity);
	CHECK_EQ(st.active_objects, 0);
	/* "full sheaves given to a barn": the two given at the exit. */
	CHECK_EQ(st.barn_put, 2);
	CHECK_EQ(st.barn_get, 0);
	CHECK_EQ(st.refills, 2);
	CHECK_EQ(st.flushes, 0);
	CHECK_EQ(st.slabs, 2);      /* 64 objects per 4 KiB slab */
	CHECK(list_empty(&ex.inst->tcaches));
	struct sm_stats ss;
	sm_stats_get(ex.inst, &ss);
	CHECK_EQ(ss.large_bytes, 0); /* the tcache pages went back to the node */

	/* A second thread takes the barn's sheaves: nothing was lost. */
	run_exit_thread(128, 128);
	sm_cache_stats_get(s, &st);
	CHECK_EQ(st.barn_get, 2);   /* its 128 from the barn's two full sheaves */
	/* Every full sheaf that entered the barn is counted in or out. */
	slab_and_barn(ex.inst, s, &inuse, &full, &empty);
	CHECK_EQ(st.barn_put - st.barn_get, full);
	CHECK_EQ(st.active_objects, 0);
	CHECK(list_empty(&ex.inst->tcaches));
	CHECK_EQ(e.count, 0);
	sm_instance_destroy(ex.inst);

	/*
	 * (b) 100 allocated, 90 freed, 10 kept: the spare holds 64 (main
	 * when the first 36 frees filled it), main 90 - 36 = 54.  At the exit
	 * the full spare goes to the barn and main is flushed to the slabs,
	 * its sheaf kept as an empty one by the barn.  64 objects in the barn,
	 * 10 live.
	 */
	ex.inst = sm_instance_create(&o);
	CHECK(ex.inst != NULL);
	s = cache_of_size(ex.inst, OBJ_SIZE);
	run_exit_thread(100, 90);
	CHECK_EQ(ex.main_size, 54);
	CHECK_EQ(ex.spare_size, 64);
	CHECK_EQ(ex.active, 10);
	slab_and_barn(ex.inst, s, &inuse, &full, &empty);
	CHECK_EQ(full, 1);
	CHECK_EQ(empty, 1);
	CHECK_EQ(inuse, full * s->sheaf_capacity + 10);
	sm_cache_stats_get(s, &st);
	CHECK_EQ(st.active_objects, 10);
	CHECK_EQ(st.sheaf_objects, 64);
	CHECK_EQ(st.flushes, 1);
	CHECK(list_empty(&ex.inst->tcaches));
	for (unsigned i = 0; i < 10; i++) {
		unsigned char *c = ex.kept[i];
		CHECK_EQ(sm_ptr_instance(c), ex.inst);
		CHECK(c[0] == 0x5a && c[OBJ_SIZE - 1] == 0x5a);
	}
	/* The main thread frees the kept ones and flushes: all back. */
	for (unsigned i = 0; i < 10; i++)
		sm_kfree(ex.kept[i]);
	sm_thread_flush(ex.inst);
	sm_cache_stats_get(s, &st);
	CHECK_EQ(st.active_objects, 0);
	slab_and_barn(ex.inst, s, &inuse, &full, &empty);
	CHECK_EQ(inuse, full * s->sheaf_capacity);
	sm_purge(ex.inst, true);
	check_all_empty(ex.inst);
	CHECK_EQ(e.count, 0);
	sm_instance_destroy(ex.inst);
}

/* ---- 4. the barn overflows: more full sheaves than barn_max_full ---- */

static struct {
	sm_instance_t *inst;
	unsigned max_full_seen;
	struct sm_cache_stats after_free, after_32, after_33;
	unsigned nr_full_after_free, nr_full_after_32, nr_empty_after_32;
} bo;

static void *overflow_thread(void *arg)
{
	(void)arg;
	enum { N = 200 };
	void *p[N];
	struct kmem_cache *s = cache_of_size(bo.inst, OBJ_SIZE);
	struct node_barn *barn = &s->node[0]->barn;
	for (int i = 0; i < N; i++) {
		p[i] = sm_kmalloc(bo.inst, OBJ_SIZE, 0);
		CHECK(p[i] != NULL);
	}
	for (int i = 0; i < N; i++) {
		sm_kfree(p[i]);
		unsigned f = barn->nr_full;
		if (f > bo.max_full_seen)
			bo.max_full_seen = f;
	}
	bo.nr_full_after_free = barn->nr_full;
	sm_cache_stats_get(s, &bo.after_free);
	for (int i = 0; i < 32; i++)
		p[i] = sm_kmalloc(bo.inst, OBJ_SIZE, 0);
	bo.nr_full_after_32 = barn->nr_full;
	bo.nr_empty_after_32 = barn->nr_empty;
	sm_cache_stats_get(s, &bo.after_32);
	p[32] = sm_kmalloc(bo.inst, OBJ_SIZE, 0);
	sm_cache_stats_get(s, &bo.after_33);
	for (int i = 0; i < 33; i++)
		sm_kfree(p[i]);
	return NULL;
}

static void test_barn_overflow(void)
{
	struct test_errors e = { 0 };
	struct sm_options o = test_options(&e);
	o.barn_max_full = 2;
	o.sheaf_capacity = 8;
	bo.inst = sm_instance_create(&o);
	CHECK(bo.inst != NULL);
	struct kmem_cache *s = cache_of_size(bo.inst, OBJ_SIZE);
	CHECK_EQ(s->sheaf_capacity, 8);

	pthread_t th;
	CHECK_EQ(pthread_create(&th, NULL, overflow_thread, NULL), 0);
	CHECK_EQ(pthread_join(th, NULL), 0);

	/*
	 * 200 allocations: 25 refills of 8, main ends empty.  200 frees: the
	 * first 8 fill main, the next 8 a new main (the full one becomes the
	 * spare), the next two full sheaves go to the barn (barn_put 2, the
	 * barn is now at its limit), and each later full main is flushed to
	 * the slabs: at frees 33, 41, ..., 193, i.e. 21 flushes.  main and
	 * spare end full, 32 objects are out of the slabs.
	 */
	CHECK_EQ(bo.max_full_seen, 2);
	CHECK_EQ(bo.nr_full_after_free, 2);
	CHECK_EQ(bo.after_free.refills, 25);
	CHECK_EQ(bo.after_free.barn_put, 2);
	CHECK_EQ(bo.after_free.barn_get, 0);
	CHECK_EQ(bo.after_free.flushes, 21);
	CHECK_EQ(bo.after_free.sheaf_objects, 32);
	CHECK_EQ(bo.after_free.active_objects, 0);
	/*
	 * 32 allocations: main (8), then the spare (8), then the barn's two
	 * full sheaves (barn_get 2; the emptied ones are kept by the barn).
	 * The 33rd refills from the slabs.
	 */
	CHECK_EQ(bo.nr_full_after_32, 0);
	CHECK_EQ(bo.nr_empty_after_32, 2);
	CHECK_EQ(bo.after_32.barn_get, 2);
	CHECK_EQ(bo.after_32.refills, 25);
	CHECK_EQ(bo.after_32.active_objects, 32);
	CHECK_EQ(bo.after_33.refills, 26);
	CHECK_EQ(bo.after_33.active_objects, 33);

	/* After the exit nothing is live, and the barn still holds at most 2. */
	struct sm_cache_stats st;
	sm_cache_stats_get(s, &st);
	CHECK_EQ(st.active_objects, 0);
	CHECK_LE(s->node[0]->barn.nr_full, 2);
	CHECK_LE(s->node[0]->barn.nr_empty, o.barn_max_empty);
	CHECK_EQ(s->node[0]->inuse, s->node[0]->barn.nr_full * 8u);
	CHECK(list_empty(&bo.inst->tcaches));
	sm_purge(bo.inst, true);
	check_all_empty(bo.inst);
	CHECK_EQ(e.count, 0);
	sm_instance_destroy(bo.inst);
}

/* ---- 5. sm_thread_flush ---- */

static void test_thread_flush(void)
{
	struct test_errors e = { 0 };
	struct sm_options o = test_options(&e);
	o.sheaf_capacity = 64; /* the counts below (by default 60: kmem_cache.c) */
	sm_instance_t *inst = sm_instance_create(&o);
	CHECK(inst != NULL);
	struct kmem_cache *s = cache_of_size(inst, OBJ_SIZE);

	/* Flushing an instance this thread never used does nothing. */
	sm_thread_flush(inst);
	CHECK(list_empty(&inst->tcaches));

	void *p[100];
	for (int i = 0; i < 100; i++)
		p[i] = sm_kmalloc(inst, OBJ_SIZE, 0);
	for (int i = 0; i < 70; i++)
		sm_kfree(p[i]);
	/* Allocations: main refilled twice from the slabs, 64 - 36 = 28 left.
	   Frees go onto main: the first 36 filled it and it became the spare
	   (there was none), the last 34 are in a new main. */
	struct tcache *tc = sm_thread.slots[inst->slot].tc;
	CHECK(tc != NULL);
	CHECK_EQ(tcache_pcs(tc, s->id)->main.size, 34);
	CHECK_EQ(spare_size(tc, s->id), 64);
	CHECK_EQ(s->node[0]->barn.nr_full, 0);
	struct sm_cache_stats st;
	sm_cache_stats_get(s, &st);
	CHECK_EQ(st.sheaf_objects, 98);
	CHECK_EQ(st.active_objects, 30);

	sm_thread_flush(inst);
	/* The thread holds no sheaf of any cache any more. */
	for (unsigned i = 0; i < SM_MAX_CACHES; i++) {
		CHECK(tcache_pcs(tc, i)->main.capacity == 0);
		CHECK(tcache_pcs(tc, i)->spare == NULL);
	}
	/* The barn keeps the full spare; main's 34 objects went to the slabs,
	   and its sheaf to the barn as an empty one. */
	size_t inuse, full, empty;
	slab_and_barn(inst, s, &inuse, &full, &empty);
	CHECK_EQ(full, 1);
	CHECK_EQ(empty, 1);
	CHECK_EQ(inuse, 64 + 30);
	sm_cache_stats_get(s, &st);
	CHECK_EQ(st.sheaf_objects, 64);
	CHECK_EQ(st.active_objects, 30);

	/* The thread keeps working after a flush: it takes the barn's sheaf. */
	void *q = sm_kmalloc(inst, OBJ_SIZE, 0);
	CHECK(q != NULL);
	sm_cache_stats_get(s, &st);
	CHECK_EQ(st.barn_get, 1);
	CHECK_EQ(st.active_objects, 31);
	sm_kfree(q);
	for (int i = 70; i < 100; i++)
		sm_kfree(p[i]);
	sm_thread_flush(inst);
	sm_cache_stats_get(s, &st);
	CHECK_EQ(st.active_objects, 0);
	slab_and_barn(inst, s, &inuse, &full, &empty);
	CHECK_EQ(inuse, full * s->sheaf_capacity);
	/* A second flush in a row finds nothing to do. */
	sm_thread_flush(inst);
	size_t inuse2, full2, empty2;
	slab_and_barn(inst, s, &inuse2, &full2, &empty2);
	CHECK_EQ(inuse2, inuse);
	CHECK_EQ(full2, full);
	sm_purge(inst, true);
	check_all_empty(inst);
	CHECK_EQ(e.count, 0);
	sm_instance_destroy(inst);
}


/*
 * Remote frees go home: objects of a slab another thread owns (the one
 * whose sheaf last took from it) go to the freeing thread's remote sheaf,
 * never to its spare, so its own mallocs do not hand them out again until
 * half a remote sheaf has gathered (tcache_remote_reuse); a full remote
 * sheaf goes to the barn; a double free of an object sitting in a remote
 * sheaf is caught, by the thread holding it and by another; thread exit
 * sends the remote sheaf's objects back to their slabs.
 */
#define RF_MAX 256

static struct {
	sm_instance_t *inst;
	struct kmem_cache *s;
	struct test_errors *e;
	unsigned n;                     /* below the reuse threshold */
	void *theirs[RF_MAX];           /* allocated by the main thread */
	void *more;                     /* one more, to reach the threshold */
	size_t internal_before;         /* the allocator's own bytes, the
	                                   main thread's tcache alone */
} rf;

static bool rf_theirs(const void *p)
{
	for (unsigned j = 0; j < rf.n; j++)
		if (p == rf.theirs[j])
			return true;
	return p == rf.more;
}

static void *remote_freer(void *arg)
{
	(void)arg;
	struct kmem_cache *s = rf.s;
	unsigned n = rf.n, cap = s->sheaf_capacity;
	for (unsigned i = 0; i < n; i++)
		sm_kfree(rf.theirs[i]);
	struct tcache *tc = sm_thread.slots[rf.inst->slot].tc;
	CHECK(tc != NULL);
	CHECK(tcache_remote(tc, s->id)->capacity != 0);
	/* Its remote views were made by its first remote free (a page run,
	   counted as the allocator's own), for every cache of the instance. */
	CHECK(tc->remote != sm_no_remote_views && tc->kremote == tc->remote);
	struct sm_stats ss;
	sm_stats_get(rf.inst, &ss);
	CHECK(ss.internal_bytes >= rf.internal_before + (size_t)(tc->npages + TCACHE_REMOTE_PAGES) * SM_PAGE_SIZE);
	CHECK_EQ(tcache_remote(tc, s->id)->size, n);
	CHECK_EQ(spare_size(tc, s->id), 0);
	/* This thread's mallocs never return what it freed for the other. */
	void *mine[2 * RF_MAX];
	unsigned nm = 0;
	for (unsigned i = 0; i < n; i++) {
		mine[nm] = sm_kmalloc(rf.inst, OBJ_SIZE, 0);
		CHECK(mine[nm] != NULL && !rf_theirs(mine[nm]));
		nm++;
	}
	/* Its own objects (it refilled last from their slabs) go onto its main. */
	unsigned in_main = tcache_pcs(tc, s->id)->main.size;
	for (unsigned i = 0; i < n; i++)
		sm_kfree(mine[i]);
	nm = 0;
	CHECK_EQ(tcache_pcs(tc, s->id)->main.size, in_main + n);
	CHECK_EQ(spare_size(tc, s->id), 0);
	CHECK_EQ(tcache_remote(tc, s->id)->size, n);
	/* A second free of an object in the remote sheaf is reported, not taken. */
	CHECK_EQ(rf.e->count, 0);
	sm_kfree(rf.theirs[5]);
	CHECK_EQ(rf.e->count, 1);
	CHECK(strstr(rf.e->last, "double free") != NULL);
	CHECK_EQ(tcache_remote(tc, s->id)->size, n);
	/* Drain main and the spare: below the threshold, the next refill
	   still does not take the remote objects. */
	unsigned left = tcache_pcs(tc, s->id)->main.size + spare_size(tc, s->id);
	for (unsigned i = 0; i <= left; i++) {
		mine[nm] = sm_kmalloc(rf.inst, OBJ_SIZE, 0);
		CHECK(mine[nm] != NULL && !rf_theirs(mine[nm]));
		nm++;
	}
	/* One more remote free reaches half a sheaf; with main and the spare
	   dry, the thread now allocates from its remote sheaf. */
	sm_kfree(rf.more);
	CHECK_EQ(tcache_remote(tc, s->id)->size, cap / 2);
	left = tcache_pcs(tc, s->id)->main.size;
	CHECK_EQ(spare_size(tc, s->id), 0);
	for (unsigned i = 0; i < left; i++) {
		mine[nm] = sm_kmalloc(rf.inst, OBJ_SIZE, 0);
		CHECK(mine[nm] != NULL && !rf_theirs(mine[nm]));
		nm++;
	}
	void *reused = sm_kmalloc(rf.inst, OBJ_SIZE, 0);
	CHECK(rf_theirs(reused));
	sm_kfree(reused);
	for (unsigned i = 0; i < nm; i++)
		sm_kfree(mine[i]);
	return NULL;
}

/* Free @a->n objects of @a->objs from a thread that did not allocate them,
   checking that a full remote sheaf was traded at the barn. */
static void *remote_free_all(void *arg)
{
	struct { void **objs; unsigned n; } *a = arg;
	for (unsigned i = 0; i < a->n; i++)
		sm_kfree(a->objs[i]);
	struct tcache *tc = sm_thread.slots[rf.inst->slot].tc;
	CHECK_EQ(tcache_remote(tc, rf.s->id)->size, 1);
	return NULL;
}

static void test_remote_free(void)
{
	struct test_errors e = { 0 };
	struct sm_options o = test_options(&e);
	/* A sheaf takes a whole slab of 64-byte objects (64), so the other
	   thread's refills never take the rest of the main thread's slab
	   and become its owner (by default sheaves hold 60: kmem_cache.c). */
	o.sheaf_capacity = 64;
	rf.inst = sm_instance_create(&o);
	CHECK(rf.inst != NULL);
	rf.e = &e;
	struct kmem_cache *s = rf.s = cache_of_size(rf.inst, OBJ_SIZE);
	unsigned cap = s->sheaf_capacity;
	CHECK(cap / 2 - 1 <= RF_MAX && cap / 2 > 6);
	rf.n = cap / 2 - 1;
	for (unsigned i = 0; i < rf.n; i++)
		rf.theirs[i] = sm_kmalloc(rf.inst, OBJ_SIZE, 0);
	rf.more = sm_kmalloc(rf.inst, OBJ_SIZE, 0);
	struct sm_cache_stats st;
	sm_cache_stats_get(s, &st);
	CHECK_EQ(st.active_objects, rf.n + 1);
	/* A thread that never freed another's object has no remote views
	   of its own (they are made on demand). */
	struct tcache *mine = sm_thread.slots[rf.inst->slot].tc;
	CHECK(mine != NULL && mine->remote == sm_no_remote_views);
	struct sm_stats ss;
	sm_stats_get(rf.inst, &ss);
	rf.internal_before = ss.internal_bytes;

	pthread_t t;
	CHECK_EQ(pthread_create(&t, NULL, remote_freer, NULL), 0);
	CHECK_EQ(pthread_join(t, NULL), 0);
	/* Its exit gave back the tcache and the remote views (the barn may
	   keep a few empty sheaves, far less than the views' pages). */
	sm_stats_get(rf.inst, &ss);
	CHECK(ss.internal_bytes < rf.internal_before + (size_t)TCACHE_REMOTE_PAGES * SM_PAGE_SIZE);
	/* The freer exited: its remote sheaf went back to the slabs (not to
	   the barn as a full sheaf), and the other thread's free of an object
	   that is free is still a double free. */
	sm_cache_stats_get(s, &st);
	CHECK_EQ(st.active_objects, 0);
	CHECK_EQ(e.count, 1);
	sm_kfree(rf.theirs[7]);
	CHECK_EQ(e.count, 2);

	CHECK_EQ(e.count, 2);
	sm_instance_destroy(rf.inst);

	/* A full remote sheaf goes to the barn, whose full sheaves feed the
	   threads that refill (the owner, in a producer/consumer pattern).  A
	   new instance: the next thread may get the exited one's TLS block,
	   and with it the ownership of the slabs that one refilled from. */
	e.count = 0;
	rf.inst = sm_instance_create(&o);
	CHECK(rf.inst != NULL);
	s = rf.s = cache_of_size(rf.inst, OBJ_SIZE);
	void **objs = calloc(cap + 1, sizeof(void *));
	CHECK(objs != NULL);
	for (unsigned i = 0; i <= cap; i++)
		objs[i] = sm_kmalloc(rf.inst, OBJ_SIZE, 0);
	size_t full_before = s->node[0]->barn.nr_full;
	struct { void **objs; unsigned n; } a = { objs, cap + 1 };
	CHECK_EQ(pthread_create(&t, NULL, remote_free_all, &a), 0);
	CHECK_EQ(pthread_join(t, NULL), 0);
	CHECK_EQ(s->node[0]->barn.nr_full, full_before + 1);
	free(objs);
	sm_thread_flush(rf.inst);
	sm_cache_stats_get(s, &st);
	CHECK_EQ(st.active_objects, 0);
	CHECK_EQ(e.count, 0);
	sm_instance_destroy(rf.inst);
}

/*
 * Slabs change owner (slab_own_objects): a thread whose main becomes a
 * sheaf of objects other threads' frees brought back through the barn
 * takes the slabs of those objects when their owner is idle (no slow path
 * for SLAB_OWNER_IDLE_EPOCHS), so that its own frees of them go onto its
 * main; the slabs of a running owner stay its own, and the same frees go
 * to the remote sheaf.  Idle and running are set here by writing the
 * owner's epoch (sm_owner_epoch): far behind, or ahead of the clock.
 */
static struct {
	sm_instance_t *inst;
	struct kmem_cache *s;
	void **objs;                    /* 2 * cap of the main thread's; the
	                                   worker frees all but the last */
	uint16_t main_tag;
	bool idle;
} ad;

/* The owner tag in the hot word of @p's page. */
static uint16_t page_owner_tag(const void *p)
{
	struct sm_node *n = node_of(p);
	return page_hot_owner(__atomic_load_n(&n->hot[node_page_index(n, p)], __ATOMIC_RELAXED));
}

static void *adopt_worker(void *arg)
{
	(void)arg;
	struct kmem_cache *s = ad.s;
	unsigned cap = s->sheaf_capacity;
	CHECK(sm_thread.owner_tag != ad.main_tag);
	/* Remote frees: the first full remote sheaf goes to the barn, and
	   cap - 1 stay in the remote sheaf (the last object is left). */
	for (unsigned i = 0; i < 2 * cap - 1; i++)
		sm_kfree(ad.objs[i]);
	struct tcache *tc = sm_thread.slots[ad.inst->slot].tc;
	CHECK(tc != NULL);
	CHECK_EQ(tcache_remote(tc, s->id)->size, cap - 1);
	CHECK_EQ(s->node[0]->barn.nr_full, 1);
	/* The first malloc makes main the barn's full sheaf, the main
	   thread's objects. */
	void *p = sm_kmalloc(ad.inst, OBJ_SIZE, 0);
	CHECK(p != NULL);
	bool theirs = false;
	for (unsigned i = 0; i < 2 * cap - 1; i++)
		theirs |= p == ad.objs[i];
	CHECK(theirs);
	CHECK_EQ(s->node[0]->barn.nr_full, 0);
	const struct slab *head = slab_head_desc(desc_of(p));
	unsigned in_main = tcache_pcs(tc, s->id)->main.size;
	if (ad.idle) {
		/* Taken: every page of the slab carries this thread's tag. */
		CHECK_EQ(page_owner_tag(p), sm_thread.owner_tag);
		CHECK_EQ(page_owner_tag((char *)slab_base(node_of(p), head) + ((size_t)head->npages << SM_PAGE_SHIFT) - 1),
			 sm_thread.owner_tag);
		CHECK(READ_ONCE(head->owner) == sm_thread_token());
		sm_kfree(p);
		CHECK_EQ(tcache_pcs(tc, s->id)->main.size, in_main + 1);
		CHECK_EQ(tcache_remote(tc, s->id)->size, cap - 1);
	} else {
		CHECK_EQ(page_owner_tag(p), ad.main_tag);
		CHECK(READ_ONCE(head->owner) != sm_thread_token());
		sm_kfree(p);
		CHECK_EQ(tcache_pcs(tc, s->id)->main.size, in_main);
		CHECK_EQ(tcache_remote(tc, s->id)->size, cap);
	}
	return NULL;
}

static void adopt_run(bool idle)
{
	struct test_errors e = { 0 };
	struct sm_options o = test_options(&e);
	o.sheaf_capacity = 32;
	ad.inst = sm_instance_create(&o);
	CHECK(ad.inst != NULL);
	struct kmem_cache *s = ad.s = cache_of_size(ad.inst, OBJ_SIZE);
	unsigned cap = s->sheaf_capacity;
	ad.objs = calloc(2 * cap, sizeof(void *));
	CHECK(ad.objs != NULL);
	for (unsigned i = 0; i < 2 * cap; i++)
		CHECK((ad.objs[i] = sm_kmalloc(ad.inst, OBJ_SIZE, 0)) != NULL);
	ad.main_tag = sm_thread.owner_tag;
	CHECK_EQ(page_owner_tag(ad.objs[0]), ad.main_tag);
	/* Idle: last seen at epoch 0.  Running: seen a long way ahead of now
	   (this thread waits in pthread_join meanwhile, writing no epoch). */
	ad.idle = idle;
	WRITE_ONCE(sm_owner_epoch[ad.main_tag],
		   idle ? 0 : slab_owner_epoch(os_coarse_ns()) + (1u << 30));
	pthread_t t;
	CHECK_EQ(pthread_create(&t, NULL, adopt_worker, NULL), 0);
	CHECK_EQ(pthread_join(t, NULL), 0);
	WRITE_ONCE(sm_owner_epoch[ad.main_tag], slab_owner_epoch(os_coarse_ns()));
	sm_kfree(ad.objs[2 * cap - 1]);
	struct sm_cache_stats st;
	sm_cache_stats_get(s, &st);
	CHECK_EQ(st.active_objects, 0);
	CHECK_EQ(e.count, 0);
	free(ad.objs);
	sm_instance_destroy(ad.inst);
}

static void test_slab_adopt(void)
{
	adopt_run(true);
	adopt_run(false);
}

/*
 * The default instance's remote frees (free() and sm_kfree of a default
 * kmalloc object of another thread's slab): pushed inline onto the class's
 * remote view in the freeing thread's TLS block (sm_thread.kmalloc_remote),
 * never onto its spare; counted as cached (tcache_count); a second free of
 * one of them is caught by the freeing thread and by another one
 * (tcache_views_hold); a full view is traded at the barn; sm_thread_flush sends
 * its objects back to their slabs and leaves the view empty.
 */
static struct {
	sm_instance_t *def;
	struct kmem_cache *s;
	unsigned n;
	void **objs;                    /* n + cap + 1 objects of the main thread */
	pthread_barrier_t bar;
} rd;

static struct test_errors default_errs;

static void *remote_default_freer(void *arg)
{
	(void)arg;
	struct kmem_cache *s = rd.s;
	unsigned fc = s->id + 1, n = rd.n, cap = s->sheaf_capacity;
	/* A main with room first (one object of its own taken and given
	   back), so that a remote free sent to main would find room there. */
	void *x = sm_kmalloc(rd.def, OBJ_SIZE, 0);
	CHECK(x != NULL);
	unsigned m0 = sm_thread.kmalloc_pcs[fc].main.size;
	CHECK(m0 < sm_thread.kmalloc_pcs[fc].main.capacity);
	sm_kfree(x);
	CHECK_EQ(sm_thread.kmalloc_pcs[fc].main.size, m0 + 1);
	pthread_barrier_wait(&rd.bar); /* the main thread allocates */
	pthread_barrier_wait(&rd.bar);
	for (unsigned i = 0; i < n; i++)
		sm_kfree(rd.objs[i]);
	struct tcache *tc = sm_thread.slots[0].tc;
	CHECK(tc != NULL);
	/* The remote sheaf of a default kmalloc class is the TLS view: the
	   tcache makes no remote views for it. */
	CHECK(tcache_remote(tc, s->id) == &sm_thread.kmalloc_remote[fc]);
	CHECK(tc->remote == sm_no_remote_views);
	CHECK_EQ(sm_thread.kmalloc_remote[fc].size, n);
	CHECK_EQ(sm_thread.kmalloc_pcs[fc].main.size, m0 + 1);
	/* Counted among the cached objects, not the live ones. */
	struct sm_cache_stats st;
	sm_cache_stats_get(s, &st);
	CHECK_EQ(st.active_objects, cap + 1);
	CHECK(st.sheaf_objects >= n);
	/* A second free of an object in the view: reported, not taken. */
	CHECK_EQ(default_errs.count, 0);
	sm_kfree(rd.objs[3]);
	CHECK_EQ(default_errs.count, 1);
	CHECK(strstr(default_errs.last, "double free") != NULL);
	CHECK_EQ(sm_thread.kmalloc_remote[fc].size, n);
	/* The main thread's look into this thread's TLS view. */
	pthread_barrier_wait(&rd.bar);
	pthread_barrier_wait(&rd.bar);
	CHECK_EQ(sm_thread.kmalloc_remote[fc].size, n);
	/* cap + 1 more: the full view went to the barn, and the last object
	   starts a fresh sheaf. */
	size_t full_before = s->node[0]->barn.nr_full;
	for (unsigned i = 0; i <= cap; i++)
		sm_kfree(rd.objs[n + i]);
	CHECK_EQ(s->node[0]->barn.nr_full, full_before + 1);
	CHECK_EQ(sm_thread.kmalloc_remote[fc].size, (n + cap + 1) - cap);
	CHECK_EQ(sm_thread.kmalloc_pcs[fc].main.size, m0 + 1);
	/* Flushed: home to the slabs, the view empty, nothing counted twice. */
	sm_thread_flush(rd.def);
	CHECK_EQ(sm_thread.kmalloc_remote[fc].capacity, 0);
	CHECK_EQ(sm_thread.kmalloc_remote[fc].size, 0);
	sm_cache_stats_get(s, &st);
	CHECK_EQ(st.active_objects, 0);
	return NULL;
}

static void test_remote_free_default(void)
{
	rd.def = sm_default_instance();
	struct kmem_cache *s = rd.s = cache_of_size(rd.def, OBJ_SIZE);
	unsigned cap = s->sheaf_capacity;
	rd.n = cap / 2 - 1; /* below tcache_remote_reuse */
	rd.objs = calloc(rd.n + cap + 1, sizeof(void *));
	CHECK(rd.objs != NULL);
	CHECK_EQ(pthread_barrier_init(&rd.bar, NULL, 2), 0);
	pthread_t t;
	CHECK_EQ(pthread_create(&t, NULL, remote_default_freer, NULL), 0);
	/* Allocated after the other thread's refill: every slab they come
	   from was last taken from by this thread, which owns it. */
	pthread_barrier_wait(&rd.bar);
	for (unsigned i = 0; i < rd.n + cap + 1; i++) {
		rd.objs[i] = sm_kmalloc(rd.def, OBJ_SIZE, 0);
		CHECK(rd.objs[i] != NULL);
	}
	struct sm_cache_stats st;
	sm_cache_stats_get(s, &st);
	CHECK_EQ(st.active_objects, rd.n + cap + 1);
	pthread_barrier_wait(&rd.bar);
	pthread_barrier_wait(&rd.bar);
	/* The object sits in the other thread's TLS view. */
	sm_kfree(rd.objs[4]);
	CHECK_EQ(default_errs.count, 2);
	CHECK(strstr(default_errs.last, "double free") != NULL);
	pthread_barrier_wait(&rd.bar);
	CHECK_EQ(pthread_join(t, NULL), 0);
	CHECK_EQ(default_errs.count, 2);
	pthread_barrier_destroy(&rd.bar);
	free(rd.objs);
	sm_cache_stats_get(s, &st);
	CHECK_EQ(st.active_objects, 0);
}

/*
 * A thread's exit gives its kmalloc sheaves back without the instance
 * lock (tcache_destroy): with inst->lock held by this thread, an exiting
 * thread's objects still go back to their slabs, and only its unlinking
 * waits.  Before, the whole release waited, so exits and first mallocs
 * queued behind each other's barn and slab work on that one lock.
 */
static struct {
	sm_instance_t *inst;
	pthread_barrier_t bar;
	void *kept;                     /* the one object the thread leaves live */
} xl;

/* Objects of @s out of its slabs on node 0 (list_lock after inst->lock is the lock order). */
static size_t slab_inuse(struct kmem_cache *s)
{
	sm_lock(&s->node[0]->list_lock);
	size_t n = s->node[0]->inuse;
	sm_unlock(&s->node[0]->list_lock);
	return n;
}

static void *exit_locked_thread(void *arg)
{
	(void)arg;
	void *p[16];
	for (unsigned i = 0; i < 16; i++)
		CHECK((p[i] = sm_kmalloc(xl.inst, OBJ_SIZE, 0)) != NULL);
	/* All but one freed: main is not full again, so that the exit
	   flushes it to the slabs rather than give it to the barn whole. */
	for (unsigned i = 0; i < 15; i++)
		sm_kfree(p[i]);
	xl.kept = p[15];
	pthread_barrier_wait(&xl.bar);
	pthread_barrier_wait(&xl.bar); /* the main thread holds inst->lock */
	return NULL;
}

static void test_exit_without_inst_lock(void)
{
	struct test_errors e = { 0 };
	struct sm_options o = test_options(&e);
	xl.inst = sm_instance_create(&o);
	CHECK(xl.inst != NULL);
	struct kmem_cache *s = cache_of_size(xl.inst, OBJ_SIZE);
	CHECK_EQ(pthread_barrier_init(&xl.bar, NULL, 2), 0);
	pthread_t t;
	CHECK_EQ(pthread_create(&t, NULL, exit_locked_thread, NULL), 0);
	pthread_barrier_wait(&xl.bar);
	/* Its sheaves hold what it took from the slabs. */
	CHECK(slab_inuse(s) >= 16);
	bool nested = sm_enter();
	sm_lock(&xl.inst->lock);
	pthread_barrier_wait(&xl.bar);
	/* It exits: every object but the one it kept goes home while the
	   lock is held here (a bound of 30 s only turns the old behaviour
	   into a failure). */
	struct timespec t0, now;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (slab_inuse(s) != 1) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		CHECK(now.tv_sec - t0.tv_sec < 30);
		sched_yield();
	}
	sm_unlock(&xl.inst->lock);
	sm_leave(nested);
	CHECK_EQ(pthread_join(t, NULL), 0);
	pthread_barrier_destroy(&xl.bar);
	sm_kfree(xl.kept);
	struct sm_stats ss;
	sm_stats_get(xl.inst, &ss);
	CHECK_EQ(e.count, 0);
	sm_instance_destroy(xl.inst);
}

/*
 * Frees that look like double frees: the program stored its cache's free
 * tag in each object's free word, so every free is confirmed by looking
 * where free objects are, other threads' main, spare and remote sheaves
 * included, read without their owners (double_free.c, obj_is_free).  Three
 * threads do it to every object they free while each turns its own main
 * and spare and trades sheaves with the barn, and a third of the objects
 * are freed by the next thread (remote frees): none may be reported, and
 * no object may be handed out twice (each thread's pattern stays intact).
 */
#define SF_THREADS 3
#define SF_ROUNDS 300
#define SF_OBJS 150

static struct {
	sm_instance_t *inst;
	struct kmem_cache *s;
	pthread_barrier_t bar;
	void *passed[SF_THREADS][SF_OBJS]; /* from thread i to thread i + 1 */
	unsigned npassed[SF_THREADS];
} sf;

static void suspect_free(void *p)
{
	*(uintptr_t *)p = (sf.s->free_key & ~SM_LINK_MASK) | 0x1234; /* the tag: "free"? */
	sm_kfree(p);
}

static void *suspect_freer(void *arg)
{
	unsigned id = (unsigned)(uintptr_t)arg, seed = id + 1;
	unsigned char pat = (unsigned char)(0x30 + id);
	void *p[SF_OBJS];
	for (unsigned r = 0; r < SF_ROUNDS; r++) {
		unsigned n = 1 + (unsigned)rand_r(&seed) % SF_OBJS;
		for (unsigned i = 0; i < n; i++) {
			p[i] = sm_kmalloc(sf.inst, OBJ_SIZE, 0);
			CHECK(p[i] != NULL);
			memset(p[i], pat, OBJ_SIZE);
		}
		for (unsigned i = 0; i < n; i++) {
			const unsigned char *c = p[i];
			for (unsigned j = 0; j < OBJ_SIZE; j++)
				CHECK_EQ(c[j], pat);
		}
		/* Every third object to the next thread; the rest freed here. */
		unsigned k = 0;
		for (unsigned i = 0; i < n; i++) {
			if (i % 3 == 0)
				p[k++] = p[i];
			else
				suspect_free(p[i]);
		}
		pthread_barrier_wait(&sf.bar);
		for (unsigned i = 0; i < k; i++)
			sf.passed[id][i] = p[i];
		sf.npassed[id] = k;
		pthread_barrier_wait(&sf.bar);
		unsigned from = (id + SF_THREADS - 1) % SF_THREADS;
		for (unsigned i = 0; i < sf.npassed[from]; i++)
			suspect_free(sf.passed[from][i]);
	}
	return NULL;
}

static void test_suspect_frees(void)
{
	struct test_errors e = { 0 };
	struct sm_options o = test_options(&e);
	sf.inst = sm_instance_create(&o);
	CHECK(sf.inst != NULL);
	sf.s = cache_of_size(sf.inst, OBJ_SIZE);
	CHECK_EQ(pthread_barrier_init(&sf.bar, NULL, SF_THREADS), 0);
	pthread_t t[SF_THREADS];
	for (unsigned i = 0; i < SF_THREADS; i++)
		CHECK_EQ(pthread_create(&t[i], NULL, suspect_freer, (void *)(uintptr_t)i), 0);
	for (unsigned i = 0; i < SF_THREADS; i++)
		CHECK_EQ(pthread_join(t[i], NULL), 0);
	pthread_barrier_destroy(&sf.bar);
	if (e.count)
		fprintf(stderr, "suspect_frees: %d reports, the last: %s\n", e.count, e.last);
	CHECK_EQ(e.count, 0);
	struct sm_cache_stats st;
	sm_cache_stats_get(sf.s, &st);
	CHECK_EQ(st.active_objects, 0);
	sm_instance_destroy(sf.inst);
}

/*
 * The double-free check reads another thread's main view without its
 * owner (tcache_views_hold) while the owner turns main and spare.  A main that
 * malloc emptied keeps, past its count, the objects it handed out: if the
 * check paired that array with the count of a fuller view, a live object
 * would be reported as a double free (and its free dropped).  Here the
 * turns land exactly between the check's loads: a hook at each load
 * (SM_HOOK_VIEW_READ) has the owner thread turn its sheaves there, three
 * times, E2 -> E1 -> E2 around one read.  The owner's main is E1 (one pop
 * from full) and its spare E2, empty, whose array holds the object main
 * frees, with the free tag stored in it so that its free is confirmed by
 * looking: it must be found live and freed, nothing reported.
 */
/*
 * The hand-shake of the tests below between the main thread, at a test
 * hook, and an owner thread: ready (the owner set up), go (the owner's
 * next step), done (that step taken).
 */
struct handshake {
	sem_t ready, go, done;
};

static void hs_init(struct handshake *h)
{
	CHECK_EQ(sem_init(&h->ready, 0, 0), 0);
	CHECK_EQ(sem_init(&h->go, 0, 0), 0);
	CHECK_EQ(sem_init(&h->done, 0, 0), 0);
}

static void hs_destroy(struct handshake *h)
{
	sem_destroy(&h->ready);
	sem_destroy(&h->go);
	sem_destroy(&h->done);
}

static void hs_post(sem_t *sem)
{
	CHECK_EQ(sem_post(sem), 0);
}

static void hs_wait(sem_t *sem)
{
	while (sem_wait(sem) != 0)
		CHECK_EQ(errno, EINTR);
}

static struct {
	sm_instance_t *inst;
	struct kmem_cache *s;
	struct handshake hs;
	unsigned step;          /* the owner's next turn (1..3); 0: finish */
	unsigned hook_calls, turns;
	bool armed;             /* the hook turns the owner's sheaves */
	void *p;                /* handed by the owner to the main thread */
} vt;

static void vt_hook(struct sm_instance *inst, enum sm_hook_point where)
{
	if (inst != vt.inst || where != SM_HOOK_VIEW_READ || !vt.armed)
		return;
	if (++vt.hook_calls > 3)
		return;
	vt.step = vt.hook_calls;
	hs_post(&vt.hs.go);
	hs_wait(&vt.hs.done);
}

static void *vt_owner(void *arg)
{
	(void)arg;
	unsigned n = vt.s->sheaf_capacity, live;
	CHECK(n >= 8 && n <= 1024);
	void **pool = calloc(5 * (size_t)n + 8, sizeof(void *));
	CHECK(pool != NULL);
	struct tcache *tc;
	struct pcs *c;
	/* Three sheaves' worth out, and main emptied (a refill from the
	   slabs may bring less than a sheaf); then three sheaves' worth back:
	   main E2 and spare E1 full, a third full sheaf in the barn. */
	for (unsigned i = 0; i < 3 * n; i++)
		CHECK((pool[i] = sm_kmalloc(vt.inst, OBJ_SIZE, 0)) != NULL);
	CHECK((tc = tcache_peek(vt.inst)) != NULL);
	c = tcache_pcs(tc, vt.s->id);
	for (live = 3 * n; c->main.size; live++)
		CHECK((pool[live] = sm_kmalloc(vt.inst, OBJ_SIZE, 0)) != NULL);
	for (unsigned i = 0; i < 3 * n; i++)
		sm_kfree(pool[--live]);
	CHECK(c->spare != NULL && c->spare->size == n && c->main.size == n);
	/* Empty main (E2): its array keeps the n objects handed out; the
	   one at index n / 2 goes to the main thread.  One more malloc turns
	   to the full spare (E1), and E2, empty, becomes the spare. */
	unsigned first = live;
	for (unsigned i = 0; i < n; i++)
		CHECK((pool[live++] = sm_kmalloc(vt.inst, OBJ_SIZE, 0)) != NULL);
	void **e2 = c->main.objects;
	vt.p = e2[n / 2];
	CHECK(c->main.size == 0 && pool[first + n - 1 - n / 2] == vt.p);
	CHECK((pool[live++] = sm_kmalloc(vt.inst, OBJ_SIZE, 0)) != NULL);
	CHECK(c->main.objects != e2 && c->main.size == n - 1 && c->spare->objects == e2);
	pool[first + n - 1 - n / 2] = pool[--live]; /* vt.p is the main thread's now */
	hs_post(&vt.hs.ready);
	for (;;) {
		hs_wait(&vt.hs.go);
		if (!vt.step)
			break;
		if (vt.step == 2) {
			/* Main E2 holds one: pop it, then turn to E1 and pop. */
			CHECK((pool[live++] = sm_kmalloc(vt.inst, OBJ_SIZE, 0)) != NULL);
			CHECK((pool[live++] = sm_kmalloc(vt.inst, OBJ_SIZE, 0)) != NULL);
			CHECK(c->main.objects != e2 && c->main.size == n - 1);
		} else {
			/* Main E1 one short of full: fill it, then turn to E2. */
			sm_kfree(pool[--live]);
			sm_kfree(pool[--live]);
			CHECK(c->main.objects == e2 && c->main.size == 1);
		}
		vt.turns++;
		hs_post(&vt.hs.done);
	}
	while (live)
		sm_kfree(pool[--live]);
	free(pool);
	return NULL;
}

/*
 * Start @owner on a new instance (barns of 4 full sheaves, no purge; errors into
 * @e), *@inst and *@s its instance and OBJ_SIZE cache, and wait until it
 * is ready.
 */
static pthread_t owner_start(struct test_errors *e, struct handshake *hs, sm_instance_t **inst,
			     struct kmem_cache **s, void *(*owner)(void *))
{
	struct sm_options o = test_options(e);
	o.barn_max_full = 4;
	/* The owner's moves at the hooks wait for the check, which holds
	   inst->lock there: a purge due after that wait would take it. */
	o.purge_delay_ms = 3600u * 1000;
	*inst = sm_instance_create(&o);
	CHECK(*inst != NULL);
	*s = cache_of_size(*inst, OBJ_SIZE);
	hs_init(hs);
	pthread_t t;
	CHECK_EQ(pthread_create(&t, NULL, owner, NULL), 0);
	hs_wait(&hs->ready);
	return t;
}

/* Let the owner finish (its last go) and join it: nothing of @s may be
   left allocated. */
static void owner_finish(pthread_t t, struct handshake *hs, sm_instance_t *inst, struct kmem_cache *s)
{
	hs_post(&hs->go);
	CHECK_EQ(pthread_join(t, NULL), 0);
	struct sm_cache_stats st;
	sm_cache_stats_get(s, &st);
	CHECK_EQ(st.active_objects, 0); /* freed once: not dropped, not twice */
	sm_instance_destroy(inst);
	hs_destroy(hs);
}

static void test_view_turns_while_read(void)
{
	struct test_errors e = { 0 };
	pthread_t t = owner_start(&e, &vt.hs, &vt.inst, &vt.s, vt_owner);
	CHECK(sm_test_hook_set(vt.inst, vt_hook));
	/* Live, but its free word says "free": the free is confirmed by
	   looking, the owner's views included, and the hook turns them. */
	*(uintptr_t *)vt.p = (vt.s->free_key & ~SM_LINK_MASK) | 0x1234;
	vt.armed = true;
	sm_kfree(vt.p);
	vt.armed = false;
	CHECK(sm_test_hook_set(vt.inst, NULL));
	vt.step = 0;
	owner_finish(t, &vt.hs, vt.inst, vt.s); /* vt.p was freed, not dropped */
	if (e.count)
		fprintf(stderr, "view_turns_while_read: %d reports, the last: %s\n", e.count, e.last);
	CHECK_EQ(vt.turns, 3);
	CHECK_EQ(e.count, 0);
}

/*
 * A sheaf that moves while the double-free check looks.  The owner thread
 * frees 2n objects: its main and its spare are full, the spare holding
 * the first n, mv.p among them.  The main thread frees mv.p again.  The
 * check looks at the slab and the barns; at SM_HOOK_DF_LOOK the owner
 * frees one more object, and its spare, mv.p with it, goes to the barn,
 * already looked at, before the check reads the owner's views.  Without
 * the move counts (double_free.c) the look found mv.p nowhere and freed
 * it a second time; now the owner's moved count makes it look again,
 * and the double free is reported.
 */
static struct {
	sm_instance_t *inst;
	struct kmem_cache *s;
	struct handshake hs;
	unsigned hook_calls;
	bool armed;
	bool in_barn;           /* the owner saw mv.p leave its sheaves */
	void *p;
} mv;

static void mv_hook(struct sm_instance *inst, enum sm_hook_point where)
{
	if (inst != mv.inst || where != SM_HOOK_DF_LOOK || !mv.armed || mv.hook_calls++)
		return;
	hs_post(&mv.hs.go);
	hs_wait(&mv.hs.done);
}

static void *mv_owner(void *arg)
{
	(void)arg;
	unsigned n = mv.s->sheaf_capacity, live;
	CHECK(n >= 8 && n <= 1024);
	void **pool = calloc(4 * (size_t)n + 8, sizeof(void *));
	CHECK(pool != NULL);
	/* Main emptied (a refill may bring less than a sheaf), so that the
	   frees below start from an empty main and no spare with objects. */
	for (live = 0; live < 3 * n; live++)
		CHECK((pool[live] = sm_kmalloc(mv.inst, OBJ_SIZE, 0)) != NULL);
	struct tcache *tc = tcache_peek(mv.inst);
	CHECK(tc != NULL);
	struct pcs *c = tcache_pcs(tc, mv.s->id);
	for (; c->main.size; live++)
		CHECK((pool[live] = sm_kmalloc(mv.inst, OBJ_SIZE, 0)) != NULL);
	CHECK(!c->spare || !c->spare->size);
	mv.p = pool[live - 1]; /* freed first: into the sheaf that becomes the spare */
	for (unsigned i = 0; i < 2 * n; i++)
		sm_kfree(pool[--live]);
	CHECK(c->spare && c->spare->size == n && c->main.size == n && sheaf_holds(c->spare, mv.p));
	hs_post(&mv.hs.ready);
	hs_wait(&mv.hs.go);
	/* Main and spare full: the spare goes to the barn. */
	sm_kfree(pool[--live]);
	mv.in_barn = !sheaf_holds(c->spare, mv.p) && !tcache_views_hold(tc, mv.s, mv.p);
	hs_post(&mv.hs.done);
	hs_wait(&mv.hs.go);
	while (live)
		sm_kfree(pool[--live]);
	free(pool);
	return NULL;
}

static void test_sheaf_moves_while_looked(void)
{
	struct test_errors e = { 0 };
	pthread_t t = owner_start(&e, &mv.hs, &mv.inst, &mv.s, mv_owner);
	CHECK(sm_test_hook_set(mv.inst, mv_hook));
	mv.armed = true;
	sm_kfree(mv.p); /* the second free */
	mv.armed = false;
	CHECK(sm_test_hook_set(mv.inst, NULL));
	CHECK(mv.hook_calls >= 1);
	CHECK(mv.in_barn);
	if (e.count != 1)
		fprintf(stderr, "sheaf_moves_while_looked: %d reports, the last: %s\n", e.count, e.last);
	CHECK_EQ(e.count, 1);
	CHECK(strstr(e.last, "double free") != NULL);
	owner_finish(t, &mv.hs, mv.inst, mv.s); /* mv.p is free once, not twice */
	CHECK_EQ(e.count, 1);
}

/*
 * A fork while another thread is inside a double-free check: that check
 * makes every sheaf move wait a little (inst->df_looks), and its thread
 * does not come along into the child, so the child must not count it (it
 * would hold every move of the child back for ever).  A thread's suspect
 * free (a live object whose free word says "free") is held at
 * SM_HOOK_DF_LOOK while the main thread forks; the child checks the
 * count, then makes its own check of a suspect free, which must leave it
 * at 0 again.
 */
static struct {
	sm_instance_t *inst;
	struct kmem_cache *s;
	struct handshake hs;
	bool armed;
	void *p;
} fk;

static void fk_hook(struct sm_instance *inst, enum sm_hook_point where)
{
	if (inst != fk.inst || where != SM_HOOK_DF_LOOK || !fk.armed)
		return;
	fk.armed = false;
	hs_post(&fk.hs.ready);
	hs_wait(&fk.hs.go);
}

static void *fk_checker(void *arg)
{
	(void)arg;
	sm_kfree(fk.p); /* held at the hook while the main thread forks */
	return NULL;
}

/* A live object of fk.s whose free word says "free". */
static void *fk_suspect(void)
{
	void *p = sm_kmalloc(fk.inst, OBJ_SIZE, 0);
	CHECK(p != NULL);
	*(uintptr_t *)p = (fk.s->free_key & ~SM_LINK_MASK) | 0x1234;
	return p;
}

static void test_fork_during_check(void)
{
	struct test_errors e = { 0 };
	struct sm_options o = test_options(&e);
	fk.inst = sm_instance_create(&o);
	CHECK(fk.inst != NULL);
	fk.s = cache_of_size(fk.inst, OBJ_SIZE);
	hs_init(&fk.hs);
	fk.p = fk_suspect();
	CHECK(sm_test_hook_set(fk.inst, fk_hook));
	fk.armed = true;
	pthread_t t;
	CHECK_EQ(pthread_create(&t, NULL, fk_checker, NULL), 0);
	hs_wait(&fk.hs.ready);
	CHECK_EQ(__atomic_load_n(&fk.inst->df_looks, __ATOMIC_RELAXED), 1);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		int bad = fk.inst->df_looks != 0;
		sm_kfree(fk_suspect()); /* a check of the child's own */
		bad |= (fk.inst->df_looks != 0) << 1;
		bad |= (e.count != 0) << 2;
		_exit(bad);
	}
	int status;
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	hs_post(&fk.hs.go);
	CHECK_EQ(pthread_join(t, NULL), 0);
	CHECK(sm_test_hook_set(fk.inst, NULL));
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		fprintf(stderr, "fork_during_check: child status 0x%x (1: the vanished check counted, "
			"2: its own check left a count, 4: a report)\n", status);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK_EQ(fk.inst->df_looks, 0);
	CHECK_EQ(e.count, 0);
	struct sm_cache_stats st;
	sm_cache_stats_get(fk.s, &st);
	CHECK_EQ(st.active_objects, 0); /* fk.p was live, and freed */
	sm_instance_destroy(fk.inst);
	hs_destroy(&fk.hs);
}

/*
 * The purge of free pages in partial slabs (slab.h) while threads use
 * those slabs: a thread purges in a loop (sm_purge, so a slab left alone
 * between two of its passes loses its free pages), two threads allocate
 * objects of the classes whose slabs have two pages or more, write a
 * pattern into each, keep one in eight for a while and free the rest.
 * Every kept object must keep its pattern, nothing may be reported, and
 * nothing may be left allocated.
 */
#define PP_THREADS 2
#define PP_ROUNDS 300
#define PP_BATCH 64
#define PP_KEPT 48

static struct {
	sm_instance_t *inst;
	bool stop;              /* atomic */
	size_t passes, pages;
} pp;

static void *pp_purger(void *arg)
{
	(void)arg;
	while (!__atomic_load_n(&pp.stop, __ATOMIC_ACQUIRE)) {
		size_t b = sm_purge(pp.inst, false);
		pp.pages += b >> SM_PAGE_SHIFT;
		pp.passes++;
		sched_yield();
	}
	return NULL;
}

static void *pp_worker(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg + 7;
	void *kept[PP_KEPT] = { 0 };
	size_t kept_size[PP_KEPT] = { 0 };
	unsigned char kept_pat[PP_KEPT] = { 0 };
	unsigned next = 0;
	for (unsigned r = 0; r < PP_ROUNDS; r++) {
		void *p[PP_BATCH];
		size_t sz[PP_BATCH];
		for (unsigned i = 0; i < PP_BATCH; i++) {
			sz[i] = 640 + (size_t)rand_r(&seed) % (16384 - 640);
			CHECK((p[i] = sm_kmalloc(pp.inst, sz[i], 0)) != NULL);
			memset(p[i], (int)(r + i) & 0xff, sz[i]);
		}
		for (unsigned i = 0; i < PP_BATCH; i++) {
			if (i % 8 == 0) {
				if (kept[next]) {
					const unsigned char *c = kept[next];
					for (size_t j = 0; j < kept_size[next]; j++)
						CHECK_EQ(c[j], kept_pat[next]);
					sm_kfree(kept[next]);
				}
				kept[next] = p[i];
				kept_size[next] = sz[i];
				kept_pat[next] = (unsigned char)((r + i) & 0xff);
				next = (next + 1) % PP_KEPT;
			} else {
				sm_kfree(p[i]);
			}
		}
	}
	for (unsigned k = 0; k < PP_KEPT; k++) {
		if (!kept[k])
			continue;
		const unsigned char *c = kept[k];
		for (size_t j = 0; j < kept_size[k]; j++)
			CHECK_EQ(c[j], kept_pat[k]);
		sm_kfree(kept[k]);
	}
	return NULL;
}

static void test_purge_partial_while_used(void)
{
	struct test_errors e = { 0 };
	struct sm_options o = test_options(&e);
	o.purge_delay_ms = 1;
	pp.inst = sm_instance_create(&o);
	CHECK(pp.inst != NULL);
	pthread_t purger, w[PP_THREADS];
	CHECK_EQ(pthread_create(&purger, NULL, pp_purger, NULL), 0);
	for (unsigned i = 0; i < PP_THREADS; i++)
		CHECK_EQ(pthread_create(&w[i], NULL, pp_worker, (void *)(uintptr_t)i), 0);
	for (unsigned i = 0; i < PP_THREADS; i++)
		CHECK_EQ(pthread_join(w[i], NULL), 0);
	__atomic_store_n(&pp.stop, true, __ATOMIC_RELEASE);
	CHECK_EQ(pthread_join(purger, NULL), 0);
	if (e.count)
		fprintf(stderr, "purge_partial_while_used: %d reports, the last: %s\n", e.count, e.last);
	CHECK_EQ(e.count, 0);
	CHECK(pp.passes > 0);
	struct all_stats *a = get_all_stats(pp.inst);
	for (unsigned i = 0; i < SM_NR_KMALLOC; i++)
		CHECK_EQ(a->st[i].active_objects, 0);
	printf("purge_partial_while_used: %zu passes, %zu pages purged\n", pp.passes, pp.pages);
	sm_instance_destroy(pp.inst);
}

/*
 * The double-free check's "cannot tell" is counted (sm_stats.frees_kept):
 * a live object whose free word holds its cache's tag, freed through
 * sm_kfree_nolock while another thread holds the cache's list_lock (a test
 * hook at its refill), cannot be looked up with trylocks: it is kept, not
 * freed, nothing is reported, and the count says so.  Freed again once
 * the lock is free, it is found live and freed.
 */
static struct {
	struct handshake hs;
	bool armed;
	sm_instance_t *inst;
	struct kmem_cache *s;   /* kmalloc-64 */
} kp;

/* At the owner's refill of kmalloc-64 (not of its sheaves' cache), list_lock held. */
static void kept_hook(struct sm_instance *inst, enum sm_hook_point where)
{
	(void)inst;
	if (where != SM_HOOK_REFILL || !sm_lock_held_by_self(&kp.s->node[0]->list_lock) ||
	    !__atomic_exchange_n(&kp.armed, false, __ATOMIC_ACQ_REL))
		return;
	hs_post(&kp.hs.ready);
	hs_wait(&kp.hs.go);
}

static void *kept_owner(void *arg)
{
	(void)arg;
	enum { N = 1024 };
	static void *q[N];
	unsigned n = 0;
	/* Until a refill from the slabs has held the lock for the test. */
	while (__atomic_load_n(&kp.armed, __ATOMIC_ACQUIRE)) {
		CHECK(n < N);
		CHECK((q[n++] = sm_kmalloc(kp.inst, 64, 0)) != NULL);
	}
	while (n)
		sm_kfree(q[--n]);
	return NULL;
}

static void test_frees_kept_counted(void)
{
	struct test_errors e = { 0 };
	struct sm_options o = test_options(&e);
	/* Sheaves of 60: a refill leaves 4 of a slab's 64 objects on the
	   partial list, where the next refill takes them with the hook
	   (by default 124 would take every new slab whole). */
	o.sheaf_capacity = 60;
	kp.inst = sm_instance_create(&o);
	CHECK(kp.inst != NULL);
	struct kmem_cache *s = kp.s = &kp.inst->kmalloc_caches[kmalloc_index(64)];
	void *p = sm_kmalloc(kp.inst, 64, 0);
	CHECK(p != NULL);
	memset(p, 0x11, 64);
	/* The program's data happens to hold the tag where the free word is. */
	uint16_t tag = (uint16_t)(s->free_key >> SM_FREE_TAG_SHIFT);
	memcpy((char *)p + s->fp_offset + 6, &tag, sizeof(tag));
	hs_init(&kp.hs);
	CHECK(sm_test_hook_set(kp.inst, kept_hook));
	__atomic_store_n(&kp.armed, true, __ATOMIC_RELEASE);
	pthread_t t;
	CHECK_EQ(pthread_create(&t, NULL, kept_owner, NULL), 0);
	hs_wait(&kp.hs.ready);
	sm_kfree_nolock(p);
	CHECK_EQ(e.count, 0);
	hs_post(&kp.hs.go);
	CHECK_EQ(pthread_join(t, NULL), 0);
	struct sm_stats st;
	sm_stats_get(kp.inst, &st);
	CHECK_EQ(st.frees_kept, 1);
	CHECK(sm_test_hook_set(kp.inst, NULL));
	sm_kfree(p); /* now the look can tell: live, freed */
	sm_stats_get(kp.inst, &st);
	CHECK_EQ(st.frees_kept, 1);
	CHECK_EQ(e.count, 0);
	hs_destroy(&kp.hs);
	sm_instance_destroy(kp.inst);
}

/*
 * A double-free check made while other threads keep moving their sheaves,
 * each move slow: a test hook sleeps 1 ms at every barn trade, refill and
 * flush (their locks held), as a move that faults in a slab's pages or is
 * preempted in the middle does.  The check needs one instant at which no
 * other thread is inside a move, so the moves must not start again while
 * it looks (tcache_move_wait).  When they waited 20 us at most, churning
 * threads were inside a move nearly always, and the check gave up after
 * 20 ms and kept the live object it could not clear (cross_thread_free
 * lost one now and then beside busy loops).  The main thread frees a live
 * object whose free word holds its cache's tag while two threads churn
 * objects of that cache: it must be freed, nothing kept, nothing reported.
 */
#define LM_THREADS 2
#define LM_MAX_ROUNDS 100 /* each round moves sheaves 4-6 times */

static struct {
	sm_instance_t *inst;
	struct kmem_cache *s;
	bool stop;
	size_t slow_moves;
} lm;

static void lm_hook(struct sm_instance *inst, enum sm_hook_point where)
{
	if (inst != lm.inst || (where != SM_HOOK_BARN && where != SM_HOOK_REFILL && where != SM_HOOK_FLUSH) ||
	    __atomic_load_n(&lm.stop, __ATOMIC_ACQUIRE))
		return;
	__atomic_fetch_add(&lm.slow_moves, 1, __ATOMIC_RELAXED);
	struct timespec ts = { 0, 1000 * 1000 };
	nanosleep(&ts, NULL);
}

static void *lm_churner(void *arg)
{
	(void)arg;
	unsigned n = lm.s->sheaf_capacity;
	void **pool = calloc(3 * (size_t)n, sizeof(void *));
	CHECK(pool != NULL);
	for (unsigned r = 0; r < LM_MAX_ROUNDS && !__atomic_load_n(&lm.stop, __ATOMIC_ACQUIRE); r++) {
		for (unsigned i = 0; i < 3 * n; i++)
			CHECK((pool[i] = sm_kmalloc(lm.inst, OBJ_SIZE, 0)) != NULL);
		for (unsigned i = 0; i < 3 * n; i++)
			sm_kfree(pool[i]);
	}
	free(pool);
	return NULL;
}

static void test_look_outlasts_moves(void)
{
	struct test_errors e = { 0 };
	struct sm_options o = test_options(&e);
	o.barn_max_full = 2; /* frees flush to the slabs too */
	lm.inst = sm_instance_create(&o);
	CHECK(lm.inst != NULL);
	lm.s = cache_of_size(lm.inst, OBJ_SIZE);
	void *p = sm_kmalloc(lm.inst, OBJ_SIZE, 0);
	CHECK(p != NULL);
	memset(p, 0x22, OBJ_SIZE);
	uint16_t tag = (uint16_t)(lm.s->free_key >> SM_FREE_TAG_SHIFT);
	memcpy((char *)p + lm.s->fp_offset + 6, &tag, sizeof(tag)); /* as kp's */
	CHECK(sm_test_hook_set(lm.inst, lm_hook));
	pthread_t t[LM_THREADS];
	for (unsigned i = 0; i < LM_THREADS; i++)
		CHECK_EQ(pthread_create(&t[i], NULL, lm_churner, NULL), 0);
	/* Both churning: a few slow moves each. */
	while (__atomic_load_n(&lm.slow_moves, __ATOMIC_RELAXED) < 4 * LM_THREADS)
		sched_yield();
	sm_kfree(p);
	size_t during = __atomic_load_n(&lm.slow_moves, __ATOMIC_RELAXED);
	__atomic_store_n(&lm.stop, true, __ATOMIC_RELEASE);
	for (unsigned i = 0; i < LM_THREADS; i++)
		CHECK_EQ(pthread_join(t[i], NULL), 0);
	CHECK(sm_test_hook_set(lm.inst, NULL));
	struct sm_stats st;
	sm_stats_get(lm.inst, &st);
	if (e.count || st.frees_kept)
		fprintf(stderr, "look_outlasts_moves: %d reports (%s), %zu kept, %zu slow moves\n", e.count,
			e.count ? e.last : "", (size_t)st.frees_kept, during);
	CHECK_EQ(st.frees_kept, 0);
	CHECK_EQ(e.count, 0);
	struct sm_cache_stats cs;
	sm_cache_stats_get(lm.s, &cs);
	CHECK_EQ(cs.active_objects, 0); /* p freed: in the main thread's sheaf */
	sm_instance_destroy(lm.inst);
}

/*
 * test_threads soak ROUNDS [PURGE_DELAY_MS]: cross_thread_free and
 * look_outlasts_moves, ROUNDS times each (tests/soak-threads).  A rare
 * race shows there: one double-free check in a few hundred thousand
 * frees gave up and kept a live object, once in tens of rounds beside
 * busy loops, and within a few rounds with the purge delay 0.
 */
static int soak(int argc, char **argv)
{
	long rounds = argc > 2 ? atol(argv[2]) : 10;
	soak_purge_delay_ms = argc > 3 ? atol(argv[3]) : -1;
	CHECK(rounds > 0);
	for (long r = 1; r <= rounds; r++) {
		test_cross_thread_free();
		memset(&lm, 0, sizeof(lm));
		test_look_outlasts_moves();
		printf("soak: round %ld of %ld ok\n", r, rounds);
		fflush(stdout);
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "soak"))
		return soak(argc, argv);
	test_suspect_frees();
	printf("suspect_frees ok\n");
	test_view_turns_while_read();
	printf("view_turns_while_read ok\n");
	test_sheaf_moves_while_looked();
	printf("sheaf_moves_while_looked ok\n");
	test_fork_during_check();
	printf("fork_during_check ok\n");
	test_purge_partial_while_used();
	printf("purge_partial_while_used ok\n");
	test_exit_without_inst_lock();
	printf("exit_without_inst_lock ok\n");
	/* The default instance's errors are this file's to count. */
	struct sm_options o = test_options(&default_errs);
	CHECK(sm_default_instance_init(&o) == sm_default_instance());
	test_remote_free_default();
	printf("remote_free_default ok\n");
	test_thread_flush();
	printf("thread_flush ok\n");
	test_remote_free();
	printf("remote_free ok\n");
	test_slab_adopt();
	printf("slab_adopt ok\n");
	test_thread_exit();
	printf("thread_exit ok\n");
	test_barn_overflow();
	printf("barn_overflow ok\n");
	test_all_to_all();
	printf("all_to_all ok\n");
	test_cross_thread_free();
	printf("cross_thread_free ok\n");
	test_frees_kept_counted();
	printf("frees_kept_counted ok\n");
	test_look_outlasts_moves();
	printf("look_outlasts_moves ok\n");
	return 0;
}
