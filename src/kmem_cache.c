/*
 * kmem_cache.c - the slab layer of a cache: setting a cache up, moving
 * objects between slabs and sheaves under each node's list_lock, and keeping
 * the partial and empty lists (slab states are tabled in slab.h).
 *
 * Partial slabs sit in buckets by occupancy (kmem_cache.h) and refills
 * take the fullest first, so the objects still out cluster in few slabs
 * and the nearly-empty ones drain.  A slab that becomes empty goes to the
 * head of its node's empty list with a timestamp; refills take empty slabs
 * only when no partial slab is left, so empty slabs age at the tail.  More
 * than slab_max_empty empty slabs, or empty slabs older than the purge
 * delay, are handed back to the node.
 */
#include <errno.h>
#include <string.h>

#include "debug.h"
#include "hooks.h"
#include "harden.h"
#include "kmem_cache.h"
#include "large.h"
#include "options.h"
#include "printk.h"
#include "size_classes.h"
#include "slab.h"
#include "vg.h"

#define SLAB_MAX_PAGES 32 /* page_off is a byte, objects (at 8 bytes each) 16 bits */
#define SHEAF_BYTES 32768  /* a default sheaf's objects, in bytes (before the 8..SHEAF_MAX clamp) */
#define SHEAF_MAX   64     /* objects in a default sheaf ... */
#define SHEAF_SMALL_MAX 124 /* ... but for slots of SHEAF_SMALL_SLOT bytes or less */
#define SHEAF_SMALL_SLOT 64

void slab_geometry(size_t size, unsigned *pages, unsigned *objects)
{
	/* Smallest slab with enough objects and at most 1/16 left over;
	   failing that, the one that wastes the smallest fraction. */
	unsigned min_objs = size <= 4096 ? 8 : 4;
	unsigned best = 0;
	size_t best_waste = 0, best_bytes = 1;
	for (unsigned k = 1; k <= SLAB_MAX_PAGES; k++) {
		size_t bytes = (size_t)k << SM_PAGE_SHIFT;
		size_t n = bytes / size;
		if (!n)
			continue;
		size_t waste = bytes - n * size;
		if (n >= min_objs && waste * 16 <= bytes) {
			best = k;
			break;
		}
		if (!best || waste * best_bytes < best_waste * bytes) {
			best = k;
			best_waste = waste;
			best_bytes = bytes;
		}
	}
	*pages = best;
	*objects = (unsigned)(((size_t)best << SM_PAGE_SHIFT) / size);
}

static uint64_t splitmix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/*
 * The default capacity: at most @cap, and as many as fill the largest
 * kmalloc object that holds no more (the sheaf is one: instance.h,
 * inst_cache_register picks its class).  A sheaf of 64 is 544 bytes, a
 * 640-byte object with 96 bytes of slack; 60 fill a 512-byte object.
 */
static unsigned sheaf_capacity_fit(unsigned cap)
{
	size_t want = SM_SHEAF_HEADER_BYTES + (size_t)cap * sizeof(void *);
	unsigned i = kmalloc_index(want);
	if (kmalloc_class_size(i) > want && i > 0)
		i--;
	return (unsigned)((kmalloc_class_size(i) - SM_SHEAF_HEADER_BYTES) / sizeof(void *));
}

static const struct sm_cache_args default_args;

/* The alignment a cache with @args and @flags gets, before the minimum of 8. */
static size_t args_align(const struct sm_cache_args *args, unsigned flags)
{
	size_t align = args->align ? args->align : 8;
	if (flags & SM_CACHE_HWCACHE_ALIGN)
		align = MAX(align, (size_t)SM_CACHELINE);
	return align;
}

bool kmem_cache_args_valid(size_t size, const struct sm_cache_args *args, unsigned flags)
{
	if (!args)
		args = &default_args;
	size_t align = args_align(args, flags);
	/* The caller's alignment itself, before SM_CACHE_HWCACHE_ALIGN raises
	   it: 7 with the flag is as wrong as 7 without it. */
	if (args->align && !IS_POW2(args->align))
		return false;
	/* The usercopy window lies inside the object (the kernel drops a bad
	   one with a warning; a library caller gets EINVAL instead). */
	return IS_POW2(align) && align <= SM_PAGE_SIZE && size != 0 &&
	       size <= SM_KMALLOC_MAX_CACHE_SIZE &&
	       !(flags & ~(SM_CACHE_FLAGS_VALID | SLAB_PREALLOCATED)) &&
	       args->usersize <= size && args->useroffset <= size - args->usersize &&
	       (args->usersize || !args->useroffset) &&
	       args->sheaf_capacity <= SM_MAX_SHEAF_CAPACITY;
}

