/*
 * slabmalloc/kernel.h - the Linux kernel's slab API (kmalloc, kfree,
 * kmem_cache_create, ...) as static inline wrappers over the sm_* API, so
 * code written against <linux/slab.h> compiles unchanged and runs on
 * slabmalloc's default instance.  Nothing here becomes a symbol of the
 * library: every name is static inline in the caller's translation unit.
 *
 * Where the meaning differs from the kernel's, the comment says so.  The main
 * ones: the reclaim and zone bits of the gfp flags (GFP_KERNEL, GFP_ATOMIC,
 * GFP_NOWAIT, GFP_NOFS, GFP_NOIO, GFP_USER, GFP_DMA, ...) are accepted and
 * ignored: there is no reclaim to wait for and no zone to pick, and none of
 * them makes a request lock-free (any request may wait briefly for an
 * allocator lock); __GFP_ZERO, __GFP_THISNODE and __GFP_NOFAIL are honoured.
 * __GFP_THISNODE needs a real node, so use it with the _node variants: with
 * NUMA_NO_NODE the request fails (kmalloc, kzalloc) or succeeds only while
 * the thread's sheaf has objects (kmem_cache_alloc).  kmalloc(0) returns
 * ZERO_SIZE_PTR as the kernel's does: every free and resize call here
 * accepts it, sm_kfree and free() do not.  docs/usage.md ("The kernel API")
 * lists every name and flag.
 *
 * Flags the header cannot honour safely do not compile: __GFP_NOFAIL given
 * to a nolock call as a constant (a nolock call never waits, so it cannot
 * retry until memory comes); when not a constant, the call aborts with the
 * same message.
 *
 * Code that includes <linux/slab.h> compiles with
 * -I<prefix>/include/slabmalloc/compat, whose linux/slab.h and linux/gfp.h
 * include this header.
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

/*
 * gfp bits.  The low byte is slabmalloc's SM_GFP_* and reaches the sm_*
 * calls; the bits above are this header's own and are stripped before.
 */
#define __SM_GFP_MASK   0xffu
#define __GFP_ZERO      ((gfp_t)SM_GFP_ZERO)     /* honoured: zeroed memory */
#define __GFP_THISNODE  ((gfp_t)SM_GFP_THISNODE) /* honoured: only that node */
#define __GFP_NOFAIL    ((gfp_t)0x100u)     /* honoured: retries (sm_nofail_wait), never NULL */
#define __GFP_NOWARN    ((gfp_t)0x200u)     /* accepted: a failure never prints anything anyway */
#define __GFP_NORETRY   ((gfp_t)0x400u)     /* accepted: a request fails at once when */
#define __GFP_RETRY_MAYFAIL ((gfp_t)0x800u) /*   out of memory (one internal retry after
					       giving cached memory back), unless NOFAIL */
#define __GFP_DMA       ((gfp_t)0x1000u)    /* accepted, ignored: no zones in a process */
#define __GFP_DMA32     ((gfp_t)0x2000u)    /* accepted, ignored: no zones in a process */
#define __GFP_HIGHMEM   ((gfp_t)0x4000u)    /* accepted, ignored */
#define __GFP_ACCOUNT   ((gfp_t)0x8000u)    /* accepted, ignored: no memory cgroup charge */
#define __GFP_RECLAIMABLE ((gfp_t)0x10000u) /* accepted, ignored */
#define __GFP_HIGH      ((gfp_t)0x20000u)   /* accepted, ignored: no reserves */
#define __GFP_IO        ((gfp_t)0x40000u)   /* accepted, ignored: no reclaim */
#define __GFP_FS        ((gfp_t)0x80000u)   /* accepted, ignored: no reclaim */
#define __GFP_DIRECT_RECLAIM ((gfp_t)0x100000u) /* accepted, ignored */
#define __GFP_KSWAPD_RECLAIM ((gfp_t)0x200000u) /* accepted, ignored */
#define __GFP_RECLAIM   (__GFP_DIRECT_RECLAIM | __GFP_KSWAPD_RECLAIM)
#define __GFP_HARDWALL  ((gfp_t)0x400000u)  /* accepted, ignored: no cpusets */
#define __GFP_NOMEMALLOC ((gfp_t)0x800000u) /* accepted, ignored: no reserves */
#define __GFP_MEMALLOC  ((gfp_t)0x1000000u) /* accepted, ignored: no reserves */
#define __GFP_COMP      ((gfp_t)0x2000000u) /* accepted, ignored */

