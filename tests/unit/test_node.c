/*
 * test_node.c - nodes: exhaustion and growth of an instance with 1 MiB nodes,
 * SM_GFP_THISNODE, a fake OS that refuses reserve or commit on demand, page
 * run coalescing, and node_of() on addresses outside every node.
 */
#include <errno.h>
#include <sys/mman.h>

#include "test.h"
#include "tcache.h"
#include "node.h"
#include "options.h"
#include "os.h"
#include "slab.h"

#define MiB ((size_t)1 << 20)
#define RUN (64 * 1024)        /* a 16-page run */
#define RUN_PAGES 16

/* ---- a fake OS: the real one, refusing reserve or commit on demand ---- */

struct fake_os {
	int reserve_budget;        /* reserves that may still succeed; < 0: any number */
	int fail_commit;           /* commits fail while set */
	unsigned reserves, reserve_failures, commits, commit_failures, releases;
	unsigned live;             /* reservations not yet released */
	struct { uintptr_t p; size_t size; } maps[64];
};

static void *fake_reserve(size_t size, size_t align, void *arg)
{
	struct fake_os *f = arg;
	f->reserves++;
	if (f->reserve_budget == 0) {
		f->reserve_failures++;
		return NULL;
	}
	if (f->reserve_budget > 0)
		f->reserve_budget--;
	void *p = sm_os_linux.reserve(size, align, NULL);
	CHECK(p != NULL);
	CHECK_EQ((uintptr_t)p % align, 0);
	unsigned i;
	for (i = 0; i < 64 && f->maps[i].p; i++)
		;
	CHECK(i < 64);
	f->maps[i].p = (uintptr_t)p;
	f->maps[i].size = size;
	f->live++;
	return p;
}

static int fake_commit(void *p, size_t size, void *arg)
{
	struct fake_os *f = arg;
	f->commits++;
	if (f->fail_commit) {
		f->commit_failures++;
		return -1;
	}
	return sm_os_linux.commit(p, size, NULL);
}

static void fake_release(void *p, size_t size, void *arg)
{
	struct fake_os *f = arg;
	unsigned i;
	for (i = 0; i < 64 && f->maps[i].p != (uintptr_t)p; i++)
		;
	CHECK(i < 64);                 /* released exactly what was reserved ... */
	CHECK_EQ(f->maps[i].size, size);
	f->maps[i].p = 0;
	f->releases++;
	f->live--;
	sm_os_linux.release(p, size, NULL);
}

static uint64_t fake_now(void *arg)
{
	(void)arg;
	return 1000; /* frozen: no delayed purge changes dirty runs into clean ones */
}

static struct sm_os_ops fake_ops(struct fake_os *f)
{
	memset(f, 0, sizeof(*f));
	f->reserve_budget = -1;
	return (struct sm_os_ops){ .reserve = fake_reserve, .commit = fake_commit,
				   .purge = NULL, .release = fake_release, .now_ns = fake_now,
				   .arg = f };
}

static sm_instance_t *small_instance(struct test_errors *e, const struct sm_os_ops *os,
				     size_t node_size, unsigned max_nodes)
{
	struct sm_options o = test_options(e);
	o.node_size = node_size;
	o.max_nodes = max_nodes;
	o.os = os;
	return sm_instance_create(&o);
}

static struct sm_stats stats(sm_instance_t *inst)
{
	struct sm_stats st;
	sm_stats_get(inst, &st);
	return st;
}

static int node_id_of(const void *p)
{
	struct sm_node *n = node_of(p);
	CHECK(n != NULL);
	return n->id;
}

/* Pages of a thread's tcache, which the thread's first page run (or
   small object) of an instance takes from its node first. */
static uint32_t tcache_pages(void)
{
	return (uint32_t)((sizeof(struct tcache) + SM_PAGE_SIZE - 1) >> SM_PAGE_SHIFT);
}

/*
 * Free the page run @p past this thread's run cache (sm_thread_flush gives
 * the cached runs back): the coalescing tests look at the node's own
 * allocator, and a thread's first page run gave it a run cache.
 */
static void free_to_node(sm_instance_t *inst, void *p)
{
	sm_kfree(p);
	sm_thread_flush(inst);
}

/* ---- node layout ---- */

