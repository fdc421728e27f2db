/*
 * workload.c - the helpers of workload.h: clock, scale argument, resident-set
 * readings and the result line.
 */
#define _GNU_SOURCE
#include "workload.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

size_t wl_rand_log(uint64_t *state, size_t lo, size_t hi)
{
	/* 53 random bits -> [0, 1), then lo * (hi/lo)^u */
	double u = (double)(wl_rand(state) >> 11) / (double)(1ull << 53);
	size_t n = (size_t)((double)lo * exp(u * log((double)hi / (double)lo)));
	return n < lo ? lo : n > hi ? hi : n;
}

double wl_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

double wl_scale(int argc, char **argv)
{
	char *end;
	double s;

	if (argc < 2)
		return 1.0;
	s = strtod(argv[1], &end);
	if (argc > 3 || *end || !(s > 0)) {
		fprintf(stderr, "usage: %s [scale [threads]]   (a positive factor on the work done, "
			"default 1; threads: see bench/README.md)\n", argv[0]);
		exit(2);
	}
	return s;
}

unsigned wl_threads(int argc, char **argv, unsigned dflt)
{
	char *end;
	unsigned long n;

	if (argc < 3)
		return dflt;
	n = strtoul(argv[2], &end, 10);
	if (*end || n < 1 || n > WL_MAX_THREADS) {
		fprintf(stderr, "%s: threads must be 1 to %d, not '%s'\n", argv[0], WL_MAX_THREADS,
			argv[2]);
		exit(2);
	}
	return (unsigned)n;
}

size_t wl_scaled(size_t n, double scale)
{
	double v = (double)n * scale;
	return v < 1 ? 1 : (size_t)v;
}

/* The value of "@key:  N kB" in /proc/self/status. */
static size_t status_kib(const char *key)
{
	char line[256];
	size_t klen = strlen(key), v = 0;
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, key, klen) && line[klen] == ':') {
			v = strtoull(line + klen + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return v;
}

size_t wl_rss_kib(void)
{
	return status_kib("VmRSS");
}

size_t wl_hwm_kib(void)
{
	return status_kib("VmHWM");
}

void *wl_xmalloc(size_t size)
{
	void *p = malloc(size);
	if (!p) {
		fprintf(stderr, "malloc(%zu) failed\n", size);
		exit(1);
	}
	return p;
}

void wl_report(const char *name, double seconds, const char *extra)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	printf("bench: workload=%s time_s=%.4f maxrss_kib=%ld hwm_kib=%zu%s%s\n", name, seconds,
	       ru.ru_maxrss, wl_hwm_kib(), extra ? " " : "", extra ? extra : "");
	fflush(stdout);
}

void wl_check(int err, const char *what)
{
	if (err) {
		fprintf(stderr, "%s: %s\n", what, strerror(err));
		exit(1);
	}
}
