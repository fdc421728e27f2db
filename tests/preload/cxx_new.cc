// cxx_new.cc - C++'s operator new and delete are slabmalloc's (issue 13):
// every form comes from the library (the objects belong to its default
// instance), new calls the new handler until it is removed and then throws
// std::bad_alloc, the nothrow forms return NULL, aligned new honours the
// alignment, sized and aligned delete of the right size free the object,
// and a wrong size or alignment is reported (exact line) and aborts.
// Built with g++, linked against libslabmalloc.so or run with LD_PRELOAD.
#include <dlfcn.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>

#define CHECK(c) do { if (!(c)) { \
	std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #c); std::exit(1); } } while (0)

static void *(*owner)(const void *);
static int handler_calls;

static void handler_three_times()
{
	if (++handler_calls == 3)
		std::set_new_handler(nullptr);
}

static const std::size_t impossible = std::size_t(1) << 62;

static void test_new_handler()
{
	for (int array = 0; array < 2; array++) {
		handler_calls = 0;
		std::set_new_handler(handler_three_times);
		bool thrown = false;
		try {
			void *p = array ? ::operator new[](impossible) : ::operator new(impossible);
			std::printf("new returned %p\n", p);
		} catch (const std::bad_alloc &) {
			thrown = true;
		}
		CHECK(thrown);
		CHECK(handler_calls == 3);
		CHECK(std::get_new_handler() == nullptr);
	}
	// Aligned new: the same loop.
	handler_calls = 0;
	std::set_new_handler(handler_three_times);
	bool thrown = false;
	try {
		void *volatile p = ::operator new(impossible, std::align_val_t(64));
		std::printf("new returned %p\n", p);
	} catch (const std::bad_alloc &) {
		thrown = true;
	}
	CHECK(thrown && handler_calls == 3);
}

static void test_nothrow()
{
	CHECK(::operator new(impossible, std::nothrow) == nullptr);
	CHECK(::operator new[](impossible, std::nothrow) == nullptr);
	CHECK(::operator new(impossible, std::align_val_t(256), std::nothrow) == nullptr);
	CHECK(::operator new[](impossible, std::align_val_t(256), std::nothrow) == nullptr);
	handler_calls = 0;
	std::set_new_handler(handler_three_times);
	CHECK(::operator new(impossible, std::nothrow) == nullptr);
	CHECK(handler_calls == 3);
	void *p = ::operator new(100, std::nothrow);
	CHECK(p && owner(p));
	::operator delete(p, std::nothrow);
	p = ::operator new[](100, std::nothrow);
	CHECK(p && owner(p));
	::operator delete[](p, std::nothrow);
}

struct alignas(64) Line { char c[64]; };
struct alignas(8192) Pages { char c[100]; };

static void test_sizes_and_alignments()
{
	static const std::size_t sizes[] = { 0, 1, 8, 24, 100, 1000, 5000, 40000, 100000, std::size_t(40) << 20 };
	for (std::size_t n : sizes) {
		void *p = ::operator new(n);
		CHECK(p && owner(p));
		std::memset(p, 1, n);
		::operator delete(p, n);
		p = ::operator new[](n);
		CHECK(p && owner(p));
		::operator delete[](p, n);
		for (std::size_t al = 32; al <= 65536; al *= 4) {
			p = ::operator new(n, std::align_val_t(al));
			CHECK(p && owner(p) && (std::uintptr_t)p % al == 0);
			std::memset(p, 2, n);
			::operator delete(p, n, std::align_val_t(al));
			p = ::operator new[](n, std::align_val_t(al));
			CHECK(p && (std::uintptr_t)p % al == 0);
			::operator delete[](p, std::align_val_t(al));
		}
	}
	Line *l = new Line[3];
	CHECK((std::uintptr_t)l % 64 == 0 && owner(l));
	delete[] l;
	Pages *g = new Pages;
	CHECK((std::uintptr_t)g % 8192 == 0 && owner(g));
	delete g;
	std::string s(1000, 'x'); // libstdc++'s own allocations come here too
	CHECK(owner(s.data()));
}

// ---- mismatches: each in a child, which must print the line and abort ----

static int expect_fd = -1;

// Tell the driver the exact line the next call must print.
static void expect(const char *fmt, void *p)
{
	char buf[512];
	int n = std::snprintf(buf, sizeof(buf), fmt, p);
	CHECK(write(expect_fd, buf, (std::size_t)n) == n);
}

