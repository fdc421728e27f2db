/*
 * node.c - nodes: reserving them, carving page runs out of them, taking runs
 * back, and handing long-free runs back to the OS (purge).
 *
 * Free runs live in size-segregated bins, one set for dirty runs (freed by
 * the program, possibly resident) and one for clean runs (purged or never
 * touched: zero, not resident).  Allocation prefers dirty runs (their pages
 * are already resident), then clean runs, then the fresh pages above bump.
 * Boundary tags in the first and last page descriptor of each free run let a
 * freed run merge with free neighbours of the same state in O(1).
 * The invariants on descriptors are listed in node.h.
 */
#include <string.h>

#include "hooks.h"
#include "node.h"
#include "os.h"

uintptr_t sm_node_map[(size_t)1 << (SM_VA_BITS - SM_NODE_SHIFT)];
uintptr_t sm_hot_map[(size_t)1 << (SM_VA_BITS - SM_NODE_SHIFT)];

#define RUN_PURGING 2 /* a PT_FREE tag whose run is being purged: never merge */
/* The stamp of a clean run some page of which a purge may have made
   inaccessible (SM_PURGE_PROTECT_PAGES): committed again when handed out.
   A clean run's stamp is otherwise 0 (all of it accessible). */
#define RUN_PROTECTED 1

/* One node_purge under way: the runs it took off the bins (n->purges). */
struct purge_batch {
	struct list_head link;         /* on n->purges, under n->lock */
	struct list_head runs;         /* its runs; only the purger touches them */
	uint32_t owner;                /* the purger's lock id */
};


/* Whether the node map describes every granule of [base, base + size). */
static bool map_covers(uintptr_t base, size_t size)
{
	return base + size > base && base + size <= ((uintptr_t)1 << SM_VA_BITS);
}

/*
 * Point the granules of [base, base + size) at @n and at @hot, the hot
 * table of the whole reservation (NULL: none), in both maps (map_covers
 * holds).  The hot map is written first and cleared last, so that a
 * pointer the node map resolves always has its entry.  A node with a hot
 * table has its descriptor table right after its header (desc_of).
 */
static void map_set(uintptr_t base, size_t size, struct sm_node *n, uint32_t *hot)
{
	uintptr_t bias = hot ? (uintptr_t)hot - (base >> SM_PAGE_SHIFT) * sizeof(uint32_t) : 0;
	uintptr_t e = (uintptr_t)n | (hot ? NODE_MAP_TABLES : 0);
	SM_BUG_ON(hot && (!bias || (uintptr_t)n != base));
	for (uintptr_t a = base; a < base + size; a += SM_NODE_ALIGN) {
		uintptr_t g = a >> SM_NODE_SHIFT;
		if (n)
			__atomic_store_n(&sm_hot_map[g], bias, __ATOMIC_RELEASE);
		__atomic_store_n(&sm_node_map[g], e, __ATOMIC_RELEASE);
		if (!n)
			__atomic_store_n(&sm_hot_map[g], bias, __ATOMIC_RELEASE);
	}
}

static unsigned bin_of(uint32_t npages)
{
	if (npages <= NODE_EXACT_BINS)
		return npages - 1;
	unsigned lg = 31 - (unsigned)__builtin_clz(npages);
	unsigned b = NODE_EXACT_BINS + (lg - 5);
	return b < NODE_NR_BINS ? b : NODE_NR_BINS - 1;
}

static void node_init_common(struct sm_node *n, const struct node_origin *o, uintptr_t base,
			     size_t reserved)
{
	n->inst = o->inst;
	n->os_own = *o->os; /* @o->os may be the old header of a moving huge node */
	n->os = &n->os_own;
	n->err = o->err;
	n->numa = -1;
	n->base = base;
	n->reserved = reserved;
	sm_lock_init(&n->lock);
	INIT_LIST_HEAD(&n->huge_link);
	INIT_LIST_HEAD(&n->purges);
	for (unsigned i = 0; i < NODE_NR_BINS; i++) {
		INIT_LIST_HEAD(&n->dirty_bins[i]);
		INIT_LIST_HEAD(&n->clean_bins[i]);
	}
	n->oldest_dirty = UINT64_MAX;
}

/*
 * Reserve @size bytes aligned to @align for a node; 0 when the OS refuses,
 * or when the node map could not describe the range (given back: an address
 * at or above 2^SM_VA_BITS would index past the map).
 */
static uintptr_t reserve(const struct sm_os_ops *os, size_t size, size_t align)
{
	uintptr_t base = (uintptr_t)os->reserve(size, align, os->arg);
	if (base && !map_covers(base, size)) {
		os->release((void *)base, size, os->arg);
		base = 0;
	}
	return base;
}

