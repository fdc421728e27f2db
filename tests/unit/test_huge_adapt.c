/*
 * test_huge_adapt.c - the adaptive huge threshold (issue 11, page_alloc.h
 * pa_huge_threshold): at the default threshold, a request of a size whose
 * huge mapping was freed before is a page run (its pages then stay
 * resident for the next one, where a mapping was unmapped and faulted in
 * again); sizes above every freed mapping, above SM_HUGE_ADAPT_MAX, a
 * threshold set explicitly and requests confined to a node keep mappings
 * of their own.  Outcomes read from sm_stats (huge_allocations).
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "instance.h"
#include "node.h"
#include "page_alloc.h"
#include "test.h"

#define MiB ((size_t)1 << 20)

static sm_instance_t *inst;

static size_t nr_huge(void)
{
	struct sm_stats st;
	sm_stats_get(inst, &st);
	return st.huge_allocations;
}

/* Allocate @size bytes, write its first and last byte, and say whether it is a huge mapping. */
static bool is_huge(void **pp, size_t size, unsigned gfp)
{
	size_t before = nr_huge();
	unsigned char *p = sm_kmalloc(inst, size, gfp);
	CHECK(p != NULL);
	p[0] = 1;
	p[size - 1] = 2;
	*pp = p;
	return nr_huge() == before + 1;
}

static void test_default_adapts(void)
{
	struct test_errors e = { 0 };
	struct sm_options o = test_options(&e);
	CHECK_EQ(o.huge_threshold, SM_DEFAULT_HUGE_THRESHOLD);
	inst = sm_instance_create(&o);
	CHECK(inst != NULL);
	void *p, *q;
	/* Nothing freed yet: above 32 MiB is a mapping. */
	CHECK(is_huge(&p, 40 * MiB, 0));
	CHECK(is_huge(&q, 48 * MiB, 0));
	sm_kfree(p); /* learned: twice 40 MiB */
	CHECK_EQ(nr_huge(), 1);
	CHECK(!is_huge(&p, 40 * MiB, 0));       /* now a page run */
	CHECK_EQ(sm_ksize(p), 40 * MiB);
	CHECK(!is_huge(&p, 36 * MiB, 0));       /* below it too */
	CHECK(!is_huge(&p, 80 * MiB, 0));       /* and up to twice it */
	CHECK(is_huge(&p, 84 * MiB, 0));        /* above that: still a mapping */
	sm_kfree(q);                            /* 96 MiB now */
	CHECK(!is_huge(&q, 92 * MiB, 0));
	/* A request confined to a node keeps the configured threshold. */
	void *t;
	CHECK(is_huge(&t, 40 * MiB, SM_GFP_THISNODE));
	sm_kfree(t);
	/* Above SM_HUGE_ADAPT_MAX nothing is learned, and twice a size below
	   it is learned as SM_HUGE_ADAPT_MAX. */
	void *big;
	CHECK(is_huge(&big, SM_HUGE_ADAPT_MAX + 8 * MiB, 0));
	sm_kfree(big);
	CHECK(is_huge(&big, SM_HUGE_ADAPT_MAX + 8 * MiB, 0));
	sm_kfree(big);
	CHECK(is_huge(&big, SM_HUGE_ADAPT_MAX - 8 * MiB, 0));
	sm_kfree(big);
	CHECK_EQ(((struct sm_instance *)inst)->pa.huge_learned, SM_HUGE_ADAPT_MAX);
	/* A run of the learned size grows in place or moves as any run. */
	q = sm_krealloc(q, 96 * MiB, 0);
	CHECK(q != NULL);
	CHECK(!is_huge(&big, 47 * MiB, 0));
	CHECK_EQ(e.count, 0);
	sm_instance_destroy(inst);
}

/* Two runs of @each bytes side by side, written and freed: one dirty free run of twice that. */
static void resident_pair(size_t each)
{
	unsigned char *a = sm_kmalloc(inst, each, 0), *b = sm_kmalloc(inst, each, 0);
	CHECK(a && b);
	CHECK(b == a + each); /* fresh pages of node 0, one after the other */
	memset(a, 0x5a, 2 * each);
	sm_kfree(a);
	sm_kfree(b);
}

static uint64_t nr_resident(void)
{
	struct sm_stats st;
	sm_stats_get(inst, &st);
	return st.huge_resident;
}

/*
 * Above the adaptive threshold, a free run still resident serves a request
 * before a mapping is made (large.c, large_alloc): not for calloc, not for
 * a request confined to a node, not under an explicit threshold.
 */
static void test_resident_run_first(void)
{
	struct test_errors e = { 0 };
	struct sm_options o = test_options(&e);
	o.purge_delay_ms = 3600000; /* no purge while the test runs */
	inst = sm_instance_create(&o);
	CHECK(inst != NULL);
	resident_pair(30 * MiB); /* 60 MiB of dirty pages, nothing learned */
	void *p;
	CHECK(!is_huge(&p, 40 * MiB, 0));
	CHECK_EQ(nr_resident(), 1);
	CHECK(node_of(p)->kind == NODE_NORMAL && node_of(p)->id == 0);
	CHECK_EQ(*(unsigned char *)p + 0, 1);       /* is_huge wrote it */
	CHECK_EQ(((unsigned char *)p)[4096], 0x5a); /* the old pages: not faulted in again */
	CHECK_EQ(sm_ksize(p), 40 * MiB);
	sm_kfree(p); /* a run: nothing learned */
	CHECK_EQ(((struct sm_instance *)inst)->pa.huge_learned, 0);
	/* calloc and a confined request get mappings of their own. */
	CHECK(is_huge(&p, 40 * MiB, SM_GFP_ZERO));
	CHECK_EQ(((unsigned char *)p)[4096], 0);
	void *t, *u;
	CHECK(is_huge(&t, 40 * MiB, SM_GFP_THISNODE));
	/* No resident run large enough (60 MiB): a mapping. */
	CHECK(is_huge(&u, 61 * MiB, 0));
	CHECK_EQ(nr_resident(), 1);
	sm_kfree(u);
	sm_kfree(t);
	sm_kfree(p);
	CHECK_EQ(e.count, 0);
	sm_instance_destroy(inst);

	/* An explicit threshold: mappings above it, whatever is resident. */
	o.huge_threshold = 16 * MiB;
	inst = sm_instance_create(&o);
	CHECK(inst != NULL);
	resident_pair(15 * MiB);
	CHECK(is_huge(&p, 20 * MiB, 0));
	sm_kfree(p);
	CHECK_EQ(nr_resident(), 0);
	CHECK_EQ(e.count, 0);
	sm_instance_destroy(inst);
}

static void test_explicit_threshold_kept(void)
{
	struct test_errors e = { 0 };
	struct sm_options o = test_options(&e);
	o.huge_threshold = 16 * MiB;
	inst = sm_instance_create(&o);
	CHECK(inst != NULL);
	void *p;
	CHECK(is_huge(&p, 40 * MiB, 0));
	sm_kfree(p);
	CHECK(is_huge(&p, 40 * MiB, 0)); /* an explicit threshold does not adapt */
	sm_kfree(p);
	CHECK(is_huge(&p, 20 * MiB, 0));
	sm_kfree(p);
	CHECK_EQ(e.count, 0);
	sm_instance_destroy(inst);
}

int main(void)
{
	test_default_adapts();
	test_explicit_threshold_kept();
	test_resident_run_first();
	return 0;
}
