/*
 * report.c - the statistics as text (SLABMALLOC_STATS=1, sm_stats_print),
 * JSON (SLABMALLOC_STATS=json) and glibc's malloc_info XML (report.h).
 * Formats with sm_snprintf into a stack buffer handed to a sink: no stdio,
 * no malloc, so a report can run at any time, even from a destructor at
 * exit; the figures of each cache are copied out under the instance lock
 * and the sink is called with no lock held.
 */
#include <stdarg.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "env.h"
#include "os.h"
#include "printk.h"
#include "registry.h"
#include "report.h"

/* ---- output ---- */

struct out {
	report_emit_fn emit;
	void *arg;
	size_t len;
	char buf[4096];                 /* a report of a few caches is one write */
};

static void out_flush(struct out *o)
{
	if (o->len)
		o->emit(o->buf, o->len, o->arg);
	o->len = 0;
}

static void out_put(struct out *o, const char *s, size_t n)
{
	if (o->len + n > sizeof(o->buf))
		out_flush(o);
	if (n > sizeof(o->buf)) {
		o->emit(s, n, o->arg);
		return;
	}
	memcpy(o->buf + o->len, s, n);
	o->len += n;
}

/* A string literal. */
#define out_lit(o, lit) out_put(o, lit, sizeof(lit) - 1)

/* One piece of at most 511 bytes. */
static void __attribute__((format(printf, 2, 3))) outf(struct out *o, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;
	va_start(ap, fmt);
	size_t n = sm_vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	out_put(o, tmp, n);
}

/* @s as a JSON string, quotes included. */
static void out_json_str(struct out *o, const char *s)
{
	out_lit(o, "\"");
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			char e[2] = { '\\', (char)c };
			out_put(o, e, 2);
		} else if (c < 0x20) {
			outf(o, "\\u%04x", c);
		} else {
			out_put(o, s, 1);
		}
	}
	out_lit(o, "\"");
}

/* @s as the value of an XML attribute, quotes included. */
static void out_xml_attr(struct out *o, const char *s)
{
	out_lit(o, "\"");
	for (; *s; s++) {
		switch (*s) {
		case '&': out_lit(o, "&amp;"); break;
		case '<': out_lit(o, "&lt;"); break;
		case '>': out_lit(o, "&gt;"); break;
		case '"': out_lit(o, "&quot;"); break;
		default:
			if ((unsigned char)*s >= 0x20)
				out_put(o, s, 1);
		}
	}
	out_lit(o, "\"");
}

/* ---- the process ---- */

struct proc_info {
	char prog[64];      /* /proc/self/comm */
	char cmdline[400];  /* /proc/self/cmdline, arguments separated by spaces */
	long peak_rss_kib;  /* VmHWM of /proc/self/status */
};

/* Copy the decimal after "@key" in @text (kB) or -1. */
static long status_field(const char *text, const char *key)
{
	const char *p = strstr(text, key);
	if (!p)
		return -1;
	p += strlen(key);
	while (*p == ' ' || *p == '\t')
		p++;
	long v = 0;
	if (*p < '0' || *p > '9')
		return -1;
	while (*p >= '0' && *p <= '9')
		v = v * 10 + (*p++ - '0');
	return v;
}

static void proc_info(struct proc_info *pi)
{
	size_t n = os_read_file("/proc/self/comm", 0, pi->prog, sizeof(pi->prog));
	while (n && (pi->prog[n - 1] == '\n'))
		pi->prog[--n] = 0;
	n = os_read_file("/proc/self/cmdline", 0, pi->cmdline, sizeof(pi->cmdline));
	for (size_t i = 0; i < n; i++)
		if (pi->cmdline[i] == 0 || pi->cmdline[i] == '\n')
			pi->cmdline[i] = ' ';
	while (n && pi->cmdline[n - 1] == ' ')
		pi->cmdline[--n] = 0;
	if (n == sizeof(pi->cmdline) - 1)
		memcpy(pi->cmdline + n - 3, "...", 3);
	/* VmHWM, the peak of this process image: getrusage's ru_maxrss
	   carries over execve, so a small program started by a big one would
	   report its parent's peak. */
	char status[4096];
	pi->peak_rss_kib = -1;
	if (os_read_file("/proc/self/status", 0, status, sizeof(status)))
		pi->peak_rss_kib = status_field(status, "\nVmHWM:");
	struct rusage ru;
	if (pi->peak_rss_kib < 0 && getrusage(RUSAGE_SELF, &ru) == 0)
		pi->peak_rss_kib = ru.ru_maxrss;
}

/* ---- text ---- */