/* The kernel's combinations, with the kernel's bits (so tests such as
   gfpflags_allow_blocking() read as in the kernel); all allocate alike. */
#define GFP_ATOMIC      (__GFP_HIGH | __GFP_KSWAPD_RECLAIM)
#define GFP_KERNEL      (__GFP_RECLAIM | __GFP_IO | __GFP_FS)
#define GFP_KERNEL_ACCOUNT (GFP_KERNEL | __GFP_ACCOUNT)
#define GFP_NOWAIT      (__GFP_KSWAPD_RECLAIM | __GFP_NOWARN)
#define GFP_NOIO        (__GFP_RECLAIM)
#define GFP_NOFS        (__GFP_RECLAIM | __GFP_IO)
#define GFP_USER        (__GFP_RECLAIM | __GFP_IO | __GFP_FS | __GFP_HARDWALL)
#define GFP_HIGHUSER    (GFP_USER | __GFP_HIGHMEM)
#define GFP_DMA         __GFP_DMA
#define GFP_DMA32       __GFP_DMA32

static inline int gfpflags_allow_blocking(gfp_t flags)
{
	return !!(flags & __GFP_DIRECT_RECLAIM);
}

#ifndef NUMA_NO_NODE
#define NUMA_NO_NODE SM_NO_NODE
#endif

/*
 * kmem_cache creation flags.  The low byte is slabmalloc's SM_CACHE_* and
 * reaches sm_cache_create; the bits above are this header's own.
 */
#define __SM_SLAB_MASK  0xffu
#define SLAB_HWCACHE_ALIGN ((slab_flags_t)SM_CACHE_HWCACHE_ALIGN) /* honoured: 64-byte aligned */
/* Honoured, more strictly than the kernel: a freed object's memory stays an
   object of the cache, its contents untouched by the allocator, until
   kmem_cache_destroy (not just for a grace period): the cache's slabs never
   go back, not even empty ones (SM_CACHE_TYPESAFE_BY_RCU in slabmalloc.h).
   kmem_cache_destroy does not wait for a grace period: wait for the
   readers first. */
#define SLAB_TYPESAFE_BY_RCU ((slab_flags_t)SM_CACHE_TYPESAFE_BY_RCU)
#define SLAB_PANIC      ((slab_flags_t)0x100u)  /* honoured: creation failure aborts with a message */
#define SLAB_ACCOUNT    ((slab_flags_t)0x200u)  /* accepted, ignored: no memory cgroups */
#define SLAB_RECLAIM_ACCOUNT ((slab_flags_t)0x400u) /* accepted, ignored: no reclaim */
#define SLAB_TEMPORARY  SLAB_RECLAIM_ACCOUNT
#define SLAB_NO_MERGE   ((slab_flags_t)0x800u)  /* accepted: caches are never merged anyway */
#define SLAB_CACHE_DMA  ((slab_flags_t)0x1000u) /* accepted, ignored: no zones */
#define SLAB_CACHE_DMA32 ((slab_flags_t)0x2000u) /* accepted, ignored: no zones */
#define SLAB_NOLEAKTRACE ((slab_flags_t)0x4000u) /* accepted, ignored: no kmemleak */
/* Debugging (the kernel's slub_debug flags): honoured as slabmalloc's
   slab_debug (SM_CACHE_DEBUG_*, docs/usage.md "slab_debug"); SLAB_TRACE
   is accepted and ignored. */
