"""crest.replay against `crest replay`: the same tables, the KCS numbers of
docs/replay.md, exact merging of accumulators, the plot."""

import os

import pandas as pd
import pytest

import crest
from crest.report import Accumulator, ReplayOptions, _feed_policies
from conftest import cli, src

CASE = src("tests", "golden", "cases", "replay_basic")
POLICIES = [src("policies", "order251_rules.conf"), src("policies", "order251.conf")]


def test_tables_are_the_cli_files(tmp_path):
    cli("replay", "--policy", POLICIES[0], "--policy", POLICIES[1], "--label", "illicit", "--revenue", "revenue",
        "--period", "week", "--plots", "none", "--no-progress", "--report", str(tmp_path / "out"),
        os.path.join(CASE, "input.csv"))
    r = crest.replay(os.path.join(CASE, "input.csv"), POLICIES, label="illicit", revenue="revenue", period="week")
    assert r.names == ["order251_rules", "order251"]
    assert r.periods_csv == (tmp_path / "out" / "periods.csv").read_text()
    assert r.tiers_csv == (tmp_path / "out" / "tiers.csv").read_text()
    gain = pd.read_csv(tmp_path / "out" / "gain.csv")
    assert (r.gain["policy"] == gain["policy"]).all()
    for c in ("share_inspected", "share_illicit", "share_revenue"):
        assert (r.gain[c] - gain[c]).abs().max() < 1e-9  # the CLI writes %.10g
    assert r.json["policies"][0]["name"] == "order251_rules"
    assert r.totals.loc["order251_rules", "rows"] == 800


def test_label_error_is_an_exception():
    with pytest.raises(crest.CrestError) as e:
        crest.replay(os.path.join(CASE, "input.csv"), POLICIES[1], label="no_such_column")
    assert "no_such_column" in str(e.value)


def test_parts_merge_exactly(tmp_path):
    """Two halves (cut at a line end) through saved state = the whole in one go."""
    lines = open(os.path.join(CASE, "input.csv"), "rb").readlines()
    head, body = lines[0], lines[1:]
    pol = crest.Policy(POLICIES[0])
    opts = ReplayOptions("illicit", "revenue", period="week")
    whole, _ = _feed_policies(b"".join(lines), [pol], None, opts)
    a, _ = _feed_policies(head + b"".join(body[:333]), [pol], None, opts)
    b, _ = _feed_policies(head + b"".join(body[333:]), [pol], None, opts)
    merged = Accumulator(pol, opts)
    merged.load(a[0].save())
    merged.load(b[0].save())
    one = crest.Report(["p"], whole, "in")
    two = crest.Report(["p"], [merged], "in")
    count_cols = [c for c in one.periods.columns if c in ("rows", "illicit", "inspected", "hits", "forced", "random",
                                                          "risk", "random_stream", "zero_p_rows")
                  or c.startswith("k_at_")]
    pd.testing.assert_frame_equal(one.periods[count_cols], two.periods[count_cols])
    pd.testing.assert_frame_equal(one.periods, two.periods, rtol=1e-12)
    pd.testing.assert_frame_equal(one.tiers, two.tiers, rtol=1e-12)
    with pytest.raises(crest.CrestError):
        Accumulator(crest.Policy(POLICIES[1]), opts).load(a[0].save())


def test_kcs_table_of_docs_replay_md(kcs):
    valid, reg = kcs
    r = crest.replay(valid, {"kcs_logit_cal": src("policies", "kcs_logit_cal.conf"),
                             "kcs_random": src("policies", "kcs_random.conf")},
                     label="Fraud", revenue_rate="Tax Rate", period="week", registry=reg)
    t = r.totals
    assert t["rows"].tolist() == [8134, 8134] and t["illicit"].tolist() == [1704, 1704]
    assert t["inspected"].tolist() == [501, 536]
    assert round(t.loc["kcs_logit_cal", "precision"], 3) == 0.445
    assert round(t.loc["kcs_random", "precision"], 3) == 0.207
    assert round(100 * t.loc["kcs_logit_cal", "revenue_share"], 1) == 23.5
    assert [round(t.loc["kcs_logit_cal", "precision_at_%d" % n], 3) for n in (1, 2, 5, 10)] == \
        [0.902, 0.890, 0.816, 0.746]
    assert round(t.loc["kcs_logit_cal", "ratio"], 3) == 0.479


