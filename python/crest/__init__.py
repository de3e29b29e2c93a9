"""crest from Python: the customs inspection selection engine on pandas DataFrames.

The package calls the C library (libcrest) through cffi; decisions are made by the
same code as the ``crest`` command, so they are byte for byte the CLI's.

    import crest
    decisions = crest.run("declarations.csv", policy="policies/order251.conf")
    report = crest.replay("history.csv", ["a.conf", "b.conf"], label="Fraud")
    report.totals                      # one row per policy

Identifiers and codes stay text (``decl_id`` ``040020250098186074`` is never an
integer); ``p``, ``u``, ``risk_score`` and ``risk_prob`` (when the model carries a
calibration) are floats parsed from the engine's text.
Errors of the library are raised as :class:`CrestError` with the file, line and
column the library names.
"""

import io
import json
import os

import numpy as np
import pandas as pd

from ._lib import ffi, lib

__all__ = ["CrestError", "Policy", "Registry", "Report", "run", "run_csv", "replay", "simulate", "version"]

#: Output columns that are numbers; every other column is text.
FLOAT_COLUMNS = ("risk_score", "risk_prob", "p", "u")
FLAG_COLUMNS = ("priority", "guarantee_exempt_eligible", "mra_recognised")
PERIODS = {"none": 0, "day": 1, "week": 2, "month": 3}
PASSTHROUGH = {"all": 0, "unmapped": 1, "none": 2}
_CHUNK = 1 << 20


def version():
    """The library's version ("0.1.0")."""
    return ffi.string(lib.crest_version()).decode()


class CrestError(Exception):
    """An error of the crest library: ``status`` (e.g. "CREST_ERR_SYNTAX"), ``file``,
    ``line``, ``column`` (0 when not known) and ``message``. ``str()`` gives
    ``file:line:column: message`` as the CLI prints it."""

    def __init__(self, message, status="CREST_ERR_INVALID", file="", line=0, column=0):
        self.message, self.status, self.file, self.line, self.column = message, status, file, line, column
        if line and column:
            text = "%s:%d:%d: %s" % (file, line, column, message)
        elif line:
            text = "%s:%d: %s" % (file, line, message)
        else:
            text = "%s: %s" % (file or "error", message)
        super().__init__(text)

    @classmethod
    def from_diag(cls, diag):
        return cls(ffi.string(diag.message).decode("utf-8", "replace"),
                   ffi.string(lib.crest_status_name(diag.status)).decode(),
                   ffi.string(diag.file).decode("utf-8", "replace"), int(diag.line), int(diag.column))


def _text(p):
    return ffi.string(p).decode("utf-8", "replace") if p != ffi.NULL else None


def _take_text(p):
    """A string the library allocated: decoded, then freed."""
    if p == ffi.NULL:
        raise MemoryError("crest: out of memory")
    try:
        return ffi.string(p).decode("utf-8")
    finally:
        lib.free(p)


def _builtin_policy_text():
    """The CLI's built-in policy: the text the build embedded in the library from
    policies/order251.conf (the package keeps no copy that could fall behind)."""
    return ffi.string(lib.crest_builtin_policy)


