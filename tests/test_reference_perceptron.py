"""Reference perceptron: y = step(w·x + b) with step(0) = 0; w ← w + lr(t − y)x, b ← b + lr(t − y)."""
import numpy as np
import pytest

import gradspec.reference as ref
from _impls import assert_no_mutation, strict


def test_update_hand_values():
    # w = 0, b = 0, x = (1, 2): w·x + b = 0 -> y = step(0) = 0; t = 1: w ← 0 + 0.5·1·(1, 2), b ← 0.5
    w, b = ref.perceptron_update(np.zeros(2), 0.0, np.array([1.0, 2.0]), 1.0, 0.5)
    np.testing.assert_array_equal(w, [0.5, 1.0])
    assert b == 0.5
    # now w·x + b = 0.5 + 2 + 0.5 = 3 > 0 -> y = 1 = t: no change
    w2, b2 = ref.perceptron_update(w, b, np.array([1.0, 2.0]), 1.0, 0.5)
    np.testing.assert_array_equal(w2, w)
    assert b2 == b
    # t = 0 but y = 1: w ← w − 0.5·(1, 2) = (0, 0), b ← 0
    w3, b3 = ref.perceptron_update(w, b, np.array([1.0, 2.0]), 0.0, 0.5)
    np.testing.assert_array_equal(w3, [0.0, 0.0])
    assert b3 == 0.0


def test_on_the_boundary_the_output_is_0():
    # w·x + b = 2 − 2 = 0 -> y = 0; with t = 0 nothing changes, with t = 1 the rule moves
    w, x = np.array([1.0, 1.0]), np.array([1.0, 1.0])
    assert ref.perceptron_predict(w, -2.0, x) == 0.0
    w_new, b_new = ref.perceptron_update(w, -2.0, x, 0.0, 1.0)
    np.testing.assert_array_equal(w_new, w)
    assert b_new == -2.0
    w_new, b_new = ref.perceptron_update(w, -2.0, x, 1.0, 1.0)
    np.testing.assert_array_equal(w_new, [2.0, 2.0])
    assert b_new == -1.0


def test_learns_and_but_not_xor():
    X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    w, b, converged = ref.perceptron_train(X, np.array([0.0, 0.0, 0.0, 1.0]), lr=1.0, epochs=50)
    assert converged
    np.testing.assert_array_equal(ref.perceptron_predict(w, b, X), [0.0, 0.0, 0.0, 1.0])
    # XOR is not linearly separable: the rule never finishes an epoch without a mistake
    _, _, converged = ref.perceptron_train(X, np.array([0.0, 1.0, 1.0, 0.0]), lr=1.0, epochs=50)
    assert not converged


def test_types_purity_and_errstate():
    w, x = np.array([1e300, -1e300]), np.array([1.0, 1.0])
    with strict():
        w_new, b_new = assert_no_mutation(ref.perceptron_update, w, 0.5, x, 0.0, 0.1)
    assert isinstance(w_new, np.ndarray) and w_new.dtype == np.float64 and w_new.shape == (2,)
    assert isinstance(b_new, float)


def test_step_forward_is_the_perceptron_step():
    np.testing.assert_array_equal(ref.step_forward(np.array([-1.0, 0.0, 1.0])), [0.0, 0.0, 1.0])


# --------------------------------------------------------------------------- bad input
def test_target_must_be_0_or_1():
    with pytest.raises(ValueError, match=r"perceptron: target t must be 0 or 1, got 0.5"):
        ref.perceptron_update(np.zeros(2), 0.0, np.ones(2), 0.5, 1.0)
    with pytest.raises(ValueError, match=r"got -1.0"):
        ref.perceptron_update(np.zeros(2), 0.0, np.ones(2), -1, 1.0)


def test_x_must_match_w():
    with pytest.raises(ValueError, match=r"perceptron: x must have D = 2 features to match w \(2,\), got x \(3,\)"):
        ref.perceptron_update(np.zeros(2), 0.0, np.ones(3), 1.0, 1.0)


def test_lr_must_be_positive_and_w_a_vector():
    with pytest.raises(ValueError, match=r"lr must be > 0.0, got 0.0"):
        ref.perceptron_update(np.zeros(2), 0.0, np.ones(2), 1.0, 0.0)
    with pytest.raises(ValueError, match=r"w must have 1 dimensions, got shape \(1, 2\)"):
        ref.perceptron_update(np.zeros((1, 2)), 0.0, np.ones(2), 1.0, 1.0)
