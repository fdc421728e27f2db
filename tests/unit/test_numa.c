/*
 * test_numa.c - NUMA binding and the per-NUMA-node policy (issue 12,
 * section 2) on a fake OS that reports two NUMA nodes (this machine has
 * one): a general node made with numa_node k is bound with one mbind call
 * over its whole reservation (recorded by the fake); a failing mbind fails
 * sm_node_create; a thread on NUMA node k takes its objects from the node
 * bound to k and gives its sheaves to that node's barns; a thread that
 * moves to the other NUMA node follows within 256 refills; its page runs
 * come from its node too; with no bound
 * node the OS is never asked (no getcpu on the slow paths).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>

#include "test.h"
#include "instance.h"
#include "kmem_cache.h"
#include "os.h"

#define MiB ((size_t)1 << 20)

struct fake_numa {
	unsigned mbinds, lookups;
	int fail_mbind;
	struct { uintptr_t p; size_t size; int node; } calls[8];
};

static __thread int thread_numa; /* the NUMA node the fake says this thread runs on */

static int f_mbind(void *p, size_t size, int numa_node, void *arg)
{
	struct fake_numa *f = arg;
	if (f->fail_mbind)
		return -1;
	CHECK(f->mbinds < 8);
	f->calls[f->mbinds].p = (uintptr_t)p;
	f->calls[f->mbinds].size = size;
	f->calls[f->mbinds].node = numa_node;
	f->mbinds++;
	return 0;
}

static int f_numa_node(void *arg)
{
	__atomic_fetch_add(&((struct fake_numa *)arg)->lookups, 1, __ATOMIC_RELAXED);
	return thread_numa;
}

/* Frozen: no delayed purge drains an idle barn while the test looks at them. */
static uint64_t f_now(void *arg)
{
	(void)arg;
	return 1000;
}

/* The real memory primitives (they ignore arg), the fake's clock and NUMA calls. */
static struct sm_os_ops fake_ops(struct fake_numa *f)
{
	struct sm_os_ops o = sm_os_linux;
	o.arg = f;
	o.now_ns = f_now;
	o.mbind = f_mbind;
	o.numa_node = f_numa_node;
	return o;
}

static sm_instance_t *inst;
static sm_cache_t *cache;
static int bound[2];

struct worker_arg {
	int numa, switch_to;       /* runs on numa; after half its work on switch_to */
	unsigned on[2];            /* objects that came from bound[0] / bound[1] in the last part */
	unsigned on_start[2];      /* ... in the first part */
	int run_node;              /* where a page run it allocated at the end lay */
};

static void *worker(void *argp)
{
	struct worker_arg *a = argp;
	thread_numa = a->numa;
	enum { N = 20000 };
	void **v = calloc(N, sizeof(*v));
	for (unsigned i = 0; i < N; i++) {
		v[i] = sm_cache_alloc(cache, 0);
		CHECK(v[i] != NULL);
		int id = sm_ptr_node(v[i]);
		if (i < 1000)
			a->on_start[0] += id == bound[0], a->on_start[1] += id == bound[1];
	}
	if (a->switch_to != a->numa) {
		/* Moved to the other NUMA node: 256 refills of 64 objects later, it follows. */
		thread_numa = a->switch_to;
		void **w = calloc(2 * N, sizeof(*w));
		for (unsigned i = 0; i < 2 * N; i++) {
			w[i] = sm_cache_alloc(cache, 0);
			CHECK(w[i] != NULL);
			if (i >= 2 * N - 1000) {
				int id = sm_ptr_node(w[i]);
				a->on[0] += id == bound[0], a->on[1] += id == bound[1];
			}
		}
		for (unsigned i = 0; i < 2 * N; i++)
			sm_cache_free(cache, w[i]);
		free(w);
	}
	for (unsigned i = 0; i < N; i++)
		sm_cache_free(cache, v[i]);
	free(v);
	/* Page runs too come from the node of the thread's NUMA node. */
	void *run = sm_kmalloc(inst, 100000, 0);
	CHECK(run != NULL);
	a->run_node = sm_ptr_node(run);
	sm_kfree(run);
	return NULL; /* the thread's sheaves go to its barn at exit */
}

