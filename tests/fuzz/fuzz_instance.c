/*
 * fuzz_instance.c - the libFuzzer harness: one fuzz input is one life of an
 * isolated instance.  The input picks the instance's options, then drives a
 * sequence of public API calls (sm_kmalloc of every size range up to huge
 * mappings, aligned and per-node requests, sm_kfree, sm_krealloc, kmem_cache
 * create/alloc/free/shrink/destroy, sm_purge, the nolock calls,
 * sm_thread_flush), advances the instance's clock and makes its fake OS fail
 * reserve, commit or purge when it says so.  The harness owns the model of
 * what must be true and checks it after every step:
 *
 *  - every live object keeps its contents: each is filled with a pattern
 *    derived from its id and offset (its whole usable size, sampled for
 *    large objects), fully checked on free and realloc and at the end, and
 *    its first and last bytes after every step;
 *  - no two live objects overlap ([p, p + sm_ksize(p)) intervals);
 *  - every object is aligned as promised, sm_ksize >= the requested size,
 *    sm_ptr_instance finds the instance, SM_GFP_ZERO memory reads as zero,
 *    constructed cache objects come back constructed;
 *  - sm_ksize and sm_ptr_instance of an object do not change while it lives;
 *  - NULL comes only with errno ENOMEM (EINVAL for the documented invalid
 *    arguments, which the input also tries), always for sizes no machine
 *    has; the nolock calls leave errno alone when they succeed, and so does
 *    every free;
 *  - nothing is deferred (one thread: no lock is ever busy), every user
 *    cache's active_objects is the harness's count of its live objects and
 *    its total_objects its slabs times objects per slab; after
 *    sm_cache_shrink the cache, after sm_purge(force) every cache, has no
 *    object in a sheaf and no empty slab, and no free page stays dirty
 *    unless the fake OS refused a purge;
 *  - at the end, with everything freed, a small allocation succeeds, and
 *    after sm_purge(force) no slab, page run or huge mapping is left but
 *    the thread's own cache; after sm_instance_destroy every reservation
 *    the fake OS handed out has been released (same address, same size):
 *    no address space leaks.
 *
 * The harness never passes a bad pointer, so the instance's error handler
 * aborts: any report is a bug.  Only include/slabmalloc.h is used.
 * Two checks fail on known findings not yet fixed in src/ (F1, F2 in
 * tests/fuzz/crashes/README.md) and run only with FUZZ_STRICT=1.
 *
 * Input format (bytes read on demand; a short input just ends early):
 *   6 bytes of options, then operations: one opcode byte and its arguments
 *   (see the OP_* list).  Hand-written seeds are in tests/fuzz/corpus/.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "slabmalloc.h"

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)
#define PAGE ((size_t)4096)

#define MAX_LIVE 1024               /* objects the model tracks at once */
#define MAX_LIVE_BYTES (192 * MiB)  /* requested bytes of them, in all */
#define MAX_CACHES 8                /* user caches alive at once */
#define MAX_MAPS 4096               /* live reservations of the fake OS */
#define ERRNO_SENTINEL 7777

#define FAIL(...) do { fprintf(stderr, "fuzz_instance: " __VA_ARGS__); \
	fprintf(stderr, " (op %u)\n", op_count); abort(); } while (0)
#define ASSERT(c) do { if (!(c)) FAIL("%s:%d: %s", __FILE__, __LINE__, #c); } while (0)

static unsigned op_count;
static bool trace; /* FUZZ_TRACE=1: print every step (to read what an input does) */
/*
 * FUZZ_STRICT=1: also check what known, reported findings break (the files
 * in tests/fuzz/crashes/ reproduce with it).  The CI run leaves it off so it
 * stays green until they are fixed; then these checks become unconditional.
 */
static bool strict;
#define TRACE(...) do { if (trace) fprintf(stderr, __VA_ARGS__); } while (0)

/* ---- the input ---- */

static const uint8_t *in_p;
static size_t in_left;

static bool more(void) { return in_left > 0; }

static unsigned u8(void)
{
	if (!in_left)
		return 0;
	in_left--;
	return *in_p++;
}

static unsigned u16(void) { unsigned lo = u8(); return lo | (u8() << 8); }

/* ---- the fake OS: the real calls, refusing on demand, with a ledger ---- */

struct fail_plan {
	unsigned skip;  /* calls that still succeed before the failures */
	unsigned count; /* then this many fail */
};

static struct fake_os {
	struct fail_plan reserve, commit, purge;
	uint64_t now;
	unsigned reserves, releases, live;
	size_t reserved_bytes, released_bytes;
	unsigned failures, purge_failures;
	struct { uintptr_t p; size_t size; } maps[MAX_MAPS];
} os;

static bool plan_fails(struct fail_plan *f)
{
	if (f->skip) {
		f->skip--;
		return false;
	}
	if (f->count) {
		f->count--;
		os.failures++;
		return true;
	}
	return false;
}

/* The reservation that holds [p, p + size), or -1. */
static int map_find(uintptr_t p, size_t size)
{
	for (int i = 0; i < MAX_MAPS; i++)
		if (os.maps[i].p && p >= os.maps[i].p && p + size <= os.maps[i].p + os.maps[i].size)
			return i;
	return -1;
}

