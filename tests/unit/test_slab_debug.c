/*
 * test_slab_debug.c - slab_debug (SM_CACHE_DEBUG_*, sm_options.debug):
 * one test per kind of finding (red zone left and right, poison, padding,
 * object already free, a corrupted freelist found by sm_cache_validate, a
 * slab consistency check),
 * each asserting the report's exact lines (bug kind, cache, offset, first
 * bytes, the dump, "allocated by"/"freed by" naming this file's own
 * functions) and the outcome (reported and left alone, or the abort);
 * then the per-instance and named-cache forms, backtraces (T), and the
 * calls that must stay correct on a debug cache (ksize, realloc, bulk,
 * nolock).
 *
 * Linked against libslabmalloc.so (not the core's objects, as the other
 * unit tests are) and with -rdynamic: the caller is found as the first
 * frame outside the library's own object, and dladdr names this file's
 * functions, which are therefore global and noinline.
 */
#include <signal.h>
#include <sys/wait.h>

#include "test.h"

#ifdef __clang__
#define NOINLINE __attribute__((noinline))
#else
#define NOINLINE __attribute__((noinline, noclone)) /* no .constprop copy dladdr would not name */
#endif

/* Every report, whole (a slab_debug report is several lines). */
struct reports {
	int count;
	char msg[8][4096];
};

static void report_handler(const char *msg, void *arg)
{
	struct reports *r = arg;
	snprintf(r->msg[r->count % 8], sizeof(r->msg[0]), "%s", msg);
	r->count++;
}

static sm_instance_t *new_instance(struct reports *r, unsigned debug, const char *names)
{
	struct sm_options o;
	sm_options_init(&o);
	o.node_size = (size_t)64 << 20;
	o.error_handler = report_handler;
	o.error_arg = r;
	o.debug = debug;
	o.debug_caches = names;
	sm_instance_t *inst = sm_instance_create(&o);
	CHECK(inst != NULL);
	memset(r, 0, sizeof(*r));
	return inst;
}

/* Line @n (0-based) of @msg into @out. */
static const char *line(const char *msg, int n, char *out, size_t len)
{
	const char *s = msg;
	for (int i = 0; i < n && s; i++) {
		s = strchr(s, '\n');
		if (s)
			s++;
	}
	if (!s) {
		out[0] = 0;
		return out;
	}
	size_t l = strcspn(s, "\n");
	if (l >= len)
		l = len - 1;
	memcpy(out, s, l);
	out[l] = 0;
	return out;
}

static void expect_line(const char *msg, int n, const char *want)
{
	char got[512];
	line(msg, n, got, sizeof(got));
	if (strcmp(got, want)) {
		fprintf(stderr, "report line %d:\n  got:  \"%s\"\n  want: \"%s\"\nwhole report:\n%s\n", n, got,
			want, msg);
		CHECK(0);
	}
}

static void expect_prefix(const char *msg, int n, const char *want)
{
	char got[512];
	line(msg, n, got, sizeof(got));
	if (strncmp(got, want, strlen(want))) {
		fprintf(stderr, "report line %d:\n  got:  \"%s\"\n  want: \"%s...\"\nwhole report:\n%s\n", n,
			got, want, msg);
		CHECK(0);
	}
}

/* "%p" of @p, as the library prints it. */
static const char *ptr(const void *p, char *buf)
{
	sprintf(buf, "%p", p);
	return buf;
}

/* The test's own callers: what "allocated by" and "freed by" must name. */
NOINLINE void *dbg_alloc(sm_cache_t *s)
{
	void *p = sm_cache_alloc(s, 0);
	__asm__ volatile("" ::: "memory");
	return p;
}

NOINLINE void dbg_free(sm_cache_t *s, void *p)
{
	sm_cache_free(s, p);
	__asm__ volatile("" ::: "memory");
}

static sm_cache_t *new_cache(sm_instance_t *inst, const char *name, size_t size, size_t align,
			     unsigned flags)
{
	sm_cache_t *s = sm_cache_create(inst, name, size, align, flags, NULL);
	CHECK(s != NULL);
	return s;
}

