/*
 * test_purge.c - memory goes back to the OS.
 *
 * An isolated instance with a fake clock (only now_ns replaced; the rest is
 * the real OS) allocates a burst of small objects and page runs, touches
 * them, and frees them.  The resident set (from /proc/self/statm) must stay
 * up while the freed memory is younger than purge_delay_ms, and fall back to
 * near the baseline once the clock passes the delay and the program keeps
 * calling into the allocator, without any sm_purge.  sm_purge(inst, true)
 * and purge_delay_ms = 0 are checked the same way, and the coarse clock's
 * gate on the slow paths' purge test with the real clock.
 *
 * Valgrind does not model the resident set: under it the RSS assertions are
 * skipped and the burst is smaller, but every code path runs and the purge
 * counters (free_dirty_bytes, free_clean_bytes, purged_bytes) are asserted.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <unistd.h>

#include "test.h"
#include "fake_clock.h"
#include "instance.h"
#include "os.h"

#define MiB ((size_t)1 << 20)
#define RUN_SIZE ((size_t)256 << 10)

/* ---- resident set ---- */

/* ---- the burst ---- */

static bool vg; /* under valgrind or TSan: smaller loops, no maps/RSS checks */
static size_t small_target, nr_runs; /* bytes of small objects, number of page runs */

/*
 * Under AddressSanitizer, the shadow of the memory the test wrote: ASan's
 * memset checks the shadow of the bytes it writes, and on the Zen 5
 * machine's kernel (6.18) that leaves one resident shadow page for every 8
 * pages written, which no purge of the allocator's gives back (a program
 * that only mmaps, memsets and madvises 128 MiB keeps 16 MiB).  Set by
 * burst_alloc.
 */
static size_t asan_shadow;

/* Small objects cycle through five sizes (five kmalloc caches). */
static const size_t small_sizes[] = { 24, 96, 256, 1000, 3000 };

struct burst {
	void **small;
	size_t nsmall, max_small;
	void **runs;
	size_t bytes;                 /* requested bytes in all */
};

static void burst_init(struct burst *b)
{
	b->max_small = small_target / 24 + 1;
	b->small = malloc(b->max_small * sizeof(void *));
	b->runs = malloc(nr_runs * sizeof(void *));
	CHECK(b->small && b->runs);
	/* Touch the arrays now so that they are part of the baseline. */
	memset(b->small, 0, b->max_small * sizeof(void *));
	memset(b->runs, 0, nr_runs * sizeof(void *));
}

static void burst_alloc(sm_instance_t *inst, struct burst *b)
{
	size_t got = 0, i = 0;
	b->nsmall = 0;
	while (got < small_target) {
		size_t size = small_sizes[i++ % 5];
		CHECK(b->nsmall < b->max_small);
		void *p = sm_kmalloc(inst, size, 0);
		CHECK(p != NULL);
		CHECK(sm_ptr_instance(p) == inst);
		memset(p, 0xa5, size);
		b->small[b->nsmall++] = p;
		got += size;
	}
	for (size_t r = 0; r < nr_runs; r++) {
		void *p = sm_kmalloc(inst, RUN_SIZE, 0);
		CHECK(p != NULL);
		CHECK_EQ(sm_ksize(p), RUN_SIZE);
		memset(p, 0x5a, RUN_SIZE);
		b->runs[r] = p;
	}
	b->bytes = got + nr_runs * RUN_SIZE;
	if (under_asan() && b->bytes / 8 > asan_shadow)
		asan_shadow = b->bytes / 8;
}

static void burst_free(struct burst *b)
{
	for (size_t i = 0; i < b->nsmall; i++)
		sm_kfree(b->small[i]);
	for (size_t r = 0; r < nr_runs; r++)
		sm_kfree(b->runs[r]);
}

/* Ordinary activity: a few page runs and small objects, allocated and freed. */
static void churn(sm_instance_t *inst)
{
	void *p[4];
	for (int i = 0; i < 4; i++) {
		p[i] = sm_kmalloc(inst, RUN_SIZE, 0);
		CHECK(p[i] != NULL);
		memset(p[i], 1, 4096);
	}
	for (int i = 0; i < 4; i++)
		sm_kfree(p[i]);
}

static void churn_small(sm_instance_t *inst)
{
	void *p[512];
	for (int i = 0; i < 512; i++) {
		p[i] = sm_kmalloc(inst, small_sizes[i % 5], 0);
		CHECK(p[i] != NULL);
	}
	for (int i = 0; i < 512; i++)
		sm_kfree(p[i]);
}

static struct sm_options purge_options(struct test_errors *e, unsigned delay_ms)
{
	struct sm_options o = test_options(e);
	o.node_size = 256 * MiB; /* the burst fits in the first node */
	o.purge_delay_ms = delay_ms;
	o.os = &fake_os;
	return o;
}

