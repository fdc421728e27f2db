"""programs.py - whole programs in bench/compare's comparison.

Each program runs a fixed, deterministic job of a few seconds under each
allocator: python3 (dict, list and str work), sqlite3 (the CLI on a
generated SQL script: inserts, an index, joins), perl (hashes and regular
expressions), git (fast-import of a generated history, then log -p and
blame) and redis (redis-server under the allocator, redis-benchmark
against it).  Inputs are generated once into a scratch directory before
any run, so only the job is timed.  The first four run through run_rss
(bench/run_rss.c), which preloads the allocator into the program (and
everything it starts) and prints the workloads' result line: wall time and
peak RSS of the largest process.  redis is timed from redis-benchmark's
requests per second; its peak RSS is the server's VmHWM.  Debian's
redis-server is linked with jemalloc, so its glibc cell preloads
libbench_glibc_malloc.so (bench/glibc_malloc.c), glibc's malloc, instead of
nothing.  python3 is Debian's /usr/bin/python3 when there is one (not
whichever python3 comes first on PATH, a pyenv's say).

Python standard library only; compare.py drives it.
"""
import csv
import io
import os
import random
import shutil
import signal
import socket
import subprocess
import time

# name -> what the docs and the tables say it is
PROGRAMS = {
    "python3": "CPython 3 (PYTHONMALLOC=malloc): dict, list and str work",
    "sqlite3": "sqlite3 CLI, in-memory database: inserts, an index, joins, group by",
    "perl": "perl: a hash of strings, split, grep and s///g over it",
    "git": "git: fast-import of a generated history, log -p, blame",
    "redis": "redis-server under the allocator, redis-benchmark -t set,get,lpush,lpop",
}
ORDER = list(PROGRAMS)

# Debian's python3 rather than the first on PATH (a pyenv's or a venv's).
PYTHON = "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else "python3"

# What each needs on PATH (Debian package in parentheses in the message).
NEEDS = {"python3": [(PYTHON, "python3")], "sqlite3": [("sqlite3", "sqlite3")],
         "perl": [("perl", "perl")], "git": [("git", "git"), ("sh", "dash")],
         "redis": [("redis-server", "redis-server"), ("redis-benchmark", "redis-tools")]}

PYTHON_JOB = r'''
import sys
n = int(sys.argv[1])
counts, index, lines, total = {}, {}, [], 0
for i in range(n):
    # words of varied length, counted, indexed by prefix, joined and split again
    w = "w%d_%s" % ((i * 7919) % 20000, "ab" * (i % 11))
    counts[w] = counts.get(w, 0) + 1
    index.setdefault(w[:3], []).append(i)
    lines.append(w.upper())
    if len(lines) >= 500:
        s = " ".join(lines)
        total += len(s.replace("AB", "x").split("_"))
        lines = [t.lower() for t in s.split(" ")[250:]]
    if i % 50000 == 49999:
        # a rebuild: dicts and lists of tuples made and dropped
        top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:1000]
        total += sum(len(k) for k, _ in top)
        index = {k: v[-100:] for k, v in index.items()}
print(total, len(counts), sum(len(v) for v in index.values()))
'''

PERL_JOB = r'''
my $n = shift;
my (%h, $t);
for my $i (1 .. $n) {
    my $k = "key" . (($i * 7919) % 30000) . ":" . ("ab" x ($i % 7));
    $h{$k} .= "v$i,";
    if (length($h{$k}) > 120) {
        my @f = split /,/, $h{$k};
        $t += grep { /^v\d*[37]$/ } @f;
        delete $h{$k};
    }
}
my $s = join " ", map { "$_=$h{$_}" } sort keys %h;
(my $u = $s) =~ s/(\d+)/<$1>/g;
$t += length $u;
my %w;
$w{$1}++ while $u =~ /(ab(?:ab)*)/g;
print $t + scalar(keys %w), "\n";
'''


