/*
 * realloc.c - resizing an object: in place when its size class, page run
 * or huge mapping allows it (large.h), a huge mapping by moving its pages
 * (mremap), otherwise allocate, copy and free.
 */
#include <errno.h>
#include <string.h>

#include "fastpath.h"
#include "hardened.h"
#include "large.h"
#include "registry.h"
#include "vg.h"
#include "zero.h"

/* A smaller request keeps the object while it still uses over half of it. */
static inline bool keep_in_place(size_t usable, size_t n)
{
	return n <= usable && (n > usable / 2 || usable <= 64);
}

/*
 * Move @p (@old usable bytes, of @inst) to a new object of @n bytes.  The
 * default instance's allocation takes malloc's own path (the TLS sheaves):
 * realloc-grown buffers are a program's commonest moves.
 */
/* The end of a move: @p's bytes (@old of them) into @q (@n bytes), @p freed. */
static void *move_finish(void *p, void *q, size_t old, size_t n, unsigned gfp)
{
	if (!q)
		return NULL;
	memcpy(q, p, MIN(old, n));
	if ((gfp & SM_GFP_ZERO) && n > old)
		memset((char *)q + old, 0, sm_ksize(q) - old);
	kfree_inline(p);
	return q;
}

static void *move_object(struct sm_instance *inst, void *p, size_t old, size_t n, unsigned gfp)
{
	unsigned flags = gfp_to_alloc_flags(gfp & ~SM_GFP_ZERO);
	void *q;
	if (inst == &sm_default_inst)
		q = kmalloc_inline(&sm_default_inst, n, 0, flags, SM_NO_NODE);
	else
		q = kmalloc_inline(inst, n, 0, flags, SM_NO_NODE);
	return move_finish(p, q, old, n, gfp);
}

/*
 * The same for @p in routed node @nd (private, unmapped, reserved): the
 * new object comes from @nd too, never from a general node.
 */
static __noinline void *move_object_home(struct sm_instance *inst, struct sm_node *nd, void *p,
					 size_t old, size_t n, unsigned gfp)
{
	unsigned flags = gfp_to_alloc_flags(gfp & ~SM_GFP_ZERO) | node_reach_flags(nd);
	return move_finish(p, kmalloc_inline(inst, n, 0, flags, nd->id), old, n, gfp);
}

/* One more realloc of an object of @inst (statistics; off the fast paths). */
static void count_realloc(struct sm_instance *inst)
{
	struct tcache *tc = tcache_peek(inst);
	if (tc)
		WRITE_ONCE(tc->reallocs, tc->reallocs + 1); /* the owner's counter */
	else
		__atomic_fetch_add(&inst->direct_reallocs, 1, __ATOMIC_RELAXED);
}

/*
 * Resize the malloc(0) pointer @p (zero.h) to @n > 0 bytes: a new object
 * of the default instance (it has no other), then @p is freed.  No byte is
 * copied: @p had none.  A @p that is not a live slot is reported by the
 * free, before anything is allocated, and gives NULL with EINVAL.
 */
static __noinline void *realloc_zero(void *p, size_t n, unsigned gfp)
{
	if (!zero_live(p)) {
		kfree_inline(p); /* reports what is wrong with it */
		errno = EINVAL;
		return NULL;
	}
	struct sm_instance *inst = sm_default_instance();
	void *q = inst ? kmalloc_inline(&sm_default_inst, n, 0, gfp_to_alloc_flags(gfp), SM_NO_NODE) : NULL;
	if (!inst)
		errno = ENOMEM; /* a signal handler interrupted its set-up */
	if (q)
		kfree_inline(p);
	return q;
}

/*
 * realloc's commonest case, a growing or shrinking buffer of the default
 * instance: @p a live-looking object of a default kmalloc slab (free()'s
 * checks: kmalloc_obj_fast, and its free word not saying "free"), @n a
 * size malloc takes, no flags, and this thread's tcache there (so the
 * instance is set up and not hardened: a hardened instance's threads have
 * none).  Kept in place, or moved through malloc's and free()'s own
 * paths: no lookup of the cache.  True with *@out the result (NULL:
 * out of memory, errno ENOMEM, @p left as it was).  Anything else returns
 * false, and sm_krealloc's general path, which checks and reports
 * everything, takes the request.
 */
