/*
 * conformance.c - the drop-in's malloc family against what glibc documents
 * for each function: return values, errno, the size-0 and overflow cases,
 * alignment, contents kept by realloc, zeroing by calloc.
 *
 * Built twice from this source:
 *   preload_conformance_linked   linked against libslabmalloc.so: its malloc
 *                                IS slabmalloc (checked with sm_ptr_instance);
 *   preload_conformance_ldpreload  linked against libc only (-DCONF_PRELOAD)
 *                                and run with LD_PRELOAD=libslabmalloc.so:
 *                                sm_ptr_instance is looked up with dlsym and
 *                                must claim every pointer the program (and
 *                                libc itself, for strdup) gets from malloc.
 * The test functions run in a fixed order: t_realloc_in_place, right after
 * the symbol lookups, relies on a fresh allocator state (nothing freed yet).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ptest.h"

#ifndef CONF_PRELOAD
#include "slabmalloc.h"
#endif

#pragma GCC diagnostic ignored "-Wdeprecated-declarations" /* mallinfo */

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)

static size_t page;

/*
 * Alignment of malloc'd blocks.  C17 7.22.3 requires a block to be aligned
 * for every type with a fundamental alignment whose size fits the request:
 * long double and max_align_t are 16 bytes with alignment 16 on x86-64, so
 * any request of 16 bytes or more needs 16 (malloc(24) may hold a long double
 * and 8 more bytes).  glibc documents 16 for every block on 64-bit systems.
 * Requests of 16 bytes or more whose block is only 8-aligned are counted here
 * (each size printed once) and fail the test at the end, so the other checks
 * still run.
 */
static int misaligned;

static void check_min_align(const char *what, size_t n, const void *p)
{
	static size_t last_n = SIZE_MAX;
	size_t want = n >= 16 ? 16 : 8;
	if ((uintptr_t)p % want) {
		misaligned++;
		if (n != last_n)
			fprintf(stderr, "%s(%zu) = %p: not %zu-byte aligned\n", what, n, p, want);
		last_n = n;
	}
}

/* sm_ptr_instance: the instance a pointer belongs to, NULL if foreign. */
static void *(*owner)(const void *);

#ifndef CONF_PRELOAD
static void *owner_direct(const void *p)
{
	return sm_ptr_instance(p);
}
#endif

/* Not declared by Debian 12's headers; looked up so the libc-only build links. */
static void (*p_free_sized)(void *, size_t);
static void (*p_free_aligned_sized)(void *, size_t, size_t);
static void (*p_cfree)(void *);

/* Sizes used throughout: every kind of block (small classes, page runs, huge). */
static const size_t sizes[] = {
	1, 7, 8, 9, 15, 16, 17, 24, 31, 32, 33, 48, 63, 64, 65, 80, 96, 100, 127, 128, 129,
	200, 255, 256, 257, 500, 511, 512, 513, 1000, 1023, 1024, 1025, 2000, 2047, 2048,
	2049, 3000, 4095, 4096, 4097, 5000, 8191, 8192, 8193, 10000, 16383, 16384, 16385,
	20000, 32767, 32768, 32769, 40000, 65535, 65536, 65537, 100000, 131072, 250000,
	MiB - 1, MiB, MiB + 1, 3 * MiB + 5, 16 * MiB, 32 * MiB, 32 * MiB + 1, 40 * MiB,
};
#define NSIZES (sizeof(sizes) / sizeof(sizes[0]))

/*
 * Hardened mode (ctest sets SM_TEST_HARDENED): a freed small object waits in
 * the quarantine, still counted in uordblks, and its usable size is what
 * was asked for, not its slot: the exact accounting checks do not apply.
 */
static bool hardened_mode(void)
{
	return getenv("SM_TEST_HARDENED") != NULL;
}

static size_t uord(void)
{
	return mallinfo2().uordblks;
}

