/*
 * tcache.c - the thread cache (tcache.h): creating a thread's tcache for an
 * instance, keeping its main sheaf usable for the slow paths (refill when
 * empty, make room when full, trading with the spare and the barn), and
 * giving its sheaves back (thread exit, sm_thread_flush, shrink, destroy).
 */
#include <string.h>

#include "barn.h"
#include "hooks.h"
#include "os.h"
#include "tcache.h"

const struct sheaf_view sm_no_remote_views[SM_MAX_CACHES];

/* A new thread's owner tag (page.h, page_hot): 1..PAGE_HOT_OWNER_MAX, round robin. */
static uint16_t thread_owner_tag(void)
{
	static uint32_t next;
	return (uint16_t)(__atomic_fetch_add(&next, 1, __ATOMIC_RELAXED) % PAGE_HOT_OWNER_MAX + 1);
}

struct tcache *tcache_create(struct sm_instance *inst)
{
	struct slab_alloc_context ctx = SLAB_ALLOC_CTX(sizeof(struct tcache), SLAB_ALLOC_NO_RECURSE,
						       SM_NO_NODE);
	uint32_t npages = (uint32_t)(ALIGN_UP(sizeof(struct tcache), SM_PAGE_SIZE) >> SM_PAGE_SHIFT);
	uint32_t first;
	bool zeroed;
	struct sm_node *n = pa_alloc_pages(&inst->pa, npages, 1, &ctx, &first, &zeroed);
	if (!n)
		return NULL;
	node_mark_internal(n, first);
	struct tcache *tc = node_page_addr(n, first);
	if (!zeroed)
		memset(tc, 0, sizeof(*tc)); /* every view none */
	tc->inst = inst;
	tc->first_page = first;
	tc->npages = npages;
	tc->node_id = (int8_t)pa_local_node(&inst->pa);
	tc->busy = &sm_thread.busy;
	sm_thread.self = sm_thread_token();
	if (!sm_thread.owner_tag)
		sm_thread.owner_tag = thread_owner_tag();
	slab_owner_seen(os_coarse_ns()); /* running, not idle (slab_own_objects) */
	/* The default instance's kmalloc sheaves are the TLS block's, all none
	   (zero) since the thread's last tcache_destroy, if any. */
	tc->kpcs = inst->is_default ? &sm_thread.kmalloc_pcs[1] : tc->pcs;
	/* No remote views but the TLS ones until a remote free needs them
	   (tcache_remote_views): a thread that never frees another's
	   objects of a cache outside the TLS block never has them. */
	tc->remote = (struct sheaf_view *)sm_no_remote_views;
	tc->kremote = inst->is_default ? &sm_thread.kmalloc_remote[1] : tc->remote;
	/* Its pages are the allocator's own, not the program's page runs. */
	__atomic_fetch_add(&inst->internal_bytes, (size_t)npages << SM_PAGE_SHIFT, __ATOMIC_RELAXED);
	sm_lock(&inst->lock);
	list_add(&tc->link, &inst->tcaches);
	inst->tcaches_gen++;
	sm_unlock(&inst->lock);
	/* tc before gen, busy set: a slot whose gen matches has its tcache
	   (tcache_peek_slot_tls relies on it). */
	sm_thread.slots[inst->slot].tc = tc;
	sm_thread.slots[inst->slot].gen = inst->gen;
	return tc;
}

/* The instances this thread is checking a free of, innermost last (only
   the first few are kept: checks nest only through signal handlers). */
#define MAX_NESTED_LOOKS 4
static __thread struct sm_instance *looking[MAX_NESTED_LOOKS];
static __thread unsigned nr_looking;

/*
 * Wait for the double-free checks under way to end, up to DF_LOOK_MAX_NS:
 * spinning first (a look takes microseconds), then yielding the CPU, which
 * a thread preempted in the middle of a move, that the checks wait for,
 * may need.  Never when this thread is checking one itself: its check
 * waits for no move of its own.
 */
void tcache_move_wait(struct tcache *tc)
{
	if (nr_looking)
		return;
	uint64_t end = 0;
	for (unsigned spins = 0; __atomic_load_n(&tc->inst->df_looks, __ATOMIC_RELAXED); spins++) {
		if (spins < 64) {
			cpu_relax();
			continue;
		}
		uint64_t now = os_monotonic_ns();
		if (!end)
			end = now + DF_LOOK_MAX_NS;
		else if (now > end)
			return;
		os_yield();
	}
}

