/*
 * test_ctx.c - the public allocation context (issue 12, section 1) and
 * private nodes (section 2): a context is copied and checked (every unknown
 * or internal bit, a bad node, MANAGED without a node: NULL with EINVAL,
 * nothing allocated); it takes the same request path as the other calls;
 * a private node is reached only by requests naming it with
 * SM_CTX_MANAGED_NODE (or THISNODE when it allows that), never by a plain
 * request, a preferred node, fallback or THISNODE alone; its objects,
 * however freed, go back to its own slabs and never reach a general
 * request; a request confined to it never spills.
 */
#include <errno.h>

#include "test.h"
#include "instance.h"
#include "kmem_cache.h"
#include "node.h"
#include "page.h"

#define MiB ((size_t)1 << 20)

static sm_instance_t *new_instance(struct test_errors *e, size_t node_size, unsigned max_nodes)
{
	struct sm_options o = test_options(e);
	o.node_size = node_size;
	o.max_nodes = max_nodes;
	sm_instance_t *inst = sm_instance_create(&o);
	CHECK(inst != NULL);
	return inst;
}

static int private_node(sm_instance_t *inst, unsigned extra)
{
	struct sm_node_params p = { .size = 8 * MiB, .flags = SM_NODE_PRIVATE | extra, .numa_node = -1 };
	int id = sm_node_create(inst, &p);
	CHECK(id > 0);
	return id;
}

/* Objects of @s on node @id not yet back in their slabs (handed out or cached anywhere). */
static size_t node_inuse(sm_cache_t *s, int id)
{
	return s->node[id]->inuse;
}

/* ---- section 1: the context is checked ---- */

static void expect_einval(sm_instance_t *inst, sm_cache_t *c, const struct sm_alloc_ctx *ctx)
{
	errno = 0;
	CHECK(sm_kmalloc_ctx(inst, 64, ctx) == NULL);
	CHECK_EQ(errno, EINVAL);
	errno = 0;
	CHECK(sm_kmalloc_ctx(inst, 100000, ctx) == NULL); /* page runs too */
	CHECK_EQ(errno, EINVAL);
	errno = 0;
	CHECK(sm_cache_alloc_ctx(c, ctx) == NULL);
	CHECK_EQ(errno, EINVAL);
	errno = 0;
	CHECK(sm_kmalloc_nolock_ctx(inst, 64, ctx) == NULL);
	CHECK_EQ(errno, EINVAL);
	errno = 0;
	CHECK(sm_cache_alloc_nolock_ctx(c, ctx) == NULL);
	CHECK_EQ(errno, EINVAL);
}

static void test_ctx_einval(void)
{
	struct test_errors e = { 0 };
	sm_instance_t *inst = new_instance(&e, 8 * MiB, 4);
	sm_cache_t *c = sm_cache_create(inst, "ctx", 48, 0, 0, NULL);
	CHECK(c != NULL);
	int p = private_node(inst, 0);
	struct sm_stats before;
	sm_stats_get(inst, &before);

	/* Every gfp bit that is not SM_GFP_* (internal alloc_flags among them). */
	for (unsigned b = 0; b < 32; b++) {
		if ((1u << b) & SM_GFP_ALL)
			continue;
		struct sm_alloc_ctx ctx = { .gfp = 1u << b, .node = SM_NO_NODE, .flags = 0 };
		expect_einval(inst, c, &ctx);
	}
	/* Every context bit that is not SM_CTX_*, alone and with valid ones. */
	for (unsigned b = 0; b < 32; b++) {
		if ((1u << b) & SM_CTX_ALL)
			continue;
		struct sm_alloc_ctx ctx = { .gfp = 0, .node = SM_NO_NODE, .flags = 1u << b };
		expect_einval(inst, c, &ctx);
		ctx = (struct sm_alloc_ctx){ .gfp = SM_GFP_ZERO, .node = p,
					     .flags = SM_CTX_MANAGED_NODE | (1u << b) };
		expect_einval(inst, c, &ctx);
	}
	/* Nodes that cannot exist; MANAGED without a node. */
	int bad_nodes[] = { -2, -100, SM_MAX_NODES, 1000 };
	for (unsigned i = 0; i < 4; i++) {
		struct sm_alloc_ctx ctx = { .gfp = 0, .node = bad_nodes[i], .flags = 0 };
		expect_einval(inst, c, &ctx);
	}
	struct sm_alloc_ctx managed_nowhere = { .gfp = 0, .node = SM_NO_NODE, .flags = SM_CTX_MANAGED_NODE };
	expect_einval(inst, c, &managed_nowhere);

	/* Nothing was allocated by any of them. */
	struct sm_stats after;
	sm_stats_get(inst, &after);
	CHECK_EQ(after.slab_bytes, before.slab_bytes);
	CHECK_EQ(after.large_bytes, before.large_bytes);

	/* NULL and the empty context are sm_kmalloc; a valid one works, zeroes. */
	void *a = sm_kmalloc_ctx(inst, 64, NULL);
	struct sm_alloc_ctx empty = { 0, SM_NO_NODE, 0 };
	void *b = sm_kmalloc_ctx(inst, 64, &empty);
	CHECK(a && b && a != b);
	CHECK(sm_ptr_node(a) == 0 && sm_ptr_node(b) == 0);
	memset(a, 0xaa, 64);
	sm_kfree(a);
	struct sm_alloc_ctx zero = { SM_GFP_ZERO, SM_NO_NODE, 0 };
	for (int i = 0; i < 100; i++) {
		unsigned char *z = sm_kmalloc_ctx(inst, 64, &zero);
		CHECK(z != NULL);
		for (int k = 0; k < 64; k++)
			CHECK_EQ(z[k], 0);
		memset(z, 0x55, 64);
		sm_kfree(z);
	}
	/* A context naming a general node with THISNODE: exactly that node. */
	struct sm_alloc_ctx this0 = { SM_GFP_THISNODE, 0, 0 };
	void *t = sm_cache_alloc_ctx(c, &this0);
	CHECK(t && sm_ptr_node(t) == 0);
	sm_cache_free(c, t);
	sm_kfree(b);
	CHECK_EQ(e.count, 0);
	sm_instance_destroy(inst);
}

