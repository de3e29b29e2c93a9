#!/usr/bin/env bash
# serve_test.sh CASE — crest serve against a real nats-server that this script
# starts on loopback (a free block of ports in 42xx-43xx, JetStream in a temporary directory) and
# stops at the end. Cases:
#   basic     CSV and JSON messages, rejects, byte-identical to `crest run`,
#             /metrics, /healthz, /readyz, /decide refused without the token,
#             --watch-policy (a new file taken, a broken one refused), SIGTERM exit 0
#   reload    hot reload under load: every decision carries the hash of the
#             policy that made it, none lost or doubled, a broken policy refused
#   capacity  two instances, one shared cap per office-day: never more RED
#   poison    a message that can never go through is handed back without blocking
#             the others, then rejected REDELIVERED with its reason (cut to fit)
#   security  users with passwords over TLS (a CA and server certificate made now
#             with openssl): right credentials work, wrong or no TLS CA are refused
#   nkeysig   a fake server whose nonce the user's seed (an nkey seed, then a
#             credentials file) signs with a zero first byte (libnats before 3.8
#             would send CONNECT without the signature): no such CONNECT, the
#             connection is made again with the next nonce, and its CONNECT
#             carries the signature (and the JWT)
#   cluster   3-node JetStream cluster, 200,000 declarations, two instances, one
#             SIGKILLed and restarted, one server SIGKILLed and restarted: exactly one
#             decision per declaration, identical to `crest run`, in = decisions + rejects
# Environment: CREST, CREST_GEN, NATS_TOOL (binaries), SRC (source tree).
set -euo pipefail
CASE=$1
: "${CREST:?}" "${CREST_GEN:?}" "${NATS_TOOL:?}" "${SRC:?}"
T=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ "${KEEP:-0}" = 1 ]; then echo "kept $T"; else rm -rf "$T"; fi
  [ -z "$PORT_LOCK" ] || rmdir "$PORT_LOCK" 2>/dev/null || true
}
trap cleanup EXIT
fail() {
  echo "FAIL ($CASE): $*" >&2
  for f in "$T"/*.log; do [ -f "$f" ] && { echo "== $f" >&2; tail -n 20 "$f" >&2; }; done
  exit 1
}

# Waits are for conditions; their deadlines (generous, so that a loaded machine
# or a sanitizer build only makes them slower) matter only when a test fails.
wait_port() { # wait_port PORT: until something listens (30 s)
  for _ in $(seq 1 300); do
    (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0
    sleep 0.1
  done
  fail "nothing listens on port $1"
}

# start_nats NAME PORT [extra args...]: a single JetStream server.
start_nats() {
  local name=$1 port=$2
  shift 2
  nats-server -js -a 127.0.0.1 -p "$port" -sd "$T/js-$name" "$@" >"$T/nats-$name.log" 2>&1 &
  PIDS+=($!)
  eval "NATS_PID_$name=$!"
  wait_port "$port"
}

# start_serve NAME [args...]: a crest serve in the background, its PID in SERVE_PID_NAME.
start_serve() {
  local name=$1
  shift
  "$CREST" serve "$@" >>"$T/serve-$name.log" 2>&1 &
  PIDS+=($!)
  eval "SERVE_PID_$name=$!"
}

# wait_log FILE PATTERN: until the pattern appears (60 s).
wait_log() {
  for _ in $(seq 1 600); do
    grep -q "$2" "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  fail "'$2' never appeared in $1"
}

# expect_same NAME RUN_CSV GOT: the decision rows of a crest run (header
# dropped) and those from the stream, sorted, byte for byte.
expect_same() {
  tail -n +2 "$2" | LC_ALL=C sort >"$T/$1.want"
  LC_ALL=C sort "$3" >"$T/$1.got"
  cmp -s "$T/$1.want" "$T/$1.got" || {
    diff "$T/$1.want" "$T/$1.got" | head -5 >&2
    fail "$1: the decisions differ from crest run's"
  }
}

# Ports: every worktree of the project may run these tests at the same time,
# so a case takes a block of 10 free ports B..B+9 in 42xx-43xx (among the
# blocks that fixed ports of earlier versions of this script and the latency
# bench do not use), claimed with a lock directory (mkdir is atomic) and
# checked that nothing listens there; released at exit. A lock older than an
# hour is a killed run's and is taken over.
claim_ports() {
  local blocks=(4200 4280 4290 4310 4320 4330 4340 4350 4360 4370 4380 4390)
  local n=${#blocks[@]} first=$((RANDOM % ${#blocks[@]}))
  find "${TMPDIR:-/tmp}" -maxdepth 1 -name 'crest-serve-ports-*' -mmin +60 -exec rmdir {} + 2>/dev/null || true
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    for k in $(seq 0 $((n - 1))); do
      local b=${blocks[$(((first + k) % n))]} lock busy=0
      lock="${TMPDIR:-/tmp}/crest-serve-ports-$b"
      mkdir "$lock" 2>/dev/null || continue
      for p in $(seq "$b" $((b + 9))); do
        (exec 3<>/dev/tcp/127.0.0.1/"$p") 2>/dev/null && busy=1
      done
      if [ $busy = 0 ]; then
        B=$b
        PORT_LOCK=$lock
        return 0
      fi
      rmdir "$lock"
    done
    sleep 3
  done
  fail "no free block of 10 ports in 42xx-43xx"
}
PORT_LOCK=
claim_ports

U=nats://127.0.0.1
# The shipped Order 251 policy (its monthly floor is order-independent: a
# service may serve it; floor_period, which tops up by row order, it refuses).
POLICY=$SRC/policies/order251.conf

case "$CASE" in
basic)
  start_nats a $((B + 1))
  echo secret-token-4212 >"$T/token"
  "$CREST_GEN" --rows 3000 --seed 11 --start 2025-03-01 --days 5 --firms 400 -o "$T/in.csv" 2>/dev/null
  # Two rows that are rejected (empty id, a field too many), to the same accounting.
  header=$(head -1 "$T/in.csv")
  printf ',2025-03-01,1900,E,X,Y,AEO,,0202200000,CN,CN,RAIL,1,CNY,1,1,beef,0,0\n' >>"$T/in.csv"
  printf 'Z1,2025-03-01,1900,E,X,Y,AEO,,0202200000,CN,CN,RAIL,1,CNY,1,1,beef,0,0,extra\n' >>"$T/in.csv"
  cp "$POLICY" "$T/watched.conf"
  start_serve a --policy "$T/watched.conf" --watch-policy --nats $U:$((B + 1)) --input decl.in --output decl.out \
    --create-streams --http $((B + 2)) --token-file "$T/token" --ack-wait 5
  wait_log "$T/serve-a.log" "event=started"
  # curl's whole answer first, then grep: with pipefail, `curl | grep -q` fails
  # whenever grep stops reading before curl has written everything (curl exit 23).
  grep -q ok <<<"$(curl -sf http://127.0.0.1:$((B + 2))/healthz)" || fail "/healthz"
  grep -q ready <<<"$(curl -sf http://127.0.0.1:$((B + 2))/readyz)" || fail "/readyz"
  "$NATS_TOOL" pub $U:$((B + 1)) decl.in "$T/in.csv" 2>"$T/pub.log" || fail "publishing"
  "$CREST" run --no-progress --policy "$POLICY" -o "$T/run.csv" --rejects "$T/run-rej.csv" "$T/in.csv" 2>"$T/run.txt"
  want_dec=$(grep -o 'decisions [0-9]*' "$T/run.txt" | head -1 | cut -d' ' -f2)
  [ "$want_dec" -ge 3000 ] || fail "crest run decided $want_dec"
  "$NATS_TOOL" dump $U:$((B + 1)) DECISIONS decl.out "$T/got.csv" "$want_dec" 30 2>>"$T/dump.log" ||
    fail "decisions: $(tail -1 "$T/dump.log")"
  "$NATS_TOOL" dump $U:$((B + 1)) DECISIONS decl.out.rejects "$T/got-rej.csv" 2 10 2>>"$T/dump.log" ||
    fail "rejects: $(tail -1 "$T/dump.log")"
  expect_same basic "$T/run.csv" "$T/got.csv"
  grep -q '^MISSING_ID,' "$T/got-rej.csv" || fail "no MISSING_ID rejection"
  grep -q '^COLUMN_COUNT,' "$T/got-rej.csv" || fail "no COLUMN_COUNT rejection"
  echo "basic: $want_dec decisions identical to crest run, 2 rejects"
  # JSON messages: decided with the keys as the header, the same bytes as crest run on that CSV.
  printf '{"decl_id":"J-1","decl_date":"2025-03-02","credit_tier":"DISHONEST","declared_value":1250.5}' >"$T/j1"
  "$NATS_TOOL" pub1 $U:$((B + 1)) decl.in "$T/j1" || fail "publishing JSON"
  printf 'decl_id,decl_date,credit_tier,declared_value\nJ-1,2025-03-02,DISHONEST,1250.5\n' >"$T/j1.csv"
  "$CREST" run --no-progress --policy "$POLICY" -o "$T/j1-run.csv" "$T/j1.csv" 2>/dev/null
  "$NATS_TOOL" dump $U:$((B + 1)) DECISIONS decl.out "$T/got2.csv" $((want_dec + 1)) 10 2>>"$T/dump.log" ||
    fail "JSON decision missing"
  grep -qxF "$(tail -1 "$T/j1-run.csv")" "$T/got2.csv" || fail "JSON decision differs from crest run's"
  # Not JSON, not CSV: a rejection, never a stuck consumer.
  printf '{"decl_id": [1,2]}' >"$T/j2"
  "$NATS_TOOL" pub1 $U:$((B + 1)) decl.in "$T/j2" || fail "publishing"
  "$NATS_TOOL" dump $U:$((B + 1)) DECISIONS decl.out.rejects "$T/got-rej2.csv" 3 10 2>>"$T/dump.log" ||
    fail "BAD_JSON rejection missing"
  grep -q '^BAD_JSON,' "$T/got-rej2.csv" || fail "no BAD_JSON rejection"
  # Metrics while serving: per-tier counters and the policy hash.
  curl -sf http://127.0.0.1:$((B + 2))/metrics >"$T/metrics.txt" || fail "/metrics"
  hash=$("$CREST" check --policy "$POLICY" 2>/dev/null | grep -o '[0-9a-f]\{16\}' | head -1)
  grep -q "crest_decisions_total{tier=\"AEO\",policy_hash=\"$hash\"} [1-9]" "$T/metrics.txt" ||
    fail "no AEO decisions in /metrics"
  grep -q "crest_inspections_total{tier=\"DISHONEST\"" "$T/metrics.txt" || fail "no inspections per tier"
  grep -q 'crest_rejects_total{reason="MISSING_ID"} 1' "$T/metrics.txt" || fail "rejects by reason"
  grep -q 'crest_decision_latency_seconds_count [1-9]' "$T/metrics.txt" || fail "latency histogram"
  grep -q 'crest_realised_ratio{tier="AEO",base="REGULAR"}' "$T/metrics.txt" || fail "AEO/regular ratio"
  # /decide and /reload: refused without the token, answered with it.
  code=$(curl -s -o /dev/null -w '%{http_code}' -X POST --data-binary @"$T/j1" http://127.0.0.1:$((B + 2))/decide)
  [ "$code" = 401 ] || fail "/decide without a token answered $code"
  code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer wrong' -X POST http://127.0.0.1:$((B + 2))/reload)
  [ "$code" = 401 ] || fail "/reload with a wrong token answered $code"
  curl -sf -H "Authorization: Bearer $(cat "$T/token")" -X POST --data-binary @"$T/j1" \
    http://127.0.0.1:$((B + 2))/decide >"$T/decide.csv" || fail "/decide with the token"
  cmp -s "$T/decide.csv" <(tail -1 "$T/j1-run.csv") || fail "/decide differs from crest run"
  # A replay of the input stream from a date: a new consumer, its own output stream.
  start_serve r --policy "$POLICY" --nats $U:$((B + 1)) --input decl.in --output decl.replay --out-stream REPLAY \
    --durable replay --deliver-from 2000-01-01 --create-streams
  wait_log "$T/serve-r.log" "event=started"
  "$NATS_TOOL" dump $U:$((B + 1)) REPLAY decl.replay "$T/replay.csv" $((want_dec + 1)) 30 2>>"$T/dump.log" ||
    fail "replay from a date: $(tail -1 "$T/dump.log")"
  cmp -s <(LC_ALL=C sort "$T/replay.csv") <(LC_ALL=C sort "$T/got2.csv") || fail "the replay decided differently"
  # From now (after the last publish): nothing to decide.
  sleep 1
  start_serve f --policy "$POLICY" --nats $U:$((B + 1)) --input decl.in --output decl.future --out-stream FUTURE \
    --durable future --deliver-from "$(date -u +%Y-%m-%dT%H:%M:%SZ)" --create-streams
  wait_log "$T/serve-f.log" "event=started"
  sleep 1
  [ "$("$NATS_TOOL" count $U:$((B + 1)) FUTURE)" = 0 ] || fail "a consumer from now decided something"
  # --watch-policy: a new policy file is taken without a signal (every later decision
  # carries its hash), a broken one is refused and the one in force goes on.
  sed 's/^seed = .*/seed = 4213/' "$POLICY" >"$T/watched.new"
  hw=$("$CREST" check --policy "$T/watched.new" 2>/dev/null | grep -o '[0-9a-f]\{16\}' | head -1)
  mv "$T/watched.new" "$T/watched.conf"
  wait_log "$T/serve-a.log" "event=reload status=ok trigger=watch"
  grep -q "event=reload status=ok trigger=watch old_policy_hash=$hash policy_hash=$hw" "$T/serve-a.log" ||
    fail "the watched reload: $(grep 'event=reload' "$T/serve-a.log")"
  printf '{"decl_id":"J-3","decl_date":"2025-03-02","credit_tier":"AEO","declared_value":99}' >"$T/j3"
  "$NATS_TOOL" pub1 $U:$((B + 1)) decl.in "$T/j3" || fail "publishing JSON"
  "$NATS_TOOL" dump $U:$((B + 1)) DECISIONS decl.out "$T/got3.csv" $((want_dec + 2)) 10 2>>"$T/dump.log" ||
    fail "decision after the watched reload missing"
  grep -q "^J-3,.*,$hw," "$T/got3.csv" || fail "the decision after the watched reload does not carry $hw"
  printf '[tiers]\nbroken here\n' >"$T/watched.new" && mv "$T/watched.new" "$T/watched.conf"
  wait_log "$T/serve-a.log" "event=reload status=refused trigger=watch"
  grep -q "crest_policy_info{policy_hash=\"$hw\"} 1" <<<"$(curl -sf http://127.0.0.1:$((B + 2))/metrics)" ||
    fail "the broken watched policy replaced the one in force"
  # SIGTERM: the batch in hand is finished, exit 0.
  kill -TERM "$SERVE_PID_a"
  rc=0
  wait "$SERVE_PID_a" || rc=$?
  [ "$rc" = 0 ] || fail "exit $rc after SIGTERM"
  grep -q 'event=stopped' "$T/serve-a.log" || fail "no stopped line"
  echo "basic: JSON, BAD_JSON, /metrics, tokens, replay from a date, SIGTERM: ok"
  ;;

reload)
  start_nats a $((B + 1))
  "$CREST_GEN" --rows 20000 --seed 12 --start 2025-03-01 --days 5 --firms 400 --newline-share 0 -o "$T/in.csv" 2>/dev/null
  cp "$POLICY" "$T/p1.conf"
  sed 's/^seed = .*/seed = 777/' "$POLICY" >"$T/p2.conf"
  cp "$T/p1.conf" "$T/policy.conf"
  h1=$("$CREST" check --policy "$T/p1.conf" 2>/dev/null | grep -o '[0-9a-f]\{16\}' | head -1)
  h2=$("$CREST" check --policy "$T/p2.conf" 2>/dev/null | grep -o '[0-9a-f]\{16\}' | head -1)
  [ "$h1" != "$h2" ] || fail "the two policies have one hash"
  start_serve a --policy "$T/policy.conf" --nats $U:$((B + 1)) --input decl.in --output decl.out --create-streams \
    --http $((B + 2)) --batch 64
  wait_log "$T/serve-a.log" "event=started"
  # 20,000 declarations at 8,000/s; the policy changes mid-stream, then a broken one is refused.
  "$NATS_TOOL" pub $U:$((B + 1)) decl.in "$T/in.csv" 8000 2>"$T/pub.log" &
  PUB=$!
  sleep 1
  cp "$T/p2.conf" "$T/policy.conf.new" && mv "$T/policy.conf.new" "$T/policy.conf"
  kill -HUP "$SERVE_PID_a"
  wait_log "$T/serve-a.log" "event=reload status=ok"
  sleep 0.5
  printf '[tiers]\nbroken here\n' >"$T/policy.conf.new" && mv "$T/policy.conf.new" "$T/policy.conf"
  kill -HUP "$SERVE_PID_a"
  wait_log "$T/serve-a.log" "event=reload status=refused"
  wait "$PUB" || fail "publishing"
  "$NATS_TOOL" dump $U:$((B + 1)) DECISIONS decl.out "$T/got.csv" 20000 60 2>"$T/dump.log" ||
    fail "decisions: $(tail -1 "$T/dump.log")"
  # Each decision with its own policy's bytes: split by hash, compare with crest run under that policy.
  "$CREST" run --no-progress --policy "$T/p1.conf" -o "$T/run1.csv" "$T/in.csv" 2>/dev/null
  "$CREST" run --no-progress --policy "$T/p2.conf" -o "$T/run2.csv" "$T/in.csv" 2>/dev/null
  n1=$(grep -c ",$h1," "$T/got.csv" || true)
  n2=$(grep -c ",$h2," "$T/got.csv" || true)
  [ "$n1" -gt 0 ] && [ "$n2" -gt 0 ] || fail "decisions by policy: $n1 and $n2 (both should be > 0)"
  LC_ALL=C sort "$T/got.csv" >"$T/got.sorted"
  LC_ALL=C sort <(tail -n +2 "$T/run1.csv") <(tail -n +2 "$T/run2.csv") >"$T/both.sorted"
  # Every decision received is one of the two policies' decisions of that row ...
  extra=$(LC_ALL=C comm -23 "$T/got.sorted" "$T/both.sorted" | grep -c '^' || true)
  [ "$extra" = 0 ] || fail "$extra decisions match neither policy's crest run"
  # ... and every declaration has exactly one.
  ids=$(cut -d, -f1 "$T/got.csv" | LC_ALL=C sort | uniq | grep -c '^')
  [ "$ids" = 20000 ] || fail "$ids distinct declarations decided, not 20000"
  curl -sf http://127.0.0.1:$((B + 2))/metrics >"$T/metrics.txt"
  grep -q 'crest_reloads_total 1' "$T/metrics.txt" || fail "reloads counter"
  grep -q 'crest_reload_failures_total 1' "$T/metrics.txt" || fail "reload failures counter"
  grep -q "crest_policy_info{policy_hash=\"$h2\"} 1" "$T/metrics.txt" || fail "the refused policy replaced the old one"
  echo "reload: 20000 decisions, $n1 by $h1 and $n2 by $h2, each as crest run under its policy; broken policy refused"
  ;;

