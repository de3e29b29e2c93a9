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
