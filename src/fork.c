/*
 * fork.c - the child of fork() (fork.h).
 *
 * Nothing is locked before fork(): a lock taken there could be held by a
 * thread blocked on something fork itself needs (stdio's list lock, a user
 * lock held around sm_cache_foreach), and a handler that forks from inside
 * fork would wait for locks its own thread holds.  Instead every lock names
 * its holder (lock.h), and the child, before anything else runs in it,
 * looks at each one:
 *   - free, or held by this thread (fork was called from a signal handler
 *     or callback inside the allocator): left alone; the interrupted
 *     section finishes and releases it;
 *   - held by a thread that did not survive: reset, and what it guards is
 *     repaired when it can be rebuilt from data that is always consistent,
 *     else abandoned:
 *       registry lock      the table is word stores: kept
 *       default_init_lock  a half-built default instance is built again
 *       drain_lock         the drainer's remaining chain goes back on the list
 *       inst->lock         caches list rebuilt from cache_by_id, huge list
 *                          from the node map, tcaches list reduced to ours
 *       barn.lock          the barn is emptied (its sheaves leak)
 *       list_lock          the node's slab lists are abandoned (a new epoch:
 *                          the old slabs' objects stay usable, their frees leak)
 *       node->lock         the node is abandoned (stays mapped, hands out and
 *                          takes back nothing)
 *       purge_lock         reset (its purge is gone)
 *   - runs a vanished purger had taken off a node's bins go back dirty,
 *     and the partial slabs it had taken off their lists go back on them
 *     (kmem_cache_fork_child);
 *   - the double-free checks under way (inst->df_looks, which make sheaf
 *     moves wait) are this thread's only.
 * Then the other threads' tcaches are given back (those whose owner was
 * caught inside the allocator are leaked), and the helper thread, which did
 * not come along, is forgotten.  Objects of the parent that the child still
 * references stay valid in every case.
 */
#include "barn.h"
#include "fork.h"
#include "helper.h"
#include "large.h"
#include "registry.h"

/* Reset @l if a thread other than the caller held it; true if so. */
static bool lock_lost(sm_lock_t *l)
{
	if (!sm_lock_is_locked(l) || sm_lock_held_by_self(l))
		return false;
	sm_lock_init(l);
	return true;
}

static void instance_fork_child(struct sm_instance *inst, bool nested)
{
	struct tcache *mine = tcache_mine(inst);

	deferred_fork_child(&inst->deferred);
	tcache_moves_fork_child(inst);
	bool lists_lost = lock_lost(&inst->lock);
	if (lists_lost) {
		INIT_LIST_HEAD(&inst->caches);
		for (unsigned id = 0; id < SM_MAX_CACHES; id++)
			if (inst->cache_by_id[id])
				list_add_tail(&inst->cache_by_id[id]->list, &inst->caches);
		INIT_LIST_HEAD(&inst->tcaches);
		if (mine)
			list_add(&mine->link, &inst->tcaches);
		inst->tcaches_gen++;
	}
	large_fork_child(&inst->pa, lists_lost);
	/* A purge of this thread's own (a fork from a signal handler that
	   interrupted it) goes on in the child: only another's is undone. */
	bool purge_lost = lock_lost(&inst->purge_lock);
	quarantine_fork_child(&inst->quarantine, nested);
	unsigned nr = inst->pa.nr_nodes;
	for (unsigned i = 0; i < nr; i++)
		node_fork_child(inst->pa.nodes[i]);
	struct list_head *pos, *tmp;
	for (pos = inst->caches.next; pos != &inst->caches; pos = pos->next) {
		struct kmem_cache *s = list_entry(pos, struct kmem_cache, list);
		kmem_cache_fork_child(s, nr, purge_lost);
		for (unsigned i = 0; i < nr; i++)
			barn_fork_child(&s->node[i]->barn);
	}
	helper_fork_child(inst);

	/* Only this thread survived: give back the other threads' sheaves.  Not
	   when this thread is inside the allocator itself (it may hold the
	   locks that takes): they are left, as are the sheaves of a thread
	   caught inside a sheaf operation, which may have left a sheaf both in
	   its tcache and in a barn.  Its busy byte is in its TLS, which the
	   child still maps. */
	if (nested)
		return;
	bool was_busy = sm_enter();
	list_for_each_safe(pos, tmp, &inst->tcaches) {
		struct tcache *tc = list_entry(pos, struct tcache, link);
		if (tc == mine)
			continue;
		if (*tc->busy) {
			list_del(&tc->link); /* leaked */
			inst->tcaches_gen++;
		} else {
			tcache_destroy(tc);
		}
	}
	/* Hardened mode: the quarantine goes back to the slabs, which the
	   child owns alone now. */
	quarantine_drain(&inst->quarantine, NULL);
	sm_leave(was_busy);
}

void sm_fork_child(void)
{
	/* Busy already set: fork() was called from inside the allocator (a
	   signal handler or a callback), whose interrupted section still runs. */
	bool nested = sm_in_allocator();
	registry_fork_child();
	for (unsigned slot = 0; slot < SM_MAX_INSTANCES; slot++) {
		struct sm_instance *inst = registry_slot(slot);
		if (inst)
			instance_fork_child(inst, nested);
	}
	/* This thread has a new kernel thread id: new locks carry it (locks the
	   interrupted section holds keep the old one until it releases them). */
	if (!nested)
		sm_thread.lock_id = 0;
}
