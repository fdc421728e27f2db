/*
 * harden.c - hardened mode's per-object checks (harden.h): canary, size
 * record, scrub on free and the zero check on reuse.  Objects only: which
 * object gets what is decided by hardened.c and the slab paths.
 */
#include <string.h>

#include "harden.h"
#include "printk.h"

/* Not a value an overflow writes by chance: not 0, 0xff or ASCII. */
static const uint8_t obj_canary[16] = {
	0xd3, 0xa7, 0x9b, 0xe5, 0xc1, 0x8f, 0xb9, 0xed,
	0xd3, 0xa7, 0x9b, 0xe5, 0xc1, 0x8f, 0xb9, 0xed,
};

static inline uint8_t canary_byte(size_t k)
{
	return obj_canary[k & 15];
}

/* The record's check value for a delta of @delta bytes in a slot of @s. */
static inline uint16_t record_check(const struct kmem_cache *s, uint16_t delta)
{
	return (uint16_t)(~delta ^ (uint16_t)(s->random >> 20));
}

/* The canary bytes of @s's objects asked for @size bytes: [lo, hi) minus the free word. */
static void canary_span(const struct kmem_cache *s, size_t size, size_t *lo, size_t *hi)
{
	if (s->is_kmalloc) {
		*lo = size;
		*hi = s->size - 4;
	} else {
		*lo = s->object_size;
		*hi = s->size;
	}
}

static inline bool in_free_word(const struct kmem_cache *s, size_t off)
{
	return off - s->fp_offset < sizeof(uintptr_t);
}

void harden_obj_arm(struct kmem_cache *s, void *p, size_t size)
{
	uint8_t *b = p;
	size_t lo, hi;
	canary_span(s, size, &lo, &hi);
	for (size_t k = lo; k < hi; k++)
		if (!in_free_word(s, k))
			b[k] = canary_byte(k - lo);
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
	for (size_t k = lo; k < hi; k++) {
		if (in_free_word(s, k) || b[k] == canary_byte(k - lo))
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

bool harden_obj_check_zero(struct kmem_cache *s, const void *p)
{
	if (!harden_obj_scrubbed(s))
		return true;
	const uintptr_t *w = p;
	size_t words = s->size / sizeof(uintptr_t), fw = s->fp_offset / sizeof(uintptr_t);
	size_t k;
	for (k = 0; k < words; k++)
		if (w[k] && k != fw)
			break;
	size_t off = k * sizeof(uintptr_t);
	const uint8_t *b = p;
	if (k == words) { /* slots are multiples of 8: nothing left over */
		return true;
	}
	while (!b[off])
		off++;
	sm_report(cache_err(s), "write after free of %p: %u-byte object of cache %s modified at "
		  "offset %zu (found on reuse)", p, s->size, s->name, off);
	return false;
}
