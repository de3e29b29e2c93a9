"""Replay from Python: several policies over one labelled history, read once.

:func:`replay` reads the input once, as ``crest replay`` does: the policies that can
share a reading are decided together by the library's shared replay
(crest_replay_multi.h, each block read once, the blocks on several threads), any
other policy by an engine of its own fed the same chunks; the library's replay
accumulators are fed by the library's own code (no Python code runs per row). The
tables of the returned :class:`Report` are the CLI's ``periods.csv``, ``tiers.csv``
and ``gain.csv`` as DataFrames.
"""

import io
import json
import os

import numpy as np
import pandas as pd

from . import CrestError, PERIODS, _as_policy, _as_registry, _chunks, _Engine, _input_name, _score_option, _Sink, _take_text, _text, _threads, _with_score  # noqa: F401
from ._lib import ffi, lib

GAIN_POINTS = 101


def _policy_names(policies):
    """Display names: the policy file's base name without extension (as the CLI),
    numbered when two coincide; a dict gives its keys."""
    if isinstance(policies, dict):
        return list(policies.keys()), list(policies.values())
    policies = list(policies) if isinstance(policies, (list, tuple)) else [policies]
    names = []
    for i, p in enumerate(policies):
        if hasattr(p, "path") and p.path is None:
            base = p.name
        else:
            path = p.path if hasattr(p, "path") else os.fspath(p)
            base = os.path.splitext(os.path.basename(path))[0]
        if base in names:
            base = "%s#%d" % (base, i + 1)
        names.append(base)
    return names, policies


class ReplayOptions:
    """The options of a replay accumulator, kept alive for the C side."""

    def __init__(self, label="illicit", revenue=None, revenue_rate=None, revenue_base=None, period="week"):
        if period not in PERIODS:
            raise ValueError("period is one of %s, not %r" % (", ".join(PERIODS), period))
        self.args = dict(label=label, revenue=revenue, revenue_rate=revenue_rate, revenue_base=revenue_base,
                         period=period)
        self._keep = [s.encode() if s is not None else None for s in (label, revenue, revenue_rate, revenue_base)]
        self.c = ffi.new("crest_replay_options *")
        self.c.period = PERIODS[period]
        for field, b in zip(("label", "revenue", "revenue_rate", "revenue_base"), self._keep):
            if b is not None:
                buf = ffi.new("char[]", b)
                self._keep.append(buf)
                setattr(self.c, field, buf)


class Accumulator:
    """One crest_replay: the metrics of one policy over the rows it was given. Its
    state moves between processes as bytes (:meth:`save`, :meth:`load`) and merges
    exactly (:meth:`merge`): counts are added, never averaged."""

    def __init__(self, policy, options):
        self.policy, self.options = policy, options
        self.capacity = lib.crest_policy_red_per_office_day(policy._p) > 0
        copt = ffi.new("crest_replay_options *", options.c[0])
        copt.capacity = int(self.capacity)  # the cap's outcomes come from the engine
        out = ffi.new("crest_replay **")
        diag = ffi.new("crest_diag *")
        if lib.crest_replay_create(policy._p, copt, out, diag) != lib.CREST_OK:
            raise CrestError.from_diag(diag)
        self.r = ffi.gc(out[0], lib.crest_replay_free)
        self.finished = False

    def attach(self, opt):
        lib.crest_replay_attach(self.r, ffi.addressof(opt))
        if self.capacity:  # the cap works on the rendered day: decide, render, drop
            opt.decide = 1
            self._discard = _Sink(keep=False)
            self._discard.attach(opt.output)
            opt.passthrough_override = 2  # none

    def hook_error(self):
        d = lib.crest_replay_attach_diag(self.r)
        return CrestError.from_diag(d) if d != ffi.NULL else None

    def merge(self, other):
        if lib.crest_replay_merge(self.r, other.r) != lib.CREST_OK:
            raise CrestError("cannot merge replays of different policies, periods or finished ones",
                             "CREST_ERR_STATE", "<replay>")

    def save(self):
        n = ffi.new("size_t *")
        p = lib.crest_replay_save(self.r, n)
        if p == ffi.NULL:
            raise MemoryError("crest: cannot save the replay state")
        try:
            return bytes(ffi.buffer(p, n[0]))
        finally:
            lib.crest_replay_free_saved(p)

    def load(self, state):
        diag = ffi.new("crest_diag *")
        if lib.crest_replay_load(self.r, state, len(state), diag) != lib.CREST_OK:
            raise CrestError.from_diag(diag)

    def finish(self):
        if not self.finished:
            if lib.crest_replay_finish(self.r) != lib.CREST_OK:
                raise MemoryError("crest: out of memory computing the metrics")
            self.finished = True


