/* Must not compile: __GFP_NOFAIL cannot be honoured by kmalloc_nolock. */
#include <linux/slab.h>

void *grab(void);

void *grab(void)
{
	return kmalloc_nolock(64, __GFP_ZERO | __GFP_NOFAIL, NUMA_NO_NODE);
}
