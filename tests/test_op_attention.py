"""The attention op through its record: every oracle passes the reference, torch's SDPA passes or differs by a named
property, each known variant fails and is diagnosed by name, and the record's own pieces can fail."""
from __future__ import annotations

import types

import numpy as np
import pytest

from gradspec.oracles import vectors as vectors_oracle
import gradspec
from gradspec import reference as ref, registry, vectors
from gradspec.ops import attention as rec
from gradspec.variants import known
from gradspec.properties import suite

from _impls import make_impl

OP = registry.get("attention")


def _status(result):
    return {f"{c.oracle}/{c.check}": c.status for c in result.ops["attention"].checks}


def _failed(result):
    return [c for c in result.ops["attention"].checks if c.status in ("fail", "error")]


def _namespace(**overrides):
    functions = {"attention_forward": ref.attention_forward, "attention_backward": ref.attention_backward}
    functions.update(overrides)
    return types.SimpleNamespace(__name__="attention_under_test", **functions)


# --------------------------------------------------------------------------- the reference
@pytest.mark.parametrize("oracle", ["fd64", "symbolic", "mpmath"])
def test_the_reference_passes_the_oracle(oracle):
    r = gradspec.check(ref, ops=["attention"], oracles=[oracle], seed=0)
    assert r.ops["attention"].status == "pass", _status(r)


def test_the_reference_passes_every_property():
    r = gradspec.check(ref, ops=["attention"], oracles=["properties"], seed=0, examples=3)
    assert r.ops["attention"].status == "pass", _status(r)
    names = {c.check.split("[")[0] for c in r.ops["attention"].checks}
    assert {"masked_positions_get_zero_gradient", "fully_masked_row_is_rejected", "gradient_fd64"} <= names


def test_golden_vectors_pass_the_reference_and_fail_a_variant(tmp_path):
    vectors.write(str(tmp_path), ops=["attention"], cases=2, seed=3)
    assert vectors_oracle.check_from_vectors(str(tmp_path), ref, ops=["attention"]).ops["attention"].status == "pass"
    bad = _namespace(attention_backward=rec.backward_without_row_sum)
    assert vectors_oracle.check_from_vectors(str(tmp_path), bad, ops=["attention"]).ops["attention"].status == "fail"


def test_the_sampler_draws_causal_masks_often_and_every_row_attends():
    rng = np.random.default_rng(0)
    causal = 0
    for _ in range(200):
        s = OP.sample(rng)
        M = rec.bool_mask(s)
        assert M.any(axis=-1).all()
        Tq, Tk = M.shape[-2:]
        causal += bool(np.array_equal(np.asarray(s["mask"]) != 0, ref.causal_mask(Tq, Tk)))
    assert causal >= 60  # half of the draws, less the random masks that happen to be causal


# --------------------------------------------------------------------------- the record's pieces can fail
def test_the_symbolic_identity_fails_a_wrong_backward_formula():
    import sympy as sp

    from gradspec.symbolic import derive

    sample = OP.sample.draw(OP.sample.cases[0], np.random.default_rng(0))
    der = derive.derive("attention", sample)
    dy = np.random.default_rng(1).normal(size=np.shape(der.dy))
    dQ, dK, dV = derive.spec_expressions(der)
    assert derive.identity(der, (dQ, dK, dV), sample, dy, "spec")["holds"]
    assert not derive.identity(der, (dQ * sp.sqrt(2), dK, dV), sample, dy, "missing 1/√d")["holds"]


def test_the_error_model_does_not_cover_a_1e8_relative_error_in_dk():
    """The reference passes the mpmath oracle (above); the same backward with dK off by 1e-8 relative fails it."""
    r = gradspec.check(_namespace(attention_backward=lambda Q, K, V, mask, dy: tuple(
        g * (1 + 1e-8) if i == 1 else g for i, g in enumerate(ref.attention_backward(Q, K, V, mask, dy)))),
        ops=["attention"], oracles=["mpmath"], seed=0)
    assert r.ops["attention"].status == "fail"


