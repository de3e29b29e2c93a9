#!/bin/sh
# Golden CLI test runner: runs one case of tests/golden/cases/NAME and compares
# every file `expected.X` of the case byte for byte with what the run produced:
# X = stdout, stderr (timing lines removed), exit (the exit code), or any file
# the command wrote in its working directory (e.g. rejects.csv, summary.json,
# whose timing keys are removed).
#
#   run_case.sh CREST_BINARY SOURCE_DIR CASE_DIR [--regen]
#
# The case's `cmd` file is a shell command run in a scratch copy of the case
# directory with $CREST (the binary) and $SRC (the source tree) set.
# --regen rewrites the expected files from the current output (review the diff!).
set -u
# A missing case directory would leave CASE empty and copy "/" below: refuse it.
[ -d "${3:-}" ] || { echo "run_case.sh: no case directory '${3:-}'"; exit 2; }
CREST=$1 SRC=$2 CASE=$(cd "$3" && pwd) MODE=${4:-}
export CREST SRC
name=$(basename "$CASE")
work=$(mktemp -d "${TMPDIR:-/tmp}/crest-golden.XXXXXX")
trap 'rm -rf "$work"' EXIT
cp -R "$CASE"/. "$work"/
cd "$work" || exit 1
rm -f expected.*
sh -c "$(cat cmd)" > stdout 2> stderr < /dev/null
echo $? > exit
# Timing is the only thing allowed to differ between runs.
sed -i -e '/^elapsed /d' stderr
[ -f summary.json ] && sed -i -e 's/,"elapsed_s":[0-9.e+-]*,"rows_per_s":[0-9.e+-]*//' summary.json
status=0
for exp in "$CASE"/expected.*; do
  [ -e "$exp" ] || continue
  got=${exp##*/expected.}
  if [ "$MODE" = "--regen" ]; then
    cp "$got" "$exp"
    continue
  fi
  if ! cmp -s "$exp" "$got"; then
    echo "golden $name: $got differs from expected.$got:"
    diff -u "$exp" "$got" | head -40
    status=1
  fi
done
[ "$status" = 0 ] && echo "golden $name: ok"
exit $status
