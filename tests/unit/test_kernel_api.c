/*
 * test_kernel_api.c - <slabmalloc/kernel.h>: code that uses only the kernel's
 * slab names (kmalloc, kcalloc, krealloc, kmem_cache_create, KMEM_CACHE, ...)
 * gets the outcomes the kernel API promises, on the default instance.
 * Nothing below calls an sm_* function directly.
 */
#include <stdbool.h>
#include <stdint.h>

#include <slabmalloc/kernel.h>

#include "test.h"

/* True if all @n bytes at @p equal @c. */
static int all_bytes(const void *p, int c, size_t n)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++)
		if (b[i] != (unsigned char)c)
			return 0;
	return 1;
}

static void fill_pattern(void *p, size_t n, unsigned seed)
{
	unsigned char *b = p;
	for (size_t i = 0; i < n; i++)
		b[i] = (unsigned char)(i * 31u + seed);
}

static int has_pattern(const void *p, size_t n, unsigned seed)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++)
		if (b[i] != (unsigned char)(i * 31u + seed))
			return 0;
	return 1;
}

static void test_kmalloc_ksize(void)
{
	void *p = kmalloc(100, GFP_KERNEL);
	CHECK(p);
	CHECK_EQ(ksize(p), 112);               /* the kmalloc-112 class */
	memset(p, 0x5a, ksize(p));
	kfree(p);

	void *a = kmalloc(64, GFP_ATOMIC), *b = kmalloc(64, GFP_NOWAIT);
	CHECK(a && b && a != b);
	kfree(a);
	kfree(b);

	/* kmalloc(0) is a unique minimum-size object, not ZERO_SIZE_PTR. */
	void *z1 = kmalloc(0, GFP_KERNEL), *z2 = kmalloc(0, GFP_KERNEL);
	CHECK(z1 && z2 && z1 != z2);
	CHECK_EQ(ksize(z1), 8);
	kfree(z1);
	kfree(z2);

	/* Above 32 KiB: a page run, ksize is whole pages. */
	void *l = kmalloc(100000, GFP_KERNEL);
	CHECK(l);
	CHECK_EQ((uintptr_t)l % 4096, 0);
	CHECK_EQ(ksize(l), 25 * 4096);
	kfree(l);

	CHECK_EQ(ksize(NULL), 0);
	kfree(NULL);
}

static void test_kzalloc(void)
{
	/* Dirty a batch of objects, free them, and take the same slots back zeroed. */
	enum { N = 64 };
	void *old[N], *p[N];
	for (int i = 0; i < N; i++) {
		old[i] = kmalloc(200, GFP_KERNEL);
		CHECK(old[i]);
		memset(old[i], 0xa5, ksize(old[i]));
	}
	for (int i = 0; i < N; i++)
		kfree(old[i]);
	int reused = 0;
	for (int i = 0; i < N; i++) {
		p[i] = kzalloc(200, GFP_KERNEL);
		CHECK(p[i]);
		CHECK_EQ(ksize(p[i]), 224);
		CHECK(all_bytes(p[i], 0, ksize(p[i])));
		for (int j = 0; j < N; j++)
			reused += p[i] == old[j];
	}
	CHECK(reused > 0); /* otherwise the test proved nothing about dirty slots */
	for (int i = 0; i < N; i++)
		kfree(p[i]);

	/* A page run: dirty it, free it, and ask for a zeroed one of the same size. */
	void *l = kmalloc(1 << 20, GFP_KERNEL);
	CHECK(l);
	memset(l, 0xff, 1 << 20);
	kfree(l);
	l = kzalloc(1 << 20, GFP_KERNEL);
	CHECK(l);
	CHECK(all_bytes(l, 0, 1 << 20));
	kfree(l);

	void *n = kzalloc_node(3000, GFP_KERNEL, 0);
	CHECK(n);
	CHECK(all_bytes(n, 0, ksize(n)));
	kfree(n);
}

