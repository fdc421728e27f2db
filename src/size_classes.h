/*
 * size_classes.h - the kmalloc size classes: 8-byte steps up to 64, then
 * four classes per doubling up to SM_KMALLOC_MAX_CACHE_SIZE.  Rounding a
 * request up to its class wastes less than 20% of the block above 64 bytes
 * (at most 7 bytes below).  Pure arithmetic; no state.
 */
#ifndef SM_SIZE_CLASSES_H
#define SM_SIZE_CLASSES_H

#include <stddef.h>
#include <stdint.h>
#include "compiler.h"
#include "slabmalloc.h"

#define SM_NR_KMALLOC 44

/* Class index for a request of @size bytes (size <= SM_KMALLOC_MAX_CACHE_SIZE). */
static __always_inline unsigned kmalloc_index(size_t size)
{
	if (size <= 64)
		return size ? (unsigned)((size - 1) >> 3) : 0;
	unsigned k = 63 - (unsigned)__builtin_clzl(size - 1); /* size in (2^k, 2^(k+1)] */
	return 8 + (k - 6) * 4 + (unsigned)(((size - 1) >> (k - 2)) & 3);
}

/*
 * The class of a malloc request of 9..1024 bytes without an alignment, which
 * is rounded up to a multiple of 16 (kmalloc_inline), as its fclass (class
 * + 1, the index of its sheaves in the thread's block: thread.h) times
 * 1 << SM_FCLASS32_SHIFT: the offset of those sheaves from the block's
 * first, and the form the page's hot word keeps it in (page.h).  One load
 * instead of the arithmetic above, and no shift after it: a 16-bit entry.
 * Entry j serves sizes 9 + 8j..16 + 8j, so that the index is the range
 * check's size - 9 shifted, and the +1 is the table's.  Generated from
 * (kmalloc_index(ALIGN_UP(16 + 8j, 16)) + 1) * 32; test_size_classes
 * checks every size.
 */
#define SM_MALLOC_TABLE_MAX 1024
#define SM_FCLASS32_SHIFT 5
extern const uint16_t sm_malloc_fclass32[SM_MALLOC_TABLE_MAX / 8 - 1] __hidden;

static __always_inline size_t malloc_fclass32(size_t size)
{
	size_t fc32 = sm_malloc_fclass32[(size - 9) >> 3];
	/* Every entry is (class + 1) * 32: no check needed, nor a mask. */
	if ((fc32 >> SM_FCLASS32_SHIFT) - 1 >= SM_NR_KMALLOC || (fc32 & ((1u << SM_FCLASS32_SHIFT) - 1)))
		__builtin_unreachable();
	return fc32;
}

/* Object size of class @i. */
static inline size_t kmalloc_class_size(unsigned i)
{
	if (i < 8)
		return (size_t)(i + 1) * 8;
	unsigned k = 6 + (i - 8) / 4, j = (i - 8) % 4;
	return ((size_t)1 << k) + (size_t)(j + 1) * ((size_t)1 << (k - 2));
}

/* Alignment of every malloc object above 8 bytes when none is asked for. */
#define SM_MALLOC_ALIGN 16

/*
 * Smallest class that fits @size and whose objects are @align-aligned, or
 * SM_NR_KMALLOC when none is (alignments above a page need a page run).
 */
static inline unsigned kmalloc_aligned_index(size_t size, size_t align)
{
	if (align > SM_PAGE_SIZE)
		return SM_NR_KMALLOC;
	unsigned i = kmalloc_index(MAX(size, align));
	while (i < SM_NR_KMALLOC && (kmalloc_class_size(i) & (align - 1)))
		i++;
	return i;
}

#endif /* SM_SIZE_CLASSES_H */
