/*
 * tcache.h - the per-thread state of one instance: for every cache a main
 * and a spare sheaf (the kernel's per-CPU slub_percpu_sheaves).
 *
 * A thread finds its tcache for an instance in sm_thread.slots[], indexed by
 * the instance's slot; the slot is valid only while its generation matches
 * the instance's, so a tcache of a destroyed instance is never followed.
 * Only the owning thread touches its pcs[], with one exception stated in
 * kmem_cache_destroy (no thread may be using that cache).
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
#ifndef SM_TCACHE_H
#define SM_TCACHE_H

#include <stdbool.h>
#include <stdint.h>
#include "compiler.h"
#include "list.h"
#include "sheaf.h"
#include "slabmalloc.h"

struct sm_instance;

struct slub_percpu_sheaves {
	struct slab_sheaf *main;        /* never NULL: sm_empty_sheaf if none */
	struct slab_sheaf *spare;       /* NULL or a real sheaf */
};

struct sm_tcache {
	struct sm_instance *inst;
	const volatile uint8_t *busy;   /* the owner's sm_thread.busy (read by
	                                   the fork child only) */
	struct list_head link;          /* on inst->tcaches, under inst->lock */
	uint32_t first_page, npages;    /* the page run holding this tcache */
	int8_t node_id;
	struct slub_percpu_sheaves pcs[SM_MAX_CACHES];
};

struct sm_tls_slot {
	struct sm_tcache *tc;
	uint64_t gen;                   /* == inst->gen while tc is valid;
	                                   inst->gen | SM_GEN_KICK when a
	                                   nolock free deferred work that this
	                                   thread's next call must see */
};

#define SM_GEN_KICK (1ull << 63)

/* Everything the allocator keeps per thread: one TLS block, one base address. */
struct sm_thread_state {
	volatile uint8_t busy;          /* inside the allocator (see above) */
	uint8_t state;                  /* TS_* */
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
/* Create this thread's tcache for @inst; NULL if it cannot (thread exiting, no memory). */
struct sm_tcache *tcache_create(struct sm_instance *inst) __hidden;
/* Return every sheaf of @tc to the barns and free it.  Called by its thread. */
void tcache_destroy(struct sm_tcache *tc) __hidden;
/* Create the thread-exit key; called once, before any tcache exists. */
void tcache_init_once(void) __hidden;

#endif /* SM_TCACHE_H */
