/*
 * stress.c - the drop-in under threads, fork and thread churn.  Linked against
 * libslabmalloc.so (its malloc is slabmalloc; checked at start).  One program,
 * one ctest per mode:
 *
 *   producer_consumer  2 producers hand 2,000,000 objects of 1 B..64 KiB (a
 *                      checked pattern each, some realloc'd first) in batches
 *                      to 2 consumers, which check every byte and free them;
 *                      every object is consumed exactly once.
 *   all_to_all         6 threads; every round each allocates objects for every
 *                      other, and each frees what the others made for it,
 *                      checking every byte.
 *   fork               4 threads allocate, realloc and free continuously while
 *                      the main thread forks 50 times; each child (alarm: a
 *                      deadlock becomes SIGALRM) checks and frees blocks the
 *                      parent allocated before the fork, mallocs, callocs
 *                      (zeroed), reallocs (contents kept), runs a thread that
 *                      allocates, and _exits 0; every child must exit 0.
 *   thread_churn       2000 short-lived threads (8 at a time) allocate and free,
 *                      free objects that dead threads allocated, and free and
 *                      malloc in pthread key destructors (two rounds: the
 *                      second runs after slabmalloc's own key destructor tore
 *                      the thread cache down) and in a TLS destructor; every
 *                      destructor runs, and the thread caches are given back
 *                      (page runs in use do not grow by one per thread).
 * Every failed check exits 1 from whichever thread found it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ptest.h"
#include "slabmalloc.h"

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)

/* 1 B..64 KiB, mostly small: 88% up to 512 B, 10% up to 8 KiB, 2% up to 64 KiB. */
static size_t rand_size(uint64_t *s)
{
	uint64_t r = rnd_next(s);
	unsigned k = (unsigned)(r % 100);
	r >>= 8;
	if (k < 88)
		return 1 + r % 512;
	if (k < 98)
		return 513 + r % (8 * KiB - 512);
	return 8 * KiB + 1 + r % (56 * KiB);
}

static void check_object(const void *p, size_t size, uint64_t seed)
{
	CHECK(p);
	CHECK(sm_ptr_instance(p) == sm_default_instance());
	CHECK_GE(malloc_usable_size((void *)p), size);
	CHECK_FILL(p, size, seed);
}

/* ------------------------------------------------- producer / consumer -- */

#define PC_PRODUCERS 2
#define PC_CONSUMERS 2
#define PC_PER_PRODUCER 1000000
#define PC_BATCH 128
#define PC_QUEUE 64

struct item {
	void *p;
	uint32_t size;
	uint32_t seed;
};

struct batch {
	unsigned n;
	struct item items[PC_BATCH];
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t not_empty, not_full;
	struct batch *ring[PC_QUEUE];
	unsigned head, count, producers_left;
} q = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER,
	{ 0 }, 0, 0, PC_PRODUCERS };

static atomic_ulong pc_consumed, pc_bytes_in, pc_bytes_out;

static void q_put(struct batch *b)
{
	pthread_mutex_lock(&q.lock);
	while (q.count == PC_QUEUE)
		pthread_cond_wait(&q.not_full, &q.lock);
	q.ring[(q.head + q.count++) % PC_QUEUE] = b;
	pthread_cond_signal(&q.not_empty);
	pthread_mutex_unlock(&q.lock);
}

/* NULL once every producer is done and the queue is empty. */
static struct batch *q_get(void)
{
	pthread_mutex_lock(&q.lock);
	while (!q.count && q.producers_left)
		pthread_cond_wait(&q.not_empty, &q.lock);
	struct batch *b = NULL;
	if (q.count) {
		b = q.ring[q.head];
		q.head = (q.head + 1) % PC_QUEUE;
		q.count--;
		pthread_cond_signal(&q.not_full);
	}
	pthread_mutex_unlock(&q.lock);
	return b;
}

static void *producer(void *arg)
{
	unsigned id = (unsigned)(uintptr_t)arg;
	uint64_t rs = 1000 + id;
	unsigned long bytes = 0;
	struct batch *b = NULL;
	for (unsigned i = 0; i < PC_PER_PRODUCER; i++) {
		if (!b) {
			b = malloc(sizeof(*b));
			CHECK(b);
			b->n = 0;
		}
		size_t n = rand_size(&rs);
		uint32_t seed = id << 28 | i;
		char *p = malloc(n);
		CHECK(p);
		fill(p, n, seed);
		if (i % 20 == 0) {
			/* Some go through realloc first (grow or shrink, kept contents). */
			size_t m = rand_size(&rs);
			char *r = realloc(p, m);
			CHECK(r);
			CHECK_FILL(r, n < m ? n : m, seed);
			p = r;
			n = m;
			fill(p, n, seed);
		}
		b->items[b->n++] = (struct item){ p, (uint32_t)n, seed };
		bytes += n;
		if (b->n == PC_BATCH) {
			q_put(b);
			b = NULL;
		}
	}
	if (b)
		q_put(b);
	atomic_fetch_add(&pc_bytes_in, bytes);
	pthread_mutex_lock(&q.lock);
	q.producers_left--;
	pthread_cond_broadcast(&q.not_empty);
	pthread_mutex_unlock(&q.lock);
	return NULL;
}

