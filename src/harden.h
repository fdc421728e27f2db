/*
 * harden.h - hardened mode's checks on one slab object (SLABMALLOC_HARDEN=1,
 * docs/architecture.md "Hardened mode"): the canary in the slack after the
 * bytes asked for, the size record of a kmalloc object, scrubbing a freed
 * object to zero and checking on reuse that it still is.
 *
 * Layout of a hardened kmalloc object in an S-byte slot asked for with
 * n bytes (S >= n + HARDEN_PAD, hardened.c picks the class):
 *   [0, n)        the program's bytes (the free word at 0 among them)
 *   [n, S - 4)    the canary: a fixed pattern, at least 4 bytes and at
 *                 most HARDEN_CANARY, then zeros (checked on reuse)
 *   [S - 4, S)    the size record: S - n and a check value (16 bits each)
 * A custom cache's object has no record (its size is object_size): its
 * canary is the slack [object_size, S), up to HARDEN_CANARY bytes.  Canary
 * bytes inside the free word (n < 8, or a constructor cache's free word
 * after the object) hold 0 instead of the pattern: a live object's free
 * word must not carry the free tag.
 * These functions read and write the object only: no lock, no allocation;
 * the reports go to the cache's sink.  Must not: be called on a fast path.
 */
#ifndef SM_HARDEN_H
#define SM_HARDEN_H

#include <stdbool.h>
#include <stddef.h>

#include "kmem_cache.h"

#define HARDEN_PAD 8                    /* canary (>= 4) + size record (4) */
#define HARDEN_CANARY 16                /* canary bytes at most (the rest is zero) */
#define HARDEN_SIZE_UNKNOWN ((size_t)-1) /* the caller does not know the size asked for */

/* Whether @s's objects get hardened mode's checks: its instance is hardened and it is no slab_debug cache. */
static inline bool harden_on(const struct kmem_cache *s)
{
	return unlikely(s->pa->harden) && !s->debug; /* a debug cache is slab_debug's alone */
}

/*
 * Write the canary (and for a kmalloc cache the size record) of @p, an
 * object of @s handed out for @size bytes (kmalloc: size + HARDEN_PAD <=
 * s->size; a custom cache ignores @size).  Bytes of the canary only.
 */
void harden_obj_arm(struct kmem_cache *s, void *p, size_t size) __hidden;

/*
 * The size @p (a live object of @s) was asked for: its size record
 * (kmalloc) or object_size.  SIZE_MAX when the record is not valid (an
 * overflow wrote over it).
 */
size_t harden_obj_size(const struct kmem_cache *s, const void *p) __hidden;

/* The usable size of @p (malloc_usable_size, realloc): what was asked for, 0 if its record is broken. */
static inline size_t harden_obj_usable(const struct kmem_cache *s, const void *p)
{
	size_t n = harden_obj_size(s, p);
	return n == SIZE_MAX ? 0 : n;
}

/*
 * Whether the canary (and record) of @p are intact.  If not, reports
 * "free of P: N-byte object of cache C overflowed: canary overwritten at
 * its end + O" (O: the first byte that differs, 0 the byte right after the
 * object) or, for a broken record, "... size record at the end of its
 * S-byte slot overwritten", and returns false: the caller leaves @p alone.
 */
bool harden_obj_check_canary(struct kmem_cache *s, void *p) __hidden;

/*
 * Whether the size record of the slot before @p (a kmalloc object of @s
 * being freed) is intact: zero (that slot is free) or a valid record.  An
 * underflow of @p, or an overflow of the object before it past its canary,
 * writes over it.  If not, reports "free of P: object of cache C
 * underflowed (or the object before it, Q, overflowed): ..." and returns
 * false: the caller leaves @p alone.  The slab's first slot has nothing
 * before it to check (slab_shuffle hands it out last).
 */
bool harden_obj_check_before(struct kmem_cache *s, void *p) __hidden;

/*
 * Zero @p's slot (a freed object of @s), free word included; nothing for
 * a cache with a constructor or SM_CACHE_TYPESAFE_BY_RCU (their objects'
 * contents must survive a free: harden_obj_scrubbed says no).
 */
void harden_obj_scrub(struct kmem_cache *s, void *p) __hidden;
static inline bool harden_obj_scrubbed(const struct kmem_cache *s)
{
	return !s->ctor && !(s->flags & SM_CACHE_TYPESAFE_BY_RCU);
}

/*
 * Whether @p, an object of @s about to be handed out again, is still all
 * zero but for its free word.  If not, reports "write after free of P:
 * S-byte object of cache C modified at offset O (found on reuse)" and
 * returns false: the caller keeps it out of use.
 */
bool harden_obj_check_zero(struct kmem_cache *s, const void *p) __hidden;

#endif /* SM_HARDEN_H */