#define SLAB_CONSISTENCY_CHECKS ((slab_flags_t)SM_CACHE_DEBUG_CONSISTENCY)
#define SLAB_RED_ZONE   ((slab_flags_t)SM_CACHE_DEBUG_RED_ZONE)
#define SLAB_POISON     ((slab_flags_t)SM_CACHE_DEBUG_POISON)
#define SLAB_STORE_USER ((slab_flags_t)SM_CACHE_DEBUG_STORE_USER)
#define SLAB_TRACE      ((slab_flags_t)0x80000u)

/*
 * What kmalloc(0) returns (the kernel's value): not NULL, and any access
 * through it faults, since the first page is never mapped.  kfree, kvfree,
 * kfree_sensitive, krealloc, ksize and the nolock frees accept it.
 */
#define ZERO_SIZE_PTR ((void *)16)
#define ZERO_OR_NULL_PTR(x) ((unsigned long)(x) <= (unsigned long)ZERO_SIZE_PTR)

/*
 * A compile-time refusal: @f itself, unless @f is an integer constant
 * expression with a bit of @bad set, which fails to compile with @msg.
 * (Whether @f is a constant expression: the kernel's __is_constexpr idea,
 * a null pointer constant only when it is one.)
 */
#define __sm_is_constexpr(x) \
	(sizeof(int) == sizeof(*(8 ? ((void *)((long)(x) * 0l)) : (int *)8)))
#define __SM_REJECT_CONST(f, bad, msg)                                                \
	((void)sizeof(struct {                                                        \
		_Static_assert(!(__builtin_choose_expr(__sm_is_constexpr(f), (f), 0u) & \
				 (bad)), msg);                                         \
		int __sm_unused;                                                      \
	}), (f))

/* The kernel's kfree takes a const pointer; the sm_* API does not. */
static inline void *__sm_unconst(const void *p)
{
	return (void *)(uintptr_t)p;
}

/* ---- kmalloc ---- */

/*
 * __GFP_NOFAIL's loop, after a first attempt failed: wait (sm_nofail_wait
 * gives cached memory back and sleeps) and try again until it succeeds.
 * Retries drop __GFP_THISNODE: a node that does not exist would never come.
 */
static inline __attribute__((cold)) void *__sm_kmalloc_nofail(sm_instance_t *inst, size_t size,
								   gfp_t flags, int node)
{
	unsigned attempt = 0;
	void *p;
	do {
		sm_nofail_wait(inst, size, &attempt);
		p = sm_kmalloc_node(inst, size, flags & __SM_GFP_MASK & ~SM_GFP_THISNODE, node);
	} while (!p);
	return p;
}

/* Every kmalloc-style request of this header: 0 bytes, the sm_* call, NOFAIL. */
static inline void *__sm_kmalloc_in(sm_instance_t *inst, size_t size, gfp_t flags, int node)
{
	if (__builtin_expect(!size, 0))
		return ZERO_SIZE_PTR;
	void *p = sm_kmalloc_node(inst, size, flags & __SM_GFP_MASK, node);
	if (__builtin_expect(!p && (flags & __GFP_NOFAIL), 0))
		p = __sm_kmalloc_nofail(inst, size, flags, node);
	return p;
}

/* n * size, or with __GFP_NOFAIL (which may not return NULL) a message and abort. */
static inline int __sm_array_bytes(size_t n, size_t size, gfp_t flags, size_t *bytes)
{
	if (!__builtin_mul_overflow(n, size, bytes))
		return 1;
	if (flags & __GFP_NOFAIL)
		sm_panic("__GFP_NOFAIL array of %zu elements of %zu bytes: the size overflows", n, size);
	errno = ENOMEM;
	return 0;
}

/*
 * @size bytes from the default instance; NULL (errno ENOMEM) when out of
 * memory, never with __GFP_NOFAIL; ZERO_SIZE_PTR for 0.
 */
static inline void *kmalloc(size_t size, gfp_t flags)
{
	return __sm_kmalloc_in(sm_default_instance(), size, flags, NUMA_NO_NODE);
}

static inline void *kzalloc(size_t size, gfp_t flags)
{
	return kmalloc(size, flags | __GFP_ZERO);
}

