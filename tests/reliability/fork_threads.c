/*
 * fork_threads.c - fork from many threads that allocate and free: parent and
 * child both go on working fully (issue 10, item 1: "fork from 8 threads
 * that allocate and free (1,000 forks, each child allocating and freeing and
 * exiting 0)").
 *
 * Before the threads start, the main thread allocates a set of blocks of
 * every kind (small objects, page runs above 32 KiB, a huge mapping above
 * 32 MiB), each with a pattern.  Then 8 threads churn their own tables of
 * blocks (malloc, realloc and free of 1 B..133 KiB, sometimes 33..41 MiB, every
 * block patterned and checked before it is freed or resized) and fork, 125
 * times each, 1,000 forks in all, often while the other threads are inside
 * the allocator.  Each child:
 *   - checks and frees every block of the set the main thread allocated
 *     before the fork (half of them with sm_kfree_nolock), and every block
 *     of the forking thread's table;
 *   - allocates, checks and frees small objects, page runs and a huge
 *     mapping, and a small object and a page run from sm_kmalloc_nolock
 *     (all live at once, so no two may overlap);
 *   - starts a thread that does the same, and joins it;
 *   - exits 0 (any other status, or a signal, fails the test).
 * The parent waits for each child.  At the end every thread checks and frees
 * its table and the main thread frees the set.  The driver's time bound
 * turns a deadlock (in the parent or in a child) into a failure: HANG.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <sys/wait.h>

#include "rtest.h"
#include "slabmalloc.h" /* the nolock API, used by the children */

#define THREADS 8
#define FORKS_PER_THREAD 125
#define OPS_BETWEEN_FORKS 40
#define TABLE 64
#define SET 24

struct blk {
	unsigned char *p;
	size_t n;
	uint64_t seed;
};

/* Blocks above 1 MiB carry their pattern in the first and last 64 KiB only. */
#define EDGE (64 * KiB)

static void blk_fill(struct blk *b)
{
	if (b->n <= 2 * EDGE) {
		fill(b->p, b->n, b->seed);
	} else {
		fill(b->p, EDGE, b->seed);
		fill(b->p + b->n - EDGE, EDGE, b->seed + 1);
	}
}

/* 0 if the pattern of @b is intact. */
static int blk_bad(const struct blk *b)
{
	if (b->n <= 2 * EDGE)
		return check_fill(b->p, b->n, b->seed) != (size_t)-1;
	return check_fill(b->p, EDGE, b->seed) != (size_t)-1 ||
	       check_fill(b->p + b->n - EDGE, EDGE, b->seed + 1) != (size_t)-1;
}

static size_t pick_size(uint64_t r)
{
	switch (r % 128) {
	case 0:
		return 33 * MiB + (r >> 8) % (8 * MiB); /* huge */
	case 1: case 2: case 3: case 4: case 5: case 6: case 7: case 8:
		return 33 * KiB + (r >> 8) % (100 * KiB); /* page runs */
	default:
		return 1 + (r >> 8) % 3000;
	}
}

static struct blk set[SET];

static __attribute__((noreturn)) void child_fail(const char *what, const void *p)
{
	fprintf(stderr, "fork_threads: child %d: %s (%p)\n", (int)getpid(), what, p);
	_exit(1);
}

/* Allocate one block of each kind at once, check, free; in a child. */
static void child_alloc_round(uint64_t seed)
{
	static const size_t sizes[] = { 8, 24, 100, 500, 1000, 4000, 20000, 32 * KiB, 40 * KiB,
					100 * KiB, 1 * MiB, 40 * MiB, 1, 16, 64, 3000 };
	enum { NM = sizeof(sizes) / sizeof(sizes[0]), N = NM + 2 };
	struct blk b[N];
	void *ptrs[N];
	for (int i = 0; i < N; i++) {
		b[i].n = i < NM ? sizes[i] : i == NM ? 200 : 50 * KiB;
		b[i].seed = seed * 100 + (uint64_t)i;
		/* The last two from the nolock API: nothing is contended in the
		   child, so it has no reason to fail. */
		b[i].p = i < NM ? malloc(b[i].n) : sm_kmalloc_nolock(sm_default_instance(), b[i].n, 0,
								      SM_NO_NODE);
		if (!b[i].p)
			child_fail("malloc returned NULL", NULL);
		ptrs[i] = b[i].p;
		blk_fill(&b[i]);
	}
	for (int i = 0; i < N; i++)
		if (blk_bad(&b[i]))
			child_fail("pattern of a new block broken (blocks overlap?)", b[i].p);
	if (!all_distinct(ptrs, N))
		child_fail("the same pointer handed out twice", NULL);
	for (int i = 0; i < N; i++)
		free(b[i].p);
}