void tcache_hold_moves(struct sm_instance *inst)
{
	if (nr_looking < MAX_NESTED_LOOKS)
		looking[nr_looking] = inst;
	nr_looking++;
	__atomic_fetch_add(&inst->df_looks, 1, __ATOMIC_RELAXED);
}

void tcache_release_moves(struct sm_instance *inst)
{
	__atomic_fetch_sub(&inst->df_looks, 1, __ATOMIC_RELAXED);
	nr_looking--;
}

void tcache_moves_fork_child(struct sm_instance *inst)
{
	uint32_t mine = 0;
	for (unsigned i = 0; i < MIN(nr_looking, (unsigned)MAX_NESTED_LOOKS); i++)
		mine += looking[i] == inst;
	inst->df_looks = mine;
}

/* Set @v to none without a move: another thread's view (tcache_release_sheaves). */
static void view_clear_foreign(struct sheaf_view *v)
{
	WRITE_ONCE(v->capacity, 0);
	__atomic_store_n(&v->size, 0, __ATOMIC_RELEASE);
	__atomic_store_n(&v->objects, NULL, __ATOMIC_RELEASE);
}

void tcache_release_sheaves(struct tcache *tc, struct kmem_cache *s, bool own)
{
	struct pcs *c = tcache_pcs(tc, s->id);
	struct node_barn *barn = tcache_barn(tc, s);
	struct sheaf_view *rv = tcache_remote(tc, s->id);
	struct slab_sheaf *m = main_sync(&tc->allocs[s->id], c), *sp = c->spare;
	struct slab_sheaf *r = view_sync(rv);
	if (own) {
		tcache_move_begin_nowait(tc); /* inst->lock may be held */
		view_install(tc, &c->main, NULL);
		if (r) /* sm_no_remote_views is never written */
			view_install(tc, rv, NULL);
	} else {
		view_clear_foreign(&c->main);
		if (r)
			view_clear_foreign(rv);
	}
	WRITE_ONCE(c->spare, NULL);
	if (m)
		barn_return_sheaf(s, barn, m);
	if (sp)
		barn_return_sheaf(s, barn, sp);
	if (r) {
		sheaf_flush(s, r); /* home, not into another thread's main */
		barn_return_sheaf(s, barn, r);
	}
	if (own)
		tcache_move_end(tc);
}

void tcache_release_all(struct tcache *tc)
{
	struct sm_instance *inst = tc->inst;
	for (unsigned id = 0; id < SM_MAX_CACHES; id++) {
		struct pcs *c = tcache_pcs(tc, id);
		if (c->main.capacity || c->spare || tcache_remote(tc, id)->capacity)
			tcache_release_sheaves(tc, inst->cache_by_id[id], true);
	}
}

/*
 * Give back @tc's sheaves of the kmalloc caches, without inst->lock: those
 * caches are never destroyed (an instance's go with it, and thread_exit
 * keeps any but the default instance alive meanwhile), and only @tc's
 * owner releases its sheaves of them (inst_reclaim and sm_cache_shrink
 * release the caller's own tcache only).  @tc is still on inst->tcaches,
 * so the double-free look and the statistics read its views racily, as
 * they do while an owner's slow path trades them.  Owner (or the fork
 * child) only, busy set.
 */
static void tcache_release_kmalloc(struct tcache *tc)
{
	struct sm_instance *inst = tc->inst;
	for (unsigned id = 0; id < SM_NR_KMALLOC; id++) {
		struct pcs *c = tcache_pcs(tc, id);
		if (c->main.capacity || c->spare || tcache_remote(tc, id)->capacity)
			tcache_release_sheaves(tc, &inst->kmalloc_caches[id], true);
	}
}

