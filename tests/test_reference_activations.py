"""Reference activations: sigmoid, tanh, relu, leaky_relu, step, softmax, gelu, gelu_tanh."""
import math

import numpy as np
import pytest

import gradspec.reference as ref
from _impls import area_ops, assert_no_mutation, op_ids, op_vjp_mismatch, samples, strict, vjp_mismatch

DIFF_OPS = area_ops("activations")
ELEMENTWISE = ["sigmoid", "tanh", "relu", "step"]


# --------------------------------------------------------------------------- hand-computed values
def test_sigmoid_hand_values():
    # σ(0) = 1/2; σ(ln 3) = 1/(1 + 1/3) = 3/4; σ(−ln 3) = 1/(1 + 3) = 1/4
    x = np.array([0.0, math.log(3.0), -math.log(3.0)])
    with strict():
        np.testing.assert_allclose(ref.sigmoid_forward(x), [0.5, 0.75, 0.25], rtol=1e-15)
        # σ' = σ(1 − σ): 1/4, 3/16, 3/16; times dy = (2, 4, −8)
        np.testing.assert_allclose(ref.sigmoid_backward(x, np.array([2.0, 4.0, -8.0])), [0.5, 0.75, -1.5], rtol=1e-14)


def test_sigmoid_is_finite_and_correct_at_1000():
    # σ(1000) = 1 − e^−1000 = 1 in float64; σ(−1000) = e^−1000 ≈ 5e−435, which underflows to 0
    x = np.array([1000.0, -1000.0, 40.0, -40.0])
    with strict():
        y = ref.sigmoid_forward(x)
        dx = ref.sigmoid_backward(x, np.ones(4))
    assert y[0] == 1.0 and y[1] == 0.0
    # σ(−40) = e^−40/(1 + e^−40) is representable: not rounded to 0
    np.testing.assert_allclose(y[3], math.exp(-40.0) / (1.0 + math.exp(-40.0)), rtol=1e-15)
    assert dx[0] == 0.0 and dx[1] == 0.0
    assert np.all(np.isfinite(y)) and np.all(np.isfinite(dx))


def test_tanh_hand_values():
    # tanh(ln 2) = (2 − 1/2)/(2 + 1/2) = 3/5; tanh' = 1 − 9/25 = 16/25
    x = np.array([0.0, math.log(2.0), -math.log(2.0), 1000.0, -1000.0])
    with strict():
        np.testing.assert_allclose(ref.tanh_forward(x), [0.0, 0.6, -0.6, 1.0, -1.0], rtol=1e-15, atol=1e-16)
        np.testing.assert_allclose(ref.tanh_backward(x, np.full(5, 25.0)), [25.0, 16.0, 16.0, 0.0, 0.0], rtol=1e-14)


def test_relu_hand_values_and_kink_convention():
    x = np.array([-2.0, 0.0, 3.0, -0.0])
    with strict():
        np.testing.assert_array_equal(ref.relu_forward(x), [0.0, 0.0, 3.0, 0.0])
        # relu'(0) = 0: the upstream 7 at x = 0 is dropped
        np.testing.assert_array_equal(ref.relu_backward(x, np.array([5.0, 7.0, 11.0, 13.0])), [0.0, 0.0, 11.0, 0.0])


def test_leaky_relu_hand_values_and_kink_convention():
    x = np.array([-2.0, 0.0, 3.0, -0.0])
    with strict():
        np.testing.assert_array_equal(ref.leaky_relu_forward(x, 0.25), [-0.5, 0.0, 3.0, 0.0])
        # leaky_relu'(0) = alpha: the upstream 8 at x = 0 is scaled by the left slope 0.25
        np.testing.assert_array_equal(ref.leaky_relu_backward(x, 0.25, np.array([4.0, 8.0, 11.0, 12.0])),
                                      [1.0, 2.0, 11.0, 3.0])


