/*
 * bad_input.c - misuse of the drop-in: each bad free/realloc/usable-size
 * call must produce its exact message, naming the exact address, and then
 * abort (the default) or, with SLABMALLOC_ON_ERROR=report, carry on with
 * the heap intact.
 *
 * One program, two roles.  Without arguments it is the driver: for every case
 * and both modes it runs itself again (fork + exec, so every case starts from
 * a fresh allocator with the mode read from the environment) as
 *     bad_input case <name>
 * with stderr and fd 3 connected to pipes.  The case writes to fd 3, before
 * the bad call, the message that call must print ("EXPECT <msg>"), computed
 * from the addresses it is about to use, and "AFTER" once the call returned.
 * The driver then checks:
 *   abort mode:  killed by SIGABRT, stderr holds "<msg>\n", no "AFTER";
 *   report mode: exit status 0, stderr holds
 *                "<msg> (ignored: SLABMALLOC_ON_ERROR=report)\n" and no other
 *                slabmalloc line, "AFTER" and "HEAPOK" were written: after the
 *                call the case allocates and checks thousands of objects of
 *                all sizes (all distinct, patterns intact), and in report mode
 *                it also checks the call's return value (realloc: NULL with
 *                EINVAL; malloc_usable_size: 0).
 *
 * What is caught when (src/fastpath.h, src/free.c, src/slab.c slab_push):
 *   - foreign pointers (stack, global, mmap), interior pointers of small
 *     objects, page runs and huge blocks, a second free of a page run or of a
 *     huge block: always, at the call (the node map and page descriptors
 *     say what the pointer is without touching it);
 *   - a second free of a small object, wherever the first put it (the top
 *     of a sheaf, deep in a sheaf after other frees (double_free_late), a
 *     barn, its slab's freelist): always, at the call (its free word carries
 *     the free tag, and the free path confirms where it is: kmem_cache.h);
 *   - issue 13: free_sized/free_aligned_sized with a size or alignment the
 *     object does not have (src/sized.c), a second or interior free of a
 *     malloc(0) pointer (src/zero.c), malloc_usable_size of a freed or
 *     interior pointer: always, at the call.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ptest.h"

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)
#define CTL_FD 3
#define REPORT_SUFFIX " (ignored: SLABMALLOC_ON_ERROR=report)"

/* ---------------------------------------------------------------- child -- */

static int report_mode;

static void ctl(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
	va_end(ap);
	buf[n++] = '\n';
	CHECK(write(CTL_FD, buf, (size_t)n) == n);
}

/* The case dies here in abort mode; in report mode it checks the heap. */
static void heap_check(size_t same_size)
{
	enum { N = 6000 };
	static void *v[N], *w[N];
	static size_t sz[N];
	uint64_t seed = 42;
	for (int i = 0; i < N; i++) {
		if (i < 2000)
			sz[i] = same_size; /* the size of the misused block, if small */
		else if (i % 100 == 0)
			sz[i] = 33 * KiB + rnd_next(&seed) % (200 * KiB);
		else
			sz[i] = rnd_next(&seed) % 3000;
		v[i] = w[i] = malloc(sz[i]);
		CHECK(v[i]);
		fill(v[i], sz[i], (uint64_t)i);
	}
	CHECK(all_distinct(w, N));
	for (int i = 0; i < N; i++) {
		CHECK_FILL(v[i], sz[i], (uint64_t)i);
		free(v[i]);
	}
	ctl("HEAPOK");
}

static char global_buf[256];

static int case_free_stack(void)
{
	char buf[128];
	char *p = launder(buf + 16);
	ctl("EXPECT slabmalloc: free of %p: not allocated by slabmalloc (foreign pointer)", p);
	free(p);
	ctl("AFTER");
	heap_check(64);
	return 0;
}

static int case_free_global(void)
{
	char *p = launder(global_buf + 32);
	ctl("EXPECT slabmalloc: free of %p: not allocated by slabmalloc (foreign pointer)", p);
	free(p);
	ctl("AFTER");
	heap_check(64);
	return 0;
}

