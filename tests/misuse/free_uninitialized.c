/* free_uninitialized: free of a pointer that was never allocated: the value
 * 1, as an uninitialised pointer variable may hold.
 * Detected: the free stops the process.
 * Idea: hardened_malloc's test/uninitialized_free.
 */
#include "misuse.h"

int main(void)
{
	free(opaque((void *)1));
	churn(64, 1000);
	return 0;
}
