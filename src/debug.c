/*
 * debug.c - slab_debug (debug.h): a debug cache's slot layout, the checks
 * on its allocations and frees, the alloc/free tracks, SLUB-style reports
 * and sm_cache_validate's walk.  Reached only for caches with s->debug set:
 * no other cache pays for any of it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "debug.h"
#include "os.h"
#include "os_stack.h"
#include "printk.h"
#include "slab.h"
#include "vg.h"

/* The bytes SLUB uses, so that a dump reads the same. */
#define RED_INACTIVE 0xbb
#define RED_ACTIVE   0xcc
#define POISON_FREE  0x6b
#define POISON_END   0xa5
#define POISON_PAD   0x5a

#define DEBUG_RZ     16u  /* bytes of red zone at least, each side */
#define DEBUG_FRAMES 16u  /* T: return addresses kept per track */
#define DEBUG_DUMP   32u  /* bytes a report shows of the damaged region */

/* Who last allocated or freed an object (U); pcs[] only with T. */
struct debug_track {
	void *caller;       /* the first return address outside slabmalloc */
	uint64_t seq;       /* debug_seq at the time: orders the events */
	int32_t tid, pid;
	uint32_t nr;        /* frames in pcs[] */
	uint32_t unused;
	void *pcs[];
};

enum { TRACK_ALLOC, TRACK_FREE };

static uint64_t debug_seq; /* every tracked alloc and free, process-wide */

static size_t track_size(const struct kmem_cache *s)
{
	return sizeof(struct debug_track) +
	       ((s->debug & SM_CACHE_DEBUG_BACKTRACE) ? DEBUG_FRAMES * sizeof(void *) : 0);
}

static struct debug_track *obj_track(const struct kmem_cache *s, const void *p, int which)
{
	return (struct debug_track *)((char *)p + s->track_off + (size_t)which * track_size(s));
}

/* Whether a free object's bytes are poisoned (P, and nothing else owns them). */
static bool obj_poisoned(const struct kmem_cache *s)
{
	return (s->debug & SM_CACHE_DEBUG_POISON) && !s->ctor &&
	       !(s->flags & SM_CACHE_TYPESAFE_BY_RCU);
}

void debug_prepare(const struct sm_options *o, unsigned flags)
{
	if ((o->debug | flags) & (SM_CACHE_DEBUG_STORE_USER | SM_CACHE_DEBUG_BACKTRACE))
		os_stack_prepare();
}

unsigned debug_wanted(const struct sm_options *o, const char *name)
{
	if (!o->debug)
		return 0;
	const char *c = o->debug_caches;
	if (!c)
		return o->debug;
	size_t len = strlen(name);
	while (*c) {
		const char *e = c;
		while (*e && *e != ',')
			e++;
		if ((size_t)(e - c) == len && !memcmp(c, name, len))
			return o->debug;
		c = *e ? e + 1 : e;
	}
	return 0;
}

size_t debug_cache_layout(struct kmem_cache *s, size_t size, size_t align, unsigned flags)
{
	if (flags & SM_CACHE_DEBUG_BACKTRACE)
		flags |= SM_CACHE_DEBUG_STORE_USER;
	s->debug = flags;
	bool z = flags & SM_CACHE_DEBUG_RED_ZONE;
	/* The left red zone keeps the object aligned: a multiple of align. */
	s->red_left = z ? (unsigned)ALIGN_UP((size_t)DEBUG_RZ, align) : 0;
	size_t rz_end = ALIGN_UP(size, 8) + (z ? DEBUG_RZ : 0);
	/* The free word after the object and its red zone (SLUB moves its
	   free pointer out of the object when it poisons): the whole object
	   can be poisoned, and no free-list write lands in it. */
	s->fp_offset = (unsigned)rz_end;
	size_t end = rz_end + sizeof(uintptr_t);
	s->track_off = (unsigned)end;
	if (flags & SM_CACHE_DEBUG_STORE_USER)
		end += 2 * track_size(s);
	s->pad_off = (unsigned)end;
	return ALIGN_UP(s->red_left + end, align);
}

