/*
 * test_static_cache.c - caches set up in the caller's storage (sm_cache_setup,
 * SM_CACHE_SETUP, sm_cache_create_args with .preallocated; issue 12 section
 * 3) on isolated instances, and kmem_cache_setup/KMEM_CACHE_SETUP of
 * <slabmalloc/kernel.h> on the default instance from a constructor function
 * that runs before main.  Each rule has its test:
 *   - nothing is allocated for the descriptor: the instance's own counters
 *     (every kmalloc cache, slab and page bytes) are unchanged, and the
 *     cache is the storage's address;
 *   - storage too small or misaligned: EINVAL;
 *   - set up twice without destroy: EBUSY, reported, the live cache intact;
 *   - destroy tears the cache down and leaves the storage (zeroed, never
 *     reused by the allocator); destroying it again is reported;
 *   - set up again after destroy;
 *   - never merged with a cache of the same geometry;
 *   - SM_CACHE_SETUP takes name, size and alignment from the type;
 *   - the creation arguments (usercopy window, sheaf capacity, flags) are
 *     checked, and sm_cache_create is the same constructor without storage.
 */
#include <errno.h>

#include "test.h"
#include "instance.h"
#include "kmem_cache.h"

#include <slabmalloc/kernel.h>

static sm_instance_t *new_instance(struct test_errors *e)
{
	struct sm_options o = test_options(e);
	sm_instance_t *inst = sm_instance_create(&o);
	CHECK(inst != NULL);
	return inst;
}

/* ---- what an instance has allocated for itself ---- */

/* Every kmalloc cache's objects and slabs, and the instance's page counters. */
struct footprint {
	size_t active[SM_NR_KMALLOC], slabs[SM_NR_KMALLOC];
	size_t caches, slab_bytes, large_bytes, committed_bytes;
};

static struct footprint footprint(sm_instance_t *inst)
{
	struct footprint f;
	memset(&f, 0, sizeof(f));
	for (unsigned i = 0; i < SM_NR_KMALLOC; i++) {
		struct sm_cache_stats st;
		sm_cache_stats_get(&inst->kmalloc_caches[i], &st);
		f.active[i] = st.active_objects + st.sheaf_objects;
		f.slabs[i] = st.slabs;
	}
	struct sm_stats st;
	sm_stats_get(inst, &st);
	f.caches = st.caches;
	f.slab_bytes = st.slab_bytes;
	f.large_bytes = st.large_bytes;
	f.committed_bytes = st.committed_bytes;
	return f;
}

/* True if nothing but the cache count differs between @a and @b. */
static bool same_allocations(const struct footprint *a, const struct footprint *b)
{
	return !memcmp(a->active, b->active, sizeof(a->active)) &&
	       !memcmp(a->slabs, b->slabs, sizeof(a->slabs)) && a->slab_bytes == b->slab_bytes &&
	       a->large_bytes == b->large_bytes && a->committed_bytes == b->committed_bytes;
}

static bool all_zero(const void *p, size_t n)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

static void churn(sm_cache_t *s, unsigned n)
{
	void *v[256];
	CHECK_LE(n, 256);
	for (unsigned i = 0; i < n; i++) {
		v[i] = sm_cache_alloc(s, 0);
		CHECK(v[i] != NULL);
		memset(v[i], (int)i, s->object_size);
	}
	for (unsigned i = 0; i < n; i++)
		sm_cache_free(s, v[i]);
}

/* Reports of the default instance (and about pointers of no instance) go to @e; NULL: abort again. */
static void default_errors(struct test_errors *e)
{
	sm_instance_t *def = sm_default_instance();
	def->err = e ? (struct report_sink){ test_error_handler, e } : (struct report_sink){ 0 };
	sm_default_sink = def->err;
}

/* ---- nothing allocated for the descriptor ---- */

static struct sm_cache_storage st_basic, st_other;

