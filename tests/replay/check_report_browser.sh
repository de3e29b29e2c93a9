#!/bin/sh
# The report pages of `crest replay` and `crest replay --simulate` opened in a
# real browser (headless Chromium, Debian package chromium): each index.html
# renders with its inline SVG figures and provenance block in the DOM, no
# console error and no network request, a screenshot is taken, and every
# fig_*.svg opens on its own without an XML error. Skipped (exit 77) without
# chromium.
#
#   check_report_browser.sh CREST SOURCE_DIR
set -u
CREST=$1 SRC=$2
BROWSER=$(command -v chromium || command -v chromium-browser || true)
[ -n "$BROWSER" ] || { echo "SKIP: no chromium in PATH (apt-get install chromium)"; exit 77; }
work=$(mktemp -d "${TMPDIR:-/tmp}/crest-browser.XXXXXX")
trap 'rm -rf "$work"' EXIT
CASE=$SRC/tests/golden/cases/replay_simulate
fail=0
bad() { echo "FAIL: $*"; fail=1; }

"$CREST" replay --policy "$SRC/policies/order251_rules.conf" --label illicit --revenue revenue --period week \
  --plots none --no-progress --report "$work/replay" "$SRC/tests/golden/cases/replay_basic/input.csv" 2>/dev/null ||
  bad "crest replay failed"
"$CREST" replay --simulate --policy "$CASE/policy.conf" --label illicit --revenue revenue --period 14d \
  --strategy random,logit,hybrid:0.3 --seeds 1-3 --no-progress --report "$work/sim" "$CASE/input.csv" 2>/dev/null ||
  bad "crest replay --simulate failed"

# browse FILE OUT: the DOM after rendering into OUT, the browser's log into OUT.log.
browse() {
  timeout 120 "$BROWSER" --headless --disable-gpu --no-sandbox --user-data-dir="$work/profile" \
    --enable-logging=stderr --v=0 --dump-dom "file://$1" > "$2" 2> "$2.log"
}

for page in replay sim; do
  html=$work/$page/index.html
  browse "$html" "$work/$page.dom" || bad "$page: chromium exited $?"
  figs=$(ls "$work/$page"/fig_*.svg | wc -l)
  svgs=$(grep -o '<svg' "$work/$page.dom" | wc -l)
  [ "$figs" -ge 3 ] || bad "$page: $figs figure files"
  [ "$svgs" -eq "$figs" ] || bad "$page: $svgs <svg> elements in the rendered DOM for $figs figure files"
  for id in fig_precision fig_recall fig_revenue; do
    grep -q "<svg[^>]*id=\"$id\"" "$work/$page.dom" || bad "$page: no $id in the rendered DOM"
  done
  grep -q '<polyline' "$work/$page.dom" || bad "$page: no curve drawn"
  grep -q 'Provenance' "$work/$page.dom" || bad "$page: no provenance block"
  grep -Eq 'SHA-256 [0-9a-f]{64}' "$work/$page.dom" || bad "$page: no input SHA-256"
  grep -Eq 'commit [0-9a-zA-Z-]+' "$work/$page.dom" || bad "$page: no commit"
  # No external resource at all: everything is in the one file.
  if grep -Eq '(src|href)="(https?:)?//' "$html"; then bad "$page: a network resource"; fi
  if grep -Eq 'CONSOLE|Uncaught|ERR_FILE_NOT_FOUND|Failed to load' "$work/$page.dom.log"; then
    bad "$page: the browser logged an error:"
    grep -E 'CONSOLE|Uncaught|ERR_FILE_NOT_FOUND|Failed to load' "$work/$page.dom.log" | head -5
  fi
  timeout 120 "$BROWSER" --headless --disable-gpu --no-sandbox --user-data-dir="$work/profile" \
    --window-size=1300,3000 --screenshot="$work/$page.png" "file://$html" > /dev/null 2>&1
  size=$(wc -c < "$work/$page.png" 2>/dev/null || echo 0)
  [ "$size" -gt 20000 ] || bad "$page: screenshot of $size bytes"
  for svg in "$work/$page"/fig_*.svg; do
    browse "$svg" "$work/one.dom" || bad "$svg: chromium exited $?"
    if grep -q 'This page contains the following errors' "$work/one.dom"; then bad "$svg: XML error"; fi
    grep -q '<svg' "$work/one.dom" || bad "$svg: no svg rendered"
  done
  echo "$page: $svgs inline SVG figures rendered, provenance present, screenshot $size bytes"
done
exit $fail
