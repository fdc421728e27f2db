/*
 * signal_stress.c - malloc, calloc, realloc and free from signal handlers that
 * land anywhere, inside the allocator included (docs/signal-safety.md).
 *
 * One scenario ("run"): the main thread and a worker churn the heap (malloc,
 * calloc, realloc and free of 1 B..300 KiB, rarely 40 MiB; every block
 * carries a pattern seeded from its address, checked before every free and
 * realloc; some blocks are handed to the other thread, which frees them;
 * bursts of 32 small blocks; rarely malloc_trim and mallinfo2).  Meanwhile
 * each of the two gets SIGALRM from its own POSIX timer (CLOCK_MONOTONIC,
 * SIGEV_THREAD_ID, every TIMER_US microseconds) and SIGUSR1 from a sender
 * thread (pthread_kill in a loop).  The handler (one for both, SA_RESTART,
 * neither signal masked in the other's handler, so they nest) saves errno,
 * and at the outermost level does two operations on its thread's own table
 * of blocks: allocate a random size (8 B..4 KiB mostly, up to 64 KiB,
 * sometimes ~256 KiB page runs, rarely a 40 MiB huge mapping) with malloc,
 * calloc (checked zero) or aligned_alloc, write a pattern, realloc some,
 * check and free others, and pass blocks to and take blocks from a lock-free
 * pool shared with the other thread's handler and both churn loops (so frees
 * cross threads in both directions).  A nested level (the other signal
 * landing in the handler) allocates, checks and frees one small block.
 * Also: a spawner thread runs short-lived threads, each with its own 20 us
 * timer that keeps firing through the thread's exit (the handler runs in
 * glibc's and slabmalloc's thread teardown), and the main thread forks every
 * 250 ms under the signals (the child checks and frees the main thread's
 * blocks, allocates anew, exits 0).
 *
 * Checked (outcomes only, so that a loaded machine cannot fail it): every
 * pattern; a NULL from a handler comes with errno ENOMEM, and only when the
 * signal landed inside an allocator call or fork() (the thread's busy marker
 * set: otherwise the handler's call takes the normal, waiting path); a
 * successful call leaves errno alone.  The handler's NULL rate is printed,
 * by where the signal landed, as information only: how often a handler
 * finds its size class busy depends on scheduling, so the rate is measured
 * in bench/, not asserted here.  At the end the timers and the sender stop,
 * each thread blocks the signals and checks every block it still holds
 * (churn table, handler table, the hand-over rings and the shared pool) and
 * frees it all; then no huge mapping is left, nothing is
 * left on the deferred list (after malloc_trim at the latest, which drains
 * it; with SLABMALLOC_HELPER_THREAD=0 no helper thread ever ran), and a
 * burst of 12,000 small objects, all live at once, has no pointer twice and
 * every pattern intact (no object was left in two places).
 * A watchdog thread aborts with a message when the main thread, the worker
 * or the spawner makes no progress for 20 s (a deadlock, or a livelock in the
 * handler).  pthread_create is interposed to count helper starts made from
 * inside the handler (printed; helper_thread.c asserts it).
 *
 * Usage:
 *   signal_stress [run [MS [SEED [TIMER_US]]]]  one scenario in this process
 *                                              (defaults 3000 ms, seed 1, 40 us)
 *   signal_stress rounds N MS [TIMER_US]       N scenarios, each in a fresh
 *                                              process (fork + exec of itself,
 *                                              options varied per round, see
 *                                              round_env); every one must exit 0
 * Linked against libslabmalloc.so, or (CONF_PRELOAD) against libc only and run
 * with LD_PRELOAD: then the statistics are read through dlsym.
 * Every failure exits 1 (from the handler: with write(2) and _exit(1)).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ptest.h"
#include "slabmalloc.h" /* struct sm_stats; calls only when linked (below) */

#ifndef sigev_notify_thread_id
#define sigev_notify_thread_id _sigev_un._tid
#endif

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)

/* Blocks above BIG carry their pattern only in their first and last 4 KiB. */
#define BIG (1 * MiB)
#define EDGE (4 * KiB)
#define HUGE_SIZE (40 * MiB)
/* errno before every call whose success must not touch it. */
#define ERRNO_SENTINEL 4321
#define WATCHDOG_S 20
#define FORK_EVERY_NS 250000000ull

/* ------------------------------------------------------------ statistics -- */

#define SLABSTATS_PROG "signal_stress"
#include "slabstats.h"

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void sleep_us(long us)
{
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };
	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* ------------------------------------------- async-signal-safe reporting -- */

struct msg {
	char buf[400];
	size_t n;
};

static void m_str(struct msg *m, const char *s)
{
	while (*s && m->n < sizeof(m->buf) - 1)
		m->buf[m->n++] = *s++;
}

