/*
 * fastpath.h - the allocation and free fast paths, inlined into the entry
 * points: one sheaf pop or push, bracketed by the thread's busy marker,
 * falling through to the slow paths of slowpath.h.
 *
 * The sheaf is read only after busy is set: a signal handler that lands
 * before that finishes its own operation before we look; one that lands
 * after sees busy and takes the nolock path (thread.h).
 */
#ifndef SM_FASTPATH_H
#define SM_FASTPATH_H

#include <string.h>

#include "kmem_cache.h"
#include "sheaf.h"
#include "size_classes.h"
#include "slowpath.h"
#include "tcache.h"

/*
 * The object the next pop from a main view (its array @objs, its count
 * @sz, not yet decremented) will hand out, prefetched into the cache for
 * writing.  Below the objects freed last (still in the cache: frees push
 * onto main), a sheaf holds objects freed a while ago (a refill, the
 * barn's, a turn of the spare), most of them out of the cache by the time
 * they are handed out, in no order a hardware prefetcher could follow;
 * the next malloc reads the object's
 * free word at once and the program writes the object, so each pop would
 * otherwise wait for a cache miss (docs/benchmarks.md, "malloc prefetches
 * the next object").  With one object left (@sz 1) this reads
 * objects[-1], the last word of the sheaf's header, and prefetches
 * whatever address it holds: a prefetch never faults.  One load from the
 * line the pop reads and one prefetch, neither on the chain to the pop's
 * store.
 */
static __always_inline void main_prefetch_next(void *const *objs, uint32_t sz)
{
	_Static_assert(offsetof(struct slab_sheaf, objects) >= sizeof(void *),
		       "objects[-1] lies inside the sheaf");
	__builtin_prefetch(objs[(long)sz - 2], 1, 3);
}

/*
 * Allocate from cache @id of @inst through this thread's sheaf, the
 * tcache found through thread slot @slot with generation @gen (the
 * instance's slot and gen, or a cache's copies of them: kmem_cache.h;
 * @live for the copies, which are never 0: tcache_peek_slot_tls).
 * The slow paths take the instance and id too (and look the cache up
 * themselves), so that the fast path never computes the cache's address.
 * Returns NULL only when out of memory; @flags may carry SLAB_ALLOC_ZERO only
 * for the slow path's benefit (the caller zeroes).  @fp_off is the cache's
 * fp_offset (a constant 0 for kmalloc): the object's free word is cleared
 * as it is handed out (kmem_cache.h, "the free word").  @size and @align
 * are the request's (kmalloc; 0 for a cache's object), passed on only to
 * the no-tcache miss, where a hardened instance pads the request
 * (hardened.h): everything else ignores them.
 *
 * The general path, for every instance and cache: the tcache is found
 * through the thread's instance slot, one step more than the default
 * instance's kmalloc path below.  The re-entrancy check costs one load
 * and branch: busy is tested before the tcache is looked up.
 */
static __always_inline void *slab_alloc_slot(struct sm_instance *inst, unsigned slot, uint64_t gen,
					     bool live, unsigned id, unsigned flags, unsigned fp_off,
					     size_t size, size_t align)
{
	sm_tls_t *t = sm_tls();
	if (unlikely(t->busy))
		return __slab_alloc_nolock(inst, id, flags);
	struct tcache *tc = tcache_peek_slot_tls(slot, gen, live);
	if (unlikely(!tc))
		return __slab_alloc_no_tcache(inst, id, flags, size, align);
	t->busy = 1;
	barrier();
	struct sheaf_view *v = &tcache_pcs(tc, id)->main;
	uint32_t sz = v->size;
	if (likely(sz)) {
		uint16_t tag = v->tag;
		void *const *objs = v->objects;
		void *p = objs[sz - 1];
		main_prefetch_next(objs, sz);
		/* Plain stores on every machine; atomic so that a double-free
		   check reading this view from another thread (tcache_views_hold) is
		   not a data race. */
		WRITE_ONCE(v->size, sz - 1);
		barrier();
		t->busy = 0;
		if (unlikely(!obj_tag_intact(p, fp_off, tag)))
			return __slab_alloc_overwritten(p);
		*(uintptr_t *)((char *)p + fp_off) = 0; /* handed out */
		return p;
	}
	return __slab_alloc_slow(inst, id, tc, flags);
}

