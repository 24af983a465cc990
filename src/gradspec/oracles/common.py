"""Helpers every oracle shares: output validation, element-wise comparison with
per-element tolerances, mismatch findings and reproducers.
"""
from __future__ import annotations

import copy
import dataclasses
import math
import numbers

import numpy as np

from ..results import CheckResult, Finding
from ..spec import OpSpec

EPS = float(np.finfo(np.float64).eps)


def check_array(value, shape, what: str) -> Finding | None:
    """A finding when ``value`` is not a finite float64 ndarray of ``shape``."""
    if not isinstance(value, np.ndarray):
        return Finding("type", f"{what} must be a numpy.ndarray, got {type(value).__name__}", {"what": what})
    if value.dtype != np.float64:
        return Finding("dtype", f"{what} must be float64, got {value.dtype}", {"what": what, "dtype": str(value.dtype)})
    if value.shape != tuple(shape):
        return Finding("shape", f"{what} must have shape {tuple(shape)}, got {value.shape}",
                       {"what": what, "expected": list(shape), "actual": list(value.shape)})
    if not np.all(np.isfinite(value)):
        bad = int(value.size - np.count_nonzero(np.isfinite(value)))
        first = tuple(int(i) for i in np.argwhere(~np.isfinite(value))[0])
        return Finding("nonfinite", f"{what} holds {bad} NaN/inf value(s), first at index {first}",
                       {"what": what, "count": bad, "index": list(first)})
    return None


def check_scalar(value, what: str) -> tuple[float | None, Finding | None]:
    """A loss must be a Python float (a 0-d or size-1 float64 array is accepted)."""
    if isinstance(value, np.ndarray) and value.size == 1 and value.dtype == np.float64:
        value = float(value.reshape(()))
    if isinstance(value, np.floating) and not isinstance(value, np.float64):  # float32 & co: precision already lost
        return None, Finding("dtype", f"{what} must be a float64 value (a Python float), got {type(value).__name__}",
                             {"what": what, "dtype": type(value).__name__})
    if not isinstance(value, numbers.Real) or isinstance(value, (bool, numbers.Integral)):
        return None, Finding("type", f"{what} must be a float, got {type(value).__name__}", {"what": what})
    value = float(value)
    if not np.isfinite(value):
        return None, Finding("nonfinite", f"{what} is {value}", {"what": what})
    return value, None


def as_grad_tuple(value, n: int, fn: str) -> tuple[tuple | None, Finding | None]:
    """Backward returns one array for one differentiable argument, a tuple/list of n otherwise."""
    if n == 1:
        if isinstance(value, (tuple, list)) and len(value) == 1:
            return tuple(value), None
        return (value,), None
    if not isinstance(value, (tuple, list)) or len(value) != n:
        got = f"{type(value).__name__} of length {len(value)}" if isinstance(value, (tuple, list)) else type(value).__name__
        return None, Finding("type", f"{fn} must return a tuple of {n} arrays, got {got}", {"function": fn})
    return tuple(value), None


def compare(actual, expected, tol, *, op: OpSpec, what: str, sample: dict, max_findings: int = 5):
    """Element-wise |actual − expected| <= tol.

    Returns (worst error in units of tol, findings for the worst elements).
    """
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    tol = np.broadcast_to(np.asarray(tol, dtype=np.float64), expected.shape)
    if actual.size == 0:
        return 0.0, []
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):  # inf − inf, inf/inf: made infinite below
        return _compare(actual, expected, tol, op, what, sample, max_findings)


def _compare(actual, expected, tol, op, what, sample, max_findings):
    err = np.abs(actual - expected)
    # 0/0 (exact agreement where the tolerance is 0) is 0 units; any error over a zero tolerance is infinite
    units = np.divide(err, tol, out=np.where(err == 0, 0.0, np.inf), where=tol > 0)
    # NaN or inf on either side or in the tolerance (e.g. a difference quotient that overflowed) never passes
    # (NaN > 1 is False, so such a ratio must be made infinite)
    units[np.isnan(units) | ~np.isfinite(actual) | ~np.isfinite(expected) | ~np.isfinite(tol)] = np.inf
    worst = float(np.max(units))
    findings = []
    if worst > 1.0:
        flat = np.argsort(units, axis=None)[::-1][:max_findings]
        for k in flat:
            if units.flat[k] <= 1.0:
                break
            idx = tuple(int(i) for i in np.unravel_index(k, units.shape))
            e, a = float(expected.flat[k]), float(actual.flat[k])
            findings.append(Finding(
                "mismatch",
                f"{op.name}: {what}{list(idx)} expected {e:.17g}, got {a:.17g} "
                f"(abs err {err.flat[k]:.3g}, {units.flat[k]:.3g}× the tolerance {tol.flat[k]:.3g})",
                {"op": op.name, "what": what, "index": list(idx), "expected": e, "actual": a,
                 "abs_error": float(err.flat[k]), "rel_error": float(err.flat[k] / abs(e)) if e else None,
                 "tolerance": float(tol.flat[k]), "units": float(units.flat[k]),
                 "sample": describe_sample(sample)},
            ))
        for f in findings:
            f.sample = sample  # not serialised (not a field): the failing sample, for gradspec.diagnosis
        n_bad = int(np.count_nonzero(units > 1.0))
        if n_bad > len(findings):
            findings[-1].details["more_mismatches"] = n_bad - len(findings)
    return worst, findings