static void *fake_reserve(size_t size, size_t align, void *arg)
{
	(void)arg;
	ASSERT(align && (align & (align - 1)) == 0);
	if (plan_fails(&os.reserve)) {
		TRACE("  os: reserve %zu fails\n", size);
		return NULL;
	}
	size_t len = size + align;
	if (len < size)
		return NULL;
	char *m = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (m == MAP_FAILED)
		return NULL;
	uintptr_t start = ((uintptr_t)m + align - 1) & ~(uintptr_t)(align - 1);
	size_t head = start - (uintptr_t)m, tail = len - head - size;
	if (head)
		munmap(m, head);
	if (tail)
		munmap((char *)start + size, tail);
	int i;
	for (i = 0; i < MAX_MAPS && os.maps[i].p; i++)
		;
	ASSERT(i < MAX_MAPS);
	os.maps[i].p = start;
	os.maps[i].size = size;
	os.reserves++;
	os.live++;
	os.reserved_bytes += size;
	return (void *)start;
}

static int fake_commit(void *p, size_t size, void *arg)
{
	(void)arg;
	if (map_find((uintptr_t)p, size) < 0)
		FAIL("commit of [%p, +%zu) outside every reservation", p, size);
	if (plan_fails(&os.commit)) {
		TRACE("  os: commit [%p, +%zu) fails\n", p, size);
		return -1;
	}
	TRACE("  os: commit [%p, +%zu)\n", p, size);
	return mprotect(p, size, PROT_READ | PROT_WRITE);
}

static int fake_purge(void *p, size_t size, void *arg)
{
	(void)arg;
	if (map_find((uintptr_t)p, size) < 0)
		FAIL("purge of [%p, +%zu) outside every reservation", p, size);
	if (plan_fails(&os.purge)) {
		os.purge_failures++;
		TRACE("  os: purge [%p, +%zu) fails\n", p, size);
		return -1;
	}
	TRACE("  os: purge [%p, +%zu)\n", p, size);
	return madvise(p, size, MADV_DONTNEED);
}

static void fake_release(void *p, size_t size, void *arg)
{
	(void)arg;
	int i;
	for (i = 0; i < MAX_MAPS && os.maps[i].p != (uintptr_t)p; i++)
		;
	if (i == MAX_MAPS)
		FAIL("release of %p, which is not a reservation", p);
	if (os.maps[i].size != size)
		FAIL("release of %p with %zu bytes, reserved %zu", p, size, os.maps[i].size);
	os.maps[i].p = 0;
	os.releases++;
	os.live--;
	os.released_bytes += size;
	munmap(p, size);
}

static uint64_t fake_now(void *arg)
{
	(void)arg;
	return os.now;
}

static const struct sm_os_ops fake_ops = {
	.reserve = fake_reserve, .commit = fake_commit, .purge = fake_purge,
	.release = fake_release, .now_ns = fake_now, .arg = NULL,
};

static void on_report(const char *msg, void *arg)
{
	(void)arg;
	FAIL("the allocator reported: %s", msg);
}

/* ---- the model ---- */

enum obj_kind { K_KMALLOC, K_CACHE };

struct obj {
	uint8_t *p;
	size_t req;      /* bytes asked for */
	size_t len;      /* bytes filled with the pattern: sm_ksize at allocation */
	uint32_t id;
	uint8_t kind;
	int8_t cache;    /* K_CACHE: index in caches[] */
	uint64_t head, tail; /* the pattern's first and last 8 bytes */
};

struct ucache {
	sm_cache_t *s;
	size_t size, align; /* align: the alignment its objects must have */
	bool ctor;
	unsigned live;
};

static struct obj objs[MAX_LIVE];
static unsigned nobjs;
static size_t live_bytes;
static uint32_t next_id;
static struct ucache caches[MAX_CACHES];
static sm_instance_t *inst;
static struct sm_options opts;

/*
 * The pattern: the 8-byte word at offset @off (a multiple of 8) of the object
 * with id @id, stored little-endian, so that byte i is pat(id, i).  It
 * depends on the offset, so a copy to the wrong place shows too.
 */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "pattern words are little-endian");

static inline uint64_t pat_word(uint32_t id, size_t off)
{
	uint64_t x = (uint64_t)id * 0x9e3779b97f4a7c15ull ^ (uint64_t)off * 0xbf58476d1ce4e5b9ull;
	return x ^ (x >> 29);
}

static inline uint8_t pat(uint32_t id, size_t i)
{
	return (uint8_t)(pat_word(id, i & ~(size_t)7) >> ((i & 7) * 8));
}

/*
 * The byte ranges of an object of @len bytes that are filled and checked: all
 * of it up to 1 KiB; above, the first and last 256 bytes and 8 bytes every
 * 256 bytes up to 64 KiB, every page up to 4 MiB, every 16th page above, so
 * that a page purged or handed out twice is still seen.
 */
typedef void (*range_fn)(uint8_t *p, size_t off, size_t n, uint32_t id, void *arg);

static void for_each_range(uint8_t *p, size_t len, uint32_t id, range_fn fn, void *arg)
{
	if (len <= KiB) {
		fn(p, 0, len, id, arg);
		return;
	}
	fn(p, 0, 256, id, arg);
	size_t step = len <= 64 * KiB ? 256 : len <= 4 * MiB ? PAGE : 16 * PAGE;
	for (size_t off = step; off + 8 <= len - 256; off += step)
		fn(p, off, 8, id, arg);
	fn(p, len - 256, 256, id, arg);
}

