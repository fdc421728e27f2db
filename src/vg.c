/*
 * vg.c - the memcheck client requests of vg.h that take more than one:
 * deciding whether they are on, and the objects handed out, resized and
 * moved.  Nothing here runs on bare metal but vg_init.
 */
#include "vg.h"

uint8_t sm_vg_on;

void vg_init(bool allowed)
{
#ifdef SM_HAVE_VALGRIND
	/* Memcheck only: it answers a MAKE_MEM request with -1, every other
	   tool (callgrind measuring the fast paths, helgrind, drd) with the
	   default 0, and there the allocator runs as on bare metal. */
	uint8_t probe = 0;
	if (allowed && RUNNING_ON_VALGRIND &&
	    (long)VALGRIND_MAKE_MEM_DEFINED(&probe, sizeof(probe)) == -1)
		WRITE_ONCE(sm_vg_on, 1);
#else
	(void)allowed;
#endif
}

/* The free word's tag: its top two bytes (kmem_cache.h, SM_FREE_TAG_SHIFT 48, little-endian). */
#define TAG_OFFSET 6
#define TAG_BYTES 2

void __vg_obj_alloc(void *p, size_t usable, size_t slot, size_t fw, bool defined)
{
	char *c = p;
	VALGRIND_MALLOCLIKE_BLOCK(c, usable, 0, defined);
	if (slot > usable)
		VALGRIND_MAKE_MEM_NOACCESS(c + usable, slot - usable);
	if (fw >= usable)
		VALGRIND_MAKE_MEM_DEFINED(c + fw, sizeof(uintptr_t)); /* outside the block */
	else
		VALGRIND_MAKE_MEM_DEFINED(c + fw + TAG_OFFSET, TAG_BYTES);
}

void __vg_resize(void *p, size_t old, size_t new, bool zeroed)
{
	VALGRIND_RESIZEINPLACE_BLOCK(p, old, new, 0);
	if (zeroed && new > old)
		VALGRIND_MAKE_MEM_DEFINED((char *)p + old, new - old);
}

void __vg_move(void *p, void *q, size_t new)
{
	/* mremap moved the bytes (memcheck follows it); the new block is
	   marked defined: what the old one held is not tracked further. */
	VALGRIND_FREELIKE_BLOCK(p, 0);
	VALGRIND_MALLOCLIKE_BLOCK(q, new, 0, 1);
}

void __vg_pages(void *p, size_t npages, bool zeroed)
{
	size_t bytes = npages << SM_PAGE_SHIFT;
	if (zeroed)
		VALGRIND_MAKE_MEM_DEFINED(p, bytes);
	else
		VALGRIND_MAKE_MEM_UNDEFINED(p, bytes);
}
