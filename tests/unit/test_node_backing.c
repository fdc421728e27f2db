/*
 * test_node_backing.c - nodes with their own backing (issue 12, section
 * 2): reserved regions (the CMA analogue: the caller's memory, used only by
 * SM_CTX_CMA requests, left to its owner by destroy), a region in a memfd
 * shared with a child process, and a node with its own sm_os_ops (every
 * primitive of that node goes through them, none through the instance's).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "test.h"
#include "instance.h"
#include "kmem_cache.h"
#include "node.h"
#include "os.h"

#define MiB ((size_t)1 << 20)

static sm_instance_t *new_instance(struct test_errors *e)
{
	struct sm_options o = test_options(e);
	o.node_size = 4 * MiB;
	o.max_nodes = 2;
	sm_instance_t *inst = sm_instance_create(&o);
	CHECK(inst != NULL);
	return inst;
}

static bool in_region(const void *p, const void *r, size_t size)
{
	return (uintptr_t)p >= (uintptr_t)r && (uintptr_t)p < (uintptr_t)r + size;
}

/* A static array: the caller's memory, in the program's data segment. */
static char region[8 * MiB] __attribute__((aligned(4096)));
static char region2[MiB] __attribute__((aligned(4096)));

static void test_reserved(void)
{
	struct test_errors e = { 0 };
	sm_instance_t *inst = new_instance(&e);
	sm_cache_t *c = sm_cache_create(inst, "cma", 120, 0, 0, NULL);
	CHECK(c != NULL);
	/* Bad regions. */
	struct sm_node_params bad = { .size = MiB, .flags = SM_NODE_RESERVED, .numa_node = -1,
				      .region = region + 100 };
	errno = 0;
	CHECK_EQ(sm_node_create(inst, &bad), -1);
	CHECK_EQ(errno, EINVAL);
	struct sm_node_params prm = { .size = sizeof(region), .flags = SM_NODE_RESERVED,
				      .numa_node = -1, .region = region };
	int r = sm_node_create(inst, &prm);
	CHECK(r > 0);
	struct sm_node_status st;
	CHECK_EQ(sm_node_info(inst, r, &st), 0);
	CHECK_EQ(st.backing, SM_BACKING_REGION);
	CHECK_EQ(st.size, sizeof(region));
	CHECK_EQ(sm_ptr_node(region), r);
	CHECK_EQ(sm_ptr_node(region + sizeof(region) - 1), r);
	/* Another node over the same 64 MiB granule cannot be: EINVAL. */
	struct sm_node_params clash = { .size = sizeof(region2), .flags = SM_NODE_RESERVED,
					.numa_node = -1, .region = region2 };
	if (((uintptr_t)region2 >> SM_NODE_SHIFT) == ((uintptr_t)region >> SM_NODE_SHIFT) ||
	    ((uintptr_t)region2 >> SM_NODE_SHIFT) == (((uintptr_t)region + sizeof(region) - 1) >> SM_NODE_SHIFT)) {
		errno = 0;
		CHECK_EQ(sm_node_create(inst, &clash), -1);
		CHECK_EQ(errno, EINVAL);
		/* Memory beside the region in its granule is not the node's. */
		CHECK_EQ(sm_ptr_node(region2), -1);
		CHECK(sm_ptr_instance(region2) == NULL);
	}
	CHECK(sm_ptr_instance(region) == inst);

	/* CMA requests use the region first: objects, cache objects, page runs, nolock. */
	struct sm_alloc_ctx cma = { 0, SM_NO_NODE, SM_CTX_CMA };
	/* Even while a general node holds a dirty free run that fits: the
	   page allocator's pass over every node's dirty runs (page_alloc.c)
	   is for requests without a preference. */
	void *gen = sm_kmalloc(inst, 50000, 0);
	CHECK(gen && !in_region(gen, region, sizeof(region)));
	sm_kfree(gen);
	sm_thread_flush(inst); /* past the run cache: a dirty free run of its node */
	void *first_run = sm_kmalloc_ctx(inst, 50000, &cma);
	CHECK(first_run && in_region(first_run, region, sizeof(region)));
	sm_kfree(first_run);
	enum { N = 2000 };
	void **v = calloc(N, sizeof(*v));
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < N; i++) {
			switch (i % 4) {
			case 0: v[i] = sm_kmalloc_ctx(inst, 64, &cma); break;
			case 1: v[i] = sm_cache_alloc_ctx(c, &cma); break;
			case 2: v[i] = sm_kmalloc_nolock_ctx(inst, 300, &cma); break;
			case 3: v[i] = (i % 64 == 3) ? sm_kmalloc_ctx(inst, 50000, &cma)
						     : sm_cache_alloc_nolock_ctx(c, &cma); break;
			}
			CHECK(v[i] != NULL);
			CHECK(in_region(v[i], region, sizeof(region)));
			CHECK_EQ(sm_ptr_node(v[i]), r);
			memset(v[i], 0x33, 64);
		}
		/* Nothing else gets there: plain, preferred, THISNODE alone. */
		for (int i = 0; i < 1000; i++) {
			void *g = i & 1 ? sm_kmalloc_node(inst, 64, 0, r) : sm_cache_alloc(c, 0);
			CHECK(g && !in_region(g, region, sizeof(region)));
			sm_kfree(g);
		}
		errno = 0;
		CHECK(sm_kmalloc_node(inst, 64, SM_GFP_THISNODE, r) == NULL);
		CHECK_EQ(errno, ENOMEM);
		/* Frees of every kind send them home: nothing out, nothing in a sheaf. */
		for (int i = 0; i < N; i++) {
			if (i % 4 == 1 || (i % 4 == 3 && i % 64 != 3))
				(i & 8) ? sm_cache_free(c, v[i]) : sm_cache_free_nolock(c, v[i]);
			else
				(i & 8) ? sm_kfree(v[i]) : sm_kfree_nolock(v[i]);
		}
		CHECK_EQ(c->node[r]->inuse, 0);
	}
	/* When the region is full, a CMA request falls back to general nodes. */
	size_t got = 0;
	void **all = calloc(4096, sizeof(*all));
	for (;;) {
		void *x = sm_kmalloc_ctx(inst, 8192, &cma);
		CHECK(x != NULL);
		if (!in_region(x, region, sizeof(region))) {
			sm_kfree(x);
			break;
		}
		CHECK(got < 4096);
		all[got++] = x;
	}
	CHECK(got > 500);
	for (size_t i = 0; i < got; i++)
		sm_kfree(all[i]);
	free(all);
	/* realloc keeps a region object in the region. */
	char *s = sm_kmalloc_ctx(inst, 10, &cma);
	strcpy(s, "region");
	s = sm_krealloc(s, 20000, 0);
	CHECK(s && in_region(s, region, sizeof(region)) && strcmp(s, "region") == 0);

	/* Destroy leaves the memory to its owner: still mapped, contents kept. */
	memset(s, 0xab, 20000);
	sm_purge(inst, true);
	CHECK_EQ((unsigned char)s[19999], 0xab);
	sm_instance_destroy(inst);
	CHECK_EQ((unsigned char)s[19999], 0xab);
	region[0] = 1; /* writable, ours */
	CHECK_EQ(sm_ptr_node(region), -1);
	/* ... and can be handed to another instance. */
	inst = new_instance(&e);
	CHECK(sm_node_create(inst, &prm) > 0);
	void *again = sm_kmalloc_ctx(inst, 64, &cma);
	CHECK(again && in_region(again, region, sizeof(region)));
	sm_kfree(again);
	sm_instance_destroy(inst);
	free(v);
	CHECK_EQ(e.count, 0);
}

