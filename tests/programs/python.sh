#!/bin/bash
# python.sh - CPython running workload.py (dicts, strings, json, sorting,
# 4 threads) with and without slabmalloc: stdout must be byte-identical.
# Proof slabmalloc was used: the SLABMALLOC_STATS=1 table at exit with slab
# allocations > 0, and workload.py itself finds libslabmalloc.so in its
# /proc/self/maps (and not in the run without).
set -euo pipefail
here=$(cd -- "$(dirname -- "$0")" && pwd)
source "$here/common.sh"

# /usr/bin/python3 if there; else python3 on PATH, resolved to the real
# interpreter (a pyenv shim is a bash script that spawns subprocesses).
if [ -x /usr/bin/python3 ]; then
	py=/usr/bin/python3
else
	need python3 python3
	py=$(python3 -c 'import sys; print(sys.executable)')
	[ -x "$py" ] || skip "cannot resolve the python3 interpreter (got '$py')"
fi
echo "python: $py ($("$py" --version 2>&1))"
export PYTHONHASHSEED=0 PYTHONDONTWRITEBYTECODE=1
rounds=20

plain "$py" "$here/workload.py" $rounds >plain.out 2>plain.err
grep -qx 'libslabmalloc mapped: no' plain.err

sm "$py" "$here/workload.py" $rounds >sm.out 2>sm.err
same plain.out sm.out "python workload"
grep -qx 'libslabmalloc mapped: yes' sm.err || { echo "FAIL: libslabmalloc.so not in the maps of python"; cat sm.err; exit 1; }
check_stats sm.err "python"

sm_purge "$py" "$here/workload.py" $rounds >purge.out 2>purge.err
same plain.out purge.out "python workload, SLABMALLOC_PURGE_DELAY_MS=0"
check_stats purge.err "python, SLABMALLOC_PURGE_DELAY_MS=0"
grep -q '^digest ' plain.out
echo "python ok"
