#!/usr/bin/env python3
"""check_layers.py - the include graph of src/ and preload/ obeys the layers
of docs/architecture.md section 1.

Fails (exit 1, one line per violation) when
  - a file of src/ or preload/ is not in the table below (every new file
    gets a layer when it is added);
  - a file includes a project header of a higher layer;
  - the project headers include each other in a cycle (within a layer too);
  - an #include comes after the first line of code of its file.
Usage: check_layers.py [SOURCE_DIR]
"""
import os
import re
import sys

# Bottom first.  The table mirrors docs/architecture.md section 1: change both.
LAYERS = [
    ("base", "compiler.h list.h lock.h lock.c alloc_context.h size_classes.h size_classes.c "
             "hooks.h hooks.c thread.h thread.c slabmalloc.h"),
    ("os", "os.h os.c printk.h printk.c options.h options.c env.h env.c "
            "vg.h vg.c os_stack.h os_stack.c"),
    ("page", "page.h"),
    ("node", "node.h node.c"),
    ("page_alloc", "page_alloc.h page_alloc.c"),
    ("large", "large.h large.c runcache.h runcache.c zero.h zero.c"),
    ("slab", "kmem_cache.h kmem_cache.c slab.h slab.c debug.h debug.c harden.h harden.c"),
    ("sheaf", "sheaf.h sheaf.c barn.h barn.c"),
    ("deferred", "deferred.h deferred.c"),
    ("quarantine", "quarantine.h quarantine.c"),
    ("instance", "instance.h"),
    ("tcache", "tcache.h tcache.c"),
    ("purge", "purge.h purge.c"),
    ("helper", "helper.h helper.c"),
    ("registry", "registry.h registry.c fork.h fork.c"),
    ("paths", "slowpath.h fastpath.h hardened.h"),
    ("entry", "alloc.c free.c double_free.c sized.c realloc.c nolock.c cache_lifecycle.c report.h stats.c report.c default.c "
              "bulk.c kernel_api.c node_api.c hardened.c"),
    ("shim", "malloc.c new_delete.c"),
]
LAYER_OF = {f: i for i, (_, files) in enumerate(LAYERS) for f in files.split()}
NAME = [name for name, _ in LAYERS]
SCANNED = ("src", "preload")
INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')


def code_lines(text):
    """Yield (lineno, line) of lines that are not blank, comments or preprocessor."""
    in_comment = False
    for no, line in enumerate(text.splitlines(), 1):
        s = line.strip()
        while s:
            if in_comment:
                end = s.find("*/")
                if end < 0:
                    s = ""
                    break
                s = s[end + 2:].strip()
                in_comment = False
            elif s.startswith("/*"):
                in_comment = True
                s = s[2:]
            elif s.startswith("//"):
                s = ""
            else:
                break
        if s and not s.startswith("#"):
            yield no, line


def main():
    top = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else
                          os.path.join(os.path.dirname(__file__), "..", ".."))
    errors = []
    graph = {}
    for d in SCANNED:
        for name in sorted(os.listdir(os.path.join(top, d))):
            if not name.endswith((".c", ".h")):
                continue
            path = os.path.join(d, name)
            if name not in LAYER_OF:
                errors.append(f"{path}: not in the layer table of tests/lint/check_layers.py "
                              "(and docs/architecture.md section 1)")
                continue
            with open(os.path.join(top, path)) as f:
                text = f.read()
            first_code = next((no for no, _ in code_lines(text)), None)
            deps = []
            for no, line in enumerate(text.splitlines(), 1):
                m = INCLUDE.match(line)
                if not m:
                    continue
                if first_code is not None and no > first_code:
                    errors.append(f"{path}:{no}: #include after the first line of code (line {first_code})")
                if m.group(1) == "<" or m.group(2) not in LAYER_OF:
                    continue  # system and libc headers
                inc = m.group(2)
                deps.append(inc)
                if LAYER_OF[inc] > LAYER_OF[name]:
                    errors.append(f"{path}:{no}: includes {inc} of layer '{NAME[LAYER_OF[inc]]}' "
                                  f"above its own layer '{NAME[LAYER_OF[name]]}'")
            if name.endswith(".h"):
                graph[name] = [x for x in deps if x.endswith(".h")]

    # Cycles among headers (depth-first search, colouring).
    state = {}

    def visit(h, stack):
        state[h] = 1
        stack.append(h)
        for n in graph.get(h, []):
            if state.get(n) == 1:
                cyc = stack[stack.index(n):] + [n]
                errors.append("header cycle: " + " -> ".join(cyc))
            elif n in graph and not state.get(n):
                visit(n, stack)
        stack.pop()
        state[h] = 2

    for h in sorted(graph):
        if not state.get(h):
            visit(h, [])

    for e in errors:
        print(e)
    if errors:
        print(f"check_layers: {len(errors)} violation(s); the layers are in docs/architecture.md section 1")
        return 1
    print(f"check_layers: {len(graph)} headers, layering and include order clean")
    return 0


if __name__ == "__main__":
    sys.exit(main())
