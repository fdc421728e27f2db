/*
 * ptest.h - assertions and helpers shared by the drop-in's integration tests
 * (tests/preload/).  Nothing here names an sm_* symbol, so a program built
 * against libc only (and run with LD_PRELOAD) can include it too.  Every
 * CHECK prints the expression, the values and the line, then exits 1.
 */
#ifndef SM_PTEST_H
#define SM_PTEST_H

#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(c) do { if (!(c)) { \
	fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #c); exit(1); } } while (0)
#define CHECK_EQ(a, b) do { unsigned long long _a = (unsigned long long)(a), _b = (unsigned long long)(b); \
	if (_a != _b) { fprintf(stderr, "%s:%d: CHECK_EQ failed: %s == %llu (0x%llx), %s == %llu (0x%llx)\n", \
		__FILE__, __LINE__, #a, _a, _a, #b, _b, _b); exit(1); } } while (0)
#define CHECK_GE(a, b) do { unsigned long long _a = (unsigned long long)(a), _b = (unsigned long long)(b); \
	if (_a < _b) { fprintf(stderr, "%s:%d: CHECK_GE failed: %s == %llu < %s == %llu\n", \
		__FILE__, __LINE__, #a, _a, #b, _b); exit(1); } } while (0)
#define CHECK_LE(a, b) do { unsigned long long _a = (unsigned long long)(a), _b = (unsigned long long)(b); \
	if (_a > _b) { fprintf(stderr, "%s:%d: CHECK_LE failed: %s == %llu > %s == %llu\n", \
		__FILE__, __LINE__, #a, _a, #b, _b); exit(1); } } while (0)
/* @call returns NULL and sets errno to @e. */
#define CHECK_NULL_ERRNO(call, e) do { errno = 0; void *_r = (void *)(call); int _e = errno; \
	if (_r || _e != (e)) { fprintf(stderr, "%s:%d: %s returned %p errno %d, expected NULL errno %d\n", \
		__FILE__, __LINE__, #call, _r, _e, (int)(e)); exit(1); } } while (0)

/* pthread_create or exit with the reason. */
static inline pthread_t spawn_thread(void *(*fn)(void *), void *arg)
{
	pthread_t t;
	int r = pthread_create(&t, NULL, fn, arg);
	if (r) {
		fprintf(stderr, "pthread_create: %s\n", strerror(r));
		exit(1);
	}
	return t;
}

/* Hide a pointer's origin from the compiler (no free-of-non-heap warnings, no folding). */
static inline void *launder(void *p)
{
	__asm__ volatile("" : "+r"(p));
	return p;
}

/*
 * The pattern seeded with @seed: the 8 bytes at offset 8k are the word
 * pat_word(seed, k) in memory order, so the pattern of a prefix is the
 * prefix of the pattern (what realloc keeps can be checked).
 */
static inline uint64_t pat_word(uint64_t seed, size_t k)
{
	uint64_t x = (seed ^ 0x5851f42d4c957f2dull) + k * 0x9e3779b97f4a7c15ull;
	x ^= x >> 29;
	return x * 0xbf58476d1ce4e5b9ull;
}

static inline void fill(void *p, size_t n, uint64_t seed)
{
	unsigned char *c = p;
	size_t words = n / 8, i;
	for (i = 0; i < words; i++) {
		uint64_t w = pat_word(seed, i);
		memcpy(c + 8 * i, &w, 8);
	}
	if (n % 8) {
		uint64_t w = pat_word(seed, words);
		memcpy(c + 8 * words, &w, n % 8);
	}
}

/* Offset of the first byte of [p, p+n) that differs from the pattern, or (size_t)-1. */
static inline size_t check_fill(const void *p, size_t n, uint64_t seed)
{
	const unsigned char *c = p;
	size_t words = (n + 7) / 8;
	for (size_t i = 0; i < words; i++) {
		uint64_t w = pat_word(seed, i);
		size_t len = 8 * i + 8 <= n ? 8 : n % 8;
		if (memcmp(c + 8 * i, &w, len))
			for (size_t j = 0;; j++)
				if (c[8 * i + j] != ((const unsigned char *)&w)[j])
					return 8 * i + j;
	}
	return (size_t)-1;
}

#define CHECK_FILL(p, n, seed) do { size_t _o = check_fill((p), (n), (seed)); \
	if (_o != (size_t)-1) { fprintf(stderr, "%s:%d: pattern of %p (%zu bytes, seed %llu) broken at offset %zu\n", \
		__FILE__, __LINE__, (void *)(p), (size_t)(n), (unsigned long long)(seed), _o); exit(1); } } while (0)

/* Offset of the first non-zero byte of [p, p+n), or (size_t)-1. */
static inline size_t first_nonzero(const void *p, size_t n)
{
	const unsigned char *c = p;
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		uint64_t v;
		memcpy(&v, c + i, 8);
		if (v)
			break;
	}
	for (; i < n; i++)
		if (c[i])
			return i;
	return (size_t)-1;
}

static inline int cmp_ptr(const void *a, const void *b)
{
	uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
	return x < y ? -1 : x > y;
}

/* True if the @n pointers of @v are pairwise distinct (sorts @v). */
static inline int all_distinct(void **v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_ptr);
	for (size_t i = 1; i < n; i++)
		if (v[i] == v[i - 1])
			return 0;
	return 1;
}

/* A small, fast, deterministic generator (splitmix64). */
static inline uint64_t rnd_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* ---- reading what a child process wrote (control and stderr text) ---- */

/* The text after "@key " on its line of @text, copied to @out; 0 if absent. */
static inline int ctl_value(const char *text, const char *key, char *out, size_t cap)
{
	size_t kl = strlen(key);
	for (const char *l = text; *l;) {
		const char *e = strchr(l, '\n');
		size_t len = e ? (size_t)(e - l) : strlen(l);
		if (len >= kl && !strncmp(l, key, kl) && (len == kl || l[kl] == ' ')) {
			size_t vl = len > kl ? len - kl - 1 : 0;
			if (vl >= cap)
				vl = cap - 1;
			memcpy(out, l + kl + (len > kl), vl);
			out[vl] = '\0';
			return 1;
		}
		l += len + (e != NULL);
	}
	return 0;
}

/* Whether a line of @text contains both @a and @b (@b NULL: any line with @a). */
static inline int line_with(const char *text, const char *a, const char *b)
{
	for (const char *l = text; *l;) {
		const char *e = strchr(l, '\n');
		size_t len = e ? (size_t)(e - l) : strlen(l);
		char line[1024];
		size_t n = len < sizeof(line) - 1 ? len : sizeof(line) - 1;
		memcpy(line, l, n);
		line[n] = '\0';
		if (strstr(line, a) && (!b || strstr(line, b)))
			return 1;
		l += len + (e != NULL);
	}
	return 0;
}

#endif /* SM_PTEST_H */