static void m_num(struct msg *m, unsigned long long v, unsigned base)
{
	char t[24];
	int i = 0;
	do {
		t[i++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	if (base == 16)
		m_str(m, "0x");
	while (i && m->n < sizeof(m->buf) - 1)
		m->buf[m->n++] = t[--i];
}

/* Report from any context (a signal handler included) and exit 1. */
static __attribute__((noreturn)) void sig_fail(const char *what, const void *p, size_t size,
					       size_t off, long val)
{
	struct msg m = { .n = 0 };
	m_str(&m, "signal_stress: FAILED: ");
	m_str(&m, what);
	m_str(&m, " (block ");
	m_num(&m, (uintptr_t)p, 16);
	m_str(&m, ", size ");
	m_num(&m, size, 10);
	m_str(&m, ", offset ");
	m_num(&m, off, 10);
	m_str(&m, ", value ");
	if (val < 0) {
		m_str(&m, "-");
		m_num(&m, (unsigned long long)-val, 10);
	} else {
		m_num(&m, (unsigned long long)val, 10);
	}
	m_str(&m, ")\n");
	ssize_t r = write(2, m.buf, m.n);
	(void)r;
	_exit(1);
}

/* --------------------------------------------------------------- patterns -- */
/*
 * The pattern of ptest.h (word k of the seed's stream at offset 8k), written
 * over the whole block up to BIG bytes, over the first and last EDGE bytes of
 * a bigger one.  Blocks in the shared pool keep their size and seed in their
 * first 16 bytes (hdr = 16), the pattern after that.
 */
struct blk {
	void *p;
	size_t size;
	uint64_t seed;
};

/* Offset of the first byte of [off, off+len) of @p that breaks the pattern, or -1. */
static size_t pat_check_range(const void *p, size_t off, size_t len, uint64_t seed)
{
	const unsigned char *c = p;
	size_t end = off + len;
	while (off < end) {
		if (off % 8 == 0 && end - off >= 8) {
			/* whole words: the fast loop */
			uint64_t v;
			__builtin_memcpy(&v, c + off, 8); /* inlined despite -fno-builtin */
			if (v == pat_word(seed, off / 8)) {
				off += 8;
				continue;
			}
		}
		uint64_t w = pat_word(seed, off / 8);
		size_t b = off % 8, n = 8 - b < end - off ? 8 - b : end - off;
		const unsigned char *wb = (const unsigned char *)&w + b;
		for (size_t j = 0; j < n; j++)
			if (c[off + j] != wb[j])
				return off + j;
		off += n;
	}
	return (size_t)-1;
}

static void pat_fill_range(void *p, size_t off, size_t len, uint64_t seed)
{
	unsigned char *c = p;
	size_t end = off + len;
	while (off < end) {
		uint64_t w = pat_word(seed, off / 8);
		if (off % 8 == 0 && end - off >= 8) {
			__builtin_memcpy(c + off, &w, 8);
			off += 8;
			continue;
		}
		size_t b = off % 8, n = 8 - b < end - off ? 8 - b : end - off;
		memcpy(c + off, (const unsigned char *)&w + b, n);
		off += n;
	}
}

/* The patterned spans of a @size-byte block, clipped to [from, limit). */
static unsigned spans(size_t size, size_t from, size_t limit, size_t off[2], size_t len[2])
{
	size_t s[2], e[2];
	unsigned n = 0, k = 0;
	if (size <= BIG) {
		s[0] = 0, e[0] = size, n = 1;
	} else {
		s[0] = 0, e[0] = EDGE, s[1] = size - EDGE, e[1] = size, n = 2;
	}
	for (unsigned i = 0; i < n; i++) {
		size_t a = s[i] > from ? s[i] : from, z = e[i] < limit ? e[i] : limit;
		if (a < z) {
			off[k] = a;
			len[k] = z - a;
			k++;
		}
	}
	return k;
}

static void blk_fill(void *p, size_t size, uint64_t seed, size_t hdr)
{
	size_t off[2], len[2];
	unsigned n = spans(size, hdr, size, off, len);
	for (unsigned i = 0; i < n; i++)
		pat_fill_range(p, off[i], len[i], seed);
}

/* Offset of the first broken byte in the patterned spans of [hdr, limit), or -1. */
static size_t blk_check(const void *p, size_t size, uint64_t seed, size_t hdr, size_t limit)
{
	size_t off[2], len[2];
	unsigned n = spans(size, hdr, limit, off, len);
	for (unsigned i = 0; i < n; i++) {
		size_t o = pat_check_range(p, off[i], len[i], seed);
		if (o != (size_t)-1)
			return o;
	}
	return (size_t)-1;
}

/* Offset of the first non-zero byte in the patterned spans (calloc), or -1. */
static size_t blk_zero(const void *p, size_t size)
{
	size_t off[2], len[2];
	unsigned n = spans(size, 0, size, off, len);
	for (unsigned i = 0; i < n; i++) {
		size_t o = first_nonzero((const unsigned char *)p + off[i], len[i]);
		if (o != (size_t)-1)
			return off[i] + o;
	}
	return (size_t)-1;
}

static uint64_t round_seed;

static uint64_t mkseed(const void *p, uint64_t salt)
{
	return (uint64_t)(uintptr_t)p * 0x9e3779b97f4a7c15ull ^ round_seed << 32 ^ salt;
}

static void blk_verify(const struct blk *b, const char *who)
{
	size_t o = blk_check(b->p, b->size, b->seed, 0, b->size);
	if (o != (size_t)-1)
		sig_fail(who, b->p, b->size, o, -1);
}

/* ----------------------------------------- the pool shared by every party -- */
/*
 * Slots of pointers to blocks with a header ({size, seed} in the first 16
 * bytes); taken and given with one atomic exchange, so the handlers use it.
 */
#define POOL_SLOTS 64
#define POOL_MIN 32
static atomic_uintptr_t pool[POOL_SLOTS];
static atomic_ulong pool_frees;

/* Check a block taken from the pool and free it. */
static void pool_block_free(void *p, const char *who)
{
	uint64_t hdr[2];
	memcpy(hdr, p, 16);
	if (hdr[0] < POOL_MIN || hdr[0] > BIG)
		sig_fail(who, p, (size_t)hdr[0], 0, -2);
	size_t o = blk_check(p, (size_t)hdr[0], hdr[1], 16, (size_t)hdr[0]);
	if (o != (size_t)-1)
		sig_fail(who, p, (size_t)hdr[0], o, -1);
	if (malloc_usable_size(p) < hdr[0])
		sig_fail(who, p, (size_t)hdr[0], 0, (long)malloc_usable_size(p));
	free(p);
	atomic_fetch_add_explicit(&pool_frees, 1, memory_order_relaxed);
}

/* Put @b (checked, size POOL_MIN..BIG) in a pool slot; free what was there. */
static void pool_give(struct blk *b, uint64_t r, const char *who)
{
	uint64_t hdr[2] = { b->size, b->seed };
	memcpy(b->p, hdr, 16);
	uintptr_t old = atomic_exchange(&pool[r % POOL_SLOTS], (uintptr_t)b->p);
	b->p = NULL;
	if (old)
		pool_block_free((void *)old, who);
}

static void pool_take(uint64_t r, const char *who)
{
	uintptr_t old = atomic_exchange(&pool[r % POOL_SLOTS], 0);
	if (old)
		pool_block_free((void *)old, who);
}

/* ------------------------------------------------------------ the handler -- */

#define H_SLOTS 64

static __thread struct blk h_tab[H_SLOTS];
static __thread int h_depth;
static __thread uint64_t h_rs;
static __thread int h_huge_live;
static __thread volatile int t_in_alloc; /* the churn is inside an allocator call */
static __thread volatile int h_in_alloc; /* the handler is */
static __thread volatile int h_exiting;  /* the thread is on its way out: keep off h_tab */
static __thread volatile int t_in_fork;  /* the main thread is inside fork() */

static atomic_ulong h_signals[2], h_nested, h_landed_churn, h_landed_handler;
static atomic_ulong h_attempts, h_nulls, h_frees, h_reallocs, h_huge, h_exit_signals;
/* NULLs by where the signal landed: in fork(), in an allocator call, elsewhere. */
static atomic_ulong h_nulls_fork, h_nulls_in_alloc, h_nulls_exit;

/* 89% 8 B..4 KiB, 10% up to 64 KiB, ~1% 200..300 KiB page runs, 0.1% huge. */
static size_t h_size(uint64_t *rs, int huge_ok)
{
	uint64_t r = rnd_next(rs);
	unsigned k = (unsigned)(r % 1000);
	r >>= 10;
	if (k < 890)
		return 8 + r % (4 * KiB - 7);
	if (k < 989)
		return 4 * KiB + 1 + r % (60 * KiB);
	if (k < 999 || !huge_ok)
		return 200 * KiB + r % (100 * KiB);
	return HUGE_SIZE;
}

static void h_null(void)
{
	if (errno != ENOMEM)
		sig_fail("handler: allocation returned NULL with errno other than ENOMEM", NULL, 0, 0,
			 errno);
	atomic_fetch_add_explicit(&h_nulls, 1, memory_order_relaxed);
	if (t_in_fork)
		atomic_fetch_add_explicit(&h_nulls_fork, 1, memory_order_relaxed);
	else if (h_exiting)
		atomic_fetch_add_explicit(&h_nulls_exit, 1, memory_order_relaxed);
	else if (t_in_alloc || (h_depth > 1 && h_in_alloc))
		atomic_fetch_add_explicit(&h_nulls_in_alloc, 1, memory_order_relaxed);
}

static void h_errno_kept(const void *p, size_t n)
{
	if (errno != ERRNO_SENTINEL)
		sig_fail("handler: a successful call changed errno", p, n, 0, errno);
}

/* One operation on this thread's handler table. */
static void h_op(void)
{
	uint64_t r = rnd_next(&h_rs);
	struct blk *b = &h_tab[r % H_SLOTS];
	r >>= 8;
	unsigned k = (unsigned)(r % 100);
	r >>= 8;
	if (!b->p) {
		if (k < 10) {
			h_in_alloc = 1;
			pool_take(r, "handler: block taken from the pool");
			h_in_alloc = 0;
			return;
		}
		size_t n = h_size(&h_rs, !h_huge_live);
		int zero = k < 22, aligned = k >= 22 && k < 27 && n <= 64 * KiB;
		size_t align = (size_t)16 << (r % 8); /* 16..2048 */
		void *p;
		errno = ERRNO_SENTINEL;
		h_in_alloc = 1;
		if (zero)
			p = calloc(1, n);
		else if (aligned)
			p = aligned_alloc(align, n);
		else
			p = malloc(n);
		h_in_alloc = 0;
		atomic_fetch_add_explicit(&h_attempts, 1, memory_order_relaxed);
		if (!p) {
			h_null();
			return;
		}
		h_errno_kept(p, n);
		if (aligned && ((uintptr_t)p & (align - 1)))
			sig_fail("handler: aligned_alloc returned a misaligned block", p, n, 0, (long)align);
		if (zero) {
			size_t o = blk_zero(p, n);
			if (o != (size_t)-1)
				sig_fail("handler: calloc block not zero", p, n, o, -1);
		}
		if (n == HUGE_SIZE) {
			h_huge_live = 1;
			atomic_fetch_add_explicit(&h_huge, 1, memory_order_relaxed);
		}
		*b = (struct blk){ p, n, mkseed(p, r) };
		blk_fill(p, n, b->seed, 0);
		return;
	}
	blk_verify(b, "handler: pattern broken in a handler block");
	if (k < 25) {
		size_t n = h_size(&h_rs, 0);
		errno = ERRNO_SENTINEL;
		h_in_alloc = 1;
		void *q = realloc(b->p, n);
		h_in_alloc = 0;
		atomic_fetch_add_explicit(&h_attempts, 1, memory_order_relaxed);
		if (!q) {
			h_null();
			blk_verify(b, "handler: block changed by a failed realloc");
			return;
		}
		h_errno_kept(q, n);
		size_t keep = n < b->size ? n : b->size;
		size_t o = blk_check(q, b->size, b->seed, 0, keep);
		if (o != (size_t)-1)
			sig_fail("handler: realloc lost the contents", q, n, o, (long)b->size);
		if (b->size == HUGE_SIZE)
			h_huge_live = 0;
		*b = (struct blk){ q, n, mkseed(q, r) };
		blk_fill(q, n, b->seed, 0);
		atomic_fetch_add_explicit(&h_reallocs, 1, memory_order_relaxed);
		return;
	}
	if (k < 40 && b->size >= POOL_MIN && b->size <= BIG) {
		h_in_alloc = 1;
		pool_give(b, r, "handler: block replaced in the pool");
		h_in_alloc = 0;
		return;
	}
	if (b->size == HUGE_SIZE)
		h_huge_live = 0;
	errno = ERRNO_SENTINEL;
	h_in_alloc = 1;
	free(b->p);
	h_in_alloc = 0;
	h_errno_kept(b->p, b->size);
	b->p = NULL;
	atomic_fetch_add_explicit(&h_frees, 1, memory_order_relaxed);
}

/* The other signal landed in the handler: one small block, checked and freed. */
static void h_nested_op(void)
{
	uint64_t r = rnd_next(&h_rs);
	size_t n = 8 + r % 1024;
	errno = ERRNO_SENTINEL;
	void *p = malloc(n);
	atomic_fetch_add_explicit(&h_attempts, 1, memory_order_relaxed);
	if (!p) {
		h_null();
		return;
	}
	h_errno_kept(p, n);
	uint64_t seed = mkseed(p, r);
	blk_fill(p, n, seed, 0);
	size_t o = blk_check(p, n, seed, 0, n);
	if (o != (size_t)-1)
		sig_fail("nested handler: pattern broken", p, n, o, -1);
	free(p);
	h_errno_kept(p, n);
	atomic_fetch_add_explicit(&h_frees, 1, memory_order_relaxed);
}

static void handler(int sig)
{
	int saved = errno;
	atomic_fetch_add_explicit(&h_signals[sig == SIGUSR1], 1, memory_order_relaxed);
	if (t_in_alloc)
		atomic_fetch_add_explicit(&h_landed_churn, 1, memory_order_relaxed);
	if (h_in_alloc)
		atomic_fetch_add_explicit(&h_landed_handler, 1, memory_order_relaxed);
	if (h_exiting) {
		/* A short-lived thread past its last use of h_tab (thread exit,
		   slabmalloc's key destructor included): allocate and free only. */
		atomic_fetch_add_explicit(&h_exit_signals, 1, memory_order_relaxed);
		h_depth++;
		h_nested_op();
	} else if (++h_depth == 1) {
		h_op();
		h_op();
	} else {
		atomic_fetch_add_explicit(&h_nested, 1, memory_order_relaxed);
		h_nested_op();
	}
	h_depth--;
	errno = saved;
}

static int in_signal_handler(void)
{
	return h_depth != 0;
}

/* Verify and free the handler table of the calling thread (signals blocked). */
static unsigned long h_table_release(void)
{
	unsigned long n = 0;
	for (unsigned i = 0; i < H_SLOTS; i++) {
		struct blk *b = &h_tab[i];
		if (!b->p)
			continue;
		blk_verify(b, "end: pattern broken in a handler block");
		free(b->p);
		b->p = NULL;
		n++;
	}
	h_huge_live = 0;
	return n;
}

/* -------------------------------------------------------------- the churn -- */

#define CH_SLOTS 512
#define RING 256

struct ring {
	pthread_mutex_t lock;
	struct blk b[RING];
	unsigned head, n;
};

/* ring[i]: blocks handed to thread i (0 main, 1 worker) by the other one. */
static struct ring rings[2] = { { .lock = PTHREAD_MUTEX_INITIALIZER },
				{ .lock = PTHREAD_MUTEX_INITIALIZER } };

struct churn {
	int id;
	uint64_t rs;
	int huge_live;
	struct blk tab[CH_SLOTS];
	unsigned long ops, mallocs, callocs, reallocs, frees, handed, taken, trims, infos;
};

static struct churn ch[2];
/* Progress of the main thread, the worker and the spawner (for the watchdog). */
#define NR_BEATS 3
static const char *const beat_name[NR_BEATS] = { "main", "worker", "spawner" };
static atomic_ulong beat[NR_BEATS];
static atomic_int beat_done[NR_BEATS];
static atomic_int stop_churn, stop_sender, stop_spawner;

/* 88% 1..512 B, 10% to 8 KiB, 1.5% to 64 KiB, 0.5% 100..300 KiB, 1 in 50,000 huge. */
static size_t ch_size(struct churn *c)
{
	uint64_t r = rnd_next(&c->rs);
	unsigned k = (unsigned)(r % 100000);
	r >>= 20;
	if (k < 88000)
		return 1 + r % 512;
	if (k < 98000)
		return 513 + r % (8 * KiB - 512);
	if (k < 99500)
		return 8 * KiB + 1 + r % (56 * KiB);
	if (k || c->huge_live)
		return 100 * KiB + r % (200 * KiB);
	return HUGE_SIZE;
}

static void ch_fail(struct churn *c, const char *what, const void *p, size_t n)
{
	fprintf(stderr, "signal_stress: FAILED: %s thread: %s (block %p, size %zu, errno %d)\n",
		c->id ? "worker" : "main", what, p, n, errno);
	exit(1);
}

static void ch_errno_kept(struct churn *c, const char *call, const void *p, size_t n)
{
	if (errno != ERRNO_SENTINEL) {
		fprintf(stderr, "signal_stress: FAILED: %s thread: a successful %s changed errno to %d "
				"(block %p, size %zu)\n", c->id ? "worker" : "main", call, errno, p, n);
		exit(1);
	}
}

static void ch_verify(struct churn *c, const struct blk *b, const char *what)
{
	size_t o = blk_check(b->p, b->size, b->seed, 0, b->size);
	if (o != (size_t)-1) {
		fprintf(stderr, "signal_stress: FAILED: %s thread: %s: block %p, size %zu, seed %llu, "
				"pattern broken at offset %zu\n", c->id ? "worker" : "main", what, b->p,
			b->size, (unsigned long long)b->seed, o);
		exit(1);
	}
	t_in_alloc = 1;
	size_t usable = malloc_usable_size(b->p);
	t_in_alloc = 0;
	if (usable < b->size)
		ch_fail(c, "malloc_usable_size below the size asked", b->p, b->size);
}

static void ch_free(struct churn *c, struct blk *b)
{
	if (b->size == HUGE_SIZE)
		c->huge_live = 0;
	errno = ERRNO_SENTINEL;
	t_in_alloc = 1;
	free(b->p);
	t_in_alloc = 0;
	ch_errno_kept(c, "free", b->p, b->size);
	b->p = NULL;
	c->frees++;
}

/* Free what the other thread handed us (at most @max blocks, 16 at a time). */
static unsigned ch_take(struct churn *c, unsigned max)
{
	struct blk got[16];
	unsigned n = 0;
	struct ring *rg = &rings[c->id];
	pthread_mutex_lock(&rg->lock);
	while (rg->n && n < max && n < 16) {
		got[n++] = rg->b[rg->head];
		rg->head = (rg->head + 1) % RING;
		rg->n--;
	}
	pthread_mutex_unlock(&rg->lock);
	for (unsigned i = 0; i < n; i++) {
		ch_verify(c, &got[i], "pattern broken in a block handed over by the other thread");
		errno = ERRNO_SENTINEL;
		t_in_alloc = 1;
		free(got[i].p);
		t_in_alloc = 0;
		ch_errno_kept(c, "free", got[i].p, got[i].size);
		c->taken++;
	}
	return n;
}

/* Hand @b to the other thread; false if its ring is full. */
static int ch_give(struct churn *c, struct blk *b)
{
	struct ring *rg = &rings[!c->id];
	int ok = 0;
	pthread_mutex_lock(&rg->lock);
	if (rg->n < RING) {
		rg->b[(rg->head + rg->n) % RING] = *b;
		rg->n++;
		ok = 1;
	}
	pthread_mutex_unlock(&rg->lock);
	if (ok) {
		b->p = NULL;
		c->handed++;
	}
	return ok;
}

/*
 * A burst of small allocations freed again at once: little pattern work
 * between allocator calls, so most signals of the burst land inside one, and
 * 32 objects of a class run through the sheaves' slow paths (barn, slab
 * lists) when the sheaves are small.  Each block is stamped at both ends.
 */
static void churn_burst(struct churn *c)
{
	enum { N = 32 };
	void *v[N];
	size_t sz[N];
	uint64_t r = rnd_next(&c->rs);
	size_t base = 16 + r % 1024; /* two 8-byte stamps that do not overlap */
	for (int i = 0; i < N; i++) {
		sz[i] = base + (size_t)i * 8;
		t_in_alloc = 1;
		v[i] = malloc(sz[i]);
		t_in_alloc = 0;
		if (!v[i])
			ch_fail(c, "malloc (burst)", NULL, sz[i]);
		uint64_t st = mkseed(v[i], sz[i]);
		__builtin_memcpy(v[i], &st, 8);
		__builtin_memcpy((char *)v[i] + sz[i] - 8, &st, 8);
	}
	for (int i = 0; i < N; i++) {
		int j = i % 2 ? i : N - i; /* an order unlike the allocation's */
		j %= N;
		uint64_t st = mkseed(v[j], sz[j]), a, z;
		__builtin_memcpy(&a, v[j], 8);
		__builtin_memcpy(&z, (char *)v[j] + sz[j] - 8, 8);
		if (a != st || z != st)
			ch_fail(c, "stamp of a burst block broken", v[j], sz[j]);
		t_in_alloc = 1;
		free(v[j]);
		t_in_alloc = 0;
	}
	c->mallocs += N;
	c->frees += N;
}

static void churn_op(struct churn *c)
{
	uint64_t r = rnd_next(&c->rs);
	struct blk *b = &c->tab[r % CH_SLOTS];
	r >>= 12;
	unsigned k = (unsigned)(r % 100);
	r >>= 8;
	if (k >= 97) {
		if (r % 2000 == 0) {
			/* Rarely: the maintenance calls, which hold locks longer (a
			   purge of everything, statistics over every cache). */
			t_in_alloc = 1;
			if (r % 4000 == 0) {
				malloc_trim(0);
				c->trims++;
			} else {
				struct mallinfo2 mi = mallinfo2();
				if (!mi.arena)
					ch_fail(c, "mallinfo2 reports no arena", NULL, 0);
				c->infos++;
			}
			t_in_alloc = 0;
			return;
		}
		churn_burst(c);
		return;
	}
	if (!b->p) {
		if (k < 4) {
			ch_take(c, 8);
			return;
		}
		if (k < 7) {
			t_in_alloc = 1;
			pool_take(r, c->id ? "worker: block taken from the pool"
					   : "main: block taken from the pool");
			t_in_alloc = 0;
			return;
		}
		size_t n = ch_size(c);
		const char *call = k < 20 ? "calloc" : k < 28 ? "realloc(NULL)" : "malloc";
		errno = ERRNO_SENTINEL;
		t_in_alloc = 1;
		void *p = k < 20 ? calloc(1, n) : k < 28 ? realloc(NULL, n) : malloc(n);
		t_in_alloc = 0;
		if (!p)
			ch_fail(c, call, NULL, n);
		ch_errno_kept(c, call, p, n);
		if (k < 20) {
			size_t o = blk_zero(p, n);
			if (o != (size_t)-1)
				ch_fail(c, "calloc block not zero", p, o);
			c->callocs++;
		} else {
			c->mallocs++;
		}
		if (n == HUGE_SIZE)
			c->huge_live = 1;
		*b = (struct blk){ p, n, mkseed(p, c->ops) };
		blk_fill(p, n, b->seed, 0);
		return;
	}
	ch_verify(c, b, "pattern broken before free/realloc");
	if (k < 25) {
		size_t n = ch_size(c);
		errno = ERRNO_SENTINEL;
		t_in_alloc = 1;
		void *q = realloc(b->p, n);
		t_in_alloc = 0;
		if (!q)
			ch_fail(c, "realloc", b->p, n);
		ch_errno_kept(c, "realloc", q, n);
		size_t keep = n < b->size ? n : b->size;
		size_t o = blk_check(q, b->size, b->seed, 0, keep);
		if (o != (size_t)-1) {
			fprintf(stderr, "signal_stress: FAILED: %s thread: realloc %p (%zu) -> %p (%zu) "
					"lost the contents at offset %zu\n", c->id ? "worker" : "main", b->p,
				b->size, q, n, o);
			exit(1);
		}
		if (b->size == HUGE_SIZE)
			c->huge_live = 0;
		if (n == HUGE_SIZE)
			c->huge_live = 1;
		*b = (struct blk){ q, n, mkseed(q, c->ops) };
		blk_fill(q, n, b->seed, 0);
		c->reallocs++;
		return;
	}
	if (k < 32 && b->size != HUGE_SIZE && ch_give(c, b))
		return;
	if (k < 35 && b->size >= POOL_MIN && b->size <= BIG) {
		t_in_alloc = 1;
		pool_give(b, r, c->id ? "worker: block replaced in the pool"
				      : "main: block replaced in the pool");
		t_in_alloc = 0;
		return;
	}
	ch_free(c, b);
}

static unsigned long ch_release(struct churn *c)
{
	unsigned long n = 0;
	for (unsigned i = 0; i < CH_SLOTS; i++) {
		struct blk *b = &c->tab[i];
		if (!b->p)
			continue;
		ch_verify(c, b, "end: pattern broken in a churn block");
		ch_free(c, b);
		n++;
	}
	return n;
}

static void block_signals(sigset_t *old)
{
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, SIGALRM);
	sigaddset(&s, SIGUSR1);
	CHECK(pthread_sigmask(SIG_BLOCK, &s, old) == 0);
}

static void unblock_signals(void)
{
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, SIGALRM);
	sigaddset(&s, SIGUSR1);
	CHECK(pthread_sigmask(SIG_UNBLOCK, &s, NULL) == 0);
}

