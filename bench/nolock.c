/*
 * nolock.c - the nolock path against the normal path: allocations per second
 * of malloc+free pairs (64 and 1024 bytes) on slabmalloc, in and out of
 * signal handlers.  Linked with libslabmalloc.so (the nolock API is
 * slabmalloc's own; no other allocator has one to compare).
 *
 *   normal           malloc/free from ordinary code: the sheaf fast path
 *   in handler       the same calls from a SIGUSR1 handler that did not
 *                    interrupt the allocator: still the fast path
 *   nolock API       sm_kmalloc_nolock/sm_kfree_nolock from ordinary code:
 *                    the main sheaf, no lock
 *   re-entered       malloc/free while the thread is inside the allocator
 *                    (from a callback sm_cache_foreach runs with the busy
 *                    marker set, as a handler that interrupted malloc would
 *                    be): the nolock path, one slab-list trylock per call
 *   re-entered, 2T   the same while a second thread churns the same size
 *                    class (list-lock contention: some frees are deferred)
 *
 * Usage: bench_nolock [pairs per run (default 200000)] [runs (default 5)].
 * Prints the median of the runs in ns per pair and millions of pairs per s.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <slabmalloc.h>

static long pairs = 200000;
static size_t size = 64;
static double result_ns;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* One block stays alive so that no allocator empties a slab on every free. */
static void loop_malloc(void)
{
	void *keep = malloc(size);
	double t0 = now();
	for (long i = 0; i < pairs; i++) {
		void *volatile p = malloc(size);
		free(p);
	}
	result_ns = (now() - t0) * 1e9 / (double)pairs;
	free(keep);
}

static void loop_nolock_api(void)
{
	sm_instance_t *inst = sm_default_instance();
	void *keep = sm_kmalloc_nolock(inst, size, 0, SM_NO_NODE);
	double t0 = now();
	for (long i = 0; i < pairs; i++) {
		void *volatile p = sm_kmalloc_nolock(inst, size, 0, SM_NO_NODE);
		sm_kfree_nolock(p);
	}
	result_ns = (now() - t0) * 1e9 / (double)pairs;
	sm_kfree_nolock(keep);
}

static void on_usr1(int sig)
{
	(void)sig;
	loop_malloc(); /* clock_gettime and the allocator: both signal-safe here */
}

static int reentered_done;
static void reentered_cb(const struct sm_cache_stats *st, void *arg)
{
	(void)st;
	(void)arg;
	if (!reentered_done) {
		reentered_done = 1;
		loop_malloc();
	}
}

static void loop_reentered(void)
{
	reentered_done = 0;
	sm_cache_foreach(sm_default_instance(), reentered_cb, NULL);
}

static volatile int churn_stop;
static void *churn(void *arg)
{
	(void)arg;
	void *ring[64] = { 0 };
	unsigned i = 0;
	while (!churn_stop) {
		free(ring[i % 64]);
		ring[i % 64] = malloc(size);
		i++;
	}
	for (unsigned k = 0; k < 64; k++)
		free(ring[k]);
	return NULL;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median_of(void (*fn)(void), int runs)
{
	double v[64];
	for (int r = 0; r < runs; r++) {
		fn();
		v[r] = result_ns;
	}
	qsort(v, (size_t)runs, sizeof(v[0]), cmp);
	return v[runs / 2];
}

static void raise_usr1(void)
{
	raise(SIGUSR1);
}

static void row(const char *name, double ns)
{
	printf("| %-22s | %5zu | %8.1f | %8.2f |\n", name, size, ns, 1e3 / ns);
}

int main(int argc, char **argv)
{
	int runs = 5;
	if (argc > 1)
		pairs = atol(argv[1]);
	if (argc > 2)
		runs = atoi(argv[2]);
	if (pairs <= 0 || runs <= 0 || runs > 64) {
		fprintf(stderr, "usage: %s [pairs per run] [runs <= 64]\n", argv[0]);
		return 2;
	}
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);

	printf("| path                   | bytes | ns/pair  | M pairs/s |\n");
	printf("|------------------------|------:|---------:|---------:|\n");
	static const size_t sizes[] = { 64, 1024 };
	for (unsigned k = 0; k < 2; k++) {
		size = sizes[k];
		row("normal", median_of(loop_malloc, runs));
		row("in handler", median_of(raise_usr1, runs));
		row("nolock API", median_of(loop_nolock_api, runs));
		row("re-entered", median_of(loop_reentered, runs));
		pthread_t t;
		churn_stop = 0;
		pthread_create(&t, NULL, churn, NULL);
		row("re-entered, 2 threads", median_of(loop_reentered, runs));
		churn_stop = 1;
		pthread_join(t, NULL);
	}
	struct sm_stats st;
	sm_stats_get(sm_default_instance(), &st);
	printf("\ndeferred frees: %llu, helper thread starts: %llu\n",
	       (unsigned long long)st.deferred_frees, (unsigned long long)st.helper_starts);
	return 0;
}
