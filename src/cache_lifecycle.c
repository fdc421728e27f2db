/*
 * cache_lifecycle.c - creating, shrinking and destroying kmem_caches.
 * The kmalloc caches are embedded in the instance and live as long as it;
 * caches made here get their descriptor from a kmalloc cache of the same
 * instance (kmem_cache_alloc_direct) and an id that indexes every thread's
 * tcache.
 */
#include <errno.h>
#include <string.h>

#include "barn.h"
#include "registry.h"
#include "printk.h"

/* The kmalloc cache that cache descriptors of @inst come from. */
static struct kmem_cache *descriptor_cache(struct sm_instance *inst)
{
	return &inst->kmalloc_caches[kmalloc_aligned_index(sizeof(struct kmem_cache), SM_CACHELINE)];
}

sm_cache_t *sm_cache_create(sm_instance_t *inst, const char *name, size_t size, size_t align,
			    unsigned flags, void (*ctor)(void *))
{
	if (!name || size == 0 || size > SM_KMALLOC_MAX_CACHE_SIZE ||
	    (align && (!IS_POW2(align) || align > SM_PAGE_SIZE))) {
		errno = EINVAL;
		return NULL;
	}
	bool nested = sm_enter();
	if (nested) {
		sm_leave(nested);
		errno = EDEADLK; /* from a signal handler: see docs/signal-safety.md */
		return NULL;
	}
	struct slab_alloc_context ctx = SLAB_ALLOC_CTX(sizeof(struct kmem_cache), SLAB_ALLOC_NO_RECURSE,
						       SM_NO_NODE);
	struct kmem_cache *dc = descriptor_cache(inst);
	struct kmem_cache *s = kmem_cache_alloc_direct(dc, &ctx);
	int err = 0;
	if (!s) {
		err = ENOMEM;
		goto out;
	}
	cache_stat_inc(dc, STAT_INTERNAL_ALLOC); /* the statistics leave it out */
	memset(s, 0, sizeof(*s));
	if (!kmem_cache_init(s, &inst->pa, &inst->opts, name, size, align, flags, ctor)) {
		cache_stat_inc(dc, STAT_INTERNAL_FREE);
		kmem_cache_free_direct(dc, s);
		err = EINVAL;
		goto out;
	}
	sm_lock(&inst->lock);
	unsigned id;
	for (id = SM_NR_KMALLOC; id < SM_MAX_CACHES && inst->cache_by_id[id]; id++)
		;
	if (id == SM_MAX_CACHES) {
		sm_unlock(&inst->lock);
		cache_stat_inc(dc, STAT_INTERNAL_FREE);
		kmem_cache_free_direct(dc, s);
		err = ENOSPC;
		goto out;
	}
	inst_cache_register(inst, s, id);
	sm_unlock(&inst->lock);
out:
	sm_leave(nested);
	if (err) {
		errno = err;
		return NULL;
	}
	return s;
}

const char *sm_cache_name(const sm_cache_t *s)
{
	return s->name;
}

/* Empty every barn of @s: their objects go back to the slabs (inst->lock held). */
static void drain_barns(struct kmem_cache *s)
{
	for (unsigned i = 0; i < pa_nr_nodes(s->pa); i++)
		barn_drain(s, &s->node[i].barn);
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
		tcache_release_sheaves(tc, s);
	drain_barns(s);
	sm_unlock(&inst->lock);
	deferred_drain_all(&inst->deferred);
	size_t released = cache_release_empty(s, UINT64_MAX);
	sm_leave(nested);
	return released;
}

int sm_cache_destroy(sm_cache_t *s)
{
	if (!s)
		return 0;
	struct sm_instance *inst = s->inst;
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
	sm_lock(&inst->lock);
	/* No thread may be using @s (the API's contract): take back every
	   thread's sheaves of it, through the barns. */
	struct list_head *pos;
	for (pos = inst->tcaches.next; pos != &inst->tcaches; pos = pos->next)
		tcache_release_sheaves(list_entry(pos, struct tcache, link), s);
	drain_barns(s);
	size_t live = 0;
	for (unsigned i = 0; i < pa_nr_nodes(&inst->pa); i++)
		live += READ_ONCE(s->node[i].inuse);
	if (live) {
		sm_unlock(&inst->lock);
		sm_leave(nested);
		sm_report(&inst->err, "kmem_cache_destroy(%s): %zu objects still allocated; cache kept",
			  s->name, live);
		return -EBUSY;
	}
	cache_release_empty(s, UINT64_MAX);
	/* The id may be given to a new cache: it starts counting from 0. */
	for (pos = inst->tcaches.next; pos != &inst->tcaches; pos = pos->next)
		WRITE_ONCE(list_entry(pos, struct tcache, link)->allocs[s->id], 0);
	list_del(&s->list);
	inst->cache_by_id[s->id] = NULL;
	sm_unlock(&inst->lock);
	cache_stat_inc(descriptor_cache(inst), STAT_INTERNAL_FREE);
	kmem_cache_free_direct(descriptor_cache(inst), s);
	sm_leave(nested);
	return 0;
}
