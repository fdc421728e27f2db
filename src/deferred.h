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
 *     fast path to the slow path, where the list is drained and the helper
 *     started if it is enabled (helper.h).
 * Every slow path, every purge and thread exit also drain the list.
 *
 * The list knows its instance only by what it was given at set-up (registry
 * slot and generation for the kick, the page allocator for page runs and
 * huge mappings), so it sits below the instance.  The helper thread's
 * state lives here too, because a push reads it; the thread is in helper.c.
 *
 * Lock order: drain_lock sits between sm_registry_lock and inst->lock (a
 * drain frees huge mappings under inst->lock and slab objects under
 * list_lock).  It is held for the whole of a drain; the chain a drain took
 * stays reachable through d->draining until each object is freed, so a
 * fork child whose drainer vanished loses at most the one object that was
 * being freed.
 */
#ifndef SM_DEFERRED_H
#define SM_DEFERRED_H

#include <stdbool.h>
#include <stdint.h>

#include "compiler.h"
#include "lock.h"
#include "page_alloc.h"

struct sm_instance;

enum {
	HELPER_IDLE = 0,        /* not running; started on the next need */
	HELPER_STARTING,        /* a thread is creating it */
	HELPER_RUNNING,
	HELPER_STOPPING,        /* the instance is going away: never again */
};

struct sm_deferred {
	/* Set up once (deferred_init), read-only afterwards. */
	struct sm_instance *inst;       /* owner: opaque here (test hooks) */
	struct page_alloc *pa;          /* frees page runs and huge mappings */
	unsigned slot;                  /* the owner's registry slot and */
	uint64_t gen;                   /* generation, for the kick */
	bool helper_enabled;            /* options.helper_thread */

	uintptr_t head;         /* the stack of objects to free */
	uintptr_t draining;     /* what a drain took off head and has not freed
	                           yet (drain_lock held): a fork child puts it
	                           back if the drainer vanished */
	uintptr_t current;      /* the object the drain is freeing right now */
	uint32_t wake;          /* futex word: bumped by every kick of the helper */
	uint32_t helper;        /* HELPER_* */
	uint32_t alive;         /* helper threads that may still touch the
	                           instance; futex word for helper_stop */
	uint8_t want_helper;    /* a push found no helper: start one when safe */
	sm_lock_t drain_lock;   /* held by whoever frees a chain taken off head */
	/* Counters, relaxed atomics. */
	uint64_t pushed, drained, helper_starts, helper_wakeups;
};

/* Set up @d for the instance @inst in registry slot @slot with generation @gen. */
void deferred_init(struct sm_deferred *d, struct sm_instance *inst, struct page_alloc *pa,
		   unsigned slot, uint64_t gen, bool helper_enabled) __hidden;

struct kmem_cache;

/*
 * Defer the free of @p: an object of @s, or with @s NULL a page run or huge
 * mapping.  The link goes into @p's free word (tagged, so the object still
 * reads as free: kmem_cache.h), or its first word.  Lock free and
 * async-signal-safe; callable with any lock held.
 */
void defer_free(struct sm_deferred *d, void *p, struct kmem_cache *s) __hidden;

/* Whether @p is on @d.  1 yes, 0 no, -1 drain_lock was busy (@trylock). */
int deferred_holds(struct sm_deferred *d, const void *p, bool trylock) __hidden;

/* Send this thread's next call into @d's instance to the slow path. */
void deferred_kick_this_thread(struct sm_deferred *d) __hidden;

/* Take back a kick left in this thread's slot for @d; true if there was one. */
bool deferred_take_kick(struct sm_deferred *d) __hidden;

/*
 * Free everything on @d.  Blocking context, busy set.  deferred_drain
 * leaves the work to a drain already under way (it only tries drain_lock);
 * deferred_drain_all waits for it, so that every object deferred before the
 * call is back in its slab on return.
 */
void deferred_drain(struct sm_deferred *d) __hidden;
void deferred_drain_all(struct sm_deferred *d) __hidden;

/*
 * In the child of fork(), before anything else runs: if a vanished thread
 * was draining, release drain_lock, put what it had not freed yet back on
 * the list, and make the counts say that this is all that is pending.
 */
void deferred_fork_child(struct sm_deferred *d) __hidden;

#endif /* SM_DEFERRED_H */
