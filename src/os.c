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
#include <sched.h>
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

/* A guard page (hardened mode): errno kept, as for every primitive a free may call. */
static int linux_protect(void *p, size_t size, void *arg)
{
	(void)arg;
	int saved = errno;
	int r = mprotect(p, size, PROT_NONE);
	errno = saved;
	return r;
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
	if (!p)
		return;
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

void os_yield(void)
{
	int saved = errno;
	sched_yield();
	errno = saved;
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

uint64_t os_coarse_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t os_coarse_lag_ns(void)
{
	struct timespec res;
	int saved = errno;
	int r = clock_getres(CLOCK_MONOTONIC_COARSE, &res);
	errno = saved;
	if (r != 0 || res.tv_sec != 0)
		return 0; /* none, or too coarse to be worth it */
	return 2 * (uint64_t)res.tv_nsec;
}

bool os_clock_is_real(const struct sm_os_ops *ops)
{
	return ops->now_ns == linux_now_ns;
}

#ifndef MPOL_BIND
#define MPOL_BIND 2
#endif

/* mbind(2) through the syscall: no libnuma.  errno is kept. */
static int linux_mbind(void *p, size_t size, int numa_node, void *arg)
{
	(void)arg;
	if (numa_node < 0 || numa_node >= 64)
		return -1;
	int saved = errno;
	unsigned long mask = 1ul << numa_node;
	long r = syscall(SYS_mbind, p, size, MPOL_BIND, &mask, (unsigned long)(sizeof(mask) * 8), 0u);
	errno = saved;
	return r == 0 ? 0 : -1;
}

/* getcpu(2): the NUMA node the calling thread runs on now, or -1. */
static int linux_numa_node(void *arg)
{
	(void)arg;
	int saved = errno;
	unsigned cpu = 0, node = 0;
	long r = syscall(SYS_getcpu, &cpu, &node, NULL);
	errno = saved;
	return r == 0 ? (int)node : -1;
}

const struct sm_os_ops sm_os_linux = {
	.reserve = linux_reserve,
	.commit = linux_commit,
	.purge = linux_purge,
	.release = linux_release,
	.now_ns = linux_now_ns,
	.arg = NULL,
	.remap = linux_remap,
	.mbind = linux_mbind,
	.numa_node = linux_numa_node,
	.protect = linux_protect,
};

void os_ops_complete(struct sm_os_ops *dst, const struct sm_os_ops *src)
{
	*dst = src ? *src : sm_os_linux;
	if (!dst->reserve) dst->reserve = linux_reserve;
	if (!dst->commit) dst->commit = linux_commit;
	if (!dst->purge) dst->purge = linux_purge;
	if (!dst->release) dst->release = linux_release;
	if (!dst->now_ns) dst->now_ns = linux_now_ns;
	if (!dst->mbind) dst->mbind = linux_mbind;
	if (!dst->numa_node) dst->numa_node = linux_numa_node;
	if (!dst->protect) dst->protect = linux_protect;
}

void os_ops_inherit(struct sm_os_ops *dst, const struct sm_os_ops *own, const struct sm_os_ops *base)
{
	if (own)
		os_ops_complete(dst, own); /* one arg: what @own leaves NULL is the real OS's */
	else
		*dst = *base;
}

/* ---- unmapped backings (SM_NODE_UNMAPPED) ---- */

#ifndef SYS_memfd_secret
#if defined(__x86_64__) || defined(__aarch64__) || defined(__riscv)
#define SYS_memfd_secret 447
#endif
#endif
#ifndef MADV_WIPEONFORK
#define MADV_WIPEONFORK 18
#endif
#ifndef MADV_DONTDUMP
#define MADV_DONTDUMP 16
#endif

bool os_unmapped_no_secretmem;

/*
 * One unmapped reservation: its memfd_secret file (fd >= 0) or none (the
 * locked fallback), and the base the file's offsets count from.  Static
 * slots, so that a release (which ends a slot) never frees memory a
 * caller may still read.
 */
struct unmapped_slot {
	uint8_t used;                  /* taken with a compare-and-swap */
	uint32_t gen;                  /* bumped by each taker: who owns it */
	int fd;
	uintptr_t base;                /* the reservation, once made */
	size_t data_off;               /* where the node's data starts in it:
	                                  below, its header and descriptors
	                                  (ordinary memory, forked as usual) */
};
static struct unmapped_slot unmapped_slots[SM_MAX_INSTANCES * SM_MAX_NODES];

static void *unmapped_reserve(size_t size, size_t align, void *arg)
{
	struct unmapped_slot *u = arg;
	void *p = linux_reserve(size, align, NULL);
	if (!p)
		return NULL;
	int saved = errno;
	if (u->fd >= 0 && ftruncate(u->fd, (off_t)size) != 0) {
		linux_release(p, size, NULL);
		errno = saved;
		return NULL;
	}
	/* Core dumps skip the data, whatever the backing. */
	if (u->data_off < size)
		madvise((char *)p + u->data_off, size - u->data_off, MADV_DONTDUMP);
	errno = saved;
	u->base = (uintptr_t)p;
	return p;
}

static int unmapped_commit(void *p, size_t size, void *arg)
{
	struct unmapped_slot *u = arg;
	int saved = errno, r = 0;
	if ((uintptr_t)p < u->base + u->data_off) {
		r = mprotect(p, size, PROT_READ | PROT_WRITE); /* the node's own metadata */
	} else if (u->fd >= 0) {
		/* The file's pages over our reservation: out of the kernel's
		   direct map, never swapped, never dumped; a shared mapping, so
		   not given to fork children at all (they would share it). */
		void *q = mmap(p, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, u->fd,
			       (off_t)((uintptr_t)p - u->base));
		r = q == p ? 0 : -1;
		if (!r)
			madvise(p, size, MADV_DONTFORK);
	} else if (mprotect(p, size, PROT_READ | PROT_WRITE) != 0 || mlock(p, size) != 0) {
		r = -1;
	} else {
		madvise(p, size, MADV_DONTDUMP);
		if (madvise(p, size, MADV_WIPEONFORK) != 0)
			r = -1;
	}
	errno = saved;
	return r;
}

/* Never purged: locked or secret pages stay; objects are zeroed when freed instead. */
static int unmapped_purge(void *p, size_t size, void *arg)
{
	(void)p, (void)size, (void)arg;
	return -1;
}

static void unmapped_release(void *p, size_t size, void *arg)
{
	struct unmapped_slot *u = arg;
	linux_release(p, size, NULL);
	int saved = errno;
	if (u->fd >= 0)
		close(u->fd);
	errno = saved;
	u->fd = -1;
	__atomic_store_n(&u->used, 0, __ATOMIC_RELEASE);
}

int os_unmapped_ops(struct sm_os_ops *ops, size_t data_off, uint32_t *gen)
{
	struct unmapped_slot *u = NULL;
	for (size_t i = 0; i < sizeof(unmapped_slots) / sizeof(unmapped_slots[0]) && !u; i++) {
		uint8_t expect = 0;
		if (__atomic_compare_exchange_n(&unmapped_slots[i].used, &expect, 1, false,
						__ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
			u = &unmapped_slots[i];
	}
	if (!u)
		return -1;
	int saved = errno, backing = SM_BACKING_LOCKED;
	u->fd = -1;
	u->base = 0;
	u->data_off = data_off;
	*gen = __atomic_add_fetch(&u->gen, 1, __ATOMIC_RELAXED);
#ifdef SYS_memfd_secret
	if (!os_unmapped_no_secretmem) {
		long fd = syscall(SYS_memfd_secret, (unsigned long)O_CLOEXEC);
		if (fd >= 0) {
			u->fd = (int)fd;
			backing = SM_BACKING_SECRETMEM;
		}
	}
#endif
	errno = saved;
	/* Every member takes @u as its arg: the real OS's (which ignore
	   it) for the clock and NUMA, ours for the memory. */
	*ops = sm_os_linux;
	ops->reserve = unmapped_reserve;
	ops->commit = unmapped_commit;
	ops->purge = unmapped_purge;
	ops->release = unmapped_release;
	ops->remap = NULL;
	ops->arg = u;
	return backing;
}

void os_unmapped_discard(const struct sm_os_ops *ops, uint32_t gen)
{
	struct unmapped_slot *u = ops->arg;
	/* Still ours (used, our generation: nobody else can take a used
	   slot) and never reserved: end it.  Released already, or taken
	   again since: not ours to touch. */
	if (__atomic_load_n(&u->used, __ATOMIC_ACQUIRE) && __atomic_load_n(&u->gen, __ATOMIC_RELAXED) == gen &&
	    !u->base)
		unmapped_release(NULL, 0, u);
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
	os_write_fd(STDERR_FILENO, s, len);
}

size_t os_read_file(const char *path, size_t offset, char *buf, size_t n)
{
	int saved = errno;
	size_t len = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		while (len + 1 < n) {
			ssize_t r = pread(fd, buf + len, n - 1 - len, (off_t)(offset + len));
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				break;
			len += (size_t)r;
		}
		close(fd);
	}
	if (n)
		buf[len] = 0;
	errno = saved;
	return len;
}

unsigned os_nr_threads(void)
{
	char buf[1024];
	size_t len = os_read_file("/proc/self/stat", 0, buf, sizeof(buf));
	/* Field 20; the name (field 2) may hold spaces, so count after its ')'. */
	const char *c = NULL;
	for (size_t i = 0; i < len; i++)
		if (buf[i] == ')')
			c = buf + i;
	if (!c || c[1] != ' ')
		return 0;
	bool zombie = c[2] == 'Z'; /* field 3, the main thread's state */
	for (int field = 2; field < 20 && *c; c++)
		if (*c == ' ')
			field++;
	unsigned n = 0;
	while (*c >= '0' && *c <= '9')
		n = n * 10 + (unsigned)(*c++ - '0');
	return n && zombie ? n - 1 : n;
}

int os_open_output(const char *path, bool truncate)
{
	int saved = errno;
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | (truncate ? O_TRUNC : O_APPEND), 0644);
	errno = saved;
	return fd;
}

void os_write_fd(int fd, const char *s, size_t len)
{
	int saved = errno;
	while (len) {
		ssize_t n = write(fd, s, len);
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

void os_close(int fd)
{
	int saved = errno;
	close(fd);
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
