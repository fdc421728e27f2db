/*
 * test_size_classes.c - the kmalloc size classes, the slab geometry of every
 * class, and what sm_kmalloc / sm_kmalloc_aligned / sm_ksize promise for
 * small objects, page runs and huge mappings.
 */
#include <errno.h>

#include "test.h"
#include "instance.h"
#include "kmem_cache.h"
#include "large.h"
#include "node.h"
#include "size_classes.h"

/* A clock that never moves: no delayed purge can run during the test. */
static uint64_t frozen_clock(void *arg)
{
	(void)arg;
	return 1000;
}
static const struct sm_os_ops frozen_os = { .now_ns = frozen_clock };

static size_t lowbit(size_t x)
{
	return x & (~x + 1);
}

/* The alignment slabmalloc.h promises for a small object of class size @c. */
static size_t class_align(size_t c)
{
	size_t a = lowbit(c);
	if (a > 4096)
		a = 4096;
	if (a < 8)
		a = 8;
	return a;
}

/* Fill all @n bytes at @p with a pattern derived from @seed and check it reads back. */
static void write_check(void *p, size_t n, unsigned seed)
{
	unsigned char *c = p;
	for (size_t i = 0; i < n; i++)
		c[i] = (unsigned char)(i * 31 + seed);
	for (size_t i = 0; i < n; i++)
		if (c[i] != (unsigned char)(i * 31 + seed)) {
			fprintf(stderr, "byte %zu of %zu at %p: %u\n", i, n, p, c[i]);
			CHECK(0);
		}
}

static int all_zero(const void *p, size_t n)
{
	const unsigned char *c = p;
	for (size_t i = 0; i < n; i++)
		if (c[i])
			return 0;
	return 1;
}

static sm_instance_t *new_instance(struct test_errors *e, size_t huge_threshold)
{
	struct sm_options o = test_options(e);
	o.os = &frozen_os;
	if (huge_threshold)
		o.huge_threshold = huge_threshold;
	sm_instance_t *inst = sm_instance_create(&o);
	CHECK(inst != NULL);
	return inst;
}

/* ---- the class table ---- */

static void test_class_table(void)
{
	/* malloc's lookup table agrees with the arithmetic for every size it serves. */
	for (size_t n = 9; n <= SM_MALLOC_TABLE_MAX; n++)
		CHECK_EQ(malloc_fclass32(n), (kmalloc_index(ALIGN_UP(n, 16)) + 1) * 32);
	unsigned nr = sm_kmalloc_nr_classes();
	CHECK_EQ(nr, SM_NR_KMALLOC);
	CHECK_EQ(nr, 44);
	CHECK_EQ(sm_kmalloc_class_size(0), 8);
	CHECK_EQ(sm_kmalloc_class_size(nr - 1), SM_KMALLOC_MAX_CACHE_SIZE);
	CHECK_EQ(sm_kmalloc_class_size(nr), 0);
	CHECK_EQ(sm_kmalloc_class_size(1000), 0);
	for (unsigned i = 0; i < nr; i++) {
		size_t c = sm_kmalloc_class_size(i);
		CHECK_EQ(c, kmalloc_class_size(i));
		CHECK_EQ(c % 8, 0);
		/* the index of a class size is the class itself */
		CHECK_EQ(kmalloc_index(c), i);
		if (i)
			CHECK(c > sm_kmalloc_class_size(i - 1));
		if (i < 8)
			CHECK_EQ(c, (i + 1) * 8);
	}
	/* A few fixed points of the table. */
	CHECK_EQ(kmalloc_class_size(8), 80);
	CHECK_EQ(kmalloc_class_size(11), 128);
	CHECK_EQ(kmalloc_class_size(12), 160);
	CHECK_EQ(kmalloc_index(65), 8);
	CHECK_EQ(kmalloc_index(0), 0);

	/* Every request size maps to the smallest class that holds it. */
	for (size_t size = 1; size <= SM_KMALLOC_MAX_CACHE_SIZE; size++) {
		unsigned i = kmalloc_index(size);
		CHECK(i < nr);
		size_t c = kmalloc_class_size(i);
		if (c < size || (i > 0 && kmalloc_class_size(i - 1) >= size)) {
			fprintf(stderr, "size %zu -> class %u (%zu bytes)\n", size, i, c);
			CHECK(0);
		}
		/* Rounding waste: < 20% of the block above 64 bytes, <= 7 bytes below. */
		if (size > 64)
			CHECK((c - size) * 5 < c);
		else
			CHECK_LE(c - size, 7);
	}
}

