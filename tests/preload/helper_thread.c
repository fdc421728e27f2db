/*
 * helper_thread.c - the nolock path's deferred frees and the helper thread
 * ("slabmalloc-bg") as a real process sees them (docs/signal-safety.md,
 * section 4).  One program, one ctest per mode; the environment is set by
 * the ctest registration (tests/preload/CMakeLists.txt).
 *
 * A free is deferred deterministically from ordinary code: sm_cache_foreach()
 * runs its callback with the instance lock held and the busy marker set (as
 * a signal handler landing in a locked section would find it), and there
 * sm_kfree_nolock() of a huge mapping (300 MiB: it needs the instance lock to
 * come off the huge list) must be deferred.  (A page run or a slab object is
 * not: their free needs a node or list lock, which the callback does not
 * hold.)
 *
 *   never_defers   4 threads allocate, reallocate and free a lot (slab
 *                  sizes, page runs, huge mappings, frees across threads),
 *                  200 short-lived threads, a fork, mallinfo2, malloc_trim:
 *                  nothing is ever deferred, the helper is never started,
 *                  no thread of the process is named slabmalloc-bg, only
 *                  the main thread is left.  Also built for LD_PRELOAD.
 *   lifecycle      (SLABMALLOC_HELPER_IDLE_MS=200) deferred frees start no
 *                  thread by themselves; the next malloc starts the helper,
 *                  which appears in /proc/self/task, and the objects are
 *                  freed (pending 0, the mappings gone); while it runs the
 *                  helper alone finishes a deferred free (no call from the
 *                  thread); deferring and freeing 300 MiB blocks 20 times
 *                  keeps the RSS bounded; without work it exits (only the
 *                  main thread left); the next deferral starts it again.
 *   next_call_small, next_call_large
 *                  the bound on a deferred free: 2 frees deferred (no helper
 *                  running), then exactly one call of a given kind (small:
 *                  malloc, free, calloc, realloc, posix_memalign,
 *                  aligned_alloc; large: malloc, free and realloc of page
 *                  runs, malloc and free of huge mappings); with
 *                  SLABMALLOC_HELPER_THREAD=0 nothing is pending right after
 *                  it and no helper ever appears; with the helper, that call
 *                  starts it (a free finishes the frees itself and the next
 *                  allocation starts it) and the frees are finished within 2 s.
 *   fork           the helper runs in the parent and objects were just
 *                  deferred (still on the list or not: a race, counted) when
 *                  the process forks, 10 times; the child has no helper, its
 *                  first call finishes what was pending, it allocates
 *                  normally, and a deferral in the child starts a helper
 *                  there, which finishes it; every child exits 0.
 *   fork_nohelper  (SLABMALLOC_HELPER_THREAD=0) 3 objects are on the list at
 *                  fork: the child sees them pending, its first call frees
 *                  them; the parent's first call frees its own copies.
 *   no_start_in_handler
 *                  the helper is never started from a signal handler: a free
 *                  is deferred, then the first allocator call after it is a
 *                  signal handler's (its thread outside the allocator, so
 *                  busy is clear); pthread_create (interposed by this
 *                  program) must not be called inside the handler; the next
 *                  ordinary call starts the helper.
 *   no_start_in_handler_stress
 *                  the consequence: for 3 s the main thread creates and joins
 *                  threads (glibc holds its stack-cache lock in there) under a
 *                  timer signal 30 us after each handler returns, whose
 *                  handler defers a free and then allocates; a watchdog turns
 *                  a hang into a failure.
 *   stats_line     runs this program with SLABMALLOC_STATS=1 (stderr through
 *                  a pipe) and checks the "slabmalloc: nolock:" line at exit:
 *                  exact counts with and without the helper, and no such
 *                  line from a process that never deferred.
 * Every failed check exits 1 with the line and the values.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ptest.h"
#include "slabmalloc.h" /* struct sm_stats; calls only when linked (below) */

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)
/* Above the 256 MiB up to which the huge threshold adapts (architecture.md
   section 9): a mapping of its own however many were freed before.  Only
   the bytes touched are resident. */
#define HUGE_SIZE (300 * MiB)

#define SLABSTATS_PROG "helper_thread"
#include "slabstats.h"

static __thread volatile int in_handler;

static int in_signal_handler(void)
{
	return in_handler;
}

static __attribute__((unused)) void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };
	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static __attribute__((unused)) size_t rss_kib(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	CHECK(f);
	unsigned long size, res;
	CHECK(fscanf(f, "%lu %lu", &size, &res) == 2);
	fclose(f);
	return res * (size_t)(sysconf(_SC_PAGESIZE) / 1024);
}

/*
 * Poll until @cond holds, for at most @ms milliseconds (10 ms steps).  Only
 * sm_stats_get and /proc are read meanwhile: neither finishes a deferred free.
 */
#define WAIT_FOR(cond, ms) do { for (unsigned _w = 0; _w < (ms) / 10 && !(cond); _w++) \
	sleep_ms(10); } while (0)

#ifndef CONF_PRELOAD
/* ------------------------------------------------- deferring on purpose -- */

static void *to_defer[64];
static unsigned nr_to_defer;
static unsigned cb_calls;

/* Runs with inst->lock held and busy set: the huge frees must be deferred. */
static void defer_cb(const struct sm_cache_stats *st, void *arg)
{
	(void)st;
	(void)arg;
	cb_calls++;
	while (nr_to_defer)
		sm_kfree_nolock(to_defer[--nr_to_defer]);
}

/* Allocate @n huge blocks (touched: @touch bytes each), then defer their frees. */
static void alloc_huge(void **v, unsigned n, size_t touch)
{
	for (unsigned i = 0; i < n; i++) {
		v[i] = malloc(HUGE_SIZE);
		CHECK(v[i]);
		CHECK(sm_ptr_instance(v[i]) == inst);
		memset(v[i], 0x5a, touch);
	}
}

