/*
 * tcache.h - the thread cache: a thread's sheaves for one instance, a main
 * and a spare sheaf per cache (the kernel's per-CPU slub_percpu_sheaves;
 * here per thread, as userspace cannot pin a CPU).  Allocations pop from
 * main and frees push onto it, the spare is turned to on the slow paths
 * only (thread.h, struct pcs); frees of objects of slabs other threads own
 * go to a third, remote sheaf (docs/architecture.md section 4, "Remote
 * frees").
 *
 * A thread finds its tcache for an instance in sm_thread.slots[] (thread.h),
 * indexed by the instance's registry slot; the slot is valid only while its
 * generation matches the instance's, so a tcache of a destroyed instance is
 * never followed.  Only the owning thread touches its sheaves, with the
 * exceptions stated at kmem_cache_destroy, the statistics and the fork
 * child.  A tcache is a page run of its instance (6 pages), linked on
 * inst->tcaches under inst->lock.
 */
#ifndef SM_TCACHE_H
#define SM_TCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "compiler.h"
#include "instance.h"
#include "list.h"
#include "runcache.h"
#include "sheaf.h"
#include "slab.h"
#include "slabmalloc.h"
#include "thread.h"

struct tcache {
	/*
	 * The fields every thread uses come first and the arrays by cache id
	 * after them, so that a thread of the default instance, whose kmalloc
	 * sheaves are in its TLS block (kpcs, kremote), touches the first
	 * page of its tcache alone: the header, the run cache and allocs[]
	 * of the kmalloc caches.  pcs[] (16 KiB) is reached only for caches
	 * made with sm_cache_create and for other instances.
	 */
	struct sm_instance *inst;
	const volatile uint8_t *busy;   /* the owner's sm_thread.busy (read by
	                                   the fork child only) */
	struct list_head link;          /* on inst->tcaches, under inst->lock */
	uint32_t first_page, npages;    /* the page run holding this tcache */
	int8_t node_id;                 /* whose barns it exchanges with, and the
	                                   node its refills prefer: a general
	                                   node bound to the thread's NUMA node
	                                   (pa_local_node), else 0 */
	uint8_t numa_tick;              /* refills until node_id is looked up again */
	uint32_t remote_first;          /* the page run holding remote, if any */
	uint32_t view_seq;              /* odd while the owner moves objects into
	                                   or out of its sheaves, from the first
	                                   view or spare it changes until every
	                                   object is where it goes (a barn, a
	                                   slab): the seqcount the double-free
	                                   check reads them in (tcache_move_begin) */
	struct pcs *kpcs;               /* the sheaves of the kmalloc caches, by
	                                   id: for the default instance the
	                                   owner's sm_thread.kmalloc_pcs + 1
	                                   (thread.h), else pcs */
	struct sheaf_view *kremote;     /* the remote sheaves of the kmalloc
	                                   caches, by id: for the default
	                                   instance the owner's
	                                   sm_thread.kmalloc_remote + 1, else
	                                   remote (as kpcs) */
	struct sheaf_view *remote;      /* by cache id (see kremote): objects
	                                   of slabs other threads own
	                                   (page.h), freed here; traded at the
	                                   barn when full, allocated from only
	                                   as tcache_remote_reuse says.  An
	                                   array of SM_MAX_CACHES views in a
	                                   page run of the instance, made by
	                                   the first remote free that needs
	                                   one (tcache_free_remote); until
	                                   then sm_no_remote_views, every view
	                                   none and never written.  Changed by
	                                   the owner only (busy set), read
	                                   racily like the views */
	uint64_t reallocs;              /* sm_krealloc calls of this thread
	                                   (statistics, as allocs) */
	struct run_cache runs;          /* freed page runs (runcache.h): the
	                                   owner fills it; any thread holding
	                                   inst->lock may flush it */
	/*
	 * Statistics, written by the owner on its slow paths only (relaxed
	 * stores: the statistics read them from other threads).  allocs[id]:
	 * objects of cache id popped from main sheaves that have been synced
	 * since (main_sync); the pops of the main installed now are its
	 * sheaf's stale size plus the pcs's pushes minus the view's count
	 * (main_pops).  Folded into the caches' STAT_ALLOC_EXITED when the
	 * tcache goes.
	 */
	uint64_t allocs[SM_MAX_CACHES];
	struct pcs pcs[SM_MAX_CACHES];  /* by cache id (see kpcs) */
};
_Static_assert(offsetof(struct tcache, allocs[SM_NR_KMALLOC]) <= SM_PAGE_SIZE,
	       "a default-instance thread's tcache fields in its first page");