/* ---------------------------------------------------------------- threads -- */

static pthread_t main_thread, worker_thread;
static atomic_int worker_tid, worker_ready, worker_may_finish;
static atomic_ulong end_blocks;

static void *worker(void *arg)
{
	(void)arg;
	struct churn *c = &ch[1];
	h_rs = round_seed * 31 + 2;
	atomic_store(&worker_tid, (int)syscall(SYS_gettid));
	unblock_signals();
	atomic_store(&worker_ready, 1);
	while (!atomic_load_explicit(&stop_churn, memory_order_relaxed)) {
		for (int i = 0; i < 64; i++)
			churn_op(c);
		c->ops += 64;
		atomic_store_explicit(&beat[1], c->ops, memory_order_relaxed);
	}
	block_signals(NULL);
	/* Wait until the main thread stopped giving us blocks. */
	while (!atomic_load(&worker_may_finish))
		sleep_us(1000);
	while (ch_take(c, RING))
		;
	unsigned long n = ch_release(c) + h_table_release();
	atomic_fetch_add(&end_blocks, n);
	atomic_store(&beat_done[1], 1);
	return NULL;
}

/* SIGUSR1 to the main thread and the worker, alternately, every ~20 us. */
static atomic_ulong sent;
static void *sender(void *arg)
{
	(void)arg;
	prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
	unsigned long n = 0;
	while (!atomic_load_explicit(&stop_sender, memory_order_relaxed)) {
		pthread_kill(n % 2 ? worker_thread : main_thread, SIGUSR1);
		n++;
		if (n % 4 == 0)
			sleep_us(20);
	}
	atomic_store(&sent, n);
	return NULL;
}

