#!/bin/sh
# Independent check of `crest replay`: recompute, with awk, from the decision file of
# `crest run` (one row per declaration, input columns passed through) the rows,
# inspections, illicit rows, hits, precision, recall and revenue (in total and per
# tier) and compare them with the replay's periods.csv and tiers.csv.
#
#   check_metrics.sh CREST POLICY INPUT LABEL REVENUE [REGISTRY]
#
# LABEL: the 0/1 label column's header name. REVENUE: col:NAME (a revenue column),
# rate:RATE_COLUMN:BASE_COLUMN (proxy label x rate / 100 x base), or
# proxy:RATE_COLUMN:VALUE_COLUMN (the same without --revenue-base: the base is the
# policy's declared_value field, which it maps to VALUE_COLUMN). The awk reader splits
# on commas: inputs with quoted fields are refused (exit 2). Exit 0 when all agree,
# 1 on a mismatch, 77 (skipped) when INPUT does not exist.
set -u
CREST=$1 POLICY=$2 INPUT=$3 LABEL=$4 REVENUE=$5 REGISTRY=${6:-}
if [ ! -f "$INPUT" ]; then
  echo "check_metrics: SKIP: $INPUT not found"
  exit 77
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/crest-check.XXXXXX")
trap 'rm -rf "$work"' EXIT
set -- --policy "$POLICY"
[ -n "$REGISTRY" ] && set -- "$@" --registry "$REGISTRY"
"$CREST" run "$@" --passthrough all --no-progress -o "$work/dec.csv" "$INPUT" 2>/dev/null || {
  echo "check_metrics: crest run failed"; exit 1; }
# Column names may hold spaces: pass them through positional parameters, not word splitting.
set -- --policy "$POLICY" --label "$LABEL" --period none --plots none --no-progress --report "$work/rep"
[ -n "$REGISTRY" ] && set -- "$@" --registry "$REGISTRY"
case $REVENUE in
  col:*) set -- "$@" --revenue "${REVENUE#col:}" ;;
  rate:*) r=${REVENUE#rate:}; set -- "$@" --revenue-rate "${r%%:*}" --revenue-base "${r#*:}" ;;
  proxy:*) r=${REVENUE#proxy:}; set -- "$@" --revenue-rate "${r%%:*}" ;;
esac
"$CREST" replay "$@" "$INPUT" 2>/dev/null || { echo "check_metrics: crest replay failed"; exit 1; }
if grep -q '"' "$work/dec.csv"; then
  echo "check_metrics: the decision file has quoted fields; this awk check splits on commas only"
  exit 2
fi
# 1. Recompute from the decisions: "total" and one line per tier.
awk -F, -v label="$LABEL" -v rev="$REVENUE" '
NR == 1 {
  for (i = 1; i <= NF; i++) col[$i] = i
  mode = substr(rev, 1, index(rev, ":") - 1); spec = substr(rev, index(rev, ":") + 1)
  if (mode == "col") rc = col[spec]
  else { rr = col[substr(spec, 1, index(spec, ":") - 1)]; rb = col[substr(spec, index(spec, ":") + 1)] }
  if (!col["decision"] || !col[label] || !col["tier"]) { print "missing columns" > "/dev/stderr"; exit 2 }
  next
}
{
  y = ($col[label] + 0) != 0
  if (mode == "col") v = $rc + 0; else v = y ? ($rr / 100) * $rb : 0
  ins = $col["decision"] == "INSPECT"; t = $col["tier"]
  rows++; insp += ins; bad += y; hits += ins && y; vt += v; if (ins) vc += v
  trows[t]++; tins[t] += ins; thits[t] += ins && y; tmiss[t] += y && !ins
}
END {
  printf "total rows %d inspected %d illicit %d hits %d precision %.9g recall %.9g revenue_total %.9g revenue_caught %.9g\n",
    rows, insp, bad, hits, insp ? hits / insp : -1, bad ? hits / bad : -1, vt, vc
  for (t in trows) printf "tier %s rows %d inspected %d hits %d missed %d\n", t, trows[t], tins[t], thits[t], tmiss[t]
}' "$work/dec.csv" | sort > "$work/expected.txt"
# 2. The same figures from the replay's CSVs.
awk -F, '
FNR == 1 { delete col; for (i = 1; i <= NF; i++) col[$i] = i; file++; next }
file == 1 && $col["period"] == "total" {
  printf "total rows %d inspected %d illicit %d hits %d precision %.9g recall %.9g revenue_total %.9g revenue_caught %.9g\n",
    $col["rows"], $col["inspected"], $col["illicit"], $col["hits"],
    $col["precision"] == "" ? -1 : $col["precision"], $col["recall"] == "" ? -1 : $col["recall"],
    $col["revenue_total"], $col["revenue_caught"]
}
file == 2 && $col["period"] == "total" && $col["rows"] > 0 {
  printf "tier %s rows %d inspected %d hits %d missed %d\n", $col["tier"], $col["rows"], $col["inspected"],
    $col["hits"], $col["missed_illicit"]
}' "$work/rep/periods.csv" "$work/rep/tiers.csv" | sort > "$work/got.txt"
# Compare numbers with a relative tolerance (the sums of revenue are added in another order).
if paste -d'\n' "$work/expected.txt" "$work/got.txt" | awk '
NR % 2 == 1 { split($0, e, " "); n = split($0, a, " "); line = $0; next }
{
  m = split($0, b, " ")
  if (m != n) { print "differ: " line " | " $0; bad = 1; next }
  for (i = 1; i <= n; i++) {
    if (a[i] == b[i]) continue
    x = a[i] + 0; y = b[i] + 0; d = x - y; if (d < 0) d = -d; s = (x < 0 ? -x : x) + 1e-300
    if (d / s > 1e-6) { print "differ: " line " | " $0; bad = 1; break }
  }
}
END { exit bad }' && [ "$(wc -l < "$work/expected.txt")" = "$(wc -l < "$work/got.txt")" ]; then
  echo "check_metrics: ok: $(wc -l < "$work/expected.txt") lines agree ($(grep '^total' "$work/expected.txt"))"
  exit 0
fi
echo "check_metrics: MISMATCH; expected (from decisions) vs replay:"
diff "$work/expected.txt" "$work/got.txt"
exit 1
