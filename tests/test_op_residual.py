"""The residual block through its record: every oracle passes on the reference and on PyTorch, each known variant
fails and is diagnosed by name, the op's own properties fail on the bug they target and pass on the reference, and
the samplers keep relu's kink at a distance (or sit on it, in the on_kink mode)."""
from __future__ import annotations

import types

import numpy as np
import pytest
from hypothesis import given, settings

import gradspec
from gradspec import reference as ref, registry
from gradspec.ops import residual as rec
from gradspec.sampling import KINK_MARGIN
from gradspec.variants import known

from _impls import assert_op_passes, assert_vectors_catch, diagnosed

OP = "residual"
ORACLES = ("fd64", "symbolic", "mpmath", "properties")
VARIANTS = {v.name: v for v in known(registry.get(OP))}


@pytest.mark.parametrize("oracle", ORACLES)
def test_the_reference_passes_every_oracle(oracle):
    r = gradspec.check(ref, ops=[OP], oracles=[oracle], seed=0, examples=2)
    assert_op_passes(r, OP)
    checks = r.ops[OP].checks
    if oracle == "fd64":  # the kink case ran: relu'(0) = 0 checked on the kink
        assert [c.examples for c in checks if c.check == "conventions"] == [1]


def test_the_golden_vectors_pass_the_reference_and_catch_a_dropped_identity(tmp_path):
    assert_vectors_catch(tmp_path, OP, VARIANTS["identity_gradient_dropped"].namespace())


def test_pytorch_passes_every_oracle_and_its_relu_convention():
    pytest.importorskip("torch", reason="torch is an optional extra: pip install torch==2.13.0")
    from gradspec.adapters import torch_impl

    assert_op_passes(gradspec.check(torch_impl, ops=[OP], oracles=list(ORACLES), seed=0, examples=2), OP)
    (case,) = rec.residual_kink_cases()
    dy = np.random.default_rng(0).normal(size=(3, 2))
    for got, want in zip(torch_impl.residual_backward(*registry.get(OP).forward_args(case.sample), dy),
                         ref.residual_backward(*registry.get(OP).forward_args(case.sample), dy)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_every_variant_is_checked_here():
    assert set(VARIANTS) == {"identity_gradient_dropped", "identity_gradient_added_twice",
                             "relu_mask_from_wrong_preactivation", "relu_prime_at_zero_is_half"}


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_each_variant_fails_and_the_diagnosis_names_it(name):
    r = gradspec.check(VARIANTS[name].namespace(), ops=[OP], oracles=["fd64"], seed=0, examples=3)
    bad = [c for c in r.ops[OP].checks if c.status in ("fail", "error")]
    # relu'(0) = ½ differs from the spec only on the kink: the conventions check alone sees it
    want = {"conventions"} if name == "relu_prime_at_zero_is_half" else {"backward", "conventions"}
    assert {c.check for c in bad} >= want, [(c.check, c.status) for c in r.ops[OP].checks]
    assert diagnosed(r, OP) == {name}, [(c.check, c.message) for c in bad]


# --------------------------------------------------------------------------- the op's own properties
def _sample(seed=0):
    return {**registry.get(OP).sample(np.random.default_rng(seed)), "seed": seed}


@pytest.mark.parametrize("name", ["identity_gradient_dropped", "identity_gradient_added_twice"])
def test_identity_path_property_fails_on_a_wrong_identity_and_passes_the_reference(name):
    s = _sample()
    rec.prop_identity_path(ref, s)
    with pytest.raises(AssertionError, match=r"residual with W2 = 0: dx = dy \+ dh W1ᵀ"):
        rec.prop_identity_path(VARIANTS[name].namespace(), s)


def test_relu_convention_property_fails_on_the_wrong_mask_and_passes_the_reference():
    (case,) = rec.residual_kink_cases()
    s = {**case.sample, "seed": 0}
    rec.prop_relu_convention(ref, s)
    with pytest.raises(AssertionError, match=r"relu'\(0\) = 0"):
        rec.prop_relu_convention(VARIANTS["relu_mask_from_wrong_preactivation"].namespace(), s)

    def relu_prime_one(x, W1, b1, W2, b2, dy):  # a mask h >= 0: relu'(0) = 1
        h = x @ W1 + b1
        dh = (dy @ W2.T) * (h >= 0)
        return dy + dh @ W1.T, x.T @ dh, dh.sum(axis=0), np.maximum(h, 0.0).T @ dy, dy.sum(axis=0)

    with pytest.raises(AssertionError, match=r"relu'\(0\) = 0"):
        rec.prop_relu_convention(types.SimpleNamespace(residual_forward=ref.residual_forward,
                                                       residual_backward=relu_prime_one), s)


# --------------------------------------------------------------------------- samplers and the kink
def test_keep_from_zero_moves_a_bias_to_the_nearest_value_with_the_margin():
    pre = np.array([0.0, 0.15, -1.0])
    assert rec.keep_from_zero(pre, 0.5, 0.1) == 0.5  # already clear
    b = rec.keep_from_zero(pre, 0.02, 0.1)  # too close to −pre = 0 and to −0.15
    assert np.min(np.abs(pre + b)) >= 0.0999 and b == pytest.approx(0.1)


def test_registry_samples_keep_the_kink_margin():
    rng = np.random.default_rng(5)
    assert min(rec.kink_distance(registry.get(OP).sample(rng)) for _ in range(30)) > KINK_MARGIN


@pytest.mark.parametrize("mode", ["away", "on_kink", "hard"])
def test_strategy_samples_respect_their_mode(mode):
    @settings(max_examples=12, database=None)
    @given(rec.residual_strategy(mode))
    def check(s):
        d = rec.kink_distance(s)
        assert (d == 0.0) if mode == "on_kink" else d > KINK_MARGIN
        ref.residual_forward(*registry.get(OP).forward_args(s))

    check()
