/*
 * malloc.c - the drop-in: the glibc malloc family mapped onto the default
 * instance.  Each function does what glibc documents for it (errno, NULL and
 * size-0 cases, overflow) and nothing else; all allocator logic is in src/.
 * The core sets the default instance up on the first call, from the
 * environment (sm_default_instance(), src/default.c), before constructors
 * run if need be, and prints what SLABMALLOC_STATS asks for at exit.
 */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fastpath.h"
#include "options.h"
#include "printk.h"
#include "registry.h"
#include "report.h"

#define SM_EXPORT __attribute__((visibility("default")))

/* C23 and legacy names that Debian 12's headers do not declare. */
void *__libc_malloc(size_t size);
void __libc_free(void *p);
void *__libc_calloc(size_t n, size_t size);
void *__libc_realloc(void *p, size_t size);
void *__libc_memalign(size_t align, size_t size);
void *__libc_valloc(size_t size);
void *__libc_pvalloc(size_t size);
struct mallinfo __libc_mallinfo(void);
int __libc_mallopt(int param, int value);
void free_sized(void *p, size_t size);
void free_aligned_sized(void *p, size_t align, size_t size);
void cfree(void *p);

/* False (errno ENOMEM) only inside a signal handler that interrupted the set-up. */
static __always_inline bool ready(void)
{
	if (likely(__atomic_load_n(&sm_default_ready, __ATOMIC_ACQUIRE)))
		return true;
	if (sm_default_instance())
		return true;
	errno = ENOMEM;
	return false;
}

__attribute__((constructor)) static void preload_ctor(void)
{
	ready(); /* the core registers its fork handler with the first instance */
	sm_default_debug_prepare(); /* slab_debug's unwinder, if its traces are on */
}

/* NULL comes back with errno ENOMEM already set (see kmalloc_inline). */
static __always_inline void *alloc_flags(size_t size, size_t align, unsigned flags)
{
	if (unlikely(!ready()))
		return NULL;
	/* &sm_default_inst is a constant: the fast paths fold slot 0. */
	return kmalloc_inline(&sm_default_inst, size, align, flags | SLAB_ALLOC_ZERO_PTR, SM_NO_NODE);
}

/*
 * No readiness test: before the default instance is set up, the thread's
 * kmalloc views are empty and a page-run request checks for itself, so the
 * process's first malloc sets it up on a slow path (fastpath.h).
 */
SM_EXPORT __entry_aligned void *malloc(size_t size)
{
	/* malloc(0) gets a slot of the zero area: a unique pointer that faults. */
	return kmalloc_inline(&sm_default_inst, size, 0, SLAB_ALLOC_ZERO_PTR, SM_NO_NODE);
}

SM_EXPORT __entry_aligned void free(void *p)
{
	kfree_inline(p); /* NULL included: it misses the hot map */
}

SM_EXPORT __entry_aligned void *calloc(size_t n, size_t size)
{
	size_t bytes;
	if (unlikely(__builtin_mul_overflow(n, size, &bytes))) {
		errno = ENOMEM;
		return NULL;
	}
	/* Page runs fresh from the OS are not zeroed again (see kmalloc_large). */
	return alloc_flags(bytes, 0, SLAB_ALLOC_ZERO);
}

SM_EXPORT __entry_aligned void *realloc(void *p, size_t size)
{
	if (!p)
		return malloc(size);
	return sm_krealloc(p, size, 0); /* size 0 frees p and returns NULL, as glibc does */
}

SM_EXPORT void *reallocarray(void *p, size_t n, size_t size)
{
	size_t bytes;
	if (__builtin_mul_overflow(n, size, &bytes)) {
		errno = ENOMEM;
		return NULL;
	}
	return realloc(p, bytes);
}

SM_EXPORT int posix_memalign(void **out, size_t align, size_t size)
{
	if (!IS_POW2(align) || align % sizeof(void *))
		return EINVAL;
	int saved = errno;
	void *p = alloc_flags(size, align, SLAB_ALLOC_DEFAULT);
	errno = saved;
	if (!p)
		return ENOMEM;
	*out = p;
	return 0;
}

