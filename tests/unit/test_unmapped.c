/*
 * test_unmapped.c - unmapped nodes (issue 12, section 2): memfd_secret(2)
 * where the kernel has it, else a locked, MADV_DONTDUMP, MADV_WIPEONFORK
 * mapping (forced here with os_unmapped_no_secretmem), and sm_node_info
 * says which.  Only SM_CTX_UNMAPPED requests land there, and they land
 * nowhere else (NULL with ENOMEM); objects and page runs are zeroed when
 * freed; a fork child sees zeros; and a core dump of a process holding a
 * secret in either kind of unmapped node does not contain it.
 *
 * The core dump: a child process writes a secret into an unmapped node
 * and a control value into ordinary memory, byte by byte from a seed (so
 * no other copy of either exists in the process), enables core dumps
 * (RLIMIT_CORE, PR_SET_DUMPABLE) in a temporary directory it changes to,
 * and aborts.  /proc/sys/kernel/core_pattern is used as it is.  If a core
 * file appears, it must hold the control value (the dump works and holds
 * the heap) and neither secret.  If the system writes no core file here
 * (a core_pattern that pipes to a collector, or a container without
 * dumps), the test says so and checks what a dump would take instead:
 * the secret node's pages cannot be read through /proc/<pid>/mem
 * (secretmem), and the fallback node's mapping carries the "dd" (no dump)
 * flag in /proc/<pid>/smaps.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "test.h"
#include "instance.h"
#include "kmem_cache.h"
#include "node.h"
#include "os.h"

#define MiB ((size_t)1 << 20)
#define SECRET_LEN 48

static sm_instance_t *new_instance(struct test_errors *e)
{
	struct sm_options o = test_options(e);
	o.node_size = 4 * MiB;
	o.max_nodes = 4;
	sm_instance_t *inst = sm_instance_create(&o);
	CHECK(inst != NULL);
	return inst;
}

static int unmapped_node(sm_instance_t *inst, bool fallback)
{
	os_unmapped_no_secretmem = fallback;
	struct sm_node_params p = { .size = 4 * MiB, .flags = SM_NODE_UNMAPPED, .numa_node = -1 };
	int id = sm_node_create(inst, &p);
	os_unmapped_no_secretmem = false;
	CHECK(id > 0);
	return id;
}

static bool all_zero(const void *p, size_t n)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

/* The VmFlags line of the mapping of /proc/@pid/smaps that holds @addr. */
static bool vm_flags_of(pid_t pid, const void *addr, char *out, size_t len)
{
	char path[64], line[512];
	snprintf(path, sizeof(path), "/proc/%d/smaps", (int)pid);
	FILE *f = fopen(path, "r");
	CHECK(f != NULL);
	bool in = false, found = false;
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;
		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' '))
			in = (uintptr_t)addr >= lo && (uintptr_t)addr < hi;
		else if (in && strncmp(line, "VmFlags:", 8) == 0) {
			snprintf(out, len, "%.200s", line + 8);
			found = true;
			break;
		}
	}
	fclose(f);
	return found;
}

