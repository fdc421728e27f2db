/*
 * test_partial.c - the order of the partial slabs (kmem_cache.h, issue 11):
 * refills take the fullest partial slab first, so the objects still out
 * cluster in few slabs and nearly-empty slabs drain and are released.  On
 * isolated instances with a clock that never moves; one test at the slab
 * layer (slab_get_objects / slab_put_objects, no sheaf in the way), one
 * through the public API with sheaves and a barn that keeps nothing.
 */
#include <pthread.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>

#include "test.h"
#include "instance.h"
#include "kmem_cache.h"
#include "node.h"
#include "purge.h"
#include "registry.h"
#include "slab.h"

static uint64_t frozen_clock(void *arg)
{
	(void)arg;
	return 1000;
}
static const struct sm_os_ops frozen_os = { .now_ns = frozen_clock };

/* slab_max_empty 0: a slab that becomes empty goes back to its node at once. */
static sm_instance_t *new_instance(struct test_errors *e, unsigned sheaf_capacity)
{
	struct sm_options o = test_options(e);
	o.os = &frozen_os;
	o.slab_max_empty = 0;
	o.sheaf_capacity = sheaf_capacity;
	o.barn_max_full = 0;
	o.barn_max_empty = 0;
	sm_instance_t *inst = sm_instance_create(&o);
	CHECK(inst != NULL);
	return inst;
}

static struct slab *slab_of(const void *p)
{
	struct sm_node *n = node_of(p);
	return &n->descs[n->descs[node_page_index(n, p)].head];
}

/* Which partial bucket list @d is on, or -1 (checks the list itself, not inuse). */
static int bucket_of(struct kmem_cache_node *kcn, const struct slab *d)
{
	for (int b = 0; b < SM_PARTIAL_BUCKETS; b++)
		for (struct list_head *pos = kcn->partial[b].next; pos != &kcn->partial[b]; pos = pos->next)
			if (pos == &d->list)
				return b;
	return -1;
}

/* Every partial slab is on the bucket its inuse calls for, and the count matches. */
static void check_buckets(struct kmem_cache *s, struct kmem_cache_node *kcn)
{
	size_t n = 0;
	for (unsigned b = 0; b < SM_PARTIAL_BUCKETS; b++)
		for (struct list_head *pos = kcn->partial[b].next; pos != &kcn->partial[b]; pos = pos->next) {
			struct slab *d = list_entry(pos, struct slab, list);
			CHECK(d->inuse > 0 && d->inuse < d->objects);
			CHECK_EQ(partial_bucket(s, d->inuse), b);
			CHECK_EQ(d->on_list, 1);
			n++;
		}
	CHECK_EQ(n, kcn->nr_partial);
}

/* partial_bucket() is floor(inuse * B / objects) for every geometry a cache can have. */
static void test_bucket_arithmetic(void)
{
	struct test_errors e = { 0 };
	sm_instance_t *inst = new_instance(&e, 0);
	for (unsigned id = 0; id < SM_NR_KMALLOC; id++) {
		struct kmem_cache *s = &inst->kmalloc_caches[id];
		for (unsigned inuse = 1; inuse < s->objects; inuse++)
			CHECK_EQ(partial_bucket(s, inuse), inuse * SM_PARTIAL_BUCKETS / s->objects);
	}
	/* The most objects a slab can have: 8-byte objects, 512 per page. */
	sm_cache_t *s8 = sm_cache_create(inst, "b8", 8, 0, 0, NULL);
	CHECK_EQ(s8->objects, 512);
	for (unsigned inuse = 1; inuse < 512; inuse++)
		CHECK_EQ(partial_bucket(s8, inuse), inuse * SM_PARTIAL_BUCKETS / 512);
	CHECK_EQ(sm_cache_destroy(s8), 0);
	CHECK_EQ(e.count, 0);
	sm_instance_destroy(inst);
}

/*
 * The slab layer alone: 8 slabs of 16 objects left with 1, 15, 2, 12, 3, 8,
 * 14 and 5 objects out; refills fill them fullest first, never touching the
 * nearly-empty ones while a fuller one has room; then the nearly-empty ones
 * become empty and are released at once.
 */