#define FZPU (SM_CACHE_DEBUG_CONSISTENCY | SM_CACHE_DEBUG_RED_ZONE | SM_CACHE_DEBUG_POISON | \
	      SM_CACHE_DEBUG_STORE_USER)

/* Z: a byte written past the object's end, found when it is freed. */
static void t_redzone_right(void)
{
	struct reports r;
	sm_instance_t *inst = new_instance(&r, 0, NULL);
	sm_cache_t *s = new_cache(inst, "t64", 64, 0, FZPU);
	unsigned char *p = dbg_alloc(s);
	CHECK(p && r.count == 0);
	p[64] = 0x41;
	dbg_free(s, p);
	CHECK_EQ(r.count, 1);
	char a[32], b[32], want[256];
	expect_line(r.msg[0], 0, "slabmalloc: BUG t64: Redzone overwritten");
	sprintf(want, "object %s (64 bytes): first byte 0x41 instead of 0xcc at offset 64 (%s)", ptr(p, a),
		ptr(p + 64, b));
	expect_line(r.msg[0], 1, want);
	sprintf(want, "Redzone  %s: 41 cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc", ptr(p + 64, a));
	expect_line(r.msg[0], 2, want);
	expect_prefix(r.msg[0], 3, "allocated by dbg_alloc+0x");
	expect_line(r.msg[0], 4, "freed by (never)");
	expect_line(r.msg[0], 5, "object left alone: not freed");
	/* Left alone: still live, still damaged (validate finds it), and
	   freed normally once the red zone is whole again. */
	CHECK_EQ(sm_cache_validate(s), 1);
	CHECK_EQ(r.count, 2);
	expect_line(r.msg[1], 0, "slabmalloc: BUG t64: Redzone overwritten");
	expect_line(r.msg[1], 5, "found by sm_cache_validate");
	p[64] = 0xcc;
	dbg_free(s, p);
	CHECK_EQ(r.count, 2);
	CHECK_EQ(sm_cache_validate(s), 0);
	sm_instance_destroy(inst);
}

/* Z: a byte written before the object's start. */
static void t_redzone_left(void)
{
	struct reports r;
	sm_instance_t *inst = new_instance(&r, 0, NULL);
	sm_cache_t *s = new_cache(inst, "t64", 64, 0, FZPU);
	unsigned char *p = dbg_alloc(s);
	p[-1] = 0x42;
	dbg_free(s, p);
	CHECK_EQ(r.count, 1);
	char a[32], b[32], want[256];
	expect_line(r.msg[0], 0, "slabmalloc: BUG t64: Redzone overwritten");
	sprintf(want, "object %s (64 bytes): first byte 0x42 instead of 0xcc at offset -1 (%s)", ptr(p, a),
		ptr(p - 1, b));
	expect_line(r.msg[0], 1, want);
	sprintf(want, "Redzone  %s: cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc 42", ptr(p - 16, a));
	expect_line(r.msg[0], 2, want);
	expect_prefix(r.msg[0], 3, "allocated by dbg_alloc+0x");
	expect_line(r.msg[0], 5, "object left alone: not freed");
	sm_instance_destroy(inst);
}

