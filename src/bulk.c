/*
 * bulk.c - the bulk calls (the kernel's kmem_cache_alloc_bulk,
 * kmem_cache_free_bulk and kfree_bulk): a batch of objects of one cache
 * moved between the caller's array and this thread's sheaves in one busy
 * section, a whole run of a sheaf at a time, as SLUB's alloc_from_pcs_bulk
 * and free_to_pcs_bulk do.  What the thread's sheaves and the barn's full
 * sheaves cannot give comes straight from the slabs, many objects per
 * list_lock (slab_get_objects), never through a sheaf.
 *
 * The sheaves are used as the single-object paths use them (fastpath.h):
 * allocations take from main, frees go onto it, and the turns between
 * main, the spare and the barn are tcache.c's.  Busy is set from the first
 * sheaf access to the end, so nothing of this thread runs in between; a
 * call that finds busy set (a signal handler inside the allocator) goes
 * object by object through the nolock path instead.
 */
#include <errno.h>
#include <string.h>

#include "barn.h"
#include "registry.h"
#include "slowpath.h"

/* ---- allocation ---- */

/*
 * Move up to @want objects from the top of view @v into @p, handing each
 * out (its free word cleared).  Returns how many.  Busy set.
 */
static size_t take_from_view(struct kmem_cache *s, struct sheaf_view *v, void **p, size_t want)
{
	uint32_t sz = v->size;
	size_t k = MIN(want, (size_t)sz);
	if (!k)
		return 0;
	memcpy(p, v->objects + (sz - k), k * sizeof(void *));
	WRITE_ONCE(v->size, sz - (uint32_t)k);
	for (size_t i = 0; i < k; i++) {
		if (unlikely(!obj_tag_intact(p[i], s->fp_offset, v->tag)))
			__slab_alloc_overwritten(p[i]); /* reported; handed out */
		else
			*obj_free_word(s, p[i]) = 0; /* handed out */
	}
	return k;
}

/*
 * Main is dry and so is the spare: trade main for a full sheaf of the barn
 * (the kernel's barn_replace_empty_sheaf step).  False when the barn has
 * none.  Busy set, no lock held.
 */
static bool take_full_sheaf(struct tcache *tc, struct kmem_cache *s, struct pcs *c)
{
	struct node_barn *barn = tcache_barn(tc, s);
	struct slab_sheaf *m = main_sync(&tc->allocs[s->id], c);
	struct slab_sheaf *full;
	tcache_move_begin(tc);
	if (!m) {
		full = barn_get_full_sheaf(s, barn, false);
	} else {
		full = barn_replace_empty_sheaf(s, barn, &m, false);
		if (full && m)
			sheaf_free(m); /* the barn has enough empty ones */
	}
	if (full)
		main_install_taken(tc, c, full);
	tcache_move_end(tc);
	return full != NULL;
}

/*
 * Refill main from the slabs (a new sheaf if the thread has none).  Returns
 * the objects added: 0 when out of memory.  Busy set, no lock held.
 */
static unsigned refill_main(struct tcache *tc, struct kmem_cache *s, struct pcs *c,
			    const struct slab_alloc_context *ctx)
{
	struct slab_sheaf *m = main_sync(&tc->allocs[s->id], c);
	if (!m) {
		m = sheaf_alloc(s, ctx);
		if (!m)
			return 0;
	}
	tcache_move_begin(tc);
	unsigned got = sheaf_refill(s, m, ctx);
	view_install(tc, &c->main, m);
	tcache_move_end(tc);
	return got;
}

/*
 * Up to @n objects of @s straight from its slabs into @p, handed out.  One
 * slab_get_objects call takes as many as the slabs of one node have (or a
 * new slab holds), so the list_lock is taken once per slab list, not per
 * object.  Returns how many (fewer than @n: out of memory).  Busy set.
 */
static size_t take_from_slabs(struct kmem_cache *s, const struct slab_alloc_context *ctx,
			      void **p, size_t n)
{
	size_t got = 0;
	while (got < n) {
		unsigned want = (unsigned)MIN(n - got, (size_t)1 << 16);
		unsigned k = slab_get_objects(s, ctx, p + got, want);
		if (!k)
			break;
		for (unsigned i = 0; i < k; i++)
			*obj_free_word(s, p[got + i]) = 0; /* handed out */
		/* Past the sheaves: counted here (the statistics' allocations). */
		__atomic_fetch_add(&s->stat[STAT_ALLOC_DIRECT], k, __ATOMIC_RELAXED);
		got += k;
	}
	return got;
}

/*
 * The bulk allocation proper, busy clear on entry and on return: @n
 * objects into @p from the thread's sheaves, the barn and the slabs.
 * Returns how many it got (fewer than @n: out of memory).
 */
