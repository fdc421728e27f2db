/* write_after_free_large_reuse: a 256 KiB block freed, another allocated,
 * the stale pointer written through, then blocks of that size allocated and
 * freed.
 * Detected: the write, or the allocations after it, stop the process.
 * Idea: hardened_malloc's test/write_after_free_large_reuse.
 */
#include "misuse.h"

int main(void)
{
	volatile char *p = must_malloc(256 * 1024);
	char *q;

	p[0] = 1;
	free((void *)p);
	q = must_malloc(256 * 1024);
	p = opaque((void *)p);
	p[64 * 1024 + 1] = 'w';
	churn(256 * 1024, 20);
	free(q);
	return 0;
}