security)
  # A CA and a server certificate for 127.0.0.1, made now; a user with a password.
  openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=crest test CA" \
    -keyout "$T/ca.key" -out "$T/ca.pem" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout "$T/server.key" -out "$T/server.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1\n' >"$T/san.ext"
  openssl x509 -req -in "$T/server.csr" -CA "$T/ca.pem" -CAkey "$T/ca.key" -CAcreateserial -days 1 \
    -extfile "$T/san.ext" -out "$T/server.pem" 2>/dev/null
  cat >"$T/secure.conf" <<EOF2
listen: 127.0.0.1:$((B + 1))
jetstream { store_dir: "$T/js-secure" }
tls { cert_file: "$T/server.pem", key_file: "$T/server.key" }
authorization { users = [ { user: crest, password: "pw-4241-right" } ] }
EOF2
  nats-server -c "$T/secure.conf" >"$T/nats-secure.log" 2>&1 &
  PIDS+=($!)
  wait_port $((B + 1))
  printf 'pw-4241-right\n' >"$T/pw"
  printf 'pw-4241-wrong\n' >"$T/pw-wrong"
  args=(--policy "$POLICY" --nats nats://127.0.0.1:$((B + 1)) --input decl.in --output decl.out --create-streams)
  # Wrong password, and no CA for the server's certificate: refused (exit 4), nothing started.
  rc=0
  timeout 20 "$CREST" serve "${args[@]}" --nats-user crest --nats-password-file "$T/pw-wrong" --tls-ca "$T/ca.pem" \
    >"$T/wrong.log" 2>&1 || rc=$?
  [ "$rc" = 4 ] || fail "a wrong password gave exit $rc, not 4"
  grep -qi "author" "$T/wrong.log" || fail "the refusal does not say why: $(cat "$T/wrong.log")"
  # Files it cannot read are configuration (exit 2), named, before any connection: the
  # policy, a password file.
  rc=0
  timeout 20 "$CREST" serve --policy "$T/no-such-policy.conf" --nats nats://127.0.0.1:$((B + 1)) \
    --input decl.in --output decl.out >"$T/nopolicy.log" 2>&1 || rc=$?
  [ "$rc" = 2 ] || fail "a missing policy file gave exit $rc, not 2"
  grep -q "no-such-policy.conf" "$T/nopolicy.log" || fail "the refusal does not name the policy: $(cat "$T/nopolicy.log")"
  rc=0
  timeout 20 "$CREST" serve "${args[@]}" --nats-user crest --nats-password-file "$T/no-such-pw" --tls-ca "$T/ca.pem" \
    >"$T/nopw.log" 2>&1 || rc=$?
  [ "$rc" = 2 ] || fail "a missing password file gave exit $rc, not 2"
  grep -q "no-such-pw" "$T/nopw.log" || fail "the refusal does not name the password file: $(cat "$T/nopw.log")"
  rc=0
  timeout 20 "$CREST" serve "${args[@]}" --nats-user crest --nats-password-file "$T/pw" >"$T/notls.log" 2>&1 || rc=$?
  [ "$rc" = 4 ] || fail "without the CA certificate: exit $rc, not 4"
  # Right user, password and CA: serves.
  start_serve s "${args[@]}" --nats-user crest --nats-password-file "$T/pw" --tls-ca "$T/ca.pem" --http $((B + 2))
  wait_log "$T/serve-s.log" "event=started"
  head -n 51 "$SRC/datasets/samples/demo.csv" >"$T/in.csv"
  # The test's own client speaks TLS with the same user (URL credentials, CA via env).
  SURL=nats://crest:pw-4241-right@127.0.0.1:$((B + 1))
  NATS_TOOL_CA="$T/ca.pem" "$NATS_TOOL" pub $SURL decl.in "$T/in.csv" 2>"$T/pub.log" || fail "publishing over TLS"
  NATS_TOOL_CA="$T/ca.pem" "$NATS_TOOL" dump $SURL DECISIONS decl.out "$T/got.csv" 50 20 2>"$T/dump.log" ||
    fail "decisions over TLS: $(tail -1 "$T/dump.log")"
  "$CREST" run --no-progress --policy "$POLICY" -o "$T/run.csv" "$T/in.csv" 2>/dev/null
  expect_same security "$T/run.csv" "$T/got.csv"
  # /decide is refused without a token configured (403), and --http listens on loopback only.
  code=$(curl -s -o /dev/null -w '%{http_code}' -X POST --data-binary @"$T/in.csv" http://127.0.0.1:$((B + 2))/decide)
  [ "$code" = 403 ] || fail "/decide without a configured token answered $code, not 403"
  # Listening sockets of port $((B + 2)) (hex in /proc/net/tcp): one, on 127.0.0.1.
  hexport=$(printf '%04X' $((B + 2)))
  listen=$(awk 'NR > 1 && $4 == "0A" {print $2}' /proc/net/tcp /proc/net/tcp6 2>/dev/null | grep -ic ":$hexport\$" || true)
  local_only=$(awk 'NR > 1 && $4 == "0A" {print $2}' /proc/net/tcp | grep -ic "^0100007F:$hexport\$" || true)
  [ "$listen" = 1 ] && [ "$local_only" = 1 ] ||
    fail "--http $((B + 2)) does not listen on 127.0.0.1 only ($listen listening, $local_only on 127.0.0.1)"
  echo "security: wrong password and missing CA refused (exit 4); user, password and TLS: 50 decisions as crest run's; HTTP on loopback; /decide 403 without a token"
  # --nats-creds with an nkey user: the server lists the public key, crest holds the seed.
  pub=$("$NATS_TOOL" nkey "$T/user.nk") || fail "making an nkey user"
  "$NATS_TOOL" nkey "$T/stranger.nk" >/dev/null || fail "making a second nkey"
  cat >"$T/nkey.conf" <<EOF2
listen: 127.0.0.1:$((B + 3))
jetstream { store_dir: "$T/js-nkey" }
tls { cert_file: "$T/server.pem", key_file: "$T/server.key" }
authorization { users = [ { nkey: $pub } ] }
EOF2
  nats-server -c "$T/nkey.conf" >"$T/nats-nkey.log" 2>&1 &
  PIDS+=($!)
  wait_port $((B + 3))
  nargs=(--policy "$POLICY" --nats nats://127.0.0.1:$((B + 3)) --input decl.in --output decl.out --create-streams
    --tls-ca "$T/ca.pem")
  rc=0
  timeout 20 "$CREST" serve "${nargs[@]}" --nats-creds "$T/stranger.nk" >"$T/stranger.log" 2>&1 || rc=$?
  [ "$rc" = 4 ] || fail "an nkey the server does not know gave exit $rc, not 4"
  grep -qi "author" "$T/stranger.log" || fail "the refusal does not say why: $(cat "$T/stranger.log")"
  rc=0
  timeout 20 "$CREST" serve "${nargs[@]}" --nats-creds "$T/pw" >"$T/notcreds.log" 2>&1 || rc=$?
  [ "$rc" = 2 ] || fail "a file that holds no credentials gave exit $rc, not 2"
  rc=0
  timeout 20 "$CREST" serve "${nargs[@]}" >"$T/nocreds.log" 2>&1 || rc=$?
  [ "$rc" = 4 ] || fail "no credentials gave exit $rc, not 4"
  start_serve k "${nargs[@]}" --nats-creds "$T/user.nk"
  wait_log "$T/serve-k.log" "event=started"
  NATS_TOOL_CA="$T/ca.pem" NATS_TOOL_SEED="$T/user.nk" "$NATS_TOOL" pub nats://127.0.0.1:$((B + 3)) decl.in "$T/in.csv" \
    2>"$T/pub-nkey.log" || fail "publishing as the nkey user"
  NATS_TOOL_CA="$T/ca.pem" NATS_TOOL_SEED="$T/user.nk" "$NATS_TOOL" dump nats://127.0.0.1:$((B + 3)) DECISIONS decl.out \
    "$T/got-nkey.csv" 50 20 2>"$T/dump-nkey.log" || fail "decisions as the nkey user: $(tail -1 "$T/dump-nkey.log")"
  expect_same security-nkey "$T/run.csv" "$T/got-nkey.csv"
  echo "security: --nats-creds with an nkey user seed over TLS: 50 decisions as crest run's; unknown nkey refused (exit 4), a file without credentials refused (exit 2)"
  # --nats-creds with a credentials file (user JWT and seed) against an operator-mode
  # server: what nsc would make, made by make_creds.py.
  mkdir "$T/op"
  python3 "$SRC/tests/serve/make_creds.py" "$T/op" || fail "making the operator, accounts and users"
  cat >"$T/op.conf" <<EOF2
listen: 127.0.0.1:$((B + 4))
jetstream { store_dir: "$T/js-op" }
operator: "$T/op/operator.jwt"
include "op/resolver.conf" # relative to this file
EOF2
  nats-server -c "$T/op.conf" >"$T/nats-op.log" 2>&1 &
  PIDS+=($!)
  wait_port $((B + 4))
  oargs=(--policy "$POLICY" --nats nats://127.0.0.1:$((B + 4)) --input decl.in --output decl.out --create-streams)
  rc=0
  timeout 20 "$CREST" serve "${oargs[@]}" --nats-creds "$T/op/stranger.creds" >"$T/op-stranger.log" 2>&1 || rc=$?
  [ "$rc" = 4 ] || fail "a user of an account the server does not know gave exit $rc, not 4"
  grep -qi "author" "$T/op-stranger.log" || fail "the refusal does not say why: $(cat "$T/op-stranger.log")"
  start_serve j "${oargs[@]}" --nats-creds "$T/op/user.creds"
  wait_log "$T/serve-j.log" "event=started"
  kill -TERM "$SERVE_PID_j"
  rc=0
  wait "$SERVE_PID_j" || rc=$?
  [ "$rc" = 0 ] || fail "the JWT user's crest serve: exit $rc after SIGTERM"
  echo "security: --nats-creds with a user JWT (operator mode): streams made and served, SIGTERM exit 0; a user of an unknown account refused (exit 4)"
  ;;

capacity)
  # Two instances share one cap of RED per office and day through the KV bucket.
  start_nats a $((B + 1))
  cat >"$T/cap.conf" <<'EOF2'
[policy]
name = capacity-test
seed = 9
[tiers]
order = AEO, REGULAR, DISHONEST
base = REGULAR
[tier REGULAR]
rate = 0.3
[tier AEO]
ratio = 0.2
[tier DISHONEST]
rate = 0.8
floor = yes
[capacity]
red_per_office_day = 20
EOF2
  N=6000
  "$CREST_GEN" --rows $N --seed 13 --start 2025-03-01 --days 3 --firms 300 --newline-share 0 -o "$T/in.csv" 2>/dev/null
  args=(--policy "$T/cap.conf" --nats $U:$((B + 1)) --input decl.in --output decl.out --create-streams --format jsonl
    --batch 32)
  start_serve a "${args[@]}" --http $((B + 2))
  wait_log "$T/serve-a.log" "event=started"
  start_serve b "${args[@]}" --http $((B + 3))
  wait_log "$T/serve-b.log" "event=started"
  # The first half while both run, the second after a stops (SIGTERM): b then decides it
  # alone, against the counts a left in the bucket.
  head -n 3001 "$T/in.csv" >"$T/in1.csv"
  { head -n 1 "$T/in.csv"; tail -n +3002 "$T/in.csv"; } >"$T/in2.csv"
  "$NATS_TOOL" pub $U:$((B + 1)) decl.in "$T/in1.csv" 3000 2>"$T/pub.log" || fail "publishing"
  "$NATS_TOOL" dump $U:$((B + 1)) DECISIONS decl.out "$T/half.jsonl" 3000 60 2>"$T/dump.log" || fail "first half"
  kill -TERM "$SERVE_PID_a"
  wait "$SERVE_PID_a" || fail "a did not stop cleanly"
  "$NATS_TOOL" pub $U:$((B + 1)) decl.in "$T/in2.csv" 2>>"$T/pub.log" || fail "publishing"
  "$NATS_TOOL" dump $U:$((B + 1)) DECISIONS decl.out "$T/got.jsonl" $N 60 2>"$T/dump.log" ||
    fail "decisions: $(tail -1 "$T/dump.log")"
  grep -q 'event=started' "$T/serve-b.log" || fail "b did not start"
  # lane, day, office of each decision: RED per office-day never over the cap, but for
  # selections that may not be deferred (a floor tier, a forcing criterion), which stay
  # RED flagged OVERFLOW as in crest run.
  grep -v '"OVERFLOW"' "$T/got.jsonl" |
    sed -n 's/.*"lane":"\([A-Z]*\)".*"decl_date":"\([^"]*\)".*"office":"\([^"]*\)".*/\1 \2 \3/p' >"$T/lanes"
  [ "$(grep -c '^' "$T/lanes")" -ge $((N * 9 / 10)) ] || fail "could not read lane, day and office of the decisions"
  worst=$(grep '^RED ' "$T/lanes" | sort | uniq -c | sort -rn | head -1 | awk '{print $1}')
  [ "$worst" -le 20 ] || fail "an office-day has $worst RED (not OVERFLOW), over the cap of 20"
  [ "$worst" = 20 ] || fail "no office-day reached the cap: the test proves nothing"
  overflow=$(grep -c '"OVERFLOW"' "$T/got.jsonl" || true)
  bad=$(grep '"OVERFLOW"' "$T/got.jsonl" | grep -vc '"TIER_FLOOR"' || true)
  [ "$bad" = 0 ] || fail "$bad OVERFLOW decisions that are not floor selections"
  deferred=$(grep -c '"CAPACITY"' "$T/got.jsonl" || true)
  [ "$deferred" -gt 0 ] || fail "the cap never bit: the test proves nothing"
  ids=$(grep -o '"decl_id":"[^"]*"' "$T/got.jsonl" | sort -u | grep -c '^')
  [ "$ids" = $N ] || fail "$ids distinct declarations decided, not $N"
  curl -sf http://127.0.0.1:$((B + 3))/metrics >"$T/metrics-b.txt" || fail "b: /metrics: curl exit $?"
  grep -q "^crest_messages_acked_total [1-9]" "$T/metrics-b.txt" || fail "b decided nothing: $(grep acked "$T/metrics-b.txt")"
  echo "capacity: $N decisions by two instances, at most $worst deferrable RED per office-day (cap 20)," \
    "$deferred deferred (CAPACITY), $overflow floor selections over the cap (OVERFLOW)"
  ;;

poison)
  # A message that cannot go through: its decision is larger than the server's
  # max_payload (4 KiB here), so every publish of it fails and it is handed back.
  cat >"$T/small.conf" <<EOF2
listen: 127.0.0.1:$((B + 1))
max_payload: 4096
jetstream { store_dir: "$T/js-small" }
EOF2
  nats-server -c "$T/small.conf" >"$T/nats-small.log" 2>&1 &
  PIDS+=($!)
  wait_port $((B + 1))
  args=(--policy "$POLICY" --nats $U:$((B + 1)) --input decl.in --output decl.out --create-streams --http $((B + 2)))
  # Delivered up to 1000 times (minutes with the back-off): the poison message stays in
  # play while the rest go through, which a blocked consumer could not do.
  start_serve a "${args[@]}" --max-deliveries 1000
  wait_log "$T/serve-a.log" "event=started"
  # The message fits 4 KiB (about 4,080 bytes); its decision, with the decision columns, does not.
  desc=$(head -c 3990 /dev/zero | tr '\0' 'x')
  printf '{"decl_id":"POISON-1","decl_date":"2025-03-02","credit_tier":"REGULAR","goods_desc":"%s"}' "$desc" >"$T/big.json"
  "$NATS_TOOL" pub1 $U:$((B + 1)) decl.in "$T/big.json" || fail "publishing the large declaration"
  wait_log "$T/serve-a.log" "event=handed_back"
  "$CREST_GEN" --rows 300 --seed 17 --start 2025-03-01 --days 2 --firms 50 --newline-share 0 -o "$T/in.csv" 2>/dev/null
  "$NATS_TOOL" pub $U:$((B + 1)) decl.in "$T/in.csv" 2>"$T/pub.log" || fail "publishing"
  "$NATS_TOOL" dump $U:$((B + 1)) DECISIONS decl.out "$T/got.csv" 300 60 2>"$T/dump.log" ||
    fail "the declarations after the poison message: $(tail -1 "$T/dump.log")"
  [ "$("$NATS_TOOL" count $U:$((B + 1)) DECISIONS)" = 300 ] || fail "the poison message left before the others were decided"
  curl -sf http://127.0.0.1:$((B + 2))/metrics >"$T/metrics-a.txt" || fail "/metrics"
  handed=$(grep '^crest_messages_handed_back_total' "$T/metrics-a.txt" | cut -d' ' -f2)
  [ "$handed" -ge 2 ] || fail "the poison message was handed back $handed times"
  # An instance allowing 3 deliveries sends it to the rejects, with its reason, cut to fit.
  kill -TERM "$SERVE_PID_a"
  wait "$SERVE_PID_a" || fail "a did not stop cleanly"
  start_serve b "${args[@]}" --max-deliveries 3
  wait_log "$T/serve-b.log" "event=started"
  "$NATS_TOOL" dump $U:$((B + 1)) DECISIONS decl.out.rejects "$T/rej.csv" 1 60 2>>"$T/dump.log" ||
    fail "no rejection of the poison message: $(tail -1 "$T/dump.log")"
  grep -q '^REDELIVERED,"{""decl_id"":""POISON-1""' "$T/rej.csv" || fail "the rejection: $(head -c 200 "$T/rej.csv")"
  [ "$(wc -c <"$T/rej.csv")" -lt 4096 ] || fail "the rejection does not fit max_payload"
  "$CREST" run --no-progress --policy "$POLICY" -o "$T/run.csv" "$T/in.csv" 2>/dev/null
  expect_same poison "$T/run.csv" "$T/got.csv"
  # in = decisions + rejects: 301 = 300 + 1, and nothing more comes.
  sleep 1
  [ "$("$NATS_TOOL" count $U:$((B + 1)) DECL)" = 301 ] || fail "the input stream does not hold 301 messages"
  [ "$("$NATS_TOOL" count $U:$((B + 1)) DECISIONS)" = 301 ] || fail "not 300 decisions + 1 rejection"
  curl -sf http://127.0.0.1:$((B + 2))/metrics >"$T/metrics-b.txt" || fail "/metrics of b"
  grep -q '^crest_rejects_total{reason="REDELIVERED"} 1$' "$T/metrics-b.txt" || fail "REDELIVERED not counted"
  echo "poison: 300 declarations decided while a poison message was handed back $handed times;" \
    "then rejected REDELIVERED (cut to fit max_payload); 301 in = 300 decisions + 1 reject"
  ;;

cluster)
  # Three JetStream servers in one cluster (client ports $((B + 1))-$((B + 3)), routes $((B + 6))-$((B + 8))).
  for i in 1 2 3; do
    cat >"$T/n$i.conf" <<EOF2
