/*
 * test_private_threads.c - issue 12's proof for private nodes under
 * concurrency: 8 threads allocate and free general and private objects
 * (sm_kmalloc, a cache, page runs, the nolock calls), hand them to each
 * other through exchange slots, and free objects of a kind they never
 * allocate.  Every address returned is checked against the node it must
 * come from (sm_ptr_node): a private object handed to a general request,
 * or a general one to a private request, fails the test at once.  Every
 * object carries a pattern checked before it is freed (an object handed
 * out twice shows as a mismatch).  At the end, with every thread gone and
 * its sheaves given back, no sheaf anywhere (barns included) holds a
 * private object and the private node's slabs have nothing out.
 *
 * Roles (thread t, role t % 4): 0 allocates and frees both kinds; 1
 * allocates general objects only and frees the private ones others
 * publish; 2 allocates private objects only and frees the general ones
 * others publish; 3 does what 0 does through the nolock calls.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>

#include "test.h"
#include "instance.h"
#include "kmem_cache.h"
#include "sheaf.h"

#define MiB ((size_t)1 << 20)
#define THREADS 8
#define SLOTS 512

static sm_instance_t *inst;
static sm_cache_t *cache;
static int priv;
static void *gen_x[SLOTS], *priv_x[SLOTS]; /* exchange slots, atomic */
static unsigned long checks;               /* addresses checked, atomic */

enum { GEN = 0, PRIV = 1 };

static void node_check(const void *p, int kind)
{
	int id = sm_ptr_node(p);
	if (kind == PRIV)
		CHECK_EQ(id, priv);
	else
		CHECK(id >= 0 && id != priv);
	__atomic_fetch_add(&checks, 1, __ATOMIC_RELAXED);
}

/* An object: word 0 kind and seq, word 1 its size, the rest the pattern. */
static void *obj_alloc(int kind, uint64_t *rnd, bool nolock, uint64_t seq)
{
	uint64_t r = rnd_next(rnd);
	static const size_t sizes[] = { 16, 48, 80, 256, 1000, 40000 };
	unsigned which = (unsigned)(r % 6);
	size_t size = sizes[which];
	struct sm_alloc_ctx mp = { (r >> 8) & 1 ? SM_GFP_ZERO : 0, priv, SM_CTX_MANAGED_NODE };
	bool use_cache = which == 2;
	void *p;
	if (kind == PRIV) {
		if (use_cache)
			p = nolock ? sm_cache_alloc_nolock_ctx(cache, &mp) : sm_cache_alloc_ctx(cache, &mp);
		else
			p = nolock ? sm_kmalloc_nolock_ctx(inst, size, &mp) : sm_kmalloc_ctx(inst, size, &mp);
	} else {
		if (use_cache)
			p = nolock ? sm_cache_alloc_nolock(cache, 0, SM_NO_NODE) : sm_cache_alloc(cache, 0);
		else if ((r >> 9) & 1)
			p = nolock ? sm_kmalloc_nolock(inst, size, 0, SM_NO_NODE) : sm_kmalloc(inst, size, 0);
		else /* a preferred node that is private: must be ignored */
			p = nolock ? sm_kmalloc_nolock(inst, size, 0, priv) : sm_kmalloc_node(inst, size, 0, priv);
	}
	if (!p && nolock)
		return NULL; /* the nolock calls may fail on a busy lock */
	CHECK(p != NULL);
	node_check(p, kind);
	uint64_t *w = p;
	w[0] = ((uint64_t)kind << 63) | seq;
	w[1] = size;
	pat_fill(w + 2, size - 16, seq);
	return p;
}

static void obj_free(void *p, int kind, bool nolock)
{
	uint64_t *w = p;
	CHECK_EQ(w[0] >> 63, (uint64_t)kind);
	CHECK(pat_ok(w + 2, w[1] - 16, w[0] & ~(1ull << 63)));
	node_check(p, kind);
	bool in_cache = w[1] == 80;
	if (nolock) {
		if (in_cache)
			sm_cache_free_nolock(cache, p);
		else
			sm_kfree_nolock(p);
	} else if (in_cache) {
		sm_cache_free(cache, p);
	} else {
		sm_kfree(p);
	}
}

/* Publish @p in a random slot of @x; free what was there (same kind). */
static void publish(void **x, void *p, int kind, uint64_t *rnd, bool nolock)
{
	void *old = __atomic_exchange_n(&x[rnd_next(rnd) % SLOTS], p, __ATOMIC_ACQ_REL);
	if (old)
		obj_free(old, kind, nolock);
}

/* Take and free an object of the other kind from a random slot of @x. */
static void consume(void **x, int kind, uint64_t *rnd, bool nolock)
{
	void *old = __atomic_exchange_n(&x[rnd_next(rnd) % SLOTS], NULL, __ATOMIC_ACQ_REL);
	if (old)
		obj_free(old, kind, nolock);
}