SM_EXPORT void *aligned_alloc(size_t align, size_t size)
{
	if (!IS_POW2(align)) {
		errno = EINVAL;
		return NULL;
	}
	return alloc_flags(size, align, SLAB_ALLOC_DEFAULT);
}

/*
 * memalign, valloc and pvalloc (obsolete forms) share one copy of the
 * inlined allocation path instead of carrying their own: every process
 * has the library's text resident whole (docs/benchmarks.md, "The
 * library's text counts whole in every process").
 */
static __noinline void *alloc_aligned_legacy(size_t size, size_t align)
{
	return alloc_flags(size, align, SLAB_ALLOC_DEFAULT);
}

SM_EXPORT void *memalign(size_t align, size_t size)
{
	/* glibc rounds an alignment that is not a power of two up to one. */
	if (align > SIZE_MAX / 2 + 1) {
		errno = EINVAL;
		return NULL;
	}
	if (!IS_POW2(align))
		align = align ? (size_t)1 << (64 - __builtin_clzl(align)) : 1;
	return alloc_aligned_legacy(size, align);
}

SM_EXPORT void *valloc(size_t size)
{
	return alloc_aligned_legacy(size, SM_PAGE_SIZE);
}

SM_EXPORT void *pvalloc(size_t size)
{
	size_t rounded = ALIGN_UP(size, SM_PAGE_SIZE);
	if (rounded < size) {
		errno = ENOMEM;
		return NULL;
	}
	return alloc_aligned_legacy(rounded ? rounded : SM_PAGE_SIZE, SM_PAGE_SIZE);
}

SM_EXPORT size_t malloc_usable_size(void *p)
{
	return p ? sm_ksize(p) : 0;
}

/* The size is checked against the object (sized.c); a mismatch is reported. */
SM_EXPORT __entry_aligned void free_sized(void *p, size_t size)
{
	kfree_inline_checked(p, true, size, 0, SIZED_FREE);
}

SM_EXPORT void free_aligned_sized(void *p, size_t align, size_t size)
{
	kfree_inline_checked(p, true, size, align, SIZED_FREE_ALIGNED);
}

SM_EXPORT void cfree(void *p)
{
	free(p);
}

SM_EXPORT int malloc_trim(size_t pad)
{
	(void)pad;
	return ready() && sm_purge(&sm_default_inst, true) != 0;
}

SM_EXPORT void malloc_stats(void)
{
	if (ready())
		sm_stats_print(&sm_default_inst);
}

struct used {
	size_t bytes;
};

static void add_active(const struct sm_cache_stats *st, void *arg)
{
	((struct used *)arg)->bytes += st->active_objects * st->object_size;
}

SM_EXPORT struct mallinfo2 mallinfo2(void)
{
	struct mallinfo2 mi = { 0 };
	if (!ready())
		return mi;
	struct sm_instance *inst = &sm_default_inst;
	struct sm_stats st;
	struct used u = { 0 };
	sm_stats_get(inst, &st);
	sm_cache_foreach(inst, add_active, &u);
	size_t in_use = u.bytes + st.large_bytes;
	size_t arena = st.committed_bytes;
	mi = (struct mallinfo2){
		.arena = arena,
		.ordblks = st.free_dirty_bytes || st.free_clean_bytes,
		.hblks = st.huge_allocations,
		.hblkhd = st.huge_bytes,
		.uordblks = in_use,
		.fordblks = arena + st.huge_bytes > in_use ? arena + st.huge_bytes - in_use : 0,
		.keepcost = st.free_dirty_bytes,
	};
	return mi;
}

