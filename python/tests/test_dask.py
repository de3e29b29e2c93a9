"""crest.dask on a distributed LocalCluster of 2 worker processes: decisions equal
to one process (byte for byte, also with quoted fields holding newlines, cut
anywhere), replay metrics merged exactly."""

import os

import pandas as pd
import pytest

dask = pytest.importorskip("dask")
dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")

import crest  # noqa: E402
import crest.dask as cdask  # noqa: E402
from conftest import cli, src  # noqa: E402


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, memory_limit="1GB",
                                       dashboard_address=None, host="127.0.0.1")
    with distributed.Client(cluster) as c:
        yield c
    cluster.close()


def write_hostile(decls, path, rows):
    """Generated rows where quoted fields hold newlines, quotes and commas, then one bad row."""
    df = pd.read_csv(decls, dtype=str, keep_default_na=False, nrows=rows)
    df.loc[::7, "goods_desc"] = df.loc[::7, "goods_desc"] + '\n"quoted"\nline, more'
    df.loc[::13, "goods_desc"] = '"\n'
    df.to_csv(path, index=False)
    with open(path, "ab") as f:
        f.write(b"bad,row\n")
    return path


@pytest.fixture(scope="module")
def invariant_policy():
    """The shipped Order 251 policy: its floors draw at a fixed margin rate
    (floor_confidence), so its decisions depend only on (seed, policy, row) and
    partitions give the one-process answer, which is what these tests prove."""
    return src("policies", "order251.conf")


@pytest.fixture(scope="module")
def ordered_policy(tmp_path_factory):
    """The same with `floor_period = month`, the opt-in running counter: decided in
    input order, so partitions may decide differently (docs/floors.md)."""
    text = open(src("policies", "order251.conf"), encoding="utf-8").read()
    assert "floor_period" not in text.replace("# floor_period", "")
    out = []
    for line in text.splitlines(True):
        out.append(line)
        if line.strip() == "[tier DISHONEST]":
            out.append("floor_period = month\n")
    assert len(out) == len(text.splitlines()) + 1
    path = tmp_path_factory.mktemp("policy") / "order251_month_counter.conf"
    path.write_text("".join(out), encoding="utf-8")
    return str(path)


@pytest.fixture(scope="module")
def hostile(tmp_path_factory, generated):
    return write_hostile(generated[0], tmp_path_factory.mktemp("dask") / "hostile.csv", 20000)


