/* free_stack: free of a 16-byte-aligned array on the stack.
 * Detected: the free stops the process.
 * Idea: the invalid-pointer checks of glibc's free and hardened_malloc's
 * invalid_free tests.
 */
#include "misuse.h"

int main(void)
{
	_Alignas(16) char buf[256];

	memset(buf, 0, sizeof(buf));
	free(opaque(buf + 64));
	churn(64, 1000);
	return 0;
}