def _can_share(policies):
    """True when the policies can share one reading of the input
    (crest_multi_can_share: each decides its rows alone, no capacity cap, the same
    CSV dialect)."""
    arr = ffi.new("crest_policy *[]", [p._p for p in policies])
    return bool(lib.crest_multi_can_share(arr, len(policies)))


class _SharedReading:
    """A crest_replay_multi (crest_replay_multi.h): the input read once for several
    policies, every block decided by each of them on `threads` threads, each
    policy's rows added to its accumulator in input order. Free it with close()."""

    def __init__(self, policies, registries, accs, input_name, score_column, threads):
        self._keep = [policies, registries, accs]
        self._name = ffi.new("char[]", input_name.encode())
        opts = ffi.new("crest_run_options[]", len(policies))
        for k in range(len(policies)):
            opts[k] = lib.crest_run_options_default()
            opts[k].input_name = self._name
            _score_option(opts[k], score_column, self._keep)
        reps = ffi.new("crest_replay *[]", [a.r for a in accs])
        regs = ffi.new("crest_registry *[]", [r._r if r else ffi.NULL for r in registries])
        out = ffi.new("crest_replay_multi **")
        diag = ffi.new("crest_diag *")
        if lib.crest_replay_multi_create(len(policies), reps, regs, opts, threads, ffi.NULL, out, diag) != lib.CREST_OK:
            raise CrestError.from_diag(diag)
        self.m = out[0]
        self.n = len(policies)
        self._held = []  # bytes read in place stay alive (and unchanged) until the end

    def feed(self, chunk):
        if len(chunk) >= _STABLE_BYTES:  # a whole input in memory: read in place, no copy
            self._held.append(chunk)
            return lib.crest_replay_multi_feed_stable(self.m, chunk, len(chunk))
        return lib.crest_replay_multi_feed(self.m, chunk, len(chunk))

    def finish(self):
        return lib.crest_replay_multi_finish(self.m)

    def error(self):
        """Why the reading stopped: the accumulator's reason, else the engine's."""
        k = lib.crest_replay_multi_failed(self.m)
        d = lib.crest_replay_multi_diag(self.m, k)
        return CrestError.from_diag(d if d != ffi.NULL else lib.crest_engine_diag(lib.crest_replay_multi_engine(self.m, k)))

    def stats(self, k):
        return lib.crest_engine_stats(lib.crest_replay_multi_engine(self.m, k))

    def close(self):
        if self.m is not None:
            lib.crest_replay_multi_free(self.m)
            self.m = None
            self._held = []


# An input chunk this big is the whole input held in memory (bytes or a
# DataFrame's CSV): the shared reading reads it in place instead of copying it.
_STABLE_BYTES = 4 << 20


