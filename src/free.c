/*
 * free.c - freeing: the sheaf slow paths, the nolock path that defers what
 * it cannot free without waiting (deferred.h), the way into page runs and
 * huge mappings, and the public sm_kfree, sm_cache_free, sm_ksize.
 * Every pointer is checked against the node map and its page descriptor
 * before anything is written; a bad one is reported and left alone.
 */
#include <errno.h>
#include <string.h>

#include "barn.h"
#include "debug.h"
#include "fastpath.h"
#include "hardened.h"
#include "large.h"
#include "printk.h"
#include "registry.h"
#include "vg.h"
#include "zero.h"

void __slab_free_suspect(struct kmem_cache *s, void *p)
{
	bool nested = sm_enter();
	bool live = slab_free_confirm(s, p, nested);
	sm_leave(nested);
	if (live)
		slab_free(s, desc_of(p), p);
}

void __slab_free_slow(struct kmem_cache *s, struct tcache *tc, void *p)
{
	struct sm_instance *inst = s->inst;
	int saved = errno; /* free() never changes errno (POSIX.1-2024): a sheaf
	                      that cannot be had sets ENOMEM below */

	if (unlikely(READ_ONCE(inst->deferred.head)))
		deferred_drain(&inst->deferred);
	/* The common turn of main and spare needs no barn and ends without
	   the purge check (no clock read). */
	struct pcs *c = tcache_pcs(tc, s->id);
	bool turned = tcache_swap(tc, c, &tc->allocs[s->id], false);
	if (likely(turned || tcache_make_room(tc, s))) {
		main_push(c, s, p, c->main.size);
	} else {
		kmem_cache_free_direct(s, p); /* no sheaf to be had */
	}
	if (likely(turned)) {
		barrier();
		sm_thread.busy = 0;
	} else {
		slow_path_exit(inst, HELPER_NO_START);
	}
	errno = saved;
}

/* __slab_free_remote without room in the remote sheaf: apart, so that the
   common push pays for none of this (no register saved, no errno). */
static __noinline void slab_free_remote_slow(struct kmem_cache *s, struct tcache *tc, void *p)
{
	struct sm_instance *inst = s->inst;
	int saved = errno; /* as in __slab_free_slow */
	if (unlikely(READ_ONCE(inst->deferred.head)))
		deferred_drain(&inst->deferred);
	if (unlikely(!tcache_free_remote(tc, s, p)))
		kmem_cache_free_direct(s, p);
	slow_path_exit(inst, HELPER_NO_START);
	errno = saved;
}

void __slab_free_remote(struct kmem_cache *s, struct tcache *tc, void *p)
{
	if (likely(tcache_remote_push(tc, s, p))) {
		/* No lock taken: ends like the fast path, no clock read. */
		barrier();
		sm_thread.busy = 0;
		return;
	}
	slab_free_remote_slow(s, tc, p);
}

void __slab_free_no_tcache(struct kmem_cache *s, void *p)
{
	int saved = errno; /* a tcache that cannot be made sets it */
	struct tcache *tc = thread_attach(s->inst, HELPER_NO_START);
	errno = saved;
	if (likely(tc)) {
		sm_thread.busy = 1;
		barrier();
		if (slab_owned_here(desc_of(p)))
			__slab_free_slow(s, tc, p);
		else
			__slab_free_remote(s, tc, p);
		return;
	}
	/* The thread is exiting (or has no memory for a tcache, or runs under
	   Valgrind: vg.h, or the instance is hardened: hardened.h): no sheaves. */
	bool nested = sm_enter();
	if (harden_on(s)) {
		hardened_free(s, p, nested);
	} else {
		vg_free(p);
		kmem_cache_free_direct(s, p);
	}
	sm_leave(nested);
}

void __slab_free_nolock(struct kmem_cache *s, void *p)
{
	/* Re-entered: never wait.  What cannot be freed now is deferred. */
	if (harden_on(s)) {
		hardened_free(s, p, true);
		return;
	}
	vg_free(p);
	if (!slab_put_objects(s, &p, 1, true))
		defer_free(&s->inst->deferred, p, s);
}

/*
 * Free @p, an object of @s in a slab of a routed node (private, unmapped or
 * reserved: obj_cache_routed): straight back to its own slab, never into a
 * sheaf, so that no general request can ever be handed it.  An unmapped
 * node's object is zeroed first (and constructed again if @s has a
 * constructor).  Busy set; @trylock: a busy list_lock defers the free
 * (the deferred list puts it back in its slab too).
 */
