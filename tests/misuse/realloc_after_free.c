/* realloc_after_free: realloc of a 64-byte object that was freed already.
 * Detected: the realloc, or the churn, stops the process.
 * Idea: hardened_malloc's invalid realloc tests; glibc's realloc checks.
 */
#include "misuse.h"

int main(void)
{
	char *p = must_malloc(64);
	char *q;

	free(p);
	q = realloc(opaque(p), 128);
	free(q);
	churn(64, 1000);
	return 0;
}
