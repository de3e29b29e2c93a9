{ printf 'decl_id,desc,value\nL1,'; head -c 102400 /dev/zero | tr '\0' x; printf ',1\nL2,ok,2\n'; } > input.csv
