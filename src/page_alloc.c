/*
 * page_alloc.c - the nodes of an instance (page_alloc.h): set-up and
 * tear-down, node order, growth by doubling, page runs across nodes, and
 * the purge of every node's free runs.
 */
#include <errno.h>

#include "hooks.h"
#include "options.h"
#include "page_alloc.h"

int pa_init(struct page_alloc *pa, const struct node_origin *o, const struct sm_options *opts,
	    sm_lock_t *lock)
{
	pa->origin = *o;
	pa->node_size = opts->node_size;
	pa->max_nodes = opts->max_nodes;
	pa->huge_threshold = opts->huge_threshold;
	pa->harden = opts->harden;
	pa->lock = lock;
	INIT_LIST_HEAD(&pa->huge_list);
	struct sm_node *n = node_create(&pa->origin, pa->node_size, 0);
	if (!n)
		return -ENOMEM; /* valid without nodes: pa_grow makes node 0 */
	pa->nodes[0] = n;
	pa->nr_nodes = 1;
	return 0;
}

void pa_destroy(struct page_alloc *pa)
{
	struct list_head *pos, *tmp;
	list_for_each_safe(pos, tmp, &pa->huge_list)
		node_destroy(list_entry(pos, struct sm_node, huge_link));
	for (unsigned i = 0; i < pa->nr_nodes; i++)
		node_destroy(pa->nodes[i]);
}

unsigned pa_node_order(struct page_alloc *pa, const struct slab_alloc_context *ctx, int *ids)
{
	unsigned nr = pa_nr_nodes(pa), cnt = 0;
	int want = ctx->node;
	if (want >= 0 && (unsigned)want < nr)
		ids[cnt++] = want;
	else if (ctx->alloc_flags & SLAB_ALLOC_THISNODE)
		return 0; /* the node asked for does not exist */
	if (ctx->alloc_flags & SLAB_ALLOC_THISNODE)
		return cnt;
	for (unsigned i = 0; i < nr; i++)
		if ((int)i != want && pa_node(pa, i)->kind == NODE_NORMAL)
			ids[cnt++] = (int)i;
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
	if (nr != seen) {
		id = (int)nr - 1; /* another thread grew it meanwhile */
	} else if (nr < pa->max_nodes && (size = grow_size(pa, nr, pages)) != 0) {
		struct sm_node *n = node_create(&pa->origin, size, (int)nr);
		if (n) {
			__atomic_store_n(&pa->nodes[nr], n, __ATOMIC_RELEASE);
			__atomic_store_n(&pa->nr_nodes, nr + 1, __ATOMIC_RELEASE);
			id = (int)nr;
		}
	}
	sm_unlock(pa->lock);
	return id;
}

struct sm_node *pa_alloc_pages(struct page_alloc *pa, uint32_t npages, uint32_t align_pages,
			       const struct slab_alloc_context *ctx, uint32_t *first, bool *zeroed)
{
	int ids[SM_MAX_NODES];
	unsigned seen = pa_nr_nodes(pa);
	unsigned cnt = pa_node_order(pa, ctx, ids);
	for (unsigned i = 0; i < cnt; i++) {
		struct sm_node *n = pa_node(pa, (unsigned)ids[i]);
		*first = node_alloc_pages(n, npages, align_pages, ctx, zeroed);
		if (*first != UINT32_MAX)
			return n;
	}
	if (ctx->alloc_flags & SLAB_ALLOC_THISNODE)
		return NULL;
	/* Room for the run wherever the alignment puts its first page. */
	int id = pa_grow(pa, ctx, seen, (size_t)npages + align_pages - 1);
	if (id < 0)
		return NULL;
	struct sm_node *n = pa_node(pa, (unsigned)id);
	*first = node_alloc_pages(n, npages, align_pages, ctx, zeroed);
	return *first != UINT32_MAX ? n : NULL;
}

size_t pa_purge(struct page_alloc *pa, uint64_t cutoff)
{
	size_t pages = 0;
	unsigned nr = pa_nr_nodes(pa);
	for (unsigned i = 0; i < nr; i++)
		pages += node_purge(pa_node(pa, i), cutoff);
	return pages;
}
