/*
 * larson.c - a request/response server in the manner of Larson and
 * Krishnan's benchmark.  4 threads (argv[2]: any number) each hold a pool
 * of 1,000 slots, every slot an object; a request frees the object of a
 * random slot and allocates a new one in its place, writing its first
 * bytes.  Every 2,000 requests a thread hands its whole pool to the next
 * thread that asks and takes the pool another thread left (one spare pool
 * more than threads, swapped through one atomic pointer), so most frees
 * are of objects another thread allocated: the pattern of connections
 * moving between worker threads with their buffers.
 *
 * Sizes: 70% 16-128 B, 26% up to 1 KiB, 3.5% up to 4 KiB, 0.5% 32-256 KiB
 * (a large response).  time_s is the wall time of the fixed number of
 * requests; ops_per_sec is requests per second, the figure Larson reports.
 * The checksum depends on which thread got which pool, so it varies.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "workload.h"

#define THREADS   4             /* by default */
#define SLOTS     1000          /* objects in a pool */
#define REQUESTS  2500000       /* per thread, at scale 1 */
#define HANDOVER  2000          /* requests between two pool swaps */

struct pool {
	void *obj[SLOTS];
	uint32_t size[SLOTS];
};

struct worker {
	pthread_t tid;
	unsigned id;
	size_t handovers;       /* pools taken that another thread had last */
	uint64_t checksum;
} __attribute__((aligned(64)));

static struct worker workers[WL_MAX_THREADS];
static struct pool pools[WL_MAX_THREADS + 1];
static _Atomic(struct pool *) spare;   /* the pool no thread holds */
static unsigned owner[WL_MAX_THREADS + 1];      /* who last held each pool (for handovers) */
static size_t requests;

static size_t request_size(uint64_t *rng)
{
	unsigned k = (unsigned)(wl_rand(rng) % 1000);
	if (k < 700)
		return wl_rand_range(rng, 16, 128);
	if (k < 960)
		return wl_rand_range(rng, 129, KiB);
	if (k < 995)
		return wl_rand_range(rng, KiB + 1, 4 * KiB);
	return wl_rand_range(rng, 32 * KiB, 256 * KiB);
}

static void fill(struct pool *p, unsigned slot, uint64_t *rng)
{
	size_t size = request_size(rng);
	unsigned char *o = wl_xmalloc(size);

	/* a response writes its header; the body is written by whoever sends it */
	memset(o, (int)(size & 0xff), size < 64 ? size : 64);
	p->obj[slot] = o;
	p->size[slot] = (uint32_t)size;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct pool *p = &pools[w->id];
	uint64_t rng = 0x1a2503 + w->id;

	for (size_t i = 0; i < requests; i++) {
		unsigned slot = (unsigned)(wl_rand(&rng) % SLOTS);
		unsigned char *o = p->obj[slot];

		/* "send" the old response: read its last header byte, then free it */
		w->checksum += o[(p->size[slot] < 64 ? p->size[slot] : 64) - 1] + p->size[slot];
		free(o);
		fill(p, slot, &rng);
		if (i % HANDOVER == HANDOVER - 1) {
			p = atomic_exchange_explicit(&spare, p, memory_order_acq_rel);
			if (owner[p - pools] != w->id)
				w->handovers++;
			owner[p - pools] = w->id;
		}
	}
	return NULL;
}

int main(int argc, char **argv)
{
	double t0, t1;
	uint64_t sum = 0, rng = 0x1a25;
	size_t handovers = 0;
	char extra[160];
	unsigned i, t, nthreads;

	requests = wl_scaled(REQUESTS, wl_scale(argc, argv));
	nthreads = wl_threads(argc, argv, THREADS);
	/* every pool starts full, made by the main thread (a listener's buffers) */
	for (i = 0; i <= nthreads; i++) {
		owner[i] = i;
		for (unsigned s = 0; s < SLOTS; s++)
			fill(&pools[i], s, &rng);
	}
	atomic_store(&spare, &pools[nthreads]);
	t0 = wl_now();
	for (t = 0; t < nthreads; t++) {
		workers[t].id = t;
		wl_check(pthread_create(&workers[t].tid, NULL, worker_main, &workers[t]),
			 "pthread_create");
	}
	for (t = 0; t < nthreads; t++) {
		wl_check(pthread_join(workers[t].tid, NULL), "pthread_join");
		sum += workers[t].checksum;
		handovers += workers[t].handovers;
	}
	t1 = wl_now();
	/* the pools themselves are static: free what they hold, whoever held them */
	for (i = 0; i <= nthreads; i++)
		for (unsigned s = 0; s < SLOTS; s++)
			free(pools[i].obj[s]);
	snprintf(extra, sizeof(extra), "threads=%u ops=%zu ops_per_sec=%.0f handovers=%zu "
		 "checksum=%llu", nthreads, requests * nthreads,
		 (double)(requests * nthreads) / (t1 - t0), handovers, (unsigned long long)sum);
	wl_report("larson", t1 - t0, extra);
	return 0;
}
