/*
 * runcache.c - a thread's cache of freed page runs (runcache.h): taking a
 * run out, keeping one (evicting the oldest slots when full), and flushing
 * old runs back to their nodes from any thread.
 */
#include "runcache.h"

#define ALL_SLOTS ((uint32_t)((1ull << RUNCACHE_SLOTS) - 1))

_Static_assert(RUNCACHE_SLOTS <= 32, "used is a 32-bit mask");
_Static_assert(RUNCACHE_MAX_PAGES <= RUNCACHE_BUDGET_PAGES, "a cacheable run must fit the budget");

/* The descriptor of the run starting at @p, which the caller owns; its node in *@np. */
static __always_inline struct slab *run_head(void *p, struct sm_node **np)
{
	struct sm_node *n = node_of(p);
	*np = n;
	return &n->descs[node_page_index(n, p)];
}

/* Give the cached run @p, which the caller took out of a slot, back to its node. */
static void run_release(void *p, uint64_t stamp)
{
	struct sm_node *n;
	struct slab *h = run_head(p, &n);
	node_free_cached_run(n, (uint32_t)(h - n->descs), stamp);
}

/* Forget the slots another thread emptied. */
static void resync(struct run_cache *rc)
{
	for (uint32_t m = rc->used; m; m &= m - 1) {
		unsigned i = (unsigned)__builtin_ctz(m);
		if (!__atomic_load_n(&rc->slot[i], __ATOMIC_RELAXED)) {
			rc->used &= ~(1u << i);
			rc->pages -= rc->npages[i];
		}
	}
}

/* Empty used slot @i and give its run back to its node (none if another
   thread flushed it meanwhile); the pages it held, if it had the run. */
static uint32_t slot_release(struct run_cache *rc, unsigned i)
{
	void *p = __atomic_exchange_n(&rc->slot[i], NULL, __ATOMIC_ACQUIRE);
	rc->used &= ~(1u << i);
	rc->pages -= rc->npages[i];
	if (!p)
		return 0;
	run_release(p, rc->stamp[i]);
	return rc->npages[i];
}

/* Make room for a run of @npages: a free slot and the budget; evicts in slot order. */
static void make_room(struct run_cache *rc, uint32_t npages)
{
	if (rc->used != ALL_SLOTS && rc->pages + npages <= RUNCACHE_BUDGET_PAGES)
		return;
	resync(rc);
	while (rc->used == ALL_SLOTS || rc->pages + npages > RUNCACHE_BUDGET_PAGES) {
		unsigned i = rc->victim++ % RUNCACHE_SLOTS;
		if (rc->used & (1u << i))
			slot_release(rc, i);
	}
}

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
static __always_inline void slot_fill(struct run_cache *rc, struct sm_node *n, struct slab *h, uint32_t page,
				      uint32_t npages)
{
	unsigned i = (unsigned)__builtin_ctz(~rc->used & ALL_SLOTS);
	WRITE_ONCE(rc->npages[i], npages);
	WRITE_ONCE(rc->stamp[i], rc->clock);
	rc->head[i] = h;
	__atomic_store_n(&rc->slot[i], node_page_addr(n, page), __ATOMIC_RELEASE);
	rc->used |= 1u << i;
	rc->pages += npages;
}

/*
 * The end of a put that reads the clock or must make room first: out of
 * line, so that the common put calls nothing and saves no register.
 */
static __noinline void put_slow(struct run_cache *rc, struct sm_node *n, struct slab *h, uint32_t page,
				uint32_t npages, bool tick)
{
	if (tick)
		rc->clock = n->os->now_ns(n->os->arg);
	make_room(rc, npages);
	slot_fill(rc, n, h, page, npages);
}

enum runcache_put_result runcache_put(struct run_cache *rc, struct sm_node *n, uint32_t page)
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
	if (unlikely(tick || rc->used == ALL_SLOTS || rc->pages + npages > RUNCACHE_BUDGET_PAGES))
		put_slow(rc, n, h, page, npages, tick);
	else
		slot_fill(rc, n, h, page, npages);
	return tick ? RUNCACHE_CACHED_TICK : RUNCACHE_CACHED;
}

size_t runcache_release_mergeable(struct run_cache *rc)
{
	size_t pages = 0;
	for (uint32_t m = rc->used; m; m &= m - 1) {
		unsigned i = (unsigned)__builtin_ctz(m);
		void *p = __atomic_load_n(&rc->slot[i], __ATOMIC_ACQUIRE);
		if (!p)
			continue; /* flushed meanwhile: resync forgets it */
		struct sm_node *n;
		struct slab *h = run_head(p, &n);
		if (run_has_free_neighbour(n, (uint32_t)(h - n->descs), rc->npages[i], true))
			pages += slot_release(rc, i);
	}
	return pages;
}

size_t runcache_flush(struct run_cache *rc, uint64_t cutoff)
{
	size_t pages = 0;
	for (unsigned i = 0; i < RUNCACHE_SLOTS; i++) {
		if (!__atomic_load_n(&rc->slot[i], __ATOMIC_RELAXED))
			continue;
		uint64_t stamp = READ_ONCE(rc->stamp[i]);
		if (stamp > cutoff)
			continue;
		void *p = __atomic_exchange_n(&rc->slot[i], NULL, __ATOMIC_ACQUIRE);
		if (!p)
			continue; /* the owner took it */
		/* The owner may have refilled the slot between the two reads: the
		   run is flushed anyway, stamped no later than the cutoff. */
		struct sm_node *n;
		pages += run_head(p, &n)->npages;
		run_release(p, MIN(stamp, cutoff));
	}
	return pages;
}

size_t runcache_pages(const struct run_cache *rc)
{
	size_t pages = 0;
	for (unsigned i = 0; i < RUNCACHE_SLOTS; i++)
		if (__atomic_load_n(&rc->slot[i], __ATOMIC_RELAXED))
			pages += READ_ONCE(rc->npages[i]);
	return pages;
}

bool runcache_holds(const void *p)
{
	struct sm_node *n = node_of(p);
	if (!n || n->kind == NODE_HUGE)
		return false;
	uint32_t page = node_page_index(n, p);
	return page != UINT32_MAX && p == node_page_addr(n, page) &&
	       __atomic_load_n(&n->descs[page].type, __ATOMIC_RELAXED) == PT_LARGE_CACHED;
}
