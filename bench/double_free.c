/*
 * double_free.c - the double-free check across threads while other
 * threads keep trading sheaves (docs/architecture.md section 4): does
 * every double free get reported, and what does one cost.  slabmalloc only
 * (an isolated instance through the sm_* API; no LD_PRELOAD).
 *
 * T churn threads allocate and free 64-byte objects of the instance at
 * random (a pool of 4,096 slots each), so their sheaves go to and come
 * from the barn and the slabs all the time.  The main thread allocates
 * an object, hands it to one churn thread in turn, which frees it
 * (into its own sheaves) between two of its operations, and frees it
 * again once that is done: a double free whose object is in another
 * thread's sheaves, or on its way to the barn or the slabs, while the
 * check looks.  Meanwhile the churn threads only free (a slot they find
 * empty stays empty), so that no thread allocates the object again
 * before its second free, which would make that free the free of a live
 * object (a stale pointer's, which no allocator can tell); between two
 * double frees they allocate and free for 100 us.  Counted: the reports
 * (through the instance's error handler: every one should be a double
 * free), and the time of the second frees alone.
 *
 * Usage: bench_double_free [threads (default 1 2 4 8)...].  Prints per
 * thread count "threads T: N double frees, R reported, U us each; O other
 * reports".  A report missing means a double free the check did not see
 * (it kept the object when other threads' moves overlapped its looks for
 * 250 ms, or missed it and freed it a second time: then the object is
 * handed out twice, which malloc's check of the free word may report
 * later, among the other reports, the first three of which are printed).
 * With 0 threads the first free is the main thread's own.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <slabmalloc.h>

#define OBJ 64
#define POOL 4096
#define FREES 2000

static sm_instance_t *inst;
static unsigned reports;
static int stop;
static int frees_only;  /* while a double free is checked (atomic) */

struct churner {
	pthread_t thread;
	void *handed;   /* an object to free, from the main thread (atomic) */
	unsigned seed;
};

static unsigned others;  /* reports that are not about a double free */

static void on_error(const char *msg, void *arg)
{
	(void)arg;
	if (strstr(msg, "double free"))
		__atomic_fetch_add(&reports, 1, __ATOMIC_RELAXED);
	else if (__atomic_fetch_add(&others, 1, __ATOMIC_RELAXED) < 3)
		fprintf(stderr, "%s\n", msg);
}

static void *churn(void *arg)
{
	struct churner *c = arg;
	void **pool = calloc(POOL, sizeof(void *));
	if (!pool)
		abort();
	while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE)) {
		void *h = __atomic_load_n(&c->handed, __ATOMIC_ACQUIRE);
		if (h) {
			sm_kfree(h);
			__atomic_store_n(&c->handed, NULL, __ATOMIC_RELEASE);
		}
		unsigned i = (unsigned)rand_r(&c->seed) % POOL;
		if (pool[i])
			sm_kfree(pool[i]);
		/* Nothing is allocated while the main thread's double free is
		   checked: the object it frees twice stays free, in a sheaf on
		   its way between this thread, the barn and the slabs. */
		pool[i] = __atomic_load_n(&frees_only, __ATOMIC_ACQUIRE) ? NULL : sm_kmalloc(inst, OBJ, 0);
	}
	for (unsigned i = 0; i < POOL; i++)
		sm_kfree(pool[i]);
	free(pool);
	return NULL;
}

static double now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e9 + t.tv_nsec;
}

static void run(unsigned nthreads)
{
	struct sm_options o;
	sm_options_init(&o);
	o.error_handler = on_error;
	inst = sm_instance_create(&o);
	if (!inst)
		abort();
	reports = others = 0;
	stop = 0;
	struct churner *c = calloc(nthreads ? nthreads : 1, sizeof(*c));
	if (!c)
		abort();
	for (unsigned i = 0; i < nthreads; i++) {
		c[i].seed = i + 1;
		if (pthread_create(&c[i].thread, NULL, churn, &c[i]))
			abort();
	}
	double spent = 0;
	for (unsigned k = 0; k < FREES; k++) {
		void *p = sm_kmalloc(inst, OBJ, 0);
		if (!p)
			abort();
		if (nthreads) {
			struct churner *to = &c[k % nthreads];
			__atomic_store_n(&frees_only, 1, __ATOMIC_RELEASE);
			__atomic_store_n(&to->handed, p, __ATOMIC_RELEASE);
			while (__atomic_load_n(&to->handed, __ATOMIC_ACQUIRE))
				sched_yield();
		} else {
			sm_kfree(p);
		}
		double t0 = now_ns();
		sm_kfree(p); /* the second free */
		spent += now_ns() - t0;
		__atomic_store_n(&frees_only, 0, __ATOMIC_RELEASE);
		if (nthreads) {
			/* Let the churners allocate again for a while. */
			struct timespec pause = { 0, 100000 };
			nanosleep(&pause, NULL);
		}
	}
	__atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
	for (unsigned i = 0; i < nthreads; i++)
		pthread_join(c[i].thread, NULL);
	printf("threads %u: %u double frees, %u reported, %.1f us each; %u other reports\n", nthreads,
	       FREES, __atomic_load_n(&reports, __ATOMIC_RELAXED), spent / FREES / 1e3,
	       __atomic_load_n(&others, __ATOMIC_RELAXED));
	free(c);
	sm_instance_destroy(inst);
}

int main(int argc, char **argv)
{
	if (argc > 1) {
		for (int i = 1; i < argc; i++)
			run((unsigned)atoi(argv[i]));
	} else {
		for (unsigned t = 1; t <= 8; t *= 2)
			run(t);
	}
	return 0;
}
