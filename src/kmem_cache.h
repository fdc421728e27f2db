/*
 * kmem_cache.h - struct kmem_cache and struct kmem_cache_node, and the slab
 * layer below the sheaves: taking objects out of slabs and putting them
 * back, finding the cache of a pointer, and the allocator's own objects.
 *
 * A cache keeps, for every node of its instance, a kmem_cache_node with the
 * partial and empty slab lists (guarded by list_lock) and the node's barn of
 * full and empty sheaves (guarded by barn.lock; operations in barn.c, one
 * layer up).  Full slabs are on no list.  The two locks never nest: a barn
 * is a pure exchange of sheaves, and every freelist operation happens under
 * list_lock alone.
 *
 * Everything the slab layer needs from its instance is reached through the
 * cache itself: its page allocator (pages, clock, report sink) and a copy
 * of the options it uses.  s->inst is kept for the layers above.
 */
#ifndef SM_KMEM_CACHE_H
#define SM_KMEM_CACHE_H

#include <stdbool.h>
#include <stdint.h>

#include "alloc_context.h"
#include "list.h"
#include "lock.h"
#include "node.h"
#include "page.h"
#include "page_alloc.h"
#include "slabmalloc.h"

struct sm_instance;

/*
 * The barn: full and empty sheaves of one cache on one node.  Embedded in
 * each kmem_cache_node, so defined here; its operations are in barn.c.
 */
struct node_barn {
	sm_lock_t lock;                 /* guards the lists and counts below */
	unsigned nr_full, nr_empty;     /* nr_full <= barn_max(s->barn_max_full, shift),
	                                   nr_empty <= barn_max(s->barn_max_empty, shift),
	                                   but for the moment a purge halves them */
	unsigned shift;                 /* the limits are doubled this many times,
	                                   0..s->barn_grow_max (growth, barn.c) */
	unsigned peak_full;             /* the most nr_full has been since the
	                                   last purge looked */
	unsigned overflowed;            /* atomic, changed without the lock:
	                                   full sheaves turned away since the
	                                   barn was last found dry */
	unsigned ops;                   /* sheaves taken or given since creation
	                                   (wraps: only compared for equality) */
	unsigned ops_at_purge;          /* ops at the last purge: unchanged = idle */
	uint64_t gets, puts;            /* full sheaves taken and given (the
	                                   statistics' barn_get and barn_put,
	                                   summed over the nodes): counted
	                                   under the lock the trade holds,
	                                   where a cache-wide counter took an
	                                   atomic add more per trade */
	struct list_head full;          /* sheaves with size == capacity */
	struct list_head empty;         /* sheaves with size == 0 */
};

/* A barn's limit of @base sheaves (the cache's) after @shift doublings. */
static inline unsigned barn_max(unsigned base, unsigned shift)
{
	/* base <= 1024 and shift <= 10 (kmem_cache.c): no overflow. */
	return base << shift < 1024 ? base << shift : 1024;
}

/*
 * Partial slabs are kept in SM_PARTIAL_BUCKETS lists by occupancy: a slab
 * with 0 < inuse < objects is on partial[partial_bucket(s, inuse)], that is
 * bucket b holds b/B <= inuse/objects < (b+1)/B.  Refills take from the
 * fullest non-empty bucket first, so nearly-full slabs are filled up and
 * nearly-empty ones are left alone until their last objects come back and
 * they become empty (and can be released).  Within a bucket a slab that
 * came down from a fuller state (a free) goes to the head and one that came
 * up (a take) to the tail, and refills take the head, so a bucket is
 * roughly in order too.  Moving a slab between buckets is O(1), under
 * list_lock, and happens only when its inuse crosses a bucket boundary.
 * Four buckets keep kmem_cache_node at three cache lines.
 */
#define SM_PARTIAL_BUCKETS 4

