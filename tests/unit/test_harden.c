/*
 * test_harden.c - hardened mode (issue 13) on isolated instances with
 * sm_options.harden: each finding with its exact message (the canary after
 * a kmalloc object and in a custom cache's slack, a broken size record, a
 * write after free found on reuse, a double free of a quarantined object),
 * and what must stay correct: usable sizes, realloc in place, zeroed and
 * aligned requests, the page-run fallback, zero on free, the quarantine's
 * bounds and drain, randomised slot order; an underflow found through the
 * record of the slot before; a page run's canary after a page-sized
 * request, a big freed run that faults and reads zeros when reused.  After a report the object is
 * left alone (the handler returns).
 */
#include <errno.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"
#include "hardened.h"
#include "large.h"
#include "registry.h"

static uint64_t frozen_clock(void *arg)
{
	(void)arg;
	return 1000;
}
static const struct sm_os_ops frozen_os = { .now_ns = frozen_clock };

static struct test_errors errs;

static sm_instance_t *new_instance(void)
{
	struct sm_options o = test_options(&errs);
	o.os = &frozen_os;
	o.harden = true;
	sm_instance_t *inst = sm_instance_create(&o);
	CHECK(inst != NULL);
	return inst;
}

/* Exactly one report since @before, and it reads "slabmalloc: " @want. */
static void expect_report(int before, const char *want)
{
	CHECK_EQ(errs.count, before + 1);
	if (strncmp(errs.last, "slabmalloc: ", 12) || strcmp(errs.last + 12, want)) {
		fprintf(stderr, "expected: %s\n     got: %s\n", want, errs.last);
		exit(1);
	}
}

static void test_overflows(sm_instance_t *inst)
{
	char want[256];
	char *p = sm_kmalloc(inst, 24, 0);
	CHECK(p);
	CHECK_EQ(sm_ksize(p), 24);
	memset(p, 1, 24); /* the usable size is safe to fill */
	p[24] = 'x';      /* 1 byte over */
	int before = errs.count;
	sm_kfree(p);
	snprintf(want, sizeof(want), "free of %p: 24-byte object of cache kmalloc-32 overflowed: "
		 "canary overwritten at its end + 0", (void *)p);
	expect_report(before, want);

	p = sm_kmalloc(inst, 100, 0);
	memset(p + 100, 'A', 8); /* 8 bytes over */
	before = errs.count;
	sm_kfree(p);
	snprintf(want, sizeof(want), "free of %p: 100-byte object of cache kmalloc-112 overflowed: "
		 "canary overwritten at its end + 0", (void *)p);
	expect_report(before, want);

	/* The first differing byte is named: here the third after the object. */
	p = sm_kmalloc(inst, 40, 0);
	p[42] ^= 0x40;
	before = errs.count;
	sm_kfree(p);
	snprintf(want, sizeof(want), "free of %p: 40-byte object of cache kmalloc-48 overflowed: "
		 "canary overwritten at its end + 2", (void *)p);
	expect_report(before, want);

	/* The size record at the slot's end. */
	p = sm_kmalloc(inst, 24, 0);
	p[29] ^= 1;
	before = errs.count;
	sm_kfree(p);
	snprintf(want, sizeof(want), "free of %p: object of cache kmalloc-32 overflowed: size record "
		 "at the end of its 32-byte slot overwritten", (void *)p);
	expect_report(before, want);
	/* Repaired and freed: left broken, its record would be reported by
	   the free of the object after it (harden_obj_check_before). */
	p[29] ^= 1;
	sm_kfree(p);
	CHECK_EQ(errs.count, before + 1);

	/* Intact objects free silently, every size up to the largest class. */
	before = errs.count;
	for (size_t n = 1; n <= 32768; n += n < 256 ? 1 : 97) {
		char *q = sm_kmalloc(inst, n, 0);
		CHECK(q);
		CHECK_EQ(sm_ksize(q), n);
		memset(q, 0x5a, n);
		sm_kfree(q);
	}
	CHECK_EQ(errs.count, before);
}

