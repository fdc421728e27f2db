/*
 * instance.h - struct sm_instance, which holds all state of one allocator:
 * options, OS ops, the page allocator with its nodes, the caches (the
 * kmalloc caches are embedded: they are the statically preallocated caches
 * every instance starts with), the thread caches and the deferred-free
 * list.  The default instance lives in static storage and serves malloc;
 * other instances are mapped from the OS and fully isolated.  Creating,
 * registering and destroying instances is registry.c's.
 *
 * Lock order (outermost first; a lock is never taken while a later one is held):
 *   1. sm_registry_lock   the table of live instances (registry.c)
 *   2. deferred.drain_lock  held for a whole deferred drain (deferred.h)
 *   3. inst->lock         the caches list and ids, the tcaches list, and
 *                         for the page allocator (pa.lock points to it)
 *                         node creation and the huge list
 *   4. barn.lock          one cache's barn on one node           } never
 *   5. list_lock          one cache's slabs on one node          } nested
 *   6. node->lock         one node's page runs
 *   7. quarantine.lock    hardened mode's quarantine (quarantine.h): a
 *                         leaf, nothing is taken while it is held
 * inst->purge_lock, outermost, is held for a whole purge (inst_purge): the
 * delayed purge only tries it; sm_purge and kmem_cache_destroy, entry
 * points that hold no other lock, wait for it.  Every lock is
 * taken with the thread's busy marker set (thread.h), and a call that finds
 * busy set only ever tries locks: that is what makes the allocator safe to
 * re-enter from a signal handler.
 */
#ifndef SM_INSTANCE_H
#define SM_INSTANCE_H

#include <stdbool.h>
#include <stdint.h>

#include "deferred.h"
#include "kmem_cache.h"
#include "list.h"
#include "lock.h"
#include "page_alloc.h"
#include "printk.h"
#include "quarantine.h"
#include "sheaf.h"
#include "size_classes.h"
#include "slabmalloc.h"

struct sm_instance {
	struct sm_options opts;         /* validated copy, read-only but for
	                                   purge_delay_ms, huge_threshold and
	                                   helper_idle_ms, which sm_option_set
	                                   and mallopt may store (one word each) */
	struct sm_os_ops os;            /* every member set, read-only */
	struct report_sink err;         /* opts.error_handler and its arg */
	unsigned slot;                  /* index in the registry and in sm_thread.slots */
	uint64_t gen;                   /* unique for the life of the process */
	bool is_default;
	size_t map_size;                /* bytes of this struct's mapping */

	sm_lock_t lock;                 /* lock order 3 */
	struct page_alloc pa;           /* the nodes and huge mappings */
	struct list_head caches;        /* every kmem_cache, kmalloc first */
	struct kmem_cache *cache_by_id[SM_MAX_CACHES];
	struct list_head tcaches;       /* every thread's tcache of this instance */
	uint64_t tcaches_gen;           /* bumped at every change of tcaches (under
	                                   inst->lock): the double-free check
	                                   drops the lock between two looks */
	uint32_t df_looks;              /* double-free checks under way, which
	                                   make the threads' sheaf moves wait
	                                   (tcache_move_begin): atomic */

	struct sm_deferred deferred;    /* frees not done without blocking */
	sm_lock_t purge_lock;           /* one purge at a time; caches outlive it */
	uint64_t next_purge;            /* ns; relaxed atomic */
	uint64_t coarse_lag;            /* os_coarse_lag_ns() when os.now_ns is
	                                   the real OS's clock, else 0: how far
	                                   behind it os_coarse_ns() may be
	                                   (slow_path_purge_check) */
	size_t purged_bytes;            /* relaxed atomic */
	uint64_t frees_kept;            /* relaxed atomic (sm_stats.frees_kept) */
	struct quarantine quarantine;   /* hardened mode's freed objects (empty otherwise) */

	/* Statistics (relaxed atomics, slow paths only; stats.c sums them). */
	uint64_t large_allocs;          /* page runs and huge mappings handed out */
	uint64_t large_frees;
	uint64_t large_bytes_requested; /* what their callers asked for */
	uint64_t direct_reallocs;       /* sm_krealloc calls of threads without a tcache */
	uint64_t exited_reallocs;       /* those counted by tcaches that have gone */
	size_t internal_bytes;          /* page runs of the allocator's own (tcaches) */
	/*
	 * Called by the helper thread every stats_interval_ms (0: never), for
	 * the periodic statistics of the default instance (set up by
	 * default.c, above this layer).
	 */
	void (*periodic)(struct sm_instance *inst);
	unsigned stats_interval_ms;

