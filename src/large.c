/*
 * large.c - page runs and huge mappings (large.h): lookup, allocation,
 * free and resize.
 */
#include <errno.h>
#include <string.h>

#include "large.h"
#include "options.h"

_Static_assert((SM_MAX_HUGE_THRESHOLD >> SM_PAGE_SHIFT) + (SM_RUN_MAX_ALIGN >> SM_PAGE_SHIFT) < UINT32_MAX / 2,
	       "page runs count their pages in 32 bits");
_Static_assert(SM_MAX_ALIGN <= ((size_t)1 << SM_VA_BITS) / 4, "an aligned mapping must fit the address space");

/* The data addresses of the last huge mappings unmapped (a ring, relaxed atomics). */
static uintptr_t recent_huge[64];
static unsigned recent_next;

static void recent_huge_add(uintptr_t data)
{
	unsigned i = __atomic_fetch_add(&recent_next, 1, __ATOMIC_RELAXED) % ARRAY_SIZE(recent_huge);
	__atomic_store_n(&recent_huge[i], data, __ATOMIC_RELAXED);
}

bool large_recently_unmapped(const void *p)
{
	for (unsigned i = 0; i < ARRAY_SIZE(recent_huge); i++)
		if (__atomic_load_n(&recent_huge[i], __ATOMIC_RELAXED) == (uintptr_t)p)
			return true;
	return false;
}

bool large_lookup(const void *p, struct large_ref *r)
{
	struct sm_node *n = node_of(p);
	if (!n)
		return false;
	r->node = n;
	if (n->kind == NODE_HUGE) {
		r->huge = true;
		r->page = 0;
		return p == n->data;
	}
	uint32_t page = node_page_index(n, p);
	r->huge = false;
	r->page = page;
	return page != UINT32_MAX && n->descs[page].type == PT_LARGE && p == node_page_addr(n, page);
}

static void *huge_alloc(struct page_alloc *pa, size_t size, size_t align,
			const struct slab_alloc_context *ctx)
{
	/* Size 0 gets here with an alignment above SM_RUN_MAX_ALIGN: one page,
	   never none (the object must be writable up to sm_ksize). */
	struct sm_node *n = node_create_huge(&pa->origin, MAX(size, (size_t)1), align);
	if (!n)
		return NULL;
	if (!sm_lock_ctx(pa->lock, ctx->alloc_flags & SLAB_ALLOC_TRYLOCK)) {
		node_destroy(n);
		return NULL;
	}
	list_add(&n->huge_link, &pa->huge_list);
	pa->nr_huge++;
	__atomic_fetch_add(&pa->huge_bytes, n->huge_size, __ATOMIC_RELAXED);
	sm_unlock(pa->lock);
	return n->data; /* fresh from the OS: already zero */
}

/* The pages of a run for @size bytes; hardened, with room for the whole canary after them. */
static uint32_t run_pages(const struct page_alloc *pa, size_t size)
{
	size_t span = MAX(size, (size_t)1) + (pa->harden ? SM_RUN_CANARY : 0);
	return (uint32_t)(ALIGN_UP(span, SM_PAGE_SIZE) >> SM_PAGE_SHIFT);
}

/* The bytes of the run @h heads that the program may use: its pages but a guard page. */
static size_t run_bytes(const struct slab *h)
{
	return (size_t)(h->npages - !!h->guarded) << SM_PAGE_SHIFT;
}

/* Whether a hardened run of @data_pages (run_pages) gets a guard page after it. */
static bool run_wants_guard(const struct page_alloc *pa, uint32_t data_pages)
{
	return pa->harden && data_pages >= SM_HARDEN_BIG_RUN_PAGES;
}

/*
 * Hardened mode's guard page: the last page of a run, made inaccessible
 * (os->protect) while the run is live, so that an overflow past the
 * canary faults at once.  Not on routed nodes (their memory is the
 * caller's or secret: the page stays plain slack there, RUN_GUARD_OFF),
 * nor when the OS refuses (vm.max_map_count: each guard splits the node's
 * mapping twice).  The run was sized with the page (large_alloc); sets
 * h->guarded.  The caller owns the run.
 */
static void run_guard(struct sm_node *n, uint32_t first)
{
	struct slab *h = &n->descs[first];
	if (node_routed(n) || n->backing == SM_BACKING_REGION) {
		h->guarded = RUN_GUARD_OFF;
		return;
	}
	void *g = node_page_addr(n, first + h->npages - 1);
	h->guarded = n->os->protect(g, SM_PAGE_SIZE, n->os->arg) == 0 ? RUN_GUARD_ON : RUN_GUARD_OFF;
}

