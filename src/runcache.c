/*
 * runcache.c - a thread's cache of freed page runs (runcache.h): taking a
 * run out, keeping one (evicting the oldest slots when full), and flushing
 * old runs back to their nodes from any thread.
 */
#include "runcache.h"

#include "os.h"

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
	if (rc->used != RUNCACHE_ALL_SLOTS && rc->pages + npages <= RUNCACHE_BUDGET_PAGES)
		return;
	resync(rc);
	while (rc->used == RUNCACHE_ALL_SLOTS || rc->pages + npages > RUNCACHE_BUDGET_PAGES) {
		unsigned i = rc->victim++ % RUNCACHE_SLOTS;
		if (rc->used & (1u << i))
			slot_release(rc, i);
	}
}

/*
 * The end of a put that reads the clock or must make room first
 * (runcache_put): out of line, so that the common put calls nothing and
 * saves no register.
 */
void runcache_put_slow(struct run_cache *rc, struct sm_node *n, struct slab *h, uint32_t page,
		       uint32_t npages, bool tick)
{
	/* The real OS's clock is read coarse (os.h, os_coarse_ns: 3 ns
	   against 25 in a VM): a stamp a tick early purges the run at most a
	   tick sooner, and the purge timer the caller runs with it fires at
	   most a tick later. */
	if (tick)
		rc->clock = os_clock_is_real(n->os) ? os_coarse_ns() : n->os->now_ns(n->os->arg);
	make_room(rc, npages);
	runcache_slot_fill(rc, n, h, page, npages);
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
