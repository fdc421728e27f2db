/*
 * module.c - a file written the way a kernel module uses <linux/slab.h>:
 * only the kernel's names and flags, no sm_* call, compiled with
 * -Wall -Wextra -Werror against include/slabmalloc/compat (whose
 * linux/slab.h is <slabmalloc/kernel.h>), linked with libslabmalloc.so,
 * and run by ctest (kapi.module): every CHECK is an outcome the kernel's
 * API promises.  The "module" keeps named sessions in a hash table:
 * session objects from a KMEM_CACHE, names from kstrdup, a kvmalloc'd
 * bucket array that grows with kvrealloc, request batches from the bulk
 * calls, and a key freed with kfree_sensitive.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/gfp.h>
#include <linux/slab.h>

#define CHECK(c) do { if (!(c)) { \
	fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #c); exit(1); } } while (0)

struct session {
	struct session *next;
	char *name;
	unsigned long id;
	unsigned char *key;
	size_t key_len;
	int refs;
};

struct request {
	unsigned long session_id;
	unsigned int op;
	char payload[44];
};

static struct kmem_cache *session_cache;
static struct kmem_cache *request_cache;
static struct session **buckets;
static size_t nr_buckets;
static size_t nr_sessions;
static unsigned int *stats_per_bucket;

static size_t bucket_of(unsigned long id)
{
	return (size_t)(id * 2654435761u) % nr_buckets;
}

static int sessions_init(void)
{
	session_cache = KMEM_CACHE(session, SLAB_HWCACHE_ALIGN | SLAB_PANIC | SLAB_ACCOUNT);
	request_cache = kmem_cache_create("request", sizeof(struct request), 0,
					  SLAB_TYPESAFE_BY_RCU | SLAB_RECLAIM_ACCOUNT, NULL);
	if (!request_cache)
		return -ENOMEM;
	nr_buckets = 16;
	buckets = kvcalloc(nr_buckets, sizeof(*buckets), GFP_KERNEL);
	stats_per_bucket = kcalloc_node(nr_buckets, sizeof(*stats_per_bucket), GFP_KERNEL, NUMA_NO_NODE);
	if (!buckets || !stats_per_bucket)
		return -ENOMEM;
	return 0;
}

/* Double the table: rehash into a new one (kvrealloc keeps the old entries). */
static int sessions_grow(void)
{
	size_t old = nr_buckets;
	struct session **nb = kvrealloc(buckets, 2 * old * sizeof(*nb), GFP_KERNEL | __GFP_ZERO);
	if (!nb)
		return -ENOMEM;
	unsigned int *ns = krealloc_array(stats_per_bucket, 2 * old, sizeof(*ns), GFP_NOFS | __GFP_ZERO);
	if (!ns)
		return -ENOMEM;
	stats_per_bucket = ns;
	memset(ns, 0, 2 * old * sizeof(*ns));
	struct session *all = NULL;
	for (size_t b = 0; b < old; b++) {
		while (nb[b]) {
			struct session *s = nb[b];
			nb[b] = s->next;
			s->next = all;
			all = s;
		}
	}
	memset(nb, 0, 2 * old * sizeof(*nb));
	buckets = nb;
	nr_buckets = 2 * old;
	while (all) {
		struct session *s = all;
		all = s->next;
		size_t b = bucket_of(s->id);
		s->next = buckets[b];
		buckets[b] = s;
		stats_per_bucket[b]++;
	}
	return 0;
}

static struct session *session_add(unsigned long id, const char *name, const void *key, size_t key_len)
{
	struct session *s = kmem_cache_zalloc(session_cache, GFP_KERNEL);
	if (!s)
		return NULL;
	s->id = id;
	s->name = kstrndup(name, 15, GFP_KERNEL);
	s->key = kmemdup(key, key_len, GFP_NOIO | __GFP_NOWARN);
	s->key_len = key_len;
	s->refs = 1;
	if (!s->name || !s->key) {
		kfree(s->name);
		kfree_sensitive(s->key);
		kmem_cache_free(session_cache, s);
		return NULL;
	}
	if (nr_sessions >= 2 * nr_buckets && sessions_grow())
		return NULL;
	size_t b = bucket_of(id);
	s->next = buckets[b];
	buckets[b] = s;
	stats_per_bucket[b]++;
	nr_sessions++;
	return s;
}

