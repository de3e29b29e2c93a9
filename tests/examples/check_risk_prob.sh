#!/bin/sh
# risk_prob is a calibrated probability (issue 19, must-have 4). On generated data
# (crest-gen, fixed seed, with its registry), a logistic model is fitted by `crest fit`
# (with its Platt calibration, cross-fitted) on the declarations before 2025-09-01 and
# replayed on the later ones, whose labels it never saw:
#   1. the mean risk_prob is within a 99.9% binomial bound of the realised illicit rate:
#      |sum y - sum p| <= 3.29 sqrt(sum p (1 - p));
#   2. by deciles of risk_prob, the Hosmer-Lemeshow statistic sum (O - E)^2 / (E (1 - E/n))
#      is under 29.59 (chi-square, 10 degrees of freedom for groups not used in the fit,
#      99.9%), and every decile's O is within its own 99.9% binomial bound of E.
# The same checks on risk_prob x 0.85 (a model 15% off) must fail, so the test can fail;
# and without the model file's calibration line `crest run` writes no risk_prob column.
#
#   check_risk_prob.sh CREST CREST_GEN SOURCE_DIR [ROWS [SEED]]
set -u
CREST=$1 GEN=$2 SRC=$3 ROWS=${4:-300000} SEED=${5:-19}
work=$(mktemp -d "${TMPDIR:-/tmp}/crest-prob.XXXXXX")
trap 'rm -rf "$work"' EXIT
echo "check_risk_prob: crest-gen --rows $ROWS --seed $SEED (with its registry); fit before 2025-09-01, check after"
"$GEN" --rows "$ROWS" --seed "$SEED" --registry "$work/reg.csv" -o "$work/all.csv" || exit 1
awk -F, -v dir="$work" 'NR == 1 { print > (dir "/train.csv"); print > (dir "/test.csv"); next }
  { print > (dir "/" ($2 < "2025-09-01" ? "train" : "test") ".csv") }' "$work/all.csv"
{
  cat "$SRC/policies/order251.conf"
  printf '\n[model]\nkind = logistic\nfile = m.model\n'
  printf 'features = te:hs4, te:origin, te:hs4*origin, te:enterprise_id, te:declarant_id, '
  printf 'log:declared_value, log:unit_value, rel:unit_value/hs4\nsmoothing = 20\n'
} > "$work/p.conf"
cd "$work" || exit 1
"$CREST" fit --policy p.conf --registry reg.csv -o m.model train.csv || { echo "crest fit failed"; exit 1; }
grep '^calibration platt ' m.model || { echo "check_risk_prob: the model file has no calibration"; exit 1; }
"$CREST" replay --policy p.conf --registry reg.csv --label illicit --plots none --report rep \
  --decisions d.csv test.csv > /dev/null 2>&1 || { echo "crest replay failed"; exit 1; }
# risk_prob and the label, sorted by risk_prob.
awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; if (!c["risk_prob"]) exit 1; next }
  { print $c["risk_prob"], $c["illicit"] }' d.csv | sort -g > py.txt || { echo "no risk_prob column"; exit 1; }

# check FACTOR: the checks on risk_prob x FACTOR; exit 0 when all hold.
check() {
  awk -v f="$1" '{ p[NR] = $1 * f; y[NR] = $2 }
  END {
    n = NR; z = 3.29; ok = 1
    for (i = 1; i <= n; i++) { sp += p[i]; sy += y[i]; v += p[i] * (1 - p[i]) }
    b = z * sqrt(v)
    printf "  x%s: %d rows, mean risk_prob %.5f, illicit rate %.5f (%d), 99.9%% bound on the count +-%.1f: %s\n",
      f, n, sp / n, sy / n, sy, b, (sy - sp <= b && sp - sy <= b) ? "ok" : "OUT"
    if (sy - sp > b || sp - sy > b) ok = 0
    printf "  decile      rows  mean risk_prob  illicit rate   E       O    99.9%% bound\n"
    hl = 0
    for (d = 0; d < 10; d++) {
      lo = int(d * n / 10) + 1; hi = int((d + 1) * n / 10)
      e = 0; o = 0; vv = 0
      for (i = lo; i <= hi; i++) { e += p[i]; o += y[i]; vv += p[i] * (1 - p[i]) }
      m = hi - lo + 1; hl += (o - e) ^ 2 / (e * (1 - e / m))
      bd = z * sqrt(vv); dok = o - e <= bd && e - o <= bd
      if (!dok) ok = 0
      printf "  %6d %9d  %14.5f  %12.5f %7.1f %6d  +-%.1f %s\n", d + 1, m, e / m, o / m, e, o, bd, dok ? "" : "OUT"
    }
    printf "  Hosmer-Lemeshow %.2f (99.9%% critical value 29.59, 10 df): %s\n", hl, hl < 29.59 ? "ok" : "OUT"
    if (hl >= 29.59) ok = 0
    exit ok ? 0 : 1
  }' py.txt
}
fail=0
echo "risk_prob on the later declarations:"
check 1 || { echo "check_risk_prob: risk_prob is not calibrated"; fail=1; }
echo "the same checks on a model 15% off (must fail):"
check 0.85 && { echo "check_risk_prob: the checks cannot tell a model 15% off"; fail=1; }
# Without the calibration line: no risk_prob column (the output as before).
grep -v '^calibration ' m.model > m0.model
"$CREST" run -q --policy p.conf --model m0.model --registry reg.csv --passthrough none test.csv | head -n 1 > h0.txt
"$CREST" run -q --policy p.conf --registry reg.csv --passthrough none test.csv | head -n 1 > h1.txt
grep -q risk_prob h0.txt && { echo "check_risk_prob: a model without calibration has a risk_prob column"; fail=1; }
grep -q '^decl_id,tier,tier_source,risk_score,risk_prob,p,' h1.txt ||
  { echo "check_risk_prob: risk_prob is not after risk_score"; cat h1.txt; fail=1; }
[ "$fail" = 0 ] && echo "check_risk_prob: ok"
exit "$fail"
