/*
 * env.h - options from the environment (SLABMALLOC_*), for the process-wide
 * default instance, read when it is set up (registry.c), whatever the first
 * call.  Parsing reads environ directly, allocates nothing and prints with
 * sm_printk, so it can run inside the first malloc of a process.
 */
#ifndef SM_ENV_H
#define SM_ENV_H

#include <stdbool.h>
#include "compiler.h"
#include "printk.h"
#include "slabmalloc.h"

struct sm_env {
	struct sm_options opts;
	bool stats;        /* SLABMALLOC_STATS: print the slabinfo table at exit */
	bool verbose;      /* SLABMALLOC_VERBOSE: print the options at start-up */
	bool report_only;  /* SLABMALLOC_ON_ERROR=report: print misuse, do not abort */
	bool valgrind;     /* SLABMALLOC_VALGRIND: memcheck client requests under Valgrind (vg.h) */
};

/*
 * Fill @env from defaults and the environment.  Unknown SLABMALLOC_*
 * variables and malformed values are reported on stderr and ignored (the
 * default instance parses once).  With SLABMALLOC_ON_ERROR=report,
 * opts.error_handler prints each report and lets the program go on.
 */
void env_parse(struct sm_env *env) __hidden;

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

/* Print the options in effect (verbose mode). */
void env_print(const struct sm_env *env) __hidden;

#endif /* SM_ENV_H */
