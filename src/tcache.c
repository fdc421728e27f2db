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

__thread struct sm_tls_slot sm_tls[SM_MAX_INSTANCES] __attribute__((tls_model("initial-exec")));

enum { TC_NORMAL = 0, TC_CREATING, TC_DEAD };
static __thread uint8_t tls_state __attribute__((tls_model("initial-exec")));
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

bool tcache_creating(void)
{
	return tls_state == TC_CREATING;
}

struct sm_tcache *__tcache_get_slow(struct sm_instance *inst)
{
	if (tls_state != TC_NORMAL)
		return NULL;
	return tcache_create(inst);
}

struct sm_tcache *tcache_create(struct sm_instance *inst)
{
	tls_state = TC_CREATING;
	struct slab_alloc_context ctx = SLAB_ALLOC_CTX(sizeof(struct sm_tcache), SLAB_ALLOC_NO_RECURSE,
						       SM_NO_NODE);
	uint32_t npages = (uint32_t)(ALIGN_UP(sizeof(struct sm_tcache), SM_PAGE_SIZE) >> SM_PAGE_SHIFT);
	uint32_t first;
	bool zeroed;
	struct sm_node *n = inst_alloc_pages(inst, npages, 1, &ctx, &first, &zeroed);
	if (!n) {
		tls_state = TC_NORMAL;
		return NULL;
	}
	struct sm_tcache *tc = node_page_addr(n, first);
	if (!zeroed)
		memset(tc, 0, sizeof(*tc));
	tc->inst = inst;
	tc->first_page = first;
	tc->npages = npages;
	tc->node_id = 0;
	for (unsigned i = 0; i < SM_MAX_CACHES; i++)
		tc->pcs[i].main = &sm_empty_sheaf;
	sm_lock(&inst->lock);
	list_add(&tc->link, &inst->tcaches);
	sm_unlock(&inst->lock);
	sm_tls[inst->slot].tc = tc;
	sm_tls[inst->slot].gen = inst->gen;
	if (!tls_key_set) {
		tls_key_set = 1;
		pthread_setspecific(exit_key, (void *)1);
	}
	tls_state = TC_NORMAL;
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
	struct sm_tls_slot *sl = &sm_tls[inst->slot];
	if (sl->gen != inst->gen)
		return;
	struct sm_tcache *tc = sl->tc;
	tc->busy = 1;
	sm_lock(&inst->lock);
	tcache_return_sheaves(tc);
	sm_unlock(&inst->lock);
	tc->busy = 0;
}

static void thread_exit(void *arg)
{
	(void)arg;
	/* From here on this thread allocates without sheaves (later key
	   destructors and TLS destructors may still call free). */
	tls_state = TC_DEAD;
	for (unsigned i = 0; i < SM_MAX_INSTANCES; i++) {
		if (!sm_tls[i].gen)
			continue;
		struct sm_tcache *tc = sm_tls[i].tc;
		uint64_t gen = sm_tls[i].gen;
		sm_tls[i].gen = 0; /* first: a signal handler must not find it */
		sm_tls[i].tc = NULL;
		sm_lock(&sm_registry_lock);
		if (registry_lookup_locked(i, gen))
			tcache_destroy(tc);
		sm_unlock(&sm_registry_lock);
	}
}
