# common.sh - sourced by the tests/programs/*.sh scripts (bash, set -euo pipefail).
# Usage of a test script: <script> <path of libslabmalloc.so> <scratch dir>
#
# Helpers:
#   sm <cmd...>        run cmd with LD_PRELOAD=libslabmalloc.so and SLABMALLOC_STATS=1
#   sm_purge <cmd...>  the same with SLABMALLOC_PURGE_DELAY_MS=0 (purge at once)
#   plain <cmd...>     run cmd without slabmalloc
#   same A B what      require files A and B byte-identical
#   check_stats F what [min_tables]
#                      require F (a stderr capture) to hold >= min_tables (1)
#                      complete statistics tables with slab_alloc > 0
#   check_verbose F what
#                      require the "slabmalloc: options:" start-up line in F
#   need PROG PKG      skip (exit 77) when PROG is missing (Debian package PKG)
set -eEuo pipefail

if [ "$#" -ne 2 ]; then
	echo "usage: $0 <libslabmalloc.so> <scratch dir>" >&2
	exit 2
fi
lib=$(realpath -- "$1")
scratch=$2
[ -f "$lib" ] || { echo "FAIL: library not found: $lib"; exit 1; }

# The "without" runs must really be without: drop anything inherited.
unset LD_PRELOAD
for v in $(env | sed -n 's/^\(SLABMALLOC_[A-Za-z0-9_]*\)=.*/\1/p'); do unset "$v"; done
export LC_ALL=C TZ=UTC

rm -rf -- "$scratch"
mkdir -p -- "$scratch"
cd -- "$scratch"

# fd 9: the test's own stdout, for the failure message of a redirected command.
exec 9>&1
trap 'rc=$?; echo "FAIL: line $LINENO: exit status $rc of: $BASH_COMMAND" >&9; exit $rc' ERR

skip() {
	echo "SKIP: $*"
	exit 77
}

need() {
	command -v "$1" >/dev/null 2>&1 || skip "'$1' not found (Debian package: $2)"
}

sm() {
	LD_PRELOAD="$lib" SLABMALLOC_STATS=1 "$@"
}

sm_purge() {
	LD_PRELOAD="$lib" SLABMALLOC_STATS=1 SLABMALLOC_PURGE_DELAY_MS=0 "$@"
}

plain() {
	"$@"
}

same() {
	if ! cmp -- "$1" "$2"; then
		echo "FAIL: $3: '$1' and '$2' differ"
		diff -- "$1" "$2" | head -n 20 || true
		exit 1
	fi
	echo "ok: $3: identical ($(wc -c <"$1") bytes)"
}

# A table counts when its header, at least one cache row with slab_alloc > 0
# (9th field, of 13) and its totals line are all there.
check_stats() {
	local file=$1 what=$2 min=${3:-1} n
	n=$(awk '
		/^slabmalloc: statistics of pid [0-9]+ / { intable = 1; allocs = 0; next }
		intable && /^slabmalloc: totals: caches_used / {
			if (allocs > 0) good++
			intable = 0; next
		}
		intable && NF == 13 && $1 !~ /^#/ && $9 ~ /^[0-9]+$/ { allocs += $9 }
		END { print good + 0 }' "$file")
	if [ "$n" -lt "$min" ]; then
		echo "FAIL: $what: expected >= $min slabmalloc statistics table(s) with slab_alloc > 0 in $file, found $n"
		head -n 40 -- "$file"
		exit 1
	fi
	echo "ok: $what: $n statistics table(s) with slab allocations;" \
		"$(grep -m1 '^slabmalloc: totals:' "$file")"
}

check_verbose() {
	if ! grep -q '^slabmalloc: options: ' "$1"; then
		echo "FAIL: $2: no 'slabmalloc: options:' start-up line in $1"
		head -n 20 -- "$1"
		exit 1
	fi
	echo "ok: $2: slabmalloc initialised (options line present)"
}

# Strip slabmalloc's own lines (tables, options) from a stderr capture, so the
# program's own stderr can be compared with the run without slabmalloc.
strip_sm() {
	awk '
		/^slabmalloc: statistics of pid / { intable = 1; next }
		intable && /^slabmalloc: peak RSS / { intable = 0; next }
		intable { next }
		/^slabmalloc: / { next }
		{ print }' "$1"
}
