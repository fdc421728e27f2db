/*
 * solver.c - what a SAT solver or a branch-and-bound search does to the
 * heap.  A depth-first search (the same tree every run: branching and
 * conflicts come from the fixed seed) over 120 levels:
 *
 *   node     each decision allocates a node of 64 B plus its trail of
 *            implied literals (4 B each, 2-40 per level) in one block,
 *            and a watch list grown with realloc as literals are watched;
 *            backtracking frees them in the reverse order (LIFO)
 *   clause   a conflict learns a clause of 3 to 30+ literals (8 B header
 *            and 4 B per literal, more literals deeper in the tree) into
 *            the clause database, a pointer array grown with realloc
 *   reduce   when the database passes 20,000 clauses, half of them (the
 *            lowest "activity", a random score) are deleted: frees in no
 *            particular order, the survivors compacted
 *
 * 4,000,000 decisions at scale 1; the search restarts from the root after
 * every 20,000 conflicts, freeing the whole stack at once, as solvers do.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "workload.h"

#define DECISIONS  4000000      /* at scale 1 */
#define DEPTH      120          /* levels of the tree */
#define DB_LIMIT   20000        /* clauses before a reduction */
#define RESTART    20000        /* conflicts between restarts */

struct node {
	struct node *parent;
	uint32_t *watch;        /* grown with realloc */
	uint32_t nwatch, capwatch;
	uint32_t level, ntrail;
	uint64_t pad[3];        /* the rest of a 64-byte node */
	uint32_t trail[];       /* implied literals */
};

struct clause {
	uint32_t activity, len;
	uint32_t lit[];
};

static struct clause **db;
static size_t ndb, capdb, reductions, learned;

static void *xrealloc(void *p, size_t size)
{
	p = realloc(p, size);
	if (!p) {
		fprintf(stderr, "solver: realloc(%zu) failed\n", size);
		exit(1);
	}
	return p;
}

static struct node *decide(struct node *parent, uint64_t *rng)
{
	uint32_t level = parent ? parent->level + 1 : 0;
	uint32_t ntrail = (uint32_t)wl_rand_range(rng, 2, 40);
	struct node *n = wl_xmalloc(sizeof(*n) + ntrail * sizeof(uint32_t));

	n->parent = parent;
	n->level = level;
	n->ntrail = ntrail;
	for (uint32_t i = 0; i < ntrail; i++)
		n->trail[i] = (uint32_t)wl_rand(rng);
	/* propagation watches some of the literals, one realloc per doubling */
	n->watch = NULL;
	n->nwatch = n->capwatch = 0;
	for (uint32_t i = 0; i < ntrail; i += 2) {
		if (n->nwatch == n->capwatch) {
			n->capwatch = n->capwatch ? 2 * n->capwatch : 2;
			n->watch = xrealloc(n->watch, n->capwatch * sizeof(uint32_t));
		}
		n->watch[n->nwatch++] = n->trail[i];
	}
	return n;
}

static struct node *backtrack(struct node *n, uint64_t *sum)
{
	struct node *parent = n->parent;

	*sum += n->trail[n->ntrail - 1] & 0xff;
	free(n->watch);
	free(n);
	return parent;
}

/* Drop the half of the clause database with the lowest activity. */
static void reduce(void)
{
	size_t kept = 0;
	uint64_t total = 0;
	uint32_t median;

	for (size_t i = 0; i < ndb; i++)
		total += db[i]->activity;
	median = (uint32_t)(total / ndb);
	for (size_t i = 0; i < ndb; i++) {
		if (db[i]->activity < median)
			free(db[i]);
		else
			db[kept++] = db[i];
	}
	ndb = kept;
	reductions++;
}

static void learn(struct node *n, uint64_t *rng)
{
	uint32_t len = 3 + (uint32_t)wl_rand_range(rng, 0, 3 + n->level / 4);
	struct clause *c = wl_xmalloc(sizeof(*c) + len * sizeof(uint32_t));

	c->activity = (uint32_t)(wl_rand(rng) >> 40);
	c->len = len;
	for (uint32_t i = 0; i < len; i++)
		c->lit[i] = n->trail[i % n->ntrail];
	if (ndb == capdb) {
		capdb = capdb ? 2 * capdb : 1024;
		db = xrealloc(db, capdb * sizeof(*db));
	}
	db[ndb++] = c;
	learned++;
	if (ndb > DB_LIMIT)
		reduce();
}

int main(int argc, char **argv)
{
	size_t decisions = wl_scaled(DECISIONS, wl_scale(argc, argv));
	uint64_t rng = 0x5a7, sum = 0;
	size_t conflicts = 0, restarts = 0;
	struct node *top = NULL;
	double t0, t1;
	char extra[160];

	t0 = wl_now();
	for (size_t d = 0; d < decisions; d++) {
		top = decide(top, &rng);
		/* deeper levels conflict more often: 1 in 32 at the root, 1 in 4 at DEPTH */
		if (top->level + 1 >= DEPTH ||
		    wl_rand(&rng) % (32 - 28 * top->level / DEPTH) == 0) {
			/* a conflict: learn a clause, jump back 1 to 12 levels */
			unsigned back = (unsigned)wl_rand_range(&rng, 1, 12);
			learn(top, &rng);
			conflicts++;
			while (top && back--)
				top = backtrack(top, &sum);
			if (conflicts % RESTART == 0) {
				while (top)
					top = backtrack(top, &sum);
				restarts++;
			}
		}
	}
	while (top)
		top = backtrack(top, &sum);
	for (size_t i = 0; i < ndb; i++) {
		sum += db[i]->len;
		free(db[i]);
	}
	free(db);
	t1 = wl_now();
	snprintf(extra, sizeof(extra), "decisions=%zu conflicts=%zu learned=%zu reductions=%zu "
		 "restarts=%zu checksum=%llu", decisions, conflicts, learned, reductions, restarts,
		 (unsigned long long)sum);
	wl_report("solver", t1 - t0, extra);
	return 0;
}