/* Apply @word to every aligned word of [off, off + n) and @byte to the bytes around. */
#define FOR_RANGE(off, n, byte, word) do { \
	size_t _i = (off), _end = (off) + (n); \
	for (; _i < _end && (_i & 7); _i++) { byte; } \
	for (; _i + 8 <= _end; _i += 8) { word; } \
	for (; _i < _end; _i++) { byte; } \
} while (0)

static uint64_t word_at(const uint8_t *p)
{
	uint64_t w;
	memcpy(&w, p, 8);
	return w;
}

static void fill_range(uint8_t *p, size_t off, size_t n, uint32_t id, void *arg)
{
	(void)arg;
	FOR_RANGE(off, n, p[_i] = pat(id, _i),
		  { uint64_t w = pat_word(id, _i); memcpy(p + _i, &w, 8); });
}

static void bad_byte(const struct obj *o, const uint8_t *p, size_t off, size_t n, uint32_t id)
{
	for (size_t i = off; i < off + n; i++)
		if (p[i] != pat(id, i))
			FAIL("object %u at %p (%zu bytes asked, %zu filled): byte %zu is %#x, "
			     "expected %#x", o->id, (void *)o->p, o->req, o->len, i, p[i], pat(id, i));
}

static void check_range(uint8_t *p, size_t off, size_t n, uint32_t id, void *arg)
{
	const struct obj *o = arg;
	FOR_RANGE(off, n, if (p[_i] != pat(id, _i)) bad_byte(o, p, off, n, id),
		  if (word_at(p + _i) != pat_word(id, _i)) bad_byte(o, p, off, n, id));
}

static void zero_range(uint8_t *p, size_t off, size_t n, uint32_t id, void *arg)
{
	(void)id;
	const struct obj *o = arg;
	for (size_t i = off; i < off + n; i++)
		if (p[i])
			FAIL("SM_GFP_ZERO object at %p (%zu bytes): byte %zu is %#x", (void *)o->p,
			     o->req, i, p[i]);
}

/* sm_krealloc: the old object's filled bytes below @limit, now at @q. */
struct kept {
	const struct obj *o;
	size_t limit;
	uint8_t *q;
};

static void check_kept(uint8_t *q, size_t off, size_t n, uint32_t id, void *arg)
{
	const struct kept *k = arg;
	for (size_t i = off; i < off + n && i < k->limit; i++)
		if (q[i] != pat(id, i))
			FAIL("sm_krealloc(%p, %zu bytes) -> %p lost byte %zu: %#x, expected %#x",
			     (void *)k->o->p, k->o->req, (void *)q, i, q[i], pat(id, i));
}

static void stamp(struct obj *o)
{
	for_each_range(o->p, o->len, o->id, fill_range, NULL);
	if (o->len >= 8) {
		o->head = word_at(o->p);
		o->tail = word_at(o->p + o->len - 8);
	}
}

static void check_full(const struct obj *o)
{
	for_each_range(o->p, o->len, o->id, check_range, (void *)o);
}

/* After every step: the first and last 8 bytes of every live object. */
static void check_all_light(void)
{
	for (unsigned i = 0; i < nobjs; i++) {
		const struct obj *o = &objs[i];
		if (o->len >= 8 && (word_at(o->p) != o->head || word_at(o->p + o->len - 8) != o->tail))
			check_full(o); /* names the first wrong byte */
		else if (o->len < 8)
			check_full(o);
	}
}

/* ---- constructed caches: the constructor's state must survive a free ---- */

#define CTOR_BYTES 16
static const uint8_t ctor_magic[CTOR_BYTES] = "constructed-obj";

static void ctor(void *p)
{
	memcpy(p, ctor_magic, CTOR_BYTES);
}

/* ---- adding and removing objects ---- */

static size_t min_align(size_t req)
{
	if (req > SM_KMALLOC_MAX_CACHE_SIZE)
		return PAGE;
	return req > 8 ? 16 : 8;
}

static void check_new(uint8_t *p, size_t req, size_t align)
{
	ASSERT(p != NULL);
	if ((uintptr_t)p % align)
		FAIL("%p (%zu bytes) is not %zu-aligned", (void *)p, req, align);
	size_t ks = sm_ksize(p);
	if (ks < req || ks == 0)
		FAIL("sm_ksize(%p) = %zu for a request of %zu bytes", (void *)p, ks, req);
	if (sm_ptr_instance(p) != inst)
		FAIL("sm_ptr_instance(%p) is not the instance", (void *)p);
	/* Nothing live may overlap it. */
	for (unsigned i = 0; i < nobjs; i++) {
		const struct obj *o = &objs[i];
		if (p < o->p + o->len && o->p < p + ks)
			FAIL("new object [%p, +%zu) overlaps live object %u [%p, +%zu)", (void *)p, ks,
			     o->id, (void *)o->p, o->len);
	}
}

static struct obj *add_obj(uint8_t *p, size_t req, int kind, int cache, bool zeroed)
{
	ASSERT(nobjs < MAX_LIVE);
	TRACE("  + %p %zu bytes%s%s\n", (void *)p, req, kind == K_CACHE ? " (cache)" : "",
	      zeroed ? " (zeroed)" : "");
	struct obj *o = &objs[nobjs++];
	o->p = p;
	o->req = req;
	o->len = sm_ksize(p);
	o->id = ++next_id;
	o->kind = (uint8_t)kind;
	o->cache = (int8_t)cache;
	if (zeroed)
		for_each_range(p, o->len, 0, zero_range, o);
	if (kind == K_CACHE) {
		caches[cache].live++;
		if (caches[cache].ctor && !zeroed && memcmp(p, ctor_magic, CTOR_BYTES))
			FAIL("object %p of a constructed cache is not constructed", (void *)p);
	}
	live_bytes += req;
	stamp(o);
	return o;
}

