/*
 * sized.c - the slow path of the sized frees (free_sized, free_aligned_sized,
 * C++'s sized and aligned operator delete; issue 13): the size and the
 * alignment the caller gives are checked against what the pointer really is,
 * and a mismatch is reported like a bad free.  The fast path's share of the
 * check is in fastpath.h (kfree_inline_checked).
 */
#include "fastpath.h"
#include "harden.h"
#include "large.h"
#include "printk.h"
#include "registry.h"
#include "zero.h"

static const char *const sized_name[] = {
	[SIZED_FREE] = "free_sized",
	[SIZED_FREE_ALIGNED] = "free_aligned_sized",
	[SIZED_DELETE] = "operator delete",
};

/*
 * Whether @size suits a live object of @s with @usable bytes: what realloc
 * keeps in place (sized_check_lo), or the class an aligned request of
 * @size would get (aligned_alloc(256, 8) takes a 256-byte object).
 */
static bool small_size_ok(const struct kmem_cache *s, size_t usable, size_t size, size_t align)
{
	if (size > usable)
		return false;
	if (size >= sized_check_lo(usable))
		return true;
	return s->is_kmalloc && align > 8 &&
	       s == &s->inst->kmalloc_caches[kmalloc_aligned_index(size, align)];
}

/*
 * Hardened mode (hardened.h): the same rule against the size the object
 * was asked for (@asked, its record), the aligned case by the class the
 * two would get without the pad.
 */
static bool hardened_size_ok(size_t asked, size_t size, size_t align)
{
	if (size > asked)
		return false;
	return size >= sized_check_lo(asked) ||
	       (align > 8 && kmalloc_aligned_index(size, align) == kmalloc_aligned_index(asked, align));
}

/* Whether @size suits the live page run or huge mapping @r of @usable bytes. */
static bool large_size_ok(const struct large_ref *r, size_t usable, size_t size)
{
	if (r->huge) /* realloc keeps a huge mapping while it is over half used */
		return size <= usable && size > usable / 2;
	/* A page run's class is its page count (what malloc and realloc make;
	   hardened, with room for the canary: large.c). */
	size_t pad = r->node->inst->pa.harden ? SM_RUN_CANARY : 0;
	return ALIGN_UP(MAX(size, (size_t)1) + pad, SM_PAGE_SIZE) == usable; /* size 0: as 1 (kmalloc_zero) */
}

/* Report a mismatch of @p, which is @desc ("a 64-byte object of cache kmalloc-64"). */
static __cold void mismatch(const struct report_sink *err, enum sized_free who, void *p, size_t size,
			    size_t align, bool bad_size, const char *desc)
{
	if (bad_size)
		sm_report(err, "%s of %p: size %zu given, but it is %s", sized_name[who], p, size, desc);
	else
		sm_report(err, "%s of %p: alignment %zu given, but it is %s, not so aligned",
			  sized_name[who], p, align, desc);
}

void __kfree_sized_miss(void *p, bool sized, size_t size, size_t align, enum sized_free who)
{
	if (!p)
		return;
	bool misaligned = align > 1 && ((uintptr_t)p & (align - 1));
	if (zero_holds(p)) {
		if (zero_live(p) && ((sized && size) || misaligned)) {
			registry_default_sink_prepare(); /* no instance owns the area */
			mismatch(NULL, who, p, size, align, sized && size, "a malloc(0) pointer");
			return;
		}
		__kfree_miss(p); /* freed, or reported if it is no live slot */
		return;
	}
	struct kmem_cache *s = obj_cache_any(p); /* routed and slab_debug objects too */
	if (s) {
		size_t usable = s->object_size; /* a kmalloc cache's: its class size */
		bool bad_size;
		if (harden_on(s) && s->is_kmalloc) {
			/* Its size is what was asked for; a broken record is
			   the free's to report. */
			size_t asked = harden_obj_size(s, p);
			if (asked != SIZE_MAX)
				usable = asked;
			bad_size = sized && asked != SIZE_MAX && !hardened_size_ok(asked, size, align);
		} else {
			bad_size = sized && !small_size_ok(s, usable, size, align);
		}
		/* A class no aligned request of @align gets (kmalloc_aligned_index)
		   cannot hold what was allocated so aligned, whatever the address;
		   hardened mode pads into larger classes, whose sizes say less. */
		if (align > 8 && s->is_kmalloc && !harden_on(s) && (s->size & (align - 1)))
			misaligned = true;
		/* A free object: the double free is what free() reports. */
		if ((bad_size || misaligned) && !obj_maybe_free(s, p)) {
			char desc[96];
			sm_snprintf(desc, sizeof(desc), "a %zu-byte object of cache %s", usable, s->name);
			mismatch(cache_err(s), who, p, size, align, bad_size, desc);
			return;
		}
		__kfree_miss(p);
		return;
	}
	struct large_ref r;
	if (large_lookup(p, &r)) {
		size_t usable = large_usable(&r);
		bool bad_size = sized && !large_size_ok(&r, usable, size);
		if (bad_size || misaligned) {
			char desc[96];
			if (r.huge)
				sm_snprintf(desc, sizeof(desc), "a %zu-byte huge allocation", usable);
			else
				sm_snprintf(desc, sizeof(desc), "a page run of %zu bytes", usable);
			mismatch(r.node->err, who, p, size, align, bad_size, desc);
			return;
		}
	}
	__kfree_miss(p); /* freed, or reported for what it is */
}
