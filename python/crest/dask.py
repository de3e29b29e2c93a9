"""Batch scale-out on Dask: the same decisions, many machines.

Every decision depends only on the policy, the declaration and the keyed draw
(seed, decl_id), never on the other rows, so a history cut into parts and decided
part by part on any number of workers gives the decisions of one process, byte for
byte. Replay metrics are merged from the parts' accumulators: counts and sums are
added and the ranking rows pooled, so precision, recall, intervals and the @n%
metrics are computed once over all rows (never averages of per-part averages).

- :func:`run` decides a dask DataFrame partition by partition.
- :func:`split` cuts CSV files at record boundaries (quote parity, in parallel:
  see below); :func:`run_files` decides the parts; :func:`replay` replays them.

Policies travel to the workers as their path (or text), registries as their path:
the files must be readable on every worker (a shared file system or the same
checkout). Needs python3-dask and python3-distributed (a ``distributed.Client``
is used when one is active, else Dask's default scheduler).
"""

import csv
import io
import os

import numpy as np
import pandas as pd

import dask
import dask.dataframe as dd

from . import Policy, PASSTHROUGH, _as_policy, _read_decisions, _run_engine, _frame_csv
from .report import Accumulator, ReplayOptions, Report, _feed_policies, _policy_names

DEFAULT_BLOCKSIZE = 64 << 20
_NL, _QUOTE = 10, 34


# --------------------------------------------------------------- policies


def _spec(policy):
    """What a worker needs to load a policy again: ("path", p), ("text", t) or ("builtin",)."""
    p = _as_policy(policy)
    if p.path is not None:
        return ("path", os.path.abspath(p.path))
    if getattr(p, "_text", None) is not None:
        return ("text", p._text, p._label)
    return ("builtin",)


_policies = {}


def _load(spec):
    """A policy per worker process, loaded once."""
    if spec not in _policies:
        if spec[0] == "path":
            _policies[spec] = Policy(spec[1])
        elif spec[0] == "text":
            _policies[spec] = Policy(text=spec[1], name=spec[2])
        else:
            _policies[spec] = Policy()
    return _policies[spec]


def _reg(registry):
    return os.path.abspath(os.fspath(registry)) if registry is not None else None


# ------------------------------------------------------- DataFrame input


def _run_frame(frame, spec, registry, passthrough):
    text, _, _ = _run_engine(_frame_csv(frame), _load(spec), registry, 1, passthrough)
    return _read_decisions(text)


def run(ddf, policy=None, registry=None, passthrough=None):
    """Decide a dask DataFrame of declarations: one engine per partition (one
    thread each; Dask runs the partitions in parallel). Returns a lazy dask
    DataFrame of decisions, partitioned as the input, with the columns and types of
    :func:`crest.run`. Give identifiers as strings (``dtype=str`` when reading)."""
    if passthrough is not None and passthrough not in PASSTHROUGH:
        raise ValueError("passthrough is all, unmapped or none")
    spec, reg = _spec(policy), _reg(registry)
    meta = _run_frame(ddf._meta, spec, reg, passthrough)
    return ddf.map_partitions(_run_frame, spec, reg, passthrough, meta=meta)


# ------------------------------------------------------------- file input


def _scan_block(path, start, end):
    """Quote parity within bytes [start, end) of a file: the number of quotes and
    newlines, and for each local parity (even, odd) the first newline after which
    a record would end (its offset + 1) and the newlines up to and including it.
    A record ends at a newline when the quotes before it are balanced (RFC 4180: an
    escaped quote is two quotes, so parity is kept)."""
    with open(path, "rb") as f:
        f.seek(start)
        b = np.frombuffer(f.read(end - start), dtype=np.uint8)
    quotes = np.flatnonzero(b == _QUOTE)
    nl = np.flatnonzero(b == _NL)
    # local parity of the quotes before each newline (a newline is not a quote)
    parity = (np.searchsorted(quotes, nl) & 1).astype(bool)
    out = [int(len(quotes)), int(len(nl))]
    for want_odd in (False, True):
        # a newline ends a record when the global parity before it is even:
        # local parity == the parity of the quotes before the block
        hit = np.flatnonzero(parity == want_odd)
        if len(hit):
            k = int(hit[0])
            out += [start + int(nl[k]) + 1, k + 1]
        else:
            out += [None, None]
    return tuple(out)


class Part:
    """Bytes [start, end) of a CSV file, a whole number of records, to be read
    after the file's header; first_line is the file line of its first byte."""

    def __init__(self, path, header, start, end, first_line):
        self.path, self.header, self.start, self.end, self.first_line = path, header, start, end, first_line

    def read(self):
        with open(self.path, "rb") as f:
            f.seek(self.start)
            return self.header + f.read(self.end - self.start)

    def __repr__(self):
        return "Part(%r, %d..%d, line %d)" % (self.path, self.start, self.end, self.first_line)


