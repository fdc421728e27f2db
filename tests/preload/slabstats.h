/*
 * slabstats.h - what the signal tests (signal_stress.c, helper_thread.c)
 * read of slabmalloc itself: the default instance's statistics (through
 * dlsym when the program is built against libc only and run with
 * LD_PRELOAD), the threads of the process named like the helper thread, and
 * the calls to pthread_create made from signal handlers (the helper must
 * never be started there).  Include after ptest.h and slabmalloc.h; define
 * SLABSTATS_PROG first (the program's name for messages) and, later in the
 * file, in_signal_handler().
 */
#ifndef SM_SLABSTATS_H
#define SM_SLABSTATS_H

#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static sm_instance_t *inst;
static void (*stats_get)(sm_instance_t *, struct sm_stats *);

static void stats_init(void)
{
#ifdef CONF_PRELOAD
	sm_instance_t *(*def)(void) = (sm_instance_t * (*)(void)) dlsym(RTLD_DEFAULT, "sm_default_instance");
	stats_get = (void (*)(sm_instance_t *, struct sm_stats *))dlsym(RTLD_DEFAULT, "sm_stats_get");
	if (!def || !stats_get) {
		fprintf(stderr, SLABSTATS_PROG ": sm_default_instance/sm_stats_get not found: "
				"slabmalloc is not loaded (run with LD_PRELOAD)\n");
		exit(1);
	}
	inst = def();
#else
	stats_get = sm_stats_get;
	inst = sm_default_instance();
#endif
	CHECK(inst);
}

static struct sm_stats stats(void)
{
	struct sm_stats st;
	stats_get(inst, &st);
	return st;
}

/*
 * Threads of this process: all of them, and those named slabmalloc-bg.
 * Reads the directory with getdents64 into a stack buffer: opendir would
 * allocate, and an allocation is exactly the "next call" that finishes
 * deferred frees and starts the helper, which some checks must not cause.
 */
static int count_threads(int *helpers)
{
	int dfd = open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	CHECK(dfd >= 0);
	int n = 0, h = 0;
	char buf[8192];
	long got;
	while ((got = syscall(SYS_getdents64, dfd, buf, sizeof(buf))) > 0) {
		for (long off = 0; off < got;) {
			struct linux_dirent64 {
				uint64_t d_ino;
				int64_t d_off;
				unsigned short d_reclen;
				unsigned char d_type;
				char d_name[];
			} *de = (struct linux_dirent64 *)(buf + off);
			off += de->d_reclen;
			if (de->d_name[0] == '.')
				continue;
			char path[300], comm[32] = "";
			snprintf(path, sizeof(path), "/proc/self/task/%s/comm", de->d_name);
			int fd = open(path, O_RDONLY | O_CLOEXEC);
			if (fd < 0)
				continue; /* it just exited */
			ssize_t r = read(fd, comm, sizeof(comm) - 1);
			close(fd);
			n++;
			if (r > 0 && !strncmp(comm, "slabmalloc-bg", 13))
				h++;
		}
	}
	close(dfd);
	if (helpers)
		*helpers = h;
	return n;
}

static int helper_threads(void)
{
	int h;
	count_threads(&h);
	return h;
}

/* Nonzero while the calling thread runs one of the program's signal handlers. */
static int in_signal_handler(void);

static atomic_ulong thread_creates, thread_creates_in_handler;

/*
 * pthread_create, interposed: slabmalloc's helper start resolves it through
 * the global scope, so it lands here, linked or preloaded.  Counts every call
 * and those made from inside a handler.
 */
int pthread_create(pthread_t *t, const pthread_attr_t *a, void *(*fn)(void *), void *arg)
{
	static int (*real)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);
	if (!real) {
		real = (int (*)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *))dlsym(
			RTLD_NEXT, "pthread_create");
		if (!real)
			abort();
	}
	atomic_fetch_add(&thread_creates, 1);
	if (in_signal_handler())
		atomic_fetch_add(&thread_creates_in_handler, 1);
	return real(t, a, fn, arg);
}

#endif /* SM_SLABSTATS_H */
