/*
 * env.h - options from the environment (SLABMALLOC_*), for the process-wide
 * default instance.  Parsing reads environ directly, allocates nothing and
 * prints with sm_printk, so it can run inside the first malloc of a process.
 */
#ifndef SM_ENV_H
#define SM_ENV_H

#include <stdbool.h>
#include "compiler.h"
#include "slabmalloc.h"

struct sm_env {
	struct sm_options opts;
	bool stats;        /* SLABMALLOC_STATS: print the slabinfo table at exit */
	bool verbose;      /* SLABMALLOC_VERBOSE: print the options at start-up */
	bool report_only;  /* SLABMALLOC_ON_ERROR=report: print misuse, do not abort */
};

/*
 * Fill @env from defaults and the environment.  Unknown SLABMALLOC_*
 * variables and malformed values are reported once on stderr and ignored.
 */
void env_parse(struct sm_env *env) __hidden;

/* Print the options in effect (verbose mode). */
void env_print(const struct sm_env *env) __hidden;

#endif /* SM_ENV_H */