static bool cache_used(const struct sm_cache_stats *st)
{
	return st->slabs || st->slabs_allocated;
}

void report_text(struct sm_instance *inst, report_emit_fn emit, void *arg)
{
	struct out o = { .emit = emit, .arg = arg };
	struct proc_info pi;
	proc_info(&pi);
	outf(&o, "slabmalloc: statistics of pid %d (%s): %s\n", (int)getpid(), pi.prog, pi.cmdline);
	outf(&o, "%-18s %11s %10s %8s %6s %5s %8s %8s %10s %10s %10s %12s %8s\n", "# name",
	     "active_objs", "num_objs", "objsize", "objper", "pages", "slabs", "sheafobj", "slab_alloc",
	     "refills", "peak_objs", "allocs", "internal");
	size_t caches = 0, active = 0, total = 0, slabs = 0;
	struct sm_cache_stats st;
	for (unsigned id = 0; id < SM_MAX_CACHES; id++) {
		if (!stats_cache_at(inst, id, &st) || !cache_used(&st))
			continue;
		caches++;
		active += st.active_objects;
		total += st.total_objects;
		slabs += st.slabs;
		outf(&o, "%-18s %11zu %10zu %8zu %6u %5u %8zu %8zu %10llu %10llu %10zu %12llu %8zu\n",
		     st.name, st.active_objects, st.total_objects, st.object_size, st.objects_per_slab,
		     st.pages_per_slab, st.slabs, st.sheaf_objects, (unsigned long long)st.slabs_allocated,
		     (unsigned long long)st.refills, st.peak_objects, (unsigned long long)st.allocs,
		     st.internal_objects);
	}
	struct sm_stats s;
	sm_stats_get(inst, &s);
	outf(&o, "slabmalloc: totals: caches_used %zu active_objs %zu num_objs %zu slabs %zu\n", caches,
	     active, total, slabs);
	outf(&o, "slabmalloc: calls: allocs %llu frees %llu reallocs %llu bytes %llu "
		 "(page runs and huge: allocs %llu frees %llu, above the huge threshold from "
		 "resident runs %llu; frees kept unconfirmed %llu)\n",
	     (unsigned long long)s.allocs, (unsigned long long)s.frees, (unsigned long long)s.reallocs,
	     (unsigned long long)s.bytes_allocated, (unsigned long long)s.large_allocs,
	     (unsigned long long)s.large_frees, (unsigned long long)s.huge_resident,
	     (unsigned long long)s.frees_kept);
	outf(&o, "slabmalloc: memory: slab %zu KiB, page runs and huge %zu KiB (%zu huge), "
		 "live %zu KiB, allocator's own %zu KiB, free resident %zu KiB, free purged %zu KiB, "
		 "committed %zu KiB, purged total %zu KiB, nodes %zu\n",
	     s.slab_bytes >> 10, s.large_bytes >> 10, s.huge_allocations, s.live_bytes >> 10,
	     s.internal_bytes >> 10, s.free_dirty_bytes >> 10, s.free_clean_bytes >> 10,
	     s.committed_bytes >> 10, s.purged_bytes >> 10, s.nodes);
	if (s.deferred_frees || s.helper_starts)
		outf(&o, "slabmalloc: nolock: deferred frees %llu (pending %llu), helper thread "
			 "started %llu times, woken %llu times\n",
		     (unsigned long long)s.deferred_frees, (unsigned long long)s.deferred_pending,
		     (unsigned long long)s.helper_starts, (unsigned long long)s.helper_wakeups);
	outf(&o, "slabmalloc: peak RSS %ld KiB\n", pi.peak_rss_kib);
	out_flush(&o);
}

/* ---- JSON ---- */