/* The bytes of @p's slot that belong to nothing: [pad_off, slot end). */
static size_t pad_len(const struct kmem_cache *s)
{
	return s->size - s->red_left - s->pad_off;
}

/* Red zones (Z) of @p set to @v. */
static void set_red(const struct kmem_cache *s, char *p, int v)
{
	if (!(s->debug & SM_CACHE_DEBUG_RED_ZONE))
		return;
	memset(p - s->red_left, v, s->red_left);
	memset(p + s->object_size, v, s->fp_offset - s->object_size);
}

static void poison(const struct kmem_cache *s, char *p)
{
	if (!obj_poisoned(s))
		return;
	memset(p, POISON_FREE, s->object_size - 1);
	p[s->object_size - 1] = (char)POISON_END;
}

void debug_slab_init(struct kmem_cache *s, char *base)
{
	for (unsigned i = 0; i < s->objects; i++) {
		char *p = base + (size_t)i * s->size + s->red_left;
		set_red(s, p, RED_INACTIVE);
		poison(s, p);
		memset(p + s->fp_offset, 0, s->pad_off - s->fp_offset); /* free word, tracks */
		if (s->debug & SM_CACHE_DEBUG_POISON)
			memset(p + s->pad_off, POISON_PAD, pad_len(s));
	}
	if (s->debug & SM_CACHE_DEBUG_POISON) {
		size_t used = (size_t)s->objects * s->size;
		memset(base + used, POISON_PAD, ((size_t)s->slab_pages << SM_PAGE_SHIFT) - used);
	}
}

/* ---- findings and reports ---- */

/* One problem, copied out under the lock and reported after it. */
struct finding {
	const char *what;          /* "Redzone overwritten", ... */
	const char *region;        /* "Redzone", "Object", "Padding" */
	const char *detail;        /* F findings: what is wrong, or NULL */
	char *obj;                 /* the object (or the slab, for tail padding) */
	char *bad;                 /* the first byte that differs, or NULL */
	int expect;                /* what it should hold */
	char *dump_at;             /* the dump's first byte */
	unsigned dump_len;
	unsigned char dump[DEBUG_DUMP];
	bool tracked;
	struct debug_track track[2];
	void *pcs[2][DEBUG_FRAMES];
};

/* The first byte of [@start, @start + @len) that is not @v, or NULL. */
static char *first_diff(char *start, size_t len, int v)
{
	uint64_t pat = 0x0101010101010101ull * (unsigned char)v;
	size_t i = 0;
	/* A word at a time where the bytes are aligned (objects are). */
	for (; i < len && ((uintptr_t)(start + i) & 7); i++)
		if ((unsigned char)start[i] != (unsigned char)v)
			return start + i;
	for (uint64_t w; i + 8 <= len; i += 8) {
		memcpy(&w, start + i, 8);
		if (w != pat)
			break;
	}
	for (; i < len; i++)
		if ((unsigned char)start[i] != (unsigned char)v)
			return start + i;
	return NULL;
}

/*
 * Record in @f that [@start, @start + @len) of @p's slot (named @region)
 * should hold @v but holds something else at @bad.
 */
static void found(char *p, struct finding *f, const char *what,
		  const char *region, char *start, size_t len, char *bad, int v)
{
	f->what = what;
	f->region = region;
	f->detail = NULL;
	f->obj = p;
	f->bad = bad;
	f->expect = v;
	/* The region from the 16-byte row of the first bad byte, at most DEBUG_DUMP bytes. */
	char *from = start + ((size_t)(bad - start) & ~(size_t)15);
	size_t n = MIN((size_t)DEBUG_DUMP, (size_t)(start + len - from));
	f->dump_at = from;
	f->dump_len = (unsigned)n;
	memcpy(f->dump, from, n);
}

