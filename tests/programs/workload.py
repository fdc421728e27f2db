#!/usr/bin/env python3
"""workload.py - an allocation-heavy, deterministic Python workload for the
slabmalloc integration tests (tests/programs/python.sh).

It builds and tears down dicts, strings, lists and JSON documents, sorts
lists, and runs 4 threads doing the same kind of work concurrently, then
prints a digest of everything it computed.  The standard output depends only
on the arguments, never on the allocator, addresses, timing or thread
scheduling: it must be byte-identical with and without slabmalloc.

On stderr it says whether libslabmalloc.so is mapped into this process
(from /proc/self/maps): the test uses that as proof of the preload.
"""
import hashlib
import json
import sys
import threading


class Rng:
    """A small xorshift64* generator: the same sequence everywhere."""

    def __init__(self, seed):
        self.s = (seed * 0x9E3779B97F4A7C15 + 1) & 0xFFFFFFFFFFFFFFFF or 1

    def next(self):
        x = self.s
        x ^= (x >> 12)
        x ^= (x << 25) & 0xFFFFFFFFFFFFFFFF
        x ^= (x >> 27)
        self.s = x
        return (x * 0x2545F4914F6CDD1D) & 0xFFFFFFFFFFFFFFFF

    def below(self, n):
        return self.next() % n

    def word(self, lo=1, hi=12):
        n = lo + self.below(hi - lo + 1)
        return "".join(chr(97 + self.below(26)) for _ in range(n))


def dict_work(rng, rounds, h):
    """Grow and shrink dicts of strings, lists and nested dicts."""
    d = {}
    for r in range(rounds):
        for _ in range(200):
            k = rng.word(3, 10)
            v = rng.below(4)
            if v == 0:
                d[k] = rng.word(1, 60) * (1 + rng.below(8))
            elif v == 1:
                d[k] = [rng.below(1000) for _ in range(rng.below(40))]
            elif v == 2:
                d[k] = {rng.word(): rng.below(10 ** 9) for _ in range(rng.below(12))}
            else:
                d[k] = (k, r, rng.word(0, 200))
        # delete about a third, reinsert some under new keys
        keys = sorted(d)
        for k in keys[:: 3]:
            del d[k]
        for k in keys[1:: 7]:
            if k in d:
                d[k.upper() + str(r)] = d.pop(k)
    h.update(repr(sorted(d.items(), key=lambda kv: kv[0])).encode())
    return len(d)


def string_work(rng, rounds, h):
    """Concatenation, join/split, formatting, replace, big string buffers."""
    total = 0
    for r in range(rounds):
        parts = [rng.word(1, 30) for _ in range(500)]
        s = " ".join(parts)
        s2 = s.upper().replace("A", "<a>").replace(" ", "\n")
        lines = s2.split("\n")
        lines.sort(key=lambda x: (len(x), x))
        fmt = ["%05d:%s:%x" % (i, x, len(x)) for i, x in enumerate(lines)]
        blob = "".join(fmt) * (1 + r % 5)
        acc = ""
        for p in parts[:200]:
            acc += p  # repeated realloc of a growing string
        total += len(blob) + len(acc)
        h.update(blob.encode()[:: 17])
        h.update(acc.encode())
    return total


def json_work(rng, rounds, h):
    """Build nested documents, dump, load back, and check the round trip."""
    n = 0
    for r in range(rounds):
        doc = {
            "id": r,
            "name": rng.word(5, 20),
            "tags": [rng.word() for _ in range(rng.below(30))],
            "items": [
                {"k": rng.word(), "v": rng.below(10 ** 12), "f": rng.below(10 ** 6) / 1000.0,
                 "sub": [rng.word(0, 8) for _ in range(rng.below(10))]}
                for _ in range(50 + rng.below(100))
            ],
            "map": {rng.word(): [rng.below(100)] * rng.below(20) for _ in range(40)},
        }
        text = json.dumps(doc, sort_keys=True, separators=(",", ":"))
        back = json.loads(text)
        if back != doc:
            raise SystemExit("json round trip mismatch in round %d" % r)
        pretty = json.dumps(back, sort_keys=True, indent=2)
        h.update(text.encode())
        n += len(pretty)
    return n


def sort_work(rng, rounds, h):
    """Sort lists of ints, strings and tuples, with and without keys."""
    for _ in range(rounds):
        ints = [rng.next() >> 20 for _ in range(20000)]
        strs = [rng.word(1, 16) for _ in range(10000)]
        tups = [(rng.below(100), rng.word(1, 6), i) for i in range(10000)]
        ints.sort()
        strs = sorted(strs, key=lambda s: (s[::-1], len(s)))
        tups.sort(reverse=True)
        merged = sorted(ints[:5000] + [len(s) for s in strs], reverse=True)
        h.update(repr((ints[::500], strs[::250], tups[::250], merged[::500])).encode())
    return rounds


def worker(seed, rounds, out, idx):
    rng = Rng(seed)
    h = hashlib.sha256()
    res = (
        dict_work(rng, rounds, h),
        string_work(rng, rounds, h),
        json_work(rng, rounds, h),
        sort_work(rng, max(1, rounds // 4), h),
    )
    # Short-lived objects passed between threads' lifetimes: a list of
    # buffers freed by whichever thread drops the last reference.
    out[idx] = (res, h.hexdigest(), [bytearray(rng.word(1, 50) * 100, "ascii") for _ in range(100)])


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    nthreads = 4
    h = hashlib.sha256()

    # Single-threaded part.
    rng = Rng(12345)
    single = (dict_work(rng, rounds, h), string_work(rng, rounds, h),
              json_work(rng, rounds, h), sort_work(rng, max(1, rounds // 4), h))
    print("single", single, h.hexdigest())

    # 4 threads, each with its own seed; results gathered by index.
    for phase in range(2):
        out = [None] * nthreads
        ts = [threading.Thread(target=worker, args=(1000 * phase + i + 1, rounds, out, i))
              for i in range(nthreads)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        for i, (res, digest, bufs) in enumerate(out):
            print("phase", phase, "thread", i, res, digest, sum(len(b) for b in bufs))
            h.update(digest.encode())
        del out  # buffers made by the threads, freed by the main thread

    print("digest", h.hexdigest())
    mapped = any("libslabmalloc" in line for line in open("/proc/self/maps"))
    print("libslabmalloc mapped:", "yes" if mapped else "no", file=sys.stderr)


if __name__ == "__main__":
    main()
