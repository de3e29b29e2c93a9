"""crest.simulate against `crest replay --simulate` (the golden case's table), and
several seeds with their aggregate."""

import io
import os

import numpy as np
import pandas as pd
import pytest

import crest
from conftest import src

CASE = src("tests", "golden", "cases", "replay_simulate")
ARGS = dict(label="illicit", revenue="revenue", period="week", rate=0.2, final_rate=0.1, decay_periods=4,
            explore=0.25)


def test_one_seed_is_the_cli_table():
    per, summary = crest.simulate(os.path.join(CASE, "input.csv"), os.path.join(CASE, "policy.conf"), **ARGS)
    want = pd.read_csv(os.path.join(CASE, "expected.simulate.csv"), dtype={"period": str, "selector": str},
                       keep_default_na=False, na_values=[""])
    pd.testing.assert_frame_equal(per[want.columns], want)
    pol = crest.Policy(os.path.join(CASE, "policy.conf"), skip_model_file=True)
    assert (per["seed"] == pol.seed).all() and (per["policy_hash"] == pol.hash).all()
    assert (per["explore"] == 0.25).all() and (per["final_rate"] == 0.1).all()
    total = summary[(summary["period"] == "total") & (summary["metric"] == "precision")].iloc[0]
    assert total["n"] == 1 and total["mean"] == want[want["period"] == "total"]["precision"].iloc[0]


def test_seeds_and_their_interval():
    per, summary = crest.simulate(os.path.join(CASE, "input.csv"), os.path.join(CASE, "policy.conf"),
                                  seeds=range(1, 6), **ARGS)
    assert sorted(per["seed"].unique()) == [1, 2, 3, 4, 5]
    tot = per[per["period"] == "total"]
    assert tot["inspected"].nunique() == 1  # the budget does not depend on the seed
    row = summary[(summary["period"] == "total") & (summary["metric"] == "precision")].iloc[0]
    x = tot["precision"].to_numpy()
    assert row["n"] == 5 and row["mean"] == pytest.approx(x.mean())
    half = 2.776 * x.std(ddof=1) / np.sqrt(5)  # t(0.975, 4)
    assert (row["lo"], row["hi"]) == pytest.approx((x.mean() - half, x.mean() + half))
    # another seed draws other rows
    assert tot["hits"].nunique() > 1 or per.groupby("seed")["hits"].apply(tuple).nunique() > 1
