/*
 * tcache.c - per-thread caches: creating a thread's tcache for an instance
 * on its first sheaf operation, and giving all of its sheaves back when the
 * thread exits (a pthread key destructor, the one key created once at
 * start-up) or when asked (sm_thread_flush).
 */
#include <pthread.h>
#include <string.h>

#include "instance.h"
#include "tcache.h"

__thread struct sm_thread_state sm_thread __attribute__((tls_model("initial-exec")));

static __thread uint8_t tls_key_set __attribute__((tls_model("initial-exec")));

static pthread_key_t exit_key;
static pthread_once_t exit_key_once = PTHREAD_ONCE_INIT;

static void thread_exit(void *arg);

static void make_key(void)
{
	pthread_key_create(&exit_key, thread_exit);
}

void tcache_init_once(void)
{
	pthread_once(&exit_key_once, make_key);
}

struct sm_tcache *__tcache_get_slow(struct sm_instance *inst)
{
	if (deferred_take_kick(inst)) {
		/* A nolock free on this thread left work behind: see to it now. */
		deferred_kicked(inst);
		struct sm_tcache *tc = sm_thread.slots[inst->slot].tc;
		if (tc)
			return tc;
	}
	if (sm_thread.state != TS_NORMAL)
		return NULL;
	return tcache_create(inst);
}

struct sm_tcache *tcache_create(struct sm_instance *inst)
{
	bool nested = sm_enter();
	SM_BUG_ON(nested);
	struct slab_alloc_context ctx = SLAB_ALLOC_CTX(sizeof(struct sm_tcache), SLAB_ALLOC_NO_RECURSE,
						       SM_NO_NODE);
	uint32_t npages = (uint32_t)(ALIGN_UP(sizeof(struct sm_tcache), SM_PAGE_SIZE) >> SM_PAGE_SHIFT);
	uint32_t first;
	bool zeroed;
	struct sm_node *n = inst_alloc_pages(inst, npages, 1, &ctx, &first, &zeroed);
	if (!n) {
		sm_leave(nested);
		return NULL;
	}
	struct sm_tcache *tc = node_page_addr(n, first);
	if (!zeroed)
		memset(tc, 0, sizeof(*tc));
	tc->inst = inst;
	tc->first_page = first;
	tc->npages = npages;
	tc->node_id = 0;
	tc->busy = &sm_thread.busy;
	for (unsigned i = 0; i < SM_MAX_CACHES; i++)
		tc->pcs[i].main = &sm_empty_sheaf;
	sm_lock(&inst->lock);
	list_add(&tc->link, &inst->tcaches);
	sm_unlock(&inst->lock);
	sm_thread.slots[inst->slot].tc = tc;
	sm_thread.slots[inst->slot].gen = inst->gen;
	if (!tls_key_set) {
		/* May call calloc: served by the nolock path, busy being set. */
		tls_key_set = 1;
		pthread_setspecific(exit_key, (void *)1);
	}
	sm_leave(nested);
	return tc;
}

/* Give back the sheaves of @tc (inst->lock held). */
static void tcache_return_sheaves(struct sm_tcache *tc)
{
	struct sm_instance *inst = tc->inst;
	for (unsigned id = 0; id < SM_MAX_CACHES; id++) {
		struct slub_percpu_sheaves *pcs = &tc->pcs[id];
		if (pcs->main == &sm_empty_sheaf && !pcs->spare)
			continue;
		struct kmem_cache *s = inst->cache_by_id[id];
		struct node_barn *barn = &s->node[tc->node_id].barn;
		if (pcs->main != &sm_empty_sheaf)
			barn_return_sheaf(s, barn, pcs->main);
		if (pcs->spare)
			barn_return_sheaf(s, barn, pcs->spare);
		pcs->main = &sm_empty_sheaf;
		pcs->spare = NULL;
	}
}

void tcache_destroy(struct sm_tcache *tc)
{
	struct sm_instance *inst = tc->inst;
	sm_lock(&inst->lock);
	tcache_return_sheaves(tc);
	list_del(&tc->link);
	sm_unlock(&inst->lock);
	struct sm_node *n = node_of(tc);
	node_free_pages(n, tc->first_page, tc->npages, inst_now(inst), false);
}

void sm_thread_flush(sm_instance_t *inst)
{
	struct sm_tls_slot *sl = &sm_thread.slots[inst->slot];
	if ((sl->gen & ~SM_GEN_KICK) != inst->gen)
		return;
	bool nested = sm_enter();
	if (!nested) { /* from a signal handler: nothing can be done without blocking */
		sm_lock(&inst->lock);
		tcache_return_sheaves(sl->tc);
		sm_unlock(&inst->lock);
	}
	sm_leave(nested);
}

static void thread_exit(void *arg)
{
	(void)arg;
	/* From here on this thread allocates without sheaves (later key
	   destructors and TLS destructors may still call free). */
	bool nested = sm_enter();
	sm_thread.state = TS_DEAD;
	for (unsigned i = 0; i < SM_MAX_INSTANCES; i++) {
		struct sm_tls_slot *sl = &sm_thread.slots[i];
		if (!sl->gen)
			continue;
		struct sm_tcache *tc = sl->tc;
		uint64_t gen = sl->gen & ~SM_GEN_KICK;
		sl->gen = 0; /* first: a signal handler must not find it */
		sl->tc = NULL;
		sm_lock(&sm_registry_lock);
		struct sm_instance *inst = registry_lookup_locked(i, gen);
		if (inst) {
			tcache_destroy(tc);
			/* What this thread's handlers deferred is not left behind. */
			deferred_drain(inst);
		}
		sm_unlock(&sm_registry_lock);
	}
	sm_leave(nested);
}