static void test_fullest_first(void)
{
	enum { SLABS = 8, PER = 16 };
	static const unsigned keep[SLABS] = { 1, 15, 2, 12, 3, 8, 14, 5 };
	struct test_errors e = { 0 };
	sm_instance_t *inst = new_instance(&e, 0);
	sm_cache_t *s = sm_cache_create(inst, "order-256", 256, 0, 0, NULL);
	CHECK(s != NULL);
	CHECK_EQ(s->objects, PER);
	struct kmem_cache_node *kcn = s->node[0];
	struct slab_alloc_context ctx = SLAB_ALLOC_CTX(256, SLAB_ALLOC_DEFAULT, SM_NO_NODE);

	/* A new slab per call: slab_get_objects takes from one new slab. */
	void *obj[SLABS][PER];
	struct slab *d[SLABS];
	for (unsigned i = 0; i < SLABS; i++) {
		CHECK_EQ(slab_get_objects(s, &ctx, obj[i], PER), PER);
		d[i] = slab_of(obj[i][0]);
		for (unsigned j = 1; j < PER; j++)
			CHECK(slab_of(obj[i][j]) == d[i]);
		for (unsigned k = 0; k < i; k++)
			CHECK(d[k] != d[i]);
	}
	CHECK_EQ(kcn->nr_slabs, SLABS);
	CHECK_EQ(kcn->nr_partial, 0);

	/* Free all but keep[i] of each slab, one call per slab. */
	for (unsigned i = 0; i < SLABS; i++)
		CHECK_EQ(slab_put_objects(s, obj[i] + keep[i], PER - keep[i], false), PER - keep[i]);
	CHECK_EQ(kcn->nr_partial, SLABS);
	check_buckets(s, kcn);
	for (unsigned i = 0; i < SLABS; i++) {
		CHECK_EQ(d[i]->inuse, keep[i]);
		CHECK_EQ(bucket_of(kcn, d[i]), (int)(keep[i] * SM_PARTIAL_BUCKETS / PER));
	}

	/* One object at a time: each comes from a slab of the fullest bucket
	   that has any, and slabs leave the partial list full in that order. */
	unsigned room_full = 0; /* free slots in the slabs with 8 or more out */
	for (unsigned i = 0; i < SLABS; i++)
		if (keep[i] >= 8)
			room_full += PER - keep[i];
	CHECK_EQ(room_full, 1 + 4 + 8 + 2);
	void *got[PER * SLABS];
	for (unsigned k = 0; k < room_full; k++) {
		int top = -1;
		for (unsigned i = 0; i < SLABS; i++)
			if (d[i]->inuse < PER && (int)partial_bucket(s, d[i]->inuse) > top)
				top = (int)partial_bucket(s, d[i]->inuse);
		CHECK_EQ(slab_get_objects(s, &ctx, &got[k], 1), 1);
		struct slab *from = slab_of(got[k]);
		CHECK_EQ(partial_bucket(s, from->inuse - 1), (unsigned)top);
		check_buckets(s, kcn);
	}
	/* The four fuller slabs are full now; the nearly-empty ones untouched. */
	for (unsigned i = 0; i < SLABS; i++) {
		if (keep[i] >= 8) {
			CHECK_EQ(d[i]->inuse, PER);
			CHECK_EQ(d[i]->on_list, 0);
		} else {
			CHECK_EQ(d[i]->inuse, keep[i]);
		}
	}
	CHECK_EQ(kcn->nr_partial, 4);

	/* A batch refill that needs more than one slab: the fullest first (5
	   out, then 3, 2, 1), so the nearly-empty ones are taken last. */
	void *batch[12];
	CHECK_EQ(slab_get_objects(s, &ctx, batch, 12), 12);
	for (unsigned k = 0; k < 11; k++)
		CHECK(slab_of(batch[k]) == d[7]);
	CHECK(slab_of(batch[11]) == d[4]);
	CHECK_EQ(slab_put_objects(s, batch, 12, false), 12);
	check_buckets(s, kcn);

	/* The survivors of the nearly-empty slabs go: those slabs become empty
	   and, with slab_max_empty 0, go straight back to the node. */
	uint64_t freed_before = s->stat[STAT_SLAB_FREE];
	for (unsigned i = 0; i < SLABS; i++)
		if (keep[i] < 8)
			CHECK_EQ(slab_put_objects(s, obj[i], keep[i], false), keep[i]);
	CHECK_EQ(s->stat[STAT_SLAB_FREE] - freed_before, 4);
	CHECK_EQ(kcn->nr_slabs, 4);
	CHECK_EQ(kcn->nr_partial, 0);
	CHECK_EQ(kcn->nr_empty, 0);
	CHECK_EQ(kcn->inuse, 4 * PER);

	/* Everything back. */
	for (unsigned i = 0; i < SLABS; i++)
		if (keep[i] >= 8)
			CHECK_EQ(slab_put_objects(s, obj[i], keep[i], false), keep[i]);
	CHECK_EQ(slab_put_objects(s, got, room_full, false), room_full);
	CHECK_EQ(kcn->nr_slabs, 0);
	CHECK_EQ(kcn->inuse, 0);
	CHECK_EQ(sm_cache_destroy(s), 0);
	CHECK_EQ(e.count, 0);
	sm_instance_destroy(inst);
}

