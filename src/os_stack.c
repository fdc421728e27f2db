/*
 * os_stack.c - stack traces and symbol names for slab_debug (os_stack.h).
 * The unwinder runs inside allocations (it must not allocate or wait);
 * dladdr only when a report is printed, outside every allocator lock.
 * libgcc's unwinder is found at run time (os_stack_prepare), not linked
 * in: it is 19 KiB of text every process would map for a debugging mode
 * (docs/benchmarks.md, "The library's text counts whole in every
 * process").
 */
#define _GNU_SOURCE /* dladdr, _dl_find_object */
#include <dlfcn.h>
#include <link.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <unwind.h>

#include "os_stack.h"
#include "printk.h"

struct trace_state {
	void **pcs;
	unsigned n, max, skip;
	unsigned outside, after; /* frames outside the library so far, and the limit */
};

/* libgcc's _Unwind_Backtrace and _Unwind_GetIP, once os_stack_prepare found them. */
struct unwinder {
	_Unwind_Reason_Code (*backtrace)(_Unwind_Trace_Fn, void *);
	_Unwind_Ptr (*get_ip)(struct _Unwind_Context *);
};
static struct unwinder unwinder;
static int unwinder_state; /* 0 not looked for, 1 found, -1 not to be had */

static bool unwinder_lookup(void *handle)
{
	void *bt = dlsym(handle, "_Unwind_Backtrace"), *ip = dlsym(handle, "_Unwind_GetIP");
	if (!bt || !ip)
		return false;
	/* Racing threads store the same values: atomic, so that a reader
	   past unwinder_state's acquire never sees a torn one. */
	__atomic_store_n(&unwinder.backtrace, (_Unwind_Reason_Code (*)(_Unwind_Trace_Fn, void *))bt,
			 __ATOMIC_RELAXED);
	__atomic_store_n(&unwinder.get_ip, (_Unwind_Ptr (*)(struct _Unwind_Context *))ip,
			 __ATOMIC_RELAXED);
	return true;
}

bool os_stack_prepare(void)
{
	int st = __atomic_load_n(&unwinder_state, __ATOMIC_ACQUIRE);
	if (st)
		return st > 0;
	/* The process's own (a C++ program has libgcc_s), else libgcc_s
	   loaded for us; it stays loaded.  Racing threads find the same. */
	bool found = unwinder_lookup(RTLD_DEFAULT);
	if (!found) {
		void *h = dlopen("libgcc_s.so.1", RTLD_NOW | RTLD_LOCAL);
		found = h && unwinder_lookup(h);
	}
	__atomic_store_n(&unwinder_state, found ? 1 : -1, __ATOMIC_RELEASE);
	return found;
}

static _Unwind_Reason_Code trace_one(struct _Unwind_Context *ctx, void *arg)
{
	struct trace_state *t = arg;
	uintptr_t ip = __atomic_load_n(&unwinder.get_ip, __ATOMIC_RELAXED)(ctx);
	if (!ip)
		return _URC_END_OF_STACK;
	if (t->skip) { /* os_stack_trace's own frame */
		t->skip--;
		return _URC_NO_REASON;
	}
	t->pcs[t->n++] = (void *)ip;
	if (t->after && !os_pc_is_ours((void *)ip) && ++t->outside >= t->after)
		return _URC_END_OF_STACK; /* enough: each frame costs a table lookup */
	return t->n < t->max ? _URC_NO_REASON : _URC_END_OF_STACK;
}

unsigned os_stack_trace(void **pcs, unsigned max, unsigned after)
{
	struct trace_state t = { pcs, 0, max, 1, 0, after };
	if (max && __atomic_load_n(&unwinder_state, __ATOMIC_ACQUIRE) > 0)
		__atomic_load_n(&unwinder.backtrace, __ATOMIC_RELAXED)(trace_one, &t);
	return t.n;
}

/* Our object's code range, found once: [lo, hi), or lo == hi when we are the program. */
static uintptr_t self_lo, self_hi;
static int self_state; /* 0 not yet, 1 found */

bool os_pc_is_ours(const void *pc)
{
	if (!__atomic_load_n(&self_state, __ATOMIC_ACQUIRE)) {
		struct dl_find_object r;
		uintptr_t lo = 0, hi = 0;
		if (_dl_find_object((void *)os_pc_is_ours, &r) == 0 && r.dlfo_link_map &&
		    r.dlfo_link_map->l_name && r.dlfo_link_map->l_name[0]) {
			lo = (uintptr_t)r.dlfo_map_start;
			hi = (uintptr_t)r.dlfo_map_end;
		}
		/* Racing threads compute the same values. */
		__atomic_store_n(&self_lo, lo, __ATOMIC_RELAXED);
		__atomic_store_n(&self_hi, hi, __ATOMIC_RELAXED);
		__atomic_store_n(&self_state, 1, __ATOMIC_RELEASE);
	}
	uintptr_t a = (uintptr_t)pc;
	return a >= __atomic_load_n(&self_lo, __ATOMIC_RELAXED) &&
	       a < __atomic_load_n(&self_hi, __ATOMIC_RELAXED);
}

void os_symbolize(const void *pc, char *buf, size_t n, bool resolve)
{
	Dl_info info;
	/* pc - 1: a call that ends its function returns past its end. */
	if (resolve && pc && dladdr((const char *)pc - 1, &info)) {
		if (info.dli_sname && info.dli_saddr) {
			sm_snprintf(buf, n, "%s+0x%lx", info.dli_sname,
				    (unsigned long)((uintptr_t)pc - (uintptr_t)info.dli_saddr));
			return;
		}
		if (info.dli_fname && info.dli_fbase) {
			const char *base = info.dli_fname;
			for (const char *c = info.dli_fname; *c; c++)
				if (*c == '/')
					base = c + 1;
			sm_snprintf(buf, n, "%s+0x%lx", *base ? base : "?",
				    (unsigned long)((uintptr_t)pc - (uintptr_t)info.dli_fbase));
			return;
		}
	}
	sm_snprintf(buf, n, "%p", pc);
}

int os_gettid(void)
{
	return (int)syscall(SYS_gettid);
}

int os_getpid(void)
{
	return (int)getpid();
}
