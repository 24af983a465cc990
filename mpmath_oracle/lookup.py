"""The record fields the mpmath oracle reads, looked up by op name.

Each op's record (:mod:`gradspec.ops`) names its mpmath forward (``op.mp_forward``) and its float64
running-error model (``op.error_model``). The mappings here are read-only views of the records; the
building blocks those functions use (:mod:`gradspec.mpmath_oracle.forward`,
:mod:`gradspec.mpmath_oracle.tolerance`) import no registry, so a record may use them.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from ..registry import OPS, get
from .forward import guard
from .tolerance import Model

#: op name -> mp forward ``f(sample_mp, pattern=None) -> (output, pattern)``: a read-only view of the
#: records' ``mp_forward``.
FORWARDS: dict[str, Callable] = {op.name: op.mp_forward for op in OPS if op.mp_forward is not None}

#: op name -> error model ``model(sample, dy) -> Model``: a read-only view of the records' ``error_model``.
MODELS = {op.name: op.error_model for op in OPS if op.error_model is not None}


def evaluate(op_name: str, sample_mp: dict, pattern=None):
    """The record's ``mp_forward(sample_mp, pattern)`` with the result guarded. Returns (output, pattern)."""
    op = get(op_name)
    if op.mp_forward is None:
        raise KeyError(f"no high-precision forward for {op_name!r}; known: {', '.join(FORWARDS)}")
    y, pat = op.mp_forward(sample_mp, pattern)
    return guard(y, f"{op_name} forward"), pat


def model(op_name: str, sample: dict, dy) -> Model:
    """Running error bounds of the reference's forward and backward of ``op_name`` at ``sample``.

    ``dy``: the cotangent (output's shape; a float for losses; ignored for the MLP).
    Raises ``KeyError`` for an op without a model.
    """
    op = get(op_name)
    if op.error_model is None:
        raise KeyError(f"no tolerance model for {op_name!r}; known: {', '.join(MODELS)}")
    if op.kind_facts.whole_network:
        dy = 1.0
    else:
        dy = float(dy) if np.ndim(dy) == 0 else np.asarray(dy, dtype=np.float64)
    with np.errstate(under="ignore"):
        return op.error_model(sample, dy)
