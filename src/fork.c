/*
 * fork.c - keeping the allocator usable in the child of fork(): before the
 * fork every lock of every live instance is taken in lock order, so no lock
 * is held by a thread that will not exist in the child; afterwards the parent
 * releases them and the child re-initialises them, then hands back the
 * sheaves of the threads that did not survive the fork and forgets the
 * helper thread (the next deferred free starts a new one).
 */
#include "fork.h"
#include "helper.h"
#include "registry.h"

/*
 * Take every lock of every instance in lock order.  purge_lock is only ever
 * tried (a purge holds it while it waits for inst->lock), so it is not taken
 * here; the child re-initialises it.
 */
static __thread bool fork_nested;

void sm_fork_prepare(void)
{
	/* Busy from here to the end of fork: a signal handler in between must
	   not wait for the locks this thread now holds. */
	fork_nested = sm_enter();
	sm_lock(&sm_registry_lock);
	for (unsigned slot = 0; slot < SM_MAX_INSTANCES; slot++) {
		struct sm_instance *inst = registry_slot(slot);
		if (!inst)
			continue;
		sm_lock(&inst->deferred.drain_lock);
		sm_lock(&inst->lock);
		unsigned nr = inst->pa.nr_nodes; /* stable while inst->lock is held */
		struct list_head *pos;
		for (pos = inst->caches.next; pos != &inst->caches; pos = pos->next) {
			struct kmem_cache *s = list_entry(pos, struct kmem_cache, list);
			for (unsigned i = 0; i < nr; i++)
				sm_lock(&s->node[i].barn.lock);
			for (unsigned i = 0; i < nr; i++)
				sm_lock(&s->node[i].list_lock);
		}
		for (unsigned i = 0; i < nr; i++)
			sm_lock(&inst->pa.nodes[i]->lock);
	}
}

/*
 * Release (parent) or re-initialise (child) what sm_fork_prepare took.  Each
 * instance's inner locks go first and inst->lock last, so the caches and
 * nodes walked here cannot change underneath.
 */
static void fork_release(bool child)
{
	for (unsigned slot = 0; slot < SM_MAX_INSTANCES; slot++) {
		struct sm_instance *inst = registry_slot(slot);
		if (!inst)
			continue;
		unsigned nr = inst->pa.nr_nodes;
		for (unsigned i = 0; i < nr; i++)
			child ? sm_lock_init(&inst->pa.nodes[i]->lock) : sm_unlock(&inst->pa.nodes[i]->lock);
		struct list_head *pos;
		for (pos = inst->caches.next; pos != &inst->caches; pos = pos->next) {
			struct kmem_cache *s = list_entry(pos, struct kmem_cache, list);
			for (unsigned i = 0; i < nr; i++) {
				struct kmem_cache_node *kcn = &s->node[i];
				child ? sm_lock_init(&kcn->list_lock) : sm_unlock(&kcn->list_lock);
				child ? sm_lock_init(&kcn->barn.lock) : sm_unlock(&kcn->barn.lock);
			}
		}
		if (child) {
			sm_lock_init(&inst->purge_lock);
			sm_lock_init(&inst->lock);
			helper_fork_child(inst);
		} else {
			sm_unlock(&inst->lock);
			sm_unlock(&inst->deferred.drain_lock);
		}
	}
	child ? sm_lock_init(&sm_registry_lock) : sm_unlock(&sm_registry_lock);
}

void sm_fork_parent(void)
{
	fork_release(false);
	sm_leave(fork_nested);
}

void sm_fork_child(void)
{
	fork_release(true);
	/* Only the forking thread survives: give back the other threads' sheaves. */
	for (unsigned slot = 0; slot < SM_MAX_INSTANCES; slot++) {
		struct sm_instance *inst = registry_slot(slot);
		if (!inst)
			continue;
		struct sm_tls_slot *sl = &sm_thread.slots[slot];
		struct tcache *mine = (sl->gen & ~SM_GEN_KICK) == inst->gen ? sl->tc : NULL;
		struct list_head *pos, *tmp;
		list_for_each_safe(pos, tmp, &inst->tcaches) {
			struct tcache *tc = list_entry(pos, struct tcache, link);
			/* A thread caught inside a sheaf operation may have left a sheaf
			   both in its pcs and in a barn: leak its sheaves instead.  Its
			   busy byte is in its TLS, which the child still maps. */
			if (tc != mine && !*tc->busy)
				tcache_destroy(tc);
		}
		/* The deferred list is lock-free and was not being drained (the
		   drain lock was held across the fork): its objects are intact. */
	}
	sm_leave(fork_nested);
}
