/*
 * kernel_api.c - the library side of <slabmalloc/kernel.h>: what its static
 * inline wrappers cannot do in the caller's translation unit (the size a
 * kmalloc request rounds to, the wait between the attempts of a
 * __GFP_NOFAIL request, the message and abort of SLAB_PANIC).  Nothing
 * here is on an allocation's path: only the header's rare branches call it.
 */
#include <stdarg.h>
#include <stdlib.h>

#include "kmem_cache.h"
#include "large.h"
#include "os.h"
#include "printk.h"
#include "size_classes.h"

size_t sm_kmalloc_size_roundup(size_t size)
{
	if (!size || size > SM_MAX_ALLOC)
		return size;
	if (size <= SM_KMALLOC_MAX_CACHE_SIZE) {
		/* kmalloc_inline's rounding: above 8 bytes, to 16 first. */
		size_t r = size > 8 ? ALIGN_UP(size, SM_MALLOC_ALIGN) : size;
		return kmalloc_class_size(kmalloc_index(r));
	}
	return ALIGN_UP(size, SM_PAGE_SIZE); /* a page run, or a huge mapping's committed pages */
}

size_t sm_cache_object_size(const sm_cache_t *s)
{
	return s->object_size;
}

void sm_panic(const char *fmt, ...)
{
	char buf[512];
	size_t len = sm_snprintf(buf, sizeof(buf), "slabmalloc: ");
	va_list ap;
	va_start(ap, fmt);
	len += sm_vsnprintf(buf + len, sizeof(buf) - len - 1, fmt, ap);
	va_end(ap);
	buf[len++] = '\n';
	os_write_stderr(buf, len);
	abort();
}

/* After this many failed attempts (about 10 s of waiting) the wait warns once. */
#define NOFAIL_WARN_ATTEMPTS 110

void sm_nofail_wait(sm_instance_t *inst, size_t size, unsigned *attempt)
{
	static int warned;
	unsigned a = (*attempt)++;
	if (size > SM_MAX_ALLOC)
		sm_panic("__GFP_NOFAIL request of %zu bytes can never be met (above 2^46 bytes)", size);
	if (a == NOFAIL_WARN_ATTEMPTS && !__atomic_exchange_n(&warned, 1, __ATOMIC_RELAXED))
		sm_printk("slabmalloc: a __GFP_NOFAIL request of %zu bytes has failed for about 10 s; "
			  "still retrying\n", size);
	/* Everything cached goes back first: another thread's frees may have
	   filled the barns, and free page runs of one size serve another. */
	if (inst)
		sm_purge(inst, true);
	uint64_t ms = a < 7 ? (uint64_t)1 << a : 100;
	uint32_t word = 0;
	os_futex_wait(&word, 0, ms * 1000000u); /* nobody wakes it: a plain sleep */
}