/* As kmalloc, preferring node @node (only @node with __GFP_THISNODE). */
static inline void *kmalloc_node(size_t size, gfp_t flags, int node)
{
	return __sm_kmalloc_in(sm_default_instance(), size, flags, node);
}

static inline void *kzalloc_node(size_t size, gfp_t flags, int node)
{
	return kmalloc_node(size, flags | __GFP_ZERO, node);
}

/* kmalloc recording its caller's caller, in the kernel: here kmalloc. */
#define kmalloc_track_caller(size, flags) kmalloc((size), (flags))

/* An array of @n elements of @size bytes; NULL (errno ENOMEM) if n * size overflows. */
static inline void *kmalloc_array(size_t n, size_t size, gfp_t flags)
{
	size_t bytes;
	if (!__sm_array_bytes(n, size, flags, &bytes))
		return NULL;
	return kmalloc(bytes, flags);
}

static inline void *kcalloc(size_t n, size_t size, gfp_t flags)
{
	return kmalloc_array(n, size, flags | __GFP_ZERO);
}

static inline void *kmalloc_array_node(size_t n, size_t size, gfp_t flags, int node)
{
	size_t bytes;
	if (!__sm_array_bytes(n, size, flags, &bytes))
		return NULL;
	return kmalloc_node(bytes, flags, node);
}

static inline void *kcalloc_node(size_t n, size_t size, gfp_t flags, int node)
{
	return kmalloc_array_node(n, size, flags | __GFP_ZERO, node);
}

/*
 * Bytes usable at @p: its size class or page run (a kmem_cache object: its
 * object size).  0 for NULL and ZERO_SIZE_PTR.
 */
static inline size_t ksize(const void *p)
{
	return ZERO_OR_NULL_PTR(p) ? 0 : sm_ksize(p);
}

/* What ksize(kmalloc(@size)) would be, without allocating; 0 for 0. */
static inline size_t kmalloc_size_roundup(size_t size)
{
	return sm_kmalloc_size_roundup(size);
}

/* Free @p (NULL and ZERO_SIZE_PTR are ignored). */
static inline void kfree(const void *p)
{
	if (!ZERO_OR_NULL_PTR(p))
		sm_kfree(__sm_unconst(p));
}

/*
 * Resize @p to @new_size: a new object in @p's instance, the first
 * min(ksize(p), new_size) bytes copied, then @p freed.  @p NULL (or
 * ZERO_SIZE_PTR): kmalloc.  @new_size 0: frees @p and returns ZERO_SIZE_PTR.
 * On failure NULL is returned and @p is left as it was.  With __GFP_ZERO
 * the bytes past the copied ones read as zero.
 */
static inline void *krealloc(const void *p, size_t new_size, gfp_t flags)
{
	if (!new_size) {
		kfree(p);
		return ZERO_SIZE_PTR;
	}
	if (ZERO_OR_NULL_PTR(p))
		p = NULL;
	sm_instance_t *inst = p ? sm_ptr_instance(p) : NULL;
	void *q = __sm_kmalloc_in(inst ? inst : sm_default_instance(), new_size, flags, NUMA_NO_NODE);
	if (!q || !p)
		return q;
	size_t old = sm_ksize(p);
	memcpy(q, p, old < new_size ? old : new_size);
	sm_kfree(__sm_unconst(p));
	return q;
}

/* krealloc to @new_n elements of @new_size bytes; NULL (errno ENOMEM, @p kept) on overflow. */
static inline void *krealloc_array(void *p, size_t new_n, size_t new_size, gfp_t flags)
{
	size_t bytes;
	if (!__sm_array_bytes(new_n, new_size, flags, &bytes))
		return NULL;
	return krealloc(p, bytes, flags);
}

/*
 * Zero @n bytes at @p in a way the compiler may not drop as a dead store
 * (the kernel's memzero_explicit): the asm is told it reads the memory.
 */
static inline void __sm_memzero_explicit(void *p, size_t n)
{
	memset(p, 0, n);
	__asm__ __volatile__("" : : "r"(p) : "memory");
}