def test_masked_positions_property_catches_a_leak_and_passes_the_reference():
    rng = np.random.default_rng(2)
    s = OP.sample.draw({"batch": (2,), "Tq": 3, "Tk": 3, "d": 2, "dv": 2, "mask": "causal"}, rng)
    s["seed"] = 5
    rec.prop_masked_positions_get_zero_gradient(ref, s)
    leaky = _namespace(attention_backward=rec.backward_ignoring_mask)
    with pytest.raises(AssertionError, match="a masked position passes no gradient"):
        rec.prop_masked_positions_get_zero_gradient(leaky, s)


def test_fully_masked_row_property_passes_the_reference_and_names_what_another_returned():
    s = OP.sample.draw(OP.sample.cases[0], np.random.default_rng(3))
    s["seed"] = 1
    rec.prop_fully_masked_row_is_rejected(ref, s)

    def uniform_row(Q, K, V, mask):  # what an additive −1e9 mask gives a fully masked row
        return np.broadcast_to(np.mean(V, axis=-2, keepdims=True), np.shape(Q)[:-1] + (np.shape(V)[-1],)).copy()

    with pytest.raises(AssertionError, match="fully masked query row is a ValueError.*finite values"):
        rec.prop_fully_masked_row_is_rejected(_namespace(attention_forward=uniform_row), s)


# --------------------------------------------------------------------------- the known variants
VARIANTS = known(OP)


def test_the_catalogue_has_the_four_named_variants():
    assert [v.name for v in VARIANTS] == ["attention_backward_missing_scale", "softmax_jacobian_without_row_sum",
                                          "mask_ignored_in_backward", "dk_from_untransposed_scores"]


def test_the_variants_common_form_is_the_reference_with_every_switch_on_and_each_switch_changes_it():
    s = rec.square_probe(np.random.default_rng(0))
    args = (s["Q"], s["K"], s["V"], s["mask"], np.random.default_rng(1).normal(size=rec.output_shape(s)))
    want = ref.attention_backward(*args)
    for got, w in zip(rec.backward_with(*args), want):
        np.testing.assert_allclose(got, w, rtol=1e-13, atol=1e-15)
    for switch in ("scaled", "row_sum", "masked", "dk_transposed"):
        off = rec.backward_with(*args, **{switch: False})
        assert any(not np.allclose(g, w, rtol=1e-6, atol=1e-12) for g, w in zip(off, want)), switch


@pytest.mark.parametrize("variant", VARIANTS, ids=[v.name for v in VARIANTS])
def test_each_variant_fails_and_the_diagnosis_names_it(variant):
    r = gradspec.check(variant.namespace(), ops=["attention"], seed=0)
    bad = _failed(r)
    assert bad, variant.name
    named = {c.info["diagnosis"][0]["name"] for c in bad if c.info.get("diagnosis")}
    assert named == {variant.name}


def test_an_additive_minus_1e9_mask_gives_the_same_gradients_and_only_the_fully_masked_row_differs():
    """Measured: e^(−1e9 + s − max) underflows to exactly 0 in float64, so at ordinary scores a −1e9 additive
    mask leaks no gradient (it is no named variant); it differs where a row is fully masked (uniform weights)."""
    def weights(Q, K, mask):
        S = (np.asarray(Q) @ np.swapaxes(K, -1, -2)) * (1.0 / np.sqrt(np.shape(Q)[-1]))  # the reference's order
        S = S + np.where(np.asarray(mask) != 0, 0.0, -1e9)
        e = np.exp(S - S.max(-1, keepdims=True))
        return e / e.sum(-1, keepdims=True)

    def forward(Q, K, V, mask):
        return weights(Q, K, mask) @ V

    def backward(Q, K, V, mask, dy):
        P, c = weights(Q, K, mask), 1 / np.sqrt(np.shape(Q)[-1])
        dP = dy @ np.swapaxes(V, -1, -2)
        dS = P * (dP - (dP * P).sum(-1, keepdims=True))
        return (dS @ K) * c, (np.swapaxes(dS, -1, -2) @ Q) * c, np.swapaxes(P, -1, -2) @ dy

    rng = np.random.default_rng(4)
    for _ in range(20):
        s = OP.sample(rng)
        dy = rng.normal(size=rec.output_shape(s))
        args = (s["Q"], s["K"], s["V"], s["mask"])
        for a, b in zip(backward(*args, dy), ref.attention_backward(*args, dy)):
            assert np.array_equal(a, b)
    r = gradspec.check(_namespace(attention_forward=forward, attention_backward=backward), ops=["attention"],
                       oracles=["fd64", "mpmath", "properties"], seed=0, examples=3)
    assert {c.check for c in _failed(r)} == {"fully_masked_row_is_rejected[away]"}


