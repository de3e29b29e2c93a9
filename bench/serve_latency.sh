#!/usr/bin/env bash
# serve_latency.sh RATE N [BUILD_DIR] — latency of `crest serve` under a steady
# offered load: starts a JetStream server on loopback port 4301 (a temporary
# store), one crest serve, publishes N declarations (crest-gen) at RATE per
# second, and reports from the streams' own timestamps, per declaration, the
# time from its publish (taken by the publisher) to its decision being stored:
# p50, p90, p99, max. A benchmark, not a test: numbers depend on the machine's load.
set -euo pipefail
RATE=${1:-2000} N=${2:-20000} BUILD=${3:-build}
T=$(mktemp -d)
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$T"' EXIT
nats-server -js -a 127.0.0.1 -p 4301 -sd "$T/js" >"$T/nats.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 50); do (exec 3<>/dev/tcp/127.0.0.1/4301) 2>/dev/null && break; sleep 0.1; done
"$BUILD/crest-gen" --rows "$N" --seed 21 --newline-share 0 -o "$T/in.csv" 2>/dev/null
# Order 251 with its floor held row by row (a monthly floor depends on row order: not servable).
sed 's/^floor_period *=.*/floor_period = none/' "$(dirname "$0")/../policies/order251.conf" >"$T/policy.conf"
"$BUILD/crest" serve --policy "$T/policy.conf" --nats nats://127.0.0.1:4301 \
  --input decl.in --output decl.out --create-streams >"$T/serve.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 50); do grep -q event=started "$T/serve.log" && break; sleep 0.1; done
"$BUILD/tests/serve/nats_tool" pub nats://127.0.0.1:4301 decl.in "$T/in.csv" "$RATE" 2>"$T/pub.log"
echo "offered $RATE/s, $N declarations: $(cat "$T/pub.log")"
"$BUILD/tests/serve/nats_tool" latency nats://127.0.0.1:4301 DECL DECISIONS "$N" 60