static void *consumer(void *arg)
{
	(void)arg;
	unsigned long n = 0, bytes = 0;
	struct batch *b;
	while ((b = q_get())) {
		CHECK(b->n >= 1 && b->n <= PC_BATCH);
		for (unsigned i = 0; i < b->n; i++) {
			struct item *it = &b->items[i];
			check_object(it->p, it->size, it->seed);
			free(it->p);
			bytes += it->size;
		}
		n += b->n;
		free(b);
	}
	atomic_fetch_add(&pc_consumed, n);
	atomic_fetch_add(&pc_bytes_out, bytes);
	return NULL;
}

static int t_producer_consumer(void)
{
	pthread_t t[PC_PRODUCERS + PC_CONSUMERS];
	for (unsigned i = 0; i < PC_CONSUMERS; i++)
		t[i] = spawn_thread(consumer, NULL);
	for (unsigned i = 0; i < PC_PRODUCERS; i++)
		t[PC_CONSUMERS + i] = spawn_thread(producer, (void *)(uintptr_t)(i + 1));
	for (unsigned i = 0; i < PC_PRODUCERS + PC_CONSUMERS; i++)
		pthread_join(t[i], NULL);
	CHECK_EQ(atomic_load(&pc_consumed), (unsigned long)PC_PRODUCERS * PC_PER_PRODUCER);
	CHECK_EQ(atomic_load(&pc_bytes_out), atomic_load(&pc_bytes_in));
	printf("producer_consumer: %lu objects, %lu bytes checked\n", atomic_load(&pc_consumed),
	       atomic_load(&pc_bytes_out));
	return 0;
}

/* --------------------------------------------------------- all to all -- */

#define A2A_THREADS 6
#define A2A_PER_PEER 64
#define A2A_ROUNDS 1500

static struct item a2a_box[A2A_THREADS][A2A_THREADS][A2A_PER_PEER]; /* [from][to][k] */
static pthread_barrier_t a2a_barrier;
static atomic_ulong a2a_freed;

static void *a2a_thread(void *arg)
{
	unsigned me = (unsigned)(uintptr_t)arg;
	uint64_t rs = 77 + me;
	unsigned long freed = 0;
	for (unsigned r = 0; r < A2A_ROUNDS; r++) {
		for (unsigned to = 0; to < A2A_THREADS; to++) {
			if (to == me)
				continue;
			for (unsigned k = 0; k < A2A_PER_PEER; k++) {
				size_t n = r % 50 == 0 && k == 0 ? 40 * KiB + k : rand_size(&rs) % 2048;
				uint32_t seed = r << 16 | me << 12 | to << 8 | k;
				void *p = malloc(n);
				CHECK(p);
				fill(p, n, seed);
				a2a_box[me][to][k] = (struct item){ p, (uint32_t)n, seed };
			}
		}
		pthread_barrier_wait(&a2a_barrier);
		for (unsigned from = 0; from < A2A_THREADS; from++) {
			if (from == me)
				continue;
			for (unsigned k = 0; k < A2A_PER_PEER; k++) {
				struct item *it = &a2a_box[from][me][k];
				check_object(it->p, it->size, it->seed);
				CHECK_EQ(it->seed, r << 16 | from << 12 | me << 8 | k);
				free(it->p);
				it->p = NULL;
				freed++;
			}
		}
		pthread_barrier_wait(&a2a_barrier);
	}
	atomic_fetch_add(&a2a_freed, freed);
	return NULL;
}

static int t_all_to_all(void)
{
	pthread_t t[A2A_THREADS];
	CHECK(pthread_barrier_init(&a2a_barrier, NULL, A2A_THREADS) == 0);
	for (unsigned i = 0; i < A2A_THREADS; i++)
		t[i] = spawn_thread(a2a_thread, (void *)(uintptr_t)i);
	for (unsigned i = 0; i < A2A_THREADS; i++)
		pthread_join(t[i], NULL);
	CHECK_EQ(atomic_load(&a2a_freed),
		 (unsigned long)A2A_ROUNDS * A2A_THREADS * (A2A_THREADS - 1) * A2A_PER_PEER);
	printf("all_to_all: %lu objects freed by a thread other than their allocator\n",
	       atomic_load(&a2a_freed));
	return 0;
}

