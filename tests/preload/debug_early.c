/*
 * debug_early.c - slab_debug's owner tracking for an object allocated
 * before libslabmalloc.so's constructor: early_dep's constructor runs
 * first (LD_PRELOAD), when the unwinder is not found yet
 * (os_stack_prepare), so the allocation has no caller.  Run with
 * SLABMALLOC_DEBUG=FZPU and SLABMALLOC_ON_ERROR=report; main frees that
 * object twice, and the test (CMakeLists.txt) requires the report to say
 * "allocated by ? (pid ...)": the event happened, its caller is unknown.
 * Not "(never)", which is what an object never allocated gets.
 */
#include <stdio.h>
#include <stdlib.h>

char *early_dep_kept(void);

int main(void)
{
	char *volatile k = early_dep_kept();
	if (!k)
		return 1;
	free(k);
	free(k); /* reported, left alone */
	puts("debug_early: done");
	return 0;
}