def test_leaky_relu_with_alpha_0_is_relu():
    x = np.random.default_rng(4).normal(size=(3, 4))
    x[0, :2] = 0.0
    dy = np.random.default_rng(5).normal(size=(3, 4))
    np.testing.assert_array_equal(ref.leaky_relu_forward(x, 0.0), ref.relu_forward(x))
    np.testing.assert_array_equal(ref.leaky_relu_backward(x, 0.0, dy), ref.relu_backward(x, dy))


@pytest.mark.parametrize("alpha", [-0.01, 1.0, 1.5, float("nan")])
def test_leaky_relu_rejects_alpha_outside_0_1(alpha):
    for call in (lambda: ref.leaky_relu_forward(np.ones(2), alpha),
                 lambda: ref.leaky_relu_backward(np.ones(2), alpha, np.ones(2))):
        with pytest.raises(ValueError, match=r"leaky_relu: alpha must be"):
            call()


def test_leaky_relu_backward_takes_alpha_positionally_before_dy():
    x, dy = np.array([-1.0, 2.0]), np.array([3.0, 5.0])
    np.testing.assert_array_equal(ref.leaky_relu_backward(x, 0.5, dy), [1.5, 5.0])


def test_step_hand_values():
    # step(0) = 0; float64 output
    y = ref.step_forward(np.array([[-1.0, 0.0], [2e-300, 5.0]]))
    assert y.dtype == np.float64
    np.testing.assert_array_equal(y, [[0.0, 0.0], [1.0, 1.0]])


def test_softmax_hand_values():
    # softmax(0, ln 3) = (1, 3)/4
    x = np.array([[0.0, math.log(3.0)], [5.0, 5.0]])
    with strict():
        np.testing.assert_allclose(ref.softmax_forward(x), [[0.25, 0.75], [0.5, 0.5]], rtol=1e-15)
        # dx = y ⊙ (dy − <dy, y>); row 1: dy = (1, 0): <dy,y> = 1/4 -> (1/4·3/4, 3/4·(−1/4)) = (3/16, −3/16)
        # row 2: dy = (2, 2) is constant: dx = 0
        dx = ref.softmax_backward(x, np.array([[1.0, 0.0], [2.0, 2.0]]))
    np.testing.assert_allclose(dx, [[3 / 16, -3 / 16], [0.0, 0.0]], rtol=1e-14, atol=1e-16)


def test_softmax_of_1000_is_finite_and_correct():
    # shift invariance: softmax(1000, −1000) = (1, e^−2000 -> 0); equal logits share equally
    x = np.array([[1000.0, -1000.0], [1000.0, 1000.0], [-1000.0, -1000.0], [-1000.0, -999.0]])
    with strict():
        y = ref.softmax_forward(x)
        dx = ref.softmax_backward(x, np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 0.0]]))
    e = math.exp(-1.0)
    np.testing.assert_allclose(y, [[1.0, 0.0], [0.5, 0.5], [0.5, 0.5], [e / (1 + e), 1 / (1 + e)]], rtol=1e-15)
    # row 2: y = (1/2, 1/2), dy = (1, 0): dx = (1/2·1/2, 1/2·(−1/2)) = (1/4, −1/4)
    np.testing.assert_allclose(dx[1], [0.25, -0.25], rtol=1e-15)
    np.testing.assert_array_equal(dx[0], [0.0, 0.0])
    assert np.all(np.isfinite(dx))


def test_softmax_at_the_edge_of_float64_does_not_overflow():
    # x − max(x) = −2e308 does not fit a float64; the true softmax (1, 0) does
    with strict():
        y = ref.softmax_forward(np.array([1e308, -1e308]))
    np.testing.assert_array_equal(y, [1.0, 0.0])


def test_softmax_is_over_the_last_axis():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 3, 4))
    y = ref.softmax_forward(x)
    np.testing.assert_allclose(y.sum(axis=-1), np.ones((2, 3)), rtol=1e-15)
    e = np.exp(x[1, 2])
    np.testing.assert_allclose(y[1, 2], e / e.sum(), rtol=1e-14)