def _feed_policies(data, policies, registry, options, accumulators=None, score_column=None, threads=None,
                   shared=True):
    """Feed data once to every policy, each policy's rows into its accumulator.
    The policies that can share a reading (:func:`_can_share`, as ``crest replay``
    picks them) are decided together on `threads` threads (default: the cores, at
    most 8), each block of the input read once; each other policy (all of them
    when shared is false) gets an engine of its own, in this thread. The
    accumulators end the same either way. Returns (accumulators, per-policy run
    stats as dicts)."""
    accs = accumulators or [Accumulator(p, options) for p in policies]
    group = []  # indices of the policies in the shared reading
    for i, p in enumerate(policies):
        if shared and _can_share([policies[j] for j in group] + [p]):
            group.append(i)
    reading, engines, keep = None, {}, []
    try:
        if group:
            reading = _SharedReading([policies[i] for i in group], [_as_registry(registry, policies[i]) for i in group],
                                     [accs[i] for i in group], _input_name(data), score_column, _threads(threads))
        for i, (p, acc) in enumerate(zip(policies, accs)):
            if i in group:
                continue
            opt = lib.crest_run_options_default()
            opt.decide = 0
            _score_option(opt, score_column, keep)
            acc.attach(opt)
            engines[i] = _Engine(p, _as_registry(registry, p), opt, data)

        def engine_error(i):
            return accs[i].hook_error() or CrestError.from_diag(lib.crest_engine_diag(engines[i].e))

        for chunk in _chunks(data):
            if reading and reading.feed(chunk) != lib.CREST_OK:
                raise reading.error()
            for i, eng in engines.items():
                if eng.feed(chunk) != lib.CREST_OK:
                    raise engine_error(i)
        if reading and reading.finish() != lib.CREST_OK:
            raise reading.error()
        for i, eng in engines.items():
            if eng.finish() != lib.CREST_OK:
                raise engine_error(i)
        stats = []
        for i in range(len(policies)):
            s = reading.stats(group.index(i)) if i in group else engines[i].stats
            stats.append({"rows_in": int(s.rows_in), "decisions": int(s.decisions), "rejects": int(s.rejects)})
        return accs, stats
    finally:
        if reading:
            reading.close()


def _to_frame(text):
    return pd.read_csv(io.StringIO(text), dtype={"policy": str, "period": str, "tier": str, "ratio_tier": str},
                       keep_default_na=False, na_values=[""])


