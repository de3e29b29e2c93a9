"""Replay from Python: several policies over one labelled history, read once.

:func:`replay` drives one engine per policy over the same chunks of input, as
``crest replay`` does, with the library's replay accumulators fed by the library's
own hooks (no Python code runs per row). The tables of the returned :class:`Report`
are the CLI's ``periods.csv``, ``tiers.csv`` and ``gain.csv`` as DataFrames.
"""

import io
import json
import os

import numpy as np
import pandas as pd

from . import CrestError, PERIODS, _as_policy, _as_registry, _chunks, _Engine, _score_option, _Sink, _take_text, _text, _with_score  # noqa: F401
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


def _feed_policies(data, policies, registry, options, accumulators=None, score_column=None):
    """Feed data once to one engine per policy, each engine's rows into its
    accumulator. Returns (accumulators, per-policy run stats as dicts)."""
    accs = accumulators or [Accumulator(p, options) for p in policies]
    engines, keep = [], []
    for p, acc in zip(policies, accs):
        opt = lib.crest_run_options_default()
        opt.decide = 0
        _score_option(opt, score_column, keep)
        acc.attach(opt)
        engines.append(_Engine(p, _as_registry(registry, p), opt, data))
    for chunk in _chunks(data):
        for eng, acc in zip(engines, accs):
            st = eng.feed(chunk)
            if st != lib.CREST_OK:
                raise acc.hook_error() or CrestError.from_diag(lib.crest_engine_diag(eng.e))
    stats = []
    for eng, acc in zip(engines, accs):
        st = eng.finish()
        if st != lib.CREST_OK:
            raise acc.hook_error() or CrestError.from_diag(lib.crest_engine_diag(eng.e))
        s = eng.stats
        stats.append({"rows_in": int(s.rows_in), "decisions": int(s.decisions), "rejects": int(s.rejects)})
    return accs, stats


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
           registry=None, score=None):
    """Replay one or more policies over a labelled history (``crest replay``).

    data: a path, bytes, file object or DataFrame, read once. policies: a path or
    :class:`crest.Policy`, a list of them, or a dict name -> policy. label: the 0/1
    column (header name or canonical field). revenue: a revenue column, or
    revenue_rate (and revenue_base, default the declared value) for the proxy
    illicit × rate/100 × base. period: "day", "week", "month" or "none".
    registry: a path (loaded once per policy). score: an external score for
    every policy instead of its [model], as in :func:`crest.run` (``crest replay
    --score-column``). Returns a :class:`Report`."""
    names, pols = _policy_names(policies)
    pols = [_as_policy(p) for p in pols]
    options = ReplayOptions(label, revenue, revenue_rate, revenue_base, period)
    data, column = _with_score(data, score)
    accs, stats = _feed_policies(data, pols, registry, options, score_column=column)
    from . import _input_name

    return Report(names, accs, _input_name(data), stats)
