/*
 * slowpath.h - the contracts between the entry points (alloc.c, free.c,
 * realloc.c, nolock.c) and their slow paths: what the inlined fast paths
 * (fastpath.h) fall through to, the sheaf-bypassing requests, page runs
 * and huge mappings, and the end of every slow path.
 *
 * Naming (the kernel's ladder): x() is an entry point, __x() a slow path,
 * noinline and entered from a fast path.  "busy" is the marker of thread.h.
 */
#ifndef SM_SLOWPATH_H
#define SM_SLOWPATH_H

#include <stdbool.h>
#include <stddef.h>

#include "alloc_context.h"
#include "compiler.h"
#include "helper.h"
#include "instance.h"
#include "os.h"
#include "purge.h"
#include "slab.h"
#include "tcache.h"

/*
 * The sheaf slow paths: main had no object (alloc) or no room (free).
 * Entered with busy set, return with it cleared.  The fast paths pass plain
 * alloc_flags; the slab_alloc_context is built here, off the fast path, so
 * the compiler keeps it out of the inlined code.
 */
void *__slab_alloc_slow(struct sm_instance *inst, unsigned id, struct tcache *tc,
			unsigned flags) __hidden __noinline;
void __slab_free_slow(struct kmem_cache *s, struct tcache *tc, void *p) __hidden __noinline;
/*
 * A free of an object whose slab another thread owns (page.h): onto the
 * remote sheaf (tcache_remote_push), or tcache_free_remote when it has no
 * room.  Entered with busy set, returns with it cleared.
 */
void __slab_free_remote(struct kmem_cache *s, struct tcache *tc, void *p) __hidden __noinline;
/*
 * No tcache in the thread's slot: the thread's first use of the instance
 * (attach it and go on normally), a deferred free to see to first
 * (SM_GEN_KICK), or the thread is exiting (no sheaves), or the instance
 * is hardened (no sheaves: hardened_alloc gets the request's @size and
 * @align, 0 for a cache's object).  Busy clear.
 */
void *__slab_alloc_no_tcache(struct sm_instance *inst, unsigned id, unsigned flags, size_t size,
			     size_t align) __hidden __noinline;
void __slab_free_no_tcache(struct kmem_cache *s, void *p) __hidden __noinline;
/*
 * The misses of the default instance's kmalloc fast paths (fastpath.h):
 * everything those do not handle themselves goes through the general
 * path from here (setting up the default instance first when malloc is
 * the process's first call).  Busy as found.  @size and @align: the
 * request's (slab_alloc); @size first, where malloc has it already (in
 * the first argument's register: passing it costs the hit path nothing).
 * @fc32 is the class's fclass (class + 1, as malloc's table gives it)
 * times 32, the view's stride in the thread's block: what the hit path
 * has in a register.
 */
void *__slab_alloc_default_miss(size_t size, size_t fc32, unsigned flags, size_t align) __hidden __noinline;
/*
 * @p, a free object just taken from a sheaf or a slab to be handed out,
 * lost its free tag (obj_tag_intact): something wrote into it while it was
 * free.  Reported, naming the object, its cache and the word found; then
 * (when the report sink goes on) handed out all the same: its contents are
 * the program's, the allocator's own state is out of band.  Busy clear.
 */
void *__slab_alloc_overwritten(void *p) __hidden __noinline __cold;
void __kfree_miss(void *p) __hidden __noinline;
/*
 * free() of @p whose page descriptor @d the fast path found with fclass 0
 * (not a default kmalloc slab): an object of a slab of another instance or
 * cache goes to slab_free without a second lookup; anything else (a page
 * run, a routed slab, a bad pointer) to kfree_large, which sorts it out.
 */
void __kfree_page(void *p, const struct slab *d) __hidden __noinline;

/* Who passed the size and alignment a sized free checks: named in its reports. */
enum sized_free {
	SIZED_FREE,          /* free_sized */
	SIZED_FREE_ALIGNED,  /* free_aligned_sized */
	SIZED_DELETE,        /* C++ operator delete with a size or an alignment */
};

/*
 * A sized free that missed the fast path: @p checked as free() checks it,
 * then @size (if @sized) against its size class, page
 * run, huge mapping or zero-area slot (the rule of sized_check_lo), and
 * @p against @align (0: none given).  A mismatch is reported, naming the
 * address, the cache and the object's size with the size given, and the
 * object is left alone (the report sink's contract); otherwise @p is freed.
 */
void __kfree_sized_miss(void *p, bool sized, size_t size, size_t align,
			enum sized_free who) __hidden __noinline;
/*
 * free()'s remote free past its inline push: @p, checked by kfree_inline
 * (an object of default kmalloc class @fc - 1, not free already, busy and
 * kick clear), lies in a slab another thread owns, and the class's remote
 * view in the TLS block had no room or no sheaf (a handler may have
 * changed that since: the push is tried again).  Busy clear.
 */
void __kfree_remote(void *p, unsigned fc) __hidden __noinline;
/*
 * The nolock path, taken when busy is found set: the allocator was re-entered
 * (a signal handler, or code the allocator called).  Never touches a sheaf,
 * never waits for a lock; a free that cannot be done at once is deferred.
 */
void *__slab_alloc_nolock(struct sm_instance *inst, unsigned id, unsigned flags) __hidden __noinline;
void __slab_free_nolock(struct kmem_cache *s, void *p) __hidden __noinline;

/*
 * One object of @s past the sheaves, for a request in @flags on @node: the
 * one place such a request's context is built.  NULL: errno ENOMEM.
 * slab_alloc_bypass leaves busy to the caller; __slab_alloc_node brackets
 * itself with it (and only tries locks when re-entered).
 */