server_name: n$i
listen: 127.0.0.1:$((B + $i))
jetstream { store_dir: "$T/js-n$i" }
cluster {
  name: crest
  listen: 127.0.0.1:$((B + 5 + $i))
  routes: [nats-route://127.0.0.1:$((B + 6)), nats-route://127.0.0.1:$((B + 7)), nats-route://127.0.0.1:$((B + 8))]
}
EOF2
  done
  start_node() {
    nats-server -c "$T/n$1.conf" >>"$T/nats-n$1.log" 2>&1 &
    PIDS+=($!)
    eval "NODE_PID_$1=$!"
  }
  for i in 1 2 3; do start_node $i; done
  for i in 1 2 3; do wait_port $((B + $i)); done
  URLS=$U:$((B + 1)),$U:$((B + 2)),$U:$((B + 3))
  N=200000
  "$CREST_GEN" --rows $N --seed 15 --start 2025-03-01 --days 10 --firms 2000 --newline-share 0 -o "$T/in.csv" 2>/dev/null
  serve_args=(--policy "$POLICY" --nats "$URLS" --input decl.in --output decl.out --create-streams --replicas 3
    --ack-wait 5)
  # The cluster elects its JetStream leader first: retry until the streams exist.
  for attempt in $(seq 1 30); do
    start_serve a "${serve_args[@]}" --http $((B + 4))
    for _ in $(seq 1 20); do
      grep -q "event=started" "$T/serve-a.log" && break
      kill -0 "$SERVE_PID_a" 2>/dev/null || break
      sleep 0.1
    done
    grep -q "event=started" "$T/serve-a.log" && break
    kill -9 "$SERVE_PID_a" 2>/dev/null || true
    sleep 1
  done
  wait_log "$T/serve-a.log" "event=started"
  "$NATS_TOOL" pub "$URLS" decl.in "$T/in.csv" 2>"$T/pub.log" &
  PUB=$!
  start_serve b "${serve_args[@]}" --http $((B + 5))
  wait_log "$T/serve-b.log" "event=started"
  # decided_so_far: decisions in the output stream.
  decided_so_far() { "$NATS_TOOL" count "$URLS" DECISIONS 2>/dev/null || echo 0; }
  deadline=$((SECONDS + 180))
  until [ "$(decided_so_far)" -ge 30000 ]; do
    [ $SECONDS -lt $deadline ] || fail "fewer than 30000 decisions after 3 minutes"
    sleep 0.2
  done
  kill -9 "$SERVE_PID_a"
  echo "cluster: instance a SIGKILLed at $(decided_so_far) decisions"
  sleep 1
  start_serve a "${serve_args[@]}" --http $((B + 4))
  wait "$PUB" || fail "publishing"
  in=$("$NATS_TOOL" count "$URLS" DECL)
  [ "$in" = $N ] || fail "the input stream holds $in declarations, not $N"
  deadline=$((SECONDS + 180))
  until [ "$(decided_so_far)" -ge 90000 ]; do
    [ $SECONDS -lt $deadline ] || fail "fewer than 90000 decisions after 3 minutes"
    sleep 0.2
  done
  kill -9 "$NODE_PID_2"
  echo "cluster: server n2 SIGKILLed at $(decided_so_far) decisions"
  sleep 2
  start_node 2
  wait_port $((B + 2))
  echo "cluster: server n2 restarted"
  "$NATS_TOOL" dump "$URLS" DECISIONS decl.out "$T/got.csv" $N 240 2>"$T/dump.log" ||
    fail "decisions: $(tail -1 "$T/dump.log")"
  "$NATS_TOOL" dump "$URLS" DECISIONS decl.out.rejects "$T/got-rej.csv" 0 2 2>>"$T/dump.log" ||
    fail "rejects: $(tail -1 "$T/dump.log")"
  "$CREST" run --no-progress --policy "$POLICY" -o "$T/run.csv" "$T/in.csv" 2>"$T/run.txt"
  grep -q "rows in $N = decisions $N + rejects 0" "$T/run.txt" || fail "crest run: $(grep 'rows in' "$T/run.txt")"
  ids=$(cut -d, -f1 "$T/got.csv" | LC_ALL=C sort -u | grep -c '^')
  [ "$ids" = $N ] || fail "$ids distinct declarations decided, not $N"
  expect_same cluster "$T/run.csv" "$T/got.csv"
  curl -sf http://127.0.0.1:$((B + 5))/metrics >"$T/metrics.txt" || fail "/metrics of b"
  grep -q 'crest_decisions_total{tier="REGULAR"' "$T/metrics.txt" || fail "per-tier counters"
  redelivered=$(grep -h '^crest_redeliveries_total' "$T/metrics.txt" | cut -d' ' -f2)
  handed=$(grep -h '^crest_messages_handed_back_total' "$T/metrics.txt" | cut -d' ' -f2)
  echo "cluster: $N declarations in, $N decisions out (one per declaration, identical to crest run), 0 rejects;" \
    "instance b saw $redelivered redeliveries and handed back $handed"
  ;;

nkeysig)
  # A fake NATS server (no nats-server: it must choose the nonce) that asks for
  # nkey authentication, gives the first connection a nonce whose signature by
  # the seed begins with a zero byte and the second one another nonce, and
  # writes down, per connection, whether a CONNECT came, signed, with a JWT.
  cat >"$T/fake.py" <<'EOF2'
