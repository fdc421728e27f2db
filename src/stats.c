/*
 * stats.c - statistics of an instance and of its caches, gathered on demand
 * from the counters the slow paths keep (the fast paths count nothing).
 * Each node's numbers are read under its own lock; the sum over threads'
 * sheaves is read without their owners' cooperation and so is approximate.
 */
#include <string.h>

#include "tcache.h"

/* Objects held in threads' sheaves of @s (inst->lock held; racy by nature). */
static size_t thread_sheaf_objects(struct kmem_cache *s)
{
	struct sm_instance *inst = s->inst;
	size_t n = 0;
	struct list_head *pos;
	for (pos = inst->tcaches.next; pos != &inst->tcaches; pos = pos->next) {
		struct tcache *tc = list_entry(pos, struct tcache, link);
		n += tcache_count(tc, s);
	}
	return n;
}

static void cache_stats_locked(struct kmem_cache *s, struct sm_cache_stats *st)
{
	struct sm_instance *inst = s->inst;
	memset(st, 0, sizeof(*st));
	memcpy(st->name, s->name, sizeof(st->name));
	st->object_size = s->size;
	st->objects_per_slab = s->objects;
	st->pages_per_slab = s->slab_pages;
	size_t inuse = 0, sheaf = 0;
	for (unsigned i = 0; i < pa_nr_nodes(&inst->pa); i++) {
		struct kmem_cache_node *kcn = &s->node[i];
		sm_lock(&kcn->list_lock);
		st->slabs += kcn->nr_slabs;
		st->partial_slabs += kcn->nr_partial;
		st->empty_slabs += kcn->nr_empty;
		inuse += kcn->inuse;
		sm_unlock(&kcn->list_lock);
		sm_lock(&kcn->barn.lock);
		sheaf += (size_t)kcn->barn.nr_full * s->sheaf_capacity;
		sm_unlock(&kcn->barn.lock);
	}
	sheaf += thread_sheaf_objects(s);
	st->total_objects = st->slabs * s->objects;
	st->sheaf_objects = sheaf;
	st->active_objects = inuse > sheaf ? inuse - sheaf : 0;
	st->barn_get = READ_ONCE(s->stat[STAT_BARN_GET]);
	st->barn_put = READ_ONCE(s->stat[STAT_BARN_PUT]);
	st->refills = READ_ONCE(s->stat[STAT_REFILL]);
	st->flushes = READ_ONCE(s->stat[STAT_FLUSH]);
	st->slabs_allocated = READ_ONCE(s->stat[STAT_SLAB_ALLOC]);
	st->slabs_freed = READ_ONCE(s->stat[STAT_SLAB_FREE]);
}

/*
 * Statistics wait for locks: re-entered (from a signal handler) they report
 * nothing rather than risk waiting for the thread they interrupted.
 */
void sm_cache_stats_get(sm_cache_t *s, struct sm_cache_stats *st)
{
	bool nested = sm_enter();
	if (nested) {
		memset(st, 0, sizeof(*st));
		sm_leave(nested);
		return;
	}
	sm_lock(&s->inst->lock);
	cache_stats_locked(s, st);
	sm_unlock(&s->inst->lock);
	sm_leave(nested);
}

void sm_cache_foreach(sm_instance_t *inst, void (*fn)(const struct sm_cache_stats *, void *), void *arg)
{
	struct sm_cache_stats st;
	bool nested = sm_enter();
	if (nested) {
		sm_leave(nested);
		return;
	}
	sm_lock(&inst->lock);
	struct list_head *pos;
	for (pos = inst->caches.next; pos != &inst->caches; pos = pos->next) {
		cache_stats_locked(list_entry(pos, struct kmem_cache, list), &st);
		/* User code, run with inst->lock held and busy set: what it
		   allocates comes through the nolock path. */
		fn(&st, arg);
	}
	sm_unlock(&inst->lock);
	sm_leave(nested);
}

void sm_stats_get(sm_instance_t *inst, struct sm_stats *st)
{
	memset(st, 0, sizeof(*st));
	bool nested = sm_enter();
	if (nested) {
		sm_leave(nested);
		return;
	}
	sm_lock(&inst->lock);
	unsigned nr = pa_nr_nodes(&inst->pa);
	st->nodes = nr;
	struct list_head *pos;
	for (pos = inst->caches.next; pos != &inst->caches; pos = pos->next) {
		struct kmem_cache *s = list_entry(pos, struct kmem_cache, list);
		st->caches++;
		for (unsigned i = 0; i < nr; i++)
			st->slab_bytes += READ_ONCE(s->node[i].nr_slabs) * s->slab_pages * SM_PAGE_SIZE;
	}
	st->huge_allocations = READ_ONCE(inst->pa.nr_huge);
	size_t huge = READ_ONCE(inst->pa.huge_bytes);
	/* Runs in threads' run caches are freed, not free: counted as free
	   dirty memory, not as large allocations (racy, like the sheaves). */
	size_t cached = 0;
	for (pos = inst->tcaches.next; pos != &inst->tcaches; pos = pos->next)
		cached += runcache_pages(&list_entry(pos, struct tcache, link)->runs) << SM_PAGE_SHIFT;
	sm_unlock(&inst->lock);
	size_t used = 0;
	for (unsigned i = 0; i < nr; i++) {
		struct sm_node *n = pa_node(&inst->pa, i);
		sm_lock(&n->lock);
		st->reserved_bytes += n->reserved;
		st->committed_bytes += (size_t)n->committed << SM_PAGE_SHIFT;
		used += n->used_pages << SM_PAGE_SHIFT;
		st->free_dirty_bytes += n->free_dirty_pages << SM_PAGE_SHIFT;
		st->free_clean_bytes += n->free_clean_pages << SM_PAGE_SHIFT;
		sm_unlock(&n->lock);
	}
	used = used > cached ? used - cached : 0;
	st->free_dirty_bytes += cached;
	st->large_bytes = (used > st->slab_bytes ? used - st->slab_bytes : 0) + huge;
	st->huge_bytes = huge;
	st->purged_bytes = READ_ONCE(inst->purged_bytes);
	struct sm_deferred *d = &inst->deferred;
	st->deferred_frees = READ_ONCE(d->pushed);
	uint64_t drained = READ_ONCE(d->drained);
	st->deferred_pending = st->deferred_frees > drained ? st->deferred_frees - drained : 0;
	st->helper_starts = READ_ONCE(d->helper_starts);
	st->helper_wakeups = READ_ONCE(d->helper_wakeups);
	st->helper_running = READ_ONCE(d->helper) == HELPER_RUNNING;
	sm_leave(nested);
}
