"""The simulation study (``crest replay --simulate``) from Python: strategies side
by side, over seeds, rates and exploration shares, run by the library's study
(crest_study_run, engine/eval/study_plan.c) as the CLI runs it.

Rows reach the simulation through a Python callback per row (the library keeps
them all in memory anyway); the strategies, refits, the crest policy's own
decisions, the metrics and their aggregate over seeds are the library's, and the
two tables are the CLI's ``simulate.csv`` and ``simulate_summary.csv``.
"""

import io
import math
import numbers

import numpy as np
import pandas as pd

from . import CrestError, PASSTHROUGH, PERIODS, Policy, Registry, _Engine, _builtin_policy_text, _chunks, _Sink, _take_text, _text
from ._lib import ffi, lib
from .report import ReplayOptions, Accumulator

MAX_STRATEGIES = 16  # CREST_STUDY_MAX_STRATEGIES
MAX_SEEDS = 1000  # CREST_STUDY_MAX_SEEDS
MAX_SWEEP = 16  # the CLI's --rate and --explore lists (CLI_MAX_SWEEP)
_TEXT_COLUMNS = {"strategy": str, "period": str, "selector": str, "policy_hash": str}


def _read(sim, labels, policy, registry, data, train, lines):
    """Feed one input into the simulation (rows and labels), keeping each row's line
    (0 for a training row) to match the crest strategy's decisions to the rows."""
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
        lines.append(0 if train else int(line))
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


def _seeded_policy(policy, seed):
    """The policy (with its [model] file) as the crest strategy decides with it:
    [policy] seed = seed (``crest_policy_load_set``, as the CLI)."""
    seed_set = ffi.new("char[]", b"policy.seed=%d" % seed)  # alive through the call
    sets = ffi.new("char *[]", [seed_set])
    out = ffi.new("crest_policy **")
    diag = ffi.new("crest_diag *")
    if policy.path is not None:
        st = lib.crest_policy_load_set(policy.path.encode(), ffi.NULL, 0, ffi.NULL, 0, sets, 1, out, diag)
    else:
        text = policy._text if policy._text is not None else _builtin_policy_text()
        name = (policy._label or "<built-in order251>").encode()
        st = lib.crest_policy_load_set(ffi.NULL, text, len(text), name, 0, sets, 1, out, diag)
    if st != lib.CREST_OK:
        raise CrestError.from_diag(diag)
    p = Policy.__new__(Policy)
    p.path, p._text, p._label = policy.path, policy._text, policy._label
    p._p = ffi.gc(out[0], lib.crest_policy_free)
    return p


def _crest_inspected(policy, seed, registry, data):
    """The lines of data that the policy with [policy] seed = seed inspects
    (``crest run`` on one thread, as the CLI's crest strategy)."""
    pol = _seeded_policy(policy, seed)
    reg = Registry(registry.path, pol) if registry is not None else None
    picked = []

    @ffi.callback("int(void *, const crest_decl *, const crest_decision *, unsigned long)")
    def on_decl(ctx, decl, decision, line):
        if decision.inspect:
            picked.append(int(line))
        return 0

    sink = _Sink(keep=False)
    opt = lib.crest_run_options_default()
    sink.attach(opt.output)
    opt.passthrough_override = PASSTHROUGH["none"]
    opt.decl_hook = on_decl
    opt.threads = 1
    _Engine(pol, reg, opt, data).pump(data)
    return np.asarray(picked, dtype=np.int64)


def _number_list(name, x):
    xs = [x] if isinstance(x, numbers.Real) else list(x)
    if not 1 <= len(xs) <= MAX_SWEEP or not all(isinstance(v, numbers.Real) and 0 <= v <= 1 for v in xs):
        raise ValueError("%s is a number in [0, 1] or a list of 1 to %d of them" % (name, MAX_SWEEP))
    return [float(v) for v in xs]


