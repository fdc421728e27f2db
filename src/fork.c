/*
 * fork.c - keeping the allocator usable in the child of fork(): before the
 * fork every lock of every live instance is taken in lock order, so no lock
 * is held by a thread that will not exist in the child; afterwards the parent
 * releases them and the child re-initialises them, then hands back the
 * sheaves of the threads that did not survive the fork.
 */
#include "instance.h"
#include "sheaf.h"
#include "tcache.h"

static void for_each_instance_lock(void (*fn)(sm_lock_t *))
{
	for (unsigned slot = 0; slot < SM_MAX_INSTANCES; slot++) {
		struct sm_instance *inst = registry_slot(slot);
		if (!inst)
			continue;
		fn(&inst->lock);
		fn(&inst->purge_lock);
		unsigned nr = inst->nr_nodes;
		struct list_head *pos;
		for (pos = inst->caches.next; pos != &inst->caches; pos = pos->next) {
			struct kmem_cache *s = list_entry(pos, struct kmem_cache, list);
			for (unsigned i = 0; i < nr; i++)
				fn(&s->node[i].barn.lock);
			for (unsigned i = 0; i < nr; i++)
				fn(&s->node[i].list_lock);
		}
		for (unsigned i = 0; i < nr; i++)
			fn(&inst->nodes[i]->lock);
	}
}

static void take(sm_lock_t *l) { sm_lock(l); }
static void drop(sm_lock_t *l) { sm_unlock(l); }
static void reset(sm_lock_t *l) { sm_lock_init(l); }

void sm_fork_prepare(void)
{
	sm_lock(&sm_registry_lock);
	for_each_instance_lock(take);
}

void sm_fork_parent(void)
{
	for_each_instance_lock(drop);
	sm_unlock(&sm_registry_lock);
}

void sm_fork_child(void)
{
	for_each_instance_lock(reset);
	sm_lock_init(&sm_registry_lock);
	/* Only the forking thread survives: give back the other threads' sheaves. */
	for (unsigned slot = 0; slot < SM_MAX_INSTANCES; slot++) {
		struct sm_instance *inst = registry_slot(slot);
		if (!inst)
			continue;
		struct sm_tcache *mine = sm_tls[slot].gen == inst->gen ? sm_tls[slot].tc : NULL;
		struct list_head *pos, *tmp;
		list_for_each_safe(pos, tmp, &inst->tcaches) {
			struct sm_tcache *tc = list_entry(pos, struct sm_tcache, link);
			/* A thread caught inside a sheaf operation may have left a sheaf
			   both in its pcs and in a barn: leak its sheaves instead. */
			if (tc != mine && !tc->busy)
				tcache_destroy(tc);
		}
		/* The deferred-free stack is lock-free: its objects stay valid in the child. */
	}
}
