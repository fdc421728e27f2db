/*
 * malloc.c - the drop-in: the glibc malloc family mapped onto the default
 * instance.  Each function does what glibc documents for it (errno, NULL and
 * size-0 cases, overflow) and nothing else; all allocator logic is in src/.
 * The core sets the default instance up on the first call, from the
 * environment (sm_default_instance(), src/default.c), before constructors
 * run if need be, and prints what SLABMALLOC_STATS asks for at exit.
 */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fastpath.h"
#include "printk.h"
#include "registry.h"

#define SM_EXPORT __attribute__((visibility("default")))

/* C23 and legacy names that Debian 12's headers do not declare. */
void free_sized(void *p, size_t size);
void free_aligned_sized(void *p, size_t align, size_t size);
void cfree(void *p);

/* False (errno ENOMEM) only inside a signal handler that interrupted the set-up. */
static __always_inline bool ready(void)
{
	if (likely(__atomic_load_n(&sm_default_ready, __ATOMIC_ACQUIRE)))
		return true;
	if (sm_default_instance())
		return true;
	errno = ENOMEM;
	return false;
}

__attribute__((constructor)) static void preload_ctor(void)
{
	ready(); /* the core registers its fork handler with the first instance */
}

/* NULL comes back with errno ENOMEM already set (see kmalloc_inline). */
static __always_inline void *alloc_flags(size_t size, size_t align, unsigned flags)
{
	if (unlikely(!ready()))
		return NULL;
	/* &sm_default_inst is a constant: the fast paths fold slot 0. */
	return kmalloc_inline(&sm_default_inst, size, align, flags | SLAB_ALLOC_ZERO_PTR, SM_NO_NODE);
}

/*
 * No readiness test: before the default instance is set up, the thread's
 * kmalloc views are empty and a page-run request checks for itself, so the
 * process's first malloc sets it up on a slow path (fastpath.h).
 */
SM_EXPORT void *malloc(size_t size)
{
	/* malloc(0) gets a slot of the zero area: a unique pointer that faults. */
	return kmalloc_inline(&sm_default_inst, size, 0, SLAB_ALLOC_ZERO_PTR, SM_NO_NODE);
}

SM_EXPORT void free(void *p)
{
	kfree_inline(p); /* NULL included: it misses the descriptor map */
}

SM_EXPORT void *calloc(size_t n, size_t size)
{
	size_t bytes;
	if (unlikely(__builtin_mul_overflow(n, size, &bytes))) {
		errno = ENOMEM;
		return NULL;
	}
	/* Page runs fresh from the OS are not zeroed again (see kmalloc_large). */
	return alloc_flags(bytes, 0, SLAB_ALLOC_ZERO);
}

SM_EXPORT void *realloc(void *p, size_t size)
{
	if (!p)
		return malloc(size);
	return sm_krealloc(p, size, 0); /* size 0 frees p and returns NULL, as glibc does */
}

SM_EXPORT void *reallocarray(void *p, size_t n, size_t size)
{
	size_t bytes;
	if (__builtin_mul_overflow(n, size, &bytes)) {
		errno = ENOMEM;
		return NULL;
	}
	return realloc(p, bytes);
}

SM_EXPORT int posix_memalign(void **out, size_t align, size_t size)
{
	if (!IS_POW2(align) || align % sizeof(void *))
		return EINVAL;
	int saved = errno;
	void *p = alloc_flags(size, align, SLAB_ALLOC_DEFAULT);
	errno = saved;
	if (!p)
		return ENOMEM;
	*out = p;
	return 0;
}

SM_EXPORT void *aligned_alloc(size_t align, size_t size)
{
	if (!IS_POW2(align)) {
		errno = EINVAL;
		return NULL;
	}
	return alloc_flags(size, align, SLAB_ALLOC_DEFAULT);
}

SM_EXPORT void *memalign(size_t align, size_t size)
{
	/* glibc rounds an alignment that is not a power of two up to one. */
	if (align > SIZE_MAX / 2 + 1) {
		errno = EINVAL;
		return NULL;
	}
	if (!IS_POW2(align))
		align = align ? (size_t)1 << (64 - __builtin_clzl(align)) : 1;
	return alloc_flags(size, align, SLAB_ALLOC_DEFAULT);
}

SM_EXPORT void *valloc(size_t size)
{
	return alloc_flags(size, SM_PAGE_SIZE, SLAB_ALLOC_DEFAULT);
}

SM_EXPORT void *pvalloc(size_t size)
{
	size_t rounded = ALIGN_UP(size, SM_PAGE_SIZE);
	if (rounded < size) {
		errno = ENOMEM;
		return NULL;
	}
	return alloc_flags(rounded ? rounded : SM_PAGE_SIZE, SM_PAGE_SIZE, SLAB_ALLOC_DEFAULT);
}

SM_EXPORT size_t malloc_usable_size(void *p)
{
	return p ? sm_ksize(p) : 0;
}

/* The size is checked against the object (sized.c); a mismatch is reported. */
SM_EXPORT void free_sized(void *p, size_t size)
{
	kfree_inline_checked(p, true, size, 0, SIZED_FREE);
}

SM_EXPORT void free_aligned_sized(void *p, size_t align, size_t size)
{
	kfree_inline_checked(p, true, size, align, SIZED_FREE_ALIGNED);
}

SM_EXPORT void cfree(void *p)
{
	free(p);
}

SM_EXPORT int malloc_trim(size_t pad)
{
	(void)pad;
	return ready() && sm_purge(&sm_default_inst, true) != 0;
}

SM_EXPORT void malloc_stats(void)
{
	if (ready())
		sm_stats_print(&sm_default_inst);
}

struct used {
	size_t bytes;
};

static void add_active(const struct sm_cache_stats *st, void *arg)
{
	((struct used *)arg)->bytes += st->active_objects * st->object_size;
}

SM_EXPORT struct mallinfo2 mallinfo2(void)
{
	struct mallinfo2 mi = { 0 };
	if (!ready())
		return mi;
	struct sm_instance *inst = &sm_default_inst;
	struct sm_stats st;
	struct used u = { 0 };
	sm_stats_get(inst, &st);
	sm_cache_foreach(inst, add_active, &u);
	size_t in_use = u.bytes + st.large_bytes;
	size_t arena = st.committed_bytes;
	mi = (struct mallinfo2){
		.arena = arena,
		.ordblks = st.free_dirty_bytes || st.free_clean_bytes,
		.hblks = st.huge_allocations,
		.hblkhd = st.huge_bytes,
		.uordblks = in_use,
		.fordblks = arena + st.huge_bytes > in_use ? arena + st.huge_bytes - in_use : 0,
		.keepcost = st.free_dirty_bytes,
	};
	return mi;
}

SM_EXPORT struct mallinfo mallinfo(void)
{
	struct mallinfo2 m2 = mallinfo2();
	struct mallinfo mi = {
		.arena = (int)m2.arena, .ordblks = (int)m2.ordblks, .hblks = (int)m2.hblks,
		.hblkhd = (int)m2.hblkhd, .uordblks = (int)m2.uordblks, .fordblks = (int)m2.fordblks,
		.keepcost = (int)m2.keepcost,
	};
	return mi;
}
