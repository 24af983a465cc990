"""Every op's record is complete: each field that an oracle applying to the op's kind reads is present and callable.

:data:`READS` lists, per oracle, the kinds it applies to and the record fields it reads; a test checks that no
oracle's ``applies(op)`` reaches beyond those kinds. No op count is hard-coded anywhere: the registry is
whatever the records in ``gradspec.ops`` say.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import strategies as st

from gradspec import conventions, oracles, registry
from gradspec.spec import OpSpec, Ref, Sampler

ALL_KINDS = ("differentiable", "loss", "function", "optimizer", "init", "network", "rule")
GRADIENT_KINDS = ("differentiable", "loss", "network")
#: oracle -> [(kinds, the record fields it reads for those kinds)]; ``sample.x`` is a member of the sampler family.
READS = {
    "fd64": [(ALL_KINDS, ("sample",))],
    "properties": [(ALL_KINDS, ("sample", "sample.strategy"))],
    "mpmath": [(GRADIENT_KINDS, ("mp_forward", "error_model"))],
    # the symbolic oracle also checks functions, optimisers and rules, from its own update rules (symbolic/rules.py)
    "symbolic": [(GRADIENT_KINDS, ("sympy", "sample.cases")), (("optimizer",), ("sympy",)), (("function", "rule"), ())],
    "vectors": [(ALL_KINDS, ("sample", "vector_values"))],  # the golden-vectors writer covers every op
}


def _field(op: OpSpec, path: str):
    obj = op
    for part in path.split("."):
        obj = getattr(obj, part, None)
    return obj


def record_problems(op: OpSpec) -> list[str]:
    """What is missing or broken in ``op``'s record for the oracles that apply to its kind (empty when complete)."""
    problems = []
    needed = {}
    for name, entries in READS.items():
        for kinds, fields in entries:
            if op.kind in kinds:
                needed.update({f: name for f in fields})
    if op.kinks:
        needed["kink_cases"] = "fd64 conventions"
    if not isinstance(op.sample, Sampler):
        problems.append(f"{op.name}: sample must be a Sampler (the family), got {type(op.sample).__name__}")
        needed = {p: who for p, who in needed.items() if not p.startswith("sample")}
    for path, who in sorted(needed.items()):
        value = _field(op, path)
        if value is None or (path == "sample.cases" and len(value) == 0):
            problems.append(f"{op.name}: {path} is missing ({who} reads it)")
            continue
        if isinstance(value, Ref):
            try:
                value = value.resolve()
            except (ImportError, AttributeError) as exc:
                problems.append(f"{op.name}: {path} = {_field(op, path)} does not resolve: {exc}")
                continue
        if path != "sample.cases" and not callable(value):
            problems.append(f"{op.name}: {path} is not callable ({type(value).__name__})")
    if isinstance(op.sample, Sampler) and "away" not in op.sample.modes:
        problems.append(f"{op.name}: sample.modes must include 'away', got {op.sample.modes}")
    return problems


@pytest.mark.parametrize("op", registry.OPS, ids=[op.name for op in registry.OPS])
def test_every_record_is_complete(op):
    assert record_problems(op) == []


@pytest.mark.parametrize("name", [n for n in READS if n != "vectors"])
def test_no_oracle_applies_beyond_the_kinds_listed_here(name):
    kinds = {k for ks, _ in READS[name] for k in ks}
    assert [op.name for op in registry.OPS if oracles.get(name).applies(op) and op.kind not in kinds] == []


def test_the_conventions_check_applies_to_every_op_with_a_kink():
    assert [op.name for op in registry.OPS if op.kinks and not conventions.applies(op)] == []


@pytest.mark.parametrize("op", registry.OPS, ids=[op.name for op in registry.OPS])
def test_the_sampler_family_agrees_on_the_sample_keys(op):
    """The registry sample, the symbolic draws and every Hypothesis strategy give the same arguments."""
    keys = set(op.sample(np.random.default_rng(0)))
    for case in op.sample.cases:
        assert set(op.sample.draw(case, np.random.default_rng(1))) == keys, case
    for mode in op.sample.modes:
        assert isinstance(op.sample.strategy(mode), st.SearchStrategy)


def test_an_incomplete_record_is_reported():
    relu = registry.get("relu")
    assert record_problems(dataclasses.replace(relu, mp_forward=None)) == [
        "relu: mp_forward is missing (mpmath reads it)"]
    assert record_problems(dataclasses.replace(relu, kink_cases=None)) == [
        "relu: kink_cases is missing (fd64 conventions reads it)"]
    assert record_problems(dataclasses.replace(registry.get("sgd"), vector_values=None)) == [
        "sgd: vector_values is missing (vectors reads it)"]
    no_cases = dataclasses.replace(relu, sample=dataclasses.replace(relu.sample, cases=()))
    assert record_problems(no_cases) == ["relu: sample.cases is missing (symbolic reads it)"]


def test_a_reference_that_does_not_resolve_is_reported():
    relu = registry.get("relu")
    broken = dataclasses.replace(relu, sympy=Ref("gradspec.symbolic.definitions", "define_no_such_op"))
    (problem,) = record_problems(broken)
    assert problem.startswith("relu: sympy = gradspec.symbolic.definitions:define_no_such_op does not resolve")
    gone = dataclasses.replace(relu, error_model=Ref("gradspec.no_such_module", "model_relu"))
    (problem,) = record_problems(gone)
    assert problem.startswith("relu: error_model = gradspec.no_such_module:model_relu does not resolve")


def test_a_plain_function_instead_of_the_sampler_family_is_reported():
    relu = registry.get("relu")
    assert record_problems(dataclasses.replace(relu, sample=lambda rng: {"x": np.ones(2)})) == [
        "relu: sample must be a Sampler (the family), got function"]


def test_the_registry_is_the_records():
    from gradspec.ops import AREAS

    assert registry.OPS == tuple(op for area in AREAS for op in area.OPS)
    for op in registry.OPS:
        area = next(a for a in AREAS if op in a.OPS)
        assert area.__name__ == f"gradspec.ops.{op.area}", (op.name, area.__name__)