static void *worker(void *arg)
{
	unsigned t = (unsigned)(uintptr_t)arg, role = t % 4;
	uint64_t rnd = 0x1234 + t;
	bool nolock = role == 3;
	unsigned iters = under_valgrind() || under_tsan() ? 3000 : 30000;
	enum { KEEP = 64 };
	void *mine[2][KEEP] = { { 0 } };
	for (unsigned i = 0; i < iters; i++) {
		uint64_t seq = ((uint64_t)t << 40) | i;
		for (int kind = GEN; kind <= PRIV; kind++) {
			if ((role == 1 && kind == PRIV) || (role == 2 && kind == GEN))
				continue; /* this thread never allocates that kind */
			void *p = obj_alloc(kind, &rnd, nolock, seq);
			if (!p)
				continue;
			unsigned k = (unsigned)(rnd_next(&rnd) % KEEP);
			if (rnd_next(&rnd) & 1) {
				publish(kind == PRIV ? priv_x : gen_x, p, kind, &rnd, nolock);
			} else {
				if (mine[kind][k])
					obj_free(mine[kind][k], kind, nolock);
				mine[kind][k] = p;
			}
		}
		if (role == 1)
			consume(priv_x, PRIV, &rnd, false);
		if (role == 2)
			consume(gen_x, GEN, &rnd, false);
	}
	for (int kind = GEN; kind <= PRIV; kind++)
		for (unsigned k = 0; k < KEEP; k++)
			if (mine[kind][k])
				obj_free(mine[kind][k], kind, nolock);
	return NULL;
}

/*
 * No sheaf in any barn of @s holds an object of the private node.  Under
 * the barn's lock: the helper thread, started by the workers' deferred
 * frees, may be draining an idle barn in a purge meanwhile.
 */
static void barns_clean(struct kmem_cache *s)
{
	for (unsigned i = 0; i < SM_MAX_NODES; i++) {
		struct node_barn *b = &s->node[i]->barn;
		barn_lock(b); /* makes a never-used barn's lists (kmem_cache.h) */
		struct list_head *lists[2] = { &b->full, &b->empty };
		for (int l = 0; l < 2; l++)
			for (struct list_head *pos = lists[l]->next; pos != lists[l]; pos = pos->next) {
				struct slab_sheaf *sh = list_entry(pos, struct slab_sheaf, barn_list);
				for (unsigned k = 0; k < sh->size; k++)
					CHECK(sm_ptr_node(sh->objects[k]) != priv);
			}
		sm_unlock(&b->lock);
	}
}

int main(void)
{
	struct test_errors e = { 0 };
	struct sm_options o = test_options(&e);
	o.node_size = 16 * MiB;
	inst = sm_instance_create(&o);
	CHECK(inst != NULL);
	cache = sm_cache_create(inst, "shared-80", 80, 0, 0, NULL);
	CHECK(cache != NULL);
	struct sm_node_params prm = { .size = 64 * MiB, .flags = SM_NODE_PRIVATE, .numa_node = -1 };
	priv = sm_node_create(inst, &prm);
	CHECK(priv > 0);

	pthread_t th[THREADS];
	for (unsigned t = 0; t < THREADS; t++)
		CHECK(pthread_create(&th[t], NULL, worker, (void *)(uintptr_t)t) == 0);
	for (unsigned t = 0; t < THREADS; t++)
		CHECK(pthread_join(th[t], NULL) == 0);
	for (unsigned i = 0; i < SLOTS; i++) {
		if (gen_x[i])
			obj_free(gen_x[i], GEN, false);
		if (priv_x[i])
			obj_free(priv_x[i], PRIV, false);
	}
	/* Deferred frees of the nolock calls finished, this thread's sheaves back. */
	sm_thread_flush(inst);
	sm_purge(inst, false);
	struct sm_stats st;
	sm_stats_get(inst, &st);
	CHECK_EQ(st.deferred_pending, 0);

	/* Nothing of the private node anywhere but in its own slabs. */
	struct list_head *pos;
	for (pos = inst->caches.next; pos != &inst->caches; pos = pos->next) {
		struct kmem_cache *s = list_entry(pos, struct kmem_cache, list);
		CHECK_EQ(s->node[priv]->inuse, 0);
		barns_clean(s);
	}
	struct sm_node_status ns;
	CHECK_EQ(sm_node_info(inst, priv, &ns), 0);
	CHECK(ns.used > 0);       /* it was used: its slabs are still there */
	CHECK_EQ(e.count, 0);
	CHECK(checks > 100000 || under_valgrind() || under_tsan());
	sm_instance_destroy(inst);
	printf("test_private_threads: ok (%lu addresses checked)\n", checks);
	return 0;
}
