/*
 * barn.c - exchanging sheaves with a node's barn, growing and shrinking its
 * limits (barn.h, growth), and emptying a barn that is no longer needed or
 * has gone idle.  The barn lock is held only to move a sheaf between lists;
 * flushing and freeing sheaves happens after it is released (barn.lock and
 * list_lock never nest).
 */
#include "barn.h"
#include "hooks.h"

/* The barn's limits now (lock held, or a hint read without it). */
static inline unsigned max_full(const struct kmem_cache *s, const struct node_barn *barn)
{
	return barn_max(s->barn_max_full, READ_ONCE(barn->shift));
}

static inline unsigned max_empty(const struct kmem_cache *s, const struct node_barn *barn)
{
	return barn_max(s->barn_max_empty, READ_ONCE(barn->shift));
}

/*
 * A refill found @barn without a full sheaf.  If at least a quarter of its
 * limit in full sheaves was turned away since it was last dry, they would
 * have been kept by a barn twice as large: its limits double (barn.h,
 * growth).  A few sheaves turned away now and then, as a steady mix of
 * threads and sizes does, do not make it grow.  Only the refill slow path
 * comes here, which goes on to the slabs.
 */
static void barn_dry(struct kmem_cache *s, struct node_barn *barn, bool trylock)
{
	if (!__atomic_load_n(&barn->overflowed, __ATOMIC_RELAXED) || !barn_lock_ctx(barn, trylock))
		return;
	unsigned away = __atomic_exchange_n(&barn->overflowed, 0, __ATOMIC_RELAXED);
	bool grow = barn->shift < s->barn_grow_max && away && away >= max_full(s, barn) / 4;
	if (grow)
		WRITE_ONCE(barn->shift, barn->shift + 1);
	sm_unlock(&barn->lock);
	if (grow)
		cache_stat_inc(s, STAT_BARN_GROW);
}

/* A full sheaf is turned away: counted for barn_dry (no lock needed). */
static inline void barn_overflow(struct kmem_cache *s, struct node_barn *barn)
{
	if (READ_ONCE(barn->shift) < s->barn_grow_max)
		__atomic_fetch_add(&barn->overflowed, 1, __ATOMIC_RELAXED);
}

/* Put the full sheaf @sh on @barn's list (lock held, room checked). */
static inline void barn_add_full(struct node_barn *barn, struct slab_sheaf *sh)
{
	list_add(&sh->barn_list, &barn->full);
	WRITE_ONCE(barn->nr_full, barn->nr_full + 1);
	if (barn->nr_full > barn->peak_full)
		barn->peak_full = barn->nr_full;
}

struct slab_sheaf *barn_replace_empty_sheaf(struct kmem_cache *s, struct node_barn *barn,
					    struct slab_sheaf **empty, bool trylock)
{
	if (!READ_ONCE(barn->nr_full)) {
		barn_dry(s, barn, trylock);
		return NULL;
	}
	if (!barn_lock_ctx(barn, trylock))
		return NULL;
	SM_HOOK(s->inst, SM_HOOK_BARN);
	barn->ops++;
	struct slab_sheaf *full = NULL;
	if (barn->nr_full) {
		full = list_first_entry(&barn->full, struct slab_sheaf, barn_list);
		list_del(&full->barn_list);
		WRITE_ONCE(barn->nr_full, barn->nr_full - 1);
		barn->gets++;
		if (barn->nr_empty < max_empty(s, barn)) {
			list_add(&(*empty)->barn_list, &barn->empty);
			WRITE_ONCE(barn->nr_empty, barn->nr_empty + 1);
			*empty = NULL;
		}
	}
	sm_unlock(&barn->lock);
	return full;
}

bool barn_replace_full_sheaf(struct kmem_cache *s, struct node_barn *barn,
			     struct slab_sheaf *full, struct slab_sheaf **empty, bool trylock)
{
	if (READ_ONCE(barn->nr_full) >= max_full(s, barn)) {
		barn_overflow(s, barn);
		return false;
	}
	if (!barn_lock_ctx(barn, trylock))
		return false;
	SM_HOOK(s->inst, SM_HOOK_BARN);
	barn->ops++;
	bool ok = barn->nr_full < max_full(s, barn);
	*empty = NULL;
	if (ok) {
		barn_add_full(barn, full);
		barn->puts++;
		if (barn->nr_empty) {
			*empty = list_first_entry(&barn->empty, struct slab_sheaf, barn_list);
			list_del(&(*empty)->barn_list);
			WRITE_ONCE(barn->nr_empty, barn->nr_empty - 1);
		}
	}
	sm_unlock(&barn->lock);
	if (!ok)
		barn_overflow(s, barn);
	return ok;
}

/*
 * Take the first sheaf of @list (@nr its count) out of @barn, or NULL;
 * *@taken (the barn's gets for the full list, NULL for the empty one)
 * counts it.
 */
static struct slab_sheaf *barn_take(struct kmem_cache *s, struct node_barn *barn,
				    struct list_head *list, unsigned *nr, uint64_t *taken, bool trylock)
{
	if (!READ_ONCE(*nr) || !barn_lock_ctx(barn, trylock))
		return NULL;
	SM_HOOK(s->inst, SM_HOOK_BARN);
	barn->ops++;
	struct slab_sheaf *sh = NULL;
	if (*nr) {
		sh = list_first_entry(list, struct slab_sheaf, barn_list);
		list_del(&sh->barn_list);
		WRITE_ONCE(*nr, *nr - 1);
		if (taken)
			(*taken)++;
	}
	sm_unlock(&barn->lock);
	return sh;
}

