#!/bin/sh
# check.sh EXPECTED BINDIR PROGRAM MODE BUILD - one ctest of the heap-misuse
# battery: run PROGRAM under slabmalloc's MODE (default, hardened,
# hardened_so, debug) and require the outcome, and for a report the first
# line on stderr, that EXPECTED (tests/misuse/expected.txt) records for it.
# The classification is battery.py's (its docstring has the table), in sh
# because a ctest that starts Python costs ten times the program it runs.
# No time limit here: the test's ctest TIMEOUT turns a hang into a failure.
exp=$1 bin=$2 prog=$3 mode=$4 build=$5

key=$mode
lib=$build/libslabmalloc.so
extra=
case $mode in
default) ;;
hardened) extra=SLABMALLOC_HARDEN=1 ;;
hardened_so) key=hardened lib=$build/libslabmalloc-hardened.so ;;
debug) extra=SLABMALLOC_DEBUG=FZPU ;;
*) echo "check.sh: unknown mode $mode" >&2; exit 2 ;;
esac
[ -f "$lib" ] || { echo "check.sh: $lib not built"; exit 77; }

line=$(awk -F '\t' -v p="$prog" -v m="$key" '$1 == p && $2 == m' "$exp")
if [ -z "$line" ]; then
	echo "check.sh: no expected outcome for $prog in mode $key (battery.py --record)"
	exit 1
fi
want=$(printf '%s\n' "$line" | cut -f 3)
rx=$(printf '%s\n' "$line" | cut -s -f 4-)

tmp=$(mktemp -d "${TMPDIR:-/tmp}/misuse-check.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
# shellcheck disable=SC3045 # dash and bash both have ulimit -c
ulimit -c 0
# A clean environment: nothing the caller set may change an allocator.  In
# a subshell, so the shell's own "Aborted" goes to its stderr, not the file.
(env -i PATH="$PATH" LC_ALL=C LD_PRELOAD="$lib" $extra "$bin/$prog" \
	>"$tmp/out" 2>"$tmp/err" </dev/null)
rc=$?
# The report: the first line on stderr that is not a warning about an
# option this build does not know (SLABMALLOC_DEBUG before slab_debug).
report=$(grep -v -e '^slabmalloc: ignoring ' -e '^[[:space:]]*$' "$tmp/err" | head -n 1)
case $rc in
134) if [ -n "$report" ]; then got=report; else got=abort; fi ;;
135 | 139) got=fault ;;
0) if [ -n "$report" ]; then got=warned; else got=undetected; fi ;;
10) got=cleared ;;
11) got=refused ;;
12) got=absent ;;
13) got=wrong ;;
*) if [ "$rc" -gt 128 ]; then got=crash; else got=error; fi ;;
esac

fail() {
	echo "misuse.$mode.$prog: $1"
	echo "  exit status $rc, outcome $got"
	echo "  stdout:"; sed 's/^/    /' "$tmp/out"
	echo "  stderr:"; sed 's/^/    /' "$tmp/err"
	exit 1
}
# want may list alternatives, a|b (battery.py --record: hardened mode's
# random slot order decides which check finds some misuses first).
case "|$want|" in
*"|$got|"*) ;;
*) fail "expected $want, got $got" ;;
esac
if [ -n "$rx" ] && ! printf '%s\n' "$report" | grep -Eqx -e "$rx"; then
	fail "the report line does not match: $rx"
fi
echo "$prog under $mode: $got${report:+: $report}"
