/*
 * test_bad_input.c - invalid frees reported through the error handler (no
 * abort): foreign pointers, interior pointers of every kind of allocation,
 * node metadata, double frees caught on the fast path and at slab level.
 * After each report the allocator must be intact.  Also sm_ptr_instance,
 * and frees of the allocator's own objects (sheaves, tcaches, descriptors).
 */
#include <errno.h>
#include <pthread.h>

#include "test.h"
#include "registry.h"
#include "kmem_cache.h"
#include "node.h"
#include "slab.h"
#include "sheaf.h"
#include "tcache.h"

/* A clock that never moves: no delayed purge changes the state under the test. */
static uint64_t frozen_clock(void *arg)
{
	(void)arg;
	return 1000;
}
static const struct sm_os_ops frozen_os = { .now_ns = frozen_clock };

/* Foreign pointers are reported through the default instance's handler. */
static struct test_errors default_errs;
static char global_buf[256];

static sm_instance_t *new_instance(struct test_errors *e)
{
	struct sm_options o = test_options(e);
	o.os = &frozen_os;
	o.huge_threshold = (size_t)2 << 20;
	sm_instance_t *inst = sm_instance_create(&o);
	CHECK(inst != NULL);
	return inst;
}

/*
 * Check that exactly one error was reported since @before, and that its
 * message names the address @p (formatted with %p, as the code does) and
 * contains @what (and @what2 if not NULL).
 */
static void expect_report(const struct test_errors *e, int before, const void *p, const char *what,
			  const char *what2)
{
	char addr[32];
	snprintf(addr, sizeof(addr), "%p", p);
	if (e->count != before + 1 || !strstr(e->last, addr) || !strstr(e->last, what) ||
	    (what2 && !strstr(e->last, what2))) {
		fprintf(stderr, "expected one report naming %s with \"%s\"%s%s%s; got %d: \"%s\"\n", addr,
			what, what2 ? " and \"" : "", what2 ? what2 : "", what2 ? "\"" : "",
			e->count - before, e->last);
		CHECK(0);
	}
	CHECK(strncmp(e->last, "slabmalloc: ", 12) == 0);
}

static int cmp_ptr(const void *a, const void *b)
{
	uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
	return x < y ? -1 : x > y;
}

/*
 * The allocator is intact: @n objects of @size are distinct, non-overlapping
 * and keep their contents; @watch (if not NULL) is handed out at most once;
 * nothing is reported.  Returns how often @watch came back.
 */
static unsigned check_intact(sm_instance_t *inst, const struct test_errors *e, size_t size,
			     const void *watch)
{
	unsigned n = under_valgrind() ? 150 : 600;
	int before = e->count;
	void **v = calloc(n, sizeof(*v));
	CHECK(v != NULL);
	unsigned seen = 0;
	for (unsigned i = 0; i < n; i++) {
		v[i] = sm_kmalloc(inst, size, 0);
		CHECK(v[i] != NULL);
		CHECK(sm_ptr_instance(v[i]) == inst);
		memset(v[i], (int)(i * 7 + 1), size);
		if (v[i] == watch)
			seen++;
	}
	for (unsigned i = 0; i < n; i++) {
		const unsigned char *b = v[i];
		for (size_t j = 0; j < size; j++)
			CHECK_EQ(b[j], (unsigned char)(i * 7 + 1));
	}
	void **sorted = malloc(n * sizeof(*sorted));
	CHECK(sorted != NULL);
	memcpy(sorted, v, n * sizeof(*v));
	qsort(sorted, n, sizeof(*sorted), cmp_ptr);
	for (unsigned i = 1; i < n; i++)
		CHECK((char *)sorted[i - 1] + size <= (char *)sorted[i]);
	free(sorted);
	for (unsigned i = 0; i < n; i++)
		sm_kfree(v[i]);
	free(v);
	CHECK_EQ(e->count, before);
	CHECK_LE(seen, 1);
	return seen;
}

/* ---- foreign pointers ---- */

