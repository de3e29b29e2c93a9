#!/bin/sh
# The summary's selection counts are counts of the reasons (issue 19): on generated data
# with the shipped criteria, a dishonest floor tier and a binding capacity cap, the number
# of decisions whose reasons carry RANDOM, RISK, TIER_FLOOR, MAX_HITS (the criteria's
# max_hits row, MAXHITS), CAPACITY and OVERFLOW, and those led by a lane criterion's id,
# equal the summary JSON's selected.random, .risk, .floor, .max_hits, deferred, overflow
# and selected.forced (each of those ids saying "[forced...]": the criterion's own draw); the tier rows' inspected counts equal the INSPECT decisions and
# their deferred counts the DEFER decisions.
#
#   check_reason_counts.sh CREST CREST_GEN POLICY
set -u
CREST=$1 GEN=$2 POLICY=$3
work=$(mktemp -d "${TMPDIR:-/tmp}/crest-reasons.XXXXXX")
trap 'rm -rf "$work"' EXIT
"$GEN" --rows 60000 --seed 5 --days 30 --registry "$work/reg.csv" -o "$work/decls.csv" || exit 1
"$CREST" run --no-progress --policy "$POLICY" --registry "$work/reg.csv" --passthrough none \
  --summary "$work/summary.json" -o "$work/dec.csv" "$work/decls.csv" 2>/dev/null || { echo "crest run failed"; exit 1; }
# Lane criteria of the shipped criteria file: a decision they forced has the id first.
got=$(awk -F, -v lane_ids="Q_SAMPLE NEG_LIST AUDIT_GOLD" '
BEGIN { n = split(lane_ids, l, " "); for (i = 1; i <= n; i++) lane[l[i]] = 1 }
NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
{
  m = split($c["reasons"], r, ";")
  for (i = 1; i <= m; i++) has[r[i]]++
  first = (r[1] == "CAPACITY" || r[1] == "OVERFLOW") ? r[2] : r[1]
  if (first ~ /\[forced/) { sub(/\[.*/, "", first); said_forced++ }
  forced += first in lane
  inspect += $c["decision"] == "INSPECT"; defer += $c["decision"] == "DEFER"
}
END {
  printf "random %d risk %d floor %d forced %d max_hits %d deferred %d overflow %d inspected %d\n",
    has["RANDOM"], has["RISK"], has["TIER_FLOOR"], forced, has["MAXHITS"], has["CAPACITY"], has["OVERFLOW"],
    inspect
  if (defer != has["CAPACITY"]) printf "DEFER decisions %d but CAPACITY reasons %d\n", defer, has["CAPACITY"]
  if (said_forced != forced) printf "%d rows led by a lane criterion, %d of them saying [forced...]\n", forced, said_forced
}' "$work/dec.csv")
j=$(tr -d '\n' < "$work/summary.json")
sel=$(echo "$j" | grep -o '"selected":{[^}]*}')
num() { echo "$1" | grep -o "\"$2\":[0-9]*" | head -n 1 | grep -o '[0-9]*$'; }
top=$(echo "$j" | grep -o '"deferred":[0-9]*,"overflow":[0-9]*,"regex_limit_hits"')
ins=$(echo "$j" | grep -o '"tier":"[A-Z_]*","rows":[0-9]*,"inspected":[0-9]*' | awk -F: '{ s += $NF } END { print s }')
want=$(printf "random %s risk %s floor %s forced %s max_hits %s deferred %s overflow %s inspected %s" \
  "$(num "$sel" random)" "$(num "$sel" risk)" "$(num "$sel" floor)" "$(num "$sel" forced)" \
  "$(num "$sel" max_hits)" "$(num "$top" deferred)" "$(num "$top" overflow)" "$ins")
echo "reasons: $got"
echo "summary: $want"
[ "$got" = "$want" ] || { echo "check_reason_counts: MISMATCH"; exit 1; }
case "$got" in *"deferred 0 "*|*"floor 0 "*|*"forced 0 "*) echo "check_reason_counts: a count is 0: the test proves less than it says"; exit 1 ;; esac
echo "check_reason_counts: ok"