static struct session *session_find(unsigned long id)
{
	for (struct session *s = buckets[bucket_of(id)]; s; s = s->next)
		if (s->id == id)
			return s;
	return NULL;
}

static void session_free(struct session *s)
{
	kfree(s->name);
	kfree_sensitive(s->key);
	kmem_cache_free(session_cache, s);
}

/* A batch of requests for every session, from the bulk calls. */
static int run_requests(unsigned int per_session)
{
	size_t n = nr_sessions * per_session;
	void **reqs = kmalloc_array(n, sizeof(void *), GFP_KERNEL);
	if (!reqs)
		return -ENOMEM;
	if (kmem_cache_alloc_bulk(request_cache, GFP_KERNEL | __GFP_ZERO, n, reqs) != (int)n) {
		kfree(reqs);
		return -ENOMEM;
	}
	size_t i = 0;
	for (size_t b = 0; b < nr_buckets; b++)
		for (struct session *s = buckets[b]; s; s = s->next)
			for (unsigned int k = 0; k < per_session; k++) {
				struct request *r = reqs[i++];
				CHECK(r->session_id == 0 && r->op == 0); /* zeroed */
				r->session_id = s->id;
				r->op = k;
				snprintf(r->payload, sizeof(r->payload), "%s/%u", s->name, k);
			}
	CHECK(i == n);
	for (i = 0; i < n; i++) {
		struct request *r = reqs[i];
		struct session *s = session_find(r->session_id);
		CHECK(s && !strncmp(r->payload, s->name, strlen(s->name)));
		s->refs++;
	}
	kmem_cache_free_bulk(request_cache, n, reqs);
	kvfree(reqs);
	return 0;
}

static void sessions_exit(void)
{
	for (size_t b = 0; b < nr_buckets; b++) {
		while (buckets[b]) {
			struct session *s = buckets[b];
			buckets[b] = s->next;
			session_free(s);
		}
	}
	kvfree(buckets);
	kfree(stats_per_bucket);
	kmem_cache_destroy(request_cache);
	kmem_cache_destroy(session_cache);
}

int main(void)
{
	CHECK(sessions_init() == 0);
	for (unsigned long id = 1; id <= 500; id++) {
		char name[32];
		unsigned char key[32];
		snprintf(name, sizeof(name), "session-number-%lu", id);
		for (unsigned int k = 0; k < sizeof(key); k++)
			key[k] = (unsigned char)(id + k);
		struct session *s = session_add(id, name, key, sizeof(key));
		CHECK(s);
		CHECK(strlen(s->name) == 15);                       /* kstrndup cut it */
		CHECK(ksize(s->name) == kmalloc_size_roundup(16));
		CHECK(((unsigned long)s & 63) == 0);               /* SLAB_HWCACHE_ALIGN */
	}
	CHECK(nr_buckets == 256);
	for (unsigned long id = 1; id <= 500; id++) {
		struct session *s = session_find(id);
		CHECK(s && s->key[3] == (unsigned char)(id + 3));
	}
	CHECK(run_requests(7) == 0);
	CHECK(session_find(77)->refs == 8);

	/* The odd corners every module meets. */
	void *z = kmalloc(0, GFP_KERNEL);
	CHECK(z == ZERO_SIZE_PTR && ZERO_OR_NULL_PTR(z));
	kfree(z);
	CHECK(kmalloc_array(SIZE_MAX / 2, 4, GFP_KERNEL) == NULL);
	void *dma = kzalloc(512, GFP_DMA | GFP_ATOMIC);
	void *user = kmalloc_array_node(4, 64, GFP_USER | __GFP_NORETRY, NUMA_NO_NODE);
	void *must = kvzalloc(1 << 20, GFP_KERNEL | __GFP_NOFAIL);
	char *copy = kstrdup("module", GFP_KERNEL);
	char *big = kvmalloc(3 << 20, GFP_KERNEL);
	void *nolock = kmalloc_nolock(100, __GFP_ZERO, NUMA_NO_NODE);
	CHECK(dma && user && must && copy && big && nolock);
	CHECK(ksize(user) == 256 && !strcmp(copy, "module"));
	void *batch[4] = { dma, user, copy, nolock };
	kfree_bulk(4, batch);
	kvfree(must);
	kvfree(big);

	sessions_exit();
	printf("kapi module: ok\n");
	return 0;
}
