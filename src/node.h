/*
 * node.h - nodes: large reservations of address space from which slabs and
 * page runs are carved, with their out-of-band page descriptors.
 *
 * A node is laid out as
 *     [struct sm_node][struct slab table[reservation pages]][guard page][data pages]
 * where descs, the descriptors of the data pages, is the tail of the table.
 * and aligned to SM_NODE_ALIGN, so the global node map finds the node of any
 * address with one load, without touching the address.  Every data page has
 * a descriptor (struct slab, page.h); node.c keeps these invariants:
 *   - a page inside a live slab has type PT_SLAB, its cache and its slab's
 *     first page (written for every page of the slab);
 *   - the first and last page of a live page run have PT_LARGE/PT_LARGE_TAIL;
 *     a run kept in a thread's run cache (runcache.h) has PT_LARGE_CACHED
 *     instead of PT_LARGE, and is neither live nor free;
 *   - the first and last page of a free run are PT_FREE boundary tags;
 *   - every other page has a type that no valid pointer may resolve to
 *     (PT_UNUSED, PT_FREE), so a free() of an interior or stale pointer is
 *     always recognised.
 * Pages [0, bump) have been handed out at least once; [bump, npages) are
 * fresh (never touched, zero).  Free runs are either dirty (may be resident)
 * or clean (purged: zero and not resident, and with the real OS PROT_NONE,
 * so a stale pointer into one faults), and only runs of the same state
 * coalesce.
 *
 * Locking: node->lock guards bump, committed, the free bins, and the PT_FREE
 * tags; PT_SLAB/PT_LARGE descriptors are written by whoever owns the run.
 *
 * A node carries everything its layer needs: its own copy of the OS
 * operations it was made with (os_own) and the sink its owner's reports go
 * to.  It never looks at the instance that owns it (the pointer is kept for
 * the layers above).
 *
 * Two kinds are laid out differently (docs/nodes.md).  An unmapped node's
 * reservation is the same, but its OS backs only the data pages with
 * secret or locked memory (the header and table stay ordinary).  A
 * reserved node's data is the caller's region: its header and table are a
 * mapping of their own (base/reserved), and the region's granules are in
 * the node map without NODE_MAP_TABLES (so desc_of() does not resolve
 * them) and not in the hot map.
 */
#ifndef SM_NODE_H
#define SM_NODE_H

#include <stdbool.h>
#include <stdint.h>

#include "alloc_context.h"
#include "compiler.h"
#include "list.h"
#include "lock.h"
#include "page.h"
#include "printk.h"
#include "slabmalloc.h"

struct sm_instance;

#define SM_NODE_SHIFT 26                       /* node map granule: 64 MiB */
#define SM_NODE_ALIGN ((size_t)1 << SM_NODE_SHIFT)
#define SM_VA_BITS    48                       /* user address space the map covers */

#define NODE_NR_BINS   64
#define NODE_EXACT_BINS 48                     /* bins 0..47: runs of 1..48 pages */
#define NODE_COMMIT_PAGES 512                  /* commit in 2 MiB steps */

enum node_kind {
	NODE_NORMAL = 0,   /* slabs and page runs (its flags say who may use it) */
	NODE_HUGE = 2,     /* one huge allocation, no descriptor table */
};

/*
 * A node's flags are the SM_NODE_* of sm_node_create (0 for the instance's
 * own nodes): who may allocate from it is page_alloc.c's decision
 * (node_allows).  NODE_ROUTED: the flags whose objects must never reach a
 * general sheaf.  Their slabs are PT_SLAB_ROUTED with fclass 0 (page.h),
 * so that free()'s fast path and obj_cache() miss them at no cost, and
 * the slow path sends each object home (free.c).
 */
#define NODE_ROUTED (SM_NODE_PRIVATE | SM_NODE_UNMAPPED | SM_NODE_RESERVED)

