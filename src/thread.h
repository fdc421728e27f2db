/*
 * thread.h - what the allocator keeps per thread: one initial-exec TLS
 * block with the busy marker and, for every registry slot, this thread's
 * tcache of the instance in that slot.  One block, one base address, so
 * the fast path reaches both with a single %fs-relative access.
 *
 * sm_thread.busy is the userspace counterpart of local_lock_is_locked(): it
 * is set for the whole of every allocator operation of the thread that can
 * leave shared state half-updated (a sheaf push or pop, a slow path with its
 * barn, list and node locks, a purge, a tcache set-up or tear-down).  A call
 * that finds it set was re-entered (from a signal handler, or from code the
 * allocator itself called, such as a constructor): it takes the nolock path,
 * which never touches the sheaves and only tries locks (docs/signal-safety.md).
 * Invariant: no allocator lock is ever held by a thread whose busy is clear,
 * except by the helper thread, which runs with every signal blocked.
 */
#ifndef SM_THREAD_H
#define SM_THREAD_H

#include <stdbool.h>
#include <stdint.h>

#include "compiler.h"
#include "slabmalloc.h"

struct tcache;

struct sm_tls_slot {
	struct tcache *tc;              /* valid only while gen matches */
	uint64_t gen;                   /* == inst->gen while tc is valid;
	                                   inst->gen | SM_GEN_KICK when a
	                                   nolock free deferred work that this
	                                   thread's next call must see */
};

#define SM_GEN_KICK (1ull << 63)

struct sm_thread_state {
	volatile uint8_t busy;          /* inside the allocator (see above) */
	uint8_t state;                  /* TS_* */
	uint32_t lock_id;               /* this thread in the locks it holds
	                                   (lock.h); 0 until its first lock */
	struct sm_tls_slot slots[SM_MAX_INSTANCES];
};

enum { TS_NORMAL = 0, TS_DEAD };        /* TS_DEAD: past the thread-exit destructor */

extern __thread struct sm_thread_state sm_thread __hidden;

/*
 * Bracket an allocator operation that is not a plain fast path: sets busy
 * and returns whether it was already set (true: this call re-entered the
 * allocator and must keep to the nolock path).  sm_leave() restores it.
 */
static __always_inline bool sm_enter(void)
{
	bool nested = sm_thread.busy;
	sm_thread.busy = 1;
	barrier();
	return nested;
}

static __always_inline void sm_leave(bool nested)
{
	barrier();
	sm_thread.busy = nested;
}

/* True when the calling thread is inside the allocator. */
static __always_inline bool sm_in_allocator(void)
{
	return sm_thread.busy;
}

#endif /* SM_THREAD_H */