/*
 * Make the guard page of the live run at @first accessible again, before
 * the run is freed or resized: a free run must be accessible (or protected
 * as a whole by a purge, which the node knows of).  False when the OS
 * refuses: the caller then leaks the run rather than bin a page that
 * faults.
 */
static bool run_unguard(struct sm_node *n, uint32_t first)
{
	struct slab *h = &n->descs[first];
	void *g = node_page_addr(n, first + h->npages - 1);
	if (n->os->commit(g, SM_PAGE_SIZE, n->os->arg) != 0)
		return false;
	h->guarded = RUN_GUARD_OFF;
	return true;
}

/*
 * A page run for @size bytes aligned to @align (large_alloc), in @ctx: the
 * caller checked that @size is at most SM_MAX_HUGE_THRESHOLD and @align at
 * most SM_RUN_MAX_ALIGN.
 */
static void *run_alloc(struct page_alloc *pa, size_t size, size_t align,
		       const struct slab_alloc_context *ctx)
{
	/* Size 0 gets here with an alignment above the page: one page, never
	   none.  Both page counts fit in 32 bits. */
	uint32_t data_pages = run_pages(pa, size);
	bool guard = run_wants_guard(pa, data_pages);
	uint32_t npages = data_pages + guard;
	uint32_t align_pages = align > SM_PAGE_SIZE ? (uint32_t)(align >> SM_PAGE_SHIFT) : 1;
	uint32_t first;
	bool zeroed;
	struct sm_node *n = pa_alloc_pages(pa, npages, align_pages, ctx, &first, &zeroed);
	if (!n)
		return NULL;
	n->descs[first].size = size;
	void *p = node_page_addr(n, first);
	if ((ctx->alloc_flags & SLAB_ALLOC_ZERO) && !zeroed)
		memset(p, 0, (size_t)data_pages << SM_PAGE_SHIFT);
	if (pa->harden) {
		large_canary_set(n, first);
		if (guard)
			run_guard(n, first);
	}
	return p;
}

void *large_alloc(struct page_alloc *pa, size_t size, size_t align,
		  const struct slab_alloc_context *ctx)
{
	void *p = NULL;
	if (size > SM_MAX_ALLOC || align > SM_MAX_ALIGN)
		goto out;
	/* A request confined to its nodes keeps the configured threshold, so
	   what it may get does not depend on what other frees taught. */
	unsigned f = ctx->alloc_flags;
	bool confined = f & SLAB_ALLOC_CONFINED;
	if (size <= (confined ? pa->huge_threshold : pa_huge_threshold(pa)) && align <= SM_RUN_MAX_ALIGN) {
		p = run_alloc(pa, size, align, ctx); /* size <= SM_MAX_HUGE_THRESHOLD */
		goto out;
	}
	/* A mapping of its own is general memory: never for a request
	   confined to unmapped or private nodes. */
	if (f & (SLAB_ALLOC_UNMAPPED | SLAB_ALLOC_MANAGED))
		goto out;
	/* Above the adaptive threshold, a free run whose pages are still
	   resident serves it first: a fresh mapping would fault every page in
	   while those pages wait for the purge.  Not for calloc, which would
	   write every page of it where a fresh mapping reads as zero
	   untouched, nor for a confined request, nor under an explicit
	   threshold (the program asked for mappings above it). */
	if (!(f & (SLAB_ALLOC_ZERO | SLAB_ALLOC_CONFINED)) && pa_huge_adaptive(pa) &&
	    size <= SM_MAX_HUGE_THRESHOLD && align <= SM_RUN_MAX_ALIGN) {
		struct slab_alloc_context rctx = *ctx;
		rctx.alloc_flags |= SLAB_ALLOC_RESIDENT;
		p = run_alloc(pa, size, align, &rctx);
		if (p) {
			__atomic_fetch_add(&pa->huge_resident, 1, __ATOMIC_RELAXED);
			goto out;
		}
	}
	p = huge_alloc(pa, size, align, ctx);
out:
	if (!p)
		errno = ENOMEM;
	return p;
}

/*
 * A huge mapping of @size bytes was freed: raise the adaptive threshold
 * (pa_huge_threshold) to twice that, at most SM_HUGE_ADAPT_MAX, so the next
 * request of that size, or up to twice it, is a page run whose pages stay
 * resident after its free.  Twice: in bench's wl_large, whose buffers grow
 * by 1.25-2x, learning the size alone let three mappings of 43, 57 and 63
 * MiB be made and unmapped one after the other, 41,800 pages faulted in
 * for nothing (benchmarks.md, "Huge mappings: learning with room").
 */
