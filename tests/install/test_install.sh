#!/bin/bash
# cmake --install into a scratch prefix, then build two consumers against the
# installed files: one with find_package(slabmalloc), one with pkg-config.
# Usage: test_install.sh <build dir> <source dir> <scratch dir>
set -euo pipefail
build=$1 src=$2 scratch=$3
rm -rf "$scratch"
mkdir -p "$scratch"
prefix="$scratch/prefix"
cmake --install "$build" --prefix "$prefix" >/dev/null
libdir=$(find "$prefix" -name libslabmalloc.so -printf '%h\n' | head -n1)
for f in "$prefix/include/slabmalloc.h" "$libdir/libslabmalloc.a" "$libdir/pkgconfig/slabmalloc.pc" \
	 "$libdir/cmake/slabmalloc/slabmallocConfig.cmake"; do
	[ -f "$f" ] || { echo "missing after install: $f"; exit 1; }
done
cmake -S "$src/tests/install/consumer" -B "$scratch/consumer" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$scratch/consumer" >/dev/null
LD_LIBRARY_PATH="$libdir" "$scratch/consumer/consumer_cmake" | grep -qx "consumer ok"
if command -v pkg-config >/dev/null; then
	export PKG_CONFIG_PATH="$libdir/pkgconfig"
	cc -o "$scratch/consumer_pc" "$src/tests/install/consumer/main.c" $(pkg-config --cflags --libs slabmalloc)
	LD_LIBRARY_PATH="$libdir" "$scratch/consumer_pc" | grep -qx "consumer ok"
else
	echo "pkg-config not found: checked the .pc file exists only"
fi
echo "install ok"