struct sm_node {
	/* Set at creation, read-only afterwards. */
	struct sm_instance *inst;      /* owner (opaque at this layer) */
	const struct sm_os_ops *os;    /* every member set */
	const struct report_sink *err; /* the owner's reports */
	uintptr_t base;                /* the reservation (this struct is at base) */
	size_t reserved;               /* bytes of the reservation */
	char *data;                    /* first data page */
	struct slab *descs;            /* one descriptor per data page */
	uint32_t *hot;                 /* one hot word per data page (page.h,
	                                  page_hot); NULL in a reserved
	                                  region's node, which is in no map */
	uint32_t npages;               /* data pages */
	uint8_t kind;                  /* enum node_kind */
	int8_t id;                     /* index in inst->nodes, -1 for NODE_HUGE */
	uint8_t flags;                 /* SM_NODE_* (0: general) */
	uint8_t backing;               /* enum sm_node_backing */
	int16_t numa;                  /* bound NUMA node, or -1 */
	struct sm_os_ops os_own;       /* what os points to: the node's own copy
	                                  of its OS primitives, so that nothing
	                                  at this layer looks at its owner's */
	size_t huge_size;              /* NODE_HUGE: bytes of data */
	uint32_t freeing;              /* NODE_HUGE: lock id of the thread that
	                                  claimed its free (under the page
	                                  allocator's lock), 0 while live */
	struct list_head huge_link;    /* NODE_HUGE: on inst->huge_list */

	sm_lock_t lock;                /* guards everything below */
	uint8_t abandoned;             /* fork child: a vanished thread held the
	                                  lock, the bins may be half-updated:
	                                  no run is taken or given back again */
	struct list_head purges;       /* purges under way (struct purge_batch
	                                  on each purger's stack): their runs
	                                  are off the bins while the madvise
	                                  calls run without the lock */
	uint32_t bump;                 /* pages [bump, npages) are fresh */
	uint32_t committed;            /* pages [0, committed) are accessible,
	                                  but for clean free runs, which a
	                                  purge may have protected (committed
	                                  again when handed out) */
	uint64_t dirty_mask, clean_mask; /* bit b set: bin b is not empty;
	                                    dirty_mask read without the lock
	                                    as a hint (node_has_dirty_fit) */
	struct list_head dirty_bins[NODE_NR_BINS];
	struct list_head clean_bins[NODE_NR_BINS];
	size_t free_dirty_pages;
	size_t free_clean_pages;
	size_t used_pages;             /* pages handed out (slabs and runs) */
	uint64_t oldest_dirty;         /* lower bound of dirty runs' stamps (ns) */
	size_t purged_pages;           /* total purged since creation */
};

/*
 * The process-wide node map: granule index -> node, 0 for foreign.  It
 * covers the 48-bit user address space of x86-64 and arm64 (2^22 entries,
 * 32 MiB of static storage, resident only where touched).  Linux maps
 * above that only where an mmap hint asks for it (x86-64 5-level paging,
 * arm64 52-bit VA); node.c gives back any reservation that reaches beyond
 * the map, so every granule of every node has an entry.  An entry is the
 * node's address, with NODE_MAP_TABLES set when the node's descriptor
 * and hot tables are where desc_of() and the hot map look (a normal node
 * at its reservation's base; not a huge node, nor a reserved region's,
 * whose header lies elsewhere).
 */
extern uintptr_t sm_node_map[(size_t)1 << (SM_VA_BITS - SM_NODE_SHIFT)] __hidden;

#define NODE_MAP_TABLES ((uintptr_t)1)

#define SM_NODE_MAP_MASK (((uintptr_t)1 << (SM_VA_BITS - SM_NODE_SHIFT)) - 1)

/*
 * The hot map, beside the node map: granule index -> the address of its
 * node's hot table (page.h, page_hot) biased so that the hot word of the
 * page holding @p is at entry + (@p >> SM_PAGE_SHIFT) * 4.  The table of a
 * normal node covers its whole reservation (node.c, node_layout), so that
 * address is readable for every @p in the node's granules; pages that are
 * not data have zero words.  0 for foreign granules, huge nodes and
 * reserved regions' nodes.  It is what makes free()'s fast path one load
 * to the page's hot word instead of three (map, node, table), and the hot
 * words are dense: sixteen pages share a cache line, where each page's
 * descriptor fills one.
 */
extern uintptr_t sm_hot_map[(size_t)1 << (SM_VA_BITS - SM_NODE_SHIFT)] __hidden;