static void drop_obj(unsigned i)
{
	struct obj *o = &objs[i];
	live_bytes -= o->req;
	if (o->kind == K_CACHE)
		caches[o->cache].live--;
	objs[i] = objs[--nobjs];
}

/* Check, restore the constructed state if any, free through @how, forget. */
enum free_how { F_KFREE, F_CACHE_FREE, F_KFREE_NOLOCK, F_CACHE_FREE_NOLOCK };

static void free_obj(unsigned i, enum free_how how)
{
	struct obj *o = &objs[i];
	TRACE("  - %p %zu bytes (way %d)\n", (void *)o->p, o->req, how);
	check_full(o);
	if (sm_ksize(o->p) != o->len || sm_ptr_instance(o->p) != inst)
		FAIL("object %u at %p: sm_ksize %zu (was %zu), instance %p", o->id, (void *)o->p,
		     sm_ksize(o->p), o->len, (void *)sm_ptr_instance(o->p));
	if (o->kind == K_CACHE && caches[o->cache].ctor)
		memcpy(o->p, ctor_magic, CTOR_BYTES);
	if (o->kind != K_CACHE && (how == F_CACHE_FREE || how == F_CACHE_FREE_NOLOCK))
		how = how == F_CACHE_FREE ? F_KFREE : F_KFREE_NOLOCK;
	sm_cache_t *s = o->kind == K_CACHE ? caches[o->cache].s : NULL;
	errno = ERRNO_SENTINEL;
	switch (how) {
	case F_KFREE: sm_kfree(o->p); break;
	case F_CACHE_FREE: sm_cache_free(s, o->p); break;
	case F_KFREE_NOLOCK: sm_kfree_nolock(o->p); break;
	case F_CACHE_FREE_NOLOCK: sm_cache_free_nolock(s, o->p); break;
	}
	/* Every free leaves errno alone (POSIX.1-2024; finding F2, fixed). */
	if (errno != ERRNO_SENTINEL)
		FAIL("a free (way %d) of %zu bytes changed errno to %d", how, o->req, errno);
	drop_obj(i);
}

/* NULL from an allocation: only ENOMEM. */
static void expect_enomem(const char *what, size_t size)
{
	TRACE("  %s(%zu): NULL, errno %d\n", what, size, errno);
	if (errno != ENOMEM)
		FAIL("%s(%zu) returned NULL with errno %d", what, size, errno);
}

/* ---- sizes ---- */

static size_t pick_size(void)
{
	unsigned cat = u8(), v = u16();
	size_t huge = opts.huge_threshold;
	size_t large_max = huge < 8 * MiB ? huge : 8 * MiB;
	switch (cat % 10) {
	case 0: return v % 17;                                   /* 0..16 */
	case 1: return 17 + v % 240;                             /* ..256 */
	case 2: return 257 + v % 3840;                           /* ..4096 */
	case 3: return 4097 + v % (SM_KMALLOC_MAX_CACHE_SIZE - 4096);
	case 4: {                                                /* exact class, +-1 */
		unsigned nr = sm_kmalloc_nr_classes();
		size_t c = sm_kmalloc_class_size(v % nr);
		return c - 1 + (cat >> 4) % 3;
	}
	case 5:                                                  /* page runs */
		if (large_max <= SM_KMALLOC_MAX_CACHE_SIZE)
			return large_max;
		return SM_KMALLOC_MAX_CACHE_SIZE + 1 +
		       ((size_t)v * 61 + u8()) % (large_max - SM_KMALLOC_MAX_CACHE_SIZE);
	case 6: return (size_t)(1 + v % 64) * PAGE - (cat >> 5); /* page multiples */
	case 7: return huge - 2 + v % 5;                         /* the huge threshold */
	case 8: return huge + 1 + ((size_t)v * 37) % (2 * MiB); /* huge mappings */
	default: {                                               /* beyond any machine */
		static const size_t absurd[] = { SIZE_MAX, SIZE_MAX - PAGE, SIZE_MAX / 2 + 1,
						 ((size_t)1 << 46) + 1, (size_t)1 << 52 };
		return absurd[v % 5];
	}
	}
}

/* Larger requests must fail (ENOMEM) without asking the OS for anything. */
#define ABSURD ((size_t)1 << 46)

static bool room_for(size_t size)
{
	return nobjs < MAX_LIVE && live_bytes + size <= MAX_LIVE_BYTES;
}

static unsigned gfp_of(unsigned b)
{
	return b & 1 ? SM_GFP_ZERO : 0;
}

/* ---- the operations ---- */

static void op_kmalloc(void)
{
	size_t size = pick_size();
	unsigned g = u8();
	if (!room_for(size) && size <= ABSURD)
		return;
	unsigned gfp = gfp_of(g);
	errno = 0;
	uint8_t *p;
	if (g & 2) {
		/* a preferred node, or only that node */
		int node = (int)((g >> 2) % 5) - 1;
		if (g & 0x40)
			gfp |= SM_GFP_THISNODE;
		TRACE("  node %d%s\n", node, gfp & SM_GFP_THISNODE ? " only" : "");
		p = sm_kmalloc_node(inst, size, gfp, node);
	} else {
		p = sm_kmalloc(inst, size, gfp);
	}
	if (!p) {
		expect_enomem("sm_kmalloc", size);
		return;
	}
	if (size > ABSURD)
		FAIL("sm_kmalloc(%zu) succeeded", size);
	check_new(p, size, min_align(size));
	add_obj(p, size, K_KMALLOC, -1, gfp & SM_GFP_ZERO);
}

