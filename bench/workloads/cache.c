/*
 * cache.c - a long-running in-memory cache with churn (memcached, a CDN
 * edge, an application's object cache).  A hash table of up to 40,000
 * entries, each an entry struct, a key of 8-64 B and a value of 16 B-8 KiB
 * (log-uniform, 1 in 200 up to 64 KiB).  A stream of 1,500,000 operations on
 * 120,000 keys, popular keys more often (the square of a uniform number):
 *
 *   get  70%   a hit moves the entry to the front of the LRU list
 *   set  30%   a hit replaces the value by realloc to its new size; a miss
 *              inserts, evicting the least recently used entry when full
 *
 * The first 5% or so of the stream fills the cache; the result line gives
 * the peak RSS, the RSS when the stream ends (rss_steady_kib, the cache
 * full: what a long-running process keeps) against the bytes the entries
 * hold (held_kib), and the RSS after everything is freed and three pauses
 * of 200 ms each followed by a short burst of allocations
 * (rss_settled_kib), as in fragment.c.  time_s covers the stream only.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "workload.h"

#define CAPACITY  40000         /* entries */
#define KEYS      120000        /* the key space */
#define OPS       1500000       /* at scale 1 */
#define BUCKETS   65536         /* a power of two */

struct entry {
	struct entry *chain;            /* next in the bucket */
	struct entry *newer, *older;    /* the LRU list */
	char *key;
	unsigned char *value;
	uint32_t key_len, value_len;
	uint64_t hash;
};

static struct entry *bucket[BUCKETS];
static struct entry *newest, *oldest;
static size_t entries, held;    /* held: key and value bytes */

static uint64_t hash_key(const char *k, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull;     /* FNV-1a */
	while (len--)
		h = (h ^ (unsigned char)*k++) * 0x100000001b3ull;
	return h;
}

/* Key number @n as a string of 8-64 bytes (its length fixed by @n). */
static size_t make_key(char *buf, size_t n)
{
	size_t len = 8 + (n * 2654435761u) % 57, i;
	int w = snprintf(buf, len + 1, "k%zu:", n);
	for (i = (size_t)w; i < len; i++)
		buf[i] = (char)('a' + (n + i) % 26);
	buf[len] = 0;
	return len;
}

static size_t value_size(uint64_t *rng)
{
	if (wl_rand(rng) % 200 == 0)
		return wl_rand_log(rng, 8 * KiB, 64 * KiB);
	return wl_rand_log(rng, 16, 8 * KiB);
}

static void lru_unlink(struct entry *e)
{
	if (e->newer)
		e->newer->older = e->older;
	else
		newest = e->older;
	if (e->older)
		e->older->newer = e->newer;
	else
		oldest = e->newer;
}

static void lru_push(struct entry *e)
{
	e->newer = NULL;
	e->older = newest;
	if (newest)
		newest->newer = e;
	newest = e;
	if (!oldest)
		oldest = e;
}

static struct entry *lookup(const char *key, size_t len, uint64_t h)
{
	for (struct entry *e = bucket[h & (BUCKETS - 1)]; e; e = e->chain)
		if (e->hash == h && e->key_len == len && !memcmp(e->key, key, len))
			return e;
	return NULL;
}

static void drop(struct entry *e)
{
	struct entry **pp = &bucket[e->hash & (BUCKETS - 1)];

	while (*pp != e)
		pp = &(*pp)->chain;
	*pp = e->chain;
	lru_unlink(e);
	held -= e->key_len + e->value_len;
	entries--;
	free(e->key);
	free(e->value);
	free(e);
}

static void set_value(struct entry *e, size_t size)
{
	unsigned char *v = realloc(e->value, size);

	if (!v) {
		fprintf(stderr, "cache: realloc(%zu) failed\n", size);
		exit(1);
	}
	memset(v, (int)(size & 0xff), size);    /* a new value is written whole */
	held += size - e->value_len;
	e->value = v;
	e->value_len = (uint32_t)size;
}

static void insert(const char *key, size_t len, uint64_t h, size_t size)
{
	struct entry *e = wl_xmalloc(sizeof(*e));

	if (entries == CAPACITY)
		drop(oldest);
	e->key = wl_xmalloc(len + 1);
	memcpy(e->key, key, len + 1);
	e->key_len = (uint32_t)len;
	e->hash = h;
	e->value = NULL;
	e->value_len = 0;
	held += len;
	set_value(e, size);
	e->chain = bucket[h & (BUCKETS - 1)];
	bucket[h & (BUCKETS - 1)] = e;
	lru_push(e);
	entries++;
}

/* Sleep 200 ms, then a burst of allocations: a timer-driven allocator's chance to give back. */
static void settle(uint64_t *rng)
{
	struct timespec pause = { 0, 200 * 1000 * 1000 };
	void *p[256];

	nanosleep(&pause, NULL);
	for (int i = 0; i < 256; i++)
		p[i] = wl_xmalloc(wl_rand_range(rng, 16, 1024));
	for (int i = 0; i < 256; i++)
		free(p[i]);
}

int main(int argc, char **argv)
{
	size_t ops = wl_scaled(OPS, wl_scale(argc, argv));
	uint64_t rng = 0xcac4e, sum = 0;
	size_t hits = 0, held_end, entries_end, rss_steady, rss_settled;
	char key[72], extra[256];
	double t0, t1;

	t0 = wl_now();
	for (size_t i = 0; i < ops; i++) {
		/* u^2 puts popular keys near 0: a skewed, but not Zipf-steep, key mix */
		double u = (double)(wl_rand(&rng) >> 11) / (double)(1ull << 53);
		size_t n = (size_t)(u * u * KEYS);
		size_t len = make_key(key, n);
		uint64_t h = hash_key(key, len);
		struct entry *e = lookup(key, len, h);
		int is_set = wl_rand(&rng) % 10 < 3;

		if (e) {
			hits++;
			lru_unlink(e);
			lru_push(e);
			if (is_set)
				set_value(e, value_size(&rng));
			else
				sum += e->value[e->value_len - 1];
		} else if (is_set || entries < CAPACITY) {
			/* a miss of a get fills from the "backend" while the cache is warming */
			insert(key, len, h, value_size(&rng));
		}
	}
	t1 = wl_now();
	held_end = held;
	entries_end = entries;
	rss_steady = wl_rss_kib();
	while (oldest)
		drop(oldest);
	for (int i = 0; i < 3; i++)
		settle(&rng);
	rss_settled = wl_rss_kib();
	snprintf(extra, sizeof(extra), "ops=%zu hits=%zu entries=%zu held_kib=%zu "
		 "rss_steady_kib=%zu rss_settled_kib=%zu checksum=%llu", ops, hits, entries_end,
		 held_end / KiB, rss_steady, rss_settled, (unsigned long long)sum);
	wl_report("cache", t1 - t0, extra);
	return 0;
}
