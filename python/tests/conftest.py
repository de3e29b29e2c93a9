"""Shared fixtures of the Python tests: the source and build trees (from ctest's
environment, else a checkout's build/), the CLI, and generated inputs."""

import os
import subprocess

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.environ.get("CREST_SOURCE_DIR") or os.path.dirname(os.path.dirname(HERE))
BINARY = os.environ.get("CREST_BINARY_DIR") or os.path.join(SOURCE, "build")
CLI = os.environ.get("CREST_CLI") or os.path.join(BINARY, "crest")
KCS = os.path.join(SOURCE, "..", "shared", "data", "kcs-synthetic")


def src(*parts):
    return os.path.join(SOURCE, *parts)


def cli(*args, **kw):
    """Run the crest CLI; returns the CompletedProcess (stdout bytes)."""
    return subprocess.run([CLI, *args], capture_output=True, check=kw.pop("check", True), **kw)


@pytest.fixture(scope="session")
def generated(tmp_path_factory):
    """100,000 generated declarations and their registry (crest-gen, seed 7)."""
    d = tmp_path_factory.mktemp("gen")
    out, reg = d / "decls.csv", d / "registry.csv"
    subprocess.run([os.path.join(BINARY, "crest-gen"), "--rows", "100000", "--seed", "7", "-o", str(out),
                    "--registry", str(reg)], check=True, capture_output=True)
    return out, reg


@pytest.fixture(scope="session")
def kcs(tmp_path_factory):
    """The KCS validation quarter and a registry derived from the train year (docs/replay.md)."""
    valid = os.path.join(KCS, "df_syn_valid_eng.csv")
    train = os.path.join(KCS, "df_syn_train_eng.csv")
    if not (os.path.exists(valid) and os.path.exists(train)):
        pytest.skip("the KCS synthetic data (../shared/data/kcs-synthetic) is absent")
    reg = tmp_path_factory.mktemp("kcs") / "kcs_registry.csv"
    subprocess.run([os.path.join(BINARY, "crest-gen"), "registry-from-history", "--aeo-min", "5", "--valid-from",
                    "2020-01-01", train, "-o", str(reg)], check=True, capture_output=True)
    return valid, str(reg)