/*
 * The sheaves of cache @id in @tc, as the fast paths use them.  The
 * default instance's kmalloc sheaves live in the owner's TLS block, at a
 * constant offset from the thread pointer (what malloc and free use
 * directly); every other cache's in the tcache.
 */
static __always_inline struct pcs *tcache_pcs(struct tcache *tc, unsigned id)
{
	return (id < SM_NR_KMALLOC ? tc->kpcs : tc->pcs) + id;
}

/* The remote views of a tcache that has made none yet: all none, read only. */
extern const struct sheaf_view sm_no_remote_views[SM_MAX_CACHES] __hidden;
#define TCACHE_REMOTE_PAGES ((uint32_t)((sizeof(struct sheaf_view) * SM_MAX_CACHES + SM_PAGE_SIZE - 1) \
					>> SM_PAGE_SHIFT))

/*
 * The remote sheaf of cache @id in @tc, as a view (installed, synced and
 * read like a main view): in the owner's TLS block for the
 * default instance's kmalloc caches, else in the tcache.
 */
static __always_inline struct sheaf_view *tcache_remote(struct tcache *tc, unsigned id)
{
	/* Acquire: the views a new array holds were zeroed before it was
	   published (tcache_remote_views), for the other threads' racy look
	   too; a plain load on x86-64. */
	return (id < SM_NR_KMALLOC ? __atomic_load_n(&tc->kremote, __ATOMIC_ACQUIRE)
				   : __atomic_load_n(&tc->remote, __ATOMIC_ACQUIRE)) + id;
}

/*
 * The sheaf installed in @v, or NULL.  While installed, @v->size is the
 * count and the sheaf's own size is stale: call view_sync first when the
 * sheaf itself is to be read or handed on.
 */
static inline struct slab_sheaf *view_sheaf(const struct sheaf_view *v)
{
	if (!v->capacity)
		return NULL;
	return (struct slab_sheaf *)((char *)v->objects - offsetof(struct slab_sheaf, objects));
}

/* Write @v's count back to its sheaf; returns the sheaf (NULL: none). */
static inline struct slab_sheaf *view_sync(struct sheaf_view *v)
{
	struct slab_sheaf *sh = view_sheaf(v);
	if (sh)
		WRITE_ONCE(sh->size, v->size);
	return sh;
}

/*
 * A move of @tc's sheaves (the kernel's write_seqcount_begin/end on
 * tc->view_seq): every change of one of @tc's views or of a spare, and
 * every trade of a sheaf with a barn or of objects with the slabs on @tc's
 * behalf, runs between tcache_move_begin and tcache_move_end, so that an
 * object in a sheaf on its way between @tc and a barn or its slabs, in
 * neither place, is inside an odd count.  The double-free check
 * (double_free.c, obj_is_free) reads the counts of every other thread's tcache
 * before and after its look at the slabs, the barns and their sheaves,
 * and believes a "not found" only if none changed: a sheaf that moved
 * meanwhile from a thread to a place already looked at would hide a
 * freed object.  Owner only (or a thread that owns @tc's owner's state:
 * destroy, fork child), busy set; moves do not nest.  Pushes and pops
 * change a count alone and stay outside: an object pushed or popped during
 * the look was freed or allocated by the program then.  The check waits
 * for an odd count with no lock held, so a move may take any lock.
 *
 * While a check runs (inst->df_looks), a move first waits for it to end
 * (tcache_move_wait), for as long as a check may last (DF_LOOK_MAX_NS):
 * the check needs one instant at which no other thread is in the middle
 * of a move, and threads that move their sheaves every few microseconds,
 * or whose moves make system calls (a refill that maps a slab's pages),
 * are otherwise in one nearly always; a wait shorter than the check's
 * own waits only thinned them out, and a check then gave up and kept a
 * live object (unit.threads, look_outlasts_moves).  Only the moves of the
 * slow paths wait, which hold no lock there: tcache_move_begin_nowait is
 * for the release of a thread's sheaves, made under inst->lock (which the
 * check needs) or at thread exit; such a move overlapping a look makes
 * it look again.
 */
