#!/bin/bash
# perl.sh - Perl running workload.pl (big hashes grown, shrunk and rebuilt,
# nested hashes of arrays, regex substitutions, string building, sorting, 4
# ithreads and 2 forked children) with and without slabmalloc, and with
# SLABMALLOC_PURGE_DELAY_MS=0: stdout must be byte-identical.
# Proof slabmalloc was used: workload.pl finds libslabmalloc.so in its
# /proc/self/maps (and not in the run without), and the SLABMALLOC_STATS=1
# tables at exit, one per process: >= 3 (the parent and both forked
# children, which allocated after fork()), each with slab allocations > 0.
set -euo pipefail
here=$(cd -- "$(dirname -- "$0")" && pwd)
source "$here/common.sh"
need perl perl
perl -Mthreads -MDigest::MD5 -e 1 2>/dev/null ||
	skip "perl lacks threads or Digest::MD5 (Debian package: perl)"
export PERL_HASH_SEED=0 PERL_PERTURB_KEYS=0
scale=2

plain perl "$here/workload.pl" $scale >plain.out 2>plain.err
grep -qx 'libslabmalloc mapped: no' plain.err
[ "$(grep -c '^\(main\|thread\|child\) ' plain.out)" -eq 7 ]

sm perl "$here/workload.pl" $scale >sm.out 2>sm.err
same plain.out sm.out "perl workload"
grep -qx 'libslabmalloc mapped: yes' sm.err || { echo "FAIL: libslabmalloc.so not in the maps of perl"; cat sm.err; exit 1; }
check_stats sm.err "perl (parent and 2 forked children)" 3

sm_purge perl "$here/workload.pl" $scale >purge.out 2>purge.err
same plain.out purge.out "perl workload, SLABMALLOC_PURGE_DELAY_MS=0"
check_stats purge.err "perl, SLABMALLOC_PURGE_DELAY_MS=0" 3
echo "perl ok"
