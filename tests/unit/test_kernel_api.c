/*
 * test_kernel_api.c - <slabmalloc/kernel.h>: code that uses only the kernel's
 * slab names (kmalloc, kcalloc, krealloc, kmem_cache_create, KMEM_CACHE, ...)
 * gets the outcomes the kernel API promises, on the default instance.
 * Nothing below calls an sm_* function directly.  The fatal outcomes
 * (SLAB_PANIC, __GFP_NOFAIL that cannot be met) run in forked children.
 */
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/wait.h>

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

	/* kmalloc(0) is ZERO_SIZE_PTR, as in the kernel: not NULL, size 0,
	   and every free and resize call takes it. */
	void *z1 = kmalloc(0, GFP_KERNEL), *z2 = kzalloc(0, GFP_KERNEL);
	CHECK(z1 == ZERO_SIZE_PTR && z2 == ZERO_SIZE_PTR);
	CHECK(ZERO_OR_NULL_PTR(z1) && ZERO_OR_NULL_PTR(NULL));
	CHECK_EQ(ksize(z1), 0);
	kfree(z1);
	kvfree(z2);
	kfree_sensitive(ZERO_SIZE_PTR);
	CHECK(kmalloc_array(0, 16, GFP_KERNEL) == ZERO_SIZE_PTR);
	CHECK(kvmalloc(0, GFP_KERNEL) == ZERO_SIZE_PTR);
	CHECK(kmalloc_nolock(0, 0, NUMA_NO_NODE) == ZERO_SIZE_PTR);
	kfree_nolock(ZERO_SIZE_PTR);
	char *zr = krealloc(ZERO_SIZE_PTR, 40, GFP_KERNEL); /* ZERO_SIZE_PTR: as NULL */
	CHECK(zr && !ZERO_OR_NULL_PTR(zr));
	CHECK_EQ(ksize(zr), 48);
	CHECK(krealloc(zr, 0, GFP_KERNEL) == ZERO_SIZE_PTR); /* frees zr */

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

	/* NULL behaves as kmalloc; size 0 frees and returns ZERO_SIZE_PTR. */
	void *r = krealloc(NULL, 32, GFP_KERNEL);
	CHECK(r);
	CHECK_EQ(ksize(r), 32);
	CHECK(krealloc(r, 0, GFP_KERNEL) == ZERO_SIZE_PTR);

	/* krealloc_array: the product, or NULL with the array kept on overflow. */
	int *a = krealloc_array(NULL, 10, sizeof(int), GFP_KERNEL);
	CHECK(a);
	for (int i = 0; i < 10; i++)
		a[i] = i * 3;
	a = krealloc_array(a, 1000, sizeof(int), GFP_KERNEL);
	CHECK(a);
	CHECK_EQ(ksize(a), 4096);
	for (int i = 0; i < 10; i++)
		CHECK_EQ(a[i], i * 3);
	errno = 0;
	CHECK(krealloc_array(a, SIZE_MAX / 2, 4, GFP_KERNEL) == NULL);
	CHECK_EQ(errno, ENOMEM);
	CHECK_EQ(a[9], 27); /* still ours */
	kfree(a);

	/* kvrealloc in both of the kernel's forms. */
	char *v = kvmalloc(100, GFP_KERNEL);
	CHECK(v);
	fill_pattern(v, 100, 4);
	v = kvrealloc(v, 200000, GFP_KERNEL);              /* Linux 6.12 on */
	CHECK(v);
	CHECK(has_pattern(v, 100, 4));
	CHECK(ksize(v) >= 200000);
	v = kvrealloc(v, 200000, 50, GFP_KERNEL);          /* before: old and new size */
	CHECK(v);
	CHECK_EQ(ksize(v), 64);
	CHECK(has_pattern(v, 50, 4));
	kvfree(v);
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

