#!/usr/bin/env python3
"""check_docs.py - the docs name only things that exist.

Reads README.md, docs/*.md and bench/README.md and fails, naming the file
and line, when one of them names
- a file or directory of the tree that is not there (a path starting with a
  top-level entry such as src/ or tests/, a path relative to the doc's own
  directory, a markdown link, or a bare file name such as `slab.c`, which
  must exist somewhere in the tree), or a build directory (build/NAME) that
  no preset, the wrapper or bench/compare makes;
- a ctest test (`unit.exports`, `reliability.fork_stdio`, ...) or label
  (`ctest -L NAME`) that the build does not register, or a unit test
  program `test_NAME` with no tests/unit/test_NAME.c (and no identifier of
  that name in tests/);
- a SLABMALLOC_* variable that is neither an option of the library (the
  table in src/env.c) nor a CMake option() of the project;
- an sm_* name that no header or source of src/, include/ or preload/
  declares.
It also fails when an option of src/env.c's table has no row in the options
table of docs/usage.md (slabmalloc-run --help takes its meaning from there),
or a tests/unit/test_*.c has none in docs/testing.md's table of unit tests.

Names that are meant to be hypothetical (a design proposal's) go in
ALLOWED below, each with its reason.  Placeholders (<name>, NAME, *) in a
path are wildcards; absolute paths, URLs and other projects' files (a path
whose first directory is not ours, like mm/slub.c) are not checked.

Usage: check_docs.py SOURCE_DIR [BUILD_DIR]
With BUILD_DIR (a configured build: ctest runs it so), test names and
labels are checked against `ctest --show-only=json-v1` there; without it,
only the rest.
"""
import fnmatch
import glob
import json
import os
import re
import subprocess
import sys

# name -> why a doc may name it although it does not exist
ALLOWED = {
}

TEXT_EXT = r"(?:c|h|cc|md|py|sh|txt|cmake|json|in|png|awk|pl|map)"


def git_files(top):
    try:
        out = subprocess.run(["git", "-C", top, "ls-files", "-co", "--exclude-standard"],
                             capture_output=True, text=True, check=True).stdout
        files = [f for f in out.splitlines() if f and os.path.exists(os.path.join(top, f))]
        if files:
            return files
    except (OSError, subprocess.CalledProcessError):
        pass
    files = []
    for root, dirs, names in os.walk(top):
        dirs[:] = [d for d in dirs if d not in (".git", "build")]
        files += [os.path.relpath(os.path.join(root, n), top) for n in names]
    return files