static void test_kcalloc_overflow(void)
{
	errno = 0;
	CHECK(kcalloc(SIZE_MAX / 2 + 1, 2, GFP_KERNEL) == NULL);
	CHECK_EQ(errno, ENOMEM);
	CHECK(kcalloc((size_t)1 << 32, (size_t)1 << 32, GFP_KERNEL) == NULL);
	CHECK(kmalloc_array(SIZE_MAX, 16, GFP_KERNEL) == NULL);
	CHECK(kmalloc_array(2, SIZE_MAX / 2 + 1, GFP_KERNEL) == NULL);

	/* A product that fits in size_t but no machine can hold: NULL from kmalloc. */
	errno = 0;
	CHECK(kmalloc_array(SIZE_MAX / 16, 16, GFP_KERNEL) == NULL);
	CHECK_EQ(errno, ENOMEM);

	/* kcalloc zeroes: dirty a slot of the class first, then kcalloc until
	   the sheaves hand it back (frees go to the spare, which becomes main
	   when main runs dry), every result zeroed. */
	void *d = kmalloc(4000, GFP_KERNEL);
	CHECK(d);
	memset(d, 0xcc, ksize(d));
	kfree(d);
	int *got[256];
	unsigned n = 0;
	bool found = false;
	while (!found && n < 256) {
		int *a = kcalloc(1000, sizeof(int), GFP_KERNEL);
		CHECK(a);
		CHECK_EQ(ksize(a), 4096);
		CHECK(all_bytes(a, 0, 1000 * sizeof(int)));
		found = (void *)a == d;
		got[n++] = a;
	}
	CHECK(found);
	while (n)
		kfree(got[--n]);

	long *b = kmalloc_array(10, sizeof(long), GFP_KERNEL);
	CHECK(b);
	CHECK_EQ(ksize(b), 80);
	kfree(b);
}

static void test_krealloc(void)
{
	/* Grow through several classes and into a page run: contents follow. */
	char *p = kmalloc(16, GFP_KERNEL);
	CHECK(p);
	fill_pattern(p, 16, 1);
	static const size_t sizes[] = { 100, 5000, 70000 };
	size_t have = 16;
	for (unsigned i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		p = krealloc(p, sizes[i], GFP_KERNEL);
		CHECK(p);
		CHECK(ksize(p) >= sizes[i]);
		CHECK(has_pattern(p, have, 1));
		fill_pattern(p, sizes[i], 1);
		have = sizes[i];
	}
	/* Shrink: the first new_size bytes stay, the object is a small one again. */
	p = krealloc(p, 10, GFP_KERNEL);
	CHECK(p);
	CHECK_EQ(ksize(p), 16);
	CHECK(has_pattern(p, 10, 1));
	kfree(p);

	/* __GFP_ZERO: what was not copied reads as zero. */
	char *q = kmalloc(24, GFP_KERNEL);
	CHECK(q);
	size_t old = ksize(q); /* 32: requests above 8 bytes round to 16 */
	CHECK_EQ(old, 32);
	memset(q, 0xee, old);
	q = krealloc(q, 300, GFP_KERNEL | __GFP_ZERO);
	CHECK(q);
	CHECK(all_bytes(q, 0xee, old));
	CHECK(all_bytes(q + old, 0, ksize(q) - old));
	kfree(q);

	/* NULL behaves as kmalloc; size 0 frees and returns NULL. */
	void *r = krealloc(NULL, 32, GFP_KERNEL);
	CHECK(r);
	CHECK_EQ(ksize(r), 32);
	CHECK(krealloc(r, 0, GFP_KERNEL) == NULL);
}

