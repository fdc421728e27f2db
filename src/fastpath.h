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
 * Allocate from cache @id of @inst through this thread's sheaf.  The slow
 * paths take the instance and id too (and look the cache up themselves), so
 * that the fast path never computes the cache's address: malloc knows the
 * instance at compile time and the id from its size.
 * Returns NULL only when out of memory; @flags may carry SLAB_ALLOC_ZERO only
 * for the slow path's benefit (the caller zeroes).  @fp_off is the cache's
 * fp_offset (a constant 0 for kmalloc): the object's free word is cleared
 * as it is handed out (kmem_cache.h, "the free word").
 *
 * The re-entrancy check costs one load and branch: busy is tested before the
 * tcache is looked up, in the same TLS block.
 */
static __always_inline void *slab_alloc(struct sm_instance *inst, unsigned id, unsigned flags,
					unsigned fp_off)
{
	if (unlikely(sm_thread.busy))
		return __slab_alloc_nolock(inst, id, flags);
	struct tcache *tc = tcache_peek(inst);
	if (unlikely(!tc))
		return __slab_alloc_no_tcache(inst, id, flags);
	sm_thread.busy = 1;
	barrier();
	struct slab_sheaf *m = tc->sheaves[id].main;
	unsigned sz = m->size;
	if (likely(sz)) {
		void *p = m->objects[sz - 1];
		/* Plain stores on every machine; atomic so that a double-free
		   check reading this sheaf from another thread (sheaf_holds) is
		   not a data race. */
		WRITE_ONCE(m->size, sz - 1);
		barrier();
		sm_thread.busy = 0;
		*(uintptr_t *)((char *)p + fp_off) = 0; /* handed out */
		return p;
	}
	return __slab_alloc_slow(inst, id, tc, flags);
}

/*
 * Free @p, an object of @s, into this thread's sheaf.  A free word that
 * says "free already" (one load and compare beside the push, not before
 * it) sends the free to __slab_free_suspect, which confirms a double free
 * wherever the object sits before anything is written.
 */
static __always_inline void slab_free(struct kmem_cache *s, void *p)
{
	if (obj_maybe_free(s, p)) {
		__slab_free_suspect(s, p);
		return;
	}
	if (unlikely(sm_thread.busy)) {
		__slab_free_nolock(s, p);
		return;
	}
	struct tcache *tc = tcache_peek_slot(s->inst_slot, s->inst_gen);
	if (unlikely(!tc)) {
		__slab_free_no_tcache(s, p);
		return;
	}
	sm_thread.busy = 1;
	barrier();
	struct slab_sheaf *m = tc->sheaves[s->id].main;
	unsigned sz = m->size;
	if (likely(sz < m->capacity)) {
		*obj_free_word(s, p) = s->free_key;
		WRITE_ONCE(m->objects[sz], p);
		WRITE_ONCE(m->size, sz + 1);
		barrier();
		sm_thread.busy = 0;
		return;
	}
	__slab_free_slow(s, tc, p);
}

/*
 * kmalloc: a size class through the sheaves, or a page run.  NULL means out
 * of memory, and errno is then ENOMEM (set where the failure happened, so
 * that no caller needs code after the call).  @flags are
 * alloc_flags; requests for a specific node (or THISNODE, NO_RECURSE) bypass
 * the sheaves, whose objects may come from any node.
 */
static __always_inline void *kmalloc_inline(struct sm_instance *inst, size_t size, size_t align,
					    unsigned flags, int node)
{
	if (likely(size <= SM_KMALLOC_MAX_CACHE_SIZE)) {
		/*
		 * Without an explicit alignment, a request above 8 bytes must suit
		 * any type of its size or smaller (C17 7.22.3), long double
		 * included: round it to a multiple of 16, glibc's MALLOC_ALIGNMENT.
		 * The 24/40/56-byte classes serve explicit 8-byte alignments.
		 */
		unsigned i;
		if (likely(!align && size - 9 <= SM_MALLOC_TABLE_MAX - 9)) {
			i = malloc_index16(size); /* 9..1024: rounded to 16 by the table */
		} else {
			if (!align && size > 8)
				size = ALIGN_UP(size, SM_MALLOC_ALIGN);
			i = align <= 8 ? kmalloc_index(size) : kmalloc_aligned_index(size, align);
		}
		if (likely(i < SM_NR_KMALLOC)) {
			struct kmem_cache *s = &inst->kmalloc_caches[i];
			void *p;
			if (likely(!(flags & (SLAB_ALLOC_NO_RECURSE | SLAB_ALLOC_THISNODE)) &&
				   node == SM_NO_NODE)) {
				p = slab_alloc(inst, i, flags, 0);
			} else {
				p = __slab_alloc_node(s, flags, node);
			}
			if (unlikely(flags & SLAB_ALLOC_ZERO) && p)
				memset(p, 0, s->size);
			return p;
		}
	}
	return __kmalloc_large(inst, size, align, flags, node);
}

static __always_inline void kfree_inline(void *p)
{
	struct kmem_cache *s = obj_cache(p);
	if (likely(s))
		slab_free(s, p);
	else
		kfree_large(p);
}

#endif /* SM_FASTPATH_H */
