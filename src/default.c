/*
 * default.c - the default instance as the API meets it: sm_default_instance(),
 * which sets it up on first use from the environment (registry.c, env.c),
 * and the statistics table SLABMALLOC_STATS asks for at exit.
 *
 * A file of its own on purpose: a static archive only links the objects a
 * program needs, and every program that uses the default instance (through
 * the malloc shim, <slabmalloc/kernel.h> or sm_default_instance()) needs
 * this one, so the exit table comes with it however the library is linked.
 */
#include "registry.h"

sm_instance_t *sm_default_instance(void)
{
	if (likely(__atomic_load_n(&sm_default_ready, __ATOMIC_ACQUIRE)))
		return &sm_default_inst;
	return sm_default_instance_init(NULL);
}

/* SLABMALLOC_STATS=1: the table of the default instance, at exit. */
__attribute__((destructor)) static void default_instance_exit(void)
{
	if (__atomic_load_n(&sm_default_ready, __ATOMIC_ACQUIRE) && sm_default_env.stats)
		sm_stats_print(&sm_default_inst);
}
