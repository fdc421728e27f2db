/*
 * fastpath.h - the allocation and free fast paths: one sheaf pop or push,
 * bracketed by the thread's busy marker, falling through to the slow paths
 * in alloc.c and free.c.  Included by the entry-point files only.
 *
 * The sheaf is read only after busy is set: a signal handler that lands
 * before that finishes its own operation before we look; one that lands
 * after sees busy and takes the nolock path (see tcache.h).
 */
#ifndef SM_FASTPATH_H
#define SM_FASTPATH_H

#include <string.h>

#include "instance.h"
#include "size_classes.h"
#include "kmem_cache.h"
#include "sheaf.h"
#include "slab.h"
#include "tcache.h"

/*
 * Slow paths: entered with busy set, return with it cleared.  The fast
 * paths pass plain alloc_flags; the slab_alloc_context is built here, off
 * the fast path, so the compiler keeps it out of the inlined code.
 */
void *__slab_alloc_slow(struct sm_instance *inst, unsigned id, struct sm_tcache *tc,
			unsigned flags) __hidden __noinline;
void __slab_free_slow(struct kmem_cache *s, struct sm_tcache *tc, void *p) __hidden __noinline;
/*
 * No tcache for this instance yet (create it and go on normally), a deferred
 * free to see to first (SM_GEN_KICK), or the thread is exiting.
 */
void *__slab_alloc_notc(struct sm_instance *inst, unsigned id, unsigned flags) __hidden __noinline;
void __slab_free_notc(struct kmem_cache *s, void *p) __hidden __noinline;
/*
 * The nolock path, taken when busy is found set: the allocator was re-entered
 * (a signal handler, or code the allocator called).  Never touches a sheaf,
 * never waits for a lock; a free that cannot be done at once is deferred.
 */
void *__slab_alloc_nolock(struct sm_instance *inst, unsigned id, unsigned flags) __hidden __noinline;
void __slab_free_nolock(struct kmem_cache *s, void *p) __hidden __noinline;
/* One object straight from the slabs, bypassing sheaves (NULL: errno ENOMEM). */
void *slab_alloc_single(struct kmem_cache *s, const struct slab_alloc_context *ctx) __hidden;
/* The same for a public request with a node or THISNODE (brackets itself with busy). */
void *__slab_alloc_node(struct kmem_cache *s, unsigned flags, int node) __hidden __noinline;
void double_free_report(struct kmem_cache *s, void *p) __hidden __cold;

/*
 * Allocate from cache @id of @inst through this thread's sheaf.  The slow
 * paths take the instance and id too (and look the cache up themselves), so
 * that the fast path never computes the cache's address: malloc knows the
 * instance at compile time and the id from its size.
 * Returns NULL only when out of memory; @flags may carry SLAB_ALLOC_ZERO only
 * for the slow path's benefit (the caller zeroes).
 *
 * The re-entrancy check costs one load and branch: busy is tested before the
 * tcache is looked up, in the same TLS block.
 */
static __always_inline void *slab_alloc(struct sm_instance *inst, unsigned id, unsigned flags)
{
	if (unlikely(sm_thread.busy))
		return __slab_alloc_nolock(inst, id, flags);
	struct sm_tcache *tc = tcache_peek(inst);
	if (unlikely(!tc))
		return __slab_alloc_notc(inst, id, flags);
	sm_thread.busy = 1;
	barrier();
	struct slab_sheaf *m = tc->pcs[id].main;
	unsigned sz = m->size;
	if (likely(sz)) {
		void *p = m->objects[sz - 1];
		m->size = sz - 1;
		barrier();
		sm_thread.busy = 0;
		return p;
	}
	return __slab_alloc_slow(inst, id, tc, flags);
}

