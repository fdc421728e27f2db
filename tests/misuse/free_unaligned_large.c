/* free_unaligned_large: free(p + 1) of a 256 KiB block.
 * Detected: the free stops the process.
 * Idea: hardened_malloc's test/unaligned_free_large.
 */
#include "misuse.h"

int main(void)
{
	char *p = must_malloc(256 * 1024);

	p[0] = 1;
	free(opaque(p + 1));
	churn(256 * 1024, 20);
	return 0;
}
