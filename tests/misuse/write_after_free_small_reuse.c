/* write_after_free_small_reuse: a 128-byte object freed, another allocated
 * (often the same memory), the stale pointer written through, then objects
 * of that size allocated and freed.
 * Detected: the write, or the allocations after it, stop the process.
 * Idea: hardened_malloc's test/write_after_free_small_reuse.
 */
#include "misuse.h"

int main(void)
{
	volatile char *p = must_malloc(128);
	char *q;

	free((void *)p);
	q = must_malloc(128);
	p = opaque((void *)p);
	p[65] = 'w';
	churn(128, 20000);
	free(q);
	return 0;
}
