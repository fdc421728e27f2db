/*
 * purge.h - giving memory back to the OS: drained deferred frees, idle
 * barns, empty slabs older than the purge delay, then the free page runs of
 * every node (docs/architecture.md, "Purge").
 */
#ifndef SM_PURGE_H
#define SM_PURGE_H

#include <stddef.h>
#include <stdint.h>

#include "compiler.h"
#include "instance.h"

/*
 * A page run too big for a run cache (runcache.h) that the program frees
 * stays resident this many purge delays, not one: it is stamped that much
 * later.  A program that frees and allocates big buffers again does not
 * fault their pages in again (issue 11: wl_large); sm_purge(force) still
 * takes them at once.
 */
#define SM_RUN_KEEP_DELAYS 10u

/*
 * Purge what is older than @cutoff (ns): the deferred list, idle barns,
 * empty slabs, the runs threads' run caches kept since before @cutoff,
 * then free page runs.  Returns bytes purged.  Blocking
 * context (busy set, or the helper thread), inst->purge_lock held (one
 * purge at a time: cache_purge_partial's contract); takes inst->lock.
 */
size_t inst_purge(struct sm_instance *inst, uint64_t cutoff) __hidden;

/*
 * Run the delayed purge if it is due at @now (a cheap check; purge_lock is
 * only tried, so one thread purges and the others go on).  Blocking
 * context: busy set, or the helper thread.
 */
void inst_maybe_purge(struct sm_instance *inst, uint64_t now) __hidden;

/*
 * Give back what the instance keeps cached: the deferred list, this
 * thread's sheaves, every barn, every empty slab, every thread's run cache
 * (their pages become free runs any request can take).  Out of memory, so that an allocation can be
 * tried once more, and for sm_purge(force).  Returns whether anything may
 * have come back (full sheaves, empty slabs, cached runs, this thread's sheaves): if
 * not, a retry would only fail the same way.  Busy set (not re-entered),
 * no lock held; takes inst->lock.
 */
bool inst_reclaim(struct sm_instance *inst) __hidden;

#endif /* SM_PURGE_H */
