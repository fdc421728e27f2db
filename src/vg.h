/*
 * vg.h - what memcheck is told when the process runs under Valgrind: each
 * object handed to the program is a heap block (MALLOCLIKE, with the stack
 * of the call that asked for it), each free makes it inaccessible
 * (FREELIKE), and the allocator's own reads and writes of free objects
 * (freelist links, the free word, deferred links) are hidden from it.
 *
 * Under Valgrind no thread gets a tcache (registry.c thread_attach), so the
 * fast paths always miss and every object comes from and goes back to its
 * slab on a slow path, where these calls are: no object ever waits in a
 * sheaf.  vg_init decides when the first instance is set up; on
 * bare metal every call below is one load and a not-taken branch, and the
 * fast paths have none.  Must not: allocate, take a lock, or be called on a
 * fast path.
 */
#ifndef SM_VG_H
#define SM_VG_H

#include <stdbool.h>
#include <stddef.h>

#include "compiler.h"

#if defined(__has_include)
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#define SM_HAVE_VALGRIND 1
#endif
#endif

#ifndef SM_HAVE_VALGRIND
#define VALGRIND_MALLOCLIKE_BLOCK(a, s, r, z) ((void)0)
#define VALGRIND_FREELIKE_BLOCK(a, r) ((void)0)
#define VALGRIND_RESIZEINPLACE_BLOCK(a, o, n, r) ((void)0)
#define VALGRIND_MAKE_MEM_DEFINED(a, s) ((void)0)
#define VALGRIND_MAKE_MEM_NOACCESS(a, s) ((void)0)
#define VALGRIND_MAKE_MEM_UNDEFINED(a, s) ((void)0)
#define VALGRIND_DISABLE_ERROR_REPORTING ((void)0)
#define VALGRIND_ENABLE_ERROR_REPORTING ((void)0)
#endif

/* Non-zero once vg_init found Valgrind (written once, before any object exists). */
extern uint8_t sm_vg_on __hidden;

/*
 * Decide whether the client requests are on: running under Valgrind's
 * memcheck (not another tool) and not turned off (@allowed false:
 * SLABMALLOC_VALGRIND=0).  Called by every instance's set-up, before the
 * instance has an object; every call gives the same answer.
 */
void vg_init(bool allowed) __hidden;

static inline bool vg_active(void)
{
	return unlikely(READ_ONCE(sm_vg_on));
}

/*
 * The calls below evaluate their arguments only under Valgrind, so a call
 * site may pass a size it has to look up (sm_ksize).
 *
 * vg_obj_alloc: slab object @p of a @slot-byte slot handed to the program
 * with @usable bytes (what sm_ksize says): a heap block, undefined unless
 * @defined (a constructor's state).  The slot's tail past @usable is made
 * inaccessible, except the free word at @fw: the free paths read its tag
 * (top two bytes) before they know whether @p is live, so those bytes are
 * defined (a program's read of them before writing them goes unreported).
 */
#define vg_obj_alloc(p, usable, slot, fw, defined) \
	do { if (vg_active()) __vg_obj_alloc((p), (usable), (slot), (fw), (defined)); } while (0)
/* A page run or huge mapping of @size usable bytes handed out (@zeroed: it reads as zero). */
#define vg_alloc(p, size, zeroed) \
	do { if (vg_active()) VALGRIND_MALLOCLIKE_BLOCK((p), (size), 0, (zeroed)); } while (0)
/* The program gives @p back: from here on memcheck reports any access (or a second free). */
#define vg_free(p) \
	do { if (vg_active()) VALGRIND_FREELIKE_BLOCK((p), 0); } while (0)
/* @p resized in place from @old to @new usable bytes; @zeroed: the growth reads as zero. */
#define vg_resize(p, old, new, zeroed) \
	do { if (vg_active()) __vg_resize((p), (old), (new), (zeroed)); } while (0)
/* The huge mapping @p moved to @q (mremap) with @new usable bytes. */
#define vg_move(p, q, new) \
	do { if (vg_active()) __vg_move((p), (q), (new)); } while (0)
/*
 * @npages pages at @p handed out by a node, for a slab, a page run or a
 * tcache: accessible again whatever they were (a freed block's pages are
 * inaccessible), defined if @zeroed (fresh from the OS).
 */
#define vg_pages(p, npages, zeroed) \
	do { if (vg_active()) __vg_pages((p), (npages), (zeroed)); } while (0)
/* The allocator's own object @p (a sheaf, a cache descriptor): plain memory to memcheck. */
#define vg_internal(p, size) \
	do { if (vg_active()) VALGRIND_MAKE_MEM_DEFINED((p), (size)); } while (0)
/*
 * Bracket the allocator's own accesses to free objects (and everything in
 * between: a constructor run by a new slab included) so memcheck reports
 * none of them.  Nest; this thread only.
 */
#define vg_quiet_begin() do { if (vg_active()) VALGRIND_DISABLE_ERROR_REPORTING; } while (0)
#define vg_quiet_end()   do { if (vg_active()) VALGRIND_ENABLE_ERROR_REPORTING; } while (0)

void __vg_obj_alloc(void *p, size_t usable, size_t slot, size_t fw, bool defined) __hidden __cold;
void __vg_pages(void *p, size_t npages, bool zeroed) __hidden __cold;
void __vg_resize(void *p, size_t old, size_t new, bool zeroed) __hidden __cold;
void __vg_move(void *p, void *q, size_t new) __hidden __cold;

#endif /* SM_VG_H */
