/*
 * fork_in_signal.c - fork() from a signal handler works wherever the signal
 * lands: inside fork() itself, inside malloc or free, inside a slow path
 * (issue 10, item 1: "fork from a signal handler that interrupted fork").
 *
 * One thread.  The main thread loops: malloc, check and free blocks of
 * several sizes (small objects, page runs above 32 KiB, now and then a huge
 * mapping above 32 MiB), then fork() (the child allocates, checks, frees and
 * exits 0; the parent waits for it).  A POSIX timer sends SIGUSR1 every
 * TIMER_US microseconds; the handler mallocs, checks and frees a block
 * (NULL is allowed there: the signal may have landed inside the allocator,
 * where only the nolock path may serve it), and every other time calls
 * fork() itself: that child mallocs and frees and exits 0, the handler's
 * parent waits for it with waitpid (async-signal-safe).  A signal that
 * arrives during the fork system call is delivered when the call is
 * restarted, that is after the pthread_atfork prepare handlers ran: an
 * allocator whose prepare handler takes its locks then waits forever in the
 * nested fork's prepare handler for locks its own thread holds; one that
 * locks in a slow path waits there the same way.
 *
 * The process has exactly one thread on purpose: glibc's own fork() (2.36)
 * takes its atfork lock when the process has more than one thread, and a
 * fork from a handler that interrupted fork() then deadlocks inside glibc
 * whatever the allocator does.  So the test runs with
 * SLABMALLOC_HELPER_THREAD=0 (set by the driver) and checks that the process
 * is still single-threaded at the end.
 *
 * Two rounds, each in a fresh process: default options, and one sheaf slot
 * per cache with purges at every slow path (almost every call takes the
 * allocator's locks).  Checked: every pattern, every child's exit status 0,
 * that the handler forked, and that everything finishes (the driver's time
 * bound turns a deadlock into a failure: HANG).
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

#include "rtest.h"

#define MAIN_FORKS 300
#define TIMER_US 250
/*
 * Forks of the handler per main-loop iteration, besides those that land
 * around the main thread's fork() (always made).  The timer is wall-clock:
 * without a cap, a loaded machine, where every fork is slower, spends
 * nearly all its time in the handler's forks and the main loop hardly
 * moves (both rounds ran 28-30 s next to two busy loops, against their
 * 30 s bound, with 15 or so handler forks an iteration unloaded).
 */
#define HANDLER_FORKS_PER_ITER 8

static volatile sig_atomic_t in_fork, iter_forks;
static volatile unsigned long h_runs, h_forks, h_forks_in_fork, h_nulls;

static __attribute__((noreturn)) void die(const char *what)
{
	rt_say("fork_in_signal: FAILED: ");
	rt_say(what);
	rt_say("\n");
	_exit(1);
}

/* Allocate @n bytes, fill, check, free; 0 if malloc returned NULL. */
static int use_block(size_t n, uint64_t seed, int null_ok)
{
	unsigned char *p = malloc(n);
	if (!p) {
		if (!null_ok)
			die("malloc returned NULL outside a signal handler");
		return 0;
	}
	size_t k = n < 64 * KiB ? n : 64 * KiB; /* huge blocks: the first 64 KiB */
	fill(p, k, seed);
	if (check_fill(p, k, seed) != (size_t)-1)
		die("pattern broken");
	p[n - 1] = 1;
	free(p);
	return 1;
}

static void wait_child(pid_t pid, const char *what)
{
	int st;
	while (waitpid(pid, &st, 0) != pid)
		if (errno != EINTR)
			die("waitpid failed");
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		die(what);
}