/* ---- section 2: who reaches a private node ---- */

static void test_private_reach(void)
{
	struct test_errors e = { 0 };
	sm_instance_t *inst = new_instance(&e, 2 * MiB, 1);
	sm_cache_t *c = sm_cache_create(inst, "priv", 200, 0, 0, NULL);
	CHECK(c != NULL);
	int p = private_node(inst, 0);
	int q = private_node(inst, SM_NODE_THISNODE_OK);
	struct sm_node_status st;
	CHECK_EQ(sm_node_info(inst, p, &st), 0);
	CHECK_EQ(st.flags, SM_NODE_PRIVATE);
	CHECK_EQ(st.backing, SM_BACKING_ANON);
	CHECK_EQ(st.used, 0);

	/* Reached with MANAGED: slab objects of every size, page runs, caches, nolock. */
	struct sm_alloc_ctx mp = { 0, p, SM_CTX_MANAGED_NODE };
	size_t sizes[] = { 1, 16, 64, 200, 1000, 4096, 32768, 40000, 1 << 20 };
	void *objs[9];
	for (unsigned i = 0; i < 9; i++) {
		objs[i] = sm_kmalloc_ctx(inst, sizes[i], &mp);
		CHECK(objs[i] != NULL);
		CHECK_EQ(sm_ptr_node(objs[i]), p);
		memset(objs[i], 0x11, sizes[i]);
	}
	void *co = sm_cache_alloc_ctx(c, &mp), *no = sm_kmalloc_nolock_ctx(inst, 64, &mp);
	void *cno = sm_cache_alloc_nolock_ctx(c, &mp);
	CHECK(co && no && cno);
	CHECK(sm_ptr_node(co) == p && sm_ptr_node(no) == p && sm_ptr_node(cno) == p);
	/* Its slabs are routed: neither free()'s fast path nor obj_cache() takes them. */
	struct sm_node *pn = node_of(co);
	const struct slab *d = &pn->descs[node_page_index(pn, co)];
	CHECK_EQ(d->type, PT_SLAB_ROUTED);
	CHECK_EQ(d->fclass, 0);
	CHECK(obj_cache(co) == NULL && obj_cache_routed(co) == c);
	CHECK_EQ(sm_ksize(co), 200);
	/* Never a huge mapping (that would be general memory). */
	errno = 0;
	CHECK(sm_kmalloc_ctx(inst, (size_t)64 << 20, &mp) == NULL);
	CHECK_EQ(errno, ENOMEM);

	/* Not reached: plain calls, a preferred node, THISNODE alone, the
	   wrong node named with MANAGED. */
	for (int i = 0; i < 2000; i++) {
		void *g[6];
		g[0] = sm_kmalloc(inst, 64, 0);
		g[1] = sm_kmalloc_node(inst, 64, 0, p);
		g[2] = sm_cache_alloc_node(c, 0, p);
		g[3] = sm_kmalloc_nolock(inst, 64, 0, p);
		g[4] = sm_kmalloc_node(inst, 40000, 0, p);
		g[5] = sm_cache_alloc_nolock(c, 0, p);
		for (int k = 0; k < 6; k++) {
			CHECK(g[k] != NULL);
			CHECK_EQ(sm_ptr_node(g[k]), 0);
		}
		for (int k = 0; k < 6; k++)
			sm_kfree(g[k]);
	}
	errno = 0;
	CHECK(sm_kmalloc_node(inst, 64, SM_GFP_THISNODE, p) == NULL);
	CHECK_EQ(errno, ENOMEM);
	errno = 0;
	CHECK(sm_cache_alloc_node(c, SM_GFP_THISNODE, p) == NULL);
	CHECK_EQ(errno, ENOMEM);
	CHECK(sm_kmalloc_nolock(inst, 64, SM_GFP_THISNODE, p) == NULL);
	struct sm_alloc_ctx wrong = { 0, 0, SM_CTX_MANAGED_NODE }; /* names node 0: a general node */
	void *w = sm_kmalloc_ctx(inst, 64, &wrong);
	CHECK(w && sm_ptr_node(w) == 0);
	sm_kfree(w);
	struct sm_alloc_ctx other = { 0, q, SM_CTX_MANAGED_NODE }; /* q, not p */
	w = sm_kmalloc_ctx(inst, 64, &other);
	CHECK(w && sm_ptr_node(w) == q);
	sm_kfree(w);
	/* THISNODE_OK: THISNODE with q's id reaches q (and only q). */
	w = sm_kmalloc_node(inst, 64, SM_GFP_THISNODE, q);
	CHECK(w && sm_ptr_node(w) == q);
	sm_kfree(w);

	/* Fallback never reaches it: the general node full (max_nodes 1),
	   general requests fail although p and q have room. */
	void **gen = calloc(100000, sizeof(*gen));
	unsigned ng = 0;
	for (;;) {
		void *g = sm_kmalloc(inst, 1024, 0);
		if (!g)
			break;
		CHECK_EQ(sm_ptr_node(g), 0);
		gen[ng++] = g;
	}
	CHECK(ng > 100);
	errno = 0;
	CHECK(sm_kmalloc_node(inst, 1024, 0, p) == NULL);
	CHECK_EQ(errno, ENOMEM);
	CHECK(sm_kmalloc(inst, 40000, 0) == NULL);
	/* ... while the private node still serves its own. */
	void *still = sm_kmalloc_ctx(inst, 1024, &mp);
	CHECK(still && sm_ptr_node(still) == p);
	sm_kfree(still);
	for (unsigned i = 0; i < ng; i++)
		sm_kfree(gen[i]);
	free(gen);

	for (unsigned i = 0; i < 9; i++)
		sm_kfree(objs[i]);
	sm_cache_free(c, co);
	sm_kfree_nolock(no);
	sm_cache_free_nolock(c, cno);
	CHECK_EQ(node_inuse(c, p), 0);
	CHECK_EQ(e.count, 0);
	sm_instance_destroy(inst);
}

