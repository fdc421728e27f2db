/*
 * alloc.c - allocation: the sheaf slow paths, the requests that bypass the
 * sheaves, the way into page runs and huge mappings, and the public
 * sm_kmalloc* and sm_cache_alloc* entry points.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "fastpath.h"
#include "hardened.h"
#include "large.h"
#include "registry.h"
#include "vg.h"
#include "zero.h"

void *slab_alloc_bypass(struct kmem_cache *s, unsigned flags, int node)
{
	/* Hardened: the object of a padded class, checked (hardened.h); the
	   size asked for is not known here. */
	if (harden_on(s))
		return hardened_alloc(s, flags, node, HARDEN_SIZE_UNKNOWN, HARDEN_SIZE_UNKNOWN);
	return slab_alloc_bypass_raw(s, flags, node);
}

void *slab_alloc_bypass_raw(struct kmem_cache *s, unsigned flags, int node)
{
	struct slab_alloc_context ctx = SLAB_ALLOC_CTX(s->object_size, flags, node);
	void *p;
	if (unlikely(flags & SLAB_ALLOC_CMA) && !(flags & SLAB_ALLOC_CONFINED)) {
		/* The regions first, new slabs included; then anywhere allowed. */
		int saved = errno;
		ctx.alloc_flags |= SLAB_ALLOC_RESERVED_ONLY;
		p = kmem_cache_alloc_direct(s, &ctx);
		if (p)
			goto out;
		errno = saved;
		ctx.alloc_flags = flags;
	}
	p = kmem_cache_alloc_direct(s, &ctx);
out:
	/* Hardened: an object written after its free is reported and kept
	   out of use (leaked); the next one is taken. */
	while (p && harden_on(s) && !harden_obj_check_zero(s, p))
		p = kmem_cache_alloc_direct(s, &ctx);
	if (p) {
		cache_stat_inc(s, STAT_ALLOC_DIRECT); /* the sheaves' pops count the rest */
		vg_obj_alloc(p, s->object_size, s->size, s->fp_offset, s->ctor);
	}
	return p;
}

/* A page run or huge mapping of @size bytes was handed out (statistics). */
static void count_large(struct sm_instance *inst, size_t size)
{
	__atomic_fetch_add(&inst->large_allocs, 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&inst->large_bytes_requested, size, __ATOMIC_RELAXED);
}

/*
 * Whether the default instance can serve a call: set up now if this is the
 * process's first, false (errno ENOMEM) only in a signal handler that
 * interrupted the set-up.  Any other instance is set up already.
 */
static bool default_ready(struct sm_instance *inst)
{
	if (inst != &sm_default_inst || likely(__atomic_load_n(&sm_default_ready, __ATOMIC_ACQUIRE)))
		return true;
	if (sm_default_instance())
		return true;
	errno = ENOMEM;
	return false;
}

/* The process's first call: the default instance set up first (apart, so
   that the common miss saves no register across a call). */
static __noinline void *default_miss_first(size_t size, unsigned i, unsigned flags, size_t align)
{
	if (unlikely(!default_ready(&sm_default_inst)))
		return NULL;
	return slab_alloc(&sm_default_inst, i, flags, 0, size, align);
}

/*
 * The commonest miss of malloc: main is dry and the spare holds objects
 * (the main that frees filled last), so the two trade places
 * (tcache_swap) and main is popped, here, without the general path's
 * second look at the views and its call into __slab_alloc_slow (the
 * cache, the context, a frame).  The same checks in
 * the same order: busy and kick clear, this thread's tcache of the default
 * instance (its generation), the deferred list empty.  Whatever else
 * applies (no spare to turn to, a kick, re-entry, deferred frees to
 * drain) goes the general way.
 */
void *__slab_alloc_default_miss(size_t size, size_t fc32, unsigned flags, size_t align)
{
	unsigned i = (unsigned)(fc32 / sizeof(struct pcs)) - 1;
	if (unlikely(!__atomic_load_n(&sm_default_ready, __ATOMIC_ACQUIRE)))
		return default_miss_first(size, i, flags, align);
	sm_tls_t *t = sm_tls();
	struct tcache *tc;
	if (likely(!sm_busy_or_kick(t) && (tc = tcache_peek_slot(0, sm_default_inst.gen)) &&
		   !READ_ONCE(sm_default_inst.deferred.head))) {
		t->busy = 1;
		barrier();
		/* fc32 indexes the TLS block's kmalloc_pcs: tcache_pcs(tc, i).
		   The turn through its address, the pop through the segment
		   (thread.h, sm_tls). */
		struct pcs *c = (struct pcs *)((uintptr_t)&sm_thread.kmalloc_pcs[0] + fc32);
		if (likely(tcache_swap(tc, c, &tc->allocs[i], true))) {
			sm_tls_view_t *v = (sm_tls_view_t *)((uintptr_t)&t->kmalloc_pcs[0].main + fc32);
			return kmalloc_main_pop(t, v, TLS_READ_ONCE(v->size));
		}
		return __slab_alloc_slow(&sm_default_inst, i, tc, flags);
	}
	return slab_alloc(&sm_default_inst, i, flags, 0, size, align);
}

