# shellcheck shell=bash
# allocators.sh - sourced (bash) by bench/compare and bench/callgrind: the
# allocators under comparison and where their libraries are.
#
#   bench_allocators BUILD_DIR
#       prints one "NAME=LIBRARY" line per allocator found, in the order
#       slabmalloc, glibc, mimalloc, jemalloc, tcmalloc ("glibc=" with no
#       library: no LD_PRELOAD), and one message on stderr for each one
#       missing.
#
# slabmalloc is BUILD_DIR/libslabmalloc.so; mimalloc, jemalloc and tcmalloc
# are found with ldconfig (Debian's libmimalloc-dev, libjemalloc-dev and
# libgoogle-perftools-dev), or taken from BENCH_MIMALLOC / BENCH_JEMALLOC /
# BENCH_TCMALLOC when set.  (Not SLABMALLOC_*: slabmalloc reports unknown
# variables of its own prefix.)  tcmalloc is gperftools' tcmalloc_minimal:
# the allocator without the heap profiler and checker, the one programs
# link to be fast (libtcmalloc.so.4 is the fallback when only it is there).

# The path of shared library SONAME known to the dynamic linker, or nothing.
# awk reads to the end instead of exiting at the first match: an early exit
# can kill ldconfig with SIGPIPE, which under bench/compare's pipefail and
# errexit ends bench_allocators silently after the first such lookup.
bench_find_library() {
	local ldconfig=ldconfig
	command -v ldconfig >/dev/null || ldconfig=/sbin/ldconfig
	"$ldconfig" -p 2>/dev/null |
		awk -v so="$1" '!found && $1 == so && /x86-64|64bit|AArch64/ { print $NF; found = 1 }'
}

bench_allocators() {
	local build=$1 lib name pkg
	if [ -f "$build/libslabmalloc.so" ]; then
		echo "slabmalloc=$build/libslabmalloc.so"
	else
		echo "bench: slabmalloc skipped: $build/libslabmalloc.so not built" >&2
	fi
	echo "glibc="
	for name in mimalloc jemalloc tcmalloc; do
		case $name in
		mimalloc) lib=${BENCH_MIMALLOC:-$(bench_find_library libmimalloc.so.2)} ;;
		jemalloc) lib=${BENCH_JEMALLOC:-$(bench_find_library libjemalloc.so.2)} ;;
		tcmalloc) lib=${BENCH_TCMALLOC:-$(bench_find_library libtcmalloc_minimal.so.4)}
			[ -n "$lib" ] || lib=$(bench_find_library libtcmalloc.so.4) ;;
		esac
		if [ -n "$lib" ] && [ -f "$lib" ]; then
			echo "$name=$lib"
		else
			case $name in
			tcmalloc) pkg=libgoogle-perftools-dev ;;
			*) pkg=lib$name-dev ;;
			esac
			echo "bench: $name skipped: library not found (Debian: $pkg)" >&2
		fi
	done
}
