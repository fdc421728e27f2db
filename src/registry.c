/*
 * registry.c - the registry of live instances, creating and destroying
 * instances, the default instance, and the threads attached to them: a
 * thread's first use of an instance and its exit (registry.h).
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "debug.h"
#include "env.h"
#include "fork.h"
#include "helper.h"
#include "hooks.h"
#include "options.h"
#include "os.h"
#include "printk.h"
#include "registry.h"
#include "vg.h"

sm_lock_t sm_registry_lock = SM_LOCK_INIT;
static struct {
	struct sm_instance *inst;
	uint64_t gen;
} registry[SM_MAX_INSTANCES];
static uint64_t next_gen = 1;

struct sm_instance sm_default_inst;
uint8_t sm_default_ready;
struct fast_class sm_fast_class[SM_NR_KMALLOC + 1];
struct sm_env sm_default_env;
/* Serialises the default instance's set-up; taken before sm_registry_lock. */
static sm_lock_t default_init_lock = SM_LOCK_INIT;

struct sm_instance *registry_lookup_locked(unsigned slot, uint64_t gen)
{
	return registry[slot].gen == gen ? registry[slot].inst : NULL;
}

struct sm_instance *registry_slot(unsigned slot)
{
	return registry[slot].inst;
}

struct sm_instance *registry_cache_owner(const void *p)
{
	struct sm_instance *owner = NULL;
	sm_lock(&sm_registry_lock);
	for (unsigned slot = 0; slot < SM_MAX_INSTANCES && !owner; slot++) {
		struct sm_instance *inst = registry[slot].inst;
		if (!inst)
			continue;
		sm_lock(&inst->lock);
		for (unsigned id = 0; id < SM_MAX_CACHES; id++)
			if (inst->cache_by_id[id] == p) {
				owner = inst;
				break;
			}
		sm_unlock(&inst->lock);
	}
	sm_unlock(&sm_registry_lock);
	return owner;
}

/* ---- threads ---- */

static pthread_key_t exit_key;
static pthread_once_t exit_key_once = PTHREAD_ONCE_INIT;
static __thread uint8_t exit_key_set __attribute__((tls_model("initial-exec")));

/*
 * The thread-exit destructor: give back this thread's tcache of every live
 * instance, and finish what its signal handlers deferred.
 */
static void thread_exit(void *arg)
{
	(void)arg;
	/* From here on this thread allocates without sheaves (later key
	   destructors and TLS destructors may still call free). */
	bool nested = sm_enter();
	sm_thread.state = TS_DEAD;
	for (unsigned i = 0; i < SM_MAX_INSTANCES; i++) {
		struct sm_tls_slot *sl = &sm_thread.slots[i];
		if (!sl->gen)
			continue;
		struct tcache *tc = sl->tc;
		uint64_t gen = sl->gen & ~SM_GEN_KICK;
		sl->gen = 0; /* first: a signal handler must not find it */
		sl->tc = NULL;
		/* The default instance is never destroyed: its tcache goes back
		   without the registry lock, so exiting threads do not queue on
		   one global lock.  Another instance must be kept alive while
		   its tcache goes back (sm_instance_destroy takes the lock). */
		bool is_default = i == 0 && gen == sm_default_inst.gen;
		if (!is_default)
			sm_lock(&sm_registry_lock);
		struct sm_instance *inst = is_default ? &sm_default_inst : registry_lookup_locked(i, gen);
		if (inst) {
			if (tc) /* NULL: a slot that only carried a kick */
				tcache_destroy(tc);
			deferred_drain(&inst->deferred);
		}
		if (!is_default)
			sm_unlock(&sm_registry_lock);
	}
	sm_leave(nested);
}

static void make_exit_key(void)
{
	pthread_key_create(&exit_key, thread_exit);
	pthread_atfork(NULL, NULL, sm_fork_child);
}

void registry_fork_child(void)
{
	if (sm_lock_is_locked(&sm_registry_lock) && !sm_lock_held_by_self(&sm_registry_lock))
		sm_lock_init(&sm_registry_lock);
	if (sm_lock_is_locked(&default_init_lock) && !sm_lock_held_by_self(&default_init_lock)) {
		sm_lock_init(&default_init_lock);
		if (!__atomic_load_n(&sm_default_ready, __ATOMIC_ACQUIRE))
			memset(&sm_default_inst, 0, sizeof(sm_default_inst));
	}
}