static void check_layout(struct sm_node *n, size_t size)
{
	CHECK(n->kind == NODE_NORMAL);
	CHECK_EQ(n->reserved, (size + SM_NODE_ALIGN - 1) / SM_NODE_ALIGN * SM_NODE_ALIGN);
	CHECK_EQ(n->base % SM_NODE_ALIGN, 0);
	CHECK((uintptr_t)n == n->base);
	/* [header][descriptor table of every reserved page][guard][data]
	   within the reservation; the data pages and their descriptors fit
	   in @size; the descriptor map finds the data pages' descriptors. */
	CHECK((uintptr_t)n->descs >= n->base + sizeof(struct sm_node));
	CHECK((char *)(n->descs + n->npages) + SM_PAGE_SIZE <= n->data);
	CHECK(n->data + ((size_t)n->npages << SM_PAGE_SHIFT) <= (char *)n->base + n->reserved);
	CHECK((size_t)n->npages * (SM_PAGE_SIZE + sizeof(struct slab) + sizeof(uint32_t)) <= size);
	/* The hot table after the descriptor table, a word for every page of
	   the reservation too; the hot map finds the data pages' words. */
	CHECK((char *)(n->descs + n->npages) <= (char *)n->hot);
	CHECK((char *)(n->hot + n->npages) + SM_PAGE_SIZE <= n->data);
	const char *last = n->data + ((size_t)n->npages << SM_PAGE_SHIFT) - 1;
	CHECK(hot_bias(n->data) + ((uintptr_t)n->data >> SM_PAGE_SHIFT) * 4 == (uintptr_t)&n->hot[0]);
	CHECK(hot_bias(last) + ((uintptr_t)last >> SM_PAGE_SHIFT) * 4 == (uintptr_t)&n->hot[n->npages - 1]);
	CHECK(hot_bias((void *)n->base) != 0 && hot_at(hot_bias((void *)n->base), (void *)n->base) == 0);
	const void *end = (void *)(n->base + n->reserved - 1);
	CHECK(hot_bias(end) != 0 && hot_at(hot_bias(end), end) == 0);
	CHECK(desc_of(n->data) == &n->descs[0]);
	CHECK(desc_of(n->data + ((size_t)n->npages << SM_PAGE_SHIFT) - 1) == &n->descs[n->npages - 1]);
	CHECK(desc_of((void *)n->base) != NULL && desc_of((void *)n->base)->type == PT_UNUSED);
	CHECK(desc_of((void *)(n->base + n->reserved - 1)) != NULL);
	CHECK(desc_of((void *)(n->base + n->reserved - 1))->type == PT_UNUSED);
	CHECK_EQ((uintptr_t)n->data % SM_PAGE_SIZE, 0);
	/* the metadata costs less than 3% of the node */
	CHECK((size_t)n->npages * SM_PAGE_SIZE * 100 >= size * 97);
	CHECK(node_data_offset(size) == (size_t)(n->data - (char *)n->base));
}

/* ---- exhaustion with one node ---- */

static void test_exhaustion(void)
{
	struct test_errors e = { 0 };
	struct fake_os f;
	struct sm_os_ops ops = fake_ops(&f);
	sm_instance_t *inst = small_instance(&e, &ops, MiB, 1);
	CHECK(inst != NULL);
	struct sm_node *n = inst->pa.nodes[0];
	check_layout(n, MiB);
	CHECK_EQ(f.reserves, 1);

	/* Page runs until the node is full: exactly npages / 16 of them
	   beside this thread's tcache.  The first run attaches the thread
	   (kmalloc_large_slow), so its tcache has the node's first pages. */
	uint32_t tc_pages = tcache_pages();
	size_t tc_bytes = (size_t)tc_pages << SM_PAGE_SHIFT;
	void *runs[64];
	unsigned nr = 0;
	for (;;) {
		errno = 0;
		void *p = sm_kmalloc(inst, RUN, 0);
		if (!p) {
			CHECK_EQ(errno, ENOMEM);
			break;
		}
		CHECK(nr < 64);
		CHECK(node_of(p) == n);
		runs[nr++] = p;
	}
	CHECK_EQ(nr, (n->npages - tc_pages) / RUN_PAGES);
	CHECK((char *)tcache_mine(inst) == n->data);
	CHECK(runs[0] == n->data + tc_bytes);
	struct sm_stats st = stats(inst);
	CHECK_EQ(st.nodes, 1);
	CHECK_EQ(st.large_bytes, (size_t)nr * RUN);
	CHECK_EQ(f.reserves, 1); /* max_nodes 1: growth is not even tried */
	/* Still full: a second attempt fails the same way. */
	errno = 0;
	CHECK(sm_kmalloc(inst, RUN, 0) == NULL);
	CHECK_EQ(errno, ENOMEM);

	/* A free makes room again, at the same place. */
	void *freed = runs[nr / 2];
	sm_kfree(freed);
	runs[nr / 2] = sm_kmalloc(inst, RUN, 0);
	CHECK(runs[nr / 2] == freed);

	/* Small objects until the rest of the node is used up too. */
	void **small = calloc(4096, sizeof(*small));
	CHECK(small != NULL);
	unsigned ns = 0;
	for (;;) {
		errno = 0;
		void *p = sm_kmalloc(inst, 1024, 0);
		if (!p) {
			CHECK_EQ(errno, ENOMEM);
			break;
		}
		CHECK(ns < 4096);
		memset(p, 0x77, 1024);
		small[ns++] = p;
	}
	CHECK(ns >= 8);
	CHECK_EQ(stats(inst).nodes, 1);
	errno = 0;
	CHECK(sm_kmalloc(inst, 40000, 0) == NULL);
	CHECK_EQ(errno, ENOMEM);
	/* One small free: that object can be had again. */
	void *back = small[ns - 1];
	sm_kfree(back);
	small[ns - 1] = sm_kmalloc(inst, 1024, 0);
	CHECK(small[ns - 1] == back);
	errno = 0;
	CHECK(sm_kmalloc(inst, 1024, 0) == NULL);
	CHECK_EQ(errno, ENOMEM);

	/* Everything back: the 15 runs' pages coalesce into one run again. */
	for (unsigned i = 0; i < ns; i++)
		sm_kfree(small[i]);
	for (unsigned i = 0; i < nr; i++)
		sm_kfree(runs[i]);
	free(small);
	sm_purge(inst, true);
	st = stats(inst);
	CHECK_EQ(st.free_dirty_bytes, 0);
	CHECK_EQ(st.slab_bytes, 0);
	/* What is left in use is this thread's tcache (a page run), counted
	   as the allocator's own memory, not the program's page runs. */
	CHECK_EQ(st.large_bytes, 0);
	CHECK_EQ(st.internal_bytes, tc_bytes);
	CHECK_EQ(st.free_clean_bytes + tc_bytes + ((size_t)(n->npages - n->bump) << SM_PAGE_SHIFT),
		 (size_t)n->npages << SM_PAGE_SHIFT);
	void *all = sm_kmalloc(inst, (size_t)nr * RUN, 0);
	CHECK(all == n->data + tc_bytes);
	sm_kfree(all);
	CHECK_EQ(e.count, 0);
	sm_instance_destroy(inst);
	CHECK_EQ(f.live, 0);
	CHECK_EQ(f.releases, f.reserves);
}