	struct kmem_cache kmalloc_caches[SM_NR_KMALLOC];
	/* Their per-node structures, node by node: the kmalloc caches' structures
	   for one node are 8.25 KiB together, and those of nodes that do not
	   exist stay untouched (kmem_cache.h, kcn_lock). */
	struct kmem_cache_node kmalloc_nodes[SM_MAX_NODES][SM_NR_KMALLOC];
};

/*
 * What free()'s fast path checks a default kmalloc object against, by
 * fclass (entry 0 unused): the kmalloc cache's geometry and free key,
 * copied into one 32-byte entry so the check is a load away from the
 * descriptor.  Written once, when the default instance registers its
 * kmalloc caches, before any of their objects exists.
 */
struct fast_class {
	uint32_t size;                  /* s->size */
	uint32_t sized_slack;           /* a size given to free_sized or sized
	                                   delete passes the fast path when
	                                   size - sized_slack <= size <= size
	                                   (sized_check_lo: realloc's rule) */
	uint64_t divides;               /* s->start_divides */
	uint64_t start_max;             /* s->start_max: an offset in a slab
	                                   starts one of its objects exactly
	                                   when off * divides (mod 2^64) is at
	                                   most this (slab_obj_starts) */
	union {
		uint64_t free_key;      /* s->free_key */
		uint16_t key_parts[4];  /* its free tag, what obj_free_tag reads
		                           from a free object: fast_class_tag */
	};
} __attribute__((aligned(32)));         /* an index is one shift */
extern struct fast_class sm_fast_class[SM_NR_KMALLOC + 1] __hidden;

_Static_assert(sizeof(struct fast_class) == 32, "fclass * 32 indexes sm_fast_class");
_Static_assert(SM_FREE_TAG_SHIFT == 48 && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
	       "the free tag is the free key's last 16-bit part");

/* The free tag of @c's free key: one 16-bit load, no shift. */
static __always_inline uint16_t fast_class_tag(const struct fast_class *c)
{
	return c->key_parts[3];
}

/*
 * The smallest size a sized free (free_sized, sized delete) may give for
 * an object of @usable bytes without taking the slow path: what realloc
 * keeps in place (realloc.c, keep_in_place), so more than half the object,
 * or anything for objects of 64 bytes or less.  Requests that malloc puts
 * in the object's class always pass (classes are less than 25% apart).
 */
static inline uint32_t sized_check_lo(size_t usable)
{
	return usable <= 64 ? 0 : (uint32_t)(usable / 2 + 1);
}

/* The default instance (static storage, registry slot 0) and whether it is set up (registry.c). */
extern struct sm_instance sm_default_inst __hidden;
extern uint8_t sm_default_ready __hidden;

static inline uint64_t inst_now(struct sm_instance *inst)
{
	return inst->os.now_ns(inst->os.arg);
}

/*
 * Give the initialised cache @s its place in @inst: id @id (its index in
 * every thread's tcache), owner, and the kmalloc cache its sheaves come
 * from.  Caller holds inst->lock, or owns @inst (set-up).
 */
static inline void inst_cache_register(struct sm_instance *inst, struct kmem_cache *s, unsigned id)
{
	s->id = id;
	s->inst = inst;
	s->inst_slot = inst->slot;
	s->inst_gen = inst->gen;
	/* A slab_debug cache's slabs are routed (fclass 0 in their pages
	   whatever this says): it has none, and no sm_fast_class entry. */
	s->fclass = inst->is_default && s->is_kmalloc && !s->debug ? (uint8_t)(id + 1) : 0;
	if (s->fclass) {
		SM_BUG_ON(s->fp_offset != 0); /* the fast paths write the free word at 0 */
		SM_BUG_ON(s->red_left);
		sm_fast_class[s->fclass] = (struct fast_class){ .size = s->size,
			.sized_slack = s->size - sized_check_lo(s->size),
			.divides = s->start_divides, .start_max = s->start_max,
			.free_key = s->free_key };
	}
	s->sheaf_cache = &inst->kmalloc_caches[kmalloc_index(sheaf_bytes(s->sheaf_capacity))];
	inst->cache_by_id[id] = s;
	list_add_tail(&s->list, &inst->caches);
}

#endif /* SM_INSTANCE_H */
