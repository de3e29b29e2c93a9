#!/bin/sh
# `crest replay` reads the input once for the policies that can share a reading
# (crest_multi.h) and decides its blocks in parallel: its report files and its
# --decisions file do not depend on --threads, each policy's rows and metrics are
# those of a replay of that policy alone, and its decisions (decl_id, u, p, the
# decision) are those of `crest run`. A policy that cannot share (capacity.conf:
# [control] adaptive and [capacity]) reads on its own, with a note, and still gives
# its own replay's rows. The input is made of many 128 KiB blocks with quoted line
# ends, so block cuts fall inside records.
#
#   check_shared.sh CREST CREST_GEN SRC_DIR
set -u
CREST=$1 GEN=$2 SRC=$3
work=$(mktemp -d "${TMPDIR:-/tmp}/crest-shared.XXXXXX")
trap 'rm -rf "$work"' EXIT
fail() { echo "check_shared: $*"; exit 1; }
"$GEN" --rows 40000 --seed 5 --days 60 --registry "$work/reg.csv" -o "$work/decls.csv" || exit 1
A=$SRC/policies/order251_rules.conf B=$SRC/policies/order251.conf C=$SRC/tests/replay/capacity.conf
replay() { # replay OUT_DIR THREADS POLICY...
  out=$1 threads=$2
  shift 2
  for p in "$@"; do set -- "$@" --policy "$p"; shift; done
  "$CREST" replay "$@" --registry "$work/reg.csv" --label illicit --revenue revenue --period week \
    --plots none --no-progress --threads "$threads" --report "$work/$out" --decisions "$work/$out.csv" \
    "$work/decls.csv" 2> "$work/$out.err" || fail "replay $out failed: $(cat "$work/$out.err")"
}
replay t1 1 "$A" "$B"
replay t2 2 "$A" "$B"
replay t3 3 "$A" "$B"
for t in t2 t3; do
  for f in periods.csv tiers.csv replay.json gain.csv; do
    cmp -s "$work/t1/$f" "$work/$t/$f" || fail "$t: $f differs from --threads 1"
  done
  cmp -s "$work/t1.csv" "$work/$t.csv" || fail "$t: the decisions differ from --threads 1"
done
[ "$(wc -l < "$work/t1.csv")" -eq 80001 ] || fail "expected 2 x 40000 decisions and a header"
# Each policy alone: the same rows and the same metrics.
replay a 2 "$A"
replay b 2 "$B"
grep '^order251_rules,' "$work/t2.csv" | cmp -s - "$(sed 1d "$work/a.csv" > "$work/a.rows"; echo "$work/a.rows")" ||
  fail "order251_rules: its decisions differ from its replay alone"
grep '^order251,' "$work/t2.csv" | cmp -s - "$(sed 1d "$work/b.csv" > "$work/b.rows"; echo "$work/b.rows")" ||
  fail "order251: its decisions differ from its replay alone"
for p in a b; do
  name=$( [ $p = a ] && echo order251_rules || echo order251)
  grep "^$name," "$work/t2/periods.csv" | cmp -s - "$(grep "^$name," "$work/$p/periods.csv" > "$work/$p.per"; echo "$work/$p.per")" ||
    fail "$name: its periods differ from its replay alone"
done
# And `crest run`'s decisions: decl_id, p, u and INSPECT/RELEASE, row by row.
"$CREST" run -q --policy "$B" --registry "$work/reg.csv" --passthrough none -o "$work/run.csv" "$work/decls.csv" ||
  fail "crest run failed"
awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
  { print $c["decl_id"] "," $c["p"] "," $c["u"] "," ($c["decision"] == "INSPECT" ? "INSPECT" : "RELEASE") }' \
  "$work/run.csv" > "$work/run.keys"
awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
  { print $c["decl_id"] "," $c["p"] "," $c["u"] "," $c["decision"] }' "$work/b.csv" > "$work/b.keys"
# crest run prints u with 8 decimals, replay at full precision: compare u rounded alike.
awk -F, '{ printf "%s,%s,%.8f,%s\n", $1, $2, $3, $4 }' "$work/b.keys" > "$work/b.keys8"
awk -F, '{ printf "%s,%s,%.8f,%s\n", $1, $2, $3, $4 }' "$work/run.keys" > "$work/run.keys8"
cmp -s "$work/run.keys8" "$work/b.keys8" || fail "order251: replay's decisions differ from crest run's"
# A policy that cannot share reads on its own, says so, and decides as alone.
replay mix 2 "$B" "$C"
grep -q 'capacity: reads the input on its own' "$work/mix.err" || fail "no note for the policy read on its own"
replay c 2 "$C"
grep '^capacity,' "$work/mix.csv" | cmp -s - "$(sed 1d "$work/c.csv" > "$work/c.rows"; echo "$work/c.rows")" ||
  fail "capacity: its decisions differ from its replay alone"
grep '^order251,' "$work/mix.csv" | cmp -s - "$work/b.rows" || fail "order251 next to capacity: decisions differ"
# --decisions keeps the second policy's rows in a temporary file in $TMPDIR: a missing
# directory is exit 4, named, and no decisions file is left (not a golden case:
# valgrind, which runs those, keeps its own files in $TMPDIR).
TMPDIR=/nonexistent-crest-tmp "$CREST" replay --policy "$A" --policy "$B" --registry "$work/reg.csv" \
  --label illicit --plots none --no-progress --report "$work/notmp" --decisions "$work/notmp.csv" \
  "$work/decls.csv" 2> "$work/notmp.err"
rc=$?
[ "$rc" -eq 4 ] || fail "decisions with no temporary directory: exit $rc, not 4"
grep -q 'cannot create a temporary file in /nonexistent-crest-tmp for the decisions of order251' "$work/notmp.err" ||
  fail "decisions with no temporary directory: $(cat "$work/notmp.err")"
[ ! -e "$work/notmp.csv" ] || fail "decisions with no temporary directory: a decisions file was left"
echo "check_shared: the same reports and decisions for --threads 1, 2, 3, alone and together, and as crest run; no temporary directory named"