/* --------------------------------------------------------------- fork -- */

#define FORK_WORKERS 4
#define FORK_CHILDREN 50

static atomic_int fork_stop;
static atomic_ulong fork_worker_ops;

static void *fork_worker(void *arg)
{
	unsigned id = (unsigned)(uintptr_t)arg;
	enum { SLOTS = 256 };
	struct item slot[SLOTS] = { { 0 } };
	uint64_t rs = 500 + id;
	uint32_t seq = 0;
	unsigned long ops = 0;
	while (!atomic_load_explicit(&fork_stop, memory_order_relaxed)) {
		unsigned i = (unsigned)(rnd_next(&rs) % SLOTS);
		struct item *it = &slot[i];
		if (it->p) {
			check_object(it->p, it->size, it->seed);
			if (rnd_next(&rs) % 4 == 0) {
				size_t m = rand_size(&rs);
				char *r = realloc(it->p, m);
				CHECK(r);
				CHECK_FILL(r, it->size < m ? it->size : m, it->seed);
				fill(r, m, it->seed);
				it->p = r;
				it->size = (uint32_t)m;
				continue;
			}
			free(it->p);
			it->p = NULL;
		} else {
			uint64_t k = rnd_next(&rs) % 1000;
			size_t n = k == 0 ? 300 * KiB : rand_size(&rs);
			it->seed = id << 28 | seq++;
			it->size = (uint32_t)n;
			it->p = k == 1 ? calloc(1, n) : malloc(n);
			CHECK(it->p);
			if (k == 1)
				CHECK_EQ(first_nonzero(it->p, n), (size_t)-1);
			fill(it->p, n, it->seed);
		}
		ops++;
	}
	for (unsigned i = 0; i < SLOTS; i++)
		if (slot[i].p) {
			check_object(slot[i].p, slot[i].size, slot[i].seed);
			free(slot[i].p);
		}
	atomic_fetch_add(&fork_worker_ops, ops);
	return NULL;
}

static void *child_thread(void *arg)
{
	(void)arg;
	void *v[200];
	for (int i = 0; i < 200; i++) {
		v[i] = malloc((size_t)i * 13 + 1);
		CHECK(v[i]);
		fill(v[i], (size_t)i * 13 + 1, (uint64_t)i);
	}
	for (int i = 0; i < 200; i++) {
		CHECK_FILL(v[i], (size_t)i * 13 + 1, (uint64_t)i);
		free(v[i]);
	}
	return NULL;
}

/* The forked child: every call here must work with the parent's threads gone. */
static void fork_child(char *pre_small, char *pre_big, uint64_t seed)
{
	alarm(10); /* a deadlock in the child becomes SIGALRM */
	CHECK_FILL(pre_small, 100, seed);
	CHECK_FILL(pre_big, 100 * KiB, seed);
	free(pre_small);
	free(pre_big);
	enum { N = 500 };
	static void *v[N];
	static size_t sz[N];
	uint64_t rs = seed;
	for (int i = 0; i < N; i++) {
		sz[i] = rand_size(&rs);
		if (i % 3 == 0) {
			v[i] = calloc(1, sz[i]);
			CHECK(v[i]);
			CHECK_EQ(first_nonzero(v[i], sz[i]), (size_t)-1);
		} else {
			v[i] = malloc(sz[i]);
			CHECK(v[i]);
		}
		fill(v[i], sz[i], seed + (uint64_t)i);
	}
	for (int i = 0; i < N; i += 2) {
		size_t m = rand_size(&rs);
		char *r = realloc(v[i], m);
		CHECK(r);
		CHECK_FILL(r, sz[i] < m ? sz[i] : m, seed + (uint64_t)i);
		fill(r, m, seed + (uint64_t)i);
		v[i] = r;
		sz[i] = m;
	}
	void *huge = malloc(40 * MiB);
	CHECK(huge);
	memset(huge, 1, 4096);
	pthread_t t = spawn_thread(child_thread, NULL);
	pthread_join(t, NULL);
	for (int i = 0; i < N; i++) {
		CHECK_FILL(v[i], sz[i], seed + (uint64_t)i);
		free(v[i]);
	}
	free(huge);
	_exit(0);
}

