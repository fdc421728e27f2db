/*
 * linux/slab.h for code written against the kernel's slab API: with
 * -I<prefix>/include/slabmalloc/compat, `#include <linux/slab.h>` gives
 * <slabmalloc/kernel.h> (the kernel's names on slabmalloc's default instance).
 */
#ifndef SLABMALLOC_COMPAT_LINUX_SLAB_H
#define SLABMALLOC_COMPAT_LINUX_SLAB_H
#include <slabmalloc/kernel.h>
#endif
