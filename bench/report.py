#!/usr/bin/env python3
"""report.py - the tables and charts of bench/compare's results.

Turns the JSON that compare.py saves (BUILD_DIR/bench-results.json) into
the tables printed on the console, the generated part of docs/benchmarks.md
and the charts docs/benchmarks-time.png and docs/benchmarks-rss.png
(gnuplot).  Only the text between the markers <!-- bench:begin --> and
<!-- bench:end --> is replaced, so the hand-written sections stay; a file
without the markers gets them appended at its end.

With --docs it also stores the raw results as docs/benchmarks-results.json,
so that the page and its charts can be rendered again later.  Re-render
saved results without running anything:
    bench/report.py build/bench/bench-results.json [--docs DIR]
    bench/report.py docs/benchmarks-results.json --docs docs

Every ratio is allocator / slabmalloc: above 1, slabmalloc is faster or
smaller; below 1, the other allocator is.
"""
import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

BEGIN = "<!-- bench:begin -->"
END = "<!-- bench:end -->"
REFERENCE = "slabmalloc"
CHARTS = {"time": "benchmarks-time.png", "rss": "benchmarks-rss.png"}
RAW = "benchmarks-results.json"

SKELETON = """# Benchmarks

How slabmalloc compares with glibc's malloc, mimalloc, jemalloc and
tcmalloc.  How to run each piece: [bench/README.md](../bench/README.md).
Everything between
the `bench:begin` and `bench:end` markers below is written by
`bench/compare`; the rest of this page is written by hand and kept when the
results are regenerated.

## Targets

(hand-written)

## Findings

(hand-written)

{begin}
{end}
"""

# ---------------------------------------------------------------- numbers --


def median(values):
    return statistics.median(values) if values else None


def geomean(values):
    values = [v for v in values if v and v > 0]
    return math.exp(sum(map(math.log, values)) / len(values)) if values else None


def ratio(value, ref):
    return value / ref if value is not None and ref else None


def summarize(results, group="workloads"):
    """{workload: {allocator: {key: median}}} for the keys every sample has;
    @group is "workloads" or "programs" (the same shape)."""
    out = {}
    for w, by_alloc in results.get(group, {}).items():
        out[w] = {}
        for a, samples in by_alloc.items():
            if not samples:
                continue
            keys = [k for k, v in samples[0].items() if isinstance(v, float)]
            out[w][a] = {k: median([s[k] for s in samples if k in s]) for k in keys}
            times = [s["time_s"] for s in samples]
            out[w][a]["spread"] = (max(times) - min(times)) / median(times) if median(times) else 0
    return out


# ----------------------------------------------------------------- tables --


def table(header, rows, align=None):
    """A markdown table, columns padded so it reads on a console too."""
    cols = len(header)
    align = align or ["l"] + ["r"] * (cols - 1)
    width = [max(len(str(r[i])) for r in [header] + rows) for i in range(cols)]

    def line(cells):
        return "| " + " | ".join(str(c).rjust(width[i]) if align[i] == "r" else str(c).ljust(width[i])
                                 for i, c in enumerate(cells)) + " |"
    rule = "|" + "|".join(("-" * (width[i] + 1) + ":") if align[i] == "r" else "-" * (width[i] + 2)
                          for i in range(cols)) + "|"
    return "\n".join([line(header), rule] + [line(r) for r in rows])


def fmt_ratio(r):
    return "" if r is None else " (%.2f)" % r


def ratio_table(results, summary, key, fmt, label):
    """Rows: workloads and a geometric-mean row; cells: value (ratio to slabmalloc)."""
    allocs = results["allocators"]
    rows, ratios = [], {a: [] for a in allocs}
    for w, by_alloc in summary.items():
        ref = by_alloc.get(REFERENCE, {}).get(key)
        row = [w]
        for a in allocs:
            v = by_alloc.get(a, {}).get(key)
            r = ratio(v, ref)
            if r is not None:
                ratios[a].append(r)
            row.append("-" if v is None else fmt(v) + ("" if a == REFERENCE else fmt_ratio(r)))
        rows.append(row)
    gm = ["geometric mean of ratios"]
    for a in allocs:
        g = geomean(ratios[a])
        gm.append("-" if g is None else "%.2f" % g)
    rows.append(gm)
    return table([label] + allocs, rows), {a: geomean(ratios[a]) for a in allocs}


