/*
 * static_cache.c - a cache set up in the program's own storage from a
 * constructor function, before main and before the process's first malloc
 * (issue 12 section 3).  The program is linked against libslabmalloc.so, so
 * slabmalloc is its malloc.  The constructor checks that the default
 * instance has allocated nothing yet, sets the cache up with
 * SM_CACHE_SETUP, and checks that nothing was allocated for its descriptor
 * (every kmalloc cache and page counter of the default instance unchanged,
 * the cache at the storage's address); then allocates and frees from it.
 * main keeps using it while malloc runs, destroys it (the storage stays,
 * zeroed) and sets it up again.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ptest.h"
#include "slabmalloc.h"

struct session {
	uint64_t id;
	char user[40];
	void *next;
} __attribute__((aligned(32)));

/* What the default instance has allocated (malloc's kmalloc caches and pages). */
struct footprint {
	size_t kmalloc_objects, kmalloc_slabs, caches;
	size_t slab_bytes, large_bytes, committed_bytes;
};

static void count(const struct sm_cache_stats *st, void *arg)
{
	struct footprint *f = arg;
	if (strncmp(st->name, "kmalloc-", 8) == 0) {
		f->kmalloc_objects += st->active_objects + st->sheaf_objects;
		f->kmalloc_slabs += st->slabs;
	}
}

static struct footprint footprint(sm_instance_t *inst)
{
	struct footprint f;
	memset(&f, 0, sizeof(f));
	sm_cache_foreach(inst, count, &f);
	struct sm_stats st;
	sm_stats_get(inst, &st);
	f.caches = st.caches;
	f.slab_bytes = st.slab_bytes;
	f.large_bytes = st.large_bytes;
	f.committed_bytes = st.committed_bytes;
	return f;
}

static struct sm_cache_storage session_storage;
static sm_cache_t *sessions;
static struct footprint before, after;
static int ctor_bad;

__attribute__((constructor(101))) static void sessions_init(void)
{
	sm_instance_t *inst = sm_default_instance();
	before = footprint(inst);
	sessions = SM_CACHE_SETUP(&session_storage, inst, struct session, 0);
	after = footprint(inst);
	struct session *v[300];
	for (int i = 0; i < 300; i++) {
		v[i] = sm_cache_alloc(sessions, SM_GFP_ZERO);
		if (!v[i] || v[i]->id || (uintptr_t)v[i] % 32)
			ctor_bad = 1;
		else
			v[i]->id = (uint64_t)i + 1;
	}
	for (int i = 0; i < 300; i++)
		if (v[i] && v[i]->id != (uint64_t)i + 1)
			ctor_bad |= 2;
	for (int i = 0; i < 300; i++)
		sm_cache_free(sessions, v[i]);
}

int main(void)
{
	/* Before main: the process had allocated nothing through malloc. */
	CHECK_EQ(before.kmalloc_objects, 0);
	CHECK_EQ(before.kmalloc_slabs, 0);
	CHECK_EQ(before.slab_bytes, 0);
	/* And setting the cache up allocated nothing either. */
	CHECK(sessions == (sm_cache_t *)&session_storage);
	CHECK_EQ(after.kmalloc_objects, before.kmalloc_objects);
	CHECK_EQ(after.kmalloc_slabs, before.kmalloc_slabs);
	CHECK_EQ(after.slab_bytes, before.slab_bytes);
	CHECK_EQ(after.large_bytes, before.large_bytes);
	CHECK_EQ(after.committed_bytes, before.committed_bytes);
	CHECK_EQ(after.caches, before.caches + 1);
	CHECK_EQ(ctor_bad, 0);
	CHECK(strcmp(sm_cache_name(sessions), "struct session") == 0);

	/* It keeps working beside malloc. */
	void *m[1000];
	struct session *s[1000];
	for (int i = 0; i < 1000; i++) {
		m[i] = malloc((size_t)(i % 97) * 8 + 1);
		s[i] = sm_cache_alloc(sessions, 0);
		CHECK(m[i] && s[i]);
		s[i]->id = (uint64_t)i;
		CHECK(sm_ptr_instance(s[i]) == sm_default_instance());
	}
	for (int i = 0; i < 1000; i++) {
		CHECK_EQ(s[i]->id, (uint64_t)i);
		sm_cache_free(sessions, s[i]);
		free(m[i]);
	}

	/* Destroy: the storage is left, zeroed; set up again. */
	CHECK_EQ(sm_cache_destroy(sessions), 0);
	for (size_t i = 0; i < sizeof(session_storage); i++)
		CHECK_EQ(((unsigned char *)&session_storage)[i], 0);
	sessions = sm_cache_setup(&session_storage, sm_default_instance(), "again", 100, 0, 0, NULL);
	CHECK(sessions == (sm_cache_t *)&session_storage);
	void *p = sm_cache_alloc(sessions, 0);
	CHECK(p);
	sm_cache_free(sessions, p);
	CHECK_EQ(sm_cache_destroy(sessions), 0);
	printf("static_cache: ok\n");
	return 0;
}