/*
 * Defer the frees of @v[0..n) from inside sm_cache_foreach.  No allocator call
 * happens between the pushes and the return.  Checks that exactly @n frees
 * were deferred.
 */
static void defer_frees(void **v, unsigned n)
{
	CHECK_LE(n, 64);
	for (unsigned i = 0; i < n; i++)
		to_defer[i] = v[i];
	nr_to_defer = n;
	cb_calls = 0;
	uint64_t before = stats().deferred_frees;
	sm_cache_foreach(inst, defer_cb, NULL);
	CHECK(cb_calls > 0);
	CHECK_EQ(nr_to_defer, 0);
	uint64_t after = stats().deferred_frees;
	if (after != before + n) {
		fprintf(stderr, "helper_thread: %u frees of huge blocks inside sm_cache_foreach: "
				"deferred_frees went from %llu to %llu, expected +%u\n", n,
			(unsigned long long)before, (unsigned long long)after, n);
		exit(1);
	}
}

static void defer_huge(unsigned n, void **v)
{
	void *tmp[64];
	if (!v)
		v = tmp;
	alloc_huge(v, n, 4096);
	defer_frees(v, n);
}

/* One ordinary malloc/free pair: a sheaf pop and push (or the slow path). */
static void next_call(void)
{
	void *p = malloc(64);
	CHECK(p);
	free(p);
}
#endif /* !CONF_PRELOAD */

/* ----------------------------------------------------------- never_defers -- */

#define ND_THREADS 4
#define ND_OPS 150000
#define ND_SHARE 256

struct item {
	void *p;
	size_t size;
	uint64_t seed;
};

static struct {
	pthread_mutex_t lock;
	struct item slot[ND_SHARE];
} share = { PTHREAD_MUTEX_INITIALIZER, { { 0 } } };

static size_t nd_size(uint64_t *rs)
{
	uint64_t r = rnd_next(rs);
	unsigned k = (unsigned)(r % 10000);
	r >>= 16;
	if (k < 9000)
		return 1 + r % 1024;
	if (k < 9900)
		return 1025 + r % (31 * KiB);
	if (k < 9999)
		return 33 * KiB + r % (300 * KiB);
	return HUGE_SIZE;
}

static void nd_check(const struct item *it)
{
	size_t n = it->size > 64 * KiB ? 64 * KiB : it->size;
	CHECK_FILL(it->p, n, it->seed);
	CHECK_GE(malloc_usable_size(it->p), it->size);
}

static void nd_fill(struct item *it)
{
	fill(it->p, it->size > 64 * KiB ? 64 * KiB : it->size, it->seed);
}

static void *nd_thread(void *arg)
{
	unsigned id = (unsigned)(uintptr_t)arg;
	enum { SLOTS = 512 };
	static __thread struct item own[SLOTS];
	uint64_t rs = 0x1234 + id;
	for (unsigned op = 0; op < ND_OPS; op++) {
		uint64_t r = rnd_next(&rs);
		struct item *it = &own[r % SLOTS];
		unsigned k = (unsigned)((r >> 16) % 100);
		if (!it->p) {
			it->size = nd_size(&rs);
			it->seed = (uint64_t)id << 40 | op;
			if (k < 15) {
				it->p = calloc(1, it->size);
				CHECK(it->p);
				CHECK_EQ(first_nonzero(it->p, it->size > 64 * KiB ? 64 * KiB : it->size),
					 (size_t)-1);
			} else if (k < 20) {
				CHECK_EQ(posix_memalign(&it->p, 256, it->size), 0);
				CHECK_EQ((uintptr_t)it->p % 256, 0);
			} else {
				it->p = malloc(it->size);
				CHECK(it->p);
			}
			nd_fill(it);
			continue;
		}
		nd_check(it);
		if (k < 25) {
			size_t n = nd_size(&rs);
			void *q = realloc(it->p, n);
			CHECK(q);
			size_t keep = n < it->size ? n : it->size;
			CHECK_FILL(q, keep > 64 * KiB ? 64 * KiB : keep, it->seed);
			it->p = q;
			it->size = n;
			nd_fill(it);
		} else if (k < 40) {
			/* Swap with the shared pool: frees of other threads' blocks. */
			pthread_mutex_lock(&share.lock);
			struct item *s = &share.slot[(r >> 24) % ND_SHARE];
			struct item mine = *it;
			*it = *s;
			*s = mine;
			pthread_mutex_unlock(&share.lock);
			if (it->p) {
				nd_check(it);
				free(it->p);
				it->p = NULL;
			}
		} else {
			free(it->p);
			it->p = NULL;
		}
	}
	for (unsigned i = 0; i < SLOTS; i++)
		if (own[i].p) {
			nd_check(&own[i]);
			free(own[i].p);
			own[i].p = NULL;
		}
	return NULL;
}

static void *short_thread(void *arg)
{
	uint64_t rs = (uint64_t)(uintptr_t)arg;
	void *v[64];
	for (int i = 0; i < 64; i++) {
		v[i] = malloc(nd_size(&rs) % 5000);
		CHECK(v[i]);
	}
	for (int i = 0; i < 64; i += 2)
		free(v[i]);
	/* the odd ones are freed by the main thread after the join */
	void **keep = malloc(32 * sizeof(void *));
	CHECK(keep);
	for (int i = 1; i < 64; i += 2)
		keep[i / 2] = v[i];
	return keep;
}

static void expect_never_deferred(const char *when)
{
	struct sm_stats st = stats();
	int helpers, threads = count_threads(&helpers);
	printf("never_defers: %s: deferred frees %llu, helper starts %llu, helper running %d, "
	       "threads %d (slabmalloc-bg %d)\n", when, (unsigned long long)st.deferred_frees,
	       (unsigned long long)st.helper_starts, (int)st.helper_running, threads, helpers);
	CHECK_EQ(st.deferred_frees, 0);
	CHECK_EQ(st.deferred_pending, 0);
	CHECK_EQ(st.helper_starts, 0);
	CHECK(!st.helper_running);
	CHECK_EQ(helpers, 0);
	CHECK_EQ(threads, 1);
}

