"""Reference losses: mse, cross_entropy, softmax_cross_entropy, binary_cross_entropy.

All sum over the non-batch axes and divide by N; forwards return a float and
backwards return the gradient of the first argument only.
"""
import math

import numpy as np
import pytest

import gradspec.reference as ref
from _impls import area_ops, assert_no_mutation, op_ids, op_vjp_mismatch, samples, strict

OPS = area_ops("losses")
LN2 = math.log(2.0)


# --------------------------------------------------------------------------- hand-computed values
def test_mse_hand_values():
    # 0.5·(1 + 4 + 9 + 16)/N with N = 2 -> 7.5
    y, t = np.array([[1.0, 2.0], [3.0, 4.0]]), np.zeros((2, 2))
    with strict():
        loss = ref.mse_forward(y, t)
        # dC/dy = dy·(y − t)/N; with dy = 2, N = 2 that is y itself
        g = ref.mse_backward(y, t, 2.0)
    assert type(loss) is float and loss == 7.5
    np.testing.assert_array_equal(g, y)


def test_cross_entropy_hand_values():
    # −(log 1/2 + log 3/4)/2 = (ln 2 + ln 4/3)/2 = ln(8/3)/2
    p = np.array([[0.5, 0.5], [0.25, 0.75]])
    t = np.array([[1.0, 0.0], [0.0, 1.0]])
    with strict():
        assert ref.cross_entropy_forward(p, t) == pytest.approx(math.log(8 / 3) / 2, rel=1e-15)
        # dC/dp = −t/(N p): (−1/(2·1/2), 0; 0, −1/(2·3/4)) = (−1, 0; 0, −2/3)
        np.testing.assert_allclose(ref.cross_entropy_backward(p, t, 1.0), [[-1.0, 0.0], [0.0, -2 / 3]], rtol=1e-15)


def test_softmax_cross_entropy_hand_values():
    # z = (0, 0): both classes 1/2 -> loss ln 2; dC/dz = softmax − onehot = (1/2 − 1, 1/2)
    z = np.array([[0.0, 0.0]])
    with strict():
        assert ref.softmax_cross_entropy_forward(z, np.array([0])) == pytest.approx(LN2, rel=1e-15)
        np.testing.assert_allclose(ref.softmax_cross_entropy_backward(z, np.array([0]), 1.0), [[-0.5, 0.5]], rtol=1e-15)
        # z = (0, ln 3), N = 2 with labels (1, 0): losses −ln 3/4 and −ln 1/4 -> (ln 4/3 + ln 4)/2
        z2 = np.array([[0.0, math.log(3.0)], [0.0, math.log(3.0)]])
        assert ref.softmax_cross_entropy_forward(z2, np.array([1, 0])) == pytest.approx(
            (math.log(4 / 3) + math.log(4)) / 2, rel=1e-14)
        # gradient (softmax − onehot)/N with dy = 4: row 1 (1/4, 3/4 − 1)·2, row 2 (1/4 − 1, 3/4)·2
        np.testing.assert_allclose(ref.softmax_cross_entropy_backward(z2, np.array([1, 0]), 4.0),
                                   [[0.5, -0.5], [-1.5, 1.5]], rtol=1e-14)


def test_softmax_cross_entropy_from_logits_of_1000_is_finite_and_correct():
    # log Σ e^z − z_y: (1000, −1000) with label 0 -> 0; label 1 -> 2000; (1000, 1000) -> ln 2
    z = np.array([[1000.0, -1000.0], [1000.0, -1000.0], [1000.0, 1000.0], [-1000.0, -1000.0]])
    labels = np.array([0, 1, 1, 0])
    with strict():
        loss = ref.softmax_cross_entropy_forward(z, labels)
        g = ref.softmax_cross_entropy_backward(z, labels, 1.0)
    assert loss == pytest.approx((0.0 + 2000.0 + LN2 + LN2) / 4, rel=1e-15)
    # (softmax − onehot)/4: (0, 0), (1, −1)/4, (1/2, −1/2)/4, (−1/2, 1/2)/4
    np.testing.assert_allclose(g, np.array([[0, 0], [1, -1], [0.5, -0.5], [-0.5, 0.5]]) / 4, rtol=1e-15, atol=0)