/* Copy @p's tracks into @f (U), under the lock that guards them. */
static void copy_tracks(const struct kmem_cache *s, const char *p, struct finding *f)
{
	f->tracked = s->debug & SM_CACHE_DEBUG_STORE_USER;
	if (!f->tracked)
		return;
	for (int w = 0; w < 2; w++) {
		const struct debug_track *t = obj_track(s, p, w);
		f->track[w] = *t;
		unsigned nr = MIN(t->nr, DEBUG_FRAMES);
		f->track[w].nr = (s->debug & SM_CACHE_DEBUG_BACKTRACE) ? nr : 0;
		memcpy(f->pcs[w], t->pcs, f->track[w].nr * sizeof(void *));
	}
}

/*
 * Whether @p's slot is as a live (@live) or free object's must be: red
 * zones (Z), poison (P, free objects), padding (P).  False with @f filled.
 */
static bool check_slot(const struct kmem_cache *s, char *p, bool live, struct finding *f)
{
	char *b;
	if (s->debug & SM_CACHE_DEBUG_RED_ZONE) {
		int v = live ? RED_ACTIVE : RED_INACTIVE;
		char *l = p - s->red_left, *r = p + s->object_size;
		size_t rlen = s->fp_offset - s->object_size;
		if ((b = first_diff(l, s->red_left, v)) != NULL) {
			found(p, f, "Redzone overwritten", "Redzone", l, s->red_left, b, v);
			return false;
		}
		if ((b = first_diff(r, rlen, v)) != NULL) {
			found(p, f, "Redzone overwritten", "Redzone", r, rlen, b, v);
			return false;
		}
	}
	if (!live && obj_poisoned(s)) {
		size_t n = s->object_size - 1;
		b = first_diff(p, n, POISON_FREE);
		if (!b && (unsigned char)p[n] != POISON_END)
			b = p + n;
		if (b) {
			found(p, f, "Poison overwritten", "Object", p, s->object_size, b,
			      b == p + n ? POISON_END : POISON_FREE);
			return false;
		}
	}
	if ((s->debug & SM_CACHE_DEBUG_POISON) &&
	    (b = first_diff(p + s->pad_off, pad_len(s), POISON_PAD)) != NULL) {
		found(p, f, "Object padding overwritten", "Padding", p + s->pad_off, pad_len(s), b,
		      POISON_PAD);
		return false;
	}
	return true;
}

/* An F finding about @p: @what, with @detail. */
static void found_check(char *p, struct finding *f, const char *what, const char *detail)
{
	memset(f, 0, offsetof(struct finding, track));
	f->what = what;
	f->detail = detail;
	f->obj = p;
}

/*
 * F: whether @p's slab is a live slab of @s, @p on an object boundary
 * inside it, and the slab's counters and freelist head sane.  Reads the
 * descriptor under the caller's list_lock (or racily, re-entered).
 */
static bool check_slab(struct kmem_cache *s, struct sm_node *n, char *p, struct finding *f)
{
	uint32_t page = node_page_index(n, p);
	struct slab *pd = page == UINT32_MAX ? NULL : &n->descs[page];
	if (!pd || !page_type_slab(READ_ONCE(pd->type)) || pd->cache != s) {
		found_check(p, f, "Slab check failed", "the object's page is not a slab of this cache");
		return false;
	}
	struct slab *d = &n->descs[pd->head];
	char *base = slab_base(n, d);
	long idx = slab_obj_index_any(s, (uintptr_t)(p - base));
	if (idx < 0 || (uint32_t)idx >= d->bump) {
		found_check(p, f, "Slab check failed", "not an object handed out by its slab");
		return false;
	}
	if (d->inuse > d->objects || d->bump > d->objects || d->objects != s->objects) {
		found_check(p, f, "Slab check failed", "the slab's counters are wrong");
		return false;
	}
	if (d->freelist && slab_obj_index_any(s, d->freelist - (uintptr_t)base) < 0) {
		found_check(p, f, "Slab check failed", "the slab's freelist head is not one of its objects");
		return false;
	}
	return true;
}

static void track_set(const struct kmem_cache *s, char *p, int which, void **pcs, unsigned nr,
		      void *caller, int tid)
{
	if (!(s->debug & SM_CACHE_DEBUG_STORE_USER))
		return;
	struct debug_track *t = obj_track(s, p, which);
	t->caller = caller;
	t->seq = __atomic_add_fetch(&debug_seq, 1, __ATOMIC_RELAXED);
	t->tid = tid;
	t->pid = os_getpid();
	t->nr = 0;
	if (s->debug & SM_CACHE_DEBUG_BACKTRACE) {
		t->nr = nr;
		memcpy(t->pcs, pcs, nr * sizeof(void *));
	}
}

