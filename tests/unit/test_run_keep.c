/*
 * test_run_keep.c - a freed page run above 1 MiB stays resident for
 * SM_RUN_KEEP_DELAYS purge delays (purge.h), also once it has merged with
 * an older, smaller free run next to it (node.c, merged_stamp).
 *
 * An isolated instance with a fake clock (purge delay 100 ms) lays out
 * three page runs side by side: A (64 KiB), B (2 MiB), C (64 KiB, which
 * keeps B from the node's untouched tail).  A is freed first, into the
 * thread's run cache; 150 ms later B is freed, to its node, stamped 900 ms
 * ahead.  A purge then sends A, now old enough, back to the node, where it
 * merges with B: the merged run keeps B's stamp, so nothing is purged
 * until B is old enough, and then all of it is.  Before merged_stamp, the
 * merged run took A's age and B's 2 MiB were purged 150 ms after their
 * free.
 */
#include "test.h"
#include "fake_clock.h"

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)

static struct sm_stats stats(sm_instance_t *inst)
{
	struct sm_stats st;
	sm_stats_get(inst, &st);
	return st;
}

int main(void)
{
	struct test_errors e = { 0 };
	struct sm_options o = test_options(&e);
	o.os = &fake_os;
	o.purge_delay_ms = 100;
	sm_instance_t *inst = sm_instance_create(&o);
	CHECK(inst != NULL);

	char *a = sm_kmalloc(inst, 64 * KiB, 0);
	char *b = sm_kmalloc(inst, 2 * MiB, 0);
	char *c = sm_kmalloc(inst, 64 * KiB, 0);
	CHECK(a && b && c);
	CHECK(b == a + 64 * KiB); /* side by side: A and B merge when both are free */
	CHECK(c == b + 2 * MiB);
	memset(a, 1, 64 * KiB);
	memset(b, 2, 2 * MiB);
	memset(c, 3, 64 * KiB);

	sm_kfree(a);       /* into the run cache, stamped now */
	advance_ms(150);
	sm_kfree(b);       /* to the node, stamped 9 delays ahead */
	size_t purged0 = stats(inst).purged_bytes;

	/* A is 150 ms old: back to the node, merged with B, which is not. */
	sm_purge(inst, false);
	struct sm_stats st = stats(inst);
	CHECK_EQ(st.purged_bytes, purged0);
	CHECK(st.free_dirty_bytes >= 2 * MiB + 64 * KiB);

	/* Just short of B's ten delays: still nothing. */
	advance_ms(950);
	sm_purge(inst, false);
	CHECK_EQ(stats(inst).purged_bytes, purged0);

	/* Past them: A and B together. */
	advance_ms(100);
	sm_purge(inst, false);
	st = stats(inst);
	CHECK(st.purged_bytes >= purged0 + 2 * MiB + 64 * KiB);
	CHECK(st.free_dirty_bytes < 64 * KiB);

	sm_kfree(c);
	CHECK_EQ(e.count, 0);
	sm_instance_destroy(inst);
	printf("run keep ok\n");
	return 0;
}