static void slab_free_routed(struct kmem_cache *s, void *p, bool trylock)
{
	struct sm_node *n = node_of(p);
	if (unlikely(n->abandoned) && (n->flags & SM_NODE_UNMAPPED))
		return; /* a fork child's view of an unmapped node: not even readable */
	if (unlikely(s->debug)) {
		/* slab_debug: its checks, the double free included; the
		   poison replaces the unmapped node's zeroing.  Its free word
		   is after the object, so the marks of the allocator's own
		   objects are looked at for every free. */
		int internal = obj_internal_reported(s, p, "free", trylock);
		if (internal < 0) /* could not tell: kept (a leak) */
			__atomic_fetch_add(&s->inst->frees_kept, 1, __ATOMIC_RELAXED);
		if (internal)
			return;
		if (!debug_free(s, p, trylock))
			return;
	} else if (obj_maybe_free(s, p) && !slab_free_confirm(s, p, trylock)) {
		return;
	}
	if (harden_on(s)) {
		hardened_free(s, p, trylock); /* checked and scrubbed, then home */
		return;
	}
	if ((n->flags & SM_NODE_UNMAPPED) && !(s->debug & SM_CACHE_DEBUG_POISON)) {
		memset(p, 0, s->object_size);
		if (s->ctor)
			s->ctor(p);
	}
	if (!slab_put_objects(s, &p, 1, trylock))
		defer_free(&s->inst->deferred, p, s);
}

/*
 * Hardened mode: whether the canary after the live page run @r (of @inst,
 * whose start @p is) was overwritten; then it is reported and the run is
 * left alone.  Reads the run: the caller owns it.
 */
static bool run_overflowed(struct sm_instance *inst, const struct large_ref *r, void *p)
{
	if (likely(!inst->pa.harden) || r->huge)
		return false;
	size_t o = large_canary_check(r);
	if (o == SIZE_MAX)
		return false;
	sm_report(r->node->err, "free of %p: page run of %zu bytes overflowed: canary overwritten at "
		  "its end + %zu", p, r->node->descs[r->page].size, o);
	return true;
}

static void run_double_free_report(const struct report_sink *err, void *p)
{
	sm_report(err, "double free of %p (a page run freed already)", p);
}

/*
 * Keep the page run @p in this thread's run cache (runcache.h).  Returns
 * false when it is not for the cache (not a live run of a node, too big,
 * purge delay 0, no tcache): the caller frees it the usual way.  True when
 * done: *@instp is its instance, or NULL when it was reported as a double
 * free.  @h is @p's page descriptor when free()'s fast path has it
 * (desc_in_map: a normal node's, found through the node map), else NULL
 * and the run is looked up here.  Busy set, not re-entered.
 */
static bool kfree_to_runcache(void *p, const struct slab *h, struct sm_instance **instp)
{
	struct sm_node *n;
	uint32_t page;
	if (h) {
		/* What large_lookup checks, from the descriptor: a live run's
		   head, and @p its first byte (a header page's descriptor is
		   zero, no PT_LARGE). */
		n = node_of_granule(p);
		page = (uint32_t)(h - n->descs);
		if (READ_ONCE(h->type) != PT_LARGE || p != node_page_addr(n, page))
			return false;
	} else {
		struct large_ref r;
		if (!large_lookup(p, &r) || r.huge)
			return false;
		n = r.node;
		page = r.page;
	}
	/* The thread's tcache: a thread without one (or with a kick pending)
	   goes on at once.  Delay 0: nothing is kept; hardened: a freed run
	   goes to its node (large_free purges a big one at once); a routed
	   node's run goes home at once. */
	struct sm_instance *inst = n->inst;
	struct tcache *tc = tcache_peek(inst);
	if (!tc || !inst->opts.purge_delay_ms || inst->pa.harden || node_routed(n))
		return false;
	/* No canary to check (run_overflowed): hardened runs never get here. */
	switch (runcache_put(&tc->runs, n, page)) {
	case RUNCACHE_NO:
		return false;
	case RUNCACHE_NOT_LIVE:
		run_double_free_report(n->err, p);
		*instp = NULL;
		return true;
	case RUNCACHE_CACHED_TICK: /* the put read the clock: the purge timer with it */
		inst_maybe_purge(inst, tc->runs.clock);
		__attribute__((fallthrough));
	case RUNCACHE_CACHED:
		runcache_count_free(&tc->runs);
		break;
	}
	*instp = inst;
	return true;
}

