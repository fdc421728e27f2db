/*
 * slabmalloc.h - public interface of the slabmalloc allocator library.
 *
 * slabmalloc is built the way the Linux kernel's SLUB allocator is built:
 * size-class kmem_caches hand out objects from slabs, slabs are carved from
 * large mmap'd nodes, and per-thread sheaves with a per-node barn make the
 * fast path.  All state lives in an instance (sm_instance_t): the default
 * instance serves malloc, and any number of isolated instances can be created
 * and destroyed (destroying one returns all of its memory to the OS).
 *
 * Every exported symbol starts with "sm_".  <slabmalloc/kernel.h> offers the
 * kernel's own names (kmalloc, kmem_cache_create, ...) as inline wrappers.
 */
#ifndef SLABMALLOC_H
#define SLABMALLOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SM_API __attribute__((visibility("default")))

#define SLABMALLOC_VERSION_MAJOR 0
#define SLABMALLOC_VERSION_MINOR 1

typedef struct sm_instance sm_instance_t;
/* A kmem_cache.  The struct is opaque; only pointers cross the API. */
typedef struct kmem_cache sm_cache_t;

/* ---- request flags (the counterpart of the gfp flags a caller passes) ---- */
#define SM_GFP_ZERO     0x01u /* return zeroed memory */
#define SM_GFP_THISNODE 0x02u /* only the requested node: no fallback */

/* "Any node": the instance picks (the kernel's NUMA_NO_NODE). */
#define SM_NO_NODE (-1)

/* ---- kmem_cache creation flags ---- */
#define SM_CACHE_HWCACHE_ALIGN 0x01u /* align objects to the cache line */

/* Limits of one instance. */
#define SM_MAX_NODES  16  /* nodes (reservations) per instance */
#define SM_MAX_CACHES 512 /* kmem_caches per instance, kmalloc caches included */
#define SM_MAX_INSTANCES 32 /* live instances per process, default included */

/*
 * The OS contract.  Every system call the core makes goes through these
 * primitives, so a test can hand an instance a fake OS that fails on demand or
 * a clock it controls.  A NULL member means "use the real one".
 *
 *  reserve  - map @size bytes of inaccessible address space aligned to
 *             @align (a power of two).  NULL on failure.  Costs no memory.
 *  commit   - make [p, p+size) readable and writable; fresh pages read as 0.
 *             0 on success, -1 on failure.
 *  purge    - tell the OS the contents of [p, p+size) are no longer needed:
 *             it reads as zero once committed again, and stops counting
 *             towards the resident set.  A range of 9 pages or more may
 *             also become inaccessible (the real one makes it PROT_NONE,
 *             so that stale pointers fault): the core commits such a range
 *             again before it hands it out; a smaller one must stay
 *             accessible.  0 or -1.
 *  release  - unmap a whole reservation returned by reserve.
 *  now_ns   - a monotonic clock in nanoseconds.
 *  remap    - move the committed pages [old_addr, old_addr+old_size) to
 *             @new_addr (inside a reservation from reserve), extending them
 *             to @new_size bytes (the pages added read as 0); the old
 *             range is then unmapped.  0, or -1 with nothing changed.  Optional:
 *             NULL in an OS of your own means there is none (realloc of a
 *             huge mapping that outgrows its reservation copies); with
 *             os NULL, the real one (mremap).
 */
struct sm_os_ops {
	void *(*reserve)(size_t size, size_t align, void *arg);
	int (*commit)(void *p, size_t size, void *arg);
	int (*purge)(void *p, size_t size, void *arg);
	void (*release)(void *p, size_t size, void *arg);
	uint64_t (*now_ns)(void *arg);
	void *arg;
	int (*remap)(void *old_addr, size_t old_size, void *new_addr, size_t new_size, void *arg);
};

/*
 * Options of an instance.  Fill with sm_options_init() and change what you
 * need; zero in a field that sm_options_init() set non-zero is invalid unless
 * the field says otherwise.
 */
