/*
 * os.c - the real OS primitives behind struct sm_os_ops (Linux).
 * Address space is reserved PROT_NONE (no commit charge), committed with
 * mprotect as nodes grow and purged with MADV_DONTNEED, which both drops the
 * pages from the resident set and guarantees they read back as zero, then
 * protected (PROT_NONE) until committed again.
 */
#define _GNU_SOURCE /* pthread_setname_np, mremap */
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "os.h"

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000 /* Linux 4.17; older kernels take it as a hint */
#endif

/*
 * Map @size bytes of inaccessible address space: anywhere (@at NULL), or
 * exactly at @at and only if nothing is mapped there.  NULL on failure.
 */
static void *map_none(void *at, size_t size)
{
	int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | (at ? MAP_FIXED_NOREPLACE : 0);
	void *p = mmap(at, size, PROT_NONE, flags, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	if (at && p != at) { /* a kernel older than MAP_FIXED_NOREPLACE moved it */
		munmap(p, size);
		return NULL;
	}
	return p;
}

/*
 * Reserve @size bytes aligned to @align, mapping no more than @size at a
 * time whenever possible: under RLIMIT_AS, over-reserving by the alignment
 * would need the address space twice.  Map @size anywhere; if that is not
 * aligned, give it back and map @size at the aligned address just below it
 * (the kernel hands out address space top-down, so the space just below a
 * fresh mapping is usually free), or else just above it (bottom-up
 * layouts), never over anything mapped (MAP_FIXED_NOREPLACE).  Only when
 * both are taken, map @size + @align and trim both ends.  errno is kept:
 * the callers decide what a failure means.
 */
static void *linux_reserve(size_t size, size_t align, void *arg)
{
	(void)arg;
	int saved = errno;
	char *p = map_none(NULL, size);
	if (!p || !((uintptr_t)p & (align - 1)))
		goto out;
	uintptr_t down = ALIGN_DOWN((uintptr_t)p, align), up = down + align;
	munmap(p, size);
	p = down ? map_none((void *)down, size) : NULL;
	if (!p && up > down && up + size > up)
		p = map_none((void *)up, size);
	if (!p && size + align > size) {
		size_t len = size + align;
		char *q = map_none(NULL, len);
		if (q) {
			uintptr_t start = ALIGN_UP((uintptr_t)q, align);
			size_t head = start - (uintptr_t)q, tail = len - head - size;
			if (head)
				munmap(q, head);
			if (tail)
				munmap((char *)start + size, tail);
			p = (char *)start;
		}
	}
out:
	errno = saved;
	return p;
}

static int linux_commit(void *p, size_t size, void *arg)
{
	(void)arg;
	return mprotect(p, size, PROT_READ | PROT_WRITE);
}

/*
 * Drop the pages, then, for SM_PURGE_PROTECT_PAGES or more, make the range
 * inaccessible (issue 13): a stale pointer into a purged free run faults
 * instead of writing into memory that the next owner gets (the node
 * commits the run again when it hands it out).  A refused mprotect (the
 * kernel's limit on mappings, vm.max_map_count, reached by the split)
 * leaves the range accessible and zero: purged all the same.
 */
static int linux_purge(void *p, size_t size, void *arg)
{
	(void)arg;
	int saved = errno;
	int r = madvise(p, size, MADV_DONTNEED);
	if (r == 0 && size >= ((size_t)SM_PURGE_PROTECT_PAGES << SM_PAGE_SHIFT))
		mprotect(p, size, PROT_NONE);
	errno = saved;
	return r;
}

/* errno is kept even if munmap fails: free() must not change it (POSIX 2024). */
static void linux_release(void *p, size_t size, void *arg)
{
	(void)arg;
	int saved = errno;
	munmap(p, size);
	errno = saved;
}

/* mremap to a fixed address in our own reservation (its PROT_NONE pages there are replaced). */
static int linux_remap(void *old_addr, size_t old_size, void *new_addr, size_t new_size, void *arg)
{
	(void)arg;
	int saved = errno;
	void *p = mremap(old_addr, old_size, new_size, MREMAP_MAYMOVE | MREMAP_FIXED, new_addr);
	errno = saved;
	return p == new_addr ? 0 : -1;
}

uint64_t os_monotonic_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t linux_now_ns(void *arg)
{
	(void)arg;
	return os_monotonic_ns();
}

const struct sm_os_ops sm_os_linux = {
	.reserve = linux_reserve,
	.commit = linux_commit,
	.purge = linux_purge,
	.release = linux_release,
	.now_ns = linux_now_ns,
	.arg = NULL,
	.remap = linux_remap,
};

void os_ops_complete(struct sm_os_ops *dst, const struct sm_os_ops *src)
{
	*dst = src ? *src : sm_os_linux;
	if (!dst->reserve) dst->reserve = linux_reserve;
	if (!dst->commit) dst->commit = linux_commit;
	if (!dst->purge) dst->purge = linux_purge;
	if (!dst->release) dst->release = linux_release;
	if (!dst->now_ns) dst->now_ns = linux_now_ns;
}

void *os_map_rw(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

void os_unmap(void *p, size_t size)
{
	int saved = errno;
	munmap(p, size);
	errno = saved;
}

void os_write_stderr(const char *s, size_t len)
{
	int saved = errno;
	while (len) {
		ssize_t n = write(STDERR_FILENO, s, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		s += n;
		len -= (size_t)n;
	}
	errno = saved;
}

size_t os_rss_bytes(void)
{
	int saved = errno;
	char buf[128];
	size_t rss = 0;
	int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		ssize_t n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n > 0) {
			buf[n] = 0;
			const char *c = buf;
			while (*c && *c != ' ')	/* skip the size field */
				c++;
			while (*c == ' ')
				c++;
			while (*c >= '0' && *c <= '9')
				rss = rss * 10 + (size_t)(*c++ - '0');
			rss *= (size_t)sysconf(_SC_PAGESIZE);
		}
	}
	errno = saved;
	return rss;
}

void os_futex_wait(uint32_t *addr, uint32_t val, uint64_t timeout_ns)
{
	int saved = errno;
	struct timespec ts = { (time_t)(timeout_ns / 1000000000u), (long)(timeout_ns % 1000000000u) };
	syscall(SYS_futex, addr, FUTEX_WAIT_PRIVATE, val, timeout_ns ? &ts : NULL, NULL, 0);
	errno = saved;
}

void os_futex_wake(uint32_t *addr, int nr)
{
	int saved = errno;
	syscall(SYS_futex, addr, FUTEX_WAKE_PRIVATE, nr, NULL, NULL, 0);
	errno = saved;
}

bool os_thread_start(void *(*fn)(void *), void *arg, const char *name)
{
	int saved = errno;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, (size_t)256 << 10);
	/* The new thread inherits this mask: every signal stays blocked in it. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_t t;
	int err = pthread_create(&t, &attr, fn, arg);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	if (!err)
		pthread_setname_np(t, name); /* before we return: tests look for it */
	errno = saved;
	return err == 0;
}