static void test_custom_cache(sm_instance_t *inst)
{
	char want[256];
	sm_cache_t *c = sm_cache_create(inst, "harden-20", 20, 0, 0, NULL);
	CHECK(c);
	char *p = sm_cache_alloc(c, 0);
	CHECK(p);
	memset(p, 7, 20);
	p[20] = 0; /* into the slack of the 24-byte slot */
	int before = errs.count;
	sm_cache_free(c, p);
	snprintf(want, sizeof(want), "free of %p: 20-byte object of cache harden-20 overflowed: "
		 "canary overwritten at its end + 0", (void *)p);
	expect_report(before, want);
	/* Randomised slot order: a new slab's objects do not come in address order. */
	void *v[64];
	int ascending = 1;
	for (int i = 0; i < 64; i++) {
		v[i] = sm_cache_alloc(c, 0);
		CHECK(v[i]);
		if (i && v[i] < v[i - 1])
			ascending = 0;
	}
	CHECK(!ascending);
	for (int i = 0; i < 64; i++)
		sm_cache_free(c, v[i]);
	CHECK_EQ(errs.count, before + 1);
}

static void test_use_after_free(sm_instance_t *inst)
{
	char want[256];
	char *keep = sm_kmalloc(inst, 128, 0); /* keeps the slab partial */
	char *p = sm_kmalloc(inst, 128, 0);
	CHECK(keep && p);
	memset(p, 0x33, 128);
	sm_kfree(p);
	/* Zeroed on free, the free word (its first 8 bytes) aside. */
	for (size_t i = 8; i < 160; i++)
		CHECK_EQ((unsigned char)p[i], 0);
	/* A double free of the object in the quarantine. */
	int before = errs.count;
	sm_kfree(p);
	snprintf(want, sizeof(want), "double free of %p in cache kmalloc-160", (void *)p);
	expect_report(before, want);
	p[64] = 1; /* the write after free */
	sm_purge(inst, true); /* empties the quarantine: p goes back to its slab */
	before = errs.count;
	void *got[4096];
	size_t n = 0;
	while (errs.count == before && n < 4096) {
		got[n] = sm_kmalloc(inst, 128, 0);
		CHECK(got[n] != p);
		n++;
	}
	snprintf(want, sizeof(want), "write after free of %p: 160-byte object of cache kmalloc-160 "
		 "modified at offset 64 (found on reuse)", (void *)p);
	expect_report(before, want);
	for (size_t i = 0; i < n; i++)
		sm_kfree(got[i]);
	sm_kfree(keep);
	CHECK_EQ(errs.count, before + 1);
}

static void test_quarantine(sm_instance_t *inst)
{
	struct quarantine *q = &inst->quarantine;
	sm_purge(inst, true);
	CHECK_EQ(q->count, 0);
	enum { N = 3000 };
	static void *v[N];
	for (int i = 0; i < N; i++)
		CHECK((v[i] = sm_kmalloc(inst, 64, 0)) != NULL);
	for (int i = 0; i < N; i++) {
		sm_kfree(v[i]);
		CHECK_LE(q->count, QUARANTINE_SLOTS);
		CHECK_LE(q->bytes, QUARANTINE_BYTES);
	}
	CHECK_EQ(q->count, QUARANTINE_SLOTS); /* full, of the newest */
	CHECK_EQ(quarantine_holds(q, v[N - 1], false), 1);
	CHECK_EQ(quarantine_holds(q, v[0], false), 0);
	/* Bytes bound it too: 4 KiB objects, 1 MiB at most. */
	for (int i = 0; i < 400; i++)
		CHECK((v[i] = sm_kmalloc(inst, 4000, 0)) != NULL);
	for (int i = 0; i < 400; i++)
		sm_kfree(v[i]);
	CHECK_LE(q->bytes, QUARANTINE_BYTES);
	CHECK_LE(q->count, QUARANTINE_BYTES / 4096 + 1);
	sm_purge(inst, true);
	CHECK_EQ(q->count, 0);
	CHECK_EQ(q->bytes, 0);
	struct sm_stats st;
	sm_stats_get(inst, &st);
}

