/*
 * signal_rate.c - how often an allocation made inside a signal handler
 * returns NULL while memory is there: the rate issue 10 (section 6) wants
 * below 0.1% at any machine load.  slabmalloc only: linked with
 * libslabmalloc.so for the nolock API.  bench/signal-rate runs it several
 * times at several machine loads and prints the medians.
 *
 * THREADS workers churn the heap, each with a table of 256 blocks: per step
 * one block is freed, reallocated or replaced by a malloc or calloc (88%
 * 1..512 B, 10% to 8 KiB, 1.5% to 64 KiB, 0.5% page runs of 100..300 KiB);
 * one new block in 16 is swapped into a table shared by all workers and the
 * block taken out is freed (frees of other threads' objects).  The letters
 * of MIX add what tests/preload/signal_stress also does, each a way for a
 * signal to land while locks are held:
 *
 *   b  bursts: 3% of the steps allocate 32 blocks of one size class and free
 *      them (sheaf refills and flushes: barn and slab-list locks)
 *   m  maintenance: one burst in 2,000 is a malloc_trim(0) or a mallinfo2()
 *      instead (a purge of everything; statistics over every cache)
 *   h  huge blocks: one allocation in 50,000 is 40 MiB (a mapping of its own,
 *      created and freed under the instance lock)
 *   f  fork: worker 0 forks every 250 ms; the child mallocs, frees and exits
 *      (slabmalloc holds every allocator lock from its prepare handler to
 *      the parent handler)
 *   x  short-lived threads: a spawner starts threads one after another, each
 *      with its own timer, 100 steps of the churn, then exit with the timer
 *      still firing (signals land in slabmalloc's thread-exit destructor and
 *      glibc's teardown)
 *
 * Signals: each worker (and each short-lived thread) gets SIGALRM from its
 * own POSIX timer (CLOCK_MONOTONIC, SIGEV_THREAD_ID) every TIMER_US
 * microseconds, and the workers get SIGUSR1 from a sender thread that
 * pthread_kills them in turn (20 us pause after every 4).  The handler (both
 * signals blocked while it runs: no nesting) makes two allocations, each
 * written at both ends and freed at once:
 *
 *   malloc + free    89% 8 B..4 KiB, 10% to 64 KiB, 1% page runs of
 *                    200..300 KiB, with MIX h one in 1,000 of 40 MiB (the
 *                    handler mix of signal_stress): the normal path when the
 *                    signal landed outside the allocator, the nolock path
 *                    when it landed inside (busy marker set)
 *   sm_kmalloc_nolock + sm_kfree_nolock  8 B..4 KiB: the nolock API, which
 *                    never waits, wherever the signal landed
 *
 * Each thread marks where it is (a thread-local word set around its calls):
 * outside the allocator, in an ordinary call (malloc, calloc, realloc,
 * free), in malloc_trim/mallinfo2, in a 40 MiB allocation or free, in
 * fork(), or on its way out (after its last step).  The handler counts its
 * calls and NULLs by that place.  A NULL with errno other than ENOMEM, or a
 * NULL from malloc whose signal landed outside the allocator (that path
 * waits for its locks and fails only without memory), is an error (exit 1).
 *
 * Prints one line of key=value pairs:
 *   bench: signal_rate seconds= threads= timer_us= mix= signals=
 *     malloc_calls= malloc_null= malloc_null_pct=
 *     null_in_call= null_in_maint= null_in_huge= null_in_fork= null_in_exit=
 *       (malloc NULLs by where the signal landed, those of null_other_fork
 *       left out)
 *     null_other_fork= (malloc NULLs while worker 0 was inside fork(), the
 *       signal having landed in another thread)
 *     landed_<place>= (handler mallocs whose signal landed there)
 *     nolock_calls= nolock_null= nolock_null_pct= nolock_null_other_fork=
 *     worker_steps= forks= short_threads= deferred_frees= errors=
 *
 * Usage: signal_rate [seconds (2)] [threads (4)] [timer_us (50)] [mix (bmhfx; "-": none)]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <slabmalloc.h>

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)
#define HUGE_SIZE (40 * MiB)
#define SLOTS 256
#define SHARED_SLOTS 64
#define MAX_THREADS 64
#define FORK_EVERY_NS 250000000L
#define SHORT_STEPS 100

/* Where a thread is when a signal lands. */
enum place { P_OUT, P_CALL, P_MAINT, P_HUGE, P_FORK, P_EXIT, NR_PLACES };
static const char *const place_name[NR_PLACES] = { "out", "call", "maint", "huge", "fork", "exit" };