static void test_foreign(void)
{
	struct test_errors e = { 0 };
	sm_instance_t *inst = new_instance(&e);
	char stack_buf[64];
	int d;

	d = default_errs.count;
	sm_kfree(stack_buf + 8);
	expect_report(&default_errs, d, stack_buf + 8, "not allocated by slabmalloc", NULL);

	d = default_errs.count;
	sm_kfree(global_buf + 16);
	expect_report(&default_errs, d, global_buf + 16, "not allocated by slabmalloc", NULL);

	char *m = malloc(100);
	CHECK(m != NULL);
	memset(m, 0x42, 100);
	d = default_errs.count;
	sm_kfree(m);
	expect_report(&default_errs, d, m, "not allocated by slabmalloc", NULL);
	CHECK_EQ((unsigned char)m[99], 0x42); /* left alone */
	free(m);

	/* Addresses beyond the 47-bit user space: rejected without a lookup. */
	void *high = (void *)(uintptr_t)0xffff800000001000ull;
	d = default_errs.count;
	sm_kfree(high);
	expect_report(&default_errs, d, high, "not allocated by slabmalloc", NULL);

	/* sm_cache_free of a foreign pointer: reported to the cache's instance. */
	sm_cache_t *s = sm_cache_create(inst, "foreign-test", 64, 0, 0, NULL);
	int before = e.count;
	sm_cache_free(s, stack_buf);
	expect_report(&e, before, stack_buf, "not allocated by slabmalloc", NULL);
	CHECK_EQ(sm_cache_destroy(s), 0);

	/* sm_ksize of a foreign pointer. */
	d = default_errs.count;
	CHECK_EQ(sm_ksize(stack_buf), 0);
	expect_report(&default_errs, d, stack_buf, "ksize of", "not a live object");

	CHECK_EQ(e.count, before + 1);
	check_intact(inst, &e, 64, NULL);
	check_intact(inst, &e, 5000, NULL);
	sm_instance_destroy(inst);
}

/* ---- interior pointers ---- */

static void test_interior(void)
{
	struct test_errors e = { 0 };
	sm_instance_t *inst = new_instance(&e);
	int before;

	/* A small object. */
	unsigned char *q = sm_kmalloc(inst, 96, 0);
	CHECK(q != NULL);
	memset(q, 0x33, 96);
	before = e.count;
	sm_kfree(q + 8);
	expect_report(&e, before, q + 8, "interior pointer into cache kmalloc-96",
		      "offset 8 into a 96-byte object");
	before = e.count;
	sm_kfree(q + 95);
	expect_report(&e, before, q + 95, "interior pointer into cache kmalloc-96",
		      "offset 95 into a 96-byte object");
	for (unsigned i = 0; i < 96; i++)
		CHECK_EQ(q[i], 0x33);
	CHECK_EQ(sm_ksize(q), 96); /* still live */
	CHECK_EQ(check_intact(inst, &e, 96, q), 0); /* q is not handed out */
	sm_kfree(q);
	CHECK_EQ(e.count, before + 1);

	/* A page run of 10 pages: its first page, a middle page, its last page. */
	struct sm_stats st;
	sm_stats_get(inst, &st);
	size_t large0 = st.large_bytes; /* this thread's tcache is a page run too */
	unsigned char *r = sm_kmalloc(inst, 40000, 0);
	CHECK(r != NULL);
	CHECK_EQ(sm_ksize(r), 40960);
	memset(r, 0x44, 40960);
	before = e.count;
	sm_kfree(r + 16);
	expect_report(&e, before, r + 16, "not a live slab object", "page-run page");
	before = e.count;
	sm_kfree(r + 9 * 4096);
	expect_report(&e, before, r + 9 * 4096, "not a live slab object", "page-run page");
	before = e.count;
	sm_kfree(r + 4 * 4096 + 100);
	expect_report(&e, before, r + 4 * 4096 + 100, "not a live slab object", NULL);
	CHECK_EQ(sm_ksize(r), 40960);
	for (unsigned i = 0; i < 40960; i++)
		CHECK_EQ(r[i], 0x44);
	sm_stats_get(inst, &st);
	CHECK_EQ(st.large_bytes, large0 + 40960);
	CHECK_EQ(check_intact(inst, &e, 40000, r), 0);
	/* ... and a double free of the run. */
	sm_kfree(r);
	before = e.count;
	sm_kfree(r);
	expect_report(&e, before, r, "double free of", "a page run freed already");
	sm_stats_get(inst, &st);
	CHECK_EQ(st.large_bytes, large0);
	check_intact(inst, &e, 40000, NULL);

	/* A huge allocation (above the 2 MiB threshold of this instance). */
	size_t hs = (size_t)3 << 20;
	unsigned char *h = sm_kmalloc(inst, hs, 0);
	CHECK(h != NULL);
	CHECK(node_of(h)->kind == NODE_HUGE);
	h[hs - 1] = 0x55;
	char at[32];
	snprintf(at, sizeof(at), "at %p", (void *)h);
	before = e.count;
	sm_kfree(h + 4096);
	expect_report(&e, before, h + 4096, "interior pointer into a 3145728-byte huge allocation", at);
	before = e.count;
	sm_kfree(h + 8);
	expect_report(&e, before, h + 8, "interior pointer into a 3145728-byte huge allocation", at);
	/* Its header page (inside the same reservation). */
	before = e.count;
	sm_kfree(h - 4096);
	expect_report(&e, before, h - 4096, "interior pointer into a 3145728-byte huge allocation", at);
	sm_stats_get(inst, &st);
	CHECK_EQ(st.huge_allocations, 1);
	CHECK_EQ(h[hs - 1], 0x55);
	CHECK_EQ(sm_ksize(h), hs);
	sm_kfree(h);
	sm_stats_get(inst, &st);
	CHECK_EQ(st.huge_allocations, 0);
	check_intact(inst, &e, 96, NULL);
	sm_instance_destroy(inst);
}

