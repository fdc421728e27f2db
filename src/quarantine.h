/*
 * quarantine.h - hardened mode's quarantine: freed small objects of one
 * instance wait here, zeroed and marked free (their free word holds the
 * cache's free key), before they go back to their slabs, so that a stale
 * pointer's write lands in an object nobody has yet and is found when the
 * object is handed out again (harden.h), and a double free finds it here.
 *
 * One ring per instance, oldest first, bounded by QUARANTINE_SLOTS objects
 * and QUARANTINE_BYTES bytes of slots: a push beyond either bound evicts
 * the oldest.  Guarded by its own lock, a leaf of the lock order (nothing
 * is taken while it is held: evicted objects are put back into their
 * slabs after it is released).  Must not: allocate, or know the instance.
 */
#ifndef SM_QUARANTINE_H
#define SM_QUARANTINE_H

#include <stdbool.h>
#include <stddef.h>

#include "kmem_cache.h"
#include "lock.h"

#define QUARANTINE_SLOTS 1024
#define QUARANTINE_BYTES ((size_t)1 << 20)
#define QUARANTINE_EVICT 8      /* objects one push may evict at most */

struct quarantine_entry {
	struct kmem_cache *s;
	void *p;
};

struct quarantine {
	sm_lock_t lock;                 /* guards head, count, bytes, ring */
	unsigned head;                  /* oldest entry */
	unsigned count;                 /* <= QUARANTINE_SLOTS */
	size_t bytes;                   /* sum of the entries' slot sizes */
	/*
	 * Objects taken out of the ring to be put back into their slabs
	 * (evicted or drained), counted when taken (under the lock) and when
	 * put back (after it): between the two, an object is in neither
	 * place, and the double-free check, which reads moves_done before it
	 * looks and moves_begun after, looks again if they differ.  Relaxed
	 * atomics; moves_begun >= moves_done.
	 */
	uint64_t moves_begun, moves_done;
	struct quarantine_entry ring[QUARANTINE_SLOTS];
};

/*
 * Quarantine @p, a freed object of @s (scrubbed and marked free by the
 * caller).  Returns how many objects were evicted into @out (at most
 * QUARANTINE_EVICT; the caller puts them back into their slabs, then
 * calls quarantine_put_back with that number), or -1 when @trylock found
 * the lock busy: @p was not taken, the caller frees it.
 */
int quarantine_push(struct quarantine *q, struct kmem_cache *s, void *p, bool trylock,
		    struct quarantine_entry *out) __hidden;

/* @n objects taken out of @q (quarantine_push's @out) are back in their slabs. */
static inline void quarantine_put_back(struct quarantine *q, unsigned n)
{
	__atomic_fetch_add(&q->moves_done, n, __ATOMIC_RELEASE);
}

/*
 * Objects taken out of @q and back in their slabs so far (the double-free
 * check's first read), and taken out so far (its second).
 */
static inline uint64_t quarantine_moves_done(const struct quarantine *q)
{
	return __atomic_load_n(&q->moves_done, __ATOMIC_ACQUIRE);
}

static inline uint64_t quarantine_moves_begun(const struct quarantine *q)
{
	return __atomic_load_n(&q->moves_begun, __ATOMIC_RELAXED);
}

/* Whether @p is in @q: 1 yes, 0 no, -1 could not tell (@trylock, lock busy). */
int quarantine_holds(struct quarantine *q, const void *p, bool trylock) __hidden;

/*
 * Put every quarantined object back into its slab (@s NULL) or only those
 * of @s.  Takes the lock, then list_locks (never both at once).  Returns
 * the number put back.
 */
size_t quarantine_drain(struct quarantine *q, struct kmem_cache *s) __hidden;

/* How many objects of @s wait in @q (statistics: they count as free). Takes the lock. */
size_t quarantine_count(struct quarantine *q, const struct kmem_cache *s) __hidden;

/*
 * In the child of fork(): a lock held by a thread that is gone is made
 * anew and what it guarded forgotten (those objects leak), and so are the
 * objects such threads were putting back, unless @nested (this thread is
 * inside the allocator: fork from a signal handler); what the child holds
 * then is drained by the caller.
 */
void quarantine_fork_child(struct quarantine *q, bool nested) __hidden;

#endif /* SM_QUARANTINE_H */
