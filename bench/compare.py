#!/usr/bin/env python3
"""compare.py - the runs behind bench/compare (use that: it installs the
packages, builds, and finds the allocators).

Runs every workload (build/bench/bench/wl_*) under every allocator, several
rounds with the allocators in a different order each round; then the whole
programs (programs.py: python3, sqlite3, perl, git, redis) the same way;
the multi-threaded workloads at 1, 2, 4 and 8 threads (scaling); then the
Google Benchmark micro-benchmarks and the callgrind instruction counts under
each allocator.  Everything measured, with the machine and the versions, is
saved as JSON (BUILD_DIR/bench-results.json); report.py turns it into the
tables printed here and the generated part of docs/benchmarks.md.

Python standard library only.
"""
import argparse
import datetime
import json
import os
import platform
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True   # no __pycache__ in the source tree
import programs  # noqa: E402
import report  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)

# Workloads in the order of the tables; any other wl_* built is appended.
WORKLOAD_ORDER = ["server", "larson", "prodcons", "falseshare", "fragment", "large", "symbolic",
                  "phase", "cache", "interp", "solver"]
# The multi-threaded workloads, run again at each thread count of THREADS.
SCALING_WORKLOADS = ["falseshare", "prodcons", "server", "larson"]
# Single-threaded runs (every other workload, the programs but redis, the
# micro-benchmarks but cross_thread_free) are pinned to one CPU, the same
# for every allocator (--cpu).  Unpinned, where the scheduler puts a process
# decides its time on a shared machine: on the 2-vCPU reference machine one
# vCPU ran everything 1.4x slower than the other for minutes at a time, so
# an unpinned cell was bimodal (wl_symbolic 0.53 or 0.72 s by where it
# landed) and its median depended on luck.  Pinned, the rounds of a cell
# agree within a few per cent, and the rotation of the allocators shares out
# what changes over time.
MULTI_THREADED_MICRO = "cross_thread_free"
THREADS = [1, 2, 4, 8]
# The scaling runs do half the work of the main runs: 1+2+4+8 threads of
# work per workload is 2 to 8 times a default run, and a full bench/compare
# should stay under half an hour on 2 cores.
SCALING_SCALE = 0.5
RUN_TIMEOUT_S = 300


def log(msg):
    print(msg, flush=True)


def clean_env(preload):
    """The environment of a measured run: nothing that tunes an allocator,
    and LD_PRELOAD only when @preload names a library."""
    env = {k: v for k, v in os.environ.items()
           if k != "LD_PRELOAD" and k not in ("GLIBC_TUNABLES",)
           and not k.startswith(("SLABMALLOC_", "MALLOC_", "MIMALLOC_", "TCMALLOC_"))}
    env["LC_ALL"] = "C"
    if preload:
        env["LD_PRELOAD"] = preload
    return env


def run(cmd, preload, timeout=RUN_TIMEOUT_S, extra_env=None, cpu=None):
    """Run @cmd under @preload (and @extra_env), on CPU @cpu alone unless it
    is None.  Returns stdout; raises RuntimeError on a failure, a timeout,
    or a library the dynamic linker did not preload."""
    env = clean_env(preload)
    env.update(extra_env or {})
    pin = None if cpu is None else (lambda: os.sched_setaffinity(0, {cpu}))
    try:
        p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout,
                           preexec_fn=pin)
    except subprocess.TimeoutExpired:
        raise RuntimeError("timed out after %d s: %s" % (timeout, shlex.join(cmd)))
    if "cannot be preloaded" in p.stderr:
        raise RuntimeError("LD_PRELOAD=%s was not loaded: %s" % (preload, p.stderr.strip()))
    if p.returncode != 0:
        raise RuntimeError("exit status %d: %s\n%s" % (p.returncode, shlex.join(cmd),
                                                       p.stderr.strip()[-2000:]))
    return p.stdout


def parse_result_line(out):
    """The key=value pairs of the workload's "bench:" line, numbers as floats."""
    for line in out.splitlines():
        if line.startswith("bench: "):
            fields = dict(kv.split("=", 1) for kv in line[7:].split())
            result = {}
            for k, v in fields.items():
                try:
                    result[k] = float(v)
                except ValueError:
                    result[k] = v
            return result
    raise RuntimeError("no result line in output:\n" + out)


