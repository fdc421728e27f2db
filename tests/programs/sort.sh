#!/bin/bash
# sort.sh - GNU sort of 500,000 generated lines (gen_lines.awk), in several
# modes (plain, -u, stable numeric key, reverse key with a 2 MiB buffer and
# temporary files merged by 2 threads), with and without slabmalloc, and with
# SLABMALLOC_PURGE_DELAY_MS=0: the outputs must be byte-identical.  The input
# generator (awk) also runs under slabmalloc and must produce the same file.
# Proof slabmalloc was used: sort closes stderr at exit (gnulib close_stdout)
# so its statistics table is lost; instead a sort started under
# LD_PRELOAD with SLABMALLOC_VERBOSE=1 must print the "slabmalloc: options:"
# line at start-up, and /proc/<pid>/maps of that running sort (blocked on a
# fifo) must contain libslabmalloc.so.  awk also closes stderr: for it, the
# options line only.
set -euo pipefail
here=$(cd -- "$(dirname -- "$0")" && pwd)
source "$here/common.sh"
need sort coreutils
need awk mawk
need timeout coreutils

lines=500000
plain awk -v n=$lines -f "$here/gen_lines.awk" >input.txt
SLABMALLOC_VERBOSE=1 sm awk -v n=$lines -f "$here/gen_lines.awk" >input.sm.txt 2>awk.err
same input.txt input.sm.txt "awk generator"
check_verbose awk.err "awk" # mawk closes stderr at exit too: no table
[ "$(wc -l <input.txt)" -eq $lines ]

mkdir -p tmp.plain tmp.sm tmp.sm_purge
modes=(
	"plain:"
	"unique:-u -k1,1"
	"numeric:-s -t ' ' -k3,3n"
	"external:-r -k2 -S 2M --parallel=2 -T"
)
args=()
for m in "${modes[@]}"; do
	name=${m%%:*}
	eval "args=(${m#*:})"
	for run in plain sm sm_purge; do
		extra=()
		[ "$name" = external ] && extra=("tmp.$run")
		$run sort "${args[@]}" "${extra[@]}" input.txt >"$name.$run.out" 2>"$name.$run.err"
		[ -s "$name.$run.out" ]
	done
	same "$name.plain.out" "$name.sm.out" "sort $name"
	same "$name.plain.out" "$name.sm_purge.out" "sort $name, SLABMALLOC_PURGE_DELAY_MS=0"
	# sort's own stderr (nothing expected) must match too
	for run in plain sm sm_purge; do strip_sm "$name.$run.err" >"$name.$run.err2"; done
	same "$name.plain.err2" "$name.sm.err2" "sort $name stderr"
	same "$name.plain.err2" "$name.sm_purge.err2" "sort $name stderr, SLABMALLOC_PURGE_DELAY_MS=0"
done
[ "$(wc -l <plain.plain.out)" -eq $lines ]

# Proof of use: a sort that has been loaded with the library and waits on a fifo.
mkfifo fifo
LD_PRELOAD="$lib" SLABMALLOC_VERBOSE=1 sort fifo >fifo.out 2>fifo.err &
pid=$!
exec 3<>fifo # read-write: never blocks; sort's open of the fifo returns
found=
for _ in $(seq 1 200); do
	if grep -q 'libslabmalloc[-a-z]*\.so' "/proc/$pid/maps" 2>/dev/null &&
		[ "$(readlink "/proc/$pid/exe")" = "$(readlink -f "$(command -v sort)")" ]; then
		found=1
		break
	fi
	sleep 0.05
done
if [ -z "$found" ]; then
	echo "FAIL: libslabmalloc.so never appeared in /proc/$pid/maps of sort"
	kill "$pid" 2>/dev/null || true
	exit 1
fi
echo "ok: sort (pid $pid): /proc/$pid/maps has $(grep -m1 -o '[^ ]*libslabmalloc\.so[^ ]*' "/proc/$pid/maps")"
timeout 120 cat input.txt >&3 # bounded: we hold the read end too, a dead sort would block cat
exec 3>&-
wait "$pid"
same plain.plain.out fifo.out "sort from a fifo"
check_verbose fifo.err "sort"
echo "sort ok"