/* slab_alloc_slot through @inst's own slot and generation. */
static __always_inline void *slab_alloc(struct sm_instance *inst, unsigned id, unsigned flags,
					unsigned fp_off, size_t size, size_t align)
{
	return slab_alloc_slot(inst, tcache_slot(inst), inst->gen, false, id, flags, fp_off, size, align);
}

/*
 * sm_cache_alloc's path: cache @s through the copies of its instance's
 * slot and generation that @s holds, so the chain of dependent loads is
 * the cache, the thread's slot, the tcache's sheaf view, the object: the
 * instance itself is read only on a miss.
 */
static __always_inline void *cache_alloc_fast(struct kmem_cache *s, unsigned flags)
{
	return slab_alloc_slot(s->inst, s->inst_slot, s->inst_gen, true, s->id, flags, s->fp_offset, 0, 0);
}

/*
 * The end of a kmalloc pop from the default instance's main view @v (in
 * the TLS block, as sm_tls() reaches it), whose count @sz the caller read
 * non-zero with busy set: take the last object, store the count, clear
 * busy, then (beside the chain) check that the object's free word still
 * says "free" and clear it (kmalloc: fp_offset 0).  malloc's fast path
 * and its miss's turn of main and spare (alloc.c).
 */
static __always_inline void *kmalloc_main_pop(sm_tls_t *t, sm_tls_view_t *v, uint32_t sz)
{
	uint16_t tag = v->tag;
	void *const *objs = v->objects;
	void *p = objs[sz - 1];
	main_prefetch_next(objs, sz);
	TLS_WRITE_ONCE(v->size, sz - 1);
	barrier();
	t->busy = 0;
	if (unlikely(!obj_tag_intact(p, 0, tag)))
		return __slab_alloc_overwritten(p);
	*(uintptr_t *)p = 0; /* handed out */
	return p;
}

/*
 * malloc's path: kmalloc class @fc - 1 (@fc is its fclass) of the default
 * instance.  The chain of dependent loads from the request is: the class
 * (a table load in kmalloc_inline, which gives it as class + 1), the
 * view's count and array (one line of the TLS block, at a constant offset
 * from the thread pointer), the object.  The busy and kick bytes are
 * loaded beside it.  Everything else (no tcache yet, the default
 * instance not set up, a kick, re-entry, an empty main) is a miss
 * into __slab_alloc_default_miss, which takes the general path (with
 * @size and @align, the request's, for hardened mode: slab_alloc).
 */
static __always_inline void *slab_alloc_default(size_t fc32, unsigned flags, size_t size, size_t align)
{
	sm_tls_t *t = sm_tls();
	/* @fc32, fclass * 32, is the view's offset from kmalloc_pcs (malloc's
	   table holds it so: no shift), folded with the block's offset into
	   one lea, and kept as it is for the miss. */
	_Static_assert(sizeof(struct pcs) == 1u << SM_FCLASS32_SHIFT, "fc32 indexes kmalloc_pcs");
	OPTIMIZER_HIDE_VAR(fc32);
	sm_tls_view_t *v = (sm_tls_view_t *)((uintptr_t)&t->kmalloc_pcs[0].main + fc32);
	if (unlikely(sm_busy_or_kick(t)))
		goto miss;
	/* The view is read only after busy is set (see the top of this file):
	   a handler that lands before has finished with it. */
	t->busy = 1;
	barrier();
	uint32_t sz = TLS_READ_ONCE(v->size);
	if (unlikely(!sz)) {
		barrier();
		t->busy = 0;
		goto miss;
	}
	return kmalloc_main_pop(t, v, sz);
miss:
	return __slab_alloc_default_miss(size, fc32, flags, align);
}

/*
 * slab_free's owner test (free()'s compares the page's hot word's owner
 * tag with sm_thread_state.owner_tag instead): slab_owned_here()
 * of a slab's first page descriptor @head, with the thread's token read
 * from its block (sm_thread_state.self, one %fs-relative load) rather than
 * made from the thread pointer.  A loaded value equal to it tells the compiler nothing
 * about the block's address, so the owner cannot stand in for that
 * address on the push's chain, which is what slab_owned_here has to hide
 * its result for (a setcc and a test more).
 */
static __always_inline bool kfree_owned_here(const sm_tls_t *t, const struct slab *head)
{
	return READ_ONCE(head->owner) == t->self;
}

