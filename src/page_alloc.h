/*
 * page_alloc.h - the page allocator of one instance: its nodes, the order
 * in which a request may use them, growing the instance by a node, page
 * runs from the first node that has room, and the purge of free runs.
 * The counterpart of the kernel's page allocator with its zonelists: the
 * slab layer gets its pages here, large.c its page runs and huge mappings.
 *
 * Nodes are added, never removed, while the instance lives: nodes[] and
 * nr_nodes are published with release stores and read with acquire loads,
 * so readers take no lock.
 */
#ifndef SM_PAGE_ALLOC_H
#define SM_PAGE_ALLOC_H

#include <stdbool.h>
#include <stdint.h>

#include "alloc_context.h"
#include "list.h"
#include "lock.h"
#include "node.h"
#include "slabmalloc.h"

struct page_alloc {
	/* Set up once, read-only afterwards. */
	struct node_origin origin;      /* owner, OS ops and report sink of every node */
	size_t node_size;               /* node k has at least node_size * 2^k bytes */
	unsigned max_nodes;
	size_t huge_threshold;          /* larger requests get a node of their own */
	bool harden;                    /* hardened mode: page runs carry a
	                                   canary (large.h) */
	sm_lock_t *lock;                /* the owner's instance lock (lock order 3):
	                                   guards node creation and the huge list */

	struct sm_node *nodes[SM_MAX_NODES]; /* set once under lock; read with acquire */
	unsigned nr_nodes;
	struct list_head huge_list;     /* NODE_HUGE nodes (large.c) */
	size_t nr_huge;                 /* under lock */
	size_t huge_bytes;              /* relaxed atomic (a huge realloc adds unlocked) */
	uint32_t huge_freeing;          /* huge mappings claimed for freeing and
	                                   not unmapped yet (atomic; fork.c) */
};

static inline struct sm_node *pa_node(struct page_alloc *pa, unsigned id)
{
	return __atomic_load_n(&pa->nodes[id], __ATOMIC_ACQUIRE);
}

static inline unsigned pa_nr_nodes(struct page_alloc *pa)
{
	return __atomic_load_n(&pa->nr_nodes, __ATOMIC_ACQUIRE);
}

/* The owner's clock (ns). */
static inline uint64_t pa_now(const struct page_alloc *pa)
{
	return pa->origin.os->now_ns(pa->origin.os->arg);
}

/*
 * Set up @pa with @o as the origin of its nodes, guarded by @lock, and
 * reserve its first node.  Returns 0, or -ENOMEM when the OS refuses the
 * reservation: @pa is then valid with no node (every allocation goes to
 * pa_grow, which tries node 0 again), and the caller decides whether an
 * instance without memory yet may exist.
 */
int pa_init(struct page_alloc *pa, const struct node_origin *o, const struct sm_options *opts,
	    sm_lock_t *lock) __hidden;
/* Unmap every node and huge mapping of @pa; every pointer into them becomes foreign. */
void pa_destroy(struct page_alloc *pa) __hidden;

/*
 * The nodes an allocation in @ctx may use, in order: ctx->node first, then
 * every other general node (none with THISNODE).  Fills @ids, returns count.
 */
unsigned pa_node_order(struct page_alloc *pa, const struct slab_alloc_context *ctx, int *ids) __hidden;

/*
 * Add a node after every node allowed by @ctx ran out (@seen: the node
 * count the caller saw; if it changed, the newest node is returned instead
 * of a new one).  Node k has node_size * 2^k bytes (at most
 * SM_MAX_NODE_SIZE), or more when that cannot hold a run of @pages pages:
 * the smallest further doubling that can.  Returns its id, or -1 when
 * max_nodes is reached, no node can hold @pages, the OS refuses, or
 * (TRYLOCK) the lock is busy: then nothing was reserved.  Takes pa->lock.
 */
int pa_grow(struct page_alloc *pa, const struct slab_alloc_context *ctx, unsigned seen,
	    size_t pages) __hidden;

/*
 * A run of @npages pages aligned to @align_pages in @ctx's node order,
 * growing by a node if none has room.  Returns the node (first page in
 * *@first, *@zeroed when known to read as zero) or NULL.  The caller owns
 * the run and writes its descriptors.  Takes node locks and pa->lock.
 */
struct sm_node *pa_alloc_pages(struct page_alloc *pa, uint32_t npages, uint32_t align_pages,
			       const struct slab_alloc_context *ctx, uint32_t *first,
			       bool *zeroed) __hidden;

/* Purge the free runs of every node stamped at or before @cutoff; returns pages. */
size_t pa_purge(struct page_alloc *pa, uint64_t cutoff) __hidden;

#endif /* SM_PAGE_ALLOC_H */
