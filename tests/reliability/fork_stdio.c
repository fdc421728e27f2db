/*
 * fork_stdio.c - fork() next to stdio never deadlocks (issue 10, item 1:
 * "fork next to stdio").
 *
 * The main thread forks in a loop (each child allocates and frees a small
 * object and a page run, then _exit(0); the parent waits for it) while one
 * thread calls fflush(NULL) in a loop and another reads lines with getline()
 * from a file of long lines (up to 40 KiB), starting each line with an
 * empty buffer, so that getline's reallocs keep taking the allocator's slow
 * paths (page runs) while getline holds its FILE's lock.
 *
 * An allocator whose pthread_atfork prepare handler takes its own locks
 * deadlocks here: the forking thread holds the allocator's locks and waits in
 * glibc's fork for stdio's list lock; the flusher holds the list lock and
 * waits for the reader's FILE lock; the reader holds that FILE lock and waits
 * in realloc for an allocator lock.  (glibc's own malloc takes its locks
 * inside fork, after stdio's; an interposed allocator cannot.)
 *
 * Checked: every fork succeeds and every child exits 0; every line read has
 * its length and its contents (what realloc kept); and all of it finishes:
 * the driver (rtest.h) runs the scenario in a fresh process with a time
 * bound, and a deadlock is reported as a HANG.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/wait.h>

#include "rtest.h"

#define FORKS 300
#define NLINES 48
#define READERS 1

static atomic_int stop;
static atomic_ulong lines_read, flushes;

static size_t line_len(unsigned i)
{
	/* 1 B .. 40 KiB: the longer ones end as page runs (above 32 KiB). */
	return 1 + ((size_t)i * 40503u) % (40 * KiB);
}

static char line_char(unsigned i, size_t k)
{
	return (char)('a' + (i + k / 4096) % 26);
}

static FILE *make_file(void)
{
	FILE *f = tmpfile();
	CHECK(f);
	static char buf[48 * 1024];
	for (unsigned i = 0; i < NLINES; i++) {
		size_t n = line_len(i);
		for (size_t k = 0; k < n; k++)
			buf[k] = line_char(i, k);
		buf[n] = '\n';
		CHECK(fwrite(buf, 1, n + 1, f) == n + 1);
	}
	CHECK(fflush(f) == 0);
	rewind(f);
	return f;
}

static void *reader(void *arg)
{
	FILE *f = arg;
	unsigned i = 0;
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		char *line = NULL; /* a fresh buffer: getline mallocs and reallocs it */
		size_t cap = 0;
		ssize_t n = getline(&line, &cap, f);
		if (n < 0) {
			CHECK(feof(f));
			free(line);
			rewind(f);
			i = 0;
			continue;
		}
		size_t want = line_len(i);
		if ((size_t)n != want + 1 || line[want] != '\n') {
			fprintf(stderr, "line %u: length %zd, expected %zu\n", i, n, want + 1);
			exit(1);
		}
		for (size_t k = 0; k < want; k += 997)
			if (line[k] != line_char(i, k)) {
				fprintf(stderr, "line %u: byte %zu is %d, expected %d\n", i, k, line[k],
					line_char(i, k));
				exit(1);
			}
		free(line);
		i++;
		atomic_fetch_add_explicit(&lines_read, 1, memory_order_relaxed);
	}
	return NULL;
}

static void *flusher(void *arg)
{
	(void)arg;
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		CHECK(fflush(NULL) == 0);
		atomic_fetch_add_explicit(&flushes, 1, memory_order_relaxed);
		sched_yield(); /* pacing only: lets the forker at stdio's list lock */
	}
	return NULL;
}

static int case_run(void)
{
	FILE *f[READERS];
	pthread_t r[READERS];
	for (int i = 0; i < READERS; i++) {
		f[i] = make_file();
		r[i] = spawn_thread(reader, f[i]);
	}
	pthread_t fl = spawn_thread(flusher, NULL);
	for (int i = 0; i < FORKS; i++) {
		pid_t pid = fork();
		CHECK(pid >= 0);
		if (pid == 0) {
			void *a = malloc(48), *b = malloc(100 * KiB);
			if (!a || !b)
				_exit(3);
			memset(b, 1, 100 * KiB);
			free(a);
			free(b);
			_exit(0);
		}
		int st;
		CHECK(waitpid(pid, &st, 0) == pid);
		if (!WIFEXITED(st) || WEXITSTATUS(st)) {
			fprintf(stderr, "fork %d: child status 0x%x\n", i, st);
			return 1;
		}
	}
	atomic_store(&stop, 1);
	for (int i = 0; i < READERS; i++) {
		CHECK(pthread_join(r[i], NULL) == 0);
		fclose(f[i]);
	}
	CHECK(pthread_join(fl, NULL) == 0);
	printf("fork_stdio: %d forks, %lu lines read, %lu fflush(NULL) calls\n", FORKS,
	       atomic_load(&lines_read), atomic_load(&flushes));
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
	return rt_expect_exit0("run", NULL, 30);
}
