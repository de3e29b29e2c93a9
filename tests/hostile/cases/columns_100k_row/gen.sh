{ printf 'decl_id,desc\nH1'; head -c 100000 /dev/zero | tr '\0' ','; printf '\nH2,b\n'; } > input.csv
