"""Reference batch normalisation (training mode, biased variance, eps inside the root) and layer normalisation
(over the last k = gamma.ndim axes, biased variance, eps inside the root)."""
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


# =========================================================================== layernorm
def test_layernorm_rows_normalise_independently_with_the_biased_variance():
    # row (1, 3): μ = 2, biased σ² = 1 -> x̂ = ∓1/√(1 + eps); row (10, 14): μ = 12, σ² = 4 -> x̂ = ∓2/√(4 + eps)
    # (the unbiased σ² would be 2 and 8)
    eps = 1e-5
    x = np.array([[1.0, 3.0], [10.0, 14.0]])
    with strict():
        y = ref.layernorm_forward(x, np.ones(2), np.zeros(2), eps)
    a, b = 1 / math.sqrt(1 + eps), 2 / math.sqrt(4 + eps)
    np.testing.assert_allclose(y, [[-a, a], [-b, b]], rtol=1e-15)
    # γ and β are per element of the normalised axis: y = γ·x̂ + β
    y = ref.layernorm_forward(x, np.array([2.0, -1.0]), np.array([5.0, 0.5]), eps)
    np.testing.assert_allclose(y, [[5 - 2 * a, 0.5 - a], [5 - 2 * b, 0.5 - b]], rtol=1e-15)


def test_layernorm_over_the_last_two_axes():
    # k = gamma.ndim = 2: each sample's 2×2 block is one group: (0, 2, 4, 6) has μ = 3, σ² = (9 + 1 + 1 + 9)/4 = 5
    x = np.array([[[0.0, 2.0], [4.0, 6.0]], [[1.0, 1.0], [1.0, 5.0]]])
    g = np.array([[1.0, 2.0], [3.0, 4.0]])
    with strict():
        y = ref.layernorm_forward(x, g, np.zeros((2, 2)), 1e-3)
    np.testing.assert_allclose(y[0], g * np.array([[-3.0, -1.0], [1.0, 3.0]]) / math.sqrt(5 + 1e-3), rtol=1e-14)
    # (1, 1, 1, 5): μ = 2, σ² = (1 + 1 + 1 + 9)/4 = 3
    np.testing.assert_allclose(y[1], g * np.array([[-1.0, -1.0], [-1.0, 3.0]]) / math.sqrt(3 + 1e-3), rtol=1e-14)


def test_layernorm_hand_computed_backward():
    # row (1, 3), eps = 1: d = (x0 − x1)/2 = −1, y0 = d/√(d² + 1) = −1/√2, y1 = −y0, and
    # dy0/dx0 = ½·(d² + 1)^(−3/2) = 1/(4√2). dy = (1, 0), γ = 1: dx = (1/(4√2), −1/(4√2)),
    # dγ = dy·x̂ = (−1/√2, 0) per element (not summed over the row), dβ = dy = (1, 0)
    x = np.array([[1.0, 3.0]])
    with strict():
        dx, dgamma, dbeta = ref.layernorm_backward(x, np.ones(2), np.zeros(2), 1.0, np.array([[1.0, 0.0]]))
    r = 1 / (4 * math.sqrt(2))
    np.testing.assert_allclose(dx, [[r, -r]], rtol=1e-14)
    np.testing.assert_allclose(dgamma, [-1 / math.sqrt(2), 0.0], rtol=1e-14, atol=0.0)
    np.testing.assert_array_equal(dbeta, [1.0, 0.0])


def test_layernorm_param_gradients_sum_over_every_leading_axis():
    rng = np.random.default_rng(3)
    x, dy = rng.normal(size=(2, 3, 4)), rng.normal(size=(2, 3, 4))
    g, b = rng.normal(size=4), rng.normal(size=4)
    dx, dg, db = ref.layernorm_backward(x, g, b, 1e-5, dy)
    assert dx.shape == (2, 3, 4) and dg.shape == db.shape == (4,)
    # the same as the (6, 4) layout: one row per sample and position
    dx2, dg2, db2 = ref.layernorm_backward(x.reshape(6, 4), g, b, 1e-5, dy.reshape(6, 4))
    np.testing.assert_allclose(dx.reshape(6, 4), dx2, rtol=1e-13)
    np.testing.assert_allclose(dg, dg2, rtol=1e-13)
    np.testing.assert_allclose(db, dy.sum(axis=(0, 1)), rtol=1e-14)
    np.testing.assert_allclose(ref.layernorm_forward(x, g, b, 1e-5).reshape(6, 4),
                               ref.layernorm_forward(x.reshape(6, 4), g, b, 1e-5), rtol=1e-14)


