/* write_zero_size: a byte written through malloc(0)'s pointer, then freed.
 * Detected: the write faults, or the free or the churn stops the process.
 * Idea: hardened_malloc's test/write_zero_size; issue 13's list.
 */
#include "misuse.h"

int main(void)
{
	volatile char *p = malloc(0);

	if (!p) {
		printf("malloc(0) returned NULL: nothing to write\n");
		return 1;
	}
	p = opaque((void *)p);
	p[0] = 'w';
	free((void *)p);
	churn(0, 1000);
	return 0;
}
