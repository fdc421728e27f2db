#!/usr/bin/env python3
"""introspect.py - glibc's introspection calls, the statistics and the options
set from code (issue 14, sections 3 and 4), checked on the program
introspect.c (linked with libslabmalloc.so) and introspect_static (linked
with libslabmalloc.a).

Usage: introspect.py INTROSPECT INTROSPECT_STATIC SCRATCH_DIR
Each check prints "ok: ..." or fails with the output it got (exit 1).
"""
import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

PROG, STATIC, SCRATCH = sys.argv[1], sys.argv[2], sys.argv[3]
BLOCK_CACHE = "kmalloc-1792"  # introspect.c's 1700-byte blocks


def fail(what, detail=""):
    print(f"FAIL: {what}")
    if detail:
        print(detail[-4000:])
    sys.exit(1)


def run(args, env=None, ok=True):
    e = {k: v for k, v in os.environ.items() if not k.startswith("SLABMALLOC_")}
    e.update(env or {})
    r = subprocess.run(args, env=e, capture_output=True, text=True, timeout=120)
    if ok and r.returncode != 0:
        fail(f"{' '.join(args)} exited {r.returncode}", r.stdout + r.stderr)
    return r


def check(cond, what, detail=""):
    if not cond:
        fail(what, detail)
    print(f"ok: {what}")


def read_reports(path):
    """The JSON reports in @path, one per line."""
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def cache(report, name):
    for c in report["caches"]:
        if c["name"] == name:
            return c
    fail(f"no cache {name} in the report", json.dumps(report)[:2000])


def t_malloc_info():
    n = 500
    r = run([PROG, "info", str(n)])
    try:
        root = ET.fromstring(r.stdout)
    except ET.ParseError as e:
        fail(f"malloc_info's XML does not parse: {e}", r.stdout)
    check(root.tag == "malloc" and root.get("version") == "1", "malloc_info: <malloc version=\"1\">")
    heap = root.find("heap")
    check(heap is not None and heap.get("nr") == "0", "malloc_info: <heap nr=\"0\">")
    check(heap.find("sizes") is not None, "malloc_info: <sizes> in the heap")
    caches = {c.get("name"): c for c in heap.find("caches")}
    c = caches.get(BLOCK_CACHE)
    check(c is not None and int(c.get("active")) >= n and int(c.get("size")) == 1792,
          f"malloc_info: {BLOCK_CACHE} with >= {n} active objects", r.stdout)
    check(int(c.get("allocs")) >= n and int(c.get("peak")) >= n, f"malloc_info: {BLOCK_CACHE} allocs and peak")
    types = {t.get("type") for t in heap.findall("total")}
    check({"fast", "rest"} <= types, "malloc_info: heap totals fast and rest")
    mmap = [t for t in root.findall("total") if t.get("type") == "mmap"]
    check(len(mmap) == 1 and int(mmap[0].get("count")) == 1 and int(mmap[0].get("size")) >= 64 << 20,
          "malloc_info: one 64 MiB huge mapping in <total type=\"mmap\">", r.stdout)
    sysc = [s for s in root.findall("system") if s.get("type") == "current"]
    check(len(sysc) == 1 and int(sysc[0].get("size")) > 64 << 20, "malloc_info: <system type=\"current\">")


def t_mallopt():
    r = run([PROG, "mallopt"])
    got = dict(line.split("=", 1) for line in r.stdout.split())
    want = {"M_ARENA_MAX": "0", "M_ARENA_TEST": "0", "M_MXFAST": "0", "M_TOP_PAD": "0",
            "M_PERTURB": "0", "M_CHECK_ACTION": "1", "M_TRIM_THRESHOLD": "1", "M_UNKNOWN": "0",
            "M_MMAP_THRESHOLD_NEG": "0", "M_MMAP_MAX_1": "0", "M_MMAP_THRESHOLD": "1",
            "huge_after_threshold": "1", "M_MMAP_MAX": "1", "huge_after_mmap_max": "0",
            "__libc_mallopt": "0"}
    check(got == want, "mallopt: 1 for the parameters slabmalloc maps, 0 for the rest; "
          "M_MMAP_THRESHOLD and M_MMAP_MAX take effect", f"got {got}\nwant {want}")