def test_softmax_cross_entropy_at_the_edge_of_float64():
    # the true loss is 0 (the label holds all the mass); e^(z − max) must underflow, not overflow
    with strict():
        assert ref.softmax_cross_entropy_forward(np.array([[1e308, -1e308]]), np.array([0])) == 0.0


def test_binary_cross_entropy_hand_values():
    # z = 0: σ = 1/2, each element costs ln 2 whatever t is; N = 1, K = 2 -> 2 ln 2
    z, t = np.array([[0.0, 0.0]]), np.array([[1.0, 0.3]])
    with strict():
        assert ref.binary_cross_entropy_forward(z, t) == pytest.approx(2 * LN2, rel=1e-15)
        # dC/dz = σ(z) − t = (1/2 − 1, 1/2 − 0.3)
        np.testing.assert_allclose(ref.binary_cross_entropy_backward(z, t, 1.0), [[-0.5, 0.2]], rtol=1e-15)
    # z = ln 3: σ = 3/4; t = 1 -> −ln 3/4
    assert ref.binary_cross_entropy_forward(np.array([[math.log(3.0)]]), np.array([[1.0]])) == pytest.approx(
        math.log(4 / 3), rel=1e-14)


def test_binary_cross_entropy_from_logits_of_1000_is_finite_and_correct():
    # (z, t): (1000, 1) -> 0; (−1000, 0) -> 0; (1000, 0) -> 1000; (−1000, 1) -> 1000; N = 2
    z = np.array([[1000.0, -1000.0], [1000.0, -1000.0]])
    t = np.array([[1.0, 0.0], [0.0, 1.0]])
    with strict():
        assert ref.binary_cross_entropy_forward(z, t) == 1000.0
        g = ref.binary_cross_entropy_backward(z, t, 1.0)
    # (σ(z) − t)/N: (0, 0; 1, −1)/2
    np.testing.assert_array_equal(g, [[0.0, 0.0], [0.5, -0.5]])


def test_fused_loss_equals_softmax_then_cross_entropy():
    rng = np.random.default_rng(3)
    z, labels = rng.normal(size=(4, 3)), np.array([0, 2, 1, 2])
    onehot = np.eye(3)[labels]
    p = ref.softmax_forward(z)
    assert ref.softmax_cross_entropy_forward(z, labels) == pytest.approx(ref.cross_entropy_forward(p, onehot), rel=1e-14)
    # chain rule through the softmax: dz = softmax_backward(z, dC/dp)
    dz = ref.softmax_backward(z, ref.cross_entropy_backward(p, onehot, 1.0))
    np.testing.assert_allclose(ref.softmax_cross_entropy_backward(z, labels, 1.0), dz, rtol=1e-12, atol=1e-15)


def test_float_labels_that_are_integers_are_accepted():
    z = np.array([[0.0, 0.0]])
    assert ref.softmax_cross_entropy_forward(z, np.array([1.0])) == pytest.approx(LN2)


# --------------------------------------------------------------------------- generic
@pytest.mark.parametrize("op", OPS, ids=op_ids(OPS))
def test_backward_matches_central_differences(op):
    rng = np.random.default_rng(5)
    with strict():
        for s in samples(op, 5):
            assert op_vjp_mismatch(op, s, rng) <= 1.0


@pytest.mark.parametrize("op", OPS, ids=op_ids(OPS))
def test_forward_is_a_float_and_backward_has_the_shape_of_the_first_argument(op):
    for s in samples(op, 3):
        args = op.forward_args(s)
        loss = getattr(ref, op.forward)(*args)
        assert type(loss) is float
        g = getattr(ref, op.backward)(*args, 1.5)
        assert isinstance(g, np.ndarray) and g.shape == np.shape(args[0]) and g.dtype == np.float64


