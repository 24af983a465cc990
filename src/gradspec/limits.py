"""Declared limits: what an implementation supports, and sampling within it.

An implementation that supports only part of an op (max-pooling without padding, batchnorm at one eps, a
network with sigmoid units only) declares it, and gradspec draws that op's samples within the declaration.
Three places declare limits, the first one present is used:

* ``gradspec.check(impl, limits=...)`` / ``gradspec check --limits FILE.json`` /
  ``pytest --gradspec-limits FILE.json``: a dict, or the path of a JSON file holding one;
* an adapter kit's mapping: a top-level ``"limits"`` dict, or a ``"limits"`` key in an op's entry
  (merged over the wrapped module's own declaration and the kit's own, op by op; a ``--limits`` file given
  with ``--style`` is merged over these);
* the implementation's module attribute ``__gradspec_limits__``.

The form: ``{op: {name: limit}}``, where ``name`` is one of the op's hyperparameters (``OpSpec.hypers``: pad,
eps, p, lr, ...) or choices (the mlp's ``hidden`` and ``output``), and a limit is

* a value: ``{"pad": 0}``, ``{"hidden": "sigmoid"}``;
* a set of values: ``{"hidden": ["sigmoid", "tanh"]}``, ``{"stride": [1, 2]}``;
* a range: ``{"eps": {"min": 1e-6, "max": 1e-3}}`` (either bound may be left out).

Every value must lie within the op's own range (:class:`gradspec.spec.Hyper`); anything else (an unknown op
or name, a value outside the range, an empty set, limits no sample can meet) raises :class:`LimitsError`
naming the rule and the values seen (exit status 2 in the CLI).

Sampling: :func:`narrow` returns the op's record with a :class:`LimitedSampler`, which draws the op's
own samples and keeps those within the limits; a float hyperparameter that the draws rarely meet (a
fixed eps) is then set to a value within the limit, as long as the sample keeps its margin from the
kinks. Oracles that keep to the limits say so in their module (``HONOURS_LIMITS = True``): those that sample
through ``op.sample`` (fd64, mpmath, symbolic at the structures that meet the limits, the golden vectors,
which leave out stored cases outside them) and the properties oracle, whose Hypothesis strategies are built
within the limits from the record's (:mod:`gradspec.properties.limited`); the runner reports any other oracle
not applicable to a limited op, with the reason. Fixed kink cases (the conventions check) outside
the limits are not run, and the check says which (not applicable when none is left).
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from .spec import OpSpec, Sampler

#: The module attribute an implementation declares its limits in.
LIMITS_ATTR = "__gradspec_limits__"
#: Draws of the op's own sampler tried before a float hyperparameter is set within its limit.
REJECT_DRAWS = 64
#: Draws in all before a sample within the limits is given up (the limits are then an error).
MAX_DRAWS = 400
RANGE_KEYS = ("min", "max")


class LimitsError(ValueError):
    """Limits that cannot be used: names the rule and the values it saw."""


def choices(op: OpSpec) -> dict[str, tuple]:
    """The op's choice arguments and their allowed values, from its record (``Arg.choices``)."""
    return {a.name: tuple(a.choices) for a in op.args if a.choices}


def limitable(op: OpSpec) -> list[str]:
    """The names a limit of ``op`` may name: its hyperparameters and its choices."""
    return [h.name for h in op.hypers] + list(choices(op))


