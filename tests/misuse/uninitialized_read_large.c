/* uninitialized_read_large: a 256 KiB block filled with a pattern and freed;
 * a new 256 KiB block is read before anything is written to it.
 * Detected: none of the new block's bytes past the first 16 holds the
 * pattern (exit 10: cleared).
 * Idea: hardened_malloc's test/uninitialized_read_large.
 */
#include "misuse.h"

#define SIZE (256 * 1024)

int main(void)
{
	char *p = must_malloc(SIZE);
	volatile unsigned char *q;
	int rc;

	memset(p, MISUSE_PATTERN, SIZE);
	free(p);
	q = must_malloc(SIZE);
	printf("same memory: %s\n", (void *)q == (void *)p ? "yes" : "no");
	rc = read_verdict(count_pattern(q, 16, SIZE), SIZE - 16);
	free((void *)q);
	return rc;
}