def split(paths, blocksize=DEFAULT_BLOCKSIZE, compute=None):
    """Cut CSV files into parts of about ``blocksize`` bytes at record boundaries.

    Quoted fields may hold newlines, so a line end is a record end only when the
    quotes before it balance. Each block's quotes are counted independently (in
    parallel: ``compute`` is dask.compute by default), then the parity before
    every block follows from the counts, and each cut is the block's first newline
    at even global parity — exact, with one read of each file. A block without
    such a newline joins the previous part. Returns a list of :class:`Part`; the
    header (the first record) is read once per file and given to every part."""
    compute = compute or dask.compute
    paths = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    tasks = []
    for path in paths:
        path = os.path.abspath(os.fspath(path))
        size = os.path.getsize(path)
        bounds = list(range(0, size, blocksize)) + [size]
        tasks.append((path, size, bounds, [dask.delayed(_scan_block)(path, a, b) for a, b in zip(bounds, bounds[1:])]))
    scanned = compute(*[t[3] for t in tasks])
    parts = []
    for (path, size, bounds, _), scans in zip(tasks, scanned):
        cuts = []  # (offset, lines before it)
        parity, lines = 0, 0
        for (q, n_nl, even_at, even_nl, odd_at, odd_nl) in scans:
            at, nl = (even_at, even_nl) if parity == 0 else (odd_at, odd_nl)
            if at is not None:
                cuts.append((at, lines + nl))
            parity, lines = (parity + q) & 1, lines + n_nl
        if not cuts:  # one record, no line end at balanced quotes: the header alone or nothing
            continue
        header_end, _ = cuts[0]
        with open(path, "rb") as f:
            header = f.read(header_end)
        body = [c for c in cuts[1:] if c[0] < size]
        starts = [(header_end, 1)] + body
        ends = [c[0] for c in body] + [size]
        for (s, l0), e in zip(starts, ends):
            if e > s:
                parts.append(Part(path, header, s, e, l0 + 1))
    return parts


def _file_lines(rejects, part):
    """Rejects of a part with the file's line numbers (the part is read after the
    header, whose lines are the part's first)."""
    if not rejects:
        return rejects
    shift = part.first_line - 1 - part.header.count(b"\n")
    rows = list(csv.reader(io.StringIO(rejects.decode("utf-8", "surrogateescape"), newline="")))
    out = io.StringIO(newline="")
    w = csv.writer(out, lineterminator="\n")
    w.writerow(rows[0])
    for r in rows[1:]:
        w.writerow([str(int(r[0]) + shift)] + r[1:])
    return out.getvalue().encode("utf-8", "surrogateescape")


def _decide_part(part, spec, registry, passthrough, out_path=None, header=None):
    text, rejects, summary = _run_engine(part.read(), _load(spec), registry, 1, passthrough)
    counts = {k: summary[k] for k in ("rows_in", "decisions", "rejects")}
    if out_path is not None:  # the worker writes its part; only counts travel
        with open(out_path + ".tmp", "wb") as f:
            f.write(text if header is None else _strip_header(text, header))
        os.replace(out_path + ".tmp", out_path)
        text = b""
    return text, _file_lines(rejects, part), counts


def _strip_header(text, header):
    if not text.startswith(header):
        raise RuntimeError("crest.dask: a part's output does not start with the output header")
    return text[len(header):]


def run_files(paths, policy=None, registry=None, passthrough=None, blocksize=DEFAULT_BLOCKSIZE, raw=False,
              output_dir=None):
    """Decide CSV files cut by :func:`split`, one task per part.

    Returns a dask DataFrame of decisions (the types of :func:`crest.run`), or with
    ``raw=True``, computed, a tuple: the decisions as the bytes ``crest run`` writes
    (for several files: their decisions concatenated under one header), the
    rejects as ``crest run --rejects`` writes them (with the file's line numbers),
    and the counts (rows_in, decisions, rejects) summed over the parts. With
    ``output_dir`` (a directory every worker can write), each worker writes its
    part's decisions there as part-00000.csv, part-00001.csv, ... (the first with
    the header: ``cat part-*.csv`` is the bytes of ``crest run``) and only counts
    and rejects come back: the tuple then holds the list of files first."""
    spec, reg = _spec(policy), _reg(registry)
    parts = split(paths, blocksize)
    if not parts:
        raise ValueError("crest.dask: no declarations in %r" % (paths,))
    header = _run_engine(parts[0].header, _load(spec), reg, 1, passthrough)[0]
    if output_dir is not None:
        os.makedirs(output_dir, exist_ok=True)
        files = [os.path.join(os.path.abspath(output_dir), "part-%05d.csv" % i) for i in range(len(parts))]
        done = dask.compute(*[dask.delayed(_decide_part)(p, spec, reg, passthrough, f, header if i else None)
                              for i, (p, f) in enumerate(zip(parts, files))])
        rej_header = b"line,reason,column,message,record,truncated\n"
        counts = {k: sum(t[2][k] for t in done) for k in ("rows_in", "decisions", "rejects")}
        return files, rej_header + b"".join(_strip_header(t[1], rej_header) for t in done), counts
    tasks = [dask.delayed(_decide_part)(p, spec, reg, passthrough) for p in parts]
    if raw:
        done = dask.compute(*tasks)
        rej_header = b"line,reason,column,message,record,truncated\n"
        counts = {k: sum(t[2][k] for t in done) for k in ("rows_in", "decisions", "rejects")}
        return (header + b"".join(_strip_header(t[0], header) for t in done),
                rej_header + b"".join(_strip_header(t[1], rej_header) for t in done), counts)
    meta = _read_decisions(header)

    def frame(result):
        return _read_decisions(result[0]) if result[0] else meta

    return dd.from_delayed([dask.delayed(frame)(t) for t in tasks], meta=meta)