/* ---- growth up to max_nodes ---- */

static void test_growth(void)
{
	struct test_errors e = { 0 };
	struct fake_os f;
	struct sm_os_ops ops = fake_ops(&f);
	sm_instance_t *inst = small_instance(&e, &ops, MiB, 3);
	CHECK(inst != NULL);
	enum { MAXR = 256 };
	void **runs = calloc(MAXR, sizeof(*runs));
	unsigned nr = 0;
	size_t last_nodes = 1;
	int last_id = 0;
	for (;;) {
		errno = 0;
		void *p = sm_kmalloc(inst, RUN, 0);
		if (!p) {
			CHECK_EQ(errno, ENOMEM);
			break;
		}
		CHECK(nr < MAXR);
		runs[nr++] = p;
		size_t nodes = stats(inst).nodes;
		int id = node_id_of(p);
		/* Nodes fill in order; a new one appears only when the last is full. */
		CHECK(nodes == last_nodes || nodes == last_nodes + 1);
		CHECK(id == last_id || id == last_id + 1);
		CHECK_EQ(id, (int)nodes - 1);
		last_nodes = nodes;
		last_id = id;
	}
	CHECK_EQ(last_nodes, 3);
	CHECK_EQ(inst->pa.nr_nodes, 3);
	unsigned expect = 0;
	for (unsigned i = 0; i < 3; i++) {
		struct sm_node *n = inst->pa.nodes[i];
		CHECK_EQ(n->id, (int)i);
		check_layout(n, MiB << i); /* each node doubles the last */
		expect += n->npages / RUN_PAGES;
	}
	CHECK_EQ(nr, expect);
	CHECK_EQ(f.reserves, 3);
	struct sm_stats st = stats(inst);
	CHECK_EQ(st.reserved_bytes, 3 * SM_NODE_ALIGN);
	CHECK_EQ(st.large_bytes, (size_t)nr * RUN);
	/* Full: no fourth node. */
	errno = 0;
	CHECK(sm_kmalloc(inst, RUN, 0) == NULL);
	CHECK_EQ(errno, ENOMEM);
	CHECK_EQ(stats(inst).nodes, 3);
	CHECK_EQ(f.reserves, 3);

	/* Frees make allocation work again, node 0 first. */
	sm_kfree(runs[0]);
	sm_kfree(runs[nr - 1]);
	void *a = sm_kmalloc(inst, RUN, 0), *b = sm_kmalloc(inst, RUN, 0);
	CHECK(a == runs[0]);
	CHECK(b == runs[nr - 1]);
	CHECK_EQ(node_id_of(b), 2);
	runs[0] = a;
	runs[nr - 1] = b;
	for (unsigned i = 0; i < nr; i++)
		sm_kfree(runs[i]);
	free(runs);
	CHECK_EQ(stats(inst).large_bytes, 0);
	CHECK_EQ(e.count, 0);
	sm_instance_destroy(inst);
	CHECK_EQ(f.live, 0);
	CHECK_EQ(f.releases, 3);
}

/*
 * A dirty free run of any node before fresh pages of the first
 * (pa_alloc_pages): node 0 keeps fresh pages, node 1 holds a freed run,
 * and a run both could serve comes from node 1's freed pages.  Node by
 * node it came from node 0's fresh pages, which a program pays for in
 * resident memory.  With a node asked for, that node's fresh pages still
 * come first.
 */
static void test_dirty_first(void)
{
	struct test_errors e = { 0 };
	struct fake_os f;
	struct sm_os_ops ops = fake_ops(&f);
	sm_instance_t *inst = small_instance(&e, &ops, MiB, 2);
	CHECK(inst != NULL);
	void *small = sm_kmalloc(inst, RUN, 0); /* attaches the thread: node 0 */
	CHECK(small && node_id_of(small) == 0);
	struct sm_node *n0 = inst->pa.nodes[0];
	/* Larger than node 0's data: node 1 is made for it. */
	size_t big = ((size_t)n0->npages + 1) << SM_PAGE_SHIFT;
	char *b = sm_kmalloc(inst, big, 0);
	CHECK(b && node_id_of(b) == 1);
	uint32_t fresh0 = n0->npages - n0->bump;
	CHECK(fresh0 > 2 * RUN_PAGES);
	memset(b, 1, big);
	free_to_node(inst, b); /* a dirty free run of node 1 */
	CHECK_EQ(inst->pa.nodes[1]->free_dirty_pages, big >> SM_PAGE_SHIFT);

	/* Not a page of node 0's is taken: the run is node 1's freed one. */
	char *p = sm_kmalloc(inst, 2 * RUN, 0);
	CHECK(p == b);
	CHECK_EQ(n0->npages - n0->bump, fresh0);
	CHECK(p[0] == 1 && p[2 * RUN - 1] == 1); /* resident, as it was left */

	/* Asked for node 0 (a preference, not THISNODE): node 0's pages. */
	void *q = sm_kmalloc_node(inst, 2 * RUN, 0, 0);
	CHECK(q && node_id_of(q) == 0);
	CHECK_EQ(n0->npages - n0->bump, fresh0 - 2 * RUN_PAGES);

	sm_kfree(q);
	sm_kfree(p);
	sm_kfree(small);
	CHECK_EQ(e.count, 0);
	sm_instance_destroy(inst);
	CHECK_EQ(f.live, 0);
}