/* Pages of the header (struct sm_node) at the start of every node. */
#define NODE_HDR_PAGES (ALIGN_UP(sizeof(struct sm_node), SM_PAGE_SIZE) >> SM_PAGE_SHIFT)

/* The hot-map entry of @p's granule (0: no hot table there, see above). */
static __always_inline uintptr_t hot_bias(const void *p)
{
	uintptr_t g = (uintptr_t)p >> SM_NODE_SHIFT;
	if (unlikely(g > SM_NODE_MAP_MASK))
		return 0;
	return __atomic_load_n(&sm_hot_map[g], __ATOMIC_RELAXED);
}

/* The hot word of @p's page, given @p's non-zero hot_bias(). */
static __always_inline uint32_t hot_at(uintptr_t bias, const void *p)
{
	return READ_ONCE(*(const uint32_t *)(bias + ((uintptr_t)p >> SM_PAGE_SHIFT) * sizeof(uint32_t)));
}

/* Write the hot word of data page @page of @n (the slab layer only: page.h). */
static inline void node_hot_set(struct sm_node *n, uint32_t page, uint32_t h)
{
	if (n->hot)
		WRITE_ONCE(n->hot[page], h);
}

/*
 * desc_in_map() is desc_of() for a caller that knows @p is within the map
 * (its hot_bias() was non-zero, say).
 *
 * The descriptor of the page holding @p, or NULL if @p is not in a normal
 * node's granule (foreign, huge, a reserved region's, or above the map).
 * A normal node's descriptor table starts right after its header, at the
 * node's base (node_layout), and covers the whole reservation: the node
 * map's entry, which is that base, gives the descriptor by arithmetic, so
 * it is two loads from @p, as the hot word is; the entry's
 * NODE_MAP_TABLES says whether the node has its tables there.  Nothing more is checked: a non-NULL result may be the zero descriptor
 * of a header page, or of any page type.
 */
static __always_inline const struct slab *desc_in_map(const void *p)
{
	uintptr_t e = __atomic_load_n(&sm_node_map[(uintptr_t)p >> SM_NODE_SHIFT], __ATOMIC_RELAXED);
	if (unlikely(!(e & NODE_MAP_TABLES)))
		return NULL;
	uintptr_t base = e - NODE_MAP_TABLES;
	const struct slab *table = (const struct slab *)(base + (NODE_HDR_PAGES << SM_PAGE_SHIFT));
	return table + (((uintptr_t)p - base) >> SM_PAGE_SHIFT);
}

static __always_inline const struct slab *desc_of(const void *p)
{
	if (unlikely(((uintptr_t)p >> SM_NODE_SHIFT) > SM_NODE_MAP_MASK))
		return NULL;
	return desc_in_map(p);
}

/*
 * The node whose map granule @p falls in, or NULL.  Addresses above the
 * 48-bit user space alias a granule by the mask; they, like any address
 * outside a node's data, then fail node_page_index() (a huge node's data is
 * checked by exact address), so every caller treats them as foreign.
 */
static __always_inline struct sm_node *node_of_granule(const void *p)
{
	uintptr_t a = (uintptr_t)p;
	uintptr_t e = __atomic_load_n(&sm_node_map[(a >> SM_NODE_SHIFT) & SM_NODE_MAP_MASK], __ATOMIC_ACQUIRE);
	return (struct sm_node *)(e & ~NODE_MAP_TABLES);
}

/* The node owning @p, or NULL if @p lies outside every node. */
static __always_inline struct sm_node *node_of(const void *p)
{
	uintptr_t a = (uintptr_t)p;
	if (unlikely(a >> SM_VA_BITS))
		return NULL;
	return node_of_granule(p);
}

/* Data-page index of @p in @n, or UINT32_MAX if @p is not a data address. */
static __always_inline uint32_t node_page_index(const struct sm_node *n, const void *p)
{
	uintptr_t off = (uintptr_t)p - (uintptr_t)n->data;
	if (unlikely(off >= ((uintptr_t)n->npages << SM_PAGE_SHIFT)))
		return UINT32_MAX;
	return (uint32_t)(off >> SM_PAGE_SHIFT);
}