def find_workloads(bindir, only):
    built = sorted(f[3:] for f in os.listdir(bindir)
                   if f.startswith("wl_") and os.access(os.path.join(bindir, f), os.X_OK))
    names = [w for w in WORKLOAD_ORDER if w in built] + [w for w in built if w not in WORKLOAD_ORDER]
    if only:
        unknown = set(only) - set(names)
        if unknown:
            sys.exit("compare: no such workload: " + ", ".join(sorted(unknown)))
        names = [w for w in names if w in only]
    return names


def run_workloads(bindir, allocators, workloads, rounds, scale, cpu):
    """samples[workload][allocator] = list of result dicts, one per round.
    The single-threaded workloads run on @cpu (None: anywhere)."""
    samples = {w: {a: [] for a, _ in allocators} for w in workloads}
    failed = set()
    for r in range(rounds):
        # rotate the order every round so no allocator always runs first
        order = allocators[r % len(allocators):] + allocators[:r % len(allocators)]
        for w in workloads:
            cells = []
            for name, lib in order:
                if (w, name) in failed:
                    continue
                cmd = [os.path.join(bindir, "wl_" + w)] + ([repr(scale)] if scale != 1 else [])
                try:
                    res = parse_result_line(run(cmd, lib, cpu=single_cpu(w, cpu)))
                except RuntimeError as e:
                    log("  %s under %s failed (dropped from the tables): %s" % (w, name, e))
                    failed.add((w, name))
                    samples[w][name] = []
                    continue
                samples[w][name].append(res)
                cells.append("%s %.2fs %.0fMiB" % (name, res["time_s"], res["hwm_kib"] / 1024))
            log("round %d/%d %-10s %s" % (r + 1, rounds, w, "  ".join(cells)))
    return samples


def run_scaling(bindir, allocators, workloads, threads, rounds, scale):
    """scaling[workload][threads][allocator] = list of result dicts.  Each
    thread count is a separate run of the workload (wl_NAME SCALE THREADS),
    rounds and order as in run_workloads."""
    scaling = {w: {str(t): {a: [] for a, _ in allocators} for t in threads} for w in workloads}
    failed = set()
    for r in range(rounds):
        order = allocators[r % len(allocators):] + allocators[:r % len(allocators)]
        for w in workloads:
            for t in threads:
                cells = []
                for name, lib in order:
                    if (w, t, name) in failed:
                        continue
                    cmd = [os.path.join(bindir, "wl_" + w), repr(scale), str(t)]
                    try:
                        res = parse_result_line(run(cmd, lib))
                    except RuntimeError as e:
                        log("  %s at %d threads under %s failed (dropped): %s" % (w, t, name, e))
                        failed.add((w, t, name))
                        scaling[w][str(t)][name] = []
                        continue
                    scaling[w][str(t)][name].append(res)
                    cells.append("%s %.0f/s" % (name, res["ops"] / res["time_s"]))
                log("round %d/%d %-10s %d thread%s  %s" % (r + 1, rounds, w, t,
                                                          "" if t == 1 else "s", "  ".join(cells)))
    return scaling


def single_cpu(workload, cpu):
    """The CPU a run of @workload is pinned to: @cpu for a single-threaded
    one, None (anywhere) for a multi-threaded one or redis (a server and its
    client, two processes that must run side by side)."""
    return None if workload in SCALING_WORKLOADS or workload == "redis" else cpu


def run_programs(bindir, allocators, names, rounds, scale, cpu):
    """samples[program][allocator] = list of result dicts, as run_workloads
    (redis anywhere, the others on @cpu)."""
    samples = {p: {a: [] for a, _ in allocators} for p in names}
    failed = set()
    with tempfile.TemporaryDirectory(prefix="bench-programs-") as scratch:
        jobs = programs.prepare(scratch, scale)
        for r in range(rounds):
            order = allocators[r % len(allocators):] + allocators[:r % len(allocators)]
            for prog in names:
                argv, extra = jobs[prog]
                cells = []
                for name, lib in order:
                    if (prog, name) in failed:
                        continue
                    try:
                        if prog == "redis":
                            shim = os.path.join(bindir, "libbench_glibc_malloc.so")
                            res = programs.run_redis(int(extra["requests"]), lib,
                                                     clean_env(None), scratch, RUN_TIMEOUT_S,
                                                     glibc_shim=shim)
                        else:
                            cmd = [os.path.join(bindir, "run_rss"), prog]
                            cmd += (["-p", lib] if lib else []) + ["--"] + argv
                            res = parse_result_line(run(cmd, None, extra_env=extra,
                                                        cpu=single_cpu(prog, cpu)))
                    except RuntimeError as e:
                        log("  %s under %s failed (dropped from the tables): %s" % (prog, name, e))
                        failed.add((prog, name))
                        samples[prog][name] = []
                        continue
                    samples[prog][name].append(res)
                    cells.append("%s %.2fs %.0fMiB" % (name, res["time_s"], res["hwm_kib"] / 1024))
                log("round %d/%d %-10s %s" % (r + 1, rounds, prog, "  ".join(cells)))
    return samples


