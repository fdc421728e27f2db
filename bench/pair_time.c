/*
 * pair_time.c - the time of one malloc + free pair, of a burst of 32
 * mallocs then 32 frees, and of the pair with one byte written into the
 * object, for sizes given on the command line.  libc only:
 * the allocator is chosen with LD_PRELOAD (bench/fastpath runs it under
 * each one).
 *
 * A shared machine preempts any loop now and then, so each figure is the
 * fastest of many short rounds (100,000 pairs, about a millisecond): the
 * minimum is what the code costs when nothing else runs, and it is stable
 * under load where a mean is not.  One block of the size stays allocated
 * throughout, as in bench/callgrind.
 *
 * Usage: pair_time [-n ROUNDS] SIZE...   prints "SIZE pair NS burst NS
 * written NS" lines.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define PAIRS 100000
#define BURST 32

static double now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e9 + t.tv_nsec;
}

/* Keep @p alive in the compiler's eyes: the call is not optimised away. */
static inline void use(void *p)
{
	__asm__ volatile("" : : "r"(p) : "memory");
}

/*
 * @written: the pair again, with the program's own first store into the
 * object: one byte at its start, as code that sets a flag or a small field
 * does.  An allocator that reads the object's first word in free
 * (slabmalloc's double-free check) must not make that read wait for this
 * store.  Inlined with a constant, so the plain loop has no test in it.
 */
static inline __attribute__((always_inline)) double pairs(size_t size, int written)
{
	double t0 = now_ns();
	for (int i = 0; i < PAIRS; i++) {
		char *p = malloc(size);
		if (written)
			*(volatile char *)p = 1;
		use(p);
		free(p);
	}
	return (now_ns() - t0) / PAIRS;
}

static double pair_round(size_t size)
{
	return pairs(size, 0);
}

static double written_round(size_t size)
{
	return pairs(size, 1);
}

static double burst_round(size_t size)
{
	void *v[BURST];
	double t0 = now_ns();
	for (int i = 0; i < PAIRS / BURST; i++) {
		for (int j = 0; j < BURST; j++) {
			v[j] = malloc(size);
			use(v[j]);
		}
		for (int j = 0; j < BURST; j++)
			free(v[j]);
	}
	return (now_ns() - t0) / (PAIRS / BURST * BURST);
}

int main(int argc, char **argv)
{
	int rounds = 300, first = 1;
	if (argc > 2 && argv[1][0] == '-' && argv[1][1] == 'n') {
		rounds = atoi(argv[2]);
		first = 3;
	}
	if (first >= argc) {
		fprintf(stderr, "usage: %s [-n ROUNDS] SIZE...\n", argv[0]);
		return 2;
	}
	for (int a = first; a < argc; a++) {
		size_t size = strtoul(argv[a], NULL, 0);
		void *keep = malloc(size);
		use(keep);
		double pair = 1e30, burst = 1e30, written = 1e30;
		for (int r = 0; r < rounds; r++) {
			double t = pair_round(size);
			if (t < pair)
				pair = t;
			t = burst_round(size);
			if (t < burst)
				burst = t;
			t = written_round(size);
			if (t < written)
				written = t;
		}
		printf("%zu pair %.2f burst %.2f written %.2f\n", size, pair, burst, written);
		free(keep);
	}
	return 0;
}
