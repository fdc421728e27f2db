/*
 * purge.c - the delayed purge and sm_purge (purge.h), including the
 * flush of old runs from every thread's run cache.  Memory freed at time
 * t goes back between t + delay and t + 1.5 delay while the program keeps
 * calling the slow paths, or while the helper thread runs.
 */
#include "barn.h"
#include "purge.h"
#include "tcache.h"

size_t inst_purge(struct sm_instance *inst, uint64_t cutoff)
{
	deferred_drain(&inst->deferred);
	sm_lock(&inst->lock);
	unsigned nr_nodes = pa_nr_nodes(&inst->pa);
	struct list_head *pos;
	for (pos = inst->caches.next; pos != &inst->caches; pos = pos->next) {
		struct kmem_cache *s = list_entry(pos, struct kmem_cache, list);
		/* Idle barns first: their objects go back to slabs that may then
		   be empty and old enough to release right below. */
		for (unsigned i = 0; i < nr_nodes; i++)
			barn_age(s, &s->node[i]->barn);
		cache_release_empty(s, cutoff);
	}
	/* Runs kept in threads' run caches since before the cutoff go back to
	   their nodes with their own stamps: the node purge below takes them. */
	for (pos = inst->tcaches.next; pos != &inst->tcaches; pos = pos->next)
		runcache_flush(&list_entry(pos, struct tcache, link)->runs, cutoff);
	/* Then the free pages of partial slabs left alone since the last
	   pass (fragment's survivors).  Their system calls run with no lock
	   held (cache_purge_partial), so inst->lock is held only to step
	   along the list: purge_lock keeps each cache alive meanwhile
	   (kmem_cache_destroy waits for it), and a cache made meanwhile is
	   added at the tail, set up before it is listed. */
	size_t slab_pages = 0;
	for (pos = inst->caches.next; pos != &inst->caches; pos = pos->next) {
		struct kmem_cache *s = list_entry(pos, struct kmem_cache, list);
		if (!s->partial_purge)
			continue;
		sm_unlock(&inst->lock);
		slab_pages += cache_purge_partial(s, cutoff == UINT64_MAX);
		sm_lock(&inst->lock);
	}
	sm_unlock(&inst->lock);
	size_t bytes = (pa_purge(&inst->pa, cutoff) + slab_pages) << SM_PAGE_SHIFT;
	__atomic_fetch_add(&inst->purged_bytes, bytes, __ATOMIC_RELAXED);
	return bytes;
}

void inst_maybe_purge(struct sm_instance *inst, uint64_t now)
{
	if (likely(now < READ_ONCE(inst->next_purge)))
		return;
	if (!sm_trylock(&inst->purge_lock))
		return;
	uint64_t delay = (uint64_t)inst->opts.purge_delay_ms * 1000000u;
	/* Checked twice per delay: memory goes back between 1 and 1.5 delays
	   after it was freed, as long as the program keeps calling in. */
	WRITE_ONCE(inst->next_purge, now + delay / 2);
	inst_purge(inst, now >= delay ? now - delay : 0);
	sm_unlock(&inst->purge_lock);
}

bool inst_reclaim(struct sm_instance *inst)
{
	deferred_drain_all(&inst->deferred);
	/* Hardened mode's quarantine too: trim and out of memory empty it. */
	size_t back = quarantine_drain(&inst->quarantine, NULL);
	struct tcache *tc = tcache_mine(inst);
	sm_lock(&inst->lock);
	if (tc)
		tcache_release_all(tc);
	struct list_head *pos;
	for (pos = inst->caches.next; pos != &inst->caches; pos = pos->next) {
		struct kmem_cache *s = list_entry(pos, struct kmem_cache, list);
		for (unsigned i = 0; i < pa_nr_nodes(&inst->pa); i++) {
			back += READ_ONCE(s->node[i]->barn.nr_full);
			barn_drain(s, &s->node[i]->barn);
		}
		back += cache_release_empty(s, UINT64_MAX);
	}
	for (pos = inst->tcaches.next; pos != &inst->tcaches; pos = pos->next)
		back += runcache_flush(&list_entry(pos, struct tcache, link)->runs, UINT64_MAX);
	sm_unlock(&inst->lock);
	/* A thread's sheaves may have held objects too (not counted). */
	return back || tc;
}

size_t sm_purge(sm_instance_t *inst, bool force)
{
	if (sm_in_allocator())
		return 0; /* from a signal handler: a purge waits for locks */
	uint64_t now = inst_now(inst), delay = (uint64_t)inst->opts.purge_delay_ms * 1000000u;
	bool nested = sm_enter();
	if (force)
		inst_reclaim(inst); /* everything cached goes back first */
	sm_lock(&inst->purge_lock); /* waits for the timer's purge, if one runs */
	size_t bytes = inst_purge(inst, force ? UINT64_MAX : now >= delay ? now - delay : 0);
	sm_unlock(&inst->purge_lock);
	sm_leave(nested);
	return bytes;
}