class Report:
    """The result of a replay. ``periods`` (per policy and period, then a ``total``
    row: the CLI's periods.csv), ``tiers`` (tiers.csv), ``gain`` (gain.csv: the
    gain curve of each policy's ranking, 101 points), ``totals`` (the total rows
    of ``periods``, indexed by policy), ``json`` (replay.json as a dict),
    ``stats`` (rows in, decisions, rejects per policy)."""

    def __init__(self, names, accumulators, input_name, stats=None, partial=False):
        for a in accumulators:
            a.finish()
        self.names = list(names)
        self.policies = [a.policy for a in accumulators]
        self._accs = accumulators
        c_names = [ffi.new("char[]", n.encode()) for n in self.names]
        reps = ffi.new("crest_replay *[]", [a.r for a in accumulators])
        cn = ffi.new("char *[]", c_names)
        iname = ffi.new("char[]", input_name.encode())
        rset = ffi.new("crest_replay_set *", {"reps": reps, "names": cn, "n": len(accumulators),
                                              "input_name": iname, "partial": int(partial)})
        self.periods_csv = _take_text(lib.crest_replay_csv_periods(rset))
        self.tiers_csv = _take_text(lib.crest_replay_csv_tiers(rset))
        self.json = json.loads(_take_text(lib.crest_replay_json(rset)))
        self.periods = _to_frame(self.periods_csv)
        self.tiers = _to_frame(self.tiers_csv)
        self.totals = self.periods[self.periods["period"] == "total"].set_index("policy")
        self.gain = self._gain()
        self.stats = dict(zip(self.names, stats or [{}] * len(self.names)))
        self.input_name = input_name

    def _gain(self):
        frames = []
        for name, a in zip(self.names, self._accs):
            x, y, v = (ffi.new("double[]", GAIN_POINTS) for _ in range(3))
            lib.crest_replay_gain(a.r, GAIN_POINTS, x, y, v)
            frames.append(pd.DataFrame({"policy": name, "share_inspected": np.frombuffer(ffi.buffer(x), np.float64),
                                        "share_illicit": np.frombuffer(ffi.buffer(y), np.float64),
                                        "share_revenue": np.frombuffer(ffi.buffer(v), np.float64)}))
        return pd.concat(frames, ignore_index=True)

    def plot(self, what=("precision", "recall", "revenue_share"), ax=None):
        """Precision, recall and revenue share per period, the policies overlaid on
        one set of axes per metric (matplotlib; ImportError without it). Periods of
        fewer than a quarter of the median period's rows are drawn hollow and left
        out of the axis scaling. Returns the matplotlib Figure."""
        import matplotlib.pyplot as plt

        what = [what] if isinstance(what, str) else list(what)
        per = self.periods[self.periods["period"] != "total"]
        if ax is None:
            fig, axes = plt.subplots(len(what), 1, figsize=(9, 2.8 * len(what)), sharex=True, squeeze=False)
            axes = axes[:, 0]
        else:
            axes, fig = np.atleast_1d(ax), np.atleast_1d(ax)[0].figure
        for metric, a in zip(what, axes):
            top = 0.0
            for name in self.names:
                d = per[per["policy"] == name]
                if d.empty:
                    continue
                small = d["rows"] < 0.25 * d["rows"].median()
                x = pd.to_datetime(d["period"], errors="coerce")
                a.plot(x[~small], d[metric][~small], marker="o", ms=3, label=name)
                if small.any():
                    a.plot(x[small], d[metric][small], "o", mfc="none", color=a.lines[-1].get_color())
                if (~small).any():
                    top = max(top, np.nanmax(d[metric][~small].to_numpy(dtype=float), initial=0.0))
                lo, hi = metric + "_lo", metric + "_hi"
                if lo in d and hi in d:
                    a.fill_between(x, d[lo], d[hi], alpha=0.15, color=a.lines[-1].get_color())
            a.set_ylim(0, min(1.0, top * 1.15) if top > 0 else 1.0)
            a.set_ylabel(metric.replace("_", " ") + " (share)")
            a.grid(True, alpha=0.3)
        axes[0].legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
        axes[-1].set_xlabel("period (%s)" % self.json.get("period", ""))
        fig.tight_layout()
        return fig

    def __repr__(self):
        cols = ["rows", "inspected", "hits", "precision", "recall", "revenue_share"]
        return "Report(%s)\n%s" % (self.input_name, self.totals[cols].to_string())


def replay(data, policies, label="illicit", revenue=None, revenue_rate=None, revenue_base=None, period="week",
           registry=None, score=None, threads=None):
    """Replay one or more policies over a labelled history (``crest replay``).

    data: a path, bytes, file object or DataFrame, read once. policies: a path or
    :class:`crest.Policy`, a list of them, or a dict name -> policy. label: the 0/1
    column (header name or canonical field). revenue: a revenue column, or
    revenue_rate (and revenue_base, default the declared value) for the proxy
    illicit × rate/100 × base. period: "day", "week", "month" or "none".
    registry: a path (loaded once per policy). score: an external score for
    every policy instead of its [model], as in :func:`crest.run` (``crest replay
    --score-column``). threads: 1 to 8 (default: the cores, at most 8) — policies
    that can share a reading (no [control] windows, floor_period, [capacity],
    duplicate_ids = reject or unknown_tier = error) are decided together, each
    block of the input read once, the blocks on that many threads, as ``crest
    replay --threads``; the others each read the input on their own. The results
    are the same whatever the threads. Returns a :class:`Report`."""
    names, pols = _policy_names(policies)
    pols = [_as_policy(p) for p in pols]
    options = ReplayOptions(label, revenue, revenue_rate, revenue_base, period)
    data, column = _with_score(data, score)
    accs, stats = _feed_policies(data, pols, registry, options, score_column=column, threads=threads)
    return Report(names, accs, _input_name(data), stats)
