/* double_free_small_after_many: 20 objects of 24 bytes freed, then the first
 * one again: it is deep in whatever per-thread cache holds them (past
 * glibc's 7-entry tcache bin).
 * Detected: the second free of the first object, or the churn, stops the
 * process.
 * Idea: glibc's malloc/tst-tcfree2.
 */
#include "misuse.h"

int main(void)
{
	char *p[20];

	for (int i = 0; i < 20; i++)
		p[i] = must_malloc(24);
	for (int i = 0; i < 20; i++)
		free(p[i]);
	free(opaque(p[0]));
	churn(24, 1000);
	return 0;
}