static void op_kmalloc_aligned(void)
{
	size_t size = pick_size();
	unsigned a = u8(), g = u8();
	size_t align;
	if (a & 0x80)
		align = (a & 0x7f) % 3 == 0 ? 0 : (size_t)(a & 0x7f) * 3; /* not a power of two */
	else
		align = (size_t)1 << (a % 23);                          /* 1 .. 4 MiB */
	if (!room_for(size + align) && size <= ABSURD)
		return;
	bool valid = align && !(align & (align - 1));
	errno = 0;
	uint8_t *p = sm_kmalloc_aligned(inst, size, align, gfp_of(g));
	if (!valid) {
		if (p || errno != EINVAL)
			FAIL("sm_kmalloc_aligned(%zu, align %zu): %p, errno %d (want NULL, EINVAL)",
			     size, align, (void *)p, errno);
		return;
	}
	if (!p) {
		expect_enomem("sm_kmalloc_aligned", size);
		return;
	}
	if (size > ABSURD)
		FAIL("sm_kmalloc_aligned(%zu) succeeded", size);
	size_t want = align;
	if (size > SM_KMALLOC_MAX_CACHE_SIZE && want < PAGE)
		want = PAGE;
	check_new(p, size, want);
	add_obj(p, size, K_KMALLOC, -1, gfp_of(g));
}

static void op_nolock_alloc(void)
{
	unsigned which = u8();
	if (which & 1) {
		unsigned c = (which >> 1) % MAX_CACHES;
		if (!caches[c].s || !room_for(caches[c].size))
			return;
		unsigned gfp = gfp_of(which >> 4);
		errno = ERRNO_SENTINEL;
		uint8_t *p = sm_cache_alloc_nolock(caches[c].s, gfp, SM_NO_NODE);
		if (!p) {
			expect_enomem("sm_cache_alloc_nolock", caches[c].size);
			return;
		}
		if (errno != ERRNO_SENTINEL)
			FAIL("sm_cache_alloc_nolock succeeded and changed errno to %d", errno);
		check_new(p, caches[c].size, caches[c].align);
		add_obj(p, caches[c].size, K_CACHE, (int)c, gfp);
		return;
	}
	size_t size = pick_size();
	if (!room_for(size) && size <= ABSURD)
		return;
	unsigned gfp = gfp_of(which >> 1);
	errno = ERRNO_SENTINEL;
	uint8_t *p = sm_kmalloc_nolock(inst, size, gfp, SM_NO_NODE);
	if (!p) {
		expect_enomem("sm_kmalloc_nolock", size);
		return;
	}
	if (size > ABSURD)
		FAIL("sm_kmalloc_nolock(%zu) succeeded", size);
	if (errno != ERRNO_SENTINEL)
		FAIL("sm_kmalloc_nolock(%zu) succeeded and changed errno to %d", size, errno);
	check_new(p, size, min_align(size));
	add_obj(p, size, K_KMALLOC, -1, gfp);
}

static void op_free(enum free_how how)
{
	unsigned i = u16();
	if (!nobjs)
		return;
	free_obj(i % nobjs, how);
}

static void op_realloc(void)
{
	unsigned i = u16();
	size_t n = pick_size();
	if (!nobjs)
		return;
	i %= nobjs;
	struct obj *o = &objs[i];
	if (o->kind == K_CACHE && caches[o->cache].ctor)
		return; /* a move would free it unconstructed: not the harness's to do */
	if (!room_for(n) && n <= ABSURD)
		return;
	check_full(o);
	size_t keep = o->req < n ? o->req : n;
	uint32_t old_id = o->id;
	uint8_t *old = o->p;
	errno = 0;
	uint8_t *q = sm_krealloc(old, n, 0);
	if (n == 0) {
		/* freed */
		drop_obj(i);
		return;
	}
	if (!q) {
		expect_enomem("sm_krealloc", n);
		check_full(o); /* untouched */
		return;
	}
	if (n > ABSURD)
		FAIL("sm_krealloc(%zu) succeeded", n);
	/* The kept bytes moved with it, the rest is the new object's. */
	struct obj saved = *o;
	drop_obj(i);
	if (q != old && saved.kind == K_CACHE)
		saved.kind = K_KMALLOC;
	bool still_cache = saved.kind == K_CACHE;
	check_new(q, n, still_cache ? caches[saved.cache].align : (q == old ? 1 : min_align(n)));
	struct kept k = { .o = &saved, .limit = keep, .q = q };
	for_each_range(q, saved.len, old_id, check_kept, &k);
	if (still_cache)
		add_obj(q, n, K_CACHE, saved.cache, false);
	else
		add_obj(q, n, K_KMALLOC, -1, false);
}