/* Zero all ksize(p) bytes, then free: for keys and passwords. */
static inline void kfree_sensitive(const void *p)
{
	if (ZERO_OR_NULL_PTR(p))
		return;
	__sm_memzero_explicit(__sm_unconst(p), sm_ksize(p));
	sm_kfree(__sm_unconst(p));
}

/* ---- copies: kstrdup, kmemdup ---- */

/* A copy of @len bytes at @src in a new object; NULL (errno ENOMEM) on failure. */
static inline void *kmemdup(const void *src, size_t len, gfp_t gfp)
{
	void *p = kmalloc(len, gfp);
	if (p && len)
		memcpy(p, src, len);
	return p;
}

/* @count elements of @element_size bytes copied; NULL on overflow or failure. */
static inline void *kmemdup_array(const void *src, size_t count, size_t element_size, gfp_t gfp)
{
	size_t bytes;
	if (!__sm_array_bytes(count, element_size, gfp, &bytes))
		return NULL;
	return kmemdup(src, bytes, gfp);
}

/* @len bytes of @s copied and a NUL added; NULL for a NULL @s. */
static inline char *kmemdup_nul(const char *s, size_t len, gfp_t gfp)
{
	if (!s || len == SIZE_MAX)
		return NULL;
	char *p = (char *)kmalloc(len + 1, gfp);
	if (p) {
		memcpy(p, s, len);
		p[len] = '\0';
	}
	return p;
}

/* A copy of the string @s (NULL for a NULL @s). */
static inline char *kstrdup(const char *s, gfp_t gfp)
{
	return s ? (char *)kmemdup(s, strlen(s) + 1, gfp) : NULL;
}

/* A copy of at most @max bytes of @s, NUL-terminated (NULL for a NULL @s). */
static inline char *kstrndup(const char *s, size_t max, gfp_t gfp)
{
	if (!s)
		return NULL;
	const char *end = (const char *)memchr(s, '\0', max);
	return kmemdup_nul(s, end ? (size_t)(end - s) : max, gfp);
}

/* The kernel keeps strings of its rodata as they are; here they are always copied. */
static inline const char *kstrdup_const(const char *s, gfp_t gfp)
{
	return kstrdup(s, gfp);
}

static inline void kfree_const(const void *p)
{
	kfree(p);
}

/* ---- kvmalloc: kmalloc, since kmalloc serves any size ---- */

/*
 * The kernel falls back to vmalloc when kmalloc cannot serve a size;
 * slabmalloc's kmalloc serves every size (page runs, then mappings of their
 * own), so these are kmalloc, and kvfree is kfree.
 */
static inline void *kvmalloc_node(size_t size, gfp_t flags, int node)
{
	return kmalloc_node(size, flags, node);
}

static inline void *kvmalloc(size_t size, gfp_t flags)
{
	return kmalloc(size, flags);
}

static inline void *kvzalloc(size_t size, gfp_t flags)
{
	return kmalloc(size, flags | __GFP_ZERO);
}

static inline void *kvzalloc_node(size_t size, gfp_t flags, int node)
{
	return kmalloc_node(size, flags | __GFP_ZERO, node);
}

static inline void *kvmalloc_array(size_t n, size_t size, gfp_t flags)
{
	return kmalloc_array(n, size, flags);
}

static inline void *kvcalloc(size_t n, size_t size, gfp_t flags)
{
	return kmalloc_array(n, size, flags | __GFP_ZERO);
}

static inline void *kvcalloc_node(size_t n, size_t size, gfp_t flags, int node)
{
	return kmalloc_array_node(n, size, flags | __GFP_ZERO, node);
}

static inline void kvfree(const void *p)
{
	kfree(p);
}

/* Zero @len bytes at @p (the size the caller knows), then free. */
static inline void kvfree_sensitive(const void *p, size_t len)
{
	if (ZERO_OR_NULL_PTR(p))
		return;
	__sm_memzero_explicit(__sm_unconst(p), len);
	kfree(p);
}

