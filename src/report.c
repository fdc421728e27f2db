/*
 * report.c - the slabinfo-style statistics table (SLABMALLOC_STATS=1 at
 * exit, or sm_stats_print()).  Writes to stderr through sm_printk: no stdio,
 * no malloc, so it can run at any time, even from a destructor at exit.
 */
#include <sys/resource.h>
#include <unistd.h>

#include "instance.h"
#include "printk.h"

struct totals {
	size_t caches, active, total, slabs;
};

static void print_cache(const struct sm_cache_stats *st, void *arg)
{
	struct totals *t = arg;
	if (!st->slabs && !st->slabs_allocated)
		return; /* never used */
	t->caches++;
	t->active += st->active_objects;
	t->total += st->total_objects;
	t->slabs += st->slabs;
	sm_printk("%-18s %11zu %10zu %8zu %6u %5u %8zu %8zu %10llu %10llu\n", st->name,
		  st->active_objects, st->total_objects, st->object_size, st->objects_per_slab,
		  st->pages_per_slab, st->slabs, st->sheaf_objects,
		  (unsigned long long)st->slabs_allocated, (unsigned long long)st->refills);
}

void sm_stats_print(sm_instance_t *inst)
{
	struct totals t = { 0, 0, 0, 0 };
	struct sm_stats st;
	struct rusage ru;
	sm_printk("slabmalloc: statistics of pid %d\n", (int)getpid());
	sm_printk("%-18s %11s %10s %8s %6s %5s %8s %8s %10s %10s\n", "# name", "active_objs",
		  "num_objs", "objsize", "objper", "pages", "slabs", "sheafobj", "slab_alloc", "refills");
	sm_cache_foreach(inst, print_cache, &t);
	sm_stats_get(inst, &st);
	sm_printk("slabmalloc: totals: caches_used %zu active_objs %zu num_objs %zu slabs %zu\n",
		  t.caches, t.active, t.total, t.slabs);
	sm_printk("slabmalloc: memory: slab %zu KiB, page runs and huge %zu KiB (%zu huge), "
		  "free resident %zu KiB, free purged %zu KiB, committed %zu KiB, purged total %zu KiB, "
		  "nodes %zu\n",
		  st.slab_bytes >> 10, st.large_bytes >> 10, st.huge_allocations, st.free_dirty_bytes >> 10,
		  st.free_clean_bytes >> 10, st.committed_bytes >> 10, st.purged_bytes >> 10, st.nodes);
	if (st.deferred_frees || st.helper_starts)
		sm_printk("slabmalloc: nolock: deferred frees %llu (pending %llu), helper thread "
			  "started %llu times, woken %llu times\n",
			  (unsigned long long)st.deferred_frees, (unsigned long long)st.deferred_pending,
			  (unsigned long long)st.helper_starts, (unsigned long long)st.helper_wakeups);
	if (getrusage(RUSAGE_SELF, &ru) == 0)
		sm_printk("slabmalloc: peak RSS %ld KiB\n", ru.ru_maxrss);
}
