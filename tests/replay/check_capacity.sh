#!/bin/sh
# `crest replay` decides exactly as `crest run` (issue 19): with a policy that has
# [control] mode = adaptive and a binding [capacity] cap, the per-tier counts of the
# run's decision file — rows, physical inspections (decision INSPECT), deferrals to
# BLUE by the cap (decision DEFER), OVERFLOW selections, hits, revenue caught — and its
# lanes equal the replay's tiers.csv and replay.json. Also: without --policy, replay
# uses the built-in policy, as run does, and with --set capacity.red_per_office_day=2
# (no policy file) its inspections, deferrals and RED lane equal run's.
#
#   check_capacity.sh CREST CREST_GEN POLICY
set -u
CREST=$1 GEN=$2 POLICY=$3
work=$(mktemp -d "${TMPDIR:-/tmp}/crest-capacity.XXXXXX")
trap 'rm -rf "$work"' EXIT
# No embedded newlines: one line per record, so that awk can pair the decisions (in input
# order, no rejects) with the labels, the input's last two fields (illicit, revenue).
"$GEN" --rows 60000 --seed 11 --days 30 --newline-share 0 --registry "$work/reg.csv" -o "$work/decls.csv" ||
  exit 1
"$CREST" run --no-progress --policy "$POLICY" --registry "$work/reg.csv" --passthrough none \
  -o "$work/dec.csv" "$work/decls.csv" 2>/dev/null || { echo "crest run failed"; exit 1; }
"$CREST" replay --no-progress --policy "$POLICY" --registry "$work/reg.csv" --label illicit \
  --revenue revenue --period week --plots none --report "$work/rep" "$work/decls.csv" 2>/dev/null ||
  { echo "crest replay failed"; exit 1; }
awk -F, '
FNR == NR { y_of[FNR] = $(NF - 1); rev_of[FNR] = $NF; next }
FNR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
{
  t = $c["tier"]; d = $c["decision"]; y = y_of[FNR] == 1
  rows[t]++; ins[t] += d == "INSPECT"; def[t] += d == "DEFER"; ovf[t] += index($c["reasons"], "OVERFLOW") > 0
  hit[t] += d == "INSPECT" && y; if (d == "INSPECT") rev[t] += rev_of[FNR]
  if (d == "INSPECT" || d == "DEFER") lane[$c["lane"]]++
}
END {
  for (t in rows) printf "tier %s rows %d inspected %d deferred %d overflow %d hits %d revenue %.2f\n",
    t, rows[t], ins[t], def[t], ovf[t], hit[t], rev[t]
  printf "lanes RED %d BLUE %d\n", lane["RED"], lane["BLUE"]
}' "$work/decls.csv" "$work/dec.csv" | sort > "$work/run.txt"
awk -F, '
NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
$c["period"] == "total" && $c["rows"] > 0 {
  printf "tier %s rows %d inspected %d deferred %d overflow %d hits %d revenue %.2f\n", $c["tier"], $c["rows"],
    $c["inspected"], $c["deferred"], $c["overflow"], $c["hits"], $c["revenue_caught"]
}' "$work/rep/tiers.csv" > "$work/replay.txt"
# The total's lanes (its first by_lane) and deferrals: a deferral is lane BLUE in the run's file.
red=$(grep -o '"by_lane":{"RED":[0-9]*' "$work/rep/replay.json" | head -n 1 | grep -o '[0-9]*$')
blue=$(grep -o '"BLUE":[0-9]*},"capacity":{"deferred":[0-9]*' "$work/rep/replay.json" | head -n 1 |
  sed 's/"BLUE":\([0-9]*\)},"capacity":{"deferred":\([0-9]*\)/\1 \2/')
echo "lanes RED $red BLUE $(echo "$blue" | awk '{ print $1 + $2 }')" >> "$work/replay.txt"
sort -o "$work/replay.txt" "$work/replay.txt"
cat "$work/run.txt"
if ! grep -q 'deferred [1-9]' "$work/run.txt"; then
  echo "check_capacity: the cap did not bind: the test proves nothing"; exit 1
fi
if ! diff "$work/run.txt" "$work/replay.txt"; then
  echo "check_capacity: MISMATCH between crest run (<) and crest replay (>)"; exit 1
fi
# Without --policy: the built-in policy, as crest run without --policy.
"$CREST" run --no-progress --registry "$work/reg.csv" --passthrough none -o "$work/dec0.csv" \
  "$work/decls.csv" 2>/dev/null || { echo "crest run (built-in policy) failed"; exit 1; }
"$CREST" replay --no-progress --registry "$work/reg.csv" --label illicit --period none --plots none \
  --report "$work/rep0" "$work/decls.csv" 2>/dev/null || { echo "crest replay without --policy failed"; exit 1; }
a=$(awk -F, 'NR > 1 && $7 == "INSPECT" { n++ } END { print n + 0 }' "$work/dec0.csv")
b=$(awk -F, 'NR > 1 && $2 == "total" { n += $5 } END { print n + 0 }' "$work/rep0/tiers.csv")
echo "built-in policy: run inspects $a, replay $b"
[ "$a" = "$b" ] && [ "$a" -gt 0 ] || { echo "check_capacity: built-in policy MISMATCH"; exit 1; }
# Without --policy and with a capacity cap (--set): the built-in policy capped, as crest run
# with the same override: the same physical inspections and deferrals to BLUE, and the cap binds.
"$CREST" run --no-progress --set capacity.red_per_office_day=2 --registry "$work/reg.csv" --passthrough none \
  -o "$work/dec2.csv" "$work/decls.csv" 2>/dev/null || { echo "crest run --set capacity failed"; exit 1; }
"$CREST" replay --no-progress --set capacity.red_per_office_day=2 --registry "$work/reg.csv" --label illicit \
  --period none --plots none --report "$work/rep2" "$work/decls.csv" 2>/dev/null ||
  { echo "crest replay --set capacity without --policy failed"; exit 1; }
a=$(awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
  { n[$c["decision"] "," $c["lane"]]++ } END { printf "INSPECT %d DEFER %d RED %d\n", n["INSPECT,RED"] + n["INSPECT,ORANGE"] + n["INSPECT,YELLOW"] + n["INSPECT,BLUE"], n["DEFER,BLUE"], n["INSPECT,RED"] }' "$work/dec2.csv")
b=$(awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
  $c["period"] == "total" { ins += $c["inspected"]; def += $c["deferred"] } END { printf "INSPECT %d DEFER %d", ins, def }' "$work/rep2/tiers.csv")
red=$(grep -o '"by_lane":{"RED":[0-9]*' "$work/rep2/replay.json" | head -n 1 | grep -o '[0-9]*$')
echo "built-in policy with --set capacity.red_per_office_day=2: run $a; replay $b RED $red"
[ "$a" = "$b RED $red" ] || { echo "check_capacity: built-in policy with a cap MISMATCH"; exit 1; }
case "$a" in *"DEFER 0 "*) echo "check_capacity: the cap of 2 did not bind"; exit 1 ;; esac
echo "check_capacity: ok"