static void test_correctness(sm_instance_t *inst)
{
	int before = errs.count;
	/* Realloc in place: grown within the slot, then shrunk. */
	char *p = sm_kmalloc(inst, 100, 0);
	memset(p, 9, 100);
	CHECK(sm_krealloc(p, 104, 0) == p);
	CHECK_EQ(sm_ksize(p), 104);
	memset(p + 100, 9, 4);
	CHECK(sm_krealloc(p, 60, 0) == p);
	CHECK_EQ(sm_ksize(p), 60);
	/* Moved: contents kept. */
	char *q = sm_krealloc(p, 1000, 0);
	CHECK(q);
	CHECK_EQ(sm_ksize(q), 1000);
	for (int i = 0; i < 60; i++)
		CHECK_EQ(q[i], 9);
	sm_kfree(q);
	/* Zeroed requests: the canary after the class size (the caller zeroes it). */
	p = sm_kmalloc(inst, 10, SM_GFP_ZERO);
	CHECK_EQ(sm_ksize(p), 16);
	for (int i = 0; i < 16; i++)
		CHECK_EQ(p[i], 0);
	sm_kfree(p);
	/* Aligned. */
	p = sm_kmalloc_aligned(inst, 100, 64, 0);
	CHECK(p && ((uintptr_t)p & 63) == 0);
	CHECK_EQ(sm_ksize(p), 100);
	sm_kfree(p);
	/* The nolock calls: objects checked and scrubbed as any other. */
	for (int i = 0; i < 2000; i++) {
		p = sm_kmalloc_nolock(inst, 50, 0, SM_NO_NODE);
		CHECK(p);
		CHECK_EQ(sm_ksize(p), 64); /* no size known: the class's */
		memset(p, 0x77, 64);
		sm_kfree_nolock(p);
	}
	sm_purge(inst, true);
	void *v[512];
	for (int i = 0; i < 512; i++)
		CHECK((v[i] = sm_kmalloc(inst, 50, 0)) != NULL);
	for (int i = 0; i < 512; i++)
		sm_kfree(v[i]);
	/* The largest class cannot pad: a page run (with its own canary). */
	p = sm_kmalloc(inst, 32760, 0);
	CHECK(p);
	CHECK_EQ(sm_ksize(p), 32760);
	memset(p, 1, 32760);
	sm_kfree(p);
	CHECK_EQ(errs.count, before);
}

/* An underflow: the record of the slot before is checked when an object is freed. */
static void test_underflow(sm_instance_t *inst)
{
	char want[320];
	enum { N = 256 };
	char *v[N];
	for (int i = 0; i < N; i++)
		CHECK((v[i] = sm_kmalloc(inst, 50, 0)) != NULL); /* kmalloc-64 */
	/* An object whose slot follows another of ours (not a slab's first). */
	char *p = NULL, *prev = NULL;
	for (int i = 0; i < N && !p; i++)
		for (int j = 0; j < N && !p; j++)
			if (v[j] == v[i] - 64) {
				p = v[i];
				prev = v[j];
			}
	CHECK(p != NULL);
	p[-1] ^= 0x20; /* the last byte of the record before it */
	int before = errs.count;
	sm_kfree(p);
	snprintf(want, sizeof(want), "free of %p: object of cache kmalloc-64 underflowed (or the object "
		 "before it, %p, overflowed): the size record at the end of the slot before it "
		 "overwritten", (void *)p, (void *)prev);
	expect_report(before, want);
	p[-1] ^= 0x20; /* repaired: both free silently now (p was left alone) */
	before = errs.count;
	for (int i = 0; i < N; i++)
		sm_kfree(v[i]);
	CHECK_EQ(errs.count, before);
}