/*
 * node_of(), except that an address in a reserved region's granule but
 * outside the region is foreign (NULL): the region's first and last
 * granules may hold anybody's memory.  For the answers given to callers
 * (sm_ptr_instance, sm_ptr_node, reports); the free paths check the page
 * index themselves.
 */
static inline struct sm_node *node_owning(const void *p)
{
	struct sm_node *n = node_of(p);
	if (n && n->backing == SM_BACKING_REGION && node_page_index(n, p) == UINT32_MAX)
		return NULL;
	return n;
}

static inline void *node_page_addr(const struct sm_node *n, uint32_t page)
{
	return n->data + ((size_t)page << SM_PAGE_SHIFT);
}

/* What a node is made with: its owner, OS operations and report sink. */
struct node_origin {
	struct sm_instance *inst;
	const struct sm_os_ops *os;
	const struct report_sink *err;
};

/*
 * What kind of node to make (sm_node_create's parameters, checked): flags
 * SM_NODE_*, the NUMA node to bind to (-1: none), the backing it got, and
 * for SM_NODE_RESERVED the caller's region.
 */
struct node_spec {
	unsigned flags;
	int numa;
	uint8_t backing;
	void *region;
};

/* Whether the objects of @n's slabs must go home when freed (NODE_ROUTED). */
static inline bool node_routed(const struct sm_node *n)
{
	return n->flags & NODE_ROUTED;
}

/*
 * Reserve a node of @size bytes (its reservation is @size rounded up to
 * SM_NODE_ALIGN).  Returns NULL if the OS refuses.  The node is registered
 * in the node map before it is returned.
 */
struct sm_node *node_create(const struct node_origin *o, size_t size, int id) __hidden;
/*
 * As node_create for a node of kind @spec: bound to spec->numa with the
 * OS's mbind (the node is given back and NULL returned if that fails), or,
 * with SM_NODE_RESERVED, over the caller's region [spec->region,
 * spec->region + @size): its header and descriptors are a mapping of
 * their own, the region's granules point at the node in the node map
 * without NODE_MAP_TABLES (desc_of() and free()'s fast path do not
 * resolve them: every free of its objects takes the slow
 * path), and it is never committed, purged or unmapped.  NULL when the OS
 * refuses, or (region) when a granule of the region is another node's.
 */
struct sm_node *node_create_spec(const struct node_origin *o, size_t size, int id,
				 const struct node_spec *spec) __hidden;
/* Data pages of a node created with @size bytes (0: too small for any). */
size_t node_data_pages(size_t size) __hidden;
/* Bytes from a node's base to its first data page (its header, descriptor table and guard). */
size_t node_data_offset(size_t size) __hidden;
/*
 * A node holding one allocation of @size bytes aligned to @align (huge): a
 * header page at its base and the data @align (at least a page) above it,
 * reserved aligned to max(@align, SM_NODE_ALIGN).  An alignment above the
 * page thus costs that much address space before the data (never
 * committed), and any alignment up to SM_MAX_ALIGN is met exactly.
 */
struct sm_node *node_create_huge(const struct node_origin *o, size_t size, size_t align) __hidden;
/*
 * Grow huge node @n's data in place to @size bytes: possible while it fits in
 * the node's reservation (rounded up to 64 MiB at creation), by committing
 * the pages after it (fresh pages: they read as zero).  Returns the bytes
 * added (0: does not fit, or the OS refused; nothing changed).  The caller
 * owns the allocation; no lock is taken.
 */
size_t node_grow_huge(struct sm_node *n, size_t size) __hidden;
/*
 * Move huge node @n's data to a new reservation of its own, grown to @size
 * bytes, with the OS's remap (mremap: the pages move, nothing is copied;
 * the pages added read as zero).  Returns the new node (its header is new:
 * the caller links it where @n was), or NULL with @n unchanged when the OS
 * has no remap or refuses.  @n's granules leave the node map before the
 * pages move, so the old range, which the kernel may then hand to anyone,
 * never resolves to @n; until the new node is registered, neither address
 * resolves.  The caller owns the allocation and has taken @n off every
 * list; no lock is taken.
 */