static size_t cache_alloc_bulk(struct kmem_cache *s, unsigned flags, size_t n, void **p)
{
	struct sm_instance *inst = s->inst;
	struct slab_alloc_context ctx = SLAB_ALLOC_CTX(s->object_size, flags, SM_NO_NODE);
	struct tcache *tc = tcache_get(inst);
	size_t got;
	if (unlikely(!tc)) {
		/* The thread is exiting (or has no memory for a tcache, or the
		   instance is hardened: one checked object at a time,
		   hardened.h): no sheaves. */
		bool nested = sm_enter();
		if (unlikely(inst->pa.harden))
			for (got = 0; got < n && (p[got] = slab_alloc_bypass(s, flags, SM_NO_NODE));)
				got++;
		else
			got = take_from_slabs(s, &ctx, p, n);
		sm_leave(nested);
		return got;
	}
	sm_thread.busy = 1;
	barrier();
	bool slow = false; /* a barn or slab was touched: end with the purge check */
	if (unlikely(READ_ONCE(inst->deferred.head))) {
		deferred_drain(&inst->deferred);
		slow = true;
	}
	struct pcs *c = tcache_pcs(tc, s->id);
	got = 0;
	for (;;) {
		got += take_from_view(s, &c->main, p + got, n - got);
		if (got == n)
			break;
		/* Main is dry: the spare if it holds objects, then a full
		   sheaf of the barn. */
		if (tcache_swap(tc, c, &tc->allocs[s->id], true))
			continue;
		slow = true;
		if (take_full_sheaf(tc, s, c))
			continue;
		/* What is left comes from the slabs: straight into @p when it
		   would fill a sheaf anyway, else into main, which keeps the
		   rest for the next allocations as a single miss would. */
		if (n - got >= s->sheaf_capacity || !refill_main(tc, s, c, &ctx))
			break;
	}
	if (got < n) {
		got += take_from_slabs(s, &ctx, p + got, n - got);
		if (got < n && inst_reclaim(inst))
			got += take_from_slabs(s, &ctx, p + got, n - got);
	}
	if (slow) {
		slow_path_exit(inst, HELPER_MAY_START);
	} else {
		barrier();
		sm_thread.busy = 0;
	}
	return got;
}

/* Re-entered (busy set): the nolock path, one object at a time. */
static size_t cache_alloc_bulk_nolock(struct kmem_cache *s, unsigned flags, size_t n, void **p)
{
	size_t got = 0;
	while (got < n && (p[got] = __slab_alloc_nolock(s->inst, s->id, flags)))
		got++;
	return got;
}

static void cache_free_bulk(struct kmem_cache *s, size_t n, void **p, bool checked);

size_t sm_cache_alloc_bulk(sm_cache_t *s, unsigned gfp, size_t n, void **p)
{
	if (!n)
		return 0;
	unsigned flags = gfp_to_alloc_flags(gfp) & ~SLAB_ALLOC_THISNODE; /* as sm_cache_alloc */
	size_t got;
	if (unlikely(s->debug)) /* slab_debug: no sheaves, each object checked */
		for (got = 0; got < n && (p[got] = sm_cache_alloc(s, gfp & ~SM_GFP_ZERO)); got++)
			;
	else
		got = sm_in_allocator() ? cache_alloc_bulk_nolock(s, flags, n, p)
					: cache_alloc_bulk(s, flags, n, p);
	if (unlikely(got < n)) {
		/* All or nothing: give back what was had. */
		cache_free_bulk(s, got, p, true);
		errno = ENOMEM;
		return 0;
	}
	if (flags & SLAB_ALLOC_ZERO) {
		size_t bytes = s->object_size;
		for (size_t i = 0; i < n; i++)
			memset(p[i], 0, bytes);
	}
	return n;
}

/* ---- free ---- */

/*
 * Whether @obj may go onto a sheaf of @s: a live object of @s.  A pointer
 * of another cache or no object is reported; a double free is confirmed
 * (slab_free_confirm looks in this thread's sheaves too, so the caller
 * publishes its count first) and reported.  Busy set.
 */
static bool bulk_free_ok(struct kmem_cache *s, void *obj)
{
	if (unlikely(obj_cache(obj) != s)) {
		slab_check_object(s, obj); /* reports what is wrong with it */
		return false;
	}
	return !obj_maybe_free(s, obj) || slab_free_confirm(s, obj, false);
}

/*
 * Publish @sz as the count of @c's main, whose count was @*published, and
 * count the objects pushed since (struct pcs, pushes).  Busy set.
 */
static void main_publish(struct pcs *c, uint32_t sz, uint32_t *published)
{
	WRITE_ONCE(c->pushes, c->pushes + (sz - *published));
	WRITE_ONCE(c->main.size, sz);
	*published = sz;
}

