/*
 * rtest.h - the driver shared by the reliability tests (tests/reliability/,
 * issue 10: never hang, never hand an object out twice).
 *
 * Each test program is its own driver: without arguments it runs every case
 * of the program as "<program> case <name>" in a fresh process (fork + exec
 * of itself, so every case starts from a fresh allocator that read the
 * environment the driver gave it), in a process group of its own, with its
 * stderr (and, if asked, fd 3) captured.  A case that has not finished within
 * its time bound is a hang: the driver says so and kills the whole group (the
 * case and every process it forked) with SIGKILL.  The bound only turns a
 * deadlock into a failure; a case that works takes a small fraction of it,
 * even on a loaded machine.
 *
 * Nothing here names an sm_* symbol: a program linked against libc only can
 * include it too.  ptest.h brings the CHECK macros and the patterns.
 */
#ifndef SM_RTEST_H
#define SM_RTEST_H

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ptest.h"

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)
#define GiB ((size_t)1 << 30)
#define TiB ((size_t)1 << 40)

/* fd on which a case may send lines to its driver (rt_ctl). */
#define RT_CTL_FD 3

struct rt_case {
	const char *name;
	int (*fn)(void);
};

struct rt_outcome {
	int status;      /* from waitpid */
	int hung;        /* killed by the driver when the time bound ran out */
	double seconds;  /* how long it ran (printed, never asserted) */
	char err[1 << 16], ctl[1 << 12];
	size_t nerr, nctl;
};

static inline double rt_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* A line to the driver on RT_CTL_FD (write(2) only: usable anywhere). */
static inline void rt_ctl(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(buf) - 2)
		n = (int)sizeof(buf) - 2;
	buf[n++] = '\n';
	ssize_t r = write(RT_CTL_FD, buf, (size_t)n);
	(void)r;
}

/* Async-signal-safe: write @s to stderr. */
static inline void rt_say(const char *s)
{
	ssize_t r = write(2, s, strlen(s));
	(void)r;
}

static inline void rt_append(int fd, char *buf, size_t cap, size_t *len, int *open_)
{
	char tmp[4096];
	ssize_t n = read(fd, tmp, sizeof(tmp));
	if (n < 0 && errno == EINTR)
		return;
	if (n <= 0) {
		*open_ = 0;
		return;
	}
	size_t k = (size_t)n;
	if (*len + k > cap - 1)
		k = cap - 1 - *len;
	memcpy(buf + *len, tmp, k);
	*len += k;
	buf[*len] = '\0';
}

static inline const char *rt_self(void)
{
	static char self[4096];
	if (!self[0]) {
		ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
		CHECK(n > 0);
		self[n] = '\0';
	}
	return self;
}

/*
 * Run "<self> case @name" with the "NAME=value" strings of @env (NULL-ended,
 * or NULL) added to the environment, at most @timeout_s seconds.  @rlimit_as,
 * if not 0, is set as RLIMIT_AS before the exec (so it holds from the
 * process's first instruction, the allocator's set-up included).
 */
