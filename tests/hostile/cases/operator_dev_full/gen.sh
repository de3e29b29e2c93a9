{ printf 'decl_id,desc,value\n'; seq 1 300000 | sed 's/.*/R&,row &,&/'; } > input.csv
