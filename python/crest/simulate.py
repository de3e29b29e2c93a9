"""The online simulation (``crest replay --simulate``) from Python, over one or
more seeds: per seed the library's per-period table, and across seeds the mean,
standard deviation and 95% interval (Student t) of each metric per period.

Rows reach the simulation through a Python callback per row (the library keeps
them all in memory anyway); the selection, refits and metrics are the library's.
"""

import io
import math

import numpy as np
import pandas as pd

from . import CrestError, PERIODS, Policy, _as_policy, _as_registry, _chunks, _Engine, _take_text, _text  # noqa: F401
from ._lib import ffi, lib
from .report import ReplayOptions, Accumulator

# Student t quantiles t(0.975, df) for df = 1..30; beyond, the normal 1.96.
_T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145,
         2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048,
         2.045, 2.042]
METRICS = ["precision", "recall", "revenue_share", "norm_precision", "norm_revenue", "ma_precision",
           "ma_recall", "ma_revenue_share", "ma_norm_precision", "ma_norm_revenue"]


def _read(sim, labels, policy, registry, data, train):
    failed = []

    @ffi.callback("int(void *, const crest_str *, size_t)")
    def on_header(ctx, header, n):
        diag = ffi.new("crest_diag *")
        if (lib.crest_replay_header(labels.r, header, n, diag) != lib.CREST_OK
                or lib.crest_sim_header(sim, header, n, diag) != lib.CREST_OK):
            failed.append(CrestError.from_diag(diag))
            return 1
        return 0

    y = ffi.new("int *")
    v = ffi.new("double *")

    @ffi.callback("int(void *, const crest_decl *, const crest_decision *, unsigned long)")
    def on_decl(ctx, decl, decision, line):
        lib.crest_replay_read_label(labels.r, decl, y, v)
        st = lib.crest_sim_add(sim, decl, y[0], v[0], train)
        if st != lib.CREST_OK:
            failed.append(CrestError("cannot keep the row for the simulation", _text(lib.crest_status_name(st)),
                                     "<simulate>", int(line)))
            return 1
        return 0

    opt = lib.crest_run_options_default()
    opt.decide = 0
    opt.header_hook = on_header
    opt.decl_hook = on_decl
    eng = _Engine(policy, registry, opt, data)
    st = lib.CREST_OK
    for chunk in _chunks(data):
        st = eng.feed(chunk)
        if st != lib.CREST_OK:
            break
    if st == lib.CREST_OK:
        st = eng.finish()
    if failed:
        raise failed[0]
    eng.check(st)


def _one(data, policy, registry, label, revenue, revenue_rate, revenue_base, period, rate, final_rate, decay,
         decay_periods, explore, seed, train):
    so = ffi.new("crest_sim_options *")
    lib.crest_sim_options_default(so)
    so.period = PERIODS[period]
    so.rate = rate
    so.final_rate = math.nan if final_rate is None else final_rate
    so.decay = 1 if decay == "exp" else 0
    so.decay_periods = decay_periods
    so.explore = explore
    so.seed = policy.seed if seed is None else seed
    so.feature_spec = lib.crest_policy_model_features(policy._p)
    lib.crest_policy_fit_settings(policy._p, ffi.addressof(so.train, "l2_lambda"),
                                  ffi.addressof(so.train, "smoothing"), ffi.addressof(so.train, "folds"))
    out = ffi.new("crest_sim **")
    diag = ffi.new("crest_diag *")
    if lib.crest_sim_create(so, out, diag) != lib.CREST_OK:
        raise CrestError.from_diag(diag)
    sim = ffi.gc(out[0], lib.crest_sim_free)
    labels = Accumulator(policy, ReplayOptions(label, revenue, revenue_rate, revenue_base, "none"))
    if train is not None:
        _read(sim, labels, policy, registry, train, 1)
    _read(sim, labels, policy, registry, data, 0)
    if lib.crest_sim_run(sim, diag) != lib.CREST_OK:
        raise CrestError.from_diag(diag)
    table = pd.read_csv(io.StringIO(_take_text(lib.crest_sim_csv(sim))), dtype={"period": str, "selector": str},
                        keep_default_na=False, na_values=[""])
    return table, _text(lib.crest_sim_note(sim))


def simulate(data, policy, label="illicit", revenue=None, revenue_rate=None, revenue_base=None, period="week",
             rate=0.05, final_rate=None, decay="linear", decay_periods=0, explore=0.1, seeds=None, train=None,
             registry=None):
    """``crest replay --simulate`` for each seed (default: the policy's seed).

    Returns (per_seed, summary): per_seed is the library's simulate.csv per seed
    with the settings on every row (seed, rate, final_rate, explore, policy_hash);
    summary has per period (and "total") and metric the mean, standard deviation,
    n and the 95% interval of the mean over the seeds (Student t)."""
    pol = policy if isinstance(policy, Policy) else Policy(policy, skip_model_file=True)
    reg = _as_registry(registry, pol)
    if period not in ("day", "week", "month"):
        raise ValueError("period is day, week or month")
    seeds = [None] if seeds is None else list(seeds)
    frames = []
    for seed in seeds:
        t, note = _one(data, pol, reg, label, revenue, revenue_rate, revenue_base, period, rate, final_rate, decay,
                       decay_periods, explore, seed, train)
        t.insert(0, "seed", pol.seed if seed is None else seed)
        t["rate_setting"], t["final_rate"], t["explore"] = rate, final_rate, explore
        t["policy_hash"], t["note"] = pol.hash, note
        frames.append(t)
    per_seed = pd.concat(frames, ignore_index=True)
    rows = []
    for p, g in per_seed.groupby("period", sort=False):
        for m in METRICS:
            x = g[m].to_numpy(dtype=float)
            x = x[np.isfinite(x)]
            n = len(x)
            mean = x.mean() if n else math.nan
            sd = x.std(ddof=1) if n > 1 else math.nan
            half = (_T975[n - 2] if n - 1 <= 30 else 1.96) * sd / math.sqrt(n) if n > 1 else math.nan
            rows.append({"period": p, "metric": m, "n": n, "mean": mean, "sd": sd, "lo": mean - half,
                         "hi": mean + half})
    return per_seed, pd.DataFrame(rows)
