/*
 * slab.h - struct slab, the out-of-band descriptor of one data page, and
 * the operations on one slab's freelist.
 *
 * The kernel overlays struct slab on struct page; here every data page of a
 * node has a 64-byte struct slab in the node's descriptor table.  For a slab
 * of k pages, all k descriptors carry the cache and the first page, so that
 * any object pointer finds its slab with arithmetic alone; the fields below
 * "first page only" are meaningful in the first page's descriptor.
 *
 * A slab hands out its objects from two sources: the freelist (objects that
 * were freed back to the slab, linked through a hardened pointer stored at
 * cache->fp_offset inside the object) and, when that is empty, the untouched
 * tail [bump, objects), which avoids touching and dirtying pages that have
 * not been used yet.
 *
 * States of a slab (all guarded by its kmem_cache_node's list_lock):
 *   partial  0 < inuse < objects      on kcn->partial
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

#include "compiler.h"
#include "list.h"

struct kmem_cache;
struct sm_node;

enum page_type {
	PT_UNUSED = 0,    /* never handed out, or interior of a free run */
	PT_SLAB,          /* part of a live slab */
	PT_LARGE,         /* first page of a live page run (kmalloc large) */
	PT_LARGE_TAIL,    /* last page of a live page run */
	PT_FREE,          /* first or last page of a free run */
};

struct slab {
	struct kmem_cache *cache;   /* PT_SLAB: owning cache (every page) */
	uint32_t head;              /* first page of the run (every page of a
	                               slab; both tags of free and large runs) */
	uint8_t type;               /* enum page_type */
	uint8_t dirty;              /* PT_FREE: may be resident */
	uint8_t node_id;            /* PT_SLAB: node of this slab */
	uint8_t on_list;            /* PT_SLAB: 0 none, 1 partial, 2 empty */
	/* --- first page only --- */
	uint32_t npages;            /* length of the run */
	uint32_t inuse;             /* PT_SLAB: objects handed out */
	uint32_t bump;              /* PT_SLAB: objects [bump, objects) untouched */
	uint32_t objects;           /* PT_SLAB: objects in the slab */
	union {
		uintptr_t freelist; /* PT_SLAB: encoded first free object */
		size_t size;        /* PT_LARGE: bytes asked for */
	};
	struct list_head list;      /* PT_SLAB: partial/empty list; PT_FREE: bin */
	uint64_t stamp;             /* PT_FREE / empty slab: since when (ns) */
};

_Static_assert(sizeof(struct slab) == 64, "struct slab should stay one cache line");

/* ---- operations on one slab (slab.c) ---- */
#include "alloc_context.h"
#include "node.h"

/* Start of the slab whose page descriptor is @d. */
static inline char *slab_base(const struct sm_node *n, const struct slab *d)
{
	return (char *)node_page_addr(n, d->head);
}

/* Index of the object at offset @off in a slab of @s, or -1 if @off is not an object start. */
long slab_obj_index(const struct kmem_cache *s, uintptr_t off) __hidden;

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
 * Take up to @want objects out of slab @d (freelist first, then the untouched
 * tail); returns how many.  Caller holds the list_lock or owns the slab.
 */
unsigned slab_take(struct kmem_cache *s, struct sm_node *n, struct slab *d, void **objs,
		   unsigned want) __hidden;
/*
 * Put @obj back on @d's freelist.  Returns false, changing nothing, if that
 * would be a double free it can see (object already first on the freelist,
 * or the slab has no object out).  Caller holds the list_lock.
 */
bool slab_push(struct kmem_cache *s, struct slab *d, void *obj) __hidden;

#endif /* SM_SLAB_H */
