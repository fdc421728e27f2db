/*
 * hooks.h - test hooks at the points where a signal landing in the middle of
 * the allocator is most dangerous: each is reached with a lock held (or, for
 * SM_HOOK_DRAIN, in the middle of a deferred drain).  The unit tests set
 * sm_test_hook and raise a signal from it, so every such point is exercised
 * deterministically (tests/unit/test_nolock.c).  Unset, each hook costs a
 * load and a branch on a slow path; the fast paths have none.
 */
#ifndef SM_HOOKS_H
#define SM_HOOKS_H

#include "compiler.h"

struct sm_instance;

enum sm_hook_point {
	SM_HOOK_BARN,           /* barn.lock held: a sheaf exchange */
	SM_HOOK_REFILL,         /* list_lock held: objects taken out of slabs */
	SM_HOOK_FLUSH,          /* list_lock held: objects put back into slabs */
	SM_HOOK_NODE_PAGES,     /* node->lock held: pages for a slab or a run */
	SM_HOOK_GROW,           /* inst->lock held: a new node being added */
	SM_HOOK_PURGE,          /* purge_lock held, inside a purge */
	SM_HOOK_DRAIN,          /* drain_lock held, inside a deferred drain */
	SM_NR_HOOKS
};

extern void (*sm_test_hook)(struct sm_instance *inst, enum sm_hook_point where) __hidden;

#define SM_HOOK(inst, where)                                    \
	do {                                                    \
		if (unlikely(sm_test_hook))                     \
			sm_test_hook((inst), (where));          \
	} while (0)

#endif /* SM_HOOKS_H */
