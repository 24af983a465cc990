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
    "mpmath": "gradspec.highprec.oracle",
    "symbolic": "gradspec.symbolic.oracle",
}


def get(name: str):
    if name not in ORACLES:
        raise KeyError(f"unknown oracle {name!r}; known: {', '.join(ORACLES)}")
    return importlib.import_module(ORACLES[name])