/*
 * Through the public API, sheaves included: 16 slabs of 16; slabs 0..7 keep
 * one object each, slabs 8..15 twelve.  The 32 allocations that follow all
 * come from slabs 8..15, and once the last object of each of slabs 0..7 is
 * freed those go back to the node: 8 slabs hold the 128 objects out.
 * (With the partial list in insertion order, as before issue 11, new
 * objects came from the nearly-empty slabs, which became partial last.)
 */
static void test_survivors_cluster(void)
{
	enum { SLABS = 16, PER = 16, CAP = 4 };
	struct test_errors e = { 0 };
	sm_instance_t *inst = new_instance(&e, CAP);
	sm_cache_t *s = sm_cache_create(inst, "cluster-256", 256, 0, 0, NULL);
	CHECK(s != NULL);
	CHECK_EQ(s->objects, PER);
	static void *v[SLABS * PER];
	for (unsigned i = 0; i < SLABS * PER; i++) {
		v[i] = sm_cache_alloc(s, 0);
		CHECK(v[i] != NULL);
	}
	sm_thread_flush(inst);
	struct sm_cache_stats st;
	sm_cache_stats_get(s, &st);
	CHECK_EQ(st.slabs, SLABS);
	CHECK_EQ(st.active_objects, SLABS * PER);

	/* Group the objects by slab (allocation order within a sheaf is not
	   slab order). */
	struct slab *slabs[SLABS];
	unsigned nslabs = 0;
	static void *by[SLABS][PER];
	unsigned cnt[SLABS] = { 0 };
	for (unsigned i = 0; i < SLABS * PER; i++) {
		struct slab *d = slab_of(v[i]);
		unsigned k;
		for (k = 0; k < nslabs && slabs[k] != d; k++)
			;
		if (k == nslabs)
			slabs[nslabs++] = d;
		by[k][cnt[k]++] = v[i];
	}
	CHECK_EQ(nslabs, SLABS);
	for (unsigned k = 0; k < SLABS; k++)
		CHECK_EQ(cnt[k], PER);

	/* The fuller group first: the nearly-empty slabs become partial last,
	   so insertion order alone would hand out their objects first. */
	for (unsigned k = SLABS / 2; k < SLABS; k++)
		for (unsigned j = 12; j < PER; j++)
			sm_cache_free(s, by[k][j]);
	sm_thread_flush(inst);
	for (unsigned k = 0; k < SLABS / 2; k++)
		for (unsigned j = 1; j < PER; j++)
			sm_cache_free(s, by[k][j]);
	sm_thread_flush(inst);
	sm_cache_stats_get(s, &st);
	CHECK_EQ(st.active_objects, SLABS / 2 * 1 + SLABS / 2 * 12);
	CHECK_EQ(st.partial_slabs, SLABS);

	void *fresh[32];
	for (unsigned i = 0; i < 32; i++) {
		fresh[i] = sm_cache_alloc(s, 0);
		CHECK(fresh[i] != NULL);
	}
	sm_thread_flush(inst);
	for (unsigned i = 0; i < 32; i++) {
		struct slab *d = slab_of(fresh[i]);
		unsigned k;
		for (k = 0; k < SLABS && slabs[k] != d; k++)
			;
		CHECK(k < SLABS);
		CHECK(k >= SLABS / 2); /* from a fuller slab */
	}
	for (unsigned k = SLABS / 2; k < SLABS; k++)
		CHECK_EQ(slabs[k]->inuse, PER);

	for (unsigned k = 0; k < SLABS / 2; k++)
		sm_cache_free(s, by[k][0]);
	sm_thread_flush(inst);
	sm_cache_stats_get(s, &st);
	CHECK_EQ(st.active_objects, SLABS / 2 * PER);
	CHECK_EQ(st.slabs, SLABS / 2);
	CHECK_EQ(st.partial_slabs, 0);
	CHECK_EQ(st.empty_slabs, 0);
	CHECK_EQ(st.slabs_freed, SLABS / 2);

	for (unsigned k = SLABS / 2; k < SLABS; k++)
		for (unsigned j = 0; j < 12; j++)
			sm_cache_free(s, by[k][j]);
	for (unsigned i = 0; i < 32; i++)
		sm_cache_free(s, fresh[i]);
	CHECK_EQ(sm_cache_destroy(s), 0);
	CHECK_EQ(e.count, 0);
	sm_instance_destroy(inst);
}