/* ---- a page allocator whose first node was refused (the default instance's case) ---- */

static void test_starts_empty(void)
{
	struct fake_os f;
	struct sm_os_ops fake = fake_ops(&f), os;
	os_ops_complete(&os, &fake);
	struct report_sink err = { 0 };
	struct node_origin origin = { .inst = NULL, .os = &os, .err = &err };
	struct sm_options opts;
	sm_options_init(&opts);
	opts.node_size = MiB;
	opts.max_nodes = 2;
	sm_lock_t lock = SM_LOCK_INIT;
	static struct page_alloc pa;
	struct slab_alloc_context ctx = SLAB_ALLOC_CTX(RUN, SLAB_ALLOC_DEFAULT, SM_NO_NODE);
	uint32_t first;
	bool zeroed;

	/* The OS refuses node 0: valid, without nodes, and every request asks again. */
	f.reserve_budget = 0;
	CHECK_EQ(pa_init(&pa, &origin, &opts, &lock), -ENOMEM);
	CHECK_EQ(pa_nr_nodes(&pa), 0);
	CHECK(pa_alloc_pages(&pa, RUN_PAGES, 1, &ctx, &first, &zeroed) == NULL);
	CHECK_EQ(f.reserves, 2);
	CHECK_EQ(f.live, 0);

	/* The OS cooperates: node 0 appears, with the size node 0 has. */
	f.reserve_budget = -1;
	struct sm_node *n = pa_alloc_pages(&pa, RUN_PAGES, 1, &ctx, &first, &zeroed);
	CHECK(n != NULL && n == pa.nodes[0]);
	CHECK_EQ(n->id, 0);
	CHECK_EQ(pa_nr_nodes(&pa), 1);
	check_layout(n, MiB);

	/* A run that node 1's doubling (2 MiB) cannot hold gets a node that can:
	   not 4 MiB (less than 1024 data pages) but 8 MiB. */
	CHECK(node_data_pages(4 * MiB) < 1024 && node_data_pages(8 * MiB) >= 1024);
	struct sm_node *n1 = pa_alloc_pages(&pa, 1024, 1, &ctx, &first, &zeroed);
	CHECK(n1 != NULL && n1 == pa.nodes[1]);
	CHECK_EQ(n1->id, 1);
	check_layout(n1, 8 * MiB);

	/* max_nodes reached: what does not fit fails without reserving. */
	unsigned reserves = f.reserves;
	CHECK(pa_alloc_pages(&pa, 4096, 1, &ctx, &first, &zeroed) == NULL);
	CHECK_EQ(f.reserves, reserves);
	pa_destroy(&pa);
	CHECK_EQ(f.live, 0);

	/* A run no node of SM_MAX_NODE_SIZE could hold: nothing is reserved. */
	opts.max_nodes = SM_MAX_NODES;
	CHECK_EQ(pa_init(&pa, &origin, &opts, &lock), 0);
	reserves = f.reserves;
	CHECK(pa_alloc_pages(&pa, (uint32_t)(SM_MAX_NODE_SIZE >> SM_PAGE_SHIFT), 1, &ctx, &first,
			     &zeroed) == NULL);
	CHECK_EQ(f.reserves, reserves);
	CHECK_EQ(pa_nr_nodes(&pa), 1);
	pa_destroy(&pa);
	CHECK_EQ(f.live, 0);
}

/* ---- SM_GFP_THISNODE ---- */