static unsigned barn_sheaves(int node)
{
	return cache->node[node]->barn.nr_full + cache->node[node]->barn.nr_empty;
}

int main(void)
{
	struct fake_numa f = { 0 };
	struct sm_os_ops ops = fake_ops(&f);
	struct test_errors e = { 0 };
	struct sm_options o = test_options(&e);
	o.node_size = 16 * MiB;
	o.os = &ops;
	o.barn_max_full = 64;
	o.barn_max_empty = 64;
	inst = sm_instance_create(&o);
	CHECK(inst != NULL);
	cache = sm_cache_create(inst, "numa-48", 48, 0, 0, NULL);
	CHECK(cache != NULL);

	/* No bound node: the slow paths never ask the OS where they run. */
	void *p = sm_cache_alloc(cache, 0);
	sm_cache_free(cache, p);
	sm_thread_flush(inst);
	CHECK_EQ(f.lookups, 0);

	/* Two general nodes, bound to NUMA nodes 0 and 1: one mbind each, over the reservation. */
	for (int k = 0; k < 2; k++) {
		struct sm_node_params prm = { .size = 32 * MiB, .flags = 0, .numa_node = k };
		bound[k] = sm_node_create(inst, &prm);
		CHECK(bound[k] > 0);
		struct sm_node *n = inst->pa.nodes[bound[k]];
		CHECK_EQ(f.mbinds, (unsigned)k + 1);
		CHECK_EQ(f.calls[k].p, n->base);
		CHECK_EQ(f.calls[k].size, n->reserved);
		CHECK_EQ(f.calls[k].node, k);
		struct sm_node_status st;
		CHECK_EQ(sm_node_info(inst, bound[k], &st), 0);
		CHECK_EQ(st.numa_node, k);
	}
	/* A failing mbind fails the node (and leaves no node behind). */
	f.fail_mbind = 1;
	struct sm_node_params prm = { .size = 32 * MiB, .flags = 0, .numa_node = 1 };
	size_t nodes = inst->pa.nr_nodes;
	errno = 0;
	CHECK_EQ(sm_node_create(inst, &prm), -1);
	CHECK_EQ(errno, ENOMEM);
	CHECK_EQ(inst->pa.nr_nodes, nodes);
	f.fail_mbind = 0;

	/* One thread per NUMA node: each takes its objects from its own node,
	   and its sheaves end in its node's barns. */
	unsigned b0 = barn_sheaves(bound[0]), b1 = barn_sheaves(bound[1]), bz = barn_sheaves(0);
	struct worker_arg a0 = { .numa = 0, .switch_to = 0 }, a1 = { .numa = 1, .switch_to = 1 };
	pthread_t t;
	CHECK(pthread_create(&t, NULL, worker, &a0) == 0 && pthread_join(t, NULL) == 0);
	CHECK_EQ(a0.on_start[0], 1000);
	CHECK_EQ(a0.run_node, bound[0]);
	CHECK(barn_sheaves(bound[0]) > b0);
	CHECK_EQ(barn_sheaves(bound[1]), b1);
	CHECK_EQ(barn_sheaves(0), bz);
	CHECK(pthread_create(&t, NULL, worker, &a1) == 0 && pthread_join(t, NULL) == 0);
	CHECK_EQ(a1.on_start[1], 1000);
	CHECK_EQ(a1.run_node, bound[1]);
	CHECK(barn_sheaves(bound[1]) > b1);
	CHECK_EQ(barn_sheaves(0), bz);
	CHECK(f.lookups >= 2);

	/* A thread that moves from NUMA node 0 to 1 follows. */
	struct worker_arg am = { .numa = 0, .switch_to = 1 };
	CHECK(pthread_create(&t, NULL, worker, &am) == 0 && pthread_join(t, NULL) == 0);
	CHECK_EQ(am.on_start[0], 1000);
	CHECK_EQ(am.on[1], 1000);
	CHECK_EQ(e.count, 0);
	sm_instance_destroy(inst);
	printf("test_numa: ok (%u lookups)\n", f.lookups);
	return 0;
}
