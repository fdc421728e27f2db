/*
 * helper.h - the helper thread "slabmalloc-bg" (the userspace irq_work):
 * it finishes the frees the nolock path deferred (deferred.h) and, while
 * it runs, does the delayed purge, so an idle process gives its free memory
 * back.  It never runs user code (all signals blocked), never starts from a
 * signal handler or with a lock held, sleeps on a futex when idle and exits
 * after helper_idle_ms without work (so it never keeps a process alive that
 * would otherwise have ended); the next push starts it again.  While the
 * instance asks for periodic statistics (inst->periodic, every
 * stats_interval_ms), it calls that too and does not go idle while
 * another thread of the process is alive.
 */
#ifndef SM_HELPER_H
#define SM_HELPER_H

#include "compiler.h"
#include "instance.h"

/* Start the helper if a push asked for it (busy clear, no lock held). */
void helper_maybe_start(struct sm_instance *inst) __hidden;

/*
 * Where the helper may be started.  pthread_create takes glibc's stack-cache
 * lock, and glibc frees the TLS of dead threads' stacks with that lock held
 * (pthread_join, a detached thread's exit, a new thread reusing a stack): a
 * free that started the helper there would wait for itself.  So only an
 * allocation (HELPER_MAY_START) ever starts it; a free (HELPER_NO_START)
 * drains what is waiting and leaves the start to the next allocation.
 */
enum helper_start { HELPER_NO_START = 0, HELPER_MAY_START = 1 };

/*
 * The end of a call that does not go through the sheaf slow paths (page
 * runs, huge mappings): see to a kick a deferred free left for this thread
 * (drain the list), and to a wanted helper, as the slow paths do.  Busy
 * clear, no lock held.
 */
void helper_check(struct sm_instance *inst, enum helper_start start) __hidden;

/*
 * This thread's slot carried SM_GEN_KICK (already taken back): drain the
 * list, and start the helper if one is wanted and @start allows.  Busy
 * clear, no lock held.
 */
void helper_kicked(struct sm_instance *inst, enum helper_start start) __hidden;

/* Stop @inst's helper and wait until it has let go of the instance. */
void helper_stop(struct sm_instance *inst) __hidden;

/*
 * fork(): the child has no helper thread.  Forget it, and have the child's
 * next call drain the list and start one if objects are waiting.
 */
void helper_fork_child(struct sm_instance *inst) __hidden;

#endif /* SM_HELPER_H */
