# A quoted field of 10 MiB of line ends (data, inside quotes), then a good row.
# After the reject the reader must skip to the end of the *record*, not to the
# next line end, or the rest of the field turns into phantom records and the
# closing quote swallows L2. The field crosses max_field_bytes before the
# record crosses max_record_bytes, so the reason is FIELD_TOO_LONG.
{
  printf 'decl_id,desc,value\nL1,"'
  head -c 10485760 /dev/zero | tr '\0' '\n'
  printf '",1\nL2,ok,2\n'
} > input.csv