def fragment_table(results, summary):
    frag = summary.get("fragment")
    if not frag:
        return None
    rows = []
    for a in results["allocators"]:
        s = frag.get(a)
        if not s or "rss_final_kib" not in s:
            continue
        rows.append([a] + ["%.1f" % (s[k] / 1024) for k in
                           ("held_kib", "hwm_kib", "rss_final_kib", "rss_settled_kib")]
                    + ["%.1f" % (s["rss_settled_kib"] / s["held_kib"])])
    return table(["allocator", "held MiB", "peak RSS MiB", "RSS after final free MiB",
                  "RSS settled MiB", "settled / held"], rows)


def phase_table(results, summary):
    """Workloads that time their phases (keys NAME_s besides time_s): median per phase."""
    allocs = results["allocators"]
    rows = []
    for w, by_alloc in summary.items():
        phases = sorted({k for s in by_alloc.values() for k in s
                         if k.endswith("_s") and k != "time_s"})
        for ph in phases:
            ref = by_alloc.get(REFERENCE, {}).get(ph)
            row = ["%s: %s" % (w, ph[:-2])]
            for a in allocs:
                v = by_alloc.get(a, {}).get(ph)
                row.append("-" if v is None else "%.3f s" % v +
                           ("" if a == REFERENCE else fmt_ratio(ratio(v, ref))))
            rows.append(row)
    return table(["phase"] + allocs, rows) if rows else None


def micro_table(results):
    micro = results.get("micro") or {}
    if not micro:
        return None, {}
    allocs = [a for a in results["allocators"] if a in micro]
    names = []
    for a in allocs:
        names += [n for n in micro[a] if n not in names]
    rows, ratios = [], {a: [] for a in allocs}
    for n in names:
        ref = micro.get(REFERENCE, {}).get(n)
        row = [n]
        for a in allocs:
            v = micro[a].get(n)
            r = ratio(v, ref)
            if r is not None:
                ratios[a].append(r)
            row.append("-" if v is None else "%.1f" % v + ("" if a == REFERENCE else fmt_ratio(r)))
        rows.append(row)
    rows.append(["geometric mean of ratios"] +
                ["-" if geomean(ratios[a]) is None else "%.2f" % geomean(ratios[a]) for a in allocs])
    return table(["benchmark (ns per item)"] + allocs, rows), ratios


def callgrind_table(results):
    cg = results.get("callgrind") or {}
    if not cg:
        return None
    cases = list(next(iter(cg.values())).keys())
    names = {"malloc_16": "malloc+free 16 B", "malloc_64": "malloc+free 64 B",
             "malloc_256": "malloc+free 256 B", "malloc_1024": "malloc+free 1 KiB",
             "cache_64": "cache alloc+free 64 B (others: malloc+free 64 B)",
             "instance_64": "isolated instance kmalloc+kfree 64 B (others: malloc+free 64 B)"}
    rows = [[a] + ["%.0f" % cg[a][c] for c in cases] for a in results["allocators"] if a in cg]
    return table(["allocator"] + [names.get(c, c) for c in cases], rows)


def complete(results, summary, key):
    """The rows of @summary that every allocator has @key for (so that the
    geometric means of different allocators are over the same rows)."""
    return [w for w, by in summary.items()
            if all(by.get(a, {}).get(key) for a in results["allocators"])]