/* Resolve @name in the global scope and check it is libslabmalloc's. */
static void *slabmalloc_sym(const char *name)
{
	void *f = dlsym(RTLD_DEFAULT, name);
	if (!f) {
		fprintf(stderr, "dlsym(%s) failed: slabmalloc is not loaded (%s)\n", name, dlerror());
		exit(1);
	}
	Dl_info info;
	CHECK(dladdr(f, &info) && info.dli_fname);
	if (!strstr(info.dli_fname, "libslabmalloc")) {
		fprintf(stderr, "%s resolves to %s, not libslabmalloc\n", name, info.dli_fname);
		exit(1);
	}
	return f;
}

static void setup(void)
{
	page = (size_t)sysconf(_SC_PAGESIZE);
	CHECK_EQ(page, 4096);
#ifdef CONF_PRELOAD
	owner = (void *(*)(const void *))slabmalloc_sym("sm_ptr_instance");
#else
	owner = owner_direct;
#endif
	/* The malloc family that the global scope sees is slabmalloc's. */
	static const char *const names[] = {
		"malloc", "free", "calloc", "realloc", "reallocarray", "posix_memalign",
		"aligned_alloc", "memalign", "valloc", "pvalloc", "malloc_usable_size",
		"malloc_trim", "malloc_stats", "mallinfo", "mallinfo2",
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		slabmalloc_sym(names[i]);
	p_free_sized = (void (*)(void *, size_t))slabmalloc_sym("free_sized");
	p_free_aligned_sized = (void (*)(void *, size_t, size_t))slabmalloc_sym("free_aligned_sized");
	p_cfree = (void (*)(void *))slabmalloc_sym("cfree");
}

/*
 * Runs first.  A page run grows in place when the pages after it are free
 * (node_resize_run: the free run that follows, or the fresh pages above the
 * node's bump).  In a fresh process nothing has been freed, so a 64 KiB run
 * comes from the bump and nothing lies after it: 64 KiB -> 128 KiB must keep
 * the pointer.  Shrinking a page run is always in place.
 */
static void t_realloc_in_place(void)
{
	char *p = malloc(64 * KiB);
	CHECK(p);
	fill(p, 64 * KiB, 1);
	char *q = realloc(p, 128 * KiB);
	CHECK(q == p);
	/* Hardened mode (issue 13): the usable size of a run is what was asked. */
	CHECK(malloc_usable_size(q) == 128 * KiB);
	CHECK_FILL(q, 64 * KiB, 1);
	fill(q, 128 * KiB, 2);
	/* Shrink: the tail goes back, the run stays where it is. */
	q = realloc(p, 40000);
	CHECK(q == p);
	CHECK(malloc_usable_size(q) == 40960 || malloc_usable_size(q) == 40000);
	CHECK_FILL(q, 40000, 2);
	/* And grows back into the tail it just gave up. */
	q = realloc(p, 100000);
	CHECK(q == p);
	CHECK(malloc_usable_size(q) == 102400 || malloc_usable_size(q) == 100000);
	CHECK_FILL(q, 40000, 2);
	free(q);
}

static void t_identity(void)
{
	void *p = malloc(16);
	CHECK(p);
	CHECK(owner(p) != NULL);
#ifndef CONF_PRELOAD
	CHECK(owner(p) == (void *)sm_default_instance());
#endif
	int local = 0;
	CHECK(owner(&local) == NULL);
	CHECK(owner(&page) == NULL);
	void *big = malloc(100 * KiB), *huge = malloc(40 * MiB), *z = calloc(3, 100);
	void *a = aligned_alloc(256, 512), *m = memalign(64, 10), *v = valloc(10);
	void *pv = pvalloc(10), *r = realloc(NULL, 10), *ra = reallocarray(NULL, 3, 5);
	void *pm = NULL;
	CHECK_EQ(posix_memalign(&pm, 128, 100), 0);
	/* libc's own allocations come from the same malloc. */
	char *dup = strdup("slabmalloc");
	char *line = NULL;
	CHECK(asprintf(&line, "%d-%s", 42, "x") == 4);
	void *all[] = { p, big, huge, z, a, m, v, pv, r, ra, pm, dup, line };
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		CHECK(all[i]);
		if (!owner(all[i])) {
			fprintf(stderr, "pointer %zu (%p) is not slabmalloc's\n", i, all[i]);
			exit(1);
		}
	}
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		free(all[i]);
}