static struct test_errors default_errs;

/* Whether the page holding @p is resident (mincore). */
static bool page_resident(const void *p)
{
	unsigned char v = 0;
	void *page = (void *)((uintptr_t)p & ~(uintptr_t)(SM_PAGE_SIZE - 1));
	CHECK_EQ(mincore(page, SM_PAGE_SIZE, &v), 0);
	return v & 1;
}

/*
 * The purge gives back the whole free pages of a partial slab that nothing
 * touched since the pass before (slab.h, "Free pages inside a partial
 * slab").  4 KiB objects, eight to a slab of eight pages, one kept in each
 * slab: after a pass that finds the slabs just touched (the frees) and one
 * that finds them idle, the pages of the freed objects are given back.  A
 * second free of an object on such a page is still reported (its free
 * word reads 0 there), and the slabs hand their objects out again.
 */
static void free_pages_purged(sm_instance_t *inst, struct test_errors *ep)
{
	struct test_errors *e_ = ep;
#define e (*e_)
	struct kmem_cache *s = &inst->kmalloc_caches[kmalloc_index(4096)];
	CHECK(s->partial_purge && s->slab_pages == 8 && s->objects == 8 && s->size == 4096);
	enum { N = 48 };
	void *p[N], *kept[N], *freed[N];
	const struct slab *seen[N];
	unsigned nk = 0, nf = 0;
	for (unsigned i = 0; i < N; i++) {
		CHECK((p[i] = sm_kmalloc(inst, 4096, 0)) != NULL);
		memset(p[i], 0x5a, 4096);
	}
	/* The first object of each slab is kept, the rest freed. */
	for (unsigned i = 0; i < N; i++) {
		const struct slab *d = slab_of(p[i]);
		bool known = false;
		for (unsigned k = 0; k < nk && !known; k++)
			known = seen[k] == d;
		if (known) {
			freed[nf++] = p[i];
		} else {
			seen[nk] = d;
			kept[nk++] = p[i];
		}
	}
	CHECK(nk >= N / 8 && nf >= N / 2);
	for (unsigned i = 0; i < nf; i++)
		sm_kfree(freed[i]);
	/* The sheaves and the barns to the slabs (the default instance's
	   barns are as its options made them). */
	bool nested = sm_enter();
	inst_reclaim(inst);
	sm_leave(nested);
	CHECK_EQ(cache_purge_partial(s, false), 0); /* just touched */
	CHECK_EQ(cache_purge_partial(s, false), nf); /* one page each */
	CHECK_EQ(cache_purge_partial(s, false), 0); /* nothing more */
	if (!under_valgrind())
		for (unsigned i = 0; i < nf; i++)
			CHECK(!page_resident(freed[i]));
	for (unsigned k = 0; k < nk; k++) {
		const unsigned char *c = kept[k];
		for (unsigned j = 0; j < 4096; j++)
			CHECK_EQ(c[j], 0x5a);
	}
	/* A double free on a purged page: reported, nothing changed. */
	CHECK_EQ(e.count, 0);
	sm_kfree(freed[0]);
	CHECK_EQ(e.count, 1);
	CHECK(strstr(e.last, "double free") != NULL);
	/* The default instance's pages lost their fclass in the hot word
	   while purged (free() took the page path above). */
	struct sm_node *n0 = node_of(freed[0]);
	if (inst == sm_default_instance())
		CHECK_EQ(page_hot_fclass(n0->hot[node_page_index(n0, freed[0])]), 0);
	/* The slabs in use again: every freed object comes back once. */
	void *again[N];
	for (unsigned i = 0; i < nf; i++) {
		CHECK((again[i] = sm_kmalloc(inst, 4096, 0)) != NULL);
		memset(again[i], 0x33, 4096);
	}
	for (unsigned i = 0; i < nf; i++) {
		bool was_freed = false;
		for (unsigned j = 0; j < nf && !was_freed; j++)
			was_freed = again[i] == freed[j];
		CHECK(was_freed);
		for (unsigned j = 0; j < i; j++)
			CHECK(again[j] != again[i]);
	}
	for (unsigned k = 0; k < nk; k++) {
		const unsigned char *c = kept[k];
		CHECK(c[0] == 0x5a && c[4095] == 0x5a);
		sm_kfree(kept[k]);
	}
	if (inst == sm_default_instance())
		CHECK_EQ(page_hot_fclass(n0->hot[node_page_index(n0, freed[0])]), s->fclass);
	for (unsigned i = 0; i < nf; i++)
		sm_kfree(again[i]);
	CHECK_EQ(e.count, 1);
#undef e
}