static void test_copies(void)
{
	char *s = kstrdup("slabmalloc", GFP_KERNEL);
	CHECK(s);
	CHECK(!strcmp(s, "slabmalloc"));
	CHECK_EQ(ksize(s), 16);
	kfree(s);
	CHECK(kstrdup(NULL, GFP_KERNEL) == NULL);

	char *n = kstrndup("abcdefgh", 3, GFP_KERNEL);
	CHECK(n);
	CHECK(!strcmp(n, "abc"));
	kfree(n);
	n = kstrndup("ab", 100, GFP_KERNEL); /* shorter than max: the whole string */
	CHECK(n && !strcmp(n, "ab"));
	kfree(n);
	CHECK(kstrndup(NULL, 4, GFP_KERNEL) == NULL);

	static const unsigned char blob[5] = { 1, 0, 2, 0, 3 };
	unsigned char *m = kmemdup(blob, sizeof(blob), GFP_KERNEL);
	CHECK(m && m != blob);
	CHECK(!memcmp(m, blob, sizeof(blob)));
	kfree(m);
	char *z = kmemdup_nul("xyz123", 3, GFP_KERNEL);
	CHECK(z && !strcmp(z, "xyz"));
	kfree(z);
	int arr[4] = { 4, 3, 2, 1 };
	int *c = kmemdup_array(arr, 4, sizeof(int), GFP_KERNEL);
	CHECK(c && c[0] == 4 && c[3] == 1);
	kfree(c);
	const char *k = kstrdup_const("const", GFP_KERNEL);
	CHECK(k && !strcmp(k, "const"));
	kfree_const(k);
}

static void test_kvmalloc(void)
{
	/* kvmalloc is kmalloc: any size, kvfree frees either. */
	void *small = kvmalloc(100, GFP_KERNEL);
	void *big = kvzalloc(8 << 20, GFP_KERNEL);
	CHECK(small && big);
	CHECK_EQ(ksize(small), 112);
	CHECK(all_bytes(big, 0, 8 << 20));
	void *node = kvzalloc_node(300, GFP_KERNEL, NUMA_NO_NODE);
	CHECK(node && all_bytes(node, 0, 300));
	long *arr = kvcalloc(1000, sizeof(long), GFP_KERNEL);
	CHECK(arr && all_bytes(arr, 0, 1000 * sizeof(long)));
	long *arr2 = kvmalloc_array(10, sizeof(long), GFP_KERNEL);
	CHECK(arr2);
	CHECK(kvcalloc(SIZE_MAX / 4, 8, GFP_KERNEL) == NULL);
	void *arr3 = kvcalloc_node(3, 100, GFP_KERNEL, 0);
	CHECK(arr3 && all_bytes(arr3, 0, 300));
	kvfree(small);
	kvfree(big);
	kvfree(node);
	kvfree(arr);
	kvfree(arr2);
	kvfree(arr3);
	kvfree(NULL);

	char *secret = kvmalloc(64, GFP_KERNEL);
	CHECK(secret);
	memset(secret, 's', 64);
	kvfree_sensitive(secret, 64);
	kvfree_sensitive(NULL, 10);
}

static void test_array_node(void)
{
	void *a = kmalloc_array_node(10, 30, GFP_KERNEL, 0);
	CHECK(a);
	CHECK_EQ(ksize(a), 320);
	kfree(a);
	CHECK(kmalloc_array_node(SIZE_MAX, 2, GFP_KERNEL, 0) == NULL);
	char *c = kmalloc(700, GFP_KERNEL);
	memset(c, 0xab, 700);
	kfree(c);
	for (int i = 0; i < 100; i++) {
		c = kcalloc_node(7, 100, GFP_KERNEL, NUMA_NO_NODE);
		CHECK(c && all_bytes(c, 0, 700));
		kfree(c);
	}
	CHECK(kcalloc_node(4, 4, GFP_KERNEL | __GFP_THISNODE, 9) == NULL);
}

