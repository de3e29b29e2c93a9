#!/bin/sh
# The shipped rules policy works on the generator's data (issue 19's bar, "examples that
# work"): on a generated sample with its registry, policies/order251_rules.conf must
#   1. hold the AEO/regular ratio: the realised ratio (AEO rate / REGULAR rate) is within
#      [0.18, 0.22] (its 99.9% Katz interval is printed);
#   2. hold the dishonest floor: the realised DISHONEST rate is at least 0.80 (its 99.9%
#      Wilson interval is printed);
#   3. be more precise than the default policy (policies/order251.conf) on the same rows,
#      significantly: a one-sided two-proportion z test at 99.9% (z > 3.09; treating the two
#      policies' inspections as independent samples overstates the variance of the
#      difference, because they share rows, so the test is conservative);
#   4. be more precise than random selection within each tier at the same volume: the
#      hits exceed the expectation sum_t inspected_t x illicit_t / rows_t by more than
#      3.09 binomial standard deviations.
# Everything is printed, with the seed, whether it passes or not; exit 1 when a condition
# fails. Arguments after SEED are given to the rules policy's replay only (`--set
# tier.AEO.ratio=0.3`: the tests that show each condition can fail).
#
#   check_rules_policy.sh CREST CREST_GEN SOURCE_DIR [ROWS [SEED [REPLAY_ARG...]]]
set -u
CREST=$1 GEN=$2 SRC=$3 ROWS=${4:-500000} SEED=${5:-42}
shift 3
[ $# -gt 0 ] && shift
[ $# -gt 0 ] && shift
work=$(mktemp -d "${TMPDIR:-/tmp}/crest-examples.XXXXXX")
trap 'rm -rf "$work"' EXIT
echo "check_rules_policy: crest-gen --rows $ROWS --seed $SEED (with its registry)${*:+; rules policy with $*}"
"$GEN" --rows "$ROWS" --seed "$SEED" --registry "$work/reg.csv" -o "$work/decls.csv" || exit 1
replay() { # NAME POLICY [ARG...]
  name=$1 policy=$2
  shift 2
  "$CREST" replay --policy "$policy" "$@" --registry "$work/reg.csv" --label illicit \
    --revenue revenue --period none --plots none --no-progress --report "$work/$name" \
    "$work/decls.csv" 2>"$work/$name.err" || { cat "$work/$name.err"; echo "crest replay failed"; exit 1; }
}
replay rules "$SRC/policies/order251_rules.conf" "$@"
replay default "$SRC/policies/order251.conf"
# tiers.csv: policy,period,tier,rows,inspected,rate,...,illicit,hits,...
awk -F, '
FNR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; n_files++; next }
$c["period"] == "total" {
  p = n_files == 1 ? "r" : "d"; t = $c["tier"]
  rows[p, t] = $c["rows"]; ins[p, t] = $c["inspected"]
  I[p] += $c["inspected"]; H[p] += $c["hits"]
  pi = $c["illicit"] / $c["rows"]
  E[p] += $c["inspected"] * pi; V[p] += $c["inspected"] * pi * (1 - pi)
}
END {
  z = 3.29; zone = 3.09; fail = 0
  r = "r"; d = "d"
  a = ins[r, "AEO"]; na = rows[r, "AEO"]; b = ins[r, "REGULAR"]; nb = rows[r, "REGULAR"]
  if (a == 0 || b == 0 || I[r] == 0 || I[d] == 0) { print "no inspections in a tier: cannot judge"; exit 1 }
  ratio = (a / na) / (b / nb); se = sqrt(1 / a - 1 / na + 1 / b - 1 / nb)
  lo = ratio * exp(-z * se); hi = ratio * exp(z * se)
  ok = ratio >= 0.18 && ratio <= 0.22
  printf "AEO/REGULAR ratio %.4f (99.9%% interval [%.4f, %.4f]) in [0.18, 0.22]: %s\n", ratio, lo, hi, ok ? "yes" : "NO"
  fail += !ok
  n = rows[r, "DISHONEST"]; k = ins[r, "DISHONEST"]; q = k / n
  h = z * sqrt(q * (1 - q) / n + z * z / (4 * n * n)); m = q + z * z / (2 * n); s = 1 + z * z / n
  ok = q >= 0.80
  printf "DISHONEST rate %.4f (%d of %d; 99.9%% interval [%.4f, %.4f]) >= 0.80: %s\n", q, k, n, (m - h) / s, (m + h) / s, ok ? "yes" : "NO"
  fail += !ok
  pr = H[r] / I[r]; pd = H[d] / I[d]
  zz = (pr - pd) / sqrt(pr * (1 - pr) / I[r] + pd * (1 - pd) / I[d])
  ok = pr > pd && zz > zone
  printf "precision %.4f (%d of %d) > the default policy %.4f (%d of %d), z = %.2f > %.2f: %s\n", pr, H[r], I[r], pd, H[d], I[d], zz, zone, ok ? "yes" : "NO"
  fail += !ok
  zz = (H[r] - E[r]) / sqrt(V[r])
  ok = zz > zone
  printf "hits %d vs %.1f expected of random selection within each tier at the same volume (precision %.4f): z = %.2f > %.2f: %s\n", H[r], E[r], E[r] / I[r], zz, zone, ok ? "yes" : "NO"
  fail += !ok
  exit fail ? 1 : 0
}' "$work/rules/tiers.csv" "$work/default/tiers.csv"
