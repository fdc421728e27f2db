/*
 * instance.c - instances: the registry of live instances, creating and
 * destroying them, the default instance, the node order of a request, growing
 * an instance by a node, and the delayed purge.
 */
#include <errno.h>
#include <string.h>

#include "instance.h"
#include "options.h"
#include "os.h"
#include "printk.h"
#include "sheaf.h"
#include "slab.h"
#include "hooks.h"
#include "deferred.h"

sm_lock_t sm_registry_lock = SM_LOCK_INIT;
void (*sm_test_hook)(struct sm_instance *inst, enum sm_hook_point where);
static struct {
	struct sm_instance *inst;
	uint64_t gen;
} registry[SM_MAX_INSTANCES];
static uint64_t next_gen = 1;

struct sm_instance sm_default_inst;
uint8_t sm_default_ready;
static sm_lock_t default_init_lock = SM_LOCK_INIT;

struct sm_instance *registry_lookup_locked(unsigned slot, uint64_t gen)
{
	return registry[slot].gen == gen ? registry[slot].inst : NULL;
}

struct sm_instance *registry_slot(unsigned slot)
{
	return registry[slot].inst;
}

static int registry_add(struct sm_instance *inst, bool is_default)
{
	sm_lock(&sm_registry_lock);
	unsigned slot = 0;
	if (!is_default) {
		for (slot = 1; slot < SM_MAX_INSTANCES && registry[slot].inst; slot++)
			;
		if (slot == SM_MAX_INSTANCES) {
			sm_unlock(&sm_registry_lock);
			return -EAGAIN;
		}
	}
	inst->slot = slot;
	inst->gen = next_gen++;
	registry[slot].inst = inst;
	registry[slot].gen = inst->gen;
	sm_unlock(&sm_registry_lock);
	return 0;
}

static int instance_init(struct sm_instance *inst, const struct sm_options *o, bool is_default)
{
	tcache_init_once();
	inst->opts = *o;
	os_ops_complete(&inst->os, o->os);
	inst->is_default = is_default;
	sm_lock_init(&inst->lock);
	sm_lock_init(&inst->purge_lock);
	INIT_LIST_HEAD(&inst->caches);
	INIT_LIST_HEAD(&inst->tcaches);
	INIT_LIST_HEAD(&inst->huge_list);
	for (unsigned i = 0; i < SM_NR_KMALLOC; i++) {
		struct kmem_cache *s = &inst->kmalloc_caches[i];
		char name[32];
		sm_snprintf(name, sizeof(name), "kmalloc-%zu", kmalloc_class_size(i));
		kmem_cache_init(s, inst, name, kmalloc_class_size(i), 0, 0, NULL);
		s->is_kmalloc = true;
		s->id = i;
		inst->cache_by_id[i] = s;
		list_add_tail(&s->list, &inst->caches);
	}
	struct sm_node *n = node_create(inst, o->node_size, 0);
	if (!n)
		return -ENOMEM;
	inst->nodes[0] = n;
	inst->nr_nodes = 1;
	inst->next_purge = inst_now(inst) + (uint64_t)o->purge_delay_ms * 1000000u;
	sm_lock_init(&inst->deferred.drain_lock);
	int err = registry_add(inst, is_default);
	if (err) {
		node_destroy(n);
		return err;
	}
	for (unsigned i = 0; i < SM_NR_KMALLOC; i++) {
		inst->kmalloc_caches[i].inst_slot = inst->slot;
		inst->kmalloc_caches[i].inst_gen = inst->gen;
	}
	return 0;
}

sm_instance_t *sm_instance_create(const struct sm_options *o)
{
	if (sm_in_allocator()) {
		errno = EDEADLK; /* from a signal handler: see docs/signal-safety.md */
		return NULL;
	}
	struct sm_options def;
	if (!o) {
		sm_options_init(&def);
		o = &def;
	}
	if (!options_valid(o)) {
		errno = EINVAL;
		return NULL;
	}
	size_t size = ALIGN_UP(sizeof(struct sm_instance), SM_PAGE_SIZE);
	struct sm_instance *inst = os_map_rw(size);
	if (!inst) {
		errno = ENOMEM;
		return NULL;
	}
	inst->map_size = size;
	bool nested = sm_enter();
	int err = instance_init(inst, o, false);
	sm_leave(nested);
	if (err) {
		os_unmap(inst, size);
		errno = -err;
		return NULL;
	}
	return inst;
}