/* The stack of the operation being made, taken before any lock. */
struct stack {
	void *pcs[DEBUG_FRAMES];
	unsigned nr;
	void *caller;
	int tid;
};

static void stack_take(const struct kmem_cache *s, struct stack *st)
{
	st->nr = 0;
	st->caller = NULL;
	st->tid = 0;
	if (!(s->debug & SM_CACHE_DEBUG_STORE_USER))
		return;
	void *all[DEBUG_FRAMES + 16];
	/* U: up to the caller; T: DEBUG_FRAMES frames of the program's. */
	unsigned n = os_stack_trace(all, ARRAY_SIZE(all),
				    (s->debug & SM_CACHE_DEBUG_BACKTRACE) ? DEBUG_FRAMES : 1);
	/* Skip slabmalloc's frames: the caller is the first frame outside
	   (linked into the program, none can be told apart: all are kept). */
	unsigned k = 0;
	while (k < n && os_pc_is_ours(all[k]))
		k++;
	if (k == n)
		k = 0;
	st->caller = k < n ? all[k] : NULL;
	st->nr = MIN(n - k, DEBUG_FRAMES);
	memcpy(st->pcs, all + k, st->nr * sizeof(void *));
	st->tid = os_gettid();
}

static void put_track(char *buf, size_t n, size_t *len, const char *verb, const struct finding *f,
		      int which, bool resolve)
{
	const struct debug_track *t = &f->track[which];
	char sym[160];
	if (!t->seq) { /* tracks start zero; the first event's seq is 1 */
		*len += sm_snprintf(buf + *len, n - *len, "\n%s by (never)", verb);
		return;
	}
	/* No caller: the unwinder was not found yet (os_stack_prepare). */
	if (t->caller)
		os_symbolize(t->caller, sym, sizeof(sym), resolve);
	else
		sm_snprintf(sym, sizeof(sym), "?");
	*len += sm_snprintf(buf + *len, n - *len, "\n%s by %s (pid %d, tid %d, seq %llu)", verb, sym,
			    (int)t->pid, (int)t->tid, (unsigned long long)t->seq);
	for (unsigned i = 0; i < t->nr; i++) {
		os_symbolize(f->pcs[which][i], sym, sizeof(sym), resolve);
		*len += sm_snprintf(buf + *len, n - *len, "\n  #%u %s", i, sym);
	}
}

/*
 * Report @f about cache @s, then @outcome (what was done with the object),
 * to the cache's sink: the handler gets the whole report as one message
 * of several lines; without one it goes to stderr and the process aborts.
 * No allocator lock held: dladdr may take the loader lock (@resolve false
 * when re-entered: raw addresses).
 */
static void report(const struct kmem_cache *s, const struct finding *f, const char *outcome,
		   bool resolve)
{
	char buf[3072];
	size_t n = sizeof(buf), len = 0;
	len += sm_snprintf(buf, n, "slabmalloc: BUG %s: %s", s->name, f->what);
	if (f->bad) {
		long off = (long)(f->bad - f->obj);
		len += sm_snprintf(buf + len, n - len,
				   "\nobject %p (%u bytes): first byte 0x%02x instead of 0x%02x at offset %ld (%p)",
				   (void *)f->obj, s->object_size, (unsigned char)f->dump[f->bad - f->dump_at],
				   f->expect, off, (void *)f->bad);
		for (unsigned i = 0; i < f->dump_len; i += 16) {
			len += sm_snprintf(buf + len, n - len, "\n%-8s %p:", f->region, (void *)(f->dump_at + i));
			for (unsigned j = i; j < f->dump_len && j < i + 16; j++)
				len += sm_snprintf(buf + len, n - len, " %02x", f->dump[j]);
		}
	} else {
		len += sm_snprintf(buf + len, n - len, "\nobject %p (%u bytes)%s%s", (void *)f->obj,
				   s->object_size, f->detail ? ": " : "", f->detail ? f->detail : "");
	}
	if (f->tracked) {
		put_track(buf, n, &len, "allocated", f, TRACK_ALLOC, resolve);
		put_track(buf, n, &len, "freed", f, TRACK_FREE, resolve);
	}
	len += sm_snprintf(buf + len, n - len, "\n%s", outcome);
	const struct report_sink *sink = cache_err(s);
	if (!sink)
		sink = &sm_default_sink;
	void (*handler)(const char *, void *) = READ_ONCE(sink->handler);
	if (handler) {
		handler(buf, sink->arg);
		return;
	}
	if (len >= n - 1)
		len = n - 2;
	buf[len] = '\n';
	os_write_stderr(buf, len + 1);
	abort();
}