def test_layernorm_is_batchnorm_of_the_transpose():
    """With γ = 1, β = 0, layer norm of x (N, D) over D is batch norm of xᵀ (D, N) over its batch axis."""
    rng = np.random.default_rng(5)
    x, dy = rng.normal(size=(3, 5)) * 2 + 1, rng.normal(size=(3, 5))
    ln = ref.layernorm_forward(x, np.ones(5), np.zeros(5), 1e-3)
    bn = ref.batchnorm_forward(x.T, np.ones(3), np.zeros(3), 1e-3).T
    np.testing.assert_allclose(ln, bn, rtol=1e-14, atol=1e-15)
    dx_ln = ref.layernorm_backward(x, np.ones(5), np.zeros(5), 1e-3, dy)[0]
    dx_bn = ref.batchnorm_backward(x.T, np.ones(3), np.zeros(3), 1e-3, dy.T)[0].T
    np.testing.assert_allclose(dx_ln, dx_bn, rtol=1e-12, atol=1e-14)


def test_layernorm_over_every_axis_and_groups_of_one():
    rng = np.random.default_rng(7)
    x, g, b, dy = rng.normal(size=(2, 3)), rng.normal(size=(2, 3)), rng.normal(size=(2, 3)), rng.normal(size=(2, 3))
    # k = x.ndim: the whole array is one group; dgamma and dbeta are not summed at all
    y = ref.layernorm_forward(x, g, b, 1e-5)
    np.testing.assert_allclose(y, g * (x - x.mean()) / np.sqrt(x.var() + 1e-5) + b, rtol=1e-13)
    dx, dg, db = ref.layernorm_backward(x, g, b, 1e-5, dy)
    np.testing.assert_allclose(dg, dy * (x - x.mean()) / np.sqrt(x.var() + 1e-5), rtol=1e-13)
    np.testing.assert_array_equal(db, dy)
    # a group of one value: σ² = 0, x̂ = 0, so y = β and dx = 0
    with strict():
        y1 = ref.layernorm_forward(x.reshape(6, 1), np.array([2.0]), np.array([0.5]), 1e-5)
        dx1, dg1, db1 = ref.layernorm_backward(x.reshape(6, 1), np.array([2.0]), np.array([0.5]), 1e-5, dy.reshape(6, 1))
    np.testing.assert_array_equal(y1, np.full((6, 1), 0.5))
    np.testing.assert_array_equal(dx1, np.zeros((6, 1)))
    assert dg1[0] == 0.0 and db1[0] == dy.sum()


@pytest.mark.parametrize("c", [1.0, 1e13, 1e200])
def test_layernorm_constant_row_normalises_to_beta(c):
    """A constant row (var = 0, eps dominates): y = β, dx = (g − mean g)/√eps with g = dy·γ, at any magnitude."""
    x = np.array([[c, c, c], [1.0, 2.0, -0.5]])
    g, b, dy = np.array([1.5, 1.0, -2.0]), np.array([0.25, 0.0, 1.0]), np.array([[1.0, 0.0, 2.0], [-2.0, 1.0, 0.5]])
    with strict():
        y = assert_no_mutation(ref.layernorm_forward, x, g, b, 1e-5)
        dx, dg, db = assert_no_mutation(ref.layernorm_backward, x, g, b, 1e-5, dy)
    np.testing.assert_array_equal(y[0], b)
    gg = dy[0] * g
    np.testing.assert_allclose(dx[0], (gg - gg.mean()) / np.sqrt(1e-5), rtol=1e-14)
    # dγ = Σ dy·x̂ over the rows, where the constant row has x̂ = 0 exactly
    np.testing.assert_allclose(dg, dy[1] * (x[1] - x[1].mean()) / np.sqrt(x[1].var() + 1e-5), rtol=1e-13)
    np.testing.assert_array_equal(db, dy.sum(axis=0))