import json, socket, sys
port, nonces, out = int(sys.argv[1]), sys.argv[2:4], open(sys.argv[4], "w")
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", port))
srv.listen(4)
srv.settimeout(30)
open(sys.argv[4] + ".ready", "w").close()
for i, nonce in enumerate(nonces):
    try:
        c, _ = srv.accept()
    except socket.timeout:
        out.write(f"connection {i + 1}: none\n")
        break
    info = {"server_id": "FAKE", "version": "2.9.10", "proto": 1, "host": "127.0.0.1", "port": port,
            "headers": True, "max_payload": 1048576, "auth_required": True, "nonce": nonce}
    c.sendall(b"INFO " + json.dumps(info).encode() + b"\r\n")
    c.settimeout(10)
    data = b""
    try:
        while b"\r\n" not in data:
            chunk = c.recv(4096)
            if not chunk:
                break
            data += chunk
    except OSError:  # a timeout, or the client reset the connection
        pass
    line = data.split(b"\r\n")[0].decode(errors="replace")
    if line.startswith("CONNECT "):
        opts = json.loads(line[len("CONNECT "):])
        out.write(f"connection {i + 1}: CONNECT {'with' if opts.get('sig') else 'without'} sig"
                  f"{', jwt' if opts.get('jwt') else ''}\n")
    else:
        out.write(f"connection {i + 1}: closed before CONNECT\n")
    out.flush()
    c.close()