static void test_free_pages_purged(void)
{
	struct test_errors e = { 0 };
	sm_instance_t *inst = new_instance(&e, 8);
	free_pages_purged(inst, &e);
	sm_instance_destroy(inst);
	/* The default instance (set up by main): free()'s own path, through
	   the hot word. */
	free_pages_purged(sm_default_instance(), &default_errs);
}

/*
 * A purged slab is purged again when frees have left more of its pages
 * free (slab.h): the next pass gives back only those pages, not the ones
 * it gave back before.  4 KiB objects, eight to a slab of eight pages: two
 * kept in each slab, the rest freed and purged; then one of the two freed,
 * and its page purged at the second pass after (the first finds the slab
 * just touched).  Before, a purged slab was never looked at again until a
 * take linked it: the second page stayed resident.
 */
static void test_purged_again(void)
{
	struct test_errors e = { 0 };
	sm_instance_t *inst = new_instance(&e, 8);
	struct kmem_cache *s = &inst->kmalloc_caches[kmalloc_index(4096)];
	CHECK(s->partial_purge && s->slab_pages == 8 && s->objects == 8);
	enum { N = 48 };
	void *p[N], *first[N], *second[N], *freed[N];
	const struct slab *seen[N];
	unsigned count[N] = { 0 };
	unsigned nk = 0, nf = 0;
	for (unsigned i = 0; i < N; i++) {
		CHECK((p[i] = sm_kmalloc(inst, 4096, 0)) != NULL);
		memset(p[i], 0x5a, 4096);
	}
	/* Two objects of each slab kept, the rest freed. */
	for (unsigned i = 0; i < N; i++) {
		const struct slab *d = slab_of(p[i]);
		unsigned k = 0;
		while (k < nk && seen[k] != d)
			k++;
		if (k == nk)
			seen[nk++] = d;
		if (count[k] == 0)
			first[k] = p[i];
		else if (count[k] == 1)
			second[k] = p[i];
		else
			freed[nf++] = p[i];
		count[k]++;
	}
	for (unsigned k = 0; k < nk; k++)
		CHECK_EQ(count[k], 8); /* whole slabs */
	for (unsigned i = 0; i < nf; i++)
		sm_kfree(freed[i]);
	bool nested = sm_enter();
	inst_reclaim(inst);
	sm_leave(nested);
	CHECK_EQ(cache_purge_partial(s, false), 0); /* just touched */
	CHECK_EQ(cache_purge_partial(s, false), nf);
	CHECK_EQ(cache_purge_partial(s, false), 0);
	/* One more object of each slab freed: its page is free now. */
	for (unsigned k = 0; k < nk; k++)
		sm_kfree(second[k]);
	nested = sm_enter();
	inst_reclaim(inst);
	sm_leave(nested);
	for (unsigned k = 0; k < nk; k++)
		CHECK(seen[k]->purge & SLAB_PURGED); /* frees went to the bitmap */
	CHECK_EQ(cache_purge_partial(s, false), 0); /* just touched */
	CHECK_EQ(cache_purge_partial(s, false), nk); /* the new free page of each, alone */
	CHECK_EQ(cache_purge_partial(s, false), 0);
	for (unsigned k = 0; k < nk; k++) {
		const struct slab *d = seen[k];
		for (uint32_t i = 0; i < d->npages; i++)
			CHECK(!(d[i].purge & SLAB_PAGE_PURGING)); /* cleared by the relist */
		if (!under_valgrind())
			CHECK(!page_resident(second[k]));
		const unsigned char *c = first[k];
		CHECK(c[0] == 0x5a && c[4095] == 0x5a);
	}
	/* A double free on a page purged the second time: reported. */
	CHECK_EQ(e.count, 0);
	sm_kfree(second[0]);
	CHECK_EQ(e.count, 1);
	CHECK(strstr(e.last, "double free") != NULL);
	/* Every freed object comes back once. */
	unsigned back = nf + nk;
	void *again[N];
	for (unsigned i = 0; i < back; i++) {
		CHECK((again[i] = sm_kmalloc(inst, 4096, 0)) != NULL);
		memset(again[i], 0x33, 4096);
		bool known = false;
		for (unsigned j = 0; j < nf && !known; j++)
			known = again[i] == freed[j];
		for (unsigned k = 0; k < nk && !known; k++)
			known = again[i] == second[k];
		CHECK(known);
		for (unsigned j = 0; j < i; j++)
			CHECK(again[j] != again[i]);
	}
	for (unsigned i = 0; i < back; i++)
		sm_kfree(again[i]);
	for (unsigned k = 0; k < nk; k++)
		sm_kfree(first[k]);
	CHECK_EQ(e.count, 1);
	sm_instance_destroy(inst);
}