def describe_sample(sample: dict) -> dict:
    """Shapes of arrays and values of everything else (for findings)."""
    out = {}
    for k, v in sample.items():
        if isinstance(v, np.ndarray):
            out[k] = {"shape": list(v.shape)}
        elif isinstance(v, (list, tuple)) and v and all(isinstance(e, np.ndarray) for e in v):
            out[k] = {"shapes": [list(e.shape) for e in v]}
        elif isinstance(v, (list, tuple)) and v and all(isinstance(e, (list, tuple)) for e in v):
            out[k] = {"shapes": [[list(np.shape(a)) for a in e] for e in v]}
        else:
            out[k] = v if isinstance(v, (int, float, str, dict)) or v is None else repr(v)
    return out


def literal(value) -> str:
    """Python source that rebuilds ``value`` exactly (floats round-trip through repr)."""
    if isinstance(value, np.ndarray):
        kind = "" if value.dtype == np.float64 else f", dtype=np.{value.dtype}"
        if value.size == 0:  # tolist() of an empty array loses its shape, e.g. (0, 2) -> []
            return f"np.zeros({value.shape!r}{kind})"
        return f"np.array({value.tolist()!r}{kind})"
    if isinstance(value, tuple):
        return "(" + ", ".join(literal(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    if isinstance(value, list):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k!r}: {literal(v)}" for k, v in value.items()) + "}"
    if isinstance(value, np.generic):
        return repr(value.item())
    return repr(value)


def named_args(op: OpSpec, sample: dict, extra=()) -> list[tuple[str, object]]:
    """The op's arguments as (name, value) pairs from a sample, plus ``extra`` pairs (for :func:`reproducer`)."""
    return [(a.name, sample[a.name]) for a in op.args] + list(extra)


def argument_names(fn_name: str) -> list[str] | None:
    """The protocol's names of the positional arguments of ``fn_name``, or None for a function not in it.

    A forward (or an op's one function) takes the op's arguments (:attr:`OpSpec.args`), a backward the same
    followed by ``dy``; ``<name>_init`` takes ``w``, ``<name>_update`` takes ``w, g, state`` (its
    hyperparameters are keywords); an init scheme takes ``shape, rng``. Every message that names an argument
    uses these names, as the reproducers do (:func:`named_args`).
    """
    from ..registry import OPS

    for op in OPS:
        if fn_name not in op.functions:
            continue
        if op.kind_facts.trajectory:
            return ["w"] if fn_name == op.functions[0] else ["w", "g", "state"]
        names = [a.name for a in op.args]
        return names + ["dy"] if fn_name == op.backward else names
    return None


def argument_path(path: str, names) -> str:
    """A path into a call's ``(args, kwargs)`` in the protocol's names: ``args[0][i]...`` (positional argument
    ``i``) becomes ``names[i]...`` and ``args[1]['k']...`` (keyword ``k``) becomes ``k...``; for example
    ``args[0][0][2]`` of ``clip_grad_norm`` is ``grads[2]``. An index past ``names`` stays ``args[i]``."""
    import re

    def positional(m):
        i = int(m.group(1))
        return names[i] if names is not None and i < len(names) else f"args[{i}]"

    path = re.sub(r"^args\[0\]\[(\d+)\]", positional, path)
    return re.sub(r"^args\[1\]\['([^']*)'\]", lambda m: m.group(1), path)