def test_split_cuts_at_record_boundaries(generated, tmp_path):
    small = write_hostile(generated[0], tmp_path / "small.csv", 1000)
    data = small.read_bytes()
    for blocksize in (61, 997, 50_000, 1 << 30):
        parts = cdask.split(small, blocksize=blocksize, compute=lambda *t: dask.compute(*t, scheduler="sync"))
        assert len(parts) >= min(3, len(data) // blocksize)
        assert parts[0].start == data.index(b"\n") + 1
        assert b"".join(data[p.start:p.end] for p in parts) == data[parts[0].start:]
        for p in parts:  # every part parses as whole records: the reader sees no cut quote
            body = data[p.start:p.end]
            assert body.count(b'"') % 2 == 0 and body.endswith(b"\n")
            assert p.first_line == data[:p.start].count(b"\n") + 1


def test_files_equal_one_process(client, hostile, invariant_policy, tmp_path):
    rej = tmp_path / "rejects.csv"
    want = cli("run", "-q", "--policy", invariant_policy, "--rejects", str(rej), str(hostile)).stdout
    got, rejects, counts = cdask.run_files(hostile, policy=invariant_policy, blocksize=100_000, raw=True)
    assert got == want
    assert rejects == rej.read_bytes() and counts["rejects"] == 1 and counts["rows_in"] == 20001
    frame = cdask.run_files(hostile, policy=invariant_policy, blocksize=1_000_000).compute()
    pd.testing.assert_frame_equal(frame.reset_index(drop=True), crest.run(hostile, policy=invariant_policy))


def test_dataframe_equals_one_process(client, generated, invariant_policy, tmp_path):
    decls, reg = generated
    part = tmp_path / "20k.csv"  # a fifth of the rows keeps the test quick on a busy machine
    with open(decls, "rb") as f:
        part.write_bytes(b"".join(f.readline() for _ in range(20_001)))
    whole = crest.run(part, policy=invariant_policy, registry=reg)
    ddf = dd.read_csv(str(part), dtype=str, keep_default_na=False, blocksize=1_500_000)
    assert ddf.npartitions >= 2
    got = cdask.run(ddf, policy=invariant_policy, registry=reg).compute().reset_index(drop=True)
    pd.testing.assert_frame_equal(got, whole)


def test_order_dependent_policy_is_not_partition_invariant(client, generated, ordered_policy, tmp_path):
    """The equality above is not automatic: a running per-month counter decides
    differently when the rows come in parts (the check these tests could fail)."""
    decls, reg = generated
    part = tmp_path / "20k.csv"
    with open(decls, "rb") as f:
        part.write_bytes(b"".join(f.readline() for _ in range(20_001)))
    want = cli("run", "-q", "--threads", "1", "--policy", ordered_policy, "--registry", str(reg), str(part)).stdout
    got = cdask.run_files(part, policy=ordered_policy, registry=reg, blocksize=200_000, raw=True)[0]
    assert got.count(b"\n") == want.count(b"\n") == 20_001 and got != want


def test_replay_merges_exactly(client, generated, invariant_policy):
    decls, reg = generated
    policies = {"order251_rules": src("policies", "order251_rules.conf"), "order251": invariant_policy}
    one = crest.replay(decls, policies, label="illicit", revenue="revenue", period="month", registry=reg)
    many = cdask.replay(decls, policies, label="illicit", revenue="revenue", period="month", registry=reg,
                        blocksize=1_000_000)
    counts = ["rows", "unlabelled", "illicit", "inspected", "forced", "random", "risk", "hits", "random_stream",
              "random_stream_hits", "zero_p_rows", "aeo_missed_illicit", "k_at_1", "k_at_10"]
    assert one.totals.loc["order251_rules", "rows"] == 100_000
    pd.testing.assert_frame_equal(one.periods[counts], many.periods[counts])
    pd.testing.assert_frame_equal(one.periods, many.periods, rtol=1e-12)
    pd.testing.assert_frame_equal(one.tiers, many.tiers, rtol=1e-12)
    pd.testing.assert_frame_equal(one.gain, many.gain, rtol=1e-12)
    assert many.stats["order251"]["rows_in"] == 100_000


def _set_env(values):
    """Set (or with None, remove) environment variables in this process; run on
    the workers by client.run, so that their accumulators see them."""
    for k, v in values.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def test_replay_merges_exactly_spilled(client, generated, invariant_policy, monkeypatch):
    """The same replay with every accumulator's ranking spilled to its temporary
    file every 1,000 rows (CREST_REPLAY_BUFFER_ROWS) and tied rows not combined
    (CREST_REPLAY_COMBINE=0: combined, these policies' rankings fit in far fewer
    rows): the workers save states holding sorted runs, the client loads them
    into its own file. Tables equal the in-memory, combined replay's bit for
    bit; and the workers really spill: with no temporary directory they fail
    with its name."""
    decls, reg = generated
    policies = {"order251_rules": src("policies", "order251_rules.conf"), "order251": invariant_policy}
    args = dict(label="illicit", revenue="revenue", period="month", registry=reg)
    mem = cdask.replay(decls, policies, blocksize=1_000_000, **args)
    one_mem = crest.replay(decls, policies, **args)
    keep = {k: os.environ.get(k) for k in ("CREST_REPLAY_BUFFER_ROWS", "CREST_REPLAY_COMBINE", "TMPDIR")}
    try:
        client.run(_set_env, {"CREST_REPLAY_BUFFER_ROWS": "1000", "CREST_REPLAY_COMBINE": "0"})
        monkeypatch.setenv("CREST_REPLAY_BUFFER_ROWS", "1000")
        monkeypatch.setenv("CREST_REPLAY_COMBINE", "0")
        spilled = cdask.replay(decls, policies, blocksize=1_000_000, **args)
        one = crest.replay(decls, policies, **args)
        client.run(_set_env, {"TMPDIR": "/nonexistent-crest-tmp"})
        with pytest.raises(Exception, match="nonexistent-crest-tmp"):
            cdask.replay(decls, policies, blocksize=1_000_000, **args)
    finally:
        client.run(_set_env, keep)
    for table in ("periods", "tiers", "gain"):
        pd.testing.assert_frame_equal(getattr(mem, table), getattr(spilled, table), check_exact=True)
        pd.testing.assert_frame_equal(getattr(one_mem, table), getattr(one, table), check_exact=True)
    assert spilled.stats["order251"]["rows_in"] == 100_000


def test_parts_merge_in_part_order_whatever_order_they_end_in():
    """The merge takes the parts' results in part order, each as soon as its turn
    has come, however the cluster completes them; a part that never comes back
    is an error, never a silent gap."""
    arrivals = [(3, "d"), (1, "b"), (0, "a"), (4, "e"), (2, "c")]
    held = []

    def tracked():
        for pair in arrivals:
            yield pair
            held.append(pair[0])

    assert list(cdask._in_order(tracked())) == ["a", "b", "c", "d", "e"]
    taken = []
    gen = cdask._in_order(iter(arrivals))
    taken.append(next(gen))  # "a" is out as soon as parts 3, 1, 0 are in: 3 and 1 still wait
    assert taken == ["a"]
    assert next(gen) == "b"
    with pytest.raises(RuntimeError, match="part 1 never did"):
        list(cdask._in_order(iter([(0, "a"), (2, "c")])))


def test_replay_on_the_cluster_fetches_parts_as_they_end(client, generated, invariant_policy):
    """With a distributed client every part's result comes back through
    _completed (as_completed), once each; the merged report equals, bit for bit,
    the one merged after computing all parts at once (the same part order), and
    the one-process replay (counts exactly, sums up to their summation order)."""
    decls, reg = generated
    args = dict(label="illicit", revenue="revenue", period="month", registry=reg)
    policies = {"order251_rules": src("policies", "order251_rules.conf"), "order251": invariant_policy}
    seen = []
    real = cdask._completed

    def spy(tasks):
        for i, result in real(tasks):
            seen.append(i)
            yield i, result

    try:
        cdask._completed = spy
        got = cdask.replay(decls, policies, blocksize=1_000_000, **args)
        cdask._completed = lambda tasks: enumerate(dask.compute(*tasks))
        all_at_once = cdask.replay(decls, policies, blocksize=1_000_000, **args)
    finally:
        cdask._completed = real
    parts = cdask.split(decls, 1_000_000)
    assert sorted(seen) == list(range(len(parts))) and len(parts) > 2
    one = crest.replay(decls, policies, **args)
    for table in ("periods", "tiers", "gain"):
        pd.testing.assert_frame_equal(getattr(all_at_once, table), getattr(got, table), check_exact=True)
        pd.testing.assert_frame_equal(getattr(one, table), getattr(got, table), rtol=1e-12)