struct sm_options {
	size_t node_size;          /* bytes reserved by the first node; each
	                              further node doubles it, or more if the
	                              request that makes it needs more (rounded
	                              up to 64 MiB of address space; 1 MiB..
	                              1 TiB). Default 64 MiB */
	unsigned max_nodes;        /* nodes this instance may create (1..16) */
	unsigned purge_delay_ms;   /* free pages and empty slabs older than this
	                              (page runs above 1 MiB freed by the
	                              program: 10 times this)
	                              go back to the OS; 0 = at once */
	unsigned sheaf_capacity;   /* objects per sheaf; 0 = chosen by size */
	unsigned barn_max_full;    /* full sheaves a barn keeps per node */
	unsigned barn_max_empty;   /* empty sheaves a barn keeps per node */
	size_t barn_bytes;         /* a barn may also keep more sheaves of small
	                              objects, up to this many bytes of objects
	                              (default 256 KiB; 0: the two counts alone).
	                              Barns idle for a purge interval are drained */
	unsigned slab_max_empty;   /* empty slabs a cache keeps per node before
	                              handing the extra ones back at once */
	size_t huge_threshold;     /* requests above this get their own mapping
	                              (32 KiB..512 GiB, default 32 MiB) */
	bool helper_thread;        /* frees deferred by the nolock path are
	                              finished by a helper thread, started the
	                              first time one is deferred (default true);
	                              false: by the thread that deferred them, at
	                              its next call, and by every slow path */
	bool harden;               /* hardened mode (issue 13; started): a
	                              canary after each page run, checked on
	                              free; sm_ksize gives a run's requested
	                              size.  Default false */
	unsigned helper_idle_ms;   /* the helper exits after this long without
	                              work (default 2000); started again on need */
	/*
	 * Called with a one-line message (no newline) when a caller hands the
	 * allocator something invalid (a foreign or interior pointer, a double
	 * free, a corrupt freelist).  NULL: print the message to stderr and
	 * abort().  When the handler returns, the bad request is abandoned: the
	 * object is neither freed nor reused.  (A corrupted freelist is cut at
	 * the bad link: the objects after it are leaked, never handed out.)
	 */
	void (*error_handler)(const char *msg, void *arg);
	void *error_arg;
	const struct sm_os_ops *os; /* NULL: the real OS */
};

/* Fill @o with the defaults. */
SM_API void sm_options_init(struct sm_options *o);

/*
 * Create an isolated instance.  @o may be NULL for the defaults.  Returns NULL
 * with errno EINVAL (bad option), EAGAIN (SM_MAX_INSTANCES live already) or
 * ENOMEM.
 */
SM_API sm_instance_t *sm_instance_create(const struct sm_options *o);

/*
 * Destroy an instance and return all of its memory to the OS.  Every object
 * and cache of the instance becomes invalid.  No other thread may be using the
 * instance.  The default instance cannot be destroyed (the call is ignored).
 */
SM_API void sm_instance_destroy(sm_instance_t *inst);

/*
 * The process-wide instance that serves malloc, set up on first use, whatever
 * the call, with the options of the SLABMALLOC_* environment.  NULL
 * only from a signal handler that interrupted that set-up: never because
 * the OS refused its first node (it then starts without one, and its
 * allocations fail with ENOMEM until a reservation succeeds).
 */
SM_API sm_instance_t *sm_default_instance(void);

/* ---- kmalloc: size-class caches ---- */

/*
 * Allocate @size bytes from @inst.  Objects up to SM_KMALLOC_MAX_CACHE_SIZE
 * come from the kmalloc-<size> caches, larger ones are page runs of a node
 * (or, above the huge threshold, a mapping of their own).  Requests above 8
 * bytes are 16-byte aligned (glibc's guarantee; enough for any type of that
 * size or smaller); 8 bytes or less, 8-aligned; page runs, page aligned.  NULL means out of memory
 * (errno ENOMEM); @size 0 returns a unique minimum-size object.
 */
SM_API void *sm_kmalloc(sm_instance_t *inst, size_t size, unsigned gfp);
/* As sm_kmalloc, preferring node @node (or only @node with SM_GFP_THISNODE). */
SM_API void *sm_kmalloc_node(sm_instance_t *inst, size_t size, unsigned gfp, int node);
/*
 * As sm_kmalloc with the object aligned to @align (a power of two).  NULL with
 * errno EINVAL for a bad alignment, ENOMEM when out of memory or when @align
 * is above SM_MAX_ALIGN (glibc, too, fails such alignments with ENOMEM).
 * Up to a page the object comes from a size class, up to 2 MiB from a page
 * run, above 2 MiB from a mapping of its own aligned by its reservation
 * (the alignment costs address space there, never memory).
 */
SM_API void *sm_kmalloc_aligned(sm_instance_t *inst, size_t size, size_t align,
				unsigned gfp);