static int t_never_defers(void)
{
	stats_init();
	expect_never_deferred("at start");
	pthread_t t[ND_THREADS];
	for (unsigned i = 0; i < ND_THREADS; i++)
		t[i] = spawn_thread(nd_thread, (void *)(uintptr_t)i);
	/* Meanwhile: short-lived threads, statistics, trims. */
	for (unsigned i = 0; i < 200; i++) {
		pthread_t s = spawn_thread(short_thread, (void *)(uintptr_t)(i + 1));
		void **keep;
		CHECK(pthread_join(s, (void **)&keep) == 0);
		for (int j = 0; j < 32; j++)
			free(keep[j]);
		free(keep);
		if (i % 50 == 0) {
			struct mallinfo2 mi = mallinfo2();
			CHECK(mi.arena > 0);
			malloc_trim(0);
		}
	}
	for (unsigned i = 0; i < ND_THREADS; i++)
		CHECK(pthread_join(t[i], NULL) == 0);
	pthread_mutex_lock(&share.lock);
	for (unsigned i = 0; i < ND_SHARE; i++)
		if (share.slot[i].p) {
			nd_check(&share.slot[i]);
			free(share.slot[i].p);
			share.slot[i].p = NULL;
		}
	pthread_mutex_unlock(&share.lock);
	/* A fork, and a child that allocates. */
	fflush(stdout);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		alarm(10);
		void *p = malloc(100 * KiB), *q = calloc(1, 1000);
		if (!p || !q)
			_exit(3);
		free(p);
		free(q);
		struct sm_stats st = stats();
		_exit(st.deferred_frees || st.helper_starts || helper_threads() ? 4 : 0);
	}
	int status;
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status));
	CHECK_EQ(WEXITSTATUS(status), 0);
	free(malloc(64));
	expect_never_deferred("at the end");
	printf("never_defers: %u threads x %u operations, 200 short-lived threads, a fork: "
	       "nothing deferred, no helper\n", ND_THREADS, ND_OPS);
	return 0;
}

#ifndef CONF_PRELOAD
/* -------------------------------------------------------------- lifecycle -- */

static void expect_helper_appears(const char *when)
{
	int h = 0;
	for (unsigned w = 0; w < 200 && !(h = helper_threads()); w++)
		sleep_ms(10);
	if (h != 1) {
		fprintf(stderr, "helper_thread: %s: %d threads named slabmalloc-bg after 2 s, expected 1\n",
			when, h);
		exit(1);
	}
}

static void expect_drained(const char *when, unsigned ms)
{
	struct sm_stats st = stats();
	WAIT_FOR(!(st = stats()).deferred_pending, ms);
	if (st.deferred_pending) {
		fprintf(stderr, "helper_thread: %s: %llu deferred frees still pending after %u ms "
				"(helper running %d, %d slabmalloc-bg threads)\n", when,
			(unsigned long long)st.deferred_pending, ms, (int)st.helper_running,
			helper_threads());
		exit(1);
	}
}

static void expect_helper_exits(const char *when)
{
	struct sm_stats st;
	int helpers = 0, threads = 0;
	WAIT_FOR(!(st = stats()).helper_running && (threads = count_threads(&helpers)) == 1, 5000);
	threads = count_threads(&helpers);
	if (st.helper_running || helpers || threads != 1) {
		fprintf(stderr, "helper_thread: %s: 5 s after the last work the helper is %s, "
				"%d threads (%d slabmalloc-bg); expected it gone (idle 200 ms) and only "
				"the main thread\n", when, st.helper_running ? "running" : "stopped",
			threads, helpers);
		exit(1);
	}
}