class Tree:
    def __init__(self, top, build):
        self.top = top
        self.files = set(git_files(top))
        self.dirs = set()
        for f in self.files:
            d = os.path.dirname(f)
            while d:
                self.dirs.add(d)
                d = os.path.dirname(d)
        self.basenames = {os.path.basename(f) for f in self.files}
        self.toplevel = {p.split("/")[0] for p in self.files}
        self.options = self._env_options()
        self.cmake_options = self._cmake_options()
        self.sm_names = (self._identifiers(("src", "include", "preload"), r"\bsm_\w+|\bSM_\w+") |
                         self._cmake_names(r"\b(?:sm|SM)_\w+"))
        self.test_idents = self._identifiers(("tests",), r"\btest_\w+")
        self.build_dirs = self._build_dirs()
        self.tests, self.labels = self._tests(build) if build else (None, None)

    def read(self, rel):
        with open(os.path.join(self.top, rel), errors="replace") as f:
            return f.read()

    def _env_options(self):
        return {"SLABMALLOC_" + m for m in re.findall(r'\bOPT\("([A-Z0-9_]+)"', self.read("src/env.c"))}

    def _cmake_names(self, pattern):
        """Names the build defines: targets, variables, options, test environments."""
        names = set()
        for f in self.files:
            if f.endswith("CMakeLists.txt") or f.endswith(".cmake") or f == "CMakePresets.json":
                names |= set(re.findall(pattern, self.read(f)))
        return names

    def _cmake_options(self):
        return self._cmake_names(r"\b(SLABMALLOC_[A-Z0-9_]+)") - {"SLABMALLOC_"}

    def _identifiers(self, roots, pattern):
        names = set()
        for f in self.files:
            if f.split("/")[0] in roots and re.search(r"\.(c|h|cc|map|in)$", f):
                names |= set(re.findall(pattern, self.read(f)))
        return names

    def _build_dirs(self):
        dirs = {"build"}
        presets = json.loads(self.read("CMakePresets.json"))
        for p in presets.get("configurePresets", []):
            m = re.match(r"\$\{sourceDir\}/(.*)", p.get("binaryDir", ""))
            if m:
                dirs.add(m.group(1))
        # the wrapper's and bench/compare's own build directories
        for f, pat in (("preload/slabmalloc-run", r'build="\$top/(build/\w+)"'),
                       ("bench/compare", r"build=\$\{BENCH_BUILD_DIR:-\$top/(build/\w+)\}")):
            m = re.search(pat, self.read(f))
            if m:
                dirs.add(m.group(1))
        return dirs

    def _tests(self, build):
        out = subprocess.run(["ctest", "--show-only=json-v1"], cwd=build, capture_output=True,
                             text=True, check=True).stdout
        tests, labels = set(), set()
        for t in json.loads(out)["tests"]:
            tests.add(t["name"])
            for p in t.get("properties", []):
                if p["name"] == "LABELS":
                    labels |= set(p["value"])
        # registered only in some builds: memcheck (valgrind installed), the
        # tsan, asan and fuzz presets' tests and labels
        units = {os.path.basename(f)[5:-2] for f in self.files
                 if re.match(r"tests/unit/test_\w+\.c$", f)}
        tests |= {"unit." + u for u in units} | {"memcheck." + u for u in units}
        labels |= {"memcheck", "tsan", "tsan-known-race", "asan", "fuzz"}
        for f in self.files:
            if f.endswith("CMakeLists.txt"):
                tests |= set(re.findall(r"add_test\(NAME ([\w.]+)[\s)]", self.read(f)))
        return tests, labels

    def exists(self, rel):
        rel = os.path.normpath(rel).rstrip("/")
        if rel in self.files or rel in self.dirs:
            return True
        if any(c in rel for c in "*?["):
            return any(fnmatch.fnmatch(f, rel) for f in self.files | self.dirs)
        return False


def placeholders(path):
    """A path with <name>, NAME or {a,b} turned into a glob, or None."""
    p = re.sub(r"<[^>]*>", "*", path)
    p = re.sub(r"\b[A-Z][A-Z_]{2,}\b(?=\.\w+$|/|$)", "*", p)
    return p if p != path else None


def strip(text):
    # URLs are other projects'
    return re.sub(r"https?://\S+", " ", text)