static void huge_learn(struct page_alloc *pa, size_t size)
{
	if (size > SM_HUGE_ADAPT_MAX)
		return;
	size = MIN(2 * size, SM_HUGE_ADAPT_MAX);
	size_t cur = __atomic_load_n(&pa->huge_learned, __ATOMIC_RELAXED);
	while (size > cur &&
	       !__atomic_compare_exchange_n(&pa->huge_learned, &cur, size, true, __ATOMIC_RELAXED,
					    __ATOMIC_RELAXED))
		;
}

enum large_free_result large_free(struct page_alloc *pa, const struct large_ref *r, uint64_t now,
				  bool trylock)
{
	struct sm_node *n = r->node;
	if (!r->huge) {
		/* Hardened, a big run: purged at once (stamped oldest, so that
		   the purge takes this run and what it merged with), its pages
		   protected: a stale pointer faults, a reuse reads zeros.  A
		   nested free leaves it to the next purge. */
		bool now_purge = pa->harden && !trylock &&
				 n->descs[r->page].npages >= SM_HARDEN_BIG_RUN_PAGES;
		/* The guard page first, if the run is still live (a double
		   free's guard was taken by the first free).  Two racing frees
		   may both unguard: the loser is reported all the same. */
		const struct slab *h = &n->descs[r->page];
		if (unlikely(READ_ONCE(h->guarded) == RUN_GUARD_ON) && READ_ONCE(h->type) == PT_LARGE &&
		    !run_unguard(n, r->page))
			return LARGE_FREED; /* leaked: binned, its guard would fault */
		switch (node_free_run(n, r->page, now_purge ? 0 : now, trylock)) {
		case NODE_FREED:
			if (now_purge)
				node_purge(n, 0);
			return LARGE_FREED;
		case NODE_BUSY:
			return LARGE_BUSY;
		default:
			return LARGE_NOT_LIVE;
		}
	}
	if (!sm_lock_ctx(pa->lock, trylock))
		return LARGE_BUSY;
	if (n->freeing) {
		sm_unlock(pa->lock);
		return LARGE_NOT_LIVE;
	}
	n->freeing = sm_lock_self();
	__atomic_fetch_add(&pa->huge_freeing, 1, __ATOMIC_RELAXED);
	list_del(&n->huge_link);
	pa->nr_huge--;
	__atomic_fetch_sub(&pa->huge_bytes, n->huge_size, __ATOMIC_RELAXED);
	sm_unlock(pa->lock);
	huge_learn(pa, n->huge_size);
	uintptr_t data = (uintptr_t)n->data;
	node_destroy(n);
	recent_huge_add(data);
	__atomic_fetch_sub(&pa->huge_freeing, 1, __ATOMIC_RELEASE);
	return LARGE_FREED;
}

/* The canary: no value a program's overflow writes by chance (0, 0xff, ASCII). */
static const uint8_t run_canary[SM_RUN_CANARY] = {
	0xa5, 0x9e, 0xe3, 0xd8, 0xb1, 0x8a, 0xf7, 0xcc,
	0xa5, 0x9e, 0xe3, 0xd8, 0xb1, 0x8a, 0xf7, 0xcc,
};

/* The canary of the run at @page of @n: where it starts and how long it is. */
static size_t canary_span(const struct sm_node *n, uint32_t page, uint8_t **start)
{
	const struct slab *h = &n->descs[page];
	size_t size = h->size, end = run_bytes(h);
	*start = (uint8_t *)node_page_addr(n, page) + size;
	return size < end ? MIN(end - size, (size_t)SM_RUN_CANARY) : 0;
}

void large_canary_set(const struct sm_node *n, uint32_t page)
{
	uint8_t *c;
	size_t len = canary_span(n, page, &c);
	memcpy(c, run_canary, len);
}

size_t large_canary_check(const struct large_ref *r)
{
	if (r->huge)
		return SIZE_MAX; /* a huge mapping's asked size is not kept */
	uint8_t *c;
	size_t len = canary_span(r->node, r->page, &c);
	if (likely(!memcmp(c, run_canary, len)))
		return SIZE_MAX;
	size_t i = 0;
	while (c[i] == run_canary[i])
		i++;
	return i;
}

