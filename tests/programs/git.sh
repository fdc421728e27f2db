#!/bin/bash
# git.sh - build the same git repository three times (a few hundred
# generated files, several commits, a branch, a merge, a tag, gc and a full
# repack): everything under slabmalloc, everything without it, and
# everything under slabmalloc with SLABMALLOC_PURGE_DELAY_MS=0.  Dates and
# identities are fixed, so the three must end with the same commit ids and
# the same `git log -p --stat` text.  Then on the slabmalloc-built repository
# `git fsck --full` must succeed with and without slabmalloc, and
# `git log --oneline | wc -l`, `git rev-list --all | wc -l` and
# `git cat-file -p HEAD^{tree}` must be the same with and without.
# Proof slabmalloc was used: every git process prints its SLABMALLOC_STATS=1
# table at exit; the build's stderr must hold at least one table per git
# command run (>= 20), each with slab allocations > 0, and fsck's as well.
# Last, `git archive | gzip -n` of the tag must give the same bytes.
set -euo pipefail
here=$(cd -- "$(dirname -- "$0")" && pwd)
source "$here/common.sh"
need git git
need awk mawk

export HOME="$scratch/home" GIT_CONFIG_NOSYSTEM=1 GIT_TERMINAL_PROMPT=0 GIT_PAGER=cat PAGER=cat
mkdir -p "$HOME"
export GIT_AUTHOR_NAME="Slab Tester" GIT_AUTHOR_EMAIL="slab@example.invalid"
export GIT_COMMITTER_NAME="Slab Tester" GIT_COMMITTER_EMAIL="slab@example.invalid"

gen() { # gen FROM TO VERSION: (re)write files FROM..TO-1
	awk -v from="$1" -v to="$2" -v version="$3" -f "$here/gen_files.awk"
}

commit() { # commit N MESSAGE: commit everything with a fixed date
	git add -A
	GIT_AUTHOR_DATE="@$((1700000000 + $1 * 3600)) +0000" \
		GIT_COMMITTER_DATE="@$((1700000000 + $1 * 3600)) +0000" \
		git commit -q -m "$2"
}

# build_repo DIR: the whole history; the caller sets (or not) LD_PRELOAD.
build_repo() {
	git init -q -b main "$1"
	cd "$1"
	git config user.name "Slab Tester"
	git config user.email "slab@example.invalid"
	git config gc.auto 0
	git config pack.threads 2
	mkdir -p dir0 dir1 dir2 dir3 dir4 dir5 dir6 dir7
	gen 0 300 1
	commit 1 "initial: 300 files"
	gen 0 100 2
	gen 300 360 1
	commit 2 "update 0-99, add 300-359"
	gen 100 150 2
	git rm -q dir3/file3.txt dir5/file13.txt
	commit 3 "update 100-149, remove two"
	git checkout -q -b feature
	gen 150 250 3
	commit 4 "feature: update 150-249"
	gen 360 420 1
	git mv dir0/file8.txt dir1/renamed8.txt
	commit 5 "feature: add 360-419, rename one"
	git checkout -q main
	gen 250 300 4
	gen 0 40 4
	commit 6 "main: update 250-299 and 0-39"
	GIT_AUTHOR_DATE="@1700030000 +0000" GIT_COMMITTER_DATE="@1700030000 +0000" \
		git merge -q --no-ff -m "merge feature" feature
	GIT_COMMITTER_DATE="@1700040000 +0000" git tag -a v1 -m "tag v1"
	gen 40 80 5
	commit 7 "after merge: update 40-79"
	git gc -q
	git repack -a -d -f -q --window=50 --depth=20
	git log -p --stat --all --decorate=full --topo-order >../"$(basename "$1")".log
	git rev-parse HEAD main feature v1 'HEAD^{tree}' >../"$(basename "$1")".ids
	git status --porcelain >../"$(basename "$1")".status
	cd ..
}

( export LD_PRELOAD="$lib" SLABMALLOC_STATS=1; build_repo repo.sm ) >build.sm.out 2>build.sm.err
( build_repo repo.plain ) >build.plain.out 2>build.plain.err
( export LD_PRELOAD="$lib" SLABMALLOC_STATS=1 SLABMALLOC_PURGE_DELAY_MS=0; build_repo repo.sm_purge ) \
	>build.sm_purge.out 2>build.sm_purge.err

# ids, history and diffs must not depend on the allocator
same repo.plain.ids repo.sm.ids "git commit ids"
same repo.plain.ids repo.sm_purge.ids "git commit ids, SLABMALLOC_PURGE_DELAY_MS=0"
same repo.plain.log repo.sm.log "git log -p --stat"
same repo.plain.log repo.sm_purge.log "git log -p --stat, SLABMALLOC_PURGE_DELAY_MS=0"
[ ! -s repo.sm.status ] && [ ! -s repo.plain.status ]
[ "$(grep -c '^commit ' repo.plain.log)" -eq 8 ]
strip_sm build.plain.err >build.plain.err2
strip_sm build.sm.err >build.sm.err2
same build.plain.err2 build.sm.err2 "git build stderr (slabmalloc lines removed)"
check_stats build.sm.err "git build" 20
check_stats build.sm_purge.err "git build, SLABMALLOC_PURGE_DELAY_MS=0" 20

# The slabmalloc-built repository checked with and without slabmalloc.
cd repo.sm
sm git fsck --full --strict >../fsck.sm.out 2>../fsck.sm.err
plain git fsck --full --strict >../fsck.plain.out 2>../fsck.plain.err
sm_purge git fsck --full --strict >../fsck.sm_purge.out 2>../fsck.sm_purge.err
check_stats ../fsck.sm.err "git fsck" 1
check_stats ../fsck.sm_purge.err "git fsck, SLABMALLOC_PURGE_DELAY_MS=0" 1
for run in plain sm sm_purge; do
	{
		$run git log --oneline | wc -l
		$run git rev-list --all | wc -l
		$run git cat-file -p 'HEAD^{tree}'
		$run git count-objects -v | grep -v '^size'
	} >../query.$run.out 2>../query.$run.err
done
cd ..
same fsck.plain.out fsck.sm.out "git fsck --full output"
same fsck.plain.out fsck.sm_purge.out "git fsck --full output, SLABMALLOC_PURGE_DELAY_MS=0"
same query.plain.out query.sm.out "git log/rev-list counts and HEAD^{tree}"
same query.plain.out query.sm_purge.out "git log/rev-list counts and HEAD^{tree}, SLABMALLOC_PURGE_DELAY_MS=0"
check_stats query.sm.err "git queries" 4
echo "ok: $(sed -n 1p query.sm.out) commits on HEAD, $(sed -n 2p query.sm.out) commits on all refs"

# git archive piped into gzip -n (no name, no time stamp): the same bytes.
for run in plain sm sm_purge; do
	$run git -C repo.sm archive --format=tar --prefix=src/ v1 2>archive.$run.err |
		$run gzip -n -6 >archive.$run.tar.gz 2>gzip.$run.err
	$run gzip -t archive.$run.tar.gz 2>gzip-t.$run.err
done
same archive.plain.tar.gz archive.sm.tar.gz "git archive | gzip -n"
same archive.plain.tar.gz archive.sm_purge.tar.gz "git archive | gzip -n, SLABMALLOC_PURGE_DELAY_MS=0"
check_stats archive.sm.err "git archive" 1
# (gzip itself never calls malloc: its table is empty, so it is not checked)
echo "git ok"