/* ---- section 2: freed private objects go home, whatever frees them ---- */

static void test_private_frees_go_home(void)
{
	struct test_errors e = { 0 };
	sm_instance_t *inst = new_instance(&e, 8 * MiB, 4);
	sm_cache_t *c = sm_cache_create(inst, "home", 96, 0, 0, NULL);
	CHECK(c != NULL);
	int p = private_node(inst, 0);
	struct sm_alloc_ctx mp = { 0, p, SM_CTX_MANAGED_NODE };
	struct kmem_cache *k64 = obj_cache(sm_kmalloc(inst, 64, 0)); /* the kmalloc-64 cache */
	CHECK(k64 != NULL);
	enum { N = 3000 };
	void **v = calloc(N, sizeof(*v));
	/* Allocated and freed through each free call in turn. */
	for (int round = 0; round < 5; round++) {
		for (int i = 0; i < N; i++) {
			v[i] = (i & 1) ? sm_cache_alloc_ctx(c, &mp) : sm_kmalloc_ctx(inst, 64, &mp);
			CHECK(v[i] && sm_ptr_node(v[i]) == p);
		}
		CHECK_EQ(node_inuse(c, p), N / 2);
		CHECK_EQ(node_inuse(k64, p), N / 2);
		for (int i = 0; i < N; i++) {
			bool cache = i & 1;
			switch (round) {
			case 0: sm_kfree(v[i]); break;
			case 1: if (cache) sm_cache_free(c, v[i]); else sm_kfree(v[i]); break;
			case 2: sm_kfree_nolock(v[i]); break;
			case 3: if (cache) sm_cache_free_nolock(c, v[i]); else sm_kfree_nolock(v[i]); break;
			case 4: CHECK(sm_krealloc(v[i], 0, 0) == NULL); break;
			}
		}
		/* Every one is back in its slab at once: none in any sheaf. */
		CHECK_EQ(node_inuse(c, p), 0);
		CHECK_EQ(node_inuse(k64, p), 0);
		/* General requests through this thread's sheaves get none of them. */
		for (int i = 0; i < N; i++) {
			v[i] = (i & 1) ? sm_cache_alloc(c, 0) : sm_kmalloc(inst, 64, 0);
			CHECK(v[i] && sm_ptr_node(v[i]) != p);
		}
		for (int i = 0; i < N; i++)
			sm_kfree(v[i]);
	}
	/* realloc keeps a private object in its node, however it grows. */
	char *r = sm_kmalloc_ctx(inst, 24, &mp);
	strcpy(r, "private");
	size_t steps[] = { 100, 3000, 50000, 200000, 40 };
	for (unsigned i = 0; i < 5; i++) {
		r = sm_krealloc(r, steps[i], 0);
		CHECK(r && sm_ptr_node(r) == p);
		CHECK(strcmp(r, "private") == 0);
	}
	sm_kfree(r);
	/* A double free of a private object is caught and reported. */
	void *dd = sm_kmalloc_ctx(inst, 64, &mp);
	sm_kfree(dd);
	sm_kfree(dd);
	CHECK_EQ(e.count, 1);
	CHECK(strstr(e.last, "double free") != NULL);
	CHECK_EQ(node_inuse(k64, p), 0);
	/* A confined request never grows the instance: the node fills, then ENOMEM. */
	struct sm_stats st;
	sm_stats_get(inst, &st);
	size_t nodes = st.nodes;
	unsigned got = 0;
	void **all = calloc(4096, sizeof(*all));
	for (;;) {
		void *x = sm_kmalloc_ctx(inst, 4096, &mp);
		if (!x) {
			CHECK_EQ(errno, ENOMEM);
			break;
		}
		CHECK(got < 4096);
		CHECK_EQ(sm_ptr_node(x), p);
		all[got++] = x;
	}
	CHECK(got > 1000);
	sm_stats_get(inst, &st);
	CHECK_EQ(st.nodes, nodes);
	for (unsigned i = 0; i < got; i++)
		sm_kfree(all[i]);
	free(all);
	free(v);
	sm_instance_destroy(inst);
}

