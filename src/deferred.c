/*
 * deferred.c - the deferred-free list (deferred.h has the design).  The
 * push side is async-signal-safe: atomics, a futex wake and a store to this
 * thread's TLS.  The drain runs in a blocking context: a slow path with
 * busy set, thread exit, or the helper thread.
 */
#include "deferred.h"
#include "hooks.h"
#include "kmem_cache.h"
#include "large.h"
#include "os.h"
#include "thread.h"
#include "vg.h"

void deferred_init(struct sm_deferred *d, struct sm_instance *inst, struct page_alloc *pa,
		   unsigned slot, uint64_t gen, bool helper_enabled)
{
	d->inst = inst;
	d->pa = pa;
	d->slot = slot;
	d->gen = gen;
	d->helper_enabled = helper_enabled;
	sm_lock_init(&d->drain_lock);
}

/* ---- kicks: this thread's slot for the instance (thread.h) ---- */

void deferred_kick_this_thread(struct sm_deferred *d)
{
	struct sm_tls_slot *sl = &sm_thread.slots[d->slot];
	/* A thread without a tcache gets a slot that only says so. */
	if (sl->gen == d->gen || (!sl->gen && sm_thread.state == TS_NORMAL)) {
		sl->gen = d->gen | SM_GEN_KICK;
		if (d->slot == 0)
			sm_thread.kick = 1; /* malloc's and free's paths miss too */
	}
}

bool deferred_take_kick(struct sm_deferred *d)
{
	struct sm_tls_slot *sl = &sm_thread.slots[d->slot];
	if (likely(sl->gen != (d->gen | SM_GEN_KICK)))
		return false;
	sl->gen = sl->tc ? d->gen : 0;
	if (d->slot == 0)
		sm_thread.kick = 0;
	return true;
}

/* ---- push (any context) ---- */

/* The link word of deferred object @p, whose cache is @s (NULL: a page run or huge mapping). */
static inline uintptr_t *deferred_link(void *p, const struct kmem_cache *s)
{
	return (uintptr_t *)((char *)p + (s ? s->fp_offset : 0));
}

static inline uintptr_t deferred_next(void *p, const struct kmem_cache *s)
{
	return *deferred_link(p, s) & SM_LINK_MASK;
}

static inline void deferred_set_next(void *p, const struct kmem_cache *s, uintptr_t next)
{
	*deferred_link(p, s) = s ? obj_tagged(s, next) : next;
}

void defer_free(struct sm_deferred *d, void *p, struct kmem_cache *s)
{
	uintptr_t head = __atomic_load_n(&d->head, __ATOMIC_RELAXED);
	vg_quiet_begin(); /* the link is written into a freed object */
	do {
		deferred_set_next(p, s, head);
	} while (!__atomic_compare_exchange_n(&d->head, &head, (uintptr_t)p, true,
					      __ATOMIC_SEQ_CST, __ATOMIC_RELAXED));
	vg_quiet_end();
	__atomic_fetch_add(&d->pushed, 1, __ATOMIC_RELAXED);

	/*
	 * Pairs with the helper's idle exit: it publishes HELPER_IDLE and then
	 * looks at head; we published head and now look at its state (both
	 * sequentially consistent), so at least one of us sees the other.
	 */
	uint32_t state = __atomic_load_n(&d->helper, __ATOMIC_SEQ_CST);
	if (state == HELPER_RUNNING || state == HELPER_STARTING) {
		__atomic_fetch_add(&d->wake, 1, __ATOMIC_RELEASE);
		os_futex_wake(&d->wake, 1);
		return;
	}
	/* No helper: this thread's next call into the instance finishes the free. */
	if (d->helper_enabled)
		WRITE_ONCE(d->want_helper, 1);
	deferred_kick_this_thread(d);
}

/* ---- drain (blocking context) ---- */


/*
 * Free @p for good: the object is back in its slab or run when this
 * returns.  It was checked before it was deferred: a slab object or the
 * start of a page run or huge mapping.
 */
