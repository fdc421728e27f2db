#!/bin/bash
# gcc.sh - gcc -O2 compiling a generated C file of 2,000 functions
# (gen_c.awk) without slabmalloc, with it, and with it and
# SLABMALLOC_PURGE_DELAY_MS=0: the object files must be identical (cmp; if
# they differ, their `objdump -d` must be, as the brief allows), and gcc's
# own stderr the same.  The objects are then linked (under slabmalloc too:
# collect2 and ld) into executables that must be identical and print the
# same checksum, run with and without slabmalloc.
# Proof slabmalloc was used: every process prints its SLABMALLOC_STATS=1
# table at exit, and LD_PRELOAD is inherited by gcc's children, so a compile
# must leave >= 3 tables with slab allocations > 0 (the gcc driver, cc1 and
# as) and a link >= 3 (gcc, collect2, ld).
set -euo pipefail
here=$(cd -- "$(dirname -- "$0")" && pwd)
source "$here/common.sh"
need gcc gcc
need as binutils
need objdump binutils
need awk mawk

awk -v n=2000 -f "$here/gen_c.awk" >big.c
[ "$(grep -c '^__attribute__((noinline)) uint64_t f[0-9]*(' big.c)" -eq 2000 ]

for run in plain sm sm_purge; do
	# the same source path and output name in each run: they end up in the object
	mkdir -p "$run"
	cp big.c "$run/big.c"
	(cd "$run" && $run gcc -O2 -c big.c -o big.o 2>../compile.$run.err)
done
for run in sm sm_purge; do
	if cmp plain/big.o "$run/big.o"; then
		echo "ok: gcc -O2 object, $run: identical to the one without slabmalloc ($(wc -c <plain/big.o) bytes)"
	else
		echo "note: objects differ byte-wise; comparing objdump -d"
		objdump -d plain/big.o | tail -n +3 >plain/big.dis
		objdump -d "$run/big.o" | tail -n +3 >"$run/big.dis"
		same plain/big.dis "$run/big.dis" "objdump -d of the gcc -O2 object, $run"
	fi
	strip_sm compile.plain.err >compile.plain.err2
	strip_sm compile.$run.err >compile.$run.err2
	same compile.plain.err2 compile.$run.err2 "gcc stderr (slabmalloc lines removed), $run"
done
check_stats compile.sm.err "gcc -c (driver, cc1, as)" 3
check_stats compile.sm_purge.err "gcc -c (driver, cc1, as), SLABMALLOC_PURGE_DELAY_MS=0" 3

for run in plain sm sm_purge; do
	(cd "$run" && $run gcc big.o -o big 2>../link.$run.err)
done
same plain/big sm/big "linked executable"
same plain/big sm_purge/big "linked executable, SLABMALLOC_PURGE_DELAY_MS=0"
check_stats link.sm.err "gcc link (driver, collect2, ld)" 3

plain/big >run.plain.out
sm plain/big >run.sm.out 2>/dev/null
sm_purge sm/big >run.sm_purge.out 2>/dev/null
grep -q '^checksum [0-9a-f]\{16\}$' run.plain.out
same run.plain.out run.sm.out "program output"
same run.plain.out run.sm_purge.out "program output, SLABMALLOC_PURGE_DELAY_MS=0"
echo "gcc ok"