void tcache_move_wait(struct tcache *tc) __hidden __cold;

/*
 * How long a double-free check may look again while other threads' moves
 * overlap its looks before it keeps the object (double_free.c), and so how
 * long a move waits for the checks under way.  Reached only when a thread
 * is preempted or blocked in the middle of a move for that long: a check
 * otherwise ends in microseconds (docs/benchmarks.md, "The double-free
 * check looks again when sheaves moved").
 */
#define DF_LOOK_MAX_NS (250ull * 1000 * 1000)

/*
 * A double-free check of @inst begins (tcache_hold_moves) or ends
 * (tcache_release_moves): while any runs, inst->df_looks is non-zero and
 * the slow paths' moves wait (tcache_move_begin).  Each thread keeps the
 * instances it is checking (a signal handler may check inside a check),
 * so that the fork child counts only the checks of the thread that
 * survived (tcache_moves_fork_child): one of a thread that did not come
 * along would hold every move of the child back for ever.
 */
void tcache_hold_moves(struct sm_instance *inst) __hidden;
void tcache_release_moves(struct sm_instance *inst) __hidden;
void tcache_moves_fork_child(struct sm_instance *inst) __hidden;

/* A move that does not wait for the checks under way (see above). */
static inline void tcache_move_begin_nowait(struct tcache *tc)
{
	SM_BUG_ON(tc->view_seq & 1);
	__atomic_store_n(&tc->view_seq, tc->view_seq + 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE); /* odd before anything moves */
}

/* A move of a slow path: no lock held. */
static inline void tcache_move_begin(struct tcache *tc)
{
	if (unlikely(__atomic_load_n(&tc->inst->df_looks, __ATOMIC_RELAXED)))
		tcache_move_wait(tc);
	tcache_move_begin_nowait(tc);
}

static inline void tcache_move_end(struct tcache *tc)
{
	__atomic_store_n(&tc->view_seq, tc->view_seq + 1, __ATOMIC_RELEASE);
}

/*
 * Point @v, a view of @tc, at the array @objs with @size objects and @cap
 * room, for view_install and the turn of main and spare, inside a move
 * (tcache_move_begin).  Only the owner (busy set) or a thread that owns
 * @tc's owner's state (destroy, fork child) writes a view; other threads
 * read it racily (the double-free check), and must never pair one
 * sheaf's array with another's count: the array of a main that malloc
 * emptied still holds the objects it handed out, and a count read with it
 * would make them look free (a live object reported as a double free).
 * The move's odd count tells them.  Within it the count still goes to 0
 * before the array changes and capacity 0 means none, for the statistics,
 * which read views without the seqcount (view_count).  Release stores:
 * plain moves on x86-64.
 */
static inline void view_point(struct tcache *tc, struct sheaf_view *v, void **objs, uint32_t size,
			      uint16_t cap)
{
	SM_BUG_ON(!(tc->view_seq & 1));
	(void)tc;
	WRITE_ONCE(v->capacity, 0);
	__atomic_store_n(&v->size, 0, __ATOMIC_RELEASE);
	__atomic_store_n(&v->objects, objs, __ATOMIC_RELEASE);
	__atomic_store_n(&v->size, size, __ATOMIC_RELEASE);
	__atomic_store_n(&v->capacity, cap, __ATOMIC_RELEASE);
}

/* Install @sh (NULL: none) in @v, a view of @tc (view_point says who may). */
static inline void view_install(struct tcache *tc, struct sheaf_view *v, struct slab_sheaf *sh)
{
	if (sh)
		v->tag = cache_check_tag(sh->cache);
	view_point(tc, v, sh ? sh->objects : NULL, sh ? sh->size : 0, sh ? (uint16_t)sh->capacity : 0);
}

/*
 * Install @sh, a full sheaf that comes from the barn or from the remote
 * sheaf, as @c's main (view_install), and take the slabs of its objects
 * whose owners are idle (slab_own_sheaf): every place a sheaf of others'
 * frees becomes a thread's main goes through here.  Inside a move, busy
 * set.
 */
