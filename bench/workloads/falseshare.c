/*
 * falseshare.c - a false-sharing probe.  Threads allocate small objects and
 * write them in a tight loop.  If the allocator hands two threads objects on
 * the same 64-byte cache line, every write bounces the line between cores
 * and the run takes many times longer; that is all this measures.
 *
 *   active   each thread allocates its own objects, 8 at a time, writes
 *            them and frees them (does the allocator keep one thread's
 *            objects off the lines another thread is writing?)
 *   passive  the main thread allocates 8 objects per thread, back to back
 *            and dealt out in turn (thread 0 gets the 1st, 3rd, ...); each
 *            thread writes and frees its 8, then goes on as in "active"
 *            (does a thread that frees another thread's objects get them
 *            back from its next mallocs, lines shared with the other thread
 *            and all?)
 *
 * argv[2] sets the number of threads; each does the same number of rounds.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "workload.h"

#define THREADS  2              /* by default: one per core of the reference machine */
#define OBJECT   24             /* bytes: two or more objects per cache line */
#define LIVE     8              /* objects a thread writes at a time */
#define ROUNDS   120000         /* rounds of LIVE objects per thread and phase, at scale 1 */
#define WRITES   20             /* passes over each object per round */

struct task {
	pthread_t tid;
	unsigned char *obj[LIVE];       /* passive: made by the main thread */
	int handed;
	size_t rounds;
	uint64_t sum;
} __attribute__((aligned(64)));

static void write_objects(struct task *t)
{
	for (unsigned w = 0; w < WRITES; w++)
		for (unsigned k = 0; k < LIVE; k++) {
			volatile unsigned char *b = t->obj[k];
			for (unsigned j = 0; j < OBJECT; j++)
				b[j]++;
		}
	for (unsigned k = 0; k < LIVE; k++)
		t->sum += t->obj[k][OBJECT - 1];
}

static void *run_task(void *arg)
{
	struct task *t = arg;
	unsigned k;

	if (t->handed) {
		write_objects(t);
		for (k = 0; k < LIVE; k++)
			free(t->obj[k]);
	}
	for (size_t i = 0; i < t->rounds; i++) {
		for (k = 0; k < LIVE; k++) {
			t->obj[k] = wl_xmalloc(OBJECT);
			t->obj[k][OBJECT - 1] = 0;
		}
		write_objects(t);
		for (k = 0; k < LIVE; k++)
			free(t->obj[k]);
	}
	return NULL;
}

/* One phase: all threads at once.  Returns its wall time in seconds. */
static double phase(struct task *tasks, unsigned threads, size_t rounds, int passive,
		    uint64_t *sum)
{
	double t0 = wl_now();
	unsigned i, k;

	for (i = 0; i < threads; i++) {
		tasks[i].rounds = rounds;
		tasks[i].sum = 0;
		tasks[i].handed = passive;
	}
	for (k = 0; passive && k < LIVE; k++)
		for (i = 0; i < threads; i++) {
			tasks[i].obj[k] = wl_xmalloc(OBJECT);
			tasks[i].obj[k][OBJECT - 1] = 0;
		}
	for (i = 0; i < threads; i++)
		wl_check(pthread_create(&tasks[i].tid, NULL, run_task, &tasks[i]), "pthread_create");
	for (i = 0; i < threads; i++) {
		wl_check(pthread_join(tasks[i].tid, NULL), "pthread_join");
		*sum += tasks[i].sum;
	}
	return wl_now() - t0;
}

int main(int argc, char **argv)
{
	static struct task tasks[WL_MAX_THREADS];
	size_t rounds = wl_scaled(ROUNDS, wl_scale(argc, argv));
	unsigned threads = wl_threads(argc, argv, THREADS);
	uint64_t sum = 0;
	double active, passive;
	char extra[128];

	active = phase(tasks, threads, rounds, 0, &sum);
	passive = phase(tasks, threads, rounds, 1, &sum);
	/* ops: objects allocated, written and freed in both phases */
	snprintf(extra, sizeof(extra), "threads=%u active_s=%.4f passive_s=%.4f ops=%zu "
		 "checksum=%llu", threads, active, passive, 2 * threads * rounds * LIVE,
		 (unsigned long long)sum);
	wl_report("falseshare", active + passive, extra);
	return 0;
}