/* No progress of the main thread or the worker for WATCHDOG_S seconds: abort. */
static void *watchdog(void *arg)
{
	(void)arg;
	unsigned long last[NR_BEATS] = { 0 };
	uint64_t since[NR_BEATS];
	for (int i = 0; i < NR_BEATS; i++)
		since[i] = now_ns();
	for (;;) {
		sleep_us(200000);
		uint64_t t = now_ns();
		for (int i = 0; i < NR_BEATS; i++) {
			unsigned long b = atomic_load(&beat[i]);
			if (b != last[i] || atomic_load(&beat_done[i])) {
				last[i] = b;
				since[i] = t;
			} else if (t - since[i] > (uint64_t)WATCHDOG_S * 1000000000u) {
				struct msg m = { .n = 0 };
				m_str(&m, "signal_stress: FAILED: watchdog: the ");
				m_str(&m, beat_name[i]);
				m_str(&m, " thread made no progress for ");
				m_num(&m, WATCHDOG_S, 10);
				m_str(&m, " s (after ");
				m_num(&m, b, 10);
				m_str(&m, " operations): deadlock or livelock in the allocator\n");
				ssize_t r = write(2, m.buf, m.n);
				(void)r;
				abort();
			}
		}
	}
	return NULL;
}

/*
 * Short-lived threads, each with a timer of its own (every 20 us) that keeps
 * firing through its exit: the handler runs inside glibc's thread teardown
 * and slabmalloc's thread-exit destructor (in "exiting" mode it allocates
 * and frees only).  The spawner joins each one, then deletes its timer.
 */