static inline void main_install_taken(struct tcache *tc, struct pcs *c, struct slab_sheaf *sh)
{
	view_install(tc, &c->main, sh);
	slab_own_sheaf(sh->objects, sh->size);
}

static inline size_t view_count(const struct sheaf_view *v)
{
	return MIN(READ_ONCE(v->size), READ_ONCE(v->capacity));
}

/*
 * The pops from @c's main since its sheaf @sh was installed: every object
 * it holds now was there at install (the sheaf's stale size) or pushed
 * since (@c->pushes), and every other was popped.  Racy for another
 * thread's pcs (the statistics): clamped at 0.
 */
static inline uint64_t main_pops(const struct pcs *c, const struct slab_sheaf *sh)
{
	uint64_t in = (uint64_t)MIN(READ_ONCE(sh->size), READ_ONCE(c->main.capacity)) + READ_ONCE(c->pushes);
	uint64_t now = view_count(&c->main);
	return in > now ? in - now : 0;
}

/*
 * view_sync for the main view of @c: also counts into *@allocs the
 * objects popped since the sheaf was installed (main_pops), and starts
 * pushes again from 0 for the next.  Returns the sheaf (NULL: none).
 * Owner only, busy set.
 */
static inline struct slab_sheaf *main_sync(uint64_t *allocs, struct pcs *c)
{
	struct slab_sheaf *sh = view_sheaf(&c->main);
	if (sh) {
		WRITE_ONCE(*allocs, *allocs + main_pops(c, sh));
		WRITE_ONCE(sh->size, c->main.size);
		WRITE_ONCE(c->pushes, 0);
	}
	return sh;
}

/*
 * The calling thread's tcache of the instance in registry slot @slot with
 * generation @gen, or NULL (none yet, or a kick pending: the slow path sees
 * to both).  No call, so the fast paths that use it need no stack frame.
 */
static __always_inline struct tcache *tcache_peek_slot(unsigned slot, uint64_t gen)
{
	struct sm_tls_slot *sl = &sm_thread.slots[slot];
	return likely(sl->gen == gen) ? sl->tc : NULL;
}

/*
 * tcache_peek_slot for the fast paths of the caches and instances
 * (fastpath.h), through the thread pointer (%fs-relative loads, as
 * malloc's views: thread.h, sm_tls), one address computation fewer.
 * They write no slot: the compiler takes __seg_fs and generic accesses
 * for unrelated memory, so a function that writes a slot reads it with
 * tcache_peek_slot.
 *
 * @live (a constant): @gen is the generation of a registered cache's
 * instance (s->inst_gen), never 0.  A slot whose gen is such a
 * generation has its tcache: tcache_create stores tc before gen and
 * thread_exit clears gen before tc, both with busy set, which the fast
 * paths test before they come here (a signal handler that lands between
 * the two stores takes the nolock path); a kick only ever sets gen to a
 * value with SM_GEN_KICK or back to the generation while tc stays.  So
 * the generation test alone decides, and tc is not tested for NULL
 * again.  Not so for an instance's own gen (slab_alloc): the default
 * instance's is 0 until it is set up, as is an empty slot's, and an -O0
 * build's malloc comes through there first (unit.instance).
 */
static __always_inline struct tcache *tcache_peek_slot_tls(unsigned slot, uint64_t gen, bool live)
{
	const struct sm_tls_slot SM_TLS_SEG *sl = &sm_tls()->slots[slot];
	if (unlikely(sl->gen != gen))
		return NULL;
	struct tcache *tc = sl->tc;
	if (live && !tc)
		__builtin_unreachable();
	return tc;
}

/* @inst's thread slot.  The default instance always has slot 0: a
   constant when inst is known. */
static __always_inline unsigned tcache_slot(const struct sm_instance *inst)
{
	return __builtin_constant_p(inst == &sm_default_inst) && inst == &sm_default_inst ? 0 : inst->slot;
}

static __always_inline struct tcache *tcache_peek(struct sm_instance *inst)
{
	return tcache_peek_slot(tcache_slot(inst), inst->gen);
}

