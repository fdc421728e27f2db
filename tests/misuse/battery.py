#!/usr/bin/env python3
"""The heap-misuse battery (issue 13): run every program of tests/misuse/
under glibc, slabmalloc's modes and the other allocators installed, classify
what happened, and print a table with the count each allocator detects.

    battery.py [--build DIR] [--json] [--markdown] [--modes m1,m2] [--only p1,p2]
    battery.py --record            # rewrite tests/misuse/expected.txt
    battery.py --check PROG --mode MODE   # one ctest: PROG under MODE as expected
    battery.py --count MODE        # one ctest: MODE detects the recorded count

Outcome classes (docs/testing.md, "The heap-misuse battery"):
  report     SIGABRT after a message on stderr (the allocator's report)
  abort      SIGABRT with nothing on stderr
  fault      SIGSEGV or SIGBUS (a protection, or the allocator touching
             memory that is not its own)
  cleared    exit 10: a read kind found none of its old data
  refused    exit 11: a size kind got NULL with ENOMEM
  absent     exit 12: the function under test does not exist here
  wrong      exit 13: a size kind got an answer other than NULL/ENOMEM
  warned     exit 0 after a message on stderr (reported, but went on)
  undetected exit 0, nothing on stderr
  crash      any other signal (SIGILL, SIGTRAP, SIGFPE, ...)
  hang       still running after the time limit (killed)
  error      any other exit status (1: the set-up failed)
A size kind is detected when refused; any other kind when report, abort or
fault, and a read kind also when cleared.
"""

import argparse
import os
import re
import resource
import shutil
import signal
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
EXPECTED = os.path.join(HERE, "expected.txt")
# Issue 13's targets: programs each mode must detect (--count fails below).
TARGETS = {"default": 42, "hardened": 50}
TIMEOUT = 20.0  # seconds per run: only turns a hang into an outcome

# Every program, with the kind of misuse it is (the docs table groups by
# it).  "size" and "read" kinds have their own detection rule (above).
PROGRAMS = {
    "double_free_small": "double free",
    "double_free_small_delayed": "double free",
    "double_free_small_after_many": "double free",
    "double_free_large": "double free",
    "double_free_large_delayed": "double free",
    "double_free_huge": "double free",
    "double_free_other_thread": "double free",
    "free_after_realloc_move": "double free",
    "free_stack": "invalid free",
    "free_global": "invalid free",
    "free_mmap_unprotected": "invalid free",
    "free_mmap_protected": "invalid free",
    "free_unaligned_small": "invalid free",
    "free_unaligned_large": "invalid free",
    "free_interior_small": "invalid free",
    "free_interior_large": "invalid free",
    "free_far_from_small": "invalid free",
    "free_uninitialized": "invalid free",
    "realloc_after_free": "invalid realloc",
    "realloc_uninitialized": "invalid realloc",
    "realloc_interior": "invalid realloc",
    "usable_size_after_free_small": "malloc_usable_size",
    "usable_size_after_free_large": "malloc_usable_size",
    "usable_size_unaligned": "malloc_usable_size",
    "usable_size_interior": "malloc_usable_size",
    "usable_size_uninitialized": "malloc_usable_size",
    "write_after_free_small": "write after free",
    "write_after_free_large": "write after free",
    "write_after_free_small_reuse": "write after free",
    "write_after_free_large_reuse": "write after free",
    "write_after_free_huge": "write after free",
    "write_after_free_link": "write after free",
    "write_before_freed_4k": "write after free",
    "read_after_free_small": "read",
    "read_after_free_large": "read",
    "uninitialized_read_small": "read",
    "uninitialized_read_large": "read",
    "read_zero_size": "malloc(0)",
    "write_zero_size": "malloc(0)",
    "overflow_small_1_byte": "overflow",
    "overflow_small_8_byte": "overflow",
    "overflow_large_1_byte": "overflow",
    "overflow_large_8_byte": "overflow",
    "overflow_16_byte_neighbour": "overflow",
    "overflow_linear_32": "overflow",
    "string_overflow": "overflow",
    "underflow_small": "overflow",
    "free_sized_wrong": "sized free",
    "free_aligned_sized_wrong": "sized free",
    "sized_delete_mismatch": "C++ delete",
    "aligned_delete_unaligned": "C++ delete",
    "array_new_scalar_delete": "C++ delete",
    "impossibly_large_malloc": "size",
    "calloc_overflow": "size",
    "realloc_too_large": "size",
}