class Policy:
    """A loaded policy. ``Policy(path)`` reads a policy file (errors name its file,
    line and column); ``Policy()`` is the built-in default of the CLI
    (policies/order251.conf); ``Policy(text=...)`` parses text.

    ``hash`` is the hash written with every decision, ``name`` and ``seed`` the
    policy's, ``tiers`` a DataFrame of the tiers and their targets, ``describe()``
    the canonical form (what ``crest check`` prints)."""

    def __init__(self, path=None, text=None, name=None, skip_model_file=False):
        out = ffi.new("crest_policy **")
        diag = ffi.new("crest_diag *")
        self._text = self._label = None
        if path is not None:
            self.path = os.fspath(path)
            # skip_model_file: the [model] file is not read (the simulation refits its own)
            st = lib.crest_policy_load_ex(self.path.encode(), 1 if skip_model_file else 0, out, diag)
        else:
            self.path = None
            data = _builtin_policy_text() if text is None else (text.encode() if isinstance(text, str) else text)
            label = name or ("<built-in order251>" if text is None else "<text>")
            if text is not None:
                self._text, self._label = data, label
            st = lib.crest_policy_parse(data, len(data), label.encode(), out, diag)
        if st != lib.CREST_OK:
            raise CrestError.from_diag(diag)
        self._p = ffi.gc(out[0], lib.crest_policy_free)

    @property
    def hash(self):
        return _text(lib.crest_policy_hash_hex(self._p))

    @property
    def name(self):
        return _text(lib.crest_policy_name(self._p))

    @property
    def seed(self):
        return int(lib.crest_policy_seed(self._p))

    def describe(self):
        return _text(lib.crest_policy_describe(self._p))

    @property
    def tiers(self):
        rows = []
        for t in range(lib.crest_policy_tier_count(self._p)):
            ratio = lib.crest_policy_tier_ratio(self._p, t)
            rows.append({"tier": _text(lib.crest_policy_tier_name(self._p, t)),
                         "target": lib.crest_policy_tier_rate(self._p, t),
                         "ratio": ratio, "floor": bool(lib.crest_policy_tier_is_floor(self._p, t)),
                         "base": t == lib.crest_policy_base_tier(self._p)})
        return pd.DataFrame(rows)

    def check(self, sample, registry=None):
        """Feasibility on a sample, as ``crest check --policy FILE SAMPLE``: per tier the
        rows, the target, what criteria force and the random part alone
        (``base_rate``), the scale the target needs and its status (ok, INFEASIBLE,
        UNREACHABLE, NO_ROWS, FIXED). Returns a DataFrame."""
        reg = _as_registry(registry, self)
        cal = ffi.new("crest_calibrator **")
        if lib.crest_calibrator_create(self._p, cal) != lib.CREST_OK:
            raise MemoryError("crest: out of memory")
        cal = ffi.gc(cal[0], lib.crest_calibrator_free)
        failed = []

        @ffi.callback("int(void *, const crest_decl *, const crest_decision *, unsigned long)")
        def on_decl(ctx, decl, decision, line):
            if lib.crest_calibrator_add(cal, decision) != lib.CREST_OK:
                failed.append(line)
                return 1
            return 0

        opt = lib.crest_run_options_default()
        opt.decide = 0
        opt.decl_hook = on_decl
        eng = _Engine(self, reg, opt, sample)
        eng.pump(sample)
        if failed:
            raise MemoryError("crest: out of memory keeping the sample")
        n = lib.crest_policy_tier_count(self._p)
        out = ffi.new("crest_calibration_tier[]", max(n, 1))
        diag = ffi.new("crest_diag *")
        if lib.crest_calibrator_solve(cal, out, diag) != lib.CREST_OK:
            raise CrestError.from_diag(diag)
        tiers = self.tiers
        tiers["rows"] = [int(out[t].rows) for t in range(n)]
        tiers["status"] = [_text(lib.crest_calibration_status_name(out[t].status)) for t in range(n)]
        for k in ("forced_rate", "base_rate", "scale", "expected"):
            tiers[k] = [getattr(out[t], k) for t in range(n)]
        tiers.attrs["rows"] = int(eng.stats.decisions)
        return tiers

    def __repr__(self):
        return "Policy(%r, hash=%s)" % (self.path or self.name, self.hash)


class Registry:
    """An enterprise credit registry (``enterprise_id,tier,valid_from,valid_to``) loaded
    for a policy (its tier names)."""

    def __init__(self, path, policy=None):
        self.policy = _as_policy(policy)
        self.path = os.fspath(path)
        out = ffi.new("crest_registry **")
        diag = ffi.new("crest_diag *")
        if lib.crest_registry_load(self.path.encode(), self.policy._p, out, diag) != lib.CREST_OK:
            raise CrestError.from_diag(diag)
        self._r = ffi.gc(out[0], lib.crest_registry_free)


def _as_policy(policy):
    if policy is None:
        return Policy()
    if isinstance(policy, Policy):
        return policy
    return Policy(policy)