static void test_nothing_allocated(void)
{
	struct test_errors e = { 0 };
	sm_instance_t *inst = new_instance(&e);
	sm_kfree(sm_kmalloc(inst, 64, 0)); /* the thread's tcache exists from here */
	struct footprint before = footprint(inst);

	sm_cache_t *s = sm_cache_setup(&st_basic, inst, "basic-48", 48, 0, 0, NULL);
	CHECK(s == (sm_cache_t *)&st_basic);
	struct footprint after = footprint(inst);
	CHECK(same_allocations(&before, &after));
	CHECK_EQ(after.caches, before.caches + 1);
	CHECK(strcmp(sm_cache_name(s), "basic-48") == 0);
	CHECK(s->flags & SLAB_PREALLOCATED);

	/* It works: objects come from slabs of this cache. */
	void *p = sm_cache_alloc(s, SM_GFP_ZERO);
	CHECK(p && all_zero(p, 48));
	CHECK(obj_cache(p) == s);
	CHECK(sm_ptr_instance(p) == inst);
	sm_cache_free(s, p);
	churn(s, 200);

	/* The counters would have seen a descriptor: sm_cache_create's comes
	   from a kmalloc cache of the instance. */
	struct footprint b2 = footprint(inst);
	sm_cache_t *c = sm_cache_create(inst, "created-48", 48, 0, 0, NULL);
	CHECK(c && c != s);
	struct footprint a2 = footprint(inst);
	CHECK(!same_allocations(&b2, &a2));
	CHECK(!(c->flags & SLAB_PREALLOCATED));

	CHECK_EQ(sm_cache_destroy(c), 0);
	CHECK_EQ(sm_cache_destroy(s), 0);
	CHECK_EQ(e.count, 0);
	sm_instance_destroy(inst);
}

/* ---- storage too small or misaligned ---- */

static void test_bad_storage(void)
{
	struct test_errors e = { 0 };
	sm_instance_t *inst = new_instance(&e);
	size_t caches = footprint(inst).caches;
	static struct {
		struct sm_cache_storage st;
		char extra[64];
	} big;

	struct sm_cache_args a = { .preallocated = &big.st, .preallocated_size = sizeof(big.st) - 1 };
	errno = 0;
	CHECK(sm_cache_create_args(inst, "small", 64, &a, 0) == NULL);
	CHECK_EQ(errno, EINVAL);
	/* Big enough, but not aligned for a descriptor. */
	a.preallocated = (struct sm_cache_storage *)(void *)((char *)&big + 8);
	a.preallocated_size = sizeof(big) - 8;
	errno = 0;
	CHECK(sm_cache_create_args(inst, "misaligned", 64, &a, 0) == NULL);
	CHECK_EQ(errno, EINVAL);
	errno = 0;
	CHECK(sm_cache_setup(NULL, inst, "null", 64, 0, 0, NULL) == NULL);
	CHECK_EQ(errno, EINVAL);
	/* Bad object arguments with good storage: EINVAL, storage untouched. */
	memset(&big, 0x5a, sizeof(big));
	errno = 0;
	CHECK(sm_cache_setup(&big.st, inst, "zero", 0, 0, 0, NULL) == NULL);
	CHECK_EQ(errno, EINVAL);
	errno = 0;
	CHECK(sm_cache_setup(&big.st, inst, "align", 64, 48, 0, NULL) == NULL);
	CHECK_EQ(errno, EINVAL);
	for (size_t i = 0; i < sizeof(big); i++)
		CHECK_EQ(((unsigned char *)&big)[i], 0x5a);
	CHECK_EQ(footprint(inst).caches, caches);

	/* Exactly the size: accepted (garbage in it does not matter). */
	a.preallocated = &big.st;
	a.preallocated_size = sizeof(big.st);
	sm_cache_t *s = sm_cache_create_args(inst, "exact", 64, &a, 0);
	CHECK(s == (sm_cache_t *)&big.st);
	churn(s, 10);
	CHECK_EQ(sm_cache_destroy(s), 0);
	CHECK(all_zero(&big.st, sizeof(struct kmem_cache_desc)));
	CHECK_EQ(e.count, 0);
	sm_instance_destroy(inst);
}

/* ---- set up twice without destroy ---- */

