/* free_after_realloc_move: realloc moves a 32-byte object to 4 KiB (a live
 * object allocated after it keeps it from growing in place), and the
 * program frees the old pointer (a double free through realloc).
 * Detected: the free of the old pointer, or the churn, stops the process.
 * Idea: glibc's malloc/tst-realloc (the old pointer is freed by realloc).
 */
#include "misuse.h"

int main(void)
{
	char *p = must_malloc(32);
	char *neighbour = must_malloc(32);
	char *q;

	memset(p, 1, 32);
	q = realloc(p, 4096);
	if (!q)
		return 1;
	if (q == p) {
		printf("realloc did not move: nothing to test\n");
		return 1;
	}
	free(opaque(p));
	free(q);
	free(neighbour);
	churn(32, 1000);
	return 0;
}