def _as_registry(registry, policy):
    if registry is None:
        return None
    if isinstance(registry, Registry):
        if registry.policy is not policy and registry.policy.hash != policy.hash:
            return Registry(registry.path, policy)
        return registry
    return Registry(registry, policy)


def _input_name(data):
    if isinstance(data, (str, os.PathLike)):
        return os.fspath(data)
    if isinstance(data, pd.DataFrame):
        return "<DataFrame>"
    return getattr(data, "name", None) if isinstance(getattr(data, "name", None), str) else "<stream>"


def _frame_csv(df):
    """A DataFrame as the CSV the engine reads (no index; values as pandas writes them)."""
    return df.to_csv(index=False, lineterminator="\n").encode("utf-8")


def _chunks(data):
    """The input as byte chunks: a path, bytes, a binary or text file object, or a DataFrame."""
    if isinstance(data, pd.DataFrame):
        yield _frame_csv(data)
        return
    if isinstance(data, (bytes, bytearray, memoryview)):
        yield bytes(data)
        return
    if isinstance(data, (str, os.PathLike)):
        with open(data, "rb") as f:
            while True:
                b = f.read(_CHUNK)
                if not b:
                    return
                yield b
    while True:
        b = data.read(_CHUNK)
        if not b:
            return
        yield b.encode("utf-8") if isinstance(b, str) else b


class _Sink:
    """A crest_sink collecting bytes in memory (called from the feeding thread)."""

    def __init__(self, keep=True):
        self.buf = io.BytesIO()

        @ffi.callback("crest_status(void *, const void *, size_t)")
        def write(ctx, p, n):
            if keep:
                self.buf.write(ffi.buffer(p, n))
            return lib.CREST_OK

        self._cb = write

    def attach(self, sink):
        sink.write = self._cb
        sink.ctx = ffi.NULL

    def getvalue(self):
        return self.buf.getvalue()


class _Engine:
    """One crest_engine over one input; keeps what its options point to alive."""

    def __init__(self, policy, registry, opt, data, keep=()):
        self.policy, self.registry, self.keep = policy, registry, keep
        self.name = ffi.new("char[]", _input_name(data).encode())
        opt.input_name = self.name
        self.opt = ffi.new("crest_run_options *", opt)
        out = ffi.new("crest_engine **")
        diag = ffi.new("crest_diag *")
        st = lib.crest_engine_create(policy._p, registry._r if registry else ffi.NULL, self.opt, out, diag)
        if st != lib.CREST_OK:
            raise CrestError.from_diag(diag)
        self.e = ffi.gc(out[0], lib.crest_engine_free)

    def feed(self, chunk):
        return lib.crest_engine_feed(self.e, chunk, len(chunk))

    def finish(self):
        return lib.crest_engine_finish(self.e)

    def check(self, st):
        if st != lib.CREST_OK:
            raise CrestError.from_diag(lib.crest_engine_diag(self.e))

    def pump(self, data):
        for chunk in _chunks(data):
            st = self.feed(chunk)
            if st != lib.CREST_OK:
                self.check(st)
        self.check(self.finish())

    @property
    def stats(self):
        return lib.crest_engine_stats(self.e)

    def notes(self):
        return _text(lib.crest_engine_notes(self.e))


def _threads(threads):
    if threads is None:
        cores = os.cpu_count() or 1
        return 8 if cores >= 8 else cores if cores >= 2 else 1
    if not 1 <= int(threads) <= 8:
        raise ValueError("threads is a number from 1 to 8")
    return int(threads)


SCORE_COLUMN = "crest_external_score"


def _with_score(data, score):
    """(data, score column name): a column name is used as it is; an array of
    scores (one per row, a model trained in Python) is added to a DataFrame as
    the column crest_external_score."""
    if score is None or isinstance(score, str):
        return data, score
    if not isinstance(data, pd.DataFrame):
        raise TypeError("scores as an array need the data as a DataFrame; otherwise name the score column")
    values = np.asarray(score, dtype=np.float64)
    if values.shape != (len(data),):
        raise ValueError("%d scores for %d rows" % (values.size, len(data)))
    if SCORE_COLUMN in data.columns:
        raise ValueError("the data already has a column %s" % SCORE_COLUMN)
    data = data.copy()
    data[SCORE_COLUMN] = [repr(float(v)) if np.isfinite(v) else "" for v in values]
    return data, SCORE_COLUMN