# --------------------------------------------------------------------------- torch
@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch", reason="torch is an optional extra: pip install torch==2.13.0")


def test_torch_sdpa_passes_the_oracles(torch):
    from gradspec.adapters import torch_impl

    r = gradspec.check(torch_impl, ops=["attention"], oracles=["fd64", "mpmath", "symbolic"], seed=0)
    assert r.ops["attention"].status == "pass", _status(r)


def test_torch_sdpa_differs_by_one_named_property_a_fully_masked_row_gives_zeros(torch):
    """Measured with torch 2.13: SDPA with a boolean attn_mask returns 0 (and zero gradients) for a fully masked
    row where the spec raises; the finding is the record's named property."""
    from gradspec.adapters import torch_impl

    r = gradspec.check(torch_impl, ops=["attention"], oracles=["properties"], seed=0, examples=3)
    bad = _failed(r)
    assert [c.check for c in bad] == ["fully_masked_row_is_rejected[away]"]
    assert "zeros in that row" in bad[0].message


def test_torch_explicit_formula_gives_nan_for_a_fully_masked_row_and_the_property_names_it(torch):
    def forward(Q, K, V, mask):
        q, k, v = (torch.tensor(np.asarray(a, dtype=np.float64)) for a in (Q, K, V))
        s = (q @ k.transpose(-1, -2)) / np.sqrt(q.shape[-1])
        s = s.masked_fill(~torch.tensor(np.asarray(mask) != 0), float("-inf"))
        return (torch.softmax(s, -1) @ v).numpy()

    s = OP.sample.draw(OP.sample.cases[0], np.random.default_rng(3))
    s["seed"] = 1
    with pytest.raises(AssertionError, match="returned NaN"):
        rec.prop_fully_masked_row_is_rejected(_namespace(attention_forward=forward), s)


def test_a_float_mask_passed_to_torch_sdpa_as_is_is_caught(torch):
    """A float attn_mask is *added* to the scores in torch: the spec's 0/1 mask passed as is is a different op."""
    F = torch.nn.functional

    def forward(Q, K, V, mask):
        t = [torch.tensor(np.asarray(a, dtype=np.float64)) for a in (Q, K, V, mask)]
        return F.scaled_dot_product_attention(*t[:3], attn_mask=t[3]).numpy()

    r = gradspec.check(_namespace(attention_forward=forward), ops=["attention"], oracles=["fd64"], seed=0)
    assert any(c.check == "forward" for c in _failed(r))


def test_linearity_in_dy_holds_where_dq_cancels_to_rounding():
    # dQ[0, 1, 3] sums a row of dS (which sums to zero) over two keys: about 1e-66 cancelling to 1e-83, so |dQ|
    # is no measure of the rounding; the record's backward_magnitude is (the reference failed here without it)
    Q, K, V = np.zeros((2, 3, 4)), np.zeros((2, 3, 4)), np.zeros((2, 3, 1))
    Q[0, 1, 0] = K[0, 0, 3] = K[0, 1, 0] = K[0, 1, 3] = 1.0
    V[0, 1, 0] = 5.15169097e-66
    sample = {"Q": Q, "K": K, "V": V, "mask": np.tril(np.ones((3, 3), dtype=bool)), "seed": 0}
    prop = suite.get("attention", "linear_in_dy")
    prop.check(ref, sample)
    scale = 1.0 / np.sqrt(4.0)

    def nonlinear_backward(Q, K, V, mask, dy):  # wrong by far more than rounding: caught on the same sample
        dQ, dK, dV = ref.attention_backward(Q, K, V, mask, dy)
        return dQ + scale * np.abs(np.asarray(dy)).sum() * 1e-70, dK, dV

    with pytest.raises(AssertionError, match="backward is linear in dy"):
        prop.check(make_impl("nonlinear", attention_backward=nonlinear_backward), sample)