def check_doc(tree, doc, errors):
    text = tree.read(doc)
    docdir = os.path.dirname(doc)
    in_results = False

    def err(line, msg):
        if msg.split(":")[0] not in ALLOWED:
            errors.append("%s:%d: %s" % (doc, line, msg))

    for n, raw in enumerate(text.splitlines(), 1):
        line = strip(raw)
        # paths: markdown links first, then path-like tokens
        links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", line)
        for link in links:
            target = os.path.normpath(os.path.join(docdir, link))
            if not tree.exists(target):
                err(n, "%s: link to a missing file (%s)" % (link, target))
        line_nolinks = re.sub(r"\]\([^)]*\)", "]", line)
        for tok in re.findall(r"(?<![\w./$@-])((?:\.\.?/)*[\w.-]+(?:/[\w.*<>{}-]+)+/?)", line_nolinks):
            first = tok.split("/")[0]
            if first == "build":
                bdir = "/".join(tok.split("/")[:2]).rstrip("/")
                if bdir not in tree.build_dirs and bdir != "build":
                    err(n, "%s: no preset, wrapper or bench/compare builds into %s" % (tok, bdir))
                continue
            cands = []
            if first in tree.toplevel or first in (".", ".."):
                cands.append(os.path.normpath(tok if first not in (".", "..")
                                              else os.path.join(docdir, tok)))
            if docdir and os.path.normpath(os.path.join(docdir, first)) in tree.dirs:
                cands.append(os.path.normpath(os.path.join(docdir, tok)))
            if not cands:
                continue        # not a path of ours (mm/slub.c, 0/1, malloc/free)
            ok = False
            for c in cands:
                g = placeholders(c)
                # a program built from c.c (bench/cg_loop) counts as there
                if tree.exists(c) or tree.exists(c + ".c") or (g and tree.exists(g)):
                    ok = True
            if not ok:
                err(n, "%s: no such file or directory" % tok)
        # bare file names in backticks: somewhere in the tree
        for tok in re.findall(r"`([\w.-]+\.%s)`" % TEXT_EXT, line):
            if tok not in tree.basenames and not placeholders(tok):
                err(n, "%s: no file of that name in the tree" % tok)
        # SLABMALLOC_* variables
        for tok in re.findall(r"\bSLABMALLOC_[A-Z0-9_]*[A-Z0-9]\b", line):
            if tok not in tree.options and tok not in tree.cmake_options:
                err(n, "%s: not an option of src/env.c nor a CMake option" % tok)
        # sm_* names (SM_* macros too)
        for tok in re.findall(r"(?<![\w/.])(sm_[a-z0-9_]*[a-z0-9]|SM_[A-Z0-9_]*[A-Z0-9])\b", line):
            if tok not in tree.sm_names:
                err(n, "%s: declared nowhere in src/, include/ or preload/" % tok)
        # unit test programs
        for tok in re.findall(r"`(test_[a-z0-9_]+)(?:\.c)?`", line):   # test_NAME: a placeholder
            if not tree.exists("tests/unit/%s.c" % tok) and tok not in tree.test_idents:
                err(n, "%s: no tests/unit/%s.c and no such identifier in tests/" % (tok, tok))
        if tree.tests is None:
            continue
        # ctest tests, in backticks: family.name[.variant]
        families = {t.split(".")[0] for t in tree.tests}
        for tok in re.findall(r"`((?:%s)\.[\w.<>]+)`" % "|".join(sorted(families)), line):
            if "<" in tok:
                if not any(fnmatch.fnmatch(t, re.sub(r"<[^>]*>", "*", tok)) for t in tree.tests):
                    err(n, "%s: no test matches" % tok)
            elif tok not in tree.tests and not re.search(r"\.(c|h|md|py|sh)$", tok):
                err(n, "%s: no such ctest test" % tok)
        for tok in re.findall(r"(?:ctest\b[^`\n]*?\s-L(?:E)?\s+|label `)([\w-]+)", line):
            if tok not in tree.labels:
                err(n, "%s: no test has this label" % tok)


def check_complete(tree, errors):
    """The other direction, where a doc promises a complete list."""
    usage = tree.read("docs/usage.md")
    for o in sorted(tree.options):
        if not re.search(r"^\| *`%s` *\|" % o, usage, re.M):
            errors.append("docs/usage.md: option %s of src/env.c has no row in the options table" % o)
    testing = tree.read("docs/testing.md")
    for f in sorted(tree.files):
        m = re.match(r"tests/unit/(test_\w+)\.c$", f)
        if m and not re.search(r"^\| *`%s` *\|" % m.group(1), testing, re.M):
            errors.append("docs/testing.md: unit test %s has no row in the unit tests' table" % f)


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    top = os.path.abspath(sys.argv[1])
    build = os.path.abspath(sys.argv[2]) if len(sys.argv) == 3 else None
    tree = Tree(top, build)
    docs = ["README.md", "bench/README.md"] + sorted(
        os.path.relpath(p, top) for p in glob.glob(os.path.join(top, "docs", "*.md")))
    errors = []
    for d in docs:
        check_doc(tree, d, errors)
    check_complete(tree, errors)
    for e in errors:
        print(e)
    if errors:
        print("check_docs: %d name%s in the docs that the tree does not have (fix the doc, or "
              "add a hypothetical name to ALLOWED in tests/lint/check_docs.py with its reason)"
              % (len(errors), "" if len(errors) == 1 else "s"))
        sys.exit(1)
    print("check_docs: %d docs, every file, test, option and sm_* name they give exists" % len(docs))


if __name__ == "__main__":
    main()