/*
 * The layout of a node of @size bytes, [header][descs][hot][guard][data]:
 * the data area in pages (0 if none fits), and the pages of the
 * descriptor and hot tables in *@desc_pages and *@hot_pages.  The tables
 * have an entry for every page of the reservation (@size rounded up to
 * SM_NODE_ALIGN), not only the data pages: so desc_of() and the hot map
 * (node.h) resolve any address of the node's granules, header and tail
 * included, to a readable entry, and those of pages that are not data
 * stay zero (PT_UNUSED, fclass 0) for ever.
 */
static size_t node_layout(size_t size, size_t *desc_pages, size_t *hot_pages)
{
	size_t total = size >> SM_PAGE_SHIFT;
	size_t all = ALIGN_UP(size, SM_NODE_ALIGN) >> SM_PAGE_SHIFT;
	*desc_pages = ALIGN_UP(all * sizeof(struct slab), SM_PAGE_SIZE) >> SM_PAGE_SHIFT;
	*hot_pages = ALIGN_UP(all * sizeof(uint32_t), SM_PAGE_SIZE) >> SM_PAGE_SHIFT;
	size_t meta = NODE_HDR_PAGES + *desc_pages + *hot_pages + 1;
	if (total < NODE_HDR_PAGES + 2 || all <= meta)
		return 0;
	/* @size bytes hold the header, a descriptor and a hot word per data
	   page, the guard and the data; the reservation holds both tables
	   whole. */
	size_t npages = (total - NODE_HDR_PAGES - 1) * SM_PAGE_SIZE /
			(SM_PAGE_SIZE + sizeof(struct slab) + sizeof(uint32_t));
	return MIN(npages, all - meta);
}

size_t node_data_pages(size_t size)
{
	size_t desc_pages, hot_pages;
	return node_layout(size, &desc_pages, &hot_pages);
}

size_t node_data_offset(size_t size)
{
	size_t desc_pages, hot_pages;
	node_layout(size, &desc_pages, &hot_pages);
	return (NODE_HDR_PAGES + desc_pages + hot_pages + 1) << SM_PAGE_SHIFT;
}

struct sm_node *node_create(const struct node_origin *o, size_t size, int id)
{
	const struct sm_os_ops *os = o->os;
	size_t reserved = ALIGN_UP(size, SM_NODE_ALIGN);
	if (reserved < size || size < 16 * SM_PAGE_SIZE)
		return NULL;
	size_t hdr = NODE_HDR_PAGES, desc_pages, hot_pages;
	size_t npages = node_layout(size, &desc_pages, &hot_pages);
	if (npages > UINT32_MAX / 2)
		return NULL;
	uintptr_t base = reserve(os, reserved, SM_NODE_ALIGN);
	if (!base)
		return NULL;
	/* Both tables are committed whole now (untouched, they cost no
	   memory): a stray pointer anywhere in the data area must find a
	   readable descriptor and hot word, even beyond the committed data
	   pages. */
	if (os->commit((void *)base, (hdr + desc_pages + hot_pages) << SM_PAGE_SHIFT, os->arg) != 0) {
		os->release((void *)base, reserved, os->arg);
		return NULL;
	}
	struct sm_node *n = (struct sm_node *)base;
	memset(n, 0, sizeof(*n));
	node_init_common(n, o, base, reserved);
	/* The tables cover the reservation from base: data page 0 is
	   reservation page hdr + desc_pages + hot_pages + 1 (node_layout). */
	size_t first_data = hdr + desc_pages + hot_pages + 1;
	struct slab *table = (struct slab *)(base + (hdr << SM_PAGE_SHIFT));
	uint32_t *hot = (uint32_t *)(base + ((hdr + desc_pages) << SM_PAGE_SHIFT));
	n->descs = table + first_data;
	n->hot = hot + first_data;
	n->data = (char *)base + (first_data << SM_PAGE_SHIFT);
	n->npages = (uint32_t)npages;
	n->kind = NODE_NORMAL;
	n->id = (int8_t)id;
	map_set(base, reserved, n, hot);
	return n;
}

/*
 * Point the node map's granules of the region [lo, hi) at @n, each only if
 * no other node has it (compare-and-swap; on a clash the ones set are
 * cleared again and false returned), without NODE_MAP_TABLES, and the
 * hot map stays 0 there: the region may share its first and last granules
 * with foreign memory, which no table could cover.
 */
