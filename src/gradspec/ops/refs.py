"""Where the op records point: one constructor per oracle module a record refers to.

A record names its per-oracle entries through these (``sympy("define_softmax")``),
so moving an oracle's module changes one line here.
"""
from __future__ import annotations

from ..spec import Ref

SYMPY_DEFINITIONS = "gradspec.symbolic.definitions"
SYMPY_RULES = "gradspec.symbolic.rules"
MP_FORWARDS = "gradspec.mpmath_oracle.forward"
MP_ERROR_MODELS = "gradspec.mpmath_oracle.tolerance"
MP_VECTORS = "gradspec.mpmath_oracle.vectors_mp"
STRATEGIES = "gradspec.properties.strategies"
KINK_CASES = "gradspec.conventions"
FD64_MODELS = "gradspec.oracles.fd64_models"
VARIANTS = "gradspec.variants"


def sympy(attr: str, **kw) -> Ref:
    """A SymPy definition builder ``builder(sample) -> Definition``."""
    return Ref(SYMPY_DEFINITIONS, attr, tuple(kw.items()))


def sympy_rule(attr: str, **kw) -> Ref:
    """An optimizer's SymPy rule ``rule() -> OptimizerRule`` (step, closed form, states)."""
    return Ref(SYMPY_RULES, attr, tuple(kw.items()))


def mp_forward(attr: str, **kw) -> Ref:
    """An mpmath forward ``f(sample_mp, pattern=None) -> (output, pattern)``."""
    return Ref(MP_FORWARDS, attr, tuple(kw.items()))


def error_model(attr: str, **kw) -> Ref:
    """A running float64 error model ``model(sample, dy) -> Model``."""
    return Ref(MP_ERROR_MODELS, attr, tuple(kw.items()))


def vector_values(attr: str, **kw) -> Ref:
    """The golden vectors' closed forms ``values(sample, A, d) -> {"outputs", "gradients"}``."""
    return Ref(MP_VECTORS, attr, tuple(kw.items()))


def strategy(attr: str, **kw) -> Ref:
    """A Hypothesis strategy factory ``strategy(mode) -> SearchStrategy``."""
    return Ref(STRATEGIES, attr, tuple(kw.items()))


def kink_cases(attr: str, **kw) -> Ref:
    """Fixed cases on the kinks ``cases() -> [KinkCase]``."""
    return Ref(KINK_CASES, attr, tuple(kw.items()))


def fd64(attr: str, **kw) -> Ref:
    """A piece of the fd64 oracle's model of an op (see :class:`~gradspec.spec.FdModel`)."""
    return Ref(FD64_MODELS, attr, tuple(kw.items()))


def variants(area: str) -> Ref:
    """The catalogue of known variants of a spec area (``gradspec.variants.<area>``)."""
    return Ref(f"{VARIANTS}.{area}", "CATALOGUE")
