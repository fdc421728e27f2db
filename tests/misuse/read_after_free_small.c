/* read_after_free_small: a 128-byte object filled with a pattern, freed, and
 * read back through the stale pointer.
 * Detected: the read faults, or none of bytes 16..127 still holds the
 * pattern (exit 10: cleared; the first 16 bytes are left out, since most
 * allocators keep a free-list link there whatever they do).
 * Idea: hardened_malloc's test/read_after_free_small; issue 13's list.
 */
#include "misuse.h"

int main(void)
{
	volatile unsigned char *p = must_malloc(128);

	memset((void *)p, MISUSE_PATTERN, 128);
	free((void *)p);
	p = opaque((void *)p);
	return read_verdict(count_pattern(p, 16, 128), 112);
}