#define SHORT_OPS 300
struct short_arg {
	uint64_t seed;
	timer_t timer;
	atomic_int timer_set;
};
static atomic_ulong short_threads;
static timer_t start_timer(int tid, long us);

static void *short_thread(void *arg)
{
	struct short_arg *a = arg;
	h_rs = a->seed;
	a->timer = start_timer((int)syscall(SYS_gettid), 20);
	atomic_store(&a->timer_set, 1);
	unblock_signals();
	struct blk own[32];
	memset(own, 0, sizeof(own));
	uint64_t rs = a->seed;
	for (unsigned op = 0; op < SHORT_OPS; op++) {
		uint64_t r = rnd_next(&rs);
		struct blk *b = &own[r % 32];
		if (b->p) {
			blk_verify(b, "short-lived thread: pattern broken");
			t_in_alloc = 1;
			free(b->p);
			t_in_alloc = 0;
			b->p = NULL;
			continue;
		}
		size_t n = 1 + (r >> 8) % (r % 7 == 0 ? 64 * KiB : 600);
		errno = ERRNO_SENTINEL;
		t_in_alloc = 1;
		void *p = (r >> 40) % 4 ? malloc(n) : calloc(1, n);
		t_in_alloc = 0;
		if (!p || errno != ERRNO_SENTINEL)
			sig_fail("short-lived thread: malloc failed or changed errno", p, n, 0, errno);
		*b = (struct blk){ p, n, mkseed(p, op) };
		blk_fill(p, n, b->seed, 0);
	}
	h_exiting = 1;
	t_in_alloc = 1; /* from here on the handler may land anywhere in the allocator */
	h_table_release();
	for (unsigned i = 0; i < 32; i++)
		if (own[i].p) {
			blk_verify(&own[i], "short-lived thread: pattern broken at exit");
			free(own[i].p);
		}
	/* Exit with the timer still firing: signals land in the teardown. */
	return NULL;
}

