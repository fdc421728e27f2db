/* realloc_interior: realloc(p + 16, 256) of a 64-byte object.
 * Detected: the realloc, or the churn, stops the process.
 * Idea: glibc's "realloc(): invalid pointer" check.
 */
#include "misuse.h"

int main(void)
{
	char *p = must_malloc(64);
	char *q;

	memset(p, 0, 64);
	q = realloc(opaque(p + 16), 256);
	free(q);
	churn(64, 1000);
	return 0;
}