def geomean_table(results, groups):
    """Per allocator: the geometric mean of the median time and of the median
    peak RSS over each group's rows, and its ratio to mimalloc.  @groups:
    (label, summary) pairs.  Returns (table, {label: {"time"|"rss":
    slabmalloc / mimalloc}})."""
    allocs = results["allocators"]
    rows, vs_mi = [], {}
    for label, summary in groups:
        for key, what, unit in (("time_s", "time", lambda v: "%.3f s" % v),
                                ("hwm_kib", "peak RSS", lambda v: "%.1f MiB" % (v / 1024))):
            names = complete(results, summary, key)
            if not names:
                continue
            g = {a: geomean([summary[w][a][key] for w in names]) for a in allocs}
            mi = g.get("mimalloc")
            rows.append(["%s: %s (%d)" % (label, what, len(names))] +
                        [unit(g[a]) + ("" if a == "mimalloc" or not mi else
                                       " (%.2f)" % (g[a] / mi)) for a in allocs])
            if mi and g.get(REFERENCE):
                what_key = "time" if key == "time_s" else "rss"
                vs_mi.setdefault(label, {})[what_key] = g[REFERENCE] / mi
    if not rows:
        return None, {}
    return table(["geometric mean over (rows)"] + allocs, rows), vs_mi


def cache_table(results, summary):
    c = summary.get("cache")
    if not c:
        return None
    rows = []
    for a in results["allocators"]:
        s = c.get(a)
        if not s or "rss_steady_kib" not in s:
            continue
        rows.append([a] + ["%.1f" % (s[k] / 1024) for k in
                           ("held_kib", "hwm_kib", "rss_steady_kib", "rss_settled_kib")]
                    + ["%.2f" % (s["rss_steady_kib"] / s["held_kib"])])
    return table(["allocator", "held MiB", "peak RSS MiB", "RSS at steady state MiB",
                  "RSS after freeing all, settled MiB", "steady / held"], rows)


def per_object_table(results, summary, programs):
    """Throughput figures some rows report besides their time."""
    allocs = results["allocators"]
    rows = []
    specs = [(summary, "prodcons", "ns_per_object",
              "prodcons: ns per message (producer to consumer)", "%.1f"),
             (summary, "larson", "ops_per_sec", "larson: requests per second", "{:,.0f}")]
    for test in ("set", "get", "lpush", "lpop"):
        specs.append((programs, "redis", "rps_" + test, "redis: %s requests per second"
                      % test.upper(), "{:,.0f}"))
    for summ, row, key, label, fmt in specs:
        by = (summ or {}).get(row)
        if not by or not any(key in by.get(a, {}) for a in allocs):
            continue
        ref = by.get(REFERENCE, {}).get(key)
        cells = []
        for a in allocs:
            v = by.get(a, {}).get(key)
            text = "-" if v is None else (fmt % v if "%" in fmt else fmt.format(v))
            if v is not None and a != REFERENCE:
                text += fmt_ratio(ratio(v, ref))
            cells.append(text)
        rows.append([label] + cells)
    return table(["figure"] + allocs, rows) if rows else None


def scaling_table(results):
    """Rows: workload and thread count; cells: ops/s and its ratio to mimalloc."""
    sc = results.get("scaling") or {}
    if not sc:
        return None
    allocs = results["allocators"]
    rows = []
    for w, by_threads in sc.items():
        for t, by_alloc in by_threads.items():
            tput = {}
            for a, samples in by_alloc.items():
                v = [s["ops"] / s["time_s"] for s in samples if s.get("time_s") and "ops" in s]
                if v:
                    tput[a] = median(v)
            mi = tput.get("mimalloc")
            row = ["%s, %s thread%s" % (w, t, "" if t == "1" else "s")]
            for a in allocs:
                v = tput.get(a)
                row.append("-" if v is None else "%.2f M" % (v / 1e6) +
                           ("" if a == "mimalloc" or not mi else " (%.2f)" % (v / mi)))
            rows.append(row)
    return table(["workload, threads (ops/s)"] + allocs, rows)


def pair_table(results):
    """malloc+free with one block live, 16 B to 1 KiB: ns (bench_micro's
    pair_live) and instructions (bench/callgrind); each value with its ratio
    to mimalloc and to slabmalloc."""
    micro = results.get("micro") or {}
    cg = results.get("callgrind") or {}
    allocs = results["allocators"]
    rows = []
    for size in (16, 64, 256, 1024):
        for label, get in (("ns", lambda a: micro.get(a, {}).get("pair_live/%d" % size)),
                           ("instructions", lambda a: cg.get(a, {}).get("malloc_%d" % size))):
            vals = {a: get(a) for a in allocs}
            if not any(vals.values()):
                continue
            mi, sm = vals.get("mimalloc"), vals.get(REFERENCE)
            row = ["%d B, %s" % (size, label)]
            for a in allocs:
                v = vals[a]
                if v is None:
                    row.append("-")
                    continue
                text = ("%.1f" if label == "ns" else "%.0f") % v
                r = [("%.2f" % (v / mi)) if mi else "-", ("%.2f" % (v / sm)) if sm else "-"]
                row.append(text + " (%s / %s)" % tuple(r))
            rows.append(row)
    return table(["pair, unit"] + allocs, rows) if rows else None


