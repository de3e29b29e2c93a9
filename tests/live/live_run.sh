#!/usr/bin/env bash
# live_run.sh — `crest run` on a feed whose pipe stays open: a row that
# arrives alone is decided and written without waiting for more input or for
# the end (quiet time, default 10 ms), with --flush-every 1 too; with both off
# the decision waits (which shows the test can tell the difference).
# Environment: CREST (binary), SRC (source tree).
set -euo pipefail
: "${CREST:?}" "${SRC:?}"
T=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  exec 3>&- 2>/dev/null || true
  rm -rf "$T"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

header=$(head -1 "$SRC/datasets/samples/demo.csv")
row1=$(sed -n 2p "$SRC/datasets/samples/demo.csv")
row2=$(sed -n 3p "$SRC/datasets/samples/demo.csv")

# lines_within FILE N SECONDS: 0 when FILE has N lines within SECONDS.
lines_within() {
  local end=$((SECONDS + $3))
  while [ $SECONDS -le $end ]; do
    local n
    n=$(grep -c '^' "$1" 2>/dev/null) || true
    [ "${n:-0}" -ge "$2" ] && return 0
    sleep 0.05
  done
  return 1
}

# run_case NAME THREADS EXPECT(yes|no) [crest run options...]
run_case() {
  local name=$1 threads=$2 expect=$3
  shift 3
  mkfifo "$T/$name.in"
  "$CREST" run --no-progress -q --threads "$threads" "$@" <"$T/$name.in" >"$T/$name.out" &
  local pid=$!
  PIDS+=($pid)
  exec 3>"$T/$name.in" # the writer keeps the pipe open
  printf '%s\n%s\n' "$header" "$row1" >&3
  # Expected: within 30 s (a deadline that only a failure reaches); not expected: none in 3 s.
  if lines_within "$T/$name.out" 2 "$([ "$expect" = yes ] && echo 30 || echo 3)"; then got=yes; else got=no; fi
  [ "$got" = "$expect" ] || fail "$name: decision of a lone row written while the pipe is open: $got, expected $expect"
  printf '%s\n' "$row2" >&3
  if [ "$expect" = yes ]; then
    lines_within "$T/$name.out" 3 30 || fail "$name: the second row's decision did not come"
  fi
  exec 3>&-
  wait "$pid" || fail "$name: crest run failed"
  [ "$(grep -c '^' "$T/$name.out")" = 3 ] || fail "$name: not header + 2 decisions at the end"
  # The same bytes as a run on the file.
  printf '%s\n%s\n%s\n' "$header" "$row1" "$row2" | "$CREST" run --no-progress -q --threads "$threads" "$@" >"$T/$name.want"
  cmp -s "$T/$name.want" "$T/$name.out" || fail "$name: bytes differ from a run on the same rows"
  echo "$name: ok"
}

run_case quiet1 1 yes
run_case quiet2 2 yes
run_case rules2 2 yes --policy "$SRC/policies/order251_rules.conf"
run_case line1 1 yes --quiet-ms 0 --flush-every 1
run_case line2 2 yes --quiet-ms 0 --flush-every 1
run_case off1 1 no --quiet-ms 0