static void test_thisnode(void)
{
	struct test_errors e = { 0 };
	struct fake_os f;
	struct sm_os_ops ops = fake_ops(&f);
	sm_instance_t *inst = small_instance(&e, &ops, MiB, 4);
	CHECK(inst != NULL);
	sm_cache_t *uc = sm_cache_create(inst, "node-cache", 256, 0, 0, NULL);
	CHECK(uc != NULL);

	/* Fill node 0 with THISNODE requests only: page runs, then slab objects. */
	void **v = calloc(1024, sizeof(*v));
	unsigned nv = 0, nruns = 0;
	for (;;) {
		void *p = sm_kmalloc_node(inst, RUN, SM_GFP_THISNODE, 0);
		if (!p)
			break;
		CHECK_EQ(node_id_of(p), 0);
		v[nv++] = p;
		nruns++;
	}
	CHECK_EQ(nruns, inst->pa.nodes[0]->npages / RUN_PAGES);
	for (;;) {
		errno = 0;
		void *p = sm_kmalloc_node(inst, 512, SM_GFP_THISNODE, 0);
		if (!p) {
			CHECK_EQ(errno, ENOMEM);
			break;
		}
		CHECK(nv < 1024);
		CHECK_EQ(node_id_of(p), 0);
		v[nv++] = p;
	}
	CHECK(nv > nruns);
	CHECK_EQ(inst->pa.nodes[0]->bump, inst->pa.nodes[0]->npages); /* every page is used */
	/* THISNODE never grows the instance. */
	CHECK_EQ(stats(inst).nodes, 1);
	CHECK_EQ(f.reserves, 1);

	/* An ordinary request grows it to node 1. */
	void *p1 = sm_kmalloc(inst, 512, 0);
	CHECK(p1 != NULL);
	CHECK_EQ(node_id_of(p1), 1);
	CHECK_EQ(stats(inst).nodes, 2);

	/* Node 0 is full: THISNODE on it fails although node 1 has room. */
	const size_t sizes[] = { 8, 512, 4096, 40000, RUN };
	for (unsigned i = 0; i < 5; i++) {
		errno = 0;
		CHECK(sm_kmalloc_node(inst, sizes[i], SM_GFP_THISNODE, 0) == NULL);
		CHECK_EQ(errno, ENOMEM);
		/* ... while node 1 serves THISNODE requests for itself ... */
		void *q = sm_kmalloc_node(inst, sizes[i], SM_GFP_THISNODE, 1);
		CHECK(q != NULL);
		CHECK_EQ(node_id_of(q), 1);
		sm_kfree(q);
		/* ... and node 0 as a mere preference falls back to node 1. */
		q = sm_kmalloc_node(inst, sizes[i], 0, 0);
		CHECK(q != NULL);
		CHECK_EQ(node_id_of(q), 1);
		sm_kfree(q);
	}
	errno = 0;
	CHECK(sm_cache_alloc_node(uc, SM_GFP_THISNODE, 0) == NULL);
	CHECK_EQ(errno, ENOMEM);
	void *u = sm_cache_alloc_node(uc, SM_GFP_THISNODE, 1);
	CHECK(u != NULL);
	CHECK_EQ(node_id_of(u), 1);
	sm_cache_free(uc, u);

	/* Nodes that do not exist (max_nodes 4 would allow node 2 and 3). */
	const int bad_nodes[] = { 2, 3, 7, 15, 16, 1000, -2 };
	for (unsigned i = 0; i < sizeof(bad_nodes) / sizeof(bad_nodes[0]); i++) {
		errno = 0;
		CHECK(sm_kmalloc_node(inst, 512, SM_GFP_THISNODE, bad_nodes[i]) == NULL);
		CHECK_EQ(errno, ENOMEM);
		errno = 0;
		CHECK(sm_kmalloc_node(inst, RUN, SM_GFP_THISNODE, bad_nodes[i]) == NULL);
		CHECK_EQ(errno, ENOMEM);
		/* Without THISNODE a missing node is only a preference. */
		void *q = sm_kmalloc_node(inst, 512, 0, bad_nodes[i]);
		CHECK(q != NULL);
		CHECK_EQ(node_id_of(q), 1);
		sm_kfree(q);
	}
	CHECK_EQ(stats(inst).nodes, 2);

	/* Room on node 0 again (a page run goes straight back to it). */
	sm_kfree(v[0]);
	void *again = sm_kmalloc_node(inst, 40000, SM_GFP_THISNODE, 0);
	CHECK(again == v[0]);
	v[0] = again;

	for (unsigned i = 0; i < nv; i++)
		sm_kfree(v[i]);
	sm_kfree(p1);
	free(v);
	CHECK_EQ(sm_cache_destroy(uc), 0);
	CHECK_EQ(e.count, 0);
	sm_instance_destroy(inst);
	CHECK_EQ(f.live, 0);
}

/* ---- the OS refuses ---- */

