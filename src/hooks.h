/*
 * hooks.h - test hooks at the points where a signal landing in the middle of
 * the allocator is most dangerous: each is reached with a lock held (or, for
 * SM_HOOK_DRAIN, in the middle of a deferred drain).  A unit test sets a
 * hook on its own instance with sm_test_hook_set and raises a signal from
 * it, so every such point is exercised deterministically
 * (tests/unit/test_nolock.c).  Two more points are for races rather than
 * signals, both in the double-free check: SM_HOOK_VIEW_READ, between the
 * loads of its racy read of a thread's views, where a test makes that
 * thread change them (tests/unit/test_threads.c, view_turns_while_read),
 * and SM_HOOK_DF_LOOK, between its look at the barns and its look at the
 * threads' sheaves, where a test makes a thread send a sheaf to the barn
 * (sheaf_moves_while_looked).
 *
 * A hook belongs to one instance: it is called only for that instance's
 * paths, never for another's, and sm_instance_destroy removes it.  The
 * hooks sit in one small table keyed by instance (hooks.c) rather than in
 * struct sm_instance because the layers that reach the hook points (node,
 * slab, sheaf, deferred) see the instance only as an opaque pointer.  With
 * no hook set anywhere, each point costs a load and a branch on a slow
 * path; the fast paths have none.
 */
#ifndef SM_HOOKS_H
#define SM_HOOKS_H

#include <stdbool.h>

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
	SM_HOOK_VIEW_READ,      /* between the loads of another thread's
	                           sheaf view, read without its owner by the
	                           double-free check (tcache.c, view_holds) */
	SM_HOOK_DF_LOOK,        /* inst->lock held: the double-free check has
	                           looked at the slab and the barns, not yet
	                           at the other threads' sheaves
	                           (double_free.c) */
	SM_NR_HOOKS
};

typedef void (*sm_hook_fn)(struct sm_instance *inst, enum sm_hook_point where);

/* Instances with a hook now (relaxed atomic): 0 outside the unit tests. */
extern unsigned sm_hooks_armed __hidden;

/*
 * Call @fn at every hook point reached on a path of @inst (NULL: no hook
 * for @inst any more).  Replaces @inst's previous hook.  Returns false
 * when SM_MAX_INSTANCES instances have hooks already.  Calls for
 * different instances may run at once; not to be called while a path of
 * @inst may be at a hook point, or for @inst from two threads at once.
 */
bool sm_test_hook_set(struct sm_instance *inst, sm_hook_fn fn) __hidden;

/* Call @inst's hook, if it has one (the slow half of SM_HOOK). */
void sm_hook_call(struct sm_instance *inst, enum sm_hook_point where) __hidden __cold;

#define SM_HOOK(inst, where)                                                    \
	do {                                                                    \
		if (unlikely(__atomic_load_n(&sm_hooks_armed, __ATOMIC_RELAXED))) \
			sm_hook_call((inst), (where));                          \
	} while (0)

#endif /* SM_HOOKS_H */
