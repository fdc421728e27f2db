#!/bin/sh
# check_exports.sh LIBSLABMALLOC_SO - fail if the shared library exports a
# symbol outside its API: the sm_* functions, the malloc family of the preload
# shim and the C++ operators new/delete.  Kernel names (kmalloc, kfree, ...)
# must stay static inline in <slabmalloc/kernel.h>, never library symbols.
# NM may name the nm to use (ctest passes CMake's).
set -u
lib=${1:?usage: check_exports.sh path/to/libslabmalloc.so}
nm_tool=${NM:-nm}

syms=$("$nm_tool" -D --defined-only "$lib") || {
	echo "check_exports: $nm_tool -D --defined-only $lib failed" >&2
	exit 2
}

# Type A entries are version-node names of a version script, not symbols.
bad=$(printf '%s\n' "$syms" | awk 'NF && $(NF-1) != "A" { print $NF }' | sed 's/@.*//' |
while read -r s; do
	case $s in
	sm_*) ;;
	malloc|free|calloc|realloc|reallocarray|posix_memalign|aligned_alloc) ;;
	memalign|valloc|pvalloc|malloc_usable_size|malloc_trim|mallinfo2|mallinfo) ;;
	free_sized|free_aligned_sized|malloc_stats|mallopt|cfree) ;;
	malloc_info|__libc_malloc|__libc_free|__libc_calloc|__libc_realloc) ;;
	__libc_memalign|__libc_valloc|__libc_pvalloc|__libc_mallinfo|__libc_mallopt) ;;
	_Znw*|_Zna*|_Zdl*|_Zda*) ;;
	*) echo "$s" ;;
	esac
done)

if [ -n "$bad" ]; then
	echo "check_exports: $lib exports symbols outside the API:" >&2
	printf '  %s\n' $bad >&2
	exit 1
fi
echo "check_exports: $(printf '%s\n' "$syms" | grep -c .) exported symbols, all allowed"
