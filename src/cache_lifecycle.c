/*
 * cache_lifecycle.c - creating, shrinking and destroying kmem_caches.
 * The kmalloc caches are embedded in the instance and live as long as it;
 * caches made here get their descriptor from the kmalloc caches
 * (SLAB_ALLOC_NO_RECURSE) and an id that indexes every thread's pcs[].
 */
#include <errno.h>
#include <string.h>

#include "instance.h"
#include "kmem_cache.h"
#include "printk.h"
#include "sheaf.h"

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
	struct kmem_cache *s = __kmalloc(inst, sizeof(*s), SM_CACHELINE, &ctx);
	int err = 0;
	if (!s) {
		err = ENOMEM;
		goto out;
	}
	memset(s, 0, sizeof(*s));
	if (!kmem_cache_init(s, inst, name, size, align, flags, ctor)) {
		__kfree_nosheaf(s);
		err = EINVAL;
		goto out;
	}
	sm_lock(&inst->lock);
	unsigned id;
	for (id = SM_NR_KMALLOC; id < SM_MAX_CACHES && inst->cache_by_id[id]; id++)
		;
	if (id == SM_MAX_CACHES) {
		sm_unlock(&inst->lock);
		__kfree_nosheaf(s);
		err = ENOSPC;
		goto out;
	}
	s->id = id;
	s->inst_slot = inst->slot;
	s->inst_gen = inst->gen;
	inst->cache_by_id[id] = s;
	list_add_tail(&s->list, &inst->caches);
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

/* Flush and free the sheaves of @s held by every thread (inst->lock held). */
static void steal_thread_sheaves(struct kmem_cache *s)
{
	struct sm_instance *inst = s->inst;
	struct list_head *pos;
	for (pos = inst->tcaches.next; pos != &inst->tcaches; pos = pos->next) {
		struct sm_tcache *tc = list_entry(pos, struct sm_tcache, link);
		struct slub_percpu_sheaves *pcs = &tc->pcs[s->id];
		if (pcs->main != &sm_empty_sheaf) {
			sheaf_flush(s, pcs->main);
			sheaf_free(pcs->main);
			pcs->main = &sm_empty_sheaf;
		}
		if (pcs->spare) {
			sheaf_flush(s, pcs->spare);
			sheaf_free(pcs->spare);
			pcs->spare = NULL;
		}
	}
}

size_t sm_cache_shrink(sm_cache_t *s)
{
	struct sm_instance *inst = s->inst;
	if (sm_in_allocator())
		return 0; /* from a signal handler: nothing can be done without waiting */
	struct sm_tcache *tc = tcache_get(inst);
	bool nested = sm_enter();
	sm_lock(&inst->lock);
	if (tc) {
		struct slub_percpu_sheaves *pcs = &tc->pcs[s->id];
		if (pcs->main != &sm_empty_sheaf)
			sheaf_flush(s, pcs->main);
		if (pcs->spare)
			sheaf_flush(s, pcs->spare);
	}
	for (unsigned i = 0; i < inst_nr_nodes(inst); i++)
		barn_drain(s, &s->node[i].barn);
	sm_unlock(&inst->lock);
	deferred_drain_all(inst);
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
		sm_report(inst, "kmem_cache_destroy(%s): kmalloc caches live as long as the instance",
			  s->name);
		return -EPERM;
	}
	bool nested = sm_enter();
	if (nested) {
		sm_leave(nested);
		return -EDEADLK; /* from a signal handler: see docs/signal-safety.md */
	}
	deferred_drain_all(inst);
	sm_lock(&inst->lock);
	steal_thread_sheaves(s);
	size_t live = 0;
	for (unsigned i = 0; i < inst_nr_nodes(inst); i++) {
		barn_drain(s, &s->node[i].barn);
		live += READ_ONCE(s->node[i].inuse);
	}
	if (live) {
		sm_unlock(&inst->lock);
		sm_leave(nested);
		sm_report(inst, "kmem_cache_destroy(%s): %zu objects still allocated; cache kept",
			  s->name, live);
		return -EBUSY;
	}
	cache_release_empty(s, UINT64_MAX);
	list_del(&s->list);
	inst->cache_by_id[s->id] = NULL;
	sm_unlock(&inst->lock);
	__kfree_nosheaf(s);
	sm_leave(nested);
	return 0;
}