# --------------------------------------------------------------------------- generic: shapes, gradients, purity, errstate
@pytest.mark.parametrize("name", ELEMENTWISE + ["softmax"])
@pytest.mark.parametrize("shape", [(1,), (5,), (2, 3), (2, 1, 3, 2)])
def test_output_shape_and_dtype(name, shape):
    x = np.random.default_rng(1).normal(size=shape)
    y = getattr(ref, f"{name}_forward")(x)
    assert y.shape == shape and y.dtype == np.float64
    if name != "step":
        dx = getattr(ref, f"{name}_backward")(x, np.ones(shape))
        assert dx.shape == shape and dx.dtype == np.float64


@pytest.mark.parametrize("op", DIFF_OPS, ids=op_ids(DIFF_OPS))
def test_backward_matches_central_differences(op):
    rng = np.random.default_rng(7)
    with strict():
        for s in samples(op, 4):
            assert op_vjp_mismatch(op, s, rng) <= 1.0


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "softmax"])
def test_backward_matches_central_differences_at_large_inputs(name):
    # away from 0 the derivatives are tiny but must still be right (relative check)
    x = np.array([[-30.0, -12.0, 3.0, 15.0]])
    with strict():
        assert vjp_mismatch(getattr(ref, f"{name}_forward"), getattr(ref, f"{name}_backward"), [x], [0],
                            np.random.default_rng(3)) <= 1.0


@pytest.mark.parametrize("name", ELEMENTWISE + ["softmax"])
def test_no_input_mutation(name):
    x = np.random.default_rng(2).normal(size=(3, 4))
    assert_no_mutation(getattr(ref, f"{name}_forward"), x)
    if name != "step":
        assert_no_mutation(getattr(ref, f"{name}_backward"), x, np.ones((3, 4)))


@pytest.mark.parametrize("name", ELEMENTWISE + ["softmax"])
def test_errstate_on_extreme_finite_inputs(name):
    x = np.array([[-1000.0, -745.0, -1e-300, 0.0, 1e-300, 709.0, 1000.0, 1e300]])
    with strict():
        y = getattr(ref, f"{name}_forward")(x)
        assert np.all(np.isfinite(y))
        if name != "step":
            assert np.all(np.isfinite(getattr(ref, f"{name}_backward")(x, np.ones_like(x))))


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("name", ["sigmoid", "tanh", "relu", "softmax"])
def test_backward_rejects_dy_of_the_wrong_shape(name):
    with pytest.raises(ValueError, match=r"dy must have the forward output's shape \(2, 3\), got \(3, 2\)"):
        getattr(ref, f"{name}_backward")(np.zeros((2, 3)), np.zeros((3, 2)))


@pytest.mark.parametrize("name", ELEMENTWISE + ["softmax"])
def test_non_finite_input_is_rejected(name):
    with pytest.raises(ValueError, match=r"x must be finite, got 1 non-finite value\(s\) in shape \(3,\)"):
        getattr(ref, f"{name}_forward")(np.array([0.0, np.nan, 1.0]))


def test_non_numeric_input_is_a_type_error():
    with pytest.raises(TypeError, match="x must be a numeric array, got dtype <U1"):
        ref.sigmoid_forward(np.array(["a", "b"]))


def test_softmax_needs_a_class_axis():
    with pytest.raises(ValueError, match=r"softmax needs at least one class on the last axis, got shape \(3, 0\)"):
        ref.softmax_forward(np.zeros((3, 0)))
    with pytest.raises(ValueError, match=r"got shape \(\)"):
        ref.softmax_forward(np.float64(1.0))


