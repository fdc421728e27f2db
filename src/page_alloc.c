/*
 * page_alloc.c - the nodes of an instance (page_alloc.h): set-up and
 * tear-down, node order, growth by doubling, page runs across nodes, and
 * the purge of every node's free runs.
 */
#include <errno.h>

#include "hooks.h"
#include "options.h"
#include "page_alloc.h"
#include "vg.h"

int pa_init(struct page_alloc *pa, const struct node_origin *o, const struct sm_options *opts,
	    sm_lock_t *lock)
{
	pa->origin = *o;
	pa->node_size = opts->node_size;
	pa->max_nodes = opts->max_nodes;
	pa->huge_threshold = opts->huge_threshold;
	pa->huge_learned = 0;
	pa->huge_resident = 0;
	pa->harden = opts->harden;
	pa->lock = lock;
	pa->nr_grown = 0;
	INIT_LIST_HEAD(&pa->huge_list);
	struct sm_node *n = node_create(&pa->origin, pa->node_size, 0);
	if (!n)
		return -ENOMEM; /* valid without nodes: pa_grow makes node 0 */
	pa->nodes[0] = n;
	pa->nr_nodes = 1;
	pa->nr_grown = 1;
	return 0;
}

int pa_add_node(struct page_alloc *pa, const struct node_origin *o, size_t size,
		const struct node_spec *spec)
{
	sm_lock(pa->lock);
	unsigned nr = pa->nr_nodes;
	int id = -1;
	if (nr >= SM_MAX_NODES) {
		errno = ENOSPC;
	} else {
		struct sm_node *n = node_create_spec(o, size, (int)nr, spec);
		if (n && !n->flags && n->numa >= 0)
			__atomic_fetch_add(&pa->nr_numa_bound, 1, __ATOMIC_RELEASE);
		if (n) {
			__atomic_store_n(&pa->nodes[nr], n, __ATOMIC_RELEASE);
			__atomic_store_n(&pa->nr_nodes, nr + 1, __ATOMIC_RELEASE);
			id = (int)nr;
		} else {
			errno = spec->flags & SM_NODE_RESERVED ? EINVAL : ENOMEM;
		}
	}
	sm_unlock(pa->lock);
	return id;
}

void pa_destroy(struct page_alloc *pa)
{
	struct list_head *pos, *tmp;
	list_for_each_safe(pos, tmp, &pa->huge_list)
		node_destroy(list_entry(pos, struct sm_node, huge_link));
	for (unsigned i = 0; i < pa->nr_nodes; i++)
		node_destroy(pa->nodes[i]);
}

/*
 * Whether a request in @ctx may use node @n (id @id) at all: the one place
 * the node kinds are enforced (seeds 003 and 004).  An unmapped request
 * only unmapped nodes, anything else never one; a private node only a
 * request naming it with MANAGED (or THISNODE, if the node allows that);
 * a reserved node only a CMA request.  Nothing here depends on fallback
 * lists: a request that does not carry the right flag cannot get there
 * whatever else it asks for.
 */
static bool node_allows(const struct sm_node *n, int id, const struct slab_alloc_context *ctx)
{
	unsigned f = ctx->alloc_flags, nf = n->flags;
	if (!!(f & SLAB_ALLOC_UNMAPPED) != !!(nf & SM_NODE_UNMAPPED))
		return false;
	if ((nf & SM_NODE_RESERVED) ? !(f & SLAB_ALLOC_CMA) : !!(f & SLAB_ALLOC_RESERVED_ONLY))
		return false;
	if (nf & SM_NODE_PRIVATE) {
		if (ctx->node != id)
			return false;
		if (!(f & SLAB_ALLOC_MANAGED) &&
		    !((nf & SM_NODE_THISNODE_OK) && (f & SLAB_ALLOC_THISNODE)))
			return false;
	}
	return true;
}

int pa_local_node(struct page_alloc *pa)
{
	if (!__atomic_load_n(&pa->nr_numa_bound, __ATOMIC_ACQUIRE))
		return 0;
	const struct sm_os_ops *os = pa->origin.os;
	int numa = os->numa_node(os->arg);
	unsigned nr = pa_nr_nodes(pa);
	for (unsigned i = 0; numa >= 0 && i < nr; i++) {
		struct sm_node *n = pa_node(pa, i);
		if (!n->flags && n->numa == numa)
			return (int)i;
	}
	return 0;
}

unsigned pa_node_order(struct page_alloc *pa, const struct slab_alloc_context *ctx, int *ids)
{
	unsigned nr = pa_nr_nodes(pa), cnt = 0;
	int want = ctx->node;
	unsigned f = ctx->alloc_flags;
	if (want >= 0 && (unsigned)want < nr && node_allows(pa_node(pa, (unsigned)want), want, ctx))
		ids[cnt++] = want;
	else if (f & (SLAB_ALLOC_THISNODE | SLAB_ALLOC_MANAGED))
		return 0; /* the node asked for does not exist, or may not be used */
	if (f & (SLAB_ALLOC_THISNODE | SLAB_ALLOC_MANAGED))
		return cnt; /* a named node and nothing else: a private pool never spills */
	/* CMA: the reserved regions first (the caller asked for them), then the rest. */
	for (unsigned pass = (f & SLAB_ALLOC_CMA) ? 0 : 1; pass < 2; pass++)
		for (unsigned i = 0; i < nr; i++) {
			struct sm_node *n = pa_node(pa, i);
			if ((int)i != want && !!(n->flags & SM_NODE_RESERVED) == !pass &&
			    !(n->flags & SM_NODE_PRIVATE) && node_allows(n, (int)i, ctx))
				ids[cnt++] = (int)i;
		}
	return cnt;
}