bool kmem_cache_init(struct kmem_cache *s, struct kmem_cache_node *nodes, size_t node_stride,
		     struct page_alloc *pa, const struct sm_options *opts,
		     const char *name, size_t size, const struct sm_cache_args *args,
		     unsigned flags)
{
	if (!args)
		args = &default_args;
	if (!kmem_cache_args_valid(size, args, flags))
		return false;
	size_t align = MAX(args_align(args, flags), (size_t)8);
	void (*ctor)(void *) = args->ctor;
	size_t slot = ALIGN_UP(size, align);
	unsigned fp_offset = 0;
	if (ctor || (flags & SM_CACHE_TYPESAFE_BY_RCU)) {
		/* The object must keep its constructed state while free, or
		   (type-safe) whatever its last owner left for readers that
		   still reach it: link after it. */
		fp_offset = (unsigned)ALIGN_UP(size, 8);
		slot = ALIGN_UP((size_t)fp_offset + sizeof(uintptr_t), align);
	}
	/* slab_debug (debug.h): its own slot layout, free word included. */
	unsigned debug = (flags & SM_CACHE_DEBUG_ALL) | debug_wanted(opts, name);
	if (unlikely(debug)) {
		/* Objects keep the alignment the plain slot gave them (a
		   kmalloc class's natural alignment: malloc and aligned
		   requests rely on it), now that slots are larger. */
		align = MAX(align, MIN(size & -size, (size_t)SM_PAGE_SIZE));
		slot = debug_cache_layout(s, size, align, debug);
		fp_offset = s->fp_offset;
	}
	if (fp_offset > UINT16_MAX)
		return false; /* cannot be: slots are at most 32 KiB and the red zones */
	s->size = (unsigned)slot;
	s->object_size = (unsigned)size;
	s->align = (unsigned)align;
	s->fp_offset = (uint16_t)fp_offset;
	s->flags = flags;
	s->useroffset = (unsigned)args->useroffset;
	s->usersize = (unsigned)args->usersize;
	s->ctor = ctor;
	s->pa = pa;
	s->inst = pa->origin.inst;
	/* Type-safe: an empty slab stays this cache's until it is destroyed. */
	s->slab_max_empty = (flags & SM_CACHE_TYPESAFE_BY_RCU) ? UINT32_MAX : opts->slab_max_empty;
	slab_geometry(slot, &s->slab_pages, &s->objects);
	s->partial_purge = s->slab_pages >= 2 && s->objects <= SLAB_PURGE_MAX_OBJECTS && !ctor && !debug &&
			   !pa->harden && !(flags & SM_CACHE_TYPESAFE_BY_RCU);
	s->reciprocal = ((1ull << 32) + slot - 1) / slot;
	bool exact;
	s->start_max = slab_start_max((uint32_t)slot, s->objects, &exact);
	s->start_divides = slab_start_divides((uint32_t)slot);
	SM_BUG_ON(!exact);
	s->bucket_mult = ((uint64_t)SM_PARTIAL_BUCKETS << 32) / s->objects + 1;
	/* Up to 64-byte slots, 124 objects (a 1 KiB sheaf): a sheaf exchange
	   costs about 340 instructions each way, and 60 tiny objects are too
	   few to pay for it (docs/benchmarks.md, "Sheaves of 124 tiny
	   objects"); 124 of them are at most 8 KiB. */
	unsigned max_cap = slot <= SHEAF_SMALL_SLOT ? SHEAF_SMALL_MAX : SHEAF_MAX;
	s->sheaf_capacity = args->sheaf_capacity ? args->sheaf_capacity
			  : opts->sheaf_capacity ? opts->sheaf_capacity
						 : sheaf_capacity_fit((unsigned)MIN(max_cap, MAX(8, SHEAF_BYTES / slot)));
	/* A barn holds barn_max_full sheaves of SHEAF_BYTES or less, or more
	   of small objects: up to barn_bytes of them (a full sheaf of 32-byte
	   objects is 2 KiB).  A larger sheaf (8 objects above 4 KiB, 256 KiB
	   of them at 32 KiB) counts as that many SHEAF_BYTES sheaves, down to
	   2 sheaves: a barn of 8 such sheaves kept 1 MiB of free 16 KiB
	   objects per cache, each pinning a slab of its own in a program that
	   freed the rest (wl_fragment's settled RSS, benchmarks.md). */
	size_t sheaf_bytes = (size_t)s->sheaf_capacity * slot;
	unsigned by_bytes = (unsigned)MIN((size_t)1024, opts->barn_bytes / sheaf_bytes);
	unsigned by_count = opts->barn_max_full;
	if (sheaf_bytes > SHEAF_BYTES && by_count > 2)
		by_count = (unsigned)MAX((size_t)2, by_count * SHEAF_BYTES / sheaf_bytes);
	s->barn_max_full = MAX(by_count, by_bytes);
	s->barn_max_empty = MAX(opts->barn_max_empty, by_bytes);
	/* ... and a barn may double them while its full sheaves stay within
	   1024 sheaves and barn_grow_bytes of objects, a budget that falls in
	   proportion to the object size above 512 bytes: a large object's
	   round trip through its slab costs little next to what the program
	   does with it, and its barn holds many pages (barn.h, growth). */
	size_t grow_bytes = slot <= 512 ? opts->barn_grow_bytes : opts->barn_grow_bytes / slot * 512;
	s->barn_grow_max = 0;
	while (s->barn_max_full && s->barn_grow_max < 10 &&
	       (s->barn_max_full << (s->barn_grow_max + 1)) <= 1024 &&
	       ((size_t)s->barn_max_full << (s->barn_grow_max + 1)) * sheaf_bytes <= grow_bytes)
		s->barn_grow_max++;
	s->random = splitmix64((uintptr_t)s ^ pa_now(pa) ^ ((uint64_t)slot << 48)) | 1;
	/* The free tag: both bytes non-ASCII (strings never match it), never
	   0xffff (small negative numbers): real data rarely holds it.  The
	   key's low 16 bits, which malloc checks (obj_tag_intact), likewise:
	   a string's terminating NUL written past its object changes them. */
	uint64_t key = splitmix64(s->random) | ((uint64_t)0x8080 << SM_FREE_TAG_SHIFT) | 0x8080;
	if ((key >> SM_FREE_TAG_SHIFT) == 0xffff)
		key ^= (uint64_t)1 << SM_FREE_TAG_SHIFT;
	if ((key & 0xffff) == 0xffff)
		key ^= 1;
	s->free_key = key;
	size_t len = strlen(name);
	if (len >= sizeof(s->name))
		len = sizeof(s->name) - 1;
	memcpy(s->name, name, len);
	s->name[len] = '\0';
	INIT_LIST_HEAD(&s->list);
	INIT_LIST_HEAD(&s->purging);
	/* The per-node structures are zero (the caller's storage is) and stay
	   untouched until a node's slabs are used (kcn_lock). */
	for (unsigned i = 0; i < SM_MAX_NODES; i++)
		s->node[i] = nodes + i * node_stride;
	return true;
}

