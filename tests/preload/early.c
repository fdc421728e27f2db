/*
 * early.c - allocation before main and around the dynamic loader:
 *   - a constructor(101) of the program and one of a needed library
 *     (early_dep.c; with LD_PRELOAD it runs before libslabmalloc's own
 *     constructor) allocate, reallocate and free; main checks what they did
 *     and frees what they kept;
 *   - dlopen/dlclose of libm.so.6 and of a missing library (dlerror's message
 *     is allocated and freed by libc), repeated;
 *   - dlopen of tls_module.so, whose constructor allocates and whose large
 *     __thread array is a dynamic TLS block: glibc mallocs it in each thread
 *     that touches it (slabmalloc must own it) and frees it when the thread
 *     exits, after slabmalloc gave that thread's cache back.  Threads created
 *     before the dlopen and after it touch it; the module is closed and
 *     opened again three times.
 * Built linked against libslabmalloc.so and libc-only (run with LD_PRELOAD).
 * Usage: early <path of tls_module.so>
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ptest.h"

#ifndef CONF_PRELOAD
#include "slabmalloc.h"
#endif

int early_dep_status(void);
char *early_dep_kept(void);

static void *(*owner)(const void *);

#ifndef CONF_PRELOAD
static void *owner_direct(const void *p)
{
	return sm_ptr_instance(p);
}
#endif

static void find_owner(void)
{
	if (owner)
		return;
#ifdef CONF_PRELOAD
	owner = (void *(*)(const void *))dlsym(RTLD_DEFAULT, "sm_ptr_instance");
#else
	owner = owner_direct;
#endif
}

/* ---- before main ---- */

static int ctor_status = -1;
static char *ctor_kept;
static size_t ctor_kept_size;

__attribute__((constructor(101))) static void early_ctor(void)
{
	int bad = 0;
	find_owner();
	if (!owner)
		bad |= 1;
	void *v[100];
	for (int i = 0; i < 100; i++) {
		size_t n = (size_t)i * i * 7 + 1; /* up to ~68 KiB: small and page runs */
		v[i] = i % 3 ? malloc(n) : calloc(1, n);
		if (!v[i] || (owner && !owner(v[i])))
			bad |= 2;
		else if (i % 3 == 0 && first_nonzero(v[i], n) != (size_t)-1)
			bad |= 4;
		else
			fill(v[i], n, (uint64_t)i);
	}
	for (int i = 0; i < 100; i += 2) {
		free(v[i]);
		v[i] = NULL;
	}
	for (int i = 1; i < 100; i += 2) {
		size_t n = (size_t)i * i * 7 + 1;
		if (v[i] && check_fill(v[i], n, (uint64_t)i) != (size_t)-1)
			bad |= 8;
		free(v[i]);
	}
	ctor_kept_size = 40000;
	ctor_kept = malloc(ctor_kept_size);
	if (!ctor_kept)
		bad |= 16;
	else
		fill(ctor_kept, ctor_kept_size, 101);
	ctor_status = bad;
}

static void t_before_main(void)
{
	CHECK(owner);
	CHECK_EQ(ctor_status, 0);
	CHECK(owner(ctor_kept));
	CHECK_FILL(ctor_kept, ctor_kept_size, 101);
	free(ctor_kept);
	/* The needed library's constructor ran first of all. */
	CHECK_EQ(early_dep_status(), 0);
	char *s = early_dep_kept();
	CHECK(s);
	CHECK(owner(s));
	CHECK(!strcmp(s, "allocated by early_dep's constructor"));
	free(s);
}

/* ---- dlopen of system libraries ---- */

static void t_dlopen_libm(void)
{
	for (int i = 0; i < 20; i++) {
		void *h = dlopen("libm.so.6", RTLD_NOW | (i % 2 ? RTLD_GLOBAL : RTLD_LOCAL));
		CHECK(h);
		double (*cosp)(double) = (double (*)(double))dlsym(h, "cos");
		CHECK(cosp);
		CHECK(cosp(0.0) == 1.0);
		void *p = malloc((size_t)i * 1000 + 1);
		CHECK(p && owner(p));
		CHECK_EQ(dlclose(h), 0);
		free(p);
		/* dlerror's message is malloc'd and freed inside libc. */
		CHECK(dlopen("libslabmalloc-test-does-not-exist.so", RTLD_NOW) == NULL);
		const char *e = dlerror();
		CHECK(e && strstr(e, "libslabmalloc-test-does-not-exist.so"));
		CHECK(dlerror() == NULL);
	}
}