/* ---- slab geometry ---- */

static void test_geometry(void)
{
	unsigned nr = sm_kmalloc_nr_classes();
	printf("%8s %6s %8s %7s\n", "class", "pages", "objects", "tail%");
	for (unsigned i = 0; i < nr; i++) {
		size_t c = kmalloc_class_size(i);
		unsigned pages = 0, objects = 0;
		slab_geometry(c, &pages, &objects);
		size_t bytes = (size_t)pages * SM_PAGE_SIZE;
		size_t tail = bytes - (size_t)objects * c;
		printf("%8zu %6u %8u %6.2f%%\n", c, pages, objects, 100.0 * (double)tail / (double)bytes);
		CHECK(pages >= 1 && pages <= 32);
		CHECK_EQ(objects, bytes / c);
		CHECK_LE(tail * 16, bytes);                   /* <= 6.25% wasted */
		CHECK(objects >= (c <= 4096 ? 8u : 4u));
	}
	/* Geometry for the sizes a user cache may round to, not only the classes. */
	for (size_t sz = 8; sz <= SM_KMALLOC_MAX_CACHE_SIZE; sz += 8) {
		unsigned pages = 0, objects = 0;
		slab_geometry(sz, &pages, &objects);
		CHECK(pages >= 1 && pages <= 32);
		CHECK(objects >= 1);
		CHECK_EQ(objects, (size_t)pages * SM_PAGE_SIZE / sz);
	}
}

/* The kmalloc caches of an instance use exactly that geometry. */
struct foreach_state {
	unsigned seen;
};

static void check_kmalloc_stats(const struct sm_cache_stats *st, void *arg)
{
	struct foreach_state *fs = arg;
	unsigned i = fs->seen++;
	if (i >= SM_NR_KMALLOC)
		return;
	size_t c = kmalloc_class_size(i);
	char name[32];
	snprintf(name, sizeof(name), "kmalloc-%zu", c);
	CHECK(strcmp(st->name, name) == 0);
	unsigned pages = 0, objects = 0;
	slab_geometry(c, &pages, &objects);
	CHECK_EQ(st->object_size, c);
	CHECK_EQ(st->pages_per_slab, pages);
	CHECK_EQ(st->objects_per_slab, objects);
}

static void test_kmalloc_caches_geometry(void)
{
	sm_instance_t *inst = new_instance(NULL, 0);
	struct foreach_state fs = { 0 };
	sm_cache_foreach(inst, check_kmalloc_stats, &fs);
	CHECK_EQ(fs.seen, SM_NR_KMALLOC);
	struct sm_stats st;
	sm_stats_get(inst, &st);
	CHECK_EQ(st.caches, SM_NR_KMALLOC);
	sm_instance_destroy(inst);
}

/* ---- small objects ---- */

static void check_small_object(void *p, size_t req, unsigned seed)
{
	CHECK(p != NULL);
	/* Without an explicit alignment, requests above 8 bytes round to 16. */
	size_t r = req > 8 ? (req + 15) & ~(size_t)15 : req;
	size_t c = kmalloc_class_size(kmalloc_index(r));
	CHECK_EQ(sm_ksize(p), c);
	if (req > 8)
		CHECK_EQ((uintptr_t)p % 16, 0);
	size_t a = class_align(c);
	if ((uintptr_t)p % a) {
		fprintf(stderr, "object %p of class %zu not %zu-aligned\n", p, c, a);
		CHECK(0);
	}
	CHECK_EQ((uintptr_t)p % 8, 0);
	if (c % 16 == 0)
		CHECK_EQ((uintptr_t)p % 16, 0);
	write_check(p, c, seed);
}

