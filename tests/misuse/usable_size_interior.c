/* usable_size_interior: malloc_usable_size(p + 32) of a live 128-byte object
 * (16-byte aligned, inside the object).
 * Detected: the call stops the process (a return value counts as
 * undetected; it is printed).
 * Idea: hardened_malloc's test/invalid_malloc_usable_size_small.
 */
#include <malloc.h>
#include "misuse.h"

int main(void)
{
	char *p = must_malloc(128);

	memset(p, 0, 128);
	printf("malloc_usable_size: %zu\n", malloc_usable_size(opaque(p + 32)));
	free(p);
	return 0;
}