static void t_malloc(void)
{
	/* malloc(0): a unique pointer that can be freed. */
	enum { N = 2000 };
	static void *v[N], *w[N];
	for (int i = 0; i < N; i++) {
		v[i] = malloc(0);
		CHECK(v[i]);
		w[i] = v[i];
	}
	CHECK(all_distinct(w, N));
	for (int i = 0; i < N; i++)
		free(v[i]);

	/* Impossible sizes: NULL and ENOMEM. */
	volatile size_t huge = SIZE_MAX;
	CHECK_NULL_ERRNO(malloc(huge), ENOMEM);
	CHECK_NULL_ERRNO(malloc((size_t)PTRDIFF_MAX + 1), ENOMEM);
	CHECK_NULL_ERRNO(malloc((size_t)PTRDIFF_MAX), ENOMEM);
	CHECK_NULL_ERRNO(malloc(huge - page), ENOMEM);

	/* Every size: usable, aligned to 16 from 16 bytes up, no overlap. */
	static void *live[NSIZES];
	for (size_t i = 0; i < NSIZES; i++) {
		live[i] = malloc(sizes[i]);
		CHECK(live[i]);
		CHECK(owner(live[i]));
		check_min_align("malloc", sizes[i], live[i]);
		fill(live[i], sizes[i], i);
	}
	for (size_t i = 0; i < NSIZES; i++) {
		CHECK_FILL(live[i], sizes[i], i);
		free(live[i]);
	}
	free(NULL);
}

static void t_calloc(void)
{
	/* Dirty the memory, free it, and calloc the same size: every byte must be 0. */
	for (size_t i = 0; i < NSIZES; i++) {
		size_t n = sizes[i];
		int rounds = n >= 16 * MiB ? 2 : n >= MiB ? 8 : 64;
		for (int r = 0; r < rounds; r++) {
			unsigned char *p = malloc(n);
			CHECK(p);
			memset(p, 0xff, malloc_usable_size(p));
			free(p);
			if (r == rounds / 2)
				malloc_trim(0); /* the next one may come from purged pages */
			unsigned char *q = calloc(1, n);
			CHECK(q);
			check_min_align("calloc", n, q);
			size_t bad = first_nonzero(q, n);
			if (bad != (size_t)-1) {
				fprintf(stderr, "calloc(1, %zu) round %d: byte %zu of %p is 0x%02x\n", n, r,
					bad, (void *)q, q[bad]);
				exit(1);
			}
			memset(q, 0xa5, n);
			free(q);
		}
	}
	/* Many dirty objects of one size at once, then as many callocs. */
	enum { M = 300 };
	static unsigned char *v[M];
	static const size_t csz[] = { 8, 24, 96, 640, 4096, 20000, 70000 };
	for (size_t k = 0; k < sizeof(csz) / sizeof(csz[0]); k++) {
		for (int i = 0; i < M; i++) {
			v[i] = malloc(csz[k]);
			CHECK(v[i]);
			memset(v[i], 0xff, csz[k]);
		}
		for (int i = 0; i < M; i++)
			free(v[i]);
		for (int i = 0; i < M; i++) {
			v[i] = calloc(csz[k] / 8, 8);
			CHECK(v[i]);
			CHECK_EQ(first_nonzero(v[i], csz[k]), (size_t)-1);
			memset(v[i], 0xee, csz[k]);
		}
		for (int i = 0; i < M; i++)
			free(v[i]);
	}
	/* Overflow of n * size. */
	CHECK_NULL_ERRNO(calloc(SIZE_MAX / 2, 3), ENOMEM);
	CHECK_NULL_ERRNO(calloc(SIZE_MAX, SIZE_MAX), ENOMEM);
	CHECK_NULL_ERRNO(calloc((size_t)1 << 32, (size_t)1 << 32), ENOMEM);
	CHECK_NULL_ERRNO(calloc(1, SIZE_MAX), ENOMEM);
	void *z = calloc(0, 0);
	CHECK(z);
	free(z);
	z = calloc(0, 100);
	CHECK(z);
	free(z);
}

