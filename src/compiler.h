/*
 * compiler.h - compiler helpers shared by every file of the core.
 * Owns nothing; only macros that say what the code means (likely, cold,
 * barrier) so the hot paths read as what they are.
 */
#ifndef SM_COMPILER_H
#define SM_COMPILER_H

#include <stddef.h>
#include <stdint.h>

#define likely(x)   __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

#define __hidden   __attribute__((visibility("hidden")))
#define __noinline __attribute__((noinline))
#define __cold     __attribute__((cold, noinline))
#undef __always_inline /* glibc's <sys/cdefs.h> has its own */
#define __always_inline inline __attribute__((always_inline))
#define __unused   __attribute__((unused))
/*
 * A hot entry point (malloc, free, new, delete) starts a cache line: its
 * fast path is a few dozen instructions, and where it falls against the
 * 64-byte fetch blocks and the op cache otherwise moves with every change
 * elsewhere in the library, by a cycle of a malloc+free pair
 * (docs/benchmarks.md, "Hot entry points on a cache line").
 */
#define __entry_aligned __attribute__((aligned(64)))

/* Keeps the compiler from moving memory accesses across it. */
#define barrier() __asm__ __volatile__("" ::: "memory")

/* One step of a spin on another thread's store (the kernel's cpu_relax). */
static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#else
	barrier();
#endif
}
/*
 * Keep @var in a register: the compiler may no longer recompute it (a TLS
 * address, say) after a barrier() instead of keeping it.
 */
#define OPTIMIZER_HIDE_VAR(var) __asm__("" : "+r"(var))

#define READ_ONCE(x)     __atomic_load_n(&(x), __ATOMIC_RELAXED)
#define WRITE_ONCE(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELAXED)

/*
 * WRITE_ONCE(*@p, *@p + 1) for a counter only its owner writes and other
 * threads read racily (statistics): on x86-64 one add to memory, where
 * the relaxed load and store are three instructions (GCC does not fuse
 * atomic accesses).  Under TSan, the atomics it understands.
 */
static __always_inline void counter_inc(uint64_t *p)
{
#if defined(__x86_64__) && !defined(__SANITIZE_THREAD__)
	__asm__ volatile("addq $1, %0" : "+m"(*p));
#else
	WRITE_ONCE(*p, *p + 1);
#endif
}

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define ALIGN_UP(x, a)   (((x) + ((a) - 1)) & ~((__typeof__(x))(a) - 1))
#define ALIGN_DOWN(x, a) ((x) & ~((__typeof__(x))(a) - 1))
#define IS_POW2(x) ((x) != 0 && ((x) & ((x) - 1)) == 0)
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

#define container_of(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))

#define SM_PAGE_SHIFT 12
#define SM_PAGE_SIZE  ((size_t)1 << SM_PAGE_SHIFT)
#define SM_CACHELINE  64

#ifdef NDEBUG
#define SM_BUG_ON(c) ((void)0)
#else
#define SM_BUG_ON(c) do { if (unlikely(c)) sm_bug(__FILE__, __LINE__, #c); } while (0)
#endif
void sm_bug(const char *file, int line, const char *what) __attribute__((noreturn)) __hidden;

#endif /* SM_COMPILER_H */
