/*
 * lock.c - the contended half of sm_lock: a short spin, then futex wait.
 * Uses only the futex system call; safe to call before anything is set up.
 */
#include <errno.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "lock.h"

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#else
	barrier();
#endif
}

void __sm_lock_slow(sm_lock_t *l)
{
	/* Lock holders keep the lock for a few hundred instructions: spin first. */
	for (int i = 0; i < 100; i++) {
		cpu_relax();
		if (__atomic_load_n(&l->v, __ATOMIC_RELAXED) == 0 && sm_trylock(l))
			return;
	}
	/* Announce a waiter (state 2) and sleep until the holder wakes us.
	   free() must preserve errno, and FUTEX_WAIT fails with EAGAIN. */
	int saved = errno;
	while (__atomic_exchange_n(&l->v, 2, __ATOMIC_ACQUIRE) != 0)
		syscall(SYS_futex, &l->v, FUTEX_WAIT_PRIVATE, 2, NULL, NULL, 0);
	errno = saved;
}

void __sm_unlock_wake(sm_lock_t *l)
{
	int saved = errno;
	syscall(SYS_futex, &l->v, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
	errno = saved;
}
