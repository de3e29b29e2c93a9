# Line ends are not data: the ids and last fields come out without a CR (the
# quoted field keeps its own CRLF, which is data).
cut -d, -f1 decisions.csv | tr -d '\n' | grep -q "$(printf '\r')" && { echo "CR in decl_id"; exit 1; }
for id in M1 M2 M3 M4 M5; do grep -q "^$id," decisions.csv || { echo "$id not decided"; exit 1; }; done
grep -q "$(printf ',1\r')" decisions.csv && { echo "CR kept after a value"; exit 1; }
exit 0
