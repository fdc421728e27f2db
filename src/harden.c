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
		uint16_t rec[2] = { (uint16_t)(s->size - size), 0 };
		rec[1] = record_check(s, rec[0]);
		memcpy(b + s->size - 4, rec, sizeof(rec));
	}
}

size_t harden_obj_size(const struct kmem_cache *s, const void *p)
{
	if (!s->is_kmalloc)
		return s->object_size;
	uint16_t rec[2];
	memcpy(rec, (const uint8_t *)p + s->size - 4, sizeof(rec));
	if (rec[1] != record_check(s, rec[0]) || rec[0] < HARDEN_PAD || rec[0] > s->size)
		return SIZE_MAX;
	return s->size - rec[0];
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