/* ---- list state changes (list_lock held) ---- */

/* ON_PURGING: on s->purging, its pages being given back (cache_purge_partial). */
enum { ON_NONE = 0, ON_PARTIAL = 1, ON_EMPTY = 2, ON_PURGING = 3 };

static void slab_unlist(struct kmem_cache_node *kcn, struct slab *d)
{
	if (d->on_list == ON_PARTIAL)
		WRITE_ONCE(kcn->nr_partial, kcn->nr_partial - 1);
	else if (d->on_list == ON_EMPTY)
		WRITE_ONCE(kcn->nr_empty, kcn->nr_empty - 1);
	else
		return;
	list_del(&d->list);
	d->on_list = ON_NONE;
}

/*
 * Put @d on the list its inuse count calls for; @old is its inuse at its
 * last relist (before the takes or pushes the caller just made).  Every
 * change of a listed slab's inuse is followed by a relist before list_lock
 * is released, so an unlocked partial slab is always in the bucket of its
 * inuse, and @old names the bucket it is in now.
 */
static void slab_relist(struct kmem_cache *s, struct kmem_cache_node *kcn, struct slab *d,
			unsigned old, uint64_t now)
{
	if (d->on_list == ON_PURGING)
		return; /* the purge relists it when it is done */
	if (d->inuse == 0) {
		if (d->on_list == ON_EMPTY)
			return;
		slab_unlist(kcn, d);
		WRITE_ONCE(d->stamp, now); /* owner no more: frees read it racily */
		list_add(&d->list, &kcn->empty);
		d->on_list = ON_EMPTY;
		WRITE_ONCE(kcn->nr_empty, kcn->nr_empty + 1);
	} else if (d->inuse < d->objects) {
		unsigned b = partial_bucket(s, d->inuse);
		if (d->on_list == ON_PARTIAL) {
			if (partial_bucket(s, old) == b)
				return;
			list_del(&d->list);
		} else {
			slab_unlist(kcn, d);
			d->on_list = ON_PARTIAL;
			WRITE_ONCE(kcn->nr_partial, kcn->nr_partial + 1);
		}
		/* Down from fuller (a free): the fullest of its bucket, head.
		   Up from emptier (a take): the emptiest, tail. */
		if (d->inuse < old)
			list_add(&d->list, &kcn->partial[b]);
		else
			list_add_tail(&d->list, &kcn->partial[b]);
	} else {
		slab_unlist(kcn, d);
	}
}

