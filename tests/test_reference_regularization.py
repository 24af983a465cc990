"""Reference dropout (inverted, p = drop probability), L2 penalty and gradient clipping."""
import math

import numpy as np
import pytest

import gradspec.reference as ref
from _impls import area_ops, assert_no_mutation, op_ids, op_vjp_mismatch, samples, strict

OPS = area_ops("regularization")


# --------------------------------------------------------------------------- dropout
def test_dropout_hand_values():
    # keep units 0 and 2, p = 0.5: kept units are scaled by 1/(1 − p) = 2
    x, mask = np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.0, 0.0, 1.0, 0.0])
    with strict():
        np.testing.assert_array_equal(ref.dropout_forward(x, mask, 0.5), [2.0, 0.0, 6.0, 0.0])
        np.testing.assert_array_equal(ref.dropout_backward(x, mask, 0.5, np.array([1.0, 1.0, 1.0, 3.0])), [2.0, 0.0, 2.0, 0.0])
    # p = 0.75 scales by 4; p = 0 with a full mask is the identity
    np.testing.assert_array_equal(ref.dropout_forward(x, mask, 0.75), [4.0, 0.0, 12.0, 0.0])
    np.testing.assert_array_equal(ref.dropout_forward(x, np.ones(4), 0.0), x)


def test_dropout_mask_keeps_with_probability_1_minus_p_and_preserves_the_mean():
    rng = np.random.default_rng(0)
    p, n = 0.3, 200_000
    mask = ref.dropout_mask((n,), p, rng)
    assert set(np.unique(mask)) == {0.0, 1.0}
    # keep fraction within 5 standard errors of 1 − p
    assert abs(mask.mean() - (1 - p)) < 5 * math.sqrt(p * (1 - p) / n)
    # inverted dropout: E[y] = x
    y = ref.dropout_forward(np.full(n, 2.0), mask, p)
    assert abs(y.mean() - 2.0) < 5 * 2.0 * math.sqrt(p / ((1 - p) * n))
    # the Generator is the only source of randomness
    np.testing.assert_array_equal(ref.dropout_mask((50,), p, np.random.default_rng(1)),
                                  ref.dropout_mask((50,), p, np.random.default_rng(1)))


# --------------------------------------------------------------------------- l2 penalty
def test_l2_hand_values():
    # 0.5·0.1·(1 + 4 + 9 + 16) = 1.5; dW = dy·λ·W
    W = np.array([[1.0, 2.0], [3.0, 4.0]])
    with strict():
        assert ref.l2_penalty_forward(W, 0.1) == pytest.approx(1.5, rel=1e-15)
        np.testing.assert_allclose(ref.l2_penalty_backward(W, 0.1, 2.0), 0.2 * W, rtol=1e-15)
    assert type(ref.l2_penalty_forward(W, 0.0)) is float and ref.l2_penalty_forward(W, 0.0) == 0.0


# --------------------------------------------------------------------------- clipping
def test_clip_grad_norm_hand_values():
    # global norm of (3, 0) and (0, 4) is 5; max_norm 1 -> scale by exactly 1/5
    grads = [np.array([3.0, 0.0]), np.array([[0.0], [4.0]])]
    with strict():
        out = assert_no_mutation(ref.clip_grad_norm, grads, 1.0)
    np.testing.assert_allclose(out[0], [0.6, 0.0], rtol=1e-15, atol=0)
    np.testing.assert_allclose(out[1], [[0.0], [0.8]], rtol=1e-15, atol=0)
    assert out[1].shape == (2, 1)


@pytest.mark.parametrize("max_norm", [5.0, 10.0])
def test_clip_grad_norm_below_the_threshold_returns_new_unchanged_arrays(max_norm):
    grads = [np.array([3.0, 0.0]), np.array([0.0, 4.0])]
    out = ref.clip_grad_norm(grads, max_norm)
    assert out is not grads and all(o is not g for o, g in zip(out, grads))
    for o, g in zip(out, grads):
        np.testing.assert_array_equal(o, g)


def test_clip_grad_norm_is_global_not_per_array():
    # per-array clipping to 1 would leave (0.6, 0.8) and (1,) alone in direction but give norm √2
    grads = [np.array([0.6, 0.8]), np.array([1.0])]
    out = ref.clip_grad_norm(grads, 1.0)
    s = 1 / math.sqrt(2.0)
    np.testing.assert_allclose(np.concatenate(out), np.array([0.6, 0.8, 1.0]) * s, rtol=1e-15)


