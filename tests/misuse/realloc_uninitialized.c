/* realloc_uninitialized: realloc of a pointer never allocated (the value 1).
 * Detected: the realloc stops the process.
 * Idea: hardened_malloc's test/uninitialized_realloc.
 */
#include "misuse.h"

int main(void)
{
	char *q = realloc(opaque((void *)1), 16);

	free(q);
	churn(16, 1000);
	return 0;
}
