"""The KCS example of docs/python.md runs and prints the table it shows."""

import contextlib
import io
import os
import re

import pytest

from conftest import KCS, SOURCE


def test_kcs_example_prints_the_documented_table(monkeypatch):
    if not os.path.exists(os.path.join(KCS, "df_syn_valid_eng.csv")):
        pytest.skip("the KCS synthetic data (../shared/data/kcs-synthetic) is absent")
    text = open(os.path.join(SOURCE, "docs", "python.md"), encoding="utf-8").read()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    example = next(b for b in blocks if b.startswith("# (run by python/tests/test_docs.py"))
    shown = re.search(r"prints\n\n```\n(.*?)```", text, re.S).group(1)
    monkeypatch.chdir(SOURCE)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(example, "docs/python.md", "exec"), {})
    assert out.getvalue() == shown
