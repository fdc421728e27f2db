/* read_after_free_large: a 256 KiB block filled with a pattern, freed, and
 * read back through the stale pointer.
 * Detected: the read faults, or none of the bytes past the first 16 still
 * holds the pattern (exit 10: cleared).
 * Idea: hardened_malloc's test/read_after_free_large; issue 13's list.
 */
#include "misuse.h"

#define SIZE (256 * 1024)

int main(void)
{
	volatile unsigned char *p = must_malloc(SIZE);

	memset((void *)p, MISUSE_PATTERN, SIZE);
	free((void *)p);
	p = opaque((void *)p);
	return read_verdict(count_pattern(p, 16, SIZE), SIZE - 16);
}
