/*
 * partial.c - the slab layer's partial lists (issue 11): how fast a
 * refill-heavy loop runs, and how many slabs survivors keep after churn.
 * slabmalloc only (an isolated instance through the sm_* API; no
 * LD_PRELOAD), so the same source measures any two builds of the library.
 *
 * Every run uses a cache of 256-byte objects (16 per one-page slab),
 * sheaves of 8 objects and barns that keep nothing, so every 8th
 * allocation refills a sheaf from the slabs and every 8th free flushes one:
 *
 *   refill    4,096 objects allocated, then freed in allocation order,
 *             2,000 rounds, empty slabs kept (slab_max_empty large, so no
 *             page goes back to the node): ns per alloc+free pair, the
 *             slow path slab_get_objects / slab_put_objects every 8 pairs
 *   churn     65,536 objects allocated, 7 in 8 freed at random (8,192
 *             survivors, about 2 per slab), then 8,000 rounds of "free 256
 *             random live objects, allocate 256" (more than the sheaves
 *             hold, so most go through the slabs): ns per free+alloc pair,
 *             and the slabs held after 1, 4, 16 and 64 turnovers of the
 *             live set (32 rounds each; ideal: 8,192 / 16 = 512)
 *
 * Usage: bench_partial [runs (default 5)] [refill|churn (default both)].
 * Prints the median of the runs.  Under valgrind --tool=callgrind,
 * "bench_partial 1 refill" counts the instructions of the slow path
 * (slab_get_objects, slab_put_objects), which a loaded machine's wall
 * time cannot resolve.
 */
#define _GNU_SOURCE
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <slabmalloc.h>

#define OBJ 256
#define REFILL_N 4096
#define REFILL_ROUNDS 2000
#define CHURN_N 65536
#define CHURN_LIVE 8192
#define CHURN_BATCH 256
#define CHURN_ROUNDS 2048
#define NR_MARKS 4
static const long marks[NR_MARKS] = { 32, 128, 512, 2048 };

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static sm_instance_t *instance(unsigned slab_max_empty)
{
	struct sm_options o;
	sm_options_init(&o);
	o.slab_max_empty = slab_max_empty;
	o.sheaf_capacity = 8;
	o.barn_max_full = 0;
	o.barn_max_empty = 0;
	o.barn_bytes = 0;
	sm_instance_t *inst = sm_instance_create(&o);
	if (!inst) {
		perror("sm_instance_create");
		exit(1);
	}
	return inst;
}

static void *xalloc(sm_cache_t *s)
{
	void *p = sm_cache_alloc(s, 0);
	if (!p) {
		perror("sm_cache_alloc");
		exit(1);
	}
	return p;
}

/* ns per pair */
static double run_refill(void)
{
	static void *v[REFILL_N];
	sm_instance_t *inst = instance(1u << 20);
	sm_cache_t *s = sm_cache_create(inst, "refill", OBJ, 0, 0, NULL);
	double t0 = now();
	for (int r = 0; r < REFILL_ROUNDS; r++) {
		for (int i = 0; i < REFILL_N; i++)
			v[i] = xalloc(s);
		for (int i = 0; i < REFILL_N; i++)
			sm_cache_free(s, v[i]);
	}
	double t = now() - t0;
	sm_thread_flush(inst);
	sm_cache_destroy(s);
	sm_instance_destroy(inst);
	return t * 1e9 / ((double)REFILL_N * REFILL_ROUNDS);
}

/* ns per pair; slabs[]: slabs held at the marks */
static double run_churn(size_t *slabs)
{
	static void *v[CHURN_N];
	struct sm_options def;
	sm_options_init(&def);
	sm_instance_t *inst = instance(def.slab_max_empty);
	sm_cache_t *s = sm_cache_create(inst, "churn", OBJ, 0, 0, NULL);
	for (int i = 0; i < CHURN_N; i++)
		v[i] = xalloc(s);
	for (int i = CHURN_N - 1; i > 0; i--) { /* Fisher-Yates */
		int j = (int)(next_rand() % (uint64_t)(i + 1));
		void *t = v[i];
		v[i] = v[j];
		v[j] = t;
	}
	for (int i = CHURN_LIVE; i < CHURN_N; i++)
		sm_cache_free(s, v[i]);
	int idx[CHURN_BATCH];
	double t0 = now();
	for (long k = 0; k < CHURN_ROUNDS; k++) {
		for (int b = 0; b < CHURN_BATCH; b++) {
			int i;
			do
				i = (int)(next_rand() % CHURN_LIVE);
			while (!v[i]);
			sm_cache_free(s, v[i]);
			v[i] = NULL;
			idx[b] = i;
		}
		for (int b = 0; b < CHURN_BATCH; b++)
			v[idx[b]] = xalloc(s);
		for (int m = 0; m < NR_MARKS; m++)
			if (k + 1 == marks[m]) {
				double t1 = now();
				struct sm_cache_stats st;
				sm_cache_stats_get(s, &st);
				slabs[m] = st.slabs;
				t0 += now() - t1;
			}
	}
	double t = now() - t0;
	sm_thread_flush(inst);
	for (int i = 0; i < CHURN_LIVE; i++)
		sm_cache_free(s, v[i]);
	sm_thread_flush(inst);
	sm_cache_destroy(s);
	sm_instance_destroy(inst);
	return t * 1e9 / ((double)CHURN_BATCH * CHURN_ROUNDS);
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	int runs = argc > 1 ? atoi(argv[1]) : 5;
	if (runs < 1 || runs > 99)
		runs = 5;
	const char *only = argc > 2 ? argv[2] : "";
	bool do_refill = strcmp(only, "churn") != 0, do_churn = strcmp(only, "refill") != 0;
	double refill[99], churn[99];
	size_t slabs[NR_MARKS] = { 0 };
	for (int r = 0; r < runs; r++) {
		refill[r] = do_refill ? run_refill() : 0;
		churn[r] = do_churn ? run_churn(slabs) : 0;
	}
	qsort(refill, (size_t)runs, sizeof(double), cmp);
	qsort(churn, (size_t)runs, sizeof(double), cmp);
	if (do_refill)
		printf("refill: %.1f ns per pair (median of %d; min %.1f max %.1f)\n", refill[runs / 2],
		       runs, refill[0], refill[runs - 1]);
	if (!do_churn)
		return 0;
	printf("churn: %.1f ns per pair (median of %d; min %.1f max %.1f)\n", churn[runs / 2], runs,
	       churn[0], churn[runs - 1]);
	printf("churn: slabs held for %d live objects (ideal %d) after", CHURN_LIVE, CHURN_LIVE / 16);
	for (int m = 0; m < NR_MARKS; m++)
		printf(" %ld turnovers: %zu%s", marks[m] * CHURN_BATCH / CHURN_LIVE, slabs[m],
		       m + 1 < NR_MARKS ? "," : "\n");
	return 0;
}