static void deferred_free_one(struct sm_deferred *d, void *p, struct kmem_cache *s)
{
	struct large_ref r;
	if (s)
		slab_put_objects(s, &p, 1, false); /* not kmem_cache_free_direct: a
		                                      debug cache's object had its
		                                      free checks when it was deferred */
	else if (!large_lookup(p, &r) || large_free(d->pa, &r, pa_now(d->pa), false) != LARGE_FREED)
		sm_report(d->pa->origin.err, "double free of %p (a page run or huge mapping, "
			  "found when its deferred free was finished)", p);
}

static void drain(struct sm_deferred *d, bool wait)
{
	if (!wait && !READ_ONCE(d->head))
		return;
	/* Someone else is draining: what they took they finish; what was
	   pushed since is theirs or the next drainer's too. */
	if (!sm_lock_ctx(&d->drain_lock, !wait))
		return;
	/* Taking the whole stack at once makes the pops ABA-free. */
	d->draining = __atomic_exchange_n(&d->head, 0, __ATOMIC_ACQUIRE);
	vg_quiet_begin(); /* links read from freed objects */
	while (d->draining) {
		void *p = (void *)d->draining;
		struct kmem_cache *s = obj_cache_any(p);
		/* Unlink before the free, which reuses the link word. */
		WRITE_ONCE(d->current, (uintptr_t)p);
		WRITE_ONCE(d->draining, deferred_next(p, s));
		SM_HOOK(d->inst, SM_HOOK_DRAIN);
		deferred_free_one(d, p, s);
		WRITE_ONCE(d->current, 0);
		/* Counted once the object is back: pending 0 means all are. */
		__atomic_fetch_add(&d->drained, 1, __ATOMIC_RELAXED);
	}
	vg_quiet_end();
	sm_unlock(&d->drain_lock);
}

void deferred_fork_child(struct sm_deferred *d)
{
	if (!sm_lock_is_locked(&d->drain_lock) || sm_lock_held_by_self(&d->drain_lock))
		return; /* no drain, or ours: the interrupted drain finishes */
	sm_lock_init(&d->drain_lock);
	uintptr_t chain = d->draining;
	d->draining = 0;
	/*
	 * The object the drainer was freeing: a page run or huge mapping whose
	 * free had not begun (still live, not claimed) goes back on the list;
	 * a claimed huge mapping is unmapped by large_fork_child.  A slab
	 * object cannot be told apart from one freed and handed out again
	 * since: it is leaked, never freed twice.
	 */
	void *cur = (void *)d->current;
	struct large_ref r;
	d->current = 0;
	if (cur && !obj_cache_any(cur) && large_lookup(cur, &r) && !(r.huge && r.node->freeing)) {
		deferred_set_next(cur, NULL, chain);
		chain = (uintptr_t)cur;
	}
	if (chain) {
		void *last = (void *)chain;
		while (deferred_next(last, obj_cache_any(last)))
			last = (void *)deferred_next(last, obj_cache_any(last));
		deferred_set_next(last, obj_cache_any(last), d->head);
		d->head = chain;
	}
	/*
	 * Pending is now what the list holds: every other object the drainer
	 * took was freed or leaked, whichever of its counts it had made (it
	 * may have stopped between an object's free and its drained++, with
	 * current already 0, or between a pusher's CAS and its pushed++).
	 */
	uint64_t listed = 0;
	for (uintptr_t p = d->head; p; p = deferred_next((void *)p, obj_cache_any((void *)p)))
		listed++;
	if (d->pushed < listed)
		d->pushed = listed;
	d->drained = d->pushed - listed;
}

void deferred_drain(struct sm_deferred *d)
{
	drain(d, false);
}

void deferred_drain_all(struct sm_deferred *d)
{
	drain(d, true);
}

int deferred_holds(struct sm_deferred *d, const void *p, bool trylock)
{
	if (!sm_lock_ctx(&d->drain_lock, trylock))
		return -1;
	/* With drain_lock held nothing is popped: every link below head stays. */
	int found = 0;
	vg_quiet_begin();
	for (uintptr_t q = __atomic_load_n(&d->head, __ATOMIC_ACQUIRE); q && !found;
	     q = deferred_next((void *)q, obj_cache_any((void *)q)))
		found = q == (uintptr_t)p;
	vg_quiet_end();
	sm_unlock(&d->drain_lock);
	return found;
}