static void segv_exit(int sig)
{
	(void)sig;
	_exit(99);
}

/*
 * Whether a write to @p faults, in a child process.  The child's own
 * SIGSEGV handler exits 99: a sanitizer's handler would otherwise report
 * the fault and exit with an error of its own.
 */
static bool write_faults(volatile char *p)
{
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		struct sigaction sa;
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = segv_exit;
		sigaction(SIGSEGV, &sa, NULL);
		*p = 1;
		_exit(0);
	}
	int st;
	CHECK(waitpid(pid, &st, 0) == pid);
	return (WIFEXITED(st) && WEXITSTATUS(st) == 99) || (WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV);
}

/*
 * Page runs: a page-sized request gets a page more for its canary; a run of
 * SM_HARDEN_BIG_RUN_PAGES or more one more for a guard page, which realloc
 * moves to the new end, and it is purged and protected when freed.
 */
static void test_runs(sm_instance_t *inst)
{
	char want[256];
	char *p = sm_kmalloc(inst, 65536, 0);
	CHECK(p);
	CHECK_EQ(sm_ksize(p), 65536);
	p[65536] = 'x';
	int before = errs.count;
	sm_kfree(p);
	snprintf(want, sizeof(want), "free of %p: page run of 65536 bytes overflowed: canary "
		 "overwritten at its end + 0", (void *)p);
	expect_report(before, want);
	p[65536] = (char)0xa5; /* the canary's first byte again: freed silently */
	sm_kfree(p);
	CHECK_EQ(errs.count, before + 1);

	/* A big run's guard page: right after the page that holds the canary. */
	size_t n = (size_t)SM_HARDEN_BIG_RUN_PAGES << SM_PAGE_SHIFT;
	p = sm_kmalloc(inst, n, 0);
	CHECK(p);
	CHECK(!write_faults(p + n + 4095)); /* the canary's page: slack */
	CHECK(write_faults(p + n + 4096));
	memset(p, 0x3c, n);
	/* Grown (in place or moved): the guard follows the end. */
	p = sm_krealloc(p, 3 * n, 0);
	CHECK(p);
	CHECK_EQ(sm_ksize(p), 3 * n);
	for (size_t i = 0; i < n; i += 256)
		CHECK_EQ(p[i], 0x3c);
	size_t end = ALIGN_UP(3 * n + 16, 4096);
	CHECK(!write_faults(p + end - 1));
	CHECK(write_faults(p + end));
	/* Shrunk below a big run: the canary alone, the run usable to its end. */
	p = sm_krealloc(p, 40000, 0);
	CHECK(p);
	CHECK_EQ(sm_ksize(p), 40000);
	end = ALIGN_UP(40000 + 16, 4096);
	CHECK(!write_faults(p + end - 1));
	sm_kfree(p);
	CHECK_EQ(errs.count, before + 1);

	size_t big = (size_t)SM_HARDEN_BIG_RUN_PAGES << SM_PAGE_SHIFT;
	p = sm_kmalloc(inst, big, 0);
	CHECK(p);
	memset(p, 0x5a, big);
	sm_kfree(p);
	CHECK(write_faults(p + 100)); /* a write after free */
	/* The next run there reads zeros, not the old bytes. */
	char *q = sm_kmalloc(inst, big, 0);
	CHECK(q);
	for (size_t i = 0; i < big; i += 512)
		CHECK_EQ(q[i], 0);
	sm_kfree(q);
	CHECK_EQ(errs.count, before + 1);
}

int main(void)
{
	sm_instance_t *inst = new_instance();
	test_overflows(inst);
	test_custom_cache(inst);
	test_use_after_free(inst);
	test_quarantine(inst);
	test_correctness(inst);
	test_underflow(inst);
	test_runs(inst);
	sm_instance_destroy(inst);
	puts("test_harden: ok");
	return 0;
}
