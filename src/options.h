/*
 * options.h - limits and defaults of the instance options (struct
 * sm_options in slabmalloc.h) and their validation.
 */
#ifndef SM_OPTIONS_H
#define SM_OPTIONS_H

#include <stdbool.h>
#include "slabmalloc.h"
#include "compiler.h"

#define SM_MIN_NODE_SIZE ((size_t)1 << 20)   /* 1 MiB: tests use small nodes */
#define SM_MAX_NODE_SIZE ((size_t)1 << 40)
/*
 * The first node by default: 64 MiB, one granule of the node map (a smaller
 * node would still take a whole granule of address space).  It holds page
 * runs up to the default huge threshold (32 MiB), costs a process little of
 * its address space (a 1 GiB start killed programs run with ulimit -v), and
 * with each further node doubling, 15 nodes reach the 1 TiB maximum.
 */
#define SM_DEFAULT_NODE_SIZE ((size_t)64 << 20)
/*
 * The largest huge threshold: a page run below it must fit in a node of
 * SM_MAX_NODE_SIZE, aligned (to 2 MiB at most), and its page count in the
 * 32 bits of the page descriptors.
 */
#define SM_MAX_HUGE_THRESHOLD (SM_MAX_NODE_SIZE / 2)
#define SM_MAX_SHEAF_CAPACITY 1024
#define SM_DEFAULT_PURGE_DELAY_MS 100
#define SM_DEFAULT_HUGE_THRESHOLD ((size_t)32 << 20)

bool options_valid(const struct sm_options *o) __hidden;

#endif /* SM_OPTIONS_H */
