/* free_far_from_small: free of a pointer 1 GiB past a 16-byte object (an
 * address the allocator has probably never handed out).
 * Detected: the free stops the process.
 * Idea: hardened_malloc's test/invalid_free_small_region_far.
 */
#include "misuse.h"

int main(void)
{
	char *p = must_malloc(16);

	free(opaque(p + (1ul << 30)));
	churn(16, 1000);
	return 0;
}
