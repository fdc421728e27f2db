/*
 * fake_clock.h - a clock the test drives, for instances whose purge and
 * decay timing a test checks: pass fake_os as the instance's os ops (only
 * now_ns is set; the rest default) and move time with advance_ms().  One
 * copy per test program; starts at 1000 s, far from 0.
 */
#ifndef SM_TEST_FAKE_CLOCK_H
#define SM_TEST_FAKE_CLOCK_H

#include <stdint.h>

#include "slabmalloc.h"

#define MS 1000000ull

static uint64_t fake_now = 1000000 * MS;

static uint64_t fake_now_ns(void *arg)
{
	(void)arg;
	return __atomic_load_n(&fake_now, __ATOMIC_RELAXED);
}

static inline void advance_ms(uint64_t ms)
{
	__atomic_fetch_add(&fake_now, ms * MS, __ATOMIC_RELAXED);
}

static const struct sm_os_ops fake_os = { .now_ns = fake_now_ns };

#endif /* SM_TEST_FAKE_CLOCK_H */
