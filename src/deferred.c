/*
 * deferred.c - the deferred-free list and the helper thread (deferred.h has
 * the design).  The push side is async-signal-safe: atomics, a futex wake
 * and a store to this thread's TLS.  Everything else runs in a blocking
 * context: a slow path with busy set, thread exit, or the helper itself.
 */
#define _GNU_SOURCE /* sigisemptyset */
#include <signal.h>

#include "deferred.h"
#include "fastpath.h"
#include "hooks.h"
#include "os.h"

/* ---- kicks: this thread's slot for an instance (tcache.h) ---- */

/* Send this thread's next call into @inst to the slow path. */
static void kick_this_thread(struct sm_instance *inst)
{
	struct sm_tls_slot *sl = &sm_thread.slots[inst->slot];
	/* A thread without a tcache gets a slot that only says so. */
	if (sl->gen == inst->gen || (!sl->gen && sm_thread.state == TS_NORMAL))
		sl->gen = inst->gen | SM_GEN_KICK;
}

bool deferred_take_kick(struct sm_instance *inst)
{
	struct sm_tls_slot *sl = &sm_thread.slots[inst->slot];
	if (likely(sl->gen != (inst->gen | SM_GEN_KICK)))
		return false;
	sl->gen = sl->tc ? inst->gen : 0;
	return true;
}

/* ---- push (any context) ---- */

void defer_free(struct sm_instance *inst, void *p, unsigned link_off)
{
	struct sm_deferred *d = &inst->deferred;
	uintptr_t *link = (uintptr_t *)((char *)p + link_off);
	uintptr_t head = __atomic_load_n(&d->head, __ATOMIC_RELAXED);
	do {
		*link = head;
	} while (!__atomic_compare_exchange_n(&d->head, &head, (uintptr_t)p, true,
					      __ATOMIC_SEQ_CST, __ATOMIC_RELAXED));
	__atomic_fetch_add(&d->pushed, 1, __ATOMIC_RELAXED);

	/*
	 * Pairs with the helper's idle exit: it publishes HELPER_IDLE and then
	 * looks at head; we published head and now look at its state (both
	 * sequentially consistent), so at least one of us sees the other.
	 */
	uint32_t state = __atomic_load_n(&d->helper, __ATOMIC_SEQ_CST);
	if (state == HELPER_RUNNING || state == HELPER_STARTING) {
		__atomic_fetch_add(&d->wake, 1, __ATOMIC_RELEASE);
		os_futex_wake(&d->wake, 1);
		return;
	}
	/* No helper: this thread's next call into @inst finishes the free. */
	if (inst->opts.helper_thread)
		WRITE_ONCE(d->want_helper, 1);
	kick_this_thread(inst);
}

/* ---- drain (blocking context) ---- */

/* Free @p for good: the object is back in its slab or run when this returns. */
static void deferred_free_one(void *p)
{
	struct kmem_cache *s = obj_cache(p);
	if (s)
		slab_put_objects(s, &p, 1, false);
	else
		__kfree_other(p, false);
}

static void drain(struct sm_instance *inst, bool wait)
{
	struct sm_deferred *d = &inst->deferred;
	if (!wait && !READ_ONCE(d->head))
		return;
	/* Someone else is draining: what they took they finish; what was
	   pushed since is theirs or the next drainer's too. */
	if (!sm_lock_ctx(&d->drain_lock, !wait))
		return;
	/* Taking the whole stack at once makes the pops ABA-free. */
	uintptr_t head = __atomic_exchange_n(&d->head, 0, __ATOMIC_ACQUIRE);
	uint64_t n = 0;
	while (head) {
		void *p = (void *)head;
		struct kmem_cache *s = obj_cache(p);
		head = *(uintptr_t *)((char *)p + (s ? s->fp_offset : 0));
		SM_HOOK(inst, SM_HOOK_DRAIN);
		deferred_free_one(p);
		n++;
	}
	__atomic_fetch_add(&d->drained, n, __ATOMIC_RELAXED);
	sm_unlock(&d->drain_lock);
}

void deferred_drain(struct sm_instance *inst)
{
	drain(inst, false);
}

void deferred_drain_all(struct sm_instance *inst)
{
	drain(inst, true);
}

/* ---- the helper thread ---- */

/* The helper's last touch of @inst: after this the instance may be unmapped. */
static void *helper_exit(struct sm_deferred *d)
{
	__atomic_fetch_sub(&d->alive, 1, __ATOMIC_RELEASE);
	os_futex_wake(&d->alive, 1); /* harmless (EFAULT) if already unmapped */
	return NULL;
}