static void *spawner(void *arg)
{
	(void)arg;
	unsigned long n = 0;
	while (!atomic_load_explicit(&stop_spawner, memory_order_relaxed)) {
		struct short_arg a = { .seed = round_seed * 7919 + n };
		atomic_store(&a.timer_set, 0);
		pthread_t t;
		int r = pthread_create(&t, NULL, short_thread, &a);
		if (r) {
			fprintf(stderr, "pthread_create: %s\n", strerror(r));
			exit(1);
		}
		CHECK(pthread_join(t, NULL) == 0);
		CHECK(atomic_load(&a.timer_set));
		CHECK(timer_delete(a.timer) == 0);
		n++;
		atomic_store_explicit(&beat[2], n, memory_order_relaxed);
	}
	atomic_store(&short_threads, n);
	atomic_store(&beat_done[2], 1);
	return NULL;
}

/*
 * A fork from the main thread under the signals (they land in the fork
 * handlers, where the allocator holds every lock).  The child (no timers, no
 * other threads) checks and frees every block the main thread held and the
 * pool's, allocates anew and exits 0.
 */
static atomic_ulong forks;
static void fork_check(void)
{
	fflush(stdout);
	t_in_fork = 1;
	pid_t pid = fork();
	t_in_fork = 0;
	if (pid < 0)
		sig_fail("fork failed", NULL, 0, 0, errno);
	if (pid == 0) {
		signal(SIGALRM, SIG_DFL);
		alarm(20); /* a deadlock in the child becomes SIGALRM */
		block_signals(NULL);
		struct churn *c = &ch[0];
		for (unsigned i = 0; i < CH_SLOTS; i++)
			if (c->tab[i].p) {
				ch_verify(c, &c->tab[i], "fork child: pattern broken in a churn block");
				free(c->tab[i].p);
			}
		h_table_release();
		for (unsigned i = 0; i < POOL_SLOTS; i++) {
			uintptr_t p = atomic_exchange(&pool[i], 0);
			if (p)
				pool_block_free((void *)p, "fork child: pattern broken in a pool block");
		}
		void *v[300];
		for (int i = 0; i < 300; i++) {
			size_t n = (size_t)i * 61 + 1 + (i % 100 == 0 ? 200 * KiB : 0);
			v[i] = malloc(n);
			if (!v[i])
				_exit(3);
			blk_fill(v[i], n, (uint64_t)i, 0);
		}
		for (int i = 0; i < 300; i++) {
			size_t n = (size_t)i * 61 + 1 + (i % 100 == 0 ? 200 * KiB : 0);
			if (blk_check(v[i], n, (uint64_t)i, 0, n) != (size_t)-1)
				_exit(4);
			free(v[i]);
		}
		_exit(0);
	}
	int st;
	while (waitpid(pid, &st, 0) != pid)
		if (errno != EINTR)
			sig_fail("waitpid failed", NULL, 0, 0, errno);
	if (!WIFEXITED(st) || WEXITSTATUS(st)) {
		fprintf(stderr, "signal_stress: FAILED: fork child %s %d\n",
			WIFSIGNALED(st) ? "killed by signal" : "exit status",
			WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
		exit(1);
	}
	atomic_fetch_add(&forks, 1);
}

static pthread_t spawn(void *(*fn)(void *))
{
	pthread_t t;
	int r = pthread_create(&t, NULL, fn, NULL);
	if (r) {
		fprintf(stderr, "pthread_create: %s\n", strerror(r));
		exit(1);
	}
	return t;
}

static timer_t start_timer(int tid, long us)
{
	struct sigevent sev;
	memset(&sev, 0, sizeof(sev));
	sev.sigev_notify = SIGEV_THREAD_ID;
	sev.sigev_signo = SIGALRM;
	sev.sigev_notify_thread_id = tid;
	timer_t t;
	CHECK(timer_create(CLOCK_MONOTONIC, &sev, &t) == 0);
	struct itimerspec its = { { 0, us * 1000 }, { 0, us * 1000 } };
	CHECK(timer_settime(t, 0, &its, NULL) == 0);
	return t;
}

static int helper_disabled(void)
{
	const char *v = getenv("SLABMALLOC_HELPER_THREAD");
	return v && !strcmp(v, "0");
}

static int run(long ms, uint64_t seed, long timer_us)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	round_seed = seed;
	stats_init();
	struct sm_stats st0 = stats();
	main_thread = pthread_self();
	ch[0].id = 0;
	ch[0].rs = seed * 1000003 + 1;
	ch[1].id = 1;
	ch[1].rs = seed * 1000003 + 2;
	h_rs = seed * 31 + 1;

	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = handler;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask); /* each signal may interrupt the other's handler */
	CHECK(sigaction(SIGALRM, &sa, NULL) == 0);
	CHECK(sigaction(SIGUSR1, &sa, NULL) == 0);

	/* The helper threads of the test never take the signals. */
	block_signals(NULL);
	pthread_t wd = spawn(watchdog);
	pthread_detach(wd);
	worker_thread = spawn(worker);
	while (!atomic_load(&worker_ready))
		sleep_us(100);
	pthread_t snd = spawn(sender);
	pthread_t spw = spawn(spawner);
	timer_t tm = start_timer((int)syscall(SYS_gettid), timer_us);
	timer_t tw = start_timer(atomic_load(&worker_tid), timer_us);
	unblock_signals();

	uint64_t start = now_ns(), end = start + (uint64_t)ms * 1000000u, next_fork = start + FORK_EVERY_NS;
	struct churn *c = &ch[0];
	uint64_t t;
	while ((t = now_ns()) < end) {
		for (int i = 0; i < 64; i++)
			churn_op(c);
		c->ops += 64;
		atomic_store_explicit(&beat[0], c->ops, memory_order_relaxed);
		if (t >= next_fork) {
			fork_check();
			next_fork = t + FORK_EVERY_NS;
		}
	}

	/* Stop the signals, then let every thread check and free what it holds. */
	atomic_store(&stop_sender, 1);
	pthread_join(snd, NULL);
	atomic_store(&stop_spawner, 1);
	pthread_join(spw, NULL);
	CHECK(timer_delete(tm) == 0);
	CHECK(timer_delete(tw) == 0);
	block_signals(NULL);
	atomic_store(&stop_churn, 1);
	atomic_store(&worker_may_finish, 1);
	pthread_join(worker_thread, NULL);
	atomic_store(&beat_done[1], 1);
	unsigned long n = 0;
	while (ch_take(c, RING))
		;
	n += ch_release(c) + h_table_release();
	for (unsigned i = 0; i < POOL_SLOTS; i++) {
		uintptr_t p = atomic_exchange(&pool[i], 0);
		if (p) {
			pool_block_free((void *)p, "end: pattern broken in a pool block");
			n++;
		}
	}
	n += atomic_load(&end_blocks);
	atomic_store(&beat_done[0], 1);

	/*
	 * Nothing left behind: deferred frees finished, no huge mapping alive.
	 * What the main thread's and the worker's handlers deferred is finished
	 * by their next call (or the helper).  A short-lived thread's handler
	 * that deferred a free after the thread's exit-time drain left no
	 * thread to finish it: nothing does until some thread takes a slow path
	 * (a gap in the bound, not in safety).  malloc_trim (which drains) then
	 * finishes it, and it is reported, not failed; a free still pending
	 * after that was lost.
	 */
	free(malloc(16));
	struct sm_stats st = stats();
	if (!helper_disabled()) {
		for (int i = 0; i < 200 && st.deferred_pending; i++) {
			sleep_us(10000);
			st = stats();
		}
	}
	unsigned long long left_after_exit = 0;
	if (st.deferred_pending) {
		left_after_exit = st.deferred_pending;
		malloc_trim(0);
		st = stats();
		printf("signal_stress: NOTE: %llu deferred frees were still pending after the last call%s; "
		       "malloc_trim finished them (pending now %llu)\n", left_after_exit,
		       helper_disabled() ? "" : " and 2 s of helper", (unsigned long long)st.deferred_pending);
	}
	/*
	 * No object is left in two places: a burst of small objects of the
	 * sizes the handlers used, all live at once, never share a pointer and
	 * keep their patterns.
	 */
	int dup_bad = 0;
	{
		enum { NB = 12000 };
		static void *bv[NB], *bw[NB];
		for (unsigned i = 0; i < NB; i++) {
			size_t sz = 8 + (i * 37u) % 4089;
			bv[i] = bw[i] = malloc(sz);
			CHECK(bv[i]);
			blk_fill(bv[i], sz, i, 0);
		}
		if (!all_distinct(bw, NB)) {
			fprintf(stderr, "signal_stress: FAILED: malloc handed out one pointer twice after "
					"the run (an object freed twice or left in two places)\n");
			dup_bad = 1;
		}
		for (unsigned i = 0; i < NB; i++) {
			size_t sz = 8 + (i * 37u) % 4089;
			if (blk_check(bv[i], sz, i, 0, sz) != (size_t)-1) {
				fprintf(stderr, "signal_stress: FAILED: blocks of the final burst overlap\n");
				dup_bad = 1;
				break;
			}
		}
		for (unsigned i = 0; i < NB; i++)
			free(bv[i]);
	}
	int helpers = helper_threads();
	unsigned long att = atomic_load(&h_attempts), nul = atomic_load(&h_nulls);
	double rate = att ? (double)nul / (double)att : 0.0;
	unsigned long sig0 = atomic_load(&h_signals[0]), sig1 = atomic_load(&h_signals[1]);
	printf("signal_stress: seed %llu, %ld ms, timer every %ld us, helper %s: main %lu ops, worker "
	       "%lu ops; %lu blocks checked and freed at the end\n",
	       (unsigned long long)seed, ms, timer_us, helper_disabled() ? "off" : "on", ch[0].ops,
	       ch[1].ops, n);
	printf("signal_stress: handler ran %lu times (SIGALRM %lu, SIGUSR1 %lu of %lu sent, nested %lu); "
	       "landed inside an allocator call: %lu in the churn, %lu in the handler\n",
	       sig0 + sig1, sig0, sig1, atomic_load(&sent), atomic_load(&h_nested),
	       atomic_load(&h_landed_churn), atomic_load(&h_landed_handler));
	printf("signal_stress: handler allocations %lu, NULL %lu (rate %.4f%%, information only; the signal landed in fork() "
	       "%lu, in thread exit %lu, in an allocator call %lu, elsewhere %lu), frees %lu, reallocs %lu, "
	       "huge %lu; pool frees %lu\n",
	       att, nul, 100.0 * rate, atomic_load(&h_nulls_fork), atomic_load(&h_nulls_exit),
	       atomic_load(&h_nulls_in_alloc),
	       nul - atomic_load(&h_nulls_fork) - atomic_load(&h_nulls_in_alloc) - atomic_load(&h_nulls_exit),
	       atomic_load(&h_frees), atomic_load(&h_reallocs), atomic_load(&h_huge),
	       atomic_load(&pool_frees));
	printf("signal_stress: %lu short-lived threads (%lu signals handled on their way out), "
	       "%lu forks under the signals (every child exited 0), %lu malloc_trim and %lu mallinfo2 "
	       "calls\n", atomic_load(&short_threads), atomic_load(&h_exit_signals), atomic_load(&forks),
	       ch[0].trims + ch[1].trims, ch[0].infos + ch[1].infos);
	printf("signal_stress: deferred frees %llu (pending %llu), helper started %llu times (%lu of them "
	       "from inside the handler), woken %llu times, running %d, slabmalloc-bg threads now %d; huge "
	       "mappings %zu (at start %zu)\n",
	       (unsigned long long)(st.deferred_frees - st0.deferred_frees),
	       (unsigned long long)st.deferred_pending, (unsigned long long)st.helper_starts,
	       atomic_load(&thread_creates_in_handler),
	       (unsigned long long)st.helper_wakeups, (int)st.helper_running, helpers,
	       st.huge_allocations, st0.huge_allocations);

	int bad = dup_bad;
	if (atomic_load(&short_threads) == 0 || atomic_load(&forks) == 0) {
		fprintf(stderr, "signal_stress: FAILED: no short-lived thread or no fork ran\n");
		bad = 1;
	}
	if (sig0 == 0 || sig1 == 0 || att == 0) {
		fprintf(stderr, "signal_stress: FAILED: the handler did not run for both signals\n");
		bad = 1;
	}
	unsigned long elsewhere = nul - atomic_load(&h_nulls_fork) - atomic_load(&h_nulls_in_alloc) -
				  atomic_load(&h_nulls_exit);
	if (elsewhere) {
		/* The thread was not inside the allocator: its busy marker was clear,
		   the handler's call took the normal (waiting) path, which fails only
		   when out of memory. */
		fprintf(stderr, "signal_stress: FAILED: %lu handler allocations returned NULL although the "
				"signal did not land inside an allocator call or fork()\n", elsewhere);
		bad = 1;
	}
	if (st.deferred_pending) {
		fprintf(stderr, "signal_stress: FAILED: %llu deferred frees still pending at the end, even "
				"after malloc_trim (which drains the list): lost from the deferred list?\n",
			(unsigned long long)st.deferred_pending);
		bad = 1;
	}
	if (st.huge_allocations != st0.huge_allocations) {
		fprintf(stderr, "signal_stress: FAILED: %zu huge mappings alive after everything was "
				"freed (%zu at start)\n", st.huge_allocations, st0.huge_allocations);
		bad = 1;
	}
	if (helper_disabled() && (st.helper_starts || helpers)) {
		fprintf(stderr, "signal_stress: FAILED: SLABMALLOC_HELPER_THREAD=0 but the helper was "
				"started %llu times (%d running)\n", (unsigned long long)st.helper_starts,
			helpers);
		bad = 1;
	}
	if (!helper_disabled() && st.deferred_frees > st0.deferred_frees && !st.helper_starts) {
		fprintf(stderr, "signal_stress: FAILED: frees were deferred but the helper never started\n");
		bad = 1;
	}
	return bad;
}