static __always_inline void slab_free(struct kmem_cache *s, void *p)
{
	if (unlikely(sm_thread.busy)) {
		__slab_free_nolock(s, p);
		return;
	}
	struct sm_tcache *tc = tcache_peek_slot(s->inst_slot, s->inst_gen);
	if (unlikely(!tc)) {
		__slab_free_notc(s, p);
		return;
	}
	sm_thread.busy = 1;
	barrier();
	struct slab_sheaf *m = tc->pcs[s->id].main;
	unsigned sz = m->size;
	if (likely(sz < m->capacity)) {
		/* The cheapest double free to catch: the object freed just before. */
		if (unlikely(sz && m->objects[sz - 1] == p)) {
			sm_thread.busy = 0;
			double_free_report(s, p);
			return;
		}
		m->objects[sz] = p;
		m->size = sz + 1;
		barrier();
		sm_thread.busy = 0;
		return;
	}
	__slab_free_slow(s, tc, p);
}

/*
 * The cache of @p if @p is the start of an object in a live slab; NULL
 * otherwise (page runs, huge mappings, invalid pointers: the caller sorts
 * those out on its slow path).  Arithmetic on the node map and descriptor
 * only: @p itself is never read.
 */
static __always_inline struct kmem_cache *obj_cache(const void *p)
{
	struct sm_node *n = node_of_granule(p);
	if (unlikely(!n))
		return NULL;
	uint32_t page = node_page_index(n, p);
	if (unlikely(page == UINT32_MAX))
		return NULL;
	const struct slab *d = &n->descs[page];
	if (unlikely(d->type != PT_SLAB))
		return NULL;
	struct kmem_cache *s = d->cache;
	uintptr_t off = (uintptr_t)p - (uintptr_t)node_page_addr(n, d->head);
	uint64_t idx = ((uint64_t)off * s->reciprocal) >> 32;
	if (unlikely(idx * s->size != off || idx >= s->objects))
		return NULL;
	return s;
}

/* The public SM_GFP_* flags as alloc_flags. */
static inline unsigned gfp_to_alloc_flags(unsigned gfp)
{
	return ((gfp & SM_GFP_ZERO) ? SLAB_ALLOC_ZERO : 0) |
	       ((gfp & SM_GFP_THISNODE) ? SLAB_ALLOC_THISNODE : 0);
}

/* Alignment of every object above 8 bytes when none is asked for. */
#define SM_MALLOC_ALIGN 16

/* Requests above this cannot be satisfied on any machine (and would overflow). */
#define SM_MAX_ALLOC ((size_t)1 << 46)

/* Page runs and huge mappings (alloc.c); NULL means no memory, with errno ENOMEM. */
void *kmalloc_large(struct sm_instance *inst, size_t size, size_t align,
		    const struct slab_alloc_context *ctx) __hidden;
/* kmalloc_inline's way out for requests above the kmalloc classes. */
void *__kmalloc_large(struct sm_instance *inst, size_t size, size_t align, unsigned flags,
		      int node) __hidden __noinline;
/*
 * Free something obj_cache() did not recognise: a page run, a huge mapping or
 * garbage.  kfree_other brackets itself with busy and only tries locks when
 * re-entered; __kfree_other is its body for callers that already hold busy
 * (@trylock: defer the free rather than wait for a lock).
 */
void kfree_other(void *p) __hidden __noinline;
struct sm_instance *__kfree_other(void *p, bool trylock) __hidden; /* the owner, or NULL if bad */

/*
 * The end of every sheaf slow path: the delayed purge if due (still busy),
 * then busy cleared, then the helper thread started if a deferred free asked
 * for one (thread creation allocates: never with busy set).
 */
static inline void slow_path_exit(struct sm_instance *inst)
{
	inst_maybe_purge(inst, inst_now(inst));
	barrier();
	sm_thread.busy = 0;
	if (unlikely(READ_ONCE(inst->deferred.want_helper)))
		helper_maybe_start(inst);
}

/* Smallest kmalloc class that fits @size and whose objects are @align-aligned. */
static inline unsigned kmalloc_aligned_index(size_t size, size_t align)
{
	if (align > SM_PAGE_SIZE)
		return SM_NR_KMALLOC; /* slabs are only page aligned: use a page run */
	unsigned i = kmalloc_index(MAX(size, align));
	while (i < SM_NR_KMALLOC && (kmalloc_class_size(i) & (align - 1)))
		i++;
	return i;
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
				p = slab_alloc(inst, i, flags);
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
		kfree_other(p);
}

#endif /* SM_FASTPATH_H */
