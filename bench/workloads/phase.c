/*
 * phase.c - a compiler-like phase allocator.  Each phase (one function or
 * translation unit) makes many small objects of mixed sizes:
 *
 *   AST nodes    32-96 B (a node with 1-8 child pointers)
 *   strings      identifiers and literals, 6-64 B, a few up to 512 B
 *   vectors      argument and statement lists: 4 pointers to start with,
 *                grown with realloc (doubling) to 1-200 elements
 *   scopes       a block scope: 1-24 symbol entries of 48 B chained off a
 *                bucket array grown with realloc; the entries are freed
 *                when the scope closes, the bucket array lives on
 *
 * At the end of the phase most of it is freed, in allocation order (a
 * compiler walks its lists front to back); 1 in 16 objects survives into the
 * next phase (types, interned names, constants) and every survivor dies at
 * a later phase end with probability 1/4, so a live set carried between
 * phases stays around 15,000 objects.  80 phases of 60,000 objects at
 * scale 1.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "workload.h"

#define PHASES      80          /* at scale 1 */
#define OBJECTS     60000       /* per phase */
#define SURVIVE     16          /* 1 in SURVIVE objects outlives its phase */

struct list {
	void **p;
	size_t n, cap;
};

/* A growing array of pointers, itself grown with realloc like the vectors. */
static void push(struct list *l, void *p)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 1024;
		l->p = realloc(l->p, l->cap * sizeof(*l->p));
		if (!l->p) {
			fprintf(stderr, "phase: realloc failed\n");
			exit(1);
		}
	}
	l->p[l->n++] = p;
}

static void *xrealloc(void *p, size_t size)
{
	p = realloc(p, size);
	if (!p) {
		fprintf(stderr, "phase: realloc(%zu) failed\n", size);
		exit(1);
	}
	return p;
}

/* One object of the mix above; returns it, written as its kind would be. */
static void *make_object(uint64_t *rng, uint64_t *sum)
{
	unsigned k = (unsigned)(wl_rand(rng) % 100);

	if (k < 45) {           /* AST node */
		size_t size = 32 + 8 * wl_rand_range(rng, 0, 8);
		unsigned char *n = wl_xmalloc(size);
		memset(n, (int)k, size);
		return n;
	}
	if (k < 75) {           /* string */
		size_t len = wl_rand(rng) % 32 ? wl_rand_range(rng, 6, 64)
					       : wl_rand_range(rng, 65, 512);
		char *s = wl_xmalloc(len);
		memset(s, 'a' + (int)(len % 26), len - 1);
		s[len - 1] = 0;
		return s;
	}
	if (k < 92) {           /* vector grown one element at a time */
		size_t want = wl_rand(rng) % 8 ? wl_rand_range(rng, 1, 16)
					       : wl_rand_range(rng, 17, 200);
		size_t cap = 4, n;
		void **v = wl_xmalloc(cap * sizeof(*v));
		for (n = 0; n < want; n++) {
			if (n == cap) {
				cap *= 2;
				v = xrealloc(v, cap * sizeof(*v));
			}
			v[n] = v;
		}
		*sum += cap;
		return v;
	}
	/* a scope: symbol entries chained off a bucket array that grows */
	{
		size_t nsym = wl_rand_range(rng, 1, 24), buckets = 2, i;
		void **b = calloc(buckets + 1, sizeof(*b));
		if (!b) {
			fprintf(stderr, "phase: calloc failed\n");
			exit(1);
		}
		for (i = 0; i < nsym; i++) {
			void **sym;
			if (i == 2 * buckets) {         /* rehash: grow the table */
				b = xrealloc(b, (2 * buckets + 1) * sizeof(*b));
				memset(b + buckets + 1, 0, buckets * sizeof(*b));
				buckets *= 2;
			}
			sym = wl_xmalloc(48);
			memset(sym, 0, 48);
			sym[0] = b[1 + i % buckets];
			b[1 + i % buckets] = sym;
		}
		b[0] = (void *)buckets;
		/* the scope closes: its symbols go, the bucket array stays with the phase */
		for (i = 1; i <= buckets; i++)
			for (void **sym = b[i]; sym;) {
				void **next = sym[0];
				free(sym);
				sym = next;
				(*sum)++;
			}
		return b;
	}
}

int main(int argc, char **argv)
{
	size_t phases = wl_scaled(PHASES, wl_scale(argc, argv));
	struct list made = { 0 }, carried = { 0 }, next = { 0 };
	uint64_t rng = 0x9a5e, sum = 0;
	size_t objects = 0, peak_carried = 0;
	double t0, t1;
	char extra[128];

	t0 = wl_now();
	for (size_t ph = 0; ph < phases; ph++) {
		made.n = 0;
		for (size_t i = 0; i < OBJECTS; i++)
			push(&made, make_object(&rng, &sum));
		objects += made.n;
		/* phase end: older survivors die with probability 1/4 ... */
		next.n = 0;
		for (size_t i = 0; i < carried.n; i++) {
			if (wl_rand(&rng) % 4 == 0)
				free(carried.p[i]);
			else
				push(&next, carried.p[i]);
		}
		/* ... and the phase's own objects are freed front to back but for 1 in SURVIVE */
		for (size_t i = 0; i < made.n; i++) {
			if (wl_rand(&rng) % SURVIVE == 0)
				push(&next, made.p[i]);
			else
				free(made.p[i]);
		}
		struct list swap = carried;
		carried = next;
		next = swap;
		if (carried.n > peak_carried)
			peak_carried = carried.n;
	}
	for (size_t i = 0; i < carried.n; i++)
		free(carried.p[i]);
	t1 = wl_now();
	free(made.p);
	free(carried.p);
	free(next.p);
	snprintf(extra, sizeof(extra), "phases=%zu objects=%zu peak_carried=%zu checksum=%llu",
		 phases, objects, peak_carried, (unsigned long long)sum);
	wl_report("phase", t1 - t0, extra);
	return 0;
}
