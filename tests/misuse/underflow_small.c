/* underflow_small: 8 bytes written just before a live 64-byte object (an
 * index of -1 on a word array), then the object freed.
 * Detected: the write faults, or the free or the churn stops the process.
 * Idea: glibc's chunk header checks ("free(): invalid size"); hardened
 * allocators' out-of-band metadata.
 */
#include "misuse.h"

int main(void)
{
	char *keep = must_malloc(64);
	volatile char *p = must_malloc(64);

	memset((void *)p, 0, 64);
	for (int i = 1; i <= 8; i++)
		p[-i] = 'u';
	free((void *)p);
	churn(64, 1000);
	free(keep);
	return 0;
}