SM_EXPORT struct mallinfo mallinfo(void)
{
	struct mallinfo2 m2 = mallinfo2();
	struct mallinfo mi = {
		.arena = (int)m2.arena, .ordblks = (int)m2.ordblks, .hblks = (int)m2.hblks,
		.hblkhd = (int)m2.hblkhd, .uordblks = (int)m2.uordblks, .fordblks = (int)m2.fordblks,
		.keepcost = (int)m2.keepcost,
	};
	return mi;
}

/* ---- glibc's tuning and introspection calls (issue 14) ---- */

/* The default instance's option @name set to @v (a number), as sm_option_set. */
static int set_number(const char *name, unsigned long long v)
{
	char buf[32];
	sm_snprintf(buf, sizeof(buf), "%llu", v);
	return sm_option_set(name, buf) == 0;
}

/*
 * mallopt: glibc's parameters mapped onto slabmalloc's options where they
 * mean something here (docs/usage.md, "mallopt"); 1 for done, 0 for a
 * parameter or value that has no meaning here (glibc's convention).
 */
SM_EXPORT int mallopt(int param, int value)
{
	if (!ready())
		return 0;
	switch (param) {
	case M_MMAP_THRESHOLD:
		/* Above it, a mapping of its own: slabmalloc's huge threshold
		   (which cannot go below the largest size class). */
		if (value < 0)
			return 0;
		return set_number("huge_threshold", MAX((unsigned long long)value,
							(unsigned long long)SM_KMALLOC_MAX_CACHE_SIZE));
	case M_MMAP_MAX:
		/* 0: never mmap a block of its own; slabmalloc's page runs
		   then serve everything up to the largest threshold. */
		return value == 0 ? set_number("huge_threshold", SM_MAX_HUGE_THRESHOLD) : 0;
	case M_TRIM_THRESHOLD:
		/* slabmalloc gives free memory back by age, not amount: 0
		   returns it at once, -1 (never trim) keeps it for an hour, the
		   longest delay; another threshold keeps the delay as it is. */
		if (value == 0)
			return set_number("purge_delay_ms", 0);
		if (value < 0)
			return set_number("purge_delay_ms", 3600000);
		return 1;
	case M_CHECK_ACTION:
		/* Bit 2: abort after the message; without it, go on. */
		return sm_option_set("on_error", (value & 2) ? "abort" : "report") == 0;
	default:
		/* M_MXFAST, M_TOP_PAD, M_ARENA_MAX, M_ARENA_TEST (no fastbins,
		   heap top or arenas here), M_PERTURB (no poisoning yet) and
		   anything unknown. */
		return 0;
	}
}

static void emit_file(const char *buf, size_t len, void *arg)
{
	fwrite(buf, 1, len, (FILE *)arg);
}

/*
 * malloc_info: slabmalloc's state in glibc's XML shape.  The figures are
 * copied out under the allocator's locks and written to @fp after each is
 * released, so stdio may allocate its buffer through malloc.
 */
SM_EXPORT int malloc_info(int options, FILE *fp)
{
	if (options != 0 || !fp) {
		errno = EINVAL;
		return -1;
	}
	if (!ready())
		return -1;
	report_xml(&sm_default_inst, emit_file, fp);
	return 0;
}

/* glibc's __libc_* names, which some programs call to reach "the real malloc". */
SM_EXPORT void *__libc_malloc(size_t size) { return malloc(size); }
SM_EXPORT void __libc_free(void *p) { free(p); }
SM_EXPORT void *__libc_calloc(size_t n, size_t size) { return calloc(n, size); }
SM_EXPORT void *__libc_realloc(void *p, size_t size) { return realloc(p, size); }
SM_EXPORT void *__libc_memalign(size_t align, size_t size) { return memalign(align, size); }
SM_EXPORT void *__libc_valloc(size_t size) { return valloc(size); }
SM_EXPORT void *__libc_pvalloc(size_t size) { return pvalloc(size); }
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
SM_EXPORT struct mallinfo __libc_mallinfo(void) { return mallinfo(); }
#pragma GCC diagnostic pop
SM_EXPORT int __libc_mallopt(int param, int value) { return mallopt(param, value); }
