/* double_free_large: a 256 KiB block freed twice in a row.
 * Detected: the second free stops the process.
 * Idea: hardened_malloc's test/double_free_large.
 */
#include "misuse.h"

int main(void)
{
	char *p = must_malloc(256 * 1024);

	p[0] = 1;
	free(p);
	free(opaque(p));
	churn(256 * 1024, 20);
	return 0;
}
