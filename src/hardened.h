/*
 * hardened.h - hardened mode's paths (SLABMALLOC_HARDEN=1 or the hardened
 * library; docs/architecture.md "Hardened mode"): which object a request
 * gets, what a free does before the object goes back, realloc and ksize of
 * a hardened object.  A hardened instance's threads have no tcache
 * (registry.c thread_attach), so every fast path misses and its slow path
 * calls in here: default mode never reaches this file.
 */
#ifndef SM_HARDENED_H
#define SM_HARDENED_H

#include <stdbool.h>
#include <stddef.h>

#include "harden.h"
#include "instance.h"

/*
 * An object for a request that chose @s (for a kmalloc cache: the class of
 * @size with @align, both as the caller got them; @size
 * HARDEN_SIZE_UNKNOWN: the class size) on @node with alloc_flags @flags.
 * A kmalloc request gets the class of @size + HARDEN_PAD (a page run past
 * the largest class) and its canary and size record; a SLAB_ALLOC_ZERO
 * one is sized at its class (the caller zeroes the class size).  Every
 * object is checked to be still zero (harden_obj_check_zero).  Busy left
 * to the caller, as slab_alloc_bypass does.  NULL: ENOMEM.
 */
void *hardened_alloc(struct kmem_cache *s, unsigned flags, int node, size_t size,
		     size_t align) __hidden;

/*
 * The free of @p, a live object of @s (double frees sorted out by the
 * caller), with busy set: canary checked (a broken one is reported and @p
 * left alone), then @p scrubbed, marked free and quarantined; what the
 * quarantine evicts goes back to its slab.  @trylock: only try locks
 * (re-entered); what cannot be freed now is deferred.
 */
void hardened_free(struct kmem_cache *s, void *p, bool trylock) __hidden;

/* sm_krealloc of @p, a live object of hardened kmalloc cache @s, to @n > 0 bytes. */
void *hardened_krealloc(struct kmem_cache *s, void *p, size_t n, unsigned gfp) __hidden;

/* slab_alloc_bypass without the hardened redirection (alloc.c). */
void *slab_alloc_bypass_raw(struct kmem_cache *s, unsigned flags, int node) __hidden;

#endif /* SM_HARDENED_H */
