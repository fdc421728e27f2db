/*
 * thread.h - what the allocator keeps per thread: one initial-exec TLS
 * block with the busy marker and, for every registry slot, this thread's
 * tcache of the instance in that slot.  One block, one base address, so
 * the fast path reaches both with a single %fs-relative access.
 *
 * sm_thread.busy is the userspace counterpart of local_lock_is_locked(): it
 * is set for the whole of every allocator operation of the thread that can
 * leave shared state half-updated (a sheaf push or pop, a slow path with its
 * barn, list and node locks, a purge, a tcache set-up or tear-down).  A call
 * that finds it set was re-entered (from a signal handler, or from code the
 * allocator itself called, such as a constructor): it takes the nolock path,
 * which never touches the sheaves and only tries locks (docs/signal-safety.md).
 * Invariant: no allocator lock is ever held by a thread whose busy is clear,
 * except by the helper thread, which runs with every signal blocked.
 */
#ifndef SM_THREAD_H
#define SM_THREAD_H

#include <stdbool.h>
#include <stdint.h>

#include "compiler.h"
#include "size_classes.h"
#include "slabmalloc.h"

struct tcache;
struct slab_sheaf;

/*
 * A thread's sheaf as the fast paths see it: the sheaf's object array and,
 * while the sheaf is installed here, its authoritative count (the sheaf's
 * own size field is written back only when it leaves: tcache.h).
 * capacity 0: no sheaf, and the fast paths miss.
 */
struct sheaf_view {
	void **objects;                 /* objects[0..size) are free objects */
	uint32_t size;
	uint16_t capacity;              /* at most SM_MAX_SHEAF_CAPACITY */
	uint16_t tag;                   /* cache_check_tag (kmem_cache.h),
	                                   beside the count for malloc's check
	                                   of the object it pops */
};

/*
 * A thread's sheaves of one cache (the kernel's slub_percpu_sheaves): main,
 * which allocations pop from and frees push onto, so that a malloc gets
 * back the object freed last while it is still in the cache (LIFO, as
 * SLUB's sheaves and the thread caches of glibc, jemalloc and tcmalloc
 * do); and the spare, a full or empty sheaf that only the slow paths touch
 * (main dry: a full spare becomes main; main full: an empty spare does),
 * with its count in the sheaf itself.  pushes counts the pushes onto the
 * main installed now, for the statistics (tcache.h, main_sync): the
 * allocations of a thread are its main's pops, and with pushes onto it
 * those are no longer its count at install minus its count now.  32
 * bytes, aligned to them: one pcs never straddles a cache line.
 */
struct pcs {
	struct sheaf_view main;
	struct slab_sheaf *spare;       /* NULL: none */
	uint64_t pushes;
} __attribute__((aligned(32)));

struct sm_tls_slot {
	struct tcache *tc;              /* valid only while gen matches */
	uint64_t gen;                   /* == inst->gen while tc is valid;
	                                   inst->gen | SM_GEN_KICK when a
	                                   nolock free deferred work that this
	                                   thread's next call must see */
};

#define SM_GEN_KICK (1ull << 63)

struct sm_thread_state {
	/*
	 * Two bytes, tested with two loads: one 16-bit load of both would
	 * stall on the byte stores of busy that the previous call left in the
	 * store buffer (it cannot be forwarded from them), which made a
	 * malloc+free pair 5 ns slower; and a 16-bit store that clears busy
	 * would lose a kick a signal handler set meanwhile.
	 */
	volatile uint8_t busy;          /* inside the allocator (see above) */
	volatile uint8_t kick;          /* the default instance's slot carries
	                                   SM_GEN_KICK: the fast paths of
	                                   kmalloc_pcs[] must miss */
	uint8_t state;                  /* TS_* */
	uint32_t lock_id;               /* this thread in the locks it holds
	                                   (lock.h); 0 until its first lock */
	uintptr_t self;                 /* sm_thread_token(), stored when the
	                                   thread makes its first tcache (0
	                                   before: every view has capacity 0
	                                   then, so slab_free's owner test,
	                                   which reads it, cannot push
	                                   anything) */
	uint16_t owner_tag;             /* this thread in the hot words of the
	                                   slabs its sheaves take objects from
	                                   (page.h, page_hot), which free()'s
	                                   owner test compares with it:
	                                   1..4095 (PAGE_HOT_OWNER_MAX),
	                                   given with self; 0 before
	                                   (and a slab's tag 0 then "mine":
	                                   a push onto a view of capacity 0
	                                   fails all the same) */
	/*
	 * The default instance's kmalloc sheaves, by class + 1 (entry 0 is
	 * never used: a descriptor's fclass 0 means "not a default kmalloc
	 * slab").  malloc and free reach them at a constant offset from the
	 * thread pointer: the default instance's tcache points here instead of
	 * holding them (tcache.h).
	 */
	struct pcs kmalloc_pcs[SM_NR_KMALLOC + 1];
	/*
	 * The default instance's remote sheaves of the kmalloc classes, by
	 * class + 1 as above (docs/architecture.md section 4, "Remote
	 * frees"): free() pushes an object of another thread's slab here
	 * inline, as it pushes its own onto kmalloc_pcs[].main.  The
	 * tcache's kremote points here.  Written by this thread with busy
	 * set only; read racily by the double-free check (tcache_views_hold).
	 */
	struct sheaf_view kmalloc_remote[SM_NR_KMALLOC + 1];
	struct sm_tls_slot slots[SM_MAX_INSTANCES];
};

