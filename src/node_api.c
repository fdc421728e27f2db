/*
 * node_api.c - the public node calls: sm_node_create (a node of its own
 * kind and backing, checked here and made by the page allocator),
 * sm_ptr_node and sm_node_info.  Which request may use which node is
 * page_alloc.c's (node_allows); where a routed node's objects go when
 * freed is free.c's.  docs/nodes.md describes the model.
 */
#include <errno.h>

#include "instance.h"
#include "os.h"

#define NODE_FLAGS_ALL (SM_NODE_PRIVATE | SM_NODE_THISNODE_OK | SM_NODE_UNMAPPED | SM_NODE_RESERVED)
#define NODE_MIN_SIZE ((size_t)1 << 20)

/* Whether @p asks for a node that can exist (errno EINVAL otherwise). */
static bool params_valid(const struct sm_node_params *p)
{
	unsigned f = p->flags;
	if ((f & ~NODE_FLAGS_ALL) || ((f & SM_NODE_THISNODE_OK) && !(f & SM_NODE_PRIVATE)) ||
	    ((f & SM_NODE_UNMAPPED) && ((f & SM_NODE_RESERVED) || p->os)) || p->numa_node < -1 ||
	    p->numa_node >= 64)
		return false;
	if (f & SM_NODE_RESERVED)
		return p->region && !((uintptr_t)p->region & (SM_PAGE_SIZE - 1)) && !p->os &&
		       p->size >= SM_PAGE_SIZE && p->numa_node == -1;
	return !p->region && (p->size == 0 || p->size >= NODE_MIN_SIZE);
}

int sm_node_create(sm_instance_t *inst, const struct sm_node_params *p)
{
	if (!inst || !p || !params_valid(p)) {
		errno = EINVAL;
		return -1;
	}
	struct node_spec spec = { .flags = p->flags, .numa = p->numa_node, .backing = SM_BACKING_ANON,
				  .region = p->region };
	struct sm_os_ops os;
	uint32_t gen = 0;
	int backing;
	size_t size = p->size ? p->size : inst->opts.node_size;
	if (p->flags & SM_NODE_UNMAPPED) {
		backing = os_unmapped_ops(&os, node_data_offset(size), &gen);
		if (backing < 0) {
			errno = ENOMEM;
			return -1;
		}
		spec.backing = (uint8_t)backing;
	} else {
		os_ops_inherit(&os, p->os, &inst->os);
	}
	/* The node copies @os into its header: this frame's copy may go. */
	struct node_origin o = { .inst = inst, .os = &os, .err = &inst->err };
	if (p->flags & SM_NODE_RESERVED)
		o.os = &inst->os; /* its metadata; the region itself is never mapped by us */
	int id = pa_add_node(&inst->pa, &o, size, &spec);
	if (id < 0 && (p->flags & SM_NODE_UNMAPPED)) {
		int err = errno;
		os_unmapped_discard(&os, gen);
		errno = err;
	}
	return id;
}

int sm_ptr_node(const void *p)
{
	struct sm_node *n = node_owning(p); /* a region's granules hold foreign memory too */
	if (!n || n->kind == NODE_HUGE)
		return -1;
	return n->id;
}

int sm_node_info(sm_instance_t *inst, int node, struct sm_node_status *info)
{
	if (!inst || !info || node < 0 || (unsigned)node >= pa_nr_nodes(&inst->pa)) {
		errno = EINVAL;
		return -1;
	}
	struct sm_node *n = pa_node(&inst->pa, (unsigned)node);
	info->flags = n->flags;
	info->numa_node = n->numa;
	info->backing = (enum sm_node_backing)n->backing;
	info->size = (size_t)n->npages << SM_PAGE_SHIFT;
	info->used = (size_t)READ_ONCE(n->used_pages) << SM_PAGE_SHIFT;
	return 0;
}
