/*
 * fault.c - misuse that must fault (issue 13, default mode): a read or a
 * write through what malloc(0), calloc(0, n), realloc(NULL, 0),
 * aligned_alloc(16, 0) or operator new(0) returned is SIGSEGV, never a
 * silent access; free, realloc and malloc_usable_size of those pointers
 * work.  A stale pointer into a freed page run, empty slab or huge
 * mapping faults once the memory is purged (malloc_trim, or
 * SLABMALLOC_PURGE_DELAY_MS=0 with the argument "nodelay").  And the
 * library gives a C program no C++ runtime: libstdc++ is
 * not among the mappings, and operator new/delete (called by their
 * mangled names) work without it; new of an impossible size prints why
 * and aborts, since nothing can throw std::bad_alloc.
 *
 * Without arguments it is the driver: each case runs in a child (fork, so
 * with the same library) whose stderr is a pipe; the driver checks how it
 * died and what it printed.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ptest.h"

static void *sink_ptr;
static volatile char sink;

static void *(*new_fn)(size_t);
static void (*delete_sized)(void *, size_t);

/* The pointers that must fault, by case name. */
static char *zero_ptr(const char *how)
{
	if (!strcmp(how, "malloc0"))
		return malloc(0);
	if (!strcmp(how, "calloc0"))
		return calloc(0, 16);
	if (!strcmp(how, "realloc0"))
		return realloc(NULL, 0);
	if (!strcmp(how, "aligned0"))
		return aligned_alloc(16, 0);
	if (!strcmp(how, "new0"))
		return new_fn(0);
	return NULL;
}

/* @how's pointer, checked to be usable as an allocation, then read or written. */
static int case_fault(const char *how, int write)
{
	char *p = zero_ptr(how), *q = zero_ptr(how);
	CHECK(p && q && p != q);
	CHECK_EQ(malloc_usable_size(p), 0);
	CHECK_EQ((uintptr_t)p % 16, 0);
	free(q);
	char *r = realloc(zero_ptr(how), 32); /* grows into a real object */
	CHECK(r);
	memset(r, 1, 32);
	free(r);
	CHECK(realloc(zero_ptr(how), 0) == NULL); /* frees it, as glibc */
	sink_ptr = p;
	fprintf(stderr, "ACCESS\n");
	if (write)
		p[0] = 1;
	else
		sink = p[0];
	fprintf(stderr, "NOFAULT\n");
	return 0;
}

/*
 * A stale pointer into freed memory once it is purged (issue 13): a page
 * run (malloc_trim purges at once; with SLABMALLOC_PURGE_DELAY_MS=0 the
 * free itself does), the pages of empty slabs, a huge mapping (unmapped at
 * once).
 */
static int case_stale(const char *what)
{
	char *p;
	if (!strcmp(what, "run_trim") || !strcmp(what, "run_nodelay")) {
		p = malloc(100 * 1024);
		CHECK(p);
		memset(p, 1, 100 * 1024);
		free(p);
		if (!strcmp(what, "run_trim"))
			malloc_trim(0);
		p += 50 * 1024;
	} else if (!strcmp(what, "slab_trim")) {
		enum { N = 256 }; /* whole slabs of kmalloc-2048 */
		static char *v[N];
		for (int i = 0; i < N; i++) {
			CHECK((v[i] = malloc(2000)));
			memset(v[i], 1, 2000);
		}
		for (int i = 0; i < N; i++)
			free(v[i]);
		malloc_trim(0); /* every sheaf flushed, every empty slab purged */
		p = v[N / 2];
	} else if (!strcmp(what, "huge")) {
		p = malloc(40 << 20);
		CHECK(p);
		p[0] = 1;
		free(p);
	} else {
		fprintf(stderr, "unknown stale case %s\n", what);
		return 2;
	}
	fprintf(stderr, "ACCESS\n");
	p[0] = 2;
	fprintf(stderr, "NOFAULT\n");
	return 0;
}

