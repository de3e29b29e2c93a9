{ printf 'decl_id,desc,value\n'; seq 1 50 | sed 's/.*/R&,row &,&/'; } > input.csv