static __always_inline bool krealloc_default(void *p, size_t n, unsigned gfp, void **out)
{
	const struct fast_class *c;
	const struct slab *other;
	uint16_t owner;
	size_t fc32;
	if (unlikely(gfp || n - 1 >= SM_MAX_ALLOC || !kmalloc_obj_fast(p, &c, &fc32, &owner, &other)))
		return false;
	if (unlikely(obj_free_tag(p, 0) == fast_class_tag(c)))
		return false; /* free already, it seems */
	struct tcache *tc = tcache_peek(&sm_default_inst);
	if (unlikely(!tc))
		return false;
	WRITE_ONCE(tc->reallocs, tc->reallocs + 1); /* count_realloc */
	size_t usable = c->size;
	if (keep_in_place(usable, n)) {
		*out = p;
		return true;
	}
	void *q = kmalloc_inline(&sm_default_inst, n, 0, SLAB_ALLOC_DEFAULT, SM_NO_NODE);
	*out = q;
	if (unlikely(!q))
		return true; /* errno is ENOMEM; @p stays as it was */
	memcpy(q, p, MIN(usable, n));
	/* @p was checked above, and malloc's path does not touch it. */
	if (unlikely(!kfree_checked_push(p, c, fc32, owner)))
		__kfree_miss(p);
	return true;
}

void *sm_krealloc(void *p, size_t n, unsigned gfp)
{
	void *out;
	if (krealloc_default(p, n, gfp, &out))
		return out;
	if (!p) {
		struct sm_instance *inst = sm_default_instance();
		if (!inst) {
			errno = ENOMEM; /* a signal handler interrupted its set-up */
			return NULL;
		}
		return sm_kmalloc(inst, n, gfp);
	}
	if (!n) {
		kfree_inline(p);
		return NULL;
	}
	if (n > SM_MAX_ALLOC) {
		errno = ENOMEM;
		return NULL;
	}
	struct kmem_cache *s = obj_cache(p);
	if (likely(s)) {
		count_realloc(s->inst);
		if (harden_on(s) && s->is_kmalloc) {
			/* Freed (quarantined, scrubbed): a double free, not an overflow. */
			if (unlikely(obj_maybe_free(s, p)) && kfree_reports_freed(s, p)) {
				errno = EINVAL;
				return NULL;
			}
			return hardened_krealloc(s, p, n, gfp);
		}
		size_t usable = s->is_kmalloc ? s->size : s->object_size;
		if (keep_in_place(usable, n))
			return p;
		return move_object(s->inst, p, usable, n, gfp);
	}
	if ((s = obj_cache_routed(p)) != NULL) {
		size_t usable = s->object_size; /* a debug cache's slot is larger */
		if (harden_on(s))
			usable = harden_obj_usable(s, p);
		if (keep_in_place(usable, n))
			return p;
		/* A debug cache's slab on a general node moves to any node: the
		   one it is on may be abandoned (a fork child's, node_fork_child). */
		if (!node_routed(node_of(p)))
			return move_object(s->inst, p, usable, n, gfp);
		return move_object_home(s->inst, node_of(p), p, usable, n, gfp);
	}
	if (unlikely(zero_holds(p)))
		return realloc_zero(p, n, gfp);
	struct large_ref r;
	if (!large_lookup(p, &r)) {
		registry_default_sink_prepare(); /* a foreign pointer's report goes there */
		slab_check_object(NULL, p);      /* reports what is wrong */
		errno = EINVAL;
		return NULL;
	}
	size_t usable = large_usable(&r);
	if (r.huge && keep_in_place(usable, n))
		return p;
	struct sm_instance *inst = r.node->inst;
	count_realloc(inst);
	/* Re-entered (a signal handler): only try the locks. */
	bool nested = sm_enter();
	bool resized = large_resize(&inst->pa, &r, n, gfp & SM_GFP_ZERO, nested);
	/* A huge mapping that outgrew its reservation moves (mremap: no copy;
	   the pages added are fresh, so zero). */
	void *q = !resized && !nested && r.huge && n > usable ? large_move_huge(&inst->pa, &r, n) : NULL;
	sm_leave(nested);
	if (!nested)
		helper_check(inst, HELPER_NO_START);
	if (resized) {
		vg_resize(p, usable, sm_ksize(p), gfp & SM_GFP_ZERO);
		return p;
	}
	if (q) {
		vg_move(p, q, sm_ksize(q));
		return q;
	}
	if (node_routed(r.node))
		return move_object_home(inst, r.node, p, usable, n, gfp);
	return move_object(inst, p, usable, n, gfp);
}