static void handler(int sig)
{
	(void)sig;
	int saved = errno;
	unsigned long run = ++h_runs;
	if (!use_block(16 + (run * 40) % 3000, run, 1))
		h_nulls++;
	int landed_in_fork = in_fork;
	if (run % 2 == 0 && (landed_in_fork || iter_forks < HANDLER_FORKS_PER_ITER)) {
		iter_forks++;
		pid_t pid = fork();
		if (pid < 0)
			die("fork in the handler failed");
		if (pid == 0) {
			/* Inside the handler still: NULL is allowed, a broken block is not. */
			use_block(100, 7, 1);
			use_block(40 * KiB, 8, 1);
			_exit(0);
		}
		wait_child(pid, "the child of a fork in the handler did not exit 0");
		h_forks++;
		if (landed_in_fork)
			h_forks_in_fork++;
	}
	errno = saved;
}

static int threads_now(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	CHECK(f);
	char line[256];
	int n = -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Threads: %d", &n) == 1)
			break;
	fclose(f);
	return n;
}

static int case_run(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = handler;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	CHECK(sigaction(SIGUSR1, &sa, NULL) == 0);
	CHECK(threads_now() == 1);

	struct sigevent sev;
	memset(&sev, 0, sizeof(sev));
	sev.sigev_notify = SIGEV_SIGNAL;
	sev.sigev_signo = SIGUSR1;
	timer_t tm;
	CHECK(timer_create(CLOCK_MONOTONIC, &sev, &tm) == 0);
	struct itimerspec its = { { 0, TIMER_US * 1000 }, { 0, TIMER_US * 1000 } };
	CHECK(timer_settime(tm, 0, &its, NULL) == 0);

	uint64_t rs = 1;
	for (unsigned i = 0; i < MAIN_FORKS; i++) {
		iter_forks = 0;
		for (int j = 0; j < 8; j++) {
			uint64_t r = rnd_next(&rs);
			size_t n = r % 8 == 0 ? 33 * KiB + r % (200 * KiB) : 1 + r % 2000;
			use_block(n, r, 0);
		}
		if (i % 100 == 0)
			use_block(40 * MiB, i, 0);
		in_fork = 1;
		pid_t pid = fork();
		in_fork = 0;
		CHECK(pid >= 0);
		if (pid == 0) {
			use_block(64, 1, 0);
			use_block(100 * KiB, 2, 0);
			_exit(0);
		}
		wait_child(pid, "a child of the main loop did not exit 0");
	}
	CHECK(timer_delete(tm) == 0);
	signal(SIGUSR1, SIG_IGN);
	use_block(64, 3, 0);
	printf("fork_in_signal: %u forks in the main loop; handler ran %lu times, forked %lu times "
	       "(%lu of them while the main thread was around fork()), %lu NULL from its mallocs\n",
	       MAIN_FORKS, h_runs, h_forks, h_forks_in_fork, h_nulls);
	int t = threads_now();
	if (t != 1) {
		fprintf(stderr, "fork_in_signal: FAILED: %d threads (a helper thread?): glibc's fork is "
				"not re-entrant in a multi-threaded process, so the test needs one thread\n", t);
		return 1;
	}
	if (!h_forks) {
		fprintf(stderr, "fork_in_signal: FAILED: the handler never forked\n");
		return 1;
	}
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
	static const char *const defaults[] = { "SLABMALLOC_HELPER_THREAD=0", NULL };
	static const char *const slow[] = { "SLABMALLOC_HELPER_THREAD=0", "SLABMALLOC_SHEAF_CAPACITY=1",
					    "SLABMALLOC_BARN_MAX_FULL=0", "SLABMALLOC_BARN_MAX_EMPTY=0",
					    "SLABMALLOC_PURGE_DELAY_MS=0", "SLABMALLOC_SLAB_MAX_EMPTY=0",
					    NULL };
	int failed = 0;
	printf("round 1: default options\n");
	failed += rt_expect_exit0("run", defaults, 60);
	printf("round 2: SLABMALLOC_SHEAF_CAPACITY=1, no barn, purge and release at once\n");
	failed += rt_expect_exit0("run", slow, 60);
	return failed != 0;
}