void sm_instance_destroy(sm_instance_t *inst)
{
	if (!inst || inst->is_default || sm_in_allocator())
		return;
	/* Its helper goes first: it must not be inside the instance below. */
	helper_stop(inst);
	/* After this no exiting thread flushes into the instance. */
	bool nested = sm_enter();
	sm_lock(&sm_registry_lock);
	registry[inst->slot].inst = NULL;
	registry[inst->slot].gen = 0;
	sm_unlock(&sm_registry_lock);
	sm_leave(nested);

	struct list_head *pos, *tmp;
	list_for_each_safe(pos, tmp, &inst->huge_list)
		node_destroy(list_entry(pos, struct sm_node, huge_link));
	for (unsigned i = 0; i < inst->nr_nodes; i++)
		node_destroy(inst->nodes[i]);
	os_unmap(inst, inst->map_size);
}

/* Set up the default instance with @o (NULL: defaults); no-op once it exists. */
sm_instance_t *sm_default_instance_init(const struct sm_options *o)
{
	bool nested = sm_enter();
	if (nested) {
		/* A signal handler interrupted the set-up: it cannot wait for it. */
		sm_leave(nested);
		return __atomic_load_n(&sm_default_ready, __ATOMIC_ACQUIRE) ? &sm_default_inst : NULL;
	}
	sm_lock(&default_init_lock);
	if (!__atomic_load_n(&sm_default_ready, __ATOMIC_ACQUIRE)) {
		struct sm_options def;
		if (!o || !options_valid(o)) {
			sm_options_init(&def);
			o = &def;
		}
		if (instance_init(&sm_default_inst, o, true) != 0) {
			sm_printk("slabmalloc: cannot reserve the first node (%zu bytes)\n", o->node_size);
			__builtin_trap();
		}
		__atomic_store_n(&sm_default_ready, 1, __ATOMIC_RELEASE);
	}
	sm_unlock(&default_init_lock);
	sm_leave(nested);
	return &sm_default_inst;
}

sm_instance_t *sm_default_instance(void)
{
	if (likely(__atomic_load_n(&sm_default_ready, __ATOMIC_ACQUIRE)))
		return &sm_default_inst;
	return sm_default_instance_init(NULL);
}

/* ---- nodes ---- */

unsigned inst_node_order(struct sm_instance *inst, const struct slab_alloc_context *ctx, int *ids)
{
	unsigned nr = inst_nr_nodes(inst), cnt = 0;
	int want = ctx->node;
	if (want >= 0 && (unsigned)want < nr)
		ids[cnt++] = want;
	else if (ctx->alloc_flags & SLAB_ALLOC_THISNODE)
		return 0; /* the node asked for does not exist */
	if (ctx->alloc_flags & SLAB_ALLOC_THISNODE)
		return cnt;
	for (unsigned i = 0; i < nr; i++)
		if ((int)i != want && inst_node(inst, i)->kind == NODE_NORMAL)
			ids[cnt++] = (int)i;
	return cnt;
}

int inst_grow(struct sm_instance *inst, const struct slab_alloc_context *ctx, unsigned seen)
{
	if (!sm_lock_ctx(&inst->lock, ctx->alloc_flags & SLAB_ALLOC_TRYLOCK))
		return -1;
	SM_HOOK(inst, SM_HOOK_GROW);
	unsigned nr = inst->nr_nodes;
	int id = -1;
	if (nr != seen) {
		id = (int)nr - 1; /* another thread grew it meanwhile */
	} else if (nr < inst->opts.max_nodes) {
		/* Each node doubles the last one, up to the largest node size. */
		size_t size = inst->opts.node_size;
		for (unsigned i = 0; i < nr && size < SM_MAX_NODE_SIZE; i++)
			size <<= 1;
		struct sm_node *n = node_create(inst, MIN(size, SM_MAX_NODE_SIZE), (int)nr);
		if (n) {
			__atomic_store_n(&inst->nodes[nr], n, __ATOMIC_RELEASE);
			__atomic_store_n(&inst->nr_nodes, nr + 1, __ATOMIC_RELEASE);
			id = (int)nr;
		}
	}
	sm_unlock(&inst->lock);
	return id;
}

