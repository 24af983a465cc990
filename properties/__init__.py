"""Hypothesis strategies and properties for every op of the registry."""
from .mutants import MUTANTS, Mutant
from .props import NotProvided
from .lookup import STRATEGIES, samples
from .strategies import MODES
from .suite import ALL, PROPERTIES, Property, check_op, check_property, first_failure

__all__ = ["ALL", "MODES", "MUTANTS", "Mutant", "NotProvided", "PROPERTIES", "Property", "STRATEGIES", "check_op",
           "check_property", "first_failure", "samples"]
