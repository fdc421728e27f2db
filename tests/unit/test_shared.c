/*
 * test_shared.c - what isolated instances still share, and why a test of
 * one instance cannot disturb another (issue 12 section 4;
 * docs/architecture.md, "What stays shared").  One test per shared thing:
 *   - the node map and the descriptor map: instances are created, used and
 *     destroyed (live objects, page runs and huge mappings included) while
 *     a thread allocates and frees in another; its objects always resolve
 *     to it and keep their contents;
 *   - the registry (slots, generations, the thread-exit key): a thread
 *     with sheaves in two instances keeps allocating in one while the other
 *     is destroyed and its slot taken by a third; its exit gives back only
 *     what belongs to live instances;
 *   - the test hook: set on one instance, it is never called for another's
 *     paths, and goes with its instance;
 *   - sm_fast_class: the default instance's table, which no other
 *     instance writes or indexes, and its divisibility constants;
 *   - the ring of recently unmapped huge mappings: an address in it that
 *     another instance now uses is freed there, not reported;
 *   - reports: misuse of one instance's objects reaches its handler only;
 *     only pointers of no instance go to the default instance's.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <sys/mman.h>

#include "test.h"
#include "hooks.h"
#include "instance.h"
#include "kmem_cache.h"
#include "large.h"
#include "node.h"
#include "os.h"
#include "registry.h"

#define MiB ((size_t)1 << 20)

static bool vg; /* under valgrind or TSan: smaller loops */

static sm_instance_t *new_instance(struct test_errors *e)
{
	struct sm_options o = test_options(e);
	sm_instance_t *inst = sm_instance_create(&o);
	CHECK(inst != NULL);
	return inst;
}

/* ---- 1. the node map and the descriptor map ---- */

#define KEEP 512

static struct {
	sm_instance_t *b;
	sm_cache_t *bc;
	volatile int stop;
	size_t ops, wrong, bad;
} nm;

static void *b_worker(void *arg)
{
	(void)arg;
	struct { void *p; size_t size; uint64_t tag; bool cache; } k[KEEP];
	memset(k, 0, sizeof(k));
	uint64_t rs = 99;
	while (!__atomic_load_n(&nm.stop, __ATOMIC_RELAXED)) {
		rs = mix64(rs);
		unsigned slot = (unsigned)(rs % KEEP);
		if (k[slot].p) {
			if (!pat_ok(k[slot].p, k[slot].size, k[slot].tag))
				nm.bad++;
			if (k[slot].cache)
				sm_cache_free(nm.bc, k[slot].p);
			else
				sm_kfree(k[slot].p);
		}
		size_t size;
		void *p;
		bool cache = (rs >> 20) % 4 == 0;
		if (cache) {
			size = 72;
			p = sm_cache_alloc(nm.bc, 0);
		} else {
			size = (rs >> 24) % 32 == 0 ? 50000 : 8 + (size_t)((rs >> 32) % 3000);
			p = sm_kmalloc(nm.b, size, 0);
		}
		CHECK(p != NULL);
		/* The maps must always name B, and the slab its cache. */
		if (sm_ptr_instance(p) != nm.b || (cache && obj_cache(p) != nm.bc))
			nm.wrong++;
		pat_fill(p, size, rs);
		k[slot].p = p;
		k[slot].size = size;
		k[slot].tag = rs;
		k[slot].cache = cache;
		__atomic_store_n(&nm.ops, nm.ops + 1, __ATOMIC_RELAXED);
	}
	for (unsigned i = 0; i < KEEP; i++)
		if (k[i].p) {
			if (!pat_ok(k[i].p, k[i].size, k[i].tag))
				nm.bad++;
			if (k[i].cache)
				sm_cache_free(nm.bc, k[i].p);
			else
				sm_kfree(k[i].p);
		}
	return NULL;
}