/* P: a write after free, found when the object would be handed out again. */
static void t_poison(void)
{
	struct reports r;
	sm_instance_t *inst = new_instance(&r, 0, NULL);
	sm_cache_t *s = new_cache(inst, "t64", 64, 0, FZPU);
	unsigned char *p = dbg_alloc(s);
	dbg_free(s, p);
	CHECK_EQ(p[0], 0x6b);
	CHECK_EQ(p[63], 0xa5);
	p[8] = 0x41; /* use after free */
	unsigned char *q = dbg_alloc(s);
	CHECK_EQ(r.count, 1);
	CHECK(q && q != p); /* the damaged object is never handed out */
	char a[32], b[32], want[256];
	expect_line(r.msg[0], 0, "slabmalloc: BUG t64: Poison overwritten");
	sprintf(want, "object %s (64 bytes): first byte 0x41 instead of 0x6b at offset 8 (%s)", ptr(p, a),
		ptr(p + 8, b));
	expect_line(r.msg[0], 1, want);
	sprintf(want, "Object   %s: 6b 6b 6b 6b 6b 6b 6b 6b 41 6b 6b 6b 6b 6b 6b 6b", ptr(p, a));
	expect_line(r.msg[0], 2, want);
	sprintf(want, "Object   %s: 6b 6b 6b 6b 6b 6b 6b 6b 6b 6b 6b 6b 6b 6b 6b 6b", ptr(p + 16, a));
	expect_line(r.msg[0], 3, want);
	expect_prefix(r.msg[0], 4, "allocated by dbg_alloc+0x");
	expect_prefix(r.msg[0], 5, "freed by dbg_free+0x");
	expect_line(r.msg[0], 6, "object leaked: never handed out");
	dbg_free(s, q);
	CHECK_EQ(r.count, 1);
	sm_instance_destroy(inst);
}

/* P: the padding after the tracks.  48-byte objects aligned to 64: left
   red zone 64, right red zone to 64, free word 64..72, tracks 72..136,
   padding 136..192 (debug.h's layout). */
static void t_padding(void)
{
	struct reports r;
	sm_instance_t *inst = new_instance(&r, 0, NULL);
	sm_cache_t *s = new_cache(inst, "t48", 48, 64, FZPU);
	unsigned char *p = dbg_alloc(s);
	CHECK(((uintptr_t)p & 63) == 0);
	p[150] = 0x41;
	dbg_free(s, p);
	CHECK_EQ(r.count, 1);
	char a[32], b[32], want[256];
	expect_line(r.msg[0], 0, "slabmalloc: BUG t48: Object padding overwritten");
	sprintf(want, "object %s (48 bytes): first byte 0x41 instead of 0x5a at offset 150 (%s)", ptr(p, a),
		ptr(p + 150, b));
	expect_line(r.msg[0], 1, want);
	sprintf(want, "Padding  %s: 5a 5a 5a 5a 5a 5a 5a 5a 5a 5a 5a 5a 5a 5a 41 5a", ptr(p + 136, a));
	expect_line(r.msg[0], 2, want);
	expect_prefix(r.msg[0], 4, "allocated by dbg_alloc+0x");
	expect_line(r.msg[0], 6, "object left alone: not freed");
	sm_instance_destroy(inst);
}

/* F (and any debug flag): a second free. */
static void t_already_free(void)
{
	struct reports r;
	sm_instance_t *inst = new_instance(&r, 0, NULL);
	sm_cache_t *s = new_cache(inst, "t64", 64, 0, FZPU);
	void *p = dbg_alloc(s);
	dbg_free(s, p);
	dbg_free(s, p);
	CHECK_EQ(r.count, 1);
	char a[32], want[256];
	expect_line(r.msg[0], 0, "slabmalloc: BUG t64: Object already free");
	sprintf(want, "object %s (64 bytes)", ptr(p, a));
	expect_line(r.msg[0], 1, want);
	expect_prefix(r.msg[0], 2, "allocated by dbg_alloc+0x");
	expect_prefix(r.msg[0], 3, "freed by dbg_free+0x");
	expect_line(r.msg[0], 4, "object left alone: not freed");
	/* Freed once: handed out again, intact. */
	CHECK(dbg_alloc(s) == p);
	CHECK_EQ(r.count, 1);
	CHECK_EQ(sm_cache_validate(s), 0);
	sm_instance_destroy(inst);
}

/* F: a free object's freelist link overwritten (past the red zone: the
   free word of a 64-byte object is at 80), found by sm_cache_validate. */
