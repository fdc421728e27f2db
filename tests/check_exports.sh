#!/bin/sh
# check_exports.sh LIBSLABMALLOC_SO - fail if the shared library exports a
# symbol outside its API: the sm_* functions, the malloc family of the preload
# shim and the C++ operators new/delete.  Kernel names (kmalloc, kfree, ...)
# must stay static inline in <slabmalloc/kernel.h>, never library symbols.
# Also fail if one of the 20 forms of operator new/delete is missing, or if
# the library needs a C++ runtime (a NEEDED libstdc++ or libc++).
# NM and READELF may name the tools to use (ctest passes CMake's).
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

# Every form of C++'s operator new and delete must be there (issue 13).
for s in _Znwm _Znam _ZnwmRKSt9nothrow_t _ZnamRKSt9nothrow_t \
	_ZnwmSt11align_val_t _ZnamSt11align_val_t \
	_ZnwmSt11align_val_tRKSt9nothrow_t _ZnamSt11align_val_tRKSt9nothrow_t \
	_ZdlPv _ZdaPv _ZdlPvRKSt9nothrow_t _ZdaPvRKSt9nothrow_t _ZdlPvm _ZdaPvm \
	_ZdlPvSt11align_val_t _ZdaPvSt11align_val_t \
	_ZdlPvSt11align_val_tRKSt9nothrow_t _ZdaPvSt11align_val_tRKSt9nothrow_t \
	_ZdlPvmSt11align_val_t _ZdaPvmSt11align_val_t; do
	printf '%s\n' "$syms" | awk '{ print $NF }' | sed 's/@.*//' | grep -qx -- "$s" ||
		bad="$bad missing:$s"
done

# ... written so that a C program gains no C++ runtime: no NEEDED libstdc++.
readelf_tool=${READELF:-readelf}
if "$readelf_tool" -d "$lib" | grep -E 'NEEDED.*(libstdc\+\+|libc\+\+)'; then
	bad="$bad needed:libstdc++"
fi

if [ -n "$bad" ]; then
	echo "check_exports: $lib exports symbols outside the API:" >&2
	printf '  %s\n' $bad >&2
	exit 1
fi
echo "check_exports: $(printf '%s\n' "$syms" | grep -c .) exported symbols, all allowed"
