/*
 * double_free.c - the double-free check: a free whose object's free word
 * says "free already" is confirmed by looking where free objects are
 * before anything is written (architecture.md section 4).  Slow, and
 * reached only then (and by ksize of such an object).
 *
 * A free object is in exactly one of these places: a thread's sheaves
 * (main, spare, remote), a barn, its slab's freelist, the deferred list or
 * hardened mode's quarantine; or on its way between two of them, in a
 * move that is counted: a thread's move of its sheaves (tcache_move_begin,
 * its view_seq odd meanwhile) or the quarantine's put-back (moves_begun
 * and moves_done).  The look visits the places one after another, so an
 * object that moves meanwhile from a place not yet looked at to one
 * already looked at would be missed, and its free done a second time: two
 * owners.  So the look reads every other thread's count and the
 * quarantine's moves_done first and, after it has looked everywhere,
 * every count and moves_begun again; a "not found" stands only if nothing
 * moved, and the look is made again otherwise.  A "found" in a place
 * looked at under its lock stands at once; one in another thread's views,
 * read without their owner, only if that thread did not move its sheaves
 * meanwhile (it may have paired one sheaf's array with another's count).
 *
 * Locks: the looks at the slab, the barns, the quarantine and the other
 * threads' sheaves hold inst->lock throughout (the threads' list stays,
 * and whatever moves objects under inst->lock, a purge draining barns,
 * cache destroy, sm_thread_flush, is done before or after them).  The
 * deferred list is looked at first, apart: a drain holds drain_lock
 * while it puts the objects back and may take inst->lock (huge mappings),
 * so drain_lock is never taken under inst->lock.  Looking there first also
 * means a drain cannot hide an object: it drains into the slabs, looked
 * at later.  Nothing waits while inst->lock is held: a thread in the
 * middle of a move may be about to take it (a node grown for a refill).
 */
#include "barn.h"
#include "harden.h"
#include "hooks.h"
#include "os.h"
#include "printk.h"
#include "registry.h"
#include "sheaf.h"
#include "slowpath.h"
#include "vg.h"

void double_free_report(struct kmem_cache *s, void *p)
{
	sm_report(cache_err(s), "double free of %p in cache %s", p, s->name);
}

/* One look found nothing certain because something moved during it. */
#define LOOK_AGAIN (-2)

/*
 * The sum of the view_seq counts of @inst's tcaches but @mine, in *@sum;
 * false if one is odd (its owner is in the middle of a move).  Each count
 * only grows, and the list does not change while inst->lock is held (or
 * tcaches_gen says it did), so two equal sums mean that no count moved.
 * A count wraps after 2^31 moves, far more than a look lasts.
 */
static bool tcaches_seq_sum(struct sm_instance *inst, const struct tcache *mine, uint64_t *sum)
{
	uint64_t total = 0;
	struct list_head *pos;
	for (pos = inst->tcaches.next; pos != &inst->tcaches; pos = pos->next) {
		const struct tcache *tc = list_entry(pos, struct tcache, link);
		if (tc == mine)
			continue;
		uint32_t seq = __atomic_load_n(&tc->view_seq, __ATOMIC_ACQUIRE);
		if (seq & 1)
			return false;
		total += seq;
	}
	*sum = total;
	return true;
}

/* What a look saw at its start: compared with the same at its end. */
struct look_start {
	uint64_t gen, seq_sum, moves_done;
};

/* Read the start of a look (inst->lock held); false: a thread is moving. */
static bool look_begin(struct sm_instance *inst, const struct tcache *mine, struct look_start *at)
{
	at->gen = inst->tcaches_gen;
	at->moves_done = quarantine_moves_done(&inst->quarantine);
	return tcaches_seq_sum(inst, mine, &at->seq_sum);
}

/* Whether anything moved since look_begin (inst->lock held). */
static bool look_moved(struct sm_instance *inst, const struct tcache *mine, const struct look_start *at)
{
	__atomic_thread_fence(__ATOMIC_ACQUIRE); /* the looks before the counts */
	uint64_t sum;
	return inst->tcaches_gen != at->gen || !tcaches_seq_sum(inst, mine, &sum) ||
	       sum != at->seq_sum || quarantine_moves_begun(&inst->quarantine) != at->moves_done;
}

/*
 * One look for @p, an object of @s, everywhere but the caller's own
 * sheaves (@mine): 1 found, 0 not found, -1 cannot tell (@trylock and a
 * lock was busy), LOOK_AGAIN (something moved meanwhile).
 */