struct counts {
	unsigned long signals;
	unsigned long malloc_calls[NR_PLACES], malloc_null[NR_PLACES];
	unsigned long nolock_calls, nolock_null;
	/* NULLs while another thread was inside fork() (any place but P_FORK;
	   not in malloc_null[]) */
	unsigned long malloc_null_other_fork, nolock_null_other_fork;
	unsigned long errors, steps;
} __attribute__((aligned(64)));

/* [0, nr_threads): the workers; MAX_THREADS: the short-lived threads (one at a time). */
static struct counts cnt[MAX_THREADS + 1];
static _Atomic(void *) shared[SHARED_SLOTS];
static pthread_t workers[MAX_THREADS];
static atomic_int worker_tid[MAX_THREADS];
static atomic_int stop_workers, stop_sender, started;
static atomic_ulong forks, short_threads;
static atomic_int fork_in_progress; /* worker 0 is inside fork() */
static unsigned nr_threads = 4;
static long timer_us = 50;
static int mix_burst, mix_maint, mix_huge, mix_fork, mix_exit;
static sm_instance_t *inst;

static __thread struct counts *my;
static __thread volatile int where; /* enum place */
static __thread uint64_t h_rs;

static uint64_t rnd(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void touch(unsigned char *p, size_t n)
{
	p[0] = (unsigned char)n;
	p[n - 1] = (unsigned char)(n >> 8);
}

/* ------------------------------------------------------------ the handler -- */

/* 89% 8 B..4 KiB, 10% up to 64 KiB, 1% 200..300 KiB page runs, with MIX h 0.1% huge. */
static size_t handler_size(uint64_t *s)
{
	uint64_t r = rnd(s);
	unsigned k = (unsigned)(r % 1000);
	r >>= 10;
	if (k < 890)
		return 8 + r % (4 * KiB - 7);
	if (k < 989)
		return 4 * KiB + 1 + r % (60 * KiB);
	if (k < 999 || !mix_huge)
		return 200 * KiB + r % (100 * KiB);
	return HUGE_SIZE;
}

static void handler(int sig)
{
	(void)sig;
	int saved = errno;
	struct counts *c = my;
	if (!c) { /* not a worker (cannot happen: the others block both signals) */
		errno = saved;
		return;
	}
	int at = where;
	int other_fork = at != P_FORK && atomic_load_explicit(&fork_in_progress, memory_order_relaxed);
	c->signals++;

	size_t n = handler_size(&h_rs);
	unsigned char *p = malloc(n);
	c->malloc_calls[at]++;
	if (p) {
		touch(p, n);
		free(p);
	} else {
		if (other_fork)
			c->malloc_null_other_fork++;
		else
			c->malloc_null[at]++;
		if (errno != ENOMEM || at == P_OUT)
			c->errors++;
	}

	n = 8 + rnd(&h_rs) % (4 * KiB - 7);
	p = sm_kmalloc_nolock(inst, n, 0, SM_NO_NODE);
	c->nolock_calls++;
	if (p) {
		touch(p, n);
		sm_kfree_nolock(p);
	} else {
		c->nolock_null++;
		c->nolock_null_other_fork += other_fork;
		if (errno != ENOMEM)
			c->errors++;
	}
	errno = saved;
}

static void block_both(int how)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGALRM);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(how, &set, NULL);
}

static int start_timer(int tid, timer_t *t)
{
	struct sigevent sev;
	memset(&sev, 0, sizeof(sev));
	sev.sigev_notify = SIGEV_THREAD_ID;
	sev.sigev_signo = SIGALRM;
	sev._sigev_un._tid = tid;
	if (timer_create(CLOCK_MONOTONIC, &sev, t))
		return -1;
	struct itimerspec its = { { 0, timer_us * 1000 }, { 0, timer_us * 1000 } };
	return timer_settime(*t, 0, &its, NULL);
}

/* -------------------------------------------------------------- the churn -- */

