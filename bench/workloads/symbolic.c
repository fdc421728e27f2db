/*
 * symbolic.c - a single-threaded symbolic workload: many small objects that
 * live a very short time, as in an interpreter or a compiler pass.  Each
 * round builds a random expression tree, differentiates it, simplifies the
 * result, flattens sums and products into n-ary nodes (children arrays grown
 * with realloc), evaluates it at a few points, and frees every tree.  Every
 * pass builds a new tree instead of editing the old one, so nodes (24 B),
 * variable names (2-6 B strings) and child arrays are allocated and freed by
 * the million.
 */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "workload.h"

#define ROUNDS 4000             /* at scale 1 */
#define DEPTH  11

enum op { NUM, VAR, NEG, ADD, SUB, MUL, SUM, PROD };

struct expr {
	unsigned char op;
	unsigned nkids;                 /* SUM, PROD */
	union {
		double num;             /* NUM */
		char *name;             /* VAR: a string of its own */
		struct expr *kid[2];    /* NEG (kid[0]), ADD, SUB, MUL */
		struct expr **kids;     /* SUM, PROD: nkids children */
	};
};

static const char *const names[] = { "x", "y", "z", "t", "x", "alpha", "beta", "x1" };

static struct expr *node(enum op op)
{
	struct expr *e = wl_xmalloc(sizeof(*e));
	e->op = (unsigned char)op;
	e->nkids = 0;
	return e;
}

static struct expr *num(double v)
{
	struct expr *e = node(NUM);
	e->num = v;
	return e;
}

static struct expr *var(const char *name)
{
	struct expr *e = node(VAR);
	size_t n = strlen(name) + 1;
	e->name = memcpy(wl_xmalloc(n), name, n);
	return e;
}

static struct expr *binary(enum op op, struct expr *a, struct expr *b)
{
	struct expr *e = node(op);
	e->kid[0] = a;
	e->kid[1] = b;
	return e;
}

static struct expr *neg(struct expr *a)
{
	return binary(NEG, a, NULL);
}

static void release(struct expr *e)
{
	switch (e->op) {
	case VAR:
		free(e->name);
		break;
	case NEG:
		release(e->kid[0]);
		break;
	case ADD: case SUB: case MUL:
		release(e->kid[0]);
		release(e->kid[1]);
		break;
	case SUM: case PROD:
		for (unsigned i = 0; i < e->nkids; i++)
			release(e->kids[i]);
		free(e->kids);
		break;
	}
	free(e);
}

static struct expr *copy(const struct expr *e)
{
	switch (e->op) {
	case NUM:
		return num(e->num);
	case VAR:
		return var(e->name);
	case NEG:
		return neg(copy(e->kid[0]));
	default:                        /* only binary trees are copied */
		return binary(e->op, copy(e->kid[0]), copy(e->kid[1]));
	}
}

static struct expr *generate(unsigned depth, uint64_t *rng)
{
	unsigned r = (unsigned)(wl_rand(rng) % 16);

	if (depth == 0 || r < 3)
		return r & 1 ? num((double)(wl_rand(rng) % 5)) : var(names[wl_rand(rng) % 8]);
	if (r == 3)
		return neg(generate(depth - 1, rng));
	return binary(r < 9 ? ADD : r < 11 ? SUB : MUL, generate(depth - 1, rng),
		      generate(depth - 1, rng));
}

/* d/dx of a binary tree, as a new tree. */
static struct expr *diff(const struct expr *e, const char *x)
{
	switch (e->op) {
	case NUM:
		return num(0);
	case VAR:
		return num(strcmp(e->name, x) == 0);
	case NEG:
		return neg(diff(e->kid[0], x));
	case ADD: case SUB:
		return binary(e->op, diff(e->kid[0], x), diff(e->kid[1], x));
	default:                        /* MUL: product rule */
		return binary(ADD, binary(MUL, diff(e->kid[0], x), copy(e->kid[1])),
			      binary(MUL, copy(e->kid[0]), diff(e->kid[1], x)));
	}
}

static int is_num(const struct expr *e, double v)
{
	return e->op == NUM && e->num == v;
}

