/*
 * realloc.c - resizing an object: in place when its size class or page run
 * allows it, otherwise allocate, copy and free.
 */
#include <errno.h>
#include <string.h>

#include "fastpath.h"
#include "printk.h"

/* A smaller request keeps the object while it still uses over half of it. */
static inline bool keep_in_place(size_t usable, size_t n)
{
	return n <= usable && (n > usable / 2 || usable <= 64);
}

static void *move_object(void *p, size_t old, size_t n, unsigned gfp)
{
	struct sm_instance *inst = node_of(p)->inst;
	void *q = sm_kmalloc(inst, n, gfp & ~SM_GFP_ZERO);
	if (!q)
		return NULL;
	memcpy(q, p, MIN(old, n));
	if ((gfp & SM_GFP_ZERO) && n > old)
		memset((char *)q + old, 0, sm_ksize(q) - old);
	kfree_inline(p);
	return q;
}

void *sm_krealloc(void *p, size_t n, unsigned gfp)
{
	if (!p) {
		struct sm_instance *inst = sm_default_instance();
		if (!inst) {
			errno = ENOMEM; /* a signal handler interrupted its set-up */
			return NULL;
		}
		return sm_kmalloc(inst, n, gfp);
	}
	if (!n) {
		kfree_inline(p);
		return NULL;
	}
	if (n > SM_MAX_ALLOC) {
		errno = ENOMEM;
		return NULL;
	}
	struct kmem_cache *s = obj_cache(p);
	if (likely(s)) {
		size_t usable = s->is_kmalloc ? s->size : s->object_size;
		if (keep_in_place(usable, n))
			return p;
		return move_object(p, usable, n, gfp);
	}
	struct sm_node *nd = node_of(p);
	if (nd && nd->kind == NODE_HUGE && p == nd->data) {
		if (keep_in_place(nd->huge_size, n))
			return p;
		/* Growing within the mapping's reservation: commit, no copy (the
		   new pages are fresh, so SM_GFP_ZERO is already honoured). */
		size_t added = n > nd->huge_size ? node_grow_huge(nd, n) : 0;
		if (added) {
			__atomic_fetch_add(&nd->inst->huge_bytes, added, __ATOMIC_RELAXED);
			return p;
		}
		return move_object(p, nd->huge_size, n, gfp);
	}
	uint32_t page = nd ? node_page_index(nd, p) : UINT32_MAX;
	if (page == UINT32_MAX || nd->descs[page].type != PT_LARGE || p != node_page_addr(nd, page)) {
		slab_check_object(NULL, p); /* reports what is wrong */
		errno = EINVAL;
		return NULL;
	}
	struct sm_instance *inst = nd->inst;
	size_t usable = (size_t)nd->descs[page].npages << SM_PAGE_SHIFT;
	if (n > SM_KMALLOC_MAX_CACHE_SIZE && n <= inst->opts.huge_threshold) {
		uint32_t want = (uint32_t)(ALIGN_UP(n, SM_PAGE_SIZE) >> SM_PAGE_SHIFT);
		/* Re-entered (a signal handler): only try the node lock. */
		bool nested = sm_enter();
		bool resized = node_resize_run(nd, page, want, inst_now(inst), nested);
		sm_leave(nested);
		if (!nested)
			deferred_check(inst);
		if (resized) {
			if ((gfp & SM_GFP_ZERO) && n > usable)
				memset((char *)p + usable, 0, ((size_t)want << SM_PAGE_SHIFT) - usable);
			nd->descs[page].size = n;
			return p;
		}
	}
	return move_object(p, usable, n, gfp);
}