/*
 * Free @p, an object of @s on the page @d describes (obj_slab_page), into
 * this thread's sheaf: the general path.  A
 * free word that says "free already" (one load and compare beside the
 * push, not before it), or a page the purge gave back (its mark in @d:
 * slab.h), sends the free to __slab_free_suspect, which
 * confirms a double free wherever the object sits before anything is
 * written.  An object of a slab another thread owns (page.h) goes to
 * __slab_free_remote instead: home to its slab, not to this thread's
 * next mallocs.
 */
static __always_inline void slab_free(struct kmem_cache *s, const struct slab *d, void *p)
{
	if (obj_maybe_free_at(s, d, p)) {
		__slab_free_suspect(s, p);
		return;
	}
	sm_tls_t *t = sm_tls();
	if (unlikely(t->busy)) {
		__slab_free_nolock(s, p);
		return;
	}
	struct tcache *tc = tcache_peek_slot_tls(s->inst_slot, s->inst_gen, true);
	if (unlikely(!tc)) {
		__slab_free_no_tcache(s, p);
		return;
	}
	t->busy = 1;
	barrier();
	/* The thread's token is set, since it has a tcache. */
	if (unlikely(!kfree_owned_here(t, slab_head_desc(d)))) {
		__slab_free_remote(s, tc, p);
		return;
	}
	struct pcs *c = tcache_pcs(tc, s->id);
	uint32_t sz = c->main.size;
	if (likely((uint16_t)sz < c->main.capacity)) {
		main_push(c, s, p, sz);
		barrier();
		t->busy = 0;
		return;
	}
	__slab_free_slow(s, tc, p);
}

/*
 * The general free of @p: a slab object of any instance through
 * obj_cache and slab_free, or a page run, huge mapping or bad pointer.
 */
static __always_inline void kfree_general(void *p)
{
	const struct slab *d = obj_slab_page(p);
	if (likely(d))
		slab_free(d->cache, d, p);
	else
		kfree_large(p);
}

/*
 * kmalloc: a size class through the sheaves, or a page run.  NULL means out
 * of memory, and errno is then ENOMEM (set where the failure happened, so
 * that no caller needs code after the call).  @flags are
 * alloc_flags; requests for a specific node or with a flag of
 * SLAB_ALLOC_BYPASS (a context's) bypass the sheaves, whose objects may
 * come from any general node and only from those.
 */
static __always_inline void *kmalloc_inline(struct sm_instance *inst, size_t size, size_t align,
					    unsigned flags, int node)
{
	/*
	 * Without an explicit alignment, a request above 8 bytes must suit any
	 * type of its size or smaller (C17 7.22.3), long double included:
	 * round it to a multiple of 16, glibc's MALLOC_ALIGNMENT.  The
	 * 24/40/56-byte classes serve explicit 8-byte alignments.  The
	 * commonest requests, 9..1024 bytes without an alignment, are tested
	 * first.
	 */
	size_t fc32; /* (the class + 1) * 32: its fclass (page.h, thread.h) * 32 */
	if (likely(!align && size - 9 <= SM_MALLOC_TABLE_MAX - 9)) {
		fc32 = malloc_fclass32(size); /* 9..1024: rounded to 16 by the table */
	} else {
		/* Size 0 too: malloc(0) is served by the zero area (alloc.c). */
		if (size - 1 >= SM_KMALLOC_MAX_CACHE_SIZE)
			goto large;
		/* The request's size stays as it is: hardened mode's canary
		   follows it (hardened.h). */
		size_t csize = !align && size > 8 ? ALIGN_UP(size, SM_MALLOC_ALIGN) : size;
		unsigned k = align <= 8 ? kmalloc_index(csize) : kmalloc_aligned_index(csize, align);
		if (k >= SM_NR_KMALLOC)
			goto large;
		fc32 = (size_t)(k + 1) << SM_FCLASS32_SHIFT;
	}
	unsigned i = (unsigned)(fc32 >> SM_FCLASS32_SHIFT) - 1;
	struct kmem_cache *s = &inst->kmalloc_caches[i];
	void *p;
	if (likely(!(flags & SLAB_ALLOC_BYPASS) && node == SM_NO_NODE)) {
		/* &sm_default_inst is a constant in malloc and friends. */
		if (__builtin_constant_p(inst == &sm_default_inst) && inst == &sm_default_inst)
			p = slab_alloc_default(fc32, flags, size, align);
		else
			p = slab_alloc(inst, i, flags, 0, size, align);
	} else {
		p = __slab_alloc_node(s, flags, node);
	}
	if (unlikely(flags & SLAB_ALLOC_ZERO) && p)
		memset(p, 0, kmalloc_class_size(i));
	return p;
large:
	return __kmalloc_large(inst, size, align, flags, node);
}

