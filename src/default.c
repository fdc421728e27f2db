/*
 * default.c - the default instance as the API meets it: sm_default_instance(),
 * which sets it up on first use from the options (registry.c, env.c), the
 * statistics SLABMALLOC_STATS asks for at exit and every
 * SLABMALLOC_STATS_INTERVAL seconds, and sm_option_set().
 *
 * A file of its own on purpose: a static archive only links the objects a
 * program needs, and every program that uses the default instance (through
 * the malloc shim, <slabmalloc/kernel.h> or sm_default_instance()) needs
 * this one, so the exit report comes with it however the library is linked.
 */
#include <errno.h>
#include <string.h>

#include "env.h"
#include "os.h"
#include "registry.h"
#include "report.h"

/* The helper thread's call (helper.h): a periodic report, if still asked for. */
static void periodic_report(struct sm_instance *inst)
{
	(void)inst;
	if (READ_ONCE(sm_default_env.stats))
		report_default(false);
}

/*
 * Ask for the periodic report every @seconds (0: none): the helper thread
 * makes it, started by the next allocation that reaches a slow path.
 */
static void stats_interval_apply(unsigned seconds)
{
	struct sm_instance *inst = &sm_default_inst;
	WRITE_ONCE(inst->periodic, periodic_report);
	WRITE_ONCE(inst->stats_interval_ms, seconds * 1000u);
	if (seconds && !inst->deferred.helper_enabled)
		sm_printk("slabmalloc: SLABMALLOC_STATS_INTERVAL needs the helper thread "
			  "(SLABMALLOC_HELPER_THREAD=0): statistics at exit only\n");
	if (seconds && inst->deferred.helper_enabled) {
		WRITE_ONCE(inst->deferred.want_helper, 1);
		__atomic_fetch_add(&inst->deferred.wake, 1, __ATOMIC_RELEASE);
		os_futex_wake(&inst->deferred.wake, 1); /* a running helper: the new interval */
	}
}

sm_instance_t *sm_default_instance(void)
{
	if (likely(__atomic_load_n(&sm_default_ready, __ATOMIC_ACQUIRE)))
		return &sm_default_inst;
	sm_instance_t *inst = sm_default_instance_init(NULL);
	if (inst && sm_default_env.stats_interval && !READ_ONCE(inst->periodic))
		stats_interval_apply(sm_default_env.stats_interval);
	return inst;
}

/* SLABMALLOC_STATS: the report of the default instance, at exit. */
__attribute__((destructor)) static void default_instance_exit(void)
{
	if (__atomic_load_n(&sm_default_ready, __ATOMIC_ACQUIRE) && READ_ONCE(sm_default_env.stats))
		report_default(true);
}

/* Options that a running default instance takes (sm_option_set after its set-up). */
static int option_set_live(int idx, const struct sm_env *e)
{
	struct sm_instance *inst = &sm_default_inst;
	switch (idx) {
	case ENV_STATS:
		WRITE_ONCE(sm_default_env.stats, e->stats);
		return 0;
	case ENV_STATS_FILE:
		/* Read by the report with no lock: a report racing with this
		   call may see a mix (documented: set it before reports run). */
		memcpy(sm_default_env.stats_file, e->stats_file, sizeof(e->stats_file));
		return 0;
	case ENV_STATS_INTERVAL:
		sm_default_env.stats_interval = e->stats_interval;
		stats_interval_apply(e->stats_interval);
		return 0;
	case ENV_ON_ERROR:
		sm_default_env.report_only = e->report_only;
		WRITE_ONCE(inst->err.handler, e->opts.error_handler);
		WRITE_ONCE(sm_default_sink.handler, e->opts.error_handler);
		return 0;
	case ENV_PURGE_DELAY_MS:
		WRITE_ONCE(inst->opts.purge_delay_ms, e->opts.purge_delay_ms);
		return 0;
	case ENV_HUGE_THRESHOLD:
		WRITE_ONCE(inst->opts.huge_threshold, e->opts.huge_threshold);
		WRITE_ONCE(inst->pa.huge_threshold, e->opts.huge_threshold);
		return 0;
	case ENV_HELPER_IDLE_MS:
		WRITE_ONCE(inst->opts.helper_idle_ms, e->opts.helper_idle_ms); /* the next helper's */
		return 0;
	default:
		return -EBUSY; /* fixed once the instance is set up */
	}
}

int sm_option_set(const char *name, const char *value)
{
	if (!name || !value)
		return -EINVAL;
	bool nested = sm_enter();
	if (nested) {
		sm_leave(nested);
		return -EDEADLK; /* from a signal handler */
	}
	int r;
	if (!__atomic_load_n(&sm_default_ready, __ATOMIC_ACQUIRE)) {
		r = env_preset(name, value);
		r = r >= 0 ? 0 : -EINVAL;
	} else {
		/* The environment's values with this one applied, then what changed. */
		struct sm_env e = sm_default_env;
		e.opts = sm_default_inst.opts;
		e.opts.error_handler = sm_default_inst.err.handler;
		int idx = env_set(&e, name, value);
		r = idx < 0 ? -EINVAL : option_set_live(idx, &e);
	}
	sm_leave(nested);
	return r;
}
