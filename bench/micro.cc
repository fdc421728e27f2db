/*
 * micro.cc - micro-benchmarks of the malloc family (Google Benchmark).
 *
 * Built twice from this file: bench_micro_sm is linked with libslabmalloc.so
 * (BENCH_SLABMALLOC defined: the cache benchmark uses sm_cache_*, the
 * instance benchmark sm_kmalloc/sm_kfree on an isolated instance), and
 * bench_micro is linked with libc only and run under LD_PRELOAD for glibc,
 * mimalloc and jemalloc (those two benchmarks then run malloc/free of the
 * same size, so every allocator has a row to compare).  Every benchmark
 * reports items per second, one item being one allocation and its free; all
 * use wall-clock time (the cross-thread one needs it, the rest keep the same
 * unit).  bench/compare runs both and tabulates ns per item.
 */
#include <benchmark/benchmark.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

#ifdef BENCH_SLABMALLOC
#include "slabmalloc.h"
#endif

namespace {

/* Every block is written once, as a program would, so that an allocator that
 * hands out fresh (unfaulted) pages pays for them here. */
inline void *alloc_touch(size_t size)
{
	auto *p = static_cast<char *>(std::malloc(size));
	p[0] = 1;
	benchmark::DoNotOptimize(p);
	return p;
}

/* ---- malloc and free back to back, 8 B to 1 MiB ---- */

void BM_malloc_free(benchmark::State &state)
{
	const size_t size = state.range(0);
	for (auto _ : state)
		std::free(alloc_touch(size));
	state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_malloc_free)->RangeMultiplier(4)->Range(8, 1 << 20)->UseRealTime();

/* ---- the pair with one block of the size kept live (bench/callgrind's loop) ----
 * The same loop bench/callgrind counts instructions of (cg_loop.c): with one
 * block of the class allocated throughout, no allocator returns its page or
 * slab on every free, so this is the fast path alone.  bench/compare sets
 * it next to the instruction counts at the same sizes. */
void BM_pair_live(benchmark::State &state)
{
	const size_t size = state.range(0);
	void *keep = alloc_touch(size);
	for (auto _ : state)
		std::free(alloc_touch(size));
	std::free(keep);
	state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_pair_live)->Arg(16)->Arg(64)->Arg(256)->Arg(1024)->UseRealTime();

/* ---- batches: allocate N blocks, then free them all ---- */

constexpr int kBatch = 1000;

/* Free in the reverse order of allocation (a stack of temporaries). */
void BM_batch_lifo(benchmark::State &state)
{
	const size_t size = state.range(0);
	std::vector<void *> p(kBatch);
	for (auto _ : state) {
		for (int i = 0; i < kBatch; i++)
			p[i] = alloc_touch(size);
		for (int i = kBatch - 1; i >= 0; i--)
			std::free(p[i]);
	}
	state.SetItemsProcessed(state.iterations() * kBatch);
}
BENCHMARK(BM_batch_lifo)->Arg(16)->Arg(256)->Arg(4096)->UseRealTime();

/* Free in a fixed random order (objects whose lifetimes are unrelated). */
void BM_batch_random(benchmark::State &state)
{
	const size_t size = state.range(0);
	std::vector<void *> p(kBatch);
	std::vector<int> order(kBatch);
	std::mt19937 rng(42);
	for (int i = 0; i < kBatch; i++)
		order[i] = i;
	std::shuffle(order.begin(), order.end(), rng);
	for (auto _ : state) {
		for (int i = 0; i < kBatch; i++)
			p[i] = alloc_touch(size);
		for (int i = 0; i < kBatch; i++)
			std::free(p[order[i]]);
	}
	state.SetItemsProcessed(state.iterations() * kBatch);
}
BENCHMARK(BM_batch_random)->Arg(16)->Arg(256)->Arg(4096)->UseRealTime();

/* ---- calloc: the zeroing (or the knowledge that pages are fresh) ---- */

void BM_calloc_free(benchmark::State &state)
{
	const size_t size = state.range(0);
	for (auto _ : state) {
		void *p = std::calloc(1, size);
		benchmark::DoNotOptimize(p);
		std::free(p);
	}
	state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_calloc_free)->Arg(16)->Arg(256)->Arg(4096)->Arg(65536)->Arg(1 << 20)->UseRealTime();

/* ---- realloc growth ---- */

/* Double from 16 B to 1 MiB (a vector's growth): 16 reallocs per item. */
void BM_realloc_double(benchmark::State &state)
{
	for (auto _ : state) {
		size_t n = 16;
		auto *p = static_cast<char *>(alloc_touch(n));
		while (n < (1u << 20)) {
			n *= 2;
			p = static_cast<char *>(std::realloc(p, n));
			p[n - 1] = 1;
		}
		benchmark::DoNotOptimize(p);
		std::free(p);
	}
	state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_realloc_double)->UseRealTime();

/* Grow 16 bytes at a time up to 4 KiB (a string being appended to): one
 * item is one realloc. */
void BM_realloc_append(benchmark::State &state)
{
	constexpr size_t kMax = 4096, kStep = 16;
	for (auto _ : state) {
		auto *p = static_cast<char *>(alloc_touch(kStep));
		for (size_t n = 2 * kStep; n <= kMax; n += kStep) {
			p = static_cast<char *>(std::realloc(p, n));
			p[n - 1] = 1;
		}
		benchmark::DoNotOptimize(p);
		std::free(p);
	}
	state.SetItemsProcessed(state.iterations() * (kMax / kStep - 1));
}
BENCHMARK(BM_realloc_append)->UseRealTime();

/* ---- a dedicated kmem_cache (slabmalloc); malloc/free of the size elsewhere ---- */

#ifdef BENCH_SLABMALLOC
sm_cache_t *cache_of_size(size_t size)
{
	static sm_cache_t *caches[8];
	static size_t sizes[8];
	int i;
	for (i = 0; i < 8 && caches[i]; i++)
		if (sizes[i] == size)
			return caches[i];
	if (i == 8)
		std::abort();
	sizes[i] = size;
	caches[i] = sm_cache_create(sm_default_instance(), "bench", size, 0, 0, nullptr);
	if (!caches[i])
		std::abort();
	return caches[i];
}
#endif

#ifndef BENCH_SLABMALLOC
/* What the slabmalloc-only benchmarks run under the other allocators:
   malloc + free of the same size, so every allocator has a row. */
void malloc_free_pairs(benchmark::State &state, size_t size)
{
	for (auto _ : state)
		std::free(alloc_touch(size));
	state.SetLabel("malloc");
}
#endif

void BM_cache_alloc_free(benchmark::State &state)
{
	const size_t size = state.range(0);
#ifdef BENCH_SLABMALLOC
	sm_cache_t *s = cache_of_size(size);
	for (auto _ : state) {
		auto *p = static_cast<char *>(sm_cache_alloc(s, 0));
		p[0] = 1;
		benchmark::DoNotOptimize(p);
		sm_cache_free(s, p);
	}
	state.SetLabel("sm_cache");
#else
	malloc_free_pairs(state, size);
#endif
	state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_cache_alloc_free)->Arg(64)->Arg(256)->UseRealTime();

/* sm_kmalloc + sm_kfree on an isolated instance (sm_instance_create): the
   general path, one step more than malloc's; malloc + free for the others. */
void BM_instance_kmalloc_free(benchmark::State &state)
{
	const size_t size = state.range(0);
#ifdef BENCH_SLABMALLOC
	static sm_instance_t *inst = sm_instance_create(nullptr);
	if (!inst)
		std::abort();
	for (auto _ : state) {
		auto *p = static_cast<char *>(sm_kmalloc(inst, size, 0));
		p[0] = 1;
		benchmark::DoNotOptimize(p);
		sm_kfree(p);
	}
	state.SetLabel("sm_instance");
#else
	malloc_free_pairs(state, size);
#endif
	state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_instance_kmalloc_free)->Arg(64)->Arg(256)->UseRealTime();

/* ---- cross-thread free: thread 0 allocates, thread 1 frees ---- */

/*
 * A ring of batches between the two threads.  Both run the same number of
 * iterations (one batch each), so the ring is empty again when a run ends
 * and the next run can start at slot 0.
 */
constexpr int kRing = 16, kXBatch = 64;
struct alignas(64) Slot {
	std::atomic<bool> full{false};
	void *p[kXBatch];
};
Slot ring[kRing];

inline void spin_wait(const std::atomic<bool> &flag, bool until)
{
	for (unsigned n = 0; flag.load(std::memory_order_acquire) != until; n++)
		if (n >= 64)
			std::this_thread::yield();
}

void BM_cross_thread_free(benchmark::State &state)
{
	const size_t size = state.range(0);
	unsigned i = 0;
	if (state.thread_index() == 0) {
		for (auto _ : state) {
			Slot &s = ring[i++ % kRing];
			spin_wait(s.full, false);
			for (auto &p : s.p)
				p = alloc_touch(size);
			s.full.store(true, std::memory_order_release);
		}
		state.SetItemsProcessed(state.iterations() * kXBatch);
	} else {
		for (auto _ : state) {
			Slot &s = ring[i++ % kRing];
			spin_wait(s.full, true);
			for (auto p : s.p)
				std::free(p);
			s.full.store(false, std::memory_order_release);
		}
	}
}
BENCHMARK(BM_cross_thread_free)->Arg(64)->Arg(1024)->Threads(2)->UseRealTime();

/* ---- the nolock path ----
 * sm_kmalloc_nolock/sm_kfree_nolock from ordinary code (slabmalloc; the main
 * sheaf, no lock), malloc/free of the size for the other allocators, which
 * have no such call.  bench/nolock.c measures the path taken when the
 * allocator is re-entered, in and out of signal handlers. */

void BM_nolock_alloc_free(benchmark::State &state)
{
	const size_t size = state.range(0);
#ifdef BENCH_SLABMALLOC
	sm_instance_t *inst = sm_default_instance();
	for (auto _ : state) {
		auto *p = static_cast<char *>(sm_kmalloc_nolock(inst, size, 0, SM_NO_NODE));
		p[0] = 1;
		benchmark::DoNotOptimize(p);
		sm_kfree_nolock(p);
	}
	state.SetLabel("sm_kmalloc_nolock");
#else
	for (auto _ : state) {
		auto *p = static_cast<char *>(std::malloc(size));
		p[0] = 1;
		benchmark::DoNotOptimize(p);
		std::free(p);
	}
	state.SetLabel("malloc");
#endif
	state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_nolock_alloc_free)->Arg(64)->Arg(1024);

} // namespace

BENCHMARK_MAIN();
