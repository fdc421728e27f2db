/*
 * env.h - the options of the process-wide default instance, from three
 * sources applied in this order (a later one wins): the program's
 * slabmalloc_conf string, sm_option_set() calls made before the instance
 * is set up, and the SLABMALLOC_* environment.  Read when the default
 * instance is set up (registry.c), whatever the first call.  Parsing reads
 * environ directly, allocates nothing and prints with sm_printk, so it can
 * run inside the first malloc of a process.
 */
#ifndef SM_ENV_H
#define SM_ENV_H

#include <stdbool.h>
#include "compiler.h"
#include "printk.h"
#include "slabmalloc.h"

/* What SLABMALLOC_STATS asks for at exit (and every stats_interval seconds). */
enum sm_stats_format { SM_STATS_OFF = 0, SM_STATS_TEXT, SM_STATS_JSON };

#define SM_STATS_FILE_MAX 256
#define SM_DEBUG_CACHES_MAX 256

struct sm_env {
	struct sm_options opts;
	uint8_t stats;              /* enum sm_stats_format (SLABMALLOC_STATS) */
	bool verbose;               /* SLABMALLOC_VERBOSE: print the options at start-up */
	bool report_only;           /* SLABMALLOC_ON_ERROR=report: print misuse, do not abort */
	unsigned stats_interval;    /* SLABMALLOC_STATS_INTERVAL: seconds, 0 = only at exit */
	char stats_file[SM_STATS_FILE_MAX]; /* SLABMALLOC_STATS_FILE ("": stderr); %p = pid */
	bool valgrind;              /* SLABMALLOC_VALGRIND: memcheck client requests under Valgrind (vg.h) */
	/* SLABMALLOC_DEBUG's cache names ("": every cache); opts.debug_caches
	   points here once env_parse is done (debug.h) */
	char debug_caches[SM_DEBUG_CACHES_MAX];
};

/* The options, by the index env_set returns. */
enum sm_env_opt {
	ENV_STATS, ENV_STATS_FILE, ENV_STATS_INTERVAL, ENV_VERBOSE, ENV_ON_ERROR,
	ENV_PURGE_DELAY_MS, ENV_NODE_SIZE, ENV_MAX_NODES, ENV_SHEAF_CAPACITY, ENV_BARN_MAX_FULL,
	ENV_BARN_MAX_EMPTY, ENV_BARN_BYTES, ENV_BARN_GROW_BYTES, ENV_SLAB_MAX_EMPTY, ENV_HUGE_THRESHOLD,
	ENV_HELPER_THREAD, ENV_HELPER_IDLE_MS, ENV_VALGRIND, ENV_HARDEN, ENV_DEBUG, ENV_NR_OPTS
};

/*
 * Fill @env from the defaults, then slabmalloc_conf, then what
 * env_preset() recorded, then the environment.  Unknown options and
 * malformed values are reported on stderr (naming the source and the
 * values allowed) and ignored.  With on_error=report, opts.error_handler
 * prints each report and lets the program go on.
 */
void env_parse(struct sm_env *env) __hidden;

/*
 * Set option @name (case does not matter; "SLABMALLOC_" in front is
 * allowed) to @value in @env, as the environment would.  Returns the
 * option's index (enum sm_env_opt), -1 for an unknown name, -2 for a value
 * out of its range.  Prints nothing.
 */
int env_set(struct sm_env *env, const char *name, const char *value) __hidden;

/*
 * Record an option for the default instance before it is set up
 * (sm_option_set): env_parse applies what was recorded, in order, after
 * slabmalloc_conf.  Same returns as env_set.  Caller serialises.
 */
int env_preset(const char *name, const char *value) __hidden;

/* The words a message uses for the values option @idx allows ("0..1024", "abort or report"). */
const char *env_allowed(int idx) __hidden;

/*
 * The sink SLABMALLOC_ON_ERROR asks for, the one env_parse gives the
 * default instance: reads that variable alone and prints nothing, so it
 * may run anywhere, a signal handler included (reports about pointers of
 * no instance before the default instance is set up: registry.c).
 */
struct report_sink env_error_sink(void) __hidden;

/*
 * SLABMALLOC_VALGRIND alone (true unless it says no), read at every
 * instance's set-up whatever its options come from; prints nothing
 * (env_parse warns about a malformed value).
 */
bool env_valgrind(void) __hidden;

/* SLABMALLOC_ON_ERROR=report's handler: prints the report and returns. */
void env_report_and_go_on(const char *msg, void *arg) __hidden;

/*
 * Verbose mode: print the version, the path of the file that holds the
 * allocator (from /proc/self/maps, without malloc) and the options in
 * effect, each on its own line.
 */
void env_print(const struct sm_env *env) __hidden;

/*
 * Parse a size: decimal digits with an optional unit, k, M, G, T or P
 * (powers of 1024; either case), optionally followed by "iB" or "B"
 * ("2T", "1GiB", "512k", "4096").  False on anything else or overflow.
 */
bool env_parse_size(const char *v, size_t *out) __hidden;

/*
 * SLABMALLOC_DEBUG's value, SLUB's slab_debug syntax: flag letters
 * (F Z P U T, any case; "-" or nothing: off), then optionally ",name"
 * for each cache it applies to (none: every cache).  Sets *@flags to
 * SM_CACHE_DEBUG_* and @names (SM_DEBUG_CACHES_MAX bytes) to the names,
 * comma-separated.  False on a bad value, with what is wrong in words
 * in @why (@why_len bytes).
 */
bool env_parse_debug(const char *v, unsigned *flags, char *names, char *why, size_t why_len) __hidden;

/* yes/no, on/off, true/false, 1/0 (any case).  False on anything else. */
bool env_parse_bool(const char *v, bool *out) __hidden;

#endif /* SM_ENV_H */