struct kmem_cache_node {
	sm_lock_t list_lock;            /* guards everything below and the
	                                   freelist, inuse and lists of every
	                                   slab of this cache on this node */
	uint8_t epoch;                  /* bumped when a fork child abandons the
	                                   lists: slabs of an older epoch take
	                                   nothing back (their objects leak) */
	struct list_head partial[SM_PARTIAL_BUCKETS];
	                                /* 0 < inuse < objects, in the bucket
	                                   partial_bucket(s, inuse) names */
	struct list_head empty;         /* inuse == 0, newest first */
	size_t nr_partial, nr_empty;    /* nr_partial: all buckets together */
	size_t nr_slabs;                /* partial + full + empty */
	size_t inuse;                   /* objects handed out from these slabs */
	size_t inuse_peak;              /* the most inuse has been (statistics) */
	struct node_barn barn;
} __attribute__((aligned(SM_CACHELINE)));

/*
 * A kmem_cache_node and its barn start as zero bytes, and their lists are
 * made empty lists by the first thread to take the lock that guards them
 * (kcn_lock, barn_lock): a node that no slab of a cache came from leaves
 * the cache's structure for it untouched, so its pages are never made
 * resident (44 kmalloc caches x 16 nodes x 192 bytes per instance, most of
 * a small program's allocator memory before).  Zero is an unlocked lock and
 * zero counts; every list access is under the lock, after these.
 */
static inline void kcn_lists_ready(struct kmem_cache_node *kcn)
{
	if (unlikely(!kcn->empty.next)) {
		for (unsigned b = 0; b < SM_PARTIAL_BUCKETS; b++)
			INIT_LIST_HEAD(&kcn->partial[b]);
		INIT_LIST_HEAD(&kcn->empty);
	}
}

static inline bool kcn_lock_ctx(struct kmem_cache_node *kcn, bool trylock)
{
	if (!sm_lock_ctx(&kcn->list_lock, trylock))
		return false;
	kcn_lists_ready(kcn);
	return true;
}

static inline void kcn_lock(struct kmem_cache_node *kcn)
{
	sm_lock(&kcn->list_lock);
	kcn_lists_ready(kcn);
}

static inline bool barn_lock_ctx(struct node_barn *barn, bool trylock)
{
	if (!sm_lock_ctx(&barn->lock, trylock))
		return false;
	if (unlikely(!barn->full.next)) {
		INIT_LIST_HEAD(&barn->full);
		INIT_LIST_HEAD(&barn->empty);
	}
	return true;
}

static inline void barn_lock(struct node_barn *barn)
{
	barn_lock_ctx(barn, false);
}

enum cache_stat {
	STAT_REFILL, STAT_FLUSH,
	STAT_BARN_GROW, STAT_BARN_SHRINK,
	STAT_SLAB_ALLOC, STAT_SLAB_FREE,
	/* Objects handed out past the sheaves (nolock, a node asked for, no
	   tcache), and those exiting threads' tcaches had counted (tcache.h,
	   allocs): with the live tcaches' counts, every allocation. */
	STAT_ALLOC_DIRECT, STAT_ALLOC_EXITED,
	/* The allocator's own objects in this (kmalloc) cache: sheaves and
	   cache descriptors, made and freed; the statistics leave them out
	   of the program's live objects. */
	STAT_INTERNAL_ALLOC, STAT_INTERNAL_FREE,
	NR_CACHE_STATS
};

