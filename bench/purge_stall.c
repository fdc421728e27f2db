/*
 * purge_stall.c - what a purge of partial slabs' free pages makes other
 * threads wait for (docs/architecture.md section 10, "Free pages of
 * partial slabs").  slabmalloc only: an isolated instance through the
 * sm_* API.
 *
 * A purger thread leaves, over and over, one 4 KiB object in each of
 * 1,024 slabs of eight (seven free pages a slab) and calls
 * sm_purge(force), which gives those pages back: about a thousand madvise
 * calls a pass.  Meanwhile a prober thread times two things that take
 * the locks a purge may hold: 64 allocations and frees of the same class
 * (refills and flushes: its list_lock), and starting a thread that makes
 * one allocation on the instance, then joining it (inst->lock).  Printed:
 * the passes and their time, then per operation the median and the
 * largest time of the prober, with the purger running and without it
 * (the same prober alone, for the machine's own noise).
 *
 * Usage: bench_purge_stall [seconds per phase (default 2)]
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <slabmalloc.h>

enum { SLABS = 1024, PER = 8, SIZE = 4096, CHURN = 64, MAX_SAMPLES = 1 << 20 };

static sm_instance_t *inst;
static atomic_int stop;

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

struct samples {
	double *v;
	size_t n;
};

static void add(struct samples *s, double x)
{
	if (s->n < MAX_SAMPLES)
		s->v[s->n++] = x;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void report(const char *what, struct samples *s)
{
	if (!s->n) {
		printf("  %-28s no samples\n", what);
		return;
	}
	qsort(s->v, s->n, sizeof(double), cmp);
	printf("  %-28s %7zu  median %9.1f us  p99 %9.1f us  max %9.1f us\n", what, s->n,
	       s->v[s->n / 2], s->v[s->n * 99 / 100], s->v[s->n - 1]);
}

static void *purger(void *arg)
{
	struct samples *passes = arg;
	static void *objs[SLABS * PER];
	while (!atomic_load(&stop)) {
		for (unsigned i = 0; i < SLABS * PER; i++) {
			objs[i] = sm_kmalloc(inst, SIZE, 0);
			if (!objs[i])
				abort();
			memset(objs[i], 0x5a, SIZE);
		}
		/* Keep the lowest object of each slab's worth: the rest of its
		   pages free (sheaves hand a new slab's objects out in order). */
		for (unsigned i = 0; i < SLABS * PER; i++)
			if (i % PER)
				sm_kfree(objs[i]);
		double t0 = now_us();
		sm_purge(inst, true);
		add(passes, now_us() - t0);
		for (unsigned i = 0; i < SLABS * PER; i += PER)
			sm_kfree(objs[i]);
	}
	return NULL;
}

static void *one_alloc(void *arg)
{
	(void)arg;
	sm_kfree(sm_kmalloc(inst, 64, 0));
	return NULL;
}

struct probe {
	struct samples churn, thread;
};

static void probe_for(struct probe *p, double seconds)
{
	void *v[CHURN];
	double end = now_us() + seconds * 1e6;
	for (unsigned iter = 0; now_us() < end; iter++) {
		double t0 = now_us();
		for (unsigned i = 0; i < CHURN; i++)
			v[i] = sm_kmalloc(inst, SIZE, 0);
		for (unsigned i = 0; i < CHURN; i++)
			sm_kfree(v[i]);
		add(&p->churn, now_us() - t0);
		if (iter % 16 == 0) {
			pthread_t t;
			t0 = now_us();
			if (pthread_create(&t, NULL, one_alloc, NULL) != 0 || pthread_join(t, NULL) != 0)
				abort();
			add(&p->thread, now_us() - t0);
		}
	}
}

static struct samples new_samples(void)
{
	struct samples s = { malloc(MAX_SAMPLES * sizeof(double)), 0 };
	if (!s.v)
		abort();
	return s;
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 2;
	struct sm_options o;
	sm_options_init(&o);
	inst = sm_instance_create(&o);
	if (!inst)
		return 1;
	struct samples passes = new_samples();
	struct probe busy = { new_samples(), new_samples() }, alone = { new_samples(), new_samples() };

	pthread_t t;
	if (pthread_create(&t, NULL, purger, &passes) != 0)
		return 1;
	probe_for(&busy, seconds);
	atomic_store(&stop, 1);
	pthread_join(t, NULL);
	probe_for(&alone, seconds);

	printf("purge_stall: %u slabs of %u x %u B, one object kept in each, sm_purge(force) a pass\n",
	       SLABS, PER, SIZE);
	report("purge pass", &passes);
	printf(" with the purger running:\n");
	report("64 x malloc+free 4 KiB", &busy.churn);
	report("thread start+alloc+join", &busy.thread);
	printf(" alone:\n");
	report("64 x malloc+free 4 KiB", &alone.churn);
	report("thread start+alloc+join", &alone.thread);
	sm_instance_destroy(inst);
	return 0;
}
