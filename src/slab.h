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

#endif /* SM_SLAB_H */
