#!/usr/bin/env bash
# live_reload.sh — `crest run` reading a pipe that stays open reloads its
# policy on SIGHUP: the rows written before the signal are decided under the
# old policy, the rows after under the new one (each decision's bytes as a run
# of that policy on the same rows, its policy_hash naming it); a broken policy
# is refused, logged, and the one in force goes on deciding; rows in =
# decisions + rejects at the end. With 1 and 2 threads; the new policy adds
# selection criteria (the risk layer is bound to the running input's header).
# Every wait is for a condition, with a deadline that only matters on failure.
# Environment: CREST, CREST_GEN (binaries), SRC (source tree).
set -euo pipefail
: "${CREST:?}" "${CREST_GEN:?}" "${SRC:?}"
T=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  exec 3>&- 2>/dev/null || true
  rm -rf "$T"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*" >&2
  for f in "$T"/*.err; do [ -f "$f" ] && { echo "== $f" >&2; tail -n 5 "$f" >&2; }; done
  exit 1
}

# until_within SECONDS COMMAND...: 0 once COMMAND succeeds, 1 after SECONDS.
until_within() {
  local end=$((SECONDS + $1))
  shift
  until "$@"; do
    [ $SECONDS -lt $end ] || return 1
    sleep 0.05
  done
}
has_lines() { [ "$(grep -c '^' "$1" 2>/dev/null || true)" -ge "$2" ]; }
has_text() { grep -q "$2" "$1" 2>/dev/null; }

# Policy 1: Order 251 (decisions independent of the other rows, so the
# comparison below does not depend on where the reload fell). Policy 2: Order
# 251 with the selection criteria (another seed, scales and the risk layer).
# Broken: not a policy.
cp "$SRC/policies/order251.conf" "$T/p1.conf"
sed -e "s|^criteria *=.*|criteria = $SRC/models/criteria/order251_rules.csv|" -e "s|^file = fx_usd.csv|file = $SRC/policies/fx_usd.csv|" \
  "$SRC/policies/order251_rules.conf" >"$T/p2.conf"
printf '[tiers]\nnot a policy\n' >"$T/broken.conf"
# Valid, but another output shape than the running input's: refused too.
sed 's/^passthrough *=.*/passthrough = none/' "$T/p2.conf" >"$T/reshaped.conf"
grep -q '^passthrough = none' "$T/reshaped.conf" || printf '[output]\npassthrough = none\n' >>"$T/reshaped.conf"
h1=$("$CREST" check --policy "$T/p1.conf" 2>/dev/null | grep -o '[0-9a-f]\{16\}' | head -1)
h2=$("$CREST" check --policy "$T/p2.conf" 2>/dev/null | grep -o '[0-9a-f]\{16\}' | head -1)
[ -n "$h1" ] && [ -n "$h2" ] && [ "$h1" != "$h2" ] || fail "policy hashes '$h1' and '$h2'"

"$CREST_GEN" --rows 300 --seed 19 --start 2025-03-01 --days 3 --firms 60 --newline-share 0 -o "$T/in.csv" 2>/dev/null
head -n 1 "$T/in.csv" >"$T/header"
sed -n '2,101p' "$T/in.csv" >"$T/part1"
sed -n '102,201p' "$T/in.csv" >"$T/part2"
sed -n '202,301p' "$T/in.csv" >"$T/part3"
# What each policy decides on every row (decisions do not depend on the other rows).
"$CREST" run --no-progress -q --policy "$T/p1.conf" "$T/in.csv" >"$T/all1.full"
head -n 1 "$T/all1.full" >"$T/all1.hdr"
tail -n +2 "$T/all1.full" >"$T/all1"
"$CREST" run --no-progress -q --policy "$T/p2.conf" "$T/in.csv" | tail -n +2 >"$T/all2"
[ "$(grep -c "$h2" "$T/all2")" = 300 ] || fail "crest run under policy 2"
cmp -s "$T/all1" "$T/all2" && fail "the two policies decide alike: the test would prove nothing"

run_case() {
  local name=$1 threads=$2
  cp "$T/p1.conf" "$T/$name.conf"
  mkfifo "$T/$name.in"
  "$CREST" run --no-progress --threads "$threads" --policy "$T/$name.conf" <"$T/$name.in" \
    >"$T/$name.out" 2>"$T/$name.err" &
  local pid=$!
  PIDS+=($pid)
  exec 3>"$T/$name.in" # the writer keeps the pipe open
  cat "$T/header" "$T/part1" >&3
  until_within 30 has_lines "$T/$name.out" 101 || fail "$name: the first 100 decisions did not come"
  cp "$T/p2.conf" "$T/$name.conf.new" && mv "$T/$name.conf.new" "$T/$name.conf"
  kill -HUP "$pid"
  until_within 30 has_text "$T/$name.err" "policy reloaded (1 so far)" || fail "$name: no reload line"
  cat "$T/part2" >&3
  until_within 30 has_lines "$T/$name.out" 201 || fail "$name: the next 100 decisions did not come"
  cp "$T/broken.conf" "$T/$name.conf.new" && mv "$T/$name.conf.new" "$T/$name.conf"
  kill -HUP "$pid"
  until_within 30 has_text "$T/$name.err" "reload refused (1 so far)" || fail "$name: the broken policy was not refused"
  cp "$T/reshaped.conf" "$T/$name.conf.new" && mv "$T/$name.conf.new" "$T/$name.conf"
  kill -HUP "$pid"
  until_within 30 has_text "$T/$name.err" "reload refused (2 so far)" || fail "$name: the reshaped policy was not refused"
  grep -q 'changes \[output\]' "$T/$name.err" || fail "$name: the refusal does not say what changed"
  cat "$T/part3" >&3
  exec 3>&-
  wait "$pid" || fail "$name: crest run failed"
  # Header, then 100 decisions by policy 1 and 200 by policy 2, each as that policy decides the row.
  [ "$(head -n 1 "$T/$name.out")" = "$(head -n 1 "$T/all1.hdr")" ] || fail "$name: the header"
  { head -n 100 "$T/all1"; tail -n +101 "$T/all2"; } >"$T/$name.want"
  tail -n +2 "$T/$name.out" >"$T/$name.got"
  cmp -s "$T/$name.want" "$T/$name.got" || {
    diff "$T/$name.want" "$T/$name.got" | head -4 >&2
    fail "$name: the decisions are not policy 1's then policy 2's"
  }
  [ "$(grep -c ",$h1," "$T/$name.got")" = 100 ] || fail "$name: not 100 decisions carry $h1"
  [ "$(grep -c ",$h2," "$T/$name.got")" = 200 ] || fail "$name: not 200 decisions carry $h2"
  grep -q "rows in 300 = decisions 300 + rejects 0" "$T/$name.err" || fail "$name: rows in != decisions + rejects"
  grep -q "policy order251-rules ($h2)" "$T/$name.err" || fail "$name: the summary does not name the policy in force"
  echo "$name: 100 decisions by $h1, then 200 by $h2 (a broken and a reshaped policy refused), each as crest run decides"
}

run_case reload1 1
run_case reload2 2
