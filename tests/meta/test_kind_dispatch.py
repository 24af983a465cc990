"""The engine asks an op's record, not its name: no ``op.name`` comparison, and ``op.kind`` compared only where an
oracle picks its procedure by kind (:data:`ALLOWED`, each with its reason); every other question about a kind is one
of its facts (:class:`gradspec.spec.Kind`, ``op.kind_facts``). The kinds' facts agree with each other, and a choice
argument names its allowed values.
"""
from __future__ import annotations

import dataclasses
import os
import re

import pytest

from gradspec import registry
from gradspec.spec import KINDS, Arg, Kind
from gradspec.symbolic import oracle as symbolic_oracle
from importgraph import module_files, package_dirs

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PYPROJECT = os.path.join(ROOT, "pyproject.toml")

#: A comparison of an op's name (``op.name ==``, ``!=``, ``in ("...", ...)``: a lookup of the name in a keyed
#: collection is no comparison) or of its kind (``op.kind ==``, ``!=``, ``in``, ``not in``).
COMPARISON = re.compile(r"\bop\.name\s*(==|!=|(\bnot\s+)?\bin\s*[(\[{]\s*[\"'])|\bop\.kind\s*(==|!=|\bnot\s+in\b|\bin\b)")
#: (module, the line's code, stripped) -> why comparing the kind there is principled. No name comparison is allowed.
ALLOWED = {
    ("gradspec.symbolic.oracle", "return op.kind in CHECKS  # the kinds it has a procedure for (CHECKERS, the same keys)"):
        "the symbolic oracle applies to the kinds it has a procedure for",
    ("gradspec.symbolic.lookup",
     "CASES: dict[str, list] = {op.name: list(op.sample.cases) for op in OPS if op.kind in DEFINED_KINDS}"):
        "the kinds whose sympy is a Definition builder (the field's meaning depends on the kind)",
    ("gradspec.symbolic.lookup", "if op.sympy is None or op.kind not in DEFINED_KINDS:"):
        "the same: only a differentiable op's or loss's sympy is a Definition builder",
}


def comparisons(text: str) -> list[tuple[int, str]]:
    """(line number, stripped line) of every op name or kind comparison in ``text``."""
    return [(i, line.strip()) for i, line in enumerate(text.splitlines(), start=1) if COMPARISON.search(line)]


def unexplained(files: dict[str, str]) -> list[str]:
    """The comparisons in ``files`` (module -> path) not in :data:`ALLOWED`, as ``module:line: code``."""
    out = []
    for module, path in sorted(files.items()):
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
        out += [f"{module}:{i}: {code}" for i, code in comparisons(text) if (module, code) not in ALLOWED]
    return out


def test_the_engine_compares_no_op_name_and_kinds_only_where_allowed():
    files = module_files(package_dirs(PYPROJECT))
    assert unexplained(files) == []


def test_a_planted_name_or_kind_comparison_is_found(tmp_path):
    planted = tmp_path / "planted.py"
    planted.write_text('def choices(op, table):\n    if op.name == "mlp":\n        return 1\n'
                       '    if op.name in ("step", "relu"):\n        return 4\n'
                       '    if op.name in table:  # a keyed lookup\n        return 5\n'
                       '    return 2 if op.kind != "loss" else 3\n', encoding="utf-8")
    assert unexplained({"gradspec.planted": str(planted)}) == [
        'gradspec.planted:2: if op.name == "mlp":', 'gradspec.planted:4: if op.name in ("step", "relu"):',
        'gradspec.planted:8: return 2 if op.kind != "loss" else 3']


def test_every_allowed_comparison_is_still_there():
    files = module_files(package_dirs(PYPROJECT))
    found = set()
    for module, path in files.items():
        with open(path, encoding="utf-8") as fh:
            found |= {(module, code) for _, code in comparisons(fh.read())}
    assert set(ALLOWED) - found == set()


def kind_problems(name: str, kind: Kind) -> list[str]:
    """What in one kind's facts contradicts another of them (empty when they agree)."""
    problems = []
    if kind.has_backward and not (kind.has_forward and kind.has_gradient):
        problems.append(f"{name}: has_backward needs has_forward and has_gradient")
    if kind.has_backward != (kind.scalar_output != kind.array_cotangent):
        problems.append(f"{name}: a backward takes exactly one cotangent, scalar_output or array_cotangent "
                        f"(has_backward={kind.has_backward}, scalar_output={kind.scalar_output}, "
                        f"array_cotangent={kind.array_cotangent})")
    if kind.value_only and kind.has_gradient:
        problems.append(f"{name}: value_only has no gradient")
    if kind.whole_network and not kind.has_gradient:
        problems.append(f"{name}: a whole network returns its gradients")
    return problems


def test_the_kinds_facts_agree():
    assert [p for name, kind in KINDS.items() for p in kind_problems(name, kind)] == []


def test_contradicting_facts_are_found():
    bad = dataclasses.replace(KINDS["loss"], array_cotangent=True)
    assert kind_problems("bad", bad) == [
        "bad: a backward takes exactly one cotangent, scalar_output or array_cotangent "
        "(has_backward=True, scalar_output=True, array_cotangent=True)"]
    assert kind_problems("bad", dataclasses.replace(KINDS["rule"], has_gradient=True)) == [
        "bad: value_only has no gradient"]


def choice_problems(op) -> list[str]:
    return [f"{op.name}: choice argument {a.name} names no allowed values (Arg.choices)"
            for a in op.args if a.role == "choice" and not a.choices]


@pytest.mark.parametrize("op", registry.OPS, ids=lambda op: op.name)
def test_every_choice_argument_names_its_values(op):
    assert choice_problems(op) == []


def test_a_choice_argument_without_values_is_found():
    mlp = registry.get("mlp")
    bare = dataclasses.replace(mlp, args=tuple(Arg(a.name, a.role, a.differentiable, a.doc) for a in mlp.args))
    assert choice_problems(bare) == ["mlp: choice argument hidden names no allowed values (Arg.choices)",
                                     "mlp: choice argument output names no allowed values (Arg.choices)"]


def test_the_symbolic_oracle_has_one_procedure_per_kind_it_checks():
    assert set(symbolic_oracle.CHECKERS) == set(symbolic_oracle.CHECKS)