/*
 * kvrealloc, in both of the kernel's forms: kvrealloc(p, size, flags)
 * (Linux 6.12 on) and kvrealloc(p, oldsize, newsize, flags) (before: the
 * first min(oldsize, newsize) bytes are kept).  Both are krealloc.
 */
static inline void *__sm_kvrealloc(const void *p, size_t size, gfp_t flags)
{
	return krealloc(p, size, flags);
}

static inline void *__sm_kvrealloc_old(const void *p, size_t oldsize, size_t newsize, gfp_t flags)
{
	(void)oldsize; /* krealloc knows the old size */
	return krealloc(p, newsize, flags);
}

#define __SM_ARG5(a, b, c, d, e, ...) e
#define kvrealloc(...) __SM_ARG5(__VA_ARGS__, __sm_kvrealloc_old, __sm_kvrealloc, ~, ~)(__VA_ARGS__)

/* ---- kmem_cache ---- */

/*
 * The kernel's less common arguments of kmem_cache_create (Linux 6.12 on),
 * passed on as struct sm_cache_args.  Honoured: align, ctor,
 * sheaf_capacity (0: the instance's).  useroffset and usersize are checked
 * to lie inside the object and recorded (there is no copy_to_user to
 * whitelist).  Accepted and ignored: freeptr_offset and use_freeptr_offset
 * (the free word of a SLAB_TYPESAFE_BY_RCU cache always lies after the
 * object, which is safe whatever the object holds; it costs 8 bytes per
 * object).
 */
struct kmem_cache_args {
	unsigned int align;
	unsigned int useroffset;
	unsigned int usersize;
	unsigned int freeptr_offset;
	_Bool use_freeptr_offset;
	void (*ctor)(void *);
	unsigned int sheaf_capacity;
};

static inline __attribute__((cold)) void __sm_slab_panic(const char *name, size_t size)
{
	int e = errno;
	sm_panic("kmem_cache_create(\"%s\", %zu) with SLAB_PANIC failed: %s", name ? name : "(null)",
		 size, e == EINVAL ? "invalid size, alignment or name (EINVAL)"
		       : e == ENOSPC ? "too many caches (ENOSPC)" : "out of memory (ENOMEM)");
}

/*
 * A cache of @size-byte objects in the default instance.  @align 0 means 8;
 * SLAB_HWCACHE_ALIGN aligns to the 64-byte cache line whatever the object
 * size.  Caches are never merged.  NULL (errno EINVAL, ENOSPC or ENOMEM) on
 * failure, or with SLAB_PANIC a message and abort; sizes above 32 KiB are
 * refused.
 */
static inline struct kmem_cache *__kmem_cache_create_args(const char *name, unsigned int size,
							  struct kmem_cache_args *args,
							  slab_flags_t flags)
{
	struct sm_cache_args a = { 0 };
	if (args) {
		a.align = args->align;
		a.ctor = args->ctor;
		a.useroffset = args->useroffset;
		a.usersize = args->usersize;
		a.sheaf_capacity = args->sheaf_capacity;
	}
	struct kmem_cache *s = sm_cache_create_args(sm_default_instance(), name, size, &a,
						    flags & __SM_SLAB_MASK);
	if (__builtin_expect(!s && (flags & SLAB_PANIC), 0))
		__sm_slab_panic(name, size);
	return s;
}

/* The classic five-argument form. */
static inline struct kmem_cache *__kmem_cache_create(const char *name, unsigned int size,
						     unsigned int align, slab_flags_t flags,
						     void (*ctor)(void *))
{
	struct kmem_cache_args args = { .align = align, .ctor = ctor };
	return __kmem_cache_create_args(name, size, &args, flags);
}

/* The four-argument form with NULL for the arguments: the defaults. */
static inline struct kmem_cache *__kmem_cache_default_args(const char *name, unsigned int size,
							   void *args, slab_flags_t flags)
{
	if (args) { /* only NULL has this type: anything else is a mistake */
		errno = EINVAL;
		return NULL;
	}
	return __kmem_cache_create_args(name, size, NULL, flags);
}