def reproducer(impl_name: str, fn: str, args: list[tuple[str, object]], extra: str = "") -> str:
    """A copy-paste snippet that rebuilds the inputs and calls the function."""
    module, _, attr = impl_name.partition(":")
    lines = ["import numpy as np", "import gradspec.reference as spec"]
    if module.endswith(".py"):
        lines += ["import importlib.util", f"_s = importlib.util.spec_from_file_location('impl', {module!r})",
                  "impl = importlib.util.module_from_spec(_s); _s.loader.exec_module(impl)"]
    else:
        lines.append(f"import {module} as impl")
    if attr:
        lines.append(f"impl = impl.{attr}")
    for name, value in args:
        lines.append(f"{name} = {literal(value)}")
    names = ", ".join(n for n, _ in args)
    lines.append(f"print(impl.{fn}({names}))")
    if extra:
        lines.append(extra)
    return "\n".join(lines)


# --------------------------------------------------------------------------- structural comparison of opaque values
class Frozen:
    """A structural copy of an object that :func:`copy.deepcopy` could not copy: its type and its fields."""

    __slots__ = ("type", "fields")

    def __init__(self, typ: type, fields: dict):
        self.type, self.fields = typ, fields


def _fields(obj) -> dict | None:
    """An object's state as a dict (dataclass fields, ``__dict__`` and ``__slots__``), or None when it has none."""
    if isinstance(obj, Frozen):
        return obj.fields
    out = {}
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        out.update({f.name: getattr(obj, f.name) for f in dataclasses.fields(obj) if hasattr(obj, f.name)})
    d = getattr(obj, "__dict__", None)
    if isinstance(d, dict):
        out.update(d)
    for cls in type(obj).__mro__:
        for name in getattr(cls, "__slots__", ()) if isinstance(getattr(cls, "__slots__", ()), (tuple, list)) else ():
            if name not in ("__dict__", "__weakref__") and hasattr(obj, name):
                out.setdefault(name, getattr(obj, name))
    if isinstance(obj, np.random.Generator):
        out["bit_generator_state"] = obj.bit_generator.state
    elif isinstance(obj, np.random.BitGenerator):
        out["state"] = obj.state
    return out if out or d is not None else None


def _type_of(obj) -> type:
    return obj.type if isinstance(obj, Frozen) else type(obj)


_PLAIN = (str, bytes, type(None), bool, numbers.Number, np.generic)


def snapshot(value):
    """A copy of ``value`` taken before a call, for :func:`first_difference` after it.

    :func:`copy.deepcopy` where it works; otherwise a structural copy (arrays copied, containers and objects'
    fields copied recursively into :class:`Frozen`), so any Python object can be compared by value later.
    """
    try:
        return copy.deepcopy(value)
    except Exception:  # noqa: BLE001 - an object that refuses to be deep-copied is copied field by field
        return _structural_copy(value, set())


def _structural_copy(value, seen: set):
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, _PLAIN):
        return value
    if id(value) in seen:
        return None
    seen = seen | {id(value)}
    if isinstance(value, dict):
        return {k: _structural_copy(v, seen) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_structural_copy(v, seen) for v in value) if not hasattr(value, "_fields") else \
            tuple(_structural_copy(v, seen) for v in value)
    f = _fields(value)
    return Frozen(type(value), {k: _structural_copy(v, seen) for k, v in (f or {}).items()})


def first_difference(before, after, path: str = "value") -> str | None:
    """Where ``after`` differs from ``before`` by value (e.g. ``state.v[2, 0]: 0.5 before, 0.25 after``), or None.

    Structural: arrays element by element (NaN equals NaN), numbers by value, dicts by keys and values, lists and
    tuples item by item, dataclasses and other objects by type and fields (``__dict__``, ``__slots__``; a NumPy
    Generator by its bit generator's state). Never ``==`` on arbitrary objects, never identity: an object and
    its deep copy with equal fields are the same. An object with no fields at all is compared by type only.
    """
    return _diff(before, after, path, 0)


def _num_eq(a, b) -> bool:
    try:
        if a == b:
            return True
        return isinstance(a, (float, np.floating)) and isinstance(b, (float, np.floating)) and math.isnan(a) and math.isnan(b)
    except (TypeError, ValueError):
        return False


def _plain(v):
    return v.item() if isinstance(v, np.generic) else v