void tcache_destroy(struct tcache *tc)
{
	struct sm_instance *inst = tc->inst;
	/* Most of the work, before the instance lock: exiting threads and
	   threads making their tcache (tcache_create) do not queue on it for
	   the barn and slab work of their kmalloc sheaves. */
	tcache_release_kmalloc(tc);
	sm_lock(&inst->lock);
	tcache_release_all(tc); /* the other caches': destroy needs the lock */
	/* Its counts outlive it in the caches (STAT_ALLOC_EXITED). */
	for (unsigned id = 0; id < SM_MAX_CACHES; id++)
		if (tc->allocs[id] && inst->cache_by_id[id])
			__atomic_fetch_add(&inst->cache_by_id[id]->stat[STAT_ALLOC_EXITED], tc->allocs[id],
					   __ATOMIC_RELAXED);
	__atomic_fetch_add(&inst->exited_reallocs, tc->reallocs, __ATOMIC_RELAXED);
	__atomic_fetch_add(&inst->large_allocs, tc->runs.allocs, __ATOMIC_RELAXED);
	__atomic_fetch_add(&inst->large_bytes_requested, tc->runs.bytes, __ATOMIC_RELAXED);
	__atomic_fetch_add(&inst->large_frees, tc->runs.frees, __ATOMIC_RELAXED);
	bool views = tc->remote != sm_no_remote_views;
	__atomic_fetch_sub(&inst->internal_bytes,
			   (size_t)(tc->npages + (views ? TCACHE_REMOTE_PAGES : 0)) << SM_PAGE_SHIFT,
			   __ATOMIC_RELAXED);
	list_del(&tc->link);
	inst->tcaches_gen++;
	sm_unlock(&inst->lock);
	runcache_flush(&tc->runs, UINT64_MAX);
	uint64_t now = inst_now(inst);
	if (views) /* no other thread looks at them once tc is off the list */
		node_free_pages(node_of(tc->remote), tc->remote_first, TCACHE_REMOTE_PAGES, now, false);
	struct sm_node *n = node_of(tc);
	node_free_pages(n, tc->first_page, tc->npages, now, false);
}

/*
 * The slow paths below work on sheaves: the views' counts are written back
 * first (view_sync) and the views installed again before returning
 * (view_install), all with busy set, so that no fast path of this thread
 * runs in between.
 */

static bool refill_main(struct tcache *tc, struct kmem_cache *s, const struct slab_alloc_context *ctx)
{
	struct pcs *c = tcache_pcs(tc, s->id);
	if (c->main.size)
		return true; /* the caller did not look (no tcache at the fast path) */
	struct slab_sheaf *m = main_sync(&tc->allocs[s->id], c), *sp = c->spare;
	if (sp && sp->size) {
		/* The spare holds objects (full, as main was when it left): it
		   becomes main, the empty main (if any) the spare. */
		view_install(tc, &c->main, sp);
		WRITE_ONCE(c->spare, m);
		return true;
	}
	struct sheaf_view *rv = tcache_remote(tc, s->id);
	if (m && rv->capacity && rv->size >= tcache_remote_reuse(rv)) {
		/* Nothing of our own, and half a sheaf of other threads'
		   objects waiting, which have been free a while: used here
		   (a bounded delay) rather than traded at the barn.  The
		   empty main becomes the remote sheaf. */
		struct slab_sheaf *r = view_sync(rv);
		view_install(tc, rv, m);
		main_install_taken(tc, c, r);
		return true;
	}
	if (unlikely(!m)) {
		if (unlikely(s->debug))
			return false; /* slab_debug: no sheaves (debug.h) */
		m = sheaf_alloc(s, ctx);
		if (!m)
			return false;
		view_install(tc, &c->main, m);
	}
	struct node_barn *barn = tcache_barn(tc, s);
	if (!sp) {
		/* Keep the empty main as the spare; take a full one if the barn has it. */
		struct slab_sheaf *full = barn_get_full_sheaf(s, barn, false);
		if (full) {
			WRITE_ONCE(c->spare, m);
			main_install_taken(tc, c, full);
			return true;
		}
	} else {
		struct slab_sheaf *empty = m;
		struct slab_sheaf *full = barn_replace_empty_sheaf(s, barn, &empty, false);
		if (full) {
			main_install_taken(tc, c, full);
			if (empty)
				sheaf_free(empty); /* the barn has enough empties */
			return true;
		}
	}
	/* From the slabs.  A thread on a NUMA node with a node bound to it
	   fills from that node alone first (its partial slabs, else a new
	   slab there), then from anywhere.  node_id is looked up again every
	   256 such refills, as threads move between CPUs (no system call
	   unless a node is bound: pa_local_node). */
	if (unlikely(++tc->numa_tick == 0))
		tc->node_id = (int8_t)pa_local_node(s->pa);
	if (unlikely(tc->node_id > 0) && ctx->node == SM_NO_NODE) {
		struct slab_alloc_context local = *ctx;
		local.node = tc->node_id;
		local.alloc_flags |= SLAB_ALLOC_THISNODE;
		if (sheaf_refill(s, m, &local)) {
			view_install(tc, &c->main, m);
			return true;
		}
	}
	bool got = sheaf_refill(s, m, ctx) != 0;
	view_install(tc, &c->main, m);
	return got;
}

