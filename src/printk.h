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

struct sm_instance;

/* Like vsnprintf: returns the length written (truncated to @n - 1). */
size_t sm_vsnprintf(char *buf, size_t n, const char *fmt, va_list ap) __hidden;
size_t sm_snprintf(char *buf, size_t n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4))) __hidden;
/* Format into a stack buffer (512 bytes) and write it to stderr. */
void sm_printk(const char *fmt, ...) __attribute__((format(printf, 1, 2))) __hidden;

/*
 * Report invalid input or corruption found in @inst ("slabmalloc: " is
 * prefixed).  With the instance's error handler set, the handler gets the
 * message and sm_report returns; without, the message goes to stderr and the
 * process aborts.  @inst may be NULL (the default instance's handler).
 */
void sm_report(struct sm_instance *inst, const char *fmt, ...)
	__attribute__((format(printf, 2, 3))) __cold __hidden;

#endif /* SM_PRINTK_H */