static void test_small_objects(void)
{
	struct test_errors e = { 0 };
	sm_instance_t *inst = new_instance(&e, 0);
	unsigned nr = sm_kmalloc_nr_classes();
	int vg = under_valgrind();

	/* Every class size, one below and one above, several objects each so
	   that different slab offsets (and more than one slab) are covered. */
	for (unsigned i = 0; i < nr; i++) {
		size_t c = kmalloc_class_size(i);
		unsigned pages, objects;
		slab_geometry(c, &pages, &objects);
		unsigned n = objects + 1;
		if (vg && n > 20)
			n = 20;
		size_t reqs[3] = { c - 1, c, c + 1 };
		for (unsigned r = 0; r < 3; r++) {
			if (reqs[r] > SM_KMALLOC_MAX_CACHE_SIZE)
				continue; /* 32769: a page run, tested below */
			void **v = calloc(n, sizeof(*v));
			CHECK(v != NULL);
			for (unsigned k = 0; k < n; k++) {
				v[k] = sm_kmalloc(inst, reqs[r], 0);
				check_small_object(v[k], reqs[r], k + r);
				CHECK(sm_ptr_instance(v[k]) == inst);
			}
			/* Distinct objects that do not overlap (contents intact). */
			for (unsigned k = 0; k < n; k++) {
				const unsigned char *b = v[k];
				size_t cs = sm_ksize(v[k]);
				for (size_t j = 0; j < cs; j += 97)
					CHECK_EQ(b[j], (unsigned char)(j * 31 + k + r));
			}
			for (unsigned k = 0; k < n; k++)
				sm_kfree(v[k]);
			free(v);
		}
	}

	/* Every request size 1..32768 gets the class that holds it. */
	size_t step = vg ? 61 : 1;
	for (size_t size = 1; size <= SM_KMALLOC_MAX_CACHE_SIZE; size += step) {
		void *p = sm_kmalloc(inst, size, 0);
		CHECK(p != NULL);
		size_t r = size > 8 ? (size + 15) & ~(size_t)15 : size; /* malloc's 16-byte rule */
		CHECK_EQ(sm_ksize(p), kmalloc_class_size(kmalloc_index(r)));
		CHECK_EQ((uintptr_t)p % class_align(sm_ksize(p)), 0);
		if (size > 8)
			CHECK_EQ((uintptr_t)p % 16, 0);
		/* An explicit 8-byte alignment reaches every class, 24/40/56 included. */
		void *q = sm_kmalloc_aligned(inst, size, 8, 0);
		CHECK_EQ(sm_ksize(q), kmalloc_class_size(kmalloc_index(size)));
		sm_kfree(q);
		/* A type whose alignment is a power of two up to 4096 has a size that
		   is a multiple of it: a request of that size gets that alignment. */
		CHECK_EQ((uintptr_t)p % (lowbit(size) < 4096 ? lowbit(size) : 4096), 0);
		((char *)p)[size - 1] = 1;
		sm_kfree(p);
	}

	/* Size 0: a unique minimum-size object. */
	void *z1 = sm_kmalloc(inst, 0, 0), *z2 = sm_kmalloc(inst, 0, 0);
	CHECK(z1 != NULL && z2 != NULL && z1 != z2);
	CHECK_EQ(sm_ksize(z1), 8);
	CHECK_EQ(sm_ksize(z2), 8);
	sm_kfree(z1);
	sm_kfree(z2);
	CHECK_EQ(sm_ksize(NULL), 0);
	CHECK_EQ(e.count, 0);
	sm_instance_destroy(inst);
}

/* ---- page runs and huge mappings ---- */