/*
 * free()'s push of @p onto the TLS view @v (a main or a remote view of
 * thread @t's kmalloc_pcs or kmalloc_remote), with @key in its free word;
 * for a main (@main), its pcs's pushes counted too (thread.h, struct pcs).
 * Busy is set before the count is read and cleared after it is written
 * (docs/signal-safety.md section 2); returns false, busy clear and nothing
 * written, when @v has no room (capacity 0: no sheaf).  Busy and kick
 * were found clear by the caller.
 */
static __always_inline bool kfree_push(sm_tls_t *t, sm_tls_view_t *v, void *p, uintptr_t key, bool main)
{
	t->busy = 1;
	barrier();
	uint32_t sz = TLS_READ_ONCE(v->size); /* only now: see slab_alloc_default */
	if (unlikely((uint16_t)sz >= v->capacity)) { /* one compare: capacity is 16-bit */
		barrier();
		t->busy = 0;
		return false;
	}
	if (main) {
		_Static_assert(offsetof(struct pcs, main) == 0, "the pcs's address is its main view's");
		tls_counter_inc(&((struct pcs SM_TLS_SEG *)v)->pushes);
	}
	*(uintptr_t *)p = key;
	WRITE_ONCE(v->objects[sz], p); /* the sheaf's array: generic memory */
	TLS_WRITE_ONCE(v->size, sz + 1);
	barrier();
	t->busy = 0;
	return true;
}

/*
 * Whether @p starts an object of a default kmalloc slab, checked as free()
 * checks it before anything is written (the hot map, the page's hot word:
 * fclass and page_off, the check that the offset starts one of the
 * slab's objects, against the class's divides and start_max): then *@c
 * is its sm_fast_class entry, *@fc32 its fclass * 32 (which also indexes
 * kmalloc_pcs) and *@owner the owner tag of the slab (page.h,
 * page_hot).  Nothing else of
 * the object is known: it may be free (its free word says so) or, being
 * another thread's, busy there.  When false, *@other is @p's page
 * descriptor if the page has one but is no default kmalloc slab's (fclass
 * 0: a slab of another instance or cache, a page run, a free page), else
 * NULL.
 */
static __always_inline bool kmalloc_obj_fast(const void *p, const struct fast_class **c, size_t *fc32,
					     uint16_t *owner, const struct slab **other)
{
	uintptr_t a = (uintptr_t)p;
	uintptr_t bias = hot_bias(p);
	*other = NULL;
	if (unlikely(!bias))
		return false; /* foreign, huge or beyond the map */
	uint32_t h = hot_at(bias, p);
	/* fclass is written last when a slab is made and cleared first when
	   it is taken apart (slab.c): non-zero, the page is a live slab's.
	   The hot word holds it as fclass * 32, which indexes both
	   sm_fast_class and kmalloc_pcs (page.h). */
	size_t f = page_hot_fclass32(h);
	if (unlikely(!f)) {
		/* not a default kmalloc slab: another cache's, a page run, ... */
		*other = desc_in_map(p);
		return false;
	}
	_Static_assert(sizeof(struct fast_class) == 1u << PAGE_HOT_FCLASS_SHIFT, "fclass * 32");
	const struct fast_class *fcl = (const struct fast_class *)((const char *)sm_fast_class + f);
	/* @p's offset in its slab: below 2^32, as slab_start_divides needs. */
	uint32_t off = (uint32_t)(a & (SM_PAGE_SIZE - 1)) | page_hot_page_bytes(h);
	if (unlikely((uint64_t)off * fcl->divides > fcl->start_max))
		return false; /* interior pointer, or past the slab's last object */
	*c = fcl;
	*fc32 = f;
	*owner = page_hot_owner(h);
	return true;
}

/*
 * The second half of free()'s path: @p passed kmalloc_obj_fast (giving
 * @c, @fc32 and @owner) and its free word does not say "free".  Pushed
 * onto this thread's main, or onto its remote view of the class when the
 * slab is another thread's (then __kfree_remote when that is full); busy
 * or kick set, or no room, returns false, nothing written, and the caller
 * takes the general path.
 */