struct sm_node *node_move_huge(struct sm_node *n, size_t size) __hidden;
/* Unregister and unmap @n.  Every pointer into it becomes foreign. */
void node_destroy(struct sm_node *n) __hidden;

/*
 * Allocate a run of @npages pages aligned to @align_pages (a power of two)
 * from @n.  Returns the first page index, or UINT32_MAX when the node has no
 * room (or, with SLAB_ALLOC_TRYLOCK, when its lock is busy).  *zeroed is set
 * when every page of the run is known to read as zero.  The caller owns the
 * run and writes its descriptors (node_mark_large or slab setup).  With
 * SLAB_ALLOC_RESIDENT, only a dirty free run (pages still resident) will
 * do.  Takes and releases n->lock.
 */
uint32_t node_alloc_pages(struct sm_node *n, uint32_t npages, uint32_t align_pages,
			  const struct slab_alloc_context *ctx, bool *zeroed) __hidden;
/*
 * Whether @n may have a dirty free run of @npages pages or more: a bin that
 * large is not empty.  Read without the lock, a hint: a run taken or freed
 * meanwhile only costs a look under the lock, or a node passed over.
 */
bool node_has_dirty_fit(const struct sm_node *n, uint32_t npages) __hidden;
/*
 * Give the run [@first, @first + @npages) back to @n as dirty free pages,
 * stamped @now.  Every descriptor of the run must be the caller's (no longer
 * reachable by any pointer); node_free_pages resets them.  Takes n->lock.
 * Returns false only with @trylock when the lock was busy (nothing done).
 */
bool node_free_pages(struct sm_node *n, uint32_t first, uint32_t npages, uint64_t now,
		     bool trylock) __hidden;
enum node_free_result {
	NODE_FREED,     /* the run is a free run of the node now */
	NODE_BUSY,      /* @trylock and the lock was busy: nothing done */
	NODE_NOT_LIVE,  /* its head is no longer PT_LARGE: freed already */
};

/*
 * Free the live page run whose first page is @first (node_free_pages),
 * checking under n->lock that it is still live: of two frees of the same
 * run, the second gets NODE_NOT_LIVE whatever the timing.
 */
enum node_free_result node_free_run(struct sm_node *n, uint32_t first, uint64_t now,
				    bool trylock) __hidden;

/*
 * As node_free_run for a run that a run cache holds (head PT_LARGE_CACHED,
 * runcache.h), taken out of it by the caller; waits for n->lock.
 */
enum node_free_result node_free_cached_run(struct sm_node *n, uint32_t first, uint64_t now) __hidden;

/* Record a live page run (head and tail descriptors). */
void node_mark_large(struct sm_node *n, uint32_t first, uint32_t npages) __hidden;

/*
 * Make the live page run at @first, just allocated by the caller, one the
 * allocator uses itself (PT_INTERNAL): a free, realloc or ksize that the
 * program makes of it is reported and changes nothing.  It goes back with
 * node_free_pages.
 */
static inline void node_mark_internal(struct sm_node *n, uint32_t first)
{
	WRITE_ONCE(n->descs[first].type, PT_INTERNAL);
}

/*
 * Resize the live page run starting at @first to @new_pages in place:
 * shrinking frees the tail, growing takes the free run or fresh pages right
 * after it.  Returns false (nothing changed) when it cannot grow in place, or
 * with @trylock when n->lock is busy.  Takes n->lock.
 */
bool node_resize_run(struct sm_node *n, uint32_t first, uint32_t new_pages, uint64_t now,
		     bool trylock) __hidden;

/*
 * Purge dirty free runs stamped at or before @cutoff (all of them with
 * cutoff UINT64_MAX): they are madvise'd away outside the lock and become
 * clean.  Returns the number of pages purged.  Takes n->lock.
 */
size_t node_purge(struct sm_node *n, uint64_t cutoff) __hidden;

/*
 * In the child of fork(), before anything else runs: if a thread that did
 * not survive held n->lock, abandon the node (its memory stays mapped and
 * its live allocations usable, but it hands out and takes back nothing);
 * runs another thread was purging go back to the bins as dirty runs.
 */
void node_fork_child(struct sm_node *n) __hidden;

#endif /* SM_NODE_H */
