/*
 * fragment.c - a long-running program whose size mix changes from phase to
 * phase, leaving a few survivors behind each time (what a long-lived
 * service, an editor or a build daemon does to its heap):
 *
 *   small    1,000,000 objects of 16-256 B; 1 in 64 survives, the rest are
 *            freed in random order
 *   medium   60,000 objects of 257 B-4 KiB; 1 in 64 survives, the rest are
 *            freed in allocation order
 *   churn    50,000 live objects of 16 B-16 KiB (log-uniform) replaced or
 *            realloc'd 500,000 times; 1 in 128 survives
 *   large    128 live blocks of 8 KiB-1 MiB replaced 20,000 times; 1 in 16
 *            survives
 *
 * The survivors ("held", a known number of bytes) stay allocated to the end.
 * An allocator that packs well returns the rest: the result line gives the
 * peak, the resident set right after the last free (rss_final_kib), and after
 * three pauses of 200 ms each followed by a short burst of allocations
 * (rss_settled_kib), which lets allocators that return memory on a timer do
 * so.  time_s covers the phases and the final free, not the pauses.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "workload.h"

struct held {
	void **p;
	size_t n, cap, bytes;   /* bytes: the sizes asked for */
};

static struct held held;

static void hold(void *p, size_t size)
{
	if (held.n == held.cap) {
		held.cap = held.cap ? 2 * held.cap : 4096;
		held.p = realloc(held.p, held.cap * sizeof(void *));
		if (!held.p)
			exit(1);
	}
	held.p[held.n++] = p;
	held.bytes += size;
}

/* Write every page of the object, and all of it up to 4 KiB. */
static void touch(unsigned char *p, size_t size)
{
	if (size <= 4 * KiB) {
		memset(p, (int)size, size);
		return;
	}
	for (size_t i = 0; i < size; i += 4 * KiB)
		p[i] = (unsigned char)i;
	p[size - 1] = 1;
}

/* Allocate @n objects of @lo..@hi bytes; keep 1 in @keep; free the rest. */
static void build_and_free(size_t n, size_t lo, size_t hi, unsigned keep, int random_order,
			   uint64_t *rng)
{
	void **p = wl_xmalloc(n * sizeof(void *));
	size_t i, j, kept = 0;

	for (i = 0; i < n; i++) {
		size_t size = wl_rand_range(rng, lo, hi);
		p[i] = wl_xmalloc(size);
		touch(p[i], size);
		if (wl_rand(rng) % keep == 0) {
			hold(p[i], size);
			p[i] = NULL;
			kept++;
		}
	}
	if (random_order) {             /* Fisher-Yates */
		for (i = n - 1; i > 0; i--) {
			void *t = p[i];
			j = (size_t)(wl_rand(rng) % (i + 1));
			p[i] = p[j];
			p[j] = t;
		}
	}
	for (i = 0; i < n; i++)
		free(p[i]);
	free(p);
}

/*
 * @slots live objects of @lo..@hi bytes (log-uniform), @steps times one of
 * them replaced (or, one step in four, realloc'd to a new size); at the end
 * 1 in @keep survives.
 */
static void churn(size_t slots, size_t lo, size_t hi, size_t steps, unsigned keep, uint64_t *rng)
{
	void **p = wl_xmalloc(slots * sizeof(void *));
	size_t *sz = wl_xmalloc(slots * sizeof(size_t));
	size_t i;

	for (i = 0; i < slots; i++) {
		sz[i] = wl_rand_log(rng, lo, hi);
		p[i] = wl_xmalloc(sz[i]);
		touch(p[i], sz[i]);
	}
	for (i = 0; i < steps; i++) {
		size_t k = (size_t)(wl_rand(rng) % slots), size = wl_rand_log(rng, lo, hi);
		if (wl_rand(rng) % 4 == 0) {
			void *q = realloc(p[k], size);
			if (!q)
				exit(1);
			p[k] = q;
		} else {
			free(p[k]);
			p[k] = wl_xmalloc(size);
		}
		sz[k] = size;
		touch(p[k], size);
	}
	for (i = 0; i < slots; i++) {
		if (wl_rand(rng) % keep == 0)
			hold(p[i], sz[i]);
		else
			free(p[i]);
	}
	free(sz);
	free(p);
}

/* A pause, then a burst of 2,000 objects of 16 B..64 KiB allocated and freed. */
static void settle(uint64_t *rng)
{
	static void *burst[2000];
	struct timespec pause = { 0, 200 * 1000 * 1000 };
	unsigned i;

	nanosleep(&pause, NULL);
	for (i = 0; i < 2000; i++)
		burst[i] = wl_xmalloc(wl_rand_log(rng, 16, 64 * KiB));
	for (i = 0; i < 2000; i++)
		free(burst[i]);
}

int main(int argc, char **argv)
{
	double scale = wl_scale(argc, argv), t0, t1;
	uint64_t rng = 0xf7a9;
	size_t rss_final, rss_settled, peak;
	char extra[192];
	unsigned i;

	t0 = wl_now();
	build_and_free(wl_scaled(1000000, scale), 16, 256, 64, 1, &rng);
	build_and_free(wl_scaled(60000, scale), 257, 4 * KiB, 64, 0, &rng);
	churn(wl_scaled(50000, scale), 16, 16 * KiB, wl_scaled(500000, scale), 128, &rng);
	churn(128, 8 * KiB, MiB, wl_scaled(20000, scale), 16, &rng);
	t1 = wl_now();
	rss_final = wl_rss_kib();
	peak = wl_hwm_kib();
	for (i = 0; i < 3; i++)
		settle(&rng);
	rss_settled = wl_rss_kib();

	snprintf(extra, sizeof(extra),
		 "held_kib=%zu held_objects=%zu rss_final_kib=%zu rss_settled_kib=%zu peak_before_settle_kib=%zu",
		 held.bytes / KiB, held.n, rss_final, rss_settled, peak);
	wl_report("fragment", t1 - t0, extra);
	return 0;
}