static void t_realloc(void)
{
	/* realloc(NULL, n) is malloc(n). */
	char *p = realloc(NULL, 100);
	CHECK(p);
	CHECK(owner(p));
	CHECK_GE(malloc_usable_size(p), 100);
	fill(p, 100, 3);
	CHECK_FILL(p, 100, 3);
	free(p);

	/*
	 * realloc(p, 0) frees p and returns NULL (glibc).  Freed is measured with
	 * mallinfo2: uordblks counts live objects (not those cached in sheaves)
	 * and live page runs, so it drops by exactly the block's usable size.
	 * A block of the size is freed first, so that this thread has a sheaf
	 * for frees of the class with room in it; the measured free is then a
	 * plain push (no sheaf is allocated meanwhile).
	 */
	static const size_t zsz[] = { 24, 1000, 100000, 40 * MiB };
	for (size_t i = 0; i < sizeof(zsz) / sizeof(zsz[0]); i++) {
		free(malloc(zsz[i]));
		p = malloc(zsz[i]);
		void *extra = malloc(zsz[i]);
		CHECK(p && extra);
		size_t u = malloc_usable_size(p);
		size_t before = uord();
		errno = 0;
		CHECK(realloc(p, 0) == NULL);
		size_t after = uord();
		if (before - after != u && !hardened_mode()) {
			fprintf(stderr, "realloc(%p [%zu bytes], 0): uordblks %zu -> %zu\n", (void *)p,
				zsz[i], before, after);
			exit(1);
		}
		free(extra);
	}

	/* Contents survive growing and shrinking across every kind of block. */
	static const size_t chain[] = {
		8, 16, 24, 40, 64, 100, 200, 500, 1000, 3000, 4096, 8000, 16000, 32768, 32769,
		50000, 65536, 200000, MiB, 5 * MiB, 31 * MiB, 33 * MiB, 64 * MiB, 48 * MiB,
		33 * MiB, 20 * MiB, 2 * MiB, 300000, 70000, 40000, 32768, 20000, 4096, 1000,
		100, 64, 24, 8, 5000, 64 * MiB, 8, 1,
	};
	size_t cur = chain[0];
	p = malloc(cur);
	CHECK(p);
	fill(p, cur, 100);
	for (size_t i = 1; i < sizeof(chain) / sizeof(chain[0]); i++) {
		size_t n = chain[i];
		char *q = realloc(p, n);
		CHECK(q);
		CHECK(owner(q));
		CHECK_GE(malloc_usable_size(q), n);
		check_min_align("realloc", n, q);
		CHECK_FILL(q, cur < n ? cur : n, 100 + i - 1);
		fill(q, n, 100 + i);
		p = q;
		cur = n;
	}
	free(p);

	/* Failure leaves the block alone: NULL, ENOMEM, contents and size kept. */
	static const size_t fsz[] = { 24, 5000, 100000, 40 * MiB };
	for (size_t i = 0; i < sizeof(fsz) / sizeof(fsz[0]); i++) {
		p = malloc(fsz[i]);
		CHECK(p);
		size_t u = malloc_usable_size(p);
		fill(p, fsz[i], 7 + i);
		CHECK_NULL_ERRNO(realloc(p, SIZE_MAX), ENOMEM);
		CHECK_NULL_ERRNO(realloc(p, (size_t)PTRDIFF_MAX + 1), ENOMEM);
		CHECK_NULL_ERRNO(realloc(p, SIZE_MAX - page), ENOMEM);
		CHECK_EQ(malloc_usable_size(p), u);
		CHECK_FILL(p, fsz[i], 7 + i);
		char *q = realloc(p, fsz[i] * 2);
		CHECK(q);
		CHECK_FILL(q, fsz[i], 7 + i);
		free(q);
	}

	/* reallocarray: n * size, with overflow checked. */
	p = reallocarray(NULL, 10, 10);
	CHECK(p);
	CHECK_GE(malloc_usable_size(p), 100);
	fill(p, 100, 9);
	CHECK_NULL_ERRNO(reallocarray(p, SIZE_MAX / 2, 3), ENOMEM);
	CHECK_NULL_ERRNO(reallocarray(p, (size_t)1 << 32, (size_t)1 << 32), ENOMEM);
	CHECK_FILL(p, 100, 9);
	char *q = reallocarray(p, 1000, 7);
	CHECK(q);
	CHECK_GE(malloc_usable_size(q), 7000);
	CHECK_FILL(q, 100, 9);
	free(q);
}

