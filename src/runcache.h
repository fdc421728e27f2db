/*
 * runcache.h - a thread's cache of recently freed page runs (issue 11): a
 * free of a run up to RUNCACHE_MAX_PAGES keeps it here instead of giving
 * it back to its node, and the next request of the same page count takes
 * it back, neither taking a node lock.  Bounded by RUNCACHE_SLOTS runs and
 * RUNCACHE_BUDGET_PAGES pages per thread and instance.
 *
 * A cached run keeps its descriptors; its head is PT_LARGE_CACHED, so it is
 * not live (large_lookup fails on it, a second free of it is a double free)
 * and not free either (no neighbour merges with it).  The claim
 * PT_LARGE -> PT_LARGE_CACHED is an atomic compare-and-swap, and
 * node_free_run claims PT_LARGE -> PT_UNUSED the same way: of two frees of
 * one run, however they race, exactly one succeeds.
 *
 * Ownership of a slot's run passes only by an atomic exchange of the slot
 * with NULL, so the owner (runcache_get, eviction) and any other thread
 * (runcache_flush: the purge, the fork child, thread exit) can take runs
 * out concurrently and each run is taken once.  Only the owner fills a slot.
 */
#ifndef SM_RUNCACHE_H
#define SM_RUNCACHE_H

#include <stdbool.h>
#include <stdint.h>

#include "compiler.h"
#include "node.h"

#define RUNCACHE_SLOTS        16
#define RUNCACHE_MAX_PAGES    256u   /* runs up to 1 MiB are cached */
#define RUNCACHE_BUDGET_PAGES 1024u  /* 4 MiB per thread and instance */
#define RUNCACHE_CLOCK_EVERY  16u    /* a put reads the clock this often */

struct run_cache {
	void *slot[RUNCACHE_SLOTS];       /* a cached run's first byte, or NULL;
	                                     emptied only by atomic exchange */
	uint32_t npages[RUNCACHE_SLOTS];  /* of slot i's run; written by the owner
	                                     before it publishes the slot */
	uint64_t stamp[RUNCACHE_SLOTS];   /* when slot i's run was freed, or
	                                     earlier (the owner's clock reading) */
	struct slab *head[RUNCACHE_SLOTS];/* slot i's run's head descriptor, for
	                                     the owner's get (others find it from
	                                     the run's address) */
	/* The owner's alone: */
	uint32_t used;                    /* bit i: slot i was filled and not
	                                     emptied by the owner (another thread
	                                     may have emptied it since) */
	uint32_t pages;                   /* npages of the used slots (an upper bound) */
	uint32_t puts;                    /* puts so far, for the clock */
	uint32_t victim;                  /* the next slot evicted when full */
	uint64_t clock;                   /* the owner's last clock reading (ns) */
	/* The owner's counters (WRITE_ONCE; sm_stats reads them racily, the
	   thread's exit adds them to the instance's): plain stores, where the
	   instance's atomic counters cost a locked instruction each, a third
	   of a 64 KiB malloc+free pair's time. */
	uint64_t allocs;                  /* runs handed out from the cache */
	uint64_t bytes;                   /* what those requests asked for */
	uint64_t frees;                   /* runs kept in the cache */
};

/* Count a run handed out from @rc for a request of @size bytes (owner only). */
static inline void runcache_count_alloc(struct run_cache *rc, size_t size)
{
	WRITE_ONCE(rc->allocs, rc->allocs + 1);
	WRITE_ONCE(rc->bytes, rc->bytes + size);
}

/* Count a run kept in @rc (owner only). */
static inline void runcache_count_free(struct run_cache *rc)
{
	WRITE_ONCE(rc->frees, rc->frees + 1);
}

/*
 * A cached run of exactly @npages pages, taken out of @rc and live again
 * (PT_LARGE, asked for @size bytes), or NULL if none.  Its contents are
 * what its last owner left.  Owner only, busy set.  Inline: with no call
 * in it, a hit of __kmalloc_large saves no register.
 */
static __always_inline void *runcache_get(struct run_cache *rc, uint32_t npages, size_t size)
{
	for (uint32_t m = rc->used; m; m &= m - 1) {
		unsigned i = (unsigned)__builtin_ctz(m);
		if (rc->npages[i] != npages)
			continue;
		void *p = __atomic_exchange_n(&rc->slot[i], NULL, __ATOMIC_ACQUIRE);
		rc->used &= ~(1u << i);
		rc->pages -= npages;
		if (!p)
			continue; /* flushed by another thread meanwhile */
		struct slab *h = rc->head[i];
		h->size = size;
		__atomic_store_n(&h->type, PT_LARGE, __ATOMIC_RELEASE);
		return p;
	}
	return NULL;
}

enum runcache_put_result {
	RUNCACHE_CACHED,   /* kept in the cache */
	RUNCACHE_CACHED_TICK, /* kept, and the put read the clock: rc->clock */
	RUNCACHE_NO,       /* not cached (too big): free it to its node */
	RUNCACHE_NOT_LIVE, /* its head was not PT_LARGE: freed already */
};

