/*
 * hooks.c - the test hook (hooks.h).  NULL except in the unit tests.
 */
#include "hooks.h"

void (*sm_test_hook)(struct sm_instance *inst, enum sm_hook_point where);
