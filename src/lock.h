/*
 * lock.h - the one lock type of the core: a futex-based mutex that never
 * allocates and has a trylock.  It is not recursive and not signal-safe by
 * itself: what keeps a signal handler from waiting for a lock its own thread
 * holds is the rule that every lock is taken with the thread's busy marker
 * set, and that a re-entered call takes locks with sm_trylock only
 * (tcache.h, docs/signal-safety.md).  Three states: 0 free, 1 held, 2 held
 * with waiters.
 */
#ifndef SM_LOCK_H
#define SM_LOCK_H

#include <stdbool.h>
#include <stdint.h>
#include "compiler.h"

typedef struct {
	uint32_t v;
} sm_lock_t;

#define SM_LOCK_INIT { 0 }

void __sm_lock_slow(sm_lock_t *l) __hidden;
void __sm_unlock_wake(sm_lock_t *l) __hidden;

static inline void sm_lock_init(sm_lock_t *l) { l->v = 0; }

static inline bool sm_trylock(sm_lock_t *l)
{
	uint32_t expected = 0;
	return __atomic_compare_exchange_n(&l->v, &expected, 1, false,
					   __ATOMIC_ACQUIRE, __ATOMIC_RELAXED);
}

static inline void sm_lock(sm_lock_t *l)
{
	if (unlikely(!sm_trylock(l)))
		__sm_lock_slow(l);
}

static inline void sm_unlock(sm_lock_t *l)
{
	if (unlikely(__atomic_exchange_n(&l->v, 0, __ATOMIC_RELEASE) == 2))
		__sm_unlock_wake(l);
}

static inline bool sm_lock_is_locked(const sm_lock_t *l)
{
	return __atomic_load_n(&l->v, __ATOMIC_RELAXED) != 0;
}

/* Take @l, or only try to when @trylock is set; true if held on return. */
static inline bool sm_lock_ctx(sm_lock_t *l, bool trylock)
{
	if (trylock)
		return sm_trylock(l);
	sm_lock(l);
	return true;
}

#endif /* SM_LOCK_H */
