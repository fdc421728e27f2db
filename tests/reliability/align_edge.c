/*
 * align_edge.c - alignments and sizes at the edges fail cleanly or succeed
 * correctly, never half-way (issue 10, item 4).
 *
 *   align_2p44    aligned_alloc, posix_memalign and memalign with alignment
 *                 2^44 and 2^45: NULL with errno ENOMEM (posix_memalign:
 *                 ENOMEM returned, *memptr untouched), as glibc does; a
 *                 pointer that is not aligned as asked is a failure (the
 *                 alignment used to be truncated to 32 bits of pages, giving
 *                 a merely page-aligned block).  A correctly aligned block
 *                 is accepted (and freed).
 *   no_growth     15 calls of aligned_alloc(2^43, 1) fail (or return an
 *                 aligned block, freed at once) without the process's
 *                 VmSize (/proc/self/status) growing by more than 1 GiB (a
 *                 request that no node can meet used to grow the instance
 *                 by a node each time: ~7 TiB of address space).
 *   huge_aligned  huge allocations (40 MiB, above the 32 MiB threshold) with
 *                 alignments of 128 MiB and 1 GiB, four of each from each of
 *                 aligned_alloc, posix_memalign and memalign: aligned as
 *                 asked, usable to the last byte, malloc_usable_size at
 *                 least the request (huge mappings used to be aligned to
 *                 64 MiB whatever was asked).
 *   big_threshold with SLABMALLOC_HUGE_THRESHOLD=65536g (64 TiB, so that
 *                 these requests are page runs if the option is accepted):
 *                 malloc of 16 TiB + 4 KiB and of 17 TiB return NULL with
 *                 errno ENOMEM, or a block whose malloc_usable_size is at
 *                 least the request (page counts used to be 32 bits: 16 TiB
 *                 + 4 KiB became a one-page run).
 */
#define _GNU_SOURCE
#include <malloc.h>

#include "rtest.h"

/* VmSize of this process in bytes. */
static size_t vm_size(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	CHECK(f);
	char line[256];
	unsigned long kb = 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmSize: %lu kB", &kb) == 1)
			break;
	fclose(f);
	CHECK(kb);
	return (size_t)kb << 10;
}

/* Outcome of one aligned request: NULL with ENOMEM, or aligned as asked. */
static int aligned_ok(const char *fn, size_t align, size_t size, void *p, int e)
{
	if (!p) {
		if (e != ENOMEM) {
			fprintf(stderr, "align_edge: FAILED: %s(%#zx, %zu) returned NULL with errno %d, not "
					"ENOMEM\n", fn, align, size, e);
			return 0;
		}
		return 1;
	}
	if ((uintptr_t)p % align) {
		fprintf(stderr, "align_edge: FAILED: %s(%#zx, %zu) returned %p, not aligned as asked\n", fn,
			align, size, p);
		return 0;
	}
	if (malloc_usable_size(p) < size) {
		fprintf(stderr, "align_edge: FAILED: %s(%#zx, %zu) returned %p with usable size %zu\n", fn,
			align, size, p, malloc_usable_size(p));
		return 0;
	}
	((volatile char *)p)[0] = 1;
	free(p);
	return 1;
}

/* The three aligned allocators once each with @align and @size; 0 if all went right. */
static int try_all(size_t align, size_t size)
{
	int ok = 1;
	errno = 0;
	void *p = aligned_alloc(align, size);
	ok &= aligned_ok("aligned_alloc", align, size, p, errno);
	errno = 0;
	p = memalign(align, size);
	ok &= aligned_ok("memalign", align, size, p, errno);
	void *sentinel = (void *)0x1234, *q = sentinel;
	int r = posix_memalign(&q, align, size);
	if (r == 0) {
		ok &= aligned_ok("posix_memalign", align, size, q, 0);
	} else if (r != ENOMEM || q != sentinel) {
		fprintf(stderr, "align_edge: FAILED: posix_memalign(%#zx, %zu) returned %d (*memptr %p), "
				"expected 0 or ENOMEM with *memptr untouched\n", align, size, r, q);
		ok = 0;
	}
	return !ok;
}

