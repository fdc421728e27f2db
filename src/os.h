/*
 * os.h - the OS layer: the only place that makes system calls for memory,
 * time and error output.  Instances reach the OS through struct sm_os_ops
 * (include/slabmalloc.h states the contract of each primitive); this header
 * holds the real implementation and the helpers that dispatch to an
 * instance's ops.  Nothing here allocates or takes a lock.
 */
#ifndef SM_OS_H
#define SM_OS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "slabmalloc.h"
#include "compiler.h"

/*
 * The real OS's purge also makes a range of this many pages or more
 * inaccessible (PROT_NONE, issue 13): stale pointers into freed page runs
 * fault.  Smaller ranges (one or two freed slabs, mostly) stay accessible:
 * protecting them costs more system calls than the purge itself
 * (docs/benchmarks.md, "Issue 13").  9 pages is the smallest page run
 * malloc hands out (above 32 KiB).
 */
#define SM_PURGE_PROTECT_PAGES 9u

/* The real OS: mmap/mprotect/madvise/munmap and CLOCK_MONOTONIC. */
extern const struct sm_os_ops sm_os_linux __hidden;

/* Fill every NULL member of @dst from the real OS (arg stays @src->arg). */
void os_ops_complete(struct sm_os_ops *dst, const struct sm_os_ops *src) __hidden;

/* Raw mappings for the core's own bookkeeping (not through an instance). */
void *os_map_rw(size_t size) __hidden;          /* NULL on failure */
void os_unmap(void *p, size_t size) __hidden;

/* Write all of @len bytes to stderr; async-signal-safe, never allocates. */
void os_write_stderr(const char *s, size_t len) __hidden;

/*
 * Futex wait and wake on a private 32-bit word; both async-signal-safe
 * (one system call each) and errno-preserving.  os_futex_wait returns when
 * *@addr != @val, on a wake, or after @timeout_ns (0: no timeout).
 */
void os_futex_wait(uint32_t *addr, uint32_t val, uint64_t timeout_ns) __hidden;
void os_futex_wake(uint32_t *addr, int nr) __hidden;

/* CLOCK_MONOTONIC in ns: real time, whatever an instance's now_ns says. */
uint64_t os_monotonic_ns(void) __hidden;

/*
 * Start a detached thread named @name (ps, /proc/self/task/<tid>/comm)
 * running @fn(@arg), with every signal blocked in it (so no signal handler,
 * that is no user code, ever runs on it) and a small stack.  Must not be
 * called from a signal handler or with allocator locks held: thread creation
 * allocates.  Returns false on failure.
 */
bool os_thread_start(void *(*fn)(void *), void *arg, const char *name) __hidden;

/* Resident set of this process in bytes, from /proc/self/statm (0 if unknown). */
size_t os_rss_bytes(void) __hidden;

#endif /* SM_OS_H */