#define RUNCACHE_ALL_SLOTS ((uint32_t)((1ull << RUNCACHE_SLOTS) - 1))

/*
 * Whether the run of @npages pages at @page could merge with a neighbour
 * now: a dirty free run lies right before or right after it, or, with
 * @cached_too, a run in a run cache (given back too, the two merge).
 * Read without the node lock, so only a hint: descriptors are never
 * unmapped, and a wrong answer only caches a run that could have merged,
 * or gives back one that could have stayed.
 */
static __always_inline bool run_has_free_neighbour(struct sm_node *n, uint32_t page, uint32_t npages,
						   bool cached_too)
{
	if (page > 0) {
		const struct slab *t = &n->descs[page - 1];
		uint8_t type = READ_ONCE(t->type);
		if (type == PT_FREE && READ_ONCE(t->dirty))
			return true;
		/* A cached run ending there (a tail names its head). */
		if (cached_too && (type == PT_LARGE_TAIL || type == PT_LARGE_CACHED) &&
		    READ_ONCE(n->descs[READ_ONCE(t->head)].type) == PT_LARGE_CACHED)
			return true;
	}
	uint32_t next = page + npages;
	if (next < READ_ONCE(n->bump)) {
		const struct slab *h = &n->descs[next];
		uint8_t type = READ_ONCE(h->type);
		if ((type == PT_FREE && READ_ONCE(h->dirty)) || (cached_too && type == PT_LARGE_CACHED))
			return true;
	}
	return false;
}

/* Fill a free slot (there is one: make_room) with the run @h heads, at @page of @n. */
static __always_inline void runcache_slot_fill(struct run_cache *rc, struct sm_node *n, struct slab *h,
					       uint32_t page, uint32_t npages)
{
	unsigned i = (unsigned)__builtin_ctz(~rc->used & RUNCACHE_ALL_SLOTS);
	WRITE_ONCE(rc->npages[i], npages);
	WRITE_ONCE(rc->stamp[i], rc->clock);
	rc->head[i] = h;
	__atomic_store_n(&rc->slot[i], node_page_addr(n, page), __ATOMIC_RELEASE);
	rc->used |= 1u << i;
	rc->pages += npages;
}

void runcache_put_slow(struct run_cache *rc, struct sm_node *n, struct slab *h, uint32_t page,
		       uint32_t npages, bool tick) __hidden;

/*
 * Keep the live run whose first page is @page of @n in @rc.  What it
 * evicts to make room goes back to its node (takes node locks).  Every
 * RUNCACHE_CLOCK_EVERY puts, a put reads the clock into rc->clock and
 * says so (RUNCACHE_CACHED_TICK: the caller runs the purge timer with
 * it).  Owner only, busy set, no lock held.  Inline, as runcache_get:
 * the common put calls nothing (runcache_put_slow has the rest).
 */
static __always_inline enum runcache_put_result runcache_put(struct run_cache *rc, struct sm_node *n,
							     uint32_t page)
{
	struct slab *h = &n->descs[page];
	uint32_t npages = h->npages;
	/* Next to a dirty free run: to the node, where it merges. */
	if (npages > RUNCACHE_MAX_PAGES || run_has_free_neighbour(n, page, npages, false))
		return RUNCACHE_NO;
	uint8_t live = PT_LARGE;
	if (!__atomic_compare_exchange_n(&h->type, &live, PT_LARGE_CACHED, false, __ATOMIC_ACQ_REL,
					 __ATOMIC_RELAXED))
		return RUNCACHE_NOT_LIVE;
	bool tick = rc->puts++ % RUNCACHE_CLOCK_EVERY == 0;
	if (unlikely(tick || rc->used == RUNCACHE_ALL_SLOTS || rc->pages + npages > RUNCACHE_BUDGET_PAGES))
		runcache_put_slow(rc, n, h, page, npages, tick);
	else
		runcache_slot_fill(rc, n, h, page, npages);
	return tick ? RUNCACHE_CACHED_TICK : RUNCACHE_CACHED;
}

/*
 * Give back to their nodes the runs of @rc, the owner's cache, that lie
 * right next to a dirty free run or another cached run now: they merge
 * there.  A cached run merges with nothing, so a page-run request the
 * cache cannot serve (alloc.c, __kmalloc_large) calls this before it goes
 * to the nodes.  Owner only, busy set, no lock held; takes node locks.
 * Returns the pages given back.
 */
size_t runcache_release_mergeable(struct run_cache *rc) __hidden;

/*
 * Give back to their nodes the runs of @rc freed at or before @cutoff (all
 * with UINT64_MAX), as dirty runs with the stamps they had here.  Any
 * thread, no lock needed (the caller keeps @rc's memory alive); takes node
 * locks.  Returns the pages given back.
 */
size_t runcache_flush(struct run_cache *rc, uint64_t cutoff) __hidden;

/* Pages cached in @rc right now (racy from another thread: for statistics). */
size_t runcache_pages(const struct run_cache *rc) __hidden;

/* Whether @p is the first byte of a run in some thread's run cache (a free of it is a double free). */
bool runcache_holds(const void *p) __hidden;

#endif /* SM_RUNCACHE_H */
