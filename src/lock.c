/*
 * lock.c - the contended half of sm_lock: a short spin, then futex wait;
 * and a thread's lock id.  Uses only the futex and gettid system calls;
 * safe to call before anything is set up and inside signal handlers.
 */
#include <errno.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "lock.h"

uint32_t __sm_lock_self_init(void)
{
	/* The kernel's thread id: unique among live threads, below 2^22. */
	int saved = errno;
	uint32_t id = (uint32_t)syscall(SYS_gettid) & ~SM_LOCK_WAITERS;
	errno = saved;
	if (!id)
		id = 1;
	sm_thread.lock_id = id;
	return id;
}

void __sm_lock_slow(sm_lock_t *l, uint32_t self)
{
	/* Lock holders keep the lock for a few hundred instructions: spin first. */
	for (int i = 0; i < 100; i++) {
		cpu_relax();
		uint32_t expected = 0;
		if (__atomic_load_n(&l->v, __ATOMIC_RELAXED) == 0 &&
		    __atomic_compare_exchange_n(&l->v, &expected, self, false,
						__ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
			return;
	}
	/* Announce a waiter and sleep until the holder wakes us.  A lock taken
	   after sleeping keeps the waiters bit: others may still be asleep.
	   free() must preserve errno, and FUTEX_WAIT fails with EAGAIN. */
	int saved = errno;
	for (;;) {
		uint32_t c = __atomic_load_n(&l->v, __ATOMIC_RELAXED);
		if (c == 0) {
			if (__atomic_compare_exchange_n(&l->v, &c, self | SM_LOCK_WAITERS, false,
							__ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
				break;
			continue;
		}
		if (!(c & SM_LOCK_WAITERS) &&
		    !__atomic_compare_exchange_n(&l->v, &c, c | SM_LOCK_WAITERS, false,
						 __ATOMIC_RELAXED, __ATOMIC_RELAXED))
			continue;
		syscall(SYS_futex, &l->v, FUTEX_WAIT_PRIVATE, c | SM_LOCK_WAITERS, NULL, NULL, 0);
	}
	errno = saved;
}

void __sm_unlock_wake(sm_lock_t *l)
{
	int saved = errno;
	syscall(SYS_futex, &l->v, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
	errno = saved;
}
