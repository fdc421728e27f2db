/* Must not compile: __GFP_NOFAIL cannot be honoured by kmem_cache_alloc_nolock. */
#include <linux/slab.h>

void *grab(struct kmem_cache *s);

void *grab(struct kmem_cache *s)
{
	return kmem_cache_alloc_nolock(s, GFP_NOWAIT | __GFP_NOFAIL, 0);
}
