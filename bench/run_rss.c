/*
 * run_rss.c - time a whole program and take its peak RSS, for the
 * "programs" group of bench/compare.
 *
 *   run_rss NAME [-p LIBRARY] -- PROGRAM [ARGS...]
 *
 * Runs PROGRAM (stdout to /dev/null, stderr passed on) with LD_PRELOAD set
 * to LIBRARY for it and everything it starts (no LD_PRELOAD without -p),
 * waits for it, and prints the workloads' result line:
 *
 *   bench: workload=NAME time_s=T maxrss_kib=R hwm_kib=R
 *
 * time_s is the wall time from fork to exit; hwm_kib is getrusage's
 * RUSAGE_CHILDREN ru_maxrss: the peak resident set of the largest process
 * of the job (a shell script's biggest command, not their sum).  A process
 * keeps ru_maxrss across execve, so it is measured from this small launcher
 * (about 1 MiB resident) rather than from bench/compare's Python, whose
 * 20-30 MiB would be the floor of every figure.  Exits with PROGRAM's
 * status, or 128 + the signal that killed it.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
	const char *name, *lib = NULL;
	struct rusage ru;
	double t0, t1;
	int i = 2, status, null;
	pid_t pid;

	if (argc >= 4 && !strcmp(argv[2], "-p")) {
		lib = argv[3];
		i = 4;
	}
	if (argc < i + 2 || strcmp(argv[i], "--")) {
		fprintf(stderr, "usage: %s NAME [-p LIBRARY] -- PROGRAM [ARGS...]\n", argv[0]);
		return 2;
	}
	name = argv[1];
	t0 = now();
	pid = fork();
	if (pid < 0) {
		perror("run_rss: fork");
		return 1;
	}
	if (pid == 0) {
		null = open("/dev/null", O_WRONLY);
		if (null >= 0)
			dup2(null, STDOUT_FILENO);
		if (lib)
			setenv("LD_PRELOAD", lib, 1);
		else
			unsetenv("LD_PRELOAD");
		execvp(argv[i + 1], argv + i + 1);
		fprintf(stderr, "run_rss: cannot run %s\n", argv[i + 1]);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) < 0) {
		perror("run_rss: waitpid");
		return 1;
	}
	t1 = now();
	if (WIFSIGNALED(status)) {
		fprintf(stderr, "run_rss: %s killed by signal %d\n", argv[i + 1], WTERMSIG(status));
		return 128 + WTERMSIG(status);
	}
	if (WEXITSTATUS(status)) {
		fprintf(stderr, "run_rss: %s exited with %d\n", argv[i + 1], WEXITSTATUS(status));
		return WEXITSTATUS(status);
	}
	getrusage(RUSAGE_CHILDREN, &ru);
	printf("bench: workload=%s time_s=%.4f maxrss_kib=%ld hwm_kib=%ld\n", name, t1 - t0,
	       ru.ru_maxrss, ru.ru_maxrss);
	return 0;
}