/* The slab a refill should take from: the fullest partial one, else the newest empty one. */
static struct slab *fullest_slab(struct kmem_cache_node *kcn)
{
	if (kcn->nr_partial)
		for (unsigned b = SM_PARTIAL_BUCKETS; b-- > 0;)
			if (!list_empty(&kcn->partial[b]))
				return list_first_entry(&kcn->partial[b], struct slab, list);
	if (!list_empty(&kcn->empty))
		return list_first_entry(&kcn->empty, struct slab, list);
	return NULL;
}

/* Take objects from the fullest partial, then the empty slabs of @kcn (list_lock held). */
static unsigned take_from_lists(struct kmem_cache *s, struct sm_node *n,
				struct kmem_cache_node *kcn, void **objs, unsigned want)
{
	unsigned got = 0;
	while (got < want) {
		struct slab *d = fullest_slab(kcn);
		if (!d)
			break;
		unsigned old = d->inuse;
		unsigned k = slab_take(s, n, d, objs + got, want - got);
		got += k;
		kcn->inuse += d->inuse - old; /* k, and a dropped list's objects */
		if (kcn->inuse > kcn->inuse_peak)
			kcn->inuse_peak = kcn->inuse;
		slab_relist(s, kcn, d, old, 0);
	}
	return got;
}

unsigned slab_get_objects(struct kmem_cache *s, const struct slab_alloc_context *ctx,
			  void **objs, unsigned n)
{
	struct page_alloc *pa = s->pa;
	bool trylock = ctx->alloc_flags & SLAB_ALLOC_TRYLOCK;
	unsigned got = 0;

	if (!(ctx->alloc_flags & SLAB_ALLOC_NEW_SLAB)) {
		int ids[SM_MAX_NODES];
		unsigned cnt = pa_node_order(pa, ctx, ids);
		for (unsigned i = 0; i < cnt && got < n; i++) {
			struct kmem_cache_node *kcn = s->node[ids[i]];
			if (!READ_ONCE(kcn->nr_partial) && !READ_ONCE(kcn->nr_empty))
				continue;
			if (!kcn_lock_ctx(kcn, trylock))
				continue;
			SM_HOOK(s->inst, SM_HOOK_REFILL);
			vg_quiet_begin(); /* freelist links in free objects */
			got += take_from_lists(s, pa_node(pa, (unsigned)ids[i]), kcn, objs + got, n - got);
			vg_quiet_end();
			sm_unlock(&kcn->list_lock);
		}
		if (got)
			return got;
	}

	/* No partial slab anywhere we may look: make one. */
	struct sm_node *node;
	struct slab *d = slab_new(s, ctx, &node);
	if (!d)
		return 0;
	struct kmem_cache_node *kcn = s->node[node->id];
	got = slab_take(s, node, d, objs, n);
	if (!kcn_lock_ctx(kcn, trylock)) {
		/* Cannot publish the slab without blocking: undo and fail. */
		uint32_t first = d->head, npages = d->npages;
		slab_unmark(node, first, npages);
		/* Node lock busy too (the interrupted thread holds it): the
		   pages stay unused until the instance is destroyed.  Rare:
		   it takes two contended locks inside one signal handler. */
		if (node_free_pages(node, first, npages, 0, true))
			cache_stat_inc(s, STAT_SLAB_FREE);
		return 0;
	}
	kcn->nr_slabs++;
	kcn->inuse += got;
	if (kcn->inuse > kcn->inuse_peak)
		kcn->inuse_peak = kcn->inuse;
	slab_relist(s, kcn, d, 0, 0);
	sm_unlock(&kcn->list_lock);
	return got;
}