size_t large_usable(const struct large_ref *r)
{
	if (r->huge)
		return r->node->huge_size;
	return run_bytes(&r->node->descs[r->page]);
}

bool large_resize(struct page_alloc *pa, const struct large_ref *r, size_t n, bool zero, bool trylock)
{
	struct sm_node *nd = r->node;
	if (r->huge) {
		/* Growing within the mapping's reservation: commit, no copy (the
		   new pages are fresh, so @zero is already honoured). */
		size_t added = n > nd->huge_size ? node_grow_huge(nd, n) : 0;
		if (!added)
			return false;
		__atomic_fetch_add(&pa->huge_bytes, added, __ATOMIC_RELAXED);
		return true;
	}
	if (n <= SM_KMALLOC_MAX_CACHE_SIZE || n > pa_huge_threshold(pa))
		return false;
	size_t usable = large_usable(r);
	/* The guard page is accessible while the run changes
	   (node_resize_run treats the run as plain pages); the resized run
	   gets one at its new end if it is big. */
	uint8_t had = nd->descs[r->page].guarded;
	if (had == RUN_GUARD_ON && !run_unguard(nd, r->page))
		return false;
	uint32_t data_pages = run_pages(pa, n);
	bool guard = run_wants_guard(pa, data_pages);
	if (!node_resize_run(nd, r->page, data_pages + guard, pa_now(pa), trylock)) {
		if (had == RUN_GUARD_ON)
			run_guard(nd, r->page);
		return false;
	}
	/* Hardened: from the size asked for, the old canary's bytes included. */
	size_t from = pa->harden ? MIN((size_t)nd->descs[r->page].size, usable) : usable;
	if (zero && n > from)
		memset((char *)node_page_addr(nd, r->page) + from, 0, ((size_t)data_pages << SM_PAGE_SHIFT) - from);
	nd->descs[r->page].size = n;
	if (pa->harden)
		large_canary_set(nd, r->page);
	if (guard)
		run_guard(nd, r->page); /* else guarded stays 0 (node_mark_large) */
	return true;
}

void *large_move_huge(struct page_alloc *pa, const struct large_ref *r, size_t size)
{
	struct sm_node *n = r->node;
	if (!n->os->remap || size > SM_MAX_ALLOC)
		return NULL;
	sm_lock(pa->lock);
	if (n->freeing) { /* a racing (double) free claimed it */
		sm_unlock(pa->lock);
		return NULL;
	}
	/* Off the list while its header moves: a fork child meanwhile finds
	   it neither there nor in the map, and leaks it. */
	list_del(&n->huge_link);
	pa->nr_huge--;
	__atomic_fetch_sub(&pa->huge_bytes, n->huge_size, __ATOMIC_RELAXED);
	sm_unlock(pa->lock);
	uintptr_t old = (uintptr_t)n->data;
	struct sm_node *m = node_move_huge(n, size);
	struct sm_node *now = m ? m : n;
	sm_lock(pa->lock);
	list_add(&now->huge_link, &pa->huge_list);
	pa->nr_huge++;
	__atomic_fetch_add(&pa->huge_bytes, now->huge_size, __ATOMIC_RELAXED);
	sm_unlock(pa->lock);
	if (!m)
		return NULL;
	recent_huge_add(old);
	return m->data;
}

void large_fork_child(struct page_alloc *pa, bool list_lost)
{
	if (!list_lost && !pa->huge_freeing)
		return;
	if (list_lost) {
		INIT_LIST_HEAD(&pa->huge_list);
		pa->nr_huge = 0;
		pa->huge_bytes = 0;
	}
	uint32_t mine = 0;
	for (size_t g = 0; g < ARRAY_SIZE(sm_node_map); g++) {
		struct sm_node *n = (struct sm_node *)(sm_node_map[g] & ~NODE_MAP_TABLES);
		/* Each huge node once: at the granule of its base. */
		if (!n || n->inst != pa->origin.inst || n->kind != NODE_HUGE ||
		    n->base != (uintptr_t)g << SM_NODE_SHIFT)
			continue;
		if (n->freeing == sm_thread.lock_id) {
			mine++; /* our own free, interrupted: it finishes */
		} else if (n->freeing) {
			node_destroy(n); /* claimed by a thread that is gone: finish it */
		} else if (list_lost) {
			list_add(&n->huge_link, &pa->huge_list);
			pa->nr_huge++;
			pa->huge_bytes += n->huge_size;
		}
	}
	pa->huge_freeing = mine;
}
