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
#include "options.h"
#include "slabmalloc.h"

struct page_alloc {
	/* Set up once, read-only afterwards. */
	struct node_origin origin;      /* owner, OS ops and report sink of every node */
	size_t node_size;               /* node k has at least node_size * 2^k bytes */
	unsigned max_nodes;
	size_t huge_threshold;          /* larger requests get a node of their own
	                                   (the option; pa_huge_threshold adapts it) */
	size_t huge_learned;            /* the largest huge mapping freed, up to
	                                   SM_HUGE_ADAPT_MAX (relaxed atomic) */
	bool harden;                    /* hardened mode: page runs carry a
	                                   canary (large.h) */
	sm_lock_t *lock;                /* the owner's instance lock (lock order 3):
	                                   guards node creation and the huge list */

	struct sm_node *nodes[SM_MAX_NODES]; /* set once under lock; read with acquire */
	unsigned nr_nodes;
	unsigned nr_grown;              /* of those, made by pa_grow (at most
	                                   max_nodes; the rest by sm_node_create) */
	unsigned nr_numa_bound;         /* general nodes bound to a NUMA node (atomic) */
	struct list_head huge_list;     /* NODE_HUGE nodes (large.c) */
	size_t nr_huge;                 /* under lock */
	size_t huge_bytes;              /* relaxed atomic (a huge realloc adds unlocked) */
	uint32_t huge_freeing;          /* huge mappings claimed for freeing and
	                                   not unmapped yet (atomic; fork.c) */
	uint64_t huge_resident;         /* requests above the huge threshold
	                                   served by a resident free run
	                                   (large.c; relaxed atomic) */
};

static inline struct sm_node *pa_node(struct page_alloc *pa, unsigned id)
{
	return __atomic_load_n(&pa->nodes[id], __ATOMIC_ACQUIRE);
}

static inline unsigned pa_nr_nodes(struct page_alloc *pa)
{
	return __atomic_load_n(&pa->nr_nodes, __ATOMIC_ACQUIRE);
}

/*
 * The alloc_flags that reach node @n and nothing else (with @n's id as the
 * node): what a realloc of an object of a private, unmapped or reserved
 * node asks for, so the object stays where its kind put it.
 */
static inline unsigned node_reach_flags(const struct sm_node *n)
{
	return SLAB_ALLOC_THISNODE | ((n->flags & SM_NODE_PRIVATE) ? SLAB_ALLOC_MANAGED : 0) |
	       ((n->flags & SM_NODE_UNMAPPED) ? SLAB_ALLOC_UNMAPPED : 0) |
	       ((n->flags & SM_NODE_RESERVED) ? SLAB_ALLOC_CMA : 0);
}

/*
 * The size above which a request gets a mapping of its own.  At the
 * default threshold (32 MiB) it adapts upwards, as glibc's mmap threshold
 * does but with room to grow: a program that frees a huge mapping of S
 * bytes will likely ask for one of that size again, or a little larger (a
 * growing buffer), so sizes up to 2 S are page runs from then on (large.c,
 * huge_learn, up to SM_HUGE_ADAPT_MAX), and a page run keeps its pages
 * resident for reuse (purge.h) where a mapping would be unmapped and
 * faulted in again.  An explicit threshold is kept as it is.
 */
#define SM_HUGE_ADAPT_MAX ((size_t)256 << 20)
static inline bool pa_huge_adaptive(const struct page_alloc *pa)
{
	return READ_ONCE(pa->huge_threshold) == SM_DEFAULT_HUGE_THRESHOLD;
}

static inline size_t pa_huge_threshold(const struct page_alloc *pa)
{
	size_t t = READ_ONCE(pa->huge_threshold);
	if (t != SM_DEFAULT_HUGE_THRESHOLD)
		return t;
	return MAX(t, __atomic_load_n(&pa->huge_learned, __ATOMIC_RELAXED));
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
 * Add a node of kind @spec (sm_node_create) made with @o, after the
 * existing ones.  Returns its id, or -1 with errno ENOSPC (SM_MAX_NODES
 * reached), EINVAL (a region it cannot take) or ENOMEM.  Takes pa->lock.
 */
int pa_add_node(struct page_alloc *pa, const struct node_origin *o, size_t size,
		const struct node_spec *spec) __hidden;

/*
 * The node the calling thread's requests without a node should prefer: the
 * first general node bound to the NUMA node it runs on now (the OS's
 * numa_node, getcpu), or 0 when there is none.  No system call while no
 * general node is bound.  Lock-free.
 */
int pa_local_node(struct page_alloc *pa) __hidden;

/*
 * The nodes an allocation in @ctx may use, in order: ctx->node first if it
 * may use it; with THISNODE or MANAGED nothing else; otherwise, with CMA,
 * the reserved nodes, then every other node the request may use except
 * private ones.  Which node a request may use is decided in one place
 * (page_alloc.c, node_allows).  Fills @ids, returns count.
 */
unsigned pa_node_order(struct page_alloc *pa, const struct slab_alloc_context *ctx, int *ids) __hidden;

/*
 * Add a general node after every node allowed by @ctx ran out (@seen: the
 * node count the caller saw; if it changed, the newest node is returned
 * instead of a new one, when @ctx may use it).  The k-th node grown has node_size * 2^k bytes (at most
 * SM_MAX_NODE_SIZE), or more when that cannot hold a run of @pages pages:
 * the smallest further doubling that can.  Returns its id, or -1 when
 * max_nodes is reached, no node can hold @pages, the OS refuses, or
 * (TRYLOCK) the lock is busy: then nothing was reserved.  Takes pa->lock.
 */
int pa_grow(struct page_alloc *pa, const struct slab_alloc_context *ctx, unsigned seen,
	    size_t pages) __hidden;

/*
 * A run of @npages pages aligned to @align_pages in @ctx's node order (a
 * dirty free run of any node first when no node is asked for), growing by
 * a node if none has room (not with SLAB_ALLOC_RESIDENT, which
 * takes only dirty free runs: node_alloc_pages).  Returns the node (first page in
 * *@first, *@zeroed when known to read as zero) or NULL.  The caller owns
 * the run and writes its descriptors.  Takes node locks and pa->lock.
 */
struct sm_node *pa_alloc_pages(struct page_alloc *pa, uint32_t npages, uint32_t align_pages,
			       const struct slab_alloc_context *ctx, uint32_t *first,
			       bool *zeroed) __hidden;

/* Purge the free runs of every node stamped at or before @cutoff; returns pages. */
size_t pa_purge(struct page_alloc *pa, uint64_t cutoff) __hidden;

#endif /* SM_PAGE_ALLOC_H */
