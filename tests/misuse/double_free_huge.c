/* double_free_huge: a 64 MiB block (a mapping of its own in most
 * allocators) freed twice.
 * Detected: the second free stops the process.
 * Idea: glibc's checks on mmap'd chunks (munmap_chunk), hardened_malloc's
 * large double-free tests.
 */
#include "misuse.h"

int main(void)
{
	char *p = must_malloc(64u << 20);

	p[0] = 1;
	free(p);
	free(opaque(p));
	churn(64u << 20, 4);
	return 0;
}