def micro_name(entry):
    """'BM_cross_thread_free/64/real_time/threads:2' -> 'cross_thread_free/64'"""
    name = entry.get("run_name") or entry["name"]
    parts = [p for p in name.split("/") if p != "real_time" and not p.startswith("threads:")]
    parts[0] = parts[0][3:] if parts[0].startswith("BM_") else parts[0]
    return "/".join(parts)


def micro_rows(out):
    """{benchmark: ns per item} of one bench_micro run's JSON."""
    rows = {}
    for b in json.loads(out)["benchmarks"]:
        if b.get("run_type") == "aggregate":
            continue
        if "items_per_second" in b and b["items_per_second"] > 0:
            rows[micro_name(b)] = 1e9 / b["items_per_second"]
    return rows


def run_micro(bindir, allocators, rounds, quick, cpu):
    """micro[allocator][benchmark] = ns per item, the median of the rounds.
    Each round runs every allocator once, in a rotated order: the
    single-threaded benchmarks on @cpu, then cross_thread_free (2 threads)
    anywhere.  Rounds of separate processes, not Google Benchmark's
    repetitions in one process: the machine changes between processes
    too, and rotating shares that out between the allocators."""
    opts = ["--benchmark_format=json",
            "--benchmark_min_time=%s" % ("0.01" if quick else "0.1")]
    parts = [("-" + MULTI_THREADED_MICRO, cpu), (MULTI_THREADED_MICRO, None)]
    samples = {name: {} for name, _ in allocators}
    failed = set()
    for r in range(rounds):
        order = allocators[r % len(allocators):] + allocators[:r % len(allocators)]
        for name, lib in order:
            prog = os.path.join(bindir, "bench_micro_sm" if name == "slabmalloc" else "bench_micro")
            if not os.access(prog, os.X_OK):
                log("micro-benchmarks skipped: %s not built (Google Benchmark missing?)" % prog)
                return {}
            if name in failed:
                continue
            preload = None if name == "slabmalloc" else lib   # bench_micro_sm links slabmalloc
            t0 = time.time()
            try:
                rows = {}
                for flt, where in parts:
                    out = run([prog, "--benchmark_filter=" + flt] + opts, preload,
                              timeout=600, cpu=where)
                    rows.update(micro_rows(out))
            except RuntimeError as e:
                log("micro-benchmarks under %s failed: %s" % (name, e))
                failed.add(name)
                samples[name] = {}
                continue
            for k, v in rows.items():
                samples[name].setdefault(k, []).append(v)
            log("round %d/%d micro-benchmarks under %s: %d rows in %.0f s"
                % (r + 1, rounds, name, len(rows), time.time() - t0))
    return {name: {k: statistics.median(v) for k, v in rows.items()}
            for name, rows in samples.items() if rows}


def run_callgrind(builddir, allocators, iters):
    """callgrind[allocator][case] = instructions per pair."""
    if not shutil.which("valgrind"):
        log("callgrind counts skipped: valgrind not installed")
        return {}
    cmd = [os.path.join(HERE, "callgrind"), "-n", str(iters), builddir]
    cmd += ["%s=%s" % (n, lib or "") for n, lib in allocators]
    p = subprocess.run(cmd, env=clean_env(None), capture_output=True, text=True)
    if p.returncode != 0:
        log("callgrind counts failed: " + p.stderr.strip())
        return {}
    lines = [l.split("\t") for l in p.stdout.strip().splitlines()]
    head = lines[0][1:]
    return {row[0]: {c: float(v) for c, v in zip(head, row[1:])} for row in lines[1:]}