static void t_aligned(void)
{
	static const size_t asz[] = { 0, 1, 8, 24, 100, 1000, 4096, 5000, 20000, 40000, 100000 };
	enum { NA = sizeof(asz) / sizeof(asz[0]), REP = 3 };
	void *v[NA * REP], *w[NA * REP];

	for (size_t align = 8; align <= MiB; align <<= 1) {
		size_t k = 0;
		for (int rep = 0; rep < REP; rep++)
			for (size_t i = 0; i < NA; i++) {
				void *p = (void *)1;
				errno = 4321;
				int r = posix_memalign(&p, align, asz[i]);
				if (r != 0 || !p || (uintptr_t)p % align) {
					fprintf(stderr, "posix_memalign(align %zu, size %zu) = %d, %p\n", align,
						asz[i], r, p);
					exit(1);
				}
				CHECK_EQ(errno, 4321);
				CHECK(owner(p));
				CHECK_GE(malloc_usable_size(p), asz[i]);
				fill(p, asz[i], align + i);
				v[k] = w[k] = p;
				k++;
			}
		/* Every block is distinct and intact (size-0 ones included). */
		CHECK(all_distinct(w, k));
		for (size_t j = 0; j < k; j++) {
			CHECK_FILL(v[j], asz[j % NA], align + j % NA);
			free(v[j]);
		}
	}

	/* Not a power of two, or not a multiple of sizeof(void *): EINVAL, nothing touched. */
	static const size_t bad[] = { 0, 1, 2, 3, 4, 12, 24, 48, 100, 4097, SIZE_MAX };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		void *sentinel = (void *)0x1234, *p = sentinel;
		errno = 777;
		int r = posix_memalign(&p, bad[i], 16);
		if (r != EINVAL || p != sentinel || errno != 777) {
			fprintf(stderr, "posix_memalign(align %zu) = %d, *memptr %p, errno %d\n", bad[i], r,
				p, errno);
			exit(1);
		}
	}
	/* Out of memory: ENOMEM returned, *memptr and errno left alone. */
	{
		void *sentinel = (void *)0x5678, *p = sentinel;
		errno = 778;
		CHECK_EQ(posix_memalign(&p, 64, SIZE_MAX), ENOMEM);
		CHECK(p == sentinel);
		CHECK_EQ(errno, 778);
	}

	/* aligned_alloc: a power of two or EINVAL. */
	static const size_t notpow2[] = { 3, 5, 12, 24, 100, 4097, 65535 };
	for (size_t i = 0; i < sizeof(notpow2) / sizeof(notpow2[0]); i++)
		CHECK_NULL_ERRNO(aligned_alloc(notpow2[i], notpow2[i] * 4), EINVAL);
	for (size_t align = 1; align <= MiB; align <<= 1) {
		void *p = aligned_alloc(align, align * 2);
		CHECK(p);
		CHECK_EQ((uintptr_t)p % align, 0);
		CHECK_GE(malloc_usable_size(p), align * 2);
		fill(p, align * 2, align);
		CHECK_FILL(p, align * 2, align);
		free(p);
	}
	CHECK_NULL_ERRNO(aligned_alloc(64, SIZE_MAX), ENOMEM);

	/* memalign: an alignment that is not a power of two is rounded up to one. */
	static const size_t mal[][2] = { { 3, 4 }, { 5, 8 }, { 24, 32 }, { 100, 128 },
					 { 1000, 1024 }, { 5000, 8192 }, { 40000, 65536 } };
	for (size_t i = 0; i < sizeof(mal) / sizeof(mal[0]); i++)
		for (int rep = 0; rep < 8; rep++) {
			void *p = memalign(mal[i][0], 100);
			CHECK(p);
			if ((uintptr_t)p % mal[i][1]) {
				fprintf(stderr, "memalign(%zu, 100) = %p, not %zu-aligned\n", mal[i][0], p,
					mal[i][1]);
				exit(1);
			}
			CHECK_GE(malloc_usable_size(p), 100);
			free(p);
		}
	void *m0 = memalign(0, 10);
	CHECK(m0);
	free(m0);
	CHECK_NULL_ERRNO(memalign(SIZE_MAX / 2 + 2, 1), EINVAL);
	CHECK_NULL_ERRNO(memalign(64, SIZE_MAX), ENOMEM);

	/* valloc: page aligned.  pvalloc: page aligned and rounded up to pages. */
	static const size_t vsz[] = { 0, 1, 100, 4095, 4096, 4097, 5000, 40000, 100000, 3 * MiB };
	for (size_t i = 0; i < sizeof(vsz) / sizeof(vsz[0]); i++) {
		void *p = valloc(vsz[i]);
		CHECK(p);
		CHECK_EQ((uintptr_t)p % page, 0);
		CHECK_GE(malloc_usable_size(p), vsz[i]);
		fill(p, vsz[i], i);
		void *q = pvalloc(vsz[i]);
		CHECK(q);
		CHECK_EQ((uintptr_t)q % page, 0);
		size_t rounded = (vsz[i] + page - 1) / page * page;
		CHECK_GE(malloc_usable_size(q), rounded);
		memset(q, 0x5a, rounded); /* all of the rounded size is ours */
		CHECK_FILL(p, vsz[i], i);
		free(p);
		free(q);
	}
	CHECK_NULL_ERRNO(valloc(SIZE_MAX), ENOMEM);
	CHECK_NULL_ERRNO(pvalloc(SIZE_MAX), ENOMEM);
	CHECK_NULL_ERRNO(pvalloc(SIZE_MAX - page), ENOMEM);
}

