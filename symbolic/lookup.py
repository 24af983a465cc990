"""The record fields the symbolic oracle reads, looked up by op name.

Each op's record (:mod:`gradspec.ops`) holds its SymPy builder (``op.sympy``), the structures it is
derived at (``op.sample.cases``: the smallest that exercise every term) and the values drawn there
(``op.sample.draw``). The mappings here are read-only views of the records; the builders' building
blocks (:mod:`gradspec.symbolic.definitions`) import no registry, so a record may use them.
"""
from __future__ import annotations

import numpy as np

from ..registry import OPS, get
from .definitions import Definition

#: The kinds whose record's ``sympy`` is a builder ``builder(sample) -> Definition`` (a network's is
#: :func:`gradspec.symbolic.definitions.define_mlp`; an optimizer's is its rule in :mod:`gradspec.symbolic.rules`).
DEFINED_KINDS = ("differentiable", "loss")
#: op name -> the structures it is derived at (from the records).
CASES: dict[str, list] = {op.name: list(op.sample.cases) for op in OPS if op.kind in DEFINED_KINDS}


def draw(op_name: str, case, rng: np.random.Generator) -> dict:
    """A sample of ``op_name`` at the structure ``case``: its record's ``sample.draw(case, rng)``.

    Returns a dict keyed by the op's argument names, like ``OpSpec.sample``.
    """
    return get(op_name).sample.draw(case, rng)


def define(op_name: str, sample: dict) -> Definition:
    """The :class:`Definition` of ``op_name`` at the structure of ``sample`` (its record's ``sympy`` builder)."""
    op = get(op_name)
    if op.sympy is None or op.kind not in DEFINED_KINDS:
        defined = [o.name for o in OPS if o.sympy is not None and o.kind in DEFINED_KINDS]
        raise KeyError(f"no SymPy definition for op {op_name!r}; defined: {', '.join(defined)}")
    return op.sympy(sample)


#: Structures of the network op (widths, N), from its record; hidden and output are drawn per example.
MLP_CASES = [case for op in OPS if op.kind_facts.whole_network for case in op.sample.cases]


def draw_mlp(case, rng: np.random.Generator) -> dict:
    """An MLP sample (the registry's keys) at widths/N of ``case``: the network record's ``sample.draw``."""
    (network,) = [op for op in OPS if op.kind_facts.whole_network]
    return network.sample.draw(case, rng)