struct churn {
	uint64_t rs;
	int huge_live;
	void *tab[SLOTS];
	size_t size[SLOTS];
};

/* 88% 1..512 B, 10% to 8 KiB, 1.5% to 64 KiB, 0.5% 100..300 KiB, with MIX h 1 in 50,000 huge. */
static size_t churn_size(struct churn *c)
{
	uint64_t r = rnd(&c->rs);
	unsigned k = (unsigned)(r % 100000);
	r >>= 20;
	if (k < 88000)
		return 1 + r % 512;
	if (k < 98000)
		return 513 + r % (8 * KiB - 512);
	if (k < 99500)
		return 8 * KiB + 1 + r % (56 * KiB);
	if (k || c->huge_live || !mix_huge)
		return 100 * KiB + r % (200 * KiB);
	return HUGE_SIZE;
}

static void *xalloc(void *p, size_t n)
{
	if (!p) {
		fprintf(stderr, "signal_rate: allocation of %zu bytes failed in a worker\n", n);
		exit(1);
	}
	return p;
}

static void churn_free(struct churn *c, unsigned i)
{
	int huge = c->size[i] == HUGE_SIZE;
	where = huge ? P_HUGE : P_CALL;
	free(c->tab[i]);
	where = P_OUT;
	c->huge_live -= huge;
	c->tab[i] = NULL;
}

static void churn_burst(uint64_t r)
{
	if (mix_maint && (r >> 8) % 2000 == 0) {
		where = P_MAINT;
		if ((r >> 8) % 4000 == 0) {
			malloc_trim(0);
		} else {
			struct mallinfo2 mi = mallinfo2();
			(void)mi;
		}
		where = P_OUT;
		return;
	}
	void *v[32];
	size_t n = 16 + (r >> 20) % 1024;
	for (int i = 0; i < 32; i++) {
		where = P_CALL;
		v[i] = malloc(n);
		where = P_OUT;
		touch(xalloc(v[i], n), n);
	}
	for (int i = 0; i < 32; i++) {
		where = P_CALL;
		free(v[(i * 7) % 32]);
		where = P_OUT;
	}
}

static void churn_step(struct churn *c)
{
	uint64_t r = rnd(&c->rs);
	unsigned i = (unsigned)(r % SLOTS);
	unsigned k = (unsigned)((r >> 12) % 100);
	if (mix_burst && k >= 97) {
		churn_burst(r);
		return;
	}
	if (c->tab[i] && k < 25 && c->size[i] != HUGE_SIZE) {
		size_t n = churn_size(c);
		if (n == HUGE_SIZE)
			n = 1;
		where = P_CALL;
		void *q = realloc(c->tab[i], n);
		where = P_OUT;
		touch(xalloc(q, n), n);
		c->tab[i] = q;
		c->size[i] = n;
		return;
	}
	if (c->tab[i])
		churn_free(c, i);
	size_t n = churn_size(c);
	int huge = n == HUGE_SIZE;
	where = huge ? P_HUGE : P_CALL;
	void *p = k < 20 ? calloc(1, n) : malloc(n);
	where = P_OUT;
	touch(xalloc(p, n), n);
	c->huge_live += huge;
	if (!huge && (r >> 32) % 16 == 0) {
		/* The shared table holds blocks of 1..512 B only (sizes unknown there). */
		if (n <= 512) {
			p = atomic_exchange(&shared[(r >> 40) % SHARED_SLOTS], p);
			n = 512;
		}
	}
	c->tab[i] = p;
	c->size[i] = p ? n : 0;
}

static void churn_release(struct churn *c)
{
	for (unsigned i = 0; i < SLOTS; i++)
		if (c->tab[i])
			churn_free(c, i);
}

static void fork_once(void)
{
	fflush(NULL);
	atomic_store(&fork_in_progress, 1);
	where = P_FORK;
	pid_t pid = fork();
	where = P_OUT;
	if (pid != 0)
		atomic_store(&fork_in_progress, 0);
	if (pid < 0) {
		perror("signal_rate: fork");
		exit(1);
	}
	if (pid == 0) {
		block_both(SIG_BLOCK);
		void *p = malloc(100);
		free(p);
		_exit(p ? 0 : 3);
	}
	int st;
	while (waitpid(pid, &st, 0) != pid)
		if (errno != EINTR) {
			perror("signal_rate: waitpid");
			exit(1);
		}
	if (!WIFEXITED(st) || WEXITSTATUS(st)) {
		fprintf(stderr, "signal_rate: fork child failed (status %d)\n", st);
		exit(1);
	}
	atomic_fetch_add(&forks, 1);
}

