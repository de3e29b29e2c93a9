{ printf 'decl_id,desc,value\n'; printf ',no id,0\n'; seq 1 300000 | sed 's/.*/R&,row &,&/'; } > input.csv
