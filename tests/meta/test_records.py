"""Every op's record is complete: each field that an oracle applying to the op's kind reads is present and callable,
and each reference points into the record's own module or a shared building-block module (the rule is stated at
:data:`BUILDING_BLOCKS`); a toy record in a module of its own is found by every oracle's lookup.

:data:`READS` lists, per oracle, the kinds it applies to and the record fields it reads; a test checks that no
oracle's ``applies(op)`` reaches beyond those kinds. No op count is hard-coded anywhere: the registry is
whatever the records in ``gradspec.ops`` say.
"""
from __future__ import annotations

import dataclasses
import os
import sys

import numpy as np
import pytest
from hypothesis import strategies as st

from gradspec import conventions, oracles, registry
from gradspec.spec import OpSpec, Ref, Sampler

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

ALL_KINDS = ("differentiable", "loss", "function", "optimizer", "init", "network", "rule")
GRADIENT_KINDS = ("differentiable", "loss", "network")
#: oracle -> [(kinds, the record fields it reads for those kinds)]; ``sample.x`` is a member of the sampler family.
READS = {
    "fd64": [(ALL_KINDS, ("sample",))],
    "properties": [(ALL_KINDS, ("sample", "sample.strategy"))],
    "mpmath": [(GRADIENT_KINDS, ("mp_forward", "error_model"))],
    # the symbolic oracle also checks functions, optimisers and rules: an optimizer by its rule, a function or a
    # learning rule by its SymPy statement (both named by the record's sympy)
    "symbolic": [(GRADIENT_KINDS, ("sympy", "sample.cases")), (("optimizer",), ("sympy",)), (("function", "rule"), ("sympy",))],
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
    broken = dataclasses.replace(relu, sympy=Ref("gradspec.ops.activations", "no_such_relu_sympy"))
    (problem,) = record_problems(broken)
    assert problem.startswith("relu: sympy = gradspec.ops.activations:no_such_relu_sympy does not resolve")
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


# --------------------------------------------------------------------------- where a record's references point
#: Modules of building blocks that a record's functions use and its references may name: none of them reads the
#: registry (checked below), so a record that imports them inside its functions makes no import cycle. A reference
#: into one of them names a *shared* block (one that at least two ops use, or a block bound to one op by keyword
#: arguments, like ``elementwise(away_from_zero=True)``); an op's own piece lives in its record module.
BUILDING_BLOCKS = (
    "gradspec.symbolic.definitions", "gradspec.mpmath_oracle.forward", "gradspec.mpmath_oracle.tolerance",
    "gradspec.mpmath_oracle.vectors_mp", "gradspec.properties.strategies", "gradspec.properties.checks",
    "gradspec.oracles.fd64_models",
)
#: Modules of named functions shared by the ops of a kind, which a record names by reference only (never imports).
#: Each entry says why it holds functions of single ops.
NAMED_FUNCTIONS = {
    "gradspec.properties.props": "the property functions: the records' OpProperty entries name them (one function "
                                 "may serve one op, like the sigmoid's symmetry, or several)",
    "gradspec.symbolic.rules": "the optimisers' SymPy update rules and closed forms (sgd_rule, ...), next to the "
                               "by-name iteration and proofs that read the registry",
}


def record_refs(op: OpSpec) -> list[tuple[str, Ref]]:
    """(field path, Ref) of every reference in ``op``'s record: the oracle fields, the sampler's strategy, the fd64
    model's pieces and the own properties' checks."""
    out = [(f.name, getattr(op, f.name)) for f in dataclasses.fields(op) if isinstance(getattr(op, f.name), Ref)]
    if isinstance(op.sample, Sampler) and isinstance(op.sample.strategy, Ref):
        out.append(("sample.strategy", op.sample.strategy))
    out += [(f"fd_model.{f.name}", getattr(op.fd_model, f.name)) for f in dataclasses.fields(op.fd_model)
            if isinstance(getattr(op.fd_model, f.name), Ref)]
    out += [(f"properties[{p.name}].check", p.check) for p in op.properties]
    return out


def reference_problems(op: OpSpec, home: str, ops=None) -> list[str]:
    """Where ``op``'s references point, against the rule: each resolves, into ``home`` (the record's module), a
    :data:`BUILDING_BLOCKS` module (a block that >= 2 ops of ``ops`` name, or bound by keywords) or a
    :data:`NAMED_FUNCTIONS` module. Empty when the record keeps the rule."""
    ops = registry.OPS if ops is None else ops
    users: dict = {}
    for o in ops:
        for _, r in record_refs(o):
            users.setdefault((r.module, r.attr), set()).add(o.name)
    problems = []
    for path, r in record_refs(op):
        try:
            r.resolve()
        except (ImportError, AttributeError) as exc:
            problems.append(f"{op.name}: {path} = {r} does not resolve: {exc}")
            continue
        if r.module == home or r.module in NAMED_FUNCTIONS:
            continue
        if r.module not in BUILDING_BLOCKS:
            problems.append(f"{op.name}: {path} = {r} points into {r.module}, which is neither the record's module "
                            f"{home} nor a building-block module")
        elif not r.kwargs and len(users.get((r.module, r.attr), ())) < 2:
            problems.append(f"{op.name}: {path} = {r} is the op's own piece in the building-block module {r.module}; "
                            f"it belongs in the record's module {home}")
    return problems


@pytest.mark.parametrize("op", registry.OPS, ids=[op.name for op in registry.OPS])
def test_every_reference_points_into_the_record_or_a_building_block(op):
    assert reference_problems(op, f"gradspec.ops.{op.area}") == []


def test_the_building_blocks_read_no_registry():
    """No building-block module reaches gradspec.registry, even through an import inside a function."""
    from importgraph import imports, module_files, package_dirs

    files = module_files(package_dirs(os.path.join(ROOT, "pyproject.toml")))
    known = set(files)
    g = {m: {t for t, _, _ in imports(m, p, known, module_level_only=False)} - {m} for m, p in files.items()}

    def reaches(start):
        seen, todo = set(), [start]
        while todo:
            m = todo.pop()
            for t in g.get(m, ()):
                if t not in seen:
                    seen.add(t)
                    todo.append(t)
        return seen

    assert [m for m in BUILDING_BLOCKS if "gradspec.registry" in reaches(m)] == []
    assert "gradspec.registry" in reaches("gradspec.properties.props")  # the walk does see a registry import


def test_a_reference_outside_the_rule_is_reported():
    relu = registry.get("relu")
    engine = dataclasses.replace(relu, mp_forward=Ref("gradspec.mpmath_oracle.oracle", "check_op"))
    (problem,) = reference_problems(engine, "gradspec.ops.activations")
    assert problem.startswith("relu: mp_forward = gradspec.mpmath_oracle.oracle:check_op points into")
    own = dataclasses.replace(relu, mp_forward=Ref("gradspec.mpmath_oracle.forward", "guard"))
    (problem,) = reference_problems(own, "gradspec.ops.activations")
    assert "is the op's own piece in the building-block module" in problem
    shared = dataclasses.replace(relu, sample=dataclasses.replace(relu.sample, strategy=Ref(
        "gradspec.properties.strategies", "elementwise")))
    assert reference_problems(shared, "gradspec.ops.activations") == []  # sigmoid and tanh name it too


# --------------------------------------------------------------------------- adding an op touches only its record
TOY_RECORD = '''"""A toy op outside gradspec, y = x² element-wise: its record and every piece of it, in this one module."""
import numpy as np

from gradspec.spec import Arg, OpProperty, OpSpec, Ref, Sampler
from gradspec.variants import Catalogue, f64


def structure(rng):
    return {"x": (2, 3)}


def values(case, rng):
    return {"x": rng.normal(0.0, 2.0, size=case["x"])}


def square_sympy(s):
    from gradspec.symbolic.definitions import Definition, ew, sym_array
    x = sym_array("x", np.shape(s["x"]), real=True)
    return Definition({"x": x}, ew(lambda z: z ** 2, x), ("x",), lambda dy: (dy * 2 * x,))


def square_mp(s, pattern=None):
    return s["x"] * s["x"], None


def square_error_model(s, dy):
    from gradspec.mpmath_oracle.tolerance import Bounded, Model
    x = Bounded(s["x"])
    return Model(x * x, {"x": (2.0 * dy) * x})


def square_vectors(s, A, d):
    return {"outputs": {"forward": A["x"] * A["x"]}, "gradients": {"x": 2 * d * A["x"]}}


def square_strategy(mode):
    from gradspec.properties.strategies import elementwise
    return elementwise(mode)


def nonnegative(impl, sample):
    y = impl.square_forward(sample["x"])
    assert np.all(y >= 0), f"square: y = x² >= 0, got {y.min()}"


CATALOGUE = Catalogue()
CATALOGUE.variant("missing_factor_2", "toy_square", "square_backward returns dy·x: the factor 2 of 2x is missing",
                  square_backward=lambda x, dy: f64(dy) * f64(x))

OPS = (
    OpSpec("toy_square", "differentiable", "toy", "x² element-wise", (Arg("x", "input", True, "any shape"),),
           ("square_forward", "square_backward"), "y has the shape of x",
           Sampler(structure, values, Ref(__name__, "square_strategy"), ("away",), cases=({"x": (2, 3)},)),
           lambda s: np.shape(s["x"]),
           sympy=Ref(__name__, "square_sympy"), mp_forward=Ref(__name__, "square_mp"),
           error_model=Ref(__name__, "square_error_model"), vector_values=Ref(__name__, "square_vectors"),
           variants=Ref(__name__, "CATALOGUE"),
           properties=(OpProperty("nonnegative", Ref(__name__, "nonnegative")),)),
)
'''


@pytest.fixture
def toy_op(tmp_path, monkeypatch):
    """The toy record's module written to a temporary folder and its op added to the registry (undone after)."""
    (tmp_path / "toy_record.py").write_text(TOY_RECORD)
    monkeypatch.syspath_prepend(str(tmp_path))
    import importlib

    mod = importlib.import_module("toy_record")
    (op,) = mod.OPS
    monkeypatch.setitem(registry.REGISTRY, op.name, op)
    monkeypatch.setattr(registry, "OPS", registry.OPS + (op,))
    yield op
    sys.modules.pop("toy_record", None)


def test_a_record_in_a_module_of_its_own_is_picked_up_by_every_oracle(toy_op):
    """The toy op's record module is the only file that knows it: every oracle's lookup finds its pieces."""
    import mpmath

    from gradspec import variants
    from gradspec.mpmath_oracle import forward as F, lookup as mp_lookup, vectors_mp
    from gradspec.properties import lookup as prop_lookup, suite
    from gradspec.symbolic import lookup as sym_lookup

    assert record_problems(toy_op) == []
    assert reference_problems(toy_op, "toy_record", registry.OPS) == []
    rng = np.random.default_rng(0)
    s = toy_op.sample(rng)
    x = s["x"]
    # symbolic: the SymPy definition at the sample's structure
    d = sym_lookup.define("toy_square", sym_lookup.draw("toy_square", {"x": (2, 3)}, rng))
    assert d.forward.shape == (2, 3) and d.diff_args == ("x",)
    # mpmath: the 50-digit forward (guarded) and the running-error model
    with mpmath.workdps(50):
        y, _ = mp_lookup.evaluate("toy_square", F.sample_to_mp(s))
    np.testing.assert_allclose(F.to_float(y), x * x, rtol=1e-15)
    dy = np.ones_like(x)
    assert set(mp_lookup.model("toy_square", s, dy).grads) == {"x"}
    # golden vectors: the closed forms
    vals = vectors_mp.spec_values(toy_op, s, dy)
    np.testing.assert_allclose(np.array(vals["gradients"]["x"], dtype=float), 2 * x, rtol=1e-15)
    # properties: the Hypothesis strategy by name, and the record's own property
    assert isinstance(prop_lookup.samples("toy_square", "away"), st.SearchStrategy)
    props = suite.op_properties(toy_op)
    assert [p.name for p in props][-1] == "nonnegative" and {p.op for p in props} == {"toy_square"}
    # the diagnosis and the mutants: the record's catalogue
    assert [v.name for v in variants.known(toy_op)] == ["missing_factor_2"]
    # the conventions check: no kink, no cases
    assert conventions.cases(toy_op) == [] and not conventions.applies(toy_op)