static void *worker(void *arg)
{
	unsigned id = (unsigned)(uintptr_t)arg;
	static __thread struct churn c;
	my = &cnt[id];
	h_rs = 0xabcdef00ull + id;
	c.rs = 0x12345600ull + id;
	atomic_store(&worker_tid[id], (int)gettid());
	atomic_fetch_add(&started, 1);
	block_both(SIG_UNBLOCK);
	unsigned long steps = 0;
	uint64_t next_fork = now_ns() + FORK_EVERY_NS;
	while (!atomic_load_explicit(&stop_workers, memory_order_relaxed)) {
		for (int k = 0; k < 64; k++)
			churn_step(&c);
		steps += 64;
		if (mix_fork && id == 0 && now_ns() >= next_fork) {
			fork_once();
			next_fork = now_ns() + FORK_EVERY_NS;
		}
	}
	block_both(SIG_BLOCK);
	churn_release(&c);
	my->steps = steps;
	return NULL;
}

struct short_arg {
	unsigned long n;
	timer_t timer;
	int timer_ok;
};

static void *short_lived(void *arg)
{
	struct short_arg *a = arg;
	static __thread struct churn c;
	my = &cnt[MAX_THREADS];
	h_rs = 0x5eed0000ull + a->n;
	c.rs = 0x77770000ull + a->n;
	a->timer_ok = start_timer((int)gettid(), &a->timer) == 0;
	block_both(SIG_UNBLOCK);
	for (int k = 0; k < SHORT_STEPS; k++)
		churn_step(&c);
	churn_release(&c);
	my->steps += SHORT_STEPS;
	/* From here to the end of the thread (TLS destructors, slabmalloc's
	   thread exit, glibc's teardown) the timer keeps firing. */
	where = P_EXIT;
	return NULL;
}

static void *spawner(void *arg)
{
	(void)arg;
	unsigned long n = 0;
	while (!atomic_load_explicit(&stop_sender, memory_order_relaxed)) {
		struct short_arg a = { .n = n };
		pthread_t t;
		if (pthread_create(&t, NULL, short_lived, &a)) {
			perror("signal_rate: pthread_create");
			exit(1);
		}
		pthread_join(t, NULL);
		if (a.timer_ok)
			timer_delete(a.timer);
		n++;
	}
	atomic_store(&short_threads, n);
	return NULL;
}