void *__slab_alloc_overwritten(void *p)
{
	struct kmem_cache *s = obj_cache_any(p);
	uintptr_t w = *obj_free_word(s, p);
	sm_report(cache_err(s), "malloc: free object %p of cache %s was written while free (use after "
		  "free, or an overflow of the object before it): its free word at offset %u is 0x%" PRIxPTR,
		  p, s->name, s->fp_offset, w);
	*obj_free_word(s, p) = 0; /* handed out */
	return p;
}

void *__slab_alloc_slow(struct sm_instance *inst, unsigned id, struct tcache *tc, unsigned flags)
{
	struct kmem_cache *s = inst->cache_by_id[id];
	struct slab_alloc_context ctx = SLAB_ALLOC_CTX(s->object_size, flags, SM_NO_NODE);
	void *p;

	if (unlikely(READ_ONCE(inst->deferred.head)))
		deferred_drain(&inst->deferred);
	/* The common turn of main and spare needs no barn, and ends without
	   the purge check (no clock read) or a helper to start. */
	struct pcs *c = tcache_pcs(tc, id);
	bool turned = tcache_swap(tc, c, &tc->allocs[id], true);
	if (likely(turned || tcache_refill_main(tc, s, &ctx))) {
		/* Read once each: the atomic store would make the compiler
		   load them again. */
		void **objs = c->main.objects;
		uint32_t n = c->main.size - 1;
		WRITE_ONCE(c->main.size, n);
		p = objs[n];
		if (unlikely(!obj_tag_intact(p, s->fp_offset, cache_check_tag(s))))
			return __slab_alloc_overwritten(p);
		*obj_free_word(s, p) = 0; /* handed out */
	} else {
		/* No sheaf to be had: one object straight from the slabs, if any;
		   failing that, once more after giving back what is cached. */
		int saved = errno;
		p = kmem_cache_alloc_direct(s, &ctx);
		if (!p && inst_reclaim(inst))
			p = kmem_cache_alloc_direct(s, &ctx);
		if (p)
			errno = saved; /* a failed first try may have set it */
	}
	if (likely(turned)) {
		barrier();
		sm_thread.busy = 0;
	} else {
		slow_path_exit(inst, HELPER_MAY_START);
	}
	return p;
}

void *__slab_alloc_no_tcache(struct sm_instance *inst, unsigned id, unsigned flags, size_t size,
			     size_t align)
{
	/* The default instance's first call comes here too when malloc's
	   path is not inlined as slab_alloc_default (-O0: the test that picks
	   it is not folded to a constant). */
	if (unlikely(!default_ready(inst)))
		return NULL;
	struct tcache *tc = thread_attach(inst, HELPER_MAY_START);
	if (likely(tc)) {
		sm_thread.busy = 1;
		barrier();
		return __slab_alloc_slow(inst, id, tc, flags);
	}
	/* The thread is exiting (or has no memory for a tcache, or runs under
	   Valgrind: vg.h, or the instance is hardened: hardened.h, which
	   gets the request's size from here): no sheaves. */
	bool nested = sm_enter();
	struct kmem_cache *s = inst->cache_by_id[id];
	void *p = unlikely(inst->pa.harden) && size ? hardened_alloc(s, flags, SM_NO_NODE, size, align)
						    : slab_alloc_bypass(s, flags, SM_NO_NODE);
	sm_leave(nested);
	return p;
}

void *__slab_alloc_nolock(struct sm_instance *inst, unsigned id, unsigned flags)
{
	return slab_alloc_bypass(inst->cache_by_id[id], flags | SLAB_ALLOC_TRYLOCK, SM_NO_NODE);
}

void *__slab_alloc_node(struct kmem_cache *s, unsigned flags, int node)
{
	bool nested = sm_enter();
	if (nested)
		flags |= SLAB_ALLOC_TRYLOCK;
	void *p = slab_alloc_bypass(s, flags, node);
	sm_leave(nested);
	return p;
}

/* Whether a request may be served by the run cache. */
static inline bool runcache_fits(struct sm_instance *inst, size_t size, size_t align, unsigned flags,
				 int node)
{
	return align <= SM_PAGE_SIZE && node == SM_NO_NODE && !(flags & SLAB_ALLOC_BYPASS) &&
	       size <= ((size_t)RUNCACHE_MAX_PAGES << SM_PAGE_SHIFT) && size <= inst->pa.huge_threshold;
}