/*
 * The bulk free proper, onto the thread's main sheaf, busy clear on entry
 * and on return.  Each full main takes the single free's turn
 * (tcache_swap, or tcache_make_room: to the barn, or flushed to the slabs
 * in one slab_put_objects); with no sheaf to be had, the rest go to their
 * slabs one by one.
 */
static void cache_free_bulk_tc(struct kmem_cache *s, struct tcache *tc, size_t n, void **p,
			       bool checked)
{
	struct sm_instance *inst = s->inst;
	sm_thread.busy = 1;
	barrier();
	bool slow = false;
	if (unlikely(READ_ONCE(inst->deferred.head))) {
		deferred_drain(&inst->deferred);
		slow = true;
	}
	struct pcs *c = tcache_pcs(tc, s->id);
	struct sheaf_view *v = &c->main;
	size_t i = 0;
	while (i < n) {
		uint32_t sz = v->size, cap = v->capacity, published = sz;
		if (sz >= cap) {
			if (tcache_swap(tc, c, &tc->allocs[s->id], false))
				continue;
			slow = true;
			if (tcache_make_room(tc, s))
				continue;
			/* No sheaf to be had: each object to its slab. */
			for (; i < n; i++)
				if (p[i] && bulk_free_ok(s, p[i]))
					kmem_cache_free_direct(s, p[i]);
			break;
		}
		for (; i < n && sz < cap; i++) {
			void *obj = p[i];
			if (!obj)
				continue;
			if (unlikely((!checked && obj_cache(obj) != s) || obj_maybe_free(s, obj))) {
				main_publish(c, sz, &published); /* the double-free check looks here */
				if (!bulk_free_ok(s, obj))
					continue;
			}
			if (unlikely(!slab_owned_here(desc_of(obj)))) {
				/* Another thread's slab: home by the remote sheaf,
				   as a single free goes (architecture.md section 4). */
				if (tcache_remote_push(tc, s, obj))
					continue;
				main_publish(c, sz, &published);
				slow = true;
				if (!tcache_free_remote(tc, s, obj))
					kmem_cache_free_direct(s, obj);
				continue;
			}
			*obj_free_word(s, obj) = s->free_key;
			WRITE_ONCE(v->objects[sz], obj);
			sz++;
		}
		main_publish(c, sz, &published);
	}
	if (slow) {
		slow_path_exit(inst, HELPER_NO_START);
	} else {
		barrier();
		sm_thread.busy = 0;
	}
}

/*
 * @n objects of @s, errno preserved.  @checked: the caller found obj_cache
 * of every one to be @s already (the double-free check is still made).
 */
static void cache_free_bulk(struct kmem_cache *s, size_t n, void **p, bool checked)
{
	if (!n)
		return;
	int saved = errno; /* a sheaf or tcache that cannot be had sets it */
	struct tcache *tc = sm_in_allocator() || s->debug ? NULL : tcache_get(s->inst);
	if (likely(tc)) {
		cache_free_bulk_tc(s, tc, n, p, checked);
	} else {
		/* Re-entered (the nolock path: deferred if a lock is busy), or
		   the thread has no sheaves: one at a time. */
		for (size_t i = 0; i < n; i++)
			sm_cache_free(s, p[i]);
	}
	errno = saved;
}

void sm_cache_free_bulk(sm_cache_t *s, size_t n, void **p)
{
	if (s) {
		cache_free_bulk(s, n, p, false);
		return;
	}
	/* Any objects: each run of consecutive objects of one cache goes in
	   one batch; page runs, huge mappings and bad pointers one by one. */
	size_t i = 0;
	while (i < n) {
		struct kmem_cache *c = p[i] ? obj_cache(p[i]) : NULL;
		if (!c) {
			sm_kfree(p[i]);
			i++;
			continue;
		}
		size_t j = i + 1;
		while (j < n && p[j] && obj_cache(p[j]) == c)
			j++;
		cache_free_bulk(c, j - i, p + i, true);
		i = j;
	}
}

void sm_kfree_bulk(size_t n, void **p)
{
	sm_cache_free_bulk(NULL, n, p);
}

size_t sm_kmalloc_bulk(sm_instance_t *inst, size_t size, unsigned gfp, size_t n, void **p)
{
	if (size <= SM_KMALLOC_MAX_CACHE_SIZE) {
		/* kmalloc_inline's class: above 8 bytes, rounded to 16 first. */
		size_t r = size > 8 ? ALIGN_UP(size, SM_MALLOC_ALIGN) : size;
		return sm_cache_alloc_bulk(&inst->kmalloc_caches[kmalloc_index(r)], gfp, n, p);
	}
	/* Page runs: no sheaf to fill, one at a time; all or nothing. */
	for (size_t i = 0; i < n; i++) {
		p[i] = sm_kmalloc(inst, size, gfp);
		if (!p[i]) {
			int saved = errno;
			sm_kfree_bulk(i, p);
			errno = saved;
			return 0;
		}
	}
	return n;
}