struct kmem_cache {
	/* Read-mostly, used by the fast paths. */
	unsigned size;                  /* bytes per object slot */
	uint16_t fp_offset;             /* the free word inside an object slot
	                                   (slots are at most
	                                   SM_KMALLOC_MAX_CACHE_SIZE and the
	                                   debug red zones) */
	uint16_t internal_mark;         /* a descriptor from the descriptor
	                                   cache: that cache's free tag (the
	                                   top 16 bits of the first word, its
	                                   free word), so that a free of a
	                                   live cache by the program takes the
	                                   double-free check, which reports it
	                                   (double_free.c); else 0 */
	uint64_t free_key;              /* what a free object's free word holds
	                                   (top 16 bits: the free tag) */
	unsigned objects;               /* objects per slab */
	uint8_t fclass;                 /* 1 + the class of a kmalloc cache of
	                                   the default instance (its index in
	                                   sm_thread.kmalloc_pcs[] and what its
	                                   slabs' descriptors carry); 0 for
	                                   every other cache */
	uint64_t reciprocal;            /* ceil(2^32 / size): offset -> index */
	uint64_t start_divides;         /* slab_start_divides(size) and */
	uint64_t start_max;             /* slab_start_max(): which offsets
	                                   start an object (slab_obj_starts) */
	unsigned id;                    /* index into every thread's pcs[] */
	unsigned sheaf_capacity;        /* by default, fills its sheaf_cache's object */
	unsigned barn_max_full;         /* from the options and the barn byte budget */
	unsigned barn_max_empty;        /* (a barn starts with these limits) */
	unsigned barn_grow_max;         /* doublings of them a barn may make
	                                   within opts.barn_grow_bytes (barn.c) */
	struct sm_instance *inst;       /* owner (opaque below the instance layer) */
	unsigned inst_slot;             /* copies of inst->slot and inst->gen */
	uint64_t inst_gen;
	/* Read-only after creation. */
	struct page_alloc *pa;          /* where slabs come from; its sink gets reports */
	struct kmem_cache *sheaf_cache; /* the kmalloc cache this cache's sheaves come from */
	unsigned slab_max_empty;        /* empty slabs kept per node (options) */
	uint64_t bucket_mult;           /* floor(2^32 * SM_PARTIAL_BUCKETS / objects) + 1:
	                                   inuse -> partial bucket is a multiply */
	unsigned object_size;           /* bytes the user asked for */
	unsigned align;
	unsigned slab_pages;
	unsigned flags;                 /* SM_CACHE_* as asked, and SLAB_PREALLOCATED */
	unsigned useroffset, usersize;  /* the usercopy window (sm_cache_args): inside the object */
	bool is_kmalloc;
	bool partial_purge;             /* the purge may give back free pages of
	                                   its partial slabs (slab.h): slabs of
	                                   two pages or more, at most
	                                   SLAB_PURGE_MAX_OBJECTS objects, and
	                                   free objects whose contents it may
	                                   lose (no constructor, not type-safe,
	                                   not slab_debug or hardened) */
	uintptr_t random;               /* freelist pointer hardening */
	void (*ctor)(void *);
	char name[32];
	/* slab_debug (debug.h): all zero for a cache without it. */
	unsigned debug;                 /* SM_CACHE_DEBUG_* in effect */
	unsigned red_left;              /* bytes of left red zone: an object
	                                   starts this far into its slot */
	unsigned track_off;             /* U: the two tracks, from the object */
	unsigned pad_off;               /* P: padding 0x5a from here (from the
	                                   object) to the end of the slot */
	struct list_head list;          /* on inst->caches, under inst->lock */
	/* The purge of partial slabs (cache_purge_partial): the slabs whose
	   free pages it is giving back, off their lists, and their node.
	   Written by the one purge of the instance (inst->purge_lock) and by a
	   fork child; slab_relist leaves such a slab (ON_PURGING) alone. */
	struct list_head purging;
	unsigned purging_node;
	uint64_t stat[NR_CACHE_STATS];  /* relaxed atomics, slow paths only */
	struct kmem_cache_node *node[SM_MAX_NODES];
	                                /* set for every node by kmem_cache_init,
	                                   whether it exists yet or not: in the
	                                   instance for kmalloc caches (node by
	                                   node), after the descriptor for the
	                                   others (struct kmem_cache_desc) */
};

/*
 * The descriptor of a cache made by sm_cache_create or set up in a
 * caller's storage: the cache with its per-node structures after it.
 */
struct kmem_cache_desc {
	struct kmem_cache cache;
	struct kmem_cache_node nodes[SM_MAX_NODES];
};

