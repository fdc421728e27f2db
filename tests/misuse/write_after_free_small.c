/* write_after_free_small: a byte written into the middle of a freed 128-byte
 * object, then objects of that size allocated and freed.
 * Detected: the write (a protection), the next allocations or frees stop
 * the process.
 * Idea: hardened_malloc's test/write_after_free_small; issue 13's list.
 */
#include "misuse.h"

int main(void)
{
	volatile char *p = must_malloc(128);

	free((void *)p);
	p = opaque((void *)p);
	p[65] = 'w';
	churn(128, 20000);
	return 0;
}
