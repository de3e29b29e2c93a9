#!/bin/sh
# Build the fuzz targets and run each for a bounded time.
#   fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]     default 60 s, every target
# Targets: ingest csvread policy registry rules xgb lmodel. Environment:
#   OUT=DIR        build and work directory (default build-fuzz/ at the top of the tree)
#   FUZZ_JOBS=N    run N targets at a time (default 1)
#   FUZZ_NOBUILD=1 reuse the binaries in $OUT
#   FUZZ_FLAGS=... extra libFuzzer flags (e.g. -detect_leaks=0, -jobs=2)
# Each target starts from its committed seeds (fuzz/corpus/NAME, read only) and
# grows a working corpus in $OUT/corpus/NAME; crashes, leaks, timeouts and OOMs
# land in $OUT/artifacts/NAME/. Exits 1 if any target found something.
set -u
FUZZ_DIR=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$FUZZ_DIR/.." && pwd)
OUT=${OUT:-$SRC/build-fuzz}
SECS=${1:-60}
[ $# -gt 0 ] && shift
TARGETS=${*:-ingest csvread policy registry rules xgb lmodel}
JOBS=${FUZZ_JOBS:-1}

if [ "${FUZZ_NOBUILD:-0}" != 1 ]; then
  "$FUZZ_DIR/build.sh" "$OUT" >/dev/null || { echo "fuzz build failed" >&2; exit 2; }
fi

run_one() { # NAME
  name=$1
  mkdir -p "$OUT/corpus/$name" "$OUT/artifacts/$name"
  start=$(date +%s)
  case $name in
    ingest|xgb) max_len=65536 ;;
    *) max_len=16384 ;;
  esac
  "$OUT/fuzz_$name" -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 -max_len=$max_len \
    -dict="$FUZZ_DIR/dict/$name.dict" -artifact_prefix="$OUT/artifacts/$name/" \
    -print_final_stats=1 ${FUZZ_FLAGS:-} "$OUT/corpus/$name" "$FUZZ_DIR/corpus/$name" \
    > "$OUT/$name.log" 2>&1
  rc=$?
  elapsed=$(( $(date +%s) - start ))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$OUT/$name.log")
  speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$OUT/$name.log")
  n_corpus=$(find "$OUT/corpus/$name" -type f | wc -l)
  cov=$(grep -o 'cov: [0-9]*' "$OUT/$name.log" | tail -1)
  if [ $rc -eq 0 ]; then verdict=ok; else verdict="FOUND SOMETHING (exit $rc), see $OUT/$name.log"; fi
  echo "fuzz $name: ${elapsed}s of ${SECS}s, ${execs:-?} execs, ${speed:-?} exec/s, $cov, corpus $n_corpus files: $verdict"
  return $rc
}

status=0
running=0
pids=""
for t in $TARGETS; do
  run_one "$t" &
  pids="$pids $!"
  running=$((running + 1))
  if [ "$running" -ge "$JOBS" ]; then
    for p in $pids; do wait "$p" || status=1; done
    pids="" running=0
  fi
done
for p in $pids; do wait "$p" || status=1; done
ls "$OUT"/artifacts/*/* >/dev/null 2>&1 && { echo "artifacts:"; ls -l "$OUT"/artifacts/*/*; }
exit $status