static void test_kfree_sensitive(void)
{
	char *s = kmalloc(48, GFP_KERNEL);
	CHECK(s);
	memset(s, 'k', 48);
	kfree_sensitive(s);
	/* The slot comes back once main runs dry and the spare the free went
	   to becomes main: it was wiped. */
	char *t, *held[512];
	unsigned n = 0;
	while ((t = kmalloc(48, GFP_KERNEL)) != s) {
		CHECK(t && n < 512);
		held[n++] = t;
	}
	CHECK(all_bytes(t, 0, 48));
	kfree(t);
	while (n)
		kfree(held[--n]);
	kfree_sensitive(NULL);
}

static void test_node_flags(void)
{
	/* Node 0 always exists; node 9 does not in a default instance this small. */
	void *a = kmalloc_node(64, GFP_KERNEL | __GFP_THISNODE, 0);
	CHECK(a);
	kfree(a);
	CHECK(kmalloc_node(64, GFP_KERNEL | __GFP_THISNODE, 9) == NULL);
	void *b = kmalloc_node(64, GFP_KERNEL, 9); /* no THISNODE: falls back */
	CHECK(b);
	kfree(b);
	void *c = kmalloc_node(64, GFP_KERNEL, NUMA_NO_NODE);
	CHECK(c);
	kfree(c);
}

struct point {
	long x, y, z;
};

struct wide {
	_Alignas(32) char bytes[40];
};

static void test_kmem_cache_macro(void)
{
	struct kmem_cache *c = KMEM_CACHE(point, 0);
	CHECK(c);
	struct point *objs[100];
	for (int i = 0; i < 100; i++) {
		objs[i] = kmem_cache_alloc(c, GFP_KERNEL);
		CHECK(objs[i]);
		CHECK_EQ((uintptr_t)objs[i] % _Alignof(struct point), 0);
		CHECK_EQ(ksize(objs[i]), sizeof(struct point));
		for (int j = 0; j < i; j++)
			CHECK(objs[i] != objs[j]);
		objs[i]->x = i;
	}
	for (int i = 0; i < 100; i++) {
		CHECK_EQ(objs[i]->x, i);
		kmem_cache_free(c, objs[i]);
	}
	kmem_cache_destroy(c);

	/* The struct's own alignment is honoured. */
	struct kmem_cache *w = KMEM_CACHE(wide, 0);
	CHECK(w);
	for (int i = 0; i < 20; i++) {
		struct wide *o = kmem_cache_alloc(w, GFP_KERNEL);
		CHECK(o);
		CHECK_EQ((uintptr_t)o % 32, 0);
		CHECK_EQ(ksize(o), sizeof(struct wide));
		CHECK_EQ(sizeof(struct wide), 64);
		objs[i] = (struct point *)o;
	}
	for (int i = 0; i < 20; i++)
		kmem_cache_free(w, objs[i]);
	kmem_cache_destroy(w);

	/* SLAB_HWCACHE_ALIGN: every object starts a 64-byte cache line. */
	struct kmem_cache *h = KMEM_CACHE(point, SLAB_HWCACHE_ALIGN);
	CHECK(h);
	for (int i = 0; i < 100; i++) {
		objs[i] = kmem_cache_alloc(h, GFP_KERNEL);
		CHECK(objs[i]);
		CHECK_EQ((uintptr_t)objs[i] % 64, 0);
		CHECK_EQ(ksize(objs[i]), sizeof(struct point));
	}
	for (int i = 0; i < 100; i++)
		kmem_cache_free(h, objs[i]);
	kmem_cache_destroy(h);
}