def spread_note(summary):
    worst = max(((s["spread"], w, a) for w, by in summary.items() for a, s in by.items()),
                default=None)
    if not worst:
        return ""
    return ("Largest spread of the time of one cell, (max - min) / median over the rounds: "
            "%.0f%% (%s under %s)." % (100 * worst[0], worst[1], worst[2]))


# ----------------------------------------------------------------- charts --


def gnuplot_terminal():
    gp = shutil.which("gnuplot")
    if not gp:
        return None
    for term in ("pngcairo", "png"):
        p = subprocess.run([gp, "-e", "set terminal %s" % term], capture_output=True, text=True)
        if p.returncode == 0 and not p.stderr.strip():
            return term
    return None


# One colour per allocator, the same in both charts (the bars are named too).
COLOURS = {"slabmalloc": "#7b3294", "glibc": "#1b9e77", "mimalloc": "#3a87c8",
           "jemalloc": "#e69f00", "tcmalloc": "#d9c400"}
OTHER_COLOURS = ["#999999", "#a6611a", "#c2a5cf", "#018571"]


def chart_rows(results, key):
    """[(group, row name, [(allocator, median, min, max) or None per allocator])]:
    each allocator's median, lowest and highest round as ratios to
    slabmalloc's median."""
    rows = []
    for group in ("workloads", "programs"):
        for w, by_alloc in results.get(group, {}).items():
            ref = median([s[key] for s in by_alloc.get(REFERENCE, []) if key in s])
            bars = []
            for a in results["allocators"]:
                vals = [s[key] for s in by_alloc.get(a, []) if key in s]
                bars.append((a, median(vals) / ref, min(vals) / ref, max(vals) / ref)
                            if vals and ref else None)
            rows.append((group, w, bars))
    return rows