struct sm_node *inst_alloc_pages(struct sm_instance *inst, uint32_t npages, uint32_t align_pages,
				 const struct slab_alloc_context *ctx, uint32_t *first, bool *zeroed)
{
	int ids[SM_MAX_NODES];
	unsigned seen = inst_nr_nodes(inst);
	unsigned cnt = inst_node_order(inst, ctx, ids);
	for (unsigned i = 0; i < cnt; i++) {
		struct sm_node *n = inst_node(inst, (unsigned)ids[i]);
		*first = node_alloc_pages(n, npages, align_pages, ctx, zeroed);
		if (*first != UINT32_MAX)
			return n;
	}
	if (ctx->alloc_flags & SLAB_ALLOC_THISNODE)
		return NULL;
	int id = inst_grow(inst, ctx, seen);
	if (id < 0)
		return NULL;
	struct sm_node *n = inst_node(inst, (unsigned)id);
	*first = node_alloc_pages(n, npages, align_pages, ctx, zeroed);
	return *first != UINT32_MAX ? n : NULL;
}

/* ---- purge ---- */

size_t inst_purge(struct sm_instance *inst, uint64_t cutoff)
{
	deferred_drain(inst);
	sm_lock(&inst->lock);
	struct list_head *pos;
	unsigned nr_nodes = inst_nr_nodes(inst);
	for (pos = inst->caches.next; pos != &inst->caches; pos = pos->next) {
		struct kmem_cache *s = list_entry(pos, struct kmem_cache, list);
		/* Idle barns first: their objects go back to slabs that may then
		   be empty and old enough to release right below. */
		for (unsigned i = 0; i < nr_nodes; i++)
			barn_age(s, &s->node[i].barn);
		cache_release_empty(s, cutoff);
	}
	sm_unlock(&inst->lock);
	size_t pages = 0;
	unsigned nr = inst_nr_nodes(inst);
	for (unsigned i = 0; i < nr; i++)
		pages += node_purge(inst_node(inst, i), cutoff);
	size_t bytes = pages << SM_PAGE_SHIFT;
	__atomic_fetch_add(&inst->purged_bytes, bytes, __ATOMIC_RELAXED);
	return bytes;
}

void inst_maybe_purge(struct sm_instance *inst, uint64_t now)
{
	if (likely(now < READ_ONCE(inst->next_purge)))
		return;
	if (!sm_trylock(&inst->purge_lock))
		return;
	uint64_t delay = (uint64_t)inst->opts.purge_delay_ms * 1000000u;
	/* Checked twice per delay: memory goes back between 1 and 1.5 delays
	   after it was freed, as long as the program keeps calling in. */
	WRITE_ONCE(inst->next_purge, now + delay / 2);
	inst_purge(inst, now >= delay ? now - delay : 0);
	sm_unlock(&inst->purge_lock);
}

size_t sm_purge(sm_instance_t *inst, bool force)
{
	if (sm_in_allocator())
		return 0; /* from a signal handler: a purge waits for locks */
	if (!force) {
		uint64_t now = inst_now(inst), delay = (uint64_t)inst->opts.purge_delay_ms * 1000000u;
		bool nested = sm_enter();
		size_t bytes = inst_purge(inst, now >= delay ? now - delay : 0);
		sm_leave(nested);
		return bytes;
	}
	sm_thread_flush(inst);
	bool nested = sm_enter();
	deferred_drain_all(inst);
	sm_lock(&inst->lock);
	struct list_head *pos;
	for (pos = inst->caches.next; pos != &inst->caches; pos = pos->next) {
		struct kmem_cache *s = list_entry(pos, struct kmem_cache, list);
		for (unsigned i = 0; i < inst_nr_nodes(inst); i++)
			barn_drain(s, &s->node[i].barn);
	}
	sm_unlock(&inst->lock);
	size_t bytes = inst_purge(inst, UINT64_MAX);
	sm_leave(nested);
	return bytes;
}