/* What slab_put_objects carries between objects. */
struct put_state {
	struct kmem_cache *s;
	struct kmem_cache_node *cur;    /* list_lock held, or NULL */
	struct sm_node *node;           /* cur's node */
	struct slab *run;               /* slab freed into since the last relist, or NULL */
	bool run_purged;                /* run is SLAB_PURGED: frees go to its bitmap
	                                   (fixed while list_lock is held) */
	unsigned run_old;               /* its inuse before that */
	uint64_t now;
	struct slab *discard[8];
	struct sm_node *discard_node[8];
	unsigned nr_discard;
	bool trylock;
};

/*
 * Relist the slab the last objects went to (once for a run of objects of
 * one slab, not once per object), then give back the oldest empty slab if
 * there are too many.  cur's list_lock held.  Out of line: put_end_run
 * comes here only when the run moved the slab to another list or bucket.
 */
static __noinline void put_relist(struct put_state *ps, struct slab *d)
{
	struct kmem_cache_node *kcn = ps->cur;
	if (d->inuse == 0 && !ps->now)
		ps->now = pa_now(ps->s->pa);
	slab_relist(ps->s, kcn, d, ps->run_old, ps->now);
	if (kcn->nr_empty > ps->s->slab_max_empty && ps->nr_discard < ARRAY_SIZE(ps->discard) &&
	    !ps->trylock) {
		struct slab *old = list_last_entry(&kcn->empty, struct slab, list);
		slab_unlist(kcn, old);
		kcn->nr_slabs--;
		ps->discard[ps->nr_discard] = old;
		ps->discard_node[ps->nr_discard++] = ps->node;
	}
}

/*
 * The end of a run of frees into ps->run.  Most runs leave a partial slab
 * in its bucket (random frees: a run of one object, and a bucket spans a
 * quarter of the slab): slab_relist would do nothing, so that is tested
 * here, inline.  A run only lowers inuse, so a slab that was partial is
 * partial or empty, never full.  Nor can it make the node hold more empty
 * slabs: the count slab_max_empty bounds only grows in put_relist.
 */
static __always_inline void put_end_run(struct put_state *ps)
{
	struct slab *d = ps->run;
	if (!d)
		return;
	ps->run = NULL;
	if (likely(d->on_list == ON_PARTIAL && d->inuse &&
		   partial_bucket(ps->s, d->inuse) == partial_bucket(ps->s, ps->run_old)))
		return;
	put_relist(ps, d);
}

