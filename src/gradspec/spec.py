"""The vocabulary of the op registry: what one entry says about one op.

An :class:`OpSpec` is the single description of an op that every oracle, the
checker, the property library and the reports read. Modelled on PyTorch's
OpInfo: the entry names the protocol functions, which arguments get a
gradient, the shape rule, the hyperparameters and their ranges, the smooth
domain, the kinks with the convention there, and how to draw valid samples.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

#: Kinds of op, which decide how an oracle checks them.
KINDS = {
    "differentiable": "forward/backward pair; backward is the VJP of every differentiable array argument",
    "loss": "forward returns a float; backward takes a scalar dy and returns the gradient of the first argument",
    "function": "a plain function with no backward (compared value for value with the spec)",
    "optimizer": "(init, update) pair; compared by the parameter trajectory over several steps",
    "init": "draws from a NumPy Generator; checked statistically (mean, variance, distribution)",
    "network": "loss and gradients of a whole network",
    "rule": "a learning rule (not a gradient), compared with the spec",
}


@dataclass(frozen=True)
class Arg:
    """One argument of an op's forward function.

    ``role`` is one of: ``input`` / ``param`` (float arrays), ``target``,
    ``labels``, ``mask``, ``hyper`` (a number), ``shape``, ``rng``, ``grads``
    (a list of arrays), ``params`` (a list of (W, b)), ``choice`` (a string).
    """

    name: str
    role: str
    differentiable: bool = False
    doc: str = ""


@dataclass(frozen=True)
class Hyper:
    """A hyperparameter and its valid range (inclusive unless marked open)."""

    name: str
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    integer: bool = False
    default: Any = None
    doc: str = ""

    def describe(self) -> str:
        lo = "" if self.low is None else f"{self.low} {'<' if self.low_open else '<='} "
        hi = "" if self.high is None else f" {'<' if self.high_open else '<='} {self.high}"
        kind = " (integer)" if self.integer else ""
        return f"{lo}{self.name}{hi}{kind}"


@dataclass(frozen=True)
class Kink:
    """Where an op is not differentiable, and the convention the spec fixes there.

    ``distance(args)`` returns how far a sample lies from the nearest kink, in
    the units of the argument (``inf`` when the sample has nothing near a kink);
    an oracle that differentiates numerically with step h must keep it > h or
    check the convention instead.
    """

    arg: str
    where: str
    convention: str
    distance: Callable[[dict], float]


@dataclass(frozen=True)
class OpSpec:
    """One registry entry. See :mod:`gradspec.registry` for all of them."""

    name: str
    kind: str
    area: str  # the reference module that defines it: gradspec.reference.<area>
    summary: str
    args: tuple[Arg, ...]
    functions: tuple[str, ...]  # every protocol function the op consists of
    shape_rule: str
    sample: Callable[[np.random.Generator], dict]
    output_shape: Callable[[dict], tuple] | None = None
    hypers: tuple[Hyper, ...] = ()
    domain: str = "all finite float64 inputs"
    kinks: tuple[Kink, ...] = ()
    conventions: tuple[str, ...] = ()
    notes: str = ""
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"OpSpec {self.name}: kind must be one of {sorted(KINDS)}, got {self.kind!r}")

    @property
    def forward(self) -> str | None:
        return self.functions[0] if self.kind in ("differentiable", "loss", "function") else None

    @property
    def backward(self) -> str | None:
        return self.functions[1] if self.kind in ("differentiable", "loss") else None

    @property
    def differentiable_args(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.args if a.differentiable)

    @property
    def has_gradient(self) -> bool:
        return self.kind in ("differentiable", "loss", "network")

    def forward_args(self, sample: dict) -> list:
        """The sample's values in the forward's positional order."""
        return [sample[a.name] for a in self.args]

    def kink_distance(self, sample: dict) -> float:
        return min((k.distance(sample) for k in self.kinks), default=float("inf"))

    def describe(self) -> dict:
        """A JSON-ready description (used by ``gradspec ops`` and the reports)."""
        return {
            "name": self.name,
            "kind": self.kind,
            "area": self.area,
            "summary": self.summary,
            "functions": list(self.functions),
            "args": [
                {"name": a.name, "role": a.role, "differentiable": a.differentiable, "doc": a.doc} for a in self.args
            ],
            "shape_rule": self.shape_rule,
            "hyperparameters": [h.describe() for h in self.hypers],
            "domain": self.domain,
            "kinks": [{"arg": k.arg, "where": k.where, "convention": k.convention} for k in self.kinks],
            "conventions": list(self.conventions),
        }