static void t_usable_size(void)
{
	CHECK_EQ(malloc_usable_size(NULL), 0);
	/* Every byte malloc_usable_size reports can be written without harm. */
	enum { N = 1200 };
	static unsigned char *v[N];
	static size_t us[N];
	for (int i = 0; i < N; i++) {
		size_t n = i < 1000 ? (size_t)i * 7 : (size_t)(i - 999) * 9000;
		v[i] = malloc(n);
		CHECK(v[i]);
		us[i] = malloc_usable_size(v[i]);
		CHECK_GE(us[i], n);
		fill(v[i], us[i], (uint64_t)i * 3);
	}
	for (int i = 0; i < N; i++) {
		CHECK_EQ(malloc_usable_size(v[i]), us[i]);
		CHECK_FILL(v[i], us[i], (uint64_t)i * 3);
		free(v[i]);
	}
	for (size_t i = 0; i < NSIZES; i++) {
		void *p = malloc(sizes[i]);
		CHECK(p);
		CHECK_GE(malloc_usable_size(p), sizes[i]);
		free(p);
	}
}

static void t_free_errno(void)
{
	static const size_t fsz[] = { 0, 1, 24, 4096, 40000, MiB, 40 * MiB };
	for (int round = 0; round < 3; round++)
		for (size_t i = 0; i < sizeof(fsz) / sizeof(fsz[0]); i++) {
			void *p = malloc(fsz[i]);
			CHECK(p);
			errno = 1234;
			free(p);
			CHECK_EQ(errno, 1234);
			free(NULL);
			CHECK_EQ(errno, 1234);
			p = valloc(fsz[i]);
			CHECK(p);
			errno = 1235;
			free(p);
			CHECK_EQ(errno, 1235);
			/* A burst of frees that spill sheaves to the slabs and the barn. */
			void *v[300];
			for (int k = 0; k < 300; k++)
				CHECK((v[k] = malloc(fsz[i] % 4096 + 8)));
			errno = 1236;
			for (int k = 0; k < 300; k++)
				free(v[k]);
			CHECK_EQ(errno, 1236);
		}
	errno = 1237;
	free(NULL);
	CHECK_EQ(errno, 1237);
}