/*
 * The calling thread's tcache of @inst, kick pending or not (NULL: none).
 * For the slow paths that give its sheaves back; the fast paths use
 * tcache_peek, which a pending kick makes miss.
 */
static inline struct tcache *tcache_mine(struct sm_instance *inst)
{
	struct sm_tls_slot *sl = &sm_thread.slots[inst->slot];
	return (sl->gen & ~SM_GEN_KICK) == inst->gen ? sl->tc : NULL;
}

/* The barn @tc exchanges sheaves of @s with. */
static inline struct node_barn *tcache_barn(const struct tcache *tc, struct kmem_cache *s)
{
	return &s->node[tc->node_id]->barn;
}

/*
 * Create this thread's tcache for @inst and publish it in the thread's slot.
 * NULL if there is no memory for it.  Busy set by the caller.
 */
struct tcache *tcache_create(struct sm_instance *inst) __hidden;
/*
 * Return every sheaf of @tc to the barns and free it.  Called by its thread
 * (or the fork child), busy set; takes inst->lock only for the caches
 * other than kmalloc's and to unlink @tc.
 */
void tcache_destroy(struct tcache *tc) __hidden;

/* Give back every sheaf of @tc (tcache_release_sheaves for each cache).  Caller holds inst->lock. */
void tcache_release_all(struct tcache *tc) __hidden;

/*
 * Give @tc's sheaves of @s back to the barn (full ones kept there, the
 * rest flushed to slabs); @tc then has none for @s.  Caller holds
 * inst->lock, and @tc is its own (@own) or its owner is not using @s; or
 * @s is a kmalloc cache and @tc the caller's own (tcache_destroy at thread
 * exit).  Only with @own is it a move (tcache_move_begin): another
 * thread's count is its owner's to write, and the double-free check,
 * which holds inst->lock while it looks, cannot see the sheaves of such a
 * release on their way.
 */
void tcache_release_sheaves(struct tcache *tc, struct kmem_cache *s, bool own) __hidden;

/*
 * Whether the caller's own tcache @tc holds @p in its sheaves of @s: 1 yes,
 * 0 no, -1 cannot tell: a signal handler interrupted a move of @tc's
 * sheaves (view_seq odd), and the object may be in a sheaf on its way.
 * Busy set, so nothing else changes them meanwhile.
 */
int tcache_holds(struct tcache *tc, const struct kmem_cache *s, const void *p) __hidden;

/*
 * Whether another thread's tcache @tc held @p in its sheaves of @s, as far
 * as one racy read of its views and spare tells.  The caller believes the
 * answer only if @tc's view_seq was even before and the same after
 * (tcache_move_begin): a read that a move overlapped may pair an array
 * with another view's count, and finding an object that way proves
 * nothing.  Caller holds inst->lock (@tc stays).
 */
bool tcache_views_hold(struct tcache *tc, const struct kmem_cache *s, const void *p) __hidden;

/* Objects in @tc's sheaves of @s (racy for another thread's tcache). */
static inline size_t tcache_count(struct tcache *tc, const struct kmem_cache *s)
{
	const struct pcs *c = tcache_pcs(tc, s->id);
	const struct slab_sheaf *sp = READ_ONCE(c->spare);
	return view_count(&c->main) + (sp ? sheaf_count_racy(sp) : 0) + view_count(tcache_remote(tc, s->id));
}

/*
 * The common turn of a thread's sheaves, without the barn: main is dry and
 * the spare holds objects (@for_alloc), or main is full and the spare has
 * room, so the two trade places.  Returns false when that does not apply
 * (no spare, or it is not what the caller needs).  Busy set.  @c is @tc's
 * pcs of the cache and @allocs its count (tcache.allocs).
 */