static int t_fork(void)
{
	alarm(100); /* a deadlock in the parent (fork itself) becomes SIGALRM */
	pthread_t t[FORK_WORKERS];
	for (unsigned i = 0; i < FORK_WORKERS; i++)
		t[i] = spawn_thread(fork_worker, (void *)(uintptr_t)(i + 1));
	int failed = 0;
	for (int c = 0; c < FORK_CHILDREN; c++) {
		uint64_t seed = 0xf0f0 + (uint64_t)c;
		char *pre_small = malloc(100), *pre_big = malloc(100 * KiB);
		CHECK(pre_small && pre_big);
		fill(pre_small, 100, seed);
		fill(pre_big, 100 * KiB, seed);
		/* Let the workers get going between forks. */
		for (volatile int spin = 0; spin < 200000; spin++)
			;
		fflush(stdout);
		pid_t pid = fork();
		CHECK(pid >= 0);
		if (pid == 0)
			fork_child(pre_small, pre_big, seed);
		/* The parent's copies are still its own. */
		CHECK_FILL(pre_small, 100, seed);
		CHECK_FILL(pre_big, 100 * KiB, seed);
		free(pre_small);
		free(pre_big);
		int st;
		CHECK(waitpid(pid, &st, 0) == pid);
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			if (WIFSIGNALED(st))
				fprintf(stderr, "fork %d: child killed by signal %d (%s)\n", c, WTERMSIG(st),
					strsignal(WTERMSIG(st)));
			else
				fprintf(stderr, "fork %d: child exit status %d\n", c, WEXITSTATUS(st));
			failed++;
		}
	}
	atomic_store(&fork_stop, 1);
	for (unsigned i = 0; i < FORK_WORKERS; i++)
		pthread_join(t[i], NULL);
	alarm(0);
	CHECK(atomic_load(&fork_worker_ops) > 0);
	CHECK_EQ(failed, 0);
	printf("fork: %d children exited 0 while %d threads made %lu allocator calls\n",
	       FORK_CHILDREN, FORK_WORKERS, atomic_load(&fork_worker_ops));
	return 0;
}

/* ------------------------------------------------------- thread churn -- */

#define CHURN_THREADS 2000
#define CHURN_WAVE 8
#define POOL 512

int __cxa_thread_atexit_impl(void (*dtor)(void *), void *obj, void *dso_symbol);
extern void *__dso_handle;

static struct {
	pthread_mutex_t lock;
	struct item slot[POOL];
	unsigned n;
} pool = { PTHREAD_MUTEX_INITIALIZER, { { 0 } }, 0 };

static pthread_key_t churn_key;
static atomic_uint dtor_first, dtor_second, tls_dtor_runs;
static atomic_ulong pool_frees;

struct keyval {
	int round;
	uint64_t seed;
	char data[200];
};

static struct keyval *keyval_new(int round, uint64_t seed)
{
	struct keyval *kv = malloc(sizeof(*kv));
	CHECK(kv);
	kv->round = round;
	kv->seed = seed;
	fill(kv->data, sizeof(kv->data), seed);
	return kv;
}

static void key_destructor(void *v)
{
	struct keyval *kv = v;
	CHECK(sm_ptr_instance(kv) == sm_default_instance());
	CHECK_GE(malloc_usable_size(kv), sizeof(*kv));
	CHECK_FILL(kv->data, sizeof(kv->data), kv->seed);
	int round = kv->round;
	uint64_t seed = kv->seed;
	free(kv);
	/* Allocate and free at thread exit. */
	void *tmp[20];
	for (int i = 0; i < 20; i++)
		CHECK((tmp[i] = malloc((size_t)i * 50 + 1)));
	for (int i = 0; i < 20; i++)
		free(tmp[i]);
	if (round == 1) {
		atomic_fetch_add(&dtor_first, 1);
		/* Set again: a second round runs after every first-round destructor,
		   slabmalloc's (which gives back the thread cache) included. */
		CHECK(pthread_setspecific(churn_key, keyval_new(2, seed + 1)) == 0);
	} else {
		CHECK_EQ(round, 2);
		atomic_fetch_add(&dtor_second, 1);
	}
}

static void tls_destructor(void *obj)
{
	struct item *it = obj;
	check_object(it->p, it->size, it->seed);
	free(it->p);
	free(it);
	atomic_fetch_add(&tls_dtor_runs, 1);
}

