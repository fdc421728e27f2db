/*
 * sheaf.c - making and freeing sheaves, filling them from slabs and
 * flushing them back (sheaf.h).  No lock is held on entry; the slab layer
 * takes the list_locks.
 */
#include "sheaf.h"

struct slab_sheaf *sheaf_alloc(struct kmem_cache *s, const struct slab_alloc_context *ctx)
{
	struct slab_alloc_context c = *ctx;
	c.alloc_flags = (ctx->alloc_flags & SLAB_ALLOC_TRYLOCK) | SLAB_ALLOC_NO_RECURSE;
	c.node = SM_NO_NODE;
	c.orig_size = sheaf_bytes(s->sheaf_capacity);
	struct slab_sheaf *sh = kmem_cache_alloc_direct(s->sheaf_cache, &c);
	if (!sh)
		return NULL;
	cache_stat_inc(s->sheaf_cache, STAT_INTERNAL_ALLOC);
	sh->size = 0;
	sh->capacity = (uint16_t)s->sheaf_capacity;
	sh->mark = cache_free_tag(s->sheaf_cache);
	sh->cache = s;
	INIT_LIST_HEAD(&sh->barn_list);
	return sh;
}

void sheaf_free(struct slab_sheaf *sh)
{
	SM_BUG_ON(sh->size);
	cache_stat_inc(sh->cache->sheaf_cache, STAT_INTERNAL_FREE);
	kmem_cache_free_direct(sh->cache->sheaf_cache, sh);
}

void sheaf_flush(struct kmem_cache *s, struct slab_sheaf *sh)
{
	if (!sh->size)
		return;
	slab_put_objects(s, sh->objects, sh->size, false);
	WRITE_ONCE(sh->size, 0);
	cache_stat_inc(s, STAT_FLUSH);
}

unsigned sheaf_refill(struct kmem_cache *s, struct slab_sheaf *sh, const struct slab_alloc_context *ctx)
{
	unsigned got = slab_get_objects(s, ctx, sh->objects + sh->size, sh->capacity - sh->size);
	WRITE_ONCE(sh->size, sh->size + got);
	if (got)
		cache_stat_inc(s, STAT_REFILL);
	return got;
}