static void *child_thread(void *arg)
{
	uint64_t seed = (uintptr_t)arg;
	child_alloc_round(seed);
	return NULL;
}

static void child(struct blk *table)
{
	for (int i = 0; i < SET; i++) {
		if (blk_bad(&set[i]))
			child_fail("pattern of a block allocated before the fork broken", set[i].p);
		if (i % 2)
			sm_kfree_nolock(set[i].p);
		else
			free(set[i].p);
	}
	for (int i = 0; i < TABLE; i++)
		if (table[i].p) {
			if (blk_bad(&table[i]))
				child_fail("pattern of the forking thread's block broken", table[i].p);
			free(table[i].p);
		}
	child_alloc_round(1);
	pthread_t t;
	if (pthread_create(&t, NULL, child_thread, (void *)(uintptr_t)1000) != 0)
		child_fail("pthread_create failed", NULL);
	if (pthread_join(t, NULL) != 0)
		child_fail("pthread_join failed", NULL);
	_exit(0);
}

static atomic_ulong forks_done;

static void *worker(void *arg)
{
	unsigned id = (unsigned)(uintptr_t)arg;
	struct blk table[TABLE];
	memset(table, 0, sizeof(table));
	uint64_t rs = id * 7919u + 1;
	for (int f = 0; f < FORKS_PER_THREAD; f++) {
		for (int op = 0; op < OPS_BETWEEN_FORKS; op++) {
			uint64_t r = rnd_next(&rs);
			struct blk *b = &table[r % TABLE];
			if (b->p) {
				if (blk_bad(b)) {
					fprintf(stderr, "fork_threads: thread %u: pattern of %p broken\n", id,
						(void *)b->p);
					exit(1);
				}
				if ((r >> 32) % 4 == 0 && b->n <= 2 * EDGE) {
					/* realloc keeps the prefix; refill the rest */
					size_t n = pick_size(rnd_next(&rs));
					unsigned char *q = realloc(b->p, n);
					CHECK(q);
					size_t keep = n < b->n ? n : b->n;
					CHECK_FILL(q, keep, b->seed);
					b->p = q;
					b->n = n;
					blk_fill(b);
					continue;
				}
				free(b->p);
				b->p = NULL;
				continue;
			}
			b->n = pick_size(r >> 8);
			b->seed = r;
			b->p = malloc(b->n);
			CHECK(b->p);
			blk_fill(b);
		}
		pid_t pid = fork();
		CHECK(pid >= 0);
		if (pid == 0)
			child(table);
		int st;
		CHECK(waitpid(pid, &st, 0) == pid);
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			fprintf(stderr, "fork_threads: thread %u, fork %d: child %s %d\n", id, f,
				WIFSIGNALED(st) ? "killed by signal" : "exit status",
				WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
			exit(1);
		}
		atomic_fetch_add(&forks_done, 1);
	}
	for (int i = 0; i < TABLE; i++)
		if (table[i].p) {
			CHECK(!blk_bad(&table[i]));
			free(table[i].p);
		}
	return NULL;
}

static int case_run(void)
{
	uint64_t rs = 99;
	for (int i = 0; i < SET; i++) {
		set[i].n = i == 0 ? 40 * MiB : pick_size(rnd_next(&rs) | 7); /* | 7: never huge by chance */
		set[i].seed = 5000 + (uint64_t)i;
		set[i].p = malloc(set[i].n);
		CHECK(set[i].p);
		blk_fill(&set[i]);
	}
	pthread_t t[THREADS];
	for (unsigned i = 0; i < THREADS; i++)
		t[i] = spawn_thread(worker, (void *)(uintptr_t)i);
	for (unsigned i = 0; i < THREADS; i++)
		CHECK(pthread_join(t[i], NULL) == 0);
	for (int i = 0; i < SET; i++) {
		CHECK(!blk_bad(&set[i]));
		free(set[i].p);
	}
	printf("fork_threads: %lu forks from %d threads, every child exited 0\n", atomic_load(&forks_done),
	       THREADS);
	CHECK_EQ(atomic_load(&forks_done), THREADS * FORKS_PER_THREAD);
	return 0;
}

static const struct rt_case cases[] = {
	{ "run", case_run },
};

int main(int argc, char **argv)
{
	int r = rt_case_main(argc, argv, cases, sizeof(cases) / sizeof(cases[0]));
	if (r >= 0)
		return r;
	return rt_expect_exit0("run", NULL, 60);
}
