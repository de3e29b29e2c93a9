"""crest.run and crest.run_csv against the CLI: the same bytes, text identifiers,
the built-in policy, errors with their file, line and column."""

import io

import numpy as np
import pandas as pd
import pytest

import crest
from conftest import cli, src


@pytest.mark.parametrize("threads", [1, 2])
def test_decisions_are_the_cli_bytes(generated, threads):
    decls, reg = generated
    want = cli("run", "-q", "--threads", "2", "--registry", str(reg), str(decls)).stdout
    got = crest.run_csv(decls, registry=reg, threads=threads)
    assert len(want) > 1_000_000
    assert got == want


def test_frame_equals_the_cli_output(generated):
    decls, reg = generated
    want = pd.read_csv(io.BytesIO(cli("run", "-q", "--registry", str(reg), str(decls)).stdout), dtype=str,
                       keep_default_na=False)
    df = crest.run(decls, registry=reg)
    assert len(df) == 100_000 == df.attrs["summary"]["decisions"]
    assert list(df.columns) == list(want.columns)
    for c in df.columns:
        if c in crest.FLOAT_COLUMNS:
            w = pd.to_numeric(want[c].replace("", np.nan)).to_numpy()
            assert np.array_equal(df[c].to_numpy(), w, equal_nan=True), c
        elif c in crest.FLAG_COLUMNS:
            assert (df[c].astype(str) == want[c]).all(), c
        else:
            assert df[c].dtype == object and (df[c] == want[c]).all(), c


def test_builtin_policy_is_the_cli_default():
    out = cli("run", "-q", "--passthrough", "none", src("datasets", "samples", "demo.csv")).stdout
    df = crest.run(src("datasets", "samples", "demo.csv"), passthrough="none")
    assert crest.Policy().hash == df["policy_hash"].iloc[0]
    assert out.decode().splitlines()[1].split(",")[-1] == crest.Policy().hash
    assert crest.run_csv(src("datasets", "samples", "demo.csv"), passthrough="none") == out
    # the library's embedded text is the repository's file (the package keeps no copy)
    assert crest._builtin_policy_text() == open(src("policies", "order251.conf"), "rb").read()


def test_ids_and_codes_stay_text():
    frame = pd.DataFrame({"decl_id": ["040020250098186074", "000000000000000001"], "hs_code": ["0202200000", "0101"],
                          "credit_tier": ["AEO", "REGULAR"]})
    for data in (frame, frame.to_csv(index=False).encode(), io.StringIO(frame.to_csv(index=False))):
        df = crest.run(data)
        assert df["decl_id"].tolist() == ["040020250098186074", "000000000000000001"]
        assert df["hs_code"].tolist() == ["0202200000", "0101"]
        assert df["decl_id"].dtype == object


def test_inputs_of_every_kind_agree(generated, tmp_path):
    decls, _ = generated
    small = tmp_path / "small.csv"
    small.write_bytes(b"".join(open(decls, "rb").readlines()[:2001]))
    want = crest.run_csv(small)
    assert crest.run_csv(str(small)) == want
    assert crest.run_csv(open(small, "rb")) == want
    assert crest.run_csv(open(small, "r", encoding="utf-8")) == want
    assert crest.run_csv(small.read_bytes()) == want
    assert crest.run_csv(pd.read_csv(small, dtype=str, keep_default_na=False)) == want


def test_rejects_are_counted():
    data = b"decl_id,credit_tier\nA1,AEO\nA2,AEO,extra\n,REGULAR\nA4,REGULAR\n"
    df = crest.run(data)
    s = df.attrs["summary"]
    assert s["rows_in"] == 4 and s["decisions"] == 2 and s["rejects"] == 2
    assert df.attrs["rejects"]["reason"].tolist() == ["COLUMN_COUNT", "MISSING_ID"]
    assert df.attrs["rejects"]["line"].tolist() == ["3", "4"]


def test_policy_error_names_file_line_column(tmp_path):
    bad = tmp_path / "policy.conf"
    bad.write_bytes(open(src("tests", "golden", "cases", "bad_policy", "policy.conf"), "rb").read())
    with pytest.raises(crest.CrestError) as e:
        crest.Policy(bad)
    assert (e.value.line, e.value.column) == (6, 8)
    assert str(e.value) == "%s:6:8: 'rate' needs a number, found '3%%'" % bad
    with pytest.raises(crest.CrestError):
        crest.run(b"decl_id\nA\n", policy=bad)


def test_input_error_is_an_exception():
    with pytest.raises(crest.CrestError) as e:
        crest.run(b"id,tier\n1,AEO\n")
    assert e.value.status == "CREST_ERR_MISSING"
    assert "no decl_id column" in str(e.value)
    with pytest.raises(crest.CrestError):
        crest.Registry("/nonexistent/registry.csv")
    with pytest.raises(ValueError):
        crest.run(b"decl_id\nA\n", threads=9)


def test_policy_properties_and_check(generated, tmp_path):
    p = crest.Policy(src("policies", "order251.conf"))
    assert p.hash == crest.Policy().hash and len(p.hash) == 16
    assert p.tiers["tier"].tolist() == ["AEO", "REGULAR", "DISHONEST"]
    assert "[tiers]" in p.describe()
    decls, reg = generated
    sample = tmp_path / "sample.csv"
    sample.write_bytes(b"".join(open(decls, "rb").readlines()[:5001]))
    chk = crest.Policy(src("policies", "order251_rules.conf")).check(sample, registry=reg)
    text = cli("check", "--policy", src("policies", "order251_rules.conf"), "--registry", str(reg),
               str(sample)).stdout.decode()
    assert "feasibility on %s (%d declarations)" % (sample, chk.attrs["rows"]) in text
    assert chk["rows"].sum() == chk.attrs["rows"] > 4900
    assert set(chk["status"]) <= {"ok", "INFEASIBLE", "UNREACHABLE", "NO_ROWS", "FIXED"}