# --------------------------------------------------------------------------- gelu, gelu_tanh
def test_gelu_hand_values():
    # gelu(x) = x·Φ(x): Φ(0) = 1/2, Φ(1) = 0.8413447460685429..., Φ(−1) = 1 − Φ(1); φ(1) = e^−½/√(2π) = 0.24197072451914337
    phi1, pdf1 = 0.8413447460685429, 0.24197072451914337
    x = np.array([0.0, 1.0, -1.0])
    with strict():
        np.testing.assert_allclose(ref.gelu_forward(x), [0.0, phi1, -(1.0 - phi1)], rtol=1e-15, atol=1e-300)
        # gelu' = Φ + x·φ: 1/2, Φ(1) + φ(1), Φ(−1) − φ(1); times dy = (2, 4, −8)
        np.testing.assert_allclose(ref.gelu_backward(x, np.array([2.0, 4.0, -8.0])),
                                   [1.0, 4.0 * (phi1 + pdf1), -8.0 * (1.0 - phi1 - pdf1)], rtol=1e-14)


def test_gelu_tanh_hand_values():
    # u(1) = √(2/π)·1.044715; gelu_tanh(1) = (1 + tanh u)/2; gelu_tanh'(0) = 1/2
    u = math.sqrt(2.0 / math.pi) * 1.044715
    t = math.tanh(u)
    with strict():
        np.testing.assert_allclose(ref.gelu_tanh_forward(np.array([0.0, 1.0, -1.0])),
                                   [0.0, (1.0 + t) / 2.0, -(1.0 - t) / 2.0], rtol=1e-15, atol=1e-300)
        d1 = (1.0 + t) / 2.0 + 0.5 * (1.0 - t * t) * math.sqrt(2.0 / math.pi) * (1.0 + 3.0 * 0.044715)
        np.testing.assert_allclose(ref.gelu_tanh_backward(np.array([0.0, 1.0]), np.array([3.0, 5.0])),
                                   [1.5, 5.0 * d1], rtol=1e-14)


@pytest.mark.parametrize("op", ["gelu", "gelu_tanh"])
def test_gelu_saturates_without_warnings_at_huge_inputs(op):
    # far left: 0 and slope 0; far right: x and slope 1; x³ and x² overflow for |x| > 5.6e102 and 1.3e154
    x = np.array([-1e200, -1e120, -1000.0, 1000.0, 1e120, 1e200])
    with strict():
        y = getattr(ref, f"{op}_forward")(x)
        dx = getattr(ref, f"{op}_backward")(x, np.full(6, 2.0))
    np.testing.assert_array_equal(y, [0.0, 0.0, 0.0, 1000.0, 1e120, 1e200])
    np.testing.assert_array_equal(dx, [0.0, 0.0, 0.0, 2.0, 2.0, 2.0])


def test_gelu_and_gelu_tanh_are_different_functions_close_together():
    # the tanh approximation is within 4.7e-4 of gelu (derivative within 8.7e-4), never equal to it off 0
    x = np.linspace(-8.0, 8.0, 16001)
    one = np.ones_like(x)
    df = np.abs(ref.gelu_forward(x) - ref.gelu_tanh_forward(x))
    dd = np.abs(ref.gelu_backward(x, one) - ref.gelu_tanh_backward(x, one))
    assert 4.6e-4 < df.max() < 4.8e-4 and 8.6e-4 < dd.max() < 8.8e-4
    assert abs(x[np.argmax(df)] + 2.70) < 0.01 and abs(x[np.argmax(dd)] - 2.02) < 0.01


@pytest.mark.parametrize("op", ["gelu", "gelu_tanh"])
def test_gelu_rejects_non_finite_x_and_a_dy_of_another_shape(op):
    with pytest.raises(ValueError, match="x must be finite"):
        getattr(ref, f"{op}_forward")(np.array([1.0, np.nan]))
    with pytest.raises(ValueError, match=r"dy must have the forward output's shape \(2,\)"):
        getattr(ref, f"{op}_backward")(np.array([1.0, 2.0]), np.ones(3))
