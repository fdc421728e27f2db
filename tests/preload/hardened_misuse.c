/*
 * hardened_misuse.c - hardened mode's findings through the drop-in
 * (SLABMALLOC_HARDEN=1 or libslabmalloc-hardened.so preloaded): each case
 * runs in a child whose stderr is a pipe; the child must die of SIGABRT
 * (SLABMALLOC_ON_ERROR's default) after printing exactly the expected
 * line, which names the address, the cache, the size and the offset.
 *   overflow1  a 1-byte overflow of malloc(24), found by free
 *   overflow8  an 8-byte overflow of malloc(100), found by free
 *   strcpy     strcpy's terminating zero one past malloc(10)
 *   uaf        a write into a freed malloc(128) at offset 64, found when
 *              the object is handed out again (malloc_trim empties the
 *              quarantine first)
 *   double     a second free of an object that sits in the quarantine
 *   ok_sized   (must exit 0 with nothing on stderr) free_sized and
 *              free_aligned_sized with the sizes asked for, every size up
 *              to 40,000 bytes: the size rule follows the size asked for,
 *              not the padded slot
 * Expected cache names follow the padding: 24 + 8 bytes -> kmalloc-32,
 * 100 + 8 -> kmalloc-112, 10 + 8 -> kmalloc-32, 128 + 8 -> kmalloc-160,
 * 64 + 8 -> kmalloc-80.
 */
#define _GNU_SOURCE
/* The overflows are the point. */
#pragma GCC diagnostic ignored "-Warray-bounds"
#pragma GCC diagnostic ignored "-Wstringop-overflow"
#include <dlfcn.h>
#include <malloc.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char expect[256];

static void run_case(const char *name, int fd)
{
	char *p;
	if (!strcmp(name, "overflow1")) {
		p = malloc(24);
		__asm__ volatile("" : "+r"(p));
		snprintf(expect, sizeof(expect), "slabmalloc: free of %p: 24-byte object of cache "
			 "kmalloc-32 overflowed: canary overwritten at its end + 0\n", (void *)p);
		(void)!write(fd, expect, strlen(expect));
		p[24] = 'x';
		free(p);
	} else if (!strcmp(name, "overflow8")) {
		p = malloc(100);
		__asm__ volatile("" : "+r"(p));
		snprintf(expect, sizeof(expect), "slabmalloc: free of %p: 100-byte object of cache "
			 "kmalloc-112 overflowed: canary overwritten at its end + 0\n", (void *)p);
		(void)!write(fd, expect, strlen(expect));
		memset(p + 100, 'A', 8);
		free(p);
	} else if (!strcmp(name, "strcpy")) {
		p = malloc(10);
		__asm__ volatile("" : "+r"(p));
		snprintf(expect, sizeof(expect), "slabmalloc: free of %p: 10-byte object of cache "
			 "kmalloc-32 overflowed: canary overwritten at its end + 0\n", (void *)p);
		(void)!write(fd, expect, strlen(expect));
		memcpy(p, "0123456789", 11);
		free(p);
	} else if (!strcmp(name, "uaf")) {
		char *keep = malloc(128); /* keeps the slab from going empty */
		p = malloc(128);
		__asm__ volatile("" : "+r"(p));
		snprintf(expect, sizeof(expect), "slabmalloc: write after free of %p: 160-byte object "
			 "of cache kmalloc-160 modified at offset 64 (found on reuse)\n", (void *)p);
		(void)!write(fd, expect, strlen(expect));
		free(p);
		p[64] = 1;
		malloc_trim(0);
		for (int i = 0; i < 100000; i++)
			(void)!malloc(128);
		free(keep);
	} else if (!strcmp(name, "double")) {
		p = malloc(64);
		__asm__ volatile("" : "+r"(p));
		snprintf(expect, sizeof(expect), "slabmalloc: double free of %p in cache kmalloc-80\n",
			 (void *)p);
		(void)!write(fd, expect, strlen(expect));
		free(p);
		free(p);
	} else if (!strcmp(name, "ok_sized")) {
		void (*fs)(void *, size_t) = (void (*)(void *, size_t))dlsym(RTLD_DEFAULT, "free_sized");
		void (*fas)(void *, size_t, size_t) =
			(void (*)(void *, size_t, size_t))dlsym(RTLD_DEFAULT, "free_aligned_sized");
		if (!fs || !fas)
			_exit(3);
		for (size_t n = 1; n <= 40000; n += n < 300 ? 1 : 37) {
			fs(malloc(n), n);
			fas(aligned_alloc(64, n), 64, n);
		}
	}
	_exit(0); /* not caught */
}

int main(void)
{
	static const char *cases[] = { "overflow1", "overflow8", "strcpy", "uaf", "double", "ok_sized" };
	int failed = 0;
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		int err[2], exp[2];
		if (pipe(err) || pipe(exp))
			return 2;
		pid_t pid = fork();
		if (pid == 0) {
			dup2(err[1], 2);
			close(err[0]);
			close(exp[0]);
			run_case(cases[c], exp[1]);
		}
		close(err[1]);
		close(exp[1]);
		char got[1024] = "", want[256] = "";
		ssize_t n, off = 0;
		while (off < (ssize_t)sizeof(got) - 1 && (n = read(err[0], got + off, sizeof(got) - 1 - off)) > 0)
			off += n;
		got[off] = '\0';
		n = read(exp[0], want, sizeof(want) - 1);
		want[n > 0 ? n : 0] = '\0';
		int st;
		waitpid(pid, &st, 0);
		bool ok = !strncmp(cases[c], "ok_", 3)
				  ? WIFEXITED(st) && WEXITSTATUS(st) == 0 && !got[0]
				  : WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT && !strcmp(got, want);
		printf("%s %s\n", ok ? "ok  " : "FAIL", cases[c]);
		if (!ok) {
			printf("  expected: %s  got: %s  status %#x\n", want, got, st);
			failed++;
		}
	}
	return failed ? 1 : 0;
}
