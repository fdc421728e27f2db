/*
 * slab.c - one slab: making it, discarding it, and its freelist.
 *
 * Freelist links are hardened the way CONFIG_SLAB_FREELIST_HARDENED does it:
 * the link stored in a free object is next ^ cache->random ^ &link (48
 * bits), tagged with the cache's free tag in its top 16 bits (kmem_cache.h,
 * "the free word"), so an overflow or use-after-free that writes a
 * plausible pointer is caught when the link is followed (the tag must
 * match and it must decode to an object of the same slab), a leaked link
 * does not reveal heap addresses, and a second free of an object on the
 * freelist is recognised.  The first free object is kept
 * in the descriptor, out of the program's reach.
 */
#include <string.h>

#include "debug.h"
#include "os.h"
#include "page_alloc.h"
#include "printk.h"
#include "slab.h"
#include "thread.h"
#include "vg.h"

/*
 * What a link needs of the cache.  slab_take and slab_push_run keep it in
 * locals: their stores into objects and arrays could alias the cache for
 * all the compiler knows, and it would load these again for every object
 * (slab_take cost 31 instructions per object, 20 now).
 */
struct link_key {
	uintptr_t tag;          /* the free tag in the top bits, the rest 0 */
	uintptr_t random;
	unsigned fp_offset;
};

static inline struct link_key link_key_of(const struct kmem_cache *s)
{
	return (struct link_key){ s->free_key & ~SM_LINK_MASK, s->random, s->fp_offset };
}

static inline uintptr_t link_encode(struct link_key k, uintptr_t next, const void *slot)
{
	return k.tag | ((next ^ k.random ^ (uintptr_t)slot) & SM_LINK_MASK);
}

/* The next object of the link @w stored at @slot, or 1 if @w is not a link (corrupted). */
static inline uintptr_t link_decode(struct link_key k, uintptr_t w, const void *slot)
{
	if ((w ^ k.tag) >> SM_FREE_TAG_SHIFT)
		return 1;
	return (w ^ k.random ^ (uintptr_t)slot) & SM_LINK_MASK;
}

static inline uintptr_t fp_decode(const struct kmem_cache *s, uintptr_t w, const void *slot)
{
	return link_decode(link_key_of(s), w, slot);
}

/*
 * Hardened mode (CONFIG_SLAB_FREELIST_RANDOM's idea): the objects of the new
 * slab @d go on its freelist in a random order, so the address of the next
 * object is not the one after the last.  Fisher-Yates over the indices for
 * up to SLAB_SHUFFLE_MAX objects; a larger slab gets a
 * random stride prime to its count.  The slab is zeroed first unless it
 * is fresh from the OS (hardened mode's objects are zero while free).
 * The first slot goes out last: every other object has a slot of its own
 * slab before it, so an underflow lands where hardened mode checks (the
 * size record of the slot before, harden.c) rather than in whatever
 * page precedes the slab.
 */
#define SLAB_SHUFFLE_MAX 512