/*
 * kmem_cache_create(name, size, args, flags) with a struct kmem_cache_args *
 * (or NULL), or kmem_cache_create(name, size, align, flags, ctor): the type
 * of the third argument picks the form, as in the kernel.
 */
#define kmem_cache_create(__name, __object_size, __args, ...)                          \
	_Generic((__args),                                                             \
		struct kmem_cache_args *: __kmem_cache_create_args,                    \
		void *: __kmem_cache_default_args,                                     \
		default: __kmem_cache_create)(__name, __object_size, __args, __VA_ARGS__)

/* A cache with a usercopy region: the region is accepted and ignored. */
static inline struct kmem_cache *kmem_cache_create_usercopy(const char *name, unsigned int size,
							    unsigned int align, slab_flags_t flags,
							    unsigned int useroffset,
							    unsigned int usersize,
							    void (*ctor)(void *))
{
	struct kmem_cache_args args = {
		.align = align, .ctor = ctor, .useroffset = useroffset, .usersize = usersize,
	};
	return __kmem_cache_create_args(name, size, &args, flags);
}

/* A cache for struct @__struct, named after it, with its size and alignment. */
#define KMEM_CACHE(__struct, __flags)                                                  \
	__kmem_cache_create_args(#__struct, sizeof(struct __struct),                   \
				 &(struct kmem_cache_args){ .align = __alignof__(struct __struct) }, \
				 (__flags))

#define KMEM_CACHE_USERCOPY(__struct, __flags, __field)                                \
	__kmem_cache_create_args(#__struct, sizeof(struct __struct),                   \
				 &(struct kmem_cache_args){                            \
					 .align = __alignof__(struct __struct),        \
					 .useroffset = offsetof(struct __struct, __field), \
					 .usersize = sizeof(((struct __struct *)0)->__field), \
				 }, (__flags))

/* The object size of @s, as created. */
static inline unsigned int kmem_cache_size(struct kmem_cache *s)
{
	return (unsigned int)sm_cache_object_size(s);
}

static inline __attribute__((cold)) void *__sm_cache_alloc_nofail(struct kmem_cache *s,
									    gfp_t flags, int node)
{
	unsigned attempt = 0;
	void *p;
	do {
		sm_nofail_wait(sm_default_instance(), 0, &attempt);
		p = sm_cache_alloc_node(s, flags & __SM_GFP_MASK & ~SM_GFP_THISNODE, node);
	} while (!p);
	return p;
}

/* An object of @s, or NULL (errno ENOMEM); never NULL with __GFP_NOFAIL. */
static inline void *kmem_cache_alloc(struct kmem_cache *s, gfp_t flags)
{
	void *p = sm_cache_alloc(s, flags & __SM_GFP_MASK);
	if (__builtin_expect(!p && (flags & __GFP_NOFAIL), 0))
		p = __sm_cache_alloc_nofail(s, flags, NUMA_NO_NODE);
	return p;
}

static inline void *kmem_cache_zalloc(struct kmem_cache *s, gfp_t flags)
{
	return kmem_cache_alloc(s, flags | __GFP_ZERO);
}

static inline void *kmem_cache_alloc_node(struct kmem_cache *s, gfp_t flags, int node)
{
	void *p = sm_cache_alloc_node(s, flags & __SM_GFP_MASK, node);
	if (__builtin_expect(!p && (flags & __GFP_NOFAIL), 0))
		p = __sm_cache_alloc_nofail(s, flags, node);
	return p;
}

static inline void kmem_cache_free(struct kmem_cache *s, void *p)
{
	sm_cache_free(s, p);
}

/*
 * Fill @p[0..size) with objects of @s in one go (sm_cache_alloc_bulk: the
 * thread's sheaves a run at a time, then the barn, then the slabs).
 * Returns @size, or 0 when not all could be had: then nothing is kept (the
 * objects taken meanwhile are freed).  With __GFP_NOFAIL it retries until
 * all are had.
 */
