/* aligned_delete_unaligned: an object from plain operator new(100) released
 * with the aligned operator delete for a 4096-byte alignment.
 * Detected: the delete stops the process.
 * Idea: hardened_malloc's test/invalid_aligned_sized_delete_small; issue
 * 13's list.
 */
#include <new>
#include "misuse.h"

int main()
{
	void *p = ::operator new(100);

	memset(p, 0, 100);
	::operator delete(opaque(p), std::align_val_t(4096));
	churn(100, 1000);
	return 0;
}