static int t_lifecycle(void)
{
	stats_init();
	setvbuf(stdout, NULL, _IOLBF, 0);
	next_call();
	struct sm_stats st0 = stats();
	CHECK_EQ(st0.helper_starts, 0);
	CHECK_EQ(st0.deferred_frees, 0);
	CHECK_EQ(count_threads(NULL), 1);

	/* 1. Deferred frees alone start nothing. */
	void *v[3];
	defer_huge(3, v);
	struct sm_stats st = stats();
	CHECK_EQ(st.deferred_pending, 3);
	CHECK_EQ(st.huge_allocations, st0.huge_allocations + 3);
	CHECK_EQ(st.helper_starts, 0);
	CHECK(!st.helper_running);
	sleep_ms(50);
	CHECK_EQ(helper_threads(), 0);
	for (int i = 0; i < 3; i++)
		CHECK(sm_ptr_instance(v[i]) == inst); /* still mapped: not freed yet */

	/* 2. The next malloc starts the helper; the objects are freed. */
	next_call();
	expect_helper_appears("after the first deferral and the next malloc");
	expect_drained("after the next malloc", 2000);
	st = stats();
	CHECK_EQ(st.helper_starts, 1);
	CHECK_EQ(st.huge_allocations, st0.huge_allocations);
	CHECK_EQ(st.huge_bytes, st0.huge_bytes);
	for (int i = 0; i < 3; i++)
		CHECK(sm_ptr_instance(v[i]) == NULL); /* the mappings are gone */
	printf("lifecycle: 3 deferred frees, then one malloc: helper started, pending 0, "
	       "mappings released\n");

	/* 3. While it runs, the helper alone finishes a deferral: no call from here.
	   (If it idled out in between, a call restarts it and we try again.) */
	int done = 0;
	for (int attempt = 0; attempt < 3 && !done; attempt++) {
		if (!stats().helper_running) {
			printf("lifecycle: the helper idled out already (a slow machine?); restarting it\n");
			defer_huge(1, NULL);
			next_call();
			expect_drained("restarting the helper", 2000);
		}
		void *w[1];
		defer_huge(1, w);
		WAIT_FOR(!stats().deferred_pending, 2000);
		st = stats();
		if (!st.deferred_pending) {
			CHECK(sm_ptr_instance(w[0]) == NULL);
			done = 1;
		} else if (st.helper_running) {
			fprintf(stderr, "helper_thread: the helper is running but left %llu deferred "
					"frees pending for 2 s\n", (unsigned long long)st.deferred_pending);
			exit(1);
		} else {
			/* it idled out between our look and the push: the push kicked us */
			printf("lifecycle: the helper idled out during the deferral; again\n");
			next_call();
			expect_drained("after a call", 2000);
		}
	}
	CHECK(done);
	printf("lifecycle: a deferral while the helper runs is finished by the helper alone "
	       "(helper woken %llu times)\n", (unsigned long long)st.helper_wakeups);

	/* 4. The memory comes back: 20 rounds of 2 x 300 MiB (8 MiB touched each). */
	void *re[3];
	alloc_huge(re, 3, 64);
	int reused = 0;
	for (int i = 0; i < 3; i++)
		for (int j = 0; j < 3; j++)
			reused += re[i] == v[j];
	for (int i = 0; i < 3; i++)
		free(re[i]);
	size_t rss0 = rss_kib(), peak = rss0;
	for (int round = 0; round < 20; round++) {
		void *b[2];
		alloc_huge(b, 2, 8 * MiB);
		defer_frees(b, 2);
		next_call(); /* in case the helper idled out: restarts it, or drains */
		expect_drained("in the RSS rounds", 2000);
		size_t r = rss_kib();
		if (r > peak)
			peak = r;
	}
	size_t rss1 = rss_kib();
	printf("lifecycle: 300 MiB blocks freed through the deferred list: %d of 3 addresses reused "
	       "at once; RSS %zu KiB before 20 rounds of 2 x 8 MiB touched, %zu KiB after, at most %zu "
	       "KiB after a round\n",
	       reused, rss0, rss1, peak);
	/* Leaked, the 20 rounds would keep 320 MiB resident. */
	CHECK_LE(rss1, rss0 + 24 * 1024);
	st = stats();
	CHECK_EQ(st.huge_allocations, st0.huge_allocations);

	/* 5. Without work it exits (idle 200 ms): only the main thread is left. */
	expect_helper_exits("after the RSS rounds");
	st = stats();
	uint64_t starts = st.helper_starts;
	printf("lifecycle: helper idled out: only the main thread left (started %llu times so far)\n",
	       (unsigned long long)starts);

	/* 6. And comes back on the next need, from the next call only. */
	defer_huge(1, NULL);
	sleep_ms(50);
	st = stats();
	CHECK_EQ(st.deferred_pending, 1);
	CHECK(!st.helper_running);
	CHECK_EQ(helper_threads(), 0);
	next_call();
	expect_helper_appears("after a deferral with the helper gone and the next malloc");
	expect_drained("after the restart", 2000);
	CHECK_EQ(stats().helper_starts, starts + 1);
	expect_helper_exits("after the restart");
	printf("lifecycle: restarted by the next deferral (started %llu times), idled out again\n",
	       (unsigned long long)stats().helper_starts);
	return 0;
}

/* ------------------------------------------------------------- next call -- */

enum call_kind {
	C_MALLOC, C_FREE, C_CALLOC, C_REALLOC, C_MEMALIGN, C_ALIGNED, C_MALLOC_RUN, C_FREE_RUN,
	C_REALLOC_RUN, C_MALLOC_HUGE, C_FREE_HUGE, C_NR
};

static const char *const call_name[C_NR] = {
	"malloc(64)", "free(64-byte block)", "calloc(1, 100)", "realloc(64 -> 200 bytes)",
	"posix_memalign(64, 256)", "aligned_alloc(4096, 4096)", "malloc(100 KiB)",
	"free(100 KiB block)", "realloc(100 KiB -> 300 KiB)", "malloc(300 MiB)", "free(300 MiB block)",
};

/* The one call under test, on operands prepared before the deferral. */
static void *do_call(enum call_kind k, void *operand)
{
	void *p = NULL;
	switch (k) {
	case C_MALLOC:
		p = malloc(64);
		break;
	case C_FREE:
	case C_FREE_RUN:
	case C_FREE_HUGE:
		free(operand);
		return NULL;
	case C_CALLOC:
		p = calloc(1, 100);
		break;
	case C_REALLOC:
		p = realloc(operand, 200);
		break;
	case C_MEMALIGN:
		CHECK_EQ(posix_memalign(&p, 64, 256), 0);
		break;
	case C_ALIGNED:
		p = aligned_alloc(4096, 4096);
		break;
	case C_MALLOC_RUN:
		p = malloc(100 * KiB);
		break;
	case C_REALLOC_RUN:
		p = realloc(operand, 300 * KiB);
		break;
	case C_MALLOC_HUGE:
		p = malloc(HUGE_SIZE);
		break;
	case C_NR:
		break;
	}
	CHECK(p);
	return p;
}

static int helper_enabled(void)
{
	const char *v = getenv("SLABMALLOC_HELPER_THREAD");
	return !v || strcmp(v, "0");
}

/*
 * For each kind of call in [first, last]: defer 2 frees (no helper running),
 * make that one call, and see the frees finished: at once without the helper;
 * with it, by the helper the call started (within 2 s).
 */
