/*
 * barn.h - the barn: for one cache on one node, a store of full and empty
 * sheaves that threads exchange theirs with (the kernel's node_barn).
 * struct node_barn is embedded in each kmem_cache_node (kmem_cache.h).
 *
 * The barn lock is held only to move a sheaf between lists; every slab
 * operation (flushing a sheaf that does not fit) happens after it is
 * released, so barn.lock and list_lock never nest.  Every function takes
 * and releases barn->lock; with @trylock it only tries it and fails the
 * exchange when it is busy.
 */
#ifndef SM_BARN_H
#define SM_BARN_H

#include <stdbool.h>

#include "kmem_cache.h"
#include "sheaf.h"

/*
 * Growth.  A barn starts with the cache's limits, s->barn_max_full full and
 * s->barn_max_empty empty sheaves.  When full sheaves were turned away
 * (flushed to their slabs because the barn was full) and later a refill
 * finds the barn without a full sheaf, objects made the round trip sheaf ->
 * slab -> sheaf that a larger barn would have spared them: a program that
 * frees a large batch and allocates it again (a compiler's phase, a
 * request's arena).  If they were at least a quarter of the barn's limit,
 * both limits double, at most s->barn_grow_max times (the options'
 * barn_grow_bytes).  A purge that finds the barn in use but never
 * above half its full limit since the last purge halves the limits again
 * (and frees the empty sheaves over them); an idle barn is drained and starts
 * over.  So a barn holds more only while a program's batches need it, for
 * at most a purge interval per halving after they stop.  (barn_max, in
 * kmem_cache.h, is a limit after growth.)
 */

/*
 * Exchange an empty sheaf for a full one: returns a full sheaf from @barn or
 * NULL if it has none.  On success @empty is taken into the barn, or handed
 * back through *@empty (to be freed by the caller) when the barn already
 * holds barn_max_empty empties.
 */
struct slab_sheaf *barn_replace_empty_sheaf(struct kmem_cache *s, struct node_barn *barn,
					    struct slab_sheaf **empty, bool trylock) __hidden;
/*
 * Give a full sheaf to @barn.  Returns false, keeping @full with the caller,
 * when the barn already holds its limit of full sheaves (the barn notes it:
 * growth, above).  On success,
 * *@empty receives an empty sheaf from the barn, or NULL if it had none.
 */
bool barn_replace_full_sheaf(struct kmem_cache *s, struct node_barn *barn,
			     struct slab_sheaf *full, struct slab_sheaf **empty, bool trylock) __hidden;
/* Take a full sheaf from @barn, or NULL (growth, above, when it has none). */
struct slab_sheaf *barn_get_full_sheaf(struct kmem_cache *s, struct node_barn *barn, bool trylock) __hidden;
/* Take an empty sheaf from @barn, or NULL. */
struct slab_sheaf *barn_get_empty_sheaf(struct kmem_cache *s, struct node_barn *barn, bool trylock) __hidden;
/*
 * Return a sheaf a thread no longer needs (thread exit, flush, shrink): a
 * full one goes to the barn if there is room, anything else is flushed to
 * slabs and kept as an empty sheaf by the barn or freed.
 */
void barn_return_sheaf(struct kmem_cache *s, struct node_barn *barn, struct slab_sheaf *sh) __hidden;
/* Empty @barn: flush its full sheaves to slabs and free all its sheaves. */
void barn_drain(struct kmem_cache *s, struct node_barn *barn) __hidden;
/*
 * The purge's view of a barn: if no sheaf went in or out since the last
 * purge looked, the barn is idle and its sheaves only pin slabs: drain it
 * and reset its limits (returns true).  Otherwise remember where it stands,
 * and halve grown limits that it did not need (growth, above).
 */
bool barn_age(struct kmem_cache *s, struct node_barn *barn) __hidden;

/* Whether a sheaf in @barn holds @p.  1 yes, 0 no, -1 the lock was busy (@trylock). */
int barn_holds(struct node_barn *barn, const void *p, bool trylock) __hidden;

/*
 * In the child of fork(), before anything else runs: a barn lock that a
 * vanished thread held is reset and the barn emptied (its sheaves leak).
 */
void barn_fork_child(struct node_barn *barn) __hidden;

#endif /* SM_BARN_H */
