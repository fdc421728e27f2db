/*
 * report.h - the statistics as text (the slabinfo-style table), JSON and
 * glibc's malloc_info XML, written through a caller's sink.  Each cache's
 * figures are copied out under the instance lock and formatted after it is
 * released, so a sink may allocate (malloc_info's FILE *); nothing here
 * allocates itself.
 */
#ifndef SM_REPORT_H
#define SM_REPORT_H

#include <stdbool.h>
#include <stddef.h>

#include "compiler.h"
#include "instance.h"

/* Where a report goes: called with each piece of output (not NUL-terminated). */
typedef void (*report_emit_fn)(const char *buf, size_t len, void *arg);

/*
 * The statistics of cache @id of @inst into @st: false when there is no
 * such cache (or the call re-entered the allocator).  Takes inst->lock.
 */
bool stats_cache_at(struct sm_instance *inst, unsigned id, struct sm_cache_stats *st) __hidden;

/* The table of sm_stats_print, and the same figures as one line of JSON. */
void report_text(struct sm_instance *inst, report_emit_fn emit, void *arg) __hidden;
void report_json(struct sm_instance *inst, report_emit_fn emit, void *arg) __hidden;

/*
 * malloc_info's XML (glibc's <malloc version="1"> shape: one <heap> with
 * <sizes>, <total> and <system> elements, then the totals), with
 * slabmalloc's caches in a <caches> element of the heap.
 */
void report_xml(struct sm_instance *inst, report_emit_fn emit, void *arg) __hidden;

/*
 * The report SLABMALLOC_STATS asks for, of the default instance, to
 * SLABMALLOC_STATS_FILE (appended to; %p is the process id) or stderr.
 * @final: at exit (else a periodic one).
 */
void report_default(bool final) __hidden;

#endif /* SM_REPORT_H */