static int t_next_call(const char *name, enum call_kind first, enum call_kind last)
{
	stats_init();
	setvbuf(stdout, NULL, _IOLBF, 0);
	int helper = helper_enabled();
	next_call();
	struct sm_stats st0 = stats();
	CHECK_EQ(st0.helper_starts, 0);
	int failed = 0;
	for (int k = (int)first; k <= (int)last; k++) {
		if (helper && stats().helper_running)
			expect_helper_exits("between two kinds of call");
		/* Warm the sheaf of the class so a small call is a fast path. */
		free(malloc(64));
		void *operand = NULL;
		if (k == C_FREE || k == C_REALLOC)
			operand = malloc(64);
		else if (k == C_FREE_RUN || k == C_REALLOC_RUN)
			operand = malloc(100 * KiB);
		else if (k == C_FREE_HUGE)
			operand = malloc(HUGE_SIZE);
		if (operand)
			memset(operand, 1, 64);
		void *v[2];
		defer_huge(2, v);
		struct sm_stats st = stats();
		CHECK_EQ(st.deferred_pending, 2);
		CHECK(!st.helper_running);
		uint64_t starts = st.helper_starts;
		void *p = do_call((enum call_kind)k, operand);
		/* A free never starts the helper (glibc frees dead threads' TLS
		   under the lock pthread_create needs: src/helper.h); it finishes
		   the frees itself, and the next allocation starts the helper. */
		bool frees = k == C_FREE || k == C_FREE_RUN || k == C_FREE_HUGE ||
			     (k == C_REALLOC_RUN && stats().helper_starts == starts);
		if (helper && frees && !stats().deferred_pending && !stats().helper_running)
			free(malloc(100 * KiB)); /* an allocation that reaches a slow path */
		if (helper)
			WAIT_FOR(helper_threads() == 1 && !stats().deferred_pending, 2000);
		st = stats();
		int helpers = helper_threads();
		printf("%s: 2 frees deferred, then %-28s -> pending %llu, huge mappings %zu (expected "
		       "%zu), helper starts %llu, slabmalloc-bg threads %d\n", name, call_name[k],
		       (unsigned long long)st.deferred_pending, st.huge_allocations,
		       st0.huge_allocations + (k == C_MALLOC_HUGE), (unsigned long long)st.helper_starts,
		       helpers);
		if (!helper) {
			CHECK_EQ(st.helper_starts, 0);
			CHECK(!st.helper_running);
			CHECK_EQ(helpers, 0);
		}
		if (st.deferred_pending) {
			fprintf(stderr, "helper_thread: %s: %llu deferred frees still pending after the "
					"thread's next call, %s%s\n", name,
				(unsigned long long)st.deferred_pending, call_name[k],
				helper ? ", and 2 s of waiting for the helper" : "");
			failed++;
		} else if (helper && (st.helper_starts != starts + 1 || helpers != 1)) {
			fprintf(stderr, "helper_thread: %s: the frees were finished, but %s did not start "
					"the helper (started %llu times, before %llu; %d slabmalloc-bg threads)\n",
				name, call_name[k], (unsigned long long)st.helper_starts,
				(unsigned long long)starts, helpers);
			failed++;
		} else {
			for (int i = 0; i < 2; i++)
				CHECK(sm_ptr_instance(v[i]) == NULL);
		}
		free(p);
		next_call(); /* clean up what a failing kind left */
		if (helper)
			WAIT_FOR(!stats().deferred_pending, 2000);
		CHECK_EQ(stats().deferred_pending, 0);
	}
	struct sm_stats st = stats();
	CHECK_EQ(st.huge_allocations, st0.huge_allocations);
	if (!helper) {
		sleep_ms(100);
		CHECK_EQ(stats().helper_starts, 0);
		CHECK_EQ(count_threads(NULL), 1);
	}
	if (failed) {
		fprintf(stderr, "helper_thread: FAILED: %s: %d of %d kinds of next call did not finish "
				"the deferred frees%s\n", name, failed, (int)last - (int)first + 1,
			helper ? " or start the helper" : "");
		return 1;
	}
	printf("%s: every kind of next call finished the deferred frees%s\n", name,
	       helper ? " and started the helper" : "; no helper ever ran");
	return 0;
}

/* ------------------------------------------------------------------- fork -- */

/* The child: returns its exit status. */
static int fork_child(int fd, const struct sm_stats *parent, char *pre, uint64_t seed)
{
	alarm(20); /* a deadlock in the child becomes SIGALRM */
	struct sm_stats st = stats();
	unsigned char pending = (unsigned char)st.deferred_pending;
	if (write(fd, &pending, 1) != 1)
		return 10;
	if (st.helper_running || helper_threads()) {
		fprintf(stderr, "fork child: a helper is running right after fork (%d threads)\n",
			helper_threads());
		return 11;
	}
	if (count_threads(NULL) != 1) {
		fprintf(stderr, "fork child: %d threads\n", count_threads(NULL));
		return 12;
	}
	/* The first call finishes what was pending. */
	next_call();
	st = stats();
	if (st.deferred_pending) {
		fprintf(stderr, "fork child: %llu deferred frees pending after its first call\n",
			(unsigned long long)st.deferred_pending);
		return 13;
	}
	if (st.huge_allocations != parent->huge_allocations) {
		fprintf(stderr, "fork child: %zu huge mappings after the first call, expected %zu\n",
			st.huge_allocations, parent->huge_allocations);
		return 14;
	}
	/* Memory from before the fork, and allocations after it, work. */
	CHECK_FILL(pre, 1000, seed);
	free(pre);
	void *b[200];
	for (int i = 0; i < 200; i++) {
		size_t n = (size_t)i * 97 + 1 + (i % 50 == 0 ? 200 * KiB : 0);
		b[i] = i % 3 ? malloc(n) : calloc(1, n);
		CHECK(b[i]);
		fill(b[i], n, seed + (uint64_t)i);
	}
	for (int i = 0; i < 200; i++) {
		size_t n = (size_t)i * 97 + 1 + (i % 50 == 0 ? 200 * KiB : 0);
		CHECK_FILL(b[i], n, seed + (uint64_t)i);
		free(b[i]);
	}
	/* A deferral in the child: a helper of its own (started by a call, or
	   already started by the first call), which finishes it. */
	uint64_t starts = stats().helper_starts;
	defer_huge(2, NULL);
	next_call();
	WAIT_FOR(helper_threads() == 1 && !stats().deferred_pending, 2000);
	st = stats();
	if (st.deferred_pending || helper_threads() != 1 || !st.helper_running) {
		fprintf(stderr, "fork child: after a deferral and a call: pending %llu, helper running "
				"%d, %d slabmalloc-bg threads\n", (unsigned long long)st.deferred_pending,
			(int)st.helper_running, helper_threads());
		return 15;
	}
	if (st.helper_starts != parent->helper_starts + 1 || st.helper_starts < starts) {
		fprintf(stderr, "fork child: helper started %llu times (parent: %llu), expected one start "
				"in the child\n", (unsigned long long)st.helper_starts,
			(unsigned long long)parent->helper_starts);
		return 16;
	}
	/* And it finishes a deferral alone, with no call from this thread. */
	defer_huge(1, NULL);
	WAIT_FOR(!stats().deferred_pending, 2000);
	if (stats().deferred_pending) {
		fprintf(stderr, "fork child: the child's helper left a deferred free pending for 2 s\n");
		return 17;
	}
	return 0;
}

