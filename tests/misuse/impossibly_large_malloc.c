/* impossibly_large_malloc: malloc(SIZE_MAX - 7), a size no process can have.
 * Detected: NULL with errno ENOMEM (exit 11: refused).  A crash or an
 * abort is the wrong answer here (malloc must fail, not stop), and so is
 * anything but NULL/ENOMEM (exit 13).
 * Idea: hardened_malloc's test/impossibly_large_malloc; glibc's
 * malloc/tst-malloc-too-large.
 */
#include "misuse.h"

int main(void)
{
	void *p;

	free(must_malloc(16));	/* the allocator set up: errno is the call's own */
	errno = 0;
	p = malloc(opaque_size(SIZE_MAX - 7));
	return refused_verdict(p, errno);
}
