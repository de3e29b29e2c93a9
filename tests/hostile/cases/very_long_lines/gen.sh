{
  printf 'decl_id,desc,value\nV1,a,1'
  head -c 2000000 /dev/zero | tr '\0' ','
  printf '\nV2,ok,2\nV3,'
  head -c 3000000 /dev/zero | tr '\0' 'y'
  printf '\nV4,ok,4\n'
} > input.csv
