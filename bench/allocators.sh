# shellcheck shell=bash
# allocators.sh - sourced (bash) by bench/compare and bench/callgrind: the
# allocators under comparison and where their libraries are.
#
#   bench_allocators BUILD_DIR
#       prints one "NAME=LIBRARY" line per allocator found, in the order
#       slabmalloc, glibc, mimalloc, jemalloc ("glibc=" with no library: no
#       LD_PRELOAD), and one message on stderr for each one missing.
#
# slabmalloc is BUILD_DIR/libslabmalloc.so; mimalloc and jemalloc are found
# with ldconfig (Debian's libmimalloc-dev and libjemalloc-dev), or taken from
# BENCH_MIMALLOC / BENCH_JEMALLOC when set.  (Not SLABMALLOC_*: slabmalloc
# reports unknown variables of its own prefix.)

# The path of shared library SONAME known to the dynamic linker, or nothing.
bench_find_library() {
	local ldconfig=ldconfig
	command -v ldconfig >/dev/null || ldconfig=/sbin/ldconfig
	"$ldconfig" -p 2>/dev/null | awk -v so="$1" '$1 == so && /x86-64|64bit|AArch64/ { print $NF; exit }'
}

bench_allocators() {
	local build=$1 lib name
	if [ -f "$build/libslabmalloc.so" ]; then
		echo "slabmalloc=$build/libslabmalloc.so"
	else
		echo "bench: slabmalloc skipped: $build/libslabmalloc.so not built" >&2
	fi
	echo "glibc="
	for name in mimalloc jemalloc; do
		case $name in
		mimalloc) lib=${BENCH_MIMALLOC:-$(bench_find_library libmimalloc.so.2)} ;;
		jemalloc) lib=${BENCH_JEMALLOC:-$(bench_find_library libjemalloc.so.2)} ;;
		esac
		if [ -n "$lib" ] && [ -f "$lib" ]; then
			echo "$name=$lib"
		else
			echo "bench: $name skipped: library not found (Debian: lib$name-dev)" >&2
		fi
	done
}
