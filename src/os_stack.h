/*
 * os_stack.h - the call stack for slab_debug (debug.c): return addresses
 * taken without malloc or a lock, whether one lies in slabmalloc's own
 * code, and symbol+offset for a report.  Part of the OS layer: the loader
 * (_dl_find_object, dladdr) and libgcc's unwinder are reached only here.
 */
#ifndef SM_OS_STACK_H
#define SM_OS_STACK_H

#include <stdbool.h>
#include <stddef.h>
#include "compiler.h"

/*
 * Store up to @max return addresses of the calling thread's stack in @pcs,
 * innermost first, the caller of os_stack_trace first; returns how many
 * (none until os_stack_prepare has found the unwinder).  libgcc's
 * table-driven unwinder (_Unwind_Backtrace), which finds each frame's
 * unwind table through glibc's _dl_find_object: no malloc, no lock,
 * async-signal-safe, and correct through code built without frame
 * pointers (the library is).
 * Bounded by @max, by the unwinder's end of stack and, with @after
 * non-zero, by @after frames outside slabmalloc's code (os_pc_is_ours):
 * each frame costs a walk of its unwind table.
 */
unsigned os_stack_trace(void **pcs, unsigned max, unsigned after) __hidden;

/*
 * Find libgcc's unwinder for os_stack_trace: the process's own if it has
 * libgcc_s (every C++ program does), else libgcc_s.so.1 loaded with
 * dlopen, which stays loaded.  Returns whether traces will work (false
 * forever if libgcc_s cannot be had: traces are then empty).  dlopen
 * allocates and takes the loader's lock: call it only where the allocator
 * may be entered and no allocator lock is held (slab_debug's set-up:
 * debug_prepare), never from an allocation.  Idempotent; thread-safe.
 */
bool os_stack_prepare(void) __hidden;

/*
 * Whether @pc lies in slabmalloc's own code: exact when the library is a
 * shared object of its own (libslabmalloc.so, preloaded or linked); false
 * for every @pc when it is linked into the program (the static archive),
 * whose code then cannot be told apart from the program's.
 * Lock-free (_dl_find_object).
 */
bool os_pc_is_ours(const void *pc) __hidden;

/*
 * Write "symbol+0xoff" for the return address @pc into @buf (the symbol
 * that dladdr finds for @pc - 1; "file+0xoff" when only the object is
 * known; "0x..." when nothing is), NUL-terminated, at most @n bytes.
 * @resolve false: the raw address only.  dladdr may take the loader lock:
 * never call it with an allocator lock held, nor in a signal handler
 * (callers pass @resolve false there).
 */
void os_symbolize(const void *pc, char *buf, size_t n, bool resolve) __hidden;

/* The calling thread's kernel id and the process id (one system call each). */
int os_gettid(void) __hidden;
int os_getpid(void) __hidden;

#endif /* SM_OS_STACK_H */
