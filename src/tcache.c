/*
 * tcache.c - the thread cache (tcache.h): creating a thread's tcache for an
 * instance, keeping its main sheaf usable for the slow paths (refill when
 * empty, make room when full, trading with the spare and the barn), and
 * giving its sheaves back (thread exit, sm_thread_flush, shrink, destroy).
 */
#include <string.h>

#include "barn.h"
#include "tcache.h"

struct tcache *tcache_create(struct sm_instance *inst)
{
	struct slab_alloc_context ctx = SLAB_ALLOC_CTX(sizeof(struct tcache), SLAB_ALLOC_NO_RECURSE,
						       SM_NO_NODE);
	uint32_t npages = (uint32_t)(ALIGN_UP(sizeof(struct tcache), SM_PAGE_SIZE) >> SM_PAGE_SHIFT);
	uint32_t first;
	bool zeroed;
	struct sm_node *n = pa_alloc_pages(&inst->pa, npages, 1, &ctx, &first, &zeroed);
	if (!n)
		return NULL;
	struct tcache *tc = node_page_addr(n, first);
	if (!zeroed)
		memset(tc, 0, sizeof(*tc));
	tc->inst = inst;
	tc->first_page = first;
	tc->npages = npages;
	tc->node_id = 0;
	tc->busy = &sm_thread.busy;
	for (unsigned i = 0; i < SM_MAX_CACHES; i++)
		tc->sheaves[i].main = &sm_empty_sheaf;
	sm_lock(&inst->lock);
	list_add(&tc->link, &inst->tcaches);
	sm_unlock(&inst->lock);
	sm_thread.slots[inst->slot].tc = tc;
	sm_thread.slots[inst->slot].gen = inst->gen;
	return tc;
}

void tcache_release_sheaves(struct tcache *tc, struct kmem_cache *s)
{
	struct tcache_sheaves *ts = &tc->sheaves[s->id];
	struct node_barn *barn = tcache_barn(tc, s);
	if (ts->main != &sm_empty_sheaf)
		barn_return_sheaf(s, barn, ts->main);
	if (ts->spare)
		barn_return_sheaf(s, barn, ts->spare);
	WRITE_ONCE(ts->main, &sm_empty_sheaf);
	WRITE_ONCE(ts->spare, NULL);
}

void tcache_release_all(struct tcache *tc)
{
	struct sm_instance *inst = tc->inst;
	for (unsigned id = 0; id < SM_MAX_CACHES; id++) {
		struct tcache_sheaves *ts = &tc->sheaves[id];
		if (ts->main != &sm_empty_sheaf || ts->spare)
			tcache_release_sheaves(tc, inst->cache_by_id[id]);
	}
}

void tcache_destroy(struct tcache *tc)
{
	struct sm_instance *inst = tc->inst;
	sm_lock(&inst->lock);
	tcache_release_all(tc);
	list_del(&tc->link);
	sm_unlock(&inst->lock);
	runcache_flush(&tc->runs, UINT64_MAX);
	struct sm_node *n = node_of(tc);
	node_free_pages(n, tc->first_page, tc->npages, inst_now(inst), false);
}

bool tcache_refill_main(struct tcache *tc, struct kmem_cache *s, const struct slab_alloc_context *ctx)
{
	struct tcache_sheaves *ts = &tc->sheaves[s->id];
	struct slab_sheaf *m = ts->main;
	if (m->size)
		return true; /* the caller did not look (no tcache at the fast path) */
	if (unlikely(m == &sm_empty_sheaf)) {
		m = sheaf_alloc(s, ctx);
		if (!m)
			return false;
		WRITE_ONCE(ts->main, m);
	}
	if (ts->spare && ts->spare->size) {
		WRITE_ONCE(ts->main, ts->spare);
		WRITE_ONCE(ts->spare, m);
		return true;
	}
	struct node_barn *barn = tcache_barn(tc, s);
	if (!ts->spare) {
		/* Keep the empty main as the spare; take a full one if the barn has it. */
		struct slab_sheaf *full = barn_get_full_sheaf(s, barn, false);
		if (full) {
			WRITE_ONCE(ts->spare, m);
			WRITE_ONCE(ts->main, full);
			return true;
		}
	} else {
		struct slab_sheaf *empty = m;
		struct slab_sheaf *full = barn_replace_empty_sheaf(s, barn, &empty, false);
		if (full) {
			WRITE_ONCE(ts->main, full);
			if (empty)
				sheaf_free(empty); /* the barn has enough empties */
			return true;
		}
	}
	return sheaf_refill(s, m, ctx) != 0;
}

bool tcache_make_room(struct tcache *tc, struct kmem_cache *s)
{
	struct slab_alloc_context ctx = SLAB_ALLOC_CTX(0, SLAB_ALLOC_DEFAULT, SM_NO_NODE);
	struct tcache_sheaves *ts = &tc->sheaves[s->id];
	struct slab_sheaf *m = ts->main;
	if (m->size < m->capacity)
		return true; /* the caller did not look (no tcache at the fast path) */
	if (unlikely(m == &sm_empty_sheaf)) {
		m = sheaf_alloc(s, &ctx);
		if (!m)
			return false;
		WRITE_ONCE(ts->main, m);
		return true;
	}
	/* main is full */
	if (ts->spare && !ts->spare->size) {
		WRITE_ONCE(ts->main, ts->spare);
		WRITE_ONCE(ts->spare, m);
		return true;
	}
	struct node_barn *barn = tcache_barn(tc, s);
	struct slab_sheaf *e;
	if (!ts->spare) {
		e = barn_get_empty_sheaf(s, barn, false);
		if (!e)
			e = sheaf_alloc(s, &ctx);
		if (e) {
			WRITE_ONCE(ts->spare, m);
			WRITE_ONCE(ts->main, e);
		} else {
			sheaf_flush(s, m);
		}
		return true;
	}
	if (!barn_replace_full_sheaf(s, barn, m, &e, false)) {
		/* The barn is full: this sheaf's objects go back to their slabs. */
		sheaf_flush(s, m);
		return true;
	}
	if (!e)
		e = sheaf_alloc(s, &ctx);
	WRITE_ONCE(ts->main, e ? e : &sm_empty_sheaf);
	return e != NULL;
}

void sm_thread_flush(sm_instance_t *inst)
{
	struct tcache *tc = tcache_mine(inst);
	if (!tc)
		return;
	bool nested = sm_enter();
	if (!nested) { /* from a signal handler: nothing can be done without blocking */
		sm_lock(&inst->lock);
		tcache_release_all(tc);
		sm_unlock(&inst->lock);
	}
	sm_leave(nested);
}
