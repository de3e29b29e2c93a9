# A good header, then 64 KiB of pseudo-random bytes (Park-Miller LCG: the same in mawk and gawk).
{ printf 'decl_id,desc,value\n'; LC_ALL=C awk -v N=65536 -v S=777 'BEGIN { x = S; for (i = 0; i < N; i++) { x = (x * 16807) % 2147483647; printf "%c", int(x / 8388608) % 256 } }'; } > input.csv
