/* write_after_free_huge: a byte written into a freed 64 MiB block.
 * Detected: the write faults (or the allocations after it stop the
 * process).
 * Idea: glibc's mmap'd chunks (unmapped on free); hardened_malloc's large
 * write-after-free tests.
 */
#include "misuse.h"

int main(void)
{
	volatile char *p = must_malloc(64u << 20);

	p[0] = 1;
	free((void *)p);
	p = opaque((void *)p);
	p[1 << 20] = 'w';
	churn(64u << 20, 4);
	return 0;
}