def test_plot(tmp_path):
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    r = crest.replay(os.path.join(CASE, "input.csv"), POLICIES, label="illicit", revenue="revenue", period="week")
    fig = r.plot()
    assert len(fig.axes) == 3
    assert [l.get_text() for l in fig.axes[0].get_legend().get_texts()] == r.names
    fig.savefig(tmp_path / "replay.svg")
    assert (tmp_path / "replay.svg").read_text().startswith("<?xml")


def _write_hostile(decls, path, rows):
    """Generated rows where quoted fields hold newlines, quotes and commas, then a bad row."""
    df = pd.read_csv(decls, dtype=str, keep_default_na=False, nrows=rows)
    df.loc[::7, "goods_desc"] = df.loc[::7, "goods_desc"] + '\n"quoted"\nline, more'
    df.loc[::13, "illicit"] = ""
    df.to_csv(path, index=False)
    with open(path, "ab") as f:
        f.write(b"bad,row\n")
    return path


def _floor_period_policy(path):
    """Order 251 with `floor_period = month`: decided in input order, it cannot share a reading."""
    text = open(src("policies", "order251.conf"), encoding="utf-8").read()
    path.write_text(text.replace("[tier DISHONEST]\n", "[tier DISHONEST]\nfloor_period = month\n", 1),
                    encoding="utf-8")
    return crest.Policy(str(path))


def _same_reports(a, b):
    assert a.periods_csv == b.periods_csv
    assert a.tiers_csv == b.tiers_csv
    assert a.json == b.json
    for table in ("periods", "tiers", "gain"):
        pd.testing.assert_frame_equal(getattr(a, table), getattr(b, table), check_exact=True)
    assert a.stats == b.stats


@pytest.mark.parametrize("threads", [1, 2])
def test_shared_reading_equals_one_engine_per_policy(generated, tmp_path, monkeypatch, threads):
    """The shared reading (crest_replay_multi: every block read once, decided by each
    policy on `threads` threads) leaves each accumulator exactly as an engine of its
    own does, table by table: from a file (fed in copied chunks), from a DataFrame
    (its CSV read in place) with an external score array, on rows with quoted line
    ends, unlabelled rows and a broken record; and with a policy that cannot share
    (read on its own beside the shared reading)."""
    import crest.report as report

    decls, reg = generated
    hostile = _write_hostile(decls, tmp_path / "hostile.csv", 30000)
    opened = []

    class Spy(report._SharedReading):
        def __init__(self, policies, *args):
            opened.append(len(policies))
            super().__init__(policies, *args)

    monkeypatch.setattr(report, "_SharedReading", Spy)
    rules, o251 = crest.Policy(POLICIES[0]), crest.Policy(POLICIES[1])
    floor = _floor_period_policy(tmp_path / "floor_period.conf")
    assert report._can_share([rules, o251]) and not report._can_share([floor])
    frame = pd.read_csv(decls, dtype=str, keep_default_na=False, nrows=40000)
    score = (pd.util.hash_array(frame["decl_id"].to_numpy()) % 1000) / 1000.0
    frame, column = crest._with_score(frame, score)
    cases = [(hostile, [rules, o251], None, 1), (frame, [o251, rules], column, 1), (hostile, [rules, floor, o251], None, 1)]
    for data, pols, col, n_shared_readings in cases:
        names = ["p%d" % i for i in range(len(pols))]
        opts = ReplayOptions("illicit", "revenue", period="month")
        del opened[:]
        shared, s_stats = _feed_policies(data, pols, reg, opts, score_column=col, threads=threads)
        assert opened == [2], "the shareable policies read together"
        own, o_stats = _feed_policies(data, pols, reg, opts, score_column=col, shared=False)
        assert opened == [2], "shared=False: an engine per policy"
        a, b = crest.Report(names, shared, "in", s_stats), crest.Report(names, own, "in", o_stats)
        _same_reports(a, b)
        assert a.stats["p0"]["rejects"] == (1 if data is hostile else 0)
    r = crest.replay(hostile, {"a": POLICIES[0], "b": POLICIES[1]}, label="illicit", revenue="revenue",
                     period="month", registry=reg, threads=threads)
    assert r.totals.loc["a", "rows"] == 30000
