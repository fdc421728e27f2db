/* free_interior_small: free(p + 64) of a 128-byte object (a 16-byte aligned
 * pointer into its middle, such as a pointer to a struct member).
 * Detected: the free, or the churn, stops the process.
 * Idea: hardened_malloc's test/invalid_free_small_region; glibc's chunk
 * header checks on free.
 */
#include "misuse.h"

int main(void)
{
	char *p = must_malloc(128);

	memset(p, 0, 128);
	free(opaque(p + 64));
	churn(128, 1000);
	return 0;
}