static int look_once(struct kmem_cache *s, const void *p, const struct tcache *mine, bool trylock)
{
	struct sm_instance *inst = s->inst;
	struct look_start at;
	if (!sm_lock_ctx(&inst->lock, trylock))
		return -1;
	bool steady = look_begin(inst, mine, &at);
	sm_unlock(&inst->lock);
	if (!steady)
		return LOOK_AGAIN;
	int r = deferred_holds(&inst->deferred, p, trylock);
	if (r > 0)
		return 1;
	bool unknown = r < 0;
	if (!sm_lock_ctx(&inst->lock, trylock))
		return -1;
	/* Hardened mode's quarantine before the slab: an object it puts back
	   meanwhile is then found on the freelist, or counted as moving. */
	r = harden_on(s) ? quarantine_holds(&inst->quarantine, p, trylock) : 0;
	if (r <= 0) {
		unknown |= r < 0;
		r = slab_holds_free(s, p, trylock);
	}
	for (unsigned i = 0; r <= 0 && i < pa_nr_nodes(&inst->pa); i++) {
		unknown |= r < 0;
		r = barn_holds(&s->node[i]->barn, p, trylock);
	}
	if (r > 0) {
		sm_unlock(&inst->lock);
		return 1; /* under the place's lock: found for certain */
	}
	unknown |= r < 0;
	SM_HOOK(inst, SM_HOOK_DF_LOOK);
	bool seen = false;
	struct list_head *pos;
	for (pos = inst->tcaches.next; pos != &inst->tcaches && !seen; pos = pos->next) {
		struct tcache *tc = list_entry(pos, struct tcache, link);
		if (tc != mine)
			seen = tcache_views_hold(tc, s, p);
	}
	bool moved = look_moved(inst, mine, &at);
	sm_unlock(&inst->lock);
	if (moved)
		return LOOK_AGAIN;
	return seen ? 1 : unknown ? -1 : 0;
}

/* The looks of obj_is_free, made again while something moved (@own: the
   answer of the caller's own sheaves). */
static int look(struct kmem_cache *s, const void *p, const struct tcache *mine, int own, bool trylock)
{
	uint64_t deadline = 0;
	for (unsigned tries = 0;; tries++) {
		if (tries >= 16) {
			uint64_t now = os_monotonic_ns();
			if (!deadline)
				deadline = now + DF_LOOK_MAX_NS;
			else if (now > deadline)
				return -1; /* kept: a leak rather than two owners */
			os_yield();
		} else if (tries) {
			cpu_relax();
		}
		int r = look_once(s, p, mine, trylock);
		if (r == LOOK_AGAIN)
			continue;
		/* Not found, but a signal handler interrupted our own move: the
		   object may be in the sheaf it was moving. */
		return r == 0 && own < 0 ? -1 : r;
	}
}

int obj_is_free(struct kmem_cache *s, const void *p, bool trylock)
{
	struct sm_instance *inst = s->inst;
	struct tcache *mine = tcache_peek_slot(s->inst_slot, s->inst_gen);
	/* The caller's own sheaves stay as they are while it looks (busy). */
	int own = mine ? tcache_holds(mine, s, p) : 0;
	if (own > 0)
		return 1;
	/* The slow paths' moves that start from here wait for the look to end. */
	tcache_hold_moves(inst);
	int r = look(s, p, mine, own, trylock);
	tcache_release_moves(inst);
	return r;
}

int obj_internal_reported(struct kmem_cache *s, const void *p, const char *call, bool trylock)
{
	const struct slab_sheaf *sh = p;
	const struct kmem_cache *c = p;
	/*
	 * Both marks are the first word's top 16 bits, read as the free
	 * paths read a tag.  The object is live, the caller's to read, but
	 * the program may never have written it: under Valgrind the reads
	 * and the branches on them are quiet, and what they decide is kept
	 * in values set by those branches.  Each read stays inside the
	 * object (the next slot may lie on another page, not mapped).
	 */
	bool marked = false;
	vg_quiet_begin();
	if (s->is_kmalloc && s->object_size >= sizeof(*sh) && obj_free_tag(p, 0) == cache_free_tag(s))
		marked = true;
	vg_quiet_end();
	if (!marked)
		return 0;
	struct sm_instance *inst = s->inst;
	if (!sm_lock_ctx(&inst->lock, trylock))
		return -1;
	const struct kmem_cache *owner = NULL;
	bool desc = false;
	vg_quiet_begin();
	for (unsigned id = 0; id < SM_MAX_CACHES && !owner; id++)
		if (inst->cache_by_id[id] && inst->cache_by_id[id] == sh->cache &&
		    inst->cache_by_id[id]->sheaf_cache == s && sh->capacity == inst->cache_by_id[id]->sheaf_capacity)
			owner = inst->cache_by_id[id];
	if (!owner && s->object_size >= sizeof(*c) && c->id < SM_MAX_CACHES && inst->cache_by_id[c->id] == c)
		desc = true;
	vg_quiet_end();
	sm_unlock(&inst->lock);
	if (owner)
		sm_report(cache_err(s), "%s of %p: slabmalloc's own object (a sheaf of cache %s), "
			  "not an allocation", call, p, owner->name);
	else if (desc)
		sm_report(cache_err(s), "%s of %p: the descriptor of the live cache %s (destroy it "
			  "with sm_cache_destroy), not an allocation", call, p, c->name);
	return owner || desc;
}

bool slab_free_confirm(struct kmem_cache *s, void *p, bool trylock)
{
	int r = obj_is_free(s, p, trylock);
	if (r > 0)
		double_free_report(s, p);
	else if (r == 0)
		r = obj_internal_reported(s, p, "free", trylock);
	if (r < 0)
		__atomic_fetch_add(&s->inst->frees_kept, 1, __ATOMIC_RELAXED); /* a leak */
	if (r)
		return false;
	*obj_free_word(s, p) = 0;
	return true;
}
