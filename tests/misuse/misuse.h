/* misuse.h - what every program of the heap-misuse battery shares.
 *
 * Each program performs one misuse, then the follow-up a real program would
 * do (usually freeing what it holds and allocating a little more), and ends
 * with exit(0) when nothing stopped it.  It writes its remarks on stdout
 * only: stderr belongs to the allocator, whose first line there is its
 * report.  Outcomes (tests/misuse/battery.py classifies them):
 *
 *   exit 0          undetected: the misuse went through
 *   SIGABRT         the allocator stopped the process (with its message)
 *   SIGSEGV/SIGBUS  a protection stopped the process
 *   exit 10 (MISUSE_CLEARED)  read kinds: the freed or reused memory did
 *                   not show the program's old data (cleared or replaced)
 *   exit 11 (MISUSE_REFUSED)  size kinds: the request failed with NULL and
 *                   the errno the function documents (ENOMEM)
 *   exit 12 (MISUSE_ABSENT)   the function under test does not exist in
 *                   this C library / allocator (free_sized in glibc 2.36)
 *   exit 13 (MISUSE_WRONG)    the allocator answered wrongly without
 *                   stopping (a size request "succeeded", errno not set)
 *   exit 1          the set-up failed (an ordinary malloc returned NULL)
 *
 * The programs are built with -O0 -fno-builtin, and every pointer that
 * carries a misuse goes through opaque(), so the compiler can neither fold
 * nor drop the misuse.
 */
#ifndef MISUSE_H
#define MISUSE_H

/* C and C++ (the programs whose misuse is C++'s include it too). */

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MISUSE_CLEARED 10
#define MISUSE_REFUSED 11
#define MISUSE_ABSENT  12
#define MISUSE_WRONG   13

/* The pattern the read kinds write and look for: not 0, not 0xff, not a
 * byte an allocator writes into free memory as far as we know. */
#define MISUSE_PATTERN 0xa7

/* @p, through a barrier the optimiser cannot see through. */
static inline void *opaque(void *p)
{
	__asm__ volatile("" : "+r"(p) : : "memory");
	return p;
}

/* @size through the same barrier (keeps SIZE_MAX-like constants from being
 * folded into a compile-time warning or a call the compiler drops). */
static inline size_t opaque_size(size_t size)
{
	__asm__ volatile("" : "+r"(size));
	return size;
}

/* A malloc that must work (the set-up of a misuse): exits 1 otherwise. */
static inline void *must_malloc(size_t size)
{
	void *p = malloc(size);
	if (!p) {
		printf("set-up: malloc(%zu) failed\n", size);
		exit(1);
	}
	return opaque(p);
}

/* What a program does after its misuse: @rounds allocations of @size, half
 * of them freed at once, the others at the end, so the allocator hands
 * out, takes back and checks objects of that size again. */
static inline void churn(size_t size, unsigned rounds)
{
	void *keep[64];
	unsigned kept = 0;

	for (unsigned i = 0; i < rounds; i++) {
		volatile char *q = (volatile char *)opaque(malloc(size));
		if (!q)
			continue;
		if (size)
			q[0] = (char)i;
		if ((i & 1) && kept < 64)
			keep[kept++] = (void *)q;
		else
			free((void *)q);
	}
	while (kept)
		free(keep[--kept]);
}

/* Bytes of [p + from, p + to) that still hold MISUSE_PATTERN. */
static inline size_t count_pattern(const volatile unsigned char *p, size_t from, size_t to)
{
	size_t n = 0;
	for (size_t i = from; i < to; i++)
		n += p[i] == MISUSE_PATTERN;
	return n;
}

/* The end of a read kind: exit 0 (undetected) when any of the bytes looked
 * at still holds the program's old data, else MISUSE_CLEARED. */
static inline int read_verdict(size_t left, size_t looked)
{
	printf("%zu of %zu bytes still hold the old data\n", left, looked);
	return left ? 0 : MISUSE_CLEARED;
}

/* The end of a size kind: MISUSE_REFUSED when @p is NULL with ENOMEM. */
static inline int refused_verdict(const void *p, int err)
{
	if (p) {
		printf("the request succeeded: %p\n", p);
		return MISUSE_WRONG;
	}
	if (err != ENOMEM) {
		printf("NULL, but errno %d, not ENOMEM\n", err);
		return MISUSE_WRONG;
	}
	return MISUSE_REFUSED;
}

#endif