static void test_setup_twice(void)
{
	struct test_errors e = { 0 };
	sm_instance_t *inst = new_instance(&e);
	sm_instance_t *other = new_instance(&e);
	sm_cache_t *s = sm_cache_setup(&st_basic, inst, "first", 64, 0, 0, NULL);
	CHECK(s);
	void *live = sm_cache_alloc(s, 0);
	CHECK(live);
	memset(live, 0x77, 64);
	size_t caches = footprint(inst).caches;

	errno = 0;
	CHECK(sm_cache_setup(&st_basic, inst, "second", 128, 0, 0, NULL) == NULL);
	CHECK_EQ(errno, EBUSY);
	CHECK_EQ(e.count, 1);
	char addr[32];
	snprintf(addr, sizeof(addr), "%p", (void *)&st_basic);
	CHECK(strstr(e.last, addr) != NULL);
	CHECK(strstr(e.last, "live cache first") != NULL);
	CHECK(strstr(e.last, "64-byte") != NULL);
	/* In another instance: the same. */
	errno = 0;
	CHECK(sm_cache_setup(&st_basic, other, "third", 64, 0, 0, NULL) == NULL);
	CHECK_EQ(errno, EBUSY);
	CHECK_EQ(e.count, 2);
	/* Through the kernel's form of the constructor too. */
	struct sm_cache_args a = { .preallocated = &st_basic, .preallocated_size = sizeof(st_basic) };
	CHECK(sm_cache_create_args(inst, "fourth", 64, &a, 0) == NULL);
	CHECK_EQ(errno, EBUSY);
	CHECK_EQ(e.count, 3);

	/* The live cache is intact: name, size, its object, its count. */
	CHECK_EQ(footprint(inst).caches, caches);
	CHECK(strcmp(sm_cache_name(s), "first") == 0);
	struct sm_cache_stats st;
	sm_cache_stats_get(s, &st);
	CHECK_EQ(st.active_objects, 1);
	CHECK_EQ(st.object_size, 64);
	for (unsigned i = 0; i < 64; i++)
		CHECK_EQ(((unsigned char *)live)[i], 0x77);
	churn(s, 100);
	sm_cache_free(s, live);
	CHECK_EQ(sm_cache_destroy(s), 0);
	CHECK_EQ(e.count, 3);
	sm_instance_destroy(other);
	sm_instance_destroy(inst);
}

/* ---- destroy leaves the storage; set up again ---- */

static unsigned ctor_calls;
static void ctor(void *p)
{
	ctor_calls++;
	memset(p, 0xc5, 24);
}

static void test_destroy_and_again(void)
{
	char addr[32];
	struct test_errors e = { 0 };
	sm_instance_t *inst = new_instance(&e);
	sm_kfree(sm_kmalloc(inst, 64, 0));
	struct footprint before = footprint(inst);

	sm_cache_t *s = sm_cache_setup(&st_basic, inst, "round-1", 24, 0, 0, ctor);
	CHECK(s);
	void *p = sm_cache_alloc(s, 0);
	CHECK(p && ctor_calls > 0);
	CHECK_EQ(((unsigned char *)p)[23], 0xc5);
	sm_cache_free(s, p);
	churn(s, 50);
	CHECK_EQ(sm_cache_destroy(s), 0);

	/* Torn down: zeroed, the descriptor cache's counters as before. */
	CHECK(all_zero(&st_basic, sizeof(st_basic)));
	struct footprint after = footprint(inst);
	CHECK(same_allocations(&before, &after));
	CHECK_EQ(after.caches, before.caches);
	/* Never freed into the allocator: the storage stays the caller's
	   while the instance makes and destroys caches and objects. */
	memset(&st_basic, 0x3c, sizeof(st_basic));
	sm_cache_t *c[8];
	for (unsigned i = 0; i < 8; i++) {
		c[i] = sm_cache_create(inst, "churn", 40 + 8 * i, 0, 0, NULL);
		CHECK(c[i]);
		CHECK((char *)c[i] + sizeof(struct kmem_cache_desc) <= (char *)&st_basic ||
		      (char *)c[i] >= (char *)&st_basic + sizeof(st_basic));
		churn(c[i], 64);
	}
	for (unsigned i = 0; i < 8; i++)
		CHECK_EQ(sm_cache_destroy(c[i]), 0);
	for (size_t i = 0; i < sizeof(st_basic); i++)
		CHECK_EQ(((unsigned char *)&st_basic)[i], 0x3c);

	/* Set up again (garbage in it), with another geometry. */
	s = sm_cache_setup(&st_basic, inst, "round-2", 96, 32, 0, NULL);
	CHECK(s == (sm_cache_t *)&st_basic);
	CHECK_EQ(s->object_size, 96);
	CHECK_EQ(s->align, 32);
	CHECK(s->ctor == NULL);
	churn(s, 80);
	CHECK_EQ(sm_cache_destroy(s), 0);
	CHECK_EQ(e.count, 0);

	/* Destroyed storage destroyed again: reported (the default
	   instance's handler, which this test sets), -EINVAL. */
	struct test_errors de = { 0 };
	default_errors(&de);
	CHECK_EQ(sm_cache_destroy(s), -EINVAL);
	CHECK_EQ(de.count, 1);
	CHECK(strstr(de.last, "no live cache") != NULL);
	snprintf(addr, sizeof(addr), "%p", (void *)&st_basic);
	CHECK(strstr(de.last, addr) != NULL);
	default_errors(NULL);

	/* And a third time, after the instance it lived in is gone. */
	s = sm_cache_setup(&st_basic, inst, "round-3", 8, 0, 0, NULL);
	CHECK(s);
	sm_instance_destroy(inst);
	inst = new_instance(&e);
	s = sm_cache_setup(&st_basic, inst, "new-home", 16, 0, 0, NULL);
	CHECK(s);
	churn(s, 20);
	CHECK_EQ(sm_cache_destroy(s), 0);
	CHECK_EQ(e.count, 0);
	sm_instance_destroy(inst);
}