static void json_report(struct sm_instance *inst, struct out *o, bool final)
{
	struct proc_info pi;
	proc_info(&pi);
	struct sm_stats s;
	sm_stats_get(inst, &s);
	outf(o, "{\"slabmalloc\":\"%d.%d\",\"pid\":%d,\"program\":", SLABMALLOC_VERSION_MAJOR,
	     SLABMALLOC_VERSION_MINOR, (int)getpid());
	out_json_str(o, pi.prog);
	out_lit(o, ",\"cmdline\":");
	out_json_str(o, pi.cmdline);
	outf(o, ",\"final\":%s,\"peak_rss_kib\":%ld", final ? "true" : "false", pi.peak_rss_kib);
	outf(o, ",\"calls\":{\"allocs\":%llu,\"frees\":%llu,\"reallocs\":%llu,\"bytes_allocated\":%llu,"
		"\"large_allocs\":%llu,\"large_frees\":%llu,\"huge_resident\":%llu,\"frees_kept\":%llu}",
	     (unsigned long long)s.allocs, (unsigned long long)s.frees, (unsigned long long)s.reallocs,
	     (unsigned long long)s.bytes_allocated, (unsigned long long)s.large_allocs,
	     (unsigned long long)s.large_frees, (unsigned long long)s.huge_resident,
	     (unsigned long long)s.frees_kept);
	outf(o, ",\"memory\":{\"slab_bytes\":%zu,\"large_bytes\":%zu,\"huge_bytes\":%zu,"
		"\"huge_allocations\":%zu,\"live_bytes\":%zu,\"internal_bytes\":%zu,"
		"\"free_resident_bytes\":%zu,\"free_purged_bytes\":%zu,\"committed_bytes\":%zu,"
		"\"reserved_bytes\":%zu,\"purged_total_bytes\":%zu,\"nodes\":%zu}",
	     s.slab_bytes, s.large_bytes, s.huge_bytes, s.huge_allocations, s.live_bytes,
	     s.internal_bytes, s.free_dirty_bytes, s.free_clean_bytes, s.committed_bytes,
	     s.reserved_bytes, s.purged_bytes, s.nodes);
	outf(o, ",\"nolock\":{\"deferred_frees\":%llu,\"deferred_pending\":%llu,\"helper_starts\":%llu}",
	     (unsigned long long)s.deferred_frees, (unsigned long long)s.deferred_pending,
	     (unsigned long long)s.helper_starts);
	out_lit(o, ",\"caches\":[");
	bool first = true;
	struct sm_cache_stats st;
	for (unsigned id = 0; id < SM_MAX_CACHES; id++) {
		if (!stats_cache_at(inst, id, &st) || !cache_used(&st))
			continue;
		if (!first)
			out_lit(o, ",");
		out_lit(o, "{\"name\":");
		first = false;
		out_json_str(o, st.name);
		outf(o, ",\"object_size\":%zu,\"objects_per_slab\":%u,\"pages_per_slab\":%u,"
			"\"active_objects\":%zu,\"total_objects\":%zu,\"slabs\":%zu,\"sheaf_objects\":%zu,"
			"\"internal_objects\":%zu,\"peak_objects\":%zu,\"allocs\":%llu,\"frees\":%llu,"
			"\"slabs_allocated\":%llu,\"refills\":%llu,\"barn_grows\":%llu,\"barn_shrinks\":%llu,\"barn_max_full\":%u}",
		     st.object_size, st.objects_per_slab, st.pages_per_slab, st.active_objects,
		     st.total_objects, st.slabs, st.sheaf_objects, st.internal_objects, st.peak_objects,
		     (unsigned long long)st.allocs, (unsigned long long)st.frees,
		     (unsigned long long)st.slabs_allocated, (unsigned long long)st.refills,
		     (unsigned long long)st.barn_grows, (unsigned long long)st.barn_shrinks,
		     st.barn_max_full);
	}
	out_lit(o, "]}\n");
	out_flush(o);
}

void report_json(struct sm_instance *inst, report_emit_fn emit, void *arg)
{
	struct out o = { .emit = emit, .arg = arg };
	json_report(inst, &o, true);
}

/* ---- malloc_info ---- */