static void test_reach_and_zero(bool fallback)
{
	struct test_errors e = { 0 };
	sm_instance_t *inst = new_instance(&e);
	sm_cache_t *c = sm_cache_create(inst, "keys", 64, 0, 0, NULL);
	CHECK(c != NULL);
	struct sm_alloc_ctx um = { 0, SM_NO_NODE, SM_CTX_UNMAPPED };
	/* No unmapped node yet: such requests get nothing, not ordinary memory. */
	errno = 0;
	CHECK(sm_kmalloc_ctx(inst, 64, &um) == NULL);
	CHECK_EQ(errno, ENOMEM);
	CHECK(sm_cache_alloc_ctx(c, &um) == NULL);
	CHECK(sm_kmalloc_ctx(inst, 40000, &um) == NULL);

	int u = unmapped_node(inst, fallback);
	struct sm_node_status st;
	CHECK_EQ(sm_node_info(inst, u, &st), 0);
	CHECK_EQ(st.flags, SM_NODE_UNMAPPED);
	if (fallback)
		CHECK_EQ(st.backing, SM_BACKING_LOCKED);
	else
		CHECK(st.backing == SM_BACKING_SECRETMEM || st.backing == SM_BACKING_LOCKED);
	printf("unmapped node backing: %s\n", st.backing == SM_BACKING_SECRETMEM ? "memfd_secret" : "locked");

	/* Unmapped requests land there, by node or without one. */
	struct sm_alloc_ctx um_u = { 0, u, SM_CTX_UNMAPPED };
	unsigned char *obj = sm_kmalloc_ctx(inst, 64, &um), *cobj = sm_cache_alloc_ctx(c, &um_u);
	unsigned char *run = sm_kmalloc_ctx(inst, 40000, &um);
	CHECK(obj && cobj && run);
	CHECK(sm_ptr_node(obj) == u && sm_ptr_node(cobj) == u && sm_ptr_node(run) == u);
	if (fallback) {
		char flags[256];
		CHECK(vm_flags_of(getpid(), obj, flags, sizeof(flags)));
		CHECK(strstr(flags, " dd") && strstr(flags, " wf"));
		/* TSan's and ASan's runtimes intercept mlock and ignore it. */
		CHECK(strstr(flags, " lo") || under_tsan() || under_asan());
	}
	/* Nothing else does: plain, preferred, THISNODE, MANAGED without UNMAPPED. */
	struct sm_alloc_ctx managed_u = { 0, u, SM_CTX_MANAGED_NODE };
	CHECK(sm_kmalloc_node(inst, 64, SM_GFP_THISNODE, u) == NULL);
	CHECK(sm_kmalloc_ctx(inst, 64, &managed_u) == NULL);
	for (int i = 0; i < 2000; i++) {
		void *g = i & 1 ? sm_kmalloc_node(inst, 64, 0, u) : sm_cache_alloc(c, 0);
		CHECK(g && sm_ptr_node(g) != u);
		sm_kfree(g);
	}

	/* Zeroed when freed (a slab object keeps only its freelist link in its first word). */
	memset(obj, 0x5a, 64);
	memset(cobj, 0x5b, 64);
	memset(run, 0x5c, 40000);
	sm_kfree(obj);
	sm_cache_free(c, cobj);
	sm_kfree(run);
	CHECK(all_zero(obj + 8, 56));
	CHECK(all_zero(cobj + 8, 56));
	CHECK(all_zero(run, 40000));
	/* Also through the nolock calls and realloc (which stays in the node). */
	unsigned char *n1 = sm_kmalloc_nolock_ctx(inst, 128, &um);
	CHECK(n1 && sm_ptr_node(n1) == u);
	memset(n1, 0x77, 128);
	unsigned char *n2 = sm_krealloc(n1, 3000, 0);
	CHECK(n2 && sm_ptr_node(n2) == u && n2 != n1 && n2[127] == 0x77);
	CHECK(all_zero(n1 + 8, 120));
	memset(n2, 0x66, 3000);
	sm_kfree_nolock(n2);
	CHECK(all_zero(n2 + 8, 2992));

	/* A fork child does not get the parent's secrets: zeros in the
	   fallback (MADV_WIPEONFORK), no mapping at all with memfd_secret
	   (MADV_DONTFORK: not read here, it would fault).  The node is not
	   the child's: unmapped requests fail there, a free of the parent's
	   object is ignored, ordinary memory works. */
	unsigned char *kept = sm_kmalloc_ctx(inst, 64, &um);
	memset(kept, 0x42, 64);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		int bad = fallback && kept[5] != 0;
		bad |= (sm_kmalloc_ctx(inst, 64, &um) != NULL) << 1;
		sm_kfree(kept);
		void *g = sm_kmalloc(inst, 64, 0);
		bad |= (!g || sm_ptr_node(g) == u) << 2;
		sm_kfree(g);
		bad |= (e.count != 0) << 3;
		_exit(bad);
	}
	int status;
	CHECK(waitpid(pid, &status, 0) == pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fprintf(stderr, "fork child: status %#x\n", status);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	sm_kfree(kept);

	/* Full: unmapped requests fail rather than go elsewhere. */
	void **all = calloc(4096, sizeof(*all));
	unsigned n = 0;
	for (;;) {
		void *x = sm_kmalloc_ctx(inst, 8192, &um);
		if (!x) {
			CHECK_EQ(errno, ENOMEM);
			break;
		}
		CHECK(n < 4096);
		CHECK_EQ(sm_ptr_node(x), u);
		all[n++] = x;
	}
	CHECK(n > 100);
	for (unsigned i = 0; i < n; i++)
		sm_kfree(all[i]);
	free(all);
	CHECK_EQ(e.count, 0);
	sm_instance_destroy(inst);
}

/* ---- the core dump ---- */

static void fill_from_seed(unsigned char *dst, uint64_t seed)
{
	for (unsigned i = 0; i < SECRET_LEN; i++)
		dst[i] = (unsigned char)(mix64(seed + i / 8) >> (8 * (i % 8)));
}

static bool file_contains(const char *path, const unsigned char *needle)
{
	FILE *f = fopen(path, "rb");
	CHECK(f != NULL);
	size_t cap = (size_t)1 << 20, have = 0;
	unsigned char *buf = malloc(cap + SECRET_LEN);
	CHECK(buf != NULL);
	bool found = false;
	/* Sliding window: keep the last SECRET_LEN-1 bytes of each block. */
	size_t n;
	while ((n = fread(buf + have, 1, cap, f)) > 0) {
		size_t len = have + n;
		if (memmem(buf, len, needle, SECRET_LEN))
			found = true;
		have = len < SECRET_LEN - 1 ? len : SECRET_LEN - 1;
		memmove(buf, buf + len - have, have);
	}
	fclose(f);
	free(buf);
	return found;
}

