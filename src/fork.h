/*
 * fork.h - the allocator in the child of fork().  No allocator lock is held
 * across fork() (nothing is done before it or in the parent); the child
 * repairs or abandons what threads that did not survive were changing
 * (fork.c, docs/architecture.md "fork").  Registered with pthread_atfork
 * when the first instance is set up.
 */
#ifndef SM_FORK_H
#define SM_FORK_H

#include "compiler.h"

void sm_fork_child(void) __hidden;

#endif /* SM_FORK_H */