def t_stats_json():
    n = 3000
    d = os.path.join(SCRATCH, "json")
    os.makedirs(d)
    r = run([PROG, "counts", str(n)], {"SLABMALLOC_STATS": "json",
                                       "SLABMALLOC_STATS_FILE": os.path.join(d, "stats-%p.json")})
    files = os.listdir(d)
    check(len(files) == 1 and files[0].startswith("stats-") and files[0][6:-5].isdigit(),
          f"SLABMALLOC_STATS_FILE: one file named after the pid ({files})")
    reps = read_reports(os.path.join(d, files[0]))
    check(len(reps) == 1 and reps[0]["final"] is True, "SLABMALLOC_STATS=json: one final report")
    rep = reps[0]
    check(rep["pid"] == int(files[0][6:-5]), "json: the pid of the file name")
    check(rep["program"] == os.path.basename(PROG)[:15] and rep["cmdline"] == f"{PROG} counts {n}",
          "json: the program name and its command line", json.dumps(rep)[:500])
    c = cache(rep, BLOCK_CACHE)
    check(c["allocs"] == n and c["frees"] == n and c["active_objects"] == 0,
          f"json: {BLOCK_CACHE} counts {n} allocations and {n} frees", json.dumps(c))
    check(n <= c["peak_objects"] <= n + 2 * 64, f"json: {BLOCK_CACHE} peak {c['peak_objects']} (~{n})")
    calls = rep["calls"]
    check(calls["allocs"] >= n and calls["frees"] >= n and calls["reallocs"] >= 10,
          "json: calls count the allocations, frees and reallocs", json.dumps(calls))
    check(calls["bytes_allocated"] >= n * 1792, "json: bytes allocated")


def t_stats_text():
    d = os.path.join(SCRATCH, "text")
    os.makedirs(d)
    path = os.path.join(d, "stats.txt")
    run([PROG, "counts", "100"], {"SLABMALLOC_STATS": "yes", "SLABMALLOC_STATS_FILE": path})
    text = open(path).read()
    first = text.splitlines()[0]
    check(first.startswith("slabmalloc: statistics of pid ") and
          first.endswith(f"(introspect): {PROG} counts 100"),
          "text report: the program and its command line in the header", text[:300])
    rows = [l.split() for l in text.splitlines() if l.startswith(BLOCK_CACHE + " ")]
    check(len(rows) == 1 and rows[0][11] == "100", f"text report: {BLOCK_CACHE} allocs column", text)
    check("\nslabmalloc: calls: allocs " in text and "\nslabmalloc: peak RSS " in text,
          "text report: calls and peak RSS lines")


def t_peak_rss_after_exec():
    d = os.path.join(SCRATCH, "exec")
    os.makedirs(d)
    true = shutil.which("true")
    # The child is started with the parent's preload: it writes its report
    # to the file although coreutils close stderr at exit.
    env = {"SLABMALLOC_STATS": "json", "SLABMALLOC_STATS_FILE": os.path.join(d, "%p.json")}
    lib = os.environ.get("SM_LIB")
    if lib:
        env["LD_PRELOAD"] = lib
    run([PROG, "exec", "256", true], env)
    reps = [r for f in os.listdir(d) for r in read_reports(os.path.join(d, f))]
    check(len(reps) == 1 and reps[0]["program"] == "true",
          "a program exec'd by a big one reports under its own name", json.dumps(reps)[:500])
    check(0 < reps[0]["peak_rss_kib"] < 64 * 1024,
          f"its peak RSS is its own (VmHWM): {reps[0]['peak_rss_kib']} KiB after a 256 MiB parent")


def t_interval():
    d = os.path.join(SCRATCH, "interval")
    os.makedirs(d)
    path = os.path.join(d, "periodic.json")
    r = run([PROG, "interval", path], {"SLABMALLOC_STATS": "json", "SLABMALLOC_STATS_FILE": path,
                                       "SLABMALLOC_STATS_INTERVAL": "1"})
    reps = read_reports(path)
    check(any(not x["final"] for x in reps) and reps[-1]["final"],
          "SLABMALLOC_STATS_INTERVAL: periodic reports from the helper thread, then the final one",
          r.stdout + r.stderr)
    # The helper is the last thread after main's pthread_exit: it must let
    # the process end (run() fails on the 120 s timeout otherwise).
    r = run([PROG, "last_thread"], {"SLABMALLOC_STATS": "json", "SLABMALLOC_STATS_INTERVAL": "1",
                                    "SLABMALLOC_STATS_FILE": os.path.join(d, "last.json"),
                                    "SLABMALLOC_HELPER_IDLE_MS": "100"})
    check("helper running" in r.stdout, "SLABMALLOC_STATS_INTERVAL: a process whose main thread "
          "calls pthread_exit still ends (the helper does not keep it alive)")
    r = run([PROG, "counts", "10"], {"SLABMALLOC_STATS_INTERVAL": "5", "SLABMALLOC_HELPER_THREAD": "0"})
    check("SLABMALLOC_STATS_INTERVAL needs the helper thread" in r.stderr,
          "SLABMALLOC_STATS_INTERVAL without the helper thread: said so", r.stderr)