static void t_trim(void)
{
	/* Live blocks survive a trim; freed page runs are returned. */
	enum { N = 64 };
	void *keep[N], *drop[N];
	for (int i = 0; i < N; i++) {
		size_t n = (size_t)(i + 1) * 3000;
		keep[i] = malloc(n);
		drop[i] = malloc(n * 4);
		CHECK(keep[i] && drop[i]);
		fill(keep[i], n, (uint64_t)i);
		fill(drop[i], n * 4, (uint64_t)i);
	}
	for (int i = 0; i < N; i++)
		free(drop[i]);
	int r = malloc_trim(0);
	CHECK(r == 0 || r == 1);
	r = malloc_trim(0);
	CHECK(r == 0 || r == 1);
	r = malloc_trim(1 * MiB);
	CHECK(r == 0 || r == 1);
	for (int i = 0; i < N; i++) {
		size_t n = (size_t)(i + 1) * 3000;
		CHECK_FILL(keep[i], n, (uint64_t)i);
		free(keep[i]);
	}
	/*
	 * 8 MiB of page runs freed just now are free pages still resident
	 * (keepcost), unless the purge timer already took them: then trim must
	 * return 1.  Either way every free page has gone back afterwards.
	 */
	void *runs[64];
	for (int i = 0; i < 64; i++)
		CHECK((runs[i] = malloc(128 * KiB)));
	for (int i = 0; i < 64; i++)
		memset(runs[i], 1, 128 * KiB);
	for (int i = 0; i < 64; i++)
		free(runs[i]);
	size_t dirty = mallinfo2().keepcost;
	r = malloc_trim(0);
	CHECK_EQ(r, dirty ? 1 : r);
	CHECK_EQ(mallinfo2().keepcost, 0);
	/* Allocation works afterwards, fresh pages and purged pages alike. */
	for (int i = 0; i < 64; i++) {
		runs[i] = calloc(1, 128 * KiB);
		CHECK(runs[i]);
		CHECK_EQ(first_nonzero(runs[i], 128 * KiB), (size_t)-1);
	}
	for (int i = 0; i < 64; i++)
		free(runs[i]);
}

static void t_mallinfo(void)
{
	enum { N = 256 };
	void *v[N];
	struct mallinfo2 a = mallinfo2();
	for (int i = 0; i < N; i++) {
		v[i] = malloc(4096);
		CHECK(v[i]);
		memset(v[i], 3, 4096);
	}
	struct mallinfo2 b = mallinfo2();
	CHECK_GE(b.uordblks, a.uordblks + MiB);
	CHECK_GE(b.arena, MiB);
	CHECK_GE(b.arena + b.hblkhd, b.uordblks);
	/* The legacy mallinfo reports the same numbers, as int. */
	struct mallinfo c = mallinfo();
	struct mallinfo2 d = mallinfo2();
	CHECK_EQ((size_t)c.uordblks, d.uordblks);
	CHECK_EQ((size_t)c.arena, d.arena);
	CHECK_EQ((size_t)c.hblkhd, d.hblkhd);
	for (int i = 0; i < N; i++)
		free(v[i]);
	struct mallinfo2 e = mallinfo2();
	CHECK_LE(e.uordblks + MiB, b.uordblks + 64 * KiB);
	/* A huge block shows up as an mmap'd one (above 256 MiB: a mapping
	   of its own however many huge blocks were freed before, which make
	   the threshold adapt; nothing of it is touched). */
	void *h = malloc(300 * MiB);
	CHECK(h);
	struct mallinfo2 f = mallinfo2();
	CHECK_GE(f.hblks, 1);
	CHECK_GE(f.hblkhd, 300 * MiB);
	CHECK_GE(f.uordblks, e.uordblks + 300 * MiB);
	free(h);
	CHECK_EQ(mallinfo2().hblkhd + 300 * MiB, f.hblkhd);
}