def _period(period):
    """(crest_replay_period, batch days): "day", "week", "month", "14d" or 14 (days)."""
    if isinstance(period, numbers.Integral) and not isinstance(period, bool):
        days = int(period)
    elif isinstance(period, str) and period.endswith("d") and period[:-1].isdigit():
        days = int(period[:-1])
    elif period in ("day", "week", "month"):
        return PERIODS[period], 0
    else:
        raise ValueError("period is day, week, month or N days (\"14d\" or 14), not %r" % (period,))
    if not 1 <= days <= 3660:
        raise ValueError("period: 1 to 3660 days, not %d" % days)
    return PERIODS["day"], days


def _strategies(strategies):
    text = strategies if isinstance(strategies, str) else ",".join(strategies)
    out = ffi.new("crest_study_strategy[]", MAX_STRATEGIES)
    n = ffi.new("size_t *")
    diag = ffi.new("crest_diag *")
    if lib.crest_study_parse_strategies(text.encode(), out, MAX_STRATEGIES, n, diag) != lib.CREST_OK:
        raise ValueError("strategies: " + _text(diag.message))
    return out, int(n[0])


def _seeds(seeds, policy):
    if seeds is None:
        values = [policy.seed]
    elif isinstance(seeds, str):
        out = ffi.new("uint64_t[]", MAX_SEEDS)
        n = ffi.new("size_t *")
        diag = ffi.new("crest_diag *")
        if lib.crest_study_parse_seeds(seeds.encode(), out, MAX_SEEDS, n, diag) != lib.CREST_OK:
            raise ValueError("seeds: " + _text(diag.message))
        values = [int(out[i]) for i in range(n[0])]
    else:
        values = [int(s) for s in ([seeds] if isinstance(seeds, numbers.Integral) else seeds)]
        if not 1 <= len(values) <= MAX_SEEDS or min(values) < 0:
            raise ValueError("seeds: 1 to %d seeds >= 0" % MAX_SEEDS)
    return values


def _table(text):
    return pd.read_csv(io.StringIO(text), dtype=_TEXT_COLUMNS, keep_default_na=False, na_values=[""],
                       float_precision="round_trip")