/* ---- node metadata ---- */

static void test_metadata(void)
{
	struct test_errors e = { 0 };
	sm_instance_t *inst = new_instance(&e);
	void *obj = sm_kmalloc(inst, 128, 0);
	struct sm_node *n = node_of(obj);
	CHECK(n != NULL && n == inst->pa.nodes[0]);
	void *bad[] = {
		(void *)n->descs,                                  /* descriptor table */
		(void *)&n->descs[node_page_index(n, obj)],        /* obj's own descriptor */
		(void *)n->base,                                   /* struct sm_node */
		(void *)(n->base + 64),
		(void *)(n->data - SM_PAGE_SIZE),                  /* guard page */
	};
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int before = e.count;
		sm_kfree(bad[i]);
		expect_report(&e, before, bad[i], "not an object (node metadata or huge mapping)", NULL);
	}
	/* A wild pointer into the data area far beyond what was ever committed
	   (the last page of the 64 MiB node): its descriptor is readable. */
	CHECK(n->committed < n->npages);
	void *wild = n->data + ((size_t)n->npages << SM_PAGE_SHIFT) - 8;
	int before = e.count;
	sm_kfree(wild);
	expect_report(&e, before, wild, "not a live slab object", "free page");
	before = e.count;
	CHECK_EQ(sm_ksize(wild), 0);
	expect_report(&e, before, wild, "ksize of", "not a live object");
	/* The descriptor of obj is untouched: obj is still a live object. */
	CHECK_EQ(sm_ksize(obj), 128);
	sm_kfree(obj);
	check_intact(inst, &e, 128, NULL);
	sm_instance_destroy(inst);

	/* A 1 MiB node inside its 64 MiB reservation: the rest of the
	   reservation past its data is neither metadata nor data. */
	struct sm_options o = test_options(&e);
	o.node_size = (size_t)1 << 20;
	inst = sm_instance_create(&o);
	CHECK(inst != NULL);
	n = inst->pa.nodes[0];
	CHECK((size_t)n->npages << SM_PAGE_SHIFT <= ((size_t)1 << 20));
	void *beyond[] = { n->data + ((size_t)n->npages << SM_PAGE_SHIFT), (void *)(n->base + n->reserved - 8) };
	for (unsigned i = 0; i < 2; i++) {
		CHECK(node_of(beyond[i]) == n);
		before = e.count;
		sm_kfree(beyond[i]);
		expect_report(&e, before, beyond[i], "not an object (node metadata or huge mapping)", NULL);
	}
	check_intact(inst, &e, 128, NULL);
	sm_instance_destroy(inst);
}

