/*
 * helper.c - the helper thread (helper.h): starting it where creating a
 * thread is safe, its loop (drain, purge, sleep, idle exit), stopping it
 * when its instance goes away, and forgetting it in a fork child.
 */
#define _GNU_SOURCE /* sigisemptyset */
#include <signal.h>

#include "helper.h"
#include "os.h"
#include "purge.h"
#include "thread.h"

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
	uint64_t next_stats = 0; /* when the periodic statistics are due (0: not set) */

	for (;;) {
		uint32_t seq = __atomic_load_n(&d->wake, __ATOMIC_ACQUIRE);
		if (__atomic_load_n(&d->helper, __ATOMIC_ACQUIRE) == HELPER_STOPPING)
			return helper_exit(d);
		bool worked = false;
		if (READ_ONCE(d->head)) {
			deferred_drain(d);
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
		/* Periodic statistics (SLABMALLOC_STATS_INTERVAL): while they are
		   asked for, the helper never goes idle. */
		unsigned iv = READ_ONCE(inst->stats_interval_ms);
		void (*periodic)(struct sm_instance *) = READ_ONCE(inst->periodic);
		uint64_t stats_wait = UINT64_MAX;
		/* ... unless it is the last thread (main called pthread_exit and
		   the others ended): then it goes idle and exits as usual, and
		   the process with it. */
		if (iv && periodic && os_nr_threads() != 1) {
			uint64_t iv_ns = (uint64_t)iv * 1000000u;
			if (!next_stats || next_stats > now + iv_ns)
				next_stats = now + iv_ns;
			if (now >= next_stats) {
				periodic(inst);
				now = os_monotonic_ns();
				next_stats = now + iv_ns;
			}
			stats_wait = next_stats - now;
			idle_since = now;
		}
		if (stats_wait == UINT64_MAX && now - idle_since >= idle_ns) {
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
		uint64_t wait = stats_wait != UINT64_MAX ? MIN(tick_ns, stats_wait)
							 : MIN(tick_ns, idle_ns - (now - idle_since));
		wait = MAX(wait, (uint64_t)1000000u); /* 0 would mean no timeout */
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
		deferred_kick_this_thread(&inst->deferred);
	}
	return false;
}

void helper_maybe_start(struct sm_instance *inst)
{
	struct sm_deferred *d = &inst->deferred;
	if (!READ_ONCE(d->want_helper) || !d->helper_enabled || sm_in_allocator())
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
	deferred_drain(d);
	sm_leave(nested);
}

void helper_check(struct sm_instance *inst, enum helper_start start)
{
	if (unlikely(deferred_take_kick(&inst->deferred)))
		helper_kicked(inst, start);
	else if (unlikely(READ_ONCE(inst->deferred.want_helper)) && start)
		helper_maybe_start(inst);
}

void helper_kicked(struct sm_instance *inst, enum helper_start start)
{
	bool nested = sm_enter();
	deferred_drain(&inst->deferred);
	sm_leave(nested);
	if (start)
		helper_maybe_start(inst); /* else want_helper stays: an allocation's slow path starts it */
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

void helper_fork_child(struct sm_instance *inst)
{
	struct sm_deferred *d = &inst->deferred;
	/* The helper thread did not survive the fork: forget it, and have the
	   next call start one if objects are waiting. */
	d->alive = 0;
	if (d->helper != HELPER_STOPPING)
		d->helper = HELPER_IDLE;
	if (inst->stats_interval_ms && inst->periodic && d->helper_enabled)
		d->want_helper = 1; /* the periodic statistics go on in the child */
	if (d->head) {
		/* The child's only thread finishes them on its next call. */
		if (d->helper_enabled)
			d->want_helper = 1;
		deferred_kick_this_thread(d);
	}
}