/* A region in a memfd, shared with a child: what the parent puts there, the child reads. */
static void test_memfd_shared(void)
{
	struct test_errors e = { 0 };
	sm_instance_t *inst = new_instance(&e);
	size_t size = 4 * MiB;
	int fd = memfd_create("sm-shared", MFD_CLOEXEC);
	CHECK(fd >= 0 && ftruncate(fd, (off_t)size) == 0);
	char *shm = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHECK(shm != MAP_FAILED);
	struct sm_node_params prm = { .size = size, .flags = SM_NODE_RESERVED, .numa_node = -1,
				      .region = shm };
	int r = sm_node_create(inst, &prm);
	CHECK(r > 0);
	struct sm_alloc_ctx cma = { SM_GFP_THISNODE, r, SM_CTX_CMA };
	char *msg = sm_kmalloc_ctx(inst, 128, &cma);
	CHECK(msg && in_region(msg, shm, size));
	msg[0] = 0;
	int ready[2];
	CHECK(pipe(ready) == 0);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		char c;
		if (read(ready[0], &c, 1) != 1)
			_exit(2);
		_exit(strcmp(msg, "written after fork") == 0 ? 0 : 1);
	}
	strcpy(msg, "written after fork"); /* after the fork: only shared memory carries it */
	CHECK(write(ready[1], "x", 1) == 1);
	int status;
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	sm_kfree(msg);
	sm_instance_destroy(inst);
	munmap(shm, size);
	close(fd);
	close(ready[0]);
	close(ready[1]);
	CHECK_EQ(e.count, 0);
}

