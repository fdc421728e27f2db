/*
 * alloc.c - allocation: the sheaf slow path (spare, barn, refill from
 * slabs), page runs and huge mappings for large requests, and the public
 * sm_kmalloc* and sm_cache_alloc* entry points.
 */
#include <errno.h>
#include <string.h>

#include "fastpath.h"
#include "printk.h"
#include "size_classes.h"

const uint8_t sm_malloc_class16[SM_MALLOC_TABLE_MAX / 16 + 1] = {
	0, 1, 3, 5, 7, 8, 9, 10, 11, 12, 12, 13, 13, 14, 14, 15,
	15, 16, 16, 16, 16, 17, 17, 17, 17, 18, 18, 18, 18, 19, 19, 19,
	19, 20, 20, 20, 20, 20, 20, 20, 20, 21, 21, 21, 21, 21, 21, 21,
	21, 22, 22, 22, 22, 22, 22, 22, 22, 23, 23, 23, 23, 23, 23, 23,
	23,
};

void *slab_alloc_single(struct kmem_cache *s, const struct slab_alloc_context *ctx)
{
	void *p;
	if (slab_get_objects(s, ctx, &p, 1))
		return p;
	errno = ENOMEM;
	return NULL;
}

static inline struct node_barn *tc_barn(struct kmem_cache *s, struct sm_tcache *tc)
{
	return &s->node[tc->node_id].barn;
}

void *__slab_alloc_slow(struct sm_instance *inst, unsigned id, struct sm_tcache *tc, unsigned flags)
{
	struct kmem_cache *s = inst->cache_by_id[id];
	struct slab_alloc_context c = SLAB_ALLOC_CTX(s->object_size, flags, SM_NO_NODE);
	const struct slab_alloc_context *ctx = &c;
	struct slub_percpu_sheaves *pcs = &tc->pcs[s->id];
	struct slab_sheaf *m = pcs->main;
	void *p;

	if (unlikely(READ_ONCE(inst->deferred.head)))
		deferred_drain(inst);
	if (unlikely(m->size))
		goto pop; /* came from the notc path: the fast path did not look */
	if (unlikely(m == &sm_empty_sheaf)) {
		m = sheaf_alloc(s, ctx);
		if (!m)
			goto single;
		pcs->main = m;
	}
	if (pcs->spare && pcs->spare->size) {
		pcs->main = pcs->spare;
		pcs->spare = m;
		goto pop;
	}
	struct node_barn *barn = tc_barn(s, tc);
	if (!pcs->spare) {
		/* Keep the empty main as the spare; take a full one if the barn has it. */
		struct slab_sheaf *full = barn_get_full_sheaf(s, barn, false);
		if (full) {
			pcs->spare = m;
			pcs->main = full;
			goto pop;
		}
	} else {
		struct slab_sheaf *empty = m;
		struct slab_sheaf *full = barn_replace_empty_sheaf(s, barn, &empty, false);
		if (full) {
			pcs->main = full;
			if (empty)
				sheaf_free(empty); /* the barn has enough empties */
			goto pop;
		}
	}
	if (!sheaf_refill(s, m, ctx)) {
		slow_path_exit(inst);
		errno = ENOMEM;
		return NULL;
	}
pop:
	m = pcs->main;
	p = m->objects[--m->size];
	slow_path_exit(inst);
	return p;
single:
	p = slab_alloc_single(s, ctx);
	slow_path_exit(inst);
	return p;
}

void *__slab_alloc_notc(struct sm_instance *inst, unsigned id, unsigned flags)
{
	struct kmem_cache *s = inst->cache_by_id[id];
	struct sm_tcache *tc = __tcache_get_slow(inst);
	if (likely(tc)) {
		sm_thread.busy = 1;
		barrier();
		return __slab_alloc_slow(inst, id, tc, flags);
	}
	/* The thread is exiting (or has no memory for a tcache): no sheaves. */
	bool nested = sm_enter();
	struct slab_alloc_context ctx = SLAB_ALLOC_CTX(s->object_size, flags, SM_NO_NODE);
	void *p = slab_alloc_single(s, &ctx);
	sm_leave(nested);
	return p;
}

void *__slab_alloc_nolock(struct sm_instance *inst, unsigned id, unsigned flags)
{
	struct kmem_cache *s = inst->cache_by_id[id];
	struct slab_alloc_context ctx = SLAB_ALLOC_CTX(s->object_size, flags | SLAB_ALLOC_TRYLOCK,
						       SM_NO_NODE);
	return slab_alloc_single(s, &ctx);
}

void *__slab_alloc_node(struct kmem_cache *s, unsigned flags, int node)
{
	bool nested = sm_enter();
	if (nested)
		flags |= SLAB_ALLOC_TRYLOCK;
	struct slab_alloc_context ctx = SLAB_ALLOC_CTX(s->object_size, flags, node);
	void *p = slab_alloc_single(s, &ctx);
	sm_leave(nested);
	return p;
}

/* ---- large requests ---- */