void *slab_alloc_bypass(struct kmem_cache *s, unsigned flags, int node) __hidden;
void *__slab_alloc_node(struct kmem_cache *s, unsigned flags, int node) __hidden __noinline;

/*
 * A free of @p whose free word says it may be free already: confirm by
 * looking where free objects are (this thread's and other threads'
 * sheaves, the barns, the slab's freelist, the deferred list); a double
 * free is reported and the object left alone, anything else is freed.
 * Re-entered, it only tries locks, and keeps (leaks) an object it cannot
 * clear without waiting rather than risk handing it out twice.
 */
void __slab_free_suspect(struct kmem_cache *s, void *p) __hidden __noinline;
/*
 * Its body, for callers with busy set: true when @p is live after all (its
 * free word cleared, the caller frees it); false when it was reported as a
 * double free, or kept because @trylock could not tell (a leak).
 */
bool slab_free_confirm(struct kmem_cache *s, void *p, bool trylock) __hidden;
void double_free_report(struct kmem_cache *s, void *p) __hidden __cold;
/*
 * Whether @p, a live object of kmalloc cache @s, is one of the allocator's
 * own: a sheaf (sheaf.h, its mark) or the descriptor of a cache
 * (kmem_cache.h, internal_mark).  Either carries @s's free tag in the top
 * 16 bits of its first word, where a kmalloc cache's free word has it, so
 * that a free of it by the program takes the double-free check, which
 * asks here once the object is not found free (slab_debug's free, whose
 * free word lies after the object, asks for every object).  The rest of
 * it must then agree: a sheaf's cache is one of the instance's (compared,
 * not followed, until found) and takes its sheaves from @s with this
 * capacity; a descriptor is registered under its id.  1: reported, as
 * the program's @call ("free", "ksize", "realloc") of it.  0: not one of
 * them.  -1: @trylock and inst->lock was busy (cannot tell).  Busy set,
 * no lock held.
 */
int obj_internal_reported(struct kmem_cache *s, const void *p, const char *call,
			  bool trylock) __hidden;
/*
 * Whether @p, an object of @s, is free right now (double_free.c): 1 yes,
 * 0 no, -1 cannot tell without waiting (@trylock and a lock was busy, or
 * another thread stayed in the middle of a sheaf move: DF_LOOK_MAX_NS).
 * Busy set.
 */
int obj_is_free(struct kmem_cache *s, const void *p, bool trylock) __hidden;

/*
 * Above the kmalloc classes: a page run or a huge mapping (large.h),
 * bracketed with busy.  Size 0 as well: with SLAB_ALLOC_ZERO_PTR a slot of
 * the zero area (zero.h), else (or when none is to be had, or @align is
 * above its slots') the object a 1-byte request gets.  NULL means no memory, with errno ENOMEM.
 */
void *__kmalloc_large(struct sm_instance *inst, size_t size, size_t align, unsigned flags,
		      int node) __hidden __noinline;
/*
 * Free something obj_cache() did not recognise: a page run, a huge mapping
 * or garbage (reported).  kfree_large brackets itself with busy and only
 * tries locks when re-entered; __kfree_large is its body for callers that
 * hold busy (@trylock: defer the free rather than wait for a lock).
 * Returns the owning instance, or NULL if @p was reported.
 */
void kfree_large(void *p) __hidden __noinline;
struct sm_instance *__kfree_large(void *p, bool trylock) __hidden;

/*
 * Whether @p, an object of @s whose free word says "maybe free"
 * (obj_maybe_free), is free: then "double free of P in cache C" is
 * reported (a realloc of it would free it again); or one of the
 * allocator's own objects, reported as a realloc of it
 * (obj_internal_reported).  Brackets itself with busy.  For the realloc
 * paths that do not free @p through kfree.
 */
bool kfree_reports_freed(struct kmem_cache *s, const void *p) __hidden __noinline;

/*
 * The purge timer's test at the end of a slow path: inst_maybe_purge with
 * the instance's clock, read only when the purge may be due.  That clock
 * (CLOCK_MONOTONIC through the vDSO) costs 25 ns in a VM whose clock
 * source is kvm-clock, a third of a batch's sheaf exchange; the coarse
 * clock, which trails it by at most coarse_lag, costs 3.  While coarse
 * time plus that lag is short of next_purge, the real time is too, and
 * nothing is due: the precise clock is read only within a tick or two of
 * the purge's time (every purge_delay_ms / 2 then), and always for an
 * instance with a clock of its own (coarse_lag 0) or while purge_delay_ms
 * is 0 (every slow path purges then; the delay is read here, since
 * mallopt and sm_option_set change it at run time).  The coarse reading
 * also tells the idle-owner rule that this thread runs (slab_owner_seen).
 */
static inline void slow_path_purge_check(struct sm_instance *inst)
{
	uint64_t lag = inst->coarse_lag;
	uint64_t coarse = os_coarse_ns();
	slab_owner_seen(coarse);
	if (likely(lag) && likely(READ_ONCE(inst->opts.purge_delay_ms)) && coarse + lag < READ_ONCE(inst->next_purge))
		return;
	inst_maybe_purge(inst, inst_now(inst));
}

/*
 * The end of every sheaf slow path: the delayed purge if due (still busy),
 * then busy cleared, then, at the end of an allocation (helper.h says why
 * not of a free), the helper thread started if a deferred free asked for
 * one (thread creation allocates: never with busy set).
 */
static inline void slow_path_exit(struct sm_instance *inst, enum helper_start start)
{
	slow_path_purge_check(inst);
	barrier();
	sm_thread.busy = 0;
	if (unlikely(READ_ONCE(inst->deferred.want_helper)) && start)
		helper_maybe_start(inst);
}

#endif /* SM_SLOWPATH_H */