/* Constant folding and the identities 0+a, a*1, a*0, --a; a new tree. */
static struct expr *simplify(const struct expr *e)
{
	struct expr *a, *b;

	if (e->op == NUM || e->op == VAR)
		return copy(e);
	a = simplify(e->kid[0]);
	if (e->op == NEG) {
		if (a->op == NUM) {
			a->num = -a->num;
			return a;
		}
		if (a->op == NEG) {
			b = a->kid[0];
			free(a);
			return b;
		}
		return neg(a);
	}
	b = simplify(e->kid[1]);
	if (a->op == NUM && b->op == NUM) {
		double v = e->op == ADD ? a->num + b->num : e->op == SUB ? a->num - b->num
								    : a->num * b->num;
		free(b);
		a->num = v;
		return a;
	}
	if (e->op == MUL && (is_num(a, 0) || is_num(b, 0))) {
		release(a);
		release(b);
		return num(0);
	}
	if ((e->op == MUL && is_num(a, 1)) || (e->op == ADD && is_num(a, 0))) {
		free(a);
		return b;
	}
	if ((e->op == MUL && is_num(b, 1)) || ((e->op == ADD || e->op == SUB) && is_num(b, 0))) {
		free(b);
		return a;
	}
	return binary(e->op, a, b);
}

static void push_kid(struct expr *n, struct expr *k)
{
	/* grow the array one child at a time, as a naive vector would */
	n->kids = realloc(n->kids, (n->nkids + 1) * sizeof(*n->kids));
	if (!n->kids)
		exit(1);
	n->kids[n->nkids++] = k;
}

static struct expr *flatten(const struct expr *e);

/* Append the operands of the chain of @op rooted at @e to @n. */
static void gather(struct expr *n, const struct expr *e, enum op op)
{
	if (e->op == op) {
		gather(n, e->kid[0], op);
		gather(n, e->kid[1], op);
	} else {
		push_kid(n, flatten(e));
	}
}

/* Chains of ADD become one SUM node, chains of MUL one PROD; a new tree. */
static struct expr *flatten(const struct expr *e)
{
	struct expr *n;

	switch (e->op) {
	case NUM: case VAR:
		return copy(e);
	case NEG:
		return neg(flatten(e->kid[0]));
	case SUB:
		return binary(SUB, flatten(e->kid[0]), flatten(e->kid[1]));
	default:
		n = node(e->op == ADD ? SUM : PROD);
		n->kids = NULL;
		gather(n, e, e->op);
		return n;
	}
}

static double eval(const struct expr *e, double x)
{
	double v;

	switch (e->op) {
	case NUM:
		return e->num;
	case VAR:
		return e->name[0] == 'x' ? x : (double)strlen(e->name);
	case NEG:
		return -eval(e->kid[0], x);
	case SUB:
		return eval(e->kid[0], x) - eval(e->kid[1], x);
	case SUM:
		v = 0;
		for (unsigned i = 0; i < e->nkids; i++)
			v += eval(e->kids[i], x);
		return v;
	case PROD:
		v = 1;
		for (unsigned i = 0; i < e->nkids; i++)
			v *= eval(e->kids[i], x);
		return v;
	default:
		return 0;               /* ADD and MUL do not survive flatten */
	}
}

int main(int argc, char **argv)
{
	size_t rounds = wl_scaled(ROUNDS, wl_scale(argc, argv)), i;
	uint64_t rng = 0x5e3b01;
	double t0, t1, sum = 0;
	char extra[96];

	t0 = wl_now();
	for (i = 0; i < rounds; i++) {
		struct expr *e = generate(DEPTH, &rng);
		struct expr *d = diff(e, "x");
		struct expr *s = simplify(d);
		struct expr *f = flatten(s);

		for (int x = -2; x <= 2; x++) {
			double v = eval(f, x * 0.5);
			if (isfinite(v))
				sum += fmod(v, 1e6);
		}
		release(f);
		release(s);
		release(d);
		release(e);
	}
	t1 = wl_now();
	snprintf(extra, sizeof(extra), "rounds=%zu checksum=%.6g", rounds, sum);
	wl_report("symbolic", t1 - t0, extra);
	return 0;
}