/* ---- double frees ---- */

static void test_double_free_fast(void)
{
	struct test_errors e = { 0 };
	sm_instance_t *inst = new_instance(&e);
	int before;

	/* The very first free fills the sheaf (64 objects of kmalloc-64 were
	   taken, one handed out); the second free finds it full. */
	void *p = sm_kmalloc(inst, 64, 0);
	sm_kfree(p);
	before = e.count;
	sm_kfree(p);
	expect_report(&e, before, p, "double free of", "in cache kmalloc-64");
	CHECK_EQ(check_intact(inst, &e, 64, p), 1);

	/* With room left in the sheaf. */
	void *a = sm_kmalloc(inst, 64, 0), *b = sm_kmalloc(inst, 64, 0);
	void *c = sm_kmalloc(inst, 64, 0);
	sm_kfree(b);
	before = e.count;
	sm_kfree(b);
	expect_report(&e, before, b, "double free of", "in cache kmalloc-64");
	CHECK_EQ(check_intact(inst, &e, 64, b), 1);
	sm_kfree(a);
	sm_kfree(c);

	/* The same through sm_cache_free. */
	sm_cache_t *s = sm_cache_create(inst, "df-cache", 200, 0, 0, NULL);
	void *x = sm_cache_alloc(s, 0);
	sm_cache_free(s, x);
	before = e.count;
	sm_cache_free(s, x);
	expect_report(&e, before, x, "double free of", "in cache df-cache");
	void *y[50];
	unsigned seen = 0;
	for (unsigned i = 0; i < 50; i++) {
		y[i] = sm_cache_alloc(s, 0);
		seen += y[i] == x;
	}
	CHECK_EQ(seen, 1);
	for (unsigned i = 0; i < 50; i++)
		sm_cache_free(s, y[i]);
	CHECK_EQ(sm_cache_destroy(s), 0);
	CHECK_EQ(e.count, before + 1);
	sm_instance_destroy(inst);
}

/*
 * Slab-level detection.  An instance with 4-object sheaves and no barn, so
 * that which free flushes which sheaf is known exactly (tcache.c,
 * tcache_make_room: with a full main and a full spare, a free flushes the
 * spare to the slabs, and the full main becomes the spare).  kmalloc-512
 * slabs are one page of 8 objects.
 */
static sm_instance_t *slab_level_instance(struct test_errors *e, unsigned slab_max_empty)
{
	struct sm_options o = test_options(e);
	o.os = &frozen_os;
	o.sheaf_capacity = 4;
	o.barn_max_full = 0;
	o.barn_max_empty = 0;
	o.slab_max_empty = slab_max_empty;
	sm_instance_t *inst = sm_instance_create(&o);
	CHECK(inst != NULL);
	return inst;
}

/* Allocate 8 full slabs of kmalloc-512; sl[k][j] is object j of slab k. */
static void fill_slabs(sm_instance_t *inst, void *sl[8][8])
{
	void *v[64];
	for (unsigned i = 0; i < 64; i++) {
		v[i] = sm_kmalloc(inst, 512, 0);
		CHECK(v[i] != NULL);
	}
	qsort(v, 64, sizeof(v[0]), cmp_ptr);
	for (unsigned k = 0; k < 8; k++)
		for (unsigned j = 0; j < 8; j++) {
			sl[k][j] = v[k * 8 + j];
			CHECK_EQ((uintptr_t)sl[k][j] & ~(uintptr_t)4095, (uintptr_t)sl[k][0]);
		}
	/* This thread's main sheaf of kmalloc-512 is empty now, no spare. */
	struct tcache *tc = sm_thread.slots[inst->slot].tc;
	struct kmem_cache *s = &inst->kmalloc_caches[kmalloc_index(512)];
	CHECK_EQ(tcache_pcs(tc, s->id)->main.size, 0);
	CHECK(tcache_pcs(tc, s->id)->spare == NULL);
}

static struct slab *slab_head_of(void *p)
{
	struct sm_node *n = node_of(p);
	return &n->descs[n->descs[node_page_index(n, p)].head];
}

