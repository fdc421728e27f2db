/*
 * early_dep.c - a shared library the "early" test programs are linked
 * against.  Its constructor allocates: with LD_PRELOAD it runs before
 * libslabmalloc.so's own constructor (a needed library is initialised before
 * the preloaded one), so its first malloc sets the default instance up.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "ptest.h"

#define EXPORT __attribute__((visibility("default")))

EXPORT int early_dep_status(void);
EXPORT char *early_dep_kept(void);

static char *kept;          /* allocated in the constructor, freed by main */
static int ctor_status = -1; /* 0: every check in the constructor passed */

__attribute__((constructor(101))) static void early_dep_ctor(void)
{
	int bad = 0;
	void *v[64];
	for (int i = 0; i < 64; i++) {
		v[i] = malloc((size_t)i * 37 + 1);
		if (!v[i])
			bad |= 1;
		else
			fill(v[i], (size_t)i * 37 + 1, (uint64_t)i);
	}
	char *big = calloc(1, 100000);
	if (!big || first_nonzero(big, 100000) != (size_t)-1)
		bad |= 2;
	big = realloc(big, 300000);
	if (!big)
		bad |= 4;
	for (int i = 0; i < 64; i++)
		if (v[i] && check_fill(v[i], (size_t)i * 37 + 1, (uint64_t)i) != (size_t)-1)
			bad |= 8;
	for (int i = 0; i < 64; i++)
		free(v[i]);
	free(big);
	kept = strdup("allocated by early_dep's constructor");
	if (!kept)
		bad |= 16;
	ctor_status = bad;
}

EXPORT int early_dep_status(void)
{
	return ctor_status;
}

EXPORT char *early_dep_kept(void)
{
	return kept;
}