static __always_inline bool tcache_swap(struct tcache *tc, struct pcs *c, uint64_t *allocs, bool for_alloc)
{
	struct sheaf_view *m = &c->main;
	struct slab_sheaf *b = c->spare;
	uint32_t n = m->size, cap = m->capacity;
	if (!b || !cap || (for_alloc ? n || !b->size : n < cap || b->size >= b->capacity))
		return false;
	/*
	 * main_sync and view_install, with what they would read taken from
	 * the view: its count n, and its tag, which stays (both sheaves are
	 * of one cache).  The spare's size is authoritative, as it is
	 * installed nowhere: it becomes main's count at install.
	 */
	struct slab_sheaf *a = view_sheaf(m);
	WRITE_ONCE(*allocs, *allocs + a->size + c->pushes - n);
	WRITE_ONCE(a->size, n);
	WRITE_ONCE(c->pushes, 0);
	tcache_move_begin(tc);
	view_point(tc, m, b->objects, b->size, (uint16_t)b->capacity);
	WRITE_ONCE(c->spare, a);
	tcache_move_end(tc);
	return true;
}

/*
 * Make main a sheaf with objects in it (the kernel's
 * __pcs_replace_empty_main): the spare if it holds any, else
 * the remote sheaf if it holds tcache_remote_reuse() objects, else a full
 * sheaf from the barn, else main refilled from slabs.  Returns false
 * when no object could be had (out of memory), with main possibly still
 * none.  Busy set, no lock held.
 */
bool tcache_refill_main(struct tcache *tc, struct kmem_cache *s,
			const struct slab_alloc_context *ctx) __hidden;
/*
 * Make main a sheaf with room in it (the kernel's __pcs_replace_full_main):
 * a new or barn empty sheaf if there is none; a full main trades places
 * with a spare that has room, or becomes the spare if there is none (an
 * empty sheaf from the barn or a new one becoming main), or goes to the
 * barn for an empty one, or is flushed to slabs.  Returns false only when
 * there is no sheaf and none can be made: the caller frees its object to
 * the slab.  Busy set, no lock held.
 */
bool tcache_make_room(struct tcache *tc, struct kmem_cache *s) __hidden;
/*
 * How many objects the remote sheaf installed in @r holds before its own
 * thread may allocate from it (tcache_refill_main, when main and spare are
 * dry): half of it.  Below that, objects other threads allocated are never
 * handed out by the thread that freed them; above, they have waited half a
 * sheaf of remote frees, and reusing them here (cache-warm) is cheaper than
 * a barn trade.
 */
static inline unsigned tcache_remote_reuse(const struct sheaf_view *r)
{
	return r->capacity / 2 ? r->capacity / 2 : 1; /* never an empty one */
}
/*
 * Push @p, an object of @s, onto @c's main at its count @sz (the caller
 * found room), with the free key in its free word, and count the push
 * (struct pcs, pushes): every push onto a main but free()'s inline one on
 * the TLS block (fastpath.h, kfree_push).  Busy set.
 */
static __always_inline void main_push(struct pcs *c, struct kmem_cache *s, void *p, uint32_t sz)
{
	*obj_free_word(s, p) = s->free_key;
	WRITE_ONCE(c->main.objects[sz], p);
	WRITE_ONCE(c->main.size, sz + 1);
	counter_inc(&c->pushes);
}

/*
 * Push @p, an object of @s whose slab another thread owns, onto @tc's
 * remote sheaf of @s if it has one with room (the common case of
 * __slab_free_remote; free() does the same push inline on the TLS view).
 * False when there is none or it is full.  Busy set.
 */
static __always_inline bool tcache_remote_push(struct tcache *tc, struct kmem_cache *s, void *p)
{
	struct sheaf_view *r = tcache_remote(tc, s->id);
	uint32_t sz = r->size;
	if (unlikely(sz >= r->capacity))
		return false; /* capacity 0: no sheaf */
	*obj_free_word(s, p) = s->free_key;
	WRITE_ONCE(r->objects[sz], p);
	WRITE_ONCE(r->size, sz + 1);
	return true;
}
/*
 * The rest of a remote free, when tcache_remote_push found no room: get
 * @tc a remote sheaf of @s, or trade its full one at the barn for an empty
 * one (the threads that refill take it there: the owners, in a
 * producer/consumer pattern), or flush it to the slabs when the barn is
 * full; then push @p.  The object goes home instead of being handed out
 * again by this thread.  False when there is no sheaf to be had: the
 * caller frees @p to its slab.  Busy set, no lock held.
 */
bool tcache_free_remote(struct tcache *tc, struct kmem_cache *s, void *p) __hidden;

#endif /* SM_TCACHE_H */
