/*
 * stats.c - statistics of an instance and of its caches, gathered on demand
 * from the counters the slow paths keep (the fast paths count nothing).
 * Each node's numbers are read under its own lock; the sum over threads'
 * sheaves is read without their owners' cooperation and so is approximate.
 */
#include <string.h>

#include "report.h"
#include "tcache.h"

/*
 * Objects held in threads' sheaves of @s (inst->lock held; racy by nature),
 * and into *@allocs the objects the threads popped from main sheaves
 * (tcache.h, allocs): those synced, and those of the main installed now.
 */
static size_t thread_sheaf_objects(struct kmem_cache *s, uint64_t *allocs)
{
	struct sm_instance *inst = s->inst;
	size_t n = 0;
	struct list_head *pos;
	for (pos = inst->tcaches.next; pos != &inst->tcaches; pos = pos->next) {
		struct tcache *tc = list_entry(pos, struct tcache, link);
		n += tcache_count(tc, s);
		*allocs += READ_ONCE(tc->allocs[s->id]);
		const struct pcs *c = tcache_pcs(tc, s->id);
		struct slab_sheaf *sh = view_sheaf(&c->main);
		if (sh)
			*allocs += main_pops(c, sh);
	}
	return n;
}

static void cache_stats_locked(struct kmem_cache *s, struct sm_cache_stats *st)
{
	struct sm_instance *inst = s->inst;
	memset(st, 0, sizeof(*st));
	memcpy(st->name, s->name, sizeof(st->name));
	st->object_size = s->debug ? s->object_size : s->size; /* a debug slot is larger */
	st->objects_per_slab = s->objects;
	st->pages_per_slab = s->slab_pages;
	size_t inuse = 0, sheaf = 0;
	for (unsigned i = 0; i < pa_nr_nodes(&inst->pa); i++) {
		struct kmem_cache_node *kcn = s->node[i];
		kcn_lock(kcn);
		st->slabs += kcn->nr_slabs;
		st->partial_slabs += kcn->nr_partial;
		st->empty_slabs += kcn->nr_empty;
		inuse += kcn->inuse;
		st->peak_objects += kcn->inuse_peak;
		sm_unlock(&kcn->list_lock);
		barn_lock(&kcn->barn);
		sheaf += (size_t)kcn->barn.nr_full * s->sheaf_capacity;
		st->barn_get += kcn->barn.gets;
		st->barn_put += kcn->barn.puts;
		st->barn_max_full = MAX(st->barn_max_full, barn_max(s->barn_max_full, kcn->barn.shift));
		sm_unlock(&kcn->barn.lock);
	}
	uint64_t allocs = READ_ONCE(s->stat[STAT_ALLOC_DIRECT]) + READ_ONCE(s->stat[STAT_ALLOC_EXITED]);
	sheaf += thread_sheaf_objects(s, &allocs);
	if (inst->pa.harden) /* freed, waiting in the quarantine: free, as in a sheaf */
		sheaf += quarantine_count(&inst->quarantine, s);
	uint64_t internal = READ_ONCE(s->stat[STAT_INTERNAL_ALLOC]) - READ_ONCE(s->stat[STAT_INTERNAL_FREE]);
	st->internal_objects = internal < inuse ? (size_t)internal : inuse;
	st->total_objects = st->slabs * s->objects;
	st->sheaf_objects = sheaf;
	st->active_objects = inuse > sheaf + st->internal_objects ? inuse - sheaf - st->internal_objects : 0;
	st->allocs = allocs;
	st->frees = allocs > st->active_objects ? allocs - st->active_objects : 0;
	st->refills = READ_ONCE(s->stat[STAT_REFILL]);
	st->flushes = READ_ONCE(s->stat[STAT_FLUSH]);
	st->slabs_allocated = READ_ONCE(s->stat[STAT_SLAB_ALLOC]);
	st->slabs_freed = READ_ONCE(s->stat[STAT_SLAB_FREE]);
	st->barn_grows = READ_ONCE(s->stat[STAT_BARN_GROW]);
	st->barn_shrinks = READ_ONCE(s->stat[STAT_BARN_SHRINK]);
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

bool stats_cache_at(struct sm_instance *inst, unsigned id, struct sm_cache_stats *st)
{
	bool nested = sm_enter();
	bool found = false;
	if (!nested) {
		sm_lock(&inst->lock);
		struct kmem_cache *s = id < SM_MAX_CACHES ? inst->cache_by_id[id] : NULL;
		if (s) {
			cache_stats_locked(s, st);
			found = true;
		}
		sm_unlock(&inst->lock);
	}
	sm_leave(nested);
	return found;
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
			st->slab_bytes += READ_ONCE(s->node[i]->nr_slabs) * s->slab_pages * SM_PAGE_SIZE;
		struct sm_cache_stats cs;
		cache_stats_locked(s, &cs);
		st->allocs += cs.allocs;
		st->frees += cs.frees;
		st->bytes_allocated += cs.allocs * cs.object_size;
		st->live_bytes += cs.active_objects * cs.object_size;
		st->internal_bytes += cs.internal_objects * cs.object_size;
	}
	st->reallocs = READ_ONCE(inst->direct_reallocs) + READ_ONCE(inst->exited_reallocs);
	for (pos = inst->tcaches.next; pos != &inst->tcaches; pos = pos->next)
		st->reallocs += READ_ONCE(list_entry(pos, struct tcache, link)->reallocs);
	st->large_allocs = READ_ONCE(inst->large_allocs);
	st->large_frees = READ_ONCE(inst->large_frees);
	uint64_t large_bytes_requested = READ_ONCE(inst->large_bytes_requested);
	for (pos = inst->tcaches.next; pos != &inst->tcaches; pos = pos->next) {
		const struct run_cache *rc = &list_entry(pos, struct tcache, link)->runs;
		st->large_allocs += READ_ONCE(rc->allocs);
		st->large_frees += READ_ONCE(rc->frees);
		large_bytes_requested += READ_ONCE(rc->bytes);
	}
	st->allocs += st->large_allocs;
	st->frees += st->large_frees;
	st->bytes_allocated += large_bytes_requested;
	size_t own_pages = READ_ONCE(inst->internal_bytes);
	st->huge_allocations = READ_ONCE(inst->pa.nr_huge);
	st->huge_resident = __atomic_load_n(&inst->pa.huge_resident, __ATOMIC_RELAXED);
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
	/* The tcaches' page runs are the allocator's own, not the program's. */
	used = used > own_pages ? used - own_pages : 0;
	st->internal_bytes += own_pages;
	st->large_bytes = (used > st->slab_bytes ? used - st->slab_bytes : 0) + huge;
	st->live_bytes += st->large_bytes;
	st->huge_bytes = huge;
	st->purged_bytes = READ_ONCE(inst->purged_bytes);
	st->frees_kept = __atomic_load_n(&inst->frees_kept, __ATOMIC_RELAXED);
	struct sm_deferred *d = &inst->deferred;
	st->deferred_frees = READ_ONCE(d->pushed);
	uint64_t drained = READ_ONCE(d->drained);
	st->deferred_pending = st->deferred_frees > drained ? st->deferred_frees - drained : 0;
	st->helper_starts = READ_ONCE(d->helper_starts);
	st->helper_wakeups = READ_ONCE(d->helper_wakeups);
	st->helper_running = READ_ONCE(d->helper) == HELPER_RUNNING;
	sm_leave(nested);
}
