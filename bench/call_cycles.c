/*
 * call_cycles.c - libbench_call_cycles.so: where a single-threaded program's
 * time goes, split between the allocator's calls and the program's own code.
 *
 *   LD_PRELOAD="build/release/bench/libbench_call_cycles.so <allocator.so>" \
 *       taskset -c 1 build/release/bench/wl_phase 1
 *
 * Preloaded before the allocator, it wraps malloc, free, realloc and calloc
 * (found with dlsym(RTLD_NEXT)), reads the time-stamp counter before and
 * after each call and, at exit, prints to stderr one line: the cycles of the
 * whole run, of each function (in all and per call) and the rest, which is
 * the program's own code.  A cold object the allocator hands out shows in the
 * rest, where the program first writes it; a cold object it reads (a free
 * word, a link) shows in the call.  rdtsc does not wait for the instructions
 * before it, so a call's count can take in some of the work around it: read
 * the figures as a split, and compare allocators in the same runs.  The
 * counters are plain globals: single-threaded programs only.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <x86intrin.h>

enum { F_MALLOC, F_FREE, F_REALLOC, F_CALLOC, NR_F };
static const char *const fname[NR_F] = { "malloc", "free", "realloc", "calloc" };
static uint64_t cycles[NR_F], calls[NR_F], start;

static void *(*next_malloc)(size_t);
static void (*next_free)(void *);
static void *(*next_realloc)(void *, size_t);
static void *(*next_calloc)(size_t, size_t);

static void resolve(void)
{
	next_malloc = (void *(*)(size_t))dlsym(RTLD_NEXT, "malloc");
	next_free = (void (*)(void *))dlsym(RTLD_NEXT, "free");
	next_realloc = (void *(*)(void *, size_t))dlsym(RTLD_NEXT, "realloc");
	next_calloc = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "calloc");
}

static inline void account(int f, uint64_t t0)
{
	cycles[f] += __rdtsc() - t0;
	calls[f]++;
}

void *malloc(size_t size)
{
	if (!next_malloc)
		resolve();
	uint64_t t0 = __rdtsc();
	void *p = next_malloc(size);
	account(F_MALLOC, t0);
	return p;
}

void free(void *p)
{
	if (!next_free)
		resolve();
	uint64_t t0 = __rdtsc();
	next_free(p);
	account(F_FREE, t0);
}

void *realloc(void *p, size_t size)
{
	if (!next_realloc)
		resolve();
	uint64_t t0 = __rdtsc();
	void *q = next_realloc(p, size);
	account(F_REALLOC, t0);
	return q;
}

void *calloc(size_t n, size_t size)
{
	/* dlsym may calloc before it has found calloc: fail that one, as
	   glibc's dlerror buffer allows. */
	if (!next_calloc)
		return NULL;
	uint64_t t0 = __rdtsc();
	void *p = next_calloc(n, size);
	account(F_CALLOC, t0);
	return p;
}

__attribute__((constructor)) static void begin(void)
{
	resolve();
	start = __rdtsc();
}

__attribute__((destructor)) static void report(void)
{
	uint64_t total = __rdtsc() - start, in_calls = 0;
	fprintf(stderr, "call_cycles: total %.1fM", total / 1e6);
	for (int f = 0; f < NR_F; f++) {
		in_calls += cycles[f];
		fprintf(stderr, " %s %.1fM (%.1fM calls, %.1f a call)", fname[f], cycles[f] / 1e6,
			calls[f] / 1e6, calls[f] ? (double)cycles[f] / calls[f] : 0.0);
	}
	fprintf(stderr, " rest %.1fM\n", (double)(total - in_calls) / 1e6);
}