// Hardened mode (SLABMALLOC_HARDEN=1): an object's size is what was asked
// for, in the class of that size plus 8 (docs/architecture.md, section 18).
static bool hardened()
{
	const char *h = std::getenv("SLABMALLOC_HARDEN");
	return h && std::strcmp(h, "1") == 0;
}

static void mismatch_size()
{
	void *p = ::operator new(100); // kmalloc-112 (hardened: 108 bytes needed, the same)
	expect(hardened() ? "slabmalloc: operator delete of %p: size 200 given, but it is a 100-byte "
			    "object of cache kmalloc-112\n"
			  : "slabmalloc: operator delete of %p: size 200 given, but it is a 112-byte "
			    "object of cache kmalloc-112\n",
	       p);
	::operator delete(p, 200);
}

static void mismatch_array_run()
{
	void *p = ::operator new[](100000); // a page run of 25 pages
	expect("slabmalloc: operator delete of %p: size 50000 given, but it is a page run of "
	       "102400 bytes\n", p);
	::operator delete[](p, 50000);
}

static void mismatch_alignment()
{
	void *p;
	// An object of kmalloc-48 that is not 64-aligned (hardened: 40 bytes
	// asked for, 48 needed; 48 would need 56, in kmalloc-64, all aligned).
	std::size_t n = hardened() ? 40 : 48;
	do
		p = ::operator new(n);
	while ((std::uintptr_t)p % 64 == 0);
	expect(hardened() ? "slabmalloc: operator delete of %p: alignment 64 given, but it is a "
			    "40-byte object of cache kmalloc-48, not so aligned\n"
			  : "slabmalloc: operator delete of %p: alignment 64 given, but it is a "
			    "48-byte object of cache kmalloc-48, not so aligned\n",
	       p);
	::operator delete(p, std::align_val_t(64));
}

static void mismatch_aligned_size()
{
	void *p = ::operator new(5000, std::align_val_t(64)); // kmalloc-5120
	expect(hardened() ? "slabmalloc: operator delete of %p: size 9000 given, but it is a "
			    "5000-byte object of cache kmalloc-5120\n"
			  : "slabmalloc: operator delete of %p: size 9000 given, but it is a "
			    "5120-byte object of cache kmalloc-5120\n",
	       p);
	::operator delete(p, 9000, std::align_val_t(64));
}

static std::string drain(int fd)
{
	std::string s;
	char buf[1024];
	ssize_t n;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		s.append(buf, (std::size_t)n);
	close(fd);
	return s;
}

// Run @fn in a child: it must print exactly the line it announced, and abort.
static bool run_mismatch(const char *name, void (*fn)())
{
	int err[2], exp[2];
	CHECK(pipe(err) == 0 && pipe(exp) == 0);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		dup2(err[1], 2);
		close(err[0]);
		close(exp[0]);
		expect_fd = exp[1];
		alarm(30);
		fn();
		std::fprintf(stderr, "RETURNED\n");
		_exit(0);
	}
	close(err[1]);
	close(exp[1]);
	std::string want = drain(exp[0]), got = drain(err[0]);
	int st;
	CHECK(waitpid(pid, &st, 0) == pid);
	bool ok = WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT && !want.empty() && got == want;
	std::printf("%s %-22s %s", ok ? "PASS" : "FAIL", name, got.c_str());
	if (!ok)
		std::printf("  expected: %s  status 0x%x\n", want.c_str(), st);
	return ok;
}

int main()
{
	setvbuf(stdout, nullptr, _IOLBF, 0);
	owner = (void *(*)(const void *))dlsym(RTLD_DEFAULT, "sm_ptr_instance");
	CHECK(owner); // the library is loaded (linked, or preloaded)
	test_new_handler();
	std::printf("PASS new_handler then std::bad_alloc\n");
	test_nothrow();
	std::printf("PASS nothrow forms return NULL\n");
	test_sizes_and_alignments();
	std::printf("PASS sized and aligned new/delete\n");
	bool ok = run_mismatch("sized_delete", mismatch_size);
	ok &= run_mismatch("sized_array_delete_run", mismatch_array_run);
	ok &= run_mismatch("aligned_delete", mismatch_alignment);
	ok &= run_mismatch("aligned_sized_delete", mismatch_aligned_size);
	return ok ? 0 : 1;
}