static bool map_claim_region(uintptr_t lo, uintptr_t hi, struct sm_node *n)
{
	uintptr_t g0 = lo >> SM_NODE_SHIFT, g1 = (hi - 1) >> SM_NODE_SHIFT;
	for (uintptr_t g = g0; g <= g1; g++) {
		uintptr_t expect = 0;
		if (!__atomic_compare_exchange_n(&sm_node_map[g], &expect, (uintptr_t)n, false,
						 __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
			while (g-- > g0)
				__atomic_store_n(&sm_node_map[g], 0, __ATOMIC_RELEASE);
			return false;
		}
	}
	return true;
}

static void map_release_region(uintptr_t lo, uintptr_t hi)
{
	for (uintptr_t g = lo >> SM_NODE_SHIFT; g <= (hi - 1) >> SM_NODE_SHIFT; g++)
		__atomic_store_n(&sm_node_map[g], 0, __ATOMIC_RELEASE);
}

/* A SM_NODE_RESERVED node over the caller's region (node_create_spec). */
static struct sm_node *node_create_region(const struct node_origin *o, size_t size, int id,
					  const struct node_spec *spec)
{
	const struct sm_os_ops *os = o->os;
	uintptr_t lo = (uintptr_t)spec->region, hi = lo + size;
	if ((lo & (SM_PAGE_SIZE - 1)) || hi <= lo || !map_covers(lo, size))
		return NULL;
	size_t npages = size >> SM_PAGE_SHIFT;
	if (npages > UINT32_MAX / 2 || npages < 1)
		return NULL;
	size_t meta = ALIGN_UP((NODE_HDR_PAGES << SM_PAGE_SHIFT) + npages * sizeof(struct slab),
			       SM_PAGE_SIZE);
	/* The metadata is never in the maps: only the region is looked up. */
	uintptr_t base = (uintptr_t)os->reserve(meta, SM_PAGE_SIZE, os->arg);
	if (!base)
		return NULL;
	if (os->commit((void *)base, meta, os->arg) != 0) {
		os->release((void *)base, meta, os->arg);
		return NULL;
	}
	struct sm_node *n = (struct sm_node *)base;
	memset(n, 0, sizeof(*n));
	node_init_common(n, o, base, meta);
	n->descs = (struct slab *)(base + (NODE_HDR_PAGES << SM_PAGE_SHIFT));
	n->data = (char *)lo;
	n->npages = (uint32_t)npages;
	n->committed = (uint32_t)npages; /* the caller's memory: never committed by us */
	n->kind = NODE_NORMAL;
	n->id = (int8_t)id;
	n->flags = (uint8_t)spec->flags;
	n->backing = SM_BACKING_REGION;
	if (!map_claim_region(lo, hi, n)) {
		os->release((void *)base, meta, os->arg);
		return NULL;
	}
	return n;
}

struct sm_node *node_create_spec(const struct node_origin *o, size_t size, int id,
				 const struct node_spec *spec)
{
	if (spec->flags & SM_NODE_RESERVED)
		return node_create_region(o, size, id, spec);
	struct sm_node *n = node_create(o, size, id);
	if (!n)
		return NULL;
	n->flags = (uint8_t)spec->flags;
	n->backing = spec->backing;
	if (spec->numa >= 0) {
		/* The whole reservation, before any page of data is touched:
		   the policy holds for every page faulted in later. */
		const struct sm_os_ops *os = n->os;
		if (os->mbind((void *)n->base, n->reserved, spec->numa, os->arg) != 0) {
			node_destroy(n);
			return NULL;
		}
		n->numa = (int16_t)spec->numa;
	}
	return n;
}

struct sm_node *node_create_huge(const struct node_origin *o, size_t size, size_t align)
{
	const struct sm_os_ops *os = o->os;
	/* The header page at base, the data at base + off: aligned to @align
	   because the reservation is. */
	size_t off = MAX(SM_PAGE_SIZE, align);
	size_t data_size = ALIGN_UP(size, SM_PAGE_SIZE);
	size_t reserved = ALIGN_UP(off + data_size, SM_NODE_ALIGN);
	if (data_size < size || reserved < off + data_size)
		return NULL;
	uintptr_t base = reserve(os, reserved, MAX(align, SM_NODE_ALIGN));
	if (!base)
		return NULL;
	if (os->commit((void *)base, SM_PAGE_SIZE, os->arg) != 0 ||
	    os->commit((void *)(base + off), data_size, os->arg) != 0) {
		os->release((void *)base, reserved, os->arg);
		return NULL;
	}
	struct sm_node *n = (struct sm_node *)base;
	memset(n, 0, sizeof(*n));
	node_init_common(n, o, base, reserved);
	n->data = (char *)(base + off);
	n->npages = 0; /* no descriptor table: node_page_index() fails for all */
	n->kind = NODE_HUGE;
	n->id = -1;
	n->huge_size = data_size;
	map_set(base, reserved, n, NULL);
	return n;
}

size_t node_grow_huge(struct sm_node *n, size_t size)
{
	const struct sm_os_ops *os = n->os;
	size_t want = ALIGN_UP(size, SM_PAGE_SIZE);
	size_t room = n->base + n->reserved - (uintptr_t)n->data;
	if (want < size || want > room || want <= n->huge_size)
		return 0;
	size_t add = want - n->huge_size;
	if (os->commit(n->data + n->huge_size, add, os->arg) != 0)
		return 0;
	n->huge_size = want;
	return add;
}

struct sm_node *node_move_huge(struct sm_node *n, size_t size)
{
	const struct sm_os_ops *os = n->os;
	size_t off = (size_t)((uintptr_t)n->data - n->base); /* max(page, the alignment) */
	size_t data_size = ALIGN_UP(size, SM_PAGE_SIZE);
	size_t reserved = ALIGN_UP(off + data_size, SM_NODE_ALIGN);
	if (!os->remap || data_size < size || reserved < off + data_size || data_size <= n->huge_size)
		return NULL;
	uintptr_t base = reserve(os, reserved, MAX(off, SM_NODE_ALIGN));
	if (!base)
		return NULL;
	if (os->commit((void *)base, SM_PAGE_SIZE, os->arg) != 0) {
		os->release((void *)base, reserved, os->arg);
		return NULL;
	}
	/* Out of the map before the pages move: from then on the kernel may
	   give the old range to another thread, whose node the map must find
	   (a later map_set of ours would erase its entries). */
	uintptr_t old_base = n->base;
	size_t old_reserved = n->reserved;
	map_set(old_base, old_reserved, NULL, NULL);
	if (os->remap(n->data, n->huge_size, (void *)(base + off), data_size, os->arg) != 0) {
		map_set(old_base, old_reserved, n, NULL); /* nothing moved: nobody has the range */
		os->release((void *)base, reserved, os->arg);
		return NULL;
	}
	struct sm_node *m = (struct sm_node *)base; /* a fresh page: zero */
	struct node_origin o = { .inst = n->inst, .os = n->os, .err = n->err };
	node_init_common(m, &o, base, reserved);
	m->data = (char *)(base + off);
	m->npages = 0;
	m->kind = NODE_HUGE;
	m->id = -1;
	m->huge_size = data_size;
	/* The header and the address space left of the old reservation (its
	   data is gone already). */
	os->release((void *)old_base, old_reserved, os->arg);
	map_set(base, reserved, m, NULL);
	return m;
}

void node_destroy(struct sm_node *n)
{
	struct sm_os_ops os = *n->os; /* in the header, which goes with the reservation */
	uintptr_t base = n->base;
	size_t reserved = n->reserved;
	if (n->backing == SM_BACKING_REGION)
		map_release_region((uintptr_t)n->data, (uintptr_t)n->data + ((size_t)n->npages << SM_PAGE_SHIFT));
	else
		map_set(base, reserved, NULL, NULL);
	os.release((void *)base, reserved, os.arg);
}

/* ---- free runs (node->lock held) ---- */

static void run_link(struct sm_node *n, uint32_t first, uint32_t len, uint8_t dirty, uint64_t stamp)
{
	struct slab *h = &n->descs[first], *t = &n->descs[first + len - 1];
	h->cache = NULL;
	WRITE_ONCE(h->type, PT_FREE);
	WRITE_ONCE(h->head, first);
	WRITE_ONCE(h->dirty, dirty);
	h->npages = len;
	h->stamp = stamp;
	t->cache = NULL;
	WRITE_ONCE(t->type, PT_FREE);
	WRITE_ONCE(t->head, first);
	WRITE_ONCE(t->dirty, dirty);
	unsigned b = bin_of(len);
	if (dirty) {
		list_add(&h->list, &n->dirty_bins[b]);
		WRITE_ONCE(n->dirty_mask, n->dirty_mask | 1ull << b);
		n->free_dirty_pages += len;
		if (stamp < n->oldest_dirty)
			n->oldest_dirty = stamp;
	} else {
		list_add(&h->list, &n->clean_bins[b]);
		n->clean_mask |= 1ull << b;
		n->free_clean_pages += len;
	}
}

static void run_unlink(struct sm_node *n, uint32_t first)
{
	struct slab *h = &n->descs[first];
	unsigned b = bin_of(h->npages);
	list_del(&h->list);
	if (h->dirty) {
		n->free_dirty_pages -= h->npages;
		if (list_empty(&n->dirty_bins[b]))
			WRITE_ONCE(n->dirty_mask, n->dirty_mask & ~(1ull << b));
	} else {
		n->free_clean_pages -= h->npages;
		if (list_empty(&n->clean_bins[b]))
			n->clean_mask &= ~(1ull << b);
	}
}

/*
 * The stamp of two dirty runs merged, @a of @alen pages and @b of @blen:
 * the larger one's (the older one's when they are equal).  The older of
 * the two would let a small run freed long ago send a large run freed
 * just now to the next purge, and its pages would fault in again: a
 * large run's stamp lies SM_RUN_KEEP_DELAYS - 1 delays ahead (free.c,
 * purge.h), and that way wl_large faulted 8% more pages in than with no
 * purge at all (benchmarks.md, "Merged dirty runs").  The smaller one's pages go
 * back with the larger one's, early or late: at worst as many pages as
 * the larger run has wait, or go, with it.  A stamp of 0 is due
 * now, and wins: hardened mode's freed big run (large.c), which the purge
 * right after must take with whatever it merged with.
 */
static inline uint64_t merged_stamp(uint64_t a, uint32_t alen, uint64_t b, uint32_t blen)
{
	if (alen != blen && a && b)
		return alen > blen ? a : b;
	return MIN(a, b);
}

/* Insert a free run, merging it with free neighbours of the same state. */
static void run_insert(struct sm_node *n, uint32_t first, uint32_t len, uint8_t dirty, uint64_t stamp)
{
	if (first > 0) {
		struct slab *t = &n->descs[first - 1];
		/* A neighbour may be a slab whose owner writes its type without
		   this lock (slab.c): read it once; PT_FREE tags are ours. */
		if (READ_ONCE(t->type) == PT_FREE && t->dirty == dirty) {
			uint32_t h = t->head;
			if (dirty)
				stamp = merged_stamp(n->descs[h].stamp, first - h, stamp, len);
			else
				stamp |= n->descs[h].stamp; /* RUN_PROTECTED if either is */
			run_unlink(n, h);
			len += first - h;
			first = h;
		}
	}
	uint32_t next = first + len;
	if (next < n->bump) {
		struct slab *h = &n->descs[next];
		if (READ_ONCE(h->type) == PT_FREE && h->dirty == dirty) {
			if (dirty)
				stamp = merged_stamp(h->stamp, h->npages, stamp, len);
			else
				stamp |= h->stamp;
			len += h->npages;
			run_unlink(n, next);
		}
	}
	run_link(n, first, len, dirty, stamp);
}

/* First page of a free run with at least @want pages, or UINT32_MAX. */
static uint32_t bins_find(struct sm_node *n, bool dirty, uint32_t want)
{
	uint64_t mask = dirty ? n->dirty_mask : n->clean_mask;
	struct list_head *bins = dirty ? n->dirty_bins : n->clean_bins;
	unsigned b = bin_of(want);
	if (b >= NODE_EXACT_BINS) {
		/* A log-spaced bin holds runs of several sizes: first fit. */
		if (mask & (1ull << b)) {
			struct list_head *pos, *tmp;
			list_for_each_safe(pos, tmp, &bins[b]) {
				struct slab *h = list_entry(pos, struct slab, list);
				if (h->npages >= want)
					return (uint32_t)(h - n->descs);
			}
		}
		if (++b >= NODE_NR_BINS)
			return UINT32_MAX;
	}
	mask &= ~0ull << b;
	if (!mask)
		return UINT32_MAX;
	b = (unsigned)__builtin_ctzll(mask);
	struct slab *h = list_first_entry(&bins[b], struct slab, list);
	return (uint32_t)(h - n->descs);
}

bool node_has_dirty_fit(const struct sm_node *n, uint32_t npages)
{
	return READ_ONCE(n->dirty_mask) >> bin_of(npages) != 0;
}

/* First page index >= @page whose address is aligned to @align_pages pages. */
static uint32_t align_page(const struct sm_node *n, uint32_t page, uint32_t align_pages)
{
	if (align_pages <= 1)
		return page;
	uintptr_t a = (uintptr_t)node_page_addr(n, page);
	uintptr_t al = ALIGN_UP(a, (uintptr_t)align_pages << SM_PAGE_SHIFT);
	return page + (uint32_t)((al - a) >> SM_PAGE_SHIFT);
}

static bool node_commit_upto(struct sm_node *n, uint32_t end)
{
	if (end <= n->committed)
		return true;
	uint32_t target = ALIGN_UP(end, NODE_COMMIT_PAGES);
	if (target > n->npages)
		target = n->npages;
	const struct sm_os_ops *os = n->os;
	uintptr_t dlo = ALIGN_DOWN((uintptr_t)&n->descs[n->committed], SM_PAGE_SIZE);
	uintptr_t dhi = ALIGN_UP((uintptr_t)&n->descs[target], SM_PAGE_SIZE);
	if (os->commit((void *)dlo, dhi - dlo, os->arg) != 0)
		return false;
	if (os->commit(node_page_addr(n, n->committed),
			    (size_t)(target - n->committed) << SM_PAGE_SHIFT, os->arg) != 0)
		return false;
	n->committed = target;
	return true;
}

static uint32_t take_from_bins(struct sm_node *n, bool dirty, uint32_t npages, uint32_t align_pages,
			       bool *protected)
{
	uint32_t want = npages + (align_pages > 1 ? align_pages - 1 : 0);
	uint32_t f = bins_find(n, dirty, want);
	if (f == UINT32_MAX)
		return f;
	struct slab *h = &n->descs[f];
	uint32_t len = h->npages;
	uint64_t stamp = h->stamp;
	*protected = !dirty && stamp == RUN_PROTECTED;
	run_unlink(n, f);
	uint32_t start = align_page(n, f, align_pages);
	/* Neighbours of the run are not free in this state: no merging needed. */
	if (start > f)
		run_link(n, f, start - f, dirty, stamp);
	if (start + npages < f + len)
		run_link(n, start + npages, f + len - start - npages, dirty, stamp);
	return start;
}

static uint32_t take_from_bump(struct sm_node *n, uint32_t npages, uint32_t align_pages)
{
	uint32_t start = align_page(n, n->bump, align_pages);
	if (start < n->bump || start > n->npages || npages > n->npages - start)
		return UINT32_MAX;
	if (!node_commit_upto(n, start + npages))
		return UINT32_MAX;
	uint32_t gap = start - n->bump;
	WRITE_ONCE(n->bump, start + npages);
	if (gap)
		run_insert(n, start - gap, gap, 0, 0); /* fresh pages are clean */
	return start;
}

void node_mark_large(struct sm_node *n, uint32_t first, uint32_t npages)
{
	struct slab *h = &n->descs[first];
	h->cache = NULL;
	WRITE_ONCE(h->type, PT_LARGE);
	WRITE_ONCE(h->head, first);
	h->npages = npages;
	h->guarded = 0;
	if (npages > 1) {
		struct slab *t = &n->descs[first + npages - 1];
		t->cache = NULL;
		WRITE_ONCE(t->type, PT_LARGE_TAIL);
		WRITE_ONCE(t->head, first);
	}
}

/*
 * Commit again the run [@first, +@npages) taken from the clean bins (node
 * lock not held, the caller owns the run).  If the OS refuses, the run goes
 * back to the clean bins and false is returned.
 */
static bool commit_clean(struct sm_node *n, uint32_t first, uint32_t npages)
{
	const struct sm_os_ops *os = n->os;
	if (likely(os->commit(node_page_addr(n, first), (size_t)npages << SM_PAGE_SHIFT, os->arg) == 0))
		return true;
	sm_lock(&n->lock);
	WRITE_ONCE(n->descs[first].type, PT_UNUSED);
	WRITE_ONCE(n->descs[first + npages - 1].type, PT_UNUSED);
	n->used_pages -= npages;
	if (likely(!n->abandoned))
		run_insert(n, first, npages, 0, RUN_PROTECTED);
	sm_unlock(&n->lock);
	return false;
}

uint32_t node_alloc_pages(struct sm_node *n, uint32_t npages, uint32_t align_pages,
			  const struct slab_alloc_context *ctx, bool *zeroed)
{
	if (!sm_lock_ctx(&n->lock, ctx->alloc_flags & SLAB_ALLOC_TRYLOCK))
		return UINT32_MAX;
	if (unlikely(n->abandoned)) {
		sm_unlock(&n->lock);
		return UINT32_MAX;
	}
	SM_HOOK(n->inst, SM_HOOK_NODE_PAGES);
	bool zero = false, protected = false;
	uint32_t first = take_from_bins(n, true, npages, align_pages, &protected);
	if (first == UINT32_MAX && !(ctx->alloc_flags & SLAB_ALLOC_RESIDENT)) {
		zero = true;
		first = take_from_bins(n, false, npages, align_pages, &protected);
		if (first == UINT32_MAX)
			first = take_from_bump(n, npages, align_pages);
	}
	if (first != UINT32_MAX) {
		node_mark_large(n, first, npages);
		n->used_pages += npages;
	}
	sm_unlock(&n->lock);
	/* A clean run that a purge may have protected (RUN_PROTECTED) is
	   committed again, outside the lock; the caller owns it meanwhile. */
	if (protected && !commit_clean(n, first, npages))
		return UINT32_MAX;
	*zeroed = zero;
	return first;
}

bool node_free_pages(struct sm_node *n, uint32_t first, uint32_t npages, uint64_t now, bool trylock)
{
	if (!sm_lock_ctx(&n->lock, trylock))
		return false;
	if (unlikely(n->abandoned)) {
		sm_unlock(&n->lock); /* the run is leaked: the bins cannot be trusted */
		return true;
	}
	WRITE_ONCE(n->descs[first].type, PT_UNUSED);
	WRITE_ONCE(n->descs[first + npages - 1].type, PT_UNUSED);
	n->used_pages -= npages;
	run_insert(n, first, npages, 1, now);
	sm_unlock(&n->lock);
	return true;
}

/* Free the run at @first if its head's type is @live: claimed by one compare-and-swap. */
static enum node_free_result free_run(struct sm_node *n, uint32_t first, uint64_t now, bool trylock,
				      uint8_t live)
{
	if (!sm_lock_ctx(&n->lock, trylock))
		return NODE_BUSY;
	struct slab *h = &n->descs[first];
	/* A compare-and-swap: a run cache (runcache.h) claims a live run
	   without this lock. */
	uint8_t expect = live;
	if (unlikely(h->head != first ||
		     !__atomic_compare_exchange_n(&h->type, &expect, PT_UNUSED, false, __ATOMIC_ACQ_REL,
						  __ATOMIC_RELAXED))) {
		sm_unlock(&n->lock);
		return NODE_NOT_LIVE;
	}
	uint32_t npages = h->npages;
	if (likely(!n->abandoned)) {
		if (unlikely(n->flags & SM_NODE_UNMAPPED)) /* claimed: ours alone until binned */
			memset(node_page_addr(n, first), 0, (size_t)npages << SM_PAGE_SHIFT);
		WRITE_ONCE(n->descs[first + npages - 1].type, PT_UNUSED);
		n->used_pages -= npages;
		run_insert(n, first, npages, 1, now);
	} else {
		WRITE_ONCE(h->type, live); /* leaked as it was: the bins cannot be trusted */
	}
	sm_unlock(&n->lock);
	return NODE_FREED;
}

enum node_free_result node_free_run(struct sm_node *n, uint32_t first, uint64_t now, bool trylock)
{
	return free_run(n, first, now, trylock, PT_LARGE);
}

enum node_free_result node_free_cached_run(struct sm_node *n, uint32_t first, uint64_t now)
{
	return free_run(n, first, now, false, PT_LARGE_CACHED);
}

size_t node_purge(struct sm_node *n, uint64_t cutoff)
{
	const struct sm_os_ops *os = n->os;
	struct purge_batch batch;
	struct list_head *todo = &batch.runs;
	INIT_LIST_HEAD(todo);

	if (n->backing == SM_BACKING_REGION)
		return 0; /* the caller's memory: its contents are its own business */
	sm_lock(&n->lock);
	if (n->oldest_dirty > cutoff || !n->free_dirty_pages || n->abandoned) {
		sm_unlock(&n->lock);
		return 0;
	}
	/* Visible to a fork child, which puts the runs back if we vanish. */
	batch.owner = sm_lock_self();
	list_add(&batch.link, &n->purges);
	SM_HOOK(n->inst, SM_HOOK_PURGE);
	uint64_t oldest = UINT64_MAX;
	for (unsigned b = 0; b < NODE_NR_BINS; b++) {
		struct list_head *pos, *tmp;
		list_for_each_safe(pos, tmp, &n->dirty_bins[b]) {
			struct slab *h = list_entry(pos, struct slab, list);
			if (h->stamp > cutoff) {
				if (h->stamp < oldest)
					oldest = h->stamp;
				continue;
			}
			uint32_t first = (uint32_t)(h - n->descs);
			run_unlink(n, first);
			/* Off the bins and marked: nobody allocates or merges it now. */
			WRITE_ONCE(h->dirty, RUN_PURGING);
			WRITE_ONCE(n->descs[first + h->npages - 1].dirty, RUN_PURGING);
			list_add(&h->list, todo);
		}
	}
	n->oldest_dirty = oldest;
	sm_unlock(&n->lock);

	/* The system calls run without the lock held. */
	size_t pages = 0;
	struct list_head *pos, *tmp;
	list_for_each_safe(pos, tmp, todo) {
		struct slab *h = list_entry(pos, struct slab, list);
		uint32_t first = (uint32_t)(h - n->descs);
		h->stamp = os->purge(node_page_addr(n, first), (size_t)h->npages << SM_PAGE_SHIFT,
					  os->arg) == 0;
		if (h->stamp)
			pages += h->npages;
	}

	sm_lock(&n->lock);
	list_for_each_safe(pos, tmp, todo) {
		struct slab *h = list_entry(pos, struct slab, list);
		uint32_t first = (uint32_t)(h - n->descs);
		bool purged = h->stamp;
		list_del(&h->list);
		/* Reset the tags so run_insert neither merges with nor trips on them. */
		WRITE_ONCE(h->type, PT_UNUSED);
		WRITE_ONCE(n->descs[first + h->npages - 1].type, PT_UNUSED);
		uint64_t prot = h->npages >= SM_PURGE_PROTECT_PAGES ? RUN_PROTECTED : 0;
		run_insert(n, first, h->npages, purged ? 0 : 1, purged ? prot : cutoff);
	}
	n->purged_pages += pages;
	list_del(&batch.link);
	sm_unlock(&n->lock);
	return pages;
}

void node_fork_child(struct sm_node *n)
{
	if (sm_lock_is_locked(&n->lock) && !sm_lock_held_by_self(&n->lock)) {
		sm_lock_init(&n->lock);
		n->abandoned = 1;
		return;
	}
	/* An unmapped node's data is not the child's: not mapped at all
	   (secretmem) or zero (the locked fallback).  Its slabs' lists are
	   dropped too (kmem_cache_fork_child). */
	if (n->flags & SM_NODE_UNMAPPED)
		n->abandoned = 1;
	/* Purges whose thread is gone: their runs go back as dirty (purged or
	   not, a dirty run is safe to hand out once it is accessible: it is
	   committed again, since the purge may have protected it; one the OS
	   refuses is leaked).  A purge of our own,
	   interrupted by the signal handler that forked, finishes by itself.
	   The batches live on the vanished threads' stacks, which the child
	   still maps. */
	struct list_head *bpos, *btmp;
	list_for_each_safe(bpos, btmp, &n->purges) {
		struct purge_batch *b = list_entry(bpos, struct purge_batch, link);
		if (b->owner == sm_thread.lock_id)
			continue;
		struct list_head *pos, *tmp;
		list_for_each_safe(pos, tmp, &b->runs) {
			struct slab *h = list_entry(pos, struct slab, list);
			uint32_t first = (uint32_t)(h - n->descs);
			list_del(&h->list);
			if (n->os->commit(node_page_addr(n, first), (size_t)h->npages << SM_PAGE_SHIFT,
					  n->os->arg) != 0)
				continue;
			WRITE_ONCE(h->type, PT_UNUSED);
			WRITE_ONCE(n->descs[first + h->npages - 1].type, PT_UNUSED);
			run_insert(n, first, h->npages, 1, 0);
		}
		list_del(&b->link);
	}
}

bool node_resize_run(struct sm_node *n, uint32_t first, uint32_t new_pages, uint64_t now,
		     bool trylock)
{
	struct slab *h = &n->descs[first];
	uint32_t old = h->npages;
	if (new_pages == old)
		return true;
	if (!sm_lock_ctx(&n->lock, trylock))
		return false;
	bool ok = false;
	if (unlikely(n->abandoned))
		goto out;
	if (new_pages < old) {
		/* Shrink: the tail becomes a dirty free run. */
		if (unlikely(n->flags & SM_NODE_UNMAPPED))
			memset(node_page_addr(n, first + new_pages), 0,
			       (size_t)(old - new_pages) << SM_PAGE_SHIFT);
		WRITE_ONCE(n->descs[first + old - 1].type, PT_UNUSED);
		node_mark_large(n, first, new_pages);
		n->used_pages -= old - new_pages;
		run_insert(n, first + new_pages, old - new_pages, 1, now);
		ok = true;
	} else {
		uint32_t next = first + old, extra = new_pages - old;
		struct slab *nh = next < n->bump ? &n->descs[next] : NULL;
		/* A clean run a purge may have protected is committed first
		   (under the lock: growing in place is rare). */
		if (nh && READ_ONCE(nh->type) == PT_FREE && nh->head == next && nh->dirty <= 1 &&
		    nh->npages >= extra &&
		    (nh->dirty || nh->stamp != RUN_PROTECTED ||
		     n->os->commit(node_page_addr(n, next), (size_t)extra << SM_PAGE_SHIFT,
				   n->os->arg) == 0)) {
			/* Grow into the free run that follows. */
			uint32_t len = nh->npages;
			uint8_t dirty = nh->dirty;
			uint64_t stamp = nh->stamp;
			run_unlink(n, next);
			if (len > extra)
				run_link(n, next + extra, len - extra, dirty, stamp);
			ok = true;
		} else if (next == n->bump && extra <= n->npages - n->bump &&
			   node_commit_upto(n, n->bump + extra)) {
			WRITE_ONCE(n->bump, n->bump + extra); /* grow into fresh pages */
			ok = true;
		}
		if (ok) {
			if (old > 1)
				WRITE_ONCE(n->descs[first + old - 1].type, PT_UNUSED);
			node_mark_large(n, first, new_pages);
			n->used_pages += extra;
		}
	}
out:
	sm_unlock(&n->lock);
	return ok;
}
