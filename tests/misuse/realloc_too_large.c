/* realloc_too_large: realloc of a live 512-byte object to SIZE_MAX - 255.
 * Detected: NULL with errno ENOMEM and the old object intact (exit 11:
 * refused); a crash or an abort is the wrong answer, and so is anything
 * else (exit 13).
 * Idea: glibc's malloc/tst-malloc-check and malloc/tst-realloc.
 */
#include "misuse.h"

int main(void)
{
	char *p = must_malloc(512);
	char *q;
	int err, rc;

	memset(p, 'k', 512);
	errno = 0;
	q = realloc(p, opaque_size(SIZE_MAX - 255));
	err = errno;
	rc = refused_verdict(q, err);
	if (rc == MISUSE_REFUSED && (p[0] != 'k' || p[511] != 'k')) {
		printf("the old object changed\n");
		return MISUSE_WRONG;
	}
	if (!q)
		free(p);
	return rc;
}