/*
 * What a run-cache hit does beyond handing the run out, each a call:
 * zeroing it (calloc: a cached run is dirty), hardened mode's canary (no
 * run enters the cache in hardened mode; this covers a change of mode),
 * starting the helper if a deferred free asked for one (slow_path_exit
 * does the same).  @npages: the run's.  Out of line, so that a plain hit calls nothing and
 * saves no register.  Busy clear: the run is this thread's already.
 */
static __noinline void *runcache_hit_finish(struct sm_instance *inst, void *p, uint32_t npages, unsigned flags)
{
	if (flags & SLAB_ALLOC_ZERO)
		memset(p, 0, (size_t)npages << SM_PAGE_SHIFT);
	if (unlikely(inst->pa.harden)) {
		struct sm_node *n = node_of(p);
		large_canary_set(n, node_page_index(n, p));
	}
	if (unlikely(READ_ONCE(inst->deferred.want_helper)))
		helper_maybe_start(inst);
	return p;
}

/* A page run or huge mapping past the run cache (busy clear or re-entered). */
static __noinline void *kmalloc_large_slow(struct sm_instance *inst, size_t size, size_t align,
					   unsigned flags, int node)
{
	if (unlikely(!default_ready(inst)))
		return NULL;
	if (node == SM_NO_NODE && !(flags & SLAB_ALLOC_BYPASS)) {
		/* A thread whose first allocations are page runs gets its tcache
		   (and so its run cache) at the first one the cache could serve,
		   before the run is taken: its pages come first, as in a thread
		   whose first allocation is small.  Without it every page-run
		   pair of the thread would take the node lock.  (Delay 0: the
		   cache keeps nothing, kfree_to_runcache.) */
		struct tcache *tc = tcache_peek(inst);
		if (!tc && runcache_fits(inst, size, align, flags, node) && inst->opts.purge_delay_ms &&
		    !sm_in_allocator())
			tc = thread_attach(inst, HELPER_NO_START);
		/* The node of the thread's NUMA node first, as for its refills. */
		if (tc && tc->node_id > 0)
			node = tc->node_id;
	}
	bool nested = sm_enter();
	if (nested)
		flags |= SLAB_ALLOC_TRYLOCK;
	struct slab_alloc_context ctx = SLAB_ALLOC_CTX(size, flags, node);
	int saved = errno;
	void *p = large_alloc(&inst->pa, size, align, &ctx);
	/* Out of memory: give back what is cached and try once more (a
	   success leaves errno as it was: the first try set ENOMEM). */
	if (!p && !nested && size <= SM_MAX_ALLOC && align <= SM_MAX_ALIGN && inst_reclaim(inst))
		p = large_alloc(&inst->pa, size, align, &ctx);
	sm_leave(nested);
	if (p) {
		errno = saved;
		count_large(inst, size);
		vg_alloc(p, sm_ksize(p), flags & SLAB_ALLOC_ZERO);
	}
	if (!nested)
		helper_check(inst, HELPER_MAY_START);
	return p;
}

/* Size 0 (kmalloc_inline sends it here with the large requests). */
static __noinline void *kmalloc_zero(struct sm_instance *inst, size_t align, unsigned flags, int node)
{
	if (unlikely(!default_ready(inst))) /* the process's first call sets it up */
		return NULL;
	void *p = (flags & SLAB_ALLOC_ZERO_PTR) && align <= SM_ZERO_SLOT ? zero_alloc() : NULL;
	if (p)
		return p;
	return kmalloc_inline(inst, 1, align, flags & ~SLAB_ALLOC_ZERO_PTR, node);
}

/*
 * A run bigger than the run cache keeps: first the cached runs that could
 * merge into room for it (runcache.h), then the nodes.  Busy clear, not
 * re-entered, @tc this thread's tcache of @inst.
 */
static __noinline void *kmalloc_large_release(struct sm_instance *inst, struct tcache *tc, size_t size,
					      size_t align, unsigned flags, int node)
{
	sm_thread.busy = 1;
	barrier();
	runcache_release_mergeable(&tc->runs);
	barrier();
	sm_thread.busy = 0;
	return kmalloc_large_slow(inst, size, align, flags, node);
}

