"""Reference affine layer: out = x @ W + b."""
import numpy as np
import pytest

import gradspec.reference as ref
from _impls import area_ops, assert_no_mutation, op_ids, op_vjp_mismatch, samples, strict

OPS = area_ops("affine")


def test_hand_values():
    # x = (1, 2); W = [[1, 0, 2], [0, 1, 3]]; b = (10, 20, 30)
    # out = (1·1 + 2·0 + 10, 1·0 + 2·1 + 20, 1·2 + 2·3 + 30) = (11, 22, 38)
    x = np.array([[1.0, 2.0]])
    W = np.array([[1.0, 0.0, 2.0], [0.0, 1.0, 3.0]])
    b = np.array([10.0, 20.0, 30.0])
    with strict():
        np.testing.assert_array_equal(ref.affine_forward(x, W, b), [[11.0, 22.0, 38.0]])
        # dy = (1, 1, 1): dx = dy Wᵀ = (1+0+2, 0+1+3) = (3, 4); dW = xᵀ dy = [[1,1,1],[2,2,2]]; db = (1, 1, 1)
        dx, dW, db = ref.affine_backward(x, W, b, np.ones((1, 3)))
    np.testing.assert_array_equal(dx, [[3.0, 4.0]])
    np.testing.assert_array_equal(dW, [[1.0, 1.0, 1.0], [2.0, 2.0, 2.0]])
    np.testing.assert_array_equal(db, [1.0, 1.0, 1.0])


def test_db_sums_over_the_batch():
    # two examples: db = Σ_n dy_n = (1+3, 2+4)
    x, W, b = np.zeros((2, 1)), np.zeros((1, 2)), np.zeros(2)
    _, _, db = ref.affine_backward(x, W, b, np.array([[1.0, 2.0], [3.0, 4.0]]))
    np.testing.assert_array_equal(db, [4.0, 6.0])


@pytest.mark.parametrize("N,D,M", [(1, 1, 1), (4, 3, 2), (2, 5, 7)])
def test_shapes(N, D, M):
    rng = np.random.default_rng(0)
    x, W, b = rng.normal(size=(N, D)), rng.normal(size=(D, M)), rng.normal(size=M)
    assert ref.affine_forward(x, W, b).shape == (N, M)
    dx, dW, db = ref.affine_backward(x, W, b, rng.normal(size=(N, M)))
    assert (dx.shape, dW.shape, db.shape) == ((N, D), (D, M), (M,))
    assert dx.dtype == dW.dtype == db.dtype == np.float64


@pytest.mark.parametrize("op", OPS, ids=op_ids(OPS))
def test_backward_matches_central_differences(op):
    rng = np.random.default_rng(11)
    with strict():
        for s in samples(op, 5):
            assert op_vjp_mismatch(op, s, rng) <= 1.0


def test_no_input_mutation_and_errstate_with_large_values():
    rng = np.random.default_rng(1)
    x, W, b = rng.normal(size=(3, 4)) * 1e100, rng.normal(size=(4, 2)) * 1e100, rng.normal(size=2)
    with strict():
        assert np.all(np.isfinite(assert_no_mutation(ref.affine_forward, x, W, b)))
        for g in assert_no_mutation(ref.affine_backward, x, W, b, np.ones((3, 2))):
            assert np.all(np.isfinite(g))


def test_integer_inputs_are_promoted_to_float64():
    y = ref.affine_forward(np.array([[1, 2]]), np.array([[1], [1]]), np.array([1]))
    assert y.dtype == np.float64 and y[0, 0] == 4.0


# --------------------------------------------------------------------------- bad input
def test_W_rows_must_equal_x_columns():
    with pytest.raises(ValueError, match=r"W rows must equal x columns .*got x \(2, 3\) and W \(4, 5\)"):
        ref.affine_forward(np.zeros((2, 3)), np.zeros((4, 5)), np.zeros(5))
    with pytest.raises(ValueError, match=r"W rows must equal x columns"):
        ref.affine_backward(np.zeros((2, 3)), np.zeros((4, 5)), np.zeros(5), np.zeros((2, 5)))


def test_b_must_match_W_columns():
    with pytest.raises(ValueError, match=r"b must have shape \(M,\) = \(5,\) to match W \(3, 5\), got \(4,\)"):
        ref.affine_forward(np.zeros((2, 3)), np.zeros((3, 5)), np.zeros(4))


@pytest.mark.parametrize("which,args", [
    ("x", (np.zeros(3), np.zeros((3, 2)), np.zeros(2))),
    ("W", (np.zeros((1, 3)), np.zeros(3), np.zeros(2))),
    ("b", (np.zeros((1, 3)), np.zeros((3, 2)), np.zeros((1, 2)))),
])
def test_wrong_number_of_dimensions(which, args):
    with pytest.raises(ValueError, match=rf"{which} must have \d dimensions, got shape"):
        ref.affine_forward(*args)


def test_dy_must_have_the_output_shape():
    with pytest.raises(ValueError, match=r"dy must have the forward output's shape \(2, 5\), got \(5, 2\)"):
        ref.affine_backward(np.zeros((2, 3)), np.zeros((3, 5)), np.zeros(5), np.zeros((5, 2)))
