#!/bin/sh
# expect_compile_error.sh MESSAGE CC [ARGS...] - run the compiler CC ARGS...
# and pass only if it fails and its diagnostics contain MESSAGE: the check
# that <slabmalloc/kernel.h> refuses what it cannot honour at compile time.
set -u
msg=$1
shift
out=$("$@" 2>&1)
rc=$?
if [ "$rc" -eq 0 ]; then
	echo "expect_compile_error: compiled, but must not: $*" >&2
	exit 1
fi
case $out in
*"$msg"*)
	echo "expect_compile_error: refused as expected ($msg)"
	exit 0 ;;
esac
echo "expect_compile_error: failed without the message \"$msg\":" >&2
printf '%s\n' "$out" >&2
exit 1
