/*
 * signal_demo.c - what happens to an allocator when a signal handler calls
 * malloc and free while the interrupted thread is inside malloc or free.
 * Linked against libc only; the allocator is chosen with LD_PRELOAD
 * (bench/signal-compare runs it under each one).
 *
 * The main thread allocates and frees blocks of 16 B..4 KiB, each filled with
 * a pattern that is checked before it is freed.  A POSIX timer sends SIGALRM
 * every 20 microseconds; the handler allocates a block, fills it, checks and
 * frees the block it kept from the previous signal.  A watchdog thread
 * samples the main thread's progress counter.
 *
 * Exit status and last line:
 *   0  "ok"          the run finished, every pattern intact
 *   2  "deadlock"    no progress for 5 s (the handler waits for a lock its
 *                    own thread holds)
 *   3  "corruption"  a pattern was overwritten (a block handed out twice)
 *   4  "null"        the handler's malloc returned NULL more than 5% of the time
 *   (killed by a signal: a crash, reported by the script)
 *
 * Usage: signal_demo [seconds (default 3)]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SLOTS 512

static volatile unsigned long progress;
static volatile unsigned long handler_calls, handler_nulls;
static void *handler_block;
static size_t handler_size;

static void say(const char *s)
{
	ssize_t r = write(1, s, strlen(s));
	(void)r;
}

static void fill(unsigned char *p, size_t n)
{
	unsigned char v = (unsigned char)((uintptr_t)p >> 4);
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)(v + i);
}

static int intact(const unsigned char *p, size_t n)
{
	unsigned char v = (unsigned char)((uintptr_t)p >> 4);
	for (size_t i = 0; i < n; i++)
		if (p[i] != (unsigned char)(v + i))
			return 0;
	return 1;
}

static void on_alarm(int sig)
{
	(void)sig;
	int saved = errno;
	handler_calls++;
	if (handler_block) {
		if (!intact(handler_block, handler_size)) {
			say("corruption (in the handler's block)\n");
			_exit(3);
		}
		free(handler_block);
		handler_block = NULL;
	}
	size_t n = 16 + (handler_calls * 40503u) % 2000;
	unsigned char *p = malloc(n);
	if (p) {
		fill(p, n);
		handler_block = p;
		handler_size = n;
	} else {
		handler_nulls++;
	}
	errno = saved;
}

static void *watchdog(void *arg)
{
	(void)arg;
	unsigned long last = progress;
	for (int idle = 0;; ) {
		sleep(1);
		unsigned long now = progress;
		idle = now == last ? idle + 1 : 0;
		last = now;
		if (idle >= 5) {
			say("deadlock (no progress for 5 s)\n");
			_exit(2);
		}
	}
	return NULL;
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 3.0;
	static unsigned char *slot[SLOTS];
	static size_t size[SLOTS];

	pthread_t wd;
	pthread_create(&wd, NULL, watchdog, NULL);

	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGALRM, &sa, NULL);
	timer_t tm;
	struct sigevent sev;
	memset(&sev, 0, sizeof(sev));
	sev.sigev_notify = SIGEV_THREAD_ID;
	sev.sigev_signo = SIGALRM;
	sev._sigev_un._tid = gettid();
	timer_create(CLOCK_MONOTONIC, &sev, &tm);
	struct itimerspec its = { { 0, 20000 }, { 0, 20000 } };
	timer_settime(tm, 0, &its, NULL);

	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	uint64_t x = 88172645463325252ull;
	for (;;) {
		for (int k = 0; k < 1000; k++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			unsigned i = (unsigned)(x % SLOTS);
			if (slot[i]) {
				if (!intact(slot[i], size[i])) {
					say("corruption\n");
					return 3;
				}
				free(slot[i]);
			}
			size[i] = 16 + (size_t)((x >> 20) % 4080);
			slot[i] = malloc(size[i]);
			if (slot[i])
				fill(slot[i], size[i]);
			progress++;
		}
		clock_gettime(CLOCK_MONOTONIC, &t);
		if ((double)(t.tv_sec - t0.tv_sec) + (double)(t.tv_nsec - t0.tv_nsec) * 1e-9 >= seconds)
			break;
	}
	timer_delete(tm);
	printf("%lu operations, %lu signals, %lu NULL in the handler\n", progress, handler_calls,
	       handler_nulls);
	if (handler_calls && handler_nulls * 20 > handler_calls) {
		printf("null\n");
		return 4;
	}
	printf("ok\n");
	return 0;
}
