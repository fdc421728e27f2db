/*
 * tcache.h - the per-thread state of one instance: for every cache a main
 * and a spare sheaf (the kernel's per-CPU slub_percpu_sheaves).
 *
 * A thread finds its tcache for an instance in the TLS slot array sm_tls,
 * indexed by the instance's slot; the slot is valid only while its
 * generation matches the instance's, so a tcache of a destroyed instance is
 * never followed.  Only the owning thread touches its pcs[], with one
 * exception stated in kmem_cache_destroy (no thread may be using that cache).
 *
 * tc->busy is the userspace counterpart of local_lock_is_locked(): it is set
 * for the whole of every sheaf operation, so a signal handler that lands in
 * the middle of one sees it and must not touch the sheaves.
 */
#ifndef SM_TCACHE_H
#define SM_TCACHE_H

#include <stdbool.h>
#include <stdint.h>
#include "compiler.h"
#include "list.h"
#include "sheaf.h"
#include "slabmalloc.h"

struct sm_instance;

struct slub_percpu_sheaves {
	struct slab_sheaf *main;        /* never NULL: sm_empty_sheaf if none */
	struct slab_sheaf *spare;       /* NULL or a real sheaf */
};

struct sm_tcache {
	volatile uint8_t busy;          /* inside a sheaf operation */
	struct sm_instance *inst;
	struct list_head link;          /* on inst->tcaches, under inst->lock */
	uint32_t first_page, npages;    /* the page run holding this tcache */
	int8_t node_id;
	struct slub_percpu_sheaves pcs[SM_MAX_CACHES];
};

struct sm_tls_slot {
	struct sm_tcache *tc;
	uint64_t gen;                   /* == inst->gen while tc is valid */
};

extern __thread struct sm_tls_slot sm_tls[SM_MAX_INSTANCES] __hidden;

/* True while this thread is setting up a tcache (a re-entered call must not block). */
bool tcache_creating(void) __hidden;
/* Create this thread's tcache for @inst; NULL if it cannot (thread exiting, no memory). */
struct sm_tcache *tcache_create(struct sm_instance *inst) __hidden;
/* Return every sheaf of @tc to the barns and free it.  Called by its thread. */
void tcache_destroy(struct sm_tcache *tc) __hidden;
/* Create the thread-exit key; called once, before any tcache exists. */
void tcache_init_once(void) __hidden;

#endif /* SM_TCACHE_H */
