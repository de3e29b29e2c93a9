#!/usr/bin/env python3
"""criteria_stats.py — the pivot tables a risk analyst needs to write selection criteria.

Reads a labelled declaration history (crest-gen output, or any CSV with the canonical
column names and a 0/1 label) and prints, for a grouping key, how often each group was
illicit compared with the whole (filtered) history, and the weight a criterion for that
group would carry on crest's log-odds scale. It also derives unit-value band tables
(`band:` criteria) from the history. Standard library only; it decides nothing — crest
does (docs/criteria.md walks through a whole criteria file built with it).

  criteria_stats.py rates HISTORY.csv --by hs4 [--where direction=I] [--where credit_tier=REGULAR]
  criteria_stats.py zbins HISTORY.csv [--where direction=I] [--currency USD]
  criteria_stats.py bands HISTORY.csv --below 1.5 | --above 1.5 [--currency USD] [--where ...]

Keys for --by: hsN (first N digits of hs_code), a column name, or 'foreign_aeo?' (empty or
not). The weight is log(odds of the group / odds of the base) — what a criterion adds to
z = bias + sum of weights when the score is read as a logistic model — with its 95%
interval (Woolf). Groups with fewer than --min-rows rows are not shown.
"""
import argparse
import csv
import math
import statistics
import sys

csv.field_size_limit(1 << 24)


def read_rows(path, where, label, currency=None):
    """Yield the rows of path (dicts) that pass every COL=VALUE filter."""
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if any(row.get(col, "") != val for col, val in where):
                continue
            if currency and row.get("currency", "") not in currency:
                continue
            if row.get(label, "") == "":
                continue
            yield row


def key_of(row, by):
    if by.startswith("hs") and by[2:].isdigit():
        return "".join(c for c in row.get("hs_code", "") if c.isdigit())[: int(by[2:])]
    if by.endswith("?"):
        return "yes" if row.get(by[:-1], "").strip() else "no"
    return row.get(by, "")


def unit_value(row):
    try:
        v, m = float(row["declared_value"]), float(row["net_mass_kg"])
    except (KeyError, ValueError):
        return None
    return v / m if v > 0 and m > 0 else None


def logit(p):
    return math.log(p / (1 - p))


def log_odds_ratio(hits, n, base_hits, base_n):
    """Woolf log odds ratio of a group against the base, with a 0.5 correction, and its 95% CI."""
    a, b = hits + 0.5, n - hits + 0.5
    c, d = base_hits + 0.5, base_n - base_hits + 0.5
    lor = math.log(a / b) - math.log(c / d)
    se = math.sqrt(1 / a + 1 / b + 1 / c + 1 / d)
    return lor, lor - 1.96 * se, lor + 1.96 * se


def cmd_rates(args):
    groups = {}
    n = hits = 0
    for row in read_rows(args.history, args.where, args.label, args.currency):
        y = 1 if row[args.label].strip() not in ("0", "") else 0
        g = groups.setdefault(key_of(row, args.by), [0, 0])
        g[0] += 1
        g[1] += y
        n += 1
        hits += y
    if n == 0:
        sys.exit("criteria_stats: no rows pass the filters")
    print(f"# base: {n} rows, {hits} illicit ({hits / n:.4f})")
    print(f"{args.by},rows,illicit,rate,weight,weight_lo,weight_hi")
    out = []
    for k, (gn, gh) in groups.items():
        if gn < args.min_rows:
            continue
        lor, lo, hi = log_odds_ratio(gh, gn, hits, n)
        out.append((lor, k, gn, gh, lo, hi))
    for lor, k, gn, gh, lo, hi in sorted(out, reverse=True):
        print(f"{k},{gn},{gh},{gh / gn:.4f},{lor:.2f},{lo:.2f},{hi:.2f}")


def heading_stats(rows, digits):
    """Median and standard deviation of log unit value per HS prefix."""
    logs = {}
    for row in rows:
        uv = unit_value(row)
        if uv is not None:
            logs.setdefault(key_of(row, f"hs{digits}"), []).append(math.log(uv))
    return {k: (statistics.median(v), statistics.pstdev(v)) for k, v in logs.items() if len(v) >= 30}


def cmd_zbins(args):
    rows = list(read_rows(args.history, args.where, args.label, args.currency))
    st = heading_stats(rows, args.digits)
    edges = [-2.5, -2, -1.5, -1, -0.5, 0, 0.5, 1, 1.5, 2, 2.5]
    bins = [[0, 0] for _ in range(len(edges) + 1)]
    for row in rows:
        uv, k = unit_value(row), key_of(row, f"hs{args.digits}")
        if uv is None or k not in st or st[k][1] == 0:
            continue
        z = (math.log(uv) - st[k][0]) / st[k][1]
        i = sum(1 for e in edges if z > e)
        bins[i][0] += 1
        bins[i][1] += 1 if row[args.label].strip() not in ("0", "") else 0
    print("z_from,z_to,rows,illicit,rate")
    for i, (bn, bh) in enumerate(bins):
        lo = "" if i == 0 else edges[i - 1]
        hi = "" if i == len(edges) else edges[i]
        print(f"{lo},{hi},{bn},{bh},{bh / bn if bn else 0:.4f}")


def cmd_bands(args):
    if (args.below is None) == (args.above is None):
        sys.exit("criteria_stats bands: give --below K or --above K (standard deviations)")
    rows = read_rows(args.history, args.where, args.label, args.currency)
    st = heading_stats(rows, args.digits)
    print("hs_prefix,origin,min_unit_value,max_unit_value,valid_from,valid_to")
    for k in sorted(st):
        med, sd = st[k]
        lo = f"{math.exp(med - args.below * sd):.4g}" if args.below is not None else ""
        hi = f"{math.exp(med + args.above * sd):.4g}" if args.above is not None else ""
        print(f"{k},*,{lo},{hi},,")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("rates", "zbins", "bands"):
        p = sub.add_parser(name)
        p.add_argument("history")
        p.add_argument("--label", default="illicit")
        p.add_argument("--where", action="append", default=[], metavar="COL=VALUE",
                       type=lambda s: tuple(s.split("=", 1)))
        p.add_argument("--currency", action="append", help="keep rows in this currency (repeatable)")
        if name == "rates":
            p.add_argument("--by", required=True)
            p.add_argument("--min-rows", type=int, default=200)
        else:
            p.add_argument("--digits", type=int, default=4, help="HS prefix length of a band (default 4)")
        if name == "bands":
            p.add_argument("--below", type=float, help="min = median x exp(-K sd)")
            p.add_argument("--above", type=float, help="max = median x exp(+K sd)")
    args = ap.parse_args()
    {"rates": cmd_rates, "zbins": cmd_zbins, "bands": cmd_bands}[args.cmd](args)


if __name__ == "__main__":
    main()