static inline void rt_run_limited(const char *name, const char *const *env, unsigned timeout_s,
				  size_t rlimit_as, struct rt_outcome *o)
{
	int ep[2], cp[2];
	CHECK(pipe2(ep, O_CLOEXEC) == 0 && pipe2(cp, O_CLOEXEC) == 0);
	const char *self = rt_self();
	fflush(stdout);
	fflush(stderr);
	double start = rt_now();
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		setpgid(0, 0);
		dup2(ep[1], 2);
		if (cp[1] == RT_CTL_FD)
			fcntl(RT_CTL_FD, F_SETFD, 0);
		else
			dup2(cp[1], RT_CTL_FD);
		for (const char *const *e = env; e && *e; e++)
			putenv((char *)*e);
		if (rlimit_as) {
			struct rlimit rl = { rlimit_as, rlimit_as };
			if (setrlimit(RLIMIT_AS, &rl)) {
				perror("setrlimit");
				_exit(126);
			}
		}
		execl(self, self, "case", name, (char *)NULL);
		_exit(127);
	}
	setpgid(pid, pid); /* also done by the child: whichever runs first */
	close(ep[1]);
	close(cp[1]);
	o->status = 0;
	o->hung = 0;
	o->nerr = o->nctl = 0;
	o->err[0] = o->ctl[0] = '\0';
	double deadline = start + timeout_s;
	int eo = 1, co = 1, reaped = 0;
	while (!reaped) {
		double left = deadline - rt_now();
		if (left <= 0) {
			o->hung = 1;
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			CHECK(waitpid(pid, &o->status, 0) == pid);
			break;
		}
		if (eo || co) {
			struct pollfd pf[2] = { { eo ? ep[0] : -1, POLLIN, 0 }, { co ? cp[0] : -1, POLLIN, 0 } };
			int ms = left > 0.1 ? 100 : 1 + (int)(left * 1000);
			int r = poll(pf, 2, ms);
			if (r < 0 && errno != EINTR)
				CHECK(!"poll");
			if (r > 0 && pf[0].revents)
				rt_append(ep[0], o->err, sizeof(o->err), &o->nerr, &eo);
			if (r > 0 && pf[1].revents)
				rt_append(cp[0], o->ctl, sizeof(o->ctl), &o->nctl, &co);
		} else {
			struct timespec ts = { 0, 10 * 1000 * 1000 };
			nanosleep(&ts, NULL);
		}
		pid_t w = waitpid(pid, &o->status, WNOHANG);
		CHECK(w >= 0);
		if (w == pid)
			reaped = 1;
	}
	/* What the case said after it was reaped (its forked children may
	   still hold the pipes: read what is there, do not wait for EOF). */
	for (int more = 1; more;) {
		more = 0;
		struct pollfd pf[2] = { { eo ? ep[0] : -1, POLLIN, 0 }, { co ? cp[0] : -1, POLLIN, 0 } };
		if ((eo || co) && poll(pf, 2, 0) > 0) {
			if (pf[0].revents) {
				rt_append(ep[0], o->err, sizeof(o->err), &o->nerr, &eo);
				more = 1;
			}
			if (pf[1].revents) {
				rt_append(cp[0], o->ctl, sizeof(o->ctl), &o->nctl, &co);
				more = 1;
			}
		}
	}
	/* Leftovers of the case (children of fork that hang) go too. */
	kill(-pid, SIGKILL);
	close(ep[0]);
	close(cp[0]);
	o->seconds = rt_now() - start;
}

static inline void rt_run(const char *name, const char *const *env, unsigned timeout_s,
			  struct rt_outcome *o)
{
	rt_run_limited(name, env, timeout_s, 0, o);
}

static inline const char *rt_describe(const struct rt_outcome *o, char *buf, size_t n)
{
	if (o->hung)
		snprintf(buf, n, "HANG: not finished within its time bound (killed; a deadlock)");
	else if (WIFEXITED(o->status))
		snprintf(buf, n, "exit %d", WEXITSTATUS(o->status));
	else if (WIFSIGNALED(o->status))
		snprintf(buf, n, "killed by signal %d (%s)", WTERMSIG(o->status), strsignal(WTERMSIG(o->status)));
	else
		snprintf(buf, n, "status 0x%x", o->status);
	return buf;
}

static inline int rt_exit0(const struct rt_outcome *o)
{
	return !o->hung && WIFEXITED(o->status) && WEXITSTATUS(o->status) == 0;
}

static inline int rt_signaled(const struct rt_outcome *o, int sig)
{
	return !o->hung && WIFSIGNALED(o->status) && WTERMSIG(o->status) == sig;
}

/* Print PASS or FAIL for @name with the outcome; @why NULL means pass.  Returns 0 or 1. */
static inline int rt_verdict(const char *name, const char *why, const struct rt_outcome *o)
{
	char how[160];
	rt_describe(o, how, sizeof(how));
	if (!why) {
		printf("PASS %-36s %s (%.1f s)\n", name, how, o->seconds);
		return 0;
	}
	printf("FAIL %-36s %s\n  outcome: %s (%.1f s)\n  stderr:\n%s%s  control:\n%s\n", name, why, how,
	       o->seconds, o->err, o->nerr && o->err[o->nerr - 1] != '\n' ? "\n" : "", o->ctl);
	return 1;
}

/* Run @name and require exit status 0 within @timeout_s seconds. */
static inline int rt_expect_exit0(const char *name, const char *const *env, unsigned timeout_s)
{
	static struct rt_outcome o;
	rt_run(name, env, timeout_s, &o);
	return rt_verdict(name, rt_exit0(&o) ? NULL : "expected exit status 0", &o);
}

/*
 * The case role: "<prog> case NAME" runs the case of @cases called NAME and
 * returns its status; anything else returns -1 (the runner role).  Either
 * way stdout is line-buffered first, so that a child's lines and its
 * runner's interleave in order.
 */
static inline int rt_case_main(int argc, char **argv, const struct rt_case *cases, size_t n)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc != 3 || strcmp(argv[1], "case"))
		return -1;
	for (size_t i = 0; i < n; i++)
		if (!strcmp(cases[i].name, argv[2]))
			return cases[i].fn();
	fprintf(stderr, "unknown case %s\n", argv[2]);
	return 2;
}

#endif /* SM_RTEST_H */
