#!/bin/sh
# Hostile-input test runner: runs one case of tests/hostile/cases/NAME and checks
# its outcome against the case's `expect` file.
#
#   run_hostile.sh CREST_BINARY SOURCE_DIR CASE_DIR
#
# A case directory holds:
#   expect     key=value lines (see below); required
#   input.csv  a small committed input, and/or
#   gen.sh     a POSIX sh script run first in the scratch directory that writes
#              the big inputs (10 MB fields, 100k columns, ...): never commit those
#   cmd        the command (sh, run in a scratch copy of the case with $CREST and
#              $SRC set); default:
#              "$CREST" run --no-progress --summary summary.json --rejects rejects.csv -o decisions.csv input.csv
#   check.sh   optional extra assertions, run in the scratch directory after the command
#
# expect keys (every key optional except exit):
#   exit=N            the exit code
#   summary=none      no summary.json may be written (a fatal input error)
#   rows_in=N decisions=N rejects=N     counts from summary.json
#   reject.CODE=N     rejects of one reason; when any is given, the reasons in
#                     summary.json must be exactly the listed ones
#   stderr_has=TEXT   stderr contains TEXT (fixed string; the key may repeat)
#   max_rss_kb=N      peak RSS bound of the command (default 65536), multiplied by
#                     $CREST_HOSTILE_RSS_FACTOR (default 1); factor 0 skips the bound
#                     (sanitizer builds: ASan's quarantine keeps freed memory resident)
#   timeout=S         seconds before the run counts as a hang (default 60)
# Whenever summary.json exists, it must say "balanced":true, and rows_in must equal
# decisions + rejects and the sum of rejects_by_reason (checked here, not trusted).
# Needs /usr/bin/time (Debian package `time`) for the peak RSS and `timeout`.
# No jq and no Python: the summary is a single JSON line read with sed.
set -u
CREST=$1 SRC=$2 CASE=$3
export CREST SRC
name=$(basename "$CASE")
fail() { echo "hostile $name: $*"; status=1; }
[ -x /usr/bin/time ] || { echo "hostile $name: /usr/bin/time missing (apt-get install time)"; exit 2; }
[ -f "$CASE/expect" ] || { echo "hostile $name: no expect file"; exit 2; }
work=$(mktemp -d "${TMPDIR:-/tmp}/crest-hostile.XXXXXX")
trap 'rm -rf "$work"' EXIT
cp -R "$CASE"/. "$work"/
cd "$work" || exit 2

expect() { sed -n "s/^$1=//p" expect | head -n 1; }
if [ -f gen.sh ]; then
  sh ./gen.sh || { echo "hostile $name: gen.sh failed"; exit 2; }
fi
cmd='"$CREST" run --no-progress --summary summary.json --rejects rejects.csv -o decisions.csv input.csv'
[ -f cmd ] && cmd=$(cat cmd)
limit=$(expect timeout)
factor=${CREST_HOSTILE_RSS_FACTOR:-1}
rss_max=$(expect max_rss_kb)
rss_max=$(( ${rss_max:-65536} * factor ))
# The command runs under time(1) for the peak RSS and timeout(1) against hangs;
# `timeout` exits 124 on a hang, which no expected exit code equals.
/usr/bin/time -f %M -o rss.txt timeout "${limit:-60}" sh -c "$cmd" > stdout 2> stderr < /dev/null
code=$?
status=0

want=$(expect exit)
[ "$code" = "$want" ] || fail "exit $code, expected $want$( [ "$code" = 124 ] && echo ' (timeout: a hang)')"
rss=$(tail -n 1 rss.txt 2>/dev/null)
case $rss in
  '' | *[!0-9]*) fail "no peak RSS measured (got '$rss')" ;;
  *) [ "$factor" = 0 ] || [ "$rss" -le "$rss_max" ] || fail "peak RSS $rss KB above the bound $rss_max KB" ;;
esac
sed -n 's/^stderr_has=//p' expect | while IFS= read -r text; do
  grep -qF -- "$text" stderr || { echo "hostile $name: stderr lacks '$text'"; echo x >> .fail; }
done
[ -f .fail ] && status=1

num() { # num KEY: an integer member of the summary's top level
  sed -n "s/.*\"$1\":\([0-9][0-9]*\).*/\1/p" summary.json | head -n 1
}
if [ "$(expect summary)" = none ]; then
  [ -f summary.json ] && fail "wrote summary.json, expected none"
elif [ ! -f summary.json ]; then
  fail "no summary.json"
else
  rows_in=$(num rows_in) decisions=$(num decisions) rejects=$(num rejects)
  if [ -z "$rows_in" ] || [ -z "$decisions" ] || [ -z "$rejects" ]; then
    fail "summary.json lacks rows_in, decisions or rejects"
  else
    grep -q '"balanced":true' summary.json || fail "summary says not balanced"
    [ "$rows_in" -eq $((decisions + rejects)) ] ||
      fail "rows_in $rows_in != decisions $decisions + rejects $rejects"
    # rejects_by_reason: {"CODE":N,...} -> "CODE N" lines.
    sed -n 's/.*"rejects_by_reason":{\([^}]*\)}.*/\1/p' summary.json | tr ',' '\n' |
      sed -n 's/^"\([A-Z0-9_]*\)":\([0-9]*\)$/\1 \2/p' > reasons.txt
    sum=0
    while read -r code_ n; do sum=$((sum + n)); done < reasons.txt
    [ "$sum" -eq "$rejects" ] || fail "rejects_by_reason adds up to $sum, rejects is $rejects"
    for k in rows_in decisions rejects; do
      w=$(expect "$k")
      eval "got=\$$k"
      [ -z "$w" ] || [ "$got" = "$w" ] || fail "$k $got, expected $w"
    done
    if grep -q '^reject\.' expect; then
      sed -n 's/^reject\.\([A-Z0-9_]*\)=\([0-9]*\)$/\1 \2/p' expect | sort > want_reasons.txt
      grep -v ' 0$' want_reasons.txt > want_nonzero.txt
      sort reasons.txt | grep -v ' 0$' > got_reasons.txt
      cmp -s want_nonzero.txt got_reasons.txt ||
        fail "rejects by reason: got [$(tr '\n' ' ' < got_reasons.txt)], expected [$(tr '\n' ' ' < want_nonzero.txt)]"
    fi
  fi
fi
if [ -f check.sh ]; then
  sh ./check.sh > check.out 2>&1 || { fail "check.sh failed:"; head -n 20 check.out; }
fi
if [ "$status" != 0 ]; then
  echo "--- stderr (first lines)"; head -n 8 stderr | cut -c1-300
else
  echo "hostile $name: ok (exit $code, peak RSS ${rss} KB)"
fi
exit $status
