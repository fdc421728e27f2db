/*
 * hardened.c - hardened mode's allocation, free and realloc of small
 * objects (hardened.h).  The checks on one object are harden.c's, the
 * quarantine is quarantine.c's; this file decides which object a request
 * gets and the order of the steps of a free.
 */
#include <errno.h>
#include <string.h>

#include "fastpath.h"
#include "hardened.h"
#include "large.h"
#include "quarantine.h"

/* The kmalloc class of @need bytes with the alignment a request of @size with @align has. */
static unsigned padded_class(size_t need, size_t size, size_t align)
{
	if (need > SM_KMALLOC_MAX_CACHE_SIZE)
		return SM_NR_KMALLOC;
	if (align > 8)
		return kmalloc_aligned_index(need, align);
	if (!align && size > 8)
		return kmalloc_index(ALIGN_UP(need, SM_MALLOC_ALIGN)); /* malloc's 16 */
	return kmalloc_index(need);
}

/* A page run for a request the largest class cannot pad (large.c puts its canary). */
static void *hardened_run(struct sm_instance *inst, size_t size, size_t align, unsigned flags, int node)
{
	struct slab_alloc_context ctx = SLAB_ALLOC_CTX(size, flags, node);
	void *p = large_alloc(&inst->pa, size, align, &ctx);
	if (p) {
		__atomic_fetch_add(&inst->large_allocs, 1, __ATOMIC_RELAXED);
		__atomic_fetch_add(&inst->large_bytes_requested, size, __ATOMIC_RELAXED);
	}
	return p;
}

void *hardened_alloc(struct kmem_cache *s, unsigned flags, int node, size_t size, size_t align)
{
	if (!s->is_kmalloc) {
		void *p = slab_alloc_bypass_raw(s, flags, node);
		if (p)
			harden_obj_arm(s, p, s->object_size);
		return p;
	}
	struct sm_instance *inst = s->inst;
	size_t cls = s->size;
	/* Unknown, or zeroed by the caller up to the class size: the class size. */
	if (size == HARDEN_SIZE_UNKNOWN || (flags & SLAB_ALLOC_ZERO) || size > cls)
		size = cls;
	if (align == HARDEN_SIZE_UNKNOWN)
		align = cls > 8 ? SM_MALLOC_ALIGN : 8;
	unsigned j = padded_class(size + HARDEN_PAD, size, align);
	if (j >= SM_NR_KMALLOC)
		return hardened_run(inst, size, MAX(align, (size_t)8), flags, node);
	struct kmem_cache *t = &inst->kmalloc_caches[j];
	void *p = slab_alloc_bypass_raw(t, flags, node);
	if (p)
		harden_obj_arm(t, p, size);
	return p;
}

/* Put @p of @s back into its slab, or defer it when @trylock finds its lock busy. */
static void put_back(struct kmem_cache *s, void *p, bool trylock)
{
	if (!slab_put_objects(s, &p, 1, trylock))
		defer_free(&s->inst->deferred, p, s);
}

void hardened_free(struct kmem_cache *s, void *p, bool trylock)
{
	if (!harden_obj_check_canary(s, p) || !harden_obj_check_before(s, p))
		return;
	harden_obj_scrub(s, p);
	if (!harden_obj_scrubbed(s) || node_routed(node_of(p))) {
		/* Contents that must survive, or a routed node's object: home at once. */
		put_back(s, p, trylock);
		return;
	}
	*obj_free_word(s, p) = s->free_key; /* free: a second free looks in the quarantine */
	struct quarantine_entry out[QUARANTINE_EVICT];
	int n = quarantine_push(&s->inst->quarantine, s, p, trylock, out);
	if (n < 0) {
		put_back(s, p, trylock);
		return;
	}
	for (int i = 0; i < n; i++)
		put_back(out[i].s, out[i].p, trylock);
	if (n)
		quarantine_put_back(&s->inst->quarantine, (unsigned)n);
}

/* In place while the slot still fits and is not more than twice what is needed. */
static bool fits_in_place(const struct kmem_cache *s, size_t n)
{
	size_t need = n + HARDEN_PAD;
	return need <= s->size && (need > s->size / 2 || s->size <= 64);
}

void *hardened_krealloc(struct kmem_cache *s, void *p, size_t n, unsigned gfp)
{
	if (!harden_obj_check_canary(s, p)) {
		errno = EINVAL;
		return NULL; /* reported; the object is left alone */
	}
	size_t old = harden_obj_size(s, p);
	if (fits_in_place(s, n)) {
		if (n > old)
			memset((char *)p + old, 0, n - old); /* the canary's bytes are no data */
		harden_obj_arm(s, p, n);
		return p;
	}
	unsigned flags = gfp_to_alloc_flags(gfp & ~SM_GFP_ZERO);
	void *q = kmalloc_inline(s->inst, n, 0, flags, SM_NO_NODE);
	if (!q)
		return NULL;
	memcpy(q, p, MIN(old, n));
	if ((gfp & SM_GFP_ZERO) && n > old)
		memset((char *)q + old, 0, n - old);
	kfree_inline(p);
	return q;
}