@dataclass(frozen=True)
class Limit:
    """One declared limit: ``kind`` is ``value`` (one value), ``values`` (a set) or ``range`` (low..high)."""

    op: str
    name: str
    kind: str
    values: tuple = ()
    low: float | None = None
    high: float | None = None
    #: a float hyperparameter: a draw outside the limit may be given a value within it
    settable: bool = False

    def allows(self, v) -> bool:
        if self.kind == "range":
            if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
                return False
            return (self.low is None or v >= self.low) and (self.high is None or v <= self.high)
        return any(_same(v, w) for w in self.values)

    def pick(self, rng: np.random.Generator):
        """A value within the limit (a settable limit: floats)."""
        if self.kind != "range":
            return self.values[int(rng.integers(0, len(self.values)))]
        lo, hi = self.low, self.high
        if lo is None and hi is None:
            return 1.0
        if lo is None:
            lo = hi / 10 if hi > 0 else hi - 1.0
        if hi is None:
            hi = lo * 10 if lo > 0 else lo + 1.0
        if lo > 0 and hi / lo > 10:  # a range over decades: log-uniform
            return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))
        return float(rng.uniform(lo, hi))

    def describe(self) -> str:
        if self.kind == "value":
            return f"{self.op} {self.name} = {_show(self.values[0])}"
        if self.kind == "values":
            return f"{self.op} {self.name} in {{{', '.join(_show(v) for v in self.values)}}}"
        lo = "-inf" if self.low is None else _show(self.low)
        hi = "inf" if self.high is None else _show(self.high)
        return f"{self.op} {self.name} in [{lo}, {hi}]"

    def to_json(self):
        if self.kind == "value":
            return self.values[0]
        if self.kind == "values":
            return list(self.values)
        return {k: v for k, v in (("min", self.low), ("max", self.high)) if v is not None}


def _same(a, b) -> bool:
    if isinstance(a, str) or isinstance(b, str):
        return a == b
    try:
        return float(a) == float(b)
    except (TypeError, ValueError):
        return False


def _show(v) -> str:
    return v if isinstance(v, str) else f"{v:g}" if isinstance(v, float) else str(v)


# --------------------------------------------------------------------------- reading and validating
def read_json(path, what: str, error: type[Exception]):
    """The JSON value in the file at ``path``; ``error`` (a message starting with ``what``) when the file does
    not exist or holds no valid JSON."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise error(f"{what} file not found: {path}")
    with open(path, encoding="utf-8") as fh:
        try:
            return json.load(fh)
        except json.JSONDecodeError as exc:
            raise error(f"{what} file {path} is not valid JSON: {exc}") from None


def load(source) -> dict:
    """Raw limits from a dict, or from the path of a JSON file holding one."""
    if isinstance(source, (str, os.PathLike)):
        source = read_json(source, "limits", LimitsError)
    if not isinstance(source, dict):
        raise LimitsError(f"limits must be a dict {{op: {{name: limit}}}}, got {type(source).__name__}")
    return source


def parse(raw, source: str = "limits") -> dict[str, dict[str, Limit]]:
    """Validate raw limits (see the module docstring) into ``{op: {name: Limit}}``; raises :class:`LimitsError`."""
    from . import registry

    raw = load(raw)
    out: dict[str, dict[str, Limit]] = {}
    for op_name, entry in raw.items():
        if op_name not in registry.REGISTRY:
            raise LimitsError(f"{source}: unknown op {op_name!r}; known ops: {', '.join(registry.REGISTRY)}")
        op = registry.get(op_name)
        if not isinstance(entry, dict) or not entry:
            raise LimitsError(f"{source}: the limits of {op_name} must be a non-empty dict {{name: limit}}, got {entry!r}")
        allowed = limitable(op)
        lims = {}
        for name, spec in entry.items():
            if name not in allowed:
                raise LimitsError(f"{source}: {op_name} has no hyperparameter or choice {name!r}; "
                                  f"{op_name} can be limited in: {', '.join(allowed) or 'nothing'}")
            lims[name] = _parse_one(op, name, spec, source)
        out[op_name] = lims
    return out


def _parse_one(op: OpSpec, name: str, spec, source: str) -> Limit:
    where = f"{source}: {op.name} {name}"
    opts = choices(op).get(name)
    if opts is not None:  # a choice: one name or a set of names
        values = [spec] if isinstance(spec, str) else spec
        if not isinstance(values, list) or not values:
            raise LimitsError(f"{where}: a choice is limited to a name or a non-empty list of names out of "
                              f"{list(opts)}, got {spec!r}")
        bad = [v for v in values if v not in opts]
        if bad:
            raise LimitsError(f"{where}: {bad} not among the op's choices {list(opts)}")
        kind = "value" if len(values) == 1 else "values"
        return Limit(op.name, name, kind, tuple(dict.fromkeys(values)))
    hyper = next(h for h in op.hypers if h.name == name)

    def check_number(v, what):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise LimitsError(f"{where}: {what} must be a finite number, got {v!r}")
        if hyper.integer and float(v) != int(v):
            raise LimitsError(f"{where}: {name} is an integer, got {what} {v!r}")
        low_bad = hyper.low is not None and (v < hyper.low or (hyper.low_open and v == hyper.low))
        high_bad = hyper.high is not None and (v > hyper.high or (hyper.high_open and v == hyper.high))
        if low_bad or high_bad:
            raise LimitsError(f"{where}: {what} {v!r} is outside the op's range {hyper.describe()}")
        return int(v) if hyper.integer else float(v)

    settable = not hyper.integer
    if isinstance(spec, dict):
        bad = sorted(set(spec) - set(RANGE_KEYS))
        if bad or not spec:
            raise LimitsError(f"{where}: a range has the keys {list(RANGE_KEYS)} (one or both), got {sorted(spec)}")
        lo = check_number(spec["min"], "min") if "min" in spec else None
        hi = check_number(spec["max"], "max") if "max" in spec else None
        if lo is not None and hi is not None and lo > hi:
            raise LimitsError(f"{where}: an empty range, min {lo!r} > max {hi!r}")
        return Limit(op.name, name, "range", (), lo, hi, settable)
    if isinstance(spec, list):
        if not spec:
            raise LimitsError(f"{where}: an empty set of values allows no sample")
        values = tuple(dict.fromkeys(check_number(v, "value") for v in spec))
        return Limit(op.name, name, "value" if len(values) == 1 else "values", values, settable=settable)
    return Limit(op.name, name, "value", (check_number(spec, "value"),), settable=settable)


def declared(obj) -> Any:
    """The implementation object's ``__gradspec_limits__``, or None."""
    from .impl import safe_attr

    return safe_attr(obj, LIMITS_ATTR)