/* Frees 1-8: main = slab 0's last four objects, spare = its first four (both full). */
static void prime_sheaves(void *sl[8][8])
{
	for (unsigned j = 0; j < 8; j++)
		sm_kfree(sl[0][j]);
}

static void test_double_free_slab_freelist_head(void)
{
	struct test_errors e = { 0 };
	sm_instance_t *inst = slab_level_instance(&e, 64);
	void *sl[8][8];
	fill_slabs(inst, sl);
	prime_sheaves(sl);
	void *p = sl[1][0];
	struct slab *d1 = slab_head_of(p);
	CHECK_EQ(d1->inuse, 8);

	sm_kfree(p);                 /* flushes the spare (s0_0..3); main = [p] */
	for (unsigned j = 0; j < 3; j++)
		sm_kfree(sl[2][j]);  /* main = [p, s2_0, s2_1, s2_2] */
	sm_kfree(sl[2][3]);          /* flushes s0_4..7; spare = [p, s2_0, s2_1, s2_2] */
	for (unsigned j = 4; j < 7; j++)
		sm_kfree(sl[2][j]);  /* main = [s2_3 .. s2_6] */
	CHECK_EQ(d1->inuse, 8);
	sm_kfree(sl[2][7]);          /* flushes the spare: p is pushed last onto slab 1 */
	CHECK_EQ(d1->inuse, 7);
	CHECK(d1->freelist == (uintptr_t)p);
	CHECK_EQ(e.count, 0);

	/* Its free word carries the free tag (the freelist link): the second
	   free is caught at the call, and p goes nowhere. */
	int before = e.count;
	sm_kfree(p);
	expect_report(&e, before, p, "double free of", "in cache kmalloc-512");
	sm_kfree(sl[3][0]);
	sm_kfree(sl[3][1]);
	sm_kfree(sl[3][2]);
	CHECK_EQ(e.count, before + 1);
	CHECK_EQ(d1->inuse, 7); /* dropped: nothing changed in slab 1 */
	CHECK(d1->freelist == (uintptr_t)p);
	CHECK_EQ(check_intact(inst, &e, 512, p), 1);
	sm_instance_destroy(inst);
}

static void test_double_free_slab_empty(void)
{
	struct test_errors e = { 0 };
	sm_instance_t *inst = slab_level_instance(&e, 64);
	void *sl[8][8];
	fill_slabs(inst, sl);
	prime_sheaves(sl);
	struct slab *d1 = slab_head_of(sl[1][0]);
	for (unsigned j = 0; j < 8; j++)
		sm_kfree(sl[1][j]);  /* flushes slab 0's objects; main = s1_4..7, spare = s1_0..3 */
	for (unsigned j = 0; j < 4; j++)
		sm_kfree(sl[2][j]);  /* flushes s1_0..3; spare = s1_4..7 */
	CHECK_EQ(d1->inuse, 4);
	sm_kfree(sl[2][4]);          /* flushes slab 1's last four: slab 1 is empty */
	CHECK_EQ(d1->inuse, 0);
	CHECK_EQ(d1->on_list, 2);    /* on the empty list, kept */
	CHECK(d1->freelist == (uintptr_t)sl[1][7]);

	void *p = sl[1][0];          /* not at the head of the freelist */
	int before = e.count;
	sm_kfree(p);                 /* its free word says free: caught at the call */
	expect_report(&e, before, p, "double free of", "in cache kmalloc-512");
	sm_kfree(sl[2][5]);
	sm_kfree(sl[2][6]);
	sm_kfree(sl[2][7]);
	sm_kfree(sl[3][0]);          /* flushes [s2_0, s2_1, s2_2, s2_3] */
	CHECK_EQ(e.count, before + 1);
	CHECK_EQ(d1->inuse, 0);
	CHECK(d1->freelist == (uintptr_t)sl[1][7]);
	CHECK_EQ(check_intact(inst, &e, 512, p), 1);
	sm_instance_destroy(inst);
}

