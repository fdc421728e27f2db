#!/usr/bin/env python3
"""report.py - the tables and charts of bench/compare's results.

Turns the JSON that compare.py saves (BUILD_DIR/bench-results.json) into
the tables printed on the console, the generated part of docs/benchmarks.md
and the charts docs/benchmarks-time.png and docs/benchmarks-rss.png
(gnuplot).  Only the text between the markers <!-- bench:begin --> and
<!-- bench:end --> is replaced, so the hand-written sections stay; a file
without the markers gets them appended at its end.

Re-render saved results without running anything:
    bench/report.py build/bench/bench-results.json [--docs DIR]

Every ratio is allocator / slabmalloc: above 1, slabmalloc is faster or
smaller; below 1, the other allocator is.
"""
import argparse
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


def summarize(results):
    """{workload: {allocator: {key: median}}} for the keys every sample has."""
    out = {}
    for w, by_alloc in results.get("workloads", {}).items():
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
    names = {"malloc_16": "malloc+free 16 B", "malloc_256": "malloc+free 256 B",
             "cache_64": "cache alloc+free 64 B (others: malloc+free 64 B)"}
    rows = [[a] + ["%.0f" % cg[a][c] for c in cases] for a in results["allocators"] if a in cg]
    return table(["allocator"] + [names.get(c, c) for c in cases], rows)


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


def chart(results, summary, key, title, path, terminal):
    """Grouped bars: per workload, each other allocator's ratio to slabmalloc."""
    others = [a for a in results["allocators"] if a != REFERENCE]
    lines, per_alloc = [], {a: [] for a in others}
    for w, by_alloc in summary.items():
        ref = by_alloc.get(REFERENCE, {}).get(key)
        cells = []
        for a in others:
            r = ratio(by_alloc.get(a, {}).get(key), ref)
            if r is not None:
                per_alloc[a].append(r)
            cells.append("?" if r is None else "%.4f" % r)
        lines.append(" ".join([w] + cells))
    lines.append(" ".join(["geomean"] + ["%.4f" % geomean(per_alloc[a]) if geomean(per_alloc[a])
                                         else "?" for a in others]))
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "data")
        with open(data, "w") as f:
            f.write("\n".join(lines) + "\n")
        plots = ", ".join("'%s' using %d%s title '%s'" % (data if i == 0 else "", i + 2,
                                                           ":xtic(1)" if i == 0 else "", a)
                          for i, a in enumerate(others))
        script = "\n".join([
            "set terminal %s size 900,400 %s" % (terminal, "font 'sans,10'" if terminal == "pngcairo" else ""),
            "set output '%s'" % path,
            "set title '%s'" % title,
            "set datafile missing '?'",
            "set style data histograms",
            "set style histogram clustered gap 1",
            "set style fill solid 0.8 border -1",
            "set boxwidth 0.9",
            "set yrange [0:*]",
            "set ylabel 'ratio to slabmalloc (1 = same)'",
            "set grid ytics",
            "set key above",
            "set arrow from graph 0, first 1 to graph 1, first 1 nohead dashtype 2 lw 2 front",
            "plot " + plots, ""])
        p = subprocess.run(["gnuplot"], input=script, capture_output=True, text=True)
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
    if charts:
        out.append(("Charts", "\n\n".join("![%s](%s)" % (alt, os.path.basename(p))
                                          for alt, p in charts)))
    micro, _ = micro_table(results)
    if micro:
        out.append(("Micro-benchmarks", (
            "Google Benchmark (`bench/micro.cc`), nanoseconds per item (one allocation and "
            "its free; one realloc for `realloc_append`; a whole 16 B to 1 MiB doubling for "
            "`realloc_double`), median of the repetitions, wall-clock time.  slabmalloc "
            "is linked (`bench_micro_sm`), the others preloaded into `bench_micro`.  "
            "`cache_alloc_free` is `sm_cache_alloc`/`sm_cache_free` on a dedicated cache "
            "for slabmalloc and malloc/free of the same size for the others.  "
            "`cross_thread_free`: one thread allocates batches of 64, another frees them.\n\n"
            + micro)))
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
        % (m["loadavg_at_start"], m.get("loadavg_at_end", "not recorded"))] +
        ["- %s: %s" % (k, val) for k, val in v.items()] +
        ["- command: `%s` (%s, %d s)" % (results.get("command", "bench/compare"),
                                          results["date"], results.get("elapsed_s", 0))])
    out.append(("Machine and versions", env))
    return out


def console(results):
    return "\n\n".join("== %s ==\n\n%s" % (h, b) for h, b in sections(results)
                       if h not in ("Charts",))


def markdown(results, charts):
    body = ["## Results", "",
            "Generated by `bench/compare` on %s; do not edit by hand (it is replaced at the "
            "next run)." % results["date"]]
    for h, b in sections(results, charts):
        body += ["", "### " + h, "", b]
    return "\n".join(body) + "\n"


def write_docs(results, docs):
    """Write the charts and the generated part of DOCS/benchmarks.md; return the paths."""
    os.makedirs(docs, exist_ok=True)
    written, charts = [], []
    terminal = gnuplot_terminal()
    if terminal:
        summary = summarize(results)
        for key, what, alt in (("time", "time_s", "median time, ratio to slabmalloc"),
                               ("rss", "hwm_kib", "peak RSS, ratio to slabmalloc")):
            path = os.path.join(docs, CHARTS[key])
            chart(results, summary, what, "Workloads: %s (above 1: slabmalloc is %s)"
                  % (alt, "faster" if key == "time" else "smaller"), path, terminal)
            charts.append((alt, path))
            written.append(path)
    else:
        print("report: gnuplot (Debian: gnuplot-nox) not found: no charts", file=sys.stderr)

    path = os.path.join(docs, "benchmarks.md")
    try:
        with open(path) as f:
            text = f.read()
    except FileNotFoundError:
        text = SKELETON.format(begin=BEGIN, end=END)
    block = BEGIN + "\n" + markdown(results, charts) + END
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
    import json
    ap = argparse.ArgumentParser(description="Re-render saved bench/compare results.")
    ap.add_argument("results", help="the JSON bench/compare saved (build/bench/bench-results.json)")
    ap.add_argument("--docs", default=None, metavar="DIR",
                    help="also write benchmarks.md and the charts into DIR (e.g. docs)")
    args = ap.parse_args()
    with open(args.results) as f:
        results = json.load(f)
    print(console(results))
    if args.docs:
        for p in write_docs(results, args.docs):
            print("wrote " + p)


if __name__ == "__main__":
    main()