/*
 * Internal cache flags, above every SM_CACHE_* flag a caller may pass
 * (SM_CACHE_FLAGS_VALID; anything else is refused with EINVAL).
 * SLAB_PREALLOCATED: the descriptor is the caller's storage (sm_cache_setup,
 * the kernel's SLAB_PREALLOCATED): destroy never frees it, and the cache
 * is never merged (slabmalloc has no merging; a merge, if one is ever
 * added, must skip caches with this flag both as the cache being created
 * and as the one found to alias).
 */
#define SM_CACHE_FLAGS_VALID (SM_CACHE_HWCACHE_ALIGN | SM_CACHE_TYPESAFE_BY_RCU | SM_CACHE_DEBUG_ALL)
#define SLAB_PREALLOCATED    0x80000000u

/*
 * A preallocated descriptor lives in the caller's struct sm_cache_storage,
 * whose size and alignment the public header fixes (they are ABI).  A
 * struct kmem_cache_desc that outgrows it stops the build here: raise
 * SM_CACHE_STORAGE_SIZE in include/slabmalloc.h (an ABI change) or shrink
 * the struct.
 */
_Static_assert(sizeof(struct kmem_cache_desc) <= sizeof(struct sm_cache_storage),
	       "struct kmem_cache_desc no longer fits struct sm_cache_storage");
_Static_assert(_Alignof(struct kmem_cache_desc) <= _Alignof(struct sm_cache_storage),
	       "struct kmem_cache_desc needs more alignment than struct sm_cache_storage");
_Static_assert(_Alignof(struct sm_cache_storage) == SM_CACHE_STORAGE_ALIGN,
	       "SM_CACHE_STORAGE_ALIGN is the storage's alignment");

static inline void cache_stat_inc(struct kmem_cache *s, enum cache_stat i)
{
	__atomic_fetch_add(&s->stat[i], 1, __ATOMIC_RELAXED);
}

static inline const struct report_sink *cache_err(const struct kmem_cache *s)
{
	return s->pa->origin.err;
}

/*
 * The free word: one word per object slot (at fp_offset: 0, or after the
 * object when a constructor's state must survive) that tells a free object
 * from a live one without leaving the object's cache line.  While an
 * object is free it holds, wherever the object sits:
 *   in a sheaf            s->free_key, exactly (slab_take writes it
 *                         over the link, or into a never-used object);
 *   on a slab freelist    the hardened link, tagged (slab.c);
 *   on the deferred list  the link, tagged (deferred.c);
 * that is, its top 16 bits are the cache's free tag.  An object handed out
 * has it cleared.  So a free whose free word carries the tag is a double
 * free, unless the program itself stored the tag there (non-ASCII bytes,
 * never 0 or 0xffff: rare for real data): free.c then confirms by looking
 * for the object where free objects are.  And an object popped from a
 * sheaf whose free word is no longer s->free_key was written while it was
 * free (a use after free, or an overflow of the object before it, a
 * string's NUL included): malloc's paths check its low 16 bits
 * (obj_tag_intact) and report it (__slab_alloc_overwritten).
 */
#define SM_FREE_TAG_SHIFT 48
#define SM_LINK_MASK (((uintptr_t)1 << SM_FREE_TAG_SHIFT) - 1)

/* The free tag of @s: the top 16 bits of its free key. */
static inline uint16_t cache_free_tag(const struct kmem_cache *s)
{
	return (uint16_t)(s->free_key >> SM_FREE_TAG_SHIFT);
}

static __always_inline uintptr_t *obj_free_word(const struct kmem_cache *s, const void *p)
{
	return (uintptr_t *)((char *)p + s->fp_offset);
}