unsigned slab_put_objects(struct kmem_cache *s, void **objs, unsigned n, bool trylock)
{
	struct put_state ps = { .s = s, .trylock = trylock };
	unsigned kept = 0;
	vg_quiet_begin(); /* free words and links written into freed objects */

	for (unsigned i = 0; i < n;) {
		void *obj = objs[i];
		/* The node of the object before, unless @obj is outside its
		   data: node_of's map load only when the node changes. */
		struct sm_node *node = ps.node;
		if (!node || (uintptr_t)obj - (uintptr_t)node->data >= ((uintptr_t)node->npages << SM_PAGE_SHIFT))
			node = node_of(obj);
		struct slab *pd = &node->descs[((uintptr_t)obj - (uintptr_t)node->data) >> SM_PAGE_SHIFT];
		struct slab *d = &node->descs[pd->head];
		struct kmem_cache_node *kcn = s->node[node->id];
		if (kcn != ps.cur) {
			if (ps.cur) {
				put_end_run(&ps);
				sm_unlock(&ps.cur->list_lock);
			}
			ps.cur = NULL;
			ps.node = NULL;
			if (!kcn_lock_ctx(kcn, trylock)) {
				objs[kept++] = obj; /* leave it to the caller */
				i++;
				continue;
			}
			ps.cur = kcn;
			ps.node = node;
			SM_HOOK(s->inst, SM_HOOK_FLUSH);
		}
		if (unlikely(d->epoch != kcn->epoch)) {
			i++;
			continue; /* a slab abandoned in a fork child: leak @obj */
		}
		if (d != ps.run) {
			put_end_run(&ps);
			ps.run = d;
			ps.run_old = d->inuse;
			slab_touch_free(d);
			ps.run_purged = d->purge & SLAB_PURGED;
		}
		if (unlikely(ps.run_purged)) {
			/* Into the bitmap, one at a time: a purged slab is rare. */
			if (slab_push_purged(s, node, d, objs[i++]))
				kcn->inuse--;
			continue;
		}
		/* This object and those after it in the same slab, without
		   looking each one up: a sheaf freed in allocation order holds
		   runs of one slab's objects.  Unless the next object is on
		   the same page (the cheapest test that it is in the same
		   slab), the plain push: random frees make runs of one. */
		if (i + 1 < n && !(((uintptr_t)objs[i + 1] ^ (uintptr_t)obj) >> SM_PAGE_SHIFT)) {
			uint32_t before = d->inuse;
			i += slab_push_run(s, d, slab_base(node, d), objs + i, n - i);
			kcn->inuse -= before - d->inuse;
		} else if (slab_push(s, d, objs[i++])) {
			kcn->inuse--;
		}
	}
	if (ps.cur) {
		put_end_run(&ps);
		sm_unlock(&ps.cur->list_lock);
	}
	if (ps.nr_discard && !ps.now)
		ps.now = pa_now(s->pa);
	for (unsigned i = 0; i < ps.nr_discard; i++)
		slab_discard(s, ps.discard_node[i], ps.discard[i], ps.now);
	vg_quiet_end();
	return n - kept; /* reported double frees count as handled: they are dropped */
}

size_t cache_release_empty(struct kmem_cache *s, uint64_t cutoff)
{
	size_t released = 0;
	if (s->flags & SM_CACHE_TYPESAFE_BY_RCU)
		return 0; /* its memory stays its own (slabmalloc.h); destroy clears the flag */
	unsigned nr = pa_nr_nodes(s->pa);
	for (unsigned id = 0; id < nr; id++) {
		struct kmem_cache_node *kcn = s->node[id];
		struct sm_node *node = pa_node(s->pa, id);
		if (!READ_ONCE(kcn->nr_empty))
			continue;
		for (;;) {
			struct slab *batch[16];
			unsigned nb = 0;
			kcn_lock(kcn);
			while (nb < ARRAY_SIZE(batch) && !list_empty(&kcn->empty)) {
				struct slab *d = list_last_entry(&kcn->empty, struct slab, list);
				if (d->stamp > cutoff)
					break;
				slab_unlist(kcn, d);
				kcn->nr_slabs--;
				batch[nb++] = d;
			}
			sm_unlock(&kcn->list_lock);
			for (unsigned i = 0; i < nb; i++)
				slab_discard(s, node, batch[i], batch[i]->stamp);
			released += nb;
			if (nb < ARRAY_SIZE(batch))
				break;
		}
	}
	return released;
}