struct slab_sheaf *barn_get_full_sheaf(struct kmem_cache *s, struct node_barn *barn, bool trylock)
{
	if (!READ_ONCE(barn->nr_full)) {
		barn_dry(s, barn, trylock);
		return NULL;
	}
	return barn_take(s, barn, &barn->full, &barn->nr_full, &barn->gets, trylock);
}

struct slab_sheaf *barn_get_empty_sheaf(struct kmem_cache *s, struct node_barn *barn, bool trylock)
{
	return barn_take(s, barn, &barn->empty, &barn->nr_empty, NULL, trylock);
}

void barn_return_sheaf(struct kmem_cache *s, struct node_barn *barn, struct slab_sheaf *sh)
{
	if (sh->size == sh->capacity) {
		barn_lock(barn);
		if (barn->nr_full < max_full(s, barn)) {
			barn_add_full(barn, sh);
			barn->puts++;
			sm_unlock(&barn->lock);
			return;
		}
		sm_unlock(&barn->lock);
	}
	sheaf_flush(s, sh);
	barn_lock(barn);
	if (barn->nr_empty < max_empty(s, barn)) {
		list_add(&sh->barn_list, &barn->empty);
		WRITE_ONCE(barn->nr_empty, barn->nr_empty + 1);
		sh = NULL;
	}
	sm_unlock(&barn->lock);
	if (sh)
		sheaf_free(sh);
}

/* Take every sheaf out of @barn (entered with barn->lock held; drops it) and free them. */
static void barn_empty_locked(struct kmem_cache *s, struct node_barn *barn);

void barn_drain(struct kmem_cache *s, struct node_barn *barn)
{
	barn_lock(barn);
	barn_empty_locked(s, barn);
}

/*
 * A barn in use whose grown limits were more than it needed since the last
 * purge: halve them (lock held).  Its full sheaves are within the new limit
 * (nr_full <= peak_full); the empty sheaves over it go onto @empty for the
 * caller to free.
 */
static void barn_shrink_locked(struct kmem_cache *s, struct node_barn *barn, struct list_head *empty)
{
	WRITE_ONCE(barn->shift, barn->shift - 1);
	while (barn->nr_empty > max_empty(s, barn)) {
		list_move(barn->empty.prev, empty);
		WRITE_ONCE(barn->nr_empty, barn->nr_empty - 1);
	}
}

/* Free the empty sheaves on @list (no lock held). */
static void free_empty_sheaves(struct list_head *list)
{
	struct list_head *pos, *tmp;
	list_for_each_safe(pos, tmp, list)
		sheaf_free(list_entry(pos, struct slab_sheaf, barn_list));
}

bool barn_age(struct kmem_cache *s, struct node_barn *barn)
{
	if (!READ_ONCE(barn->nr_full) && !READ_ONCE(barn->nr_empty) && !READ_ONCE(barn->shift))
		return false;
	barn_lock(barn);
	if (barn->ops != barn->ops_at_purge) {
		/* In use: look again next time; grown limits it did not need
		   since this time are halved. */
		struct list_head empty;
		INIT_LIST_HEAD(&empty);
		barn->ops_at_purge = barn->ops;
		bool shrink = barn->shift && barn->peak_full <= barn_max(s->barn_max_full, barn->shift - 1);
		if (shrink)
			barn_shrink_locked(s, barn, &empty);
		barn->peak_full = barn->nr_full;
		sm_unlock(&barn->lock);
		if (shrink) {
			cache_stat_inc(s, STAT_BARN_SHRINK);
			free_empty_sheaves(&empty);
		}
		return false;
	}
	barn_empty_locked(s, barn);
	return true;
}

static void barn_empty_locked(struct kmem_cache *s, struct node_barn *barn)
{
	struct list_head full, empty;
	list_splice_init(&barn->full, &full);
	list_splice_init(&barn->empty, &empty);
	WRITE_ONCE(barn->nr_full, 0);
	WRITE_ONCE(barn->nr_empty, 0);
	WRITE_ONCE(barn->shift, 0); /* it starts over */
	barn->peak_full = 0;
	__atomic_store_n(&barn->overflowed, 0, __ATOMIC_RELAXED);
	sm_unlock(&barn->lock);

	struct list_head *pos, *tmp;
	list_for_each_safe(pos, tmp, &full) {
		struct slab_sheaf *sh = list_entry(pos, struct slab_sheaf, barn_list);
		sheaf_flush(s, sh);
		sheaf_free(sh);
	}
	free_empty_sheaves(&empty);
}

void barn_fork_child(struct node_barn *barn)
{
	if (!sm_lock_is_locked(&barn->lock) || sm_lock_held_by_self(&barn->lock))
		return;
	sm_lock_init(&barn->lock);
	INIT_LIST_HEAD(&barn->full);
	INIT_LIST_HEAD(&barn->empty);
	barn->nr_full = barn->nr_empty = 0;
	barn->shift = barn->peak_full = barn->overflowed = 0;
}

static bool sheaf_list_holds(struct list_head *list, const void *p)
{
	struct list_head *pos;
	for (pos = list->next; pos != list; pos = pos->next) {
		struct slab_sheaf *sh = list_entry(pos, struct slab_sheaf, barn_list);
		if (sheaf_holds(sh, p))
			return true;
	}
	return false;
}

int barn_holds(struct node_barn *barn, const void *p, bool trylock)
{
	if (!READ_ONCE(barn->nr_full) && !READ_ONCE(barn->nr_empty))
		return 0;
	if (!barn_lock_ctx(barn, trylock))
		return -1;
	int found = sheaf_list_holds(&barn->full, p) || sheaf_list_holds(&barn->empty, p);
	sm_unlock(&barn->lock);
	return found;
}
