/*
 * tls_module.c - a module the "early" test dlopens: a large __thread array
 * (too big for the static TLS surplus, so glibc allocates each thread's block
 * with malloc when the thread first touches it, and frees it with free when
 * the thread exits) and a constructor and destructor that allocate and free.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ptest.h"

#define EXPORT __attribute__((visibility("default")))
#define TLS_BYTES (256 * 1024)

EXPORT void *tls_module_ctor_ptr(void);
EXPORT void *tls_module_block(void);
EXPORT size_t tls_module_touch(uint64_t seed);

static __thread unsigned char tls_big[TLS_BYTES] __attribute__((aligned(64)));
static __thread uint64_t tls_seed;
static __thread int tls_used;

static void *ctor_buf;
static char *ctor_str;

__attribute__((constructor)) static void tls_module_ctor(void)
{
	ctor_buf = malloc(5000);
	if (ctor_buf)
		fill(ctor_buf, 5000, 77);
	ctor_str = strdup("tls_module");
}

__attribute__((destructor)) static void tls_module_dtor(void)
{
	free(ctor_buf);
	free(ctor_str);
}

/* The constructor's allocation if it is intact, else NULL. */
EXPORT void *tls_module_ctor_ptr(void)
{
	if (!ctor_buf || !ctor_str || strcmp(ctor_str, "tls_module"))
		return NULL;
	return check_fill(ctor_buf, 5000, 77) == (size_t)-1 ? ctor_buf : NULL;
}

/* This thread's TLS block of the module. */
EXPORT void *tls_module_block(void)
{
	return tls_big;
}

/*
 * Check this thread's array (zero the first time, else the last pattern),
 * then fill it with @seed's pattern.  0 on success, else 1 + the bad offset.
 */
EXPORT size_t tls_module_touch(uint64_t seed)
{
	size_t bad = tls_used ? check_fill(tls_big, TLS_BYTES, tls_seed) : first_nonzero(tls_big, TLS_BYTES);
	if (bad != (size_t)-1)
		return bad + 1;
	fill(tls_big, TLS_BYTES, seed);
	tls_seed = seed;
	tls_used = 1;
	return 0;
}
