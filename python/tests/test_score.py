"""External scores (crest.run/replay score=, crest replay --score-column) and the
per-decision export (crest replay --decisions)."""

import io
import os

import numpy as np
import pandas as pd
import pytest

import crest
from conftest import cli, src

CASE = src("tests", "golden", "cases", "replay_basic")
POLICIES = [src("policies", "order251_rules.conf"), src("policies", "order251.conf")]


def test_decisions_export_matches_the_report(tmp_path):
    dec = tmp_path / "decisions.csv"
    cli("replay", "--policy", POLICIES[0], "--policy", POLICIES[1], "--label", "illicit", "--revenue", "revenue",
        "--period", "week", "--plots", "none", "--no-progress", "--report", str(tmp_path / "out"),
        "--decisions", str(dec), os.path.join(CASE, "input.csv"))
    d = pd.read_csv(dec, dtype=str, keep_default_na=False)
    periods = pd.read_csv(tmp_path / "out" / "periods.csv", dtype={"period": str})
    assert d["policy"].tolist() == ["order251_rules"] * 800 + ["order251"] * 800
    run = pd.read_csv(io.BytesIO(cli("run", "-q", "--policy", POLICIES[0], "--passthrough", "none",
                                     os.path.join(CASE, "input.csv")).stdout), dtype=str, keep_default_na=False)
    mine = d[d["policy"] == "order251_rules"].reset_index(drop=True)
    assert (mine["decl_id"] == run["decl_id"]).all() and (mine["decision"] == run["decision"]).all()
    # full precision: the run's 8-decimal u is the export's u rounded
    assert np.allclose(mine["u"].astype(float), run["u"].astype(float), rtol=0, atol=5e-9)
    assert max(len(u) for u in mine["u"]) > 12
    for name, g in d.groupby("policy"):
        for period, rows in list(g.groupby("period")) + [("total", g)]:
            want = periods[(periods["policy"] == name) & (periods["period"] == period)].iloc[0]
            assert (rows["decision"] == "INSPECT").sum() == want["inspected"]
            for path in ("forced", "random", "risk"):
                assert (rows["selected_by"] == path).sum() == want[path], (name, period, path)
            assert (rows["illicit"] == "1").sum() == want["illicit"]
            assert ((rows["illicit"] == "1") & (rows["decision"] == "INSPECT")).sum() == want["hits"]


def test_score_column_errors(tmp_path):
    r = cli("replay", "--policy", POLICIES[0], "--label", "illicit", "--plots", "none", "--no-progress",
            "--report", str(tmp_path / "out"), "--score-column", "nope", os.path.join(CASE, "input.csv"),
            check=False)
    assert r.returncode == 3 and b"the score column 'nope'" in r.stderr
    r = cli("replay", "--simulate", "--policy", POLICIES[0], "--score-column", "x", "-", check=False)
    assert r.returncode == 1 and b"--score-column and --decisions are for the replay" in r.stderr
    with pytest.raises(crest.CrestError) as e:
        crest.run(os.path.join(CASE, "input.csv"), score="nope")
    assert "score column 'nope'" in str(e.value)
    with pytest.raises(ValueError):
        crest.run(pd.read_csv(os.path.join(CASE, "input.csv"), dtype=str), score=[0.5])


def test_external_score_moves_selection():
    """With a perfect external score (the label itself, smoothed), the risk part of
    the draw goes to the illicit rows: more hits than with no model at all."""
    frame = pd.read_csv(os.path.join(CASE, "input.csv"), dtype=str, keep_default_na=False)
    y = frame["illicit"].astype(int).to_numpy()
    policy = crest.Policy(src("policies", "order251_rules.conf"))
    good = crest.replay(frame, policy, score=0.02 + 0.96 * y, period="none").totals.iloc[0]
    bad = crest.replay(frame, policy, score=0.98 - 0.96 * y, period="none").totals.iloc[0]
    assert good["rows"] == bad["rows"] == 800
    assert good["risk"] > 0 and good["precision"] > bad["precision"]
    df = crest.run(frame, policy=policy, score=0.02 + 0.96 * y)
    assert df["risk_score"].notna().all()


def test_external_score_reproduces_the_model(kcs, tmp_path):
    """The KCS model's own scores (full precision, from --decisions) given back as
    an external score: the same decisions, for the CLI and for Python."""
    valid, reg = kcs
    dec = tmp_path / "dec.csv"
    pol = src("policies", "kcs_logit_cal.conf")
    cli("replay", "--policy", pol, "--registry", reg, "--label", "Fraud", "--revenue-rate", "Tax Rate",
        "--plots", "none", "--no-progress", "--report", str(tmp_path / "a"), "--decisions", str(dec), valid)
    model = pd.read_csv(dec, dtype=str, keep_default_na=False)
    frame = pd.read_csv(valid, dtype=str, keep_default_na=False)
    assert (frame["Declaration ID"] == model["decl_id"]).all()
    frame["ext"] = model["risk_score"]
    scored = tmp_path / "scored.csv"
    frame.to_csv(scored, index=False)
    dec2 = tmp_path / "dec2.csv"
    cli("replay", "--policy", pol, "--registry", reg, "--label", "Fraud", "--revenue-rate", "Tax Rate",
        "--plots", "none", "--no-progress", "--report", str(tmp_path / "b"), "--decisions", str(dec2),
        "--score-column", "ext", str(scored))
    ext = pd.read_csv(dec2, dtype=str, keep_default_na=False)
    for c in ("decl_id", "tier", "decision", "selected_by", "u"):
        assert (ext[c] == model[c]).all(), c
    # p through logit and sigmoid again: equal to the last bits
    assert np.allclose(ext["p"].astype(float), model["p"].astype(float), rtol=1e-12, atol=0)
    a = crest.run(valid, policy=pol, registry=reg, passthrough="none")
    b = crest.run(frame, policy=pol, registry=reg, passthrough="none", score=model["risk_score"].astype(float))
    assert (a["decision"] == b["decision"]).all() and (a["reasons"].str[:4] == b["reasons"].str[:4]).all()


def test_risk_prob_is_the_engines_float(kcs):
    """A model with a calibration (the shipped KCS model): crest.run has a risk_prob float
    column after risk_score, the CLI's values exactly, and the decisions export the same."""
    valid, reg = kcs
    pol = src("policies", "kcs_logit_cal.conf")
    df = crest.run(valid, policy=pol, registry=reg, passthrough="none")
    assert list(df.columns[3:6]) == ["risk_score", "risk_prob", "p"]
    assert df["risk_prob"].dtype == np.float64 and df["risk_prob"].between(0, 1).all()
    text = cli("run", "-q", "--policy", pol, "--registry", reg, "--passthrough", "none", valid).stdout
    cli_df = pd.read_csv(io.BytesIO(text), dtype=str, keep_default_na=False)
    assert (df["risk_prob"] == cli_df["risk_prob"].astype(float)).all()
    # the mean is within a 99.9% binomial bound of the quarter's fraud rate
    fraud = pd.read_csv(valid, usecols=["Fraud"])["Fraud"].to_numpy()
    p = df["risk_prob"].to_numpy()
    assert abs(fraud.sum() - p.sum()) <= 3.29 * np.sqrt((p * (1 - p)).sum())
