/*
 * free.c - freeing: the sheaf slow path (spare, barn, flush to slabs), the
 * nolock path that defers what it cannot free without waiting (deferred.c),
 * page runs and huge mappings, and the public sm_kfree, sm_cache_free,
 * sm_ksize.
 * Every pointer is checked against the node map and its page descriptor
 * before anything is written; a bad one is reported and left alone.
 */
#include <string.h>

#include "fastpath.h"
#include "printk.h"

void double_free_report(struct kmem_cache *s, void *p)
{
	sm_report(s->inst, "double free of %p in cache %s", p, s->name);
}

void __slab_free_slow(struct kmem_cache *s, struct sm_tcache *tc, void *p)
{
	struct sm_instance *inst = s->inst;
	struct slub_percpu_sheaves *pcs = &tc->pcs[s->id];
	struct slab_sheaf *m = pcs->main;
	struct slab_alloc_context ctx = SLAB_ALLOC_CTX(0, SLAB_ALLOC_DEFAULT, SM_NO_NODE);

	if (unlikely(m->size && m->objects[m->size - 1] == p)) {
		/* The fast path's check, for a free that found main full. */
		sm_thread.busy = 0;
		double_free_report(s, p);
		return;
	}
	if (unlikely(READ_ONCE(inst->deferred.head)))
		deferred_drain(inst);
	if (unlikely(m->size < m->capacity))
		goto push; /* came from the notc path: the fast path did not look */
	if (unlikely(m == &sm_empty_sheaf)) {
		m = sheaf_alloc(s, &ctx);
		if (!m)
			goto single;
		pcs->main = m;
		goto push;
	}
	/* main is full */
	if (pcs->spare && !pcs->spare->size) {
		pcs->main = pcs->spare;
		pcs->spare = m;
		goto push;
	}
	struct node_barn *barn = &s->node[tc->node_id].barn;
	if (!pcs->spare) {
		struct slab_sheaf *e = barn_get_empty_sheaf(s, barn, false);
		if (!e)
			e = sheaf_alloc(s, &ctx);
		if (e) {
			pcs->spare = m;
			pcs->main = e;
		} else {
			sheaf_flush(s, m);
		}
		goto push;
	}
	struct slab_sheaf *e;
	if (barn_replace_full_sheaf(s, barn, m, &e, false)) {
		if (!e)
			e = sheaf_alloc(s, &ctx);
		if (!e) {
			pcs->main = &sm_empty_sheaf;
			goto single;
		}
		pcs->main = e;
	} else {
		/* The barn is full: this sheaf's objects go back to their slabs. */
		sheaf_flush(s, m);
	}
push:
	m = pcs->main;
	m->objects[m->size++] = p;
	slow_path_exit(inst);
	return;
single:
	slab_put_objects(s, &p, 1, false);
	slow_path_exit(inst);
}

void __slab_free_notc(struct kmem_cache *s, void *p)
{
	struct sm_tcache *tc = __tcache_get_slow(s->inst);
	if (likely(tc)) {
		sm_thread.busy = 1;
		barrier();
		__slab_free_slow(s, tc, p);
		return;
	}
	/* The thread is exiting (or has no memory for a tcache): no sheaves. */
	bool nested = sm_enter();
	slab_put_objects(s, &p, 1, false);
	sm_leave(nested);
}

void __slab_free_nolock(struct kmem_cache *s, void *p)
{
	/* Re-entered: never wait.  What cannot be freed now is deferred. */
	if (!slab_put_objects(s, &p, 1, true))
		defer_free(s->inst, p, s->fp_offset);
}

/* ---- page runs and huge mappings ---- */

static void kfree_huge(struct sm_node *n, void *p, bool trylock)
{
	struct sm_instance *inst = n->inst;
	if (p != n->data) {
		sm_report(inst, "free of %p: interior pointer into a %zu-byte huge allocation at %p",
			  p, n->huge_size, (void *)n->data);
		return;
	}
	if (!sm_lock_ctx(&inst->lock, trylock)) {
		defer_free(inst, p, 0);
		return;
	}
	list_del(&n->huge_link);
	inst->nr_huge--;
	__atomic_fetch_sub(&inst->huge_bytes, n->huge_size, __ATOMIC_RELAXED);
	sm_unlock(&inst->lock);
	node_destroy(n);
}

struct sm_instance *__kfree_other(void *p, bool trylock)
{
	struct sm_node *n = node_of(p);
	if (!n) {
		sm_report(NULL, "free of %p: not allocated by slabmalloc (foreign pointer)", p);
		return NULL;
	}
	struct sm_instance *inst = n->inst;
	if (n->kind == NODE_HUGE) {
		kfree_huge(n, p, trylock); /* @n is gone after this */
		return inst;
	}
	uint32_t page = node_page_index(n, p);
	if (page != UINT32_MAX && n->descs[page].type == PT_LARGE &&
	    p == node_page_addr(n, page)) {
		uint64_t now = inst_now(inst);
		if (!node_free_pages(n, page, n->descs[page].npages, now, trylock))
			defer_free(inst, p, 0);
		else if (!trylock)
			inst_maybe_purge(inst, now);
		return inst;
	}
	slab_check_object(NULL, p); /* reports what is wrong with it */
	return NULL;
}

/* Free a pointer that is not a slab object: a page run, a huge mapping, or garbage. */
void kfree_other(void *p)
{
	bool nested = sm_enter();
	struct sm_instance *inst = __kfree_other(p, nested);
	sm_leave(nested);
	if (!nested && inst)
		deferred_check(inst);
}

void __kfree_nosheaf(void *p)
{
	struct kmem_cache *s = obj_cache(p);
	if (likely(s))
		slab_put_objects(s, &p, 1, false);
	else
		__kfree_other(p, false);
}

void sm_kfree(void *p)
{
	if (unlikely(!p))
		return;
	kfree_inline(p);
}

void sm_cache_free(sm_cache_t *s, void *p)
{
	if (unlikely(!p))
		return;
	if (likely(obj_cache(p) == s))
		slab_free(s, p);
	else
		slab_check_object(s, p);
}

size_t sm_ksize(const void *p)
{
	if (!p)
		return 0;
	struct kmem_cache *s = obj_cache(p);
	if (likely(s))
		return s->is_kmalloc ? s->size : s->object_size;
	struct sm_node *n = node_of(p);
	if (n && n->kind == NODE_HUGE && p == n->data)
		return n->huge_size;
	uint32_t page = n ? node_page_index(n, p) : UINT32_MAX;
	if (page != UINT32_MAX && n->descs[page].type == PT_LARGE && p == node_page_addr(n, page))
		return (size_t)n->descs[page].npages << SM_PAGE_SHIFT;
	sm_report(n ? n->inst : NULL, "ksize of %p: not a live object", p);
	return 0;
}

sm_instance_t *sm_ptr_instance(const void *p)
{
	struct sm_node *n = node_of(p);
	return n ? n->inst : NULL;
}
