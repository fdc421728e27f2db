/*
 * nolock.c - the public nolock entry points, the userspace kmalloc_nolock()
 * and kfree_nolock(): usable from a signal handler, from inside another
 * allocator call, or with any lock held.  They never wait for a lock (every
 * lock is tried once), never call a function that is not async-signal-safe
 * and never start a thread.  Called outside the allocator (busy clear) they
 * may use the thread's main sheaf, which is lock-free; re-entered they keep
 * off the sheaves.  docs/signal-safety.md states the contract.
 */
#include <errno.h>
#include <string.h>

#include "fastpath.h"
#include "hardened.h"
#include "large.h"
#include "vg.h"

/* One object of @s without waiting: the main sheaf if usable, else the slabs. */
static void *cache_alloc_nolock(struct kmem_cache *s, bool nested, unsigned flags, int node)
{
	if (!nested && node == SM_NO_NODE && !(flags & SLAB_ALLOC_BYPASS)) {
		struct tcache *tc = tcache_peek_slot(s->inst_slot, s->inst_gen);
		if (tc) {
			struct sheaf_view *v = &tcache_pcs(tc, s->id)->main;
			if (v->size) {
				WRITE_ONCE(v->size, v->size - 1);
				void *p = v->objects[v->size];
				if (unlikely(!obj_tag_intact(p, s->fp_offset, v->tag)))
					return __slab_alloc_overwritten(p);
				*obj_free_word(s, p) = 0; /* handed out */
				return p;
			}
		}
	}
	return slab_alloc_bypass(s, flags | SLAB_ALLOC_TRYLOCK, node);
}

static void cache_free_nolock(struct kmem_cache *s, void *p, bool nested)
{
	if (obj_maybe_free(s, p)) {
		/* Confirmed with trylocks only: never waits. */
		if (!slab_free_confirm(s, p, true))
			return;
	}
	if (!nested) {
		struct tcache *tc = tcache_peek_slot(s->inst_slot, s->inst_gen);
		if (tc) {
			struct pcs *c = tcache_pcs(tc, s->id);
			if (c->main.size < c->main.capacity) {
				main_push(c, s, p, c->main.size);
				return;
			}
		}
	}
	if (harden_on(s)) {
		hardened_free(s, p, true); /* checked, scrubbed, quarantined if it can be */
		return;
	}
	vg_free(p);
	if (!slab_put_objects(s, &p, 1, true))
		defer_free(&s->inst->deferred, p, s);
}

static void *kmalloc_nolock(sm_instance_t *inst, size_t size, unsigned flags, int node)
{
	bool nested = sm_enter();
	void *p = NULL;
	if (size <= SM_KMALLOC_MAX_CACHE_SIZE) {
		if (size > 8)
			size = ALIGN_UP(size, SM_MALLOC_ALIGN);
		struct kmem_cache *s = &inst->kmalloc_caches[kmalloc_index(size)];
		p = cache_alloc_nolock(s, nested, flags, node);
		if (p && (flags & SLAB_ALLOC_ZERO))
			memset(p, 0, s->object_size);
	} else {
		struct slab_alloc_context ctx = SLAB_ALLOC_CTX(size, flags | SLAB_ALLOC_TRYLOCK, node);
		p = large_alloc(&inst->pa, size, 0, &ctx);
		if (p) { /* statistics, as alloc.c's count_large */
			__atomic_fetch_add(&inst->large_allocs, 1, __ATOMIC_RELAXED);
			__atomic_fetch_add(&inst->large_bytes_requested, size, __ATOMIC_RELAXED);
			vg_alloc(p, sm_ksize(p), flags & SLAB_ALLOC_ZERO);
		}
	}
	sm_leave(nested);
	return p;
}

void *sm_kmalloc_nolock(sm_instance_t *inst, size_t size, unsigned gfp, int node)
{
	return kmalloc_nolock(inst, size, gfp_to_alloc_flags(gfp), node);
}

void *sm_kmalloc_nolock_ctx(sm_instance_t *inst, size_t size, const struct sm_alloc_ctx *ctx)
{
	unsigned flags;
	int node, err = alloc_ctx_import(ctx, &flags, &node);
	if (err) {
		errno = err;
		return NULL;
	}
	return kmalloc_nolock(inst, size, flags, node);
}

void sm_kfree_nolock(void *p)
{
	if (unlikely(!p))
		return;
	bool nested = sm_enter();
	struct kmem_cache *s = obj_cache(p);
	if (likely(s))
		cache_free_nolock(s, p, nested);
	else
		__kfree_large(p, true);
	sm_leave(nested);
}

static void *cache_alloc_nolock_flags(sm_cache_t *s, unsigned flags, int node)
{
	bool nested = sm_enter();
	void *p = cache_alloc_nolock(s, nested, flags, node);
	sm_leave(nested);
	if (p && (flags & SLAB_ALLOC_ZERO))
		memset(p, 0, s->object_size);
	return p;
}

void *sm_cache_alloc_nolock(sm_cache_t *s, unsigned gfp, int node)
{
	return cache_alloc_nolock_flags(s, gfp_to_alloc_flags(gfp), node);
}

void *sm_cache_alloc_nolock_ctx(sm_cache_t *s, const struct sm_alloc_ctx *ctx)
{
	unsigned flags;
	int node, err = alloc_ctx_import(ctx, &flags, &node);
	if (err) {
		errno = err;
		return NULL;
	}
	return cache_alloc_nolock_flags(s, flags, node);
}

void sm_cache_free_nolock(sm_cache_t *s, void *p)
{
	if (unlikely(!p))
		return;
	if (unlikely(obj_cache(p) != s)) {
		if (obj_cache_routed(p) == s) {
			bool nested = sm_enter();
			__kfree_large(p, true); /* routed: home to its slab, or deferred */
			sm_leave(nested);
		} else {
			slab_check_object(s, p); /* reports what is wrong */
		}
		return;
	}
	bool nested = sm_enter();
	cache_free_nolock(s, p, nested);
	sm_leave(nested);
}