def test_global_norm_does_not_overflow():
    # √(2·(1e200)²) = √2·1e200 although (1e200)² overflows
    with strict():
        assert ref.global_norm([np.array([1e200]), np.array([-1e200])]) == pytest.approx(math.sqrt(2) * 1e200, rel=1e-15)
        out = ref.clip_grad_norm([np.array([1e200, 1e200])], 1.0)
    np.testing.assert_allclose(out[0], [s := 1 / math.sqrt(2), s], rtol=1e-15)
    assert ref.global_norm([np.zeros(3), np.zeros((0,))]) == 0.0


def test_clip_grad_value_hand_values():
    grads = [np.array([-3.0, 0.5, 2.0]), np.array([[1.0, -1.0]])]
    with strict():
        out = assert_no_mutation(ref.clip_grad_value, grads, 1.0)
    np.testing.assert_array_equal(out[0], [-1.0, 0.5, 1.0])
    np.testing.assert_array_equal(out[1], [[1.0, -1.0]])
    assert all(o is not g for o, g in zip(out, grads))


# --------------------------------------------------------------------------- generic over the registry
@pytest.mark.parametrize("op", OPS, ids=op_ids(OPS))
def test_backward_matches_central_differences(op):
    rng = np.random.default_rng(8)
    with strict():
        for s in samples(op, 5):
            assert op_vjp_mismatch(op, s, rng) <= 1.0


@pytest.mark.parametrize("op", area_ops("regularization", kinds=("differentiable", "loss", "function")),
                         ids=op_ids(area_ops("regularization", kinds=("differentiable", "loss", "function"))))
def test_no_input_mutation_and_errstate(op):
    for s in samples(op, 3, seed=2):
        args = op.forward_args(s)
        with strict():
            y = assert_no_mutation(getattr(ref, op.functions[0]), *args)
            if op.kind == "differentiable":
                assert_no_mutation(getattr(ref, op.backward), *args, np.ones(np.shape(y)))
            elif op.kind == "loss":
                assert_no_mutation(getattr(ref, op.backward), *args, 1.0)


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("p,pattern", [(1.0, r"p must be < 1.0, got 1.0"), (-0.1, r"p must be >= 0.0, got -0.1"),
                                       (1.5, r"p must be < 1.0, got 1.5")])
def test_dropout_p_in_unit_interval(p, pattern):
    with pytest.raises(ValueError, match=pattern):
        ref.dropout_forward(np.ones(3), np.ones(3), p)
    with pytest.raises(ValueError, match=pattern):
        ref.dropout_mask((3,), p, np.random.default_rng(0))


def test_dropout_mask_shape_and_values():
    with pytest.raises(ValueError, match=r"mask and x must have the same shape, got mask \(2,\) and x \(3,\)"):
        ref.dropout_forward(np.ones(3), np.ones(2), 0.5)
    with pytest.raises(ValueError, match=r"mask and x must have the same shape, got mask \(3, 1\) and x \(3,\)"):
        ref.dropout_backward(np.ones(3), np.ones((3, 1)), 0.5, np.ones(3))
    with pytest.raises(ValueError, match="mask must hold only 0 and 1"):
        ref.dropout_forward(np.ones(3), np.array([1.0, 0.5, 0.0]), 0.5)


def test_dropout_mask_needs_a_generator():
    with pytest.raises(TypeError, match="rng must be a numpy.random.Generator, got RandomState"):
        ref.dropout_mask((3,), 0.5, np.random.RandomState(0))


def test_l2_lambda_non_negative():
    with pytest.raises(ValueError, match=r"lam must be >= 0.0, got -0.1"):
        ref.l2_penalty_forward(np.ones(2), -0.1)


@pytest.mark.parametrize("fn,hyper", [(ref.clip_grad_norm, "max_norm"), (ref.clip_grad_value, "clip")])
@pytest.mark.parametrize("value", [0.0, -1.0])
def test_clip_threshold_positive(fn, hyper, value):
    with pytest.raises(ValueError, match=rf"{hyper} must be > 0.0, got {value}"):
        fn([np.ones(2)], value)


@pytest.mark.parametrize("fn", [ref.clip_grad_norm, ref.clip_grad_value])
def test_clip_needs_a_list_of_arrays(fn):
    with pytest.raises(TypeError, match="grads must be a list of arrays, got ndarray"):
        fn(np.ones(3), 1.0)
    with pytest.raises(ValueError, match=r"grads\[1\] must be finite"):
        fn([np.ones(2), np.array([np.inf])], 1.0)
