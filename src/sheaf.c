/*
 * sheaf.c - sheaves and the barn: making and freeing sheaves, filling them
 * from slabs and flushing them back, and exchanging them with a node's barn.
 * The barn lock is held only to move a sheaf between lists; every slab
 * operation happens after it is released (the two locks never nest).
 */
#include "instance.h"
#include "kmem_cache.h"
#include "sheaf.h"
#include "hooks.h"

struct slab_sheaf sm_empty_sheaf = { .size = 0, .capacity = 0 };

struct slab_sheaf *sheaf_alloc(struct kmem_cache *s, const struct slab_alloc_context *ctx)
{
	struct slab_alloc_context c = *ctx;
	c.alloc_flags = (ctx->alloc_flags & (SLAB_ALLOC_TRYLOCK)) | SLAB_ALLOC_NO_RECURSE;
	c.node = SM_NO_NODE;
	size_t bytes = sizeof(struct slab_sheaf) + (size_t)s->sheaf_capacity * sizeof(void *);
	c.orig_size = bytes;
	struct slab_sheaf *sh = __kmalloc(s->inst, bytes, 0, &c);
	if (!sh)
		return NULL;
	sh->size = 0;
	sh->capacity = s->sheaf_capacity;
	sh->cache = s;
	INIT_LIST_HEAD(&sh->barn_list);
	return sh;
}

void sheaf_free(struct slab_sheaf *sh)
{
	SM_BUG_ON(sh == &sm_empty_sheaf || sh->size);
	__kfree_nosheaf(sh);
}

void sheaf_flush(struct kmem_cache *s, struct slab_sheaf *sh)
{
	if (!sh->size)
		return;
	slab_put_objects(s, sh->objects, sh->size, false);
	sh->size = 0;
	cache_stat_inc(s, STAT_FLUSH);
}

unsigned sheaf_refill(struct kmem_cache *s, struct slab_sheaf *sh, const struct slab_alloc_context *ctx)
{
	unsigned got = slab_get_objects(s, ctx, sh->objects + sh->size, sh->capacity - sh->size);
	sh->size += got;
	if (got)
		cache_stat_inc(s, STAT_REFILL);
	return got;
}

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
		barn->nr_full--;
		if (barn->nr_empty < s->barn_max_empty) {
			list_add(&(*empty)->barn_list, &barn->empty);
			barn->nr_empty++;
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
		barn->nr_full++;
		if (barn->nr_empty) {
			*empty = list_first_entry(&barn->empty, struct slab_sheaf, barn_list);
			list_del(&(*empty)->barn_list);
			barn->nr_empty--;
		}
	}
	sm_unlock(&barn->lock);
	if (ok)
		cache_stat_inc(s, STAT_BARN_PUT);
	return ok;
}

struct slab_sheaf *barn_get_full_sheaf(struct kmem_cache *s, struct node_barn *barn, bool trylock)
{
	if (!READ_ONCE(barn->nr_full) || !sm_lock_ctx(&barn->lock, trylock))
		return NULL;
	SM_HOOK(s->inst, SM_HOOK_BARN);
	barn->ops++;
	struct slab_sheaf *sh = NULL;
	if (barn->nr_full) {
		sh = list_first_entry(&barn->full, struct slab_sheaf, barn_list);
		list_del(&sh->barn_list);
		barn->nr_full--;
	}
	sm_unlock(&barn->lock);
	if (sh)
		cache_stat_inc(s, STAT_BARN_GET);
	return sh;
}

struct slab_sheaf *barn_get_empty_sheaf(struct kmem_cache *s, struct node_barn *barn, bool trylock)
{
	(void)s;
	if (!READ_ONCE(barn->nr_empty) || !sm_lock_ctx(&barn->lock, trylock))
		return NULL;
	SM_HOOK(s->inst, SM_HOOK_BARN);
	barn->ops++;
	struct slab_sheaf *sh = NULL;
	if (barn->nr_empty) {
		sh = list_first_entry(&barn->empty, struct slab_sheaf, barn_list);
		list_del(&sh->barn_list);
		barn->nr_empty--;
	}
	sm_unlock(&barn->lock);
	return sh;
}

void barn_return_sheaf(struct kmem_cache *s, struct node_barn *barn, struct slab_sheaf *sh)
{
	if (sh->size == sh->capacity) {
		sm_lock(&barn->lock);
		if (barn->nr_full < s->barn_max_full) {
			list_add(&sh->barn_list, &barn->full);
			barn->nr_full++;
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
		barn->nr_empty++;
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
	barn->nr_full = barn->nr_empty = 0;
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
