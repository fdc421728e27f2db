/*
 * lock.h - the one lock type of the core: a futex-based mutex that never
 * allocates, has a trylock, and records its holder.  It is not recursive
 * and not signal-safe by itself: what keeps a signal handler from waiting
 * for a lock its own thread holds is the rule that every lock is taken with
 * the thread's busy marker set, and that a re-entered call takes locks with
 * sm_trylock only (thread.h, docs/signal-safety.md).
 *
 * The lock word is 0 when free, else the holder's lock id (thread.h: a
 * non-zero per-thread number) with SM_LOCK_WAITERS set once a thread sleeps
 * on it.  Taking the lock stores the holder in the same atomic operation,
 * so there is no instant at which a held lock names no holder: the child
 * of fork() tells a lock its own thread holds (an interrupted section that
 * will finish) from one a vanished thread held (fork.c).
 */
#ifndef SM_LOCK_H
#define SM_LOCK_H

#include <stdbool.h>
#include <stdint.h>

#include "compiler.h"
#include "thread.h"

typedef struct {
	uint32_t v;                     /* 0, or holder id | SM_LOCK_WAITERS */
} sm_lock_t;

#define SM_LOCK_INIT { 0 }
#define SM_LOCK_WAITERS 0x80000000u

void __sm_lock_slow(sm_lock_t *l, uint32_t self) __hidden;
void __sm_unlock_wake(sm_lock_t *l) __hidden;
uint32_t __sm_lock_self_init(void) __hidden;

/* The calling thread's lock id (assigned on its first lock). */
static __always_inline uint32_t sm_lock_self(void)
{
	uint32_t id = sm_thread.lock_id;
	return likely(id) ? id : __sm_lock_self_init();
}

static inline void sm_lock_init(sm_lock_t *l) { l->v = 0; }

static inline bool sm_trylock(sm_lock_t *l)
{
	uint32_t expected = 0;
	return __atomic_compare_exchange_n(&l->v, &expected, sm_lock_self(), false,
					   __ATOMIC_ACQUIRE, __ATOMIC_RELAXED);
}

static inline void sm_lock(sm_lock_t *l)
{
	uint32_t self = sm_lock_self(), expected = 0;
	if (unlikely(!__atomic_compare_exchange_n(&l->v, &expected, self, false,
						  __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)))
		__sm_lock_slow(l, self);
}

static inline void sm_unlock(sm_lock_t *l)
{
	if (unlikely(__atomic_exchange_n(&l->v, 0, __ATOMIC_RELEASE) & SM_LOCK_WAITERS))
		__sm_unlock_wake(l);
}

static inline bool sm_lock_is_locked(const sm_lock_t *l)
{
	return __atomic_load_n(&l->v, __ATOMIC_RELAXED) != 0;
}

/* True when the calling thread holds @l. */
static inline bool sm_lock_held_by_self(const sm_lock_t *l)
{
	uint32_t v = __atomic_load_n(&l->v, __ATOMIC_RELAXED);
	return v && (v & ~SM_LOCK_WAITERS) == sm_thread.lock_id;
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
