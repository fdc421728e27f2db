/*
 * page.h - struct slab, the out-of-band descriptor of one data page of a
 * node, and the page types.  Below both the node layer, which writes the
 * tags of free and large runs, and the slab layer, which writes the
 * descriptors of a slab.
 *
 * The kernel overlays struct slab on struct page; here every data page of a
 * node has a 64-byte struct slab in the node's descriptor table.  For a slab
 * of k pages, all k descriptors carry the cache and the first page, so that
 * any object pointer finds its slab with arithmetic alone; the fields below
 * "first page only" are meaningful in the first page's descriptor.
 *
 * Who writes what: PT_FREE tags under node->lock (node.c); PT_SLAB and
 * PT_LARGE descriptors by whoever owns the run; a slab's freelist, inuse,
 * bump, on_list and stamp/owner under its cache's list_lock on that node.
 * type, head and dirty are written with WRITE_ONCE wherever they change:
 * a free's merge (node.c run_insert) and the run cache (runcache.c,
 * run_has_free_neighbour) read a neighbour's without its lock, as a hint.
 */
#ifndef SM_PAGE_H
#define SM_PAGE_H

#include <stdbool.h>
#include <stdint.h>

#include "compiler.h"
#include "list.h"
#include "thread.h"

struct kmem_cache;

enum page_type {
	PT_UNUSED = 0,    /* never handed out, or interior of a free run */
	PT_SLAB,          /* part of a live slab */
	PT_LARGE,         /* first page of a live page run (kmalloc large) */
	PT_LARGE_TAIL,    /* last page of a live page run */
	PT_FREE,          /* first or last page of a free run */
	PT_LARGE_CACHED,  /* first page of a page run kept in a thread's run
	                     cache (runcache.h): freed, not yet free */
	PT_SLAB_ROUTED,   /* part of a live slab of a private, unmapped or
	                     reserved node (node.h, NODE_ROUTED): everything
	                     PT_SLAB says, but obj_cache() does not resolve
	                     it, so every free of its objects takes the slow
	                     path that sends them home (free.c) */
	PT_INTERNAL,      /* first page of a page run the allocator uses
	                     itself (a thread's tcache, its remote views):
	                     no free, realloc or ksize of the program's
	                     accepts it (slab_check_object reports it) */
};

/* Whether a page of type @t is part of a live slab (either kind). */
static inline bool page_type_slab(uint8_t t)
{
	return t == PT_SLAB || t == PT_SLAB_ROUTED;
}

enum { RUN_GUARD_NONE, RUN_GUARD_ON, RUN_GUARD_OFF }; /* struct slab's guarded */

struct slab {
	struct kmem_cache *cache;   /* PT_SLAB: owning cache (every page) */
	uint32_t head;              /* first page of the run (every page of a
	                               slab; both tags of free and large runs) */
	uint8_t type;               /* enum page_type */
	union {
		uint8_t dirty;      /* PT_FREE: may be resident */
		uint8_t epoch;      /* PT_SLAB: its kmem_cache_node's epoch when
		                       made (first page); an older one was
		                       abandoned in a fork child */
	};
	uint8_t fclass;             /* PT_SLAB: the cache's fclass (every
	                               page): 1 + its class for a kmalloc cache
	                               of the default instance, else 0 */
	uint8_t page_off;           /* PT_SLAB: this page's index in its slab
	                               (every page): the slab starts page_off
	                               pages below, with no other load */
	/* --- first page only --- */
	uint32_t npages;            /* length of the run */
	uint32_t inuse;             /* PT_SLAB: objects handed out */
	uint32_t bump;              /* PT_SLAB: objects [bump, objects) untouched */
	uint16_t objects;           /* PT_SLAB: objects in the slab */
	union {
		uint8_t on_list;    /* PT_SLAB: 0 none, 1 partial, 2 empty */
		uint8_t guarded;    /* PT_LARGE: 0, or its last page is kept
		                       for a guard page (hardened mode,
		                       large.c): RUN_GUARD_ON protected,
		                       RUN_GUARD_OFF accessible; 0 from
		                       node_mark_large on */
	};
	uint8_t purge;              /* PT_SLAB: the first page's, the slab's
	                               SLAB_TOUCHED, SLAB_PURGED, SLAB_CHECKED
	                               (slab.h); every page's, SLAB_PAGE_PURGED
	                               and SLAB_PAGE_PURGING */
	union {
		uintptr_t freelist; /* PT_SLAB: encoded first free object */
		size_t size;        /* PT_LARGE: bytes asked for */
	};
	struct list_head list;      /* PT_SLAB: partial/empty list; PT_FREE: bin */
	union {
		uint64_t stamp;     /* PT_FREE / empty slab: since when (ns) */
		uintptr_t owner;    /* PT_SLAB with objects out: the thread whose
		                       sheaf last took objects from it
		                       (sm_thread_token()); read racily by frees,
		                       as a hint of where the object belongs */
	};
};