static int t_fork(void)
{
	stats_init();
	setvbuf(stdout, NULL, _IOLBF, 0);
	next_call();
	/* Start the helper. */
	defer_huge(1, NULL);
	next_call();
	expect_helper_appears("before the forks");
	expect_drained("before the forks", 2000);
	int caught = 0, failed = 0;
	enum { FORKS = 10 };
	for (int f = 0; f < FORKS; f++) {
		uint64_t seed = 0xf00 + (uint64_t)f;
		char *pre = malloc(1000);
		CHECK(pre);
		fill(pre, 1000, seed);
		if (!stats().helper_running) {
			/* idled out: bring it back for this fork */
			defer_huge(1, NULL);
			next_call();
			expect_drained("restarting the helper", 2000);
		}
		struct sm_stats parent = stats();
		CHECK(parent.helper_running);
		int fds[2];
		CHECK(pipe(fds) == 0);
		fflush(stdout);
		void *v[4];
		alloc_huge(v, 4, 4096);
		/* The helper wakes up at the first push: fork at once after the last. */
		defer_frees(v, 4);
		pid_t pid = fork();
		CHECK(pid >= 0);
		if (pid == 0) {
			close(fds[0]);
			_exit(fork_child(fds[1], &parent, pre, seed));
		}
		close(fds[1]);
		unsigned char pending = 0xff;
		ssize_t r = read(fds[0], &pending, 1);
		close(fds[0]);
		int status;
		CHECK(waitpid(pid, &status, 0) == pid);
		if (!WIFEXITED(status) || WEXITSTATUS(status)) {
			if (WIFSIGNALED(status))
				fprintf(stderr, "fork %d: child killed by signal %d (%s)\n", f,
					WTERMSIG(status), strsignal(WTERMSIG(status)));
			else
				fprintf(stderr, "fork %d: child exit status %d\n", f, WEXITSTATUS(status));
			failed++;
		} else if (r == 1 && pending) {
			caught++;
		}
		/* The parent's own copies: its helper finishes them. */
		CHECK_FILL(pre, 1000, seed);
		free(pre);
		expect_drained("in the parent after the fork", 2000);
		CHECK_EQ(stats().huge_allocations, parent.huge_allocations);
	}
	CHECK_EQ(failed, 0);
	printf("fork: %d forks with the helper running right after 4 deferred frees: every child "
	       "exited 0; in %d of them objects were still on the list at fork time\n", FORKS, caught);
	return 0;
}

static int t_fork_nohelper(void)
{
	stats_init();
	setvbuf(stdout, NULL, _IOLBF, 0);
	next_call();
	struct sm_stats st0 = stats();
	CHECK_EQ(st0.helper_starts, 0);
	char *pre = malloc(5000);
	CHECK(pre);
	fill(pre, 5000, 77);
	void *v[3];
	defer_huge(3, v);
	CHECK_EQ(stats().deferred_pending, 3);
	fflush(stdout);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		alarm(20);
		struct sm_stats st = stats();
		CHECK_EQ(st.deferred_pending, 3);
		CHECK_EQ(st.huge_allocations, st0.huge_allocations + 3);
		next_call();
		st = stats();
		CHECK_EQ(st.deferred_pending, 0);
		CHECK_EQ(st.huge_allocations, st0.huge_allocations);
		for (int i = 0; i < 3; i++)
			CHECK(sm_ptr_instance(v[i]) == NULL);
		CHECK_FILL(pre, 5000, 77);
		free(pre);
		void *b[100];
		for (int i = 0; i < 100; i++) {
			b[i] = malloc((size_t)i * 331 + 1);
			CHECK(b[i]);
			fill(b[i], (size_t)i * 331 + 1, (uint64_t)i);
		}
		for (int i = 0; i < 100; i++) {
			CHECK_FILL(b[i], (size_t)i * 331 + 1, (uint64_t)i);
			free(b[i]);
		}
		defer_huge(2, NULL);
		CHECK_EQ(stats().deferred_pending, 2);
		next_call();
		st = stats();
		CHECK_EQ(st.deferred_pending, 0);
		CHECK_EQ(st.helper_starts, 0);
		CHECK_EQ(helper_threads(), 0);
		_exit(0);
	}
	int status;
	CHECK(waitpid(pid, &status, 0) == pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		fprintf(stderr, "fork_nohelper: child %s %d\n", WIFSIGNALED(status) ? "killed by signal" :
			"exit status", WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
		return 1;
	}
	/* The parent's copies are still on its list until its own next call. */
	struct sm_stats st = stats();
	CHECK_EQ(st.deferred_pending, 3);
	CHECK_EQ(st.huge_allocations, st0.huge_allocations + 3);
	next_call();
	st = stats();
	CHECK_EQ(st.deferred_pending, 0);
	CHECK_EQ(st.huge_allocations, st0.huge_allocations);
	CHECK_FILL(pre, 5000, 77);
	free(pre);
	CHECK_EQ(st.helper_starts, 0);
	CHECK_EQ(count_threads(NULL), 1);
	printf("fork_nohelper: 3 frees on the deferred list at fork: pending in both processes, "
	       "finished by each one's next call\n");
	return 0;
}

/* ---------------------------------------------------- no_start_in_handler -- */