static void t_freelist(void)
{
	struct reports r;
	sm_instance_t *inst = new_instance(&r, 0, NULL);
	sm_cache_t *s = new_cache(inst, "t64", 64, 0, FZPU);
	unsigned char *keep = dbg_alloc(s), *p = dbg_alloc(s);
	dbg_free(s, p);
	memset(p + 80, 0x33, 8);
	CHECK_EQ(sm_cache_validate(s), 1);
	CHECK_EQ(r.count, 1);
	char a[32], want[256];
	expect_line(r.msg[0], 0, "slabmalloc: BUG t64: Freelist corrupted");
	sprintf(want, "object %s (64 bytes): a free object's link leads outside its slab, to an object never "
		"handed out, or around a loop", ptr(p, a));
	expect_line(r.msg[0], 1, want);
	expect_line(r.msg[0], 2, "found by sm_cache_validate");
	(void)keep;
	sm_instance_destroy(inst);
}

/* sm_cache_validate counts every problem, live and free objects alike. */
static void t_validate_count(void)
{
	struct reports r;
	sm_instance_t *inst = new_instance(&r, 0, NULL);
	sm_cache_t *s = new_cache(inst, "t64", 64, 0, FZPU);
	unsigned char *o[6];
	for (int i = 0; i < 6; i++)
		o[i] = dbg_alloc(s);
	CHECK_EQ(sm_cache_validate(s), 0);
	o[0][64] = 1;          /* live, right red zone */
	o[1][-3] = 2;          /* live, left red zone */
	dbg_free(s, o[2]);
	o[2][30] = 3;          /* free, poison */
	CHECK_EQ(sm_cache_validate(s), 3);
	CHECK_EQ(r.count, 3);
	expect_line(r.msg[0], 0, "slabmalloc: BUG t64: Redzone overwritten");
	expect_line(r.msg[1], 0, "slabmalloc: BUG t64: Redzone overwritten");
	expect_line(r.msg[2], 0, "slabmalloc: BUG t64: Poison overwritten");
	/* A cache without debug flags: its freelists only. */
	sm_cache_t *plain = new_cache(inst, "plain", 64, 0, 0);
	void *x = sm_cache_alloc(plain, 0);
	sm_cache_free(plain, x);
	CHECK_EQ(sm_cache_validate(plain), 0);
	sm_instance_destroy(inst);
}

/* Without an error handler: the report on stderr, then abort(). */
static void t_abort(void)
{
	int fds[2];
	CHECK(pipe(fds) == 0);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		dup2(fds[1], 2);
		struct sm_options o;
		sm_options_init(&o);
		o.node_size = (size_t)64 << 20;
		sm_instance_t *inst = sm_instance_create(&o);
		sm_cache_t *s = sm_cache_create(inst, "t64", 64, 0, FZPU, NULL);
		unsigned char *p = dbg_alloc(s);
		p[70] = 0x41;
		dbg_free(s, p);
		_exit(0); /* not reached */
	}
	close(fds[1]);
	char out[8192];
	size_t n = 0;
	ssize_t k;
	while (n < sizeof(out) - 1 && (k = read(fds[0], out + n, sizeof(out) - 1 - n)) > 0)
		n += (size_t)k;
	out[n] = 0;
	close(fds[0]);
	int st;
	CHECK(waitpid(pid, &st, 0) == pid);
	CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
	expect_line(out, 0, "slabmalloc: BUG t64: Redzone overwritten");
	CHECK(strstr(out, "first byte 0x41 instead of 0xcc at offset 70"));
	CHECK(strstr(out, "\nallocated by dbg_alloc+0x"));
	CHECK(strstr(out, "\nobject left alone: not freed\n"));
}

/* T: each track keeps a short backtrace, printed under its line. */
NOINLINE void t_backtrace(void)
{
	struct reports r;
	sm_instance_t *inst = new_instance(&r, 0, NULL);
	sm_cache_t *s = new_cache(inst, "t64", 64, 0, FZPU | SM_CACHE_DEBUG_BACKTRACE);
	unsigned char *p = dbg_alloc(s);
	p[64] = 1;
	dbg_free(s, p);
	__asm__ volatile("" ::: "memory");
	CHECK_EQ(r.count, 1);
	expect_prefix(r.msg[0], 3, "allocated by dbg_alloc+0x");
	expect_prefix(r.msg[0], 4, "  #0 dbg_alloc+0x");
	expect_prefix(r.msg[0], 5, "  #1 t_backtrace+0x");
	sm_instance_destroy(inst);
}

