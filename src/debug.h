/*
 * debug.h - slab_debug, SLUB's slab_debug=FZPU[T] for slabmalloc: the
 * layout of a debug cache's slots, the checks made on every allocation and
 * free of its objects, the owner tracking, the reports, and the
 * validation of a whole cache (docs/architecture.md, "slab_debug").
 *
 * A debug cache (s->debug != 0) has no sheaves: its slabs are
 * PT_SLAB_ROUTED with fclass 0, so free()'s fast path and obj_cache()
 * never take its objects, every free goes home through the routed path
 * (free.c, slab_free_routed -> debug_free), and every allocation misses
 * into kmem_cache_alloc_direct -> debug_alloc (tcache_refill_main gives a
 * debug cache no sheaf).  Nothing here is reached for any other cache.
 *
 * A slot, from the object pointer p (the slot starts red_left bytes
 * before it):
 *   [-red_left, 0)            left red zone (Z)           0xbb free, 0xcc live
 *   [0, object_size)          the object                  0x6b.. 0xa5 free (P)
 *   [object_size, fp_offset)  right red zone (Z)          0xbb / 0xcc
 *   [fp_offset, +8)           the free word (kmem_cache.h), moved out of the object
 *   [track_off, +2 tracks)    last alloc, last free (U; T: with backtraces)
 *   [pad_off, slot end)       padding 0x5a (P)
 *
 * Locking: a check and the state change it guards (red zones, poison,
 * tracks, the free word) happen under the object's node list_lock, so
 * sm_cache_validate (which holds it) never sees an object half-changed;
 * the report is printed after the lock is dropped (dladdr may take the
 * loader lock).  Re-entered (@trylock): locks are only tried, and the
 * report names raw addresses (no dladdr in a signal handler).
 */
#ifndef SM_DEBUG_H
#define SM_DEBUG_H

#include <stdbool.h>
#include <stddef.h>

#include "alloc_context.h"
#include "kmem_cache.h"
#include "slabmalloc.h"

/*
 * The SM_CACHE_DEBUG_* bits @o asks for a cache called @name:
 * o->debug if debug_caches is NULL or names @name, else 0.
 */
unsigned debug_wanted(const struct sm_options *o, const char *name) __hidden;

/*
 * Before caches are made with @o's slab_debug or the cache @flags: when
 * they track owners (U or T), find the unwinder their stack traces need
 * (os_stack_prepare: it may dlopen libgcc_s).  Call it where the
 * allocator may be entered and no allocator lock is held: instance and
 * cache creation before their locks, the library's constructor for the
 * default instance.
 */
void debug_prepare(const struct sm_options *o, unsigned flags) __hidden;

/*
 * The slot size of a debug cache of @size-byte objects aligned to @align
 * with SM_CACHE_DEBUG_* @flags (T implies U); sets s->debug, red_left,
 * fp_offset, track_off and pad_off.  Called by kmem_cache_init before the
 * slab geometry is computed from the slot size.
 */
size_t debug_cache_layout(struct kmem_cache *s, size_t size, size_t align, unsigned flags) __hidden;

/* Write every slot of a new slab at @base as a free object (before any constructor runs). */
void debug_slab_init(struct kmem_cache *s, char *base) __hidden;

/*
 * One object of debug cache @s (kmem_cache_alloc_direct's body for it):
 * taken from the slabs, checked as a free object (red zones inactive,
 * poison and padding intact), then made live (red zones active, the alloc
 * track, the free word cleared).  An object that fails is reported and
 * never handed out (leaked), and another is taken.  NULL: out of memory
 * (or, with TRYLOCK, a busy lock).
 */
void *debug_alloc(struct kmem_cache *s, const struct slab_alloc_context *ctx) __hidden;

/*
 * The checks of a free of @p, a live object of debug cache @s, before it
 * goes back to its slab: not free already, its slab sane (F), red zones
 * and padding intact; then it is made free (red zones inactive, poison,
 * the free track, the free word tagged).  False when @p was reported:
 * the caller leaves it alone.  @trylock: re-entered.
 */
bool debug_free(struct kmem_cache *s, void *p, bool trylock) __hidden;

/*
 * sm_cache_validate's body: every slab of @s on every node, under that
 * node's list_lock; problems reported after it is dropped.  Returns their
 * number.  Blocking: not from a re-entered call.
 */
size_t debug_validate(struct kmem_cache *s) __hidden;

#endif /* SM_DEBUG_H */
