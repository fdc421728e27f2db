/* write_after_free_link: three 32-byte objects freed, the first 16 bytes of
 * the last one (where most allocators keep a free-list link) overwritten
 * with a pattern, then objects of that size allocated again.
 * Detected: an allocation stops the process (a link that does not decode
 * to a valid object), or the write faults.
 * Idea: glibc's malloc/tst-safe-linking (the tcache case).
 */
#include "misuse.h"

int main(void)
{
	char *a = must_malloc(32);
	char *b = must_malloc(32);
	volatile char *c = must_malloc(32);

	free(a);
	free(b);
	free((void *)c);
	c = opaque((void *)c);
	for (int i = 0; i < 16; i++)
		c[i] = (char)MISUSE_PATTERN;
	churn(32, 1000);
	return 0;
}
