/* overflow_large_1_byte: one byte written just past the usable size of a
 * 256 KiB block, then the block freed.
 * Detected: the write faults (a guard page, the end of a mapping), or the
 * free or the allocations after it stop the process.
 * Idea: hardened_malloc's test/overflow_large_1_byte; issue 13's list.
 */
#include <malloc.h>
#include "misuse.h"

int main(void)
{
	volatile char *p = must_malloc(256 * 1024);
	size_t usable = malloc_usable_size((void *)p);

	printf("usable size %zu\n", usable);
	p[usable] = 'o';
	free((void *)p);
	churn(256 * 1024, 20);
	return 0;
}
