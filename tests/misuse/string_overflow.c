/* string_overflow: strcpy of a string as long as the object's usable size
 * into it, so its terminating NUL lands one byte past the end; then the
 * object is freed.
 * Detected: the write faults, or the free or the churn stops the process.
 * Idea: hardened_malloc's test/string_overflow (string functions past the
 * usable size); the classic off-by-one of a string copy.
 */
#include <malloc.h>
#include "misuse.h"

int main(void)
{
	char *p = must_malloc(40);
	size_t usable = malloc_usable_size(p);
	char *s = must_malloc(usable + 1);

	memset(s, 's', usable);
	s[usable] = '\0';
	printf("usable size %zu\n", usable);
	strcpy(opaque(p), s);
	free(p);
	free(s);
	churn(40, 1000);
	return 0;
}