static inline int kmem_cache_alloc_bulk(struct kmem_cache *s, gfp_t flags, size_t size, void **p)
{
	size_t got = sm_cache_alloc_bulk(s, flags & __SM_GFP_MASK, size, p);
	if (__builtin_expect(got < size && (flags & __GFP_NOFAIL), 0)) {
		unsigned attempt = 0;
		do {
			sm_nofail_wait(sm_default_instance(), 0, &attempt);
			got = sm_cache_alloc_bulk(s, flags & __SM_GFP_MASK, size, p);
		} while (got < size);
	}
	return (int)got;
}

/* Free @size objects of @s in one go; @s NULL: objects of any cache (kfree_bulk). */
static inline void kmem_cache_free_bulk(struct kmem_cache *s, size_t size, void **p)
{
	sm_cache_free_bulk(s, size, p);
}

/* Free @size kmalloc (or any) objects in one go. */
static inline void kfree_bulk(size_t size, void **p)
{
	sm_cache_free_bulk(NULL, size, p);
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
			    align, flags & __SM_SLAB_MASK, ctor)) {
		if (__builtin_expect(flags & SLAB_PANIC, 0))
			__sm_slab_panic(name, size);
		return -errno;
	}
	return 0;
}

/* As KMEM_CACHE, in the storage @s points to: the cache, or NULL (errno as kmem_cache_setup). */
#define KMEM_CACHE_SETUP(s, __struct, __flags) \
	sm_cache_setup((struct sm_cache_storage *)(void *)(s), sm_default_instance(), #__struct, \
		       sizeof(struct __struct), __alignof__(struct __struct), (__flags) & __SM_SLAB_MASK, NULL)

/* ---- the nolock API: any context, signal handlers included ---- */

/*
 * __GFP_NOFAIL cannot be honoured here: a nolock call never waits, so it
 * cannot retry until memory comes.  As a constant it does not compile (the
 * macros below); otherwise the call aborts with this message.
 */
#define __SM_NOLOCK_NOFAIL_MSG \
	"__GFP_NOFAIL cannot be honoured by a nolock allocation: it never waits, so it " \
	"cannot retry until memory comes; drop __GFP_NOFAIL and handle NULL"

static inline void __sm_nolock_flags(gfp_t flags)
{
	if (__builtin_expect(flags & __GFP_NOFAIL, 0))
		sm_panic("%s", __SM_NOLOCK_NOFAIL_MSG);
}

/* Any context, signal handlers included.  ZERO_SIZE_PTR for 0 bytes. */
static inline void *kmalloc_nolock(size_t size, gfp_t flags, int node)
{
	__sm_nolock_flags(flags);
	if (!size)
		return ZERO_SIZE_PTR;
	sm_instance_t *inst = sm_default_instance();
	return inst ? sm_kmalloc_nolock(inst, size, flags & __SM_GFP_MASK, node) : NULL;
}

static inline void kfree_nolock(const void *p)
{
	if (!ZERO_OR_NULL_PTR(p))
		sm_kfree_nolock(__sm_unconst(p));
}

static inline void *kmem_cache_alloc_nolock(struct kmem_cache *s, gfp_t flags, int node)
{
	__sm_nolock_flags(flags);
	return sm_cache_alloc_nolock(s, flags & __SM_GFP_MASK, node);
}

static inline void kmem_cache_free_nolock(struct kmem_cache *s, void *p)
{
	sm_cache_free_nolock(s, p);
}

#define kmalloc_nolock(size, flags, node) \
	kmalloc_nolock((size), __SM_REJECT_CONST(flags, __GFP_NOFAIL, "kmalloc_nolock: " __SM_NOLOCK_NOFAIL_MSG), (node))
#define kmem_cache_alloc_nolock(s, flags, node) \
	kmem_cache_alloc_nolock((s), __SM_REJECT_CONST(flags, __GFP_NOFAIL, \
			"kmem_cache_alloc_nolock: " __SM_NOLOCK_NOFAIL_MSG), (node))

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