/*
 * Bytes of node @nr for a run of @pages pages: node_size doubled @nr times,
 * and doubled further until such a run fits, at most SM_MAX_NODE_SIZE; 0
 * when no node can hold the run.
 */
static size_t grow_size(const struct page_alloc *pa, unsigned nr, size_t pages)
{
	size_t size = pa->node_size;
	for (unsigned i = 0; i < nr && size < SM_MAX_NODE_SIZE; i++)
		size <<= 1;
	size = MIN(size, SM_MAX_NODE_SIZE);
	while (node_data_pages(size) < pages) {
		if (size >= SM_MAX_NODE_SIZE)
			return 0;
		size = MIN(size << 1, SM_MAX_NODE_SIZE);
	}
	return size;
}

int pa_grow(struct page_alloc *pa, const struct slab_alloc_context *ctx, unsigned seen, size_t pages)
{
	if (!sm_lock_ctx(pa->lock, ctx->alloc_flags & SLAB_ALLOC_TRYLOCK))
		return -1;
	SM_HOOK(pa->origin.inst, SM_HOOK_GROW);
	unsigned nr = pa->nr_nodes;
	int id = -1;
	size_t size;
	if (nr != seen && node_allows(pa->nodes[nr - 1], (int)nr - 1, ctx)) {
		/* Another thread added a node meanwhile that this request may
		   use (sm_node_create adds nodes too, of any kind). */
		id = (int)nr - 1;
	} else if (pa->nr_grown < pa->max_nodes && nr < SM_MAX_NODES &&
		   (size = grow_size(pa, pa->nr_grown, pages)) != 0) {
		struct sm_node *n = node_create(&pa->origin, size, (int)nr);
		if (n) {
			pa->nr_grown++;
			__atomic_store_n(&pa->nodes[nr], n, __ATOMIC_RELEASE);
			__atomic_store_n(&pa->nr_nodes, nr + 1, __ATOMIC_RELEASE);
			id = (int)nr;
		}
	}
	sm_unlock(pa->lock);
	return id;
}

/* A run of @n for pa_alloc_pages (node_alloc_pages and Valgrind's view of it). */
static bool alloc_in(struct sm_node *n, uint32_t npages, uint32_t align_pages,
		     const struct slab_alloc_context *ctx, uint32_t *first, bool *zeroed)
{
	*first = node_alloc_pages(n, npages, align_pages, ctx, zeroed);
	if (*first == UINT32_MAX)
		return false;
	vg_pages(node_page_addr(n, *first), npages, *zeroed);
	return true;
}

struct sm_node *pa_alloc_pages(struct page_alloc *pa, uint32_t npages, uint32_t align_pages,
			       const struct slab_alloc_context *ctx, uint32_t *first, bool *zeroed)
{
	int ids[SM_MAX_NODES];
	unsigned seen = pa_nr_nodes(pa);
	unsigned cnt = pa_node_order(pa, ctx, ids);
	/*
	 * Without a node asked for, a dirty free run of any node comes before
	 * the clean runs and fresh pages of the first: node_alloc_pages takes
	 * a node's own dirty, clean and fresh pages in that order, so node by
	 * node a request would fault fresh pages of one node in while another
	 * held a freed run that fits (docs/benchmarks.md, "Dirty runs of
	 * every node first").  Only where the order is no preference: a node
	 * asked for keeps its place (its memory is nearer the thread,
	 * pa_local_node, or the caller's choice), and so do the reserved
	 * regions a CMA request asks for first.
	 */
	if (cnt > 1 && ctx->node == SM_NO_NODE &&
	    !(ctx->alloc_flags & (SLAB_ALLOC_RESIDENT | SLAB_ALLOC_CMA))) {
		struct slab_alloc_context resident = *ctx;
		resident.alloc_flags |= SLAB_ALLOC_RESIDENT;
		uint32_t want = npages + (align_pages > 1 ? align_pages - 1 : 0);
		for (unsigned i = 0; i < cnt; i++) {
			struct sm_node *n = pa_node(pa, (unsigned)ids[i]);
			if (node_has_dirty_fit(n, want) &&
			    alloc_in(n, npages, align_pages, &resident, first, zeroed))
				return n;
		}
	}
	for (unsigned i = 0; i < cnt; i++) {
		struct sm_node *n = pa_node(pa, (unsigned)ids[i]);
		if (alloc_in(n, npages, align_pages, ctx, first, zeroed))
			return n;
	}
	if (ctx->alloc_flags & (SLAB_ALLOC_CONFINED | SLAB_ALLOC_RESIDENT))
		return NULL; /* growth makes general nodes, of fresh pages */
	/* Room for the run wherever the alignment puts its first page. */
	int id = pa_grow(pa, ctx, seen, (size_t)npages + align_pages - 1);
	if (id < 0)
		return NULL;
	struct sm_node *n = pa_node(pa, (unsigned)id);
	return alloc_in(n, npages, align_pages, ctx, first, zeroed) ? n : NULL;
}

size_t pa_purge(struct page_alloc *pa, uint64_t cutoff)
{
	size_t pages = 0;
	unsigned nr = pa_nr_nodes(pa);
	for (unsigned i = 0; i < nr; i++)
		pages += node_purge(pa_node(pa, i), cutoff);
	return pages;
}
