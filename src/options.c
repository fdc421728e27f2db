/*
 * options.c - the defaults of struct sm_options and their validation.
 * The environment (SLABMALLOC_*) is read by env.c when the default instance
 * is set up (registry.c), not here.
 */
#include "compiler.h"
#include "options.h"

void sm_options_init(struct sm_options *o)
{
	*o = (struct sm_options){
		.node_size = SM_DEFAULT_NODE_SIZE,
		.max_nodes = SM_MAX_NODES,
		.purge_delay_ms = SM_DEFAULT_PURGE_DELAY_MS,
		.sheaf_capacity = 0,
		.barn_max_full = 8,
		.barn_max_empty = 8,
		.barn_bytes = (size_t)256 << 10,
		.barn_grow_bytes = (size_t)4 << 20,
		.slab_max_empty = 2,
		.huge_threshold = SM_DEFAULT_HUGE_THRESHOLD,
		.helper_thread = true,
		.helper_idle_ms = 2000,
	};
}

bool options_valid(const struct sm_options *o)
{
	return o->node_size >= SM_MIN_NODE_SIZE && o->node_size <= SM_MAX_NODE_SIZE &&
	       o->max_nodes >= 1 && o->max_nodes <= SM_MAX_NODES &&
	       o->sheaf_capacity <= SM_MAX_SHEAF_CAPACITY &&
	       o->barn_max_full <= 1024 && o->barn_max_empty <= 1024 &&
	       o->barn_bytes <= ((size_t)1 << 30) && o->barn_grow_bytes <= ((size_t)1 << 30) &&
	       o->huge_threshold >= SM_KMALLOC_MAX_CACHE_SIZE &&
	       o->huge_threshold <= SM_MAX_HUGE_THRESHOLD &&
	       o->helper_idle_ms <= 3600000 &&
	       !(o->debug & ~SM_CACHE_DEBUG_ALL);
}