def resolve(obj, limits=None) -> tuple[dict[str, dict[str, Limit]], str | None]:
    """(parsed limits, where they were declared): ``limits`` when given (a dict or a JSON file), else the
    implementation object's ``__gradspec_limits__``; ({}, None) when neither declares any."""
    if limits is not None:
        where = f"limits file {os.fspath(limits)}" if isinstance(limits, (str, os.PathLike)) else "limits argument"
        return parse(limits, where), where
    raw = declared(obj)
    if raw is None:
        return {}, None
    return parse(raw, LIMITS_ATTR), LIMITS_ATTR


def describe(limits: dict[str, dict[str, Limit]]) -> str:
    """``max_pool2d pad = 0; mlp hidden in {sigmoid, tanh}; ...``"""
    return "; ".join(lim.describe() for lims in limits.values() for lim in lims.values())


def to_json(op_limits: dict[str, Limit]) -> dict:
    return {name: lim.to_json() for name, lim in op_limits.items()}


# --------------------------------------------------------------------------- samples within the limits
def value_of(sample: dict, name: str):
    """A hyperparameter or choice of a sample: a top-level key, or in the optimizers' ``hyper`` dict."""
    if name in sample:
        return sample[name]
    return (sample.get("hyper") or {}).get(name)


def with_value(sample: dict, name: str, value) -> dict:
    s = dict(sample)
    if name in s:
        s[name] = value
    else:
        s["hyper"] = {**s.get("hyper", {}), name: value}
    return s


def outside(op_limits: dict[str, Limit], sample: dict) -> list[Limit]:
    """The limits ``sample`` does not meet."""
    return [lim for name, lim in op_limits.items() if not lim.allows(value_of(sample, name))]


