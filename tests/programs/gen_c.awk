# gen_c.awk - a deterministic, moderately large C program for gcc.sh:
# n functions (loops, switches, structs, arrays, calls to earlier
# functions, static tables) and a main() that prints a checksum of them all.
# Usage: awk -v n=2000 -f gen_c.awk > big.c
function rnd(m) { seed = (seed * 16807) % 2147483647; return seed % m }
BEGIN {
	seed = 7
	if (n == "") n = 2000
	print "#include <stdio.h>"
	print "#include <stdint.h>"
	print "#include <string.h>"
	print "struct pt { int32_t x, y, z; uint64_t tag; };"
	print "static uint64_t mix(uint64_t h, uint64_t v) { h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2); return h; }"
	for (i = 0; i < n; i++) {
		k = rnd(20) # 0-3: a loop, switch, buffer or array body; else straight-line
		printf "static const int32_t tab%d[%d] = {", i, 8 + rnd(8)
		for (j = 0; j < 8; j++) printf "%s%d", (j ? ", " : ""), rnd(20000) - 10000
		print "};"
		printf "__attribute__((noinline)) uint64_t f%d(uint64_t a, int b)\n{\n", i
		print "\tuint64_t h = a;"
		print "\tstruct pt p = { b, b * 3, -b, a };"
		if (k == 0) {
			printf "\tfor (int i = 0; i < %d; i++) {\n", 3 + rnd(30)
			printf "\t\th = mix(h, (uint64_t)tab%d[i & 7] * (uint64_t)(i + b));\n", i
			printf "\t\tif (h & %d) p.x += i; else p.y ^= (int32_t)h;\n", 1 + rnd(255)
			print "\t}"
		} else if (k == 1) {
			print "\tswitch ((a ^ (uint64_t)b) % 7) {"
			for (c = 0; c < 7; c++)
				printf "\tcase %d: h = mix(h, %dULL) + tab%d[%d]; p.z += %d; break;\n", c, rnd(1000000), i, c, rnd(100)
			print "\tdefault: h = 0;"
			print "\t}"
		} else if (k == 2) {
			printf "\tchar buf[%d];\n", 16 + rnd(48)
			print "\tmemset(buf, (int)(a & 0x7f), sizeof(buf));"
			printf "\tfor (unsigned i = 0; i < sizeof(buf); i++) buf[i] = (char)(buf[i] + i * %d + tab%d[i %% 8]);\n", 1 + rnd(13), i
			print "\tfor (unsigned i = 0; i < sizeof(buf); i++) h = mix(h, (unsigned char)buf[i]);"
		} else if (k == 3) {
			print "\tint32_t acc[8];"
			printf "\tfor (int i = 0; i < 8; i++) acc[i] = tab%d[i] * (b + i);\n", i
			print "\tfor (int r = 0; r < 3; r++) for (int i = 1; i < 8; i++) acc[i] += acc[i - 1] >> 1;"
			print "\tfor (int i = 0; i < 8; i++) h = mix(h, (uint64_t)(uint32_t)acc[i]);"
		} else {
			printf "\th = mix(h, (uint64_t)tab%d[b & 7] * a + %dU);\n", i, rnd(65536)
			printf "\tif (b > %d) p.x -= (int32_t)(h >> %d); else p.z += tab%d[(b >> 3) & 7];\n", rnd(100), 1 + rnd(40), i
		}
		if (i > 0) {
			c1 = rnd(i)
			printf "\th = mix(h, f%d(h >> 3, b + %d));\n", c1, rnd(9)
		}
		print "\treturn mix(h, (uint64_t)(uint32_t)(p.x + p.y + p.z) ^ p.tag);"
		print "}"
	}
	print "int main(void)"
	print "{"
	print "\tuint64_t h = 1;"
	for (i = 0; i < n; i += 1 + rnd(5))
		printf "\th = mix(h, f%d(h, %d));\n", i, rnd(100)
	print "\tprintf(\"checksum %016llx\\n\", (unsigned long long)h);"
	print "\treturn 0;"
	print "}"
}