/* ---- the default instance can be given a private node too ---- */

static void test_default_private(void)
{
	sm_instance_t *def = sm_default_instance();
	CHECK(def != NULL);
	struct sm_node_params prm = { .size = 4 * MiB, .flags = SM_NODE_PRIVATE, .numa_node = -1 };
	int p = sm_node_create(def, &prm);
	CHECK(p > 0);
	struct sm_alloc_ctx mp = { 0, p, SM_CTX_MANAGED_NODE };
	void *a[500];
	for (int i = 0; i < 500; i++) {
		a[i] = sm_kmalloc_ctx(def, 32, &mp);
		CHECK(a[i] && sm_ptr_node(a[i]) == p);
	}
	/* free() of a private object takes the slow path home, not the TLS sheaf. */
	for (int i = 0; i < 500; i++)
		sm_kfree(a[i]);
	CHECK_EQ(node_inuse(obj_cache_routed(sm_kmalloc_ctx(def, 32, &mp)), p), 1);
	for (int i = 0; i < 5000; i++) {
		void *g = sm_kmalloc(def, 32, 0);
		CHECK(g && sm_ptr_node(g) != p);
		a[i % 500] = g;
		if (i % 500 == 499)
			for (int k = 0; k < 500; k++)
				sm_kfree(a[k]);
	}
	/* Bad parameters. */
	struct sm_node_params bad[] = {
		{ .size = 4 * MiB, .flags = 0x100, .numa_node = -1 },
		{ .size = 4 * MiB, .flags = SM_NODE_THISNODE_OK, .numa_node = -1 },
		{ .size = 4 * MiB, .flags = SM_NODE_UNMAPPED | SM_NODE_RESERVED, .numa_node = -1 },
		{ .size = 4 * MiB, .flags = SM_NODE_RESERVED, .numa_node = -1 }, /* no region */
		{ .size = 4096, .flags = SM_NODE_PRIVATE, .numa_node = -1 },       /* too small */
		{ .size = 4 * MiB, .flags = 0, .numa_node = -2 },
	};
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		errno = 0;
		CHECK_EQ(sm_node_create(def, &bad[i]), -1);
		CHECK_EQ(errno, EINVAL);
	}
	CHECK_EQ(sm_ptr_node(&prm), -1);
	CHECK_EQ(sm_ptr_node(NULL), -1);
}

int main(void)
{
	test_ctx_einval();
	test_private_reach();
	test_private_frees_go_home();
	test_default_private();
	printf("test_ctx: ok\n");
	return 0;
}
