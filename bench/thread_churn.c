/*
 * thread_churn.c - many short-lived threads: a few creator threads each
 * start a thread, wait for it to end and start the next, until THREADS
 * threads have run.  Each short-lived thread allocates OPS small blocks
 * (16..512 B, sizes fixed by its number), writes them, frees them and exits.
 * What it measures is the allocator's share of a thread's life: the set-up
 * of its per-thread state at the first malloc and the tear-down at exit
 * (slabmalloc: tcache_create, and thread_exit, which runs tcache_destroy and
 * deferred_drain under the global registry lock, src/tcache.c).  With
 * CREATORS >= 2 the exits of different threads overlap, so a lock they all
 * take shows as fewer threads per second than the creators would allow, and
 * as a longer exit latency.
 *
 * Linked against libc only; the allocator is chosen with LD_PRELOAD
 * (bench/thread-churn runs it under each one).
 *
 * Prints one line (the format of the workloads, bench/workloads/workload.h):
 *   bench: workload=thread_churn time_s=T maxrss_kib=R hwm_kib=H threads=N
 *          creators=C ops=K threads_per_s=X exit_us_median=M exit_us_p99=P
 *          malloc_base=0x...
 * exit_us_*: from the short-lived thread's last free to its creator's
 * pthread_join returning (TLS destructors, the allocator's thread exit,
 * glibc's teardown, the kernel's exit and the join wake-up), over all
 * threads.  malloc_base: the load address of the object that defines malloc
 * (libslabmalloc.so under LD_PRELOAD; libc otherwise), for matching futex
 * addresses from strace to the allocator's locks (bench/thread-churn
 * --futex).
 *
 * Usage: thread_churn [threads (20000)] [creators (2)] [ops per thread (8)]
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "workload.h"

struct job {
	unsigned long index;
	double t_last_free; /* set by the short-lived thread */
};

static unsigned long nr_threads = 20000;
static unsigned nr_creators = 2;
static unsigned nr_ops = 8;
static double *exit_us; /* one per short-lived thread */

static void *short_lived(void *arg)
{
	struct job *j = arg;
	uint64_t rs = 0x5eed0000ull + j->index;
	void *blk[64];
	for (unsigned i = 0; i < nr_ops; i++) {
		size_t n = wl_rand_range(&rs, 16, 512);
		unsigned char *p = malloc(n);
		if (!p) {
			fprintf(stderr, "thread_churn: malloc(%zu) failed\n", n);
			exit(1);
		}
		p[0] = (unsigned char)i;
		p[n - 1] = (unsigned char)n;
		blk[i] = p;
	}
	for (unsigned i = nr_ops; i-- > 0;)
		free(blk[i]);
	j->t_last_free = wl_now();
	return NULL;
}

static void *creator(void *arg)
{
	unsigned c = (unsigned)(uintptr_t)arg;
	for (unsigned long i = c; i < nr_threads; i += nr_creators) {
		struct job j = { .index = i };
		pthread_t t;
		wl_check(pthread_create(&t, NULL, short_lived, &j), "pthread_create");
		wl_check(pthread_join(t, NULL), "pthread_join");
		exit_us[i] = (wl_now() - j.t_last_free) * 1e6;
	}
	return NULL;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	if (argc > 1)
		nr_threads = strtoul(argv[1], NULL, 10);
	if (argc > 2)
		nr_creators = (unsigned)atoi(argv[2]);
	if (argc > 3)
		nr_ops = (unsigned)atoi(argv[3]);
	if (argc > 4 || nr_threads == 0 || nr_creators == 0 || nr_creators > 64 || nr_ops == 0 ||
	    nr_ops > 64) {
		fprintf(stderr, "usage: %s [threads (20000)] [creators 1..64 (2)] [ops per thread 1..64 (8)]\n",
			argv[0]);
		return 2;
	}
	exit_us = wl_xmalloc(nr_threads * sizeof(*exit_us));

	pthread_t cr[64];
	double t0 = wl_now();
	for (unsigned c = 0; c < nr_creators; c++)
		wl_check(pthread_create(&cr[c], NULL, creator, (void *)(uintptr_t)c), "pthread_create");
	for (unsigned c = 0; c < nr_creators; c++)
		wl_check(pthread_join(cr[c], NULL), "pthread_join");
	double secs = wl_now() - t0;

	qsort(exit_us, nr_threads, sizeof(*exit_us), cmp_double);
	Dl_info info;
	void *base = dladdr((void *)(uintptr_t)&malloc, &info) ? info.dli_fbase : NULL;
	char extra[256];
	snprintf(extra, sizeof(extra),
		 "threads=%lu creators=%u ops=%u threads_per_s=%.0f exit_us_median=%.1f exit_us_p99=%.1f "
		 "malloc_base=%p",
		 nr_threads, nr_creators, nr_ops, (double)nr_threads / secs, exit_us[nr_threads / 2],
		 exit_us[nr_threads * 99 / 100], base);
	free(exit_us);
	wl_report("thread_churn", secs, extra);
	return 0;
}