/*
 * The top 16 bits of @p's free word (at @fp_off), where a free object
 * carries its cache's free tag, read alone: one 16-bit load of the word's
 * last two bytes.  A free of an object the program has just written a
 * smaller field into (p[0] = c, an int) would find that store still in
 * flight: an 8-byte load of the whole word cannot take part of its bytes
 * from it and waits until it reaches the cache (bench/micro.cc's pair_live,
 * which writes one byte, took twice bench/pair_time's time); the two
 * bytes at the word's end overlap no store but ones that cover them.
 */
static __always_inline uint16_t obj_free_tag(const void *p, unsigned fp_off)
{
	typedef uint16_t __attribute__((may_alias)) word_part; /* the word is a uintptr_t, or the program's */
	const unsigned high = __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ ? 6 : 0;
	return *(const word_part *)((const char *)p + fp_off + high);
}

/* Whether @p lies in a page the purge gave back (slab.h); NULL-safe for a reserved region's. */
static inline bool obj_page_purged(const void *p)
{
	const struct slab *d = desc_of(p);
	return d && (READ_ONCE(d->purge) & SLAB_PAGE_PURGED);
}

/*
 * Whether @p's free word carries @s's free tag (a candidate double free),
 * or @p lies in a page of a partial slab that the purge gave back (slab.h:
 * every object there is free, and its free word reads 0).
 */
static __always_inline bool obj_maybe_free(const struct kmem_cache *s, const void *p)
{
	uint16_t tag = obj_free_tag(p, s->fp_offset);
	if (unlikely(tag == (uint16_t)(s->free_key >> SM_FREE_TAG_SHIFT)))
		return true;
	return unlikely(s->partial_purge) && tag == 0 && obj_page_purged(p);
}

/* obj_maybe_free with @p's page descriptor @d at hand: its mark, no lookup. */
static __always_inline bool obj_maybe_free_at(const struct kmem_cache *s, const struct slab *d,
					      const void *p)
{
	return unlikely(obj_free_tag(p, s->fp_offset) == (uint16_t)(s->free_key >> SM_FREE_TAG_SHIFT)) ||
	       unlikely(READ_ONCE(d->purge) & SLAB_PAGE_PURGED);
}

/*
 * Whether the free object @p, just popped from a sheaf, still holds the
 * low 16 bits @tag of its cache's free key in its free word (the bytes a
 * use after free or an overflow writes first): one 16-bit compare, 3
 * instructions on the fast path with the tag beside the sheaf's count.
 */
static __always_inline bool obj_tag_intact(const void *p, unsigned fp_off, uint16_t tag)
{
	const unsigned low = __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ ? 0 : 6;
	return likely(*(const uint16_t *)((const char *)p + fp_off + low) == tag);
}

/* The part of @s's free key obj_tag_intact and the sheaf views (thread.h) check. */
static inline uint16_t cache_check_tag(const struct kmem_cache *s)
{
	return (uint16_t)s->free_key;
}

/* @v with @s's free tag in its top bits (@v below 2^48). */
static inline uintptr_t obj_tagged(const struct kmem_cache *s, uintptr_t v)
{
	return (s->free_key & ~SM_LINK_MASK) | v;
}

/*
 * The divisibility constant of @size for the checks that a pointer starts
 * an object (slab_obj_starts; free()'s kmalloc_obj_fast): an offset @off
 * below 2^32 is a multiple of @size exactly when (uint64_t)(off * M) < M,
 * with M = ceil(2^64 / size) (Lemire, Kaser and Kurz, "Faster remainder
 * by direct computation", 2019: 32-bit numerator and divisor, 64-bit
 * constant), UINT64_MAX / size + 1.  For a power of two that is 2^64 /
 * size, which makes e = size * M (mod 2^64) 0 and every multiple
 * map to 0, so that slab_start_max could not tell the slab's end; M + 1
 * is taken instead: a multiple k * size then gives k * size, a
 * non-multiple k * size + r (0 < r < size) gives r * M + k * size, at
 * least M and below 2^64 for sizes up to 2^31.
 */
static inline uint64_t slab_start_divides(uint32_t size)
{
	return UINT64_MAX / size + 1 + IS_POW2(size);
}

