/* free_interior_large: free(p + 8192) of a 256 KiB block (page aligned,
 * inside the block).
 * Detected: the free, or the allocations after it, stop the process.
 * Idea: hardened_malloc's large invalid-free tests.
 */
#include "misuse.h"

int main(void)
{
	char *p = must_malloc(256 * 1024);

	memset(p, 0, 256 * 1024);
	free(opaque(p + 8192));
	churn(256 * 1024, 20);
	return 0;
}
