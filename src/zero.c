/*
 * zero.c - the zero area (zero.h): one reservation laid out as
 *     [guard page][slot area: PROT_NONE][guard page][bitmap: read-write]
 * Bit i of the bitmap is set while slot i is live.  A cursor spreads
 * allocations over the area (next fit), so a freed slot comes back only
 * after the cursor has gone round: a stale pointer to it keeps faulting
 * (every slot does) and a second free of it is reported, not hidden by a
 * reuse in between.
 */
#include "os.h"
#include "zero.h"

#define SLOTS      (SM_ZERO_AREA_SIZE / SM_ZERO_SLOT)
#define WORDS      (SLOTS / 64)
#define GUARD      SM_PAGE_SIZE
#define BITMAP_OFF (GUARD + SM_ZERO_AREA_SIZE + GUARD)
#define TOTAL      (BITMAP_OFF + WORDS * sizeof(uint64_t))

uintptr_t sm_zero_area;
static uint32_t zero_cursor; /* the word the next search starts at (relaxed) */

/* Reserve the area, or find the one another thread reserved first. */
static bool zero_setup(void)
{
	if (__atomic_load_n(&sm_zero_area, __ATOMIC_ACQUIRE))
		return true;
	char *m = sm_os_linux.reserve(TOTAL, SM_PAGE_SIZE, NULL);
	if (!m)
		return false;
	if (sm_os_linux.commit(m + BITMAP_OFF, TOTAL - BITMAP_OFF, NULL) != 0) {
		sm_os_linux.release(m, TOTAL, NULL);
		return false;
	}
	uintptr_t want = 0;
	if (!__atomic_compare_exchange_n(&sm_zero_area, &want, (uintptr_t)m + GUARD, false,
					 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
		sm_os_linux.release(m, TOTAL, NULL); /* lost the race: use the winner's */
		return true;
	}
	return true;
}

static inline uint64_t *bits(uintptr_t base)
{
	return (uint64_t *)(base - GUARD + BITMAP_OFF);
}

void *zero_alloc(void)
{
	if (!zero_setup())
		return NULL;
	uintptr_t base = __atomic_load_n(&sm_zero_area, __ATOMIC_ACQUIRE);
	uint64_t *map = bits(base);
	uint32_t start = __atomic_fetch_add(&zero_cursor, 1, __ATOMIC_RELAXED) % WORDS;
	for (uint32_t k = 0; k < WORDS; k++) {
		uint32_t w = (start + k) % WORDS;
		uint64_t old = __atomic_load_n(&map[w], __ATOMIC_RELAXED);
		while (~old) {
			unsigned b = (unsigned)__builtin_ctzll(~old);
			if (__atomic_compare_exchange_n(&map[w], &old, old | (1ull << b), true,
							__ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
				return (void *)(base + ((size_t)w * 64 + b) * SM_ZERO_SLOT);
		}
	}
	return NULL; /* 4 Mi zero-size allocations live */
}

/* Word and bit of slot @p, or false if @p is not a slot's start. */
static bool slot_of(const void *p, uintptr_t *base, size_t *slot)
{
	*base = __atomic_load_n(&sm_zero_area, __ATOMIC_ACQUIRE);
	uintptr_t off = (uintptr_t)p - *base;
	if (!*base || off >= SM_ZERO_AREA_SIZE || off % SM_ZERO_SLOT)
		return false;
	*slot = off / SM_ZERO_SLOT;
	return true;
}

enum zero_free_result zero_free(void *p)
{
	uintptr_t base;
	size_t slot;
	if (!slot_of(p, &base, &slot))
		return ZERO_INTERIOR;
	uint64_t bit = 1ull << (slot % 64);
	uint64_t old = __atomic_fetch_and(&bits(base)[slot / 64], ~bit, __ATOMIC_RELEASE);
	return old & bit ? ZERO_FREED : ZERO_NOT_LIVE;
}

bool zero_live(const void *p)
{
	uintptr_t base;
	size_t slot;
	if (!slot_of(p, &base, &slot))
		return false;
	return __atomic_load_n(&bits(base)[slot / 64], __ATOMIC_RELAXED) & (1ull << (slot % 64));
}
