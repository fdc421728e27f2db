/*
 * double_free.c - every double free is caught before the object can be
 * handed out twice (issue 10, item 2), wherever the object sits when it is
 * freed again: this thread's sheaf under other objects, a slab's freelist,
 * another thread's sheaf, the deferred-free list; page runs and huge
 * mappings too; through free() and through the nolock API.
 *
 * One program, two roles (rtest.h).  The driver runs every case in a fresh
 * process, once by default and once with SLABMALLOC_ON_ERROR=report; before
 * the second free the case sends the driver the address it is about to free
 * again ("ADDR 0x...").  The driver then requires:
 *   abort mode:  killed by SIGABRT, and a line on stderr that contains both
 *                "double free" and that address;
 *   report mode: exit status 0, the same line, and the heap check passed
 *                ("HEAPOK"): afterwards the case allocates many blocks of the
 *                misused size (more than were ever freed), keeps them all live
 *                and checks that no pointer comes back twice and that no
 *                block's pattern is overwritten by another's.
 * Any hang (a deferred-free list made cyclic by a double push, say) is
 * killed by the driver's time bound and fails.
 *
 * Cases:
 *   pqp            free(p); free(q); free(p)  (p, q of one size class)
 *   late           p freed, then 20,000 other objects of its class, then p
 *   thread         main frees p; a second thread frees p again and exits
 *   run            a 64 KiB page run freed twice
 *   huge           a 64 MiB huge mapping freed twice
 *   nolock_pqp     sm_kfree_nolock(p); sm_kfree_nolock(q); sm_kfree_nolock(p)
 *   moving         (report mode only) two threads allocate and free
 *                  patterned blocks of one class at random, so that their
 *                  sheaves keep moving to and from the barn and the slabs;
 *                  500 times the main thread hands one of them a block,
 *                  which it frees, and frees the block again itself while
 *                  the threads only free (nobody allocates it again
 *                  before its second free).  The check must not miss one
 *                  because a sheaf moved while it looked (it did: 1-3% of
 *                  them, objects handed out twice); it may keep one it
 *                  cannot tell after 250 ms, so at least one report is
 *                  required, no report but double frees, every thread's
 *                  patterns intact.
 *   nolock_signal  (report mode only) a timer's signal handler frees an
 *                  object twice with sm_kfree_nolock, thousands of times,
 *                  whenever it lands inside the main thread's malloc or
 *                  free of that size class; the main thread runs with
 *                  one-object sheaves, so that it often holds the class's
 *                  list lock then and both frees are deferred: the object must not be pushed
 *                  on the deferred list twice (a cycle: the drain never
 *                  ends).  Every handler's second free must be reported (at
 *                  least one report is checked), and at the end nothing is
 *                  left on the deferred list.
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <time.h>

#include "rtest.h"
#include "slabmalloc.h" /* the nolock API and the statistics */

#define SMALL 48

/* ---------------------------------------------------------------- cases -- */

/*
 * Allocate @count blocks of @size, all live at once, with patterns; every
 * pointer distinct and every pattern intact; free them.  Small sizes also
 * get as many blocks of neighbouring classes.
 */
static void heap_check(size_t size, size_t count)
{
	void **v = calloc(count, sizeof(*v)), **w = calloc(count, sizeof(*w));
	CHECK(v && w);
	/* the last byte is checked apart: the pattern stops before it */
	size_t pat = size < 64 * KiB ? size - 1 : 4 * KiB; /* big ones: the first 4 KiB */
	for (size_t i = 0; i < count; i++) {
		v[i] = w[i] = malloc(size);
		CHECK(v[i]);
		fill(v[i], pat, i);
		((unsigned char *)v[i])[size - 1] = (unsigned char)i;
	}
	if (!all_distinct(w, count)) {
		fprintf(stderr, "double_free: FAILED: malloc(%zu) returned one pointer twice\n", size);
		exit(1);
	}
	for (size_t i = 0; i < count; i++) {
		CHECK_FILL(v[i], pat, i);
		CHECK_EQ(((unsigned char *)v[i])[size - 1], (unsigned char)i);
		free(v[i]);
	}
	free(v);
	free(w);
	rt_ctl("HEAPOK");
}

static int case_pqp(void)
{
	char *p = malloc(SMALL), *q = malloc(SMALL);
	CHECK(p && q);
	free(p);
	free(q);
	rt_ctl("ADDR %p", p);
	free(launder(p));
	rt_ctl("AFTER");
	heap_check(SMALL, 30000);
	return 0;
}

static int case_late(void)
{
	enum { N = 20000 };
	static void *v[N];
	char *p = malloc(SMALL);
	CHECK(p);
	for (int i = 0; i < N; i++)
		CHECK((v[i] = malloc(SMALL)));
	free(p);
	for (int i = 0; i < N; i++)
		free(v[i]);
	rt_ctl("ADDR %p", p);
	free(launder(p));
	rt_ctl("AFTER");
	heap_check(SMALL, 30000);
	return 0;
}

static void *free_and_exit(void *p)
{
	free(p);
	return NULL;
}