static void test_node_map(void)
{
	struct test_errors eb = { 0 }, ea = { 0 };
	nm.b = new_instance(&eb);
	nm.bc = sm_cache_create(nm.b, "b-72", 72, 0, 0, NULL);
	CHECK(nm.bc);
	pthread_t th;
	CHECK_EQ(pthread_create(&th, NULL, b_worker, NULL), 0);

	/* Each round overlaps the worker: it waits for the worker to have
	   made progress since the previous one (under valgrind, whose threads
	   take turns, that is what makes them interleave at all). */
	unsigned rounds = vg ? 6 : 24;
	size_t step = vg ? 100 : 2000;
	for (unsigned r = 0; r < rounds; r++) {
		size_t ops0 = __atomic_load_n(&nm.ops, __ATOMIC_RELAXED);
		while (__atomic_load_n(&nm.ops, __ATOMIC_RELAXED) < ops0 + step)
			sched_yield();
		sm_instance_t *a = new_instance(&ea);
		void *small[64], *run, *huge;
		for (unsigned i = 0; i < 64; i++) {
			small[i] = sm_kmalloc(a, 16 + i * 24, 0);
			CHECK(small[i] && sm_ptr_instance(small[i]) == a);
		}
		run = sm_kmalloc(a, 200000, 0);
		huge = sm_kmalloc(a, 40 * MiB, 0);
		CHECK(run && huge && sm_ptr_instance(huge) == a);
		for (unsigned i = 0; i < 64; i += 2)
			sm_kfree(small[i]);
		sm_kfree(run);
		/* Destroyed with live objects and a live huge mapping. */
		sm_instance_destroy(a);
		/* Its addresses belong to no instance (or to a newer one), never to B. */
		for (unsigned i = 1; i < 64; i += 2)
			CHECK(sm_ptr_instance(small[i]) != nm.b);
		CHECK(sm_ptr_instance(huge) != nm.b);
		CHECK(desc_of(huge) == NULL || sm_ptr_instance(huge) != NULL);
	}
	__atomic_store_n(&nm.stop, 1, __ATOMIC_RELAXED);
	CHECK_EQ(pthread_join(th, NULL), 0);
	CHECK_EQ(nm.wrong, 0);
	CHECK_EQ(nm.bad, 0);
	CHECK_EQ(eb.count, 0);
	CHECK_EQ(ea.count, 0);
	/* B is whole: nothing live, everything back. */
	struct sm_cache_stats cs;
	sm_cache_stats_get(nm.bc, &cs);
	CHECK_EQ(cs.active_objects, 0);
	CHECK_EQ(sm_cache_destroy(nm.bc), 0);
	sm_purge(nm.b, true);
	struct sm_stats st;
	sm_stats_get(nm.b, &st);
	CHECK_EQ(st.slab_bytes, 0);
	CHECK_EQ(st.large_bytes, 0);
	sm_instance_destroy(nm.b);
}

/* ---- 2. the registry: slots, generations, the thread-exit key ---- */

static struct {
	sm_instance_t *a, *b;
	pthread_barrier_t bar;
	volatile int destroyed;
	size_t b_ok;
	struct tcache *a_tc;
	unsigned a_slot;
	uint64_t a_gen;
} rg;