bool tcache_refill_main(struct tcache *tc, struct kmem_cache *s, const struct slab_alloc_context *ctx)
{
	tcache_move_begin(tc);
	bool ok = refill_main(tc, s, ctx);
	tcache_move_end(tc);
	return ok;
}

/* A new empty sheaf for @s (NULL: no memory). */
static struct slab_sheaf *new_sheaf(struct kmem_cache *s)
{
	struct slab_alloc_context ctx = SLAB_ALLOC_CTX(0, SLAB_ALLOC_DEFAULT, SM_NO_NODE);
	return sheaf_alloc(s, &ctx);
}

/* An empty sheaf for @s: the barn's, or a new one (NULL: none to be had). */
static struct slab_sheaf *empty_sheaf(struct kmem_cache *s, struct node_barn *barn)
{
	struct slab_sheaf *e = barn_get_empty_sheaf(s, barn, false);
	return e ? e : new_sheaf(s);
}

static bool make_room(struct tcache *tc, struct kmem_cache *s)
{
	struct pcs *c = tcache_pcs(tc, s->id);
	if (c->main.size < c->main.capacity)
		return true; /* the caller did not look (no tcache at the fast path) */
	struct node_barn *barn = tcache_barn(tc, s);
	struct slab_sheaf *m = main_sync(&tc->allocs[s->id], c), *sp = c->spare;
	if (!m) {
		m = empty_sheaf(s, barn);
		view_install(tc, &c->main, m);
		return m != NULL;
	}
	/* Main is full. */
	if (sp && sp->size < sp->capacity) {
		/* The spare has room (empty, as main was when it left): it
		   becomes main, the full main the spare. */
		view_install(tc, &c->main, sp);
		WRITE_ONCE(c->spare, m);
		return true;
	}
	if (!sp) {
		/* Keep the full main as the spare, for the next malloc that
		   finds main dry; an empty sheaf becomes main. */
		struct slab_sheaf *e = empty_sheaf(s, barn);
		if (e) {
			view_install(tc, &c->main, e);
			WRITE_ONCE(c->spare, m);
			return true;
		}
		/* No sheaf to be had for main: its objects go back to their
		   slabs. */
		sheaf_flush(s, m);
		view_install(tc, &c->main, m);
		return true;
	}
	/*
	 * Both are full.  The spare, the older objects, goes to the barn for
	 * an empty sheaf (or back to its slabs when the barn is full); the
	 * full main, the objects freed last, becomes the spare, for the next
	 * malloc that finds main dry; the empty sheaf becomes main.
	 */
	WRITE_ONCE(c->spare, NULL); /* not ours to look at once the barn has it */
	struct slab_sheaf *e;
	if (barn_replace_full_sheaf(s, barn, sp, &e, false)) {
		if (!e)
			e = new_sheaf(s); /* the barn had no empty one to give back */
		if (!e)
			return false; /* main stays full, and no spare */
	} else {
		sheaf_flush(s, sp);
		e = sp;
	}
	view_install(tc, &c->main, e);
	WRITE_ONCE(c->spare, m);
	return true;
}

bool tcache_make_room(struct tcache *tc, struct kmem_cache *s)
{
	tcache_move_begin(tc);
	bool ok = make_room(tc, s);
	tcache_move_end(tc);
	return ok;
}

/*
 * Give @tc its own remote views (tcache.h, remote): a page run of its
 * instance, all none.  False when there is no memory for it.  Owner only,
 * busy set.
 */