/* The instance option, for the caches named: kmalloc-64 is checked,
   kmalloc-128 is not (its double free gets the plain report). */
static void t_instance_named(void)
{
	struct reports r;
	sm_instance_t *inst = new_instance(&r, FZPU, "dentry,kmalloc-64");
	unsigned char *p = sm_kmalloc(inst, 64, 0);
	CHECK(p);
	CHECK_EQ(sm_ksize(p), 64);
	p[64] = 0x41;
	sm_kfree(p);
	CHECK_EQ(r.count, 1);
	expect_line(r.msg[0], 0, "slabmalloc: BUG kmalloc-64: Redzone overwritten");
	p[64] = 0xcc;
	sm_kfree(p);
	CHECK_EQ(r.count, 1);
	void *q = sm_kmalloc(inst, 128, 0);
	sm_kfree(q);
	sm_kfree(q);
	CHECK_EQ(r.count, 2);
	char a[32], want[128];
	sprintf(want, "slabmalloc: double free of %s in cache kmalloc-128", ptr(q, a));
	CHECK(strstr(r.msg[1], want) == r.msg[1]);
	/* A named user cache, and one not named. */
	sm_cache_t *d = new_cache(inst, "dentry", 40, 0, 0), *other = new_cache(inst, "inode", 40, 0, 0);
	unsigned char *x = dbg_alloc(d), *y = dbg_alloc(other);
	dbg_free(d, x);
	dbg_free(d, x);
	CHECK_EQ(r.count, 3);
	expect_line(r.msg[2], 0, "slabmalloc: BUG dentry: Object already free");
	dbg_free(other, y);
	CHECK_EQ(r.count, 3);
	sm_instance_destroy(inst);
}

/* What must stay correct on debug caches: ksize (the object size),
   realloc, the bulk calls, the nolock calls, zeroing. */
static void t_calls(void)
{
	struct reports r;
	sm_instance_t *inst = new_instance(&r, FZPU, NULL);
	unsigned char *p = sm_kmalloc(inst, 64, 0);
	CHECK_EQ(sm_ksize(p), 64);
	CHECK(((uintptr_t)p & 15) == 0);
	memset(p, 7, 64);
	unsigned char *q = sm_krealloc(p, 200, 0);
	CHECK(q && q != p);
	for (int i = 0; i < 64; i++)
		CHECK_EQ(q[i], 7);
	CHECK(sm_ksize(q) >= 200 && sm_ksize(q) <= 256);
	sm_kfree(q);
	/* An interior pointer of a debug object: the offset is from the object. */
	unsigned char *w = sm_kmalloc(inst, 64, 0);
	sm_kfree(w + 8);
	CHECK_EQ(r.count, 1);
	char a8[32], want[160];
	sprintf(want, "slabmalloc: free of %s: interior pointer into cache kmalloc-64 (offset 8 into a 64-byte object)",
		ptr(w + 8, a8));
	CHECK(strcmp(r.msg[0], want) == 0);
	sm_kfree(w);
	r.count = 0;
	void *a = sm_kmalloc_aligned(inst, 100, 128, 0);
	CHECK(a && ((uintptr_t)a & 127) == 0);
	sm_kfree(a);
	sm_cache_t *s = new_cache(inst, "bulk", 100, 0, 0);
	void *v[40];
	CHECK_EQ(sm_cache_alloc_bulk(s, SM_GFP_ZERO, 40, v), 40);
	for (int i = 0; i < 40; i++) {
		CHECK_EQ(sm_ksize(v[i]), 100);
		for (int j = 0; j < 100; j++)
			CHECK_EQ(((unsigned char *)v[i])[j], 0);
	}
	sm_cache_free_bulk(s, 40, v);
	CHECK_EQ(sm_kmalloc_bulk(inst, 64, 0, 40, v), 40);
	sm_kfree_bulk(40, v);
	void *n1 = sm_cache_alloc_nolock(s, 0, SM_NO_NODE), *n2 = sm_kmalloc_nolock(inst, 64, 0, SM_NO_NODE);
	CHECK(n1 && n2);
	sm_cache_free_nolock(s, n1);
	sm_kfree_nolock(n2);
	CHECK_EQ(r.count, 0);
	CHECK_EQ(sm_cache_validate(s), 0);
	/* A double free through the nolock call is caught as well. */
	sm_kfree_nolock(n2);
	CHECK_EQ(r.count, 1);
	expect_line(r.msg[0], 0, "slabmalloc: BUG kmalloc-64: Object already free");
	CHECK_EQ(sm_cache_destroy(s), 0);
	sm_instance_destroy(inst);
}

