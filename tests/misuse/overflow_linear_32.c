/* overflow_linear_32: sixteen 32-byte objects allocated; 512 bytes written
 * past the end of the first one (an unchecked copy), then all freed.
 * Detected: the writes fault, or a free or the churn stops the process.
 * Idea: issue 13's list (a long linear overflow); the heap-overflow shape
 * hardened allocators' canaries and glibc's chunk checks aim at.
 */
#include <malloc.h>
#include "misuse.h"

int main(void)
{
	volatile char *p[16];

	for (int i = 0; i < 16; i++) {
		p[i] = must_malloc(32);
		memset((void *)p[i], 0, 32);
	}
	for (size_t i = 32; i < 32 + 512; i++)
		p[0][i] = 'o';
	for (int i = 0; i < 16; i++)
		free((void *)p[i]);
	churn(32, 1000);
	return 0;
}