/* The first page's descriptor of the slab whose page @d describes (PT_SLAB). */
static __always_inline const struct slab *slab_head_desc(const struct slab *d)
{
	return d - d->page_off;
}

/*
 * Whether the calling thread owns the slab of PT_SLAB page @d: a hint,
 * read without the list_lock (an owner changing under us only sends one
 * free the other way).
 */
static __always_inline bool slab_owned_here(const struct slab *d)
{
	bool mine = READ_ONCE(slab_head_desc(d)->owner) == sm_thread_token();
	/* Opaque, so that the compiler cannot use the loaded owner for the
	   thread's own address after the test (that would put this load on
	   the fast paths' chain to their store). */
	OPTIMIZER_HIDE_VAR(mine);
	return mine;
}

_Static_assert(sizeof(struct slab) == 64, "struct slab should stay one cache line");

/* struct slab's purge bits (slab.h, "Free pages inside a partial slab"). */
#define SLAB_TOUCHED     1      /* taken from or freed to since the last purge pass */
#define SLAB_PURGED      2      /* free pages purged: the freelist is a bitmap */
#define SLAB_CHECKED     4      /* looked at untouched: nothing to purge */
#define SLAB_PAGE_PURGED 8      /* this page purged: every object on it is free */
#define SLAB_PAGE_PURGING 16    /* this page marked by the pass under way, which
                                   gives it back (set with SLAB_PAGE_PURGED) */

/*
 * A data page's hot word, in the node's hot table beside its descriptor
 * table (node.h, sm_hot_map): the three things free()'s fast path needs of
 * the page, four bytes a page, so that one cache line covers sixteen pages
 * where the descriptors take one each.  The fields sit where free() uses
 * them, so that each is one mask (or shift) away:
 *
 *   bits  0-4   zero
 *   bits  5-10  the page's fclass, so h & PAGE_HOT_FCLASS_MASK is fclass *
 *               32, the stride of sm_fast_class and kmalloc_pcs
 *   bit  11     zero
 *   bits 12-19  its page_off, so h & PAGE_HOT_PAGE_OFF_MASK is the page's
 *               byte offset in its slab
 *   bits 20-31  the owner tag of the thread whose sheaf last took objects
 *               from the slab (sm_thread_state.owner_tag, 1..4095; 0: none)
 *
 * Written only by the slab layer (slab.c), by whoever may write the
 * slab's descriptors: the whole word when a slab is made (after its
 * descriptors) and cleared when it is taken apart (before them); the
 * owner bits, on every page of the slab, when a sheaf takes objects from
 * it (under the list_lock).  Read racily by free(): fclass non-zero
 * means the page is a live default kmalloc slab's, as the descriptor's
 * fclass does; the owner is a hint, as the descriptor's owner is, and two
 * threads with the same tag (one in 4,095 threads made) only send some
 * frees the other way.
 */
#define PAGE_HOT_FCLASS_SHIFT 5
#define PAGE_HOT_FCLASS_MASK  (0x3fu << PAGE_HOT_FCLASS_SHIFT)
#define PAGE_HOT_PAGE_OFF_MASK (0xffu << SM_PAGE_SHIFT)
#define PAGE_HOT_OWNER_SHIFT  20
#define PAGE_HOT_OWNER_MAX    0xfffu

_Static_assert(SM_NR_KMALLOC + 1 <= (PAGE_HOT_FCLASS_MASK >> PAGE_HOT_FCLASS_SHIFT) + 1,
	       "every fclass fits the hot word");

static __always_inline uint32_t page_hot(unsigned fclass, unsigned page_off, uint16_t owner)
{
	return fclass << PAGE_HOT_FCLASS_SHIFT | page_off << SM_PAGE_SHIFT |
	       (uint32_t)owner << PAGE_HOT_OWNER_SHIFT;
}

static __always_inline unsigned page_hot_fclass(uint32_t h)
{
	return (h & PAGE_HOT_FCLASS_MASK) >> PAGE_HOT_FCLASS_SHIFT;
}

/* fclass * 32: what indexes sm_fast_class and kmalloc_pcs (0: not a default kmalloc slab). */
static __always_inline unsigned page_hot_fclass32(uint32_t h)
{
	return h & PAGE_HOT_FCLASS_MASK;
}

static __always_inline unsigned page_hot_page_off(uint32_t h)
{
	return (h & PAGE_HOT_PAGE_OFF_MASK) >> SM_PAGE_SHIFT;
}

/* The page's byte offset in its slab: page_off * SM_PAGE_SIZE. */
static __always_inline uint32_t page_hot_page_bytes(uint32_t h)
{
	return h & PAGE_HOT_PAGE_OFF_MASK;
}

static __always_inline uint16_t page_hot_owner(uint32_t h)
{
	return (uint16_t)(h >> PAGE_HOT_OWNER_SHIFT);
}

/* @h with its owner tag replaced by @owner. */
static __always_inline uint32_t page_hot_with_owner(uint32_t h, uint16_t owner)
{
	return page_hot(page_hot_fclass(h), page_hot_page_off(h), owner);
}

#endif /* SM_PAGE_H */