static void *two_instance_thread(void *arg)
{
	(void)arg;
	void *p[100];
	for (int i = 0; i < 100; i++) {
		p[i] = sm_kmalloc(i % 2 ? rg.a : rg.b, 48, 0);
		CHECK(p[i]);
	}
	for (int i = 0; i < 100; i++)
		sm_kfree(p[i]);
	rg.a_slot = rg.a->slot;
	rg.a_gen = rg.a->gen;
	rg.a_tc = sm_thread.slots[rg.a_slot].tc;
	CHECK(rg.a_tc && sm_thread.slots[rg.b->slot].tc);
	pthread_barrier_wait(&rg.bar);
	/* A goes away (and C takes its slot) while this thread works in B. */
	while (!__atomic_load_n(&rg.destroyed, __ATOMIC_ACQUIRE) || rg.b_ok < (vg ? 500 : 5000)) {
		void *q = sm_kmalloc(rg.b, 16 + rg.b_ok % 500, 0);
		CHECK(q && sm_ptr_instance(q) == rg.b);
		sm_kfree(q);
		rg.b_ok++;
	}
	/* The slot of A still names A's generation: never followed. */
	CHECK_EQ(sm_thread.slots[rg.a_slot].gen, rg.a_gen);
	/* B's sheaves hold objects of this thread: the exit gives them back. */
	for (int i = 0; i < 100; i++)
		p[i] = sm_kmalloc(rg.b, 48, 0);
	for (int i = 0; i < 100; i++)
		sm_kfree(p[i]);
	return NULL;
}

static void test_registry(void)
{
	struct test_errors e = { 0 };
	rg.a = new_instance(&e);
	rg.b = new_instance(&e);
	CHECK_EQ(pthread_barrier_init(&rg.bar, NULL, 2), 0);
	pthread_t th;
	CHECK_EQ(pthread_create(&th, NULL, two_instance_thread, NULL), 0);
	pthread_barrier_wait(&rg.bar);
	unsigned a_slot = rg.a->slot;
	sm_instance_destroy(rg.a);
	sm_instance_t *c = new_instance(&e); /* the lowest free slot: A's */
	CHECK_EQ(c->slot, a_slot);
	CHECK(c->gen != rg.a_gen);
	CHECK(registry_lookup_locked(a_slot, rg.a_gen) == NULL);
	void *q = sm_kmalloc(c, 48, 0);
	CHECK(q && sm_ptr_instance(q) == c);
	__atomic_store_n(&rg.destroyed, 1, __ATOMIC_RELEASE);
	CHECK_EQ(pthread_join(th, NULL), 0);
	sm_kfree(q);

	/* The exiting thread gave B's sheaves back and never touched C. */
	CHECK(list_empty(&rg.b->tcaches));
	struct sm_cache_stats cs;
	sm_cache_stats_get(&rg.b->kmalloc_caches[kmalloc_index(48)], &cs);
	CHECK_EQ(cs.active_objects, 0);
	struct list_head *pos;
	size_t c_tcaches = 0;
	for (pos = c->tcaches.next; pos != &c->tcaches; pos = pos->next)
		c_tcaches++;
	CHECK_EQ(c_tcaches, 1); /* this thread's alone */
	CHECK_EQ(e.count, 0);
	pthread_barrier_destroy(&rg.bar);
	sm_instance_destroy(c);
	sm_instance_destroy(rg.b);
}

/* ---- 3. the test hook ---- */

static struct {
	sm_instance_t *armed;
	size_t calls, foreign;
	unsigned points;                /* bit mask of the points reached */
} hk;

static void count_hook(struct sm_instance *inst, enum sm_hook_point where)
{
	__atomic_fetch_or(&hk.points, 1u << where, __ATOMIC_RELAXED);
	__atomic_fetch_add(&hk.calls, 1, __ATOMIC_RELAXED);
	if (inst != hk.armed)
		__atomic_fetch_add(&hk.foreign, 1, __ATOMIC_RELAXED);
}

/* Enough traffic on @inst to reach refills, flushes, barns, node pages and purges. */
static void workload(sm_instance_t *inst)
{
	static void *v[4096];
	unsigned n = vg ? 1024 : 4096;
	for (unsigned r = 0; r < 3; r++) {
		for (unsigned i = 0; i < n; i++)
			v[i] = sm_kmalloc(inst, 64 + (i % 8) * 64, 0);
		for (unsigned i = 0; i < n; i++)
			sm_kfree(v[i]);
		sm_thread_flush(inst);
		sm_purge(inst, true);
	}
}