/* ---- the alloc and free checks ---- */

/*
 * Lock @p's node list_lock (tried only with @trylock); the node in *@np.
 * False when it was busy: the caller goes on unlocked (racing only with
 * a validation).
 */
static bool lock_obj(struct kmem_cache *s, const void *p, bool trylock, struct sm_node **np)
{
	struct sm_node *n = node_of(p);
	*np = n;
	return kcn_lock_ctx(s->node[n->id], trylock);
}

static void unlock_obj(struct kmem_cache *s, struct sm_node *n, bool locked)
{
	if (locked)
		sm_unlock(&s->node[n->id]->list_lock);
}

void *debug_alloc(struct kmem_cache *s, const struct slab_alloc_context *ctx)
{
	bool trylock = ctx->alloc_flags & SLAB_ALLOC_TRYLOCK;
	struct stack st;
	stack_take(s, &st);
	/* An object that fails its checks is leaked, and another taken: a
	   bounded number of times (a slab overwritten wholesale). */
	for (unsigned tries = 0; tries < 16; tries++) {
		void *p;
		if (!slab_get_objects(s, ctx, &p, 1))
			return NULL;
		struct sm_node *n;
		bool locked = lock_obj(s, p, trylock, &n);
		struct finding f;
		vg_quiet_begin(); /* a free object's bytes: memcheck's noaccess */
		bool ok = (!(s->debug & SM_CACHE_DEBUG_CONSISTENCY) || check_slab(s, n, p, &f)) &&
			  check_slot(s, p, false, &f);
		if (ok) {
			set_red(s, p, RED_ACTIVE);
			track_set(s, p, TRACK_ALLOC, st.pcs, st.nr, st.caller, st.tid);
			*obj_free_word(s, p) = 0; /* live: sm_cache_validate checks it as such */
		} else {
			copy_tracks(s, p, &f);
		}
		vg_quiet_end();
		unlock_obj(s, n, locked);
		if (ok)
			return p;
		report(s, &f, "object leaked: never handed out", !trylock);
	}
	errno = ENOMEM;
	return NULL;
}

bool debug_free(struct kmem_cache *s, void *p, bool trylock)
{
	struct stack st;
	stack_take(s, &st);
	struct sm_node *n;
	bool locked = lock_obj(s, p, trylock, &n);
	struct finding f;
	bool ok = true;
	vg_quiet_begin(); /* a double free reads a free object */
	if (obj_maybe_free(s, p)) {
		/* The free word lies outside the object: only the allocator
		   (a freelist, the deferred list, a free in progress) tags it. */
		found_check(p, &f, "Object already free", NULL);
		ok = false;
	} else if (s->debug & SM_CACHE_DEBUG_CONSISTENCY) {
		ok = check_slab(s, n, p, &f);
	}
	if (ok)
		ok = check_slot(s, p, true, &f);
	if (ok) {
		track_set(s, p, TRACK_FREE, st.pcs, st.nr, st.caller, st.tid);
		set_red(s, p, RED_INACTIVE);
		poison(s, p);
		/* Free from here on (slab_push writes the link next). */
		*obj_free_word(s, p) = s->free_key;
	} else {
		copy_tracks(s, p, &f);
	}
	vg_quiet_end();
	unlock_obj(s, n, locked);
	if (!ok)
		report(s, &f, "object left alone: not freed", !trylock);
	return ok;
}