def _diff(a, b, path, depth) -> str | None:
    if depth > 50:
        return None
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        if not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)):
            return f"{path}: {type(a).__name__} before, {type(b).__name__} after"
        if a.shape != b.shape:
            return f"{path}: shape {a.shape} before, {b.shape} after"
        if a.dtype == object or b.dtype == object:
            for idx in np.ndindex(a.shape):
                r = _diff(a[idx], b[idx], f"{path}{list(idx)}", depth + 1)
                if r:
                    return r
            return None
        try:
            same = np.array_equal(a, b, equal_nan=a.dtype.kind in "fc" and b.dtype.kind in "fc")
        except TypeError:
            same = np.array_equal(a, b)
        if same:
            return None
        neq = np.argwhere(~((a == b) | ((a != a) & (b != b)))) if a.dtype.kind in "fc" else np.argwhere(a != b)
        if neq.size:
            idx = tuple(int(i) for i in neq[0])
            return f"{path}{list(idx)}: {a[idx].item()!r} before, {b[idx].item()!r} after"
        return f"{path}: values differ"
    if isinstance(a, _PLAIN) or isinstance(b, _PLAIN):
        if isinstance(a, _PLAIN) and isinstance(b, _PLAIN) and _num_eq(a, b):
            return None
        return f"{path}: {_plain(a)!r} before, {_plain(b)!r} after"
    if isinstance(a, dict):
        if not isinstance(b, dict):
            return f"{path}: dict before, {type(b).__name__} after"
        if set(a) != set(b):
            return f"{path}: keys {sorted(map(repr, a))} before, {sorted(map(repr, b))} after"
        for k in a:
            r = _diff(a[k], b[k], f"{path}[{k!r}]", depth + 1)
            if r:
                return r
        return None
    if isinstance(a, (list, tuple)):
        if not isinstance(b, (list, tuple)) or len(a) != len(b):
            return f"{path}: {type(a).__name__} of {len(a)} before, " + (
                f"{type(b).__name__} of {len(b)} after" if isinstance(b, (list, tuple)) else f"{type(b).__name__} after")
        for i, (x, y) in enumerate(zip(a, b)):
            r = _diff(x, y, f"{path}[{i}]", depth + 1)
            if r:
                return r
        return None
    if isinstance(a, (set, frozenset)):
        return None if isinstance(b, (set, frozenset)) and a == b else f"{path}: {a!r} before, {b!r} after"
    ta, tb = _type_of(a), _type_of(b)
    if ta is not tb:
        return f"{path}: {ta.__name__} before, {tb.__name__} after"
    fa, fb = _fields(a), _fields(b)
    if fa is None and fb is None:
        return None  # no state to compare
    fa, fb = fa or {}, fb or {}
    if set(fa) != set(fb):
        return f"{path}: fields {sorted(fa)} before, {sorted(fb)} after"
    for k in fa:
        r = _diff(fa[k], fb[k], f"{path}.{k}", depth + 1)
        if r:
            return r
    return None


# --------------------------------------------------------------------------- accumulating one check's verdict
#: Finding kinds that make a check an ``error`` (it could not be judged) rather than a ``fail``.
ERROR_KINDS = ("exception", "missing", "timeout", "unchecked")


class Tracker:
    """Accumulates one check's status, worst error and findings over its examples.

    ``measured`` records a comparison (its worst error in units of the tolerance, its findings);
    ``error`` a finding that stopped a comparison. A check that compared nothing cannot pass:
    :meth:`done` turns it into an ``error`` naming why (e.g. every example stopped at a forward that raised).
    """

    def __init__(self, oracle: str, check: str, info: dict | None = None):
        self.result = CheckResult(oracle, check, "pass", info=dict(info or {}))
        self.measurements = 0

    def example(self):
        self.result.examples += 1

    def error(self, finding: Finding, repro: str | None = None):
        if repro:
            finding.details.setdefault("reproducer", repro)
        self.result.findings.append(finding)
        if finding.kind in ERROR_KINDS:
            self.result.status = "error"
        elif self.result.status == "pass":
            self.result.status = "fail"

    def measured(self, worst: float, findings: list[Finding], repro: str | None = None):
        self.measurements += 1
        cur = self.result.worst_error
        self.result.worst_error = float(worst if cur is None else max(cur, worst))
        if findings:
            if repro:
                findings[0].details["reproducer"] = repro
            self.result.findings.extend(findings)
            if self.result.status == "pass":
                self.result.status = "fail"

    def done(self, message: str = "") -> CheckResult:
        r = self.result
        if r.status == "pass" and self.measurements == 0:
            self.error(Finding("unchecked", f"{r.check}: no example could be compared ({r.examples} attempted); "
                                            "see the op's other checks for why"))
        if not r.message:
            r.message = message if r.status == "pass" else (r.findings[0].message if r.findings else message)
        return r


