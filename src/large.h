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

enum large_free_result {
	LARGE_FREED,
	LARGE_BUSY,     /* @trylock and a lock was busy: nothing done (defer it) */
	LARGE_NOT_LIVE, /* freed already: a double free (nothing done) */
};

/*
 * Free the allocation @r found: a page run goes back to its node as a dirty
 * run stamped @now, a huge mapping is unmapped.  The free is claimed under
 * the lock that guards it, so of two frees of one allocation, however they
 * race, exactly one succeeds.
 */
enum large_free_result large_free(struct page_alloc *pa, const struct large_ref *r, uint64_t now,
				  bool trylock) __hidden;

/*
 * Whether @p is the start of one of the last 64 huge mappings unmapped in
 * this process: its address is foreign now, but a free of it is most
 * likely a double free, and is reported as one.
 */
bool large_recently_unmapped(const void *p) __hidden;

/*
 * Hardened mode's canary (issue 13): SM_RUN_CANARY bytes of a fixed
 * pattern right after the size a page run was asked for (large_alloc
 * sizes a hardened run with room for it), so that an overflow of 1 to 16
 * bytes is seen on free.  large_canary_set writes it for the live run starting at @page of
 * @n (after its size is recorded and any zeroing is done);
 * large_canary_check returns the offset past the object's end of the
 * first byte that differs, or SIZE_MAX when all are intact.  The caller
 * owns the run.
 */
#define SM_RUN_CANARY 16
void large_canary_set(const struct sm_node *n, uint32_t page) __hidden;
size_t large_canary_check(const struct large_ref *r) __hidden;

/*
 * Hardened mode's big runs: this many pages or more for the bytes asked
 * for and the canary.  A big run gets a guard page after it while live
 * (large.c, run_guard), and is purged at once when freed (large_free), its
 * pages protected: a stale pointer into it faults, its next user reads
 * zeros.  Smaller runs (the 32 to 128 KiB buffers a server allocates by
 * the thousand) have the canary only and keep the purge delay: the system
 * calls (mprotect and madvise, which take the process's mapping lock
 * against every other thread's page faults) and the faults after them
 * cost such a run more than its use (docs/benchmarks.md, "Hardened mode:
 * page runs, and the slot before").
 */
#define SM_HARDEN_BIG_RUN_PAGES 32u

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

/*
 * Grow the huge mapping @r found to @n bytes by moving it (node_move_huge:
 * mremap, no copy) when it cannot grow within its reservation.  Returns its
 * new address (the old one is foreign from then on, and a free of it is
 * reported as a double free), or NULL (nothing changed) when the OS ops
 * have no remap or it failed.  Blocking context (takes pa->lock).
 */
void *large_move_huge(struct page_alloc *pa, const struct large_ref *r, size_t n) __hidden;

/*
 * In the child of fork(): when a vanished thread held the lock that guards
 * @pa's huge list (@list_lost), rebuild the list and its counters from the
 * node map; and unmap the huge mappings a vanished thread had claimed for
 * freeing but not unmapped yet.
 */
void large_fork_child(struct page_alloc *pa, bool list_lost) __hidden;

#endif /* SM_LARGE_H */