static void *churn_thread(void *arg)
{
	unsigned id = (unsigned)(uintptr_t)arg;
	uint64_t rs = 9000 + id;
	enum { OWN = 40, SHARE = 16 };
	struct item own[OWN];
	for (int i = 0; i < OWN; i++) {
		size_t n = rand_size(&rs) % 4096;
		own[i] = (struct item){ malloc(n), (uint32_t)n, id << 12 | (unsigned)i };
		CHECK(own[i].p);
		fill(own[i].p, n, own[i].seed);
	}
	/* Free what earlier (mostly dead) threads left in the pool, leave ours. */
	struct item got[SHARE];
	unsigned ng = 0;
	pthread_mutex_lock(&pool.lock);
	while (ng < SHARE && pool.n)
		got[ng++] = pool.slot[--pool.n];
	for (int i = 0; i < SHARE && pool.n < POOL; i++)
		pool.slot[pool.n++] = own[i];
	pthread_mutex_unlock(&pool.lock);
	for (unsigned i = 0; i < ng; i++) {
		check_object(got[i].p, got[i].size, got[i].seed);
		free(got[i].p);
	}
	atomic_fetch_add(&pool_frees, ng);
	for (int i = SHARE; i < OWN; i++) {
		check_object(own[i].p, own[i].size, own[i].seed);
		free(own[i].p);
	}
	/* Destructors that free and allocate after the thread function returned. */
	CHECK(pthread_setspecific(churn_key, keyval_new(1, id)) == 0);
	struct item *tl = malloc(sizeof(*tl));
	CHECK(tl);
	tl->size = 3000;
	tl->seed = id;
	tl->p = malloc(tl->size);
	CHECK(tl->p);
	fill(tl->p, tl->size, tl->seed);
	CHECK(__cxa_thread_atexit_impl(tls_destructor, tl, &__dso_handle) == 0);
	return NULL;
}

static int t_thread_churn(void)
{
	CHECK(pthread_key_create(&churn_key, key_destructor) == 0);
	/* Warm up, then measure the page runs in use: thread caches are page runs. */
	pthread_t t[CHURN_WAVE];
	for (unsigned i = 0; i < CHURN_WAVE; i++)
		t[i] = spawn_thread(churn_thread, (void *)(uintptr_t)(100000 + i));
	for (unsigned i = 0; i < CHURN_WAVE; i++)
		pthread_join(t[i], NULL);
	struct sm_stats before, after;
	sm_stats_get(sm_default_instance(), &before);
	for (unsigned w = 0; w < CHURN_THREADS / CHURN_WAVE; w++) {
		for (unsigned i = 0; i < CHURN_WAVE; i++)
			t[i] = spawn_thread(churn_thread, (void *)(uintptr_t)(w * CHURN_WAVE + i));
		for (unsigned i = 0; i < CHURN_WAVE; i++)
			pthread_join(t[i], NULL);
	}
	sm_stats_get(sm_default_instance(), &after);
	unsigned total = CHURN_THREADS + CHURN_WAVE;
	CHECK_EQ(atomic_load(&dtor_first), total);
	CHECK_EQ(atomic_load(&dtor_second), total);
	CHECK_EQ(atomic_load(&tls_dtor_runs), total);
	CHECK(atomic_load(&pool_frees) > (unsigned long)CHURN_THREADS * 8);
	/* 2000 thread caches that were not given back would be > 16 MiB of page runs. */
	if (after.large_bytes > before.large_bytes + 4 * MiB) {
		fprintf(stderr, "page runs in use grew from %zu to %zu bytes over %d threads\n",
			before.large_bytes, after.large_bytes, CHURN_THREADS);
		exit(1);
	}
	pthread_mutex_lock(&pool.lock);
	while (pool.n) {
		struct item *it = &pool.slot[--pool.n];
		check_object(it->p, it->size, it->seed);
		free(it->p);
	}
	pthread_mutex_unlock(&pool.lock);
	printf("thread_churn: %u threads, %lu objects freed by another thread, %u+%u key and %u TLS "
	       "destructor runs, page runs in use %zu -> %zu KiB\n", total, atomic_load(&pool_frees),
	       atomic_load(&dtor_first), atomic_load(&dtor_second), atomic_load(&tls_dtor_runs),
	       before.large_bytes >> 10, after.large_bytes >> 10);
	return 0;
}

int main(int argc, char **argv)
{
	void *p = malloc(16);
	CHECK(p && sm_ptr_instance(p) == sm_default_instance());
	free(p);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 2 && !strcmp(argv[1], "producer_consumer"))
		return t_producer_consumer();
	if (argc == 2 && !strcmp(argv[1], "all_to_all"))
		return t_all_to_all();
	if (argc == 2 && !strcmp(argv[1], "fork"))
		return t_fork();
	if (argc == 2 && !strcmp(argv[1], "thread_churn"))
		return t_thread_churn();
	fprintf(stderr, "usage: %s producer_consumer|all_to_all|fork|thread_churn\n", argv[0]);
	return 2;
}
