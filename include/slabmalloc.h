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
#define SM_GFP_ALL      0x03u /* every gfp flag: a context with others is EINVAL */

/* "Any node": the instance picks (the kernel's NUMA_NO_NODE). */
#define SM_NO_NODE (-1)

/* ---- kmem_cache creation flags ---- */
#define SM_CACHE_HWCACHE_ALIGN 0x01u /* align objects to the cache line */
/*
 * Type-safe memory (the kernel's SLAB_TYPESAFE_BY_RCU): the memory of a freed
 * object stays an object of this cache, readable, for as long as the cache
 * lives: its slabs never go back to the node, not even empty, until
 * sm_cache_destroy (shrink and purge leave them).  The allocator's free word
 * lies after the object, so freeing, and sitting in a sheaf or on a freelist,
 * writes nothing inside the object: a reader that reaches a freed object
 * through a stale pointer sees what the program last stored there (or what
 * the constructor stored), never allocator data.  The object may be handed
 * out again at once, as in the kernel: readers must check its identity.
 */
#define SM_CACHE_TYPESAFE_BY_RCU 0x02u

/*
 * slab_debug (SLUB's slab_debug=FZPU, docs/usage.md "slab_debug"): checks
 * of a cache's objects, asked per cache here, or for every cache (or the
 * caches named) of an instance by sm_options.debug / SLABMALLOC_DEBUG.
 * A debug cache has no sheaves: every allocation and free of it takes the
 * slow path, the other caches keep their speed.
 *   F  consistency checks of slab and object on every alloc and free
 *   Z  red zones before and after each object, checked on alloc and free
 *   P  freed objects poisoned (0x6b, last byte 0xa5), padding 0x5a,
 *      checked on alloc
 *   U  the caller, thread and sequence number of each object's last
 *      alloc and free, printed in every report about it
 *   T  with U: a short backtrace of each (implies U)
 */
#define SM_CACHE_DEBUG_CONSISTENCY 0x04u /* F */
#define SM_CACHE_DEBUG_RED_ZONE    0x08u /* Z */
#define SM_CACHE_DEBUG_POISON      0x10u /* P */
#define SM_CACHE_DEBUG_STORE_USER  0x20u /* U */
#define SM_CACHE_DEBUG_BACKTRACE   0x40u /* T */
#define SM_CACHE_DEBUG_ALL         0x7cu

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
 *  protect  - make the committed [p, p+size) inaccessible, its contents
 *             kept: hardened mode's guard page after a page run.  commit
 *             makes it accessible again.  0 or -1 (then no guard).  NULL:
 *             the real one (mprotect to PROT_NONE).
 */
