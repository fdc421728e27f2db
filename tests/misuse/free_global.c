/* free_global: free of a 16-byte-aligned pointer into a static array.
 * Detected: the free stops the process.
 * Idea: glibc's invalid-pointer checks, hardened_malloc's invalid_free tests.
 */
#include "misuse.h"

static _Alignas(64) char global[4096];

int main(void)
{
	global[0] = 1;
	free(opaque(global + 1024));
	churn(64, 1000);
	return 0;
}
