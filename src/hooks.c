/*
 * hooks.c - the test hooks (hooks.h): one entry per instance that has a
 * hook, found by the instance's address.  Empty except in the unit tests.
 */
#include <stdbool.h>

#include "hooks.h"
#include "slabmalloc.h"

unsigned sm_hooks_armed;

/* inst NULL: a free entry.  Both fields are accessed with atomics. */
static struct {
	struct sm_instance *inst;
	sm_hook_fn fn;
} hooks[SM_MAX_INSTANCES];

bool sm_test_hook_set(struct sm_instance *inst, sm_hook_fn fn)
{
	if (!inst)
		return false;
	for (unsigned i = 0; i < SM_MAX_INSTANCES; i++) {
		if (__atomic_load_n(&hooks[i].inst, __ATOMIC_ACQUIRE) != inst)
			continue;
		if (fn) {
			__atomic_store_n(&hooks[i].fn, fn, __ATOMIC_RELEASE);
		} else {
			__atomic_store_n(&hooks[i].fn, NULL, __ATOMIC_RELEASE);
			__atomic_store_n(&hooks[i].inst, NULL, __ATOMIC_RELEASE);
			__atomic_fetch_sub(&sm_hooks_armed, 1, __ATOMIC_RELAXED);
		}
		return true;
	}
	if (!fn)
		return true;
	/* A free entry, claimed by compare-and-swap (another instance's set may race). */
	for (unsigned i = 0; i < SM_MAX_INSTANCES; i++) {
		struct sm_instance *none = NULL;
		if (!__atomic_compare_exchange_n(&hooks[i].inst, &none, inst, false, __ATOMIC_ACQ_REL,
						 __ATOMIC_RELAXED))
			continue;
		__atomic_store_n(&hooks[i].fn, fn, __ATOMIC_RELEASE);
		__atomic_fetch_add(&sm_hooks_armed, 1, __ATOMIC_RELAXED);
		return true;
	}
	return false;
}

void sm_hook_call(struct sm_instance *inst, enum sm_hook_point where)
{
	for (unsigned i = 0; i < SM_MAX_INSTANCES; i++) {
		if (__atomic_load_n(&hooks[i].inst, __ATOMIC_ACQUIRE) != inst)
			continue;
		sm_hook_fn fn = __atomic_load_n(&hooks[i].fn, __ATOMIC_ACQUIRE);
		if (fn)
			fn(inst, where);
		return;
	}
}