def chart(results, key, title, path, terminal):
    """Grouped bars, one group per workload and program: each allocator's
    median as a ratio to slabmalloc's median, with an error bar from the
    round with the smallest value to the one with the largest (on the same
    scale), so the spread between rounds shows next to the difference.
    Every bar carries its allocator's name under it (no legend to match
    colours against), and the y axis reaches above the highest error bar."""
    allocs = results["allocators"]
    rows = chart_rows(results, key)
    if not rows:
        return
    colour = {a: COLOURS.get(a, OTHER_COLOURS[i % len(OTHER_COLOURS)]) for i, a in enumerate(allocs)}
    slot = len(allocs) + 1                      # one empty slot between groups
    data = {a: [] for a in allocs}
    tics, labels, top = [], [], 1.0
    split = None
    for g, (group, name, bars) in enumerate(rows):
        if group == "programs" and split is None and g:
            split = g * slot - 1.0
        for i, bar in enumerate(bars):
            if bar is None:
                continue
            a, med, lo, hi = bar
            x = g * slot + i
            data[a].append("%d %.4f %.4f %.4f" % (x, med, lo, hi))
            tics.append('"%s" %d' % (a, x))
            top = max(top, hi, med)
        labels.append((g * slot + (len(allocs) - 1) / 2.0, name))
    ymax = math.ceil(top * 1.06 * 4) / 4          # a quarter step above the highest bar
    width = max(1000, 17 * slot * len(rows) + 120)
    with tempfile.TemporaryDirectory() as tmp:
        plots = []
        for a in allocs:
            if not data[a]:
                continue
            f = os.path.join(tmp, "data-%d" % allocs.index(a))
            with open(f, "w") as out:
                out.write("\n".join(data[a]) + "\n")
            plots.append("'%s' using 1:2:(0.85) with boxes fill solid 0.85 border lc rgb 'black' "
                         "lc rgb '%s' notitle" % (f, colour[a]))
            plots.append("'%s' using 1:2:3:4 with yerrorbars pt 0 lw 1 lc rgb 'black' notitle" % f)
        script = [
            "set terminal %s size %d,520 %s"
            % (terminal, width, "font 'sans,10'" if terminal == "pngcairo" else ""),
            "set output '%s'" % path,
            "set title \"%s\"" % title.replace('"', "'"),
            "set xrange [-1:%d]" % (len(rows) * slot - 1),
            "set yrange [0:%g]" % ymax,
            "set ytics 0.25" if ymax <= 4 else "set ytics auto",
            "set grid ytics",
            "set key off",
            "set bars 0.4",
            "set bmargin 9",
            "set xtics rotate by 90 right scale 0 font ',8' (%s)" % ", ".join(tics),
            "set ylabel 'ratio to slabmalloc (1 = same)'",
            "set arrow from graph 0, first 1 to graph 1, first 1 nohead dashtype 2 lw 1.5 front",
        ]
        for x, name in labels:
            script.append("set label '%s' at %g, graph 0 center offset 0,-5.8 font ',10'" % (name, x))
        if split is not None:
            script.append("set arrow from %g, graph 0 to %g, graph 1 nohead lc rgb 'grey40' lw 1.5"
                          % (split, split))
            script.append("set label 'workloads ' at %g, graph 0.96 right font ',9' "
                          "textcolor rgb 'grey30'" % split)
            script.append("set label ' programs' at %g, graph 0.96 left font ',9' "
                          "textcolor rgb 'grey30'" % split)
        script += ["plot " + ", ".join(plots), ""]
        p = subprocess.run(["gnuplot"], input="\n".join(script), capture_output=True, text=True)
        if p.returncode != 0:
            raise RuntimeError("gnuplot failed: " + p.stderr)


# ------------------------------------------------------------------- text --