static int case_free_mmap(void)
{
	char *m = mmap(NULL, 4 * KiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(m != MAP_FAILED);
	ctl("EXPECT slabmalloc: free of %p: not allocated by slabmalloc (foreign pointer)", m);
	free(m);
	ctl("AFTER");
	m[0] = 1; /* still ours */
	heap_check(64);
	return 0;
}

static int case_interior_small(void)
{
	char *p = malloc(64);
	CHECK(p);
	fill(p, 64, 5);
	ctl("EXPECT slabmalloc: free of %p: interior pointer into cache kmalloc-64 "
	    "(offset 8 into a 64-byte object)", p + 8);
	free(p + 8);
	ctl("AFTER");
	CHECK_FILL(p, 64, 5);
	heap_check(64);
	CHECK_FILL(p, 64, 5); /* never handed out meanwhile */
	free(p);
	return 0;
}

static int case_interior_small_odd(void)
{
	char *p = malloc(100); /* kmalloc-112 */
	CHECK(p);
	ctl("EXPECT slabmalloc: free of %p: interior pointer into cache kmalloc-112 "
	    "(offset 37 into a 112-byte object)", p + 37);
	free(p + 37);
	ctl("AFTER");
	heap_check(100);
	free(p);
	return 0;
}

/* A pointer into a 64 KiB page run, @off bytes in. */
static int interior_run(size_t off)
{
	char *p = malloc(64 * KiB);
	CHECK(p);
	fill(p, 64 * KiB, 6);
	ctl("EXPECT slabmalloc: free of %p: not a live slab object (page-run page)", p + off);
	free(p + off);
	ctl("AFTER");
	CHECK_FILL(p, 64 * KiB, 6);
	CHECK_EQ(malloc_usable_size(p), 64 * KiB);
	heap_check(64);
	CHECK_FILL(p, 64 * KiB, 6);
	free(p);
	return 0;
}

static int case_interior_run(void) { return interior_run(4096); }       /* second page */
static int case_interior_run_mid(void) { return interior_run(8 * 4096); } /* a middle page */
static int case_interior_run_last(void) { return interior_run(15 * 4096 + 8); } /* last page */
static int case_interior_run_first(void) { return interior_run(16); }     /* first page */

static int case_interior_huge(void)
{
	char *p = malloc(40 * MiB);
	CHECK(p);
	size_t u = malloc_usable_size(p);
	CHECK_EQ(u, 40 * MiB);
	ctl("EXPECT slabmalloc: free of %p: interior pointer into a %zu-byte huge allocation at %p",
	    p + 4096, u, p);
	free(p + 4096);
	ctl("AFTER");
	p[40 * MiB - 1] = 1; /* still mapped */
	heap_check(64);
	free(p);
	return 0;
}

static int case_double_free(void)
{
	char *p = malloc(32);
	CHECK(p);
	free(p);
	ctl("EXPECT slabmalloc: double free of %p in cache kmalloc-32", p);
	free(p);
	ctl("AFTER");
	heap_check(32); /* p is handed out at most once (all_distinct) */
	return 0;
}

/* The object freed last into a sheaf that it filled: the next free takes the slow path. */
static int case_double_free_full_sheaf(void)
{
	enum { N = 64 };
	void *v[N];
	/* Take whole sheaves' worth, then free until the sheaf is full. */
	for (int i = 0; i < N; i++)
		CHECK((v[i] = malloc(48)));
	for (int i = 0; i < N - 1; i++)
		free(v[i]);
	char *p = v[N - 1];
	free(p);
	ctl("EXPECT slabmalloc: double free of %p in cache kmalloc-48", p);
	free(p);
	ctl("AFTER");
	heap_check(48);
	return 0;
}

static int case_double_free_run(void)
{
	char *p = malloc(64 * KiB);
	CHECK(p);
	free(p);
	ctl("EXPECT slabmalloc: double free of %p (free page: a page run freed already)", p);
	free(p);
	ctl("AFTER");
	heap_check(64);
	return 0;
}

static int case_double_free_huge(void)
{
	char *p = malloc(40 * MiB);
	CHECK(p);
	free(p);
	/* The mapping is gone, but the address is remembered among the last
	   64 unmapped (src/large.c): reported as the double free it is. */
	ctl("EXPECT slabmalloc: double free of %p (a huge mapping freed already)", p);
	free(p);
	ctl("AFTER");
	heap_check(64);
	return 0;
}

static int case_double_free_late(void)
{
	enum { N = 200 };
	void *v[N];
	char *p = malloc(32);
	CHECK(p);
	for (int i = 0; i < N; i++)
		CHECK((v[i] = malloc(32)));
	free(p);
	for (int i = 0; i < N; i++)
		free(v[i]);
	ctl("EXPECT slabmalloc: double free of %p in cache kmalloc-32", p);
	free(p); /* p is deep in this thread's sheaf */
	ctl("AFTER");
	malloc_trim(0); /* every sheaf goes back to the slabs */
	ctl("TRIMMED");
	heap_check(32); /* p is handed out at most once (all_distinct) */
	return 0;
}

static int case_realloc_foreign(void)
{
	char buf[64];
	char *p = launder(buf);
	ctl("EXPECT slabmalloc: free of %p: not allocated by slabmalloc (foreign pointer)", p);
	errno = 0;
	void *q = realloc(p, 100);
	int e = errno;
	ctl("AFTER");
	CHECK(q == NULL);
	CHECK_EQ(e, EINVAL);
	heap_check(100);
	return 0;
}

static int case_realloc_interior(void)
{
	char *p = malloc(64);
	CHECK(p);
	fill(p, 64, 8);
	ctl("EXPECT slabmalloc: free of %p: interior pointer into cache kmalloc-64 "
	    "(offset 8 into a 64-byte object)", p + 8);
	errno = 0;
	void *q = realloc(p + 8, 1000);
	int e = errno;
	ctl("AFTER");
	CHECK(q == NULL);
	CHECK_EQ(e, EINVAL);
	CHECK_FILL(p, 64, 8);
	heap_check(64);
	free(p);
	return 0;
}

static int case_realloc_freed_run(void)
{
	char *p = malloc(100 * KiB);
	CHECK(p);
	free(p);
	ctl("EXPECT slabmalloc: double free of %p (free page: a page run freed already)", p);
	errno = 0;
	void *q = realloc(p, 200 * KiB);
	int e = errno;
	ctl("AFTER");
	CHECK(q == NULL);
	CHECK_EQ(e, EINVAL);
	heap_check(64);
	return 0;
}

static int case_usable_foreign(void)
{
	char buf[64];
	char *p = launder(buf + 8);
	ctl("EXPECT slabmalloc: ksize of %p: not a live object", p);
	size_t u = malloc_usable_size(p);
	ctl("AFTER");
	CHECK_EQ(u, 0);
	heap_check(64);
	return 0;
}

/* ---- issue 13, default mode: sized frees, malloc(0), usable size ---- */

/* C23 names Debian 12's headers and libc do not have: the library defines
   them (weak, so that the LD_PRELOAD build links against libc alone). */
void free_sized(void *p, size_t size) __attribute__((weak));
void free_aligned_sized(void *p, size_t align, size_t size) __attribute__((weak));

static int case_free_sized_larger(void)
{
	char *p = malloc(100); /* kmalloc-112 */
	CHECK(p);
	fill(p, 100, 9);
	ctl("EXPECT slabmalloc: free_sized of %p: size 200 given, but it is a 112-byte object "
	    "of cache kmalloc-112", p);
	free_sized(p, 200);
	ctl("AFTER");
	heap_check(100);
	CHECK_FILL(p, 100, 9); /* left alone: never handed out meanwhile */
	free_sized(p, 100);
	return 0;
}

static int case_free_sized_smaller(void)
{
	char *p = malloc(1000); /* kmalloc-1024: sizes 513..1024 are its own */
	CHECK(p);
	ctl("EXPECT slabmalloc: free_sized of %p: size 500 given, but it is a 1024-byte object "
	    "of cache kmalloc-1024", p);
	free_sized(p, 500);
	ctl("AFTER");
	heap_check(1000);
	free_sized(p, 1000);
	return 0;
}

static int case_free_sized_run(void)
{
	char *p = malloc(100 * KiB); /* a page run of 25 pages */
	CHECK(p);
	ctl("EXPECT slabmalloc: free_sized of %p: size 50000 given, but it is a page run of "
	    "102400 bytes", p);
	free_sized(p, 50000);
	ctl("AFTER");
	heap_check(64);
	free_sized(p, 100 * KiB - 5);
	return 0;
}

static int case_free_sized_huge(void)
{
	char *p = malloc(40 * MiB);
	CHECK(p);
	ctl("EXPECT slabmalloc: free_sized of %p: size 41943041 given, but it is a 41943040-byte "
	    "huge allocation", p);
	free_sized(p, 40 * MiB + 1);
	ctl("AFTER");
	heap_check(64);
	free_sized(p, 40 * MiB);
	return 0;
}

static int case_free_sized_zero(void)
{
	char *p = malloc(0);
	CHECK(p);
	ctl("EXPECT slabmalloc: free_sized of %p: size 8 given, but it is a malloc(0) pointer", p);
	free_sized(p, 8);
	ctl("AFTER");
	heap_check(64);
	free_sized(p, 0);
	return 0;
}

static int case_free_aligned_sized(void)
{
	char *p;
	do /* an object of kmalloc-48 that is not 64-aligned */
		CHECK((p = malloc(48)));
	while ((uintptr_t)p % 64 == 0);
	ctl("EXPECT slabmalloc: free_aligned_sized of %p: alignment 64 given, but it is a 48-byte "
	    "object of cache kmalloc-48, not so aligned", p);
	free_aligned_sized(p, 64, 48);
	ctl("AFTER");
	heap_check(48);
	free_aligned_sized(p, 16, 48);
	return 0;
}

static int case_double_free_zero(void)
{
	char *p = malloc(0);
	CHECK(p);
	free(p);
	ctl("EXPECT slabmalloc: double free of %p (a malloc(0) pointer freed already)", p);
	free(p);
	ctl("AFTER");
	heap_check(64);
	return 0;
}

static int case_interior_zero(void)
{
	char *p = malloc(0);
	CHECK(p);
	ctl("EXPECT slabmalloc: free of %p: interior pointer into the malloc(0) area", p + 4);
	free(p + 4);
	ctl("AFTER");
	heap_check(64);
	free(p);
	return 0;
}

static int case_usable_freed_small(void)
{
	char *p = malloc(48);
	CHECK(p);
	free(p);
	ctl("EXPECT slabmalloc: ksize of %p: a free object of cache kmalloc-48", p);
	size_t u = malloc_usable_size(p);
	ctl("AFTER");
	CHECK_EQ(u, 0);
	heap_check(48);
	return 0;
}

static int case_usable_freed_run(void)
{
	char *p = malloc(100 * KiB);
	CHECK(p);
	free(p);
	ctl("EXPECT slabmalloc: ksize of %p: not a live object", p);
	size_t u = malloc_usable_size(p);
	ctl("AFTER");
	CHECK_EQ(u, 0);
	heap_check(64);
	return 0;
}

static int case_usable_interior(void)
{
	char *p = malloc(64);
	CHECK(p);
	ctl("EXPECT slabmalloc: ksize of %p: not a live object", p + 8);
	size_t u = malloc_usable_size(p + 8);
	ctl("AFTER");
	CHECK_EQ(u, 0);
	heap_check(64);
	free(p);
	return 0;
}

static int case_usable_freed_zero(void)
{
	char *p = malloc(0);
	CHECK(p);
	CHECK_EQ(malloc_usable_size(p), 0); /* live: 0, and no report */
	free(p);
	ctl("EXPECT slabmalloc: ksize of %p: not a live object", p);
	size_t u = malloc_usable_size(p);
	ctl("AFTER");
	CHECK_EQ(u, 0);
	heap_check(64);
	return 0;
}

/* ---- issue 13, hardened mode (cases named harden_*: SLABMALLOC_HARDEN=1) ---- */

/* A page run of @size bytes overflowed by a write @past bytes past its end. */
static int run_overflow(size_t size, size_t past)
{
	char *p = launder(malloc(size)); /* the overflow is on purpose */
	CHECK(p);
	CHECK_EQ(malloc_usable_size(p), size); /* what was asked: the canary follows */
	memset(p, 1, size);
	p[size + past] = 'x';
	ctl("EXPECT slabmalloc: free of %p: page run of %zu bytes overflowed: canary overwritten at "
	    "its end + %zu", p, size, past);
	free(p);
	ctl("AFTER");
	heap_check(64);
	return 0;
}

static int case_harden_run_overflow_1(void) { return run_overflow(100000, 0); }
static int case_harden_run_overflow_8(void) { return run_overflow(100000, 7); }

/* calloc, then realloc in place: the canary follows the size each time. */
static int case_harden_run_realloc(void)
{
	char *p = calloc(1, 50000);
	CHECK(p);
	char *q = realloc(p, 60000);
	CHECK(q);
	CHECK_EQ(malloc_usable_size(q), 60000);
	memset(q, 2, 60000);
	free(q); /* intact: no report */
	q = launder(malloc(60000)); /* the overflow is on purpose */
	CHECK(q);
	q[60000 + 3] = 0;
	ctl("EXPECT slabmalloc: free of %p: page run of 60000 bytes overflowed: canary overwritten at "
	    "its end + 3", q);
	free(q);
	ctl("AFTER");
	heap_check(64);
	return 0;
}

struct bad_case {
	const char *name;
	int (*fn)(void);
};

static const struct bad_case cases[] = {
	{ "free_stack", case_free_stack },
	{ "free_global", case_free_global },
	{ "free_mmap", case_free_mmap },
	{ "interior_small", case_interior_small },
	{ "interior_small_odd", case_interior_small_odd },
	{ "interior_run", case_interior_run },
	{ "interior_run_mid", case_interior_run_mid },
	{ "interior_run_last", case_interior_run_last },
	{ "interior_run_first", case_interior_run_first },
	{ "interior_huge", case_interior_huge },
	{ "double_free", case_double_free },
	{ "double_free_full_sheaf", case_double_free_full_sheaf },
	{ "double_free_run", case_double_free_run },
	{ "double_free_huge", case_double_free_huge },
	{ "double_free_late", case_double_free_late },
	{ "realloc_foreign", case_realloc_foreign },
	{ "realloc_interior", case_realloc_interior },
	{ "realloc_freed_run", case_realloc_freed_run },
	{ "usable_foreign", case_usable_foreign },
	{ "free_sized_larger", case_free_sized_larger },
	{ "free_sized_smaller", case_free_sized_smaller },
	{ "free_sized_run", case_free_sized_run },
	{ "free_sized_huge", case_free_sized_huge },
	{ "free_sized_zero", case_free_sized_zero },
	{ "free_aligned_sized", case_free_aligned_sized },
	{ "double_free_zero", case_double_free_zero },
	{ "interior_zero", case_interior_zero },
	{ "usable_freed_small", case_usable_freed_small },
	{ "usable_freed_run", case_usable_freed_run },
	{ "usable_interior", case_usable_interior },
	{ "usable_freed_zero", case_usable_freed_zero },
	{ "harden_run_overflow_1", case_harden_run_overflow_1 },
	{ "harden_run_overflow_8", case_harden_run_overflow_8 },
	{ "harden_run_realloc", case_harden_run_realloc },
};
#define NCASES (sizeof(cases) / sizeof(cases[0]))

static int run_case(const char *name)
{
	const char *m = getenv("SLABMALLOC_ON_ERROR");
	report_mode = m && !strcmp(m, "report");
	alarm(30); /* a hang becomes SIGALRM, which the driver reports */
	for (size_t i = 0; i < NCASES; i++)
		if (!strcmp(cases[i].name, name))
			return cases[i].fn();
	fprintf(stderr, "unknown case %s\n", name);
	return 2;
}

/* --------------------------------------------------------------- driver -- */

struct outcome {
	int status;
	char err[16384], ctl[4096];
	size_t nerr, nctl;
};

static void drain(int fd, char *buf, size_t cap, size_t *len, int *open_)
{
	char tmp[4096];
	ssize_t n = read(fd, tmp, sizeof(tmp));
	if (n <= 0) {
		*open_ = 0;
		return;
	}
	size_t k = (size_t)n;
	if (*len + k > cap - 1)
		k = cap - 1 - *len;
	memcpy(buf + *len, tmp, k);
	*len += k;
	buf[*len] = '\0';
}

static void spawn(const char *self, const char *name, int report, struct outcome *o)
{
	int ep[2], cp[2];
	CHECK(pipe(ep) == 0 && pipe(cp) == 0);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		dup2(ep[1], 2);
		dup2(cp[1], CTL_FD);
		for (int fd = 4; fd < 64; fd++)
			close(fd);
		if (report)
			setenv("SLABMALLOC_ON_ERROR", "report", 1);
		else
			unsetenv("SLABMALLOC_ON_ERROR");
		if (!strncmp(name, "harden_", 7))
			setenv("SLABMALLOC_HARDEN", "1", 1);
		else
			unsetenv("SLABMALLOC_HARDEN");
		execl(self, self, "case", name, (char *)NULL);
		_exit(127);
	}
	close(ep[1]);
	close(cp[1]);
	memset(o, 0, sizeof(*o));
	int eo = 1, co = 1;
	while (eo || co) {
		struct pollfd pf[2] = { { eo ? ep[0] : -1, POLLIN, 0 }, { co ? cp[0] : -1, POLLIN, 0 } };
		CHECK(poll(pf, 2, -1) > 0);
		if (pf[0].revents)
			drain(ep[0], o->err, sizeof(o->err), &o->nerr, &eo);
		if (pf[1].revents)
			drain(cp[0], o->ctl, sizeof(o->ctl), &o->nctl, &co);
	}
	close(ep[0]);
	close(cp[0]);
	CHECK(waitpid(pid, &o->status, 0) == pid);
}

