"""The embedding op through its record: every oracle passes on the reference and on PyTorch's F.embedding, each
known variant fails and is diagnosed by name, the op's own properties fail on the bug they target and pass on the
reference, and every sampler draws repeated ids."""
from __future__ import annotations

import types

import numpy as np
import pytest
from hypothesis import given, settings

import gradspec
from gradspec import reference as ref, registry
from gradspec.ops import embedding as rec
from gradspec.properties import mutants
from gradspec.variants import known

from _impls import assert_op_passes, assert_vectors_catch, diagnosed

OP = "embedding"
ORACLES = ("fd64", "symbolic", "mpmath", "properties")
VARIANTS = {v.name: v for v in known(registry.get(OP))}


@pytest.mark.parametrize("oracle", ORACLES)
def test_the_reference_passes_every_oracle(oracle):
    r = gradspec.check(ref, ops=[OP], oracles=[oracle], seed=0, examples=2)
    assert_op_passes(r, OP)


def test_the_golden_vectors_pass_the_reference_and_catch_an_assignment(tmp_path):
    assert_vectors_catch(tmp_path, OP, VARIANTS["rows_assigned_not_accumulated"].namespace())


def test_pytorch_f_embedding_passes_every_oracle():
    pytest.importorskip("torch", reason="torch is an optional extra: pip install torch==2.13.0")
    from gradspec.adapters import torch_impl

    assert_op_passes(gradspec.check(torch_impl, ops=[OP], oracles=list(ORACLES), seed=0, examples=2), OP)


#: the oracle that sees each variant (a wrapping read of −1 shows only when an out-of-range id is tried)
SEEN_BY = {"rows_assigned_not_accumulated": "fd64", "dy_rows_misaligned": "fd64", "negative_ids_wrap": "properties"}


def test_every_variant_has_an_oracle_here():
    assert set(SEEN_BY) == set(VARIANTS) and len(VARIANTS) >= 2


@pytest.mark.parametrize("name", sorted(SEEN_BY))
def test_each_variant_fails_and_the_diagnosis_names_it(name):
    r = gradspec.check(VARIANTS[name].namespace(), ops=[OP], oracles=[SEEN_BY[name]], seed=0, examples=3)
    assert diagnosed(r, OP) == {name}, [(c.check, c.message) for c in r.ops[OP].checks]


def test_the_wrapping_witness_written_apart_is_named_too():
    impl = mutants.get("embedding_negative_ids_wrap").impl
    r = gradspec.check(impl, ops=[OP], oracles=["properties"], seed=0, examples=2)
    bad = [c for c in r.ops[OP].checks if c.status == "fail"]
    assert [c.check for c in bad] == ["rejects_out_of_range_ids[away]"]
    assert bad[0].info["diagnosis"][0]["name"] == "negative_ids_wrap"


# --------------------------------------------------------------------------- the op's own properties
def _sample(seed=0):
    s = registry.get(OP).sample.draw(rec.CASES[0], np.random.default_rng(seed))
    return {**s, "seed": seed}


def test_out_of_range_ids_property_passes_the_reference_and_reports_the_accepted_ids():
    s = _sample()
    rec.prop_rejects_out_of_range_ids(ref, s)
    assert s["ids"].min() >= 0  # nothing replaced when every call raised
    with pytest.raises(AssertionError, match=r"ids must lie in \[0, V\) = \[0, 5\): embedding_forward accepted"):
        rec.prop_rejects_out_of_range_ids(VARIANTS["negative_ids_wrap"].namespace(), s)
    assert s["ids"].min() == -1  # the failure's example is the input that was accepted


def test_out_of_range_ids_property_needs_the_backward_to_reject_them_too():
    v = VARIANTS["negative_ids_wrap"]
    impl = types.SimpleNamespace(embedding_forward=ref.embedding_forward,
                                 embedding_backward=v.functions()["embedding_backward"])
    with pytest.raises(AssertionError, match="embedding_backward accepted"):
        rec.prop_rejects_out_of_range_ids(impl, _sample())


def test_scatter_add_property_fails_on_an_assignment_and_passes_the_reference():
    s = _sample(1)
    rec.prop_gradient_is_scatter_add(ref, s)
    with pytest.raises(AssertionError, match=r"Σ_v dE_v = Σ_i dy_i"):
        rec.prop_gradient_is_scatter_add(VARIANTS["rows_assigned_not_accumulated"].namespace(), s)


def test_scatter_add_property_requires_unused_rows_to_stay_zero():
    def leaks(ids, E, dy):
        dE = ref.embedding_backward(ids, E, dy)
        dE[4] += 1.0  # row 4 of the first case is never selected
        dE[0] -= 1.0
        return dE

    with pytest.raises(AssertionError, match="a row no id selects gets no gradient"):
        rec.prop_gradient_is_scatter_add(types.SimpleNamespace(embedding_backward=leaks), _sample())


# --------------------------------------------------------------------------- the samplers draw repeated ids
def _repeated(ids) -> bool:
    return len(np.unique(ids)) < np.size(ids)


def test_every_registry_sample_with_two_ids_repeats_one():
    rng = np.random.default_rng(4)
    draws = [registry.get(OP).sample(rng)["ids"] for _ in range(40)]
    assert all(_repeated(ids) for ids in draws if np.size(ids) >= 2)
    assert any(np.ndim(ids) >= 2 for ids in draws)
    assert all(_repeated(np.array(c["ids"])) for c in rec.CASES)


@pytest.mark.parametrize("mode", ["away", "hard"])
def test_every_strategy_sample_with_two_ids_repeats_one(mode):
    @settings(max_examples=15, database=None)
    @given(rec.embedding_strategy(mode))
    def check(s):
        assert np.size(s["ids"]) < 2 or _repeated(s["ids"])
        ref.embedding_forward(s["ids"], s["E"])

    check()


def test_with_repeat_only_changes_ids_without_a_repeat():
    assert rec.with_repeat(np.array([3, 1, 2])).tolist() == [3, 1, 3]
    assert rec.with_repeat(np.array([3, 1, 3])).tolist() == [3, 1, 3]
    assert rec.with_repeat(np.array([2])).tolist() == [2]


def test_the_sympy_cases_differ_in_the_shape_of_ids():
    """The derivation cache keys a sample by its arrays' shapes: two cases with ids of one shape would share one."""
    from gradspec.symbolic.definitions import structure_key

    keys = {structure_key(OP, registry.get(OP).sample.draw(c, np.random.default_rng(0))) for c in rec.CASES}
    assert len(keys) == len(rec.CASES)
    assert len({np.shape(c["ids"]) for c in rec.CASES}) == len(rec.CASES)
