/* double_free_large_delayed: p and q (256 KiB) freed, then p again.
 * Detected: the third free, or the allocations after it, stop the process.
 * Idea: hardened_malloc's test/double_free_large_delayed.
 */
#include "misuse.h"

int main(void)
{
	char *p = must_malloc(256 * 1024);
	char *q = must_malloc(256 * 1024);

	free(p);
	free(q);
	free(opaque(p));
	churn(256 * 1024, 20);
	return 0;
}
