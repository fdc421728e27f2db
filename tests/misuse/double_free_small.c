/* double_free_small: a 32-byte object freed twice in a row.
 * Detected: the second free stops the process (abort or fault).
 * Idea: hardened_malloc's test/double_free_small, glibc's malloc/tst-tcfree1.
 */
#include "misuse.h"

int main(void)
{
	char *p = must_malloc(32);

	free(p);
	free(opaque(p));
	churn(32, 1000);
	return 0;
}