struct sm_os_ops {
	void *(*reserve)(size_t size, size_t align, void *arg);
	int (*commit)(void *p, size_t size, void *arg);
	int (*purge)(void *p, size_t size, void *arg);
	void (*release)(void *p, size_t size, void *arg);
	uint64_t (*now_ns)(void *arg);
	void *arg;
	int (*remap)(void *old_addr, size_t old_size, void *new_addr, size_t new_size, void *arg);
	/*
	 * NUMA (optional; NULL: the real ones, mbind(2) and getcpu(2) through
	 * the syscall).  mbind binds [p, p+size) to NUMA node @numa_node
	 * (MPOL_BIND): 0 or -1.  numa_node returns the NUMA node the calling
	 * thread runs on now (-1: unknown).  Called by nodes made with
	 * sm_node_params.numa_node >= 0, and by threads' slow paths.
	 */
	int (*mbind)(void *p, size_t size, int numa_node, void *arg);
	int (*numa_node)(void *arg);
	int (*protect)(void *p, size_t size, void *arg);
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
	size_t barn_grow_bytes;    /* a barn that turned full sheaves away and
	                              then ran dry doubles its limits, while they
	                              stay within this many bytes of objects
	                              (default 4 MiB; below barn_bytes: no
	                              growth); halved again by a purge interval
	                              that used at most half */
	unsigned slab_max_empty;   /* empty slabs a cache keeps per node before
	                              handing the extra ones back at once */
	size_t huge_threshold;     /* requests above this get their own mapping
	                              (32 KiB..512 GiB, default 32 MiB) */
	bool helper_thread;        /* frees deferred by the nolock path are
	                              finished by a helper thread, started the
	                              first time one is deferred (default true);
	                              false: by the thread that deferred them, at
	                              its next call, and by every slow path */
	bool harden;               /* hardened mode (issue 13): canaries after
	                              small objects and page runs checked on
	                              free, zero on free checked on reuse, a
	                              quarantine, random slot order, no
	                              sheaves; sm_ksize gives the requested
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
	/*
	 * slab_debug for the caches of this instance: SM_CACHE_DEBUG_* bits
	 * (0: none, the default), for every cache, or only for those named in
	 * debug_caches (comma-separated names, "kmalloc-64,dentry"; NULL: all).
	 * The string must outlive the instance.  Caches created with
	 * SM_CACHE_DEBUG_* flags of their own get those as well.
	 */
	unsigned debug;
	const char *debug_caches;
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

/* ---- allocation contexts and nodes (docs/nodes.md) ---- */

/*
 * An allocation context (the kernel's alloc_context made public, seed 003):
 * what a request may reach beyond the general nodes.  @gfp: SM_GFP_* flags;
 * @node: SM_NO_NODE or a node id; @flags: SM_CTX_*.  It is copied on entry
 * and checked: an unknown gfp or context bit, a node id outside
 * SM_NO_NODE..SM_MAX_NODES-1, or SM_CTX_MANAGED_NODE without a node make
 * the call fail with errno EINVAL (never silently ignored).  A NULL context
 * is the empty one: the call is sm_kmalloc's.
 */
struct sm_alloc_ctx {
	unsigned gfp;
	int node;
	unsigned flags;
};
#define SM_CTX_CMA          0x01u /* may take memory from reserved regions (SM_NODE_RESERVED),
                                     before the general nodes */
#define SM_CTX_UNMAPPED     0x02u /* must come from an unmapped node (SM_NODE_UNMAPPED): NULL
                                     with ENOMEM rather than anything else */
#define SM_CTX_MANAGED_NODE 0x04u /* may reach the private node named by .node (and only it) */
#define SM_CTX_ALL          0x07u

/*
 * sm_kmalloc / sm_cache_alloc with a context.  NULL with errno EINVAL (bad
 * context) or ENOMEM (no allowed node has room).  A request that names a
 * private or unmapped node, or asks for unmapped memory, is served by page
 * runs above SM_KMALLOC_MAX_CACHE_SIZE but never by a huge mapping: above
 * the instance's huge threshold it fails with ENOMEM.
 */
SM_API void *sm_kmalloc_ctx(sm_instance_t *inst, size_t size, const struct sm_alloc_ctx *ctx);
SM_API void *sm_cache_alloc_ctx(sm_cache_t *s, const struct sm_alloc_ctx *ctx);
/* The nolock calls (below) with a context: the same contract, EINVAL for a bad context. */
SM_API void *sm_kmalloc_nolock_ctx(sm_instance_t *inst, size_t size, const struct sm_alloc_ctx *ctx);
SM_API void *sm_cache_alloc_nolock_ctx(sm_cache_t *s, const struct sm_alloc_ctx *ctx);

/*
 * A node made by the caller (seeds 003 and 004).  @size: bytes of address
 * space (at least 1 MiB; rounded up to 64 MiB), or of @region.  @flags:
 * SM_NODE_*.  @numa_node: bind the node's memory to this NUMA node (mbind),
 * or -1.  @os: the node's own OS primitives (NULL members: the instance's),
 * or NULL for the instance's; not with SM_NODE_UNMAPPED, whose backing the
 * library makes.  @region: with SM_NODE_RESERVED, the caller's memory
 * [region, region + size), page aligned, readable and writable.
 *
 * Kinds (combinable except UNMAPPED with RESERVED):
 *  PRIVATE     reached only by requests naming it with SM_CTX_MANAGED_NODE:
 *              never by malloc, a context-less call, fallback from another
 *              node or SM_GFP_THISNODE alone.  Its objects, freed by any
 *              thread through any call, go back to its own slabs, never to
 *              a sheaf a general request could take them from.
 *  THISNODE_OK with PRIVATE: SM_GFP_THISNODE with the node's id reaches it
 *              too (the kernel's NP_OPT_SLAB).
 *  UNMAPPED    memory the rest of the system does not see: memfd_secret(2)
 *              where the kernel has it, else a locked mapping excluded from
 *              core dumps and wiped in fork children (sm_node_info says
 *              which).  Only SM_CTX_UNMAPPED requests land there; objects
 *              and page runs are zeroed when freed.
 *  RESERVED    slabs and page runs carved from @region; only SM_CTX_CMA
 *              requests use it.  sm_instance_destroy leaves the memory to
 *              its owner (it is never unmapped, purged or written after).
 * Without flags the node is general: it serves every request like the
 * instance's own nodes (with its own backing, or bound to a NUMA node).
 */
struct sm_node_params {
	size_t size;
	unsigned flags;
	int numa_node;
	const struct sm_os_ops *os;
	void *region;
};
#define SM_NODE_PRIVATE     0x01u
#define SM_NODE_THISNODE_OK 0x02u
#define SM_NODE_UNMAPPED    0x04u
#define SM_NODE_RESERVED    0x08u

/*
 * Add a node to @inst (the default instance too).  Returns its id (what
 * sm_alloc_ctx.node and sm_ptr_node use), or -1 with errno EINVAL (bad
 * parameters: unknown flag, THISNODE_OK without PRIVATE, UNMAPPED with
 * RESERVED or with @os, RESERVED without a page-aligned region or with a
 * region sharing a 64 MiB granule with another node), ENOSPC
 * (SM_MAX_NODES nodes), ENOMEM (the OS refused; for UNMAPPED: neither
 * memfd_secret nor mlock could be had) or the error of the mbind call.
 */
SM_API int sm_node_create(sm_instance_t *inst, const struct sm_node_params *p);

/* The node id of the node @p lies in, or -1 (foreign, or a huge mapping): the kernel's page_to_nid. */
SM_API int sm_ptr_node(const void *p);

/* How a node's memory is backed (sm_node_info). */
enum sm_node_backing {
	SM_BACKING_ANON = 0,       /* anonymous memory (or the node's own sm_os_ops) */
	SM_BACKING_SECRETMEM,      /* memfd_secret(2): out of the kernel's direct map */
	SM_BACKING_LOCKED,         /* mlock + MADV_DONTDUMP + MADV_WIPEONFORK */
	SM_BACKING_REGION,         /* the caller's region (SM_NODE_RESERVED) */
};

struct sm_node_status {
	unsigned flags;            /* SM_NODE_* it was made with (0: general) */
	int numa_node;             /* bound NUMA node, or -1 */
	enum sm_node_backing backing;
	size_t size;               /* bytes of data pages */
	size_t used;               /* bytes handed out (slabs and page runs) */
};

/* Fill @info for node @node of @inst.  0, or -1 with errno EINVAL (no such node). */
SM_API int sm_node_info(sm_instance_t *inst, int node, struct sm_node_status *info);

/* ---- kmem_cache ---- */

/*
 * Create a cache of @size-byte objects aligned to @align (0 = 8, or a power
 * of two up to the page size).  @ctor, if not NULL, runs once on every object
 * of a slab when the slab is made; a freed object must be returned in its
 * constructed state, and is not constructed again when it is reused (the
 * kernel's contract).  @name is copied (up to 31 characters).  @flags:
 * SM_CACHE_* (any other bit is refused).  NULL with errno EINVAL (bad size,
 * alignment or flags), ENOSPC (SM_MAX_CACHES reached) or ENOMEM.  The
 * descriptor comes from the instance's kmalloc caches: a wrapper over
 * sm_cache_create_args (below) without storage.
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
 * aborts); -EPERM for a kmalloc cache; otherwise 0.  A cache set up in the
 * caller's storage (sm_cache_setup) is torn down and its storage zeroed,
 * never freed; destroying zeroed storage again is reported (the default
 * instance's handler) and returns -EINVAL.
 */
SM_API int sm_cache_destroy(sm_cache_t *s);
SM_API const char *sm_cache_name(const sm_cache_t *s);
/*
 * slab_debug's validate_slab_cache: check every slab of @s now (every
 * object's red zones and poison, the padding, each slab's freelist and
 * counters, as far as the cache's SM_CACHE_DEBUG_* flags allow; a cache
 * without them: the freelists and counters).  Each problem is reported
 * through the error handler as the alloc and free checks report it.
 * Returns the number of problems found (0: none).  Holds each node's
 * list lock of @s while it reads that node's slabs; from a signal handler
 * (or a constructor inside the allocator) it checks nothing and returns 0.
 */
SM_API size_t sm_cache_validate(sm_cache_t *s);

/* ---- bulk allocation and free (the kernel's kmem_cache_alloc_bulk) ---- */

/*
 * Fill @p[0..n) with objects of @s.  Returns @n, or 0 (errno ENOMEM) when
 * not all of them could be had: the objects taken meanwhile are freed, none
 * is left in @p that the caller owns (the kernel's contract).  The objects
 * come from this thread's sheaves a whole run at a time, then from full
 * sheaves of the barn, and the rest straight from the slabs in batches;
 * SM_GFP_ZERO zeroes each.  From a signal handler (inside the allocator) it
 * takes the nolock path object by object.
 */
SM_API size_t sm_cache_alloc_bulk(sm_cache_t *s, unsigned gfp, size_t n, void **p);
/*
 * Free the @n objects of @p, all of @s; @s NULL: each object's own cache,
 * whatever its instance (page runs and huge mappings too: the kernel's
 * kfree_bulk).  NULL entries are skipped.  The objects go into this thread's
 * spare sheaf a run at a time; a full sheaf goes to the barn or is flushed to
 * its slabs, as a single free's would.  Each object is checked as sm_kfree
 * checks it: a pointer that is not a live object of @s is reported through
 * the error handler and skipped, the others are freed.  errno is preserved.
 */
SM_API void sm_cache_free_bulk(sm_cache_t *s, size_t n, void **p);
/*
 * @n objects of @size bytes from @inst, as sm_kmalloc would give them (one
 * kmalloc size class, or page runs above SM_KMALLOC_MAX_CACHE_SIZE): @n, or
 * 0 with errno ENOMEM and nothing kept, as sm_cache_alloc_bulk.  Free them
 * with sm_kfree_bulk, sm_kfree or free.
 */
SM_API size_t sm_kmalloc_bulk(sm_instance_t *inst, size_t size, unsigned gfp, size_t n, void **p);
/* sm_cache_free_bulk(NULL, @n, @p): objects of any cache and instance. */
SM_API void sm_kfree_bulk(size_t n, void **p);

/* ---- support for <slabmalloc/kernel.h> ---- */

/*
 * What sm_ksize() of an sm_kmalloc(@size) object would return, without
 * allocating (the kernel's kmalloc_size_roundup): its size class, or whole
 * pages above SM_KMALLOC_MAX_CACHE_SIZE.  0 for 0, and @size itself for a
 * request no instance can serve (above 2^46 bytes).
 */
SM_API size_t sm_kmalloc_size_roundup(size_t size);
/*
 * One wait between the attempts of a request that must not fail (the
 * kernel's __GFP_NOFAIL), after attempt number *@attempt (start at 0;
 * incremented here) of @size bytes failed on @inst: gives every cached
 * object and free page of @inst back, then sleeps 1 ms, doubling up to
 * 100 ms.  After 10 s of failures it prints one warning on stderr and keeps
 * trying.  A request that can never succeed (@size above 2^46) is
 * reported on stderr and the process aborts: the caller was promised
 * memory and there is none to give.
 */
SM_API void sm_nofail_wait(sm_instance_t *inst, size_t size, unsigned *attempt);
/*
 * Print "slabmalloc: " and the formatted message, with a newline, on
 * stderr, then abort() (SLAB_PANIC and the header's other fatal errors).
 * Allocates nothing.
 */
SM_API void sm_panic(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
/* The object size @s was created with (what sm_ksize says of its objects). */
SM_API size_t sm_cache_object_size(const sm_cache_t *s);

/* ---- static caches and the creation arguments (the kernel's kmem_cache_args) ---- */

/*
 * Storage for one cache descriptor, allocated by the caller (a static or
 * global variable, a member of a struct of its own, even the stack of a
 * function that outlives the cache).  Its size and alignment are fixed
 * here and checked against the library's struct kmem_cache when the
 * library is built (a library whose descriptor outgrew it does not build):
 * they are part of the ABI.  The contents are the library's; the caller
 * only hands the address to sm_cache_setup.
 */
#define SM_CACHE_STORAGE_SIZE  8192
#define SM_CACHE_STORAGE_ALIGN 64
struct sm_cache_storage {
	unsigned char opaque[SM_CACHE_STORAGE_SIZE];
} __attribute__((aligned(SM_CACHE_STORAGE_ALIGN)));

/*
 * The optional arguments of cache creation, as the kernel's struct
 * kmem_cache_args.  Zero in every field means the default, so a
 * designated initialiser names only what it changes.
 */
struct sm_cache_args {
	size_t align;              /* object alignment: 0 = 8, or a power of two
	                              up to the page size */
	void (*ctor)(void *);      /* constructor, as for sm_cache_create */
	/*
	 * The usercopy window (the kernel's: the part of an object that may be
	 * copied to or from untrusted code), [useroffset, useroffset +
	 * usersize).  Checked to lie inside the object and recorded for code
	 * ported from the kernel; slabmalloc itself copies nothing.  0/0: none.
	 */
	size_t useroffset;
	size_t usersize;
	unsigned sheaf_capacity;   /* objects per sheaf; 0 = the instance's */
	/*
	 * Storage for the descriptor, or NULL to allocate it from the
	 * instance's kmalloc caches.  With storage the cache is set up in it
	 * and nothing is allocated for the descriptor (usable before the
	 * first malloc, from a constructor function); such a cache is never
	 * merged with another (slabmalloc does not merge caches at all; if it
	 * ever does, preallocated caches stay out of it), its storage is never
	 * freed by the library, and sm_cache_destroy tears the cache down and
	 * leaves the storage zeroed, ready to be set up again.
	 */
	struct sm_cache_storage *preallocated;
	size_t preallocated_size;  /* bytes at @preallocated: at least
	                              sizeof(struct sm_cache_storage) */
};

/*
 * The one constructor of caches: @size-byte objects named @name (copied,
 * up to 31 characters), with the optional arguments @args (NULL: all
 * defaults) and @flags (SM_CACHE_*).  Returns the cache (the address of
 * @args->preallocated when given), or NULL with errno:
 *   EINVAL  bad size, alignment, flags, usercopy window or sheaf capacity;
 *           preallocated storage smaller than sizeof(struct
 *           sm_cache_storage) or not SM_CACHE_STORAGE_ALIGN-aligned
 *   EBUSY   the preallocated storage holds a live cache (set up and not
 *           destroyed): reported through that cache's instance's error
 *           handler first (the default handler aborts)
 *   ENOSPC  SM_MAX_CACHES caches live in @inst already
 *   ENOMEM  no memory for the descriptor (never with storage)
 *   EDEADLK called from a signal handler that interrupted the allocator
 * sm_cache_create and sm_cache_setup are wrappers over it.
 */
SM_API sm_cache_t *sm_cache_create_args(sm_instance_t *inst, const char *name, size_t size,
					const struct sm_cache_args *args, unsigned flags);

/*
 * Set up a cache in the caller's storage @st (the kernel's
 * kmem_cache_setup): as sm_cache_create, but the descriptor is @st, so
 * nothing is allocated for it.  Returns (sm_cache_t *)@st, or NULL with
 * errno as sm_cache_create_args (EBUSY when @st holds a live cache).
 * What @st holds before is never read (zeroed static storage, or garbage,
 * is fine).  After sm_cache_destroy, @st may be set up again.  No other
 * thread may use @st during the call.
 */
SM_API sm_cache_t *sm_cache_setup(struct sm_cache_storage *st, sm_instance_t *inst, const char *name,
				  size_t size, size_t align, unsigned flags, void (*ctor)(void *));

/* A cache of @type objects in @st: named after the type, with its size and alignment. */
#define SM_CACHE_SETUP(st, inst, type, flags) \
	sm_cache_setup((st), (inst), #type, sizeof(type), __alignof__(type), (flags), NULL)

/* ---- maintenance ---- */

/*
 * Return unused memory to the OS now: with @force, every free page run and
 * every empty slab regardless of age (and the calling thread's sheaves and the
 * barns are flushed first); without, only what is older than the purge delay.
 * Returns the number of bytes handed back.
 */
SM_API size_t sm_purge(sm_instance_t *inst, bool force);

/* Give this thread's cached objects and page runs of @inst back (as if the thread exited). */
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
	/* Added with the statistics of issue 14. */
	size_t internal_objects;   /* the allocator's own objects in this cache
	                              (sheaves, cache descriptors): not in
	                              active_objects */
	size_t peak_objects;       /* the most objects out of the slabs at once
	                              (live ones and those cached in sheaves) */
	uint64_t allocs;           /* objects handed out since creation */
	uint64_t frees;            /* objects given back (allocs - active_objects) */
	/* Added with barn growth (docs/architecture.md, node_barn). */
	uint64_t barn_grows;       /* times a barn's limits doubled */
	uint64_t barn_shrinks;     /* times a purge halved them */
	unsigned barn_max_full;    /* the largest full-sheaf limit of the
	                              cache's barns now */
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
	/* Added with the statistics of issue 14: calls since creation. */
	uint64_t allocs;           /* objects, page runs and huge mappings handed
	                              out (malloc, calloc, the memalign family,
	                              realloc's moves, the sm_* allocations) */
	uint64_t frees;            /* of those, given back */
	uint64_t reallocs;         /* realloc calls on a live object */
	uint64_t bytes_allocated;  /* bytes of those allocations: the size
	                              class for small ones, the request for
	                              page runs and huge mappings */
	uint64_t large_allocs;     /* of allocs, page runs and huge mappings */
	uint64_t large_frees;
	size_t live_bytes;         /* the program's live objects (size classes)
	                              and page runs, huge mappings included */
	size_t internal_bytes;     /* the allocator's own: sheaves, cache
	                              descriptors, thread caches */
	/* Added with huge requests from resident free runs (issue 11). */
	uint64_t huge_resident;    /* requests above the huge threshold that a
	                              free run still resident served instead
	                              of a mapping of their own (in large_allocs) */
	/* Added with the double-free check's count of what it kept. */
	uint64_t frees_kept;       /* frees of objects whose free word said
	                              "free" that the double-free check could
	                              not confirm either way (a lock busy on
	                              the nolock path, or other threads' sheaves
	                              moving for 20 ms): kept, not freed, rather
	                              than risk handing one object out twice
	                              (docs/architecture.md section 4); each is
	                              a leak of one object */
};

/*
 * Set option @name (as the environment's SLABMALLOC_<NAME>, case ignored,
 * prefix optional: "stats", "SLABMALLOC_PURGE_DELAY_MS") of the default
 * instance to @value (as the environment would write it: "json", "200",
 * "1GiB", "on").  Before the default instance is set up, every option may
 * be set (the environment still wins over it); after, only those that can
 * change on a running instance: stats, stats_file, stats_interval,
 * on_error, purge_delay_ms, huge_threshold and helper_idle_ms.  Returns 0,
 * -EINVAL for an unknown name or a value out of range, -EBUSY for an
 * option fixed once the instance is set up.  Before the set-up, call it
 * from one thread at a time (what it records is read by the set-up).
 */
SM_API int sm_option_set(const char *name, const char *value);

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
 * Print a slabinfo-style table of @inst to stderr, headed by the process id,
 * program and command line: per cache the active and total objects, object
 * size, objects and pages per slab, slabs, objects cached in sheaves, slabs
 * made, sheaf refills, the peak of objects out of the slabs, allocations
 * and the allocator's own objects; then totals, call counts, memory by kind
 * and the peak RSS of the process (VmHWM).  Allocates nothing.
 */
SM_API void sm_stats_print(sm_instance_t *inst);

#ifdef __cplusplus
}
#endif
#endif /* SLABMALLOC_H */
