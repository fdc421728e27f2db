/*
 * quarantine.c - the bounded ring of freed objects of hardened mode
 * (quarantine.h).  Entries go in at the tail and leave at the head; a
 * lookup walks the ring (only a suspected double free asks).
 */
#include "quarantine.h"

static inline unsigned slot_at(const struct quarantine *q, unsigned k)
{
	return (q->head + k) % QUARANTINE_SLOTS;
}

/* Take the oldest entry (lock held, count > 0). */
static struct quarantine_entry pop_oldest(struct quarantine *q)
{
	struct quarantine_entry e = q->ring[q->head];
	q->head = (q->head + 1) % QUARANTINE_SLOTS;
	q->count--;
	q->bytes -= e.s->size;
	return e;
}

int quarantine_push(struct quarantine *q, struct kmem_cache *s, void *p, bool trylock,
		    struct quarantine_entry *out)
{
	if (!sm_lock_ctx(&q->lock, trylock))
		return -1;
	int n = 0;
	while (q->count && n < QUARANTINE_EVICT &&
	       (q->count == QUARANTINE_SLOTS || q->bytes + s->size > QUARANTINE_BYTES))
		out[n++] = pop_oldest(q);
	if (q->count == QUARANTINE_SLOTS) { /* cannot happen: one eviction makes room */
		sm_unlock(&q->lock);
		return -1;
	}
	/* Before the unlock: a double-free check that looks after it knows.
	   Only for objects the caller will put back (quarantine_put_back). */
	if (n)
		__atomic_fetch_add(&q->moves_begun, (unsigned)n, __ATOMIC_RELAXED);
	q->ring[slot_at(q, q->count)] = (struct quarantine_entry){ s, p };
	q->count++;
	q->bytes += s->size;
	sm_unlock(&q->lock);
	return n;
}

int quarantine_holds(struct quarantine *q, const void *p, bool trylock)
{
	if (!sm_lock_ctx(&q->lock, trylock))
		return -1;
	int found = 0;
	for (unsigned k = 0; k < q->count && !found; k++)
		found = q->ring[slot_at(q, k)].p == p;
	sm_unlock(&q->lock);
	return found;
}

size_t quarantine_drain(struct quarantine *q, struct kmem_cache *s)
{
	size_t back = 0;
	for (;;) {
		struct quarantine_entry batch[QUARANTINE_EVICT];
		unsigned n = 0;
		sm_lock(&q->lock);
		if (!s) {
			while (q->count && n < QUARANTINE_EVICT)
				batch[n++] = pop_oldest(q);
		} else {
			/* Keep the others, in order: compact the ring in place. */
			unsigned kept = 0, total = q->count;
			for (unsigned k = 0; k < total; k++) {
				struct quarantine_entry e = q->ring[slot_at(q, k)];
				if (e.s == s && n < QUARANTINE_EVICT) {
					batch[n++] = e;
					q->bytes -= e.s->size;
				} else {
					q->ring[slot_at(q, kept++)] = e;
				}
			}
			q->count = kept;
		}
		if (n)
			__atomic_fetch_add(&q->moves_begun, n, __ATOMIC_RELAXED);
		sm_unlock(&q->lock);
		if (!n)
			return back;
		for (unsigned i = 0; i < n; i++)
			slab_put_objects(batch[i].s, &batch[i].p, 1, false);
		quarantine_put_back(q, n);
		back += n;
	}
}

size_t quarantine_count(struct quarantine *q, const struct kmem_cache *s)
{
	size_t n = 0;
	sm_lock(&q->lock);
	for (unsigned k = 0; k < q->count; k++)
		n += q->ring[slot_at(q, k)].s == s;
	sm_unlock(&q->lock);
	return n;
}

void quarantine_fork_child(struct quarantine *q, bool nested)
{
	if (sm_lock_is_locked(&q->lock) && !sm_lock_held_by_self(&q->lock)) {
		sm_lock_init(&q->lock);
		q->head = q->count = 0;
		q->bytes = 0;
	}
	/* Objects the threads that did not come along were putting back are
	   lost (leaked): no move is under way any more.  Unless this thread
	   is inside the allocator, where it may be putting some back itself. */
	if (!nested)
		q->moves_done = q->moves_begun;
}