/*
 * Free an object of any instance (NULL is ignored).  A pointer that is not a
 * live object of slabmalloc is reported through the owning instance's error
 * handler (the default instance's for a foreign pointer) and left alone.
 */
SM_API void sm_kfree(void *p);

/*
 * Resize @p (of any instance) to @n bytes, keeping its contents up to the
 * smaller size.  In place when the size class still fits (and is not more
 * than half empty) or the page run can grow or shrink where it is; otherwise
 * allocated anew in @p's instance, copied and freed.  @p NULL: sm_kmalloc from
 * the default instance.  @n 0: frees @p and returns NULL.  NULL with errno
 * ENOMEM when out of memory (@p is untouched), EINVAL when @p is not a live
 * object (reported through the error handler).
 */
SM_API void *sm_krealloc(void *p, size_t n, unsigned gfp);

/* Bytes usable at @p (its size class, or its page run); 0 for NULL and for malloc(0)'s pointers. */
SM_API size_t sm_ksize(const void *p);

/* The instance @p belongs to (the default one for malloc(0)'s pointers), or NULL if @p lies outside every node. */
SM_API sm_instance_t *sm_ptr_instance(const void *p);

/* Largest alignment sm_kmalloc_aligned (and the malloc family) can meet: 1 TiB. */
#define SM_MAX_ALIGN ((size_t)1 << 40)

/* Largest request served by a kmalloc cache; above it, page runs. */
#define SM_KMALLOC_MAX_CACHE_SIZE 32768u

/* Number of kmalloc size classes and the object size of class @i. */
SM_API unsigned sm_kmalloc_nr_classes(void);
SM_API size_t sm_kmalloc_class_size(unsigned i);

/* ---- kmem_cache ---- */

/*
 * Create a cache of @size-byte objects aligned to @align (0 = 8, or a power
 * of two up to the page size).  @ctor, if not NULL, runs once on every object
 * of a slab when the slab is made; a freed object must be returned in its
 * constructed state, and is not constructed again when it is reused (the
 * kernel's contract).  @name is copied (up to 31 characters).  NULL with
 * errno EINVAL (bad size or alignment), ENOSPC (SM_MAX_CACHES reached) or
 * ENOMEM.
 */
SM_API sm_cache_t *sm_cache_create(sm_instance_t *inst, const char *name, size_t size,
				   size_t align, unsigned flags, void (*ctor)(void *));
/* An object of @s, or NULL (errno ENOMEM).  SM_GFP_ZERO zeroes it. */
SM_API void *sm_cache_alloc(sm_cache_t *s, unsigned gfp);
SM_API void *sm_cache_alloc_node(sm_cache_t *s, unsigned gfp, int node);
/* Free @p, which must be an object of @s (checked; reported if not). */
SM_API void sm_cache_free(sm_cache_t *s, void *p);

/*
 * The nolock API, the userspace kmalloc_nolock()/kfree_nolock().  Contract:
 * never blocks, never spins or sleeps on a lock (each lock is tried once),
 * calls only async-signal-safe functions (system calls; no stdio, locale,
 * dlsym or thread creation) and may be called from a signal handler, from
 * inside another allocator call on the same thread, or while the caller
 * holds any lock.  errno is changed only when NULL is returned.
 *
 * sm_kmalloc_nolock returns @size bytes of @inst (SM_GFP_ZERO and
 * SM_GFP_THISNODE as for sm_kmalloc_node), or NULL with errno ENOMEM when
 * the memory is not there, or cannot be had without waiting: every allowed
 * node's slab list for the size class is locked and a new slab cannot be
 * listed either (for page runs: every node's page lock and the instance lock
 * busy).  That takes a signal landing inside one of those short critical
 * sections of the same size class; tests/preload/signal_stress measures the
 * rate (well under 1% of handler allocations; docs/signal-safety.md).
 *
 * sm_kfree_nolock accepts every live object of slabmalloc, whatever API
 * allocated it (malloc, sm_kmalloc, the nolock calls, caches, page runs,
 * huge mappings): unlike the kernel, slabmalloc has no per-object state
 * that only a blocking free could tear down.  A free whose lock is busy is
 * deferred: pushed on a lock-free list and finished by the helper thread or
 * the thread's next allocator call (docs/signal-safety.md bounds the delay).
 * Bad pointers are reported as by sm_kfree.
 */
