"""The oracles: each checks an implementation op by op and returns CheckResults.

An oracle is a module (or object) with ``NAME``, ``TITLE``, ``applies(op)`` and
``check_op(op, impl, rng, examples) -> list[CheckResult]``. They are listed
here by name and imported lazily, so a run of one oracle never pays for the
others (SymPy and mpmath are slow to import).
"""
from __future__ import annotations

import importlib

#: name -> module path. The order is the order of the columns in reports.
ORACLES = {
    "fd64": "gradspec.oracles.fd64",
    "properties": "gradspec.properties.oracle",
    "mpmath": "gradspec.mpmath_oracle.oracle",
    "symbolic": "gradspec.symbolic.oracle",
}


#: Oracles that need an input besides the implementation (the golden vectors need a corpus): name -> module
#: path. They are not run by default or in reports; ``gradspec check --vectors DIR`` runs ``vectors``, and
#: :func:`get` returns the module, which reads its corpus from ``GRADSPEC_VECTORS``.
CORPUS_ORACLES = {
    "vectors": "gradspec.oracles.vectors",
}


def get(name: str):
    """The oracle module registered as ``name`` (in :data:`ORACLES` or :data:`CORPUS_ORACLES`)."""
    path = ORACLES.get(name) or CORPUS_ORACLES.get(name)
    if path is None:
        raise KeyError(f"unknown oracle {name!r}; known: {', '.join([*ORACLES, *CORPUS_ORACLES])}")
    return importlib.import_module(path)