static void test_double_free_discarded_slab(void)
{
	struct test_errors e = { 0 };
	sm_instance_t *inst = slab_level_instance(&e, 0); /* empty slabs go back at once */
	void *sl[8][8];
	fill_slabs(inst, sl);
	prime_sheaves(sl);
	for (unsigned j = 0; j < 8; j++)
		sm_kfree(sl[1][j]);
	for (unsigned j = 0; j < 5; j++)
		sm_kfree(sl[2][j]);  /* slab 1 empty (above): handed back to the node */
	struct sm_node *n = node_of(sl[1][0]);
	CHECK(n->descs[node_page_index(n, sl[1][0])].type != PT_SLAB);

	/* Now caught at once, without touching the page. */
	void *p = sl[1][3];
	int before = e.count;
	sm_kfree(p);
	expect_report(&e, before, p, "not a live slab object", "free page");
	CHECK_EQ(check_intact(inst, &e, 512, NULL), 0);
	sm_instance_destroy(inst);
}

/* ---- sm_ptr_instance ---- */

static void test_ptr_instance(void)
{
	struct test_errors e1 = { 0 }, e2 = { 0 };
	sm_instance_t *a = new_instance(&e1), *b = new_instance(&e2);
	CHECK(a != b);
	const size_t sizes[] = { 1, 100, 4096, 32768, 40000, (size_t)1 << 20, (size_t)3 << 20 };
	for (unsigned i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		void *pa = sm_kmalloc(a, sizes[i], 0), *pb = sm_kmalloc(b, sizes[i], 0);
		CHECK(pa && pb);
		CHECK(sm_ptr_instance(pa) == a);
		CHECK(sm_ptr_instance(pb) == b);
		CHECK(sm_ptr_instance((char *)pa + sizes[i] - 1) == a);
		sm_kfree(pa);
		sm_kfree(pb);
	}
	sm_cache_t *s = sm_cache_create(b, "ptr-cache", 24, 0, 0, NULL);
	void *o = sm_cache_alloc(s, 0);
	CHECK(sm_ptr_instance(o) == b);
	sm_cache_free(s, o);
	CHECK_EQ(sm_cache_destroy(s), 0);

	char stack_buf[16];
	char *m = malloc(64);
	CHECK(sm_ptr_instance(stack_buf) == NULL);
	CHECK(sm_ptr_instance(global_buf) == NULL);
	CHECK(sm_ptr_instance(m) == NULL);
	CHECK(sm_ptr_instance(NULL) == NULL);
	CHECK(sm_ptr_instance((void *)(uintptr_t)0xffff800000000000ull) == NULL);
	free(m);
	CHECK_EQ(e1.count, 0);
	CHECK_EQ(e2.count, 0);

	/* After destroy, the instance's addresses are foreign. */
	void *pb = sm_kmalloc(b, 100, 0);
	sm_instance_destroy(b);
	CHECK(sm_ptr_instance(pb) == NULL);
	sm_instance_destroy(a);
}

/* ---- writes into free objects, found as malloc hands them out ---- */

/* Allocate up to 300 objects of @size until @p comes back; one report naming it. */
static void expect_overwritten(sm_instance_t *inst, const struct test_errors *e, size_t size,
			       const void *p, bool in_sheaf)
{
	void *v[300];
	int before = e->count;
	unsigned n, back = 0;
	for (n = 0; n < 300; n++) {
		v[n] = sm_kmalloc(inst, size, 0);
		CHECK(v[n] != NULL);
		if (v[n] == p) {
			back = 1;
			n++;
			break;
		}
	}
	CHECK_EQ(back, 1); /* handed out all the same (report sink goes on) */
	char name[32];
	if (in_sheaf) {
		snprintf(name, sizeof(name), "of cache kmalloc-%zu", size);
		expect_report(e, before, p, "was written while free", name);
		CHECK(strstr(e->last, "is 0x4141414141414141") != NULL); /* the word found */
	} else { /* on its slab's freelist: the link is found broken */
		snprintf(name, sizeof(name), "in cache kmalloc-%zu", size);
		expect_report(e, before, p, "corrupted freelist", name);
	}
	CHECK_EQ(*(const uint64_t *)p, 0); /* its free word cleared: a live object */
	while (n)
		sm_kfree(v[--n]);
}

