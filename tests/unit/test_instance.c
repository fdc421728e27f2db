/*
 * test_instance.c - the lifecycle of instances: isolation between two live
 * instances, destroying one while the other keeps working, creating and
 * destroying many without leaking memory or mappings, the SM_MAX_INSTANCES
 * limit, invalid options, threads whose instance went away, and the default
 * instance.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include "test.h"
#include "fastpath.h"
#include "registry.h"
#include "node.h"
#include "options.h"
#include "tcache.h"

#define MiB ((size_t)1 << 20)

static bool vg; /* under valgrind or TSan: smaller loops, no maps/RSS checks */

/* ---- helpers ---- */

/* Lines of /proc/self/maps; with @lo < @hi, also count those overlapping [lo, hi) in *@overlap. */
static size_t maps_count(uintptr_t lo, uintptr_t hi, size_t *overlap)
{
	static char buf[1 << 20];
	int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	CHECK(fd >= 0);
	size_t len = 0;
	ssize_t n;
	while ((n = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t)n;
	close(fd);
	CHECK(len < sizeof(buf) - 1);
	buf[len] = 0;
	size_t lines = 0;
	if (overlap)
		*overlap = 0;
	for (char *c = buf; *c;) {
		unsigned long s, e;
		if (sscanf(c, "%lx-%lx", &s, &e) == 2 && overlap && s < hi && e > lo)
			(*overlap)++;
		lines++;
		char *nl = strchr(c, '\n');
		if (!nl)
			break;
		c = nl + 1;
	}
	return lines;
}

/*
 * Whether the page holding @p is mapped: mincore fails with ENOMEM on an
 * unmapped page (mincore rather than msync: valgrind reports msync on
 * unaddressable memory, and the address is only probed, never touched).
 */
static bool mapped(uintptr_t p)
{
	unsigned char vec;
	errno = 0;
	if (mincore((void *)ALIGN_DOWN(p, SM_PAGE_SIZE), SM_PAGE_SIZE, &vec) == 0)
		return true;
	CHECK_EQ(errno, ENOMEM);
	return false;
}

/* True if no page of [p, p + size) is mapped (probed at 17 places, both ends included). */
static bool unmapped(uintptr_t p, size_t size)
{
	for (uintptr_t a = p; a < p + size; a += size / 16)
		if (mapped(a))
			return false;
	return !mapped(p + size - 1);
}

/* ---- 1. isolation ---- */

#define ISO_THREADS 2
#define ISO_KEEP 4096

struct iso_obj {
	void *p;
	size_t size;
	uint64_t tag;
	sm_instance_t *inst;
};

static struct {
	sm_instance_t *inst[2];
	size_t ops;
	struct iso_obj keep[ISO_THREADS][ISO_KEEP];
	size_t wrong_inst[ISO_THREADS], bad[ISO_THREADS];
} iso;

static void *iso_thread(void *arg)
{
	unsigned t = (unsigned)(uintptr_t)arg;
	uint64_t rs = 77 + t;
	struct iso_obj *k = iso.keep[t];
	memset(k, 0, sizeof(iso.keep[t]));
	for (size_t i = 0; i < iso.ops; i++) {
		rs = mix64(rs);
		size_t slot = rs % ISO_KEEP;
		if (k[slot].p) {
			if (!pat_ok(k[slot].p, k[slot].size, k[slot].tag))
				iso.bad[t]++;
			sm_kfree(k[slot].p);
		}
		/* Both threads use both instances, interleaved. */
		sm_instance_t *inst = iso.inst[(rs >> 20) & 1];
		size_t size = (rs >> 24) % 64 == 0 ? 40960 : 16 + (size_t)((rs >> 32) % 2000);
		void *p = sm_kmalloc(inst, size, 0);
		CHECK(p != NULL);
		if (sm_ptr_instance(p) != inst)
			iso.wrong_inst[t]++;
		uint64_t tag = ((uint64_t)t << 56) ^ (i << 8) ^ (uintptr_t)inst;
		pat_fill(p, size, tag);
		k[slot] = (struct iso_obj){ p, size, tag, inst };
	}
	return NULL;
}

static void test_isolation(void)
{
	struct test_errors e = { 0 };
	struct sm_options o = test_options(&e);
	iso.inst[0] = sm_instance_create(&o);
	iso.inst[1] = sm_instance_create(&o);
	CHECK(iso.inst[0] && iso.inst[1] && iso.inst[0] != iso.inst[1]);
	CHECK(iso.inst[0]->slot != iso.inst[1]->slot);
	iso.ops = vg ? 20000 : 400000;

	pthread_t th[ISO_THREADS];
	for (unsigned t = 0; t < ISO_THREADS; t++)
		CHECK_EQ(pthread_create(&th[t], NULL, iso_thread, (void *)(uintptr_t)t), 0);
	for (unsigned t = 0; t < ISO_THREADS; t++)
		CHECK_EQ(pthread_join(th[t], NULL), 0);

	size_t count[2] = { 0, 0 };
	for (unsigned t = 0; t < ISO_THREADS; t++) {
		CHECK_EQ(iso.wrong_inst[t], 0);
		CHECK_EQ(iso.bad[t], 0);
		for (size_t i = 0; i < ISO_KEEP; i++) {
			struct iso_obj *k = &iso.keep[t][i];
			if (!k->p)
				continue;
			CHECK(sm_ptr_instance(k->p) == k->inst);
			count[k->inst == iso.inst[1]]++;
		}
	}
	CHECK(count[0] > 0 && count[1] > 0);
	/* The two instances' nodes are disjoint. */
	struct sm_node *na = iso.inst[0]->pa.nodes[0], *nb = iso.inst[1]->pa.nodes[0];
	CHECK(na->base + na->reserved <= nb->base || nb->base + nb->reserved <= na->base);
	CHECK_EQ(e.count, 0);

	/* Destroy instance 0 while instance 1's objects are live. */
	uintptr_t base = na->base;
	size_t reserved = na->reserved;
	CHECK(mapped(base));
	sm_instance_destroy(iso.inst[0]);
	/* Its address range is gone: unmapped, and no pointer resolves to it. */
	CHECK(unmapped(base, reserved));
	size_t overlap;
	maps_count(base, base + reserved, &overlap);
	CHECK_EQ(overlap, 0);
	size_t gone = 0;
	for (unsigned t = 0; t < ISO_THREADS; t++)
		for (size_t i = 0; i < ISO_KEEP; i++) {
			struct iso_obj *k = &iso.keep[t][i];
			if (k->p && k->inst == iso.inst[0]) {
				CHECK(sm_ptr_instance(k->p) == NULL);
				CHECK(!mapped((uintptr_t)k->p));
				k->p = NULL;
				gone++;
			}
		}
	CHECK_EQ(gone, count[0]);
	/* Instance 1's objects are intact and still its own. */
	for (unsigned t = 0; t < ISO_THREADS; t++)
		for (size_t i = 0; i < ISO_KEEP; i++) {
			struct iso_obj *k = &iso.keep[t][i];
			if (!k->p)
				continue;
			CHECK(sm_ptr_instance(k->p) == iso.inst[1]);
			CHECK(pat_ok(k->p, k->size, k->tag));
		}
	/* Instance 1 keeps working: free everything, then nothing is live. */
	for (unsigned t = 0; t < ISO_THREADS; t++)
		for (size_t i = 0; i < ISO_KEEP; i++)
			if (iso.keep[t][i].p)
				sm_kfree(iso.keep[t][i].p);
	sm_purge(iso.inst[1], true);
	struct sm_stats st;
	sm_stats_get(iso.inst[1], &st);
	CHECK_EQ(st.slab_bytes, 0);
	CHECK_EQ(e.count, 0);
	sm_instance_destroy(iso.inst[1]);
}

/* ---- 2. create and destroy 1000 instances ---- */

static void one_instance_life(unsigned i)
{
	struct test_errors e = { 0 };
	struct sm_options o = test_options(&e);
	sm_instance_t *inst = sm_instance_create(&o);
	CHECK(inst != NULL);
	void *p[64];
	for (unsigned j = 0; j < 64; j++) {
		p[j] = sm_kmalloc(inst, 8 + j * 61, 0);
		CHECK(p[j] != NULL);
		memset(p[j], (int)i, 8 + j * 61);
	}
	void *run = sm_kmalloc(inst, 100000, 0);         /* a page run */
	void *huge = sm_kmalloc(inst, 40 * MiB, 0);      /* a mapping of its own */
	CHECK(run && huge);
	memset(run, 1, 100000);
	((char *)huge)[0] = 1;
	sm_cache_t *c = sm_cache_create(inst, "life", 200, 0, 0, NULL);
	CHECK(c != NULL);
	void *co = sm_cache_alloc(c, 0);
	CHECK(co != NULL);
	/* Free half; the rest (and the cache) go with the instance. */
	for (unsigned j = 0; j < 64; j += 2)
		sm_kfree(p[j]);
	CHECK_EQ(e.count, 0);
	sm_instance_destroy(inst);
}

static void test_create_destroy_many(void)
{
	unsigned n = vg ? 100 : 1000, warm = 10;
	size_t maps0 = 0, rss0 = 0;
	for (unsigned i = 0; i < n; i++) {
		one_instance_life(i);
		if (i + 1 == warm) {
			maps0 = maps_count(0, 0, NULL);
			rss0 = rss_bytes();
		}
	}
	size_t maps1 = maps_count(0, 0, NULL), rss1 = rss_bytes();
	printf("%u instances: maps %zu -> %zu, rss %zu -> %zu KiB\n", n, maps0, maps1, rss0 >> 10,
	       rss1 >> 10);
	if (vg)
		return; /* valgrind's own mappings and RSS are not the program's */
	/*
	 * Each instance maps its struct (touched: ~150 KiB), a node and a huge
	 * mapping.  One leaked mapping per instance would add 990 lines, one
	 * leaked page per instance ~4 MiB: the bounds (4 lines, 2 MiB) leave
	 * room only for the C library's own noise.
	 */
	CHECK_LE(maps1, maps0 + 4);
	CHECK_LE(rss1, rss0 + 2 * MiB);
}

/* ---- 3. SM_MAX_INSTANCES ---- */

static void test_max_instances(void)
{
	struct test_errors e = { 0 };
	struct sm_options o = test_options(&e);
	o.node_size = SM_MIN_NODE_SIZE;
	sm_instance_t *all[SM_MAX_INSTANCES + 1];
	unsigned n = 0;
	size_t maps_before_fail = 0;
	for (;;) {
		CHECK(n <= SM_MAX_INSTANCES);
		if (n == SM_MAX_INSTANCES - 1)
			maps_before_fail = maps_count(0, 0, NULL);
		errno = 0;
		sm_instance_t *inst = sm_instance_create(&o);
		if (!inst) {
			CHECK_EQ(errno, EAGAIN);
			break;
		}
		all[n++] = inst;
	}
	/* Slot 0 is the default instance's, whether it exists yet or not. */
	CHECK_EQ(n, SM_MAX_INSTANCES - 1);
	/* A refused create leaves nothing mapped behind. */
	if (!vg)
		CHECK_EQ(maps_count(0, 0, NULL), maps_before_fail);
	errno = 0;
	CHECK(sm_instance_create(&o) == NULL);
	CHECK_EQ(errno, EAGAIN);

	/* Every live instance works and has its own slot. */
	for (unsigned i = 0; i < n; i++) {
		CHECK(all[i]->slot >= 1 && all[i]->slot < SM_MAX_INSTANCES);
		for (unsigned j = 0; j < i; j++)
			CHECK(all[i]->slot != all[j]->slot);
	}
	/* Destroying one frees its slot for the next create. */
	unsigned freed = all[7]->slot;
	sm_instance_destroy(all[7]);
	all[7] = sm_instance_create(&o);
	CHECK(all[7] != NULL);
	CHECK_EQ(all[7]->slot, freed);
	void *p = sm_kmalloc(all[7], 100, 0);
	CHECK(p != NULL && sm_ptr_instance(p) == all[7]);
	sm_kfree(p);
	errno = 0;
	CHECK(sm_instance_create(&o) == NULL);
	CHECK_EQ(errno, EAGAIN);
	for (unsigned i = 0; i < n; i++)
		sm_instance_destroy(all[i]);
	/* All slots free again. */
	for (unsigned i = 0; i < n; i++) {
		all[i] = sm_instance_create(&o);
		CHECK(all[i] != NULL);
	}
	for (unsigned i = 0; i < n; i++)
		sm_instance_destroy(all[i]);
	CHECK_EQ(e.count, 0);
}

/* ---- 4. invalid options ---- */

static void expect_einval(const struct sm_options *o, const char *what)
{
	errno = 0;
	sm_instance_t *inst = sm_instance_create(o);
	if (inst || errno != EINVAL)
		fprintf(stderr, "%s: instance %p errno %d\n", what, (void *)inst, errno);
	CHECK(inst == NULL);
	CHECK_EQ(errno, EINVAL);
}

static void expect_ok(const struct sm_options *o)
{
	sm_instance_t *inst = sm_instance_create(o);
	CHECK(inst != NULL);
	void *p = sm_kmalloc(inst, 10, 0);
	CHECK(p != NULL);
	sm_kfree(p);
	sm_instance_destroy(inst);
}

static void test_invalid_options(void)
{
	struct sm_options base = test_options(NULL), o;
	size_t maps0 = maps_count(0, 0, NULL);

	o = base; o.node_size = SM_MIN_NODE_SIZE - 1;   expect_einval(&o, "node_size 1 MiB - 1");
	o = base; o.node_size = 0;                      expect_einval(&o, "node_size 0");
	o = base; o.node_size = 4096;                   expect_einval(&o, "node_size 4096");
	o = base; o.node_size = SM_MAX_NODE_SIZE + 1;   expect_einval(&o, "node_size too large");
	o = base; o.max_nodes = 0;                      expect_einval(&o, "max_nodes 0");
	o = base; o.max_nodes = SM_MAX_NODES + 1;       expect_einval(&o, "max_nodes 17");
	o = base; o.sheaf_capacity = SM_MAX_SHEAF_CAPACITY + 1; expect_einval(&o, "sheaf_capacity");
	o = base; o.huge_threshold = SM_KMALLOC_MAX_CACHE_SIZE - 1; expect_einval(&o, "huge_threshold");
	o = base; o.huge_threshold = SM_MAX_HUGE_THRESHOLD + 1; expect_einval(&o, "huge_threshold too large");
	CHECK_EQ(SM_MAX_NODES, 16);
	if (!vg)
		CHECK_EQ(maps_count(0, 0, NULL), maps0); /* refused before anything was mapped */

	/* The boundaries themselves are valid. */
	o = base; o.node_size = SM_MIN_NODE_SIZE;       expect_ok(&o);
	o = base; o.max_nodes = 1;                      expect_ok(&o);
	o = base; o.max_nodes = SM_MAX_NODES;           expect_ok(&o);
	o = base; o.sheaf_capacity = SM_MAX_SHEAF_CAPACITY; expect_ok(&o);
	o = base; o.huge_threshold = SM_MAX_HUGE_THRESHOLD; expect_ok(&o);
	expect_ok(NULL);                                /* the defaults */
}

/* ---- 5. a thread outlives its instance ---- */

static struct {
	sm_instance_t *inst;
	pthread_barrier_t bar;
	unsigned slot;
	uint64_t old_gen;
	struct tcache *old_tc;
	bool use_new;
	size_t new_ok;
} lt;

static void *outlive_thread(void *arg)
{
	(void)arg;
	/* Use the first instance: a tcache with sheaves. */
	void *p[200];
	for (int i = 0; i < 200; i++)
		p[i] = sm_kmalloc(lt.inst, 48, 0);
	for (int i = 0; i < 200; i++)
		sm_kfree(p[i]);
	lt.slot = lt.inst->slot;
	lt.old_gen = lt.inst->gen;
	lt.old_tc = sm_thread.slots[lt.slot].tc;
	CHECK(lt.old_tc != NULL);
	CHECK_EQ(sm_thread.slots[lt.slot].gen, lt.old_gen);
	pthread_barrier_wait(&lt.bar); /* main destroys it and creates another */
	pthread_barrier_wait(&lt.bar);
	/* The slot still names the dead instance's generation: never followed. */
	CHECK_EQ(sm_thread.slots[lt.slot].gen, lt.old_gen);
	CHECK_EQ(lt.inst->slot, lt.slot);
	CHECK(lt.inst->gen != lt.old_gen);
	if (!lt.use_new)
		return NULL; /* exit with only the stale slot */
	sm_thread_flush(lt.inst); /* no tcache for the new instance yet: nothing to do */
	CHECK_EQ(sm_thread.slots[lt.slot].gen, lt.old_gen);
	for (int i = 0; i < 200; i++) {
		p[i] = sm_kmalloc(lt.inst, 48, 0);
		CHECK(p[i] != NULL);
		lt.new_ok += sm_ptr_instance(p[i]) == lt.inst;
	}
	for (int i = 0; i < 100; i++)
		sm_kfree(p[i]);
	/* A new tcache, of the new instance. */
	CHECK_EQ(sm_thread.slots[lt.slot].gen, lt.inst->gen);
	CHECK(sm_thread.slots[lt.slot].tc != NULL);
	CHECK(sm_thread.slots[lt.slot].tc->inst == lt.inst);
	for (int i = 100; i < 200; i++)
		sm_kfree(p[i]);
	return NULL;
}

static void run_outlive(bool use_new)
{
	struct test_errors e = { 0 };
	struct sm_options o = test_options(&e);
	lt.inst = sm_instance_create(&o);
	CHECK(lt.inst != NULL);
	lt.use_new = use_new;
	lt.new_ok = 0;
	CHECK_EQ(pthread_barrier_init(&lt.bar, NULL, 2), 0);
	pthread_t th;
	CHECK_EQ(pthread_create(&th, NULL, outlive_thread, NULL), 0);
	pthread_barrier_wait(&lt.bar);
	uintptr_t old_base = lt.inst->pa.nodes[0]->base;
	sm_instance_destroy(lt.inst);
	CHECK(!mapped(old_base)); /* the thread's old tcache went with the node */
	lt.inst = sm_instance_create(&o); /* the lowest free slot: the same one */
	CHECK(lt.inst != NULL);
	pthread_barrier_wait(&lt.bar);
	CHECK_EQ(pthread_join(th, NULL), 0);

	/* The thread exited cleanly; the new instance is consistent. */
	CHECK(list_empty(&lt.inst->tcaches));
	struct sm_stats st;
	sm_stats_get(lt.inst, &st);
	CHECK_EQ(st.large_bytes, 0); /* the thread's new tcache (if any) was freed */
	if (use_new)
		CHECK_EQ(lt.new_ok, 200);
	struct sm_cache_stats cs;
	sm_cache_stats_get(&lt.inst->kmalloc_caches[5], &cs); /* kmalloc-48 */
	CHECK_EQ(cs.object_size, 48);
	CHECK_EQ(cs.active_objects, 0);
	/* Only the thread that used the new instance made kmalloc-48 slabs there. */
	CHECK_EQ(cs.slabs_allocated > 0, use_new);
	sm_purge(lt.inst, true);
	sm_stats_get(lt.inst, &st);
	CHECK_EQ(st.slab_bytes, 0);
	CHECK_EQ(e.count, 0);
	pthread_barrier_destroy(&lt.bar);
	sm_instance_destroy(lt.inst);
}

static void test_thread_outlives_instance(void)
{
	run_outlive(true);
	run_outlive(false);
}

/* ---- 6. the default instance ---- */

static void *default_thread(void *arg)
{
	*(sm_instance_t **)arg = sm_default_instance();
	return NULL;
}

static void test_default_instance(void)
{
	/* The first call of the process through the general path, as a -O0
	   build's malloc takes it (kmalloc_inline's test for the default
	   instance is not folded there): the instance is set up on the
	   way, not used half made. */
	CHECK(!__atomic_load_n(&sm_default_ready, __ATOMIC_ACQUIRE));
	void *first = slab_alloc(&sm_default_inst, kmalloc_index(64), 0, 0, 64, 0);
	CHECK(first != NULL);
	CHECK(__atomic_load_n(&sm_default_ready, __ATOMIC_ACQUIRE));
	sm_kfree(first);
	sm_instance_t *d = sm_default_instance();
	CHECK(d != NULL);
	CHECK(sm_default_instance() == d);
	sm_instance_t *other = NULL;
	pthread_t th;
	CHECK_EQ(pthread_create(&th, NULL, default_thread, &other), 0);
	CHECK_EQ(pthread_join(th, NULL), 0);
	CHECK(other == d);
	CHECK_EQ(d->slot, 0);

	char *p = sm_kmalloc(d, 300, 0);
	char *big = sm_kmalloc(d, 100000, 0);
	CHECK(p && big);
	CHECK(sm_ptr_instance(p) == d && sm_ptr_instance(big) == d);
	memset(p, 0x33, 300);
	memset(big, 0x44, 100000);
	uintptr_t base = d->pa.nodes[0]->base;

	sm_instance_destroy(d); /* ignored */
	sm_instance_destroy(NULL); /* ignored */

	CHECK(sm_default_instance() == d);
	CHECK(mapped(base));
	CHECK(sm_ptr_instance(p) == d && sm_ptr_instance(big) == d);
	for (int i = 0; i < 300; i++)
		CHECK(p[i] == 0x33);
	for (int i = 0; i < 100000; i += 997)
		CHECK(big[i] == 0x44);
	CHECK_EQ(sm_ksize(p), 320);
	void *q = sm_kmalloc(d, 300, 0);
	CHECK(q != NULL && q != p && sm_ptr_instance(q) == d);
	sm_kfree(q);
	sm_kfree(p);
	sm_kfree(big);
	/* An isolated instance created afterwards never gets slot 0. */
	sm_instance_t *inst = sm_instance_create(NULL);
	CHECK(inst != NULL && inst != d && inst->slot != 0);
	sm_instance_destroy(inst);
}

int main(void)
{
	vg = under_valgrind() || under_tsan();
	test_invalid_options();
	printf("invalid options ok\n");
	test_max_instances();
	printf("max instances ok\n");
	test_isolation();
	printf("isolation ok\n");
	test_thread_outlives_instance();
	printf("thread outlives instance ok\n");
	test_create_destroy_many();
	printf("create/destroy many ok\n");
	test_default_instance();
	printf("default instance ok\n");
	return 0;
}
