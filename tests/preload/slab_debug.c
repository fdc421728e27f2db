/*
 * slab_debug.c - SLABMALLOC_DEBUG on the default instance (malloc): the
 * program re-executes itself once per case with the variable set, and
 * checks the child's stderr and how it ended: the SLUB-style report and
 * abort(), SLABMALLOC_ON_ERROR=report going on, one cache named (the
 * others unchecked), and the words that refuse a bad value.
 * Built with -rdynamic: the reports name the child's functions.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #c); \
	exit(1); } } while (0)

void child_overflow(void);
void child_uaf(void);

__attribute__((noinline)) void child_overflow(void)
{
	char *volatile p = malloc(48);
	memset(p, 1, 49); /* one byte into the right red zone */
	free(p);
}

__attribute__((noinline)) void child_uaf(void)
{
	char *volatile p = malloc(100); /* kmalloc-112 */
	free(p);
	p[5] = 9;
	char *volatile q = malloc(100);
	free(q);
}

struct result {
	int status;
	char err[16384];
};

static void run(const char *self, const char *what, const char *const env[], struct result *r)
{
	int fds[2];
	CHECK(pipe(fds) == 0);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		dup2(fds[1], 2);
		close(fds[0]);
		for (int i = 0; env[i]; i += 2)
			setenv(env[i], env[i + 1], 1);
		execl(self, self, what, (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	size_t n = 0;
	ssize_t k;
	while (n < sizeof(r->err) - 1 && (k = read(fds[0], r->err + n, sizeof(r->err) - 1 - n)) > 0)
		n += (size_t)k;
	r->err[n] = 0;
	close(fds[0]);
	CHECK(waitpid(pid, &r->status, 0) == pid);
}

static void expect(const struct result *r, const char *s)
{
	if (!strstr(r->err, s)) {
		fprintf(stderr, "expected \"%s\" in the child's stderr:\n%s\n", s, r->err);
		exit(1);
	}
}

int main(int argc, char **argv)
{
	if (argc > 1) {
		if (!strcmp(argv[1], "overflow"))
			child_overflow();
		else if (!strcmp(argv[1], "uaf"))
			child_uaf();
		return 0;
	}
	const char *self = "/proc/self/exe";
	struct result r;

	const char *const fzpu[] = { "SLABMALLOC_DEBUG", "FZPU", NULL };
	run(self, "overflow", fzpu, &r);
	CHECK(WIFSIGNALED(r.status) && WTERMSIG(r.status) == SIGABRT);
	expect(&r, "slabmalloc: BUG kmalloc-48: Redzone overwritten\n");
	expect(&r, " (48 bytes): first byte 0x01 instead of 0xcc at offset 48 (");
	expect(&r, "\nallocated by child_overflow+0x");
	expect(&r, "\nfreed by (never)\nobject left alone: not freed\n");

	const char *const report[] = { "SLABMALLOC_DEBUG", "FZPU", "SLABMALLOC_ON_ERROR", "report", NULL };
	run(self, "overflow", report, &r);
	CHECK(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0);
	expect(&r, "slabmalloc: BUG kmalloc-48: Redzone overwritten\n");
	expect(&r, "\nobject left alone: not freed (ignored: SLABMALLOC_ON_ERROR=report)\n");

	run(self, "uaf", report, &r);
	CHECK(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0);
	expect(&r, "slabmalloc: BUG kmalloc-112: Poison overwritten\n");
	expect(&r, " (112 bytes): first byte 0x09 instead of 0x6b at offset 5 (");
	expect(&r, "\nallocated by child_uaf+0x");
	expect(&r, "\nfreed by child_uaf+0x");
	expect(&r, "\nobject leaked: never handed out (ignored: SLABMALLOC_ON_ERROR=report)\n");

	/* One cache named: kmalloc-48 is not checked. */
	const char *const one[] = { "SLABMALLOC_DEBUG", "FZPU,kmalloc-64", NULL };
	run(self, "overflow", one, &r);
	CHECK(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0);
	CHECK(!strstr(r.err, "BUG"));

	const char *const letter[] = { "SLABMALLOC_DEBUG", "FZQ", NULL };
	run(self, "none", letter, &r);
	CHECK(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0);
	expect(&r, "slabmalloc: ignoring SLABMALLOC_DEBUG=FZQ: 'Q' is not a flag letter; allowed values: ");
	const char *const cache[] = { "SLABMALLOC_DEBUG", "FZ,kmalloc-65", NULL };
	run(self, "none", cache, &r);
	expect(&r, "slabmalloc: ignoring SLABMALLOC_DEBUG=FZ,kmalloc-65: no cache 'kmalloc-65': the kmalloc "
		   "caches are kmalloc-8 to kmalloc-32768");
	const char *const off[] = { "SLABMALLOC_DEBUG", "-", NULL };
	run(self, "overflow", off, &r);
	CHECK(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0 && !r.err[0]);

	printf("slab_debug: all checks passed\n");
	return 0;
}