/*
 * The purge's system calls run with no lock held (kmem_cache.h,
 * cache_purge_partial): an OS whose purge waits until another thread has
 * freed into a slab being purged, refilled from the same cache and
 * started a thread on the instance.  Before, the purge held the
 * list_lock and inst->lock across its madvise calls, and that thread
 * waited for it: the purge gave up waiting after 10 s and the test
 * failed.  The slab freed into meanwhile keeps its bitmap (the free
 * writes no purged page), a second free of the same object is reported,
 * and every object comes back once afterwards.
 */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool started, done, timed_out;
	unsigned calls;
} unl = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, false, false, 0 };

static int waiting_purge(void *p, size_t size, void *arg)
{
	(void)arg;
	pthread_mutex_lock(&unl.lock);
	if (unl.calls++ == 0) {
		unl.started = true;
		pthread_cond_broadcast(&unl.cond);
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 10;
		while (!unl.done && !unl.timed_out)
			unl.timed_out = pthread_cond_timedwait(&unl.cond, &unl.lock, &until) != 0;
	}
	pthread_mutex_unlock(&unl.lock);
	return madvise(p, size, MADV_DONTNEED);
}

static const struct sm_os_ops waiting_os = { .now_ns = frozen_clock, .purge = waiting_purge };

struct unl_work {
	sm_instance_t *inst;
	struct kmem_cache *s;
	void *kept0;                    /* the survivor of slab 0, freed here */
	struct slab *purged[4];         /* slabs the purge has taken */
	void *got[8];                   /* a refill meanwhile */
	unsigned ngot;
};

static void *unl_thread(void *arg)
{
	struct unl_work *w = arg;
	void *p = sm_kmalloc(w->inst, 64, 0); /* a new tcache: inst->lock */
	CHECK(p != NULL);
	sm_kfree(p);
	return NULL;
}

static void *unl_worker(void *arg)
{
	struct unl_work *w = arg;
	pthread_mutex_lock(&unl.lock);
	while (!unl.started)
		pthread_cond_wait(&unl.cond, &unl.lock);
	pthread_mutex_unlock(&unl.lock);
	/* The list_lock: a free into a slab being purged, twice. */
	CHECK_EQ(slab_put_objects(w->s, &w->kept0, 1, false), 1);
	CHECK_EQ(slab_put_objects(w->s, &w->kept0, 1, false), 1); /* reported, dropped */
	/* A refill: never from a slab being purged. */
	struct slab_alloc_context ctx = SLAB_ALLOC_CTX(4096, SLAB_ALLOC_DEFAULT, SM_NO_NODE);
	w->ngot = slab_get_objects(w->s, &ctx, w->got, 8);
	/* inst->lock: a thread's first allocation. */
	pthread_t t;
	CHECK_EQ(pthread_create(&t, NULL, unl_thread, w), 0);
	CHECK_EQ(pthread_join(t, NULL), 0);
	pthread_mutex_lock(&unl.lock);
	unl.done = true;
	pthread_cond_broadcast(&unl.cond);
	pthread_mutex_unlock(&unl.lock);
	return NULL;
}

/* An instance whose OS's purge is waiting_purge, with a cache of 4 KiB objects, 8 to a slab. */
enum { PU_SLABS = 4, PU_PER = 8 };