/* Put the slabs of s->purging back on @kcn's lists (list_lock held, or a fork child's). */
static void purging_relist(struct kmem_cache *s, struct kmem_cache_node *kcn)
{
	uint64_t now = 0;
	while (!list_empty(&s->purging)) {
		struct slab *d = list_first_entry(&s->purging, struct slab, list);
		list_del(&d->list);
		d->on_list = ON_NONE;
		slab_purge_done(d);
		if (!d->inuse && !now)
			now = pa_now(s->pa); /* emptied by frees meanwhile: empty from now */
		/* old = inuse: a take's place, the tail of its bucket, so that
		   refills go to the slabs whose pages are all there first. */
		slab_relist(s, kcn, d, d->inuse, now);
	}
}

size_t cache_purge_partial(struct kmem_cache *s, bool all)
{
	if (!s->partial_purge)
		return 0;
	size_t pages = 0;
	unsigned nr = pa_nr_nodes(s->pa);
	for (unsigned id = 0; id < nr; id++) {
		struct kmem_cache_node *kcn = s->node[id];
		struct sm_node *node = pa_node(s->pa, id);
		if (!READ_ONCE(kcn->nr_partial) || node_routed(node))
			continue; /* a private, unmapped or reserved node's slabs stay as they are */
		kcn_lock(kcn);
		s->purging_node = id;
		for (unsigned b = 0; b < SM_PARTIAL_BUCKETS; b++) {
			struct list_head *pos, *tmp;
			list_for_each_safe(pos, tmp, &kcn->partial[b]) {
				struct slab *d = list_entry(pos, struct slab, list);
				if (d->epoch != kcn->epoch || !slab_purge_mark(s, node, d, all))
					continue;
				slab_unlist(kcn, d);
				d->on_list = ON_PURGING;
				list_add_tail(&d->list, &s->purging);
			}
		}
		sm_unlock(&kcn->list_lock);
		if (list_empty(&s->purging))
			continue;
		/* No lock held: refills and frees of this cache, thread
		   creation and exit go on while the system calls run.  The
		   list is this purge's alone. */
		SM_HOOK(s->inst, SM_HOOK_PURGE);
		struct list_head *pos;
		for (pos = s->purging.next; pos != &s->purging; pos = pos->next)
			pages += slab_purge_give_back(node, list_entry(pos, struct slab, list));
		kcn_lock(kcn);
		purging_relist(s, kcn);
		sm_unlock(&kcn->list_lock);
	}
	return pages;
}

/*
 * The kind of live page run data page @page of @n lies in: the type of its
 * head, PT_LARGE (the program's) or PT_INTERNAL (the allocator's own), or
 * PT_UNUSED for none.  Only a run's first and last pages are tagged
 * (node.h), so walk back over untagged pages to the nearest head, tail or
 * slab page: only a head whose run reaches @page covers it.  Reports
 * only: racy and slow.
 */
static uint8_t page_run_kind(const struct sm_node *n, uint32_t page)
{
	for (uint32_t i = page + 1; i-- > 0;) {
		const struct slab *d = &n->descs[i];
		if (d->type == PT_LARGE || d->type == PT_INTERNAL)
			return (uint64_t)i + d->npages > page ? d->type : PT_UNUSED;
		if (d->type == PT_LARGE_TAIL && i == page) {
			uint8_t head = READ_ONCE(n->descs[READ_ONCE(d->head)].type);
			return head == PT_INTERNAL ? PT_INTERNAL : PT_LARGE;
		}
		if (d->type == PT_LARGE_TAIL || page_type_slab(d->type))
			return PT_UNUSED;
	}
	return PT_UNUSED;
}

void kmem_cache_fork_child(struct kmem_cache *s, unsigned nr_nodes, bool purge_lost)
{
	for (unsigned i = 0; i < nr_nodes; i++) {
		struct kmem_cache_node *kcn = s->node[i];
		bool lost = sm_lock_is_locked(&kcn->list_lock) && !sm_lock_held_by_self(&kcn->list_lock);
		/* An unmapped node's slabs are not the child's (node_fork_child). */
		bool gone = (pa_node(s->pa, i)->flags & SM_NODE_UNMAPPED) &&
			    !sm_lock_held_by_self(&kcn->list_lock);
		if (purge_lost && s->purging_node == i && !list_empty(&s->purging)) {
			/* A vanished thread's purge of partial slabs: its slabs
			   back on the lists (their marked pages purged or not,
			   the bitmaps say what is free), or, with the lists
			   abandoned below, left with them. */
			if (lost || gone)
				INIT_LIST_HEAD(&s->purging);
			else
				purging_relist(s, kcn);
		}
		if (!lost && !gone)
			continue;
		sm_lock_init(&kcn->list_lock);
		kcn->epoch++;
		for (unsigned b = 0; b < SM_PARTIAL_BUCKETS; b++)
			INIT_LIST_HEAD(&kcn->partial[b]);
		INIT_LIST_HEAD(&kcn->empty);
		kcn->nr_partial = kcn->nr_empty = 0;
	}
}

