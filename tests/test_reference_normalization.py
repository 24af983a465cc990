"""Reference batch normalisation (training mode, biased variance, eps inside the root)."""
import math

import numpy as np
import pytest

import gradspec.reference as ref
from _impls import area_ops, assert_no_mutation, op_ids, op_vjp_mismatch, samples, strict

OPS = area_ops("normalization")
ONE, ZERO = np.ones(1), np.zeros(1)


@pytest.mark.parametrize("shape", [(2, 1), (1, 1, 1, 2), (2, 1, 1, 1), (1, 1, 2, 1)])
def test_two_values_normalise_to_plus_minus_one_over_sqrt_1_plus_eps(shape):
    # x = (1, 3): μ = 2, biased σ² = ((−1)² + 1²)/2 = 1 -> x̂ = ∓1/√(1 + eps)
    # (the unbiased σ² = 2 would give ∓1/√(2 + eps))
    eps = 1e-5
    x = np.array([1.0, 3.0]).reshape(shape)
    with strict():
        y = ref.batchnorm_forward(x, ONE, ZERO, eps)
    np.testing.assert_allclose(y.ravel(), [-1 / math.sqrt(1 + eps), 1 / math.sqrt(1 + eps)], rtol=1e-15)
    # γ = 2, β = 5 -> 5 ∓ 2/√(1 + eps)
    y = ref.batchnorm_forward(x, np.array([2.0]), np.array([5.0]), eps)
    np.testing.assert_allclose(y.ravel(), [5 - 2 / math.sqrt(1 + eps), 5 + 2 / math.sqrt(1 + eps)], rtol=1e-15)


def test_hand_computed_backward():
    # x = (1, 3), eps = 1: with d = (x0 − x1)/2 = −1, y0 = d/√(d² + 1) = −1/√2 and y1 = −y0.
    # dy0/dx0 = ½·(d² + 1)^(−3/2) = 1/(4√2), dy0/dx1 = −1/(4√2).
    # dy = (1, 0): dx = (1/(4√2), −1/(4√2)); dγ = Σ dy·x̂ = −1/√2; dβ = Σ dy = 1
    x = np.array([[1.0], [3.0]])
    with strict():
        dx, dgamma, dbeta = ref.batchnorm_backward(x, ONE, ZERO, 1.0, np.array([[1.0], [0.0]]))
    r = 1 / (4 * math.sqrt(2))
    np.testing.assert_allclose(dx, [[r], [-r]], rtol=1e-14)
    np.testing.assert_allclose(dgamma, [-1 / math.sqrt(2)], rtol=1e-14)
    np.testing.assert_allclose(dbeta, [1.0], rtol=1e-15)
    # a constant dy is invisible to x (the output is shift-invariant): dx = 0, dβ = N·dy
    dx, dgamma, dbeta = ref.batchnorm_backward(x, ONE, ZERO, 1.0, np.array([[3.0], [3.0]]))
    np.testing.assert_allclose(dx, [[0.0], [0.0]], atol=1e-15)
    np.testing.assert_allclose(dbeta, [6.0])