static __always_inline bool kfree_checked_push(void *p, const struct fast_class *c, size_t fc32,
					       uint16_t owner)
{
	sm_tls_t *t = sm_tls(); /* here: a register held from the top spills */
	if (unlikely(sm_busy_or_kick(t)))
		return false;
	if (unlikely(owner != t->owner_tag))
		goto remote;
	_Static_assert(sizeof(struct pcs) == sizeof(struct fast_class), "fc32 indexes both");
	sm_tls_view_t *v = (sm_tls_view_t *)((uintptr_t)&t->kmalloc_pcs[0].main + fc32);
	return kfree_push(t, v, p, c->free_key, true);
remote: {
	/* Another thread's slab, checked as above: the same push onto the
	   TLS remote view of the class; no room (or no sheaf) goes to
	   __kfree_remote, which trades it through the tcache. */
	_Static_assert(2 * sizeof(struct sheaf_view) == sizeof(struct fast_class), "fc32 / 2");
	sm_tls_view_t *r = (sm_tls_view_t *)((uintptr_t)&t->kmalloc_remote[0] + fc32 / 2);
	if (unlikely(!kfree_push(t, r, p, c->free_key, false)))
		__kfree_remote(p, (unsigned)(fc32 / sizeof(struct fast_class)));
	return true;
}
}

/*
 * free() and sm_kfree(): any pointer.  An object of a default kmalloc
 * cache is pushed onto this thread's main in three dependent loads: the
 * hot map, the page's hot word (fclass, page_off, owner tag: page.h), the
 * view in the TLS block.  Validation runs beside that chain, on values it
 * does not wait for: the object's free word (loaded from @p itself), and
 * the class's geometry and free key (sm_fast_class, from fclass) for the
 * interior-pointer check.  So does the owner test: the hot word's owner
 * tag names the thread whose sheaf last took objects from the slab, and
 * an object of another thread's slab is a remote free: the same inline
 * push onto the class's remote view in the TLS block
 * (sm_thread.kmalloc_remote), and __kfree_remote when it is full.  The
 * page's descriptor is not read: sixteen pages' hot words share a cache
 * line, where each descriptor fills one.  Whatever fails, or does not apply, takes the
 * general path (__kfree_miss), which checks everything again and reports
 * what is wrong.  The sized frees (free_sized, free_aligned_sized, C++'s
 * sized and aligned delete) pass the size and alignment they were given:
 * checked here against the class's range (sm_fast_class) and the
 * pointer's low bits, and on a miss by __kfree_sized_miss, which reports a
 * mismatch (issue 13).
 */
static __always_inline void kfree_inline_checked(void *p, bool sized, size_t size, size_t align,
						 enum sized_free who)
{
	uintptr_t a = (uintptr_t)p;
	const struct fast_class *c;
	const struct slab *other;
	uint16_t owner;
	size_t fc32;
	if (unlikely(!kmalloc_obj_fast(p, &c, &fc32, &owner, &other)))
		goto miss;
	/* A sized free (constants fold this away for free()): the size given
	   in the object's range, the pointer aligned as claimed and its class
	   one an aligned request of that alignment gets (kmalloc_aligned_index:
	   a class size that is a multiple of it). */
	if (sized && unlikely((uint64_t)c->size - size > c->sized_slack))
		goto miss;
	if (align > 1 && unlikely((a | c->size) & (align - 1)))
		goto miss;
	/* Read only once @p is known to start an object (so it is aligned). */
	if (unlikely(obj_free_tag(p, 0) == fast_class_tag(c)))
		goto miss; /* free already, it seems: confirmed on the general path */
	if (likely(kfree_checked_push(p, c, fc32, owner)))
		return;
miss:
	if (!sized && !align) {
		/* The descriptor looked up above, when there is one: an isolated
		   instance's object or a page run goes on from it. */
		if (other)
			__kfree_page(p, other);
		else
			__kfree_miss(p);
	} else {
		__kfree_sized_miss(p, sized, size, align, who);
	}
}

/* free() and sm_kfree(): no size or alignment to check. */
static __always_inline void kfree_inline(void *p)
{
	kfree_inline_checked(p, false, 0, 0, SIZED_FREE);
}

#endif /* SM_FASTPATH_H */
