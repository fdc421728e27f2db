/* free_mmap_protected: free of a page-aligned pointer into a PROT_NONE
 * mapping the program made itself (any read of a header there faults).
 * Detected: the free stops the process (a fault counts: the allocator
 * touched memory that cannot be its own).
 * Idea: hardened_malloc's test/invalid_free_protected.
 */
#include <sys/mman.h>
#include "misuse.h"

int main(void)
{
	char *m;

	free(malloc(16));
	m = mmap(NULL, 16 * 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return 1;
	free(opaque(m + 8 * 4096));
	churn(64, 1000);
	return 0;
}