/*
 * Options of each round (cycled), set in the child unless the environment
 * already has them: the defaults; tiny sheaves and barns (a slow path, with
 * its barn and list locks, at almost every call); purge at every slow path
 * and no empty slab kept (node locks, purges); small nodes (node growth
 * under the instance lock); tiny sheaves with page runs above 256 KiB
 * turned into huge mappings (their free needs the instance lock).
 */
static const char *const round_env[][4] = {
	{ NULL },
	{ "SLABMALLOC_SHEAF_CAPACITY=2", "SLABMALLOC_BARN_MAX_FULL=1", "SLABMALLOC_BARN_MAX_EMPTY=1", NULL },
	{ "SLABMALLOC_PURGE_DELAY_MS=0", "SLABMALLOC_SLAB_MAX_EMPTY=0", NULL },
	{ "SLABMALLOC_NODE_SIZE=4m", "SLABMALLOC_PURGE_DELAY_MS=1", NULL },
	{ "SLABMALLOC_SHEAF_CAPACITY=1", "SLABMALLOC_HUGE_THRESHOLD=256k", "SLABMALLOC_PURGE_DELAY_MS=0",
	  NULL },
};
#define NR_ROUND_ENV (sizeof(round_env) / sizeof(round_env[0]))

static void set_round_env(int r, char *desc, size_t len)
{
	desc[0] = 0;
	for (const char *const *e = round_env[(unsigned)(r - 1) % NR_ROUND_ENV]; *e; e++) {
		char name[64];
		const char *eq = strchr(*e, '=');
		snprintf(name, sizeof(name), "%.*s", (int)(eq - *e), *e);
		if (getenv(name))
			continue; /* the caller's choice wins */
		setenv(name, eq + 1, 1);
		snprintf(desc + strlen(desc), len - strlen(desc), " %s", *e);
	}
	if (!desc[0])
		snprintf(desc, len, " (default options)");
}

