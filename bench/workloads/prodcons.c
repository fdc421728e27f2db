/*
 * prodcons.c - producer/consumer across threads.  2 producers build messages
 * (a 48-byte header and a 16 B..2 KiB payload, two allocations) and pass
 * them in batches of 16 through a bounded queue to 2 consumers, which read
 * every payload and free the message and the batch.  Every free is made by a
 * thread other than the one that allocated: the pattern of a pipeline, a
 * logger or a work queue.  argv[2] sets the number of threads T: T / 2
 * producers (rounded up) and T / 2 consumers (at least 1, so T = 1 runs
 * one of each), each producer making the same number of messages.  The
 * result line gives ns_per_object, the wall time per message (header and
 * payload allocated, passed on, read and freed) over the whole pipeline.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "workload.h"

#define THREADS   4             /* by default: 2 producers, 2 consumers */
#define MESSAGES  1500000       /* per producer, at scale 1 */
#define BATCH     16
#define QUEUE     64            /* batches in flight */

struct message {
	uint64_t seq;
	uint32_t len;
	uint32_t kind;
	unsigned char *payload;
	char pad[24];           /* a 48-byte header, as a small struct would be */
};

struct batch {
	unsigned n;             /* 0: end of stream */
	struct message *msg[BATCH];
};

/* The queue: a ring of batch pointers under one mutex. */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t not_full, not_empty;
	struct batch *ring[QUEUE];
	unsigned head, count;
} q = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER,
	{ NULL }, 0, 0 };

static size_t messages;         /* per producer */

static void queue_put(struct batch *b)
{
	pthread_mutex_lock(&q.lock);
	while (q.count == QUEUE)
		pthread_cond_wait(&q.not_full, &q.lock);
	q.ring[(q.head + q.count++) % QUEUE] = b;
	pthread_cond_signal(&q.not_empty);
	pthread_mutex_unlock(&q.lock);
}

static struct batch *queue_get(void)
{
	struct batch *b;

	pthread_mutex_lock(&q.lock);
	while (q.count == 0)
		pthread_cond_wait(&q.not_empty, &q.lock);
	b = q.ring[q.head];
	q.head = (q.head + 1) % QUEUE;
	q.count--;
	pthread_cond_signal(&q.not_full);
	pthread_mutex_unlock(&q.lock);
	return b;
}

static struct message *new_message(uint64_t seq, uint64_t *rng)
{
	struct message *m = wl_xmalloc(sizeof(*m));
	/* mostly short: 16-256 B three times in four, else up to 2 KiB */
	size_t len = wl_rand(rng) % 4 ? wl_rand_range(rng, 16, 256)
				      : wl_rand_range(rng, 257, 2 * KiB);

	m->seq = seq;
	m->len = (uint32_t)len;
	m->kind = (uint32_t)(seq & 7);
	m->payload = wl_xmalloc(len);
	memset(m->payload, (int)(seq & 0xff), len);
	return m;
}

static void *producer(void *arg)
{
	uint64_t rng = 0x9d0d + (uintptr_t)arg;
	size_t i = 0;

	while (i < messages) {
		struct batch *b = wl_xmalloc(sizeof(*b));
		for (b->n = 0; b->n < BATCH && i < messages; b->n++, i++)
			b->msg[b->n] = new_message(i, &rng);
		queue_put(b);
	}
	return NULL;
}

static void *consumer(void *arg)
{
	uint64_t *sum = arg;
	struct batch *b;

	while ((b = queue_get())->n) {
		for (unsigned i = 0; i < b->n; i++) {
			struct message *m = b->msg[i];
			for (uint32_t j = 0; j < m->len; j += 64)
				*sum += m->payload[j];
			*sum += m->len;
			free(m->payload);
			free(m);
		}
		free(b);
	}
	free(b);
	return NULL;
}

int main(int argc, char **argv)
{
	static pthread_t prod[WL_MAX_THREADS], cons[WL_MAX_THREADS];
	static uint64_t sums[WL_MAX_THREADS];
	uint64_t sum = 0;
	double t0, t1;
	char extra[160];
	unsigned i, threads, producers, consumers;
	size_t total;

	messages = wl_scaled(MESSAGES, wl_scale(argc, argv));
	threads = wl_threads(argc, argv, THREADS);
	producers = (threads + 1) / 2;
	consumers = threads / 2 ? threads / 2 : 1;
	total = messages * producers;
	t0 = wl_now();
	for (i = 0; i < consumers; i++)
		wl_check(pthread_create(&cons[i], NULL, consumer, &sums[i]), "pthread_create");
	for (i = 0; i < producers; i++)
		wl_check(pthread_create(&prod[i], NULL, producer, (void *)(uintptr_t)i),
			 "pthread_create");
	for (i = 0; i < producers; i++)
		wl_check(pthread_join(prod[i], NULL), "pthread_join");
	for (i = 0; i < consumers; i++) {       /* one end-of-stream batch each */
		struct batch *end = wl_xmalloc(sizeof(*end));
		end->n = 0;
		queue_put(end);
	}
	for (i = 0; i < consumers; i++) {
		wl_check(pthread_join(cons[i], NULL), "pthread_join");
		sum += sums[i];
	}
	t1 = wl_now();
	/* ops: messages, what the scaling table divides by the time */
	snprintf(extra, sizeof(extra), "threads=%u messages=%zu ops=%zu ns_per_object=%.1f "
		 "checksum=%llu", producers + consumers, total, total, (t1 - t0) * 1e9 / (double)total,
		 (unsigned long long)sum);
	wl_report("prodcons", t1 - t0, extra);
	return 0;
}