void *__kmalloc_large(struct sm_instance *inst, size_t size, size_t align, unsigned flags, int node)
{
	if (unlikely(!size))
		return kmalloc_zero(inst, align, flags, node);
	/* Only a thread that has a tcache has a run cache; a thread without
	   one is attached by the slow path (kmalloc_large_slow).  A pending
	   kick makes tcache_peek miss: the slow path sees to it.  A hit calls
	   nothing (runcache_get is inline; the rest is runcache_hit_finish). */
	struct tcache *tc = tcache_peek(inst);
	if (tc && tc->runs.used && !sm_in_allocator()) {
		if (unlikely(!runcache_fits(inst, size, align, flags, node)))
			return kmalloc_large_release(inst, tc, size, align, flags, node);
		uint32_t npages = (uint32_t)(ALIGN_UP(MAX(size, (size_t)1), SM_PAGE_SIZE) >> SM_PAGE_SHIFT);
		/* Busy set, not re-entered: a re-entered call never touches the
		   cache the interrupted code may be changing. */
		sm_thread.busy = 1;
		barrier();
		void *p = runcache_get(&tc->runs, npages, size);
		barrier();
		sm_thread.busy = 0;
		if (p) {
			runcache_count_alloc(&tc->runs, size);
			if (unlikely((flags & SLAB_ALLOC_ZERO) || inst->pa.harden ||
				     READ_ONCE(inst->deferred.want_helper)))
				return runcache_hit_finish(inst, p, npages, flags);
			return p;
		}
	}
	return kmalloc_large_slow(inst, size, align, flags, node);
}

/* sm_kmalloc with gfp flags: apart, as cache_alloc_gfp below. */
static __noinline void *kmalloc_gfp(sm_instance_t *inst, size_t size, unsigned gfp)
{
	return kmalloc_inline(inst, size, 0, gfp_to_alloc_flags(gfp), SM_NO_NODE);
}

void *sm_kmalloc(sm_instance_t *inst, size_t size, unsigned gfp)
{
	if (unlikely(gfp))
		return kmalloc_gfp(inst, size, gfp);
	/* The default instance by malloc's own path (the TLS sheaves). */
	if (inst == &sm_default_inst)
		return kmalloc_inline(&sm_default_inst, size, 0, 0, SM_NO_NODE);
	return kmalloc_inline(inst, size, 0, 0, SM_NO_NODE);
}

void *sm_kmalloc_node(sm_instance_t *inst, size_t size, unsigned gfp, int node)
{
	return kmalloc_inline(inst, size, 0, gfp_to_alloc_flags(gfp), node);
}

void *sm_kmalloc_aligned(sm_instance_t *inst, size_t size, size_t align, unsigned gfp)
{
	if (!IS_POW2(align)) {
		errno = EINVAL;
		return NULL;
	}
	return kmalloc_inline(inst, size, align, gfp_to_alloc_flags(gfp), SM_NO_NODE);
}

/* An object of @s for alloc_flags @flags on @node: the sheaves unless the request bypasses them. */
static __always_inline void *cache_alloc(sm_cache_t *s, unsigned flags, int node)
{
	void *p;
	if (likely(node == SM_NO_NODE && !(flags & SLAB_ALLOC_BYPASS)))
		p = cache_alloc_fast(s, flags);
	else
		p = __slab_alloc_node(s, flags, node);
	if (unlikely(flags & SLAB_ALLOC_ZERO) && p)
		memset(p, 0, s->object_size);
	return p;
}

/* sm_cache_alloc with gfp flags: apart, so that the common call saves no
   register across the pop for the memset that zeroing adds after it. */
static __noinline void *cache_alloc_gfp(sm_cache_t *s, unsigned gfp)
{
	return cache_alloc(s, gfp_to_alloc_flags(gfp), SM_NO_NODE);
}

void *sm_cache_alloc(sm_cache_t *s, unsigned gfp)
{
	if (unlikely(gfp))
		return cache_alloc_gfp(s, gfp);
	return cache_alloc_fast(s, 0);
}

void *sm_cache_alloc_node(sm_cache_t *s, unsigned gfp, int node)
{
	return cache_alloc(s, gfp_to_alloc_flags(gfp), node);
}

/*
 * The context entry points: the public context becomes the alloc_flags and
 * node of the one request path every other call takes (alloc_ctx_import:
 * copied, then checked).
 */
void *sm_kmalloc_ctx(sm_instance_t *inst, size_t size, const struct sm_alloc_ctx *ctx)
{
	unsigned flags;
	int node, err = alloc_ctx_import(ctx, &flags, &node);
	if (unlikely(err)) {
		errno = err;
		return NULL;
	}
	return kmalloc_inline(inst, size, 0, flags, node);
}

void *sm_cache_alloc_ctx(sm_cache_t *s, const struct sm_alloc_ctx *ctx)
{
	unsigned flags;
	int node, err = alloc_ctx_import(ctx, &flags, &node);
	if (unlikely(err)) {
		errno = err;
		return NULL;
	}
	return cache_alloc(s, flags, node);
}

unsigned sm_kmalloc_nr_classes(void)
{
	return SM_NR_KMALLOC;
}

size_t sm_kmalloc_class_size(unsigned i)
{
	return i < SM_NR_KMALLOC ? kmalloc_class_size(i) : 0;
}