/*
 * The bound that makes the divisibility test above also a test against
 * the slab's end, for a slab of @objects objects of @size bytes: one
 * compare, off * M <= start_max, for "starts one of the slab's objects".
 * With e = size * M (mod 2^64), which is below @size and never 0
 * (slab_start_divides), the offset k * size + r (0 <= r < size) gives
 * k * e + r * M (mod 2^64).  For r = 0 that is k * e; for r > 0 it is
 * at least M, and never wraps while (k + 1) * e < M.  So with start_max
 * = (objects - 1) * e the starts of objects 0..objects-1 pass and
 * everything else fails, the start of a slot past the last object
 * included.  *@exact is false when the test cannot be exact for this
 * geometry (objects * e reaching M: not for any slot of at most 2^16
 * bytes in a slab below 2^32 bytes; kmem_cache_init treats it as a bug).
 * unit.shared checks every offset.
 */
static inline uint64_t slab_start_max(uint32_t size, uint32_t objects, bool *exact)
{
	uint64_t m = slab_start_divides(size), e = (uint64_t)size * m;
	*exact = objects >= 1 && e != 0 && (uint64_t)objects * e < m;
	return (uint64_t)(objects - 1) * e;
}

/*
 * Whether offset @off into a slab of @s (below the slab's size) is the
 * start of one of its objects: one multiply and one compare, where
 * slab_obj_index needs two multiplies and two compares.  For PT_SLAB
 * slabs only (no left red zone).
 */
static __always_inline bool slab_obj_starts(const struct kmem_cache *s, uintptr_t off)
{
	return (uint64_t)off * s->start_divides <= s->start_max;
}

/*
 * Index of the object at offset @off into a slab of @s, or -1 if @off is not
 * the start of an object: one multiply by the reciprocal and a shift, then
 * an exact check.
 */
static __always_inline long slab_obj_index(const struct kmem_cache *s, uintptr_t off)
{
	uint64_t idx = ((uint64_t)off * s->reciprocal) >> 32;
	if (unlikely(idx * s->size != off || idx >= s->objects))
		return -1;
	return (long)idx;
}

/*
 * @d, the descriptor of @p's page, if that page is a live slab's
 * (PT_SLAB), with @p's offset into the slab (the slab starts page_off
 * pages below @p's page) in *@off; NULL otherwise.  Arithmetic on the
 * descriptor only: @p itself is never read.
 */
static __always_inline const struct slab *slab_page_at(const struct slab *d, const void *p,
						 uintptr_t *off)
{
	if (unlikely(READ_ONCE(d->type) != PT_SLAB))
		return NULL;
	*off = ((uintptr_t)p & (SM_PAGE_SIZE - 1)) + ((uintptr_t)d->page_off << SM_PAGE_SHIFT);
	return d;
}

/* slab_page_at() of @p's descriptor, found through the maps (desc_of). */
static __always_inline const struct slab *slab_page_of(const void *p, uintptr_t *off)
{
	const struct slab *d = desc_of(p);
	if (unlikely(!d))
		return NULL;
	return slab_page_at(d, p, off);
}

/*
 * The descriptor of @p's page if @p is the start of an object in a live
 * slab; NULL otherwise (page runs, huge mappings, invalid pointers: the
 * caller sorts those out on its slow path).
 */
static __always_inline const struct slab *obj_slab_page(const void *p)
{
	uintptr_t off;
	const struct slab *d = slab_page_of(p, &off);
	if (unlikely(!d || !slab_obj_starts(d->cache, off)))
		return NULL;
	return d;
}

/*
 * obj_slab_page() for a caller that names the cache, sm_cache_free: the
 * descriptor of @p's page if @p starts an object of a live slab of @s,
 * else NULL.  The offset is checked against @s's geometry, the caller's
 * argument, not the one the descriptor's cache pointer leads to: that
 * pointer is compared with @s beside the check instead of being waited for.
 */