static void *kmalloc_huge(struct sm_instance *inst, size_t size, size_t align,
			  const struct slab_alloc_context *ctx)
{
	struct sm_node *n = node_create_huge(inst, size, align);
	if (!n)
		return NULL;
	if (!sm_lock_ctx(&inst->lock, ctx->alloc_flags & SLAB_ALLOC_TRYLOCK)) {
		node_destroy(n);
		return NULL;
	}
	list_add(&n->huge_link, &inst->huge_list);
	inst->nr_huge++;
	__atomic_fetch_add(&inst->huge_bytes, n->huge_size, __ATOMIC_RELAXED); /* realloc adds unlocked */
	sm_unlock(&inst->lock);
	return n->data; /* fresh from the OS: already zero */
}

void *kmalloc_large(struct sm_instance *inst, size_t size, size_t align,
			   const struct slab_alloc_context *ctx)
{
	if (size > inst->opts.huge_threshold)
		return kmalloc_huge(inst, size, align, ctx);
	/* Size 0 gets here with an alignment above the page: one page, never none. */
	uint32_t npages = (uint32_t)(ALIGN_UP(MAX(size, (size_t)1), SM_PAGE_SIZE) >> SM_PAGE_SHIFT);
	uint32_t align_pages = align > SM_PAGE_SIZE ? (uint32_t)(align >> SM_PAGE_SHIFT) : 1;
	uint32_t first;
	bool zeroed;
	struct sm_node *n = inst_alloc_pages(inst, npages, align_pages, ctx, &first, &zeroed);
	if (!n)
		return NULL;
	n->descs[first].size = size;
	void *p = node_page_addr(n, first);
	if ((ctx->alloc_flags & SLAB_ALLOC_ZERO) && !zeroed)
		memset(p, 0, (size_t)npages << SM_PAGE_SHIFT);
	return p;
}

void *__kmalloc_large(struct sm_instance *inst, size_t size, size_t align, unsigned flags, int node)
{
	void *p = NULL;
	if (size <= SM_MAX_ALLOC) {
		bool nested = sm_enter();
		if (nested)
			flags |= SLAB_ALLOC_TRYLOCK;
		struct slab_alloc_context ctx = SLAB_ALLOC_CTX(size, flags, node);
		p = kmalloc_large(inst, size, align, &ctx);
		sm_leave(nested);
		if (!nested)
			deferred_check(inst);
	}
	if (!p)
		errno = ENOMEM;
	return p;
}

void *__kmalloc(struct sm_instance *inst, size_t size, size_t align, const struct slab_alloc_context *ctx)
{
	SM_BUG_ON(!(ctx->alloc_flags & SLAB_ALLOC_NO_RECURSE));
	if (size <= SM_KMALLOC_MAX_CACHE_SIZE) {
		unsigned i = align <= 8 ? kmalloc_index(ALIGN_UP(size, SM_MALLOC_ALIGN))
					: kmalloc_aligned_index(size, align);
		if (i < SM_NR_KMALLOC)
			return slab_alloc_single(&inst->kmalloc_caches[i], ctx);
	}
	void *p = kmalloc_large(inst, size, align, ctx);
	if (!p)
		errno = ENOMEM;
	return p;
}

void *sm_kmalloc(sm_instance_t *inst, size_t size, unsigned gfp)
{
	void *p = kmalloc_inline(inst, size, 0, gfp_to_alloc_flags(gfp), SM_NO_NODE);
	if (unlikely(!p))
		errno = ENOMEM;
	return p;
}

void *sm_kmalloc_node(sm_instance_t *inst, size_t size, unsigned gfp, int node)
{
	void *p = kmalloc_inline(inst, size, 0, gfp_to_alloc_flags(gfp), node);
	if (!p)
		errno = ENOMEM;
	return p;
}

void *sm_kmalloc_aligned(sm_instance_t *inst, size_t size, size_t align, unsigned gfp)
{
	if (!IS_POW2(align)) {
		errno = EINVAL;
		return NULL;
	}
	void *p = kmalloc_inline(inst, size, align, gfp_to_alloc_flags(gfp), SM_NO_NODE);
	if (!p)
		errno = ENOMEM;
	return p;
}

void *sm_cache_alloc(sm_cache_t *s, unsigned gfp)
{
	if (unlikely(gfp & SM_GFP_THISNODE))
		return sm_cache_alloc_node(s, gfp, SM_NO_NODE);
	void *p = slab_alloc(s->inst, s->id, gfp_to_alloc_flags(gfp));
	if (unlikely(!p)) {
		errno = ENOMEM;
		return NULL;
	}
	if (gfp & SM_GFP_ZERO)
		memset(p, 0, s->object_size);
	return p;
}

void *sm_cache_alloc_node(sm_cache_t *s, unsigned gfp, int node)
{
	unsigned flags = gfp_to_alloc_flags(gfp);
	void *p = node == SM_NO_NODE && !(gfp & SM_GFP_THISNODE)
			  ? slab_alloc(s->inst, s->id, flags) : __slab_alloc_node(s, flags, node);
	if (!p) {
		errno = ENOMEM;
		return NULL;
	}
	if (gfp & SM_GFP_ZERO)
		memset(p, 0, s->object_size);
	return p;
}

unsigned sm_kmalloc_nr_classes(void)
{
	return SM_NR_KMALLOC;
}

size_t sm_kmalloc_class_size(unsigned i)
{
	return i < SM_NR_KMALLOC ? kmalloc_class_size(i) : 0;
}