# The slabmalloc modes ctest checks (expected.txt has a line per program and
# each of them); hardened_so is checked against hardened's lines.
SLAB_MODES = ["default", "hardened", "debug"]
ALL_MODES = ["glibc", "default", "hardened", "hardened_so", "debug",
             "mimalloc", "jemalloc", "tcmalloc"]

# stderr lines that are not a report: slabmalloc's warning about an option
# this build does not know (SLABMALLOC_DEBUG before slab_debug exists).
NOISE = re.compile(r"^slabmalloc: ignoring ")

DETECTING = {"report", "abort", "fault"}


def detected(prog, outcome):
    if "|" in outcome:  # recorded alternatives (record): each one detects
        return all(detected(prog, o) for o in outcome.split("|"))
    kind = PROGRAMS[prog]
    if kind == "size":
        return outcome == "refused"
    if kind == "read":
        return outcome in DETECTING or outcome == "cleared"
    return outcome in DETECTING


def find_library(soname):
    """The path of @soname known to the dynamic linker (as bench/allocators.sh)."""
    ldconfig = shutil.which("ldconfig") or "/sbin/ldconfig"
    try:
        out = subprocess.run([ldconfig, "-p"], capture_output=True, text=True,
                             check=False).stdout
    except OSError:
        return None
    for line in out.splitlines():
        fields = line.split()
        if fields and fields[0] == soname and re.search(r"x86-64|64bit|AArch64", line):
            return fields[-1]
    return None


def mode_env(mode, build):
    """The environment additions of @mode, or None when it is not available."""
    lib = os.path.join(build, "libslabmalloc.so")
    if mode == "glibc":
        return {}
    if mode == "default":
        return {"LD_PRELOAD": lib} if os.path.exists(lib) else None
    if mode == "hardened":
        return {"LD_PRELOAD": lib, "SLABMALLOC_HARDEN": "1"} if os.path.exists(lib) else None
    if mode == "hardened_so":
        hlib = os.path.join(build, "libslabmalloc-hardened.so")
        return {"LD_PRELOAD": hlib} if os.path.exists(hlib) else None
    if mode == "debug":
        return {"LD_PRELOAD": lib, "SLABMALLOC_DEBUG": "FZPU"} if os.path.exists(lib) else None
    env_var, sonames = {
        "mimalloc": ("BENCH_MIMALLOC", ["libmimalloc.so.2"]),
        "jemalloc": ("BENCH_JEMALLOC", ["libjemalloc.so.2"]),
        "tcmalloc": ("BENCH_TCMALLOC", ["libtcmalloc_minimal.so.4", "libtcmalloc.so.4"]),
    }[mode]
    path = os.environ.get(env_var)
    for soname in sonames:
        if path:
            break
        path = find_library(soname)
    return {"LD_PRELOAD": path} if path and os.path.exists(path) else None


