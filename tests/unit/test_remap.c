/*
 * test_remap.c - realloc of a huge mapping that outgrows its reservation
 * moves its pages with the OS's remap (mremap) instead of copying them
 * (issue 11 item 2): the data is preserved, the pages added read as zero,
 * the old address no longer resolves (it is foreign: a free of it would be
 * reported, through the default instance, as a double free of a huge
 * mapping), the new one frees cleanly; an OS without remap, or whose remap fails, gets a
 * copy instead.
 */
#define _GNU_SOURCE
#include <stdbool.h>
#include <stdint.h>
#include <sys/mman.h>

#include "test.h"

#define MiB ((size_t)1 << 20)

static int remaps, remap_fail;

static int counting_remap(void *old, size_t old_size, void *new, size_t new_size, void *arg)
{
	(void)arg;
	remaps++;
	if (remap_fail)
		return -1;
	void *p = mremap(old, old_size, new_size, MREMAP_MAYMOVE | MREMAP_FIXED, new);
	return p == new ? 0 : -1;
}

static const struct sm_os_ops counting_os = { .remap = counting_remap };
static const struct sm_os_ops no_remap_os = { .now_ns = NULL }; /* everything real but remap */

static void fill(unsigned char *p, size_t size)
{
	for (size_t i = 0; i < size; i += 4096)
		p[i] = (unsigned char)(i >> 12 | 1);
	p[size - 1] = 0x77;
}

static void check_fill(const unsigned char *p, size_t size)
{
	for (size_t i = 0; i < size; i += 4096)
		CHECK(p[i] == (unsigned char)(i >> 12 | 1));
	CHECK(p[size - 1] == 0x77);
}

/* Grow a 40 MiB huge mapping (a 64 MiB reservation) to 100 MiB. */
static void grow(const struct sm_os_ops *os)
{
	struct test_errors e = { 0 };
	struct sm_options o = test_options(&e);
	o.os = os;
	sm_instance_t *inst = sm_instance_create(&o);
	CHECK(inst != NULL);
	unsigned char *p = sm_kmalloc(inst, 40 * MiB, 0);
	CHECK(p != NULL);
	fill(p, 40 * MiB);
	/* Within the reservation: in place, no remap. */
	int r0 = remaps;
	unsigned char *p2 = sm_krealloc(p, 50 * MiB, 0);
	CHECK(p2 == p);
	CHECK_EQ(remaps, r0);
	unsigned char *q = sm_krealloc(p, 100 * MiB, SM_GFP_ZERO);
	CHECK(q != NULL && q != p);
	check_fill(q, 40 * MiB);
	for (size_t i = 50 * MiB; i < 100 * MiB; i += 4096)
		CHECK(q[i] == 0);
	CHECK(q[100 * MiB - 1] == 0);
	CHECK(sm_ksize(q) >= 100 * MiB);
	/* The old address is gone: it resolves to no instance. */
	CHECK(sm_ptr_instance(p) == NULL);
	CHECK(sm_ptr_instance(q) == inst);
	struct sm_stats st;
	sm_stats_get(inst, &st);
	CHECK_EQ(st.huge_allocations, 1);
	CHECK_EQ(st.huge_bytes, 100 * MiB);
	/* Written over its whole new size, then freed cleanly. */
	memset(q, 0x11, 100 * MiB);
	sm_kfree(q);
	CHECK_EQ(e.count, 0);
	sm_stats_get(inst, &st);
	CHECK_EQ(st.huge_allocations, 0);
	CHECK_EQ(st.huge_bytes, 0);
	sm_instance_destroy(inst);
}

int main(void)
{
	/* The real OS (os NULL): mremap. */
	grow(NULL);
	printf("real OS ok\n");
	/* An OS of our own with remap: called once, for the growth beyond the reservation. */
	remaps = 0;
	grow(&counting_os);
	CHECK_EQ(remaps, 1);
	printf("remap ok\n");
	/* Its remap failing: copied instead. */
	remaps = 0;
	remap_fail = 1;
	grow(&counting_os);
	CHECK_EQ(remaps, 1);
	remap_fail = 0;
	printf("remap failing ok\n");
	/* An OS of our own without remap: copied. */
	remaps = 0;
	grow(&no_remap_os);
	CHECK_EQ(remaps, 0);
	printf("no remap ok\n");
	return 0;
}
