/*
 * bulk.c - the bulk calls against a loop of single calls (slabmalloc only,
 * linked with libslabmalloc.so; bench/bulk runs it).
 *
 *   bench_bulk time [-n ROUNDS] BATCH...
 *       for each batch size, the time per object of BATCH allocations then
 *       BATCH frees, as loops of sm_cache_alloc/sm_cache_free ("loop") and
 *       as one sm_cache_alloc_bulk and one sm_cache_free_bulk ("bulk"), on
 *       a 64-byte cache; then the same on kmalloc-64 (sm_kmalloc/sm_kfree
 *       against sm_kmalloc_bulk/sm_kfree_bulk).  Each figure is the fastest
 *       of ROUNDS rounds of about 100,000 objects: the minimum is what the
 *       code costs when nothing else runs, and it is stable on a busy
 *       machine where a mean is not.
 *   bench_bulk cg KIND MODE BATCH ITERS
 *       ITERS rounds of one batch (KIND cache|kmalloc, MODE loop|bulk), for
 *       bench/bulk to count instructions of under callgrind (it runs ITERS
 *       and 0 and divides the difference by ITERS * BATCH).
 *
 * One object of the cache stays allocated throughout, as in bench/callgrind.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "slabmalloc.h"

#define OBJECTS_PER_ROUND 100000
#define MAX_BATCH 4096

static void *objs[MAX_BATCH];
void *volatile bulk_sink;

static double now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e9 + t.tv_nsec;
}

enum kind { CACHE, KMALLOC };

static sm_instance_t *inst;
static sm_cache_t *cache;

static __attribute__((noinline)) void round_loop(enum kind k, size_t batch)
{
	if (k == CACHE) {
		for (size_t i = 0; i < batch; i++)
			objs[i] = sm_cache_alloc(cache, 0);
		bulk_sink = objs[batch - 1];
		for (size_t i = 0; i < batch; i++)
			sm_cache_free(cache, objs[i]);
	} else {
		for (size_t i = 0; i < batch; i++)
			objs[i] = sm_kmalloc(inst, 64, 0);
		bulk_sink = objs[batch - 1];
		for (size_t i = 0; i < batch; i++)
			sm_kfree(objs[i]);
	}
}

static __attribute__((noinline)) void round_bulk(enum kind k, size_t batch)
{
	if (k == CACHE) {
		if (sm_cache_alloc_bulk(cache, 0, batch, objs) != batch)
			abort();
		bulk_sink = objs[batch - 1];
		sm_cache_free_bulk(cache, batch, objs);
	} else {
		if (sm_kmalloc_bulk(inst, 64, 0, batch, objs) != batch)
			abort();
		bulk_sink = objs[batch - 1];
		sm_kfree_bulk(batch, objs);
	}
}

static double time_per_object(enum kind k, int bulk, size_t batch, int rounds)
{
	size_t reps = OBJECTS_PER_ROUND / batch + 1;
	double best = 1e30;
	for (int r = 0; r < rounds; r++) {
		double t0 = now_ns();
		for (size_t i = 0; i < reps; i++)
			(bulk ? round_bulk : round_loop)(k, batch);
		double t = (now_ns() - t0) / (double)(reps * batch);
		if (t < best)
			best = t;
	}
	return best;
}

static size_t parse_batch(const char *s)
{
	size_t b = strtoul(s, NULL, 0);
	if (!b || b > MAX_BATCH) {
		fprintf(stderr, "bench_bulk: batch %s not in 1..%d\n", s, MAX_BATCH);
		exit(2);
	}
	return b;
}

int main(int argc, char **argv)
{
	inst = sm_default_instance();
	cache = sm_cache_create(inst, "bench-bulk", 64, 0, 0, NULL);
	if (!cache)
		return 1;
	void *keep = sm_cache_alloc(cache, 0), *keepk = sm_kmalloc(inst, 64, 0);

	if (argc == 6 && !strcmp(argv[1], "cg")) {
		enum kind k = !strcmp(argv[2], "kmalloc") ? KMALLOC : CACHE;
		int bulk = !strcmp(argv[3], "bulk");
		size_t batch = parse_batch(argv[4]);
		long iters = strtol(argv[5], NULL, 0);
		for (long i = 0; i < iters; i++)
			(bulk ? round_bulk : round_loop)(k, batch);
	} else if (argc >= 3 && !strcmp(argv[1], "time")) {
		int rounds = 200, first = 2;
		if (!strcmp(argv[2], "-n") && argc >= 5) {
			rounds = atoi(argv[3]);
			first = 4;
		}
		printf("kind\tbatch\tloop_ns\tbulk_ns\tloop/bulk\n");
		for (int k = CACHE; k <= KMALLOC; k++)
			for (int a = first; a < argc; a++) {
				size_t batch = parse_batch(argv[a]);
				double l = time_per_object(k, 0, batch, rounds);
				double b = time_per_object(k, 1, batch, rounds);
				printf("%s\t%zu\t%.2f\t%.2f\t%.2f\n", k == CACHE ? "cache_64" : "kmalloc_64",
				       batch, l, b, l / b);
			}
	} else {
		fprintf(stderr, "usage: %s time [-n ROUNDS] BATCH... | cg cache|kmalloc loop|bulk BATCH ITERS\n",
			argv[0]);
		return 2;
	}
	sm_cache_free(cache, keep);
	sm_kfree(keepk);
	sm_cache_destroy(cache);
	return 0;
}