struct tcache *thread_attach(struct sm_instance *inst, enum helper_start start)
{
	if (deferred_take_kick(&inst->deferred)) {
		/* A nolock free on this thread left work behind: see to it now. */
		helper_kicked(inst, start);
		struct tcache *tc = sm_thread.slots[inst->slot].tc;
		if (tc)
			return tc;
	}
	/* Under Valgrind (vg.h) and in hardened mode (hardened.h): no sheaves. */
	if (sm_thread.state != TS_NORMAL || vg_active() || inst->pa.harden)
		return NULL;
	bool nested = sm_enter();
	SM_BUG_ON(nested);
	struct tcache *tc = tcache_create(inst);
	if (tc && !exit_key_set) {
		/* May call calloc: served by the nolock path, busy being set. */
		exit_key_set = 1;
		pthread_setspecific(exit_key, (void *)1);
	}
	sm_leave(nested);
	return tc;
}

/* ---- the registry ---- */

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
	pthread_once(&exit_key_once, make_exit_key);
#ifdef SM_FORCE_HARDEN
	/* libslabmalloc-hardened.so: hardened mode always, whatever was asked. */
	struct sm_options forced = *o;
	forced.harden = true;
	o = &forced;
#endif
	vg_init(env_valgrind()); /* the same answer for every instance; before its first object */
	inst->opts = *o;
	os_ops_complete(&inst->os, o->os);
	inst->err = (struct report_sink){ o->error_handler, o->error_arg };
	inst->is_default = is_default;
	sm_lock_init(&inst->lock);
	sm_lock_init(&inst->purge_lock);
	INIT_LIST_HEAD(&inst->caches);
	INIT_LIST_HEAD(&inst->tcaches);
	struct node_origin origin = { .inst = inst, .os = &inst->os, .err = &inst->err };
	/* The default instance must exist whatever the OS says (callers of
	   sm_default_instance() do not check): without its first node it
	   starts empty, and its first allocation tries again (pa_grow). */
	int err = pa_init(&inst->pa, &origin, o, &inst->lock);
	if (err && !is_default)
		return err;
	for (unsigned i = 0; i < SM_NR_KMALLOC; i++) {
		struct kmem_cache *s = &inst->kmalloc_caches[i];
		char name[32];
		sm_snprintf(name, sizeof(name), "kmalloc-%zu", kmalloc_class_size(i));
		kmem_cache_init(s, &inst->kmalloc_nodes[0][i], SM_NR_KMALLOC, &inst->pa, o, name,
				kmalloc_class_size(i), NULL, 0);
		s->is_kmalloc = true;
	}
	inst->next_purge = inst_now(inst) + (uint64_t)o->purge_delay_ms * 1000000u;
	/* The coarse clock's gate (slowpath.h), for the real clock only. */
	inst->coarse_lag = os_clock_is_real(&inst->os) ? os_coarse_lag_ns() : 0;
	err = registry_add(inst, is_default);
	if (err) {
		pa_destroy(&inst->pa);
		return err;
	}
	for (unsigned i = 0; i < SM_NR_KMALLOC; i++)
		inst_cache_register(inst, &inst->kmalloc_caches[i], i);
	deferred_init(&inst->deferred, inst, &inst->pa, inst->slot, inst->gen, o->helper_thread);
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
	debug_prepare(o, 0); /* before any lock: it may dlopen */
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

	/* A later instance mapped at the same address must not inherit it. */
	sm_test_hook_set(inst, NULL);
	pa_destroy(&inst->pa);
	os_unmap(inst, inst->map_size);
}

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
		bool from_env = !o;
		if (from_env) {
			env_parse(&sm_default_env); /* warns about unknown options */
			o = &sm_default_env.opts;
		}
		struct sm_options def;
		if (!options_valid(o)) {
			sm_options_init(&def);
			o = &def;
		}
		instance_init(&sm_default_inst, o, true); /* cannot fail for the default */
		sm_default_sink = sm_default_inst.err;
		__atomic_store_n(&sm_default_ready, 1, __ATOMIC_RELEASE);
		if (from_env && sm_default_env.verbose)
			env_print(&sm_default_env);
	}
	sm_unlock(&default_init_lock);
	sm_leave(nested);
	return &sm_default_inst;
}

void registry_default_sink_prepare(void)
{
	if (likely(__atomic_load_n(&sm_default_ready, __ATOMIC_ACQUIRE)))
		return;
	/* Only tried: a set-up in progress fills the sink itself (if it runs
	   on another thread, a report racing with it may still find the sink
	   empty, that is abort). */
	bool nested = sm_enter();
	if (sm_trylock(&default_init_lock)) {
		if (!__atomic_load_n(&sm_default_ready, __ATOMIC_ACQUIRE))
			sm_default_sink = env_error_sink();
		sm_unlock(&default_init_lock);
	}
	sm_leave(nested);
}

void sm_default_debug_prepare(void)
{
	if (__atomic_load_n(&sm_default_ready, __ATOMIC_ACQUIRE) && !sm_in_allocator())
		debug_prepare(&sm_default_inst.opts, 0);
}
