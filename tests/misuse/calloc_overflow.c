/* calloc_overflow: calloc(SIZE_MAX / 2 + 2, 2): the product overflows
 * size_t (it would wrap to a small size).
 * Detected: NULL with errno ENOMEM (exit 11: refused); a crash or an abort
 * is the wrong answer, and so is a small block (exit 13).
 * Idea: hardened_malloc's test/calloc_overflow; glibc's malloc/tst-calloc.
 */
#include "misuse.h"

int main(void)
{
	void *p;

	free(must_malloc(16));	/* the allocator set up: errno is the call's own */
	errno = 0;
	p = calloc(opaque_size(SIZE_MAX / 2 + 2), opaque_size(2));
	return refused_verdict(p, errno);
}
