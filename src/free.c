/*
 * free.c - freeing: the sheaf slow paths, the nolock path that defers what
 * it cannot free without waiting (deferred.h), the way into page runs and
 * huge mappings, and the public sm_kfree, sm_cache_free, sm_ksize.
 * Every pointer is checked against the node map and its page descriptor
 * before anything is written; a bad one is reported and left alone.
 */
#include "fastpath.h"
#include "large.h"
#include "printk.h"
#include "registry.h"

void double_free_report(struct kmem_cache *s, void *p)
{
	sm_report(cache_err(s), "double free of %p in cache %s", p, s->name);
}

void __slab_free_slow(struct kmem_cache *s, struct tcache *tc, void *p)
{
	struct sm_instance *inst = s->inst;

	if (unlikely(sheaf_top_is(tc->sheaves[s->id].main, p))) {
		/* The fast path's check, for a free that found main full. */
		sm_thread.busy = 0;
		double_free_report(s, p);
		return;
	}
	if (unlikely(READ_ONCE(inst->deferred.head)))
		deferred_drain(&inst->deferred);
	if (likely(tcache_make_room(tc, s))) {
		struct slab_sheaf *m = tc->sheaves[s->id].main;
		m->objects[m->size++] = p;
	} else {
		kmem_cache_free_direct(s, p); /* no sheaf to be had */
	}
	slow_path_exit(inst);
}

void __slab_free_no_tcache(struct kmem_cache *s, void *p)
{
	struct tcache *tc = thread_attach(s->inst);
	if (likely(tc)) {
		sm_thread.busy = 1;
		barrier();
		__slab_free_slow(s, tc, p);
		return;
	}
	/* The thread is exiting (or has no memory for a tcache): no sheaves. */
	bool nested = sm_enter();
	kmem_cache_free_direct(s, p);
	sm_leave(nested);
}

void __slab_free_nolock(struct kmem_cache *s, void *p)
{
	/* Re-entered: never wait.  What cannot be freed now is deferred. */
	if (!slab_put_objects(s, &p, 1, true))
		defer_free(&s->inst->deferred, p, s->fp_offset);
}

struct sm_instance *__kfree_large(void *p, bool trylock)
{
	struct large_ref r;
	if (unlikely(!large_lookup(p, &r))) {
		registry_default_sink_prepare(); /* a foreign pointer's report goes there */
		slab_check_object(NULL, p);      /* reports what is wrong with it */
		return NULL;
	}
	struct sm_instance *inst = r.node->inst;
	uint64_t now = inst_now(inst);
	if (!large_free(&inst->pa, &r, now, trylock))
		defer_free(&inst->deferred, p, 0);
	else if (!trylock && !r.huge)
		inst_maybe_purge(inst, now);
	return inst;
}

void kfree_large(void *p)
{
	bool nested = sm_enter();
	struct sm_instance *inst = __kfree_large(p, nested);
	sm_leave(nested);
	if (!nested && inst)
		helper_check(inst);
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
	struct large_ref r;
	if (large_lookup(p, &r))
		return large_usable(&r);
	struct sm_node *n = node_of(p);
	if (!n)
		registry_default_sink_prepare();
	sm_report(n ? n->err : NULL, "ksize of %p: not a live object", p);
	return 0;
}

sm_instance_t *sm_ptr_instance(const void *p)
{
	struct sm_node *n = node_of(p);
	return n ? n->inst : NULL;
}
