"""Reference residual block: y = x + relu(x W1 + b1) W2 + b2, its backward, its conventions and validation."""
import numpy as np
import pytest

import gradspec.reference as ref
from gradspec import registry
from _impls import assert_no_mutation, op_vjp_mismatch, samples, strict

# h = x W1 + b1 = (1.5, −2): unit 0 active, unit 1 not; a = (1.5, 0); a W2 = (3, 0); y = x + (3.25, −1)
X = np.array([[1.0, 2.0]])
W1 = np.array([[1.0, -1.0], [0.0, 1.0]])
B1 = np.array([0.5, -3.0])
W2 = np.array([[2.0, 0.0], [1.0, 1.0]])
B2 = np.array([0.25, -1.0])


def test_forward_hand_values():
    with strict():
        np.testing.assert_array_equal(ref.residual_forward(X, W1, B1, W2, B2), [[4.25, 1.0]])


def test_backward_hand_values():
    # da = dy W2ᵀ = (2, 0); dh = da·[h > 0] = (2, 0); dx = dy + dh W1ᵀ = (1, −1) + (2, 0)
    dy = np.array([[1.0, -1.0]])
    with strict():
        dx, dW1, db1, dW2, db2 = ref.residual_backward(X, W1, B1, W2, B2, dy)
    np.testing.assert_array_equal(dx, [[3.0, -1.0]])
    np.testing.assert_array_equal(dW1, [[2.0, 0.0], [4.0, 0.0]])
    np.testing.assert_array_equal(db1, [2.0, 0.0])
    np.testing.assert_array_equal(dW2, [[1.5, -1.5], [0.0, 0.0]])
    np.testing.assert_array_equal(db2, [1.0, -1.0])


def test_the_identity_path_adds_dy_once():
    # with W2 = 0 the branch is constant in x: dx is exactly dy
    dy = np.array([[0.3, -1.7]])
    dx = ref.residual_backward(X, W1, B1, np.zeros((2, 2)), B2, dy)[0]
    np.testing.assert_array_equal(dx, dy)


def test_relu_prime_at_zero_is_zero():
    # b1 = (−1, 0): h = x W1 + b1 = (0, 1) exactly: unit 0 sits on the kink and passes no gradient
    b1 = np.array([-1.0, 0.0])
    assert (X @ W1 + b1).tolist() == [[0.0, 1.0]]
    dy = np.array([[1.0, 1.0]])
    dx, dW1, db1, dW2, _ = ref.residual_backward(X, W1, b1, W2, B2, dy)
    # dy W2ᵀ = (2, 2), dh = (0, 2): dx = dy + dh W1ᵀ = (1, 1) + (−2, 2)
    np.testing.assert_array_equal(dx, [[-1.0, 3.0]])
    np.testing.assert_array_equal(db1, [0.0, 2.0])
    np.testing.assert_array_equal(dW1, [[0.0, 2.0], [0.0, 4.0]])
    np.testing.assert_array_equal(dW2, [[0.0, 0.0], [1.0, 1.0]])  # relu(0) = 0: unit 0's output row is 0


def test_backward_matches_central_differences_on_registry_samples():
    op = registry.get("residual")
    for s in samples(op, 6):
        assert op_vjp_mismatch(op, s, np.random.default_rng(0)) <= 1.0


def test_no_input_is_modified():
    assert_no_mutation(ref.residual_forward, X, W1, B1, W2, B2)
    assert_no_mutation(ref.residual_backward, X, W1, B1, W2, B2, np.ones((1, 2)))


def test_shape_rules_are_named():
    with pytest.raises(ValueError, match=r"W2 must have shape \(H, D\) = \(2, 2\)"):
        ref.residual_forward(X, W1, B1, np.ones((2, 3)), B2)
    with pytest.raises(ValueError, match=r"W1 rows must equal x columns"):
        ref.residual_forward(X, np.ones((3, 2)), B1, W2, B2)
    with pytest.raises(ValueError, match=r"b1 must have shape \(H,\) = \(2,\)"):
        ref.residual_forward(X, W1, np.ones(3), W2, B2)
    with pytest.raises(ValueError, match=r"b2 must have shape \(D,\) = \(2,\)"):
        ref.residual_forward(X, W1, B1, W2, np.ones(3))
    with pytest.raises(ValueError, match=r"dy must have the forward output's shape \(1, 2\)"):
        ref.residual_backward(X, W1, B1, W2, B2, np.ones((2, 2)))
