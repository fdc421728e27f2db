/*
 * slab.h - the operations on one slab: making it, discarding it, and its
 * freelist.  struct slab, the page descriptor, is in page.h.
 *
 * A slab hands out its objects from two sources: the freelist (objects that
 * were freed back to the slab, linked through a hardened pointer stored at
 * cache->fp_offset inside the object) and, when that is empty, the untouched
 * tail [bump, objects), which avoids touching and dirtying pages that have
 * not been used yet.
 *
 * States of a slab (all guarded by its kmem_cache_node's list_lock):
 *   partial  0 < inuse < objects      on kcn->partial[partial_bucket(inuse)]
 *   full     inuse == objects         on no list
 *   empty    inuse == 0               on kcn->empty, stamped, until reused or
 *                                     handed back to the node
 * "inuse" counts objects handed out by the slab: held by callers or cached
 * in sheaves.
 */
#ifndef SM_SLAB_H
#define SM_SLAB_H

#include <stdbool.h>
#include <stdint.h>

#include "alloc_context.h"
#include "compiler.h"
#include "kmem_cache.h"
#include "node.h"
#include "page.h"
#include "thread.h"

/* Start of the slab whose page descriptor is @d. */
static inline char *slab_base(const struct sm_node *n, const struct slab *d)
{
	return (char *)node_page_addr(n, d->head);
}

/*
 * Make a new slab for @s (pages from the node order of @ctx, growing the
 * instance if needed) and run the constructor on each of its objects.  The
 * slab is on no list and has inuse 0.  Returns its first page's descriptor
 * (node in *@np), or NULL when out of memory.  Takes node locks only.
 */
struct slab *slab_new(struct kmem_cache *s, const struct slab_alloc_context *ctx,
		      struct sm_node **np) __hidden;
/* Hand the pages of an empty slab back to its node.  The slab must be on no list. */
void slab_discard(struct kmem_cache *s, struct sm_node *n, struct slab *d, uint64_t now) __hidden;
/*
 * Make the @npages descriptors from @first, a slab's, resolve to nothing:
 * fclass first (free()'s fast path trusts it alone), then type.  Before
 * the pages go back to their node, by whatever path.
 */
void slab_unmark(struct sm_node *n, uint32_t first, uint32_t npages) __hidden;
/*
 * Take up to @want objects out of slab @d (freelist first, then the untouched
 * tail); returns how many, and makes the calling thread the slab's owner
 * (page.h) when it took any.  A link that points outside the slab's objects
 * is reported and ends the freelist: the objects past it are lost, and
 * counted in use (the slab never empties; nothing is handed out twice).
 * Caller holds the list_lock or owns the slab.
 */
unsigned slab_take(struct kmem_cache *s, struct sm_node *n, struct slab *d, void **objs,
		   unsigned want) __hidden;
/*
 * When each thread last showed it is running (slab_owner_seen), by owner
 * tag (page.h, page_hot), in epochs of 2^SLAB_OWNER_EPOCH_SHIFT ns of the
 * coarse clock (about 8.4 ms): written by the tag's thread on its slow
 * paths that read that clock (slowpath.h) and when it makes a tcache,
 * only when the epoch changes, and read racily by slab_own_objects.  A
 * thread whose last such slow path lies SLAB_OWNER_IDLE_EPOCHS epochs back
 * (8.4 to 16.8 ms or more) is idle: waiting, or gone.  Epochs of 67 ms
 * left a run of wl_larson, 90 ms, nearly all of it with the old owner
 * (docs/benchmarks.md, "Slabs change owner when their owner is idle").
 */
extern uint32_t sm_owner_epoch[PAGE_HOT_OWNER_MAX + 1] __hidden;
#define SLAB_OWNER_EPOCH_SHIFT 23
#define SLAB_OWNER_IDLE_EPOCHS 2

static inline uint32_t slab_owner_epoch(uint64_t coarse_ns)
{
	return (uint32_t)(coarse_ns >> SLAB_OWNER_EPOCH_SHIFT);
}

/* The calling thread, at @coarse_ns (os_coarse_ns), is running. */
static inline void slab_owner_seen(uint64_t coarse_ns)
{
	uint32_t *e = &sm_owner_epoch[sm_thread.owner_tag];
	uint32_t now = slab_owner_epoch(coarse_ns);
	if (READ_ONCE(*e) != now)
		WRITE_ONCE(*e, now);
}