def simulate(data, policy=None, strategies=("model",), seeds=None, period="week", rate=0.05, explore=0.1,
             label="illicit", revenue=None, revenue_rate=None, revenue_base=None, final_rate=None,
             decay="linear", decay_periods=0, train=None, registry=None):
    """The simulation study of ``crest replay --simulate``, run by the library.

    data: the labelled history (a path, bytes or a DataFrame; a file object only
    without the ``crest`` strategy, which reads the history again). policy: a path
    or :class:`Policy` with ``[model] features`` (its model file is read only by
    the ``crest`` strategy). strategies: a list or comma-separated text of
    ``random``, ``model``, ``logit``, ``xgb``, ``hybrid:SHARE``, ``score:COLUMN``,
    ``crest`` (``--strategy``). seeds: None (the policy's seed), an iterable of
    ints, or text as ``--seeds`` ("1-20", "1,4,7-9"). period: "day", "week",
    "month", or batches of N days ("14d" or 14). rate, explore: a number or a list
    (a sweep, as ``--rate 0.05,0.1``). label, revenue, revenue_rate, revenue_base,
    final_rate, decay ("linear" or "exp"), decay_periods, train (fully labelled
    rows), registry: as the CLI's options of the same names.

    Returns (runs, summary): ``runs`` is ``simulate.csv`` — one row per run
    (strategy x rate x exploration x seed) and period, then the run's total, each
    with its settings (strategy, seed, target_rate, explore, policy_hash);
    ``summary`` is ``simulate_summary.csv`` — per strategy, rate and exploration,
    period and total the mean over the seeds with the 95% Student t interval of
    each metric. Both equal the CLI's files on the same inputs
    (python/tests/test_simulate.py); ``runs.attrs`` keeps the CSV texts
    (``csv``, ``summary_csv``) and the library's ``note`` on failed refits."""
    if isinstance(policy, Policy):
        pol = policy
    elif policy is None:
        pol = Policy()
    else:
        pol = Policy(policy, skip_model_file=True)
    if lib.crest_policy_model_features(pol._p) == ffi.NULL:
        raise CrestError("--simulate refits the policy's model: it needs [model] features = ...",
                         file=pol.path or pol.name)
    reg = Registry(registry.path if isinstance(registry, Registry) else registry, pol) if registry else None
    per, days = _period(period)
    strat, n_strat = _strategies(strategies)
    crest_runs = any(strat[i].kind == lib.CREST_SIM_STRATEGY_FIXED for i in range(n_strat))
    if crest_runs and not isinstance(data, (str, bytes, bytearray, pd.DataFrame)) and not hasattr(data, "__fspath__"):
        raise ValueError("the crest strategy reads the history again: give it as a path, bytes or a DataFrame")
    if decay not in ("linear", "exp"):
        raise ValueError("decay is linear or exp")
    if final_rate is None and (decay_periods or decay == "exp"):
        raise ValueError("decay and decay_periods need final_rate")
    if isinstance(data, pd.DataFrame):
        from . import _frame_csv
        data = _frame_csv(data)  # written once: the crest strategy reads the same bytes again
    rates = ffi.new("double[]", _number_list("rate", rate))
    explores = ffi.new("double[]", _number_list("explore", explore))
    seed_list = _seeds(seeds, pol)
    seed_arr = ffi.new("uint64_t[]", seed_list)
    lines = []
    failure = []

    @ffi.callback("crest_status(void *, uint64_t, uint8_t *, size_t, crest_diag *)")
    def decide(ctx, seed, inspect, n_rows, diag):
        try:
            picked = _crest_inspected(pol, int(seed), reg, data)
            rows = np.asarray(lines, dtype=np.int64)
            mask = (rows != 0) & np.isin(rows, picked)
            ffi.buffer(inspect, n_rows)[:] = mask.astype(np.uint8).tobytes()
            return lib.CREST_OK
        except Exception as e:  # raised again after the study stops
            failure.append(e)
            diag.status = lib.CREST_ERR_INVALID
            return lib.CREST_ERR_INVALID

    plan = ffi.new("crest_study_plan *")
    plan.policy = pol._p
    plan.period = per
    plan.final_rate = math.nan if final_rate is None else float(final_rate)
    plan.decay = lib.CREST_SIM_DECAY_EXP if decay == "exp" else lib.CREST_SIM_DECAY_LINEAR
    plan.decay_periods = int(decay_periods)
    plan.strategies, plan.n_strategies = strat, n_strat
    plan.rates, plan.n_rates = rates, len(rates)
    plan.explores, plan.n_explores = explores, len(explores)
    plan.seeds, plan.n_seeds = seed_arr, len(seed_list)
    plan.decide = decide
    diag = ffi.new("crest_diag *")
    out = ffi.new("crest_sim **")
    if lib.crest_study_sim_create(plan, days, out, diag) != lib.CREST_OK:
        raise CrestError.from_diag(diag)
    sim = ffi.gc(out[0], lib.crest_sim_free)
    sout = ffi.new("crest_study **")
    if lib.crest_study_create(sout) != lib.CREST_OK:
        raise MemoryError("crest: out of memory")
    study = ffi.gc(sout[0], lib.crest_study_free)
    labels = Accumulator(pol, ReplayOptions(label, revenue, revenue_rate, revenue_base, "none"))
    if train is not None:
        _read(sim, labels, pol, reg, train, 1, lines)
    _read(sim, labels, pol, reg, data, 0, lines)
    note = ffi.new("char[]", 512)
    st = lib.crest_study_run(study, sim, plan, note, 512, diag)
    if failure:
        raise failure[0]
    if st != lib.CREST_OK:
        raise CrestError.from_diag(diag)
    runs_csv = _take_text(lib.crest_study_csv(study))
    summary_csv = _take_text(lib.crest_study_summary_csv(study))
    runs, summary = _table(runs_csv), _table(summary_csv)
    runs.attrs.update(csv=runs_csv, summary_csv=summary_csv, note=_text(note),
                      undated=int(lib.crest_sim_undated_count(sim)))
    return runs, summary
