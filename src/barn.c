/*
 * barn.c - exchanging sheaves with a node's barn, and emptying a barn that
 * is no longer needed or has gone idle (barn.h).  The barn lock is held
 * only to move a sheaf between lists; flushing and freeing sheaves happens
 * after it is released (barn.lock and list_lock never nest).
 */
#include "barn.h"
#include "hooks.h"

struct slab_sheaf *barn_replace_empty_sheaf(struct kmem_cache *s, struct node_barn *barn,
					    struct slab_sheaf **empty, bool trylock)
{
	if (!READ_ONCE(barn->nr_full) || !sm_lock_ctx(&barn->lock, trylock))
		return NULL;
	SM_HOOK(s->inst, SM_HOOK_BARN);
	barn->ops++;
	struct slab_sheaf *full = NULL;
	if (barn->nr_full) {
		full = list_first_entry(&barn->full, struct slab_sheaf, barn_list);
		list_del(&full->barn_list);
		WRITE_ONCE(barn->nr_full, barn->nr_full - 1);
		if (barn->nr_empty < s->barn_max_empty) {
			list_add(&(*empty)->barn_list, &barn->empty);
			WRITE_ONCE(barn->nr_empty, barn->nr_empty + 1);
			*empty = NULL;
		}
	}
	sm_unlock(&barn->lock);
	if (full)
		cache_stat_inc(s, STAT_BARN_GET);
	return full;
}

bool barn_replace_full_sheaf(struct kmem_cache *s, struct node_barn *barn,
			     struct slab_sheaf *full, struct slab_sheaf **empty, bool trylock)
{
	if (READ_ONCE(barn->nr_full) >= s->barn_max_full || !sm_lock_ctx(&barn->lock, trylock))
		return false;
	SM_HOOK(s->inst, SM_HOOK_BARN);
	barn->ops++;
	bool ok = barn->nr_full < s->barn_max_full;
	*empty = NULL;
	if (ok) {
		list_add(&full->barn_list, &barn->full);
		WRITE_ONCE(barn->nr_full, barn->nr_full + 1);
		if (barn->nr_empty) {
			*empty = list_first_entry(&barn->empty, struct slab_sheaf, barn_list);
			list_del(&(*empty)->barn_list);
			WRITE_ONCE(barn->nr_empty, barn->nr_empty - 1);
		}
	}
	sm_unlock(&barn->lock);
	if (ok)
		cache_stat_inc(s, STAT_BARN_PUT);
	return ok;
}

/* Take the first sheaf of @list (@nr its count) out of @barn, or NULL. */
static struct slab_sheaf *barn_take(struct kmem_cache *s, struct node_barn *barn,
				    struct list_head *list, unsigned *nr, bool trylock)
{
	if (!READ_ONCE(*nr) || !sm_lock_ctx(&barn->lock, trylock))
		return NULL;
	SM_HOOK(s->inst, SM_HOOK_BARN);
	barn->ops++;
	struct slab_sheaf *sh = NULL;
	if (*nr) {
		sh = list_first_entry(list, struct slab_sheaf, barn_list);
		list_del(&sh->barn_list);
		WRITE_ONCE(*nr, *nr - 1);
	}
	sm_unlock(&barn->lock);
	return sh;
}

struct slab_sheaf *barn_get_full_sheaf(struct kmem_cache *s, struct node_barn *barn, bool trylock)
{
	struct slab_sheaf *sh = barn_take(s, barn, &barn->full, &barn->nr_full, trylock);
	if (sh)
		cache_stat_inc(s, STAT_BARN_GET);
	return sh;
}

struct slab_sheaf *barn_get_empty_sheaf(struct kmem_cache *s, struct node_barn *barn, bool trylock)
{
	return barn_take(s, barn, &barn->empty, &barn->nr_empty, trylock);
}

void barn_return_sheaf(struct kmem_cache *s, struct node_barn *barn, struct slab_sheaf *sh)
{
	if (sh->size == sh->capacity) {
		sm_lock(&barn->lock);
		if (barn->nr_full < s->barn_max_full) {
			list_add(&sh->barn_list, &barn->full);
			WRITE_ONCE(barn->nr_full, barn->nr_full + 1);
			sm_unlock(&barn->lock);
			cache_stat_inc(s, STAT_BARN_PUT);
			return;
		}
		sm_unlock(&barn->lock);
	}
	sheaf_flush(s, sh);
	sm_lock(&barn->lock);
	if (barn->nr_empty < s->barn_max_empty) {
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
	sm_lock(&barn->lock);
	barn_empty_locked(s, barn);
}

bool barn_age(struct kmem_cache *s, struct node_barn *barn)
{
	if (!READ_ONCE(barn->nr_full) && !READ_ONCE(barn->nr_empty))
		return false;
	sm_lock(&barn->lock);
	if (barn->ops != barn->ops_at_purge) {
		barn->ops_at_purge = barn->ops; /* in use: look again next time */
		sm_unlock(&barn->lock);
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
	sm_unlock(&barn->lock);

	struct list_head *pos, *tmp;
	list_for_each_safe(pos, tmp, &full) {
		struct slab_sheaf *sh = list_entry(pos, struct slab_sheaf, barn_list);
		sheaf_flush(s, sh);
		sheaf_free(sh);
	}
	list_for_each_safe(pos, tmp, &empty)
		sheaf_free(list_entry(pos, struct slab_sheaf, barn_list));
}

void barn_fork_child(struct node_barn *barn)
{
	if (!sm_lock_is_locked(&barn->lock) || sm_lock_held_by_self(&barn->lock))
		return;
	sm_lock_init(&barn->lock);
	INIT_LIST_HEAD(&barn->full);
	INIT_LIST_HEAD(&barn->empty);
	barn->nr_full = barn->nr_empty = 0;
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
	if (!sm_lock_ctx(&barn->lock, trylock))
		return -1;
	int found = sheaf_list_holds(&barn->full, p) || sheaf_list_holds(&barn->empty, p);
	sm_unlock(&barn->lock);
	return found;
}