@pytest.mark.parametrize("op", OPS, ids=op_ids(OPS))
def test_no_input_mutation(op):
    s = samples(op, 1)[0]
    args = op.forward_args(s)
    assert_no_mutation(getattr(ref, op.forward), *args)
    assert_no_mutation(getattr(ref, op.backward), *args, 1.0)


@pytest.mark.parametrize("op", OPS, ids=op_ids(OPS))
def test_loss_is_a_batch_mean(op):
    # duplicating the batch leaves the mean unchanged, and halves each example's gradient
    s = samples(op, 1, seed=4)[0]
    a0, a1 = op.forward_args(s)
    a0d, a1d = np.concatenate([a0, a0]), np.concatenate([a1, a1])
    f, b = getattr(ref, op.forward), getattr(ref, op.backward)
    assert f(a0d, a1d) == pytest.approx(f(a0, a1), rel=1e-13)
    np.testing.assert_allclose(b(a0d, a1d, 1.0)[: len(a0)], b(a0, a1, 1.0) / 2, rtol=1e-13)


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("name", ["mse", "cross_entropy", "binary_cross_entropy"])
def test_target_shape_must_match(name):
    first = {"mse": "y", "cross_entropy": "p", "binary_cross_entropy": "z"}[name]
    with pytest.raises(ValueError, match=rf"{first} and t must have the same shape, got {first} \(2, 3\) and t \(2, 2\)"):
        getattr(ref, f"{name}_forward")(np.full((2, 3), 0.5), np.zeros((2, 2)))


def test_label_out_of_range():
    with pytest.raises(ValueError, match=r"labels must lie in \[0, K\) = \[0, 3\), got values in \[0, 3\]"):
        ref.softmax_cross_entropy_forward(np.zeros((2, 3)), np.array([0, 3]))
    with pytest.raises(ValueError, match=r"labels must lie in \[0, K\) = \[0, 3\), got values in \[-1, 1\]"):
        ref.softmax_cross_entropy_backward(np.zeros((2, 3)), np.array([-1, 1]), 1.0)


def test_labels_shape_and_type():
    with pytest.raises(ValueError, match=r"labels must have shape \(N,\) = \(2,\), got \(2, 3\)"):
        ref.softmax_cross_entropy_forward(np.zeros((2, 3)), np.zeros((2, 3), dtype=int))
    with pytest.raises(ValueError, match="labels must hold integer class indices"):
        ref.softmax_cross_entropy_forward(np.zeros((2, 3)), np.array([0.5, 1.0]))


def test_cross_entropy_needs_probabilities():
    with pytest.raises(ValueError, match=r"p must be probabilities in \(0, 1\], got values in \[0, 1\]"):
        ref.cross_entropy_forward(np.array([[0.0, 1.0]]), np.array([[0.0, 1.0]]))
    with pytest.raises(ValueError, match=r"p must be probabilities in \(0, 1\], got values in \[0.5, 1.5\]"):
        ref.cross_entropy_backward(np.array([[1.5, 0.5]]), np.array([[0.0, 1.0]]), 1.0)


def test_binary_targets_in_unit_interval():
    with pytest.raises(ValueError, match=r"targets t must lie in \[0, 1\], got values in \[-0.5, 1\]"):
        ref.binary_cross_entropy_forward(np.zeros((1, 2)), np.array([[-0.5, 1.0]]))


def test_empty_batch():
    with pytest.raises(ValueError, match=r"at least one example \(N >= 1\), got shape \(0, 3\)"):
        ref.mse_forward(np.zeros((0, 3)), np.zeros((0, 3)))


def test_upstream_of_a_loss_is_a_scalar():
    with pytest.raises(ValueError, match=r"dy of a scalar-valued function must be a scalar, got shape \(2,\)"):
        ref.mse_backward(np.zeros((1, 2)), np.zeros((1, 2)), np.ones(2))