static __always_inline const struct slab *cache_obj_page(const struct kmem_cache *s, const void *p)
{
	uintptr_t off;
	const struct slab *d = slab_page_of(p, &off);
	if (unlikely(!d || d->cache != s || !slab_obj_starts(s, off)))
		return NULL;
	return d;
}

/* The cache of @p as obj_slab_page() finds it, or NULL: the kernel's virt_to_cache(). */
static __always_inline struct kmem_cache *obj_cache(const void *p)
{
	const struct slab *d = obj_slab_page(p);
	return d ? d->cache : NULL;
}

/*
 * The index of the object at offset @off into a slab of @s, whatever its
 * slots hold before the object (a slab_debug cache's left red zone,
 * s->red_left bytes; 0 for every other cache), or -1.  The slow paths'
 * form of slab_obj_index: PT_SLAB slabs, the fast paths', never have a
 * left red zone (debug slabs are PT_SLAB_ROUTED).
 */
static inline long slab_obj_index_any(const struct kmem_cache *s, uintptr_t off)
{
	return slab_obj_index(s, off - s->red_left);
}

/*
 * The cache of @p if @p is the start of an object in a live slab of a
 * routed node (PT_SLAB_ROUTED: private, unmapped or reserved) or of a
 * slab_debug cache (its slabs are PT_SLAB_ROUTED on any node, so that no
 * fast path takes their objects into a sheaf), else NULL.
 * The slow paths ask this after obj_cache() said NULL.  Through the node
 * and the node's table, not desc_of(), which does not resolve a reserved
 * region's granules (node.h).
 */
static inline struct kmem_cache *obj_cache_routed(const void *p)
{
	struct sm_node *n = node_of(p);
	if (!n || n->kind == NODE_HUGE)
		return NULL;
	uint32_t page = node_page_index(n, p);
	if (page == UINT32_MAX)
		return NULL;
	const struct slab *d = &n->descs[page];
	if (READ_ONCE(d->type) != PT_SLAB_ROUTED)
		return NULL;
	struct kmem_cache *s = d->cache;
	uintptr_t off = ((uintptr_t)p & (SM_PAGE_SIZE - 1)) + ((uintptr_t)d->page_off << SM_PAGE_SHIFT);
	if (slab_obj_index_any(s, off) < 0)
		return NULL;
	return s;
}

/* The cache of @p, a slab object of any node (obj_cache, then obj_cache_routed), or NULL. */
static inline struct kmem_cache *obj_cache_any(const void *p)
{
	struct kmem_cache *s = obj_cache(p);
	return s ? s : obj_cache_routed(p);
}

/*
 * The partial bucket of a slab of @s with @inuse objects out (0 < inuse <
 * objects): floor(inuse * SM_PARTIAL_BUCKETS / objects), exact because
 * objects <= 2^16 (bucket_mult overshoots 2^32 * B / objects by less than
 * 1, so inuse * bucket_mult overshoots by less than 2^32 / objects, below
 * the gap to the next integer multiple).
 */
static inline unsigned partial_bucket(const struct kmem_cache *s, unsigned inuse)
{
	return (unsigned)(((uint64_t)inuse * s->bucket_mult) >> 32);
}

/*
 * Set up @s in place for @pa with @opts: slot size, slab geometry, sheaf
 * and barn sizes, lists; @args (align, ctor, usercopy window, sheaf
 * capacity; its preallocated storage is the caller's business) may be
 * NULL for the defaults.  @s must be zeroed; the caller then gives it its
 * id, owner and sheaf_cache (instance.h: inst_cache_register).  Returns
 * false for an impossible size, alignment, usercopy window or sheaf
 * capacity.  Allocates nothing and takes no lock.
 */
bool kmem_cache_init(struct kmem_cache *s, struct kmem_cache_node *nodes, size_t node_stride,
		     struct page_alloc *pa, const struct sm_options *opts,
		     const char *name, size_t size, const struct sm_cache_args *args,
		     unsigned flags) __hidden;