# ----------------------------------------------------------------- replay


def _replay_part(part, specs, registry, opt_args, threads=None):
    pols = [_load(s) for s in specs]
    options = ReplayOptions(**opt_args)
    data = part.read() if isinstance(part, Part) else _frame_csv(part)
    accs, stats = _feed_policies(data, pols, registry, options, threads=threads)
    return [a.save() for a in accs], stats


def _completed(tasks):
    """The tasks' results as (index, result) pairs, in the order they complete.
    With a ``distributed`` client each result is fetched as soon as its task ends
    and the cluster forgets it then, so the client holds the results not yet
    merged, not all of them; without one, Dask's scheduler computes them all."""
    try:
        from distributed import as_completed, get_client
        client = get_client()
    except (ImportError, ValueError):  # no distributed client: the default scheduler
        yield from enumerate(dask.compute(*tasks))
        return
    futures = client.compute(list(tasks))
    where = {id(f): i for i, f in enumerate(futures)}
    try:
        for fut in as_completed(futures):
            i = where[id(fut)]
            result = fut.result()
            futures[i] = None
            fut.release()
            yield i, result
    finally:
        client.cancel([f for f in futures if f is not None])


def _in_order(pairs):
    """Results of (index, result) pairs that arrive in any order, given back in
    index order as soon as each one's turn has come."""
    waiting, turn = {}, 0
    for i, result in pairs:
        waiting[i] = result
        while turn in waiting:
            yield waiting.pop(turn)
            turn += 1
    if waiting:
        raise RuntimeError("crest.dask: parts %s came back, part %d never did" % (sorted(waiting), turn))


def _merge_states(specs, opt_args, results):
    """Load the parts' states into one accumulator per policy, parts in order
    (``results`` in part order; each is dropped once loaded)."""
    pols = [_load(s) for s in specs]
    options = ReplayOptions(**opt_args)
    accs = [Accumulator(p, options) for p in pols]
    totals = [{"rows_in": 0, "decisions": 0, "rejects": 0} for _ in pols]
    for states, stats in results:
        for acc, state, tot, st in zip(accs, states, totals, stats):
            acc.load(state)
            for k in tot:
                tot[k] += st[k]
    return accs, totals


def replay(data, policies, label="illicit", revenue=None, revenue_rate=None, revenue_base=None, period="week",
           registry=None, blocksize=DEFAULT_BLOCKSIZE, threads=None):
    """:func:`crest.replay` over a cluster: ``data`` is CSV file path(s), cut by
    :func:`split`, or a dask DataFrame. Each part is replayed on a worker for every
    policy; the parts' accumulator states (counts, sums, ranking rows: 32 bytes a
    row at most) are merged exactly on the client, in part order, each as soon as
    its turn has come (with a ``distributed`` client the client keeps only the
    states that arrived before their turn, and the merged ranking spills to a
    temporary file as in one process). Returns a :class:`crest.Report` whose
    tables equal a one-process replay's (counts exactly, sums of revenue and HT
    terms up to rounding of the summation order). threads: each part's deciding
    threads (default: the worker machine's cores, at most 8), as in
    :func:`crest.replay`."""
    names, pols = _policy_names(policies)
    specs = [_spec(p) for p in pols]
    opt_args = dict(label=label, revenue=revenue, revenue_rate=revenue_rate, revenue_base=revenue_base,
                    period=period)
    reg = _reg(registry)
    if isinstance(data, dd.DataFrame):
        parts = data.to_delayed()
        name = "<dask DataFrame>"
    else:
        parts = split(data, blocksize)
        name = ",".join(os.fspath(p) for p in ([data] if isinstance(data, (str, os.PathLike)) else data))
    tasks = [dask.delayed(_replay_part)(p, specs, reg, opt_args, threads) for p in parts]
    accs, stats = _merge_states(specs, opt_args, _in_order(_completed(tasks)))
    return Report(names, accs, name, stats)