static void t_malloc_stats(void)
{
	/* malloc_stats prints the slabinfo table on stderr. */
	char path[] = "/tmp/sm_conf_statsXXXXXX";
	int fd = mkstemp(path);
	CHECK(fd >= 0);
	unlink(path);
	void *p = malloc(200);
	CHECK(p);
	fflush(stderr);
	int saved = dup(2);
	CHECK(saved >= 0);
	CHECK(dup2(fd, 2) == 2);
	malloc_stats();
	CHECK(dup2(saved, 2) == 2);
	close(saved);
	char buf[16384];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	close(fd);
	CHECK(n > 0);
	buf[n] = '\0';
	char want[64];
	snprintf(want, sizeof(want), "slabmalloc: statistics of pid %d (", (int)getpid());
	CHECK(strstr(buf, want) == buf);
	CHECK(strstr(buf, "\nkmalloc-"));
	CHECK(strstr(buf, "\nslabmalloc: totals: caches_used "));
	CHECK(strstr(buf, "\nslabmalloc: memory: slab "));
	free(p);
}

/*
 * @fn frees @p: uordblks drops by its usable size (see t_realloc).  A
 * block of @p's size was freed before the call and @extra was allocated
 * after @p, so the sheaf frees go to exists and has room.
 */
static void check_frees(const char *what, void *p, void *extra, void (*fn)(void *, size_t), size_t n)
{
	CHECK(p && extra);
	size_t u = malloc_usable_size(p);
	size_t before = uord();
	fn(p, n);
	size_t after = uord();
	if (before - after != u && !hardened_mode()) {
		fprintf(stderr, "%s(%p) did not free %zu bytes: uordblks %zu -> %zu\n", what, p, u,
			before, after);
		exit(1);
	}
	free(extra);
}

static void call_free_sized(void *p, size_t n) { p_free_sized(p, n); }
static void call_free_aligned_sized(void *p, size_t n) { p_free_aligned_sized(p, 64, n); }
static void call_cfree(void *p, size_t n) { (void)n; p_cfree(p); }
static void call_free(void *p, size_t n) { (void)n; free(p); }

static void t_sized_frees(void)
{
	static const size_t fsz[] = { 8, 100, 3000, 100000, 40 * MiB };
	for (size_t i = 0; i < sizeof(fsz) / sizeof(fsz[0]); i++) {
		size_t n = fsz[i];
		free(malloc(n));
		free(aligned_alloc(64, n));
		void *p = malloc(n);
		check_frees("free_sized", p, malloc(n), call_free_sized, n);
		p = aligned_alloc(64, n);
		CHECK_EQ((uintptr_t)p % 64, 0);
		check_frees("free_aligned_sized", p, aligned_alloc(64, n), call_free_aligned_sized, n);
		p = malloc(n);
		check_frees("cfree", p, malloc(n), call_cfree, n);
		p = malloc(n);
		check_frees("free", p, malloc(n), call_free, n);
	}
	p_free_sized(NULL, 0);
	p_free_aligned_sized(NULL, 64, 0);
	p_cfree(NULL);
}

int main(void)
{
	setup();
	/* First, while nothing has been freed yet (see t_realloc_in_place). */
	t_realloc_in_place();
	t_identity();
	t_malloc();
	t_calloc();
	t_realloc();
	t_aligned();
	t_usable_size();
	t_free_errno();
	t_trim();
	t_mallinfo();
	t_malloc_stats();
	t_sized_frees();
	if (misaligned) {
		fprintf(stderr, "FAILED: %d blocks of 16 bytes or more were not 16-byte aligned\n",
			misaligned);
		return 1;
	}
	printf("conformance: all checks passed (%s)\n",
#ifdef CONF_PRELOAD
	       "LD_PRELOAD"
#else
	       "linked"
#endif
	);
	return 0;
}
