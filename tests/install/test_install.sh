#!/bin/bash
# cmake --install into a scratch prefix, then use what it installed the ways
# docs/usage.md describes: two consumers built against the installed files
# (find_package(slabmalloc) and pkg-config), run with LD_LIBRARY_PATH and
# with an rpath; and the wrapper bin/slabmalloc-run (its --help and
# --version, a program run through it on slabmalloc, the prefix moved, the
# library missing), and the wrapper the build tree holds.
# Usage: test_install.sh <build dir> <source dir> <scratch dir>
set -euo pipefail
build=$1 src=$2 scratch=$3
rm -rf "$scratch"
mkdir -p "$scratch"
prefix="$scratch/prefix"
fail() { echo "FAIL: $*" >&2; exit 1; }

cmake --install "$build" --prefix "$prefix" >/dev/null
libdir=$(find "$prefix" -name libslabmalloc.so -printf '%h\n' | head -n1)
[ -n "$libdir" ] || fail "no libslabmalloc.so under $prefix"
for f in "$prefix/include/slabmalloc.h" "$libdir/libslabmalloc.a" "$libdir/pkgconfig/slabmalloc.pc" \
	 "$libdir/cmake/slabmalloc/slabmallocConfig.cmake"; do
	[ -f "$f" ] || fail "missing after install: $f"
done
[ -x "$prefix/bin/slabmalloc-run" ] || fail "missing after install: $prefix/bin/slabmalloc-run"

# ---- consumers ----
cmake -S "$src/tests/install/consumer" -B "$scratch/consumer" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$scratch/consumer" >/dev/null
LD_LIBRARY_PATH="$libdir" "$scratch/consumer/consumer_cmake" | grep -qx "consumer ok" ||
	fail "consumer_cmake"
# CMake's build-tree rpath names the prefix's lib directory
env -u LD_LIBRARY_PATH "$scratch/consumer/consumer_cmake" | grep -qx "consumer ok" ||
	fail "consumer_cmake without LD_LIBRARY_PATH"
if command -v pkg-config >/dev/null; then
	export PKG_CONFIG_PATH="$libdir/pkgconfig"
	cc -o "$scratch/consumer_pc" "$src/tests/install/consumer/main.c" $(pkg-config --cflags --libs slabmalloc)
	LD_LIBRARY_PATH="$libdir" "$scratch/consumer_pc" | grep -qx "consumer ok" || fail "consumer_pc"
	# docs/usage.md: an rpath instead of LD_LIBRARY_PATH
	cc -o "$scratch/consumer_rpath" "$src/tests/install/consumer/main.c" \
		$(pkg-config --cflags --libs slabmalloc) -Wl,-rpath,"$(pkg-config --variable=libdir slabmalloc)"
	env -u LD_LIBRARY_PATH "$scratch/consumer_rpath" | grep -qx "consumer ok" || fail "consumer_rpath"
	cc -static -o "$scratch/consumer_static" "$src/tests/install/consumer/main.c" \
		$(pkg-config --cflags --libs --static slabmalloc) 2>/dev/null &&
		{ env -u LD_LIBRARY_PATH "$scratch/consumer_static" | grep -qx "consumer ok" || fail "consumer_static"; } ||
		echo "no static libc: the static consumer is not built"
else
	echo "pkg-config not found: checked the .pc file exists only"
fi

# ---- the wrapper ----
run="$prefix/bin/slabmalloc-run"
version=$(sed -n 's/^project(slabmalloc VERSION \([0-9.]*\).*/\1/p' "$src/CMakeLists.txt")
[ -n "$version" ] || fail "no version in CMakeLists.txt's project()"
[ "$("$run" --version)" = "slabmalloc-run (slabmalloc) $version" ] ||
	fail "--version says '$("$run" --version)', CMakeLists.txt $version"

