/*
 * tcache.h - the thread cache: a thread's sheaves for one instance, a main
 * and a spare sheaf per cache (the kernel's per-CPU slub_percpu_sheaves;
 * here per thread, as userspace cannot pin a CPU).
 *
 * A thread finds its tcache for an instance in sm_thread.slots[] (thread.h),
 * indexed by the instance's registry slot; the slot is valid only while its
 * generation matches the instance's, so a tcache of a destroyed instance is
 * never followed.  Only the owning thread touches its sheaves, with the
 * exceptions stated at kmem_cache_destroy, the statistics and the fork
 * child.  A tcache is a 3-page run of its instance, linked on inst->tcaches
 * under inst->lock.
 */
#ifndef SM_TCACHE_H
#define SM_TCACHE_H

#include <stdbool.h>
#include <stdint.h>

#include "compiler.h"
#include "instance.h"
#include "list.h"
#include "runcache.h"
#include "sheaf.h"
#include "slabmalloc.h"
#include "thread.h"

struct tcache_sheaves {
	struct slab_sheaf *main;        /* never NULL: sm_empty_sheaf if none */
	struct slab_sheaf *spare;       /* NULL or a real sheaf */
};

struct tcache {
	struct sm_instance *inst;
	const volatile uint8_t *busy;   /* the owner's sm_thread.busy (read by
	                                   the fork child only) */
	struct list_head link;          /* on inst->tcaches, under inst->lock */
	uint32_t first_page, npages;    /* the page run holding this tcache */
	int8_t node_id;                 /* whose barns it exchanges with (0) */
	struct tcache_sheaves sheaves[SM_MAX_CACHES]; /* by cache id */
	struct run_cache runs;          /* freed page runs (runcache.h): the
	                                   owner fills it; any thread holding
	                                   inst->lock may flush it */
};

/*
 * The calling thread's tcache of the instance in registry slot @slot with
 * generation @gen, or NULL (none yet, or a kick pending: the slow path sees
 * to both).  No call, so the fast paths that use it need no stack frame.
 */
static __always_inline struct tcache *tcache_peek_slot(unsigned slot, uint64_t gen)
{
	struct sm_tls_slot *sl = &sm_thread.slots[slot];
	return likely(sl->gen == gen) ? sl->tc : NULL;
}

static __always_inline struct tcache *tcache_peek(struct sm_instance *inst)
{
	/* The default instance always has slot 0: a constant when inst is known. */
	unsigned slot = __builtin_constant_p(inst == &sm_default_inst) && inst == &sm_default_inst
				? 0 : inst->slot;
	return tcache_peek_slot(slot, inst->gen);
}

/*
 * The calling thread's tcache of @inst, kick pending or not (NULL: none).
 * For the slow paths that give its sheaves back; the fast paths use
 * tcache_peek, which a pending kick makes miss.
 */
static inline struct tcache *tcache_mine(struct sm_instance *inst)
{
	struct sm_tls_slot *sl = &sm_thread.slots[inst->slot];
	return (sl->gen & ~SM_GEN_KICK) == inst->gen ? sl->tc : NULL;
}

/* The barn @tc exchanges sheaves of @s with. */
static inline struct node_barn *tcache_barn(const struct tcache *tc, struct kmem_cache *s)
{
	return &s->node[tc->node_id].barn;
}

/*
 * Create this thread's tcache for @inst and publish it in the thread's slot.
 * NULL if there is no memory for it.  Busy set by the caller.
 */
struct tcache *tcache_create(struct sm_instance *inst) __hidden;
/* Return every sheaf of @tc to the barns and free it.  Called by its thread (or the fork child). */
void tcache_destroy(struct tcache *tc) __hidden;

/* Give back every sheaf of @tc (tcache_release_sheaves for each cache).  Caller holds inst->lock. */
void tcache_release_all(struct tcache *tc) __hidden;

/*
 * Give @tc's sheaves of @s back to the barn (full ones kept there, the
 * rest flushed to slabs); @tc then has none for @s.  Caller holds
 * inst->lock, and @tc is its own or its owner is not using @s.
 */
void tcache_release_sheaves(struct tcache *tc, struct kmem_cache *s) __hidden;

/* Whether @tc's sheaves of @s hold @p (racy for another thread's tcache: see sheaf_holds). */
static inline bool tcache_holds(const struct tcache *tc, const struct kmem_cache *s, const void *p)
{
	const struct tcache_sheaves *ts = &tc->sheaves[s->id];
	struct slab_sheaf *m = READ_ONCE(ts->main), *sp = READ_ONCE(ts->spare);
	return sheaf_holds(m, p) || (sp && sheaf_holds(sp, p));
}

/*
 * Make main a sheaf with objects in it (the kernel's
 * __pcs_replace_empty_main): the spare if it has any, else a full sheaf
 * from the barn, else main refilled from slabs.  Returns false when no
 * object could be had (out of memory), with main possibly still
 * sm_empty_sheaf.  Busy set, no lock held.
 */
bool tcache_refill_main(struct tcache *tc, struct kmem_cache *s,
			const struct slab_alloc_context *ctx) __hidden;
/*
 * Make main a sheaf with room in it (__pcs_replace_full_main): the spare if
 * empty, an empty sheaf from the barn or a new one with the full main given
 * to the barn, or main flushed to slabs.  Returns false only when there is
 * no sheaf and none can be made: the caller frees its object to the slab.
 * Busy set, no lock held.
 */
bool tcache_make_room(struct tcache *tc, struct kmem_cache *s) __hidden;

#endif /* SM_TCACHE_H */
