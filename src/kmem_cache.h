/*
 * kmem_cache.h - struct kmem_cache and struct kmem_cache_node, and the slab
 * layer below the sheaves: taking objects out of slabs and putting them back.
 *
 * A cache keeps, for every node of its instance, a kmem_cache_node with the
 * partial and empty slab lists (guarded by list_lock) and the node's barn of
 * full and empty sheaves (guarded by barn.lock).  Full slabs are on no list.
 * The two locks never nest: a barn is a pure exchange of sheaves, and every
 * freelist operation happens under list_lock alone.
 */
#ifndef SM_KMEM_CACHE_H
#define SM_KMEM_CACHE_H

#include <stdbool.h>
#include <stdint.h>

#include "alloc_context.h"
#include "list.h"
#include "lock.h"
#include "slabmalloc.h"

struct slab;
struct slab_sheaf;
struct sm_node;
struct sm_instance;

/* The barn: full and empty sheaves of one cache on one node. */
struct node_barn {
	sm_lock_t lock;                 /* guards the lists and counts below */
	unsigned nr_full, nr_empty;     /* nr_full <= s->barn_max_full, nr_empty <= s->barn_max_empty */
	unsigned long ops;              /* sheaves taken or given since creation */
	unsigned long ops_at_purge;     /* ops at the last purge: unchanged = idle */
	struct list_head full;          /* sheaves with size == capacity */
	struct list_head empty;         /* sheaves with size == 0 */
};

struct kmem_cache_node {
	sm_lock_t list_lock;            /* guards everything below and the
	                                   freelist, inuse and lists of every
	                                   slab of this cache on this node */
	struct list_head partial;       /* 0 < inuse < objects */
	struct list_head empty;         /* inuse == 0, newest first */
	size_t nr_partial, nr_empty;
	size_t nr_slabs;                /* partial + full + empty */
	size_t inuse;                   /* objects handed out from these slabs */
	struct node_barn barn;
} __attribute__((aligned(SM_CACHELINE)));

enum cache_stat {
	STAT_BARN_GET, STAT_BARN_PUT, STAT_REFILL, STAT_FLUSH,
	STAT_SLAB_ALLOC, STAT_SLAB_FREE, NR_CACHE_STATS
};

struct kmem_cache {
	/* Read-mostly, used by the fast paths. */
	unsigned size;                  /* bytes per object slot */
	unsigned objects;               /* objects per slab */
	uint64_t reciprocal;            /* ceil(2^32 / size): offset -> index */
	unsigned id;                    /* index into every thread's pcs[] */
	unsigned sheaf_capacity;
	unsigned barn_max_full;         /* from the options and the barn byte budget */
	unsigned barn_max_empty;
	struct sm_instance *inst;
	unsigned inst_slot;             /* copies of inst->slot and inst->gen */
	uint64_t inst_gen;
	/* Read-only after creation. */
	unsigned object_size;           /* bytes the user asked for */
	unsigned align;
	unsigned fp_offset;             /* freelist link inside a free object */
	unsigned slab_pages;
	unsigned flags;
	bool is_kmalloc;
	uintptr_t random;               /* freelist pointer hardening */
	void (*ctor)(void *);
	char name[32];
	struct list_head list;          /* on inst->caches, under inst->lock */
	uint64_t stat[NR_CACHE_STATS];  /* relaxed atomics, slow paths only */
	struct kmem_cache_node node[SM_MAX_NODES];
};

static inline void cache_stat_inc(struct kmem_cache *s, enum cache_stat i)
{
	__atomic_fetch_add(&s->stat[i], 1, __ATOMIC_RELAXED);
}

/*
 * Set up @s in place: slot size, slab geometry and lists.  @s must be zeroed.
 * Returns false for an impossible size or alignment.
 */
bool kmem_cache_init(struct kmem_cache *s, struct sm_instance *inst, const char *name,
		     size_t size, size_t align, unsigned flags, void (*ctor)(void *)) __hidden;

/* Object-slot geometry used by kmem_cache_init; exposed for the size-class tests. */
void slab_geometry(size_t size, unsigned *pages, unsigned *objects) __hidden;

/*
 * Take up to @n objects of @s out of slabs, in node order given by @ctx,
 * making new slabs when no partial slab is left (slab_new runs the constructor
 * on every object of a new slab).  Returns how many were stored in @objs; 0
 * means out of memory (or, with TRYLOCK, a busy lock).  Takes list_lock and
 * node locks; the caller holds none.
 */
unsigned slab_get_objects(struct kmem_cache *s, const struct slab_alloc_context *ctx,
			  void **objs, unsigned n) __hidden;

/*
 * Put @n objects of @s back into their slabs (the objects were checked at
 * free time).  Slabs that become empty are kept on the empty list or, beyond
 * slab_max_empty, handed back to their node.  With @trylock, objects whose
 * list_lock is busy are left in @objs and the number put back is returned;
 * without, it always returns @n.
 */
unsigned slab_put_objects(struct kmem_cache *s, void **objs, unsigned n, bool trylock) __hidden;

/*
 * Hand back every empty slab of @s older than @cutoff (all with UINT64_MAX)
 * to its node.  Returns the number of slabs released.  Takes list_lock.
 */
size_t cache_release_empty(struct kmem_cache *s, uint64_t cutoff) __hidden;

/*
 * Check that @p is the start of an object of a live slab of @s (the cache
 * comes from the page descriptor).  Returns the descriptor of @p's page, or
 * NULL after reporting the problem through the error handler.
 */
struct slab *slab_check_object(struct kmem_cache *expect, const void *p) __hidden;

#endif /* SM_KMEM_CACHE_H */
