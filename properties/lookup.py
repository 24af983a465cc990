"""The Hypothesis strategies of every op, looked up by op name and mode.

Each op's record (:mod:`gradspec.ops`) names its strategy factory (``op.sample.strategy``, ``factory(mode)``)
and the modes it supports (``op.sample.modes``). The mappings here are read-only views of the records; the
building blocks the factories use (:mod:`gradspec.properties.strategies`) import no registry, so a record may
use them.
"""
from __future__ import annotations

from hypothesis import strategies as st

from ..registry import OPS, REGISTRY
from ..limits import of as limits_of
from . import limited
from .strategies import MODES

#: Which modes each op supports (``away`` always; others where they mean something): a read-only view of
#: the records' ``sample.modes``.
OP_MODES: dict[str, tuple[str, ...]] = {op.name: op.sample.modes for op in OPS}


def samples(op, mode: str = "away") -> st.SearchStrategy[dict]:
    """Strategy of valid sample dicts for ``op`` (a name or an OpSpec) in ``mode``.

    Raises ``ValueError`` naming the supported modes when the op has none of
    that kind (e.g. ``on_kink`` for sigmoid, which has no kink). An op narrowed to declared limits
    (``gradspec.limits.narrow``) gets samples within them (:func:`gradspec.properties.limited.samples`).
    """
    name = op if isinstance(op, str) else op.name
    if name not in REGISTRY:
        raise KeyError(f"unknown op {name!r}; known ops: {', '.join(REGISTRY)}")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    sampler = REGISTRY[name].sample
    if mode not in sampler.modes:
        raise ValueError(f"op {name!r} has no {mode!r} samples; its modes are {sampler.modes}")
    if not isinstance(op, str) and limits_of(op):
        return limited.samples(op, mode)
    return sampler.strategy(mode)


#: ``STRATEGIES[op][mode]``: every strategy of the library.
STRATEGIES = {name: {m: samples(name, m) for m in OP_MODES[name]} for name in REGISTRY}