static bool tcache_remote_views(struct tcache *tc)
{
	struct sm_instance *inst = tc->inst;
	struct slab_alloc_context ctx = SLAB_ALLOC_CTX(TCACHE_REMOTE_PAGES << SM_PAGE_SHIFT,
						       SLAB_ALLOC_NO_RECURSE, SM_NO_NODE);
	uint32_t first;
	bool zeroed;
	struct sm_node *n = pa_alloc_pages(&inst->pa, TCACHE_REMOTE_PAGES, 1, &ctx, &first, &zeroed);
	if (!n)
		return false;
	node_mark_internal(n, first);
	struct sheaf_view *v = node_page_addr(n, first);
	if (!zeroed)
		memset(v, 0, (size_t)TCACHE_REMOTE_PAGES << SM_PAGE_SHIFT);
	__atomic_fetch_add(&inst->internal_bytes, (size_t)TCACHE_REMOTE_PAGES << SM_PAGE_SHIFT,
			   __ATOMIC_RELAXED);
	tc->remote_first = first;
	/* Release: a thread that finds the new array finds it zeroed. */
	if (tc->kremote == tc->remote)
		__atomic_store_n(&tc->kremote, v, __ATOMIC_RELEASE);
	__atomic_store_n(&tc->remote, v, __ATOMIC_RELEASE);
	return true;
}

static bool free_remote(struct tcache *tc, struct kmem_cache *s, void *p)
{
	struct sheaf_view *rv = tcache_remote(tc, s->id);
	if (unlikely(rv == &sm_no_remote_views[s->id])) {
		if (!tcache_remote_views(tc))
			return false;
		rv = tcache_remote(tc, s->id);
	}
	struct slab_sheaf *r = view_sync(rv);
	if (!r) {
		r = empty_sheaf(s, tcache_barn(tc, s));
	} else {
		/* Not ours to look at once the barn has it. */
		view_install(tc, rv, NULL);
		struct slab_sheaf *e;
		if (barn_replace_full_sheaf(s, tcache_barn(tc, s), r, &e, false))
			r = e ? e : new_sheaf(s);
		else
			sheaf_flush(s, r);
	}
	view_install(tc, rv, r);
	return r && tcache_remote_push(tc, s, p);
}

bool tcache_free_remote(struct tcache *tc, struct kmem_cache *s, void *p)
{
	tcache_move_begin(tc);
	bool ok = free_remote(tc, s, p);
	tcache_move_end(tc);
	return ok;
}

/*
 * Whether view @v of @inst holds @p, as far as one racy read tells: the
 * caller trusts the answer only if no move of the view's tcache overlapped
 * the read (tcache_move_begin).  Entries below the count were free
 * objects when it was read: an object the caller holds was handed out
 * before, so finding it means it was freed again.  The test hook between
 * the loads lets a unit test change the view there (hooks.h).
 */
static bool view_holds(struct sm_instance *inst, const struct sheaf_view *v, const void *p)
{
	void **objs = __atomic_load_n(&v->objects, __ATOMIC_ACQUIRE);
	SM_HOOK(inst, SM_HOOK_VIEW_READ);
	uint32_t n = __atomic_load_n(&v->size, __ATOMIC_ACQUIRE);
	SM_HOOK(inst, SM_HOOK_VIEW_READ);
	n = MIN(n, (uint32_t)__atomic_load_n(&v->capacity, __ATOMIC_ACQUIRE));
	SM_HOOK(inst, SM_HOOK_VIEW_READ);
	for (uint32_t i = 0; objs && i < n; i++)
		if (READ_ONCE(objs[i]) == p)
			return true;
	return false;
}

bool tcache_views_hold(struct tcache *tc, const struct kmem_cache *s, const void *p)
{
	const struct pcs *c = tcache_pcs(tc, s->id);
	const struct slab_sheaf *sp = READ_ONCE(c->spare);
	return (sp && sheaf_holds(sp, p)) || view_holds(tc->inst, &c->main, p) ||
	       view_holds(tc->inst, tcache_remote(tc, s->id), p);
}

int tcache_holds(struct tcache *tc, const struct kmem_cache *s, const void *p)
{
	/* In the middle of a move a view may pair one sheaf's array with
	   another's count: what it seems to hold proves nothing. */
	if (READ_ONCE(tc->view_seq) & 1)
		return -1;
	return tcache_views_hold(tc, s, p);
}

void sm_thread_flush(sm_instance_t *inst)
{
	struct tcache *tc = tcache_mine(inst);
	if (!tc)
		return;
	bool nested = sm_enter();
	if (!nested) { /* from a signal handler: nothing can be done without blocking */
		sm_lock(&inst->lock);
		tcache_release_all(tc);
		sm_unlock(&inst->lock);
		runcache_flush(&tc->runs, UINT64_MAX); /* its page runs too */
	}
	sm_leave(nested);
}