@pytest.mark.parametrize("c", [1e200, 1e300])
def test_layernorm_stays_finite_and_scale_invariant_at_huge_inputs(c):
    rng = np.random.default_rng(2)
    x, g, b, dy = rng.normal(size=(3, 4)), rng.normal(size=4), rng.normal(size=4), rng.normal(size=(3, 4))
    with strict():
        y = ref.layernorm_forward(c * x, g, b, 1e-5)
        dx, dg, db = ref.layernorm_backward(c * x, g, b, 1e-5, dy)
    y1 = ref.layernorm_forward(x, g, b, 1e-300)  # eps / c² is far below float64's resolution of the variance
    dx1, dg1, _ = ref.layernorm_backward(x, g, b, 1e-300, dy)
    np.testing.assert_allclose(y, y1, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(dx * c, dx1, rtol=1e-12, atol=1e-12 * np.abs(dx1).max())
    np.testing.assert_allclose(dg, dg1, rtol=1e-12, atol=1e-13)


def test_layernorm_large_offset_is_removed():
    """An offset of 1e6 per row changes nothing but rounding: x − μ cancels it before the division."""
    rng = np.random.default_rng(4)
    x, g, b = rng.normal(size=(3, 5)), rng.normal(size=5), rng.normal(size=5)
    y = ref.layernorm_forward(x, g, b, 1e-5)
    y_off = ref.layernorm_forward(x + np.array([[1e6], [-3e6], [2.5e5]]), g, b, 1e-5)
    np.testing.assert_allclose(y_off, y, atol=64 * np.finfo(float).eps * 3e6 * np.abs(g).max() / x.std(axis=1).min())


# --------------------------------------------------------------------------- layernorm: bad input
def test_layernorm_gamma_names_the_trailing_axes():
    x = np.zeros((2, 3, 4))
    with pytest.raises(ValueError, match=r"layernorm: gamma must have the shape of the last 1 axes of x, "
                                         r"x.shape\[-1:\] = \(4,\), got gamma \(3,\) for x \(2, 3, 4\)"):
        ref.layernorm_forward(x, np.ones(3), np.zeros(3), 1e-5)
    with pytest.raises(ValueError, match=r"layernorm: gamma must have 1 to x.ndim = 1 dimensions .* got gamma \(2, 2\)"):
        ref.layernorm_forward(np.zeros(4), np.ones((2, 2)), np.zeros((2, 2)), 1e-5)
    with pytest.raises(ValueError, match=r"gamma must have 1 to x.ndim = 3 dimensions .* got gamma \(\) for x"):
        ref.layernorm_backward(x, np.float64(1.0), np.float64(0.0), 1e-5, x)


def test_layernorm_beta_eps_dy_and_empty_groups():
    x = np.zeros((2, 3))
    with pytest.raises(ValueError, match=r"layernorm: beta must have the shape of gamma \(3,\), got beta \(2,\)"):
        ref.layernorm_forward(x, np.ones(3), np.zeros(2), 1e-5)
    with pytest.raises(ValueError, match=r"eps must be > 0.0, got 0.0"):
        ref.layernorm_backward(x, np.ones(3), np.zeros(3), 0.0, x)
    with pytest.raises(ValueError, match=r"dy must have the forward output's shape \(2, 3\), got \(3,\)"):
        ref.layernorm_backward(x, np.ones(3), np.zeros(3), 1e-5, np.zeros(3))
    with pytest.raises(ValueError, match=r"layernorm: the normalised group must hold at least 1 value, got gamma \(0,\)"):
        ref.layernorm_forward(np.zeros((2, 0)), np.ones(0), np.zeros(0), 1e-5)
