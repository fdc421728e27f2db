/* read_zero_size: a byte read through malloc(0)'s pointer.
 * Detected: the read faults (or the allocator stops the process).
 * Idea: hardened_malloc's test/read_zero_size; issue 13's list.
 */
#include "misuse.h"

int main(void)
{
	volatile char *p = malloc(0);

	if (!p) {
		printf("malloc(0) returned NULL: nothing to read\n");
		return 1;
	}
	p = opaque((void *)p);
	printf("read %d\n", p[0]);
	free((void *)p);
	return 0;
}
