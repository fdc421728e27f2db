/* write_before_freed_4k: 16 bytes written just before a freed 4 KiB block
 * (where an in-band allocator keeps its header), then blocks of that size
 * allocated and freed.
 * Detected: the write or the allocations after it stop the process.
 * Idea: issue 13's list; glibc's chunk header checks.
 */
#include "misuse.h"

int main(void)
{
	char *keep = must_malloc(4096);
	volatile char *p = must_malloc(4096);

	free((void *)p);
	p = opaque((void *)p);
	for (int i = 1; i <= 16; i++)
		p[-i] = (char)MISUSE_PATTERN;
	churn(4096, 1000);
	free(keep);
	return 0;
}