static void op_cache_create(void)
{
	unsigned a = u8(), b = u16(), f = u8();
	unsigned c;
	for (c = 0; c < MAX_CACHES && caches[c].s; c++)
		;
	if (c == MAX_CACHES)
		return;
	size_t size;
	switch (a % 4) {
	case 0: size = 1 + b % 64; break;
	case 1: size = 1 + b % 1024; break;
	case 2: size = 1 + ((size_t)b * 3) % SM_KMALLOC_MAX_CACHE_SIZE; break;
	default: size = (a & 0x80) ? 0 : SM_KMALLOC_MAX_CACHE_SIZE + (b % 3); break; /* edges */
	}
	size_t align = 0;
	switch ((a >> 2) % 8) {
	case 0: align = 0; break;
	case 1: align = 8; break;
	case 2: align = 16; break;
	case 3: align = 64; break;
	case 4: align = 256; break;
	case 5: align = PAGE; break;
	case 6: align = (size_t)1 << (b % 14); break;          /* up to 8 KiB: invalid above 4 KiB */
	default: align = 3 + (b % 5) * 2; break;               /* odd: invalid */
	}
	unsigned flags = f & 1 ? SM_CACHE_HWCACHE_ALIGN : 0;
	bool with_ctor = (f & 2) && size >= CTOR_BYTES;
	bool valid = size >= 1 && size <= SM_KMALLOC_MAX_CACHE_SIZE &&
		     (!align || (!(align & (align - 1)) && align <= PAGE));
	char name[32];
	snprintf(name, sizeof(name), "fuzz-%u", next_id);
	errno = 0;
	sm_cache_t *s = sm_cache_create(inst, name, size, align, flags, with_ctor ? ctor : NULL);
	if (!valid) {
		if (s || errno != EINVAL)
			FAIL("sm_cache_create(size %zu, align %zu): %p, errno %d (want NULL, EINVAL)",
			     size, align, (void *)s, errno);
		return;
	}
	if (!s) {
		expect_enomem("sm_cache_create", size);
		return;
	}
	ASSERT(strcmp(sm_cache_name(s), name) == 0);
	size_t eff = align ? align : 8;
	if (flags & SM_CACHE_HWCACHE_ALIGN && eff < 64)
		eff = 64;
	caches[c] = (struct ucache){ .s = s, .size = size, .align = eff, .ctor = with_ctor };
}

static void op_cache_alloc(void)
{
	unsigned c = u8(), g = u8();
	c %= MAX_CACHES;
	if (!caches[c].s || !room_for(caches[c].size))
		return;
	unsigned gfp = gfp_of(g);
	errno = 0;
	uint8_t *p;
	if (g & 2) {
		int node = (int)((g >> 2) % 5) - 1;
		if (g & 0x40)
			gfp |= SM_GFP_THISNODE;
		p = sm_cache_alloc_node(caches[c].s, gfp, node);
	} else {
		p = sm_cache_alloc(caches[c].s, gfp);
	}
	if (!p) {
		expect_enomem("sm_cache_alloc", caches[c].size);
		return;
	}
	check_new(p, caches[c].size, caches[c].align);
	add_obj(p, caches[c].size, K_CACHE, (int)c, gfp & SM_GFP_ZERO);
}

static void cache_destroy(unsigned c)
{
	for (unsigned i = nobjs; i-- > 0;)
		if (objs[i].kind == K_CACHE && objs[i].cache == (int)c)
			free_obj(i, F_CACHE_FREE);
	ASSERT(caches[c].live == 0);
	int r = sm_cache_destroy(caches[c].s);
	if (r != 0)
		FAIL("sm_cache_destroy of an unused cache returned %d", r);
	caches[c].s = NULL;
}

static void op_cache_destroy(void)
{
	unsigned c = u8() % MAX_CACHES;
	if (caches[c].s)
		cache_destroy(c);
}

static void op_cache_shrink(void)
{
	unsigned c = u8() % MAX_CACHES;
	if (!caches[c].s)
		return;
	sm_cache_shrink(caches[c].s);
	/* The sheaves' objects went back to their slabs, the empty slabs to the node. */
	struct sm_cache_stats cs;
	sm_cache_stats_get(caches[c].s, &cs);
	if (cs.sheaf_objects || cs.empty_slabs)
		FAIL("cache %s after sm_cache_shrink: %zu objects in sheaves, %zu empty slabs",
		     cs.name, cs.sheaf_objects, cs.empty_slabs);
}

static void cache_stats_visit(const struct sm_cache_stats *cs, void *arg)
{
	(void)arg;
	if (cs->sheaf_objects || cs->empty_slabs)
		FAIL("cache %s after sm_purge(force): %zu objects in sheaves, %zu empty slabs",
		     cs->name, cs->sheaf_objects, cs->empty_slabs);
}

static void op_purge(void)
{
	bool force = u8() & 1;
	unsigned failed = os.purge_failures;
	sm_purge(inst, force);
	if (!force)
		return;
	/* Every sheaf flushed (one thread), every empty slab and free run returned. */
	sm_cache_foreach(inst, cache_stats_visit, NULL);
	struct sm_stats st;
	sm_stats_get(inst, &st);
	if (st.free_dirty_bytes && os.purge_failures == failed)
		FAIL("%zu bytes free and dirty after sm_purge(force)", st.free_dirty_bytes);
}

/* Many objects of one size: fills and empties sheaves, barns and slabs. */
static void op_burst(void)
{
	unsigned n = 1 + u8() % 128;
	unsigned c = u8();
	size_t size = (c & 1) ? 0 : pick_size();
	if (!(c & 1) && size > 64 * KiB)
		size %= 64 * KiB;
	for (unsigned k = 0; k < n; k++) {
		uint8_t *p;
		int cache = -1;
		size_t req = size, align;
		errno = 0;
		if (c & 1) {
			cache = (int)((c >> 1) % MAX_CACHES);
			if (!caches[cache].s)
				return;
			req = caches[cache].size;
			align = caches[cache].align;
			if (!room_for(req))
				return;
			p = sm_cache_alloc(caches[cache].s, 0);
		} else {
			align = min_align(size);
			if (!room_for(req))
				return;
			p = sm_kmalloc(inst, size, 0);
		}
		if (!p) {
			expect_enomem("burst", req);
			return;
		}
		check_new(p, req, align);
		add_obj(p, req, cache < 0 ? K_KMALLOC : K_CACHE, cache, false);
	}
}