static void *victim;
static void victim_cb(const struct sm_cache_stats *st, void *arg)
{
	(void)st;
	(void)arg;
	if (victim) {
		sm_kfree_nolock(victim);
		victim = NULL;
	}
}

static void alloc_handler(int sig)
{
	(void)sig;
	int saved = errno;
	in_handler = 1;
	void *p = malloc(64);
	free(p);
	in_handler = 0;
	errno = saved;
}

static int t_no_start_in_handler(void)
{
	stats_init();
	setvbuf(stdout, NULL, _IOLBF, 0);
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = alloc_handler;
	CHECK(sigaction(SIGUSR1, &sa, NULL) == 0);
	next_call();
	defer_huge(1, NULL);
	CHECK_EQ(stats().deferred_pending, 1);
	CHECK(!stats().helper_running);
	unsigned long before = atomic_load(&thread_creates);
	/* The first allocator call after the deferral is the handler's. */
	CHECK(pthread_kill(pthread_self(), SIGUSR1) == 0);
	unsigned long in_h = atomic_load(&thread_creates_in_handler),
		      during = atomic_load(&thread_creates) - before;
	struct sm_stats st = stats();
	printf("no_start_in_handler: a free deferred, then a handler's malloc/free: pthread_create "
	       "called %lu times inside the handler; pending %llu, helper starts %llu\n", in_h,
	       (unsigned long long)st.deferred_pending, (unsigned long long)st.helper_starts);
	if (in_h) {
		fprintf(stderr, "helper_thread: FAILED: the helper thread was started from inside a signal "
				"handler (%lu pthread_create calls there; docs/signal-safety.md: never from a "
				"signal handler).  A handler that interrupted glibc's pthread_create/join (its "
				"stack-cache lock held) deadlocks there: see no_start_in_handler_stress\n", in_h);
		return 1;
	}
	CHECK_EQ(during, 0);
	/* The next ordinary call starts it. */
	next_call();
	expect_helper_appears("after the handler, at the next ordinary call");
	expect_drained("after the next ordinary call", 2000);
	printf("no_start_in_handler: the helper was started by the next ordinary call\n");
	return 0;
}

static volatile unsigned long stress_progress, stress_signals, stress_deferred;
static volatile int stress_done;
/*
 * The timer is one-shot and the handler arms it again as it returns: the
 * next signal comes 30 us after the handler, not 30 us after the last
 * signal.  With a periodic timer a handler slower than the period (its
 * mmap and munmap of 300 MiB take longer than 30 us on some machines)
 * lets the main thread never run between signals, and the watchdog took
 * that livelock for a deadlock.
 */
static timer_t stress_timer;
static const struct itimerspec stress_next = { { 0, 0 }, { 0, 30000 } };

static void defer_handler(int sig)
{
	(void)sig;
	int saved = errno;
	in_handler = 1;
	stress_signals++;
	/* Defer a free (sm_cache_foreach does nothing when this thread was
	   inside the allocator), then make the first allocator call after it. */
	void *v = malloc(HUGE_SIZE);
	if (v) {
		victim = v;
		sm_cache_foreach(inst, victim_cb, NULL);
		if (victim) {
			free(victim);
			victim = NULL;
		} else {
			stress_deferred++;
		}
	}
	free(malloc(64));
	in_handler = 0;
	if (!stress_done)
		timer_settime(stress_timer, 0, &stress_next, NULL); /* async-signal-safe */
	errno = saved;
}

static void *stress_watchdog(void *arg)
{
	(void)arg;
	unsigned long last = 0;
	unsigned idle = 0;
	while (!stress_done) {
		sleep_ms(100);
		if (stress_progress != last) {
			last = stress_progress;
			idle = 0;
		} else if (++idle == 100) {
			static const char msg[] = "helper_thread: FAILED: watchdog: the main thread made no "
						  "progress for 10 s: deadlocked (attach gdb: a signal handler "
						  "inside pthread_create/pthread_join starting the helper?)\n";
			ssize_t r = write(2, msg, sizeof(msg) - 1);
			(void)r;
			abort();
		}
	}
	return NULL;
}

static void *nop_thread(void *arg)
{
	return arg;
}

static int t_no_start_in_handler_stress(void)
{
	stats_init();
	setvbuf(stdout, NULL, _IOLBF, 0);
	next_call();
	sigset_t block;
	sigemptyset(&block);
	sigaddset(&block, SIGALRM);
	CHECK(pthread_sigmask(SIG_BLOCK, &block, NULL) == 0);
	pthread_t wd = spawn_thread(stress_watchdog, NULL);
	CHECK(pthread_sigmask(SIG_UNBLOCK, &block, NULL) == 0);
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = defer_handler;
	sa.sa_flags = SA_RESTART;
	CHECK(sigaction(SIGALRM, &sa, NULL) == 0);
	struct sigevent sev;
	memset(&sev, 0, sizeof(sev));
	sev.sigev_notify = SIGEV_THREAD_ID;
	sev.sigev_signo = SIGALRM;
	sev._sigev_un._tid = gettid();
	CHECK(timer_create(CLOCK_MONOTONIC, &sev, &stress_timer) == 0);
	CHECK(timer_settime(stress_timer, 0, &stress_next, NULL) == 0);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	unsigned long threads = 0;
	for (;;) {
		pthread_t t;
		if (pthread_create(&t, NULL, nop_thread, NULL) == 0) {
			pthread_join(t, NULL);
			threads++;
		}
		stress_progress++;
		clock_gettime(CLOCK_MONOTONIC, &t1);
		if (t1.tv_sec - t0.tv_sec >= 3)
			break;
	}
	CHECK(pthread_sigmask(SIG_BLOCK, &block, NULL) == 0);
	stress_done = 1;
	CHECK(timer_delete(stress_timer) == 0);
	pthread_join(wd, NULL);
	struct sm_stats st = stats();
	printf("no_start_in_handler_stress: %lu threads created and joined under %lu signals; %lu "
	       "frees deferred in the handler; helper started %llu times (%lu of them inside the "
	       "handler)\n", threads, stress_signals, stress_deferred,
	       (unsigned long long)st.helper_starts, atomic_load(&thread_creates_in_handler));
	CHECK(stress_deferred > 0);
	if (atomic_load(&thread_creates_in_handler)) {
		fprintf(stderr, "helper_thread: FAILED: the helper was started from inside a signal handler "
				"%lu times\n", atomic_load(&thread_creates_in_handler));
		return 1;
	}
	return 0;
}

