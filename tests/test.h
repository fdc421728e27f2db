/*
 * test.h - the unit tests' assertions and helpers.  Every CHECK names the
 * expression, the values and the line, then exits non-zero: a test fails
 * loudly on the first wrong value.
 */
#ifndef SM_TEST_H
#define SM_TEST_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include "slabmalloc.h"

#define CHECK(c) do { if (!(c)) { \
	fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #c); exit(1); } } while (0)
#define CHECK_EQ(a, b) do { unsigned long long _a = (unsigned long long)(a), _b = (unsigned long long)(b); \
	if (_a != _b) { fprintf(stderr, "%s:%d: CHECK_EQ failed: %s == %llu, %s == %llu\n", \
		__FILE__, __LINE__, #a, _a, #b, _b); exit(1); } } while (0)
#define CHECK_LE(a, b) do { unsigned long long _a = (unsigned long long)(a), _b = (unsigned long long)(b); \
	if (_a > _b) { fprintf(stderr, "%s:%d: CHECK_LE failed: %s == %llu > %s == %llu\n", \
		__FILE__, __LINE__, #a, _a, #b, _b); exit(1); } } while (0)

/* Messages reported through an instance's error handler (instead of abort). */
struct test_errors {
	int count;
	char last[512];
};

static inline void test_error_handler(const char *msg, void *arg)
{
	struct test_errors *e = arg;
	e->count++;
	snprintf(e->last, sizeof(e->last), "%s", msg);
}

/* Options for an isolated test instance: small node, errors captured in @e. */
static inline struct sm_options test_options(struct test_errors *e)
{
	struct sm_options o;
	sm_options_init(&o);
	o.node_size = (size_t)64 << 20;
	o.barn_bytes = 0;       /* barn sizes exactly as the tests set them */
	o.barn_grow_bytes = 0;
	if (e) {
		o.error_handler = test_error_handler;
		o.error_arg = e;
	}
	return o;
}

/* True when the test runs under valgrind (ctest's memcheck label): scale work down. */
static inline int under_valgrind(void)
{
	return getenv("SM_TEST_UNDER_VALGRIND") != NULL;
}

/* clang's __has_feature, 0 where the compiler has none (gcc before 14). */
#if defined(__has_feature)
#define SM_TEST_HAS_FEATURE(x) __has_feature(x)
#else
#define SM_TEST_HAS_FEATURE(x) 0
#endif

/*
 * True when the test is built with ThreadSanitizer (the tsan preset).  Like
 * valgrind, TSan maps memory of its own into the process (shadow memory, its
 * allocator's regions), so /proc/self/maps and the resident set are no longer
 * the allocator's alone: tests that measure them skip those checks under it.
 */
static inline int under_tsan(void)
{
#if defined(__SANITIZE_THREAD__) || SM_TEST_HAS_FEATURE(thread_sanitizer)
	return 1;
#else
	return 0;
#endif
}

/*
 * True when the test is built with AddressSanitizer (the asan preset).  Its
 * runtime intercepts mlock() and does nothing (ASan keeps no locked memory),
 * so tests that read a mapping's "lo" flag skip that check under it.
 */
static inline int under_asan(void)
{
#if defined(__SANITIZE_ADDRESS__) || SM_TEST_HAS_FEATURE(address_sanitizer)
	return 1;
#else
	return 0;
#endif
}

/* Resident set of this process in bytes, from /proc/self/statm. */
static inline size_t rss_bytes(void)
{
	char buf[256];
	int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
	CHECK(fd >= 0);
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	CHECK(n > 0);
	buf[n] = 0;
	unsigned long size, resident;
	CHECK_EQ(sscanf(buf, "%lu %lu", &size, &resident), 2);
	return (size_t)resident * (size_t)sysconf(_SC_PAGESIZE);
}

/* ---- patterns and pseudo-random numbers for contents checks ---- */

static inline uint64_t mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static inline uint64_t rnd_next(uint64_t *s)
{
	*s += 0x9e3779b97f4a7c15ull;
	return mix64(*s);
}

/* Fill [p, p+size) with the pattern of (p, seq). */
static inline void pat_fill(void *p, size_t size, uint64_t seq)
{
	uint64_t h = mix64((uintptr_t)p ^ (seq * 0x100000001b3ull));
	uint64_t *w = p;
	size_t n = size / 8;
	for (size_t i = 0; i < n; i++)
		w[i] = h + i;
	unsigned char *b = (unsigned char *)p + n * 8;
	for (size_t j = 0; j < size % 8; j++)
		b[j] = (unsigned char)(h >> (8 * j));
}

/* True if [p, p+size) still holds the pattern of (p, seq). */
static inline bool pat_ok(const void *p, size_t size, uint64_t seq)
{
	uint64_t h = mix64((uintptr_t)p ^ (seq * 0x100000001b3ull));
	const uint64_t *w = p;
	size_t n = size / 8;
	for (size_t i = 0; i < n; i++)
		if (w[i] != h + i)
			return false;
	const unsigned char *b = (const unsigned char *)p + n * 8;
	for (size_t j = 0; j < size % 8; j++)
		if (b[j] != (unsigned char)(h >> (8 * j)))
			return false;
	return true;
}

#endif /* SM_TEST_H */
