/*
 * cache_lifecycle.c - creating, shrinking and destroying kmem_caches.
 * One constructor, sm_cache_create_args (the kernel's
 * __kmem_cache_create_args), under two wrappers: sm_cache_create, whose
 * descriptor comes from a kmalloc cache of the same instance
 * (kmem_cache_alloc_direct), and sm_cache_setup, whose descriptor is the
 * caller's storage (SLAB_PREALLOCATED).  The kmalloc caches are embedded in
 * the instance and live as long as it.  Every cache gets an id that
 * indexes every thread's tcache.
 */
#include <errno.h>
#include <string.h>

#include "barn.h"
#include "debug.h"
#include "registry.h"
#include "printk.h"

/* The kmalloc cache that cache descriptors of @inst come from. */
static struct kmem_cache *descriptor_cache(struct sm_instance *inst)
{
	return &inst->kmalloc_caches[kmalloc_aligned_index(sizeof(struct kmem_cache_desc), SM_CACHELINE)];
}

/* Whether @args names storage a descriptor can live in (size and alignment). */
static bool storage_valid(const struct sm_cache_args *args)
{
	return args->preallocated_size >= sizeof(struct sm_cache_storage) &&
	       (uintptr_t)args->preallocated % SM_CACHE_STORAGE_ALIGN == 0;
}

/*
 * The descriptor for a new cache of @inst: @pre, unless it holds a live
 * cache (reported: EBUSY), or one from the descriptor cache (ENOMEM).
 * Busy set, no lock held.
 */
static struct kmem_cache *descriptor_get(struct sm_instance *inst, struct kmem_cache *pre,
					 const char *name, int *err)
{
	if (pre) {
		struct sm_instance *owner = registry_cache_owner(pre);
		if (owner) {
			/* Setting it up again would corrupt the live cache's lists. */
			sm_report(&owner->err, "kmem_cache_setup(%s): storage %p holds the live cache %s "
				  "(%u-byte objects); not set up again", name, (void *)pre, pre->name,
				  pre->object_size);
			*err = EBUSY;
			return NULL;
		}
		return pre;
	}
	struct slab_alloc_context ctx = SLAB_ALLOC_CTX(sizeof(struct kmem_cache_desc), SLAB_ALLOC_NO_RECURSE,
						       SM_NO_NODE);
	struct kmem_cache *dc = descriptor_cache(inst);
	struct kmem_cache *s = kmem_cache_alloc_direct(dc, &ctx);
	if (!s)
		*err = ENOMEM;
	else
		cache_stat_inc(dc, STAT_INTERNAL_ALLOC); /* the statistics leave it out */
	return s;
}

/*
 * Give back the descriptor of a cache that is gone (or never was): the
 * caller's storage (@preallocated) is left zeroed, never freed.
 */
static void descriptor_put(struct sm_instance *inst, struct kmem_cache *s, bool preallocated)
{
	if (preallocated) {
		memset(s, 0, sizeof(struct kmem_cache_desc));
	} else {
		cache_stat_inc(descriptor_cache(inst), STAT_INTERNAL_FREE);
		kmem_cache_free_direct(descriptor_cache(inst), s);
	}
}

sm_cache_t *sm_cache_create_args(sm_instance_t *inst, const char *name, size_t size,
				 const struct sm_cache_args *args, unsigned flags)
{
	static const struct sm_cache_args defaults;
	if (!args)
		args = &defaults;
	struct kmem_cache *pre = (struct kmem_cache *)(void *)args->preallocated;
	if (!inst || !name || (flags & ~SM_CACHE_FLAGS_VALID) || !kmem_cache_args_valid(size, args, flags) ||
	    (pre && !storage_valid(args))) {
		errno = EINVAL;
		return NULL;
	}
	if (pre)
		flags |= SLAB_PREALLOCATED;
	if (sm_in_allocator()) {
		errno = EDEADLK; /* from a signal handler: see docs/signal-safety.md */
		return NULL;
	}
	debug_prepare(&inst->opts, flags); /* before any lock: it may dlopen */
	bool nested = sm_enter(); /* false: busy was clear just above */
	int err = 0;
	struct kmem_cache *s = descriptor_get(inst, pre, name, &err);
	if (!s)
		goto out;
	/* Zero, the per-node structures included (kmem_cache.h, kcn_lock). */
	struct kmem_cache_desc *desc = container_of(s, struct kmem_cache_desc, cache);
	memset(desc, 0, sizeof(*desc));
	if (!kmem_cache_init(s, desc->nodes, 1, &inst->pa, &inst->opts, name, size, args, flags)) {
		descriptor_put(inst, s, pre); /* validated above: cannot happen */
		err = EINVAL;
		goto out;
	}
	sm_lock(&inst->lock);
	unsigned id;
	for (id = SM_NR_KMALLOC; id < SM_MAX_CACHES && inst->cache_by_id[id]; id++)
		;
	if (id == SM_MAX_CACHES) {
		sm_unlock(&inst->lock);
		descriptor_put(inst, s, pre);
		err = ENOSPC;
		goto out;
	}
	inst_cache_register(inst, s, id);
	if (!pre) /* a kmalloc object of the instance's own (double_free.c) */
		s->internal_mark = cache_free_tag(descriptor_cache(inst));
	sm_unlock(&inst->lock);
out:
	sm_leave(nested);
	if (err) {
		errno = err;
		return NULL;
	}
	return s;
}

