/*
 * alloc_context.h - struct slab_alloc_context: everything an internal
 * allocation function needs to know about the request besides the cache,
 * carried in one struct instead of overloaded arguments (the counterpart of
 * the kernel's slab_alloc_context with its alloc_flags).
 */
#ifndef SM_ALLOC_CONTEXT_H
#define SM_ALLOC_CONTEXT_H

#include <stddef.h>
#include <stdint.h>

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
 * NEW_SLAB   skip the partial lists: the object comes from a newly made slab
 *            (used by tests and when partial slabs must not be disturbed).
 * THISNODE   only ctx->node may be used: no fallback to other nodes.  Private
 *            nodes are reachable only with this flag.
 * ZERO       the caller wants zeroed memory.
 * ZERO_PTR   a request of size 0 gets a slot of the zero area (zero.h):
 *            the malloc family's malloc(0), which must fault when used.
 */
enum {
	SLAB_ALLOC_DEFAULT    = 0,
	SLAB_ALLOC_TRYLOCK    = 1u << 0,
	SLAB_ALLOC_NO_RECURSE = 1u << 1,
	SLAB_ALLOC_NEW_SLAB   = 1u << 2,
	SLAB_ALLOC_THISNODE   = 1u << 3,
	SLAB_ALLOC_ZERO       = 1u << 4,
	SLAB_ALLOC_ZERO_PTR   = 1u << 5,
};

struct slab_alloc_context {
	uintptr_t caller_addr;   /* return address of the public entry point */
	size_t orig_size;        /* size the caller asked for */
	unsigned int alloc_flags;
	int node;                /* target node, or SM_NO_NODE */
};

#define SLAB_ALLOC_CTX(size, flags, nid) \
	((struct slab_alloc_context){ .caller_addr = (uintptr_t)__builtin_return_address(0), \
				      .orig_size = (size), .alloc_flags = (flags), .node = (nid) })

#endif /* SM_ALLOC_CONTEXT_H */
