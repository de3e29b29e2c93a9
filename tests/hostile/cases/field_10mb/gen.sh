# A 10 MiB unquoted field, then a 10 MiB quoted field of text and doubled
# quotes, each followed by a good row.
{
  printf 'decl_id,desc,value\nL1,'
  head -c 10485760 /dev/zero | tr '\0' x
  printf ',1\nL2,ok,2\nL3,"'
  head -c 5242880 /dev/zero | tr '\0' 'q'
  head -c 5242880 /dev/zero | tr '\0' '"'
  printf '",3\nL4,ok,4\n'
} > input.csv