/*
 * Whether kmem_cache_init would accept @size, @args (NULL: defaults) and
 * @flags (including SLAB_PREALLOCATED): checked before anything is
 * allocated for a descriptor.
 */
bool kmem_cache_args_valid(size_t size, const struct sm_cache_args *args, unsigned flags) __hidden;

/* Object-slot geometry used by kmem_cache_init; exposed for the size-class tests. */
void slab_geometry(size_t size, unsigned *pages, unsigned *objects) __hidden;

/*
 * Bytes of a sheaf's header, before its object pointers (struct
 * slab_sheaf, sheaf.h, which asserts it): the default capacity is chosen
 * here, below the sheaf layer, to fill the kmalloc object a sheaf is.
 */
#define SM_SHEAF_HEADER_BYTES 32

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
 * A type-safe cache (SM_CACHE_TYPESAFE_BY_RCU) releases none.
 */
size_t cache_release_empty(struct kmem_cache *s, uint64_t cutoff) __hidden;

/*
 * The purge of @s's partial slabs: the whole free pages of those that were
 * not touched since the last call (every one with @all) go back to the OS
 * (slab.h, "Free pages inside a partial slab").  Returns the pages purged.
 * Node by node: under list_lock the pages are marked and their slabs
 * taken off the partial lists onto s->purging (ON_PURGING: no refill
 * takes from them; frees to them go to their bitmaps); the system calls
 * run with no lock held; then, under list_lock again, each slab goes back
 * to the list its inuse calls for.  The caller holds inst->purge_lock
 * (one such purge at a time, and @s outlives it: kmem_cache_destroy takes
 * that lock) and no other lock.
 */
size_t cache_purge_partial(struct kmem_cache *s, bool all) __hidden;

/*
 * The one entry by which the allocator allocates for itself (a sheaf, a
 * cache descriptor) and by which requests that bypass the sheaves (a node
 * asked for, the nolock path, a thread without sheaves) are served: one
 * object of @s straight from its slabs.  Sheaves are never touched, so
 * making a sheaf never needs a sheaf (SLUB allocates its sheaves from
 * kmalloc caches the same way).  NULL when out of memory, or with TRYLOCK
 * when a lock was busy; errno is then ENOMEM.
 */
void *kmem_cache_alloc_direct(struct kmem_cache *s, const struct slab_alloc_context *ctx) __hidden;
/* Give @p back to its slab at once (blocking; the counterpart of the above). */
void kmem_cache_free_direct(struct kmem_cache *s, void *p) __hidden;

/*
 * Whether @p (an object of @s) is on its slab's freelist or was never
 * handed out by it.  1 yes, 0 no, -1 its list_lock was busy (@trylock).
 */
int slab_holds_free(struct kmem_cache *s, const void *p, bool trylock) __hidden;

/*
 * In the child of fork(), before anything else runs: a list_lock of @s
 * (nodes [0, @nr_nodes)) that a vanished thread held is reset, and its
 * lists and slabs abandoned (a new epoch): their objects stay usable but
 * are never handed out again, and freeing them leaks them.  The lists of
 * an unmapped node are dropped the same way (its data is not the child's).
 * With @purge_lost (the purge_lock's holder vanished), the partial slabs
 * its purge had taken off their lists (s->purging) go back on them.
 */
void kmem_cache_fork_child(struct kmem_cache *s, unsigned nr_nodes, bool purge_lost) __hidden;

/*
 * Check that @p is the start of an object of a live slab of @s (the cache
 * comes from the page descriptor).  Returns the descriptor of @p's page, or
 * NULL after reporting what is wrong with @p (foreign, node metadata,
 * interior to a huge mapping, a page run or a slab object, free page, wrong
 * cache) to the sink of the instance that owns it.  @expect NULL: any cache.
 */
struct slab *slab_check_object(struct kmem_cache *expect, const void *p) __hidden;

#endif /* SM_KMEM_CACHE_H */
