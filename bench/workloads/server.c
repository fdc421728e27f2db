/*
 * server.c - multi-threaded server churn.  8 threads (argv[2]: any number)
 * each serve the same number of requests; a request allocates 1-8 objects of mixed sizes (mostly small, a
 * few up to 64 KiB) and writes them.  Most objects die with their request,
 * some live for hundreds or thousands of requests (sessions, caches), and one
 * in eight of those is freed by another thread (a reply handed to an I/O
 * thread).  The mix keeps every size class busy, keeps a steady live set,
 * and sends a steady share of frees across threads (none with one thread).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "workload.h"

#define THREADS   8             /* by default */
#define REQUESTS  300000        /* per thread, at scale 1 */
#define WHEEL     4096          /* > the longest lifetime, in requests */

/* Every object starts with this header (hence the 16-byte minimum size). */
struct obj {
	struct obj *next;       /* on a wheel bucket, a request list or a mailbox */
	uint32_t size;
	uint32_t remote;        /* 1: freed by another thread when it expires */
};

struct worker {
	pthread_t tid;
	unsigned id;
	_Atomic(struct obj *) mailbox;  /* objects other threads hand us to free */
	struct obj *wheel[WHEEL];       /* objects by the request they expire at */
	uint64_t checksum;
} __attribute__((aligned(64)));

static struct worker workers[WL_MAX_THREADS];
static unsigned nthreads;
static size_t requests;
static atomic_uint finished;            /* threads done with their requests */

/* 55% 16-128 B, 30% up to 1 KiB, 12% up to 8 KiB, 3% up to 64 KiB. */
static size_t object_size(uint64_t *rng)
{
	unsigned k = (unsigned)(wl_rand(rng) % 100);
	if (k < 55)
		return wl_rand_range(rng, 16, 128);
	if (k < 85)
		return wl_rand_range(rng, 129, KiB);
	if (k < 97)
		return wl_rand_range(rng, KiB + 1, 8 * KiB);
	return wl_rand_range(rng, 8 * KiB + 1, 64 * KiB);
}

static struct obj *new_object(uint64_t *rng)
{
	size_t size = object_size(rng);
	struct obj *o = wl_xmalloc(size);
	size_t body = size < 512 ? size : 512;

	/* write what a request writes: the header and the start of the body */
	memset(o, (int)(size & 0xff), body);
	o->size = (uint32_t)size;
	o->remote = 0;
	return o;
}

static void free_list(struct worker *w, struct obj *o)
{
	while (o) {
		struct obj *next = o->next;
		w->checksum += o->size;
		free(o);
		o = next;
	}
}

static void mailbox_push(struct worker *to, struct obj *o)
{
	struct obj *head = atomic_load_explicit(&to->mailbox, memory_order_relaxed);
	do
		o->next = head;
	while (!atomic_compare_exchange_weak_explicit(&to->mailbox, &head, o,
						      memory_order_release, memory_order_relaxed));
}

static void drain_mailbox(struct worker *w)
{
	free_list(w, atomic_exchange_explicit(&w->mailbox, NULL, memory_order_acquire));
}

/* Objects expiring now: free ours, hand the remote ones to another thread. */
static void expire(struct worker *w, size_t now, uint64_t *rng)
{
	struct obj *o = w->wheel[now % WHEEL];

	w->wheel[now % WHEEL] = NULL;
	while (o) {
		struct obj *next = o->next;
		if (o->remote && nthreads > 1) {
			unsigned to = (w->id + 1 + (unsigned)(wl_rand(rng) % (nthreads - 1))) % nthreads;
			mailbox_push(&workers[to], o);
		} else {
			w->checksum += o->size;
			free(o);
		}
		o = next;
	}
}

static void serve(struct worker *w, size_t now, uint64_t *rng)
{
	struct obj *request = NULL;
	unsigned n = 1 + (unsigned)(wl_rand(rng) % 8), i;

	for (i = 0; i < n; i++) {
		struct obj *o = new_object(rng);
		unsigned k = (unsigned)(wl_rand(rng) % 100);
		size_t life;

		if (k < 60) {           /* dies with the request */
			o->next = request;
			request = o;
			continue;
		}
		life = k < 90 ? wl_rand_range(rng, 1, 256) : wl_rand_range(rng, 257, WHEEL - 1);
		o->remote = wl_rand(rng) % 8 == 0;
		o->next = w->wheel[(now + life) % WHEEL];
		w->wheel[(now + life) % WHEEL] = o;
	}
	for (struct obj *o = request; o; o = o->next)   /* "build the reply" */
		w->checksum += ((unsigned char *)o)[o->size < 512 ? o->size - 1 : 511];
	free_list(w, request);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	uint64_t rng = 0x5e77e7 + w->id;
	size_t now, i;

	for (now = 0; now < requests; now++) {
		if (now % 16 == 0)
			drain_mailbox(w);
		expire(w, now, &rng);
		serve(w, now, &rng);
	}
	/* Until every thread has served its requests, the others still send
	   objects here: keep freeing them meanwhile, as a server would,
	   instead of holding what arrives while this thread waits (that made
	   the peak RSS depend on how far apart the scheduler let the threads
	   get).  No thread sends any more once all have arrived. */
	atomic_fetch_add_explicit(&finished, 1, memory_order_release);
	while (atomic_load_explicit(&finished, memory_order_acquire) < nthreads) {
		drain_mailbox(w);
		sched_yield();
	}
	drain_mailbox(w);
	for (i = 0; i < WHEEL; i++)
		free_list(w, w->wheel[i]);
	return NULL;
}

int main(int argc, char **argv)
{
	double t0, t1;
	uint64_t sum = 0;
	char extra[128];
	unsigned i;

	requests = wl_scaled(REQUESTS, wl_scale(argc, argv));
	nthreads = wl_threads(argc, argv, THREADS);
	t0 = wl_now();
	for (i = 0; i < nthreads; i++) {
		workers[i].id = i;
		wl_check(pthread_create(&workers[i].tid, NULL, worker_main, &workers[i]),
			 "pthread_create");
	}
	for (i = 0; i < nthreads; i++) {
		wl_check(pthread_join(workers[i].tid, NULL), "pthread_join");
		sum += workers[i].checksum;
	}
	t1 = wl_now();
	/* ops: requests served, what the scaling table divides by the time */
	snprintf(extra, sizeof(extra), "threads=%u requests=%zu ops=%zu checksum=%llu", nthreads,
		 requests * nthreads, requests * nthreads, (unsigned long long)sum);
	wl_report("server", t1 - t0, extra);
	return 0;
}
