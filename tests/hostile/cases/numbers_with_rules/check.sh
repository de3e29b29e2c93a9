# p and u (found by header name) are plain numbers in [0, 1] on every row: no
# nan or inf leaks out; risk_score, when present, is empty or a number in [0, 1].
awk -F, '
NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; if (!col["p"] || !col["u"]) { print "no p or u column"; bad = 1; exit } next }
{
  for (k = 0; k < 3; k++) {
    name = k == 0 ? "p" : k == 1 ? "u" : "risk_score"
    if (!col[name]) continue
    v = $(col[name])
    if (name == "risk_score" && v == "") continue
    if (v !~ /^[01](\.[0-9]+)?$/ && v !~ /^0?\.[0-9]+$/) { print "line " NR ": " name " = " v; bad = 1 }
  }
}
END { exit bad }' decisions.csv
