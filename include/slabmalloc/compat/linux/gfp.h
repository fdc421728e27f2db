/*
 * linux/gfp.h for code written against the kernel's slab API: the gfp flags
 * are defined by <slabmalloc/kernel.h> (see compat/linux/slab.h).
 */
#ifndef SLABMALLOC_COMPAT_LINUX_GFP_H
#define SLABMALLOC_COMPAT_LINUX_GFP_H
#include <slabmalloc/kernel.h>
#endif