static void test_hook(void)
{
	struct test_errors e = { 0 };
	sm_instance_t *a = new_instance(&e), *b = new_instance(&e);
	hk.armed = a;
	CHECK(sm_test_hook_set(a, count_hook));
	CHECK_EQ(sm_hooks_armed, 1);
	workload(b);
	CHECK_EQ(hk.calls, 0); /* B's paths never see A's hook */
	workload(a);
	CHECK(hk.calls > 0);
	CHECK_EQ(hk.foreign, 0);
	unsigned want = (1u << SM_HOOK_BARN) | (1u << SM_HOOK_REFILL) | (1u << SM_HOOK_FLUSH) |
			(1u << SM_HOOK_NODE_PAGES) | (1u << SM_HOOK_PURGE);
	if ((hk.points & want) != want)
		fprintf(stderr, "points reached: %#x\n", hk.points);
	CHECK_EQ(hk.points & want, want);
	/* A hook per instance: replacing or clearing B's leaves A's. */
	CHECK(sm_test_hook_set(b, NULL));
	CHECK_EQ(sm_hooks_armed, 1);
	/* It goes with its instance: a new one (maybe at A's address) has none. */
	sm_instance_destroy(a);
	CHECK_EQ(sm_hooks_armed, 0);
	size_t calls = hk.calls;
	sm_instance_t *a2 = new_instance(&e);
	workload(a2);
	workload(b);
	CHECK_EQ(hk.calls, calls);
	CHECK_EQ(e.count, 0);
	sm_instance_destroy(a2);
	sm_instance_destroy(b);
}

/* ---- 4. sm_fast_class ---- */