def compare_structured(tracker: Tracker, op: OpSpec, actual, expected, what: str, sample: dict, repro, tol_of):
    """Compare arrays, floats or (nested) lists of them element by element; ``tol_of(expected)`` gives the tolerance."""
    if isinstance(expected, (list, tuple)):
        if not isinstance(actual, (list, tuple)) or len(actual) != len(expected):
            tracker.error(Finding("type", f"{what} must be a list/tuple of {len(expected)}, got {type(actual).__name__}"), repro)
            return
        for k, (a, e) in enumerate(zip(actual, expected)):
            compare_structured(tracker, op, a, e, f"{what}[{k}]", sample, repro, tol_of)
        return
    if isinstance(expected, np.ndarray):
        bad = check_array(actual, expected.shape, what)
    else:
        actual, bad = check_scalar(actual, what)
    if bad:
        tracker.error(bad, repro)
        return
    tracker.measured(*compare(actual, expected, tol_of(expected), op=op, what=what, sample=sample), repro)


def check_trajectory(tracker: Tracker, op: OpSpec, impl, sample: dict, expected_w, rtol: float, atol: float,
                     repro: str, expected_is: str) -> None:
    """Run the implementation's optimizer ``op`` (``<name>_init``, ``<name>_update``) over ``sample["grads"]``
    and compare w after every step with ``expected_w(step)`` (step from 1), within
    :math:`\\text{rtol}\\,(|w| + \\text{lr}\\cdot\\text{step}) + \\text{atol}`; stops at the first wrong step.
    """
    init, update = op.functions
    hyper = sample["hyper"]
    st = impl.call(init, sample["w"], arg_names=["w"])
    if not st.ok:
        tracker.error(st.finding, repro)
        return
    state, w = st.value, sample["w"]
    for step, g in enumerate(sample["grads"], start=1):
        res = impl.call(update, w, g, state, arg_names=["w", "g", "state"], **hyper)
        if not res.ok:
            tracker.error(res.finding, repro)
            return
        if not isinstance(res.value, (tuple, list)) or len(res.value) != 2:
            tracker.error(Finding("type", f"{update} must return (w_new, state_new), got {type(res.value).__name__}"), repro)
            return
        w, state = res.value
        bad = check_array(w, np.shape(sample["w"]), f"w after step {step}")
        if bad:
            tracker.error(bad, repro)
            return
        exp = expected_w(step)
        tol = rtol * (np.abs(exp) + hyper["lr"] * step) + atol
        worst, findings = compare(w, exp, tol, op=op, what=f"w after step {step}", sample=sample)
        for f in findings:
            f.details.update(step=step, expected_is=expected_is)
        tracker.measured(worst, findings, repro)
        if findings:
            return


def check_rule(tracker: Tracker, op: OpSpec, impl, rng, examples: int, expected_of, tol_of) -> None:
    """Call the op's one function on ``examples`` registry samples and compare its output (arrays, floats or
    lists of them) with ``expected_of(sample, args)``; a returned list or tuple that holds the input arrays or
    views of them (shared memory) is an ``aliasing`` finding (the protocol asks for a new list of new arrays)."""
    fn = op.functions[0]
    names = [a.name for a in op.args]
    for _ in range(examples):
        s = op.sample(rng)
        args = op.forward_args(s)
        tracker.example()
        repro = reproducer(impl.name, fn, named_args(op, s))
        res = impl.call(fn, *args, arg_names=names)
        if not res.ok:
            tracker.error(res.finding, repro)
            continue
        expected = expected_of(s, args)
        if (isinstance(expected, list) and isinstance(res.value, (list, tuple))
                and any(isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and np.shares_memory(a, b)
                        for a in res.value for b in args[0])):
            tracker.error(Finding("aliasing", f"{fn} must return a new list of new arrays, not its inputs "
                                              "or views of them"), repro)
            continue
        compare_structured(tracker, op, res.value, expected, "output", s, repro, tol_of)


def backward_not_provided(oracle: str, op: OpSpec, check: str = "backward") -> CheckResult:
    """The ``not_implemented`` check of a forward-only op's backward: a ``missing`` finding names the function."""
    fn = op.extra.get("forward_only") or op.backward
    msg = f"backward not provided: {op.name}'s {fn} is not in the implementation (its forward is checked)"
    return CheckResult(oracle, check, "not_implemented", message=msg,
                       findings=[Finding("missing", msg, {"function": fn})], info={"needs": [fn]})