static void test_large(void)
{
	struct test_errors e = { 0 };
	sm_instance_t *inst = new_instance(&e, 0);
	struct sm_stats st;

	const size_t sizes[] = { SM_KMALLOC_MAX_CACHE_SIZE + 1, 40000, (size_t)1 << 20, (size_t)5 << 20 };
	const size_t expect[] = { 36864, 40960, (size_t)1 << 20, (size_t)5 << 20 };
	void *v[4];
	for (unsigned i = 0; i < 4; i++) {
		v[i] = sm_kmalloc(inst, sizes[i], 0);
		CHECK(v[i] != NULL);
		CHECK_EQ((uintptr_t)v[i] % SM_PAGE_SIZE, 0);
		CHECK_EQ(sm_ksize(v[i]), expect[i]);
		struct sm_node *n = node_of(v[i]);
		CHECK(n != NULL && n->kind == NODE_NORMAL);
		CHECK(sm_ptr_instance(v[i]) == inst);
		write_check(v[i], expect[i], i);
	}
	sm_stats_get(inst, &st);
	CHECK_EQ(st.huge_allocations, 0);
	CHECK_EQ(st.large_bytes, expect[0] + expect[1] + expect[2] + expect[3]);
	for (unsigned i = 0; i < 4; i++)
		sm_kfree(v[i]);
	sm_stats_get(inst, &st);
	CHECK_EQ(st.large_bytes, 0);
	CHECK_EQ(e.count, 0);
	sm_instance_destroy(inst);
}

static void test_huge(void)
{
	struct test_errors e = { 0 };
	const size_t thr = (size_t)2 << 20;
	sm_instance_t *inst = new_instance(&e, thr);
	struct sm_stats st;

	/* Exactly the threshold: still a page run of a node. */
	void *a = sm_kmalloc(inst, thr, 0);
	CHECK(a != NULL);
	CHECK(node_of(a)->kind == NODE_NORMAL);
	CHECK_EQ(sm_ksize(a), thr);
	sm_stats_get(inst, &st);
	CHECK_EQ(st.huge_allocations, 0);

	/* Above it: a mapping of its own, page-rounded. */
	size_t sz = thr + 1;
	void *h = sm_kmalloc(inst, sz, 0);
	CHECK(h != NULL);
	CHECK_EQ((uintptr_t)h % SM_PAGE_SIZE, 0);
	struct sm_node *hn = node_of(h);
	CHECK(hn != NULL && hn->kind == NODE_HUGE);
	CHECK(hn != node_of(a));
	CHECK(sm_ptr_instance(h) == inst);
	CHECK_EQ(sm_ksize(h), thr + SM_PAGE_SIZE);
	CHECK(all_zero(h, thr + SM_PAGE_SIZE));
	write_check(h, thr + SM_PAGE_SIZE, 7);

	void *h2 = sm_kmalloc_aligned(inst, (size_t)3 << 20, 65536, 0);
	CHECK(h2 != NULL);
	CHECK_EQ((uintptr_t)h2 % 65536, 0);
	CHECK(node_of(h2)->kind == NODE_HUGE);
	CHECK_EQ(sm_ksize(h2), (size_t)3 << 20);
	write_check(h2, (size_t)3 << 20, 8);

	sm_stats_get(inst, &st);
	CHECK_EQ(st.huge_allocations, 2);
	CHECK_EQ(st.large_bytes, thr + (thr + SM_PAGE_SIZE) + ((size_t)3 << 20));
	CHECK_EQ(st.nodes, 1); /* huge mappings are not nodes of the instance */

	/* realloc grows a huge mapping in place while its 64 MiB reservation
	   has room (fresh pages: zero), and moves it beyond. */
	void *g = sm_kmalloc(inst, (size_t)20 << 20, 0);
	CHECK(g && node_of(g)->kind == NODE_HUGE);
	write_check(g, (size_t)20 << 20, 9);
	void *g2 = sm_krealloc(g, (size_t)50 << 20, SM_GFP_ZERO);
	CHECK(g2 == g);
	CHECK_EQ(sm_ksize(g2), (size_t)50 << 20);
	CHECK(all_zero((char *)g2 + ((size_t)20 << 20), (size_t)30 << 20));
	write_check(g2, (size_t)50 << 20, 10);
	sm_stats_get(inst, &st);
	CHECK_EQ(st.huge_bytes, (thr + SM_PAGE_SIZE) + ((size_t)3 << 20) + ((size_t)50 << 20));
	void *g3 = sm_krealloc(g2, (size_t)70 << 20, 0);
	CHECK(g3 != NULL && g3 != g2);
	for (size_t i = 0; i < ((size_t)50 << 20); i += 4093)
		CHECK_EQ(((unsigned char *)g3)[i], (unsigned char)(i * 31 + 10)); /* copied */
	sm_kfree(g3);

	sm_kfree(h);
	sm_stats_get(inst, &st);
	CHECK_EQ(st.huge_allocations, 1);
	/* The mapping is gone: the address no longer belongs to any instance. */
	CHECK(sm_ptr_instance(h) == NULL);
	CHECK(node_of(h) == NULL);
	sm_kfree(h2);
	sm_kfree(a);
	sm_stats_get(inst, &st);
	CHECK_EQ(st.huge_allocations, 0);
	CHECK_EQ(st.large_bytes, 0);
	CHECK_EQ(e.count, 0);
	sm_instance_destroy(inst);
}

