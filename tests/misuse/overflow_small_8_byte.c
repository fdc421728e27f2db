/* overflow_small_8_byte: 8 bytes written just past the usable size of a
 * 24-byte object, then the object freed.
 * Detected: the write faults, or the free or the churn stops the process.
 * Idea: hardened_malloc's test/overflow_small_8_byte; issue 13's list.
 */
#include <malloc.h>
#include "misuse.h"

int main(void)
{
	volatile char *p = must_malloc(24);
	size_t usable = malloc_usable_size((void *)p);

	printf("usable size %zu\n", usable);
	for (size_t i = 0; i < 8; i++)
		p[usable + i] = 'o';
	free((void *)p);
	churn(24, 1000);
	return 0;
}