static void test_fast_class(void)
{
	sm_instance_t *def = sm_default_instance();
	sm_kfree(sm_kmalloc(def, 100, 0));
	static struct fast_class snap[SM_NR_KMALLOC + 1];
	memcpy(snap, sm_fast_class, sizeof(snap));
	/* Written for the default instance's kmalloc caches, entry 0 unused. */
	CHECK_EQ(sm_fast_class[0].size, 0);
	for (unsigned i = 0; i < SM_NR_KMALLOC; i++) {
		CHECK_EQ(def->kmalloc_caches[i].fclass, i + 1);
		CHECK_EQ(sm_fast_class[i + 1].size, def->kmalloc_caches[i].size);
		CHECK_EQ(sm_fast_class[i + 1].free_key, def->kmalloc_caches[i].free_key);
		CHECK_EQ(fast_class_tag(&sm_fast_class[i + 1]),
			 (uint16_t)(def->kmalloc_caches[i].free_key >> SM_FREE_TAG_SHIFT));
	}
	/* free()'s check that @p starts an object (fastpath.h,
	   kmalloc_obj_fast: one multiply and one compare against start_max)
	   against % and the slab's last object: every offset of a slab, for
	   every class (a stride of 1 under valgrind and TSan only up to 64 KiB). */
	for (unsigned i = 1; i <= SM_NR_KMALLOC; i++) {
		const struct fast_class *c = &sm_fast_class[i];
		const struct kmem_cache *s = &def->kmalloc_caches[i - 1];
		uint32_t limit = s->objects * s->size, end = s->slab_pages << SM_PAGE_SHIFT;
		CHECK(limit <= end);
		if (vg && end > 65536)
			end = 65536;
		unsigned bad = 0;
		for (uint32_t off = 0; off < end; off++)
			bad += ((uint64_t)off * c->divides <= c->start_max) !=
			       (off % c->size == 0 && off < limit);
		CHECK_EQ(bad, 0);
	}
	/* And for every size and slab the classes could have: the start of
	   the slot past the last object fails, the last object's passes. */
	for (uint32_t size = 16; size <= (1u << 15); size += 8) {
		for (uint32_t pages = 1; pages <= 8; pages *= 2) {
			uint64_t bytes = (uint64_t)pages << SM_PAGE_SHIFT;
			uint32_t objects = (uint32_t)(bytes / size);
			if (!objects)
				continue;
			bool exact;
			uint64_t max = slab_start_max(size, objects, &exact), m = slab_start_divides(size);
			CHECK(exact);
			CHECK((uint64_t)(objects - 1) * size * m <= max);
			CHECK(objects * size >= bytes || (uint64_t)objects * size * m > max);
			CHECK((uint64_t)((objects - 1) * size + 8) * m > max);
		}
	}
	/* Every cache's check (slab_obj_starts: sm_cache_free, the general
	   free path) takes the same constants for any slot size, powers of
	   two with room after the last object included (the constant is
	   ceil(2^64 / size) + 1 there): every offset of slabs of 1 to 8
	   pages, every slot size up to 4 KiB (a stride under valgrind and
	   TSan), and 8 KiB and 16 KiB slots, which a 12 KiB and a 20 KiB slab
	   leave room after. */
	for (uint32_t size = 8; size <= 16384; size += size < 4096 ? 8 : size) {
		for (uint32_t pages = 1; pages <= 8; pages++) {
			uint32_t bytes = pages << SM_PAGE_SHIFT, objects = bytes / size;
			if (!objects)
				continue;
			bool exact;
			uint64_t max = slab_start_max(size, objects, &exact), m = slab_start_divides(size);
			CHECK(exact);
			unsigned bad = 0, step = vg ? 61 : 1;
			for (uint32_t off = 0; off < bytes; off += step)
				bad += ((uint64_t)off * m <= max) != (off % size == 0 && off < objects * size);
			for (uint32_t k = 0; k <= objects; k++) /* every start, and the slot past the last */
				bad += ((uint64_t)(k * size) * m <= max) != (k < objects);
			CHECK_EQ(bad, 0);
		}
	}
	/* And at the edges of the 32-bit range it is exact for. */
	for (uint32_t size = 16; size <= (1u << 15); size += 8) {
		uint64_t m = slab_start_divides(size);
		uint32_t top = UINT32_MAX - UINT32_MAX % size;
		CHECK(((uint64_t)top * m < m) && !((uint64_t)(top - 1) * m < m));
		CHECK(!((uint64_t)(size - 1) * m < m) && ((uint64_t)size * m < m));
	}

	struct test_errors e = { 0 };
	for (unsigned r = 0; r < 4; r++) {
		sm_instance_t *inst = new_instance(&e);
		sm_cache_t *c = sm_cache_create(inst, "fc", 64, 0, 0, NULL);
		CHECK(c && c->fclass == 0);
		for (unsigned i = 0; i < SM_NR_KMALLOC; i++)
			CHECK_EQ(inst->kmalloc_caches[i].fclass, 0);
		/* Its slabs carry fclass 0: free's fast path never indexes the table for them. */
		void *p = sm_kmalloc(inst, 64, 0), *q = sm_cache_alloc(c, 0);
		CHECK_EQ(desc_of(p)->fclass, 0);
		CHECK_EQ(desc_of(q)->fclass, 0);
		CHECK_EQ(page_hot_fclass(hot_at(hot_bias(p), p)), 0);
		CHECK_EQ(page_hot_fclass(hot_at(hot_bias(q), q)), 0);
		sm_kfree(p);
		sm_cache_free(c, q);
		CHECK_EQ(sm_cache_destroy(c), 0);
		sm_instance_destroy(inst);
	}
	CHECK(memcmp(snap, sm_fast_class, sizeof(snap)) == 0);
	/* A default object's descriptor indexes it, and so does its page's
	   hot word (page.h), with the page's place in its slab and this
	   thread's owner tag: its sheaf took the object from that slab. */
	void *d = sm_kmalloc(def, 100, 0);
	CHECK_EQ(desc_of(d)->fclass, kmalloc_index(112) + 1);
	uint32_t h = hot_at(hot_bias(d), d);
	CHECK_EQ(page_hot_fclass(h), kmalloc_index(112) + 1);
	CHECK_EQ(page_hot_page_off(h), desc_of(d)->page_off);
	CHECK(sm_thread.owner_tag != 0 && sm_thread.owner_tag <= PAGE_HOT_OWNER_MAX);
	CHECK_EQ(page_hot_owner(h), sm_thread.owner_tag);
	/* What free() takes of it with one mask each: fclass * 32, the index
	   of sm_fast_class and kmalloc_pcs, and the page's byte offset. */
	CHECK_EQ(page_hot_fclass32(h), (kmalloc_index(112) + 1) * sizeof(struct fast_class));
	CHECK_EQ(page_hot_page_bytes(h), (uint32_t)desc_of(d)->page_off * SM_PAGE_SIZE);
	sm_kfree(d);
	CHECK_EQ(e.count, 0);
	/* Every field at its extremes comes back as it went in, untouched by
	   the others. */
	for (unsigned fc = 0; fc <= SM_NR_KMALLOC; fc += SM_NR_KMALLOC)
		for (unsigned off = 0; off <= 255; off += 255)
			for (unsigned tag = 0; tag <= PAGE_HOT_OWNER_MAX; tag += PAGE_HOT_OWNER_MAX) {
				uint32_t w = page_hot(fc, off, (uint16_t)tag);
				CHECK_EQ(page_hot_fclass(w), fc);
				CHECK_EQ(page_hot_fclass32(w), fc * 32);
				CHECK_EQ(page_hot_page_off(w), off);
				CHECK_EQ(page_hot_page_bytes(w), off << SM_PAGE_SHIFT);
				CHECK_EQ(page_hot_owner(w), tag);
				CHECK_EQ(page_hot_owner(page_hot_with_owner(w, 7)), 7);
				CHECK_EQ(page_hot_fclass(page_hot_with_owner(w, 7)), fc);
				CHECK_EQ(page_hot_page_off(page_hot_with_owner(w, 7)), off);
			}
}

