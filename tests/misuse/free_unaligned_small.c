/* free_unaligned_small: free(p + 1) of a 64-byte object.
 * Detected: the free stops the process.
 * Idea: hardened_malloc's test/unaligned_free_small; glibc's
 * "free(): invalid pointer" alignment check.
 */
#include "misuse.h"

int main(void)
{
	char *p = must_malloc(64);

	memset(p, 0, 64);
	free(opaque(p + 1));
	churn(64, 1000);
	return 0;
}