static int count(const char *hay, const char *needle)
{
	int n = 0;
	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

static const char *describe(int st, char *buf, size_t n)
{
	if (WIFEXITED(st))
		snprintf(buf, n, "exit %d", WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		snprintf(buf, n, "signal %d (%s)", WTERMSIG(st), strsignal(WTERMSIG(st)));
	else
		snprintf(buf, n, "status 0x%x", st);
	return buf;
}

static int judge(const char *name, int report, const struct outcome *o)
{
	char msg[600], want[700] = "", how[64], tmp[8];
	int maybe = 0;
	const char *why = NULL;
	if (!ctl_value(o->ctl, "EXPECT", msg, sizeof(msg))) {
		if (!ctl_value(o->ctl, "MAYBE", msg, sizeof(msg))) {
			why = "the case sent no expected message";
			goto fail;
		}
		maybe = 1;
	}
	snprintf(want, sizeof(want), "%s%s\n", msg, report ? REPORT_SUFFIX : "");
	int has = strstr(o->err, want) != NULL;
	int lines = count(o->err, "slabmalloc: ");
	int after = ctl_value(o->ctl, "AFTER", tmp, sizeof(tmp));
	int heapok = ctl_value(o->ctl, "HEAPOK", tmp, sizeof(tmp));
	int aborted = WIFSIGNALED(o->status) && WTERMSIG(o->status) == SIGABRT;
	int exit0 = WIFEXITED(o->status) && WEXITSTATUS(o->status) == 0;

	if (maybe) {
		/* Caught (exact message, once) or not caught (silence, clean exit). */
		if (!after)
			why = "the case did not get past the second free";
		else if (has && lines == 1 && (report ? exit0 : aborted))
			printf("PASS %-24s %-6s double free caught when the sheaves were flushed\n", name,
			       report ? "report" : "abort");
		else if (!lines && exit0 && ctl_value(o->ctl, "TRIMMED", tmp, sizeof(tmp)))
			printf("PASS %-24s %-6s double free not caught (allowed: see the header)\n", name,
			       report ? "report" : "abort");
		else
			why = "neither the exact message with the mode's outcome nor a clean exit";
	} else if (report) {
		if (!exit0)
			why = "report mode: the process did not exit 0";
		else if (!has)
			why = "report mode: message missing";
		else if (lines != 1)
			why = "report mode: more than one slabmalloc message";
		else if (!after || !heapok)
			why = "report mode: the case did not finish its heap check";
		else
			printf("PASS %-24s report\n", name);
	} else {
		if (!aborted)
			why = "abort mode: not killed by SIGABRT";
		else if (!has)
			why = "abort mode: message missing";
		else if (after)
			why = "abort mode: the bad call returned";
		else if (lines != 1)
			why = "abort mode: more than one slabmalloc message";
		else
			printf("PASS %-24s abort\n", name);
	}
	if (!why)
		return 0;
fail:
	printf("FAIL %-24s %-6s %s\n  outcome: %s\n  expected: %s  stderr:\n%s  control:\n%s\n", name,
	       report ? "report" : "abort", why, describe(o->status, how, sizeof(how)), want, o->err,
	       o->ctl);
	return 1;
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "case"))
		return run_case(argv[2]);
	if (argc != 1) {
		fprintf(stderr, "usage: %s            (driver)\n       %s case NAME\n", argv[0], argv[0]);
		return 2;
	}
	/* The library is loaded (linked, or preloaded: see CMakeLists.txt). */
	void *(*owner)(const void *) = (void *(*)(const void *))dlsym(RTLD_DEFAULT, "sm_ptr_instance");
	if (!owner) {
		fprintf(stderr, "sm_ptr_instance not found: slabmalloc is not loaded\n");
		return 1;
	}
	void *probe = malloc(16);
	CHECK(owner(probe));
	free(probe);
	char self[4096];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	CHECK(n > 0);
	self[n] = '\0';
	setvbuf(stdout, NULL, _IOLBF, 0);
	static struct outcome o;
	int failures = 0;
	for (size_t i = 0; i < NCASES; i++)
		for (int report = 0; report < 2; report++) {
			spawn(self, cases[i].name, report, &o);
			failures += judge(cases[i].name, report, &o);
		}
	printf("%d of %zu runs failed\n", failures, 2 * NCASES);
	return failures != 0;
}
