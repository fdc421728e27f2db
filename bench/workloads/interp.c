/*
 * interp.c - what a dynamic language's interpreter does to the heap
 * (CPython, Ruby, a Lisp with reference counting).  A stack machine runs a
 * fixed random program of 6,000,000 operations on boxed values:
 *
 *   number   a 24-byte box (tag, refcount, double)
 *   string   a header and its characters, 8-80 B, made by formatting a
 *            number or concatenating two strings (cut at 80)
 *   list     a header and an element array grown with realloc (doubling)
 *            as numbers and strings are appended; freeing a list drops
 *            its elements
 *
 * Arithmetic pops two numbers and pushes a new one, so most boxes live for
 * a few operations.  256 globals hold the long-lived values: now and then
 * a global is replaced (the old value freed).  Everything is reference
 * counted and freed as soon as its count drops to zero, as CPython does.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "workload.h"

#define OPS       6000000       /* at scale 1 */
#define STACK     64            /* the operand stack's depth */
#define GLOBALS   256

enum tag { NUM, STR, LIST };

struct value {
	uint32_t tag, refs;
	union {
		double num;
		struct { char *chars; size_t len; } str;
		struct { struct value **item; size_t n, cap; } list;
	};
};

static struct value *stack[STACK];
static unsigned sp;
static struct value *globals[GLOBALS];

static struct value *box(enum tag tag)
{
	/* numbers take the 24 bytes a small object would; the others their header */
	struct value *v = wl_xmalloc(tag == NUM ? 24 : sizeof(struct value));
	v->tag = tag;
	v->refs = 1;
	return v;
}

static struct value *number(double d)
{
	struct value *v = box(NUM);
	v->num = d;
	return v;
}

static struct value *string(const char *s, size_t len)
{
	struct value *v = box(STR);
	v->str.chars = wl_xmalloc(len + 1);
	memcpy(v->str.chars, s, len);
	v->str.chars[len] = 0;
	v->str.len = len;
	return v;
}

static void decref(struct value *v)
{
	if (--v->refs)
		return;
	if (v->tag == STR) {
		free(v->str.chars);
	} else if (v->tag == LIST) {
		for (size_t i = 0; i < v->list.n; i++)
			decref(v->list.item[i]);
		free(v->list.item);
	}
	free(v);
}

static void append(struct value *l, struct value *v)
{
	if (l->list.n == l->list.cap) {
		size_t cap = l->list.cap ? 2 * l->list.cap : 4;
		struct value **item = realloc(l->list.item, cap * sizeof(*item));
		if (!item) {
			fprintf(stderr, "interp: realloc failed\n");
			exit(1);
		}
		l->list.item = item;
		l->list.cap = cap;
	}
	l->list.item[l->list.n++] = v;
}

static void push(struct value *v)
{
	if (sp == STACK)                /* a full stack drops its oldest half */
		for (sp = 0; sp < STACK / 2; sp++) {
			decref(stack[sp]);
			stack[sp] = stack[sp + STACK / 2];
		}
	stack[sp++] = v;
}

static struct value *pop(void)
{
	return sp ? stack[--sp] : number(0);
}

/* Pop a value of @tag, or make an empty one of it when the top is another kind. */
static struct value *pop_as(enum tag tag)
{
	struct value *v = pop();
	if (v->tag == tag)
		return v;
	decref(v);
	if (tag == NUM)
		return number(1);
	if (tag == STR)
		return string("", 0);
	v = box(LIST);
	v->list.item = NULL;
	v->list.n = v->list.cap = 0;
	return v;
}

int main(int argc, char **argv)
{
	size_t ops = wl_scaled(OPS, wl_scale(argc, argv));
	uint64_t rng = 0x1e7e9, sum = 0;
	struct value *a, *b;
	char buf[96];
	double t0, t1;
	char extra[96];

	for (unsigned g = 0; g < GLOBALS; g++)
		globals[g] = number(g);
	t0 = wl_now();
	for (size_t i = 0; i < ops; i++) {
		unsigned k = (unsigned)(wl_rand(&rng) % 100);

		if (k < 30) {                   /* load a constant */
			push(number((double)(k + i % 7)));
		} else if (k < 55) {            /* arithmetic */
			a = pop_as(NUM);
			b = pop_as(NUM);
			push(number(a->num * 0.5 + b->num));
			decref(a);
			decref(b);
		} else if (k < 67) {            /* str(number) */
			a = pop_as(NUM);
			push(string(buf, (size_t)snprintf(buf, sizeof(buf), "%.3f", a->num)));
			decref(a);
		} else if (k < 75) {            /* concatenation, cut at 80 characters */
			size_t la, lb;
			b = pop_as(STR);
			a = pop_as(STR);
			la = a->str.len < 40 ? a->str.len : 40;
			lb = b->str.len < 40 ? b->str.len : 40;
			memcpy(buf, a->str.chars, la);
			memcpy(buf + la, b->str.chars, lb);
			push(string(buf, la + lb));
			decref(a);
			decref(b);
		} else if (k < 88) {            /* list.append(value) */
			a = pop();
			b = pop_as(LIST);
			/* lists hold numbers and strings only: no cycles to leak */
			if (b->list.n < 512 && a->tag != LIST)
				append(b, a);
			else
				decref(a);
			push(b);
		} else if (k < 96) {            /* load a global */
			a = globals[wl_rand(&rng) % GLOBALS];
			a->refs++;
			push(a);
		} else if (k < 99) {            /* drop the top */
			if (sp)
				decref(stack[--sp]);
		} else {                        /* store into a global: the long-lived values */
			unsigned g = (unsigned)(wl_rand(&rng) % GLOBALS);
			a = pop();
			decref(globals[g]);
			globals[g] = a;
		}
	}
	while (sp) {
		a = stack[--sp];
		sum += a->tag == NUM ? (uint64_t)a->num : a->tag == STR ? a->str.len : a->list.n;
		decref(a);
	}
	for (unsigned g = 0; g < GLOBALS; g++) {
		a = globals[g];
		sum += a->tag == NUM ? (uint64_t)a->num : a->tag == STR ? a->str.len : a->list.n;
		decref(a);
	}
	t1 = wl_now();
	snprintf(extra, sizeof(extra), "ops=%zu checksum=%llu", ops, (unsigned long long)sum);
	wl_report("interp", t1 - t0, extra);
	return 0;
}