def sections(results, charts=None):
    """The generated text, as (heading, body) pairs."""
    summary = summarize(results)
    out = []
    rounds = results["rounds"]
    time_t, _ = ratio_table(results, summary, "time_s", lambda v: "%.3f s" % v, "workload")
    rss_t, _ = ratio_table(results, summary, "hwm_kib",
                           lambda v: "%.1f MiB" % (v / 1024), "workload")
    intro = ("Median of %d round%s%s; in parentheses the ratio to slabmalloc (above 1: "
             "slabmalloc is faster or smaller).  The geometric mean is over the workloads."
             % (rounds, "" if rounds == 1 else "s", "" if results.get("scale", 1) == 1 else
                ", workloads at scale %g" % results["scale"]))
    out.append(("Workloads: time", intro + "\n\n" + time_t + "\n\n" + spread_note(summary)))
    out.append(("Workloads: peak RSS", "Peak resident set (VmHWM), median of "
                "%d round%s, ratio to slabmalloc in parentheses.\n\n%s"
                % (rounds, "" if rounds == 1 else "s", rss_t)))
    phases = phase_table(results, summary)
    if phases:
        out.append(("Workloads: phases", "Workloads that time their phases separately "
                    "(`wl_falseshare`: *active*, each thread writes objects it allocated; "
                    "*passive*, objects first allocated by the main thread and freed by the "
                    "workers); medians.\n\n" + phases))
    frag = fragment_table(results, summary)
    if frag:
        out.append(("Fragmentation: memory given back", (
            "`wl_fragment` ends holding a known number of bytes (the survivors of its "
            "phases).  RSS right after the final free, and after three 200 ms pauses "
            "each followed by a burst of allocations (for allocators that return memory "
            "on a timer); medians.\n\n" + frag)))
    cache = cache_table(results, summary)
    if cache:
        out.append(("Cache: memory at steady state", (
            "`wl_cache` at the end of its stream (the cache full, what a long-running "
            "process keeps) against the key and value bytes its entries hold, and after "
            "freeing every entry and three 200 ms pauses with bursts, as `wl_fragment`; "
            "medians.\n\n" + cache)))
    psummary = summarize(results, "programs")
    if psummary:
        ptime, _ = ratio_table(results, psummary, "time_s", lambda v: "%.3f s" % v, "program")
        prss, _ = ratio_table(results, psummary, "hwm_kib",
                              lambda v: "%.1f MiB" % (v / 1024), "program")
        redis = results.get("versions", {}).get("redis", "")
        note = ""
        if "linked with" in redis and "jemalloc" in redis:
            if "libbench_glibc_malloc" in redis:
                what = ("redis's *glibc* cell is glibc's malloc preloaded, and every cell is the "
                        "allocator named with jemalloc loaded beside it")
            else:
                what = ("redis's *glibc* cell is jemalloc (redis's own), and every other cell "
                        "is the preloaded allocator with jemalloc loaded beside it")
            note = ("  **redis**: Debian's redis-server is " + redis.split("; ", 1)[1] +
                    ".  So " + what + ".")
        out.append(("Programs: time", (
            "Whole programs, each a fixed job (bench/programs.py), run like the workloads: "
            "median of %d round%s%s, ratio to slabmalloc in parentheses.  Time is the wall time "
            "of the job; for redis, the sum over its four tests of requests / (requests per "
            "second), i.e. the time redis-benchmark's rates imply (the rates are below).  "
            "python3 runs with PYTHONMALLOC=malloc, so its small objects go to the allocator "
            "under test instead of pymalloc.%s\n\n%s\n\n%s"
            % (rounds, "" if rounds == 1 else "s", "" if results.get("scale", 1) == 1 else
               ", at scale %g" % results["scale"], note, ptime, spread_note(psummary)))))
        out.append(("Programs: peak RSS", (
            "Peak resident set of the largest process of the job (`run_rss`: getrusage's "
            "ru_maxrss of the children; redis: the server's VmHWM), median, ratio to "
            "slabmalloc in parentheses.\n\n" + prss)))
    gm, vs_mi = geomean_table(results, [("workloads", summary)] +
                              ([("programs", psummary)] if psummary else []))
    if gm:
        said = "; ".join("%s: time %.2f, peak RSS %.2f" % (label, v.get("time", float("nan")),
                                                            v.get("rss", float("nan")))
                         for label, v in vs_mi.items())
        out.append(("Geometric means", (
            "Geometric mean per allocator of the median time and of the median peak RSS "
            "over the rows every allocator completed (how many in parentheses in the first "
            "column); in parentheses, the ratio to mimalloc's (above 1: more time or more "
            "memory than mimalloc).\n\n%s\n\n**slabmalloc / mimalloc**: %s."
            % (gm, said or "mimalloc not measured"))))
    per_obj = per_object_table(results, summary, psummary)
    if per_obj:
        out.append(("Throughput figures", (
            "Rates some rows report besides their time (medians; ratio to slabmalloc in "
            "parentheses: for ns per message above 1 means slabmalloc is faster, for "
            "requests per second below 1 does).\n\n" + per_obj)))
    sc = scaling_table(results)
    if sc:
        cores = results["machine"].get("cores")
        out.append(("Scaling with threads", (
            "The multi-threaded workloads run again at each thread count "
            "(`wl_NAME SCALE THREADS`, at scale %g; each thread keeps its share of the "
            "work, so the "
            "work grows with the threads; `prodcons` with T threads has ceil(T/2) producers "
            "and max(1, T/2) consumers).  Median throughput in millions of operations per "
            "second (requests, messages or objects, see bench/README.md); in parentheses "
            "the ratio to mimalloc's throughput (above 1: faster than mimalloc).  This "
            "machine has %s cores: at more threads than that they are oversubscribed and "
            "the figures show how each allocator copes with threads preempted inside it, "
            "not parallel speed-up.\n\n%s" % (results.get("scaling_scale", 1), cores, sc))))
    if charts:
        out.append(("Charts", "\n\n".join("![%s](%s)" % (alt, os.path.basename(p))
                                          for alt, p in charts)))
    micro, _ = micro_table(results)
    if micro:
        out.append(("Micro-benchmarks", (
            "Google Benchmark (`bench/micro.cc`), nanoseconds per item (one allocation and "
            "its free; one realloc for `realloc_append`; a whole 16 B to 1 MiB doubling for "
            "`realloc_double`), %s, wall-clock time.  slabmalloc "
            "is linked (`bench_micro_sm`), the others preloaded into `bench_micro`.  "
            "`cache_alloc_free` is `sm_cache_alloc`/`sm_cache_free` on a dedicated cache "
            "for slabmalloc and malloc/free of the same size for the others; "
            "`instance_kmalloc_free` is `sm_kmalloc`/`sm_kfree` on an isolated instance "
            "(`sm_instance_create`), malloc/free for the others.  "
            "`cross_thread_free`: one thread allocates batches of 64, another frees them.\n\n"
            % micro_method(results) + micro)))
    pairs = pair_table(results)
    if pairs:
        out.append(("malloc+free pair, one block live", (
            "One malloc + free of the size in a loop, with one block of the same size "
            "allocated throughout (the fast path alone): nanoseconds (`pair_live` of "
            "`bench/micro.cc`, wall-clock median) and instructions (`bench/callgrind`, the "
            "loop included).  In parentheses: the ratio to mimalloc / the ratio to "
            "slabmalloc (above 1: slower or longer than it).\n\n" + pairs)))
    cg = callgrind_table(results)
    if cg:
        out.append(("Instructions per pair (callgrind)", (
            "`bench/callgrind`: instructions per allocation + free pair, the ~10 "
            "instructions of the loop (`bench/cg_loop.c`) included, with one block of the "
            "same size alive; (count at 100,000 iterations - count at 0) / 100,000.\n\n" + cg)))
    m, v = results["machine"], results["versions"]
    env = "\n".join(["- machine: %s, %s cores, %s, kernel %s, %s" % (
        m["cpu"], m["cores"], m["memory"], m["kernel"], m["os"]),
        "- load average (1, 5, 15 min) at the start: %s; at the end: %s (the runs "
        "themselves keep up to 2 cores busy; more than that, or more than ~0.5 at the "
        "start, means another program was competing for the CPU)"
        % (m["loadavg_at_start"], m.get("loadavg_at_end", "not recorded")),
        "- %s" % pinning(results)] +
        ["- %s: %s" % (k, val) for k, val in v.items()] +
        ["- command: `%s` (%s, %d s)" % (results.get("command", "bench/compare"),
                                          results["date"], results.get("elapsed_s", 0))])
    out.append(("Machine and versions", env))
    return out


