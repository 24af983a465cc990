"""The catalogue of known variants (gradspec.variants): one list per op, reached from its record, read by both
the diagnosis (by name) and the mutation library (the properties must catch each entry naming a mutant)."""
from __future__ import annotations

import pytest

import gradspec
from gradspec import diagnosis, registry
from gradspec.properties import mutants
from gradspec.variants import Catalogue, Variant, known, reference_functions

ENTRIES = [v for op in registry.OPS for v in known(op)]


def test_every_record_names_a_catalogue_and_its_entries_are_its_own():
    for op in registry.OPS:
        assert op.variants is not None, op.name
        assert all(v.op == op.name for v in known(op)), op.name


def test_every_entry_replaces_functions_of_the_reference():
    public = set(reference_functions())
    bad = [(v.name, fn) for v in ENTRIES for fn in {**v.overrides, **v.mutant_overrides()} if fn not in public]
    assert bad == []


def test_the_mutation_library_is_the_catalogue_plus_the_scaled_elements():
    from_catalogue = {v.mutant for v in ENTRIES if v.mutant}
    scaled = {f"{op.name}_scaled_gradient_element" for op in registry.OPS if op.kind in ("differentiable", "loss")}
    assert {m.name for m in mutants.MUTANTS} == from_catalogue | scaled
    assert len(from_catalogue) == len([v for v in ENTRIES if v.mutant])  # no mutant name twice


def test_the_diagnosis_tries_the_diagnosed_entries_in_catalogue_order():
    for op in registry.OPS:
        assert diagnosis.VARIANTS[op.name] == [v for v in known(op) if v.diagnosed]


def test_a_mutant_only_entry_is_not_a_diagnosis():
    cat = Catalogue()
    cat.mutant("m1", "relu", "a bug", relu_backward=lambda x, dy: dy)
    v = cat.variant("named", "relu", "explained", relu_backward=lambda x, dy: 2 * dy)
    assert [e.diagnosed for e in cat("relu")] == [False, True]
    assert cat("sigmoid") == []
    assert v.mutant is None and v.mutant_overrides() == v.overrides


def test_a_witness_is_the_mutant_and_the_overrides_the_diagnosis():
    cat = Catalogue()
    diag, wit = (lambda x, dy: 2 * dy), (lambda x, dy: dy + dy)
    v = cat.variant("named", "relu", "explained", mutant="m", witness={"relu_backward": wit}, relu_backward=diag)
    assert v.overrides == {"relu_backward": diag} and v.mutant_overrides() == {"relu_backward": wit}
    assert v.functions()["relu_backward"] is diag


def test_expand_splits_only_the_protocol_functions():
    both = Variant("v", "conv2d", "e", {"conv2d_forward": 1, "conv2d_backward": 2})
    assert [w.overrides for w in diagnosis.expand([both], registry.get("conv2d").functions)[1:]] == [
        {"conv2d_forward": 1}, {"conv2d_backward": 2}]
    mlp = Variant("v", "mlp", "e", {"mlp_backprop": 1, "mlp_loss_and_grads": 2, "mlp_col_loss_and_grads": 3})
    assert diagnosis.expand([mlp], registry.get("mlp").functions) == [mlp]


#: entries whose mutant is their diagnosis form (no independent witness): checking the mutant must name the entry
SELF_NAMED = [v for v in ENTRIES if v.mutant and v.diagnosed and v.witness is None]


@pytest.mark.parametrize("entry", SELF_NAMED, ids=[v.mutant for v in SELF_NAMED])
def test_a_catalogue_mutant_is_caught_and_diagnosed_by_its_entry_name(entry):
    impl = mutants.get(entry.mutant).impl
    result = gradspec.check(impl, ops=[entry.op], seed=0)
    bad = [c for c in result.ops[entry.op].checks if c.status in ("fail", "error")]
    assert bad, f"{entry.mutant} not caught"
    named = [c.info["diagnosis"][0]["name"] for c in bad if c.info.get("diagnosis")]
    assert named and set(named) == {entry.name}, (entry.mutant, named)


def test_the_reference_gets_no_diagnosis_from_the_catalogue():
    result = gradspec.check(gradspec.reference, ops=[v.op for v in SELF_NAMED], seed=0)
    assert all(c.status not in ("fail", "error") for r in result.ops.values() for c in r.checks)
    assert not [c for r in result.ops.values() for c in r.checks if c.info.get("diagnosis")]


def test_the_diagnosis_probes_are_the_kink_cases_and_the_catalogue_probes():
    import numpy as np
    from gradspec.conventions import cases
    from gradspec.variants import catalogue_of

    for op in registry.OPS:
        own = catalogue_of(op).probes.get(op.name, [])
        assert len(diagnosis.probes(op, np.random.default_rng(0))) == len(cases(op)) + len(own), op.name
    (square,) = diagnosis.probes(registry.get("affine"), np.random.default_rng(0))
    assert square["W"].shape[0] == square["W"].shape[1]  # the probe that exposes a transposed dW
    cat = Catalogue()
    cat.probe("relu", lambda rng: {"x": np.zeros(2)})
    assert [p(None)["x"].tolist() for p in cat.probes["relu"]] == [[0.0, 0.0]] and cat.probes.get("tanh") is None


def test_the_op_specific_scalings_come_from_the_catalogue():
    import numpy as np

    pool = {"x": np.zeros((1, 1, 4, 4)), "kernel": 2, "stride": 2, "pad": 0}
    names = [n for _, n, _ in diagnosis.ratio_candidates(registry.get("avg_pool2d"), pool, "dx", {})]
    assert "scaled_by_kernel_area" in names and "scaled_by_1_over_kernel_area" in names
    relu = [n for _, n, _ in diagnosis.ratio_candidates(registry.get("relu"), {"x": np.ones((3, 2))}, "dx", {})]
    assert not {"scaled_by_kernel_area", "dropout_not_inverted", "bias_grad_averaged"} & set(relu)
    (c, name, expl), *_ = diagnosis.ratio_candidates(registry.get("conv2d"), {"x": np.zeros((2, 1, 3, 3))}, "db",
                                                      {"forward": np.zeros((2, 1, 3, 3))})
    assert (c, name) == (1.0 / 18, "bias_grad_averaged") and expl.endswith("over the batch and positions")