/* ---- sm_kmalloc_aligned ---- */

static void test_aligned(void)
{
	struct test_errors e = { 0 };
	sm_instance_t *inst = new_instance(&e, 0);
	const size_t sizes[] = { 1, 8, 24, 100, 1000, 3000, 5000, 32768, 40000, (size_t)1 << 20 };
	unsigned reps = under_valgrind() ? 3 : 12;

	for (unsigned si = 0; si < sizeof(sizes) / sizeof(sizes[0]); si++) {
		for (size_t al = 1; al <= 65536; al <<= 1) {
			void *v[12];
			for (unsigned r = 0; r < reps; r++) {
				void *p = sm_kmalloc_aligned(inst, sizes[si], al, 0);
				if (!p || (uintptr_t)p % al) {
					fprintf(stderr, "size %zu align %zu -> %p\n", sizes[si], al, p);
					CHECK(0);
				}
				size_t ks = sm_ksize(p);
				CHECK(ks >= sizes[si]);
				CHECK(sm_ptr_instance(p) == inst);
				write_check(p, ks < 65536 ? ks : 65536, r);
				v[r] = p;
			}
			for (unsigned r = 0; r < reps; r++)
				sm_kfree(v[r]);
		}
	}
	/* A small object aligned within a class keeps the smallest fitting class. */
	void *p = sm_kmalloc_aligned(inst, 24, 16, 0);
	CHECK(p != NULL);
	CHECK_EQ((uintptr_t)p % 16, 0);
	CHECK_EQ(sm_ksize(p), 32);
	sm_kfree(p);
	p = sm_kmalloc_aligned(inst, 100, 64, 0);
	CHECK(p != NULL);
	CHECK_EQ(sm_ksize(p), 128);
	sm_kfree(p);
	p = sm_kmalloc_aligned(inst, 1, 4096, 0);
	CHECK(p != NULL);
	CHECK_EQ(sm_ksize(p), 4096);
	sm_kfree(p);

	/* Up to SM_RUN_MAX_ALIGN a page run; above it a mapping of its own,
	   aligned by its reservation, also above the 64 MiB of the map's
	   granule (node_create_huge). */
	p = sm_kmalloc_aligned(inst, 100, SM_RUN_MAX_ALIGN, 0);
	CHECK(p != NULL);
	CHECK_EQ((uintptr_t)p % SM_RUN_MAX_ALIGN, 0);
	CHECK(node_of(p)->kind == NODE_NORMAL);
	sm_kfree(p);
	const size_t big_align[] = { SM_RUN_MAX_ALIGN * 2, (size_t)64 << 20, (size_t)128 << 20,
				     (size_t)1 << 30 };
	for (unsigned i = 0; i < sizeof(big_align) / sizeof(big_align[0]); i++) {
		const size_t sizes2[] = { 100, (size_t)40 << 20 };
		for (unsigned j = 0; j < 2; j++) {
			p = sm_kmalloc_aligned(inst, sizes2[j], big_align[i], 0);
			CHECK(p != NULL);
			CHECK_EQ((uintptr_t)p % big_align[i], 0);
			CHECK(node_of(p)->kind == NODE_HUGE);
			CHECK(sm_ksize(p) >= sizes2[j]);
			((volatile char *)p)[sizes2[j] - 1] = 1;
			sm_kfree(p);
		}
	}
	/* Above SM_MAX_ALIGN: ENOMEM at once, nothing reserved, whatever the size. */
	struct sm_stats st0, st1;
	sm_stats_get(inst, &st0);
	for (unsigned shift = 41; shift < 64; shift++) {
		errno = 0;
		CHECK(sm_kmalloc_aligned(inst, 1, (size_t)1 << shift, 0) == NULL);
		CHECK_EQ(errno, ENOMEM);
		errno = 0;
		CHECK(sm_kmalloc_aligned(inst, (size_t)1 << 20, (size_t)1 << shift, 0) == NULL);
		CHECK_EQ(errno, ENOMEM);
	}
	sm_stats_get(inst, &st1);
	CHECK_EQ(st1.nodes, st0.nodes);
	CHECK_EQ(st1.reserved_bytes, st0.reserved_bytes);
	CHECK_EQ(st1.huge_allocations, 0);

	/* Bad alignments: NULL with EINVAL (0 is not a power of two either). */
	const size_t bad[] = { 0, 3, 6, 24, 48, 4097, 12288 };
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		errno = 0;
		CHECK(sm_kmalloc_aligned(inst, 64, bad[i], 0) == NULL);
		CHECK_EQ(errno, EINVAL);
		errno = 0;
		CHECK(sm_kmalloc_aligned(inst, 100000, bad[i], 0) == NULL);
		CHECK_EQ(errno, EINVAL);
	}
	CHECK_EQ(e.count, 0);
	sm_instance_destroy(inst);
}

