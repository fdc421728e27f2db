/*
 * test_flush_runs.c - the bulk flush (slab.h slab_push_run, kmem_cache.c
 * slab_put_objects) and the refill loop (slab_take): a flush pushes each
 * run of one slab's objects without looking each one up, so a run must end
 * exactly at the slab's last byte (neighbouring slabs are adjacent), the
 * double frees a slab can see are still reported inside a run, and every
 * object pushed comes back out of the freelist once.  On an isolated
 * instance with a clock that never moves.
 */
#include "test.h"
#include "instance.h"
#include "kmem_cache.h"
#include "node.h"
#include "slab.h"

static uint64_t frozen_clock(void *arg)
{
	(void)arg;
	return 1000;
}
static const struct sm_os_ops frozen_os = { .now_ns = frozen_clock };

enum { PER = 64, SLABS = 3 };

/* Empty slabs are kept (slab_max_empty large): nothing leaves the cache. */
static sm_instance_t *new_instance(struct test_errors *e)
{
	struct sm_options o = test_options(e);
	o.os = &frozen_os;
	o.slab_max_empty = 64;
	sm_instance_t *inst = sm_instance_create(&o);
	CHECK(inst != NULL);
	return inst;
}

static struct slab *slab_of(const void *p)
{
	struct sm_node *n = node_of(p);
	return &n->descs[n->descs[node_page_index(n, p)].head];
}

static int cmp_ptr(const void *a, const void *b)
{
	uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
	return x < y ? -1 : x > y;
}

/* Three adjacent one-page slabs of 64 objects, all out; obj[i] in address order. */
static void fill(sm_cache_t *s, void *obj[SLABS][PER], struct slab *d[SLABS])
{
	struct slab_alloc_context ctx = SLAB_ALLOC_CTX(64, SLAB_ALLOC_DEFAULT, SM_NO_NODE);
	for (unsigned i = 0; i < SLABS; i++) {
		CHECK_EQ(slab_get_objects(s, &ctx, obj[i], PER), PER);
		qsort(obj[i], PER, sizeof(void *), cmp_ptr);
		d[i] = slab_of(obj[i][0]);
		CHECK(slab_of(obj[i][PER - 1]) == d[i]);
	}
	/* Fresh pages from the node's bump, one after the other: the last
	   object of one slab ends where the next slab's first begins. */
	CHECK((char *)obj[0][PER - 1] + 64 == (char *)obj[1][0]);
	CHECK((char *)obj[1][PER - 1] + 64 == (char *)obj[2][0]);
}

/* Runs of several slabs, back to back and interleaved, split at the slab's edge. */
static void test_runs_split_at_slab_edge(void)
{
	struct test_errors e = { 0 };
	sm_instance_t *inst = new_instance(&e);
	sm_cache_t *s = sm_cache_create(inst, "runs-64", 64, 0, 0, NULL);
	CHECK(s != NULL);
	CHECK_EQ(s->objects, PER);
	struct kmem_cache_node *kcn = s->node[0];
	void *obj[SLABS][PER];
	struct slab *d[SLABS];
	fill(s, obj, d);
	CHECK_EQ(kcn->inuse, SLABS * PER);

	/* The last 10 of slab 0 then the first 6 of slab 1 (contiguous in
	   memory: one range test must split them), 3 of slab 2, 4 more of
	   slab 0, the last of slab 2, the first of slab 0. */
	void *batch[32];
	unsigned n = 0;
	for (unsigned j = PER - 10; j < PER; j++)
		batch[n++] = obj[0][j];
	for (unsigned j = 0; j < 6; j++)
		batch[n++] = obj[1][j];
	for (unsigned j = 10; j < 13; j++)
		batch[n++] = obj[2][j];
	for (unsigned j = 20; j < 24; j++)
		batch[n++] = obj[0][j];
	batch[n++] = obj[2][PER - 1];
	batch[n++] = obj[0][0];
	CHECK_EQ(slab_put_objects(s, batch, n, false), n);
	CHECK_EQ(e.count, 0);
	CHECK_EQ(d[0]->inuse, PER - 15);
	CHECK_EQ(d[1]->inuse, PER - 6);
	CHECK_EQ(d[2]->inuse, PER - 4);
	CHECK_EQ(kcn->inuse, SLABS * PER - n);
	CHECK_EQ(kcn->nr_partial, 3);
	struct sm_node *node = node_of(obj[0][0]);
	for (unsigned i = 0; i < n; i++)
		CHECK(slab_on_freelist(s, node, slab_of(batch[i]), batch[i]));
	CHECK(!slab_on_freelist(s, node, d[0], obj[0][1]));
	CHECK(!slab_on_freelist(s, node, d[1], obj[1][6]));

	/* Every object pushed comes back once, from the freelists (the links
	   decode, and none is taken as corrupted); no untouched tail is left. */
	struct slab_alloc_context ctx = SLAB_ALLOC_CTX(64, SLAB_ALLOC_DEFAULT, SM_NO_NODE);
	void *back[32];
	CHECK_EQ(slab_get_objects(s, &ctx, back, n), n);
	CHECK_EQ(e.count, 0);
	qsort(back, n, sizeof(void *), cmp_ptr);
	qsort(batch, n, sizeof(void *), cmp_ptr);
	for (unsigned i = 0; i < n; i++)
		CHECK(back[i] == batch[i]);
	for (unsigned i = 0; i < SLABS; i++)
		CHECK_EQ(d[i]->inuse, PER);
	CHECK_EQ(kcn->nr_partial, 0);

	/* All of them back in one call, in address order (three runs of 64):
	   three empty slabs, kept. */
	CHECK_EQ(slab_put_objects(s, &obj[0][0], SLABS * PER, false), SLABS * PER);
	CHECK_EQ(kcn->inuse, 0);
	CHECK_EQ(kcn->nr_empty, SLABS);
	CHECK_EQ(kcn->nr_slabs, SLABS);
	CHECK_EQ(e.count, 0);
	sm_instance_destroy(inst);
}

