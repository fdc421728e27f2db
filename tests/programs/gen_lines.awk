# gen_lines.awk - deterministic pseudo-random text lines for sort.sh.
# Usage: awk -v n=LINES -f gen_lines.awk
# Park-Miller minimal standard generator: exact in awk's doubles, the same
# sequence in mawk and gawk.
function rnd(m) { seed = (seed * 16807) % 2147483647; return seed % m }
function word(lo, hi,    len, s, i) {
	len = lo + rnd(hi - lo + 1); s = ""
	for (i = 0; i < len; i++) s = s substr(alpha, 1 + rnd(length(alpha)), 1)
	return s
}
BEGIN {
	seed = 42
	alpha = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.,"
	if (n == "") n = 500000
	for (i = 0; i < n; i++) {
		# Many duplicates in field 1 (so -u and stable keys matter),
		# a number in field 3, free text after it.
		printf "%s %s %d %s\n", word(1, 3), word(2, 10), rnd(1000000) - 500000, word(0, 30)
	}
}
