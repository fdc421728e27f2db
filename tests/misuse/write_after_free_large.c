/* write_after_free_large: a byte written into a freed 256 KiB block right
 * after its free, then blocks of that size allocated and freed.
 * Detected: the write (a protection) or the allocations after it stop the
 * process.
 * Idea: hardened_malloc's test/write_after_free_large; issue 13's list.
 */
#include "misuse.h"

int main(void)
{
	volatile char *p = must_malloc(256 * 1024);

	p[0] = 1;
	free((void *)p);
	p = opaque((void *)p);
	p[64 * 1024 + 1] = 'w';
	churn(256 * 1024, 20);
	return 0;
}