/* -------------------------------------------------------------- stats_line -- */

/* The child of stats_line: defer 3, finish them, exit (stats printed at exit). */
static int t_stats_child(void)
{
	stats_init();
	next_call();
	defer_huge(3, NULL);
	next_call();
	WAIT_FOR(!stats().deferred_pending, 2000);
	CHECK_EQ(stats().deferred_pending, 0);
	return 0;
}

/* Run ourselves with @mode and @env added; return the child's stderr. */
static char *run_capture(const char *self, const char *mode, const char *const *env)
{
	int fds[2];
	CHECK(pipe(fds) == 0);
	fflush(stdout);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		dup2(fds[1], 2);
		close(fds[1]);
		for (; *env; env++)
			putenv((char *)*env);
		execl(self, self, mode, (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	size_t cap = 1 << 16, len = 0;
	char *buf = malloc(cap);
	CHECK(buf);
	ssize_t r;
	while ((r = read(fds[0], buf + len, cap - 1 - len)) > 0) {
		len += (size_t)r;
		if (len == cap - 1) {
			cap *= 2;
			buf = realloc(buf, cap);
			CHECK(buf);
		}
	}
	buf[len] = 0;
	close(fds[0]);
	int status;
	CHECK(waitpid(pid, &status, 0) == pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		fprintf(stderr, "stats_line: child %s failed (status 0x%x); its stderr:\n%s\n", mode,
			status, buf);
		exit(1);
	}
	return buf;
}

static int t_stats_line(const char *self)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	static const char *const with_helper[] = { "SLABMALLOC_STATS=1", "SLABMALLOC_HELPER_THREAD=1",
						   NULL };
	static const char *const no_helper[] = { "SLABMALLOC_STATS=1", "SLABMALLOC_HELPER_THREAD=0",
						 NULL };
	static const char *const plain[] = { "SLABMALLOC_STATS=1", NULL };
	struct {
		const char *mode;
		const char *const *env;
		unsigned long long frees, starts;
	} cases[] = {
		{ "stats_child", with_helper, 3, 1 },
		{ "stats_child", no_helper, 3, 0 },
	};
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *out = run_capture(self, cases[i].mode, cases[i].env);
		const char *line = strstr(out, "slabmalloc: nolock: ");
		if (!line) {
			fprintf(stderr, "stats_line: no \"slabmalloc: nolock:\" line (%s); stderr:\n%s\n",
				cases[i].env[1], out);
			return 1;
		}
		unsigned long long frees, pending, starts, woken;
		int n = sscanf(line, "slabmalloc: nolock: deferred frees %llu (pending %llu), helper "
				     "thread started %llu times, woken %llu times", &frees, &pending,
			       &starts, &woken);
		const char *eol = strchr(line, '\n');
		printf("stats_line: %s: %.*s\n", cases[i].env[1], eol ? (int)(eol - line) : 80, line);
		CHECK_EQ(n, 4);
		CHECK_EQ(frees, cases[i].frees);
		CHECK_EQ(pending, 0);
		CHECK_EQ(starts, cases[i].starts);
		if (!cases[i].starts)
			CHECK_EQ(woken, 0);
		free(out);
	}
	/* A process that never deferred prints no such line. */
	char *out = run_capture(self, "stats_quiet", plain);
	CHECK(strstr(out, "slabmalloc: statistics of pid") != NULL);
	if (strstr(out, "nolock:")) {
		fprintf(stderr, "stats_line: a process that never deferred printed a nolock line:\n%s\n",
			out);
		return 1;
	}
	free(out);
	printf("stats_line: exact counts with and without the helper; no line without deferrals\n");
	return 0;
}

static int t_stats_quiet(void)
{
	stats_init();
	for (int i = 0; i < 1000; i++)
		free(malloc((size_t)i * 37 + 1));
	void *h = malloc(HUGE_SIZE);
	CHECK(h);
	free(h);
	CHECK_EQ(stats().deferred_frees, 0);
	return 0;
}
#endif /* !CONF_PRELOAD */

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	const char *mode = argc == 2 ? argv[1] : "";
	if (!strcmp(mode, "never_defers"))
		return t_never_defers();
#ifndef CONF_PRELOAD
	if (!strcmp(mode, "lifecycle"))
		return t_lifecycle();
	if (!strcmp(mode, "next_call_small"))
		return t_next_call(mode, C_MALLOC, C_ALIGNED);
	if (!strcmp(mode, "next_call_large"))
		return t_next_call(mode, C_MALLOC_RUN, C_FREE_HUGE);
	if (!strcmp(mode, "fork"))
		return t_fork();
	if (!strcmp(mode, "fork_nohelper"))
		return t_fork_nohelper();
	if (!strcmp(mode, "no_start_in_handler"))
		return t_no_start_in_handler();
	if (!strcmp(mode, "no_start_in_handler_stress"))
		return t_no_start_in_handler_stress();
	if (!strcmp(mode, "stats_line"))
		return t_stats_line("/proc/self/exe");
	if (!strcmp(mode, "stats_child"))
		return t_stats_child();
	if (!strcmp(mode, "stats_quiet"))
		return t_stats_quiet();
#endif
	fprintf(stderr, "usage: %s never_defers"
#ifndef CONF_PRELOAD
			"|lifecycle|next_call_small|next_call_large|fork|fork_nohelper"
			"|no_start_in_handler|no_start_in_handler_stress|stats_line"
#endif
			"\n", argv[0]);
	return 2;
}
