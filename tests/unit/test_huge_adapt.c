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
	sm_kfree(p); /* learned: 40 MiB */
	CHECK_EQ(nr_huge(), 1);
	CHECK(!is_huge(&p, 40 * MiB, 0));       /* now a page run */
	CHECK_EQ(sm_ksize(p), 40 * MiB);
	CHECK(!is_huge(&p, 36 * MiB, 0));        /* below it too */
	CHECK(is_huge(&p, 44 * MiB, 0));        /* above it: still a mapping */
	sm_kfree(q);                            /* learned: 48 MiB */
	CHECK(!is_huge(&q, 46 * MiB, 0));
	/* A request confined to a node keeps the configured threshold. */
	void *t;
	CHECK(is_huge(&t, 40 * MiB, SM_GFP_THISNODE));
	sm_kfree(t);
	/* Above SM_HUGE_ADAPT_MAX nothing is learned. */
	void *big;
	CHECK(is_huge(&big, SM_HUGE_ADAPT_MAX + 8 * MiB, 0));
	sm_kfree(big);
	CHECK(is_huge(&big, SM_HUGE_ADAPT_MAX + 8 * MiB, 0));
	sm_kfree(big);
	/* A run of the learned size grows in place or moves as any run. */
	q = sm_krealloc(q, 48 * MiB, 0);
	CHECK(q != NULL);
	CHECK(!is_huge(&big, 47 * MiB, 0));
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
	return 0;
}
