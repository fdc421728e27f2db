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
#define SM_MAX_SHEAF_CAPACITY 1024
#define SM_DEFAULT_PURGE_DELAY_MS 100

bool options_valid(const struct sm_options *o) __hidden;

#endif /* SM_OPTIONS_H */
