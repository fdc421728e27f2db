/*
 * new_delete.c - C++'s replaceable operator new and delete, every form of
 * C++14/17 (plain, array, nothrow, sized, aligned, sized and aligned), on
 * the default instance, written in C so that a C program that preloads or
 * links the library gains no C++ runtime (issue 13).  What only a C++
 * runtime can do (std::get_new_handler, throwing std::bad_alloc) is reached
 * through weak references, resolved only when the program has one.
 *
 * Semantics (the standard's [new.delete]): on failure, new calls the new
 * handler and tries again while one is installed, then throws
 * std::bad_alloc; without a C++ runtime to throw it (a C program calling
 * _Znwm by hand), it prints why and aborts.  The nothrow forms run the same
 * loop and return NULL where the others throw (a handler that throws is not
 * caught here: C cannot catch).  new(0) returns malloc(0)'s unique pointer.
 * Sized and aligned delete check the size and alignment against the object
 * (sized.c) and report a mismatch like a bad free.
 */
#include <stdlib.h>

#include "fastpath.h"
#include "printk.h"
#include "registry.h"

#define SM_EXPORT __attribute__((visibility("default")))

typedef void (*new_handler_fn)(void);

/* The C++ runtime, if the program has one (weak: no NEEDED entry, NULL otherwise). */
extern new_handler_fn _ZSt15get_new_handlerv(void) __attribute__((weak));      /* std::get_new_handler() */
extern void _ZSt17__throw_bad_allocv(void) __attribute__((weak, noreturn));    /* libstdc++: throws std::bad_alloc */
extern void _ZNSt3__117__throw_bad_allocEv(void) __attribute__((weak, noreturn)); /* libc++'s */

/* Every form below, declared for -Wmissing-prototypes (the names are the ABI's). */
#define NT const void * /* const std::nothrow_t & */
void *_Znwm(size_t n);
void *_Znam(size_t n);
void *_ZnwmRKSt9nothrow_t(size_t n, NT t);
void *_ZnamRKSt9nothrow_t(size_t n, NT t);
void *_ZnwmSt11align_val_t(size_t n, size_t al);
void *_ZnamSt11align_val_t(size_t n, size_t al);
void *_ZnwmSt11align_val_tRKSt9nothrow_t(size_t n, size_t al, NT t);
void *_ZnamSt11align_val_tRKSt9nothrow_t(size_t n, size_t al, NT t);
void _ZdlPv(void *p);
void _ZdaPv(void *p);
void _ZdlPvRKSt9nothrow_t(void *p, NT t);
void _ZdaPvRKSt9nothrow_t(void *p, NT t);
void _ZdlPvm(void *p, size_t n);
void _ZdaPvm(void *p, size_t n);
void _ZdlPvSt11align_val_t(void *p, size_t al);
void _ZdaPvSt11align_val_t(void *p, size_t al);
void _ZdlPvSt11align_val_tRKSt9nothrow_t(void *p, size_t al, NT t);
void _ZdaPvSt11align_val_tRKSt9nothrow_t(void *p, size_t al, NT t);
void _ZdlPvmSt11align_val_t(void *p, size_t n, size_t al);
void _ZdaPvmSt11align_val_t(void *p, size_t n, size_t al);

/* One allocation attempt: NULL when out of memory (or an alignment beyond any). */
static __always_inline void *new_try(size_t n, size_t al)
{
	if (al <= SM_MALLOC_ALIGN) /* what malloc gives: its own path */
		return kmalloc_inline(&sm_default_inst, n, 0, SLAB_ALLOC_ZERO_PTR, SM_NO_NODE);
	if (unlikely(!__atomic_load_n(&sm_default_ready, __ATOMIC_ACQUIRE)) && !sm_default_instance())
		return NULL;
	return kmalloc_inline(&sm_default_inst, n, al, SLAB_ALLOC_ZERO_PTR, SM_NO_NODE);
}

static __cold __attribute__((noreturn)) void throw_bad_alloc(size_t n, size_t al)
{
	if (_ZSt17__throw_bad_allocv)
		_ZSt17__throw_bad_allocv();
	if (_ZNSt3__117__throw_bad_allocEv)
		_ZNSt3__117__throw_bad_allocEv();
	sm_printk("slabmalloc: operator new(%zu, alignment %zu): out of memory, and no C++ runtime "
		  "to throw std::bad_alloc\n", n, al);
	abort();
}