static void test_size_roundup(void)
{
	/* kmalloc_size_roundup(n) is what ksize(kmalloc(n)) will say. */
	static const size_t sizes[] = { 1, 7, 8, 9, 24, 100, 126, 128, 129, 500, 1000, 1025,
					4000, 4096, 5000, 32768, 32769, 70000, 1 << 20, 33 << 20 };
	for (unsigned i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t r = kmalloc_size_roundup(sizes[i]);
		void *p = kmalloc(sizes[i], GFP_KERNEL);
		CHECK(p);
		CHECK(r >= sizes[i]);
		CHECK_EQ(ksize(p), r);
		kfree(p);
	}
	CHECK_EQ(kmalloc_size_roundup(0), 0);
	CHECK_EQ(kmalloc_size_roundup(SIZE_MAX), SIZE_MAX);
}

/* Every gfp combination of the kernel allocates; the accepted-and-ignored
   bits change nothing, and none reaches the sm_* calls as another flag. */
static void test_gfp_flags(void)
{
	static const gfp_t all[] = {
		GFP_KERNEL, GFP_ATOMIC, GFP_NOWAIT, GFP_NOFS, GFP_NOIO, GFP_USER, GFP_DMA, GFP_DMA32,
		GFP_HIGHUSER, GFP_KERNEL_ACCOUNT, GFP_KERNEL | __GFP_NOWARN, GFP_KERNEL | __GFP_NORETRY,
		GFP_KERNEL | __GFP_RETRY_MAYFAIL, GFP_KERNEL | __GFP_NOFAIL, GFP_ATOMIC | __GFP_NOWARN,
		GFP_KERNEL | __GFP_RECLAIMABLE | __GFP_COMP | __GFP_NOMEMALLOC,
	};
	struct kmem_cache *c = kmem_cache_create("kapi_gfp", 72, 0, SLAB_ACCOUNT, NULL);
	CHECK(c);
	for (unsigned i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		char *p = kmalloc(200, all[i]);
		CHECK(p);
		CHECK_EQ(ksize(p), 224);
		memset(p, 0x11, 200);
		kfree(p);
		char *z = kzalloc(200, all[i]);
		CHECK(z && all_bytes(z, 0, 200));
		kfree(z);
		void *o = kmem_cache_alloc(c, all[i]);
		CHECK(o);
		kmem_cache_free(c, o);
	}
	CHECK(gfpflags_allow_blocking(GFP_KERNEL) && gfpflags_allow_blocking(GFP_NOFS));
	CHECK(!gfpflags_allow_blocking(GFP_ATOMIC) && !gfpflags_allow_blocking(GFP_NOWAIT));
	kmem_cache_destroy(c);
}

/* __GFP_NOFAIL: a request whose first attempt fails is retried, never NULL.
   A node that does not exist fails the first attempt with THISNODE; the
   retries drop THISNODE. */
static void test_nofail(void)
{
	void *p = kmalloc_node(64, GFP_KERNEL | __GFP_THISNODE | __GFP_NOFAIL, 9);
	CHECK(p);
	CHECK_EQ(ksize(p), 64);
	kfree(p);
	struct kmem_cache *c = kmem_cache_create("kapi_nofail", 40, 0, 0, NULL);
	CHECK(c);
	void *o = kmem_cache_alloc_node(c, GFP_KERNEL | __GFP_THISNODE | __GFP_NOFAIL, 9);
	CHECK(o);
	kmem_cache_free(c, o);
	kmem_cache_destroy(c);
}

