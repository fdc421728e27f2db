# gen_files.awk - write files dir<i%8>/file<i>.txt for i in [from, to), their
# contents a deterministic function of (i, version).  For git.sh.
# Usage: awk -v from=0 -v to=300 -v version=1 -f gen_files.awk
# (the directories dir0..dir7 must exist)
function rnd(m) { seed = (seed * 16807) % 2147483647; return seed % m }
BEGIN {
	alpha = "abcdefghijklmnopqrstuvwxyz     "
	for (i = from; i < to; i++) {
		f = "dir" (i % 8) "/file" i ".txt"
		seed = 1 + i * 7919 + version * 104729
		n = 20 + rnd(120)
		for (l = 0; l < n; l++) {
			# mostly stable lines (so versions share text and delta well)
			# with a few that depend on the version
			if (rnd(10) == 0)
				printf "v%d line %d:", version, l > f
			else
				printf "line %d of file %d:", l, i > f
			k = 5 + rnd(60)
			s = ""
			for (j = 0; j < k; j++) s = s substr(alpha, 1 + (i * 31 + l * 7 + j * j + (rnd(4) == 0 ? version : 0)) % length(alpha), 1)
			print s > f
		}
		close(f)
	}
}