/* ---- SM_GFP_ZERO on reused memory ---- */

static void test_zero(void)
{
	struct test_errors e = { 0 };
	sm_instance_t *inst = new_instance(&e, 0);
	const size_t sizes[] = { 8, 24, 100, 512, 4000, 32768, 40000, (size_t)1 << 20 };
	for (unsigned i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t sz = sizes[i];
		void *p = sm_kmalloc(inst, sz, 0);
		CHECK(p != NULL);
		size_t ks = sm_ksize(p);
		memset(p, 0xa5, ks);
		sm_kfree(p);
		/* The same memory comes back (a slab object once main runs dry
		   and the spare the free went to becomes main: every object
		   until then is zeroed too; for page runs the dirty run,
		   possibly merged with a free neighbour first) ... */
		void *q, *held[1100];
		unsigned n = 0;
		for (;;) {
			q = sm_kmalloc(inst, sz, SM_GFP_ZERO);
			CHECK(q != NULL);
			if (sz > SM_KMALLOC_MAX_CACHE_SIZE || q == p)
				break;
			CHECK(all_zero(q, sm_ksize(q)));
			CHECK(n < 1100);
			held[n++] = q;
		}
		while (n)
			sm_kfree(held[--n]);
		if (sz > SM_KMALLOC_MAX_CACHE_SIZE)
			CHECK((char *)q < (char *)p + ks && (char *)p < (char *)q + ks);
		/* ... and all of its usable size reads as zero. */
		CHECK(all_zero(q, ks));
		memset(q, 0x5a, ks);
		sm_kfree(q);
		void *r = sm_kmalloc_aligned(inst, sz, 64, SM_GFP_ZERO);
		CHECK(r != NULL);
		CHECK(all_zero(r, sm_ksize(r)));
		sm_kfree(r);
		void *s = sm_kmalloc_node(inst, sz, SM_GFP_ZERO, 0);
		CHECK(s != NULL);
		CHECK(all_zero(s, sm_ksize(s)));
		sm_kfree(s);
	}
	CHECK_EQ(e.count, 0);
	sm_instance_destroy(inst);
}

int main(void)
{
	test_class_table();
	test_geometry();
	test_kmalloc_caches_geometry();
	test_small_objects();
	test_large();
	test_huge();
	test_aligned();
	test_zero();
	printf("size_classes: ok\n");
	return 0;
}