static uint64_t shuffle_next(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

static unsigned gcd(unsigned a, unsigned b)
{
	while (b) {
		unsigned t = a % b;
		a = b;
		b = t;
	}
	return a;
}

static void slab_shuffle(struct kmem_cache *s, struct sm_node *n, struct slab *d, bool zeroed)
{
	char *base = slab_base(n, d);
	unsigned nr = d->objects;
	if (!zeroed && !s->ctor)
		memset(base, 0, (size_t)nr * s->size);
	static uint64_t counter;
	uint64_t x = s->random ^ (uintptr_t)base ^
		     (__atomic_add_fetch(&counter, 0x9e3779b97f4a7c15ull, __ATOMIC_RELAXED));
	x |= 1;
	uint16_t order[SLAB_SHUFFLE_MAX];
	unsigned start = 0, stride = 1;
	if (nr <= SLAB_SHUFFLE_MAX) {
		/* Slots 1..nr-1 in random order, then slot 0. */
		for (unsigned i = 0; i + 1 < nr; i++)
			order[i] = (uint16_t)(i + 1);
		order[nr - 1] = 0;
		for (unsigned i = nr - 1; i-- > 1;) {
			unsigned j = (unsigned)(shuffle_next(&x) % (i + 1));
			uint16_t t = order[i];
			order[i] = order[j];
			order[j] = t;
		}
	} else {
		do
			stride = 1 + (unsigned)(shuffle_next(&x) % (nr - 1));
		while (gcd(stride, nr) != 1);
		start = stride; /* start + (nr - 1) * stride == 0 (mod nr): slot 0 last */
	}
	/* Link from the last to the first, so the list starts at the first. */
	uintptr_t next = 0;
	for (unsigned k = nr; k-- > 0;) {
		unsigned idx = nr <= SLAB_SHUFFLE_MAX ? order[k]
						      : (unsigned)((start + (uint64_t)k * stride) % nr);
		char *obj = base + (size_t)idx * s->size;
		uintptr_t *slot = (uintptr_t *)(obj + s->fp_offset);
		*slot = link_encode(link_key_of(s), next, slot);
		next = (uintptr_t)obj;
	}
	d->freelist = next;
	d->bump = d->objects; /* every object is on the freelist */
}

struct slab *slab_new(struct kmem_cache *s, const struct slab_alloc_context *ctx, struct sm_node **np)
{
	uint32_t first;
	bool zeroed;
	struct sm_node *n = pa_alloc_pages(s->pa, s->slab_pages, 1, ctx, &first, &zeroed);
	if (!n)
		return NULL;
	/* A private, unmapped or reserved node's slab, or a slab_debug
	   cache's: fclass 0 and its own type, so that no fast path takes its
	   objects into a sheaf. */
	bool routed = node_routed(n) || s->debug;
	for (uint32_t i = 0; i < s->slab_pages; i++) {
		struct slab *p = &n->descs[first + i];
		p->cache = s;
		WRITE_ONCE(p->head, first);
		p->page_off = (uint8_t)i;
		WRITE_ONCE(p->purge, 0); /* obj_maybe_free reads it racily */
		/* a neighbour's free reads it (node.c run_insert) */
		WRITE_ONCE(p->type, routed ? PT_SLAB_ROUTED : PT_SLAB);
		/* Last: a non-zero fclass implies everything above (free()'s
		   fast path checks nothing else of the descriptor). */
		WRITE_ONCE(p->fclass, routed ? 0 : s->fclass);
		/* And the hot word after the descriptor: free() reads only it. */
		node_hot_set(n, first + i, page_hot(routed ? 0 : s->fclass, i, 0));
	}
	struct slab *d = &n->descs[first];
	d->npages = s->slab_pages;
	d->inuse = 0;
	d->bump = 0;
	d->objects = (uint16_t)s->objects;
	d->on_list = 0;
	WRITE_ONCE(d->purge, SLAB_TOUCHED);
	d->freelist = 0;
	d->stamp = 0;
	/* Its byte is dirty to a neighbour run's racy look (runcache.h). */
	WRITE_ONCE(d->epoch, READ_ONCE(s->node[n->id]->epoch));
	INIT_LIST_HEAD(&d->list);
	if (unlikely(s->debug))
		debug_slab_init(s, slab_base(n, d)); /* before the constructor */
	if (s->ctor) {
		char *base = slab_base(n, d) + s->red_left;
		for (unsigned i = 0; i < s->objects; i++)
			s->ctor(base + (size_t)i * s->size);
	}
	if (unlikely(s->pa->harden) && !s->debug) /* harden_on */
		slab_shuffle(s, n, d, zeroed);
	cache_stat_inc(s, STAT_SLAB_ALLOC);
	*np = n;
	return d;
}

void slab_unmark(struct sm_node *n, uint32_t first, uint32_t npages)
{
	/* No pointer may resolve to these pages any more (node.h invariants). */
	for (uint32_t i = 0; i < npages; i++) {
		node_hot_set(n, first + i, 0); /* first: free() reads only it */
		WRITE_ONCE(n->descs[first + i].fclass, 0);
		WRITE_ONCE(n->descs[first + i].type, PT_UNUSED);
		/* A slab emptied while purged keeps its marks: none for the next owner. */
		WRITE_ONCE(n->descs[first + i].purge, 0);
		n->descs[first + i].cache = NULL;
	}
}

void slab_discard(struct kmem_cache *s, struct sm_node *n, struct slab *d, uint64_t now)
{
	uint32_t first = d->head, npages = d->npages;
	slab_unmark(n, first, npages);
	node_free_pages(n, first, npages, now, false);
	cache_stat_inc(s, STAT_SLAB_FREE);
}

/* Out of line, so that the loop below keeps its locals in registers. */
static __cold void report_bad_link(struct kmem_cache *s, const void *obj, uintptr_t next)
{
	sm_report(cache_err(s), "corrupted freelist in cache %s: free object %p links to %p "
		  "(use after free or overflow?)", s->name, obj, (void *)next);
}

static __cold void report_double_free(struct kmem_cache *s, const void *obj)
{
	sm_report(cache_err(s), "double free of %p in cache %s", obj, s->name);
}

/*
 * Make the calling thread the owner of the slab @d heads (page.h): its
 * token in the descriptor (the slow paths' test), its owner tag in the hot
 * word of every page (free()'s) that lacks it.  slab_take does it under the list_lock, slab_own_objects
 * without it: each hot word is changed by compare-and-swap, so that
 * neither loses what the other, or the purge (fclass, under the
 * list_lock), wrote meanwhile.  Two threads making the same slab theirs
 * at once leave one of them its owner: the owner is a hint.
 */
static void slab_make_mine(struct sm_node *n, struct slab *d)
{
	WRITE_ONCE(d->owner, sm_thread_token());
	if (!n->hot)
		return;
	uint32_t *h = &n->hot[d->head];
	uint16_t tag = sm_thread.owner_tag;
	for (uint32_t i = 0; i < d->npages; i++) {
		uint32_t w = READ_ONCE(h[i]);
		if (page_hot_owner(w) != tag)
			__atomic_compare_exchange_n(&h[i], &w, page_hot_with_owner(w, tag), false,
						    __ATOMIC_RELAXED, __ATOMIC_RELAXED);
	}
}

uint32_t sm_owner_epoch[PAGE_HOT_OWNER_MAX + 1];

/*
 * Whether the thread of owner tag @o showed no sign of running for
 * SLAB_OWNER_IDLE_EPOCHS before the epoch @now (an epoch ahead of @now,
 * which only a test writes, is running).  Epochs wrap after a year.
 */
static bool owner_idle(uint16_t o, uint32_t now)
{
	return (int32_t)(now - READ_ONCE(sm_owner_epoch[o])) >= SLAB_OWNER_IDLE_EPOCHS;
}

void slab_own_objects(void *const *objs, unsigned nr, uint16_t top_owner)
{
	uint32_t now = slab_owner_epoch(os_coarse_ns());
	if (!owner_idle(top_owner, now))
		return; /* a sheaf of a running thread's objects: one look */
	uint16_t tag = sm_thread.owner_tag;
	const struct slab *last = NULL;
	for (unsigned i = nr; i-- > 0;) {
		const void *p = objs[i];
		uintptr_t bias = hot_bias(p);
		if (!bias)
			continue;
		uint32_t h = hot_at(bias, p);
		uint16_t o = page_hot_owner(h);
		if (o == tag || !owner_idle(o, now))
			continue;
		struct sm_node *n = node_of(p);
		uint32_t first = node_page_index(n, p) - page_hot_page_off(h);
		struct slab *head = &n->descs[first];
		if (head == last)
			continue;
		last = head;
		slab_make_mine(n, head);
	}
}

unsigned slab_take(struct kmem_cache *s, struct sm_node *n, struct slab *d, void **objs, unsigned want)
{
	slab_touch(s, n, d);
	char *base = slab_base(n, d) + s->red_left; /* the first object */
	/* The slab's and the cache's fields in locals (struct link_key). */
	const struct link_key k = link_key_of(s);
	const uint64_t recip = s->reciprocal;
	const uint32_t size = s->size;
	const uint64_t key = s->free_key;
	uintptr_t fl = d->freelist;
	uint32_t bump = d->bump, limit = d->objects;
	unsigned got = 0;
	bool dropped = false;
	while (got < want && fl) {
		char *obj = (char *)fl;
		uintptr_t *slot = (uintptr_t *)(obj + k.fp_offset);
		uintptr_t next = link_decode(k, *slot, slot);
		if (next) {
			/* slab_obj_index, and below bump (handed out once). */
			uint64_t off = next - (uintptr_t)base;
			uint64_t idx = (off * recip) >> 32;
			if (unlikely(off >= ((uint64_t)bump * size) || idx * size != off)) {
				report_bad_link(s, obj, next);
				next = 0; /* drop the rest of the list rather than follow it */
				dropped = true;
			}
		}
		fl = next;
		*slot = key; /* what a sheaf's objects hold */
		/* @objs may be a sheaf's array that another thread's double-free
		   check reads (tcache_views_hold): atomic stores, plain on every machine. */
		WRITE_ONCE(objs[got], obj);
		got++;
	}
	d->freelist = fl;
	/* Objects never handed out get the free word a free object has
	   (kmem_cache.h): malloc checks it as it hands each one out.  They
	   go into @objs from the highest address down, so that a sheaf, which
	   pops from its end, hands them out upwards: each object's successor
	   in memory is the next one out, and an overflow past an object lands
	   in a free object whose free word malloc is about to check. */
	if (got < want && bump < limit) {
		unsigned take = MIN(want - got, limit - bump);
		char *p = base + (size_t)(bump + take - 1) * size;
		for (unsigned i = 0; i < take; i++, p -= size) {
			*(uintptr_t *)(p + k.fp_offset) = key;
			WRITE_ONCE(objs[got + i], p);
		}
		got += take;
		d->bump = bump + take;
	}
	/* The objects of a dropped list are lost (leaked): counted in use,
	   so that the slab is not left partial with nothing to take. */
	d->inuse = dropped ? d->objects - (limit - d->bump) : d->inuse + got;
	if (got) {
		slab_make_mine(n, d); /* its objects go to this thread */
	}
	return got;
}

bool slab_push(struct kmem_cache *s, struct slab *d, void *obj)
{
	if (unlikely(d->inuse == 0 || d->freelist == (uintptr_t)obj)) {
		report_double_free(s, obj);
		return false;
	}
	uintptr_t *slot = (uintptr_t *)((char *)obj + s->fp_offset);
	*slot = link_encode(link_key_of(s), d->freelist, slot);
	d->freelist = (uintptr_t)obj;
	d->inuse--;
	return true;
}

bool slab_push_purged(struct kmem_cache *s, struct sm_node *n, struct slab *d, void *obj)
{
	long idx = slab_obj_index(s, (uintptr_t)obj - (uintptr_t)(slab_base(n, d) + s->red_left));
	uint64_t *map = slab_purged_map(d);
	/* Sheaves hold object starts only (free()'s checks): idx is one. */
	SM_BUG_ON(idx < 0 || (uint32_t)idx >= d->objects);
	if (unlikely(d->inuse == 0 || (uint32_t)idx >= d->bump || (*map >> idx & 1))) {
		report_double_free(s, obj);
		return false;
	}
	*(uintptr_t *)((char *)obj + s->fp_offset) = link_key_of(s).tag;
	*map |= (uint64_t)1 << idx;
	d->inuse--;
	return true;
}

unsigned slab_push_run(struct kmem_cache *s, struct slab *d, const char *base, void *const *objs,
		       unsigned n)
{
	const uintptr_t span = (uintptr_t)d->npages << SM_PAGE_SHIFT;
	/* Locals (struct link_key); a double free ends the call, so that
	   nothing in the loop is a call. */
	const struct link_key k = link_key_of(s);
	uintptr_t fl = d->freelist;
	uint32_t inuse = d->inuse;
	unsigned i;
	for (i = 0; i < n; i++) {
		char *obj = (char *)objs[i];
		if ((uintptr_t)obj - (uintptr_t)base >= span)
			break; /* another slab's: the caller looks it up */
		if (unlikely(inuse == 0 || fl == (uintptr_t)obj)) {
			d->freelist = fl;
			d->inuse = inuse;
			report_double_free(s, obj);
			return i + 1; /* dropped */
		}
		uintptr_t *slot = (uintptr_t *)(obj + k.fp_offset);
		*slot = link_encode(k, fl, slot);
		fl = (uintptr_t)obj;
		inuse--;
	}
	d->freelist = fl;
	d->inuse = inuse;
	return i;
}

bool slab_on_freelist(struct kmem_cache *s, struct sm_node *n, struct slab *d, const void *obj)
{
	char *base = slab_base(n, d) + s->red_left;
	long idx = slab_obj_index(s, (uintptr_t)obj - (uintptr_t)base);
	if (idx < 0 || (uint32_t)idx >= d->bump)
		return true; /* never handed out */
	if (d->purge & SLAB_PURGED)
		return *slab_purged_map(d) >> idx & 1;
	uintptr_t cur = d->freelist;
	/* At most objects steps: a corrupted list must not loop forever. */
	for (uint32_t i = 0; cur && i < d->objects; i++) {
		if (cur == (uintptr_t)obj)
			return true;
		uintptr_t *slot = (uintptr_t *)(cur + s->fp_offset);
		cur = fp_decode(s, *slot, slot);
		if (cur == 1 || slab_obj_index(s, cur - (uintptr_t)base) < 0)
			break;
	}
	return false;
}

bool slab_freelist_map(struct kmem_cache *s, struct sm_node *n, struct slab *d, uint64_t *map,
		       void **bad)
{
	char *base = slab_base(n, d) + s->red_left;
	if (d->purge & SLAB_PURGED) {
		uint64_t m = *slab_purged_map(d);
		if (d->bump < 64 && m >> d->bump) {
			*bad = base + (size_t)d->bump * s->size; /* never handed out, yet listed */
			return false;
		}
		map[0] |= m;
		return true;
	}
	uintptr_t cur = d->freelist;
	for (uint32_t i = 0; cur; i++) {
		long idx = slab_obj_index(s, cur - (uintptr_t)base);
		if (idx < 0 || (uint32_t)idx >= d->bump || i >= d->objects ||
		    (map[idx / 64] >> (idx % 64) & 1)) {
			*bad = (void *)cur; /* outside, never handed out, or a loop */
			return false;
		}
		map[idx / 64] |= (uint64_t)1 << (idx % 64);
		uintptr_t *slot = (uintptr_t *)(cur + s->fp_offset);
		uintptr_t next = fp_decode(s, *slot, slot);
		if (next == 1) {
			*bad = (void *)cur; /* its link is no link */
			return false;
		}
		cur = next;
	}
	return true;
}

void slab_unpurge(struct kmem_cache *s, struct sm_node *n, struct slab *d)
{
	char *base = slab_base(n, d) + s->red_left;
	const struct link_key k = link_key_of(s);
	uint64_t map = *slab_purged_map(d);
	uintptr_t next = 0;
	/* From the last object down, so the list starts at the lowest address. */
	vg_quiet_begin(); /* links written into free objects */
	for (unsigned i = d->objects; i-- > 0;) {
		if (!(map >> i & 1))
			continue;
		char *obj = base + (size_t)i * s->size;
		uintptr_t *slot = (uintptr_t *)(obj + k.fp_offset);
		*slot = link_encode(k, next, slot);
		next = (uintptr_t)obj;
	}
	vg_quiet_end();
	*slab_purged_map(d) = 0;
	d->freelist = next;
	/* The pages' marks and their hot words' fclass back, before any of
	   their objects can be handed out again. */
	for (uint32_t i = 0; i < d->npages; i++) {
		if (!(d[i].purge & SLAB_PAGE_PURGED))
			continue;
		if (n->hot)
			WRITE_ONCE(n->hot[d->head + i], READ_ONCE(n->hot[d->head + i]) | page_hot(d[i].fclass, 0, 0));
		WRITE_ONCE(d[i].purge, d[i].purge & (uint8_t)~SLAB_PAGE_PURGED);
	}
	WRITE_ONCE(d->purge, d->purge & (uint8_t)~SLAB_PURGED);
}

/*
 * Whether page @p of slab @d could be purged: every object slot that
 * overlaps it is free (@free: bit i, object i), and one of them was
 * handed out and freed (@listed), so that the page may be resident.
 */
static bool page_purgeable(const struct kmem_cache *s, const struct slab *d, uint32_t p, uint64_t free,
			   uint64_t listed)
{
	size_t lo = (size_t)p << SM_PAGE_SHIFT, hi = lo + SM_PAGE_SIZE - 1;
	if (hi < s->red_left)
		return false; /* no object here */
	size_t first = lo < s->red_left ? 0 : (lo - s->red_left) / s->size;
	size_t last = MIN((hi - s->red_left) / s->size, (size_t)d->objects - 1);
	if (first > last)
		return false; /* the slab's unused tail */
	uint64_t span = (last - first == 63 ? ~0ull : ((1ull << (last - first + 1)) - 1)) << first;
	return (free & span) == span && (listed & span);
}

unsigned slab_purge_mark(struct kmem_cache *s, struct sm_node *n, struct slab *d, bool all)
{
	if (d->purge & SLAB_CHECKED)
		return 0; /* and untouched since */
	bool touched = d->purge & SLAB_TOUCHED;
	/* Touched: purged at the next pass unless touched before it.  A purged
	   slab keeps its state and its pages' marks (page 0's in this byte). */
	WRITE_ONCE(d->purge, d->purge & (uint8_t)~SLAB_TOUCHED);
	if (touched && !all)
		return 0;
	uint64_t listed = 0;
	void *bad;
	if (!slab_freelist_map(s, n, d, &listed, &bad) || !listed)
		return 0; /* a corrupt list is left to the take that reports it */
	uint64_t untouched = d->bump >= 64 ? 0 : ~0ull << d->bump;
	uint64_t free = listed | untouched;
	unsigned pages = 0;
	for (uint32_t p = 0; p < d->npages; p++) {
		if ((d[p].purge & SLAB_PAGE_PURGED) || !page_purgeable(s, d, p, free, listed))
			continue; /* given back by a pass before, or in use */
		if (!(d->purge & SLAB_PURGED)) {
			/* The freelist as a bitmap before its links go. */
			*slab_purged_map(d) = listed;
			d->freelist = 0;
			WRITE_ONCE(d->purge, SLAB_PURGED);
		}
		/* Each page marked first (obj_maybe_free), and its hot word
		   sending free() to the page path. */
		WRITE_ONCE(d[p].purge, d[p].purge | SLAB_PAGE_PURGED | SLAB_PAGE_PURGING);
		if (n->hot)
			WRITE_ONCE(n->hot[d->head + p], READ_ONCE(n->hot[d->head + p]) & ~PAGE_HOT_FCLASS_MASK);
		pages++;
	}
	if (!pages) /* nothing (more) to purge until it is touched */
		WRITE_ONCE(d->purge, d->purge | SLAB_CHECKED);
	return pages;
}

size_t slab_purge_give_back(struct sm_node *n, const struct slab *d)
{
	const struct sm_os_ops *os = n->os;
	char *base = slab_base(n, d);
	size_t pages = 0;
	/* Runs of marked pages, each call below SM_PURGE_PROTECT_PAGES so
	   that the pages stay accessible (the purge op's contract).  The
	   head's byte is written meanwhile by frees (slab_touch_free), which
	   keep its page's mark. */
	uint32_t first = 0, len = 0;
	for (uint32_t p = 0; p <= d->npages; p++) {
		bool marked = p < d->npages && (READ_ONCE(d[p].purge) & SLAB_PAGE_PURGING);
		if (marked && len < SM_PURGE_PROTECT_PAGES - 1) {
			first = len ? first : p;
			len++;
			continue;
		}
		if (len && os->purge(base + ((size_t)first << SM_PAGE_SHIFT), (size_t)len << SM_PAGE_SHIFT,
				     os->arg) == 0)
			pages += len;
		first = p;
		len = marked;
	}
	return pages;
}

void slab_purge_done(struct slab *d)
{
	for (uint32_t p = 0; p < d->npages; p++)
		if (d[p].purge & SLAB_PAGE_PURGING)
			WRITE_ONCE(d[p].purge, d[p].purge & (uint8_t)~SLAB_PAGE_PURGING);
}