static sm_instance_t *waiting_instance(struct test_errors *e, const char *name, struct kmem_cache **s)
{
	struct sm_options o = test_options(e);
	o.os = &waiting_os;
	o.helper_thread = false;
	sm_instance_t *inst = sm_instance_create(&o);
	CHECK(inst != NULL);
	*s = sm_cache_create(inst, name, 4096, 0, 0, NULL);
	CHECK(*s != NULL);
	CHECK((*s)->partial_purge && (*s)->slab_pages == PU_PER && (*s)->objects == PU_PER);
	return inst;
}

/*
 * PU_SLABS new slabs of @s from the slab layer (their descriptors in @d),
 * each left with its lowest object out, in obj[i][0], and the other seven
 * freed: seven free pages a slab.
 */
static void survivor_slabs(struct kmem_cache *s, void *obj[PU_SLABS][PU_PER], struct slab **d)
{
	struct slab_alloc_context ctx = SLAB_ALLOC_CTX(4096, SLAB_ALLOC_DEFAULT, SM_NO_NODE);
	for (unsigned i = 0; i < PU_SLABS; i++) {
		CHECK_EQ(slab_get_objects(s, &ctx, obj[i], PU_PER), PU_PER);
		d[i] = slab_of(obj[i][0]);
		for (unsigned j = 0; j < PU_PER; j++)
			memset(obj[i][j], 0x5a, 4096);
	}
	for (unsigned i = 0; i < PU_SLABS; i++) {
		unsigned k = 0;
		for (unsigned j = 1; j < PU_PER; j++)
			if ((uintptr_t)obj[i][j] < (uintptr_t)obj[i][k])
				k = j;
		void *first = obj[i][k];
		obj[i][k] = obj[i][0];
		obj[i][0] = first;
		CHECK_EQ(slab_put_objects(s, obj[i] + 1, PU_PER - 1, false), PU_PER - 1);
	}
}

static void test_purge_unlocked(void)
{
	enum { SLABS = PU_SLABS, PER = PU_PER };
	struct test_errors e = { 0 };
	struct kmem_cache *s;
	sm_instance_t *inst = waiting_instance(&e, "purge-4k", &s);
	struct kmem_cache_node *kcn = s->node[0];
	struct slab_alloc_context ctx = SLAB_ALLOC_CTX(4096, SLAB_ALLOC_DEFAULT, SM_NO_NODE);
	struct unl_work w = { .inst = inst, .s = s };
	void *obj[SLABS][PER];
	survivor_slabs(s, obj, w.purged);
	w.kept0 = obj[0][0];
	CHECK_EQ(kcn->nr_partial, SLABS);

	pthread_t worker;
	CHECK_EQ(pthread_create(&worker, NULL, unl_worker, &w), 0);
	sm_purge(inst, false); /* finds the slabs just touched */
	CHECK_EQ(unl.calls, 0);
	size_t bytes = sm_purge(inst, false);
	CHECK_EQ(pthread_join(worker, NULL), 0);
	CHECK(unl.done);
	CHECK(!unl.timed_out); /* the worker ran while the purge was in its system call */
	CHECK_EQ(bytes, (size_t)SLABS * (PER - 1) * 4096);
	CHECK_EQ(e.count, 1);
	CHECK(strstr(e.last, "double free") != NULL);

	/* The refill made a slab of its own. */
	CHECK_EQ(w.ngot, PER);
	for (unsigned i = 0; i < w.ngot; i++)
		for (unsigned k = 0; k < SLABS; k++)
			CHECK(slab_of(w.got[i]) != w.purged[k]);
	/* Back on their lists: slab 0 empty, the others partial, purged. */
	CHECK(list_empty(&s->purging));
	CHECK_EQ(w.purged[0]->inuse, 0);
	CHECK_EQ(w.purged[0]->on_list, 2);
	check_buckets(s, kcn);
	for (unsigned i = 1; i < SLABS; i++) {
		CHECK(bucket_of(kcn, w.purged[i]) >= 0);
		CHECK(w.purged[i]->purge & SLAB_PURGED);
		if (!under_valgrind())
			for (unsigned j = 1; j < PER; j++)
				CHECK(!page_resident(obj[i][j]));
		const unsigned char *c = obj[i][0];
		CHECK(c[0] == 0x5a && c[4095] == 0x5a);
	}
	/* Every object the slabs hold comes back once. */
	void *again[SLABS * PER];
	unsigned n = slab_get_objects(s, &ctx, again, SLABS * PER - (SLABS - 1));
	CHECK_EQ(n, SLABS * PER - (SLABS - 1));
	for (unsigned i = 0; i < n; i++) {
		bool known = false;
		for (unsigned k = 0; k < SLABS && !known; k++)
			for (unsigned j = (k == 0 ? 0 : 1); j < PER && !known; j++)
				known = again[i] == obj[k][j];
		CHECK(known);
		for (unsigned j = 0; j < i; j++)
			CHECK(again[j] != again[i]);
	}
	CHECK_EQ(slab_put_objects(s, again, n, false), n);
	CHECK_EQ(slab_put_objects(s, w.got, w.ngot, false), w.ngot);
	for (unsigned i = 1; i < SLABS; i++)
		CHECK_EQ(slab_put_objects(s, obj[i], 1, false), 1);
	CHECK_EQ(e.count, 1);
	CHECK_EQ(sm_cache_destroy(s), 0);
	sm_instance_destroy(inst);
}