static void test_kmem_cache_zalloc_node(void)
{
	struct kmem_cache *c = kmem_cache_create("kapi_zalloc", 120, 0, 0, NULL);
	CHECK(c);
	void *d[16];
	for (int i = 0; i < 16; i++) {
		d[i] = kmem_cache_alloc(c, GFP_KERNEL);
		CHECK(d[i]);
		memset(d[i], 0x77, 120);
	}
	for (int i = 0; i < 16; i++)
		kmem_cache_free(c, d[i]);
	for (int i = 0; i < 16; i++) {
		d[i] = kmem_cache_zalloc(c, GFP_KERNEL);
		CHECK(d[i]);
		CHECK(all_bytes(d[i], 0, 120));
	}
	for (int i = 0; i < 16; i++)
		kmem_cache_free(c, d[i]);

	void *n0 = kmem_cache_alloc_node(c, GFP_KERNEL | __GFP_THISNODE, 0);
	CHECK(n0);
	CHECK(kmem_cache_alloc_node(c, GFP_KERNEL | __GFP_THISNODE, 9) == NULL);
	void *nz = kmem_cache_alloc_node(c, GFP_KERNEL | __GFP_ZERO, 0);
	CHECK(nz);
	CHECK(all_bytes(nz, 0, 120));
	kmem_cache_free(c, n0);
	kmem_cache_free(c, nz);
	kmem_cache_destroy(c);
}

static int ctor_calls;

static void point_ctor(void *p)
{
	struct point *pt = p;
	pt->x = 7;
	pt->y = 8;
	pt->z = 9;
	ctor_calls++;
}

static void test_kmem_cache_ctor(void)
{
	struct kmem_cache *c = kmem_cache_create("kapi_ctor", sizeof(struct point), 0, 0, point_ctor);
	CHECK(c);
	struct point *o[10];
	for (int i = 0; i < 10; i++) {
		o[i] = kmem_cache_alloc(c, GFP_KERNEL);
		CHECK(o[i]);
		CHECK(o[i]->x == 7 && o[i]->y == 8 && o[i]->z == 9);
	}
	int after_first = ctor_calls;
	CHECK(after_first >= 10);
	/* Freed objects come back in their constructed state, not constructed again. */
	for (int i = 0; i < 10; i++)
		kmem_cache_free(c, o[i]);
	for (int i = 0; i < 10; i++) {
		o[i] = kmem_cache_alloc(c, GFP_KERNEL);
		CHECK(o[i]);
		CHECK(o[i]->x == 7 && o[i]->y == 8 && o[i]->z == 9);
	}
	CHECK_EQ(ctor_calls, after_first);
	for (int i = 0; i < 10; i++)
		kmem_cache_free(c, o[i]);
	kmem_cache_destroy(c);
}

static void test_kmem_cache_shrink(void)
{
	struct kmem_cache *c = kmem_cache_create("kapi_shrink", 96, 0, 0, NULL);
	CHECK(c);
	enum { N = 1000 };
	static void *o[N];
	for (int i = 0; i < N; i++) {
		o[i] = kmem_cache_alloc(c, GFP_KERNEL);
		CHECK(o[i]);
	}
	for (int i = 1; i < N; i++)
		kmem_cache_free(c, o[i]);
	CHECK_EQ(kmem_cache_shrink(c), 1); /* o[0] keeps its slab */
	kmem_cache_free(c, o[0]);
	CHECK_EQ(kmem_cache_shrink(c), 0); /* nothing left: every slab went back */
	kmem_cache_destroy(c);
}

static void test_kmem_cache_destroy(void)
{
	kmem_cache_destroy(NULL);
	/* An instance has room for fewer than 500 caches at once: 1000 rounds of
	   create, use, destroy succeed only if destroy gives each one back. */
	for (int i = 0; i < 1000; i++) {
		struct kmem_cache *c = kmem_cache_create("kapi_churn", 40, 0, 0, NULL);
		CHECK(c);
		void *o = kmem_cache_alloc(c, GFP_KERNEL);
		CHECK(o);
		kmem_cache_free(c, o);
		kmem_cache_destroy(c);
	}
}

int main(void)
{
	test_kmalloc_ksize();
	test_kzalloc();
	test_kcalloc_overflow();
	test_krealloc();
	test_kfree_sensitive();
	test_node_flags();
	test_kmem_cache_macro();
	test_kmem_cache_zalloc_node();
	test_kmem_cache_ctor();
	test_kmem_cache_shrink();
	test_kmem_cache_destroy();
	printf("kernel_api: ok\n");
	return 0;
}