SM_API void *sm_kmalloc_nolock(sm_instance_t *inst, size_t size, unsigned gfp, int node);
SM_API void sm_kfree_nolock(void *p);
/* The same for a cache: an object of @s, or NULL (errno ENOMEM). */
SM_API void *sm_cache_alloc_nolock(sm_cache_t *s, unsigned gfp, int node);
SM_API void sm_cache_free_nolock(sm_cache_t *s, void *p);
/*
 * Return this thread's and the barns' cached objects of @s to their slabs and
 * give every empty slab back to the node.  Returns the number of empty slabs
 * released from the empty lists (slabs released while flushing, beyond
 * slab_max_empty, are not counted).
 */
SM_API size_t sm_cache_shrink(sm_cache_t *s);
/*
 * Destroy @s.  No thread may still be using it.  Objects cached in any
 * thread's sheaves are taken back first.  If objects are still allocated, they
 * are reported (cache name and count) through the error handler, the cache
 * is left intact and -EBUSY is returned (with the default handler the report
 * aborts); -EPERM for a kmalloc cache; otherwise 0.
 */
SM_API int sm_cache_destroy(sm_cache_t *s);
SM_API const char *sm_cache_name(const sm_cache_t *s);

/* ---- maintenance ---- */

/*
 * Return unused memory to the OS now: with @force, every free page run and
 * every empty slab regardless of age (and the calling thread's sheaves and the
 * barns are flushed first); without, only what is older than the purge delay.
 * Returns the number of bytes handed back.
 */
SM_API size_t sm_purge(sm_instance_t *inst, bool force);

/* Give this thread's cached objects of @inst back (as if the thread exited). */
SM_API void sm_thread_flush(sm_instance_t *inst);

/* ---- statistics ---- */

struct sm_cache_stats {
	char name[32];
	size_t object_size;        /* bytes per object slot */
	unsigned objects_per_slab;
	unsigned pages_per_slab;
	size_t active_objects;     /* handed out to callers (not in any sheaf) */
	size_t total_objects;      /* in all slabs of the cache */
	size_t slabs;              /* slabs (partial, full and empty) */
	size_t partial_slabs;
	size_t empty_slabs;
	size_t sheaf_objects;      /* cached in sheaves (threads' and barns') */
	/* event counters */
	uint64_t barn_get;         /* full sheaves taken from a barn */
	uint64_t barn_put;         /* full sheaves given to a barn */
	uint64_t refills;          /* sheaves refilled from slabs */
	uint64_t flushes;          /* sheaves flushed to slabs */
	uint64_t slabs_allocated;
	uint64_t slabs_freed;
};

struct sm_stats {
	size_t nodes;
	size_t reserved_bytes;     /* address space of all nodes */
	size_t committed_bytes;    /* made accessible so far */
	size_t slab_bytes;         /* pages in slabs */
	size_t large_bytes;        /* pages in live page runs and huge mappings */
	size_t free_dirty_bytes;   /* free pages that may still be resident */
	size_t free_clean_bytes;   /* free pages already returned to the OS */
	size_t purged_bytes;       /* total handed back with purge since creation */
	size_t huge_allocations;
	size_t huge_bytes;         /* bytes in huge mappings (part of large_bytes) */
	size_t caches;
	/* The nolock path (docs/signal-safety.md). */
	uint64_t deferred_frees;   /* frees deferred since creation */
	uint64_t deferred_pending; /* of those, not yet back in their slabs */
	uint64_t helper_starts;    /* times the helper thread was started */
	uint64_t helper_wakeups;   /* times it woke up */
	bool helper_running;
};

SM_API void sm_stats_get(sm_instance_t *inst, struct sm_stats *st);
/* Stats of one cache (a consistent snapshot per node, approximate across threads). */
SM_API void sm_cache_stats_get(sm_cache_t *s, struct sm_cache_stats *st);
/*
 * Call @fn for each cache of @inst (kmalloc caches first) with its stats.
 * @fn must not create or destroy caches of @inst.
 */
SM_API void sm_cache_foreach(sm_instance_t *inst,
			     void (*fn)(const struct sm_cache_stats *st, void *arg), void *arg);

/*
 * Print a slabinfo-style table of @inst to stderr: per cache the active and
 * total objects, object size, objects and pages per slab, slabs, objects
 * cached in sheaves, slabs made and sheaf refills; then totals, memory by
 * kind and the peak RSS of the process.  Allocates nothing.
 */
SM_API void sm_stats_print(sm_instance_t *inst);

#ifdef __cplusplus
}
#endif
#endif /* SLABMALLOC_H */
