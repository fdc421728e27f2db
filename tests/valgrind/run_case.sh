#!/bin/sh
# run_case.sh VALGRIND HOW LIB PROG CASE - run one case of vg_cases.c (or
# vg_deferred.c: CASE deferred-*) under memcheck and check its report.  HOW
# is "linked" (PROG is linked against libslabmalloc.so or the core) or
# "preload" (LD_PRELOAD=LIB); both run with
# --soname-synonyms=somalloc=nouserintercepts, so that malloc stays
# slabmalloc's (docs/usage.md, "Valgrind").  HOW "own" is "linked" without
# it: memcheck's own malloc, slabmalloc's kmalloc and caches.  CASE "sheaf-off" is "sheaf"
# with SLABMALLOC_VALGRIND=0: no client requests, so the freed object sits
# in a sheaf unseen and memcheck reports nothing.
set -u
valgrind=$1 how=$2 lib=$3 prog=$4 case=$5
log=$(mktemp "${TMPDIR:-/tmp}/vg-case.XXXXXX")
trap 'rm -f "$log"' EXIT

arg=$case
envs=
case $case in
sheaf-off) arg=sheaf envs=SLABMALLOC_VALGRIND=0 ;;
deferred-*) arg=${case#deferred-} ;;
esac
[ "$how" = preload ] && envs="$envs LD_PRELOAD=$lib"
[ "$how" = core ] && how=linked
# "$@": memcheck's options beyond the common ones.
if [ "$how" = own ]; then
	set --
else
	set -- --soname-synonyms=somalloc=nouserintercepts
fi
env $envs "$valgrind" --tool=memcheck "$@" \
	--leak-check=full --errors-for-leak-kinds=definite --num-callers=30 \
	"$prog" "$arg" >"$log" 2>&1
status=$?

fail=0
# want REGEX: the report has a line matching REGEX.
want() {
	if ! grep -Eq -- "$1" "$log"; then
		echo "missing: $1"
		fail=1
	fi
}
# want_access HEAD FUNC: the access stack of the report that starts at the
# first line matching HEAD (its lines before "Address") names FUNC, as the
# frame itself or as the caller an inlined frame sits in.
want_access() {
	if ! awk -v h="$1" -v r="(at|by) 0x[0-9A-F]+: $2 \\(" '
		found && / Address 0x/ { exit }
		found && $0 ~ r { ok = 1; exit }
		!found && $0 ~ h { found = 1 }
		END { exit !ok }' "$log"; then
		echo "missing in the access stack after \"$1\": $2"
		fail=1
	fi
}
# want_after HEAD REGEX: the report block that starts at the first line
# matching HEAD (up to the next empty "==pid==" line) has a line matching REGEX.
want_after() {
	if ! awk -v h="$1" -v r="$2" '
		found && /^==[0-9]+== *$/ { exit }
		found && $0 ~ r { ok = 1; exit }
		!found && $0 ~ h { found = 1 }
		END { exit !ok }' "$log"; then
		echo "missing after \"$1\": $2"
		fail=1
	fi
}

case $case in
clean)
	want '^==[0-9]+== ERROR SUMMARY: 0 errors'
	want 'total heap usage: [1-9][0-9,]* allocs'   # slabmalloc's blocks are seen
	want 'definitely lost: 0 bytes in 0 blocks|All heap blocks were freed'
	[ $status -eq 0 ] || { echo "exit status $status"; fail=1; } ;;
leak)
	want_after '1,120 bytes in 10 blocks are definitely lost' 'by 0x[0-9A-F]+: leak_ten_kmallocs \('
	want 'definitely lost: 1,120 bytes in 10 blocks' ;;
uaf_kfree)
	want_access 'Invalid read of size 1' read_after_kfree
	want_after 'Invalid read of size 1' 'is 10 bytes inside a block of size 64 free.d'
	want '^==[0-9]+== ERROR SUMMARY: 1 errors' ;;
uaf_cache)
	want_after 'Invalid write of size 1' 'at 0x[0-9A-F]+: write_after_cache_free \('
	want_after 'Invalid write of size 1' 'is 3 bytes inside a block of size 40 free.d'
	want '^==[0-9]+== ERROR SUMMARY: 1 errors' ;;
uninit)
	want_after 'Conditional jump or move depends on uninitialised value' 'at 0x[0-9A-F]+: read_uninit_malloc \('
	want '^==[0-9]+== ERROR SUMMARY: 1 errors' ;;
badfree)
	# slabmalloc's own report, then its default outcome (abort), whose
	# stack memcheck prints.
	want '^slabmalloc: free of 0x[0-9a-f]+: not allocated by slabmalloc \(foreign pointer\)'
	want_after 'Process terminating with default action of signal 6' 'by 0x[0-9A-F]+: free_stack_pointer \(' ;;
sheaf)
	want_after 'Invalid read of size 1' 'at 0x[0-9A-F]+: touch_object_in_sheaf \('
	want_after 'Invalid read of size 1' 'is 5 bytes inside a block of size 32 free.d'
	want '^==[0-9]+== ERROR SUMMARY: 1 errors' ;;
sheaf-off)
	want '^==[0-9]+== ERROR SUMMARY: 0 errors'
	want 'total heap usage: 0 allocs' ;;
deferred-*)
	# Both reads of the object the handler freed, and nothing else.
	want_after 'Invalid read of size 1' 'at 0x[0-9A-F]+: read_deferred_object \('
	want_after 'Invalid read of size 1' 'a block of size 224 free.d'
	want '^==[0-9]+== ERROR SUMMARY: 2 errors from 2 contexts'
	want '^vg_deferred: done'
	[ $status -eq 0 ] || { echo "exit status $status"; fail=1; } ;;
*)
	echo "unknown case $case"; fail=1 ;;
esac
if [ $fail -ne 0 ]; then
	echo "---- memcheck report ($how, $case) ----"
	cat "$log"
fi
exit $fail