def clean_environ():
    """A clean environment (as check.sh's env -i): nothing the caller set may
    change an allocator."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"}


def run_one(bindir, prog, mode, build):
    """Run @prog under @mode: a dict with outcome, report line, status, output."""
    extra = mode_env(mode, build)
    exe = os.path.join(bindir, prog)
    env = clean_environ()
    env.update(extra)
    proc = subprocess.Popen([exe], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=TIMEOUT)
        rc = proc.returncode
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        rc = None
    out = out.decode(errors="replace")
    err = err.decode(errors="replace")
    lines = [ln for ln in err.splitlines() if ln.strip() and not NOISE.match(ln)]
    report = lines[0] if lines else ""
    if rc is None:
        outcome = "hang"
    elif rc < 0:
        sig = -rc
        if sig == signal.SIGABRT:
            outcome = "report" if report else "abort"
        elif sig in (signal.SIGSEGV, signal.SIGBUS):
            outcome = "fault"
        else:
            outcome = "crash"
    else:
        outcome = {0: "warned" if report else "undetected", 10: "cleared", 11: "refused",
                   12: "absent", 13: "wrong"}.get(rc, "error")
    return {"outcome": outcome, "detected": detected(prog, outcome), "report": report,
            "status": rc, "stdout": out, "stderr": err}


def report_regex(line):
    """A regular expression for @line: the text, with every address free."""
    parts = re.split(r"(0x[0-9a-fA-F]+)", line)
    return "".join("0x[0-9a-f]+" if re.fullmatch(r"0x[0-9a-fA-F]+", p)
                   else re.sub(r"([.^$*+?{}\[\]\\|()])", r"\\\1", p) for p in parts)


def load_expected():
    """{(program, mode): (outcome, regex)} from expected.txt."""
    exp = {}
    with open(EXPECTED, encoding="utf-8") as f:
        for line in f:
            if not line.strip() or line.startswith("#"):
                continue
            fields = line.rstrip("\n").split("\t")
            prog, mode, outcome = fields[:3]
            exp[(prog, mode)] = (outcome, fields[3] if len(fields) > 3 else "")
    return exp


def check_sources(bindir):
    """Every program built and listed; returns the list (sorted by kind order)."""
    missing = [p for p in PROGRAMS if not os.path.exists(os.path.join(bindir, p))]
    sources = {os.path.splitext(f)[0] for f in os.listdir(HERE) if f.endswith((".c", ".cc"))}
    unlisted = sources - set(PROGRAMS)
    if unlisted:
        sys.exit("battery: programs not listed in battery.py: " + ", ".join(sorted(unlisted)))
    return [p for p in PROGRAMS if p not in missing], missing


def run_matrix(bindir, build, progs, modes, jobs):
    import concurrent.futures  # here: a --check run (one ctest) starts faster without it
    results = {p: {} for p in progs}
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        futs = {pool.submit(run_one, bindir, p, m, build): (p, m) for p in progs for m in modes}
        for fut in concurrent.futures.as_completed(futs):
            p, m = futs[fut]
            results[p][m] = fut.result()
    return results


def cell(r):
    return r["outcome"] + ("" if r["detected"] else " -")


def print_table(progs, modes, results):
    w = max(len(p) for p in progs)
    print(f"{'program':<{w}}  {'kind':<18}  " + "  ".join(f"{m:<12}" for m in modes))
    for p in progs:
        print(f"{p:<{w}}  {PROGRAMS[p]:<18}  " +
              "  ".join(f"{cell(results[p][m]):<12}" for m in modes))
    print(f"{'detected of ' + str(len(progs)):<{w}}  {'':<18}  " +
          "  ".join(f"{sum(results[p][m]['detected'] for p in progs):<12}" for m in modes))
    print("(' -': not detected)")


def print_markdown(progs, modes, results):
    print("| program | kind | " + " | ".join(modes) + " |")
    print("|---|---|" + "---|" * len(modes))
    for p in progs:
        cells = []
        for m in modes:
            r = results[p][m]
            cells.append(f"**{r['outcome']}**" if r["detected"] else r["outcome"])
        print(f"| `{p}` | {PROGRAMS[p]} | " + " | ".join(cells) + " |")
    print("| detected | | " + " | ".join(
        f"{sum(results[p][m]['detected'] for p in progs)} of {len(progs)}" for m in modes) + " |")


def record(bindir, build, progs, jobs, rounds):
    """Rewrite expected.txt from @rounds runs of every program under each of
    SLAB_MODES (and hardened_so, when built, as one more run of hardened).
    Writes nothing, and returns 1, when a program's outcome or report line
    differs between its runs: a recorded outcome must be one every ctest run
    reproduces."""
    modes = SLAB_MODES + (["hardened_so"] if mode_env("hardened_so", build) else [])
    runs = [run_matrix(bindir, build, progs, modes, jobs) for _ in range(rounds)]
    unstable = []
    alternatives = {}
    for p in progs:
        for m in SLAB_MODES:
            seen = [(r[p][m]["outcome"], report_regex(r[p][m]["report"])) for r in runs]
            if m == "hardened" and "hardened_so" in modes:
                seen += [(r[p]["hardened_so"]["outcome"],
                          report_regex(r[p]["hardened_so"]["report"])) for r in runs]
            if len(set(seen)) <= 1:
                continue
            # Hardened mode's random slot order may decide which check
            # finds a misuse first: recorded as alternatives when every
            # run detected it, each one matched by the ctest.
            if all(detected(p, o) for o, _ in seen):
                outs = sorted({o for o, _ in seen})
                rxs = sorted({rx for o, rx in seen if o in ("report", "warned") and rx})
                alternatives[(p, m)] = ("|".join(outs),
                                        "|".join(f"({rx})" for rx in rxs) if len(rxs) > 1
                                        else "".join(rxs))
            else:
                unstable.append((p, m, sorted(set(seen))))
    if unstable:
        print("battery: not recorded: these outcomes differ between runs"
              " (hardened includes hardened_so):")
        for p, m, seen in unstable:
            print(f"  {p} under {m}: " + "; ".join(f"{o} {rx}".strip() for o, rx in seen))
        return 1
    results = runs[0]
    with open(EXPECTED, "w", encoding="utf-8") as f:
        f.write("# What each program of the heap-misuse battery does under each slabmalloc\n"
                "# mode: written by `tests/misuse/battery.py --record` (docs/testing.md), read\n"
                "# by the misuse.* ctests.  program<TAB>mode<TAB>outcome<TAB>regex of the\n"
                "# first line on stderr (reports only; addresses match any address).\n"
                "# a|b: alternatives, each a detection, that the runs of --record saw.\n")
        for p in sorted(progs):
            for m in SLAB_MODES:
                r = results[p][m]
                outcome = r["outcome"]
                rx = report_regex(r["report"]) if outcome in ("report", "warned") else ""
                if (p, m) in alternatives:
                    outcome, rx = alternatives[(p, m)]
                f.write(f"{p}\t{m}\t{outcome}" + (f"\t{rx}" if rx else "") + "\n")
        for m in SLAB_MODES:
            n = sum(results[p][m]["detected"] for p in progs)
            f.write(f"# {m}: {n} of {len(progs)} detected\n")
    for m in SLAB_MODES:
        print(f"{m}: {sum(results[p][m]['detected'] for p in progs)} of {len(progs)} detected")
    print(f"wrote {EXPECTED} ({rounds} runs of each program agreed)")
    return 0


def show_failure(prog, mode, r, why):
    print(f"misuse.{mode}.{prog}: {why}")
    print(f"  exit status {r['status']}, outcome {r['outcome']}")
    print("  stdout: " + r["stdout"].strip().replace("\n", "\n          "))
    print("  stderr: " + r["stderr"].strip().replace("\n", "\n          "))
    return 1


def check(bindir, build, prog, mode):
    if prog not in PROGRAMS:
        sys.exit(f"battery: unknown program {prog}")
    if mode_env(mode, build) is None:
        print(f"battery: mode {mode} not available in {build}")
        return 77
    exp = load_expected()
    key = (prog, "hardened" if mode == "hardened_so" else mode)
    if key not in exp:
        print(f"battery: no expected outcome for {key[0]} in mode {key[1]} (run --record)")
        return 1
    outcome, rx = exp[key]
    r = run_one(bindir, prog, mode, build)
    if r["outcome"] not in outcome.split("|"):
        return show_failure(prog, mode, r, f"expected {outcome}, got {r['outcome']}")
    if rx and not re.fullmatch(rx, r["report"]):
        return show_failure(prog, mode, r, f"report line does not match {rx!r}")
    print(f"{prog} under {mode}: {r['outcome']}" + (f": {r['report']}" if r["report"] else ""))
    return 0


def count(bindir, build, progs, mode, jobs):
    exp = load_expected()
    want = sum(detected(p, exp[(p, mode)][0]) for p in progs if (p, mode) in exp)
    results = run_matrix(bindir, build, progs, [mode], jobs)
    got = sum(results[p][mode]["detected"] for p in progs)
    target = TARGETS.get(mode, 0)
    print(f"{mode}: {got} of {len(progs)} detected (recorded: {want}; issue 13's target: "
          f"{target or 'none'})")
    if got < target:
        print(f"  below the target of {target}")
        return 1
    if got != want:
        for p in progs:
            r = results[p][mode]
            if (p, mode) in exp and r["detected"] != detected(p, exp[(p, mode)][0]):
                print(f"  {p}: {r['outcome']} (recorded {exp[(p, mode)][0]})")
        return 1
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build", "release"),
                    help="the build directory with libslabmalloc.so (default build/release)")
    ap.add_argument("--bin", help="where the programs are (default BUILD/tests/misuse/bin)")
    ap.add_argument("--modes", help="comma-separated modes (default: every one available)")
    ap.add_argument("--only", help="comma-separated programs")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--json", action="store_true", help="print JSON instead of the table")
    ap.add_argument("--markdown", action="store_true", help="print a Markdown table")
    ap.add_argument("--verbose", action="store_true", help="print each run's stdout and stderr")
    ap.add_argument("--record", action="store_true", help="rewrite tests/misuse/expected.txt")
    ap.add_argument("--rounds", type=int, default=3,
                    help="--record: runs of each program that must agree (default 3)")
    ap.add_argument("--check", metavar="PROG")
    ap.add_argument("--mode")
    ap.add_argument("--count", metavar="MODE")
    a = ap.parse_args()
    # No core files from the programs (they inherit the limit); set here, not
    # in a preexec_fn, which is unsafe with the runner's threads.
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    build = os.path.abspath(a.build)
    bindir = a.bin or os.path.join(build, "tests", "misuse", "bin")

    if a.check:
        return check(bindir, build, a.check, a.mode or "default")
    progs, missing = check_sources(bindir)
    if missing:
        print("battery: not built (cmake --build): " + ", ".join(missing), file=sys.stderr)
        if a.record or a.count:
            return 1
    if a.only:
        progs = [p for p in a.only.split(",") if p in progs]
    if a.record:
        if a.only:
            sys.exit("battery: --record rewrites the whole file: no --only")
        return record(bindir, build, progs, a.jobs, a.rounds)
    if a.count:
        return count(bindir, build, progs, a.count, a.jobs)

    modes = a.modes.split(",") if a.modes else ALL_MODES
    avail = [m for m in modes if mode_env(m, build) is not None]
    for m in modes:
        if m not in avail:
            print(f"battery: {m} not available, left out", file=sys.stderr)
    results = run_matrix(bindir, build, progs, avail, a.jobs)
    if a.json:
        import json
        json.dump({"modes": avail,
                   "counts": {m: sum(results[p][m]["detected"] for p in progs) for m in avail},
                   "programs": [{"program": p, "kind": PROGRAMS[p], "results": results[p]}
                                for p in progs]}, sys.stdout, indent=1)
        print()
    elif a.markdown:
        print_markdown(progs, avail, results)
    else:
        print_table(progs, avail, results)
    if a.verbose:
        for p in progs:
            for m in avail:
                r = results[p][m]
                print(f"--- {p} under {m}: {r['outcome']} (status {r['status']})")
                if r["stdout"].strip():
                    print("stdout: " + r["stdout"].strip())
                if r["stderr"].strip():
                    print("stderr: " + r["stderr"].strip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