/* The stamp of the allocation @r freed at @now (purge.h, SM_RUN_KEEP_DELAYS). */
static uint64_t large_free_stamp(struct sm_instance *inst, const struct large_ref *r, uint64_t now)
{
	if (r->huge || r->node->descs[r->page].npages <= RUNCACHE_MAX_PAGES)
		return now;
	return now + (uint64_t)(SM_RUN_KEEP_DELAYS - 1) * inst->opts.purge_delay_ms * 1000000u;
}

/* Free the zero-area pointer @p (zero.h), or report why it cannot be. */
static __noinline void kfree_zero(void *p)
{
	enum zero_free_result r = zero_free(p);
	if (likely(r == ZERO_FREED))
		return;
	registry_default_sink_prepare(); /* no instance owns the area */
	if (r == ZERO_NOT_LIVE)
		sm_report(NULL, "double free of %p (a malloc(0) pointer freed already)", p);
	else
		sm_report(NULL, "free of %p: interior pointer into the malloc(0) area", p);
}

struct sm_instance *__kfree_large(void *p, bool trylock)
{
	struct kmem_cache *rs = obj_cache_routed(p);
	if (rs) {
		slab_free_routed(rs, p, trylock);
		return rs->inst;
	}
	struct large_ref r;
	if (unlikely(zero_holds(p))) {
		kfree_zero(p);
		return NULL;
	}
	if (unlikely(!large_lookup(p, &r))) {
		if (runcache_holds(p)) { /* freed already, and kept in a run cache */
			/* The words of a free of a run given back to its node
			   (slab_check_object finds a free page there). */
			sm_report(node_of(p)->err, "double free of %p (free page: a page run freed already)", p);
			return NULL;
		}
		registry_default_sink_prepare(); /* a foreign pointer's report goes there */
		slab_check_object(NULL, p);      /* reports what is wrong with it */
		return NULL;
	}
	struct sm_instance *inst = r.node->inst;
	const struct report_sink *err = r.node->err;
	if (unlikely(run_overflowed(inst, &r, p)))
		return NULL;
	uint64_t now = inst_now(inst);
	vg_free(p);
	switch (large_free(&inst->pa, &r, large_free_stamp(inst, &r, now), trylock)) {
	case LARGE_FREED:
		__atomic_fetch_add(&inst->large_frees, 1, __ATOMIC_RELAXED);
		if (!trylock && !r.huge)
			inst_maybe_purge(inst, now);
		break;
	case LARGE_BUSY:
		__atomic_fetch_add(&inst->large_frees, 1, __ATOMIC_RELAXED);
		defer_free(&inst->deferred, p, NULL);
		break;
	case LARGE_NOT_LIVE:
		if (r.huge)
			sm_report(err, "double free of %p (a huge mapping freed already)", p);
		else
			run_double_free_report(err, p);
		return NULL;
	}
	return inst;
}

/* kfree_large, with @p's page descriptor @h when the caller has it (kfree_to_runcache). */
static __always_inline void kfree_large_at(void *p, const struct slab *h)
{
	bool nested = sm_enter();
	struct sm_instance *inst;
	if (likely(!nested) && kfree_to_runcache(p, h, &inst)) {
		/* No helper_check: a kick pending made kfree_to_runcache miss. */
		sm_leave(nested);
		return;
	}
	inst = __kfree_large(p, nested);
	sm_leave(nested);
	if (!nested && inst)
		helper_check(inst, HELPER_NO_START);
}

void kfree_large(void *p)
{
	kfree_large_at(p, NULL);
}

/* free() of @p whose page descriptor @h is not a slab's: a page run's,
   most likely, found without a second lookup.  Apart, so that
   __kfree_page keeps no frame for its slab objects. */
static __noinline void kfree_run_at(void *p, const struct slab *h)
{
	kfree_large_at(p, h);
}

void __kfree_page(void *p, const struct slab *d)
{
	uintptr_t off;
	if (likely(slab_page_at(d, p, &off) && slab_obj_starts(d->cache, off)))
		slab_free(d->cache, d, p);
	else
		kfree_run_at(p, d);
}