def micro_method(results):
    """How the micro-benchmarks' figure of a cell was taken."""
    n = results.get("micro_rounds")
    if n is None:   # a run from before compare.py ran them in rounds
        return "median of 3 repetitions in one process per allocator"
    return ("median of %d round%s, each a process per allocator in a rotated order, "
            "the single-threaded benchmarks pinned to one CPU" % (n, "" if n == 1 else "s"))


def pinning(results):
    """Where the single-threaded runs ran (compare.py, single_cpu)."""
    if "pinned_cpu" not in results:
        return "single-threaded runs: not pinned (a run from before bench/compare pinned them)"
    if results["pinned_cpu"] is None:
        return "single-threaded runs: not pinned (--no-pin)"
    return ("single-threaded runs (workloads, programs but redis, micro-benchmarks but "
            "cross_thread_free) pinned to CPU %d; the multi-threaded ones anywhere"
            % results["pinned_cpu"])


def console(results):
    return "\n\n".join("== %s ==\n\n%s" % (h, b) for h, b in sections(results)
                       if h not in ("Charts",))


def git(top, *args):
    p = subprocess.run(["git", "-C", top] + list(args), capture_output=True, text=True)
    return p.stdout.strip() if p.returncode == 0 else None


def provenance(results, top):
    """Machine, commit and command of the run, and how far the tree the page
    is rendered in has moved from that commit."""
    m, v = results["machine"], results["versions"]
    commit = v.get(REFERENCE, "unknown")
    text = ("Machine: %s, %s cores, %s, %s; load average at the start %s; %s.  "
            "Commit: %s.  Command: `%s` (%s, %s round%s)."
            % (m["cpu"], m["cores"], m["memory"], m["os"], m["loadavg_at_start"],
               pinning(results), commit,
               results.get("command", "bench/compare"), results["date"], results["rounds"],
               "" if results["rounds"] == 1 else "s"))
    head = git(top, "rev-parse", "--short", "HEAD")
    full = git(top, "rev-parse", "--verify", "--quiet", commit.split("-")[0] + "^{commit}")
    if head and full and not git(top, "rev-parse", "--short", "HEAD").startswith(commit[:7]):
        behind = git(top, "rev-list", "--count", full + "..HEAD")
        changed = git(top, "rev-list", "--count", full + "..HEAD", "--",
                      "src", "include", "preload/*.c")
        if behind and behind != "0":
            text += ("\n\n**These results are from an older commit.** They were measured at %s; "
                     "this page was rendered at %s, %s commit%s later, %s of which changed the "
                     "library (src/, include/ or preload/*.c), so they describe the library as it "
                     "was at %s, not as it is now.  Rerun `bench/compare` for current figures."
                     % (commit, head, behind, "" if behind == "1" else "s", changed, commit))
    return text


