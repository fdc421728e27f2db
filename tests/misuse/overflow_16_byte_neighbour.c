/* overflow_16_byte_neighbour: two 48-byte objects a and b allocated one
 * after the other; 16 bytes written just past a's usable size (into b, or
 * whatever lies between them), then b and a freed.
 * Detected: the write faults, or a free or the churn stops the process.
 * Idea: issue 13's list; glibc's next-chunk checks on free.
 */
#include <malloc.h>
#include "misuse.h"

int main(void)
{
	volatile char *a = must_malloc(48);
	char *b = must_malloc(48);
	size_t usable = malloc_usable_size((void *)a);

	memset(b, 0, 48);
	printf("usable size %zu, b - a = %td\n", usable, b - (char *)a);
	for (size_t i = 0; i < 16; i++)
		a[usable + i] = 'o';
	free(b);
	free((void *)a);
	churn(48, 1000);
	return 0;
}