static void *sender(void *arg)
{
	(void)arg;
	unsigned long n = 0;
	struct timespec pause = { 0, 20000 };
	while (!atomic_load_explicit(&stop_sender, memory_order_relaxed)) {
		pthread_kill(workers[n % nr_threads], SIGUSR1);
		if (++n % 4 == 0)
			nanosleep(&pause, NULL);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 2.0;
	if (argc > 2)
		nr_threads = (unsigned)atoi(argv[2]);
	if (argc > 3)
		timer_us = atol(argv[3]);
	const char *mix = argc > 4 ? argv[4] : "bmhfx";
	int bad = argc > 5 || seconds <= 0 || nr_threads == 0 || nr_threads > MAX_THREADS ||
		  timer_us <= 0 || timer_us >= 1000000;
	for (const char *m = mix; *m && !bad; m++) {
		switch (*m) {
		case 'b': mix_burst = 1; break;
		case 'm': mix_maint = mix_burst = 1; break; /* maintenance calls replace bursts */
		case 'h': mix_huge = 1; break;
		case 'f': mix_fork = 1; break;
		case 'x': mix_exit = 1; break;
		case '-': break;
		default: bad = 1;
		}
	}
	if (bad) {
		fprintf(stderr, "usage: %s [seconds (2)] [threads 1..64 (4)] [timer_us (50)] "
				"[mix: letters of bmhfx, or - for none (bmhfx)]\n", argv[0]);
		return 2;
	}
	inst = sm_default_instance();
	struct sm_stats st0;
	sm_stats_get(inst, &st0);

	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = handler;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, SIGALRM);
	sigaddset(&sa.sa_mask, SIGUSR1);
	sigaction(SIGALRM, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	block_both(SIG_BLOCK); /* inherited by every thread; the workers unblock */

	for (unsigned i = 0; i < nr_threads; i++)
		if (pthread_create(&workers[i], NULL, worker, (void *)(uintptr_t)i)) {
			perror("signal_rate: pthread_create");
			return 1;
		}
	while (atomic_load(&started) < (int)nr_threads)
		usleep(100);
	timer_t tm[MAX_THREADS];
	for (unsigned i = 0; i < nr_threads; i++)
		if (start_timer(atomic_load(&worker_tid[i]), &tm[i])) {
			perror("signal_rate: timer_create");
			return 1;
		}
	pthread_t snd, spw;
	pthread_create(&snd, NULL, sender, NULL);
	if (mix_exit)
		pthread_create(&spw, NULL, spawner, NULL);

	struct timespec d = { (time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9) };
	while (nanosleep(&d, &d) && errno == EINTR)
		;

	atomic_store(&stop_sender, 1);
	pthread_join(snd, NULL);
	if (mix_exit)
		pthread_join(spw, NULL);
	for (unsigned i = 0; i < nr_threads; i++)
		timer_delete(tm[i]);
	atomic_store(&stop_workers, 1);
	for (unsigned i = 0; i < nr_threads; i++)
		pthread_join(workers[i], NULL);
	for (unsigned i = 0; i < SHARED_SLOTS; i++)
		free(atomic_exchange(&shared[i], NULL));

	struct counts t = { 0 };
	for (unsigned i = 0; i <= MAX_THREADS; i++) {
		t.signals += cnt[i].signals;
		for (int p = 0; p < NR_PLACES; p++) {
			t.malloc_calls[p] += cnt[i].malloc_calls[p];
			t.malloc_null[p] += cnt[i].malloc_null[p];
		}
		t.nolock_calls += cnt[i].nolock_calls;
		t.nolock_null += cnt[i].nolock_null;
		t.malloc_null_other_fork += cnt[i].malloc_null_other_fork;
		t.nolock_null_other_fork += cnt[i].nolock_null_other_fork;
		t.errors += cnt[i].errors;
		t.steps += cnt[i].steps;
	}
	unsigned long calls = 0, nulls = 0;
	for (int p = 0; p < NR_PLACES; p++) {
		calls += t.malloc_calls[p];
		nulls += t.malloc_null[p];
	}
	nulls += t.malloc_null_other_fork;
	struct sm_stats st;
	sm_stats_get(inst, &st);
#define PCT(a, b) ((b) ? 100.0 * (double)(a) / (double)(b) : 0.0)
	printf("bench: signal_rate seconds=%g threads=%u timer_us=%ld mix=%s signals=%lu malloc_calls=%lu "
	       "malloc_null=%lu malloc_null_pct=%.4f",
	       seconds, nr_threads, timer_us, mix, t.signals, calls, nulls, PCT(nulls, calls));
	for (int p = P_CALL; p < NR_PLACES; p++)
		printf(" null_in_%s=%lu", place_name[p], t.malloc_null[p]);
	for (int p = 0; p < NR_PLACES; p++)
		printf(" landed_%s=%lu", place_name[p], t.malloc_calls[p]);
	printf(" null_other_fork=%lu nolock_calls=%lu nolock_null=%lu nolock_null_pct=%.4f "
	       "nolock_null_other_fork=%lu worker_steps=%lu forks=%lu short_threads=%lu deferred_frees=%llu "
	       "errors=%lu\n",
	       t.malloc_null_other_fork, t.nolock_calls, t.nolock_null, PCT(t.nolock_null, t.nolock_calls),
	       t.nolock_null_other_fork, t.steps,
	       atomic_load(&forks), atomic_load(&short_threads),
	       (unsigned long long)(st.deferred_frees - st0.deferred_frees), t.errors);
	if (t.errors) {
		fprintf(stderr, "signal_rate: %lu handler NULLs with errno other than ENOMEM, or from malloc "
				"although the signal did not land inside the allocator\n", t.errors);
		return 1;
	}
	return 0;
}