/* ---- 5. the ring of recently unmapped huge mappings ---- */

/*
 * An OS that keeps the last released reservation of HUGE_RES bytes mapped
 * (inaccessible, purged) and hands it to the next reserve of that size, so
 * that instance B's huge mapping lands exactly where instance A's was.
 */
#define HUGE_SIZE (100 * MiB)
#define HUGE_RES  (128 * MiB)
static void *kept_res;

static void *reuse_reserve(size_t size, size_t align, void *arg)
{
	(void)arg;
	void *p = __atomic_exchange_n(&kept_res, NULL, __ATOMIC_ACQ_REL);
	if (p && size == HUGE_RES && (uintptr_t)p % align == 0)
		return p;
	if (p)
		sm_os_linux.release(p, HUGE_RES, NULL);
	return sm_os_linux.reserve(size, align, NULL);
}

static void reuse_release(void *p, size_t size, void *arg)
{
	(void)arg;
	if (size == HUGE_RES) {
		CHECK_EQ(mprotect(p, size, PROT_NONE), 0);
		CHECK_EQ(madvise(p, size, MADV_DONTNEED), 0);
		void *old = __atomic_exchange_n(&kept_res, p, __ATOMIC_ACQ_REL);
		if (old)
			sm_os_linux.release(old, HUGE_RES, NULL);
		return;
	}
	sm_os_linux.release(p, size, NULL);
}

static const struct sm_os_ops reuse_os = { .reserve = reuse_reserve, .release = reuse_release };