/*
 * Make the calling thread the owner (page.h: the head descriptor's owner,
 * every page's hot-word owner tag) of the slabs of the @nr objects at
 * @objs, a sheaf that has just become this thread's main, whose owners are
 * idle (sm_owner_epoch): their objects were freed by other threads, or by
 * this one as remote frees, and came back through the barn or the remote
 * sheaf, and this thread hands them out now.  Without it a slab stays its
 * first owner's after that thread stops taking objects from it (a main
 * thread that filled a pool and went on to wait), and every free of its
 * objects by the thread that now uses them is a remote free, with no LIFO
 * reuse (docs/architecture.md section 4, "Slabs change owner").  The
 * slabs of running threads stay theirs: their frees would then be remote
 * and their objects would cross between threads.  The last object is
 * looked at first (inline: slab_own_sheaf, which passes the other owner
 * it found, @top_owner), and the rest only if that owner is idle.
 * Each hot word is claimed by compare-and-swap (a hint, like every
 * owner), so that a page the purge marked meanwhile keeps its mark.  The
 * objects are this thread's (counted in use), so their slabs live on.
 * Busy set, no lock held.
 */
void slab_own_objects(void *const *objs, unsigned nr, uint16_t top_owner) __hidden;

/* slab_own_objects, its first look inline: the owner tag in the hot word of the last object's page. */
static inline void slab_own_sheaf(void *const *objs, unsigned nr)
{
	if (!nr)
		return;
	uintptr_t bias = hot_bias(objs[nr - 1]);
	if (!bias)
		return; /* no hot table: a reserved region's node */
	uint16_t o = page_hot_owner(hot_at(bias, objs[nr - 1]));
	if (o != sm_thread.owner_tag)
		slab_own_objects(objs, nr, o);
}
/*
 * Put @obj back on @d's freelist.  Returns false, changing nothing, if that
 * would be a double free it can see (object already first on the freelist,
 * or the slab has no object out): reported.  Caller holds the list_lock.
 */
bool slab_push(struct kmem_cache *s, struct slab *d, void *obj) __hidden;
/*
 * The same for a run of objects: push those at the front of @objs (at
 * most @n) that lie in @d's pages, from @base (its start); stops at the
 * first one outside, so a flush handles a run of one slab's objects
 * without looking each one up.  Returns how many it consumed; @d's inuse
 * says how many went on the freelist.  An object slab_push would refuse
 * is reported and dropped, and ends the call: it is the last one counted
 * as consumed.  Caller holds the list_lock.  A call costs about as much as
 * slab_push's, so a flush calls it only when the next object is on the
 * same page (a run of at least two).
 */
unsigned slab_push_run(struct kmem_cache *s, struct slab *d, const char *base, void *const *objs,
		       unsigned n) __hidden;
/*
 * Whether @obj is on @d's freelist or in its untouched tail (never handed
 * out).  Caller holds the list_lock.
 */
bool slab_on_freelist(struct kmem_cache *s, struct sm_node *n, struct slab *d, const void *obj) __hidden;
/*
 * slab_debug's walk of @d's freelist: sets in @map (d->objects bits) the
 * index of every object on it.  False, with the object whose link is bad
 * (or that is listed twice, or was never handed out) in *@bad, when the
 * list is corrupt.  Caller holds the list_lock.
 */
bool slab_freelist_map(struct kmem_cache *s, struct sm_node *n, struct slab *d, uint64_t *map,
		       void **bad) __hidden;

