/*
 * large.h - allocations above the kmalloc classes: page runs of a node (up
 * to the huge threshold) and huge mappings, each a node of its own.  One
 * file for finding, allocating, freeing and resizing both.
 *
 * A live page run is tagged PT_LARGE on its first page (with the size asked
 * for) and PT_LARGE_TAIL on its last; a huge mapping is a NODE_HUGE node on
 * its page allocator's huge list.  Neither is ever read to be found: a
 * pointer is classified by the node map and the page descriptors alone.
 */
#ifndef SM_LARGE_H
#define SM_LARGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "alloc_context.h"
#include "node.h"
#include "page_alloc.h"

/* Requests above this cannot be satisfied on any machine (and would overflow). */
#define SM_MAX_ALLOC ((size_t)1 << 46)

/*
 * The largest alignment a page run gets.  A run aligned to A needs up to
 * A - 1 pages more to be found in a node; above 2 MiB (a transparent huge
 * page) a request gets a mapping of its own instead, which its reservation
 * aligns exactly (node_create_huge).  Alignments above SM_MAX_ALIGN
 * (slabmalloc.h) fail at once.
 */
#define SM_RUN_MAX_ALIGN ((size_t)2 << 20)

/* A live page run or huge mapping, as large_lookup finds it. */
struct large_ref {
	struct sm_node *node;
	uint32_t page;                  /* first page of the run (page runs) */
	bool huge;                      /* a huge mapping: node->data is the object */
};

/*
 * Whether @p is the start of a live page run or huge mapping; fills @r.
 * Reads only the node map and descriptors.  False for anything else (slab
 * objects, interior and stale pointers, foreign memory).
 */
bool large_lookup(const void *p, struct large_ref *r) __hidden;

/*
 * @size bytes aligned to @align (0 or a power of two): a page run from
 * @pa's nodes, or a mapping of its own (fresh from the OS: zero) above its
 * huge threshold or SM_RUN_MAX_ALIGN.  SLAB_ALLOC_ZERO zeroes what is not
 * known to be zero.  NULL (errno ENOMEM) when out of memory, at once for
 * @size above SM_MAX_ALLOC or @align above SM_MAX_ALIGN (nothing is
 * reserved for a request that cannot succeed), or with TRYLOCK when a lock
 * was busy.
 */
void *large_alloc(struct page_alloc *pa, size_t size, size_t align,
		  const struct slab_alloc_context *ctx) __hidden;

/*
 * Free the allocation @r found: a page run goes back to its node as a dirty
 * run stamped @now, a huge mapping is unmapped.  Returns false, changing
 * nothing, only with @trylock when a lock was busy (the caller defers it).
 */
bool large_free(struct page_alloc *pa, const struct large_ref *r, uint64_t now, bool trylock) __hidden;

/* Bytes usable at the allocation @r found (whole pages). */
size_t large_usable(const struct large_ref *r) __hidden;

/*
 * Resize the allocation @r found to @n bytes where it is: a page run
 * shrinks, or grows into the free or fresh pages after it; a huge mapping
 * grows within its reservation.  With @zero, bytes past the old size read
 * as zero.  Returns false (nothing changed) when it cannot be done in place,
 * or with @trylock when a lock was busy.
 */
bool large_resize(struct page_alloc *pa, const struct large_ref *r, size_t n, bool zero,
		  bool trylock) __hidden;

#endif /* SM_LARGE_H */