/*
 * Memory still resident after everything was freed and purged, besides what
 * is in the baseline: the descriptors of the touched pages (64 bytes per
 * 4 KiB page: 2 MiB for the 128 MiB burst, never purged), the slabs pinned
 * by the objects left in the thread's sheaves and the barns (five caches, at
 * most 10 sheaves of at most ~16 KiB of objects each: under 1 MiB with the
 * slabs around them), and the page runs freed by the churn after the
 * purge's cutoff (at most 8 of 256 KiB = 2 MiB; the free_dirty_bytes check
 * below).  That is at most 5 MiB (4 MiB measured); the bound adds 3 MiB for
 * the C library and rounding.  A purge that did not happen leaves >= 120 MiB.
 */
#define RSS_SLACK (8 * MiB)
/* Free memory that is not in free_dirty_bytes after the frees: pinned by sheaves and empty slabs kept. */
#define PINNED_SLACK (2 * MiB)

static size_t baseline;

static void check_rss_high(const char *what)
{
	if (vg)
		return;
	size_t rss = rss_bytes();
	if (rss < baseline + 100 * MiB)
		fprintf(stderr, "%s: rss %zu MiB, baseline %zu MiB\n", what, rss / MiB, baseline / MiB);
	CHECK(rss >= baseline + 100 * MiB);
}

static void check_rss_low(const char *what)
{
	if (vg)
		return;
	size_t rss = rss_bytes();
	printf("%s: rss %zu KiB above the baseline\n", what,
	       rss > baseline ? (rss - baseline) >> 10 : 0);
	CHECK_LE(rss, baseline + RSS_SLACK + asan_shadow);
}

/* ---- 1. the delayed purge, driven by ordinary allocator activity ---- */

static void test_delayed_purge(void)
{
	struct test_errors e = { 0 };
	struct sm_options o = purge_options(&e, 100);
	sm_instance_t *inst = sm_instance_create(&o);
	CHECK(inst != NULL);
	struct burst b;
	burst_init(&b);
	churn(inst); /* the thread's tcache and the code paths exist before the baseline */
	churn_small(inst);
	baseline = rss_bytes();

	burst_alloc(inst, &b);
	if (!vg)
		CHECK(rss_bytes() >= baseline + b.bytes - 8 * MiB);
	burst_free(&b);

	struct sm_stats st;
	sm_stats_get(inst, &st);
	CHECK_EQ(st.purged_bytes, 0);
	CHECK(st.free_dirty_bytes + PINNED_SLACK >= b.bytes);
	size_t dirty0 = st.free_dirty_bytes;
	check_rss_high("after free");

	/* The clock has not moved: the slow paths run, nothing is purged. */
	churn(inst);
	churn_small(inst);
	CHECK_EQ(sm_purge(inst, false), 0); /* nothing is older than the delay */
	sm_stats_get(inst, &st);
	CHECK_EQ(st.purged_bytes, 0);
	CHECK(st.free_dirty_bytes + RUN_SIZE * 4 >= dirty0);
	check_rss_high("clock not advanced");

	/* Just short of the delay: still nothing. */
	advance_ms(99);
	churn(inst);
	churn_small(inst);
	sm_stats_get(inst, &st);
	CHECK_EQ(st.purged_bytes, 0);
	check_rss_high("99 ms later");

	/* Past the delay: page-run frees run the purge.  A free kept in the
	   run cache reads the clock only every RUNCACHE_CLOCK_EVERY (16) puts:
	   four churns are 16 frees. */
	advance_ms(2);
	for (int i = 0; i < 4; i++)
		churn(inst);
	sm_stats_get(inst, &st);
	CHECK(st.purged_bytes + PINNED_SLACK >= b.bytes);
	/*
	 * What may stay dirty: the runs of the last two churns (freed at +99 ms
	 * and after the purge ran), unless they merged with older free pages.
	 */
	CHECK_LE(st.free_dirty_bytes, 8 * RUN_SIZE);
	CHECK(st.free_clean_bytes + PINNED_SLACK >= b.bytes);
	check_rss_low("delayed purge");
	CHECK_EQ(e.count, 0);

	/* ---- 2. sm_purge(inst, true) on a second burst in the same instance ---- */
	burst_alloc(inst, &b);
	burst_free(&b);
	struct sm_stats before, after;
	sm_stats_get(inst, &before);
	CHECK(before.free_dirty_bytes + PINNED_SLACK >= b.bytes);
	check_rss_high("second burst freed");
	size_t ret = sm_purge(inst, true);
	/* Everything the burst used is purged: the slabs held >= the objects' bytes. */
	CHECK(ret >= b.bytes);
	sm_stats_get(inst, &after);
	CHECK_EQ(after.free_dirty_bytes, 0);
	CHECK_EQ(after.slab_bytes, 0);
	CHECK_EQ(after.free_clean_bytes, before.free_clean_bytes + ret);
	CHECK_EQ(after.purged_bytes, before.purged_bytes + ret);
	CHECK(after.free_clean_bytes > before.free_clean_bytes);
	CHECK(after.free_dirty_bytes < before.free_dirty_bytes);
	check_rss_low("sm_purge(force)");
	/* A second forced purge finds nothing left. */
	CHECK_EQ(sm_purge(inst, true), 0);
	CHECK_EQ(e.count, 0);
	sm_instance_destroy(inst);
	free(b.small);
	free(b.runs);
}