static void test_os_failures(void)
{
	struct test_errors e = { 0 };
	struct fake_os f;
	struct sm_os_ops ops = fake_ops(&f);

	/* The first reserve fails: no instance. */
	f.reserve_budget = 0;
	errno = 0;
	CHECK(small_instance(&e, &ops, MiB, 3) == NULL);
	CHECK_EQ(errno, ENOMEM);
	CHECK_EQ(f.reserves, 1);
	CHECK_EQ(f.live, 0);

	/* The first commit (the node header) fails: no instance, nothing kept. */
	f.reserve_budget = -1;
	f.fail_commit = 1;
	errno = 0;
	CHECK(small_instance(&e, &ops, MiB, 3) == NULL);
	CHECK_EQ(errno, ENOMEM);
	CHECK_EQ(f.reserves, 2);
	CHECK_EQ(f.live, 0);
	CHECK_EQ(f.releases, 1);
	f.fail_commit = 0;

	/* Growth: the second reserve fails. */
	f.reserve_budget = 1;
	sm_instance_t *inst = small_instance(&e, &ops, MiB, 3);
	CHECK(inst != NULL);
	void *runs[256];
	unsigned nr = 0;
	for (;;) {
		errno = 0;
		void *p = sm_kmalloc(inst, RUN, 0);
		if (!p) {
			CHECK_EQ(errno, ENOMEM);
			break;
		}
		runs[nr++] = p;
	}
	/* The first run attached the thread: its tcache has a few pages. */
	CHECK(tcache_mine(inst) != NULL);
	CHECK_EQ(nr, (inst->pa.nodes[0]->npages - tcache_pages()) / RUN_PAGES);
	CHECK_EQ(stats(inst).nodes, 1);
	/* The failed creation's, then this one's two: a thread with a tcache
	   gives back what it caches and tries once more (inst_reclaim). */
	CHECK_EQ(f.reserve_failures, 3);
	CHECK_EQ(f.reserves, 5);
	unsigned reserves = f.reserves;
	/* Every further attempt asks again (and fails cleanly). */
	errno = 0;
	CHECK(sm_kmalloc(inst, RUN, 0) == NULL);
	CHECK_EQ(errno, ENOMEM);
	CHECK_EQ(f.reserves, reserves + 2);
	CHECK_EQ(f.reserve_failures, 5);
	CHECK_EQ(stats(inst).nodes, 1);

	/* Growth: reserve works but committing the new node's header fails. */
	f.reserve_budget = -1;
	f.fail_commit = 1;
	unsigned live = f.live, releases = f.releases;
	errno = 0;
	CHECK(sm_kmalloc(inst, RUN, 0) == NULL);
	CHECK_EQ(errno, ENOMEM);
	CHECK_EQ(stats(inst).nodes, 1);
	CHECK_EQ(f.live, live);           /* the new reservation was given back */
	CHECK(f.releases > releases);

	/* The OS cooperates again: the instance grows. */
	f.fail_commit = 0;
	void *p = sm_kmalloc(inst, RUN, 0);
	CHECK(p != NULL);
	CHECK_EQ(node_id_of(p), 1);
	CHECK_EQ(stats(inst).nodes, 2);
	runs[nr++] = p;
	for (unsigned i = 0; i < nr; i++)
		sm_kfree(runs[i]);
	CHECK_EQ(e.count, 0);
	sm_instance_destroy(inst);
	CHECK_EQ(f.live, 0);

	/* Committing data pages fails: allocation fails cleanly, then recovers. */
	inst = small_instance(&e, &ops, 8 * MiB, 1);
	CHECK(inst != NULL);
	struct sm_node *n = inst->pa.nodes[0];
	f.fail_commit = 1;
	unsigned failures = f.commit_failures;
	errno = 0;
	CHECK(sm_kmalloc(inst, RUN, 0) == NULL);
	CHECK_EQ(errno, ENOMEM);
	errno = 0;
	CHECK(sm_kmalloc(inst, 100, 0) == NULL); /* no tcache, no slab either */
	CHECK_EQ(errno, ENOMEM);
	CHECK(f.commit_failures > failures);
	CHECK_EQ(stats(inst).committed_bytes, 0);
	CHECK_EQ(n->bump, 0);
	CHECK_EQ(n->used_pages, 0);

	f.fail_commit = 0;
	nr = 0;
	runs[nr++] = sm_kmalloc(inst, RUN, 0);
	/* That run attached the thread: its tcache has the first pages. */
	size_t tc_bytes = (size_t)tcache_pages() << SM_PAGE_SHIFT;
	CHECK((char *)tcache_mine(inst) == n->data);
	CHECK(runs[0] == n->data + tc_bytes);
	size_t step = (size_t)NODE_COMMIT_PAGES << SM_PAGE_SHIFT;     /* 2 MiB */
	CHECK_EQ(stats(inst).committed_bytes, step);
	/* Fill the committed part exactly (runs, then one of the pages left,
	   still a page run), then refuse the next commit. */
	while (n->bump + RUN_PAGES <= NODE_COMMIT_PAGES) {
		runs[nr] = sm_kmalloc(inst, RUN, 0);
		CHECK(runs[nr] != NULL);
		nr++;
	}
	size_t rest = (size_t)(NODE_COMMIT_PAGES - n->bump) << SM_PAGE_SHIFT;
	if (rest) {
		CHECK(rest > SM_KMALLOC_MAX_CACHE_SIZE);
		runs[nr] = sm_kmalloc(inst, rest, 0);
		CHECK(runs[nr] != NULL);
		nr++;
	}
	CHECK_EQ(n->bump, NODE_COMMIT_PAGES);
	CHECK_EQ(stats(inst).committed_bytes, step);
	f.fail_commit = 1;
	errno = 0;
	CHECK(sm_kmalloc(inst, RUN, 0) == NULL);
	CHECK_EQ(errno, ENOMEM);
	CHECK_EQ(stats(inst).committed_bytes, step);
	CHECK_EQ(n->bump, NODE_COMMIT_PAGES);
	/* A free run still serves while commit fails. */
	sm_kfree(runs[3]);
	void *re = sm_kmalloc(inst, RUN, 0);
	CHECK(re == runs[3]);
	runs[3] = re;
	f.fail_commit = 0;
	runs[nr] = sm_kmalloc(inst, RUN, 0);
	CHECK(runs[nr] == n->data + step);
	nr++;
	CHECK_EQ(stats(inst).committed_bytes, 2 * step);
	/* Small objects work again too. */
	void *s = sm_kmalloc(inst, 100, 0);
	CHECK(s != NULL);
	sm_kfree(s);
	for (unsigned i = 0; i < nr; i++)
		sm_kfree(runs[i]);
	CHECK_EQ(e.count, 0);
	sm_instance_destroy(inst);
	CHECK_EQ(f.live, 0);
	CHECK_EQ(f.releases, f.reserves - f.reserve_failures);
}

/* ---- page runs coalesce ---- */