def verbose_options(stderr):
    opts = {}
    for line in stderr.splitlines():
        if line.startswith("slabmalloc: options: "):
            for kv in line[len("slabmalloc: options: "):].split():
                k, v = kv.split("=", 1)
                opts[k] = v
    return opts


def t_options():
    r = run([PROG, "empty"], {"SLABMALLOC_VERBOSE": "on"})
    head = [l for l in r.stderr.splitlines() if l.startswith("slabmalloc: version ")]
    check(len(head) == 1 and "libslabmalloc.so" in head[0],
          "SLABMALLOC_VERBOSE=on: the version and the library's path, once", r.stderr)
    o = verbose_options(r.stderr)
    check(o.get("purge_delay_ms") == "250" and o.get("barn_max_full") == "6",
          "slabmalloc_conf: its options apply", r.stderr)
    r = run([PROG, "empty"], {"SLABMALLOC_VERBOSE": "yes", "SLABMALLOC_PURGE_DELAY_MS": "300"})
    check(verbose_options(r.stderr).get("purge_delay_ms") == "300",
          "the environment wins over slabmalloc_conf", r.stderr)
    r = run([PROG, "empty"], {"SLABMALLOC_VERBOSE": "TRUE", "SLABMALLOC_NODE_SIZE": "1GiB",
                              "SLABMALLOC_HUGE_THRESHOLD": "2T", "SLABMALLOC_ON_ERROR": "warn",
                              "SLABMALLOC_HELPER_THREAD": "off"})
    o = verbose_options(r.stderr)
    check(o.get("node_size") == str(1 << 30) and o.get("helper_thread") == "no",
          "units (1GiB) and booleans (TRUE, off) in the environment", r.stderr)
    check("slabmalloc: ignoring SLABMALLOC_ON_ERROR=warn: allowed values: abort or report" in r.stderr,
          "ON_ERROR=warn: the allowed values in words", r.stderr)
    check("slabmalloc: ignoring SLABMALLOC_HUGE_THRESHOLD=2T: allowed values: a size from 32k to 512G"
          in r.stderr, "HUGE_THRESHOLD=2T: out of range, the range in words", r.stderr)
    r = run([PROG, "empty"])
    got = dict(line.split("=", 1) for line in r.stdout.split())
    check(got.get("live_bytes") == "0" and got.get("large_bytes") == "0" and
          got.get("active_objects") == "0" and got.get("internal_nonzero") == "1",
          "an instance holding nothing: no live objects or page runs (sheaves, tcache: its own)",
          r.stdout)

    r = run([PROG, "option_set"], {"SLABMALLOC_STATS_FILE": os.path.join(SCRATCH, "set.json")})
    got = dict(line.split("=", 1) for line in r.stdout.split())
    want = {"stats": "0", "purge_delay_ms": "0", "huge_threshold": "0", "node_size": "-16",
            "bogus": "-22", "bad_value": "-22"}
    check(got == want, "sm_option_set after set-up: live options 0, fixed -EBUSY, bad -EINVAL",
          f"got {got}\nwant {want}")
    check(len(read_reports(os.path.join(SCRATCH, "set.json"))) == 1,
          "sm_option_set(\"stats\", \"json\") at run time: the report at exit")

    r = run([STATIC, "option_set"], {"SLABMALLOC_VERBOSE": "1"})
    got = dict(line.split("=", 1) for line in r.stdout.split())
    o = verbose_options(r.stderr)
    check(got.get("early_purge_delay_ms") == "0" and got.get("early_sheaf_capacity") == "0" and
          o.get("purge_delay_ms") == "275" and o.get("sheaf_capacity") == "16" and
          o.get("barn_max_full") == "6",
          "static: sm_option_set before set-up applies after slabmalloc_conf", r.stdout + r.stderr)
    r = run([STATIC, "option_set"], {"SLABMALLOC_VERBOSE": "1", "SLABMALLOC_SHEAF_CAPACITY": "24"})
    check(verbose_options(r.stderr).get("sheaf_capacity") == "24",
          "static: the environment wins over sm_option_set", r.stderr)


def main():
    if os.path.exists(SCRATCH):
        shutil.rmtree(SCRATCH)
    os.makedirs(SCRATCH)
    for t in (t_malloc_info, t_mallopt, t_stats_json, t_stats_text, t_peak_rss_after_exec,
              t_interval, t_options):
        t()
    print("introspect: all checks passed")


if __name__ == "__main__":
    main()