/* ---- never merged ---- */

static void test_never_merged(void)
{
	struct test_errors e = { 0 };
	sm_instance_t *inst = new_instance(&e);
	sm_cache_t *a = sm_cache_setup(&st_basic, inst, "same-a", 64, 0, 0, NULL);
	sm_cache_t *b = sm_cache_setup(&st_other, inst, "same-b", 64, 0, 0, NULL);
	sm_cache_t *c = sm_cache_create(inst, "same-c", 64, 0, 0, NULL);
	CHECK(a == (sm_cache_t *)&st_basic && b == (sm_cache_t *)&st_other);
	CHECK(c && c != a && c != b);
	CHECK(strcmp(sm_cache_name(a), "same-a") == 0 && strcmp(sm_cache_name(b), "same-b") == 0);

	void *pa = sm_cache_alloc(a, 0), *pb = sm_cache_alloc(b, 0), *pc = sm_cache_alloc(c, 0);
	CHECK(obj_cache(pa) == a && obj_cache(pb) == b && obj_cache(pc) == c);
	struct sm_cache_stats sa, sb, sc;
	sm_cache_stats_get(a, &sa);
	sm_cache_stats_get(b, &sb);
	sm_cache_stats_get(c, &sc);
	CHECK_EQ(sa.slabs, 1);
	CHECK_EQ(sb.slabs, 1);
	CHECK_EQ(sc.slabs, 1);
	/* An object of one is not an object of the other. */
	sm_cache_free(b, pa);
	CHECK_EQ(e.count, 1);
	CHECK(strstr(e.last, "to cache same-b") && strstr(e.last, "belongs to cache same-a"));
	sm_cache_free(a, pb);
	CHECK_EQ(e.count, 2);
	sm_cache_free(a, pa);
	sm_cache_free(b, pb);
	sm_cache_free(c, pc);
	CHECK_EQ(sm_cache_destroy(a), 0);
	/* b and c do not go with it. */
	churn(b, 10);
	churn(c, 10);
	CHECK_EQ(sm_cache_destroy(b), 0);
	CHECK_EQ(sm_cache_destroy(c), 0);
	CHECK_EQ(e.count, 2);
	sm_instance_destroy(inst);
}

/* ---- name, size and alignment from the type ---- */

struct wide {
	char bytes[72];
} __attribute__((aligned(128)));

typedef struct {
	double d;
	char tag[3];
} rec_t;

static struct sm_cache_storage st_wide, st_rec;

