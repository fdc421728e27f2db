/* usable_size_after_free_large: malloc_usable_size of a freed 256 KiB block.
 * Detected: the call stops the process (a return value is printed and
 * counts as undetected).
 * Idea: hardened_malloc's malloc_usable_size tests, large form.
 */
#include <malloc.h>
#include "misuse.h"

int main(void)
{
	char *p = must_malloc(256 * 1024);

	free(p);
	printf("malloc_usable_size: %zu\n", malloc_usable_size(opaque(p)));
	churn(256 * 1024, 20);
	return 0;
}
