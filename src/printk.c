/*
 * printk.c - a small printf for the allocator's own messages.  It writes into
 * a caller's buffer and never allocates, so it is safe while allocator state
 * is held and inside signal handlers (libc's printf family is neither).
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "os.h"
#include "printk.h"

struct report_sink sm_default_sink;

struct out {
	char *buf;
	size_t n, len;
};

static void put(struct out *o, char c)
{
	if (o->len + 1 < o->n)
		o->buf[o->len] = c;
	o->len++;
}

static void put_field(struct out *o, const char *s, size_t len, int width, bool left, char pad)
{
	size_t w = width > 0 ? (size_t)width : 0;
	if (!left)
		for (size_t i = len; i < w; i++)
			put(o, pad);
	for (size_t i = 0; i < len; i++)
		put(o, s[i]);
	if (left)
		for (size_t i = len; i < w; i++)
			put(o, ' ');
}

size_t sm_vsnprintf(char *buf, size_t n, const char *fmt, va_list ap)
{
	struct out o = { buf, n, 0 };
	for (const char *f = fmt; *f; f++) {
		if (*f != '%') {
			put(&o, *f);
			continue;
		}
		f++;
		bool left = false;
		char pad = ' ';
		for (;; f++) {
			if (*f == '-')
				left = true;
			else if (*f == '0')
				pad = '0';
			else
				break;
		}
		int width = 0, prec = -1;
		while (*f >= '0' && *f <= '9')
			width = width * 10 + (*f++ - '0');
		if (*f == '.') {
			prec = 0;
			if (*++f == '*') {
				prec = va_arg(ap, int);
				f++;
			} else {
				while (*f >= '0' && *f <= '9')
					prec = prec * 10 + (*f++ - '0');
			}
		}
		int lng = 0; /* 0 int, 1 long, 2 long long, 3 size_t */
		if (*f == 'l') {
			lng = 1;
			if (*++f == 'l') {
				lng = 2;
				f++;
			}
		} else if (*f == 'z') {
			lng = 3;
			f++;
		}
		char tmp[24];
		unsigned long long v;
		bool neg = false;
		int base = 10;
		switch (*f) {
		case '\0':
			f--;
			continue;
		case '%':
			put(&o, '%');
			continue;
		case 'c':
			tmp[0] = (char)va_arg(ap, int);
			put_field(&o, tmp, 1, width, left, ' ');
			continue;
		case 's': {
			const char *s = va_arg(ap, const char *);
			if (!s)
				s = "(null)";
			size_t len = strlen(s);
			if (prec >= 0 && (size_t)prec < len)
				len = (size_t)prec;
			put_field(&o, s, len, width, left, ' ');
			continue;
		}
		case 'p':
			v = (uintptr_t)va_arg(ap, void *);
			base = 16;
			put(&o, '0');
			put(&o, 'x');
			break;
		case 'd':
		case 'i': {
			long long sv = lng == 0 ? va_arg(ap, int) : lng == 3 ? (long long)va_arg(ap, ptrdiff_t)
				     : lng == 1 ? va_arg(ap, long) : va_arg(ap, long long);
			neg = sv < 0;
			v = neg ? 0ull - (unsigned long long)sv : (unsigned long long)sv;
			break;
		}
		case 'x':
			base = 16;
			/* fall through */
		case 'u':
			v = lng == 0 ? va_arg(ap, unsigned) : lng == 3 ? va_arg(ap, size_t)
			  : lng == 1 ? va_arg(ap, unsigned long) : va_arg(ap, unsigned long long);
			break;
		default:
			put(&o, '%');
			put(&o, *f);
			continue;
		}
		size_t i = sizeof(tmp);
		do {
			unsigned d = (unsigned)(v % (unsigned)base);
			tmp[--i] = (char)(d < 10 ? '0' + d : 'a' + d - 10);
			v /= (unsigned)base;
		} while (v);
		if (neg)
			tmp[--i] = '-';
		put_field(&o, tmp + i, sizeof(tmp) - i, width, left, pad);
	}
	if (o.n)
		o.buf[o.len < o.n ? o.len : o.n - 1] = '\0';
	return o.len < o.n ? o.len : (o.n ? o.n - 1 : 0);
}

size_t sm_snprintf(char *buf, size_t n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	size_t r = sm_vsnprintf(buf, n, fmt, ap);
	va_end(ap);
	return r;
}

void sm_printk(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	size_t len = sm_vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	os_write_stderr(buf, len);
}

void sm_report(const struct report_sink *sink, const char *fmt, ...)
{
	char buf[400];
	size_t len = sm_snprintf(buf, sizeof(buf), "slabmalloc: ");
	va_list ap;
	va_start(ap, fmt);
	len += sm_vsnprintf(buf + len, sizeof(buf) - len, fmt, ap);
	va_end(ap);
	if (!sink)
		sink = &sm_default_sink;
	void (*handler)(const char *, void *) = READ_ONCE(sink->handler);
	if (handler) {
		handler(buf, sink->arg);
		return;
	}
	buf[len] = '\n';
	os_write_stderr(buf, len + 1);
	abort();
}

void sm_bug(const char *file, int line, const char *what)
{
	sm_printk("slabmalloc: BUG at %s:%d: %s\n", file, line, what);
	abort();
}