/* ---- 3. purge_delay_ms = 0: freed memory goes back at once ---- */

static void test_immediate_purge(void)
{
	struct test_errors e = { 0 };
	struct sm_options o = purge_options(&e, 0);
	sm_instance_t *inst = sm_instance_create(&o);
	CHECK(inst != NULL);
	struct burst b;
	burst_init(&b);
	churn(inst);
	churn_small(inst);
	baseline = rss_bytes();

	burst_alloc(inst, &b);
	if (!vg)
		CHECK(rss_bytes() >= baseline + b.bytes - 8 * MiB);
	struct sm_stats st;
	sm_stats_get(inst, &st);
	size_t purged0 = st.purged_bytes;
	burst_free(&b);
	/* The clock never moves: with no delay, each slow path purges everything freed. */
	sm_stats_get(inst, &st);
	CHECK(st.purged_bytes - purged0 >= nr_runs * RUN_SIZE);
	/* The last free (a page run) purged everything freed up to now. */
	CHECK_EQ(st.free_dirty_bytes, 0);
	/* And ordinary activity keeps it that way. */
	churn(inst);
	churn_small(inst);
	churn(inst);
	sm_stats_get(inst, &st);
	CHECK_EQ(st.free_dirty_bytes, 0);
	CHECK(st.purged_bytes - purged0 + PINNED_SLACK >= b.bytes);
	CHECK(st.free_clean_bytes + PINNED_SLACK >= b.bytes);
	check_rss_low("purge_delay_ms = 0");
	CHECK_EQ(e.count, 0);
	sm_instance_destroy(inst);
	free(b.small);
	free(b.runs);
}

/*
 * ---- 4. the real clock: the slow paths' purge test reads it only near the
 * purge's time (slowpath.h, slow_path_purge_check) ----
 *
 * The coarse clock never runs ahead of the real one, so the gate never
 * says "not due" when the real clock would say "due" by more than its lag;
 * an instance with its own clock has no gate (one with no delay skips it
 * at run time, as the delay may change then: slowpath.h); and with
 * the gate a purge that comes due still happens while the program keeps
 * calling in (here within 10 s of a 20 ms delay: a bound for a loaded
 * machine, not a timing).
 */
static void test_coarse_gate(void)
{
	uint64_t lag = os_coarse_lag_ns();
	CHECK(lag > 0 && lag <= 20 * MS); /* twice a tick of 1 to 10 ms */
	for (int i = 0; i < 1000; i++) {
		uint64_t coarse = os_coarse_ns();
		CHECK_LE(coarse, os_monotonic_ns());
	}
	struct test_errors e = { 0 };
	struct sm_options o = purge_options(&e, 20);
	sm_instance_t *faked = sm_instance_create(&o);
	CHECK(faked != NULL);
	CHECK_EQ(faked->coarse_lag, 0); /* its own clock */
	sm_instance_destroy(faked);
	o.os = NULL;
	o.purge_delay_ms = 20;
	sm_instance_t *inst = sm_instance_create(&o);
	CHECK(inst != NULL);
	CHECK_EQ(inst->coarse_lag, lag);
	void *runs[32];
	for (int i = 0; i < 32; i++) {
		runs[i] = sm_kmalloc(inst, RUN_SIZE, 0);
		CHECK(runs[i] != NULL);
		memset(runs[i], 1, RUN_SIZE);
	}
	struct sm_stats st;
	sm_stats_get(inst, &st);
	size_t purged0 = st.purged_bytes;
	for (int i = 0; i < 32; i++)
		sm_kfree(runs[i]);
	uint64_t deadline = os_monotonic_ns() + 10000 * MS;
	do {
		churn_small(inst); /* slow paths: sheaf exchanges */
		usleep(1000);
		sm_stats_get(inst, &st);
	} while (st.purged_bytes - purged0 < 16 * RUN_SIZE && os_monotonic_ns() < deadline);
	CHECK(st.purged_bytes - purged0 >= 16 * RUN_SIZE);
	CHECK_EQ(e.count, 0);
	sm_instance_destroy(inst);
}

int main(void)
{
	vg = under_valgrind() || under_tsan();
	small_target = vg ? 8 * MiB : 64 * MiB;
	nr_runs = vg ? 32 : 256; /* 8 MiB or 64 MiB of 256 KiB runs */
	printf("page size %ld, baseline rss %zu KiB\n", sysconf(_SC_PAGESIZE), rss_bytes() >> 10);
	test_delayed_purge();
	printf("delayed purge ok\n");
	test_immediate_purge();
	printf("immediate purge ok\n");
	test_coarse_gate();
	printf("coarse gate ok\n");
	return 0;
}
