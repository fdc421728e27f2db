/* uninitialized_read_small: a 128-byte object filled with a pattern and
 * freed; a new 128-byte object (often the same memory) is read before
 * anything is written to it: does it show the old data?
 * Detected: none of the new object's bytes 16..127 holds the pattern
 * (exit 10: cleared).  A fault cannot happen here.
 * Idea: hardened_malloc's test/uninitialized_read_small (zero on free).
 */
#include "misuse.h"

int main(void)
{
	char *p = must_malloc(128);
	volatile unsigned char *q;
	int rc;

	memset(p, MISUSE_PATTERN, 128);
	free(p);
	q = must_malloc(128);
	printf("same memory: %s\n", (void *)q == (void *)p ? "yes" : "no");
	rc = read_verdict(count_pattern(q, 16, 128), 112);
	free((void *)q);
	return rc;
}
