/* usable_size_unaligned: malloc_usable_size(p + 1) of a live 64-byte object.
 * Detected: the call stops the process (a return value counts as
 * undetected).
 * Idea: hardened_malloc's test/unaligned_malloc_usable_size_small.
 */
#include <malloc.h>
#include "misuse.h"

int main(void)
{
	char *p = must_malloc(64);

	printf("malloc_usable_size: %zu\n", malloc_usable_size(opaque(p + 1)));
	free(p);
	return 0;
}
