/* array_new_scalar_delete: new T[4] of a type with a destructor, released
 * with delete (not delete[]): the pointer given to operator delete is past
 * the array cookie, inside the block.
 * Detected: the delete stops the process.
 * Idea: the new[]/delete mismatch every C++ heap checker reports (ASan's
 * alloc-dealloc-mismatch).
 */
#include "misuse.h"

struct item {
	char name[24];
	~item() { name[0] = 0; }
};

int main()
{
	item *p = new item[4];
	p = static_cast<item *>(opaque(p));
	delete p;
	churn(104, 1000);
	return 0;
}