def test_statistics_are_per_feature_and_per_channel():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 3)) * np.array([1.0, 10.0, 0.1]) + np.array([0.0, 5.0, -2.0])
    y = ref.batchnorm_forward(x, np.ones(3), np.zeros(3), 1e-12)
    np.testing.assert_allclose(y.mean(axis=0), 0.0, atol=1e-14)
    np.testing.assert_allclose(y.var(axis=0), 1.0, rtol=1e-9)
    # NCHW: statistics over (N, H, W) per channel; equal to the (N·H·W, C) feature layout
    x4 = rng.normal(size=(2, 3, 2, 4)) * 3 + 1
    y4 = ref.batchnorm_forward(x4, np.array([1.0, 2.0, 3.0]), np.array([0.0, 1.0, 2.0]), 1e-3)
    flat = x4.transpose(0, 2, 3, 1).reshape(-1, 3)
    yflat = ref.batchnorm_forward(flat, np.array([1.0, 2.0, 3.0]), np.array([0.0, 1.0, 2.0]), 1e-3)
    np.testing.assert_allclose(y4.transpose(0, 2, 3, 1).reshape(-1, 3), yflat, rtol=1e-13)
    dy = rng.normal(size=x4.shape)
    g4 = ref.batchnorm_backward(x4, np.array([1.0, 2.0, 3.0]), np.zeros(3), 1e-3, dy)
    gflat = ref.batchnorm_backward(flat, np.array([1.0, 2.0, 3.0]), np.zeros(3), 1e-3, dy.transpose(0, 2, 3, 1).reshape(-1, 3))
    np.testing.assert_allclose(g4[0].transpose(0, 2, 3, 1).reshape(-1, 3), gflat[0], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(g4[1], gflat[1], rtol=1e-12)
    np.testing.assert_allclose(g4[2], gflat[2], rtol=1e-12)


@pytest.mark.parametrize("op", OPS, ids=op_ids(OPS))
def test_backward_matches_central_differences(op):
    rng = np.random.default_rng(6)
    with strict():
        for s in samples(op, 6):
            assert op_vjp_mismatch(op, s, rng) <= 1.0


@pytest.mark.parametrize("shape,C", [((4, 3), 3), ((2, 3, 2, 2), 3), ((2, 1), 1)])
def test_shapes(shape, C):
    x = np.random.default_rng(1).normal(size=shape)
    y = ref.batchnorm_forward(x, np.ones(C), np.zeros(C), 1e-5)
    dx, dg, db = ref.batchnorm_backward(x, np.ones(C), np.zeros(C), 1e-5, np.ones(shape))
    assert y.shape == dx.shape == shape and dg.shape == db.shape == (C,)


def test_constant_feature_is_finite_under_errstate_and_no_mutation():
    # σ² = 0: eps keeps 1/√(σ² + eps) finite; x̂ = 0 so y = β
    x = np.array([[5.0, 1.0], [5.0, 2.0]])
    g, b = np.array([2.0, 1.0]), np.array([7.0, 0.0])
    with strict():
        y = assert_no_mutation(ref.batchnorm_forward, x, g, b, 1e-5)
        grads = assert_no_mutation(ref.batchnorm_backward, x, g, b, 1e-5, np.array([[1.0, 2.0], [3.0, 4.0]]))
    np.testing.assert_array_equal(y[:, 0], [7.0, 7.0])
    assert all(np.all(np.isfinite(a)) for a in grads)


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("eps,pattern", [(0.0, r"eps must be > 0.0, got 0.0"), (-1e-5, r"eps must be > 0.0, got -1e-05")])
def test_eps_must_be_positive(eps, pattern):
    with pytest.raises(ValueError, match=pattern):
        ref.batchnorm_forward(np.zeros((2, 1)), ONE, ZERO, eps)


@pytest.mark.parametrize("shape", [(1, 3), (1, 1, 1, 1)])
def test_needs_two_values_per_group(shape):
    C = shape[1]
    with pytest.raises(ValueError, match=rf"at least 2 values per normalised group \(N·H·W >= 2\), got x {re_shape(shape)}"):
        ref.batchnorm_forward(np.zeros(shape), np.ones(C), np.zeros(C), 1e-5)


def re_shape(shape):
    return str(tuple(shape)).replace("(", r"\(").replace(")", r"\)")


def test_gamma_beta_shapes():
    with pytest.raises(ValueError, match=r"gamma must have shape \(D,\) per feature = \(3,\) for x \(4, 3\), got \(2,\)"):
        ref.batchnorm_forward(np.zeros((4, 3)), np.ones(2), np.zeros(3), 1e-5)
    with pytest.raises(ValueError, match=r"beta must have shape \(C,\) per channel = \(2,\) for x \(1, 2, 2, 2\), got \(3,\)"):
        ref.batchnorm_backward(np.zeros((1, 2, 2, 2)), np.ones(2), np.zeros(3), 1e-5, np.zeros((1, 2, 2, 2)))


def test_x_must_be_2d_or_4d():
    with pytest.raises(ValueError, match=r"x must have 2 or 4 dimensions, got shape \(2, 2, 2\)"):
        ref.batchnorm_forward(np.zeros((2, 2, 2)), np.ones(2), np.zeros(2), 1e-5)


@pytest.mark.parametrize("c", [1e200, 1e300, 1e307])
def test_batchnorm_stays_finite_and_scale_invariant_at_huge_inputs(c):
    """Batch norm is invariant to scaling x (with eps scaled by c²): at |x| ~ 1e307 the variance of x
    overflows float64, the spec's result must not (its statistics are taken on x scaled by a power of two)."""
    rng = np.random.default_rng(1)
    x, g, b, dy = rng.normal(size=(6, 3)), rng.normal(size=3), rng.normal(size=3), rng.normal(size=(6, 3))
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        y = ref.batchnorm_forward(c * x, g, b, 1e-5)
        dx, dg, db = ref.batchnorm_backward(c * x, g, b, 1e-5, dy)
    y1 = ref.batchnorm_forward(x, g, b, 1e-300)  # eps / c² is far below float64's resolution of the variance
    dx1, dg1, db1 = ref.batchnorm_backward(x, g, b, 1e-300, dy)
    np.testing.assert_allclose(y, y1, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(dx * c, dx1, rtol=1e-12, atol=1e-12 * np.abs(dx1).max())
    np.testing.assert_allclose(dg, dg1, rtol=1e-12, atol=1e-13)
    np.testing.assert_array_equal(db, db1)


@pytest.mark.parametrize("c", [1.0, 1e13, 2.0 ** 529, 1e200])
def test_a_constant_group_normalises_to_zero_at_any_magnitude(c):
    """x̂ = 0 and dx = (dx̂ − mean dx̂)/sqrt(eps) for a constant feature, also where eps/s² underflows."""
    x = np.array([[c, 1.0], [c, 2.0], [c, -0.5]])
    g, b, dy = np.array([1.5, 1.0]), np.array([0.25, 0.0]), np.array([[1.0, 0.0], [-2.0, 1.0], [0.5, 3.0]])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        y = ref.batchnorm_forward(x, g, b, 1e-5)
        dx, dg, db = ref.batchnorm_backward(x, g, b, 1e-5, dy)
    np.testing.assert_array_equal(y[:, 0], [0.25, 0.25, 0.25])
    want = 1.5 * (dy[:, 0] - dy[:, 0].mean()) / np.sqrt(1e-5)
    np.testing.assert_allclose(dx[:, 0], want, rtol=1e-14)
    assert dg[0] == 0.0 and db[0] == dy[:, 0].sum()


@pytest.mark.parametrize("n", [6, 7, 11])
@pytest.mark.parametrize("c", [1860701409547677.8, 7e299])
def test_a_constant_group_is_detected_even_when_its_rounded_mean_is_not_its_value(n, c):
    """For N = 6, 7, 11 the float mean of N equal values can differ from them by an ulp; x̂ must still be 0."""
    x = np.concatenate([np.full((n, 1), c), np.linspace(-1.0, 1.0, n).reshape(n, 1)], axis=1)
    y = ref.batchnorm_forward(x, np.array([1.0, 1.0]), np.array([0.25, 0.0]), 1e-5)
    np.testing.assert_array_equal(y[:, 0], np.full(n, 0.25))
