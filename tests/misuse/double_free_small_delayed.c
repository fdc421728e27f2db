/* double_free_small_delayed: p and q (32 bytes) freed, then p again, so p is
 * no longer the most recently freed object.
 * Detected: the third free, or the churn after it, stops the process.
 * Idea: hardened_malloc's test/double_free_small_delayed.
 */
#include "misuse.h"

int main(void)
{
	char *p = must_malloc(32);
	char *q = must_malloc(32);

	free(p);
	free(q);
	free(opaque(p));
	churn(32, 1000);
	return 0;
}