static int case_align_2p44(void)
{
	int bad = 0;
	for (unsigned shift = 44; shift <= 45; shift++) {
		bad |= try_all((size_t)1 << shift, 1);
		bad |= try_all((size_t)1 << shift, 4096);
		bad |= try_all((size_t)1 << shift, 100 * KiB);
	}
	return bad;
}

static int case_no_growth(void)
{
	size_t before = vm_size();
	int bad = 0;
	for (int i = 0; i < 15; i++) {
		errno = 0;
		void *p = aligned_alloc((size_t)1 << 43, 1);
		int e = errno;
		if (!aligned_ok("aligned_alloc", (size_t)1 << 43, 1, p, e))
			bad = 1;
	}
	size_t after = vm_size();
	printf("align_edge: VmSize %zu MiB before, %zu MiB after 15 aligned_alloc(2^43, 1)\n", before >> 20,
	       after >> 20);
	if (after > before + GiB) {
		fprintf(stderr, "align_edge: FAILED: VmSize grew by %zu MiB for 15 requests that cannot be "
				"met\n", (after - before) >> 20);
		bad = 1;
	}
	return bad;
}

static int case_huge_aligned(void)
{
	static const size_t aligns[] = { 128 * MiB, 1 * GiB };
	int bad = 0;
	for (size_t i = 0; i < 2; i++)
		for (int k = 0; k < 4; k++) {
			size_t a = aligns[i], n = 40 * MiB;
			void *v[3];
			v[0] = aligned_alloc(a, n);
			v[1] = memalign(a, n);
			v[2] = NULL;
			CHECK_EQ(posix_memalign(&v[2], a, n), 0);
			static const char *const fn[] = { "aligned_alloc", "memalign", "posix_memalign" };
			for (int j = 0; j < 3; j++) {
				if (!v[j]) {
					fprintf(stderr, "align_edge: FAILED: %s(%zu MiB, 40 MiB) returned NULL\n",
						fn[j], a >> 20);
					bad = 1;
					continue;
				}
				if ((uintptr_t)v[j] % a) {
					fprintf(stderr, "align_edge: FAILED: %s(%zu MiB, 40 MiB) returned %p, "
							"not aligned as asked\n", fn[j], a >> 20, v[j]);
					bad = 1;
				}
				CHECK_GE(malloc_usable_size(v[j]), n);
				((volatile char *)v[j])[0] = 1;
				((volatile char *)v[j])[n - 1] = 1;
			}
			for (int j = 0; j < 3; j++)
				free(v[j]);
		}
	return bad;
}

static int big_request(size_t n)
{
	errno = 0;
	void *p = malloc(n);
	int e = errno;
	if (!p) {
		if (e != ENOMEM) {
			fprintf(stderr, "align_edge: FAILED: malloc(%zu) returned NULL with errno %d\n", n, e);
			return 1;
		}
		return 0;
	}
	size_t u = malloc_usable_size(p);
	if (u < n) {
		fprintf(stderr, "align_edge: FAILED: malloc(%zu) returned %p with usable size %zu\n", n, p, u);
		return 1;
	}
	free(p);
	return 0;
}

static int case_big_threshold(void)
{
	return big_request(16 * TiB + 4096) | big_request(17 * TiB) | big_request(16 * TiB);
}

static const struct rt_case cases[] = {
	{ "align_2p44", case_align_2p44 },
	{ "no_growth", case_no_growth },
	{ "huge_aligned", case_huge_aligned },
	{ "big_threshold", case_big_threshold },
};
#define NCASES (sizeof(cases) / sizeof(cases[0]))

int main(int argc, char **argv)
{
	int r = rt_case_main(argc, argv, cases, NCASES);
	if (r >= 0)
		return r;
	static const char *const big_env[] = { "SLABMALLOC_HUGE_THRESHOLD=65536g", NULL };
	int failed = 0;
	for (size_t i = 0; i < NCASES; i++)
		failed += rt_expect_exit0(cases[i].name, !strcmp(cases[i].name, "big_threshold") ? big_env : NULL,
					  30);
	return failed != 0;
}