/* Free every k-th live object, or the newest or oldest n. */
static void op_free_many(void)
{
	unsigned a = u8(), b = u8();
	if (!nobjs)
		return;
	enum free_how how = (enum free_how)(b & 3);
	switch (a % 3) {
	case 0: {
		unsigned k = 1 + (a >> 2) % 8;
		for (unsigned i = nobjs; i-- > 0;)
			if (i % k == 0)
				free_obj(i, how);
		break;
	}
	case 1:
		for (unsigned n = 1 + (b >> 2) % 64; n-- && nobjs;)
			free_obj(nobjs - 1, how);
		break;
	default:
		for (unsigned n = 1 + (b >> 2) % 64; n-- && nobjs;)
			free_obj(0, how);
		break;
	}
}

static void op_os_fail(void)
{
	unsigned a = u8(), b = u8();
	struct fail_plan p = { .skip = b % 8, .count = 1 + (b >> 3) % 8 };
	TRACE("  %s: %u calls succeed, then %u fail\n",
	      (const char *[]){ "reserve", "commit", "purge", "none" }[a % 4], p.skip, p.count);
	switch (a % 4) {
	case 0: os.reserve = p; break;
	case 1: os.commit = p; break;
	case 2: os.purge = p; break;
	default: os.reserve = os.commit = os.purge = (struct fail_plan){ 0, 0 }; break;
	}
}

static void op_clock(void)
{
	unsigned a = u8();
	/* 0..255 ms, or a jump far past any purge delay */
	os.now += a == 255 ? (uint64_t)3600 * 1000000000u : (uint64_t)a * 1000000u;
}

static void check_stats(void)
{
	struct sm_stats st;
	sm_stats_get(inst, &st);
	if (st.deferred_pending)
		FAIL("%llu frees deferred with one thread", (unsigned long long)st.deferred_pending);
	for (unsigned c = 0; c < MAX_CACHES; c++) {
		if (!caches[c].s)
			continue;
		struct sm_cache_stats cs;
		sm_cache_stats_get(caches[c].s, &cs);
		if (cs.active_objects != caches[c].live)
			FAIL("cache %s: active_objects %zu, %u live", cs.name, cs.active_objects,
			     caches[c].live);
		if (cs.total_objects != cs.slabs * cs.objects_per_slab)
			FAIL("cache %s: %zu objects in %zu slabs of %u", cs.name, cs.total_objects,
			     cs.slabs, cs.objects_per_slab);
		if (cs.active_objects + cs.sheaf_objects > cs.total_objects)
			FAIL("cache %s: %zu active + %zu in sheaves > %zu objects", cs.name,
			     cs.active_objects, cs.sheaf_objects, cs.total_objects);
	}
}

enum {
	OP_KMALLOC, OP_KMALLOC2, OP_KMALLOC3, OP_KMALLOC_ALIGNED,
	OP_FREE, OP_FREE2, OP_CACHE_FREE, OP_KFREE_NOLOCK,
	OP_REALLOC, OP_CACHE_CREATE, OP_CACHE_ALLOC, OP_CACHE_ALLOC2,
	OP_CACHE_DESTROY, OP_CACHE_SHRINK, OP_PURGE, OP_NOLOCK_ALLOC,
	OP_THREAD_FLUSH, OP_CLOCK, OP_OS_FAIL, OP_BURST,
	OP_FREE_MANY, OP_STATS, OP_CACHE_FREE_NOLOCK, NR_OPS
};

static const char *const op_names[NR_OPS] = {
	"kmalloc", "kmalloc", "kmalloc", "kmalloc_aligned", "kfree", "kfree", "cache_free",
	"kfree_nolock", "krealloc", "cache_create", "cache_alloc", "cache_alloc",
	"cache_destroy", "cache_shrink", "purge", "nolock_alloc", "thread_flush", "clock",
	"os_fail", "burst", "free_many", "stats", "cache_free_nolock",
};

static void step(unsigned opcode)
{
	TRACE("%u: %s (%u live, %zu bytes)\n", op_count, op_names[opcode % NR_OPS], nobjs, live_bytes);
	switch (opcode % NR_OPS) {
	case OP_KMALLOC: case OP_KMALLOC2: case OP_KMALLOC3: op_kmalloc(); break;
	case OP_KMALLOC_ALIGNED: op_kmalloc_aligned(); break;
	case OP_FREE: case OP_FREE2: op_free(F_KFREE); break;
	case OP_CACHE_FREE: op_free(F_CACHE_FREE); break;
	case OP_KFREE_NOLOCK: op_free(F_KFREE_NOLOCK); break;
	case OP_CACHE_FREE_NOLOCK: op_free(F_CACHE_FREE_NOLOCK); break;
	case OP_REALLOC: op_realloc(); break;
	case OP_CACHE_CREATE: op_cache_create(); break;
	case OP_CACHE_ALLOC: case OP_CACHE_ALLOC2: op_cache_alloc(); break;
	case OP_CACHE_DESTROY: op_cache_destroy(); break;
	case OP_CACHE_SHRINK: op_cache_shrink(); break;
	case OP_PURGE: op_purge(); break;
	case OP_NOLOCK_ALLOC: op_nolock_alloc(); break;
	case OP_THREAD_FLUSH: sm_thread_flush(inst); break;
	case OP_CLOCK: op_clock(); break;
	case OP_OS_FAIL: op_os_fail(); break;
	case OP_BURST: op_burst(); break;
	case OP_FREE_MANY: op_free_many(); break;
	case OP_STATS: check_stats(); break;
	}
}

