"""crest.simulate against `crest replay --simulate`: the same study (strategies,
seeds, rate and exploration sweeps, batches of N days, the crest policy itself)
gives the CLI's simulate.csv and simulate_summary.csv byte for byte, and the
DataFrames are those files."""

import io
import os
import shutil

import numpy as np
import pandas as pd
import pytest

import crest
from conftest import cli, src

CASE = src("tests", "golden", "cases", "replay_simulate")
INPUT = os.path.join(CASE, "input.csv")
POLICY = os.path.join(CASE, "policy.conf")
COMMON = dict(label="illicit", revenue="revenue")


def cli_study(tmp_path, *args, policy=POLICY, data=INPUT):
    out = tmp_path / "cli"
    cli("replay", "--simulate", "--policy", str(policy), "--label", "illicit", "--revenue", "revenue", *args,
        "--plots", "none", "--no-progress", "--report", str(out), str(data))
    return (out / "simulate.csv").read_text(), (out / "simulate_summary.csv").read_text()


def read(text):
    return pd.read_csv(io.StringIO(text), dtype={"strategy": str, "period": str, "selector": str,
                                                          "policy_hash": str},
                       keep_default_na=False, na_values=[""], float_precision="round_trip")


def same_as_cli(runs, summary, want_runs, want_summary):
    assert runs.attrs["csv"] == want_runs
    assert runs.attrs["summary_csv"] == want_summary
    pd.testing.assert_frame_equal(runs, read(want_runs))
    pd.testing.assert_frame_equal(summary, read(want_summary))


def test_study_is_the_cli_study(tmp_path):
    """Four strategies, two rates, two exploration shares, two seeds, 14-day batches."""
    args = ["--period", "14d", "--rate", "0.1,0.2", "--explore", "0,1", "--strategy",
            "random,logit,hybrid:0.3,score:declared_value", "--seeds", "1-2"]
    want = cli_study(tmp_path, *args)
    runs, summary = crest.simulate(INPUT, POLICY, strategies=["random", "logit", "hybrid:0.3", "score:declared_value"],
                                   seeds=[1, 2], period="14d", rate=[0.1, 0.2], explore=[0, 1], **COMMON)
    same_as_cli(runs, summary, *want)
    # the golden case's files are these too
    assert runs.attrs["csv"] == open(os.path.join(CASE, "expected.study.csv")).read()
    # every run carries its settings
    assert set(runs["strategy"]) == {"random", "logit", "hybrid:0.3", "score:declared_value"}
    assert set(runs["seed"]) == {1, 2} and set(runs["target_rate"]) == {0.1, 0.2}
    assert runs[runs["strategy"] == "random"]["explore"].isna().all()
    assert set(runs[runs["strategy"] == "logit"]["explore"]) == {0, 1}
    assert (runs[runs["strategy"] == "hybrid:0.3"]["explore"] == 0.3).all()
    assert (runs["policy_hash"] == crest.Policy(POLICY, skip_model_file=True).hash).all()


def test_decaying_rate_and_one_seed(tmp_path):
    want = cli_study(tmp_path, "--period", "week", "--rate", "0.2", "--final-rate", "0.1", "--decay-periods", "4",
                     "--explore", "0.25")
    runs, summary = crest.simulate(INPUT, POLICY, period="week", rate=0.2, final_rate=0.1, decay_periods=4,
                                   explore=0.25, **COMMON)
    same_as_cli(runs, summary, *want)
    assert (runs["seed"] == crest.Policy(POLICY, skip_model_file=True).seed).all()
    # the golden table of one run (the library's simulate.csv columns) is the same rows
    golden = pd.read_csv(os.path.join(CASE, "expected.simulate.csv"), dtype={"period": str, "selector": str},
                         keep_default_na=False, na_values=[""])
    common = [c for c in golden.columns if c in runs.columns]
    pd.testing.assert_frame_equal(runs[common], golden[common])


def test_seeds_aggregate(tmp_path):
    runs, summary = crest.simulate(INPUT, POLICY, strategies="logit", seeds="1-5", period="week", rate=0.2,
                                   **COMMON)
    tot = runs[runs["period"] == "total"]
    assert sorted(tot["seed"]) == [1, 2, 3, 4, 5]
    assert tot["inspected"].nunique() == 1  # the budget does not depend on the seed
    assert tot["hits"].nunique() > 1  # another seed draws other rows
    row = summary[summary["period"] == "total"].iloc[0]
    x = tot["precision"].to_numpy()
    assert row["seeds"] == 5 and row["precision_mean"] == pytest.approx(x.mean())
    half = 2.776 * x.std(ddof=1) / np.sqrt(5)  # t(0.975, 4)
    want = (max(0.0, x.mean() - half), min(1.0, x.mean() + half))  # clipped to the metric's range
    assert (row["precision_lo"], row["precision_hi"]) == pytest.approx(want, rel=1e-3)  # t rounded


def test_crest_strategy_is_the_cli_study(tmp_path):
    """The crest policy itself (its model file, tiers and [risk]) next to a refit, as
    the CLI runs it: the policy decides the history again for every seed."""
    d = tmp_path / "case"
    d.mkdir()
    shutil.copy(POLICY, d / "policy.conf")
    shutil.copy(INPUT, d / "input.csv")
    cli("fit", "--policy", str(d / "policy.conf"), "--label", "illicit", "-o", str(d / "never-read.model"),
        str(d / "input.csv"))
    want = cli_study(tmp_path, "--strategy", "crest,logit", "--seeds", "1-3", "--rate", "0.1",
                     policy=d / "policy.conf", data=d / "input.csv")
    runs, summary = crest.simulate(str(d / "input.csv"), str(d / "policy.conf"), strategies=["crest", "logit"],
                                   seeds=range(1, 4), rate=0.1, **COMMON)
    same_as_cli(runs, summary, *want)
    crest_runs = runs[(runs["strategy"] == "crest") & (runs["period"] == "total")]
    assert len(crest_runs) == 3 and crest_runs["inspected"].min() > 0
    assert crest_runs["target_rate"].isna().all() and crest_runs["explore"].isna().all()
    # from a DataFrame (read again by the crest strategy from the same bytes)
    df = pd.read_csv(d / "input.csv", dtype=str, keep_default_na=False)
    runs2, _ = crest.simulate(df, str(d / "policy.conf"), strategies=["crest", "logit"], seeds=range(1, 4),
                              rate=0.1, **COMMON)
    assert runs2.attrs["csv"] == want[0]


def test_errors():
    with pytest.raises(ValueError, match="takes random, model"):
        crest.simulate(INPUT, POLICY, strategies="bogus", **COMMON)
    with pytest.raises(ValueError, match="seeds"):
        crest.simulate(INPUT, POLICY, seeds="5-2", **COMMON)
    with pytest.raises(ValueError, match="period"):
        crest.simulate(INPUT, POLICY, period="0d", **COMMON)
    with pytest.raises(crest.CrestError, match="features"):
        crest.simulate(INPUT, None, **COMMON)
    with open(INPUT, "rb") as f, pytest.raises(ValueError, match="reads the history again"):
        crest.simulate(f, POLICY, strategies="crest", **COMMON)
    with pytest.raises(crest.CrestError, match="never-read.model"):  # the crest strategy reads the model file
        crest.simulate(INPUT, POLICY, strategies="crest", **COMMON)