static void *helper_main(void *arg)
{
	struct sm_instance *inst = arg;
	struct sm_deferred *d = &inst->deferred;
	uint64_t idle_ns = (uint64_t)inst->opts.helper_idle_ms * 1000000u;
	uint64_t tick_ns = MAX((uint64_t)inst->opts.purge_delay_ms * 1000000u / 2, (uint64_t)1000000u);
	uint64_t idle_since = os_monotonic_ns();

	for (;;) {
		uint32_t seq = __atomic_load_n(&d->wake, __ATOMIC_ACQUIRE);
		if (__atomic_load_n(&d->helper, __ATOMIC_ACQUIRE) == HELPER_STOPPING)
			return helper_exit(d);
		bool worked = false;
		if (READ_ONCE(d->head)) {
			deferred_drain(inst);
			worked = true;
		}
		/* While it runs, the helper also does the delayed purge, so an
		   idle process gives its free memory back. */
		size_t before = READ_ONCE(inst->purged_bytes);
		inst_maybe_purge(inst, inst_now(inst));
		if (READ_ONCE(inst->purged_bytes) != before)
			worked = true;

		uint64_t now = os_monotonic_ns();
		if (worked)
			idle_since = now;
		if (now - idle_since >= idle_ns) {
			uint32_t running = HELPER_RUNNING;
			if (!__atomic_compare_exchange_n(&d->helper, &running, HELPER_IDLE, false,
							 __ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
				continue; /* stopping: handled at the top */
			/*
			 * Pairs with defer_free: we published IDLE and now look at
			 * head; a pusher published head and then looks at our state.
			 * One of us sees the other.
			 */
			if (!__atomic_load_n(&d->head, __ATOMIC_SEQ_CST))
				return helper_exit(d);
			uint32_t idle = HELPER_IDLE;
			if (!__atomic_compare_exchange_n(&d->helper, &idle, HELPER_RUNNING, false,
							 __ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
				return helper_exit(d); /* a new helper is on its way, or a stop */
			idle_since = now;
			continue;
		}
		uint64_t wait = MIN(tick_ns, idle_ns - (now - idle_since));
		os_futex_wait(&d->wake, seq, wait);
		__atomic_fetch_add(&d->helper_wakeups, 1, __ATOMIC_RELAXED);
	}
}

/*
 * Whether the calling thread may create a thread now.  pthread_create takes
 * glibc locks (the stack cache, the TLS generation), so it must never run in
 * a signal handler that may have interrupted their holder; and with busy
 * clear, nothing tells an ordinary call from a handler that landed outside
 * the allocator.  The signal mask does: while a handler runs, the kernel
 * blocks its signal (unless the handler was installed with SA_NODEFER and
 * an empty sa_mask).  So a thread starts the helper only while it blocks no
 * signal at all (one system call).  When it may not, its next call is sent
 * to the slow path again (SM_GEN_KICK) to retry, up to 64 times in a row: a
 * thread that keeps signals blocked leaves the start to another thread.
 */
static __thread uint8_t create_refused;

static bool may_create_thread(struct sm_instance *inst)
{
	sigset_t cur;
	if (pthread_sigmask(SIG_BLOCK, NULL, &cur) == 0 && sigisemptyset(&cur)) {
		create_refused = 0;
		return true;
	}
	if (create_refused < 64) {
		create_refused++;
		kick_this_thread(inst);
	}
	return false;
}

void helper_maybe_start(struct sm_instance *inst)
{
	struct sm_deferred *d = &inst->deferred;
	if (!READ_ONCE(d->want_helper) || !inst->opts.helper_thread || sm_in_allocator())
		return;
	if (!may_create_thread(inst))
		return;
	uint32_t idle = HELPER_IDLE;
	if (!__atomic_compare_exchange_n(&d->helper, &idle, HELPER_STARTING, false,
					 __ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
		return; /* running, or being started or stopped by someone else */
	WRITE_ONCE(d->want_helper, 0);
	__atomic_fetch_add(&d->alive, 1, __ATOMIC_RELAXED);
	__atomic_store_n(&d->helper, HELPER_RUNNING, __ATOMIC_SEQ_CST);
	if (os_thread_start(helper_main, inst, "slabmalloc-bg")) {
		__atomic_fetch_add(&d->helper_starts, 1, __ATOMIC_RELAXED);
		return;
	}
	/* No thread: the threads go on draining on their slow paths. */
	uint32_t running = HELPER_RUNNING;
	__atomic_compare_exchange_n(&d->helper, &running, HELPER_IDLE, false,
				    __ATOMIC_SEQ_CST, __ATOMIC_RELAXED);
	helper_exit(d);
	bool nested = sm_enter();
	deferred_drain(inst);
	sm_leave(nested);
}

void deferred_check(struct sm_instance *inst)
{
	if (unlikely(deferred_take_kick(inst)))
		deferred_kicked(inst);
	else if (unlikely(READ_ONCE(inst->deferred.want_helper))) {
		helper_maybe_start(inst);
	}
}

void deferred_kicked(struct sm_instance *inst)
{
	bool nested = sm_enter();
	deferred_drain(inst);
	sm_leave(nested);
	helper_maybe_start(inst);
}

void helper_stop(struct sm_instance *inst)
{
	struct sm_deferred *d = &inst->deferred;
	/* STOPPING for good: nobody starts a helper from here on. */
	__atomic_store_n(&d->helper, HELPER_STOPPING, __ATOMIC_SEQ_CST);
	for (;;) {
		uint32_t alive = __atomic_load_n(&d->alive, __ATOMIC_ACQUIRE);
		if (!alive)
			return;
		__atomic_fetch_add(&d->wake, 1, __ATOMIC_RELEASE);
		os_futex_wake(&d->wake, 1);
		os_futex_wait(&d->alive, alive, 10000000u);
	}
}

void deferred_fork_child(struct sm_instance *inst)
{
	struct sm_deferred *d = &inst->deferred;
	sm_lock_init(&d->drain_lock);
	/* The helper thread did not survive the fork: forget it, and have the
	   next call start one if objects are waiting. */
	d->alive = 0;
	if (d->helper != HELPER_STOPPING)
		d->helper = HELPER_IDLE;
	if (d->head) {
		/* The child's only thread finishes them on its next call. */
		if (inst->opts.helper_thread)
			d->want_helper = 1;
		kick_this_thread(inst);
	}
}