/*
 * Free pages inside a partial slab (slab_purge_free_pages).  A slab of two
 * pages or more whose survivors leave whole pages free keeps those pages
 * resident for as long as it lives: a slab goes back to its node only when
 * it is empty.  The purge gives such pages back, and since a purged page
 * reads zero, the freelist links in its free objects are lost: so the
 * slab's free objects are first recorded as a bitmap, in the descriptor
 * of its second page (slab_purged_map), and the slab marked SLAB_PURGED,
 * with no freelist.  Frees to the slab set their bits in the bitmap
 * (slab_push_purged); the first take from it links them all again
 * (slab_touch), which faults the pages back in.  Until then the slab is
 * purged again when frees have left more of its pages free: a pass marks
 * only pages not yet purged, and marks them SLAB_PAGE_PURGING too, the
 * pages this pass gives back (the others are gone already); the relist
 * after the give-back clears it, under the list_lock.
 * SLAB_TOUCHED is set by every take and free (slab_touch), cleared by the
 * purge pass: a slab is purged only if the pass before found it
 * untouched too, so a slab in use is never purged under its users; one
 * found with nothing (more) to purge is SLAB_CHECKED, and not looked at
 * again until it is touched.
 * A purged page reads zero, so its objects' free words lose the free tag
 * that tells a double free: the page is marked SLAB_PAGE_PURGED in its
 * descriptor, which obj_maybe_free tests when the tag is 0 (caches that
 * purge only: kmem_cache.partial_purge), and its hot word loses its
 * fclass, so that free()'s fast path takes the page path to slab_free and
 * that test.  Both are undone when the slab is linked again.  All under
 * the list_lock.
 */
#define SLAB_PURGE_MAX_OBJECTS 64 /* the bitmap is one word */

static inline uint64_t *slab_purged_map(struct slab *d)
{
	return (uint64_t *)&d[1].freelist; /* a tail page's: unused otherwise */
}

/* Link the objects of a SLAB_PURGED slab again (slab_touch). */
void slab_unpurge(struct kmem_cache *s, struct sm_node *n, struct slab *d) __hidden __cold;

/* Before a take from @d: mark it touched, linking its freelist again if purged. */
static __always_inline void slab_touch(struct kmem_cache *s, struct sm_node *n, struct slab *d)
{
	if (unlikely(d->purge != SLAB_TOUCHED)) {
		if (d->purge & SLAB_PURGED)
			slab_unpurge(s, n, d);
		WRITE_ONCE(d->purge, SLAB_TOUCHED);
	}
}

/*
 * Before frees to @d: mark it touched.  A SLAB_PURGED slab keeps its
 * bitmap, and its frees go to it (slab_push_purged): a free writes only
 * the freed object, which lies on a page the purge kept, never the links
 * of the objects on the purged pages.  So a free faults no purged page
 * back in, and writes nothing that a purge running without the list_lock
 * (an isolated slab, kmem_cache.c) may be giving back at that moment.
 */
static __always_inline void slab_touch_free(struct slab *d)
{
	if (unlikely(d->purge != SLAB_TOUCHED))
		WRITE_ONCE(d->purge, (uint8_t)((d->purge & (SLAB_PURGED | SLAB_PAGE_PURGED | SLAB_PAGE_PURGING)) |
					       SLAB_TOUCHED));
}

/*
 * slab_push for a SLAB_PURGED slab @d of @n: @obj's bit set in the
 * bitmap, its free word the cache's free tag (free()'s double-free test
 * reads it).  Returns false, changing nothing, for a double free it can
 * see (the bit set already, or no object out): reported.  Caller holds
 * the list_lock.
 */
bool slab_push_purged(struct kmem_cache *s, struct sm_node *n, struct slab *d, void *obj) __hidden;

/*
 * The purge pass over partial slab @d of @n, in two halves, for the caches
 * kmem_cache.partial_purge names (free objects whose contents may be
 * lost, slabs of two pages or more and at most SLAB_PURGE_MAX_OBJECTS
 * objects) and slabs of a general node.  slab_purge_mark, list_lock held:
 * if @d was not touched since the last pass (or @all), its whole free
 * pages not purged yet are marked as above (SLAB_PAGE_PURGING too), the
 * slab made SLAB_PURGED; returns how many (0: none, nothing changed but
 * the touched state).  The caller then
 * takes @d off its list, so that no take unpurges it, drops the lock and
 * calls slab_purge_give_back, which hands the pages marked
 * SLAB_PAGE_PURGING to the node's OS and returns how many it took.  Frees
 * to @d meanwhile write only the freed objects, on pages the purge keeps
 * (slab_touch_free).  slab_purge_done, list_lock held again, clears
 * SLAB_PAGE_PURGING before @d goes back on a list.
 */
unsigned slab_purge_mark(struct kmem_cache *s, struct sm_node *n, struct slab *d, bool all) __hidden;
size_t slab_purge_give_back(struct sm_node *n, const struct slab *d) __hidden;
void slab_purge_done(struct slab *d) __hidden;

#endif /* SM_SLAB_H */
