/*
 * sheaf.h - sheaves (arrays of free object pointers of one cache) and the
 * barn operations that exchange them.
 *
 * States of a sheaf:
 *   main of a thread     0 <= size <= capacity; only that thread touches it
 *   spare of a thread    as main; swapped with main when main runs dry/full
 *   in a barn, full      size == capacity, on barn->full
 *   in a barn, empty     size == 0, on barn->empty
 * A sheaf is allocated with SLAB_ALLOC_NO_RECURSE from the instance's
 * kmalloc caches, so making one never needs another sheaf.  The static
 * sm_empty_sheaf (capacity 0) stands in for "no sheaf yet": it is never
 * written, and both fast paths fall through to the slow path on it.
 */
#ifndef SM_SHEAF_H
#define SM_SHEAF_H

#include "alloc_context.h"
#include "compiler.h"
#include "list.h"

struct kmem_cache;
struct node_barn;

struct slab_sheaf {
	unsigned size;                  /* objects held: objects[0..size) */
	unsigned capacity;              /* 0 only for sm_empty_sheaf */
	struct kmem_cache *cache;
	struct list_head barn_list;     /* on a barn's full or empty list */
	void *objects[];
};

extern struct slab_sheaf sm_empty_sheaf __hidden;

/* A new empty sheaf for @s, or NULL (out of memory / busy lock with TRYLOCK). */
struct slab_sheaf *sheaf_alloc(struct kmem_cache *s, const struct slab_alloc_context *ctx) __hidden;
/* Free an empty sheaf (not sm_empty_sheaf). */
void sheaf_free(struct slab_sheaf *sh) __hidden;
/* Put every object of @sh back into its slab; @sh ends empty. */
void sheaf_flush(struct kmem_cache *s, struct slab_sheaf *sh) __hidden;
/* Fill @sh from slabs; returns objects added (0: out of memory). */
unsigned sheaf_refill(struct kmem_cache *s, struct slab_sheaf *sh,
		      const struct slab_alloc_context *ctx) __hidden;

/*
 * Exchange an empty sheaf for a full one: returns a full sheaf from @barn or
 * NULL if it has none (or its lock is busy with @trylock).  On success @empty
 * is taken into the barn, or handed back through *@empty (to be freed by the
 * caller) when the barn already holds barn_max_empty empties.  Takes barn->lock.
 */
struct slab_sheaf *barn_replace_empty_sheaf(struct kmem_cache *s, struct node_barn *barn,
					    struct slab_sheaf **empty, bool trylock) __hidden;
/*
 * Give a full sheaf to @barn.  Returns false, keeping @full with the caller,
 * when the barn already holds barn_max_full full sheaves (or its lock is
 * busy).  On success, *@empty receives an empty sheaf from the barn, or NULL
 * if it had none.  Takes barn->lock.
 */
bool barn_replace_full_sheaf(struct kmem_cache *s, struct node_barn *barn,
			     struct slab_sheaf *full, struct slab_sheaf **empty, bool trylock) __hidden;
/* Take a full sheaf from @barn, or NULL. */
struct slab_sheaf *barn_get_full_sheaf(struct kmem_cache *s, struct node_barn *barn, bool trylock) __hidden;
/* Take an empty sheaf from @barn, or NULL. */
struct slab_sheaf *barn_get_empty_sheaf(struct kmem_cache *s, struct node_barn *barn, bool trylock) __hidden;
/*
 * Return a sheaf a thread no longer needs (thread exit, shrink): a full one
 * goes to the barn if there is room, anything else is flushed to slabs and
 * kept as an empty sheaf by the barn or freed.
 */
void barn_return_sheaf(struct kmem_cache *s, struct node_barn *barn, struct slab_sheaf *sh) __hidden;
/* Empty @barn: flush its full sheaves to slabs and free all its sheaves. */
void barn_drain(struct kmem_cache *s, struct node_barn *barn) __hidden;
/*
 * The purge's view of a barn: if no sheaf went in or out since the last
 * purge looked, the barn is idle and its sheaves only pin slabs: drain it
 * (returns true).  Otherwise remember where it stands.  Takes barn->lock.
 */
bool barn_age(struct kmem_cache *s, struct node_barn *barn) __hidden;

#endif /* SM_SHEAF_H */