/* ---- one life of an instance ---- */

static const size_t node_sizes[] = { 1 * MiB, 2 * MiB, 4 * MiB, 64 * MiB };
static const size_t huge_thresholds[] = { 32 * KiB, 256 * KiB, 1 * MiB, 4 * MiB };
static const unsigned purge_delays[] = { 0, 1, 10, 100 };

static void setup_options(void)
{
	unsigned a = u8(), b = u8(), c = u8(), d = u8(), e = u8(), f = u8();
	sm_options_init(&opts);
	opts.node_size = node_sizes[a % 4];
	opts.max_nodes = 1 + (a >> 2) % SM_MAX_NODES;
	opts.purge_delay_ms = purge_delays[(a >> 6) % 4];
	opts.huge_threshold = huge_thresholds[b % 4];
	opts.sheaf_capacity = (b >> 2) % 4 == 0 ? 1 + c % 70 : 0;
	/* (zero is documented invalid for the counts sm_options_init sets) */
	opts.barn_max_full = 1 + d % 4;
	opts.barn_max_empty = 1 + (d >> 3) % 4;
	opts.barn_bytes = e & 1 ? (size_t)256 << 10 : (e & 2 ? 4096 : 0);
	opts.slab_max_empty = 1 + (e >> 2) % 3;
	opts.helper_thread = false; /* one thread: every run is deterministic */
	opts.error_handler = on_report;
	opts.error_arg = NULL;
	opts.os = &fake_ops;
	/* The first reserve (the instance's first node) may fail too. */
	if (f & 1)
		os.reserve = (struct fail_plan){ .skip = 0, .count = 1 };
}

static void finish(void)
{
	/* Everything back, every object checked on the way. */
	os.reserve = os.commit = os.purge = (struct fail_plan){ 0, 0 };
	check_stats();
	for (unsigned c = 0; c < MAX_CACHES; c++)
		if (caches[c].s)
			cache_destroy(c);
	while (nobjs)
		free_obj(nobjs - 1, F_KFREE);
	/*
	 * With every object freed the instance's memory can all be had again:
	 * what sheaves, barns and kept empty slabs hold is taken back when the
	 * nodes run out (finding F1, fixed: inst_reclaim).
	 */
	errno = 0;
	void *p = sm_kmalloc(inst, 100, 0); /* and the thread's cache exists again */
	if (!p) {
		sm_stats_print(inst);
		FAIL("sm_kmalloc(100) with everything freed: NULL, errno %d", errno);
	}
	sm_kfree(p);
	/* Nothing but this thread's cache of sheaves (a page run) may be left. */
	sm_purge(inst, true);
	struct sm_stats st;
	sm_stats_get(inst, &st);
	if (st.slab_bytes || st.huge_allocations || st.huge_bytes || st.free_dirty_bytes ||
	    st.large_bytes > 64 * KiB || st.deferred_pending)
		FAIL("left after freeing everything and sm_purge(force): slab %zu, large %zu, "
		     "huge %zu (%zu bytes), dirty %zu, deferred %llu", st.slab_bytes, st.large_bytes,
		     st.huge_allocations, st.huge_bytes, st.free_dirty_bytes,
		     (unsigned long long)st.deferred_pending);
	sm_instance_destroy(inst);
	inst = NULL;
	if (os.live || os.reserves != os.releases || os.reserved_bytes != os.released_bytes)
		FAIL("address space leaked: %u reservations (%zu bytes) made, %u (%zu bytes) released",
		     os.reserves, os.reserved_bytes, os.releases, os.released_bytes);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	const char *t = getenv("FUZZ_TRACE");
	trace = t && *t && *t != '0';
	t = getenv("FUZZ_STRICT");
	strict = t && *t && *t != '0';
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	in_p = data;
	in_left = size;
	memset(&os, 0, sizeof(os));
	os.now = 1000000000u;
	nobjs = 0;
	live_bytes = 0;
	next_id = 0;
	op_count = 0;
	memset(caches, 0, sizeof(caches));

	setup_options();
	TRACE("options: node %zu KiB x %u, purge delay %u ms, huge above %zu KiB, sheaf %u, "
	      "barn %u/%u, barn_bytes %zu, slab_max_empty %u\n", opts.node_size >> 10,
	      opts.max_nodes, opts.purge_delay_ms, opts.huge_threshold >> 10, opts.sheaf_capacity,
	      opts.barn_max_full, opts.barn_max_empty, opts.barn_bytes, opts.slab_max_empty);
	errno = 0;
	inst = sm_instance_create(&opts);
	if (!inst) {
		if (errno != ENOMEM || !os.failures)
			FAIL("sm_instance_create: NULL, errno %d, %u OS failures", errno, os.failures);
		if (os.live)
			FAIL("a failed sm_instance_create left %u reservations", os.live);
		return 0;
	}
	while (more()) {
		op_count++;
		step(u8());
		check_all_light();
	}
	finish();
	return 0;
}
