/*
 * glibc_malloc.c - libbench_glibc_malloc.so: glibc's own malloc, for
 * LD_PRELOAD into a program linked with another allocator.
 *
 * Debian's redis-server is linked with libjemalloc.so.2, which comes before
 * libc in its symbol lookup, so "no preload" measures jemalloc.  Preloaded,
 * this library defines the malloc family as calls to glibc's exported
 * __libc_* entry points, so the program's malloc and free (and those of
 * every library it loads) are glibc's again.  bench/programs.py uses it for
 * redis's glibc cell only; jemalloc-only calls (mallctl, nallocx) still go
 * to the jemalloc that stays loaded.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

extern void *__libc_malloc(size_t size);
extern void __libc_free(void *p);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t size);
extern void *__libc_memalign(size_t align, size_t size);
extern void *__libc_valloc(size_t size);
extern void *__libc_pvalloc(size_t size);

void *malloc(size_t size)
{
	return __libc_malloc(size);
}

void free(void *p)
{
	__libc_free(p);
}

void *calloc(size_t n, size_t size)
{
	return __libc_calloc(n, size);
}

void *realloc(void *p, size_t size)
{
	return __libc_realloc(p, size);
}

void *memalign(size_t align, size_t size)
{
	return __libc_memalign(align, size);
}

void *aligned_alloc(size_t align, size_t size)
{
	return __libc_memalign(align, size);
}

void *valloc(size_t size)
{
	return __libc_valloc(size);
}

void *pvalloc(size_t size)
{
	return __libc_pvalloc(size);
}

int posix_memalign(void **out, size_t align, size_t size)
{
	void *p;

	/* a power of two and a multiple of sizeof(void *), as POSIX requires */
	if (!align || (align & (align - 1)) || align % sizeof(void *))
		return EINVAL;
	p = __libc_memalign(align, size);
	if (!p)
		return ENOMEM;
	*out = p;
	return 0;
}

/*
 * glibc exports no __libc_ name for malloc_usable_size: take libc's own
 * definition from libc's handle (a lookup from libc.so.6 itself, so neither
 * this library nor jemalloc shadows it).  Returns 0 for NULL, as glibc does.
 */
size_t malloc_usable_size(void *p)
{
	static size_t (*libc_usable)(void *);

	if (!p)
		return 0;
	if (!libc_usable) {
		void *libc = dlopen("libc.so.6", RTLD_LAZY | RTLD_NOLOAD);
		libc_usable = libc ? (size_t (*)(void *))dlsym(libc, "malloc_usable_size") : NULL;
		if (!libc_usable || libc_usable == malloc_usable_size)
			return 0;       /* cannot happen with glibc; 0 is "no slack" */
	}
	return libc_usable(p);
}