/* ---- dynamic TLS of a dlopen'ed module ---- */

struct tls_api {
	void *(*ctor_ptr)(void);
	void *(*block)(void);
	size_t (*touch)(uint64_t);
};

static struct tls_api api;
static pthread_barrier_t opened; /* the early thread waits for the dlopen */

struct tls_job {
	uint64_t seed;
	void *block; /* this thread's TLS block */
	int rounds;
	int wait_for_open;
};

static void *tls_thread(void *arg)
{
	struct tls_job *j = arg;
	if (j->wait_for_open)
		pthread_barrier_wait(&opened);
	for (int r = 0; r < j->rounds; r++) {
		/* Allocate around the TLS accesses, in the same thread. */
		void *p = malloc(1000 + (size_t)r);
		CHECK(p);
		size_t bad = api.touch(j->seed + (uint64_t)r);
		if (bad) {
			fprintf(stderr, "thread %llu: TLS array wrong at offset %zu\n",
				(unsigned long long)j->seed, bad - 1);
			exit(1);
		}
		free(p);
	}
	j->block = api.block();
	/* The block was allocated by glibc with malloc: slabmalloc's. */
	CHECK(owner(j->block));
	return NULL;
}

static void t_tls_module(const char *path)
{
	enum { THREADS = 8 };
	for (int cycle = 0; cycle < 3; cycle++) {
		/* A thread that exists before the module is loaded. */
		CHECK(pthread_barrier_init(&opened, NULL, 2) == 0);
		struct tls_job early = { 1000 + (uint64_t)cycle * 100, NULL, 5, 1 };
		pthread_t te;
		CHECK(pthread_create(&te, NULL, tls_thread, &early) == 0);

		void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
		if (!h) {
			fprintf(stderr, "dlopen(%s): %s\n", path, dlerror());
			exit(1);
		}
		api.ctor_ptr = (void *(*)(void))dlsym(h, "tls_module_ctor_ptr");
		api.block = (void *(*)(void))dlsym(h, "tls_module_block");
		api.touch = (size_t (*)(uint64_t))dlsym(h, "tls_module_touch");
		CHECK(api.ctor_ptr && api.block && api.touch);
		void *cp = api.ctor_ptr();
		CHECK(cp);
		CHECK(owner(cp));
		pthread_barrier_wait(&opened);

		struct tls_job jobs[THREADS];
		pthread_t t[THREADS];
		for (int i = 0; i < THREADS; i++) {
			jobs[i] = (struct tls_job){ (uint64_t)cycle * 100 + (uint64_t)i * 10, NULL, 4, 0 };
			CHECK(pthread_create(&t[i], NULL, tls_thread, &jobs[i]) == 0);
		}
		struct tls_job mine = { 5000 + (uint64_t)cycle, NULL, 3, 0 };
		tls_thread(&mine);
		void *blocks[THREADS + 2];
		for (int i = 0; i < THREADS; i++) {
			pthread_join(t[i], NULL);
			blocks[i] = jobs[i].block;
		}
		pthread_join(te, NULL);
		blocks[THREADS] = early.block;
		blocks[THREADS + 1] = mine.block;
		/* One block per thread (threads that ran at once hold different ones). */
		CHECK(mine.block != early.block);
		for (int i = 0; i < THREADS; i++)
			CHECK(blocks[i] && blocks[i] != mine.block);
		pthread_barrier_destroy(&opened);
		CHECK_EQ(dlclose(h), 0);
		/* The allocator is fine after the module and its TLS went away. */
		void *v[300];
		for (int i = 0; i < 300; i++) {
			v[i] = malloc((size_t)i * 50 + 1);
			CHECK(v[i]);
			fill(v[i], (size_t)i * 50 + 1, (uint64_t)i);
		}
		for (int i = 0; i < 300; i++) {
			CHECK_FILL(v[i], (size_t)i * 50 + 1, (uint64_t)i);
			free(v[i]);
		}
	}
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s TLS_MODULE.so\n", argv[0]);
		return 2;
	}
	t_before_main();
	t_dlopen_libm();
	t_tls_module(argv[1]);
	printf("early: constructors, dlopen and dynamic TLS checked (%s)\n",
#ifdef CONF_PRELOAD
	       "LD_PRELOAD"
#else
	       "linked"
#endif
	);
	return 0;
}
