"""The op registry: one :class:`~gradspec.spec.OpSpec` per op of the protocol.

This is the single list that the checker, every oracle, the property library
and the reports iterate over. The records themselves live in
:mod:`gradspec.ops`, one module per spec area (``gradspec.ops.activations``,
...), next to nothing but their samplers; adding an op means adding its
record there (plus its reference functions in ``reference/`` and the
functions its record refers to), never editing every test.

Each entry's ``sample(rng)`` draws a *valid* example at a small random shape
whose inputs keep a margin of at least ``KINK_MARGIN`` from every kink, which
is what a numerical-differentiation oracle needs. Samples that sit exactly on
a kink, or that are ill-conditioned, are the property library's job.
"""
from __future__ import annotations

from .ops import AREAS
from .ops.init import INIT_SHAPES
from .ops.optim import OPT_HYPERS
from .sampling import KINK_MARGIN, pool_gap
from .spec import OpSpec

__all__ = ["OPS", "REGISTRY", "KINK_MARGIN", "OPT_HYPERS", "INIT_SHAPES", "pool_gap", "get", "differentiable_ops"]

OPS: tuple[OpSpec, ...] = tuple(op for area in AREAS for op in area.OPS)

REGISTRY: dict[str, OpSpec] = {op.name: op for op in OPS}
assert len(REGISTRY) == len(OPS), "duplicate op names in the registry"


def get(name: str) -> OpSpec:
    """The entry for ``name``; ``KeyError`` lists the known ops."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown op {name!r}; known ops: {', '.join(REGISTRY)}") from None


def differentiable_ops() -> list[OpSpec]:
    """Ops that have a gradient to check (differentiable, loss, network)."""
    return [op for op in OPS if op.has_gradient]