def markdown(results, charts, top=None):
    body = ["## Results", "",
            "Generated by `bench/compare` on %s; do not edit by hand (it is replaced at the "
            "next run; `bench/report.py docs/benchmarks-results.json --docs docs` renders it "
            "again from the raw results stored beside it)." % results["date"]]
    if top:
        body += ["", provenance(results, top)]
    for h, b in sections(results, charts):
        body += ["", "### " + h, "", b]
    return "\n".join(body) + "\n"


def write_docs(results, docs, source=None):
    """Write the charts, the raw results (DOCS/benchmarks-results.json; @source:
    the file they were read from) and the generated part of DOCS/benchmarks.md;
    return the paths."""
    os.makedirs(docs, exist_ok=True)
    written, charts = [], []
    terminal = gnuplot_terminal()
    if terminal:
        for key, what, alt in (("time", "time_s", "median time, ratio to slabmalloc"),
                               ("rss", "hwm_kib", "peak RSS, ratio to slabmalloc")):
            path = os.path.join(docs, CHARTS[key])
            chart(results, what, "Workloads and programs, slabmalloc %s, %s: %s; error bars: "
                  "lowest and highest of the %d rounds (above 1: slabmalloc is %s)"
                  % (results["versions"].get(REFERENCE, "?"), results["date"], alt,
                     results["rounds"], "faster" if key == "time" else "smaller"), path, terminal)
            charts.append((alt, path))
            written.append(path)
    else:
        print("report: gnuplot (Debian: gnuplot-nox) not found: no charts", file=sys.stderr)

    # the raw results, so that the tables and charts can be rendered again
    raw = os.path.join(docs, RAW)
    if not (source and os.path.exists(raw) and os.path.samefile(raw, source)):
        with open(raw + ".tmp", "w") as f:
            json.dump(results, f, indent=1)
            f.write("\n")
        os.replace(raw + ".tmp", raw)
        written.append(raw)

    path = os.path.join(docs, "benchmarks.md")
    try:
        with open(path) as f:
            text = f.read()
    except FileNotFoundError:
        text = SKELETON.format(begin=BEGIN, end=END)
    top = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    block = BEGIN + "\n" + markdown(results, charts, top) + END
    if BEGIN in text and END in text and text.index(BEGIN) < text.index(END):
        text = text[:text.index(BEGIN)] + block + text[text.index(END) + len(END):]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.replace(path + ".tmp", path)
    written.append(path)
    return written


def main():
    ap = argparse.ArgumentParser(description="Re-render saved bench/compare results.")
    ap.add_argument("results", help="the JSON bench/compare saved (build/bench/bench-results.json)")
    ap.add_argument("--docs", default=None, metavar="DIR",
                    help="also write benchmarks.md and the charts into DIR (e.g. docs)")
    args = ap.parse_args()
    with open(args.results) as f:
        results = json.load(f)
    print(console(results))
    if args.docs:
        for p in write_docs(results, args.docs, args.results):
            print("wrote " + p)


if __name__ == "__main__":
    main()
