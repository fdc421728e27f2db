/*
 * slabmalloc/kernel.h - the Linux kernel's slab API (kmalloc, kfree,
 * kmem_cache_create, ...) as static inline wrappers over the sm_* API, so
 * code written against <linux/slab.h> compiles unchanged and runs on
 * slabmalloc's default instance.  Nothing here becomes a symbol of the
 * library: every name is static inline in the caller's translation unit.
 *
 * Where the meaning differs from the kernel's, the comment says so.  The main
 * ones: there is no ZERO_SIZE_PTR (kmalloc(0) returns a unique 8-byte
 * object); GFP_KERNEL, GFP_ATOMIC and GFP_NOWAIT are all 0: there is no
 * reclaim to wait for, and none of them makes a request lock-free (any
 * request may wait briefly for an allocator lock); and
 * __GFP_THISNODE needs a real node, so use it with the _node variants: with
 * NUMA_NO_NODE the request fails (kmalloc, kzalloc) or succeeds only while
 * the thread's sheaf has objects (kmem_cache_alloc).
 */
#ifndef SLABMALLOC_KERNEL_H
#define SLABMALLOC_KERNEL_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <slabmalloc.h>

/* ---- flags ---- */

typedef unsigned int gfp_t;
typedef unsigned int slab_flags_t;

#define GFP_KERNEL      ((gfp_t)0)
#define GFP_ATOMIC      ((gfp_t)0)
#define GFP_NOWAIT      ((gfp_t)0)
#define __GFP_ZERO      ((gfp_t)SM_GFP_ZERO)
#define __GFP_THISNODE  ((gfp_t)SM_GFP_THISNODE)

#ifndef NUMA_NO_NODE
#define NUMA_NO_NODE SM_NO_NODE
#endif

#define SLAB_HWCACHE_ALIGN ((slab_flags_t)SM_CACHE_HWCACHE_ALIGN)

/* The kernel's kfree takes a const pointer; the sm_* API does not. */
static inline void *__sm_unconst(const void *p)
{
	return (void *)(uintptr_t)p;
}

/* ---- kmalloc ---- */

/* @size bytes from the default instance; NULL (errno ENOMEM) when out of memory. */
static inline void *kmalloc(size_t size, gfp_t flags)
{
	return sm_kmalloc(sm_default_instance(), size, flags);
}

static inline void *kzalloc(size_t size, gfp_t flags)
{
	return kmalloc(size, flags | __GFP_ZERO);
}

/* As kmalloc, preferring node @node (only @node with __GFP_THISNODE). */
static inline void *kmalloc_node(size_t size, gfp_t flags, int node)
{
	return sm_kmalloc_node(sm_default_instance(), size, flags, node);
}

static inline void *kzalloc_node(size_t size, gfp_t flags, int node)
{
	return kmalloc_node(size, flags | __GFP_ZERO, node);
}

/* An array of @n elements of @size bytes; NULL (errno ENOMEM) if n * size overflows. */
static inline void *kmalloc_array(size_t n, size_t size, gfp_t flags)
{
	size_t bytes;
	if (__builtin_mul_overflow(n, size, &bytes)) {
		errno = ENOMEM;
		return NULL;
	}
	return kmalloc(bytes, flags);
}

static inline void *kcalloc(size_t n, size_t size, gfp_t flags)
{
	return kmalloc_array(n, size, flags | __GFP_ZERO);
}

/* Bytes usable at @p: its size class or page run (a kmem_cache object: its object size). */
static inline size_t ksize(const void *p)
{
	return sm_ksize(p);
}

static inline void kfree(const void *p)
{
	sm_kfree(__sm_unconst(p));
}

/*
 * Resize @p to @new_size: a new object in @p's instance, the first
 * min(ksize(p), new_size) bytes copied, then @p freed.  @p NULL: kmalloc.
 * @new_size 0: frees @p and returns NULL (the kernel returns ZERO_SIZE_PTR).
 * On failure NULL is returned and @p is left as it was.  With __GFP_ZERO the
 * bytes past the copied ones read as zero.
 */
static inline void *krealloc(const void *p, size_t new_size, gfp_t flags)
{
	if (!new_size) {
		kfree(p);
		return NULL;
	}
	sm_instance_t *inst = p ? sm_ptr_instance(p) : NULL;
	void *q = sm_kmalloc(inst ? inst : sm_default_instance(), new_size, flags);
	if (!q || !p)
		return q;
	size_t old = sm_ksize(p);
	memcpy(q, p, old < new_size ? old : new_size);
	sm_kfree(__sm_unconst(p));
	return q;
}