"$run" --help >"$scratch/help" || fail "--help exits $?"
grep -q '^usage: slabmalloc-run \[--\] command' "$scratch/help" || fail "--help has no usage line"
grep -q "^Library: $libdir/libslabmalloc.so\$" "$scratch/help" || fail "--help names another library"
# Every option the library parses is in --help with a meaning from docs/usage.md ...
opts=$(sed -n 's/^[[:space:]]*OPT("\([A-Z0-9_]*\)".*/SLABMALLOC_\1/p' "$src/src/env.c")
[ "$(echo "$opts" | wc -w)" -ge 10 ] || fail "found only '$opts' in src/env.c's option table"
for o in $opts; do
	grep -Eq "^  $o +[^ ].*: [a-z]" "$scratch/help" || fail "--help does not describe $o"
	! grep -q "^  $o .*not described" "$scratch/help" || fail "$o is not in docs/usage.md"
done
# ... and every SLABMALLOC_ name it shows is one the library knows (an unknown
# name gets "unknown option" from the library).
shown=$(grep -o '^  SLABMALLOC_[A-Z0-9_]*' "$scratch/help" | tr -d ' ')
[ "$shown" = "$(echo "$opts")" ] || fail "--help lists '$shown', src/env.c '$opts'"
for o in $shown; do
	if env "$o=not-a-value" "$run" true 2>&1 | grep -qi "unknown"; then
		fail "the library does not know $o, which --help lists"
	fi
done
env SLABMALLOC_NO_SUCH_OPTION=1 "$run" true 2>&1 | grep -qi "unknown" ||
	fail "an unknown option went unreported: the check above proves nothing"

# A program run through it is on slabmalloc: the installed library is mapped,
# and SLABMALLOC_STATS=1 prints slabmalloc's table with the program's objects.
"$run" sh -c 'cat /proc/$$/maps' | grep -q " $libdir/libslabmalloc.so" ||
	fail "the installed libslabmalloc.so is not mapped into a program run through the wrapper"
SLABMALLOC_STATS=1 "$run" perl -e '@a = map { "x" x $_ } 1..1000' 2>"$scratch/stats"
grep -Eq '^slabmalloc: totals: caches_used [1-9]' "$scratch/stats" ||
	fail "no slabmalloc statistics with objects from perl run through the wrapper: $(cat "$scratch/stats")"
# Arguments pass through untouched, '--' first included.
[ "$("$run" -- printf '%s|' a 'b c' --help)" = "a|b c|--help|" ] || fail "arguments changed on the way"
# An unknown option of the wrapper is refused, not run as a command.
set +e
"$run" --bogus 2>"$scratch/err"; rc=$?
set -e
[ "$rc" -eq 2 ] && grep -q "unknown option '--bogus'" "$scratch/err" || fail "--bogus: exit $rc: $(cat "$scratch/err")"

# The prefix can move: the wrapper finds the library relative to itself.
mv "$prefix" "$scratch/moved"
moved_lib=${libdir/#$prefix/$scratch/moved}
"$scratch/moved/bin/slabmalloc-run" sh -c 'cat /proc/$$/maps' | grep -q " $moved_lib/libslabmalloc.so" ||
	fail "the moved wrapper did not preload the moved library"

# Without its library it refuses to run the command (which would silently
# run on glibc's malloc), with a message naming the path it looked at.
rm "$moved_lib/libslabmalloc.so"
set +e
"$scratch/moved/bin/slabmalloc-run" touch "$scratch/ran" 2>"$scratch/err"; rc=$?
set -e
[ "$rc" -eq 127 ] || fail "a missing library: exit $rc, not 127"
[ ! -e "$scratch/ran" ] || fail "a missing library: the command ran anyway"
grep -q "cannot find the slabmalloc library at $moved_lib/libslabmalloc.so" "$scratch/err" ||
	fail "a missing library: unclear message: $(cat "$scratch/err")"

# The build tree's copy uses the library next to it.
[ "$("$build/slabmalloc-run" --version)" = "slabmalloc-run (slabmalloc) $version" ] ||
	fail "the build tree's wrapper: --version"
"$build/slabmalloc-run" sh -c 'cat /proc/$$/maps' | grep -q " $(cd "$build" && pwd)/libslabmalloc.so" ||
	fail "the build tree's wrapper did not preload the build tree's library"
echo "install ok"