/*
 * A fork while another thread's purge is in its system call: the child,
 * where that thread is gone, puts the slabs it held off their lists back
 * on them (kmem_cache_fork_child), where its refills find every free
 * object once.  Without that, they stayed on s->purging in the child for
 * ever: never refilled from again.
 */
static void *purge_twice(void *arg)
{
	sm_purge(arg, false); /* finds the slabs just touched */
	sm_purge(arg, false);
	return NULL;
}

static void test_purge_fork(void)
{
	enum { SLABS = PU_SLABS, PER = PU_PER };
	struct test_errors e = { 0 };
	struct kmem_cache *s;
	sm_instance_t *inst = waiting_instance(&e, "purge-fork", &s);
	struct kmem_cache_node *kcn = s->node[0];
	struct slab_alloc_context ctx = SLAB_ALLOC_CTX(4096, SLAB_ALLOC_DEFAULT, SM_NO_NODE);
	void *obj[SLABS][PER];
	struct slab *d[SLABS];
	survivor_slabs(s, obj, d);
	unl.started = unl.done = unl.timed_out = false;
	unl.calls = 0;
	pthread_t purger;
	CHECK_EQ(pthread_create(&purger, NULL, purge_twice, inst), 0);
	pthread_mutex_lock(&unl.lock);
	while (!unl.started)
		pthread_cond_wait(&unl.cond, &unl.lock);
	pthread_mutex_unlock(&unl.lock);
	CHECK(!list_empty(&s->purging)); /* the purger is in its system call */

	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		CHECK(list_empty(&s->purging));
		check_buckets(s, kcn);
		for (unsigned i = 0; i < SLABS; i++) {
			CHECK(bucket_of(kcn, d[i]) >= 0);
			CHECK(d[i]->purge & SLAB_PURGED);
		}
		void *again[SLABS * (PER - 1)];
		CHECK_EQ(slab_get_objects(s, &ctx, again, SLABS * (PER - 1)), SLABS * (PER - 1));
		for (unsigned n = 0; n < SLABS * (PER - 1); n++) {
			bool known = false;
			for (unsigned i = 0; i < SLABS && !known; i++)
				for (unsigned j = 1; j < PER && !known; j++)
					known = again[n] == obj[i][j];
			CHECK(known);
			for (unsigned m = 0; m < n; m++)
				CHECK(again[m] != again[n]);
		}
		CHECK_EQ(e.count, 0);
		_exit(0);
	}
	int st;
	CHECK_EQ(waitpid(pid, &st, 0), pid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	pthread_mutex_lock(&unl.lock);
	unl.done = true;
	pthread_cond_broadcast(&unl.cond);
	pthread_mutex_unlock(&unl.lock);
	CHECK_EQ(pthread_join(purger, NULL), 0);
	CHECK(!unl.timed_out);
	CHECK(list_empty(&s->purging));
	for (unsigned i = 0; i < SLABS; i++)
		CHECK_EQ(slab_put_objects(s, obj[i], 1, false), 1);
	CHECK_EQ(e.count, 0);
	CHECK_EQ(sm_cache_destroy(s), 0);
	sm_instance_destroy(inst);
}

int main(void)
{
	/* The default instance first, its errors this file's to count, and
	   its purge passes the test's to make (no helper thread). */
	struct sm_options o = test_options(&default_errs);
	o.os = &frozen_os;
	o.helper_thread = false;
	CHECK(sm_default_instance_init(&o) == sm_default_instance());
	test_bucket_arithmetic();
	test_fullest_first();
	test_survivors_cluster();
	test_free_pages_purged();
	test_purged_again();
	test_purge_unlocked();
	test_purge_fork();
	printf("partial: ok\n");
	return 0;
}