static void test_coalesce(void)
{
	struct test_errors e = { 0 };
	struct fake_os f;
	struct sm_os_ops ops = fake_ops(&f);
	sm_instance_t *inst = small_instance(&e, &ops, MiB, 1);
	CHECK(inst != NULL);
	struct sm_node *n = inst->pa.nodes[0];

	/* Fill the node with runs of 9..16 pages, after this thread's tcache
	   (the first run attached the thread). */
	uint32_t tc_pages = tcache_pages();
	char *first = n->data + ((size_t)tc_pages << SM_PAGE_SHIFT);
	char *run[64];
	uint32_t len[64];
	unsigned nr = 0;
	for (;;) {
		uint32_t pages = 9 + nr % 8;
		char *p = sm_kmalloc(inst, (size_t)pages << SM_PAGE_SHIFT, 0);
		if (!p)
			break;
		if (nr)
			CHECK(p == run[nr - 1] + ((size_t)len[nr - 1] << SM_PAGE_SHIFT));
		else
			CHECK(p == first && (char *)tcache_mine(inst) == n->data);
		memset(p, (int)nr, (size_t)pages << SM_PAGE_SHIFT);
		run[nr] = p;
		len[nr++] = pages;
	}
	CHECK(nr >= 10);
	uint32_t rest = n->npages - n->bump;  /* fresh pages left at the end */
	CHECK(rest < 9 + nr % 8);
	struct sm_stats st0 = stats(inst);
	CHECK_EQ(st0.committed_bytes, (size_t)n->npages << SM_PAGE_SHIFT);
	CHECK_EQ(st0.free_dirty_bytes, 0);

	/* Free every other run: none of them touch, none merge. */
	size_t freed = 0;
	uint32_t biggest = rest;
	for (unsigned i = 1; i < nr; i += 2) {
		free_to_node(inst, run[i]);
		freed += (size_t)len[i] << SM_PAGE_SHIFT;
		if (len[i] > biggest)
			biggest = len[i];
	}
	struct sm_stats st = stats(inst);
	CHECK_EQ(st.free_dirty_bytes, freed);
	CHECK_EQ(st.large_bytes, ((size_t)(n->bump - tc_pages) << SM_PAGE_SHIFT) - freed);
	errno = 0;
	CHECK(sm_kmalloc(inst, (size_t)(biggest + 1) << SM_PAGE_SHIFT, 0) == NULL);
	CHECK_EQ(errno, ENOMEM);

	/* Free run 2: runs 1, 2 and 3 become one free run... */
	free_to_node(inst, run[2]);
	freed += (size_t)len[2] << SM_PAGE_SHIFT;
	CHECK_EQ(stats(inst).free_dirty_bytes, freed);
	struct slab *h = &n->descs[node_page_index(n, run[1])];
	CHECK_EQ(h->type, PT_FREE);
	CHECK_EQ(h->npages, len[1] + len[2] + len[3]);
	/* ...which a request of all three sizes takes, at run 1, without growing. */
	size_t three = (size_t)(len[1] + len[2] + len[3]) << SM_PAGE_SHIFT;
	char *big = sm_kmalloc(inst, three, 0);
	CHECK(big == run[1]);
	CHECK_EQ(sm_ksize(big), three);
	freed -= three;
	st = stats(inst);
	CHECK_EQ(st.free_dirty_bytes, freed);
	CHECK_EQ(st.committed_bytes, st0.committed_bytes);
	CHECK_EQ(st.nodes, 1);
	/* Run 0 and run 4 (live neighbours of the merged run) are intact. */
	for (size_t j = 0; j < ((size_t)len[0] << SM_PAGE_SHIFT); j += 511)
		CHECK_EQ((unsigned char)run[0][j], 0);
	for (size_t j = 0; j < ((size_t)len[4] << SM_PAGE_SHIFT); j += 511)
		CHECK_EQ((unsigned char)run[4][j], 4);

	/* Two freed neighbours: free run 4, next to the free run 5. */
	free_to_node(inst, run[4]);
	size_t two = (size_t)(len[4] + len[5]) << SM_PAGE_SHIFT;
	char *pair = sm_kmalloc(inst, two, 0);
	CHECK(pair == run[4]);
	freed -= (size_t)len[5] << SM_PAGE_SHIFT;
	st = stats(inst);
	CHECK_EQ(st.free_dirty_bytes, freed);
	CHECK_EQ(st.committed_bytes, st0.committed_bytes);

	/* A smaller request splits a free run; the rest stays free. */
	char *part = sm_kmalloc(inst, (size_t)9 << SM_PAGE_SHIFT, 0);
	CHECK(part != NULL);
	freed -= (size_t)9 << SM_PAGE_SHIFT;
	CHECK_EQ(stats(inst).free_dirty_bytes, freed);
	free_to_node(inst, part);
	freed += (size_t)9 << SM_PAGE_SHIFT;
	CHECK_EQ(stats(inst).free_dirty_bytes, freed);

	/* Everything freed: one run of all pages handed out, at the start. */
	free_to_node(inst, big);
	free_to_node(inst, pair);
	for (unsigned i = 0; i < nr; i += 2)
		if (i != 2 && i != 4)
			free_to_node(inst, run[i]);
	st = stats(inst);
	CHECK_EQ(st.free_dirty_bytes, (size_t)(n->bump - tc_pages) << SM_PAGE_SHIFT);
	CHECK_EQ(st.large_bytes, 0);
	h = &n->descs[tc_pages];
	CHECK_EQ(h->type, PT_FREE);
	CHECK_EQ(h->npages, n->bump - tc_pages);
	char *whole = sm_kmalloc(inst, (size_t)(n->bump - tc_pages) << SM_PAGE_SHIFT, 0);
	CHECK(whole == first);
	free_to_node(inst, whole);
	CHECK_EQ(e.count, 0);
	sm_instance_destroy(inst);
	CHECK_EQ(f.live, 0);
}

/* ---- node_of on foreign addresses (nothing is dereferenced) ---- */

