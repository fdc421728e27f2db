/* free_aligned_sized_wrong: free_aligned_sized (C23) of aligned_alloc(64,
 * 128)'s object with the right alignment and the size 4096.
 * Detected: the call stops the process.  Exit 12 (absent): no
 * free_aligned_sized in this C library or allocator; not detected.
 * Idea: glibc's malloc/tst-free-aligned-sized; issue 13's list.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include "misuse.h"

int main(void)
{
	void (*fas)(void *, size_t, size_t) =
		(void (*)(void *, size_t, size_t))dlsym(RTLD_DEFAULT, "free_aligned_sized");
	char *p = aligned_alloc(64, 128);

	if (!p)
		return 1;
	if (!fas) {
		printf("no free_aligned_sized\n");
		return MISUSE_ABSENT;
	}
	fas(opaque(p), 64, opaque_size(4096));
	churn(128, 1000);
	return 0;
}
