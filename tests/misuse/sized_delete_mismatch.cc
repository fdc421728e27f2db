/* sized_delete_mismatch: a 256-byte derived object deleted through a
 * pointer to its 16-byte base without a virtual destructor, so the sized
 * delete is given 16 bytes.
 * Detected: the delete stops the process.
 * Idea: hardened_malloc's test/delete_type_size_mismatch; issue 13's list.
 */
#include <cstdint>
#include "misuse.h"

struct base {
	uint64_t a, b;
};

struct derived : base {
	char more[240];
};

int main()
{
	base *p = new derived();
	p = static_cast<base *>(opaque(p));
	delete p;	/* operator delete(p, sizeof(base)) */
	churn(256, 1000);
	return 0;
}