def _sql_script(rows, rng):
    """An SQL script: two tables filled in one transaction, an index, joins."""
    cities = ["city%02d" % i for i in range(40)]
    out = ["PRAGMA journal_mode=OFF;", "PRAGMA synchronous=OFF;",
           "CREATE TABLE customers(id INTEGER PRIMARY KEY, name TEXT, city TEXT);",
           "CREATE TABLE orders(id INTEGER PRIMARY KEY, customer INTEGER, item TEXT, "
           "amount REAL, note TEXT);", "BEGIN;"]
    customers = max(rows // 20, 10)
    for c in range(customers):
        out.append("INSERT INTO customers VALUES(%d,'name%d','%s');"
                   % (c, c, cities[rng.randrange(len(cities))]))
    for o in range(rows):
        out.append("INSERT INTO orders VALUES(%d,%d,'item%d',%.2f,'%s');"
                   % (o, rng.randrange(customers), rng.randrange(500),
                      rng.randrange(1, 100000) / 100, "n" * rng.randrange(0, 60)))
    out += ["COMMIT;", "CREATE INDEX orders_customer ON orders(customer);",
            "CREATE INDEX orders_item ON orders(item);",
            "SELECT c.city, count(*), sum(o.amount) FROM orders o JOIN customers c "
            "ON o.customer = c.id GROUP BY c.city ORDER BY 3 DESC;",
            "SELECT c.name, group_concat(o.item, ',') FROM customers c JOIN orders o "
            "ON o.customer = c.id WHERE c.id % 7 = 0 GROUP BY c.id;",
            "SELECT o.item, count(DISTINCT o.customer), max(length(o.note)) FROM orders o "
            "GROUP BY o.item ORDER BY 2 DESC LIMIT 20;",
            "SELECT count(*) FROM orders a JOIN orders b ON a.item = b.item "
            "AND a.customer = b.customer AND a.id < b.id;",
            "UPDATE orders SET note = note || 'x' WHERE amount > 500;",
            "DELETE FROM orders WHERE id % 3 = 0;",
            "SELECT count(*), sum(amount) FROM orders;"]
    return "\n".join(out) + "\n"


def _fast_import_stream(commits, rng):
    """A git fast-import stream: COMMITS commits on 12 text files of ~150 lines."""
    files = {"src/file%02d.txt" % f: ["line %d of file %d" % (i, f) for i in range(150)]
             for f in range(12)}
    names = sorted(files)
    out = []
    for c in range(commits):
        out.append("commit refs/heads/main\nmark :%d\n"
                   "committer Bench <bench@example.org> %d +0000\n" % (c + 1, 1700000000 + 60 * c))
        msg = "change %d" % c
        out.append("data %d\n%s\n" % (len(msg), msg))
        if c:
            out.append("from :%d\n" % c)
        for path in rng.sample(names, rng.randint(1, 3)):
            lines = files[path]
            for _ in range(rng.randint(1, 6)):
                k = rng.randrange(len(lines))
                what = rng.randrange(3)
                if what == 0:
                    lines[k] = "edited in %d: %s" % (c, lines[k][:40])
                elif what == 1 or len(lines) < 100:
                    lines.insert(k, "added in %d" % c)
                else:
                    del lines[k]
            body = "\n".join(lines) + "\n"
            out.append("M 100644 inline %s\ndata %d\n%s\n" % (path, len(body.encode()), body))
    return "".join(out)


GIT_JOB = r'''set -e
rm -rf repo
git init -q -b main repo
cd repo
git fast-import --quiet < ../history.fi
git log -p --stat main > /dev/null
for f in src/file00.txt src/file05.txt src/file11.txt; do
    git blame -w main -- "$f" > /dev/null
done
git log --format=%H main | wc -l
'''


def prepare(scratch, scale):
    """Write every program's input into @scratch; returns {name: (argv, extra env)}."""
    rng = random.Random(11)
    jobs = {}
    with open(os.path.join(scratch, "job.py"), "w") as f:
        f.write(PYTHON_JOB)
    jobs["python3"] = ([PYTHON, os.path.join(scratch, "job.py"),
                        str(max(int(200000 * scale), 1000))],
                       {"PYTHONMALLOC": "malloc", "PYTHONDONTWRITEBYTECODE": "1"})
    with open(os.path.join(scratch, "job.sql"), "w") as f:
        f.write(_sql_script(max(int(50000 * scale), 1000), rng))
    jobs["sqlite3"] = (["sqlite3", "-batch", ":memory:",
                        ".read " + os.path.join(scratch, "job.sql")], {})
    with open(os.path.join(scratch, "job.pl"), "w") as f:
        f.write(PERL_JOB)
    jobs["perl"] = (["perl", os.path.join(scratch, "job.pl"),
                     str(max(int(250000 * scale), 1000))], {})
    with open(os.path.join(scratch, "history.fi"), "w") as f:
        f.write(_fast_import_stream(max(int(1200 * scale), 20), rng))
    with open(os.path.join(scratch, "git.sh"), "w") as f:
        f.write(GIT_JOB)
    home = os.path.join(scratch, "home")
    os.makedirs(home, exist_ok=True)
    # no user or system configuration: the same git on every machine
    jobs["git"] = (["sh", "-c", 'cd "$1" && sh ./git.sh', "git.sh", scratch],
                   {"HOME": home, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null",
                    "GIT_PAGER": "cat"})
    jobs["redis"] = (None, {"requests": str(max(int(25000 * scale), 1000))})
    return jobs


def missing(name):
    """A message when program @name cannot run here, else None."""
    for cmd, pkg in NEEDS[name]:
        if not shutil.which(cmd):
            return "%s not found (Debian: %s)" % (cmd, pkg)
    return None


def _free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _status_kib(pid, key):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return float(line.split()[1])
    except OSError:
        pass
    return 0.0


def redis_jemalloc():
    """True when redis-server is linked with jemalloc (ldd)."""
    path = shutil.which("redis-server")
    try:
        return bool(path) and "jemalloc" in subprocess.run(["ldd", path], capture_output=True,
                                                           text=True).stdout
    except OSError:
        return False


def run_redis(requests, preload, env, scratch, timeout, glibc_shim=None):
    """redis-server on a free port of 127.0.0.1 with LD_PRELOAD=@preload (the
    server only), redis-benchmark -q -n @requests -t set,get,lpush,lpop against
    it; the server is stopped afterwards, also on an error.  With no @preload
    and a redis-server linked with jemalloc, @glibc_shim (glibc's malloc, see
    bench/glibc_malloc.c) is preloaded instead when given, so that the glibc
    cell measures glibc.  Returns the result dict: time_s is the sum of
    requests / (requests per second) over the four tests, hwm_kib the
    server's peak RSS, rps_<test> each test's rate."""
    if not preload and glibc_shim and os.path.exists(glibc_shim) and redis_jemalloc():
        preload = glibc_shim
    port = _free_port()
    server_env = dict(env)
    if preload:
        server_env["LD_PRELOAD"] = preload
    workdir = os.path.join(scratch, "redis-%d" % port)
    os.makedirs(workdir, exist_ok=True)
    server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--daemonize", "no", "--dir", workdir,
         "--logfile", os.path.join(workdir, "log")],
        env=server_env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 10
        while True:                     # wait until it accepts connections
            if server.poll() is not None:
                raise RuntimeError("redis-server exited with %d: %s"
                                   % (server.returncode, server.stderr.read().strip()[-500:]))
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.time() > deadline:
                    raise RuntimeError("redis-server did not listen on port %d in 10 s" % port)
                time.sleep(0.05)
        try:
            p = subprocess.run(["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-q",
                                "--csv", "-n", str(requests), "-t", "set,get,lpush,lpop"],
                               env=env, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise RuntimeError("redis-benchmark timed out after %d s" % timeout)
        if p.returncode != 0:
            raise RuntimeError("redis-benchmark exit status %d: %s"
                               % (p.returncode, p.stderr.strip()[-500:]))
        hwm = _status_kib(server.pid, "VmHWM")
        res = {"workload": "redis", "time_s": 0.0, "hwm_kib": hwm, "maxrss_kib": hwm,
               "requests": float(requests)}
        for row in csv.reader(io.StringIO(p.stdout)):
            if len(row) < 2 or row[0] == "test":
                continue
            rps = float(row[1])
            res["rps_" + row[0].lower()] = rps
            res["time_s"] += requests / rps
        if len([k for k in res if k.startswith("rps_")]) != 4:
            raise RuntimeError("redis-benchmark printed no rates: " + p.stdout.strip()[-500:])
        return res
    finally:
        # always stop the server: SIGTERM, then SIGKILL if it lingers
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        shutil.rmtree(workdir, ignore_errors=True)


def redis_linkage():
    """How Debian's redis-server gets its malloc: a note for the docs, or None."""
    path = shutil.which("redis-server")
    if not path:
        return None
    try:
        ldd = subprocess.run(["ldd", path], capture_output=True, text=True).stdout
    except OSError:
        return None
    je = [l.split()[0] for l in ldd.splitlines() if "jemalloc" in l]
    if je:
        return ("linked with %s (ldd): its glibc cell preloads libbench_glibc_malloc.so "
                "(glibc's malloc; without it redis would run on jemalloc); with LD_PRELOAD "
                "its malloc, calloc, realloc, free and malloc_usable_size go to the preloaded "
                "allocator, while the jemalloc-only calls it makes (mallctl, nallocx, "
                "malloc_stats_print) still go to jemalloc" % je[0])
    return "not linked with jemalloc (ldd): LD_PRELOAD replaces all of its malloc"


def versions():
    """{program: version string} for the record of a run."""
    cmds = {"python3": [PYTHON, "--version"], "sqlite3": ["sqlite3", "--version"],
            "perl": ["perl", "-e", "print substr($^V, 1)"], "git": ["git", "--version"],
            "redis": ["redis-server", "--version"]}
    out = {}
    for name, cmd in cmds.items():
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
            words = (p.stdout or p.stderr).split()
        except (OSError, subprocess.TimeoutExpired):
            continue
        if not words:
            continue
        if name == "sqlite3":
            out[name] = words[0]
        elif name == "redis":
            out[name] = " ".join(w for w in words if w.startswith(("v=", "malloc=")))
        else:
            out[name] = words[-1]
    note = redis_linkage()
    if note and "redis" in out:
        out["redis"] += "; " + note
    return out