/* Run @fn in a child; true if it died of SIGABRT having printed @msg on stderr. */
static bool aborts_with(void (*fn)(void), const char *msg)
{
	int fds[2];
	CHECK(pipe(fds) == 0);
	fflush(NULL);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		dup2(fds[1], 2);
		close(fds[0]);
		fn();
		_exit(0);
	}
	close(fds[1]);
	char buf[1024];
	size_t len = 0;
	ssize_t r;
	while ((r = read(fds[0], buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t)r;
	close(fds[0]);
	buf[len] = 0;
	int status;
	CHECK(waitpid(pid, &status, 0) == pid);
	if (!(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT) || !strstr(buf, msg)) {
		fprintf(stderr, "child status %d, stderr: %s\n", status, buf);
		return false;
	}
	return true;
}

static void panic_cache(void)
{
	kmem_cache_create("too_big", 1 << 20, 0, SLAB_PANIC, NULL);
}

static void nofail_overflow(void)
{
	kmalloc_array(SIZE_MAX / 2, 4, GFP_KERNEL | __GFP_NOFAIL);
}

static void nolock_nofail(void)
{
	volatile gfp_t f = __GFP_NOFAIL; /* not a constant: the runtime refusal */
	kmalloc_nolock(64, f, NUMA_NO_NODE);
}

static void test_fatal(void)
{
	/* SLAB_PANIC: a cache that cannot be made aborts with a message. */
	CHECK(aborts_with(panic_cache, "kmem_cache_create(\"too_big\", 1048576) with SLAB_PANIC failed: "
				       "invalid size, alignment or name (EINVAL)"));
	CHECK(kmem_cache_create("too_big", 1 << 20, 0, 0, NULL) == NULL); /* without: NULL */
	CHECK_EQ(errno, EINVAL);
	CHECK(aborts_with(nofail_overflow, "__GFP_NOFAIL array of"));
	CHECK(aborts_with(nolock_nofail, "__GFP_NOFAIL cannot be honoured by a nolock allocation"));
}

struct rec {
	int key;
	char name[20];
	long payload;
};

static void rec_ctor(void *p)
{
	((struct rec *)p)->key = -1;
}

static void test_cache_forms(void)
{
	/* The 4-argument form, with arguments and with NULL. */
	struct kmem_cache_args args = { .align = 32, .ctor = rec_ctor };
	struct kmem_cache *a = kmem_cache_create("kapi_args", sizeof(struct rec), &args, 0);
	CHECK(a);
	CHECK_EQ(kmem_cache_size(a), sizeof(struct rec));
	struct rec *r = kmem_cache_alloc(a, GFP_KERNEL);
	CHECK(r);
	CHECK_EQ((uintptr_t)r % 32, 0);
	CHECK_EQ(r->key, -1);
	kmem_cache_free(a, r);
	kmem_cache_destroy(a);

	struct kmem_cache *b = kmem_cache_create("kapi_null_args", 100, NULL, SLAB_HWCACHE_ALIGN);
	CHECK(b);
	void *o = kmem_cache_zalloc(b, GFP_KERNEL);
	CHECK(o && (uintptr_t)o % 64 == 0 && all_bytes(o, 0, 100));
	kmem_cache_free(b, o);
	kmem_cache_destroy(b);

	struct kmem_cache *u = KMEM_CACHE_USERCOPY(rec, SLAB_ACCOUNT | SLAB_RECLAIM_ACCOUNT, name);
	CHECK(u);
	struct kmem_cache *v = kmem_cache_create_usercopy("kapi_usercopy", 64, 8, SLAB_PANIC, 4, 16, NULL);
	CHECK(v);
	CHECK_EQ(kmem_cache_size(v), 64);
	void *x = kmem_cache_alloc(u, GFP_KERNEL), *y = kmem_cache_alloc(v, GFP_KERNEL);
	CHECK(x && y);
	kmem_cache_free(u, x);
	kmem_cache_free(v, y);
	kmem_cache_destroy(u);
	kmem_cache_destroy(v);

	/* Every accepted-and-ignored creation flag makes an ordinary cache. */
	struct kmem_cache *f = kmem_cache_create("kapi_flags", 48, 0,
		SLAB_PANIC | SLAB_ACCOUNT | SLAB_RECLAIM_ACCOUNT | SLAB_TEMPORARY | SLAB_NO_MERGE |
		SLAB_CACHE_DMA | SLAB_CACHE_DMA32 | SLAB_NOLEAKTRACE | SLAB_CONSISTENCY_CHECKS |
		SLAB_RED_ZONE | SLAB_POISON | SLAB_STORE_USER | SLAB_TRACE, NULL);
	CHECK(f);
	CHECK_EQ(kmem_cache_size(f), 48);
	void *g = kmem_cache_alloc(f, GFP_KERNEL);
	CHECK(g);
	kmem_cache_free(f, g);
	kmem_cache_destroy(f);
}

/* SLAB_TYPESAFE_BY_RCU: a freed object keeps its memory and contents (the
   allocator writes nothing inside it), and the cache's slabs stay. */
static void test_typesafe(void)
{
	struct kmem_cache *c = KMEM_CACHE(rec, SLAB_TYPESAFE_BY_RCU);
	CHECK(c);
	enum { N = 300 };
	struct rec *o[N];
	for (int i = 0; i < N; i++) {
		o[i] = kmem_cache_alloc(c, GFP_KERNEL);
		CHECK(o[i]);
		o[i]->key = i + 1;
		o[i]->payload = ~(long)i;
	}
	for (int i = 0; i < N; i++)
		kmem_cache_free(c, o[i]);
	/* Shrinking gives nothing back: slabs remain (the kernel's value 1). */
	CHECK_EQ(kmem_cache_shrink(c), 1);
	/* A stale reader still finds the object as its last owner left it. */
	for (int i = 0; i < N; i++)
		CHECK(o[i]->key == i + 1 && o[i]->payload == ~(long)i);
	/* The memory is handed out again as objects of this cache only. */
	struct rec *again = kmem_cache_alloc(c, GFP_KERNEL);
	bool found = false;
	for (int i = 0; i < N; i++)
		found |= again == o[i];
	CHECK(found);
	kmem_cache_free(c, again);
	kmem_cache_destroy(c);
}

static void test_bulk_kernel(void)
{
	struct kmem_cache *c = kmem_cache_create("kapi_bulk", 56, 0, 0, NULL);
	CHECK(c);
	enum { N = 300 };
	void *o[N];
	CHECK_EQ(kmem_cache_alloc_bulk(c, GFP_KERNEL, N, o), N);
	for (int i = 0; i < N; i++) {
		CHECK(o[i]);
		memset(o[i], 0x3c, 56);
		for (int j = 0; j < i; j += 17)
			CHECK(o[i] != o[j]);
	}
	kmem_cache_free_bulk(c, N, o);
	CHECK_EQ(kmem_cache_alloc_bulk(c, GFP_KERNEL | __GFP_ZERO, 100, o), 100);
	for (int i = 0; i < 100; i++)
		CHECK(all_bytes(o[i], 0, 56));
	kmem_cache_free_bulk(c, 100, o);
	CHECK_EQ(kmem_cache_alloc_bulk(c, GFP_KERNEL, 0, o), 0);
	CHECK_EQ(kmem_cache_shrink(c), 0);
	kmem_cache_destroy(c);

	/* kfree_bulk: kmalloc objects of several sizes and a page run. */
	void *k[5] = { kmalloc(10, GFP_KERNEL), kmalloc(1000, GFP_KERNEL), NULL,
		       kmalloc(100000, GFP_KERNEL), kstrdup("bulk", GFP_KERNEL) };
	CHECK(k[0] && k[1] && k[3] && k[4]);
	kfree_bulk(5, k);
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
	test_copies();
	test_kvmalloc();
	test_array_node();
	test_size_roundup();
	test_gfp_flags();
	test_nofail();
	test_fatal();
	test_cache_forms();
	test_typesafe();
	test_bulk_kernel();
	printf("kernel_api: ok\n");
	return 0;
}