/*
 * The report is made with no lock of the cache held: a handler that
 * allocates from the very cache being reported gets an object (inside
 * the report the call is re-entered, so it only tries the list lock: a
 * lock still held would make it fail).
 */
static sm_cache_t *handler_cache;
static int handler_got;

static void alloc_in_handler(const char *msg, void *arg)
{
	report_handler(msg, arg);
	void *x = sm_cache_alloc(handler_cache, 0);
	handler_got += x != NULL;
	if (x)
		sm_cache_free(handler_cache, x);
}

static void t_report_unlocked(void)
{
	struct reports r;
	memset(&r, 0, sizeof(r));
	struct sm_options o;
	sm_options_init(&o);
	o.node_size = (size_t)64 << 20;
	o.error_handler = alloc_in_handler;
	o.error_arg = &r;
	sm_instance_t *inst = sm_instance_create(&o);
	CHECK(inst != NULL);
	handler_cache = new_cache(inst, "t64", 64, 0, FZPU);
	unsigned char *p = dbg_alloc(handler_cache);
	p[64] = 0x41;
	dbg_free(handler_cache, p); /* the free's report */
	CHECK_EQ(r.count, 1);
	CHECK_EQ(handler_got, 1);
	dbg_free(handler_cache, p); /* damaged still: reported again */
	CHECK_EQ(sm_cache_validate(handler_cache), 1); /* validate's report */
	CHECK_EQ(r.count, 3);
	CHECK_EQ(handler_got, 3);
	sm_instance_destroy(inst);
}

/*
 * F: a free of a slot its slab never handed out (beyond the slab's bump:
 * a pointer made up from a live one), found by the slab's consistency
 * check; without F, by the slot's own checks (its red zone was never
 * armed), so F's line is what tells them apart.
 */
static void t_consistency(void)
{
	struct reports r;
	sm_instance_t *inst = new_instance(&r, 0, NULL);
	sm_cache_t *s = new_cache(inst, "t64", 64, 0, FZPU);
	unsigned char *p = dbg_alloc(s), *q = dbg_alloc(s);
	CHECK(p && q && q > p);
	unsigned char *never = q + 4 * (q - p); /* slots are handed out upwards */
	dbg_free(s, never);
	CHECK_EQ(r.count, 1);
	char a[32], want[256];
	expect_line(r.msg[0], 0, "slabmalloc: BUG t64: Slab check failed");
	sprintf(want, "object %s (64 bytes): not an object handed out by its slab", ptr(never, a));
	expect_line(r.msg[0], 1, want);
	CHECK_EQ(sm_cache_validate(s), 0); /* left alone: the slab is as it was */
	dbg_free(s, p);
	dbg_free(s, q);
	CHECK_EQ(r.count, 1);
	sm_instance_destroy(inst);
}

int main(void)
{
	t_consistency();
	t_redzone_right();
	t_redzone_left();
	t_poison();
	t_padding();
	t_already_free();
	t_freelist();
	t_validate_count();
	t_abort();
	t_backtrace();
	t_instance_named();
	t_calls();
	t_report_unlocked();
	printf("slab_debug: all checks passed\n");
	return 0;
}