void report_xml(struct sm_instance *inst, report_emit_fn emit, void *arg)
{
	struct out o = { .emit = emit, .arg = arg };
	struct sm_stats s;
	sm_stats_get(inst, &s);
	out_lit(&o, "<malloc version=\"1\">\n<heap nr=\"0\">\n<sizes>\n");
	/* Free object slots of each size class, as glibc lists its free chunks. */
	size_t free_count = 0, free_bytes = 0, fast_count = 0, fast_bytes = 0, prev = 0;
	struct sm_cache_stats st;
	for (unsigned id = 0; id < SM_NR_KMALLOC; id++) {
		if (!stats_cache_at(inst, id, &st))
			continue;
		size_t used = st.active_objects + st.internal_objects + st.sheaf_objects;
		size_t slots = st.total_objects > used ? st.total_objects - used : 0;
		if (slots)
			outf(&o, "<size from=\"%zu\" to=\"%zu\" total=\"%zu\" count=\"%zu\"/>\n", prev + 1,
			     st.object_size, slots * st.object_size, slots);
		prev = st.object_size;
	}
	out_lit(&o, "</sizes>\n<caches>\n");
	for (unsigned id = 0; id < SM_MAX_CACHES; id++) {
		if (!stats_cache_at(inst, id, &st) || !cache_used(&st))
			continue;
		size_t used = st.active_objects + st.internal_objects + st.sheaf_objects;
		size_t slots = st.total_objects > used ? st.total_objects - used : 0;
		free_count += slots;
		free_bytes += slots * st.object_size;
		fast_count += st.sheaf_objects;
		fast_bytes += st.sheaf_objects * st.object_size;
		out_lit(&o, "<cache name=");
		out_xml_attr(&o, st.name);
		outf(&o, " size=\"%zu\" active=\"%zu\" total=\"%zu\" sheaf=\"%zu\" internal=\"%zu\" "
			 "slabs=\"%zu\" pages_per_slab=\"%u\" peak=\"%zu\" allocs=\"%llu\" frees=\"%llu\"/>\n",
		     st.object_size, st.active_objects, st.total_objects, st.sheaf_objects,
		     st.internal_objects, st.slabs, st.pages_per_slab, st.peak_objects,
		     (unsigned long long)st.allocs, (unsigned long long)st.frees);
	}
	out_lit(&o, "</caches>\n");
	size_t runs = s.large_bytes > s.huge_bytes ? s.large_bytes - s.huge_bytes : 0;
	size_t nruns = s.large_allocs - s.large_frees > s.huge_allocations
			       ? (size_t)(s.large_allocs - s.large_frees) - s.huge_allocations : 0;
	/* fast: objects cached in sheaves (glibc's fastbins and tcache);
	   rest: free slots in slabs and free pages of the nodes. */
	char totals[512];
	sm_snprintf(totals, sizeof(totals),
		    "<total type=\"fast\" count=\"%zu\" size=\"%zu\"/>\n"
		    "<total type=\"rest\" count=\"%zu\" size=\"%zu\"/>\n",
		    fast_count, fast_bytes, free_count, free_bytes + s.free_dirty_bytes + s.free_clean_bytes);
	out_put(&o, totals, strlen(totals));
	outf(&o, "<total type=\"runs\" count=\"%zu\" size=\"%zu\"/>\n", nruns, runs);
	char sys[512];
	sm_snprintf(sys, sizeof(sys),
		    "<system type=\"current\" size=\"%zu\"/>\n<system type=\"max\" size=\"%zu\"/>\n"
		    "<aspace type=\"total\" size=\"%zu\"/>\n<aspace type=\"mprotect\" size=\"%zu\"/>\n",
		    s.committed_bytes + s.huge_bytes, s.committed_bytes + s.huge_bytes,
		    s.reserved_bytes, s.committed_bytes);
	out_put(&o, sys, strlen(sys));
	out_lit(&o, "</heap>\n");
	out_put(&o, totals, strlen(totals));
	outf(&o, "<total type=\"mmap\" count=\"%zu\" size=\"%zu\"/>\n", s.huge_allocations, s.huge_bytes);
	out_put(&o, sys, strlen(sys));
	out_lit(&o, "</malloc>\n");
	out_flush(&o);
}

/* ---- where reports go ---- */

static void emit_fd(const char *buf, size_t len, void *arg)
{
	os_write_fd(*(int *)arg, buf, len);
}

void sm_stats_print(sm_instance_t *inst)
{
	int fd = STDERR_FILENO;
	report_text(inst, emit_fd, &fd);
}

/* @tmpl with %p replaced by the process id (and %% by %) into @buf. */
static void expand_path(const char *tmpl, char *buf, size_t n)
{
	size_t len = 0;
	for (const char *t = tmpl; *t && len + 1 < n; t++) {
		if (t[0] == '%' && t[1] == 'p') {
			len += sm_snprintf(buf + len, n - len, "%d", (int)getpid());
			t++;
		} else if (t[0] == '%' && t[1] == '%') {
			buf[len++] = '%';
			t++;
		} else {
			buf[len++] = *t;
		}
	}
	buf[len] = 0;
}

void report_default(bool final)
{
	const struct sm_env *env = &sm_default_env;
	int fd = STDERR_FILENO;
	char path[SM_STATS_FILE_MAX + 32];
	if (env->stats_file[0]) {
		expand_path(env->stats_file, path, sizeof(path));
		fd = os_open_output(path, false);
		if (fd < 0) {
			sm_printk("slabmalloc: cannot open SLABMALLOC_STATS_FILE %s: statistics on stderr\n",
				  path);
			fd = STDERR_FILENO;
		}
	}
	if (env->stats == SM_STATS_JSON) {
		struct out o = { .emit = emit_fd, .arg = &fd };
		json_report(&sm_default_inst, &o, final);
	} else {
		report_text(&sm_default_inst, emit_fd, &fd);
	}
	if (fd != STDERR_FILENO)
		os_close(fd);
}