EOF2
  "$NATS_TOOL" nkey "$T/user.nk" >/dev/null || fail "making an nkey user"
  mkdir "$T/op"
  python3 "$SRC/tests/serve/make_creds.py" "$T/op" || fail "making a credentials file"
  for creds in "$T/user.nk" "$T/op/user.creds"; do
    read -r zero other <<<"$("$NATS_TOOL" nonces "$creds")" || fail "finding the nonces of $creds"
    rm -f "$T/fake.txt" "$T/fake.txt.ready"
    python3 "$T/fake.py" $((B + 1)) "$zero" "$other" "$T/fake.txt" &
    FAKE=$!
    PIDS+=($FAKE)
    # Not wait_port: its probe would be the fake server's first connection.
    for _ in $(seq 1 300); do
      [ -e "$T/fake.txt.ready" ] && break
      sleep 0.1
    done
    [ -e "$T/fake.txt.ready" ] || fail "the fake server did not start"
    # The fake server closes the second connection after its CONNECT: exit 4.
    rc=0
    timeout 20 "$CREST" serve --policy "$POLICY" --nats nats://127.0.0.1:$((B + 1)) --input decl.in \
      --output decl.out --nats-creds "$creds" >"$T/serve.log" 2>&1 || rc=$?
    wait "$FAKE" || fail "the fake server failed"
    [ "$rc" = 4 ] || fail "crest serve --nats-creds $creds against the fake server: exit $rc, not 4"
    jwt=
    [ "$creds" = "$T/user.nk" ] || jwt=", jwt"
    want="connection 1: closed before CONNECT"$'\n'"connection 2: CONNECT with sig$jwt"
    [ "$(cat "$T/fake.txt")" = "$want" ] || fail "--nats-creds $creds: the fake server saw: $(cat "$T/fake.txt")"
    grep -q 'event=nats_signature_retry' "$T/serve.log" || fail "--nats-creds $creds: no nats_signature_retry line"
  done
  echo "nkeysig: a zero-byte signature is not sent, the next connection's CONNECT is signed (nkey seed, credentials file)"
  ;;

*)
  fail "unknown case"
  ;;
esac
