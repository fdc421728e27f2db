/* overflow_small_1_byte: one byte written just past the usable size of a
 * 24-byte object (malloc_usable_size: everything before it is the
 * program's to use), then the object freed.
 * Detected: the write faults, or the free or the churn after it stops the
 * process.
 * Idea: hardened_malloc's test/overflow_small_1_byte; issue 13's list.
 */
#include <malloc.h>
#include "misuse.h"

int main(void)
{
	volatile char *p = must_malloc(24);
	size_t usable = malloc_usable_size((void *)p);

	printf("usable size %zu\n", usable);
	p[usable] = 'o';
	free((void *)p);
	churn(24, 1000);
	return 0;
}