/* ---- a node with its own OS ---- */

struct count_os {
	unsigned reserves, commits, purges, releases;
	size_t live;
};

static void *c_reserve(size_t size, size_t align, void *arg)
{
	struct count_os *c = arg;
	c->reserves++;
	c->live += size;
	return sm_os_linux.reserve(size, align, NULL);
}

static int c_commit(void *p, size_t size, void *arg)
{
	((struct count_os *)arg)->commits++;
	return sm_os_linux.commit(p, size, NULL);
}

static int c_purge(void *p, size_t size, void *arg)
{
	((struct count_os *)arg)->purges++;
	return sm_os_linux.purge(p, size, NULL);
}

static void c_release(void *p, size_t size, void *arg)
{
	struct count_os *c = arg;
	c->releases++;
	c->live -= size;
	sm_os_linux.release(p, size, NULL);
}

static void test_node_os(void)
{
	struct count_os inst_os = { 0 }, node_os = { 0 };
	struct sm_os_ops iops = { .reserve = c_reserve, .commit = c_commit, .purge = c_purge,
				  .release = c_release, .arg = &inst_os };
	struct sm_os_ops nops = { .reserve = c_reserve, .commit = c_commit, .purge = c_purge,
				  .release = c_release, .arg = &node_os };
	struct test_errors e = { 0 };
	struct sm_options o = test_options(&e);
	o.node_size = 4 * MiB;
	o.max_nodes = 1;
	o.purge_delay_ms = 0;
	o.os = &iops;
	sm_instance_t *inst = sm_instance_create(&o);
	CHECK(inst != NULL);
	struct count_os before = inst_os;
	/* A general node with its own OS: the instance's is not called for it. */
	struct sm_node_params prm = { .size = 4 * MiB, .flags = 0, .numa_node = -1, .os = &nops };
	int id = sm_node_create(inst, &prm);
	CHECK(id > 0);
	CHECK_EQ(node_os.reserves, 1);
	CHECK(node_os.commits >= 1);
	CHECK_EQ(inst_os.reserves, before.reserves);
	CHECK_EQ(inst_os.commits, before.commits);
	unsigned icommits = inst_os.commits;
	/* Fill node 0 (max_nodes 1: no growth): page runs come from the new node. */
	void *runs[256];
	unsigned n = 0, on_id = 0;
	while (n < 256) {
		void *p = sm_kmalloc(inst, 256 << 10, 0);
		if (!p)
			break;
		on_id += sm_ptr_node(p) == id;
		runs[n++] = p;
	}
	CHECK(on_id > 0);
	unsigned ncommits = node_os.commits;
	CHECK(ncommits > 1); /* the node committed its data through its own OS */
	for (unsigned i = 0; i < n; i++)
		sm_kfree(runs[i]);
	sm_purge(inst, true);
	CHECK(node_os.purges > 0);
	CHECK(inst_os.commits >= icommits);
	sm_instance_destroy(inst);
	CHECK_EQ(node_os.releases, 1);
	CHECK_EQ(node_os.live, 0);
	CHECK_EQ(inst_os.live, 0);
	CHECK_EQ(e.count, 0);
}

int main(void)
{
	test_reserved();
	test_memfd_shared();
	test_node_os();
	printf("test_node_backing: ok\n");
	return 0;
}