static void test_from_type(void)
{
	struct test_errors e = { 0 };
	sm_instance_t *inst = new_instance(&e);
	sm_cache_t *w = SM_CACHE_SETUP(&st_wide, inst, struct wide, 0);
	sm_cache_t *r = SM_CACHE_SETUP(&st_rec, inst, rec_t, 0);
	CHECK(w == (sm_cache_t *)&st_wide && r == (sm_cache_t *)&st_rec);
	CHECK(strcmp(sm_cache_name(w), "struct wide") == 0);
	CHECK(strcmp(sm_cache_name(r), "rec_t") == 0);
	CHECK_EQ(w->object_size, sizeof(struct wide));
	CHECK_EQ(w->align, 128);
	CHECK_EQ(r->object_size, sizeof(rec_t));
	CHECK_EQ(r->align, __alignof__(rec_t));
	void *v[40];
	for (unsigned i = 0; i < 40; i++) {
		v[i] = sm_cache_alloc(w, 0);
		CHECK(v[i] && (uintptr_t)v[i] % 128 == 0);
		memset(v[i], 1, sizeof(struct wide));
	}
	for (unsigned i = 0; i < 40; i++)
		sm_cache_free(w, v[i]);
	for (unsigned i = 0; i < 40; i++) {
		v[i] = sm_cache_alloc(r, 0);
		CHECK(v[i] && (uintptr_t)v[i] % __alignof__(rec_t) == 0);
	}
	for (unsigned i = 0; i < 40; i++)
		sm_cache_free(r, v[i]);
	/* With SM_CACHE_HWCACHE_ALIGN the larger of the two. */
	CHECK_EQ(sm_cache_destroy(r), 0);
	r = SM_CACHE_SETUP(&st_rec, inst, rec_t, SM_CACHE_HWCACHE_ALIGN);
	CHECK(r && r->align == 64);
	CHECK_EQ(sm_cache_destroy(r), 0);
	CHECK_EQ(sm_cache_destroy(w), 0);
	CHECK_EQ(e.count, 0);
	sm_instance_destroy(inst);
}

/* ---- the creation arguments ---- */

static void test_args(void)
{
	struct test_errors e = { 0 };
	sm_instance_t *inst = new_instance(&e);
	struct sm_cache_args a = { .useroffset = 8, .usersize = 16, .sheaf_capacity = 5 };
	sm_cache_t *s = sm_cache_create_args(inst, "args", 32, &a, 0);
	CHECK(s);
	CHECK_EQ(s->useroffset, 8);
	CHECK_EQ(s->usersize, 16);
	CHECK_EQ(s->sheaf_capacity, 5);
	CHECK(!(s->flags & SLAB_PREALLOCATED));
	CHECK_EQ(sm_cache_destroy(s), 0);
	/* NULL args: the defaults. */
	s = sm_cache_create_args(inst, "defaults", 32, NULL, 0);
	CHECK(s && s->align == 8 && s->usersize == 0 && s->ctor == NULL);
	CHECK_EQ(sm_cache_destroy(s), 0);

	static const struct {
		size_t size, useroffset, usersize;
		unsigned sheaf_capacity, flags;
	} bad[] = {
		{ 32, 24, 16, 0, 0 },           /* window past the object */
		{ 32, 0, 33, 0, 0 },            /* window larger than the object */
		{ 32, 4, 0, 0, 0 },             /* an offset without a size */
		{ 32, 0, 0, 1025, 0 },          /* sheaf capacity above the limit */
		{ 32, 0, 0, 0, 0x100 },         /* an unknown flag */
		{ 32, 0, 0, 0, SLAB_PREALLOCATED }, /* the internal flag */
	};
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct sm_cache_args b = { .useroffset = bad[i].useroffset, .usersize = bad[i].usersize,
					   .sheaf_capacity = bad[i].sheaf_capacity };
		errno = 0;
		CHECK(sm_cache_create_args(inst, "bad", bad[i].size, &b, bad[i].flags) == NULL);
		CHECK_EQ(errno, EINVAL);
		b.preallocated = &st_other;
		b.preallocated_size = sizeof(st_other);
		errno = 0;
		CHECK(sm_cache_create_args(inst, "bad", bad[i].size, &b, bad[i].flags) == NULL);
		CHECK_EQ(errno, EINVAL);
	}
	errno = 0;
	CHECK(sm_cache_create_args(NULL, "x", 32, NULL, 0) == NULL && errno == EINVAL);
	CHECK(sm_cache_create_args(inst, NULL, 32, NULL, 0) == NULL && errno == EINVAL);
	CHECK(all_zero(&st_other, sizeof(st_other)));
	CHECK_EQ(e.count, 0);
	sm_instance_destroy(inst);
}

/* ---- the cache limit with storage ---- */

