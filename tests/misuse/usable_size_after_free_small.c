/* usable_size_after_free_small: malloc_usable_size of a freed 64-byte object.
 * Detected: the call stops the process (a return value, whatever it is,
 * counts as undetected; it is printed).
 * Idea: hardened_malloc's test/invalid_malloc_usable_size_small_quarantine.
 */
#include <malloc.h>
#include "misuse.h"

int main(void)
{
	char *p = must_malloc(64);

	free(p);
	printf("malloc_usable_size: %zu\n", malloc_usable_size(opaque(p)));
	churn(64, 1000);
	return 0;
}
