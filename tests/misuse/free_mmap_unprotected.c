/* free_mmap_unprotected: free of a page-aligned pointer into a read-write
 * mapping the program made itself with mmap.
 * Detected: the free stops the process.
 * Idea: hardened_malloc's test/invalid_free_unprotected.
 */
#include <sys/mman.h>
#include "misuse.h"

int main(void)
{
	char *m;

	free(malloc(16));
	m = mmap(NULL, 16 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return 1;
	free(opaque(m + 8 * 4096));
	churn(64, 1000);
	return 0;
}
