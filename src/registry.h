/*
 * registry.h - the lifetime of instances and of the threads that use them:
 * the table of live instances (a registry slot and a generation each),
 * creating and destroying instances, the default instance, a thread's first
 * use of an instance (its tcache) and its exit (giving everything back).
 */
#ifndef SM_REGISTRY_H
#define SM_REGISTRY_H

#include <stdint.h>

#include "compiler.h"
#include "env.h"
#include "helper.h"
#include "instance.h"
#include "lock.h"
#include "tcache.h"

/* Lock order 1: guards the table below and thread exit's walk over it. */
extern sm_lock_t sm_registry_lock __hidden;

/* The instance in registry slot @slot if it has generation @gen, else NULL. Caller holds sm_registry_lock. */
struct sm_instance *registry_lookup_locked(unsigned slot, uint64_t gen) __hidden;
/* The instance in registry slot @slot or NULL (caller holds sm_registry_lock or is single-threaded). */
struct sm_instance *registry_slot(unsigned slot) __hidden;

/*
 * The live instance in which @p is the descriptor of a live cache, or NULL:
 * what tells storage that holds a cache set up and not destroyed from
 * storage that is fresh, destroyed or garbage, without reading @p (which
 * may hold anything).  Takes sm_registry_lock, and each instance's lock in
 * turn under it; the caller holds neither.
 */
struct sm_instance *registry_cache_owner(const void *p) __hidden;

/*
 * In the child of fork(), before anything else runs: the registry's locks
 * that a vanished thread held are reset (a default instance it was setting
 * up is set up again by the next call).
 */
void registry_fork_child(void) __hidden;

/*
 * Set up the default instance, once (later calls return it as it is): with
 * @o, or with NULL from the environment (env.c: SLABMALLOC_* options,
 * warnings about unknown ones, the error handler SLABMALLOC_ON_ERROR asks
 * for, the options line SLABMALLOC_VERBOSE asks for), whichever entry point
 * is first.  Never fails (without memory it starts with no node); NULL only
 * when re-entered from a signal handler that interrupted the set-up.
 */
sm_instance_t *sm_default_instance_init(const struct sm_options *o) __hidden;

/*
 * What the default instance's slab_debug needs from outside the
 * allocator, got from the library's constructor (preload/malloc.c), where
 * the allocator may be entered: the unwinder for owner tracking
 * (debug_prepare).  Allocations traced before it run have no stack.
 */
void sm_default_debug_prepare(void) __hidden;

/* The environment the default instance was set up from (zero if set up with options). */
extern struct sm_env sm_default_env __hidden;

/*
 * Before a report about a pointer of no instance, which goes to
 * sm_default_sink (printk.h): while the default instance is not set up,
 * fill the sink from SLABMALLOC_ON_ERROR as the set-up will (env.c).  Sets
 * nothing else up, so it may run re-entered or in a signal handler.
 */
void registry_default_sink_prepare(void) __hidden __cold;

/*
 * The calling thread's tcache of @inst, created on its first use (and the
 * thread's exit then gives it back), after seeing to a kick a deferred free
 * left in the thread's slot.  NULL when the thread is past its exit
 * destructor or there is no memory for a tcache: the caller then works
 * without sheaves.  Busy clear, no lock held.
 */
struct tcache *thread_attach(struct sm_instance *inst, enum helper_start start) __hidden;

/* As tcache_peek, attaching the thread if it has no tcache yet (NULL: cannot). */
static inline struct tcache *tcache_get(struct sm_instance *inst)
{
	struct tcache *tc = tcache_peek(inst);
	return tc ? tc : thread_attach(inst, HELPER_NO_START);
}

#endif /* SM_REGISTRY_H */
