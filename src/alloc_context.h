/*
 * alloc_context.h - struct slab_alloc_context: everything an internal
 * allocation function needs to know about the request besides the cache,
 * carried in one struct instead of overloaded arguments (the counterpart of
 * the kernel's slab_alloc_context with its alloc_flags).
 */
#ifndef SM_ALLOC_CONTEXT_H
#define SM_ALLOC_CONTEXT_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#include "slabmalloc.h"

/*
 * alloc_flags.  SLAB_ALLOC_DEFAULT is 0 but spelled out at call sites so a
 * reader sees that no special context applies.
 *
 * TRYLOCK    never spin or sleep on a lock: every lock is taken with
 *            sm_trylock, and a busy lock means "fail this step", so the
 *            request may return NULL where a blocking one would have waited.
 * NO_RECURSE the allocation is for the allocator itself (a sheaf, a thread
 *            cache): bypass per-thread sheaves and take objects straight
 *            from slabs, so that a sheaf is never needed to allocate a sheaf.
 * NEW_SLAB   skip the partial lists: the object comes from a newly made slab.
 *            kmem_cache.c honours it, but no entry point, test or internal
 *            caller passes it today.
 * THISNODE   only ctx->node may be used: no fallback to other nodes.  On
 *            its own it reaches a private node only if that node was made
 *            with SM_NODE_THISNODE_OK.
 * ZERO       the caller wants zeroed memory.
 * ZERO_PTR   a request of size 0 gets a slot of the zero area (zero.h):
 *            the malloc family's malloc(0), which must fault when used.
 * RESIDENT   page runs only from free pages still resident (a node's
 *            dirty free runs): no fresh or purged pages, no new node.
 *            large.c asks for it above the huge threshold, where a run
 *            that would fault its pages in is a mapping of its own instead,
 *            and pa_alloc_pages for its first pass over every node's dirty
 *            runs (page_alloc.c).
 *
 * The context flags of the public struct sm_alloc_ctx (seed 003): each one
 * grants access to a kind of node (page_alloc.c, node_allows, is the one
 * place that reads them):
 * CMA        reserved regions (SM_NODE_RESERVED) may be used, before the
 *            general nodes.
 * UNMAPPED   only unmapped nodes (SM_NODE_UNMAPPED): never anything else.
 * MANAGED    the private node named by ctx->node may be used (and only it).
 * RESERVED_ONLY  internal: only reserved nodes, the first try of a CMA
 *            request for one object (whose partial slabs would otherwise
 *            be taken from any allowed node before a new slab is made in
 *            the region).
 *
 * TRYLOCK, NO_RECURSE, NEW_SLAB, ZERO_PTR and RESIDENT are internal: a public context cannot
 * express them (alloc_ctx_import refuses unknown bits).
 */
enum {
	SLAB_ALLOC_DEFAULT    = 0,
	SLAB_ALLOC_TRYLOCK    = 1u << 0,
	SLAB_ALLOC_NO_RECURSE = 1u << 1,
	SLAB_ALLOC_NEW_SLAB   = 1u << 2,
	SLAB_ALLOC_THISNODE   = 1u << 3,
	SLAB_ALLOC_ZERO       = 1u << 4,
	SLAB_ALLOC_CMA        = 1u << 5,
	SLAB_ALLOC_UNMAPPED   = 1u << 6,
	SLAB_ALLOC_MANAGED    = 1u << 7,
	SLAB_ALLOC_RESERVED_ONLY = 1u << 8,
	SLAB_ALLOC_ZERO_PTR   = 1u << 9,
	SLAB_ALLOC_RESIDENT   = 1u << 10,
};

/*
 * Requests the per-thread sheaves cannot serve: their objects may come from
 * any general node and only from those, so a request that names or limits
 * its nodes takes the slabs directly.  A constant mask: testing it costs the
 * fast path nothing more than the THISNODE test it replaces.
 */
#define SLAB_ALLOC_BYPASS (SLAB_ALLOC_NO_RECURSE | SLAB_ALLOC_THISNODE | SLAB_ALLOC_CMA | \
			   SLAB_ALLOC_UNMAPPED | SLAB_ALLOC_MANAGED)
/* The requests that may only use the nodes they name or grant: no growth, no huge mapping. */
#define SLAB_ALLOC_CONFINED (SLAB_ALLOC_THISNODE | SLAB_ALLOC_UNMAPPED | SLAB_ALLOC_MANAGED | \
			     SLAB_ALLOC_RESERVED_ONLY)

struct slab_alloc_context {
	uintptr_t caller_addr;   /* return address of the public entry point */
	size_t orig_size;        /* size the caller asked for */
	unsigned int alloc_flags;
	int node;                /* target node, or SM_NO_NODE */
};

#define SLAB_ALLOC_CTX(size, flags, nid) \
	((struct slab_alloc_context){ .caller_addr = (uintptr_t)__builtin_return_address(0), \
				      .orig_size = (size), .alloc_flags = (flags), .node = (nid) })

/* The public SM_GFP_* flags as alloc_flags. */
static inline unsigned gfp_to_alloc_flags(unsigned gfp)
{
	return ((gfp & SM_GFP_ZERO) ? SLAB_ALLOC_ZERO : 0) |
	       ((gfp & SM_GFP_THISNODE) ? SLAB_ALLOC_THISNODE : 0);
}

/*
 * Import a public allocation context (the kernel's snapshot-then-sanitise):
 * @u is copied once, so a caller changing it meanwhile changes nothing, and
 * checked.  Returns 0 with *@flags (alloc_flags) and *@node set, or EINVAL
 * for an unknown gfp or context bit, a node outside SM_NO_NODE..
 * SM_MAX_NODES-1, or SM_CTX_MANAGED_NODE without a node: never ignored.
 * @u NULL is the empty context.
 */
static inline int alloc_ctx_import(const struct sm_alloc_ctx *u, unsigned *flags, int *node)
{
	struct sm_alloc_ctx c = { 0, SM_NO_NODE, 0 };
	if (u)
		c = *u;
	if ((c.gfp & ~SM_GFP_ALL) || (c.flags & ~SM_CTX_ALL) || c.node < SM_NO_NODE ||
	    c.node >= SM_MAX_NODES || ((c.flags & SM_CTX_MANAGED_NODE) && c.node == SM_NO_NODE))
		return EINVAL;
	*flags = gfp_to_alloc_flags(c.gfp) | ((c.flags & SM_CTX_CMA) ? SLAB_ALLOC_CMA : 0) |
		 ((c.flags & SM_CTX_UNMAPPED) ? SLAB_ALLOC_UNMAPPED : 0) |
		 ((c.flags & SM_CTX_MANAGED_NODE) ? SLAB_ALLOC_MANAGED : 0);
	*node = c.node;
	return 0;
}

#endif /* SM_ALLOC_CONTEXT_H */
