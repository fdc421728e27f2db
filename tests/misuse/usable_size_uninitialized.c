/* usable_size_uninitialized: malloc_usable_size of a pointer never
 * allocated (the value 1).
 * Detected: the call stops the process (a return value counts as
 * undetected).
 * Idea: hardened_malloc's test/uninitialized_malloc_usable_size.
 */
#include <malloc.h>
#include "misuse.h"

int main(void)
{
	printf("malloc_usable_size: %zu\n", malloc_usable_size(opaque((void *)1)));
	return 0;
}