sm_cache_t *sm_cache_create(sm_instance_t *inst, const char *name, size_t size, size_t align,
			    unsigned flags, void (*ctor)(void *))
{
	struct sm_cache_args args = { .align = align, .ctor = ctor };
	return sm_cache_create_args(inst, name, size, &args, flags);
}

sm_cache_t *sm_cache_setup(struct sm_cache_storage *st, sm_instance_t *inst, const char *name,
			   size_t size, size_t align, unsigned flags, void (*ctor)(void *))
{
	struct sm_cache_args args = { .align = align, .ctor = ctor, .preallocated = st,
				      .preallocated_size = sizeof(*st) };
	if (!st) {
		errno = EINVAL;
		return NULL;
	}
	return sm_cache_create_args(inst, name, size, &args, flags);
}

const char *sm_cache_name(const sm_cache_t *s)
{
	return s->name;
}

/* Empty every barn of @s: their objects go back to the slabs (inst->lock held). */
static void drain_barns(struct kmem_cache *s)
{
	for (unsigned i = 0; i < pa_nr_nodes(s->pa); i++)
		barn_drain(s, &s->node[i]->barn);
}

size_t sm_cache_shrink(sm_cache_t *s)
{
	struct sm_instance *inst = s->inst;
	if (sm_in_allocator())
		return 0; /* from a signal handler: nothing can be done without waiting */
	struct tcache *tc = tcache_get(inst);
	bool nested = sm_enter();
	sm_lock(&inst->lock);
	if (tc)
		tcache_release_sheaves(tc, s, true);
	drain_barns(s);
	sm_unlock(&inst->lock);
	deferred_drain_all(&inst->deferred);
	size_t released = cache_release_empty(s, UINT64_MAX);
	sm_leave(nested);
	return released;
}

size_t sm_cache_validate(sm_cache_t *s)
{
	if (!s || sm_in_allocator())
		return 0; /* from a signal handler: it would wait for list locks */
	bool nested = sm_enter();
	size_t problems = debug_validate(s);
	sm_leave(nested);
	return problems;
}

int sm_cache_destroy(sm_cache_t *s)
{
	if (!s)
		return 0;
	struct sm_instance *inst = s->inst;
	if (!inst) {
		/* Zeroed storage: never set up, or destroyed already. */
		registry_default_sink_prepare();
		sm_report(NULL, "kmem_cache_destroy(%p): no live cache there (storage never set up, "
			  "or destroyed already)", (void *)s);
		return -EINVAL;
	}
	if (s->is_kmalloc) {
		sm_report(&inst->err, "kmem_cache_destroy(%s): kmalloc caches live as long as the instance",
			  s->name);
		return -EPERM;
	}
	bool nested = sm_enter();
	if (nested) {
		sm_leave(nested);
		return -EDEADLK; /* from a signal handler: see docs/signal-safety.md */
	}
	deferred_drain_all(&inst->deferred);
	if (inst->pa.harden)
		quarantine_drain(&inst->quarantine, s); /* its objects waiting there */
	/* A purge running holds its slabs off their lists (cache_purge_partial)
	   and steps along the caches without inst->lock: it finishes first. */
	sm_lock(&inst->purge_lock);
	sm_lock(&inst->lock);
	/* No thread may be using @s (the API's contract): take back every
	   thread's sheaves of it, through the barns. */
	struct tcache *mine = tcache_mine(inst);
	struct list_head *pos;
	for (pos = inst->tcaches.next; pos != &inst->tcaches; pos = pos->next) {
		struct tcache *tc = list_entry(pos, struct tcache, link);
		tcache_release_sheaves(tc, s, tc == mine);
	}
	drain_barns(s);
	size_t live = 0;
	for (unsigned i = 0; i < pa_nr_nodes(&inst->pa); i++)
		live += READ_ONCE(s->node[i]->inuse);
	if (live) {
		sm_unlock(&inst->lock);
		sm_unlock(&inst->purge_lock);
		sm_leave(nested);
		sm_report(&inst->err, "kmem_cache_destroy(%s): %zu objects still allocated; cache kept",
			  s->name, live);
		return -EBUSY;
	}
	s->flags &= ~SM_CACHE_TYPESAFE_BY_RCU; /* the cache goes: so may its memory */
	cache_release_empty(s, UINT64_MAX);
	/* The id may be given to a new cache: it starts counting from 0. */
	for (pos = inst->tcaches.next; pos != &inst->tcaches; pos = pos->next)
		WRITE_ONCE(list_entry(pos, struct tcache, link)->allocs[s->id], 0);
	list_del(&s->list);
	inst->cache_by_id[s->id] = NULL;
	sm_unlock(&inst->lock);
	sm_unlock(&inst->purge_lock);
	descriptor_put(inst, s, s->flags & SLAB_PREALLOCATED);
	sm_leave(nested);
	return 0;
}
