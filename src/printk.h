/*
 * printk.h - formatting and error reports without malloc or stdio.
 * sm_snprintf understands %s %c %d %i %u %x %p %% with the l, ll and z
 * length modifiers, a field width, a string precision (%.Ns, %.*s) and
 * the '-' and '0' flags; that is all the
 * core and the shim print.  Everything here is async-signal-safe.
 */
#ifndef SM_PRINTK_H
#define SM_PRINTK_H

#include <stdarg.h>
#include <stddef.h>
#include "compiler.h"

/*
 * Where reports of invalid input go: an instance's error handler, or with
 * a NULL handler, stderr and abort().  Every instance has one; its nodes
 * and caches point to it, so the layers below the instance report without
 * knowing it.
 */
struct report_sink {
	void (*handler)(const char *msg, void *arg);
	void *arg;
};

/* The default instance's sink, used for pointers that belong to no instance. */
extern struct report_sink sm_default_sink __hidden;

/* Like vsnprintf: returns the length written (truncated to @n - 1). */
size_t sm_vsnprintf(char *buf, size_t n, const char *fmt, va_list ap) __hidden;
size_t sm_snprintf(char *buf, size_t n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4))) __hidden;
/* Format into a stack buffer (512 bytes) and write it to stderr. */
void sm_printk(const char *fmt, ...) __attribute__((format(printf, 1, 2))) __hidden;

/*
 * Report invalid input or corruption ("slabmalloc: " is prefixed) to
 * @sink (NULL: sm_default_sink).  With a handler, the handler gets the
 * message and sm_report returns; without, the message goes to stderr and
 * the process aborts.
 */
void sm_report(const struct report_sink *sink, const char *fmt, ...)
	__attribute__((format(printf, 2, 3))) __cold __hidden;

#endif /* SM_PRINTK_H */
