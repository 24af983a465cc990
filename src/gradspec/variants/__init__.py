"""The catalogue of known variants: named, plausible wrong versions of the spec, one list per op.

Each op's record names its catalogue (``OpSpec.variants``, a :class:`~gradspec.spec.Ref` to a
:class:`Catalogue`, one module per spec area here, or in the record's own module). One entry is one known bug:

* the **diagnosis** (:mod:`gradspec.diagnosis`) recognises it by ``name`` and explains it with ``explanation``,
  evaluating the reference with ``overrides`` (``diagnosed=False`` for a bug the diagnosis names by a generic
  pattern instead, e.g. a gradient scaled by N);
* the **mutation library** (:mod:`gradspec.properties.mutants`) runs it as the mutant ``mutant`` (described by
  ``description``) when the entry has one: the properties must catch it. Its implementation is ``witness`` when
  given, else ``overrides``: a witness written independently of the diagnosis form shows the diagnosis
  recognising a bug in code it did not write.

Several entries of one op may share a diagnosis name (two ways to miss an activation's derivative).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Callable

import numpy as np


@functools.lru_cache(maxsize=1)
def reference_functions() -> dict:
    """The reference's public names (the caller copies the dict before changing it)."""
    from .. import reference as ref

    return {k: getattr(ref, k) for k in dir(ref) if not k.startswith("_")}


@dataclass(frozen=True)
class Variant:
    """A named alternative to the spec: the reference with some protocol functions replaced.

    ``overrides`` replaces functions; ``wrap`` (a function of the namespace's
    dict) wraps the functions already there, e.g. to call them with a fixed
    hyperparameter or with dy = 1, so it composes with another variant.
    ``family``/``params``: a variant built as ``family(**params)`` merges with
    another of the same family (two bugs in one function). ``facts`` are
    structured details (the hyperparameter and its fixed value...).
    ``mutant``/``description``/``witness``/``diagnosed``: see the module docstring.
    """

    name: str
    op: str
    explanation: str
    overrides: dict
    wrap: Callable | None = None
    family: Callable | None = None
    params: tuple = ()
    facts: tuple = ()
    primary: bool = True  # False for the one-function forms made by the diagnosis's expand()
    mutant: str | None = None
    description: str = ""
    witness: dict | None = field(default=None, compare=False)
    diagnosed: bool = True
    #: the catalogue's validation-free rewrites, by op (:meth:`Catalogue.base`), that the variant builds on
    bases: dict = field(default_factory=dict, compare=False, repr=False)

    def functions(self) -> dict:
        base = dict(reference_functions())
        base.update(self.bases.get(self.op, {}))
        base.update(self.overrides)
        return self.wrap(base) if self.wrap else base

    def namespace(self):
        return SimpleNamespace(**self.functions())

    def mutant_overrides(self) -> dict:
        """The functions the mutant replaces: the independent witness, else the diagnosis form."""
        return dict(self.overrides if self.witness is None else self.witness)


class Catalogue:
    """The known variants of the ops of one area (or one record), in the order they are tried.

    Callable: ``catalogue(op)`` is the list of ``op``'s entries (a record's ``variants`` Ref resolves to it).
    ``bases`` maps an op to validation-free rewrites of the reference that its variants build on (so a
    hyperparameter fixed at 0, which the reference rejects, can still be evaluated); ``probes`` maps an op to
    samplers ``probe(rng) -> sample`` made to expose its variants (a square W, a small spread...), which the
    diagnosis tries besides the op's kink cases. ``bias_sums`` maps an op to ``(terms(sample, key, out_ref), over)``:
    how many terms the spec sums into the bias-like gradient ``key`` (None for another output), and what the sum
    runs over; ``ratios`` maps an op to ``ratios(sample, what) -> [(c, name, explanation)]``, the constant factors
    worth naming for it (a missing 1/kernel², a non-inverted dropout).
    """

    def __init__(self):
        self.entries: list[Variant] = []
        self.bases: dict[str, dict] = {}
        self.probes: dict[str, list[Callable]] = {}
        self.bias_sums: dict[str, tuple[Callable, str]] = {}
        self.ratios: dict[str, list[Callable]] = {}

    def __call__(self, op: str) -> list[Variant]:
        return [v for v in self.entries if v.op == op]

    def variant(self, name, op, explanation, family=None, params=None, facts=(), mutant=None, description="",
                witness=None, **overrides) -> Variant:
        """A bug the diagnosis recognises by ``name``; also a mutant when ``mutant`` names one."""
        if family is not None:
            overrides = family(**(params or {}))
        v = Variant(name, op, explanation, overrides, None, family, tuple(sorted((params or {}).items())),
                    tuple(facts), mutant=mutant, description=description or explanation, witness=witness,
                    bases=self.bases)
        self.entries.append(v)
        return v

    def mutant(self, mutant, op, description, **overrides) -> Variant:
        """A bug in the mutation library only: the diagnosis names it by a generic pattern, or not at all."""
        v = Variant(mutant, op, description, overrides, mutant=mutant, description=description, diagnosed=False,
                    bases=self.bases)
        self.entries.append(v)
        return v

    def base(self, op: str, overrides: dict) -> None:
        self.bases[op] = dict(overrides)

    def bias_sum(self, op: str, terms: Callable, over: str) -> None:
        self.bias_sums[op] = (terms, over)

    def ratio(self, op: str, ratios: Callable) -> Callable:
        self.ratios.setdefault(op, []).append(ratios)
        return ratios

    def probe(self, op: str, probe: Callable) -> Callable:
        self.probes.setdefault(op, []).append(probe)
        return probe


def catalogue_of(op) -> Catalogue | None:
    """The catalogue an op's record names (None when it names none)."""
    return None if op.variants is None else op.variants.resolve()


def known(op) -> list[Variant]:
    """Every known variant of ``op`` (an OpSpec), diagnosed or not."""
    cat = catalogue_of(op)
    return [] if cat is None else cat(op.name)


def bases_of(op) -> dict:
    """The validation-free rewrites of the reference, by op, in ``op``'s catalogue (empty without one)."""
    cat = catalogue_of(op)
    return {} if cat is None else cat.bases


def f64(x):
    """``x`` as a float64 array."""
    return np.asarray(x, dtype=np.float64)
