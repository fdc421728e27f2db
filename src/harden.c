/*
 * harden.c - hardened mode's per-object checks (harden.h): canary, size
 * record, scrub on free and the zero check on reuse.  Objects only: which
 * object gets what is decided by hardened.c and the slab paths.
 */
#include <string.h>

#include "harden.h"
#include "printk.h"

/* Not a value an overflow writes by chance: not 0, 0xff or ASCII. */
static const uint8_t obj_canary[HARDEN_CANARY] = {
	0xd3, 0xa7, 0x9b, 0xe5, 0xc1, 0x8f, 0xb9, 0xed,
	0xd3, 0xa7, 0x9b, 0xe5, 0xc1, 0x8f, 0xb9, 0xed,
};

/* The record's check value for a delta of @delta bytes in a slot of @s. */
static inline uint16_t record_check(const struct kmem_cache *s, uint16_t delta)
{
	return (uint16_t)(~delta ^ (uint16_t)(s->random >> 20));
}

/*
 * The canary of @s's objects asked for @size bytes: [lo, hi), at most
 * HARDEN_CANARY bytes (what lies beyond, up to the record, is zero: the
 * zero check on reuse covers it).
 */
static void canary_span(const struct kmem_cache *s, size_t size, size_t *lo, size_t *hi)
{
	*lo = s->is_kmalloc ? size : s->object_size;
	size_t end = s->is_kmalloc ? s->size - 4 : s->size;
	*hi = MIN(end, *lo + HARDEN_CANARY);
}

static inline bool in_free_word(const struct kmem_cache *s, size_t off)
{
	return off - s->fp_offset < sizeof(uintptr_t);
}

/*
 * What canary byte @k of @s's object holds: the pattern, but 0 inside the
 * free word (a live object's free word must not carry the free tag, and a
 * constructor cache's is 0 while live).
 */
static inline uint8_t canary_at(const struct kmem_cache *s, size_t k, size_t lo)
{
	return in_free_word(s, k) ? 0 : obj_canary[k - lo];
}

/* Whether [lo, hi) misses the free word: then the pattern is one memcpy/memcmp. */
static inline bool span_plain(const struct kmem_cache *s, size_t lo, size_t hi)
{
	return hi <= s->fp_offset || lo >= s->fp_offset + sizeof(uintptr_t);
}

void harden_obj_arm(struct kmem_cache *s, void *p, size_t size)
{
	uint8_t *b = p;
	size_t lo, hi;
	canary_span(s, size, &lo, &hi);
	if (likely(span_plain(s, lo, hi))) {
		memcpy(b + lo, obj_canary, hi - lo);
	} else {
		for (size_t k = lo; k < hi; k++)
			b[k] = canary_at(s, k, lo);
	}
	if (s->is_kmalloc) {
		/* One store: harden_obj_check_before reads it from a neighbour. */
		uint16_t delta = (uint16_t)(s->size - size);
		__atomic_store_n((uint32_t *)(b + s->size - 4),
				 (uint32_t)delta | (uint32_t)record_check(s, delta) << 16, __ATOMIC_RELAXED);
	}
}

/* The size the record word @w of a slot of @s gives, or SIZE_MAX when it is not valid. */
static size_t record_size(const struct kmem_cache *s, uint32_t w)
{
	uint16_t delta = (uint16_t)w, check = (uint16_t)(w >> 16);
	if (check != record_check(s, delta) || delta < HARDEN_PAD || delta > s->size)
		return SIZE_MAX;
	return s->size - delta;
}

/* The record word of the slot at @p of @s: one load (a neighbour may read it, harden_obj_check_before). */
static uint32_t record_word(const struct kmem_cache *s, const void *p)
{
	return __atomic_load_n((const uint32_t *)((const uint8_t *)p + s->size - 4), __ATOMIC_RELAXED);
}

size_t harden_obj_size(const struct kmem_cache *s, const void *p)
{
	if (!s->is_kmalloc)
		return s->object_size;
	return record_size(s, record_word(s, p));
}

bool harden_obj_check_canary(struct kmem_cache *s, void *p)
{
	size_t size = harden_obj_size(s, p);
	if (size == SIZE_MAX) {
		sm_report(cache_err(s), "free of %p: object of cache %s overflowed: size record at the "
			  "end of its %u-byte slot overwritten", p, s->name, s->size);
		return false;
	}
	const uint8_t *b = p;
	size_t lo, hi;
	canary_span(s, size, &lo, &hi);
	if (likely(span_plain(s, lo, hi)) && !memcmp(b + lo, obj_canary, hi - lo))
		return true;
	for (size_t k = lo; k < hi; k++) {
		if (b[k] == canary_at(s, k, lo))
			continue;
		sm_report(cache_err(s), "free of %p: %zu-byte object of cache %s overflowed: canary "
			  "overwritten at its end + %zu", p, size, s->name, k - lo);
		return false;
	}
	return true;
}

bool harden_obj_check_before(struct kmem_cache *s, void *p)
{
	if (!s->is_kmalloc)
		return true; /* a custom cache's slot has no record */
	const struct slab *d = desc_of(p);
	if (!d)
		return true;
	uintptr_t off = ((uintptr_t)p & (SM_PAGE_SIZE - 1)) + ((uintptr_t)d->page_off << SM_PAGE_SHIFT);
	if (off < s->size)
		return true; /* the slab's first slot: nothing of the slab before it */
	const uint8_t *prev = (const uint8_t *)p - s->size;
	/* One load: the owner of the slot before may arm or scrub it meanwhile. */
	uint32_t w = record_word(s, prev);
	if (!w || record_size(s, w) != SIZE_MAX)
		return true; /* free (scrubbed), or a live object's record */
	sm_report(cache_err(s), "free of %p: object of cache %s underflowed (or the object before it, "
		  "%p, overflowed): the size record at the end of the slot before it overwritten",
		  p, s->name, (const void *)prev);
	return false;
}

void harden_obj_scrub(struct kmem_cache *s, void *p)
{
	if (harden_obj_scrubbed(s))
		memset(p, 0, s->size);
}

/* Whether words [0, n) of @w are all zero: an OR over them (vectorised). */
static bool words_zero(const uintptr_t *w, size_t n)
{
	uintptr_t acc = 0;
	for (size_t k = 0; k < n; k++)
		acc |= w[k];
	return !acc;
}

bool harden_obj_check_zero(struct kmem_cache *s, const void *p)
{
	if (!harden_obj_scrubbed(s))
		return true;
	const uintptr_t *w = p;
	size_t words = s->size / sizeof(uintptr_t), fw = s->fp_offset / sizeof(uintptr_t);
	if (likely(words_zero(w, fw) && words_zero(w + fw + 1, words - fw - 1)))
		return true; /* slots are multiples of 8: nothing left over */
	size_t off = 0;
	const uint8_t *b = p;
	while (!b[off] || in_free_word(s, off))
		off++;
	sm_report(cache_err(s), "write after free of %p: %u-byte object of cache %s modified at "
		  "offset %zu (found on reuse)", p, s->size, s->name, off);
	return false;
}