enum { TS_NORMAL = 0, TS_DEAD };        /* TS_DEAD: past the thread-exit destructor */

extern __thread struct sm_thread_state sm_thread __hidden;

/*
 * The thread's block as malloc's and free()'s fast paths address it:
 * through the %fs segment, the way the kernel's this_cpu operations reach
 * per-CPU data through %gs.  sm_tls() is the block's offset from the
 * thread pointer (one load from the GOT, as the compiler's own
 * initial-exec access does; a constant once linked into an executable),
 * taken as a pointer into the %fs address space: a kmalloc view is then
 * that plus fclass * 32, and each access one %fs-prefixed instruction,
 * where a plain pointer needs the thread pointer loaded (%fs:0) and added
 * first.  GCC only: clang 14 drops the segment of an asm's memory operand
 * (sm_busy_or_kick), and the sanitizers instrument no access outside the
 * generic address space.  Elsewhere SM_TLS_SEG is empty and sm_tls() is
 * &sm_thread.  Accesses through sm_tls() that other threads may read use
 * TLS_WRITE_ONCE, and the counts read after busy is set TLS_READ_ONCE, so
 * that they stay after that volatile store whatever the compiler makes of
 * barrier() and a named address space: GCC's atomic builtins take no named
 * address space, and a volatile access is the same single instruction on
 * x86-64.
 */
#if defined(__x86_64__) && defined(__SEG_FS) && !defined(__clang__) && \
	!defined(__SANITIZE_THREAD__) && !defined(__SANITIZE_ADDRESS__)
#define SM_TLS_SEG __seg_fs
static __always_inline uintptr_t sm_thread_tpoff(void)
{
	uintptr_t off;
	__asm__("movq sm_thread@gottpoff(%%rip), %0" : "=r"(off));
	return off;
}
#define TLS_WRITE_ONCE(x, v) (*(volatile __typeof__(x) *)&(x) = (v))
#define TLS_READ_ONCE(x)     (*(volatile __typeof__(x) *)&(x))
#else
#define SM_TLS_SEG
static __always_inline uintptr_t sm_thread_tpoff(void)
{
	return (uintptr_t)&sm_thread;
}
#define TLS_WRITE_ONCE(x, v) WRITE_ONCE(x, v)
#define TLS_READ_ONCE(x)     READ_ONCE(x)
#endif

typedef struct sm_thread_state SM_TLS_SEG sm_tls_t;
typedef struct sheaf_view SM_TLS_SEG sm_tls_view_t;

static __always_inline sm_tls_t *sm_tls(void)
{
	return (sm_tls_t *)sm_thread_tpoff();
}

/*
 * Whether busy or kick is set, for the default instance's fast paths: two
 * byte loads (see struct sm_thread_state), the second as the OR's memory
 * operand on x86-64 (one instruction fewer than two loads and an OR).  An
 * asm, because the bytes are volatile and C has no way to read a volatile
 * object through a plain lvalue; elsewhere, two relaxed loads.  The
 * callers test it before they set busy.
 */
static __always_inline unsigned sm_busy_or_kick(const sm_tls_t *t)
{
#if defined(__x86_64__) && !defined(__SANITIZE_THREAD__)
	unsigned v;
	bool set; /* the OR's flags: no test of its result */
	__asm__("movzbl %2, %0\n\torb %3, %b0" : "=&q"(v), "=@ccnz"(set) : "m"(t->busy), "m"(t->kick));
	return set;
#else
	return __atomic_load_n(&t->busy, __ATOMIC_RELAXED) | __atomic_load_n(&t->kick, __ATOMIC_RELAXED);
#endif
}

/*
 * *@p += 1 in one instruction on x86-64 (the kernel's this_cpu_inc), for a
 * counter of the thread's block that only the thread writes, with busy
 * set, and other threads read racily (struct pcs, pushes).  TLS_WRITE_ONCE
 * of the sum would be a load, an add and a store: a volatile access is
 * never folded into a read-modify-write.
 */
static __always_inline void tls_counter_inc(uint64_t SM_TLS_SEG *p)
{
#if defined(__x86_64__)
	__asm__ volatile("addq $1, %0" : "+m"(*p));
#else
	TLS_WRITE_ONCE(*p, *p + 1);
#endif
}

/*
 * Bracket an allocator operation that is not a plain fast path: sets busy
 * and returns whether it was already set (true: this call re-entered the
 * allocator and must keep to the nolock path).  sm_leave() restores it.
 */
static __always_inline bool sm_enter(void)
{
	bool nested = sm_thread.busy;
	sm_thread.busy = 1;
	barrier();
	return nested;
}

static __always_inline void sm_leave(bool nested)
{
	barrier();
	sm_thread.busy = nested;
}

/*
 * The calling thread as a slab's owner (page.h): the address of its TLS
 * block, unique among live threads and never 0.  A thread that reuses a
 * dead one's block inherits its slabs, which only matters as a hint.
 */
static __always_inline uintptr_t sm_thread_token(void)
{
	return (uintptr_t)&sm_thread;
}

/* True when the calling thread is inside the allocator. */
static __always_inline bool sm_in_allocator(void)
{
	return sm_thread.busy;
}

#endif /* SM_THREAD_H */