static void test_write_after_free(void)
{
	struct test_errors e = { 0 };
	sm_instance_t *inst = new_instance(&e);

	/* A use after free of the first word: found when it is handed out. */
	void *p = sm_kmalloc(inst, 64, 0);
	sm_kfree(p);
	memset(p, 'A', 8);
	expect_overwritten(inst, &e, 64, p, true);
	sm_kfree(p);

	/* An 8-byte overflow of a live object b into its free neighbour a,
	   which the flush sent home to its slab. */
	void *a = sm_kmalloc(inst, 128, 0), *b = sm_kmalloc(inst, 128, 0);
	if ((char *)a < (char *)b) { /* a: the upper one, freed */
		void *t = a;
		a = b;
		b = t;
	}
	CHECK((char *)b + 128 == (char *)a);
	sm_kfree(a);
	sm_thread_flush(inst); /* main held a: now on its slab's freelist */
	memset((char *)b + 128, 'A', 8);
	expect_overwritten(inst, &e, 128, a, false);
	sm_kfree(a);
	sm_kfree(b);

	/* A write past the free word is not seen: nothing reported. */
	void *c = sm_kmalloc(inst, 64, 0);
	sm_kfree(c);
	int before = e.count;
	((char *)c)[40] = 'A';
	void *v[300];
	for (unsigned i = 0; i < 300; i++)
		v[i] = sm_kmalloc(inst, 64, 0);
	for (unsigned i = 0; i < 300; i++)
		sm_kfree(v[i]);
	CHECK_EQ(e.count, before);
	sm_instance_destroy(inst);
}

/* ---- the allocator's own objects ---- */

/* A main sheaf of @inst's kmalloc-@size: one object freed onto it first. */
static struct slab_sheaf *a_main_sheaf(sm_instance_t *inst, size_t size)
{
	void *obj = sm_kmalloc(inst, size, 0);
	CHECK(obj != NULL);
	sm_kfree(obj);
	struct tcache *tc = tcache_peek(inst);
	CHECK(tc != NULL);
	struct sheaf_view *v = &tcache_pcs(tc, obj_cache(obj)->id)->main;
	CHECK(v->capacity > 0 && v->size > 0 && v->objects[v->size - 1] == obj);
	return container_of((void *)v->objects, struct slab_sheaf, objects);
}

/*
 * The program frees, reallocs or frees through the nolock path what it
 * never got: a sheaf (a kmalloc object, which carries its kmalloc cache's
 * free tag so that the double-free check sees it), a thread's tcache and
 * its remote views (page runs marked PT_INTERNAL), a cache's descriptor.
 * Each is reported by name and goes on working.
 */
static void *alloc_128(void *arg)
{
	return sm_kmalloc(arg, 128, 0);
}

