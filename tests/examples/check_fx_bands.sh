#!/bin/sh
# Values are compared in one currency (issue 13, must-have 8): on generated data (~11% of
# rows in EUR, JPY, HKD, GBP or CNY), policies/order251_rules.conf with its [fx] table
#   1. hits the import value band (UV_LOW) as often on non-USD imports as on USD imports,
#      and the export band (UV_HIGH) as often on non-USD exports as on USD exports: a
#      two-proportion z test at 99.9% (|z| < 3.29) finds no difference;
#   2. flags no row FX_MISSING (the table covers every currency the generator writes);
# and the same policy without [fx] (the raw declared number compared) does show the
# difference (|z| > 3.29 for both bands), so the check can fail.
#
#   check_fx_bands.sh CREST CREST_GEN SOURCE_DIR [ROWS [SEED]]
set -u
CREST=$1 GEN=$2 SRC=$3 ROWS=${4:-200000} SEED=${5:-2026}
work=$(mktemp -d "${TMPDIR:-/tmp}/crest-fx.XXXXXX")
trap 'rm -rf "$work"' EXIT
echo "check_fx_bands: crest-gen --rows $ROWS --seed $SEED (with its registry)"
"$GEN" --rows "$ROWS" --seed "$SEED" --registry "$work/reg.csv" -o "$work/decls.csv" || exit 1
# The policy without [fx]: its section's lines dropped, the criteria path made absolute.
awk '/^\[fx\]/ { skip = 1; next } /^\[/ { skip = 0 } !skip' "$SRC/policies/order251_rules.conf" |
  sed "s#^criteria = \.\./#criteria = $SRC/#" > "$work/raw.conf"
fail=0
for pol in "$SRC/policies/order251_rules.conf" "$work/raw.conf"; do
  "$CREST" run -q --threads 1 --policy "$pol" --registry "$work/reg.csv" "$work/decls.csv" > "$work/out.csv" ||
    { echo "crest run failed"; exit 1; }
  want=same
  [ "$pol" = "$work/raw.conf" ] && want=different
  # Hit rates by band and currency group from the decisions (reasons; passthrough direction, currency).
  awk -F, -v want="$want" -v name="$(basename "$pol")" '
  NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
  NF >= c["currency"] {
    d = $c["direction"]; g = ($c["currency"] == "USD") ? "USD" : "other"
    r = ";" $c["reasons"] ";"
    if (d == "I") { n["UV_LOW", g]++; h["UV_LOW", g] += index(r, ";UV_LOW;") > 0 }
    if (d == "E") { n["UV_HIGH", g]++; h["UV_HIGH", g] += index(r, ";UV_HIGH;") > 0 }
    fx += index(r, ";FX_MISSING;") > 0
  }
  END {
    fail = 0
    split("UV_LOW UV_HIGH", bands, " ")
    for (k = 1; k <= 2; k++) {
      b = bands[k]; n1 = n[b, "USD"]; n2 = n[b, "other"]; p1 = h[b, "USD"] / n1; p2 = h[b, "other"] / n2
      p = (h[b, "USD"] + h[b, "other"]) / (n1 + n2)
      z = (p2 - p1) / sqrt(p * (1 - p) * (1 / n1 + 1 / n2)); az = z < 0 ? -z : z
      ok = (want == "same") ? az < 3.29 : az > 3.29
      printf "%s: %s hits %.4f of %d USD rows and %.4f of %d non-USD rows: z = %.2f (%s expected): %s\n", name, b, p1, n1, p2, n2, z, want, ok ? "yes" : "NO"
      fail += !ok
    }
    if (want == "same") { ok = fx == 0; printf "%s: FX_MISSING rows %d (0 expected): %s\n", name, fx, ok ? "yes" : "NO"; fail += !ok }
    exit fail != 0
  }' "$work/out.csv" || fail=1
done
exit $fail