static void test_limit(void)
{
	struct test_errors e = { 0 };
	sm_instance_t *inst = new_instance(&e);
	static sm_cache_t *c[SM_MAX_CACHES];
	unsigned n = 0;
	while ((c[n] = sm_cache_create(inst, "fill", 16, 0, 0, NULL)) != NULL)
		n++;
	CHECK_EQ(errno, ENOSPC);
	memset(&st_other, 0x44, sizeof(st_other));
	errno = 0;
	CHECK(sm_cache_setup(&st_other, inst, "one-more", 16, 0, 0, NULL) == NULL);
	CHECK_EQ(errno, ENOSPC);
	/* Left to the caller, zeroed; usable once an id is free. */
	CHECK(all_zero(&st_other, sizeof(struct kmem_cache_desc)));
	CHECK_EQ(sm_cache_destroy(c[0]), 0);
	sm_cache_t *s = sm_cache_setup(&st_other, inst, "one-more", 16, 0, 0, NULL);
	CHECK(s == (sm_cache_t *)&st_other);
	CHECK_EQ(sm_cache_destroy(s), 0);
	for (unsigned i = 1; i < n; i++)
		CHECK_EQ(sm_cache_destroy(c[i]), 0);
	CHECK_EQ(e.count, 0);
	sm_instance_destroy(inst);
}

/* ---- before main: the kernel's names on the default instance ---- */

struct early_obj {
	uint64_t a, b;
	char name[20];
};

static struct kmem_cache_opaque early_storage, early_storage2;
static struct footprint early_before, early_after;
static struct kmem_cache *early_cache;
static int early_setup_ret = -1;
static int early_bad;

__attribute__((constructor)) static void early_setup(void)
{
	/* The first call into the allocator in this process: the unit tests
	   keep libc's malloc, so nothing has touched the default instance. */
	sm_instance_t *def = sm_default_instance();
	early_before = footprint(def);
	early_setup_ret = kmem_cache_setup((struct kmem_cache *)&early_storage, "early-ctor", 40, 0, 0,
					   NULL);
	early_cache = KMEM_CACHE_SETUP(&early_storage2, early_obj, SLAB_HWCACHE_ALIGN);
	early_after = footprint(def);
	struct early_obj *v[100];
	for (int i = 0; i < 100; i++) {
		v[i] = kmem_cache_zalloc(early_cache, GFP_KERNEL);
		if (!v[i] || v[i]->a || (uintptr_t)v[i] % 64)
			early_bad = 1;
		else
			v[i]->a = (uint64_t)i;
	}
	for (int i = 0; i < 100; i++)
		if (v[i])
			kmem_cache_free(early_cache, v[i]);
	void *p = kmem_cache_alloc((struct kmem_cache *)&early_storage, GFP_KERNEL);
	if (!p)
		early_bad |= 2;
	kmem_cache_free((struct kmem_cache *)&early_storage, p);
}

static void test_before_main(void)
{
	CHECK_EQ(early_setup_ret, 0);
	CHECK(early_cache == (struct kmem_cache *)&early_storage2);
	CHECK_EQ(early_bad, 0);
	CHECK(same_allocations(&early_before, &early_after));
	CHECK_EQ(early_after.caches, early_before.caches + 2);
	CHECK(strcmp(sm_cache_name(early_cache), "early_obj") == 0);
	CHECK_EQ(early_cache->object_size, sizeof(struct early_obj));
	/* Still alive in main; set up twice: the kernel's -errno, and a report. */
	struct test_errors de = { 0 };
	default_errors(&de);
	CHECK_EQ(kmem_cache_setup((struct kmem_cache *)&early_storage, "x", 8, 0, 0, NULL), -EBUSY);
	CHECK_EQ(de.count, 1);
	CHECK(strstr(de.last, "live cache early-ctor") != NULL);
	default_errors(NULL);
	kmem_cache_destroy(early_cache);
	kmem_cache_destroy((struct kmem_cache *)&early_storage);
	CHECK(all_zero(&early_storage, sizeof(early_storage)));
	CHECK_EQ(kmem_cache_setup((struct kmem_cache *)&early_storage, "again", 8, 0, 0, NULL), 0);
	kmem_cache_destroy((struct kmem_cache *)&early_storage);
}

int main(void)
{
	test_before_main();
	test_nothing_allocated();
	test_bad_storage();
	test_setup_twice();
	test_destroy_and_again();
	test_never_merged();
	test_from_type();
	test_args();
	test_limit();
	printf("test_static_cache: ok\n");
	return 0;
}
