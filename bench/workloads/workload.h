/*
 * workload.h - what every workload program in bench/workloads/ shares: a
 * deterministic random generator, a monotonic clock, resident-set readings
 * and the one result line bench/compare parses.  Workloads link libc only;
 * the allocator under test is chosen with LD_PRELOAD (or none: glibc).
 */
#ifndef SM_BENCH_WORKLOAD_H
#define SM_BENCH_WORKLOAD_H

#include <stddef.h>
#include <stdint.h>

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)

/*
 * splitmix64: one 64-bit state word, good enough statistics for picking sizes
 * and lifetimes, and cheap next to any allocator call.  Seed it with a fixed
 * constant (plus a thread number) so every run makes the same requests.
 */
static inline uint64_t wl_rand(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Uniform in [lo, hi] (hi >= lo). */
static inline size_t wl_rand_range(uint64_t *state, size_t lo, size_t hi)
{
	return lo + (size_t)(wl_rand(state) % (hi - lo + 1));
}

/* Log-uniform in [lo, hi]: as many requests between 1 and 2 MiB as between 32 and 64 MiB. */
size_t wl_rand_log(uint64_t *state, size_t lo, size_t hi);

/* Seconds on CLOCK_MONOTONIC. */
double wl_now(void);

/*
 * The scale factor of this run: argv[1] if given (a positive number), else
 * 1.  Every workload multiplies its iteration counts by it, so "0.1" makes a
 * quick smoke run and the default is the size bench/compare measures.
 * argv[2], if given, is the number of threads (see wl_threads; the
 * single-threaded workloads ignore it).  Exits with a usage message on
 * anything else.
 */
double wl_scale(int argc, char **argv);

/* The most threads a multi-threaded workload runs (sizes its static arrays). */
#define WL_MAX_THREADS 64

/*
 * The number of threads of this run: argv[2] if given (1 to WL_MAX_THREADS),
 * else @dflt.  bench/compare's scaling runs pass 1, 2, 4 and 8; each
 * multi-threaded workload says in its header what a thread does, so that
 * the work grows with the threads and ops/s compares across counts.
 * Exits with a usage message on anything else.
 */
unsigned wl_threads(int argc, char **argv, unsigned dflt);

/* @n scaled by wl_scale(), at least 1. */
size_t wl_scaled(size_t n, double scale);

/* Resident set now (VmRSS) and its peak (VmHWM), in KiB; 0 if unreadable. */
size_t wl_rss_kib(void);
size_t wl_hwm_kib(void);

/* malloc that exits with a message instead of returning NULL. */
void *wl_xmalloc(size_t size);

/*
 * Print the result line, the only line on stdout:
 *   bench: workload=NAME time_s=T maxrss_kib=R hwm_kib=H [EXTRA]
 * hwm_kib is the peak resident set of this program (VmHWM of
 * /proc/self/status): what bench/compare reports.  maxrss_kib is getrusage's
 * ru_maxrss, which Linux carries across execve, so it can be the peak of
 * the process that started this one (a Python parent's, say) instead.
 * @extra (may be NULL) adds further key=value pairs.
 */
void wl_report(const char *name, double seconds, const char *extra);

/* Exit 1 with "NAME: what" on stderr when a pthread call returns @err != 0. */
void wl_check(int err, const char *what);

#endif