static void test_internal_in(sm_instance_t *inst, struct test_errors *e, bool dflt, bool sheaves)
{
	int before;
	/* No tcache, so no sheaf, under Valgrind. */
	if (sheaves && !under_valgrind()) {
		struct slab_sheaf *sh = a_main_sheaf(inst, 128);
		CHECK(obj_cache_any(sh) != NULL && obj_cache_any(sh) == sh->cache->sheaf_cache);
		before = e->count;
		sm_kfree(sh);
		expect_report(e, before, sh, "slabmalloc's own object", "a sheaf of cache kmalloc-128");
		before = e->count;
		sm_kfree_nolock(sh);
		expect_report(e, before, sh, "slabmalloc's own object", "a sheaf of cache kmalloc-128");
		before = e->count;
		void *q = sm_krealloc(sh, 8192, 0); /* moved: the old one freed, reported */
		expect_report(e, before, sh, "slabmalloc's own object", "a sheaf of cache kmalloc-128");
		sm_kfree(q);
		before = e->count;
		CHECK_EQ(sm_ksize(sh), 0);
		expect_report(e, before, sh, "ksize of", "a sheaf of cache kmalloc-128");
		CHECK(a_main_sheaf(inst, 128) == sh); /* still the thread's main */

		struct tcache *tc = tcache_peek(inst);
		before = e->count;
		sm_kfree(tc);
		expect_report(e, before, tc, "slabmalloc's own memory", "a thread's cache");
		before = e->count;
		errno = 0;
		CHECK(sm_krealloc(tc, 100, 0) == NULL && errno == EINVAL);
		expect_report(e, before, tc, "slabmalloc's own memory", NULL);
		before = e->count;
		sm_kfree((char *)tc + 64); /* interior */
		expect_report(e, before, (char *)tc + 64, "slabmalloc's own memory", NULL);
		CHECK(tcache_peek(inst) == tc);

		/* The remote views, made by the free of another thread's object
		   (the default instance's are in the TLS block). */
		if (!dflt) {
			pthread_t t;
			void *obj;
			CHECK(pthread_create(&t, NULL, alloc_128, inst) == 0);
			CHECK(pthread_join(t, &obj) == 0 && obj != NULL);
			sm_kfree(obj);
			CHECK(tc->remote != (struct sheaf_view *)sm_no_remote_views);
			before = e->count;
			sm_kfree(tc->remote);
			expect_report(e, before, tc->remote, "slabmalloc's own memory", NULL);
		}
	}

	sm_cache_t *c = sm_cache_create(inst, "internal96", 96, 0, 0, NULL);
	CHECK(c != NULL);
	before = e->count;
	sm_kfree(c);
	expect_report(e, before, c, "the descriptor of the live cache internal96", NULL);
	before = e->count;
	CHECK_EQ(sm_ksize(c), 0);
	expect_report(e, before, c, "ksize of", "the descriptor of the live cache internal96");
	if (inst->pa.harden) { /* hardened realloc checks before it moves */
		before = e->count;
		errno = 0;
		CHECK(sm_krealloc(c, 4096, 0) == NULL && errno == EINVAL);
		expect_report(e, before, c, "realloc of", "the descriptor of the live cache internal96");
	}
	void *o = sm_cache_alloc(c, 0);
	CHECK(o != NULL);
	sm_cache_free(c, o);
	CHECK_EQ(sm_cache_destroy(c), 0);

	/* A program object that happens to carry the tag where a sheaf has
	   its mark is still freed (the double-free check finds it live). */
	void *x = sm_kmalloc(inst, 512, 0);
	CHECK(x != NULL);
	struct slab_sheaf *fake = x;
	fake->mark = cache_free_tag(obj_cache_any(x));
	fake->cache = obj_cache_any(x);
	before = e->count;
	sm_kfree(x);
	CHECK_EQ(e->count, before);
	struct sm_stats st;
	sm_stats_get(inst, &st);
	CHECK_EQ(st.frees_kept, 0);
	check_intact(inst, e, 128, NULL);
	check_intact(inst, e, 512, NULL);
}

static void test_internal(void)
{
	struct test_errors e = { 0 };
	sm_instance_t *inst = new_instance(&e);
	test_internal_in(inst, &e, false, true);
	sm_instance_destroy(inst);
	/* Hardened mode has no sheaves; slab_debug's free word is after the
	   object (its free looks at the marks itself): kmalloc-512's, where
	   kmalloc-128's sheaves are, and then every cache's. */
	for (unsigned mode = 0; mode < 3; mode++) {
		struct sm_options o = test_options(&e);
		o.os = &frozen_os;
		o.harden = mode == 0;
		o.debug = mode ? SM_CACHE_DEBUG_ALL : 0;
		o.debug_caches = mode == 1 ? "kmalloc-512" : NULL;
		inst = sm_instance_create(&o);
		CHECK(inst != NULL);
		test_internal_in(inst, &e, false, mode == 1);
		sm_instance_destroy(inst);
	}
	test_internal_in(sm_default_instance(), &default_errs, true, true);
}

int main(void)
{
	struct sm_options o = test_options(&default_errs);
	sm_instance_t *def = sm_default_instance_init(&o);
	CHECK(def == sm_default_instance());
	CHECK(def->opts.error_arg == &default_errs);

	test_foreign();
	test_interior();
	test_metadata();
	test_double_free_fast();
	test_double_free_slab_freelist_head();
	test_double_free_slab_empty();
	test_double_free_discarded_slab();
	test_ptr_instance();
	test_internal();
	test_write_after_free(); /* last: its broken freelist strands a slab */
	printf("bad_input: ok\n");
	return 0;
}