def user_args(argv):
    """@argv without the --build-dir and --allocator options bench/compare adds."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a in ("--build-dir", "--allocator"):
            skip = True
        elif not a.startswith(("--build-dir=", "--allocator=")):
            out.append(a)
    return out


def command_output(cmd, default="unknown"):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, check=True,
                              cwd=TOP).stdout.strip() or default
    except (OSError, subprocess.CalledProcessError):
        return default


def package_version(path):
    """The Debian package and version that installed @path, or the file name."""
    real = os.path.realpath(path)
    owner = command_output(["dpkg", "-S", real], "")
    if ":" in owner:
        pkg = owner.split(": ", 1)[0].split(",")[0].strip()
        ver = command_output(["dpkg-query", "-W", "-f=${Version}", pkg], "")
        if ver:
            return "%s (Debian %s)" % (re.sub(r"[-+].*", "", ver), pkg.split(":")[0] + " " + ver)
    return os.path.basename(real)


def machine_info():
    cpu = "unknown"
    mem = "unknown"
    try:
        # The model name alone may be a virtual machine's generic "AMD EPYC":
        # family and model tell the micro-architecture (26/2 Zen 5, 25/17 Zen 4).
        fields = {}
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key in ("model name", "cpu family", "model") and key not in fields:
                    fields[key] = value.strip()
                if not line.strip():
                    break
        cpu = fields.get("model name", cpu)
        if "cpu family" in fields and "model" in fields:
            cpu += " (family %s, model %s)" % (fields["cpu family"], fields["model"])
        with open("/proc/meminfo") as f:
            kib = int(f.readline().split()[1])
            mem = "%.0f GiB" % (kib / 2**20)
    except OSError:
        pass
    osname = "unknown"
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    osname = line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "memory": mem, "kernel": platform.release(),
            "os": osname, "loadavg_at_start": "%.2f %.2f %.2f" % os.getloadavg()}


def versions(allocators):
    commit = command_output(["git", "rev-parse", "--short", "HEAD"])
    if command_output(["git", "status", "--porcelain", "--", "src", "include", "preload"], ""):
        commit += " + uncommitted changes in src/, include/ or preload/"
    v = {"slabmalloc": commit,
         "gcc": command_output(["gcc", "-dumpfullversion"]),
         "glibc": os.confstr("CS_GNU_LIBC_VERSION") or "unknown",
         "Google Benchmark": command_output(["dpkg-query", "-W", "-f=${Version}", "libbenchmark-dev"]),
         "valgrind": command_output(["valgrind", "--version"])}
    for name, lib in allocators:
        if name in ("mimalloc", "jemalloc", "tcmalloc"):
            v[name] = package_version(lib)
    v.update(programs.versions())
    return v


def parse_args():
    ap = argparse.ArgumentParser(
        prog="bench/compare",
        description="Run the workloads, micro-benchmarks and callgrind counts under each "
                    "allocator; print the tables; regenerate the results part of "
                    "docs/benchmarks.md and its charts.")
    ap.add_argument("--rounds", type=int, default=5,
                    help="rounds of the workloads, each allocator once per round (default 5)")
    ap.add_argument("--quick", action="store_true",
                    help="a smoke run: 1 round at scale 0.2, short micro-benchmarks, 10,000 "
                         "callgrind iterations; docs/ is left alone unless --docs is given")
    ap.add_argument("--scale", type=float, default=None,
                    help="factor on the work of every workload (default 1)")
    ap.add_argument("--workloads", default="",
                    help="comma-separated workloads to run (default all)")
    ap.add_argument("--programs", default="",
                    help="comma-separated whole programs to run (default all: %s)"
                    % ", ".join(programs.ORDER))
    ap.add_argument("--no-programs", action="store_true", help="skip the whole programs")
    ap.add_argument("--threads", default=" ".join(map(str, THREADS)),
                    help="thread counts of the scaling runs (default '%s')"
                    % " ".join(map(str, THREADS)))
    ap.add_argument("--no-scaling", action="store_true",
                    help="skip the scaling runs (the multi-threaded workloads at each "
                         "thread count)")
    ap.add_argument("--no-micro", action="store_true", help="skip the micro-benchmarks")
    ap.add_argument("--no-callgrind", action="store_true", help="skip the callgrind counts")
    ap.add_argument("--cpu", type=int, default=None,
                    help="the CPU the single-threaded runs are pinned to (default the "
                         "highest this process may run on)")
    ap.add_argument("--no-pin", action="store_true",
                    help="run everything wherever the scheduler puts it")
    ap.add_argument("--docs", default=None, metavar="DIR",
                    help="where benchmarks.md and the charts go (default docs/ of the tree)")
    ap.add_argument("--no-docs", action="store_true", help="do not touch docs/")
    ap.add_argument("--build-dir", default=os.path.join(TOP, "build", "bench"),
                    help="the build with the benchmarks (bench/compare sets it)")
    ap.add_argument("--allocator", action="append", default=[], metavar="NAME=LIB",
                    help="an allocator to compare (bench/compare passes every one it found; "
                         "'glibc=' means no preload); the first named slabmalloc is the reference")
    return ap.parse_args()


def main():
    args = parse_args()
    if not args.allocator:
        sys.exit("compare.py: no --allocator given (run bench/compare, which finds them)")
    allocators = [tuple(a.split("=", 1)) for a in args.allocator]
    # absolute paths: programs.py runs some jobs from a scratch directory
    allocators = [(n, os.path.abspath(lib) if lib else None) for n, lib in allocators]
    if not any(n == "slabmalloc" for n, _ in allocators):
        sys.exit("compare.py: slabmalloc is the reference and must be among the allocators")
    rounds = 1 if args.quick else args.rounds
    scale = args.scale if args.scale is not None else (0.2 if args.quick else 1.0)
    bindir = os.path.join(args.build_dir, "bench")
    workloads = find_workloads(bindir, [w for w in args.workloads.split(",") if w])
    progs = [] if args.no_programs else [p for p in args.programs.split(",") if p] or programs.ORDER
    unknown = set(progs) - set(programs.ORDER)
    if unknown:
        sys.exit("compare: no such program: " + ", ".join(sorted(unknown)))
    for p in list(progs):
        why = programs.missing(p)
        if why:
            log("program %s skipped: %s" % (p, why))
            progs.remove(p)
    scaling = [] if args.no_scaling else [w for w in SCALING_WORKLOADS if w in workloads]
    threads = [int(t) for t in args.threads.split()]
    allowed = os.sched_getaffinity(0)
    cpu = None if args.no_pin else (max(allowed) if args.cpu is None else args.cpu)
    if cpu is not None and cpu not in allowed:
        sys.exit("compare: CPU %d is not one this process may run on (%s)"
                 % (cpu, ", ".join(map(str, sorted(allowed)))))

    started = time.time()
    results = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": shlex.join(["bench/compare"] + user_args(sys.argv[1:])),
        "rounds": rounds, "scale": scale,
        "allocators": [n for n, _ in allocators],
        "machine": machine_info(), "versions": versions(allocators),
        "pinned_cpu": cpu,
    }
    log("allocators: " + ", ".join("%s (%s)" % (n, lib or "no preload") for n, lib in allocators))
    log("single-threaded runs %s" % ("anywhere (--no-pin)" if cpu is None else "on CPU %d" % cpu))
    log("workloads: %s; %d round%s at scale %g"
        % (", ".join(workloads), rounds, "" if rounds == 1 else "s", scale))
    results["workloads"] = run_workloads(bindir, allocators, workloads, rounds, scale, cpu)
    if progs:
        log("programs: %s; %d round%s at scale %g"
            % (", ".join(progs), rounds, "" if rounds == 1 else "s", scale))
        results["programs"] = run_programs(bindir, allocators, progs, rounds, scale, cpu)
    if scaling:
        log("scaling: %s at %s threads; %d round%s at scale %g"
            % (", ".join(scaling), ", ".join(map(str, threads)), rounds,
               "" if rounds == 1 else "s", scale * SCALING_SCALE))
        results["threads"] = threads
        results["scaling_scale"] = scale * SCALING_SCALE
        results["scaling"] = run_scaling(bindir, allocators, scaling, threads, rounds,
                                         scale * SCALING_SCALE)
    if not args.no_micro:
        results["micro_rounds"] = 1 if args.quick else 3
        results["micro"] = run_micro(bindir, allocators, results["micro_rounds"], args.quick, cpu)
    if not args.no_callgrind:
        results["callgrind"] = run_callgrind(args.build_dir, allocators,
                                             10000 if args.quick else 100000)
    results["elapsed_s"] = round(time.time() - started)
    results["machine"]["loadavg_at_end"] = "%.2f %.2f %.2f" % os.getloadavg()

    # a smoke run does not overwrite the results of the last full one
    path = os.path.join(args.build_dir,
                        "bench-results-quick.json" if args.quick else "bench-results.json")
    with open(path, "w") as f:
        json.dump(results, f, indent=1)
    print()
    print(report.console(results))
    log("raw results: %s (bench/report.py %s re-renders them)" % (path, path))
    if args.no_docs or (args.quick and not args.docs):
        return
    docs = args.docs or os.path.join(TOP, "docs")
    for written in report.write_docs(results, docs):
        log("wrote " + written)


if __name__ == "__main__":
    main()