void *kmem_cache_alloc_direct(struct kmem_cache *s, const struct slab_alloc_context *ctx)
{
	void *p;
	if (unlikely(s->debug) ? (p = debug_alloc(s, ctx)) != NULL : slab_get_objects(s, ctx, &p, 1) != 0) {
		vg_internal(p, s->size); /* a program's object becomes a heap block later */
		*obj_free_word(s, p) = 0; /* handed out */
		return p;
	}
	errno = ENOMEM;
	return NULL;
}

int slab_holds_free(struct kmem_cache *s, const void *p, bool trylock)
{
	struct sm_node *n = node_of(p);
	struct slab *d = &n->descs[n->descs[node_page_index(n, p)].head];
	struct kmem_cache_node *kcn = s->node[n->id];
	if (!kcn_lock_ctx(kcn, trylock))
		return -1;
	vg_quiet_begin();
	int found = slab_on_freelist(s, n, d, p);
	vg_quiet_end();
	sm_unlock(&kcn->list_lock);
	return found;
}

void kmem_cache_free_direct(struct kmem_cache *s, void *p)
{
	if (unlikely(s->debug) && !debug_free(s, p, false))
		return; /* reported: left alone */
	else if (unlikely(s->pa->harden))
		harden_obj_scrub(s, p); /* hardened: every free object is zero (harden.h) */
	slab_put_objects(s, &p, 1, false);
}

struct slab *slab_check_object(struct kmem_cache *expect, const void *p)
{
	struct sm_node *n = node_owning(p);
	const struct report_sink *err = expect ? cache_err(expect) : NULL;
	if (!n) {
		if (large_recently_unmapped(p))
			sm_report(err, "double free of %p (a huge mapping freed already)", p);
		else
			sm_report(err, "free of %p: not allocated by slabmalloc (foreign pointer)", p);
		return NULL;
	}
	err = n->err;
	if (n->kind == NODE_HUGE && p != n->data) {
		sm_report(err, "free of %p: interior pointer into a %zu-byte huge allocation at %p",
			  p, n->huge_size, (void *)n->data);
		return NULL;
	}
	uint32_t page = node_page_index(n, p);
	if (page == UINT32_MAX) {
		sm_report(err, "free of %p: not an object (node metadata or huge mapping)", p);
		return NULL;
	}
	struct slab *d = &n->descs[page];
	if (!page_type_slab(d->type)) {
		uint8_t run = page_run_kind(n, page);
		if (run == PT_INTERNAL) {
			sm_report(err, "free of %p: slabmalloc's own memory (a thread's cache), not an "
				  "allocation", p);
			return NULL;
		}
		bool in_run = run == PT_LARGE;
		if (!in_run && p == node_page_addr(n, page))
			sm_report(err, "double free of %p (free page: a page run freed already)", p);
		else
			sm_report(err, "free of %p: not a live slab object (%s page)", p,
				  in_run ? "page-run" : "free");
		return NULL;
	}
	struct kmem_cache *s = d->cache;
	if (expect && s != expect) {
		sm_report(err, "free of %p to cache %s: object belongs to cache %s", p,
			  expect->name, s->name);
		return NULL;
	}
	uintptr_t off = (uintptr_t)p - (uintptr_t)node_page_addr(n, d->head);
	if (slab_obj_index_any(s, off) < 0) {
		/* A debug cache's slot starts red_left bytes before its object. */
		uintptr_t in = (off + s->size - s->red_left) % s->size;
		sm_report(err, "free of %p: interior pointer into cache %s (offset %u into a %u-byte object)",
			  p, s->name, (unsigned)in, s->debug ? s->object_size : s->size);
		return NULL;
	}
	return d;
}