def _score_option(opt, column, keep):
    if column is not None:
        buf = ffi.new("char[]", column.encode())
        keep.append(buf)
        opt.score_column = buf


def _run_engine(data, policy, registry, threads, passthrough, fmt="csv", score=None):
    pol = _as_policy(policy)
    reg = _as_registry(registry, pol)
    data, column = _with_score(data, score)
    keep = []
    out, rej = _Sink(), _Sink()
    opt = lib.crest_run_options_default()
    _score_option(opt, column, keep)
    out.attach(opt.output)
    rej.attach(opt.rejects)
    opt.threads = _threads(threads)
    opt.format = lib.CREST_FORMAT_JSONL if fmt == "jsonl" else lib.CREST_FORMAT_CSV
    if passthrough is not None:
        opt.passthrough_override = PASSTHROUGH[passthrough]
    eng = _Engine(pol, reg, opt, data)
    eng.pump(data)
    info = ffi.new("crest_summary_info *", {"input_name": eng.name, "elapsed_s": -1.0, "partial": 0})
    summary = json.loads(_take_text(lib.crest_summary_json(pol._p, eng.stats, info)))
    summary["notes"] = eng.notes()
    return out.getvalue(), rej.getvalue(), summary


def run_csv(data, policy=None, registry=None, threads=None, passthrough=None, format="csv", score=None):
    """The decisions as the bytes ``crest run`` writes (CSV, or ``format="jsonl"``).
    Arguments as for :func:`run`."""
    return _run_engine(data, policy, registry, threads, passthrough, format, score)[0]


def _read_decisions(text):
    if not text:
        return pd.DataFrame()
    header = pd.read_csv(io.BytesIO(text), nrows=0).columns
    dtype = {c: str for c in header}
    for c in FLOAT_COLUMNS:
        if c in dtype:
            dtype[c] = np.float64
    df = pd.read_csv(io.BytesIO(text), dtype=dtype, keep_default_na=False, na_values={c: [""] for c in FLOAT_COLUMNS},
                     float_precision="round_trip")
    for c in FLAG_COLUMNS:
        if c in df.columns:
            df[c] = df[c].astype(np.int8)
    return df


def run(data, policy=None, registry=None, threads=None, passthrough=None, score=None):
    """Decide every declaration of ``data`` and return one row per decision.

    data: a path, bytes, a file object (binary or text) or a DataFrame (written as
    CSV by pandas: give identifiers as strings). policy: a path, a :class:`Policy`,
    or None for the built-in default (as on the CLI). registry: a path or a
    :class:`Registry`. threads: 1 to 8 (default: the cores, at most 8).
    passthrough: "all", "unmapped", "none" or None (the policy's). score: a score
    computed elsewhere instead of the policy's [model] — the name of a column of
    the data, or (data a DataFrame) an array with one probability per row, e.g.
    ``model.predict_proba(X)[:, 1]``; the policy's criteria, [risk] weighting,
    tiers, scales and draw apply to it (``crest replay --score-column``).

    Columns as in ``crest run``'s output; identifiers, codes and pass-through
    columns are text, ``p``, ``u``, ``risk_score`` and ``risk_prob`` (a calibrated
    model's probability, only when the model carries a calibration) floats, the three flags
    0/1. ``df.attrs["summary"]`` is the summary (as ``crest run --summary``, with
    ``notes``), ``df.attrs["rejects"]`` the rejected rows (line, reason, column,
    message, record, truncated). Raises :class:`CrestError` on a policy, registry
    or input error (e.g. a header without ``decl_id``)."""
    text, rejects, summary = _run_engine(data, policy, registry, threads, passthrough, score=score)
    df = _read_decisions(text)
    df.attrs["summary"] = summary
    df.attrs["rejects"] = pd.read_csv(io.BytesIO(rejects), dtype=str, keep_default_na=False)
    return df


from .report import Report, replay  # noqa: E402  (uses the names above)
from .simulate import simulate  # noqa: E402
