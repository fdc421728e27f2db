/*
 * deferred.h - frees that cannot be done without blocking, and the helper
 * thread that finishes them (the userspace counterpart of the kernel's
 * deferred llist processed from irq_work).
 *
 * A nolock free whose lock is busy pushes the object on its instance's
 * deferred list: a lock-free stack linked through the object's own memory
 * (at the cache's fp_offset for a slab object, at offset 0 for a page run or
 * a huge mapping), so a push needs no memory and one compare-and-swap.  The
 * push then makes sure someone finishes the free ("kicks"):
 *   - the helper thread, when it is running: one futex wake;
 *   - otherwise the pushing thread itself, at its next call into the
 *     instance: its TLS slot generation gets SM_GEN_KICK, which sends even a
 *     fast path to the slow path (tcache.c), where the list is drained and
 *     the helper started if it is enabled.
 * Every slow path, every purge and thread exit also drain the list.
 *
 * The helper never runs user code (all signals blocked), never starts from a
 * signal handler or with a lock held, sleeps on a futex when idle and exits
 * after helper_idle_ms without work (so it never keeps a process alive that
 * would otherwise have ended); the next push starts it again.
 *
 * Lock order: drain_lock sits between sm_registry_lock and inst->lock (a
 * drain frees huge mappings under inst->lock and slab objects under
 * list_lock).  It is held for the whole of a drain, so fork() never splits
 * a chain taken off the list between parent and child.
 */
#ifndef SM_DEFERRED_H
#define SM_DEFERRED_H

#include <stdbool.h>
#include <stdint.h>
#include "compiler.h"
#include "lock.h"

struct sm_instance;

enum {
	HELPER_IDLE = 0,        /* not running; started on the next need */
	HELPER_STARTING,        /* a thread is creating it */
	HELPER_RUNNING,
	HELPER_STOPPING,        /* the instance is going away: never again */
};

struct sm_deferred {
	uintptr_t head;         /* the stack of objects to free */
	uint32_t wake;          /* futex word: bumped by every kick of the helper */
	uint32_t helper;        /* HELPER_* */
	uint32_t alive;         /* helper threads that may still touch the
	                           instance; futex word for helper_stop */
	uint8_t want_helper;    /* a push found no helper: start one when safe */
	sm_lock_t drain_lock;   /* held by whoever frees a chain taken off head */
	/* Counters, relaxed atomics. */
	uint64_t pushed, drained, helper_starts, helper_wakeups;
};

/*
 * Defer the free of @p (its link word at offset @link_off) on @inst.  Lock
 * free and async-signal-safe; callable with any lock held.
 */
void defer_free(struct sm_instance *inst, void *p, unsigned link_off) __hidden;

/*
 * Free everything on @inst's deferred list.  Blocking context, busy set.
 * deferred_drain leaves the work to a drain already under way (it only
 * tries drain_lock); deferred_drain_all waits for it, so that every object
 * deferred before the call is back in its slab on return.
 */
void deferred_drain(struct sm_instance *inst) __hidden;
void deferred_drain_all(struct sm_instance *inst) __hidden;

/* Take back a kick left in this thread's slot for @inst; true if there was one. */
bool deferred_take_kick(struct sm_instance *inst) __hidden;

/*
 * This thread's slot had SM_GEN_KICK: drain, and start the helper if one is
 * wanted.  Called with busy clear and no lock held.
 */
void deferred_kicked(struct sm_instance *inst) __hidden;

/* Start the helper if a push asked for it (busy clear, no lock held). */
void helper_maybe_start(struct sm_instance *inst) __hidden;

/*
 * The end of a call that does not go through the sheaf paths (page runs,
 * huge mappings): see to a kick left for this thread, and to a wanted
 * helper, as the sheaf slow paths do.  Busy clear, no lock held.
 */
void deferred_check(struct sm_instance *inst) __hidden;

/* Stop @inst's helper and wait until it has let go of the instance. */
void helper_stop(struct sm_instance *inst) __hidden;

/* fork(): the child has no helper; it starts again on the next need. */
void deferred_fork_child(struct sm_instance *inst) __hidden;

#endif /* SM_DEFERRED_H */