static void test_recent_huge(void)
{
	struct test_errors ea = { 0 }, eb = { 0 }, ed = { 0 };
	struct sm_options o = test_options(&ea);
	o.os = &reuse_os;
	sm_instance_t *a = sm_instance_create(&o);
	o.error_arg = &eb;
	sm_instance_t *b = sm_instance_create(&o);
	CHECK(a && b);
	sm_instance_t *def = sm_default_instance();
	def->err = (struct report_sink){ test_error_handler, &ed };
	sm_default_sink = def->err;

	char *pa = sm_kmalloc(a, HUGE_SIZE, 0);
	CHECK(pa && sm_ptr_instance(pa) == a);
	sm_kfree(pa);
	CHECK(sm_ptr_instance(pa) == NULL);
	CHECK(large_recently_unmapped(pa));
	/* A's double free is reported as one, to the default instance's
	   handler: the address belongs to no instance any more. */
	sm_kfree(pa);
	CHECK_EQ(ed.count, 1);
	CHECK(strstr(ed.last, "a huge mapping freed already") != NULL);

	/* B's mapping now lives at the same address: its free is B's, not a
	   double free of A's. */
	char *pb = sm_kmalloc(b, HUGE_SIZE, 0);
	CHECK(pb == pa);
	CHECK(sm_ptr_instance(pb) == b);
	pb[0] = 1;
	pb[HUGE_SIZE - 1] = 2;
	struct sm_stats st;
	sm_stats_get(b, &st);
	CHECK_EQ(st.huge_allocations, 1);
	sm_kfree(pb);
	sm_stats_get(b, &st);
	CHECK_EQ(st.huge_allocations, 0);
	CHECK_EQ(ea.count, 0);
	CHECK_EQ(eb.count, 0);
	CHECK_EQ(ed.count, 1);

	def->err = (struct report_sink){ 0 };
	sm_default_sink = def->err;
	sm_instance_destroy(a);
	sm_instance_destroy(b);
	void *k = __atomic_exchange_n(&kept_res, NULL, __ATOMIC_ACQ_REL);
	if (k)
		sm_os_linux.release(k, HUGE_RES, NULL);
}

/* ---- 6. reports go to the instance that owns the pointer ---- */

static void test_reports(void)
{
	struct test_errors ea = { 0 }, eb = { 0 }, ed = { 0 };
	sm_instance_t *a = new_instance(&ea), *b = new_instance(&eb);
	sm_instance_t *def = sm_default_instance();
	def->err = (struct report_sink){ test_error_handler, &ed };
	sm_default_sink = def->err;

	char *pa = sm_kmalloc(a, 100, 0);
	sm_cache_t *bc = sm_cache_create(b, "b-cache", 100, 0, 0, NULL);
	CHECK(pa && bc);
	/* An interior pointer of A's, through the general free: A's handler. */
	sm_kfree(pa + 8);
	CHECK_EQ(ea.count, 1);
	CHECK_EQ(eb.count, 0);
	CHECK_EQ(ed.count, 0);
	/* A's object freed to B's cache: the owner of the pointer, A, hears it. */
	sm_cache_free(bc, pa);
	CHECK_EQ(ea.count, 2);
	CHECK(strstr(ea.last, "to cache b-cache") != NULL);
	CHECK_EQ(eb.count, 0);
	/* A pointer of no instance: to B's cache, B's handler; else the default's. */
	long local;
	sm_cache_free(bc, &local);
	CHECK_EQ(eb.count, 1);
	CHECK(strstr(eb.last, "foreign pointer") != NULL);
	sm_kfree(&local);
	CHECK_EQ(ed.count, 1);
	CHECK_EQ(ea.count, 2);
	CHECK_EQ(eb.count, 1);

	def->err = (struct report_sink){ 0 };
	sm_default_sink = def->err;
	sm_kfree(pa);
	CHECK_EQ(sm_cache_destroy(bc), 0);
	sm_instance_destroy(a);
	sm_instance_destroy(b);
}

int main(void)
{
	vg = under_valgrind() || under_tsan();
	test_node_map();
	test_registry();
	test_hook();
	test_fast_class();
	test_recent_huge();
	test_reports();
	printf("test_shared: ok\n");
	return 0;
}
