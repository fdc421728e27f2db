/*
 * zero.h - the zero area: what malloc(0) returns (issue 13).  Each live
 * zero-size allocation is a distinct 16-byte slot of one process-wide
 * PROT_NONE reservation, so any read or write through it faults, while
 * free, realloc and malloc_usable_size still recognise it.  A bitmap beside
 * the area (its own read-write mapping, past a guard page) says which slots
 * are live; slots are taken and given back with atomic operations only, so
 * every call is lock-free and async-signal-safe, and a second free of a
 * slot is always seen.  Owns nothing else; knows no instance.
 */
#ifndef SM_ZERO_H
#define SM_ZERO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "compiler.h"

#define SM_ZERO_SLOT      16                    /* bytes between two slots (malloc's alignment) */
#define SM_ZERO_AREA_SIZE ((size_t)64 << 20)    /* 4 Mi slots of address space */

/* The start of the slot area, 0 until the first zero_alloc set it up (relaxed atomic). */
extern uintptr_t sm_zero_area __hidden;

/* Whether @p lies in the zero area (live slot or not).  One load and compare. */
static __always_inline bool zero_holds(const void *p)
{
	uintptr_t base = __atomic_load_n(&sm_zero_area, __ATOMIC_RELAXED);
	return base && (uintptr_t)p - base < SM_ZERO_AREA_SIZE;
}

/*
 * A fresh slot of the zero area, distinct from every live one, 16-byte
 * aligned and inaccessible.  The area is reserved on the first call.
 * NULL when the OS refused the reservation or every slot is live: the
 * caller then serves the request another way (a real object).  Never sets
 * errno.
 */
void *zero_alloc(void) __hidden;

enum zero_free_result {
	ZERO_FREED,     /* the slot was live; it is free now */
	ZERO_NOT_LIVE,  /* a slot's start, not live: freed already */
	ZERO_INTERIOR,  /* not a slot's start */
};

/* Give back the slot @p (zero_holds(@p) is true).  Lock-free. */
enum zero_free_result zero_free(void *p) __hidden;

/* Whether @p is the start of a live slot. */
bool zero_live(const void *p) __hidden;

#endif /* SM_ZERO_H */