static int case_thread(void)
{
	char *p = malloc(SMALL);
	CHECK(p);
	free(p);
	rt_ctl("ADDR %p", p);
	pthread_t t = spawn_thread(free_and_exit, p);
	CHECK(pthread_join(t, NULL) == 0);
	rt_ctl("AFTER");
	heap_check(SMALL, 30000);
	return 0;
}

static int case_run(void)
{
	char *p = malloc(64 * KiB);
	CHECK(p);
	free(p);
	rt_ctl("ADDR %p", p);
	free(launder(p));
	rt_ctl("AFTER");
	heap_check(64 * KiB, 300);
	return 0;
}

static int case_huge(void)
{
	char *p = malloc(64 * MiB);
	CHECK(p);
	free(p);
	rt_ctl("ADDR %p", p);
	free(launder(p));
	rt_ctl("AFTER");
	heap_check(64 * MiB, 4);
	return 0;
}

static int case_nolock_pqp(void)
{
	char *p = malloc(SMALL), *q = malloc(SMALL);
	CHECK(p && q);
	sm_kfree_nolock(p);
	sm_kfree_nolock(q);
	rt_ctl("ADDR %p", p);
	sm_kfree_nolock(launder(p));
	rt_ctl("AFTER");
	heap_check(SMALL, 30000);
	return 0;
}

/* moving: the churn threads, and the block handed to each. */
#define MOVING_THREADS 2
#define MOVING_POOL 2048
static _Atomic(void *) handed[MOVING_THREADS];
static atomic_int frees_only, moving_stop;

static void *moving_churn(void *arg)
{
	unsigned id = (unsigned)(uintptr_t)arg;
	void **pool = calloc(MOVING_POOL, sizeof(void *));
	CHECK(pool);
	uint64_t rs = id + 11;
	while (!atomic_load(&moving_stop)) {
		void *h = atomic_load(&handed[id]);
		if (h) {
			free(h);
			atomic_store(&handed[id], NULL);
		}
		void **k = &pool[rnd_next(&rs) % MOVING_POOL];
		if (*k) {
			CHECK_FILL(*k, SMALL, (uintptr_t)*k);
			free(*k);
			*k = NULL;
		}
		if (!atomic_load(&frees_only)) {
			CHECK((*k = malloc(SMALL)));
			fill(*k, SMALL, (uintptr_t)*k);
		}
	}
	for (unsigned i = 0; i < MOVING_POOL; i++)
		if (pool[i]) {
			CHECK_FILL(pool[i], SMALL, (uintptr_t)pool[i]);
			free(pool[i]);
		}
	free(pool);
	return NULL;
}

static int case_moving(void)
{
	enum { ROUNDS = 500 };
	pthread_t t[MOVING_THREADS];
	for (unsigned i = 0; i < MOVING_THREADS; i++)
		t[i] = spawn_thread(moving_churn, (void *)(uintptr_t)i);
	for (unsigned r = 0; r < ROUNDS; r++) {
		char *p = malloc(SMALL);
		CHECK(p);
		unsigned to = r % MOVING_THREADS;
		atomic_store(&frees_only, 1);
		atomic_store(&handed[to], p);
		while (atomic_load(&handed[to]))
			sched_yield();
		free(launder(p)); /* the double free */
		atomic_store(&frees_only, 0);
		struct timespec pause = { 0, 100 * 1000 };
		nanosleep(&pause, NULL); /* the pools fill again */
	}
	atomic_store(&moving_stop, 1);
	for (unsigned i = 0; i < MOVING_THREADS; i++)
		CHECK(pthread_join(t[i], NULL) == 0);
	rt_ctl("AFTER");
	heap_check(SMALL, 30000);
	return 0;
}

/* nolock_signal: the main thread refills the slot, the handler takes it. */
static _Atomic(void *) slot;
static atomic_ulong h_double_frees;
static volatile sig_atomic_t in_alloc; /* the main thread is inside malloc or free */

static void nolock_handler(int sig)
{
	(void)sig;
	int saved = errno;
	void *p = in_alloc ? atomic_exchange(&slot, NULL) : NULL;
	if (p) {
		sm_kfree_nolock(p);
		sm_kfree_nolock(p); /* the double free */
		atomic_fetch_add(&h_double_frees, 1);
	}
	errno = saved;
}