/* Run @rounds scenarios, each in a fresh process: fork, exec ourselves. */
static int rounds(int nr, const char *ms, const char *timer_us)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	int failed = 0;
	for (int r = 1; r <= nr; r++) {
		char seed[24];
		snprintf(seed, sizeof(seed), "%d", r);
		char desc[300];
		pid_t pid = fork();
		CHECK(pid >= 0);
		if (pid == 0) {
			set_round_env(r, desc, sizeof(desc));
			printf("signal_stress: round %d of %d:%s\n", r, nr, desc);
			fflush(stdout);
			char *args[] = { (char *)"signal_stress", (char *)"run", (char *)ms, seed,
					 (char *)timer_us, NULL };
			execv("/proc/self/exe", args);
			perror("execv /proc/self/exe");
			_exit(127);
		}
		int st;
		CHECK(waitpid(pid, &st, 0) == pid);
		if (WIFSIGNALED(st)) {
			fprintf(stderr, "signal_stress: round %d (seed %s) killed by signal %d (%s)\n", r,
				seed, WTERMSIG(st), strsignal(WTERMSIG(st)));
			failed++;
		} else if (WEXITSTATUS(st)) {
			fprintf(stderr, "signal_stress: round %d (seed %s) exit status %d\n", r, seed,
				WEXITSTATUS(st));
			failed++;
		}
	}
	if (failed) {
		fprintf(stderr, "signal_stress: FAILED: %d of %d rounds\n", failed, nr);
		return 1;
	}
	printf("signal_stress: %d rounds passed\n", nr);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "rounds") && argc >= 4)
		return rounds(atoi(argv[2]), argv[3], argc > 4 ? argv[4] : "40");
	if (argc == 1 || !strcmp(argv[1], "run")) {
		long ms = argc > 2 ? atol(argv[2]) : 3000;
		uint64_t seed = argc > 3 ? strtoull(argv[3], NULL, 0) : 1;
		long us = argc > 4 ? atol(argv[4]) : 40;
		if (ms > 0 && us > 0 && us < 1000000)
			return run(ms, seed, us);
	}
	fprintf(stderr, "usage: %s [run [MS [SEED [TIMER_US]]]] | rounds N MS [TIMER_US]\n", argv[0]);
	return 2;
}