/* The double frees a slab can see are reported inside a run too, and dropped. */
static void test_double_free_in_run(void)
{
	struct test_errors e = { 0 };
	sm_instance_t *inst = new_instance(&e);
	sm_cache_t *s = sm_cache_create(inst, "dup-64", 64, 0, 0, NULL);
	CHECK(s != NULL);
	struct kmem_cache_node *kcn = s->node[0];
	void *obj[SLABS][PER];
	struct slab *d[SLABS];
	fill(s, obj, d);

	/* The same object twice in a row: the second finds it first on the
	   freelist.  The run goes on after it. */
	void *batch[] = { obj[0][3], obj[0][4], obj[0][4], obj[0][5] };
	CHECK_EQ(slab_put_objects(s, batch, 4, false), 4); /* reported ones count as handled */
	CHECK_EQ(e.count, 1);
	CHECK(strstr(e.last, "double free") != NULL);
	CHECK(strstr(e.last, "dup-64") != NULL);
	CHECK_EQ(d[0]->inuse, PER - 3);
	CHECK_EQ(kcn->inuse, SLABS * PER - 3);

	/* A slab with nothing out: every object of a run into it is refused. */
	CHECK_EQ(slab_put_objects(s, obj[1], PER, false), PER);
	CHECK_EQ(e.count, 1);
	CHECK_EQ(d[1]->inuse, 0);
	void *again[] = { obj[1][7], obj[1][8] };
	CHECK_EQ(slab_put_objects(s, again, 2, false), 2);
	CHECK_EQ(e.count, 3);
	CHECK_EQ(d[1]->inuse, 0);
	CHECK_EQ(kcn->inuse, SLABS * PER - 3 - PER);
	sm_instance_destroy(inst);
}

/* A link overwritten in a free object: the refill reports it and stops following the list. */
static void test_corrupted_link(void)
{
	struct test_errors e = { 0 };
	sm_instance_t *inst = new_instance(&e);
	sm_cache_t *s = sm_cache_create(inst, "bad-64", 64, 0, 0, NULL);
	CHECK(s != NULL);
	void *obj[SLABS][PER];
	struct slab *d[SLABS];
	fill(s, obj, d);
	/* Freelist: 2 -> 1 -> 0.  Object 2's link is overwritten with a
	   pointer into another slab, with the right tag. */
	void *batch[] = { obj[0][0], obj[0][1], obj[0][2] };
	CHECK_EQ(slab_put_objects(s, batch, 3, false), 3);
	uintptr_t *w = obj[0][2];
	*w = (s->free_key & ~SM_LINK_MASK) | ((uintptr_t)obj[1][5] & SM_LINK_MASK);
	struct slab_alloc_context ctx = SLAB_ALLOC_CTX(64, SLAB_ALLOC_DEFAULT, SM_NO_NODE);
	void *back[3];
	CHECK_EQ(slab_get_objects(s, &ctx, back, 1), 1);
	CHECK(back[0] == obj[0][2]);
	CHECK_EQ(e.count, 1);
	CHECK(strstr(e.last, "corrupted freelist in cache bad-64") != NULL);
	CHECK_EQ(d[0]->freelist, 0); /* the rest of the list is dropped */
	sm_instance_destroy(inst);
}

int main(void)
{
	test_runs_split_at_slab_edge();
	test_double_free_in_run();
	test_corrupted_link();
	printf("test_flush_runs: ok\n");
	return 0;
}