static void test_node_of(void)
{
	struct test_errors e = { 0 };
	struct fake_os f;
	struct sm_os_ops ops = fake_ops(&f);
	/* The only instance of this process: its one node is the only node. */
	sm_instance_t *inst = small_instance(&e, &ops, MiB, 1);
	CHECK(inst != NULL);
	struct sm_node *n = inst->pa.nodes[0];
	void *obj = sm_kmalloc(inst, 64, 0);
	CHECK(node_of(obj) == n);

	CHECK(node_of((void *)n->base) == n);
	CHECK(node_of((void *)(n->base + n->reserved - 1)) == n);
	CHECK(node_of((void *)(n->base - 1)) == NULL);
	CHECK(node_of((void *)(n->base + n->reserved)) == NULL);
	CHECK(sm_ptr_instance((void *)(n->base - 1)) == NULL);
	CHECK(sm_ptr_instance((void *)(n->base + n->reserved)) == NULL);
	CHECK(sm_ptr_instance((void *)(n->base + n->reserved - 1)) == inst);

	/* Addresses with bits above 47 set, including ones whose low bits
	   fall in this node's granule. */
	const uintptr_t high[] = {
		0xffff800000000000ull, 0x0000800000000000ull, UINTPTR_MAX,
		0xffff800000000000ull | n->base, ((uintptr_t)1 << 47) | (uintptr_t)obj,
		((uintptr_t)1 << 63) | (uintptr_t)obj,
	};
	for (unsigned i = 0; i < sizeof(high) / sizeof(high[0]); i++) {
		CHECK(node_of((void *)high[i]) == NULL);
		CHECK(sm_ptr_instance((void *)high[i]) == NULL);
	}
	CHECK(node_of(NULL) == NULL);
	CHECK(node_of((void *)(uintptr_t)4096) == NULL);

	/* A region that was mapped and unmapped again. */
	void *m = mmap(NULL, 4 * MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(m != MAP_FAILED);
	CHECK(node_of(m) == NULL);
	munmap(m, 4 * MiB);
	CHECK(node_of(m) == NULL);
	CHECK(node_of((char *)m + MiB) == NULL);

	/* A node that was released with its instance. */
	uintptr_t base = n->base;
	size_t reserved = n->reserved;
	sm_kfree(obj);
	CHECK_EQ(e.count, 0);
	sm_instance_destroy(inst);
	CHECK_EQ(f.live, 0);
	CHECK(node_of((void *)base) == NULL);
	CHECK(node_of(obj) == NULL);
	CHECK(node_of((void *)(base + reserved - 1)) == NULL);
	CHECK(sm_ptr_instance(obj) == NULL);
}

/* ---- the real OS keeps errno (free of a huge mapping must not change it) ---- */

static void test_os_errno(void)
{
	/* munmap fails (EINVAL: not page aligned): errno stays. */
	errno = 4321;
	sm_os_linux.release((void *)(uintptr_t)(SM_PAGE_SIZE + 1), SM_PAGE_SIZE, NULL);
	CHECK_EQ(errno, 4321);

	/* A huge mapping freed through the real OS. */
	struct test_errors e = { 0 };
	struct sm_options o = test_options(&e);
	o.huge_threshold = (size_t)2 << 20;
	sm_instance_t *inst = sm_instance_create(&o);
	CHECK(inst != NULL);
	void *h = sm_kmalloc(inst, (size_t)3 << 20, 0);
	CHECK(h != NULL);
	CHECK(node_of(h)->kind == NODE_HUGE);
	errno = 4321;
	sm_kfree(h);
	CHECK_EQ(errno, 4321);
	CHECK_EQ(e.count, 0);
	sm_instance_destroy(inst);
}

/*
 * A request that succeeds on the retry after inst_reclaim leaves errno as
 * it was: the first try failed (ENOMEM) while the thread's run cache held
 * the pages (signal_stress found it: a handler's successful malloc
 * changed errno).
 */
static void test_retry_errno(void)
{
	struct test_errors e = { 0 };
	struct fake_os f;
	struct sm_os_ops ops = fake_ops(&f);
	sm_instance_t *inst = small_instance(&e, &ops, MiB, 1);
	CHECK(inst != NULL);
	void *small = sm_kmalloc(inst, 16, 0); /* the thread's tcache, with its run cache */
	CHECK(small != NULL);
	void *runs[64];
	unsigned nr = 0;
	while (nr < 64 && (runs[nr] = sm_kmalloc(inst, RUN, 0)) != NULL)
		nr++;
	CHECK(nr >= 4 && nr < 64);
	CHECK((char *)runs[1] == (char *)runs[0] + RUN); /* one after the other */
	sm_kfree(runs[0]); /* into the run cache, not the node */
	sm_kfree(runs[1]);
	errno = 4321;
	void *two = sm_kmalloc(inst, 2 * RUN, 0);
	CHECK(two == runs[0]);
	CHECK_EQ(errno, 4321);
	sm_kfree(two);
	for (unsigned i = 2; i < nr; i++)
		sm_kfree(runs[i]);
	sm_kfree(small);
	CHECK_EQ(e.count, 0);
	sm_instance_destroy(inst);
}

int main(void)
{
	test_node_of(); /* first: no other node has ever existed in this process */
	test_exhaustion();
	test_growth();
	test_dirty_first();
	test_starts_empty();
	test_thisnode();
	test_os_failures();
	test_coalesce();
	test_os_errno();
	test_retry_errno();
	printf("node: ok\n");
	return 0;
}
