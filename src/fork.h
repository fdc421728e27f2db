/*
 * fork.h - keeping the allocator usable in the child of fork(): the
 * pthread_atfork handlers, registered by the preload shim.
 */
#ifndef SM_FORK_H
#define SM_FORK_H

#include "compiler.h"

void sm_fork_prepare(void) __hidden;
void sm_fork_parent(void) __hidden;
void sm_fork_child(void) __hidden;

#endif /* SM_FORK_H */