def outside_message(op_limits: dict[str, Limit], sample: dict) -> str:
    """Why a sample is outside the limits: ``pad = 1, outside max_pool2d pad = 0``."""
    return "; ".join(f"{lim.name} = {_show(value_of(sample, lim.name))}, outside {lim.describe()}"
                     for lim in outside(op_limits, sample))


def constrain(base: OpSpec, op_limits: dict[str, Limit], draw, rng: np.random.Generator,
              max_draws: int = MAX_DRAWS) -> dict | None:
    """A sample of ``draw(rng)`` within the limits, or None after ``max_draws`` draws.

    The first :data:`REJECT_DRAWS` draws are kept only when they meet every limit; after that, a draw
    whose only unmet limits are float hyperparameters gets values within them (kept when the sample stays
    as far from the op's kinks as the sampler's margin).
    """
    from .sampling import KINK_MARGIN

    for attempt in range(max_draws):
        s = draw(rng)
        bad = outside(op_limits, s)
        if not bad:
            return s
        if attempt < REJECT_DRAWS or not all(lim.settable for lim in bad):
            continue
        before = base.kink_distance(s)
        for lim in bad:
            s = with_value(s, lim.name, lim.pick(rng))
        if base.kink_distance(s) >= min(before, KINK_MARGIN):
            return s
    return None


@dataclass(frozen=True)
class LimitedSampler(Sampler):
    """An op's sampler whose draws keep within declared limits (see :func:`constrain`).

    ``cases`` (the symbolic oracle's structures) are those at which a draw within the limits exists.
    """

    base_op: OpSpec | None = None
    limits: tuple = ()  # ((name, Limit), ...)

    @property
    def op_limits(self) -> dict[str, Limit]:
        return dict(self.limits)

    def __call__(self, rng: np.random.Generator) -> dict:
        s = constrain(self.base_op, self.op_limits, self.base_op.sample, rng)
        if s is None:
            raise LimitsError(unsatisfiable(self.base_op, self.op_limits))
        return s

    def draw(self, case, rng: np.random.Generator) -> dict:
        s = constrain(self.base_op, self.op_limits, lambda r: self.base_op.sample.draw(case, r), rng)
        if s is None:
            raise LimitsError(f"no sample of {self.base_op.name} at the structure {case!r} meets "
                              f"{describe({self.base_op.name: self.op_limits})}")
        return s


def unsatisfiable(op: OpSpec, op_limits: dict[str, Limit]) -> str:
    return (f"no sample of {op.name} meets the declared limits {describe({op.name: op_limits})} in "
            f"{MAX_DRAWS} draws of its sampler (are they compatible with the op's rules: "
            f"{op.shape_rule}?)")


def narrow(op: OpSpec, op_limits: dict[str, Limit]) -> OpSpec:
    """``op``'s record with samples within ``op_limits`` (``extra["limits"]`` holds them; the op's kinks are
    kept). Raises :class:`LimitsError` when no sample meets them."""
    base = op.sample
    probe = np.random.default_rng(0)
    if constrain(op, op_limits, base, probe) is None:
        raise LimitsError(unsatisfiable(op, op_limits))
    cases = tuple(c for c in base.cases
                  if constrain(op, op_limits, lambda r, c=c: base.draw(c, r), np.random.default_rng(0), 80) is not None)
    # the base sampler's fields; no Hypothesis strategy (the record's would draw outside the limits: the properties
    # oracle builds one within them from base_op's, gradspec.properties.limited) and no exact draws
    fields = {f.name: getattr(base, f.name) for f in dataclasses.fields(Sampler)}
    sampler = LimitedSampler(**{**fields, "strategy": None, "cases": cases, "exact": None}, base_op=op,
                             limits=tuple(op_limits.items()))
    return dataclasses.replace(op, sample=sampler, extra={**op.extra, "limits": dict(op_limits)})


def of(op: OpSpec) -> dict[str, Limit]:
    """The limits ``op`` was narrowed to ({} for a registry record)."""
    return dict(op.extra.get("limits") or {})