/* The standard's loop, after a first attempt failed. */
static __cold __noinline void *new_retry(size_t n, size_t al, bool nothrow)
{
	for (;;) {
		new_handler_fn h = _ZSt15get_new_handlerv ? _ZSt15get_new_handlerv() : NULL;
		if (!h) {
			if (nothrow)
				return NULL;
			throw_bad_alloc(n, al);
		}
		h(); /* frees memory, installs another handler, throws or aborts */
		void *p = new_try(n, al);
		if (p)
			return p;
	}
}

static __always_inline void *new_common(size_t n, size_t al, bool nothrow)
{
	void *p = new_try(n, al);
	if (likely(p))
		return p;
	return new_retry(n, al, nothrow);
}

SM_EXPORT __entry_aligned void *_Znwm(size_t n) { return new_common(n, 0, false); }
SM_EXPORT __entry_aligned void *_Znam(size_t n) { return new_common(n, 0, false); }
SM_EXPORT void *_ZnwmRKSt9nothrow_t(size_t n, NT t) { (void)t; return new_common(n, 0, true); }
SM_EXPORT void *_ZnamRKSt9nothrow_t(size_t n, NT t) { (void)t; return new_common(n, 0, true); }
/*
 * The rarer forms (over-aligned types, nothrow delete) share one copy of
 * the inlined fast path instead of carrying their own: every process has
 * the library's text resident whole (docs/benchmarks.md, "The library's
 * text counts whole in every process").
 */
static __noinline void *new_aligned(size_t n, size_t al, bool nothrow)
{
	return new_common(n, al, nothrow);
}

SM_EXPORT void *_ZnwmSt11align_val_t(size_t n, size_t al) { return new_aligned(n, al, false); }
SM_EXPORT void *_ZnamSt11align_val_t(size_t n, size_t al) { return new_aligned(n, al, false); }
SM_EXPORT void *_ZnwmSt11align_val_tRKSt9nothrow_t(size_t n, size_t al, NT t)
{
	(void)t;
	return new_aligned(n, al, true);
}
SM_EXPORT void *_ZnamSt11align_val_tRKSt9nothrow_t(size_t n, size_t al, NT t)
{
	(void)t;
	return new_aligned(n, al, true);
}

SM_EXPORT __entry_aligned void _ZdlPv(void *p) { kfree_inline(p); }
SM_EXPORT __entry_aligned void _ZdaPv(void *p) { kfree_inline(p); }
SM_EXPORT void _ZdlPvRKSt9nothrow_t(void *p, NT t) { (void)t; _ZdlPv(p); }
SM_EXPORT void _ZdaPvRKSt9nothrow_t(void *p, NT t) { (void)t; _ZdlPv(p); }
/* Sized and aligned: checked against the object (fastpath.h, sized.c). */
SM_EXPORT __entry_aligned void _ZdlPvm(void *p, size_t n) { kfree_inline_checked(p, true, n, 0, SIZED_DELETE); }
SM_EXPORT __entry_aligned void _ZdaPvm(void *p, size_t n) { kfree_inline_checked(p, true, n, 0, SIZED_DELETE); }
SM_EXPORT void _ZdlPvSt11align_val_t(void *p, size_t al)
{
	kfree_inline_checked(p, false, 0, al, SIZED_DELETE);
}
SM_EXPORT void _ZdaPvSt11align_val_t(void *p, size_t al)
{
	kfree_inline_checked(p, false, 0, al, SIZED_DELETE);
}
SM_EXPORT void _ZdlPvSt11align_val_tRKSt9nothrow_t(void *p, size_t al, NT t)
{
	(void)t;
	_ZdlPvSt11align_val_t(p, al);
}
SM_EXPORT void _ZdaPvSt11align_val_tRKSt9nothrow_t(void *p, size_t al, NT t)
{
	(void)t;
	_ZdlPvSt11align_val_t(p, al);
}
SM_EXPORT void _ZdlPvmSt11align_val_t(void *p, size_t n, size_t al)
{
	kfree_inline_checked(p, true, n, al, SIZED_DELETE);
}
SM_EXPORT void _ZdaPvmSt11align_val_t(void *p, size_t n, size_t al)
{
	kfree_inline_checked(p, true, n, al, SIZED_DELETE);
}
