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
/*
 * A node's OS (sm_node_params.os): @own with its NULL members the real
 * OS's (as for an instance), or @base (the instance's, complete) when
 * @own is NULL.
 */
void os_ops_inherit(struct sm_os_ops *dst, const struct sm_os_ops *own,
		    const struct sm_os_ops *base) __hidden;

/*
 * The OS of one unmapped node (SM_NODE_UNMAPPED) in @ops, whose data
 * starts @data_off bytes into its reservation (what precedes it, the
 * node's header and descriptors, is ordinary memory): memfd_secret(2) when the kernel has it (and
 * os_unmapped_no_secretmem is false), else anonymous memory that is
 * mlock'ed, MADV_DONTDUMP and MADV_WIPEONFORK.  A fork child does not get
 * the secretmem mapping (MADV_DONTFORK) and sees the locked one as zeros.
 * Purge always fails (the
 * pages stay; the node zeroes what is freed); no remap.  Returns the
 * backing (SM_BACKING_SECRETMEM or SM_BACKING_LOCKED), or -1 when no slot
 * is left.  The ops serve one reservation; its release ends them, and
 * os_unmapped_discard (with the *@gen returned) ends ops whose reserve
 * never succeeded.
 */
int os_unmapped_ops(struct sm_os_ops *ops, size_t data_off, uint32_t *gen) __hidden;
void os_unmapped_discard(const struct sm_os_ops *ops, uint32_t gen) __hidden;
/* Tests: true makes os_unmapped_ops take the locked fallback. */
extern bool os_unmapped_no_secretmem __hidden;

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

/* Give the CPU to another thread (sched_yield); async-signal-safe, errno kept. */
void os_yield(void) __hidden;

/* CLOCK_MONOTONIC in ns: real time, whatever an instance's now_ns says. */
uint64_t os_monotonic_ns(void) __hidden;

/*
 * CLOCK_MONOTONIC_COARSE in ns: the real OS's now_ns as it stood at the
 * kernel's last tick, read from the vDSO's data without a time-stamp
 * counter (3 ns on the Zen 5 VM of docs/benchmarks.md, where
 * os_monotonic_ns takes 25).  Never ahead of os_monotonic_ns; behind it
 * by up to a tick, os_coarse_lag_ns() (twice the clock's resolution, for
 * a tick that comes late), or 0 when the system has no coarse clock.
 */
uint64_t os_coarse_ns(void) __hidden;
uint64_t os_coarse_lag_ns(void) __hidden;

/* Whether @ops's clock is the real OS's (os_coarse_ns then trails it). */
bool os_clock_is_real(const struct sm_os_ops *ops) __hidden;

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

/*
 * Files for the statistics and the verbose line, without stdio or malloc
 * (each is a few system calls; errno is preserved).  os_read_file reads up
 * to @n - 1 bytes of @path from byte @offset on into @buf, NUL-terminates them and returns the
 * count (0 when the file cannot be read).  os_open_output opens @path for
 * writing (created 0644; emptied first when @truncate, else appended to) and
 * returns the descriptor or -1; os_write_fd writes all of @len bytes.
 */
size_t os_read_file(const char *path, size_t offset, char *buf, size_t n) __hidden;
int os_open_output(const char *path, bool truncate) __hidden;
/*
 * Live threads of this process, from /proc/self/stat (0 if unknown): its
 * thread count, less the main thread if that has called pthread_exit (a
 * zombie, still counted until the last thread ends).
 */
unsigned os_nr_threads(void) __hidden;
void os_write_fd(int fd, const char *s, size_t len) __hidden;
void os_close(int fd) __hidden;

#endif /* SM_OS_H */
