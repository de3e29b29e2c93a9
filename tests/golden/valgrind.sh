#!/bin/sh
# Run every golden CLI case under valgrind memcheck:
#   valgrind.sh CREST_BINARY SOURCE_DIR [CASE_DIR...]    default: every case in cases/
# Each case goes through run_case.sh with CREST set to a wrapper that prefixes
#   valgrind --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect
# so a memory error or a definite/indirect leak turns the case's exit code into
# 99 and the byte-for-byte comparison with expected.exit fails; the valgrind
# report is kept in the wrapper's log and printed for the failing case.
# Needs valgrind (Debian package `valgrind`) and a binary built without ASan.
set -u
CREST=$1 SRC=$2
shift 2
HERE=$(cd "$(dirname "$0")" && pwd)
command -v valgrind >/dev/null 2>&1 || { echo "valgrind.sh: valgrind is not installed (apt-get install valgrind)"; exit 2; }
work=$(mktemp -d "${TMPDIR:-/tmp}/crest-valgrind.XXXXXX")
trap 'rm -rf "$work"' EXIT
BIN=$(cd "$(dirname "$CREST")" && pwd)/$(basename "$CREST")
cat > "$work/crest" <<WRAP
#!/bin/sh
exec valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect \\
  --track-fds=no --log-file="$work/valgrind.%p.log" "$BIN" "\$@"
WRAP
chmod +x "$work/crest"
[ $# -gt 0 ] || set -- "$HERE"/cases/*/
status=0
for case in "$@"; do
  # run_case.sh changes directory before it reads expected.*: pass an absolute path.
  case=$(cd "$case" && pwd) || { status=1; continue; }
  rm -f "$work"/valgrind.*.log
  if sh "$HERE/run_case.sh" "$work/crest" "$SRC" "$case" > "$work/out" 2>&1; then
    echo "valgrind $(basename "$case"): ok"
  else
    status=1
    echo "valgrind $(basename "$case"): FAILED"
    cat "$work/out"
  fi
  # Any report, even one that did not change the exit code, is shown.
  for log in "$work"/valgrind.*.log; do
    [ -s "$log" ] || continue
    status=1
    echo "--- valgrind report ($(basename "$case")):"
    cat "$log"
  done
done
exit $status
