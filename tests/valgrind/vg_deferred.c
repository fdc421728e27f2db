/*
 * vg_deferred.c - under memcheck, the frees a signal handler defers
 * (deferred.h): a free interrupted with its slab's list_lock held makes the
 * handler's own free wait on the deferred list, which the thread's next
 * call (argv[1] "kick") or the helper thread ("helper") finishes.  The
 * object is a freed block from the handler's free on: run_case.sh checks
 * that reading it then is reported, and nothing else (no error from the
 * allocator's own writes of the deferred link, no leak).  Linked against
 * the core (the test hook of src/hooks.h).
 */
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hooks.h"
#include "slabmalloc.h"

#define NOINLINE __attribute__((noinline))

static sm_instance_t *inst;
static void *victim;                    /* freed by the handler */
static volatile sig_atomic_t fired;
void *volatile sink;

static void on_signal(int sig)
{
	(void)sig;
	sm_kfree(victim); /* busy set, list_lock held: deferred */
	fired = 1;
}

static void hook(struct sm_instance *i, enum sm_hook_point where)
{
	/* Once: the handler sets fired before raise returns. */
	if (i == inst && where == SM_HOOK_FLUSH && victim && !fired)
		raise(SIGUSR1);
}

static struct sm_stats stats(void)
{
	struct sm_stats st;
	sm_stats_get(inst, &st);
	return st;
}

/* Free one object with the hook armed: the handler's free of @victim is deferred. */
static bool defer_one(void)
{
	char *a = sm_kmalloc(inst, 200, 0);
	victim = sm_kmalloc(inst, 200, 0);
	memset(a, 1, 200);
	memset(victim, 2, 200);
	fired = 0;
	uint64_t before = stats().deferred_frees;
	if (!sm_test_hook_set(inst, hook))
		return false;
	sm_kfree(a); /* the hook fires with the list_lock held */
	/* (A running helper thread may have finished it already.) */
	return fired && stats().deferred_frees == before + 1;
}

static void nap(void)
{
	nanosleep(&(struct timespec){ .tv_nsec = 10 * 1000 * 1000 }, NULL);
}

static NOINLINE void read_deferred_object(void)
{
	sink = (void *)(long)((volatile char *)victim)[7];
}

int main(int argc, char **argv)
{
	bool helper = argc > 1 && !strcmp(argv[1], "helper");
	struct sm_options o;
	sm_options_init(&o);
	o.helper_thread = helper;
	inst = sm_instance_create(&o);
	if (!inst)
		return 1;
	signal(SIGUSR1, on_signal);
	if (helper) {
		/* A first deferred free: the next call finishes it and starts the
		   helper thread, which then finishes the one below alone. */
		if (!defer_one())
			return 1;
		sm_kfree(sm_kmalloc(inst, 16, 0));
		for (int i = 0; i < 500 && stats().helper_starts == 0; i++)
			nap();
	}
	if (!defer_one()) {
		fprintf(stderr, "vg_deferred: the free was not deferred\n");
		return 1;
	}
	read_deferred_object();
	/* Finished by this thread's next call (the kick), or by the helper. */
	for (int i = 0; i < 500 && stats().deferred_pending; i++) {
		if (!helper)
			sm_kfree(sm_kmalloc(inst, 16, 0));
		nap();
	}
	if (stats().deferred_pending) {
		fprintf(stderr, "vg_deferred: the deferred free was not finished\n");
		return 1;
	}
	if (helper && stats().helper_wakeups == 0) {
		fprintf(stderr, "vg_deferred: the helper thread did not finish it\n");
		return 1;
	}
	read_deferred_object();
	sm_instance_destroy(inst);
	puts("vg_deferred: done");
	return 0;
}