static void test_core_dump(void)
{
	uint64_t seed = (uint64_t)getpid() * 0x9e3779b97f4a7c15ull ^ (uint64_t)time(NULL);
	char dir[] = "/tmp/nodes-core-XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	int go[2], addr[2];
	CHECK(pipe(go) == 0 && pipe(addr) == 0);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		/* The child makes its own nodes (a parent's secrets are never a
		   fork child's) and writes the secrets and the control in place
		   from the seed. */
		struct test_errors e = { 0 };
		sm_instance_t *inst = new_instance(&e);
		int us = unmapped_node(inst, false), ul = unmapped_node(inst, true);
		/* THISNODE: a node named without it is only preferred. */
		struct sm_alloc_ctx cs = { SM_GFP_THISNODE, us, SM_CTX_UNMAPPED };
		struct sm_alloc_ctx cl = { SM_GFP_THISNODE, ul, SM_CTX_UNMAPPED };
		unsigned char *p[3] = { sm_kmalloc_ctx(inst, 64, &cs), sm_kmalloc_ctx(inst, 64, &cl),
					sm_kmalloc(inst, 64, 0) };
		if (!p[0] || !p[1] || !p[2] || sm_ptr_node(p[0]) != us || sm_ptr_node(p[1]) != ul ||
		    sm_ptr_node(p[2]) != 0)
			_exit(2);
		fill_from_seed(p[0], seed);
		fill_from_seed(p[1], seed + 100);
		fill_from_seed(p[2], seed + 200);
		struct sm_node_status st;
		sm_node_info(inst, us, &st);
		uintptr_t msg[4] = { (uintptr_t)p[0], (uintptr_t)p[1], (uintptr_t)p[2], st.backing };
		if (write(addr[1], msg, sizeof(msg)) != sizeof(msg))
			_exit(5);
		struct rlimit rl = { RLIM_INFINITY, RLIM_INFINITY };
		if (setrlimit(RLIMIT_CORE, &rl) != 0) {
			getrlimit(RLIMIT_CORE, &rl);
			rl.rlim_cur = rl.rlim_max;
			setrlimit(RLIMIT_CORE, &rl);
		}
		prctl(PR_SET_DUMPABLE, 1);
		if (chdir(dir) != 0)
			_exit(3);
		char c;
		if (read(go[0], &c, 1) != 1) /* the parent looks first */
			_exit(4);
		signal(SIGABRT, SIG_DFL);
		abort();
	}
	/* Meanwhile: what /proc shows of the child's memory (the fallback check). */
	uintptr_t msg[4];
	CHECK(read(addr[0], msg, sizeof(msg)) == sizeof(msg));
	void *s1 = (void *)msg[0], *s2 = (void *)msg[1], *ctl = (void *)msg[2];
	char path[64], flags[256];
	snprintf(path, sizeof(path), "/proc/%d/mem", (int)pid);
	int fd = open(path, O_RDONLY);
	unsigned char peek[SECRET_LEN];
	bool mem_open = fd >= 0;
	ssize_t secret_read = mem_open ? pread(fd, peek, sizeof(peek), (off_t)(uintptr_t)s1) : -1;
	ssize_t ctl_read = mem_open ? pread(fd, peek, sizeof(peek), (off_t)(uintptr_t)ctl) : -1;
	if (fd >= 0)
		close(fd);
	bool s2_dd = vm_flags_of(pid, s2, flags, sizeof(flags)) && strstr(flags, " dd");
	CHECK(write(go[1], "x", 1) == 1);
	int status;
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);

	unsigned char secret1[SECRET_LEN], secret2[SECRET_LEN], control[SECRET_LEN];
	fill_from_seed(secret1, seed);
	fill_from_seed(secret2, seed + 100);
	fill_from_seed(control, seed + 200);
	char core[512] = "";
	DIR *dd = opendir(dir);
	CHECK(dd != NULL);
	struct dirent *de;
	while ((de = readdir(dd)))
		if (strncmp(de->d_name, "core", 4) == 0)
			snprintf(core, sizeof(core), "%s/%s", dir, de->d_name);
	closedir(dd);
	if (WCOREDUMP(status) && core[0]) {
		struct stat sb;
		CHECK(stat(core, &sb) == 0);
		printf("core dump %s: %lld bytes\n", core, (long long)sb.st_size);
		CHECK(file_contains(core, control));  /* the dump holds the heap ... */
		CHECK(!file_contains(core, secret1)); /* ... but not the memfd_secret node */
		CHECK(!file_contains(core, secret2)); /* ... nor the locked, no-dump one */
		unlink(core);
	} else {
		printf("no core file in this environment (core_pattern, limits): "
		       "checking /proc/<pid>/mem and smaps instead\n");
		CHECK(mem_open && ctl_read == SECRET_LEN); /* ordinary memory is readable */
		if (msg[3] == SM_BACKING_SECRETMEM)
			CHECK(secret_read < 0); /* secretmem pages cannot be read by anyone else */
		CHECK(s2_dd);
	}
	rmdir(dir);
	close(go[0]);
	close(go[1]);
	close(addr[0]);
	close(addr[1]);
}

int main(void)
{
	test_reach_and_zero(false);
	test_reach_and_zero(true);
	test_core_dump();
	printf("test_unmapped: ok\n");
	return 0;
}