/* ---- sm_cache_validate ---- */

#define VALIDATE_KEEP 8 /* findings copied per node; the rest are counted */

struct validate_state {
	struct finding f[VALIDATE_KEEP];
	unsigned kept;
	size_t problems;
};

static void validate_found(struct validate_state *vs, const struct finding *f)
{
	if (vs->kept < VALIDATE_KEEP)
		vs->f[vs->kept++] = *f;
	vs->problems++;
}

/* One slab @d of node @n (list_lock held). */
static void validate_slab(struct kmem_cache *s, struct sm_node *n, struct slab *d,
			  struct validate_state *vs)
{
	char *base = slab_base(n, d);
	uint64_t map[512 / 64] = { 0 }; /* at most 512 objects a slab */
	void *bad;
	struct finding f;
	if (d->inuse > d->objects || d->bump > d->objects || d->objects != s->objects) {
		found_check(base, &f, "Slab check failed", "the slab's counters are wrong");
		validate_found(vs, &f);
		return;
	}
	if (!slab_freelist_map(s, n, d, map, &bad)) {
		found_check(bad, &f, "Freelist corrupted",
			    "a free object's link leads outside its slab, to an object never handed out, or around a loop");
		validate_found(vs, &f);
		return;
	}
	if (!s->debug)
		return;
	for (unsigned i = 0; i < d->objects; i++) {
		char *p = base + (size_t)i * s->size + s->red_left;
		bool on_list = (map[i / 64] >> (i % 64)) & 1;
		bool free = on_list || i >= d->bump;
		/* Off the freelist with the free word tagged: being freed or
		   allocated right now, or on the deferred list: in between. */
		if (!free && obj_maybe_free(s, p))
			continue;
		if (!check_slot(s, p, !free, &f)) {
			copy_tracks(s, p, &f);
			validate_found(vs, &f);
		}
	}
	if (s->debug & SM_CACHE_DEBUG_POISON) {
		char *tail = base + (size_t)s->objects * s->size;
		size_t len = ((size_t)d->npages << SM_PAGE_SHIFT) - (size_t)s->objects * s->size;
		char *b = first_diff(tail, len, POISON_PAD);
		if (b) {
			found(tail, &f, "Slab padding overwritten", "Padding", tail, len, b, POISON_PAD);
			f.tracked = false;
			validate_found(vs, &f);
		}
	}
}

size_t debug_validate(struct kmem_cache *s)
{
	size_t problems = 0;
	unsigned nr = pa_nr_nodes(s->pa);
	struct validate_state local, *vs = &local;
	for (unsigned id = 0; id < nr; id++) {
		struct sm_node *n = pa_node(s->pa, id);
		struct kmem_cache_node *kcn = s->node[id];
		if (!n || n->kind == NODE_HUGE)
			continue;
		vs->kept = 0;
		vs->problems = 0;
		kcn_lock(kcn);
		vg_quiet_begin(); /* free objects and their links */
		uint32_t end = READ_ONCE(n->bump);
		for (uint32_t pg = 0; pg < end; pg++) {
			struct slab *d = &n->descs[pg];
			if (page_type_slab(READ_ONCE(d->type)) && d->cache == s && d->page_off == 0 &&
			    d->epoch == kcn->epoch)
				validate_slab(s, n, d, vs);
		}
		vg_quiet_end();
		sm_unlock(&kcn->list_lock);
		for (unsigned i = 0; i < vs->kept; i++)
			report(s, &vs->f[i], "found by sm_cache_validate", true);
		if (vs->problems > vs->kept) {
			char line[160];
			sm_snprintf(line, sizeof(line), "slabmalloc: cache %s: %zu more problems on node %u not shown",
				    s->name, vs->problems - vs->kept, id);
			const struct report_sink *sink = cache_err(s);
			if (sink && READ_ONCE(sink->handler))
				sink->handler(line, sink->arg);
			else
				sm_printk("%s\n", line);
		}
		problems += vs->problems;
	}
	return problems;
}
