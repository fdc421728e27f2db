/*
 * large.c - large-allocation churn: 8 live buffers of 64 KiB to 64 MiB
 * (log-uniform: as many around 100 KiB as around 30 MiB), each step replacing
 * one of them or growing it with realloc by 1.25-2x (a growing output
 * buffer), and writing one byte per page of every new byte.  It measures
 * how an allocator serves big blocks: reuse of freed address space versus
 * fresh mappings and page faults, and realloc that grows in place or moves.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>

#include "workload.h"

#define SLOTS 8
#define STEPS 500               /* at scale 1 */
#define MIN_SIZE (64 * KiB)
#define MAX_SIZE (64 * MiB)

/* Write one byte in every page of [p + from, p + to). */
static void touch(unsigned char *p, size_t from, size_t to)
{
	for (size_t i = from; i < to; i += 4 * KiB)
		p[i] = (unsigned char)(i >> 12);
	p[to - 1] = 1;
}

int main(int argc, char **argv)
{
	size_t steps = wl_scaled(STEPS, wl_scale(argc, argv)), size[SLOTS], i, moved = 0;
	unsigned char *buf[SLOTS];
	uint64_t rng = 0x1a29e, sum = 0;
	double t0, t1;
	char extra[96];

	t0 = wl_now();
	for (i = 0; i < SLOTS; i++) {
		size[i] = wl_rand_log(&rng, MIN_SIZE, MAX_SIZE);
		buf[i] = wl_xmalloc(size[i]);
		touch(buf[i], 0, size[i]);
	}
	for (i = 0; i < steps; i++) {
		unsigned k = (unsigned)(wl_rand(&rng) % SLOTS);
		size_t grown = size[k] + size[k] / 4 + (size_t)(wl_rand(&rng) % (size[k] * 3 / 4));

		sum += buf[k][size[k] - 1];
		if (wl_rand(&rng) % 4 == 0 && grown <= MAX_SIZE) {
			unsigned char *q = realloc(buf[k], grown);
			if (!q)
				return 1;
			moved += q != buf[k];
			buf[k] = q;
			touch(buf[k], size[k], grown);
			size[k] = grown;
		} else {
			free(buf[k]);
			size[k] = wl_rand_log(&rng, MIN_SIZE, MAX_SIZE);
			buf[k] = wl_xmalloc(size[k]);
			touch(buf[k], 0, size[k]);
		}
	}
	for (i = 0; i < SLOTS; i++)
		free(buf[i]);
	t1 = wl_now();
	snprintf(extra, sizeof(extra), "steps=%zu realloc_moved=%zu checksum=%llu", steps, moved,
		 (unsigned long long)sum);
	wl_report("large", t1 - t0, extra);
	return 0;
}