static int case_nolock_signal(void)
{
	enum { TARGET = 3000, KEEP = 64 };
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = nolock_handler;
	sa.sa_flags = SA_RESTART;
	CHECK(sigaction(SIGUSR1, &sa, NULL) == 0);
	struct sigevent sev;
	memset(&sev, 0, sizeof(sev));
	sev.sigev_notify = SIGEV_SIGNAL;
	sev.sigev_signo = SIGUSR1;
	timer_t tm;
	CHECK(timer_create(CLOCK_MONOTONIC, &sev, &tm) == 0);
	struct itimerspec its = { { 0, 100 * 1000 }, { 0, 100 * 1000 } };
	CHECK(timer_settime(tm, 0, &its, NULL) == 0);

	/* The main thread churns the same class; every block is patterned. */
	void *keep[KEEP] = { 0 };
	uint64_t rs = 3;
	unsigned long ops = 0;
	while (atomic_load(&h_double_frees) < TARGET && ops < 20000000ul) {
		if (!atomic_load_explicit(&slot, memory_order_relaxed)) {
			void *p = malloc(SMALL);
			CHECK(p);
			atomic_store(&slot, p);
		}
		uint64_t r = rnd_next(&rs);
		void **k = &keep[r % KEEP];
		if (*k) {
			CHECK_FILL(*k, SMALL, (uintptr_t)*k);
			in_alloc = 1;
			free(*k);
			in_alloc = 0;
			*k = NULL;
		} else {
			in_alloc = 1;
			*k = malloc(SMALL);
			in_alloc = 0;
			CHECK(*k);
			fill(*k, SMALL, (uintptr_t)*k);
		}
		ops++;
	}
	CHECK(timer_delete(tm) == 0);
	signal(SIGUSR1, SIG_IGN);
	rt_ctl("AFTER");
	for (int i = 0; i < KEEP; i++)
		if (keep[i]) {
			CHECK_FILL(keep[i], SMALL, (uintptr_t)keep[i]);
			free(keep[i]);
		}
	free(atomic_exchange(&slot, NULL));
	malloc_trim(0); /* finishes every deferred free */
	struct sm_stats st;
	sm_stats_get(sm_default_instance(), &st);
	printf("double_free: nolock_signal: %lu double frees in the handler, %lu main-thread ops, "
	       "%llu frees deferred, %llu pending after malloc_trim\n",
	       atomic_load(&h_double_frees), ops, (unsigned long long)st.deferred_frees,
	       (unsigned long long)st.deferred_pending);
	CHECK(atomic_load(&h_double_frees) > 0);
	if (st.deferred_pending) {
		fprintf(stderr, "double_free: FAILED: %llu deferred frees still pending after malloc_trim\n",
			(unsigned long long)st.deferred_pending);
		return 1;
	}
	heap_check(SMALL, 30000);
	return 0;
}

static const struct rt_case cases[] = {
	{ "pqp", case_pqp },
	{ "late", case_late },
	{ "thread", case_thread },
	{ "run", case_run },
	{ "huge", case_huge },
	{ "nolock_pqp", case_nolock_pqp },
	{ "moving", case_moving },
	{ "nolock_signal", case_nolock_signal },
};
#define NCASES (sizeof(cases) / sizeof(cases[0]))

/* --------------------------------------------------------------- driver -- */

static int judge(const char *name, int report, const struct rt_outcome *o)
{
	char label[64], addr[64] = "", tmp[8];
	snprintf(label, sizeof(label), "%s (%s)", name, report ? "report" : "abort");
	int has_addr = ctl_value(o->ctl, "ADDR", addr, sizeof(addr));
	int reported = has_addr ? line_with(o->err, "double free", addr) : line_with(o->err, "double free", NULL);
	const char *why = NULL;
	if (o->hung)
		why = "the process hung (deferred-free list made cyclic?)";
	else if (!report) {
		if (!rt_signaled(o, SIGABRT))
			why = "default mode: the double free did not abort the process (SIGABRT)";
		else if (!reported)
			why = "default mode: no stderr line with \"double free\" and the address";
	} else {
		if (!rt_exit0(o))
			why = "report mode: the process did not exit 0 (an object handed out twice?)";
		else if (!reported)
			why = "report mode: no stderr line with \"double free\" and the address";
		else if (!ctl_value(o->ctl, "HEAPOK", tmp, sizeof(tmp)))
			why = "report mode: the heap check did not finish";
		else if (line_with(o->err, "written while free", NULL) || line_with(o->err, "corrupted", NULL))
			why = "report mode: a block was handed out twice (a free object written, a freelist corrupted)";
	}
	return rt_verdict(label, why, o);
}

int main(int argc, char **argv)
{
	int r = rt_case_main(argc, argv, cases, NCASES);
	if (r >= 0)
		return r;
	static const char *const abort_env[] = { "SLABMALLOC_ON_ERROR=abort", NULL };
	static const char *const report_env[] = { "SLABMALLOC_ON_ERROR=report", NULL };
	static const char *const signal_env[] = { "SLABMALLOC_ON_ERROR=report", "SLABMALLOC_SHEAF_CAPACITY=1",
						  "SLABMALLOC_BARN_MAX_FULL=0", "SLABMALLOC_BARN_MAX_EMPTY=0",
						  NULL };
	static struct rt_outcome o;
	int failed = 0, runs = 0;
	for (size_t i = 0; i < NCASES; i++) {
		int signal_case = !strcmp(cases[i].name, "nolock_signal");
		int report_only = signal_case || !strcmp(cases[i].name, "moving");
		for (int report = report_only; report < 2; report++) {
			rt_run(cases[i].name, signal_case ? signal_env : report ? report_env : abort_env, 20, &o);
			failed += judge(cases[i].name, report, &o);
			runs++;
		}
	}
	printf("%d of %d runs failed\n", failed, runs);
	return failed != 0;
}
