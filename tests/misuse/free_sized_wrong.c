/* free_sized_wrong: free_sized (C23) of a 64-byte object with the size 1000.
 * Detected: the call stops the process.  Exit 12 (absent): the C library
 * and the allocator have no free_sized (glibc before 2.39); not detected.
 * Idea: hardened_malloc's test/free_sized_small; glibc's
 * malloc/tst-free-sized; issue 13's list.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include "misuse.h"

int main(void)
{
	void (*free_sized_fn)(void *, size_t) =
		(void (*)(void *, size_t))dlsym(RTLD_DEFAULT, "free_sized");
	char *p = must_malloc(64);

	if (!free_sized_fn) {
		printf("no free_sized\n");
		return MISUSE_ABSENT;
	}
	free_sized_fn(p, opaque_size(1000));
	churn(64, 1000);
	return 0;
}