/* Zero all ksize(p) bytes, then free: for keys and passwords. */
static inline void kfree_sensitive(const void *p)
{
	if (!p)
		return;
	memset(__sm_unconst(p), 0, sm_ksize(p));
	/* Keep the compiler from dropping the memset as a dead store. */
	__asm__ __volatile__("" : : "r"(p) : "memory");
	sm_kfree(__sm_unconst(p));
}

/* ---- kmem_cache ---- */

/*
 * A cache of @size-byte objects in the default instance (the kernel's classic
 * five-argument form).  @align 0 means 8; SLAB_HWCACHE_ALIGN aligns to the
 * 64-byte cache line whatever the object size.  Caches are never merged.
 * NULL (errno EINVAL, ENOSPC or ENOMEM) on failure; sizes above 32 KiB are
 * refused.
 */
static inline struct kmem_cache *kmem_cache_create(const char *name, size_t size, size_t align,
						   slab_flags_t flags, void (*ctor)(void *))
{
	return sm_cache_create(sm_default_instance(), name, size, align, flags, ctor);
}

/* A cache for struct @__struct, named after it, with its size and alignment. */
#define KMEM_CACHE(__struct, __flags) \
	kmem_cache_create(#__struct, sizeof(struct __struct), __alignof__(struct __struct), \
			  (__flags), NULL)

static inline void *kmem_cache_alloc(struct kmem_cache *s, gfp_t flags)
{
	return sm_cache_alloc(s, flags);
}

static inline void *kmem_cache_zalloc(struct kmem_cache *s, gfp_t flags)
{
	return sm_cache_alloc(s, flags | __GFP_ZERO);
}

static inline void *kmem_cache_alloc_node(struct kmem_cache *s, gfp_t flags, int node)
{
	return sm_cache_alloc_node(s, flags, node);
}

static inline void kmem_cache_free(struct kmem_cache *s, void *p)
{
	sm_cache_free(s, p);
}

/* ---- static caches: the descriptor in the caller's storage (slab-static.h) ---- */

/*
 * Storage for a cache descriptor, declared by the caller (the kernel's
 * struct kmem_cache_opaque: same size and alignment as the descriptor).
 * Pass it as (struct kmem_cache *)&storage.
 */
struct kmem_cache_opaque {
	struct sm_cache_storage storage;
};

/*
 * Set up a cache of the default instance in the storage @s points to (a
 * struct kmem_cache_opaque): nothing is allocated for the descriptor, so it
 * works before the first kmalloc or malloc.  0, or -errno (-EINVAL bad
 * arguments, -EBUSY @s holds a live cache, -ENOSPC too many caches).
 * kmem_cache_destroy tears it down and leaves the storage to the caller.
 */
static inline int kmem_cache_setup(struct kmem_cache *s, const char *name, unsigned int size,
				   unsigned int align, slab_flags_t flags, void (*ctor)(void *))
{
	if (!sm_cache_setup((struct sm_cache_storage *)(void *)s, sm_default_instance(), name, size,
			    align, flags, ctor))
		return -errno;
	return 0;
}

/* As KMEM_CACHE, in the storage @s points to: the cache, or NULL (errno as kmem_cache_setup). */
#define KMEM_CACHE_SETUP(s, __struct, __flags) \
	sm_cache_setup((struct sm_cache_storage *)(void *)(s), sm_default_instance(), #__struct, \
		       sizeof(struct __struct), __alignof__(struct __struct), (__flags), NULL)

/* ---- the nolock API: any context, signal handlers included ---- */

static inline void *kmalloc_nolock(size_t size, gfp_t flags, int node)
{
	sm_instance_t *inst = sm_default_instance();
	return inst ? sm_kmalloc_nolock(inst, size, flags, node) : NULL;
}

static inline void kfree_nolock(const void *p)
{
	sm_kfree_nolock(__sm_unconst(p));
}

static inline void *kmem_cache_alloc_nolock(struct kmem_cache *s, gfp_t flags, int node)
{
	return sm_cache_alloc_nolock(s, flags, node);
}

static inline void kmem_cache_free_nolock(struct kmem_cache *s, void *p)
{
	sm_cache_free_nolock(s, p);
}

/*
 * Give cached objects and empty slabs of @s back.  Returns 0 if the cache
 * holds no slab afterwards, 1 if some remain (the kernel's meaning).
 */
static inline int kmem_cache_shrink(struct kmem_cache *s)
{
	struct sm_cache_stats st;
	sm_cache_shrink(s);
	sm_cache_stats_get(s, &st);
	return st.slabs != 0;
}

/*
 * Destroy @s (NULL is ignored).  Objects still allocated are reported through
 * the default instance's error handler, which by default aborts; the kernel
 * warns and leaks the cache instead.
 */
static inline void kmem_cache_destroy(struct kmem_cache *s)
{
	(void)sm_cache_destroy(s);
}

#endif /* SLABMALLOC_KERNEL_H */
