# A quoted field of 10 MiB of line ends (data, inside quotes), then a good row:
# after RECORD_TOO_LONG the reader must skip to the end of the *record*, not to
# the next line end, or the rest of the field turns into phantom records.
{
  printf 'decl_id,desc,value\nL1,"'
  head -c 10485760 /dev/zero | tr '\0' '\n'
  printf '",1\nL2,ok,2\n'
} > input.csv