void __kfree_miss(void *p)
{
	if (p) /* free(NULL) lands here: granule 0 is never a node's */
		kfree_general(p);
}

void __kfree_remote(void *p, unsigned fc)
{
	struct sm_instance *inst = &sm_default_inst;
	struct tcache *tc = tcache_peek(inst);
	if (unlikely(!tc)) {
		kfree_general(p);
		return;
	}
	sm_thread.busy = 1;
	barrier();
	__slab_free_remote(&inst->kmalloc_caches[fc - 1], tc, p);
}

void sm_kfree(void *p)
{
	if (unlikely(!p))
		return;
	kfree_inline(p);
}

/* sm_cache_free of what cache_obj_page() did not resolve: a routed node's object, or a bad pointer. */
static __noinline void cache_free_miss(struct kmem_cache *s, void *p)
{
	if (obj_cache_routed(p) == s) {
		bool nested = sm_enter();
		slab_free_routed(s, p, nested);
		sm_leave(nested);
	} else {
		slab_check_object(s, p); /* reports what is wrong */
	}
}

void sm_cache_free(sm_cache_t *s, void *p)
{
	if (unlikely(!p))
		return;
	const struct slab *d = cache_obj_page(s, p);
	if (likely(d))
		slab_free(s, d, p);
	else
		cache_free_miss(s, p);
}

/*
 * Whether @p, an object of @s whose free word says "free", is free: then
 * @fmt (with @p and the cache's name) is reported; or one of the
 * allocator's own objects, reported as @call's (obj_internal_reported).
 * Brackets itself with busy.
 */
static bool freed_reported(struct kmem_cache *s, const void *p, const char *fmt, const char *call)
{
	bool nested = sm_enter();
	int r = obj_is_free(s, p, nested);
	bool internal = r == 0 && obj_internal_reported(s, p, call, nested) > 0;
	sm_leave(nested);
	if (r > 0)
		sm_report(cache_err(s), fmt, p, s->name);
	return r > 0 || internal;
}

/*
 * sm_ksize's refusal of @p, an object of @s that looks free or belongs to
 * a slab_debug cache: a free object, or one of the allocator's own
 * objects, reported.  slab_debug puts the free word after the object,
 * where a sheaf's or descriptor's mark is not: its kmalloc objects are
 * looked at for the mark whatever their free word says, as their frees
 * are (slab_free_routed).
 */
static __noinline bool ksize_refused(struct kmem_cache *s, const void *p)
{
	if (obj_maybe_free(s, p))
		return freed_reported(s, p, "ksize of %p: a free object of cache %s", "ksize");
	bool nested = sm_enter();
	bool internal = obj_internal_reported(s, p, "ksize", nested) > 0;
	sm_leave(nested);
	return internal;
}

bool kfree_reports_freed(struct kmem_cache *s, const void *p)
{
	return freed_reported(s, p, "double free of %p in cache %s", "realloc");
}

size_t sm_ksize(const void *p)
{
	if (!p)
		return 0;
	struct kmem_cache *s = obj_cache_any(p);
	if (likely(s)) {
		if (unlikely(obj_maybe_free(s, p) || s->debug) && ksize_refused(s, p))
			return 0;
		if (harden_on(s))
			return harden_obj_usable(s, p);
		return s->object_size; /* a kmalloc cache's: its class size */
	}
	struct large_ref r;
	if (large_lookup(p, &r)) {
		/* Hardened: what was asked for, so that a program that fills
		   its usable size does not overwrite the canary. */
		if (unlikely(r.node->inst->pa.harden) && !r.huge)
			return r.node->descs[r.page].size;
		return large_usable(&r);
	}
	if (zero_live(p))
		return 0; /* malloc(0)'s: no byte of it may be used */
	struct sm_node *n = node_of(p);
	if (!n)
		registry_default_sink_prepare();
	sm_report(n ? n->err : NULL, "ksize of %p: not a live object", p);
	return 0;
}

sm_instance_t *sm_ptr_instance(const void *p)
{
	if (zero_holds(p))
		return &sm_default_inst; /* malloc(0)'s, on its behalf */
	struct sm_node *n = node_owning(p);
	return n ? n->inst : NULL;
}
