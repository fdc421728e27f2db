/*
 * sheaf.h - sheaves: arrays of free object pointers of one cache, which a
 * thread allocates from and frees to without a lock (tcache.h), filled
 * from slabs and flushed back to them in batches.  Their exchange with a
 * node's barn is in barn.h.
 *
 * States of a sheaf:
 *   main of a thread     0 <= count <= capacity; only that thread touches
 *                        it, allocations pop from it and frees push onto
 *                        it, and the count is in the thread's sheaf_view
 *                        (size stale)
 *   spare of a thread    full or empty, as main was when it left; size
 *                        is the count; only that thread's slow paths
 *                        touch it: it becomes main when main runs dry
 *                        (full) or fills (empty)
 *   in a barn, full      size == capacity, on barn->full
 *   in a barn, empty     size == 0, on barn->empty
 * A sheaf is an object of its cache's sheaf_cache (a kmalloc cache of the
 * same instance), allocated with kmem_cache_alloc_direct, so making one
 * never needs another sheaf.  While a sheaf is a thread's main (or remote
 * sheaf), the thread's view of it (struct sheaf_view, thread.h) holds its
 * count.
 */
#ifndef SM_SHEAF_H
#define SM_SHEAF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "alloc_context.h"
#include "compiler.h"
#include "kmem_cache.h"
#include "list.h"
#include "options.h"

struct slab_sheaf {
	uint32_t size;                  /* objects held: objects[0..size) */
	uint16_t capacity;              /* never 0; at most SM_MAX_SHEAF_CAPACITY */
	uint16_t mark;                  /* its sheaf_cache's free tag, where
	                                   that cache's free word has it (the
	                                   top 16 bits of the first word), so
	                                   that a free of a live sheaf by the
	                                   program takes the double-free
	                                   check, which reports it
	                                   (obj_internal_reported) */
	struct kmem_cache *cache;
	struct list_head barn_list;     /* on a barn's full or empty list */
	void *objects[];
};

_Static_assert(sizeof(struct slab_sheaf) == SM_SHEAF_HEADER_BYTES, "kmem_cache.h sizes sheaves with it");

/* Bytes of a sheaf of @capacity objects. */
static inline size_t sheaf_bytes(unsigned capacity)
{
	return sizeof(struct slab_sheaf) + (size_t)capacity * sizeof(void *);
}

/*
 * @sh's count as a thread that may not own it reads it: another thread's
 * spare, whose owner may hand it to the barn or free it meanwhile, and
 * reuse it for other objects.  Clamped to its capacity and to the largest
 * a sheaf can have, so that a look at a sheaf being reused reads garbage,
 * but within it.
 */
static inline unsigned sheaf_count_racy(const struct slab_sheaf *sh)
{
	return MIN(MIN(READ_ONCE(sh->size), READ_ONCE(sh->capacity)), (unsigned)SM_MAX_SHEAF_CAPACITY);
}

/*
 * Whether @sh holds @p.  Reads a sheaf without its owner's cooperation
 * only to confirm a double free (a barn's, under its lock; another
 * thread's spare, racily: sheaf_count_racy).
 */
static inline bool sheaf_holds(const struct slab_sheaf *sh, const void *p)
{
	unsigned n = sheaf_count_racy(sh);
	for (unsigned i = 0; i < n; i++)
		if (READ_ONCE(sh->objects[i]) == p)
			return true;
	return false;
}

/* A new empty sheaf for @s, or NULL (out of memory / busy lock with TRYLOCK). */
struct slab_sheaf *sheaf_alloc(struct kmem_cache *s, const struct slab_alloc_context *ctx) __hidden;
/* Free an empty sheaf. */
void sheaf_free(struct slab_sheaf *sh) __hidden;
/* Put every object of @sh back into its slab; @sh ends empty. */
void sheaf_flush(struct kmem_cache *s, struct slab_sheaf *sh) __hidden;
/* Fill @sh from slabs; returns objects added (0: out of memory). */
unsigned sheaf_refill(struct kmem_cache *s, struct slab_sheaf *sh,
		      const struct slab_alloc_context *ctx) __hidden;

#endif /* SM_SHEAF_H */
