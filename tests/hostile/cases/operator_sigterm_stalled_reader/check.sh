ms=$(cat stop_ms); echo "stopped in $ms ms"
[ "$ms" -lt 2000 ] || { echo "SIGTERM took $ms ms"; exit 1; }
[ -s got.csv ] || { echo "nothing reached the reader"; exit 1; }
[ "$(tail -c 1 got.csv | od -An -c | tr -d ' ')" = '\n' ] || { echo "the output does not end on a line end"; exit 1; }
awk -F, 'NR == 1 { n = NF } NF != n { print "line " NR ": " NF " fields, not " n; bad = 1 } END { exit bad }' got.csv || exit 1
rows=$(($(wc -l < got.csv) - 1)); echo "$rows decisions reached the reader"
[ "$rows" -lt 300000 ] || { echo "every row was written: the reader was not stalled"; exit 1; }
[ ! -e run.json ] || { echo "run.json exists: an interrupted run was given the target name"; exit 1; }
grep -q '"partial":true,"ending":"interrupted"' run.json.partial || { echo "the summary does not say interrupted"; exit 1; }
