#!/bin/sh
# The shipped rules policy works on the generator's data (issue 19, "examples that work"):
# on a generated sample with its registry, policies/order251_rules.conf must
#   1. hold the AEO/regular ratio: the 99.9% Katz interval of the realised ratio meets
#      [0.18, 0.22] (a ratio of 0.2 x regular, within 10%);
#   2. hold the dishonest floor: the realised dishonest rate is not significantly below
#      0.80 (its 99.9% Wilson upper bound is at least 0.80);
#   3. be more precise than the default policy (policies/order251.conf) on the same rows:
#      a one-sided two-proportion z test at 99.9% (z > 3.09; treating the two policies'
#      inspections as independent samples overstates the variance of the difference,
#      because they share rows, so the test is conservative);
#   4. be more precise than random selection within each tier at the same volume: the
#      hits exceed the expectation sum_t inspected_t x illicit_t / rows_t by more than
#      3.09 binomial standard deviations.
# Everything is printed, with the seed, whether it passes or not.
#
#   check_rules_policy.sh CREST CREST_GEN SOURCE_DIR [ROWS [SEED]]
set -u
CREST=$1 GEN=$2 SRC=$3 ROWS=${4:-200000} SEED=${5:-2026}
work=$(mktemp -d "${TMPDIR:-/tmp}/crest-examples.XXXXXX")
trap 'rm -rf "$work"' EXIT
echo "check_rules_policy: crest-gen --rows $ROWS --seed $SEED (with its registry)"
"$GEN" --rows "$ROWS" --seed "$SEED" --registry "$work/reg.csv" -o "$work/decls.csv" || exit 1
"$CREST" replay --policy "$SRC/policies/order251_rules.conf" --policy "$SRC/policies/order251.conf" \
  --registry "$work/reg.csv" --label illicit --revenue revenue --period none --plots none \
  --no-progress --report "$work/rep" "$work/decls.csv" || { echo "crest replay failed"; exit 1; }
# tiers.csv: policy,period,tier,rows,inspected,rate,...,illicit($14),hits($15),...
awk -F, '
NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
$c["period"] == "total" {
  p = $c["policy"]; t = $c["tier"]
  rows[p, t] = $c["rows"]; ins[p, t] = $c["inspected"]
  ill[p, t] = $c["illicit"]; hit[p, t] = $c["hits"]
  I[p] += $c["inspected"]; H[p] += $c["hits"]
  pi = $c["illicit"] / $c["rows"]
  E[p] += $c["inspected"] * pi; V[p] += $c["inspected"] * pi * (1 - pi)
}
END {
  z = 3.29; zone = 3.09; fail = 0
  r = "order251_rules"; d = "order251"
  a = ins[r, "AEO"]; na = rows[r, "AEO"]; b = ins[r, "REGULAR"]; nb = rows[r, "REGULAR"]
  ratio = (a / na) / (b / nb); se = sqrt(1 / a - 1 / na + 1 / b - 1 / nb)
  lo = ratio * exp(-z * se); hi = ratio * exp(z * se)
  ok = hi >= 0.18 && lo <= 0.22
  printf "AEO/REGULAR ratio %.4f, 99.9%% interval [%.4f, %.4f] meets [0.18, 0.22]: %s\n", ratio, lo, hi, ok ? "yes" : "NO"
  fail += !ok
  n = rows[r, "DISHONEST"]; k = ins[r, "DISHONEST"]; q = k / n
  up = (q + z * z / (2 * n) + z * sqrt(q * (1 - q) / n + z * z / (4 * n * n))) / (1 + z * z / n)
  ok = up >= 0.80
  printf "DISHONEST rate %.4f (%d of %d), 99.9%% upper bound %.4f >= 0.80: %s\n", q, k, n, up, ok ? "yes" : "NO"
  fail += !ok
  pr = H[r] / I[r]; pd = H[d] / I[d]
  zz = (pr - pd) / sqrt(pr * (1 - pr) / I[r] + pd * (1 - pd) / I[d])
  ok = zz > zone
  printf "precision %.4f (%d of %d) vs the default policy %.4f (%d of %d): z = %.2f > %.2f: %s\n", pr, H[r], I[r], pd, H[d], I[d], zz, zone, ok ? "yes" : "NO"
  fail += !ok
  zz = (H[r] - E[r]) / sqrt(V[r])
  ok = zz > zone
  printf "hits %d vs %.1f expected of random selection within each tier at the same volume (precision %.4f): z = %.2f > %.2f: %s\n", H[r], E[r], E[r] / I[r], zz, zone, ok ? "yes" : "NO"
  fail += !ok
  exit fail ? 1 : 0
}' "$work/rep/tiers.csv"
