/*
 * instance.h - struct sm_instance, which holds all state of one allocator:
 * options, OS ops, nodes, caches (the kmalloc caches are embedded: they are
 * the statically preallocated caches every instance starts with), thread
 * caches and huge mappings.  The default instance lives in static storage and
 * serves malloc; other instances are mapped from the OS and fully isolated.
 *
 * Lock order (outermost first; a lock is never taken while a later one is held):
 *   1. sm_registry_lock   the table of live instances (instance.c)
 *   1b. deferred.drain_lock  held for a whole deferred drain (deferred.h)
 *   2. inst->lock         caches list and ids, tcaches list, node creation,
 *                         huge mappings
 *   3. barn.lock          one cache's barn on one node           } never
 *   4. list_lock          one cache's slabs on one node          } nested
 *   5. node->lock         one node's page runs
 * inst->purge_lock is only ever tried, never waited for.  Every lock is
 * taken with the thread's busy marker set (tcache.h), and a call that finds
 * busy set only ever tries locks: that is what makes the allocator safe to
 * re-enter from a signal handler.
 */
#ifndef SM_INSTANCE_H
#define SM_INSTANCE_H

#include <stdbool.h>
#include <stdint.h>

#include "alloc_context.h"
#include "kmem_cache.h"
#include "list.h"
#include "lock.h"
#include "node.h"
#include "size_classes.h"
#include "slabmalloc.h"
#include "tcache.h"
#include "deferred.h"

struct sm_instance {
	struct sm_options opts;         /* validated copy, read-only */
	struct sm_os_ops os;            /* every member set, read-only */
	unsigned slot;                  /* index in the registry and in sm_tls */
	uint64_t gen;                   /* unique for the life of the process */
	bool is_default;
	size_t map_size;                /* bytes of this struct's mapping */

	sm_lock_t lock;                 /* lock order 2 */
	struct sm_node *nodes[SM_MAX_NODES]; /* set once under lock; read with acquire */
	unsigned nr_nodes;
	struct list_head caches;        /* every kmem_cache, kmalloc first */
	struct kmem_cache *cache_by_id[SM_MAX_CACHES];
	struct list_head tcaches;
	struct list_head huge_list;     /* NODE_HUGE nodes */
	size_t nr_huge, huge_bytes;

	struct sm_deferred deferred;    /* frees not done without blocking */
	sm_lock_t purge_lock;           /* only tried */
	uint64_t next_purge;            /* ns; relaxed atomic */
	size_t purged_bytes;            /* relaxed atomic */

	struct kmem_cache kmalloc_caches[SM_NR_KMALLOC];
};

/* The default instance (static storage, registry slot 0) and whether it is set up. */
extern struct sm_instance sm_default_inst __hidden;
extern uint8_t sm_default_ready __hidden;

/*
 * The calling thread's tcache of @inst if it has one, else NULL (the slow
 * paths create it with __tcache_get_slow).  No call on this path, so the fast
 * paths that use it need no stack frame.
 */
struct sm_tcache *__tcache_get_slow(struct sm_instance *inst) __hidden;

static __always_inline struct sm_tcache *tcache_peek_slot(unsigned slot, uint64_t gen)
{
	struct sm_tls_slot *sl = &sm_thread.slots[slot];
	return likely(sl->gen == gen) ? sl->tc : NULL;
}

static __always_inline struct sm_tcache *tcache_peek(struct sm_instance *inst)
{
	/* The default instance always has slot 0: a constant when inst is known. */
	unsigned slot = __builtin_constant_p(inst == &sm_default_inst) && inst == &sm_default_inst
				? 0 : inst->slot;
	return tcache_peek_slot(slot, inst->gen);
}

/* As tcache_peek, creating the tcache if the thread has none yet (NULL: cannot). */
static inline struct sm_tcache *tcache_get(struct sm_instance *inst)
{
	struct sm_tcache *tc = tcache_peek(inst);
	return tc ? tc : __tcache_get_slow(inst);
}

static inline struct sm_node *inst_node(struct sm_instance *inst, unsigned id)
{
	return __atomic_load_n(&inst->nodes[id], __ATOMIC_ACQUIRE);
}
static inline unsigned inst_nr_nodes(struct sm_instance *inst)
{
	return __atomic_load_n(&inst->nr_nodes, __ATOMIC_ACQUIRE);
}

static inline uint64_t inst_now(struct sm_instance *inst)
{
	return inst->os.now_ns(inst->os.arg);
}

/*
 * The nodes an allocation in @ctx may use, in order: ctx->node first, then
 * every other general node (none with THISNODE).  Fills @ids, returns count.
 */
unsigned inst_node_order(struct sm_instance *inst, const struct slab_alloc_context *ctx,
			 int *ids) __hidden;
/*
 * Add a node after every node allowed by @ctx ran out (@seen: the node count
 * the caller saw; if it changed, the newest node is returned instead of a
 * new one).  Returns its id, or
 * -1 when max_nodes is reached, the OS refuses, or (TRYLOCK) inst->lock is
 * busy.  Takes inst->lock.
 */
int inst_grow(struct sm_instance *inst, const struct slab_alloc_context *ctx, unsigned seen) __hidden;

/*
 * Allocate a run of pages for @inst in @ctx's node order, growing the
 * instance if needed.  Returns the node (page index in *first) or NULL.
 */
struct sm_node *inst_alloc_pages(struct sm_instance *inst, uint32_t npages, uint32_t align_pages,
				 const struct slab_alloc_context *ctx, uint32_t *first,
				 bool *zeroed) __hidden;

/* Run the delayed purge if it is due (cheap check; tries purge_lock only).
   Blocking context: busy set, or the helper thread. */
void inst_maybe_purge(struct sm_instance *inst, uint64_t now) __hidden;

/* The instance in registry slot @slot if it has generation @gen, else NULL. Caller holds sm_registry_lock. */
struct sm_instance *registry_lookup_locked(unsigned slot, uint64_t gen) __hidden;
extern sm_lock_t sm_registry_lock __hidden;
/* The instance in registry slot @slot or NULL (caller holds sm_registry_lock or is single-threaded). */
struct sm_instance *registry_slot(unsigned slot) __hidden;

/* fork() handlers (fork.c): register them with pthread_atfork. */
void sm_fork_prepare(void) __hidden;
void sm_fork_parent(void) __hidden;
void sm_fork_child(void) __hidden;

/* Purge what is older than @cutoff (ns): empty slabs, then free page runs. */
size_t inst_purge(struct sm_instance *inst, uint64_t cutoff) __hidden;

/* Set up the default instance with @o (used by the preload shim before the first malloc). */
sm_instance_t *sm_default_instance_init(const struct sm_options *o) __hidden;

/* Internal kmalloc/kfree entry points used by other layers. */
void *__kmalloc(struct sm_instance *inst, size_t size, size_t align,
		const struct slab_alloc_context *ctx) __hidden;
/* Free without going through sheaves (NO_RECURSE objects, torn-down threads). */
void __kfree_nosheaf(void *p) __hidden;

#endif /* SM_INSTANCE_H */