static int case_no_cxx(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	CHECK(f);
	char line[4096];
	int libc = 0;
	while (fgets(line, sizeof(line), f)) {
		CHECK(!strstr(line, "libstdc++") && !strstr(line, "libc++"));
		libc |= strstr(line, "libc.so") != NULL;
	}
	fclose(f);
	CHECK(libc);
	void *p = new_fn(100);
	CHECK(p);
	memset(p, 1, 100);
	delete_sized(p, 100);
	fprintf(stderr, "NOCXX OK\n");
	return 0;
}

static int case_new_fails(void)
{
	new_fn((size_t)1 << 62); /* no C++ runtime to throw std::bad_alloc: abort */
	fprintf(stderr, "RETURNED\n");
	return 0;
}

static int run(const char *name)
{
	if (!strcmp(name, "no_cxx"))
		return case_no_cxx();
	if (!strcmp(name, "new_fails"))
		return case_new_fails();
	if (!strncmp(name, "stale_", 6))
		return case_stale(name + 6);
	static const char *const hows[] = { "malloc0", "calloc0", "realloc0", "aligned0", "new0" };
	for (size_t i = 0; i < sizeof(hows) / sizeof(hows[0]); i++) {
		size_t n = strlen(hows[i]);
		if (!strncmp(name, hows[i], n) && !strcmp(name + n, "_read"))
			return case_fault(hows[i], 0);
		if (!strncmp(name, hows[i], n) && !strcmp(name + n, "_write"))
			return case_fault(hows[i], 1);
	}
	fprintf(stderr, "unknown case %s\n", name);
	return 2;
}

/* Run @name in a child; its status and stderr. */
static int spawn(const char *name, char *err, size_t cap)
{
	int fd[2];
	CHECK(pipe(fd) == 0);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		dup2(fd[1], 2);
		close(fd[0]);
		alarm(30);
		_exit(run(name));
	}
	close(fd[1]);
	size_t len = 0;
	ssize_t n;
	while ((n = read(fd[0], err + len, cap - 1 - len)) > 0)
		len += (size_t)n;
	err[len] = '\0';
	close(fd[0]);
	int st;
	CHECK(waitpid(pid, &st, 0) == pid);
	return st;
}

static int expect_fault(const char *name)
{
	static char err[8192];
	int st = spawn(name, err, sizeof(err));
	int ok = WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV && !strcmp(err, "ACCESS\n");
	printf("%s %-16s %s\n", ok ? "PASS" : "FAIL", name, ok ? "SIGSEGV" : err);
	return !ok;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 2 && !strcmp(argv[1], "nodelay")) /* SLABMALLOC_PURGE_DELAY_MS=0 */
		return expect_fault("stale_run_nodelay");
	new_fn = (void *(*)(size_t))dlsym(RTLD_DEFAULT, "_Znwm");
	delete_sized = (void (*)(void *, size_t))dlsym(RTLD_DEFAULT, "_ZdlPvm");
	CHECK(new_fn && delete_sized && dlsym(RTLD_DEFAULT, "sm_ptr_instance"));
	static const char *const faults[] = {
		"malloc0_read", "malloc0_write", "calloc0_read", "calloc0_write", "realloc0_read",
		"realloc0_write", "aligned0_read", "aligned0_write", "new0_read", "new0_write",
	};
	static char err[8192];
	int failures = 0;
	for (size_t i = 0; i < sizeof(faults) / sizeof(faults[0]); i++)
		failures += expect_fault(faults[i]);
	failures += expect_fault("stale_run_trim");
	failures += expect_fault("stale_slab_trim");
	failures += expect_fault("stale_huge");
	int st = spawn("no_cxx", err, sizeof(err));
	int ok = WIFEXITED(st) && WEXITSTATUS(st) == 0 && !strcmp(err, "NOCXX OK\n");
	printf("%s %-16s %s", ok ? "PASS" : "FAIL", "no_cxx", err);
	failures += !ok;
	st = spawn("new_fails", err, sizeof(err));
	ok = WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT &&
	     !strcmp(err, "slabmalloc: operator new(4611686018427387904, alignment 0): out of memory, "
			  "and no C++ runtime to throw std::bad_alloc\n");
	printf("%s %-16s %s", ok ? "PASS" : "FAIL", "new_fails", err);
	failures += !ok;
	printf("%d failed\n", failures);
	return failures != 0;
}
