{ printf 'decl_id'; i=0; seq 1 100000 | sed 's/^/,c/' | tr -d '\n'; printf '\nH1\n'; } > input.csv
