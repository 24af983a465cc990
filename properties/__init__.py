"""Hypothesis strategies and properties for every op of the registry.

The package imports none of its modules when imported (so an op's record may use the building blocks of
:mod:`gradspec.properties.strategies` and the helpers of :mod:`gradspec.properties.checks` without importing
the registry); the names below are loaded from their modules on first use.
"""
from __future__ import annotations

import importlib

#: public name -> the module of this package that defines it
_HOMES = {
    "MUTANTS": "mutants", "Mutant": "mutants", "NotProvided": "checks", "STRATEGIES": "lookup", "samples": "lookup",
    "MODES": "strategies", "ALL": "suite", "PROPERTIES": "suite", "Property": "suite", "check_op": "suite",
    "check_property": "suite", "first_failure": "suite",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str):
    if name in _HOMES:
        return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
