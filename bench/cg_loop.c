/*
 * cg_loop.c - the loop bench/callgrind counts instructions of.
 *
 *   cg_loop malloc SIZE ITERS   ITERS pairs of malloc(SIZE) + free
 *   cg_loop sized SIZE ITERS    ITERS pairs of malloc(SIZE) + free_sized(p, SIZE)
 *                               (C23; slabmalloc checks the size: issue 13)
 *   cg_loop cache SIZE ITERS    ITERS pairs of sm_cache_alloc + sm_cache_free
 *                               on a dedicated SIZE-byte cache (only in
 *                               cg_loop_sm, which is linked with slabmalloc)
 *   cg_loop instance SIZE ITERS ITERS pairs of sm_kmalloc + sm_kfree on an
 *                               isolated instance (sm_instance_create; only
 *                               in cg_loop_sm)
 *   cg_loop batch SIZE ITERS    ITERS batches of 1,000 malloc(SIZE), each
 *                               block written once, then freed in reverse
 *                               (bench_micro's batch_lifo, for callgrind's
 *                               cache model: docs/benchmarks.md)
 *   cg_loop grow SIZE ITERS     ITERS vectors: malloc(32), realloc doubling
 *                               it up to SIZE (a power of two), free: the
 *                               growth of wl_phase's and wl_symbolic's
 *                               vectors, log2(SIZE / 32) reallocs each
 *
 * One small block is allocated and freed first (see main), and one block
 * of the same size stays allocated across the loop, so that no
 * allocator returns a page or a slab on every free.  bench/callgrind runs each
 * case with ITERS and with 0 and divides the difference by ITERS: what is left
 * is one pair plus the few instructions of the loop itself.  malloc and free
 * are called through the PLT as in any program (built with -fno-builtin so
 * the compiler cannot pair them away), and each pointer goes to a volatile
 * sink so the calls stay.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef CG_LOOP_SLABMALLOC
#include "slabmalloc.h"
#endif

void *volatile cg_sink;

static __attribute__((noinline)) void malloc_loop(size_t size, long iters)
{
	for (long i = 0; i < iters; i++) {
		void *p = malloc(size);
		cg_sink = p;
		free(p);
	}
}

/* C23; weak: glibc 2.36 has none, the preloaded allocator may. */
void free_sized(void *p, size_t size) __attribute__((weak));

static __attribute__((noinline)) void sized_loop(size_t size, long iters)
{
	for (long i = 0; i < iters; i++) {
		void *p = malloc(size);
		cg_sink = p;
		free_sized(p, size);
	}
}

enum { BATCH = 1000 };

static __attribute__((noinline)) void batch_loop(size_t size, long iters)
{
	static void *p[BATCH];
	for (long i = 0; i < iters; i++) {
		for (int k = 0; k < BATCH; k++) {
			p[k] = malloc(size);
			*(volatile char *)p[k] = 1;
		}
		for (int k = BATCH; k-- > 0;)
			free(p[k]);
	}
}

static __attribute__((noinline)) void grow_loop(size_t size, long iters)
{
	for (long i = 0; i < iters; i++) {
		char *p = malloc(32);
		for (size_t n = 64; n <= size; n *= 2) {
			p = realloc(p, n);
			p[n / 2] = 1; /* the new half is written, as a vector's would be */
		}
		cg_sink = p;
		free(p);
	}
}

#ifdef CG_LOOP_SLABMALLOC
static __attribute__((noinline)) void cache_loop(sm_cache_t *s, long iters)
{
	for (long i = 0; i < iters; i++) {
		void *p = sm_cache_alloc(s, 0);
		cg_sink = p;
		sm_cache_free(s, p);
	}
}

static __attribute__((noinline)) void instance_loop(sm_instance_t *inst, size_t size, long iters)
{
	for (long i = 0; i < iters; i++) {
		void *p = sm_kmalloc(inst, size, 0);
		cg_sink = p;
		sm_kfree(p);
	}
}
#endif

int main(int argc, char **argv)
{
	size_t size;
	long iters;
	void *keep;

	if (argc != 4 || (strcmp(argv[1], "malloc") && strcmp(argv[1], "cache") &&
			  strcmp(argv[1], "sized") && strcmp(argv[1], "instance") &&
			  strcmp(argv[1], "batch") && strcmp(argv[1], "grow"))) {
		fprintf(stderr, "usage: %s malloc|sized|cache|instance|batch|grow SIZE ITERS\n", argv[0]);
		return 2;
	}
	size = strtoul(argv[2], NULL, 0);
	iters = strtol(argv[3], NULL, 0);
	if (!strcmp(argv[1], "sized")) {
		if (!free_sized) {
			fprintf(stderr, "%s: the allocator has no free_sized\n", argv[0]);
			return 2;
		}
		free(malloc(16)); /* as below */
		keep = malloc(size);
		sized_loop(size, iters);
		free(keep);
		return 0;
	}
	if (!strcmp(argv[1], "batch")) {
		free(malloc(16)); /* as below */
		batch_loop(size, iters);
		return 0;
	}
	if (!strcmp(argv[1], "grow")) {
		free(malloc(16)); /* as below */
		keep = malloc(32);
		grow_loop(size, iters);
		free(keep);
		return 0;
	}
	if (!strcmp(argv[1], "malloc")) {
		/* One small block first, as any real program has allocated before
		   its loop: with slabmalloc the thread then has its thread cache
		   (and the run cache of page runs in it), which a thread whose only
		   allocations are page runs never gets.  Counted at 0 iterations
		   too, so it is not in the figure. */
		free(malloc(16));
		keep = malloc(size);
		malloc_loop(size, iters);
		free(keep);
		return 0;
	}
#ifdef CG_LOOP_SLABMALLOC
	if (!strcmp(argv[1], "instance")) {
		sm_instance_t *inst = sm_instance_create(NULL);
		if (!inst)
			return 1;
		sm_kfree(sm_kmalloc(inst, 16, 0)); /* the thread's tcache, as above */
		keep = sm_kmalloc(inst, size, 0);
		instance_loop(inst, size, iters);
		sm_kfree(keep);
		sm_instance_destroy(inst);
		return 0;
	}
	sm_cache_t *s = sm_cache_create(sm_default_instance(), "cg-loop", size, 0, 0, NULL);
	if (!s)
		return 1;
	keep = sm_cache_alloc(s, 0);
	cache_loop(s, iters);
	sm_cache_free(s, keep);
	sm_cache_destroy(s);
	return 0;
#else
	fprintf(stderr, "%s: the cache and instance cases need cg_loop_sm (linked with slabmalloc)\n", argv[0]);
	return 2;
#endif
}
