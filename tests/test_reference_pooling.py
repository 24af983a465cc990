"""Reference max and average pooling (square windows, NCHW)."""
import numpy as np
import pytest

import gradspec.reference as ref
from _impls import area_ops, assert_no_mutation, op_ids, op_vjp_mismatch, samples, strict

OPS = area_ops("pooling")
X4 = np.arange(16.0).reshape(1, 1, 4, 4)  # rows 0..3, 4..7, 8..11, 12..15


def test_max_pool_hand_values():
    # 2×2 windows, stride 2: maxima are the bottom-right corners 5, 7, 13, 15
    with strict():
        y = ref.max_pool2d_forward(X4, 2, 2, 0)
        dx = ref.max_pool2d_backward(X4, 2, 2, 0, np.array([[[[1.0, 2.0], [3.0, 4.0]]]]))
    np.testing.assert_array_equal(y, [[[[5.0, 7.0], [13.0, 15.0]]]])
    expected = np.zeros((4, 4))
    expected[1, 1], expected[1, 3], expected[3, 1], expected[3, 3] = 1.0, 2.0, 3.0, 4.0
    np.testing.assert_array_equal(dx[0, 0], expected)


def test_max_pool_tie_goes_to_the_first_maximum_in_row_major_order():
    # [[0, 3], [3, 1]]: the maximum 3 is at (0,1) and (1,0); (0,1) comes first
    x = np.array([[[[0.0, 3.0], [3.0, 1.0]]]])
    np.testing.assert_array_equal(ref.max_pool2d_backward(x, 2, 2, 0, np.array([[[[5.0]]]]))[0, 0], [[0.0, 5.0], [0.0, 0.0]])
    # all equal: the gradient goes to (0,0) only, not split
    np.testing.assert_array_equal(ref.max_pool2d_backward(np.ones((1, 1, 2, 2)), 2, 2, 0, np.array([[[[5.0]]]]))[0, 0],
                                  [[5.0, 0.0], [0.0, 0.0]])


def test_max_pool_padding_never_wins():
    # x = [[−1, −2], [−3, −4]], kernel 2, stride 1, pad 1 -> 3×3 windows; zero padding would win everywhere
    x = np.array([[[[-1.0, -2.0], [-3.0, -4.0]]]])
    y = ref.max_pool2d_forward(x, 2, 1, 1)
    np.testing.assert_array_equal(y[0, 0], [[-1.0, -1.0, -2.0], [-1.0, -1.0, -2.0], [-3.0, -3.0, -4.0]])
    # dy = 1 everywhere: (0,0) wins 4 windows, (0,1) and (1,0) two each, (1,1) one
    dx = ref.max_pool2d_backward(x, 2, 1, 1, np.ones((1, 1, 3, 3)))
    np.testing.assert_array_equal(dx[0, 0], [[4.0, 2.0], [2.0, 1.0]])


def test_avg_pool_hand_values():
    # 2×2 blocks of 0..15: (0+1+4+5)/4 = 2.5, (2+3+6+7)/4 = 4.5, 10.5, 12.5
    with strict():
        np.testing.assert_array_equal(ref.avg_pool2d_forward(X4, 2, 2, 0), [[[[2.5, 4.5], [10.5, 12.5]]]])
        # each window spreads dy/4 over its block
        dx = ref.avg_pool2d_backward(X4, 2, 2, 0, np.array([[[[4.0, 8.0], [12.0, 16.0]]]]))
    np.testing.assert_array_equal(dx[0, 0], np.kron([[1.0, 2.0], [3.0, 4.0]], np.ones((2, 2))))


def test_avg_pool_counts_padding_in_the_divisor():
    # a single 4 with kernel 3, pad 1: the window holds 4 and eight padding zeros -> 4/9 (not 4/1)
    x = np.full((1, 1, 1, 1), 4.0)
    np.testing.assert_allclose(ref.avg_pool2d_forward(x, 3, 1, 1), [[[[4 / 9]]]], rtol=1e-15)
    np.testing.assert_allclose(ref.avg_pool2d_backward(x, 3, 1, 1, np.full((1, 1, 1, 1), 9.0)), [[[[1.0]]]], rtol=1e-15)


def test_overlapping_windows_add_their_gradients():
    # 2×3 input, kernel 2, stride 1: windows over columns 0-1 and 1-2 share column 1;
    # dy = (4, 8) spreads 1 and 2 per element, so column 1 gets 1 + 2 = 3
    x = np.array([[[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]]])
    dx = ref.avg_pool2d_backward(x, 2, 1, 0, np.array([[[[4.0, 8.0]]]]))
    np.testing.assert_array_equal(dx[0, 0], [[1.0, 3.0, 2.0], [1.0, 3.0, 2.0]])


def test_stride_defaults_to_kernel():
    np.testing.assert_array_equal(ref.max_pool2d_forward(X4, 2), ref.max_pool2d_forward(X4, 2, 2, 0))
    np.testing.assert_array_equal(ref.avg_pool2d_forward(X4, 2), ref.avg_pool2d_forward(X4, 2, 2, 0))


@pytest.mark.parametrize("name", ["max_pool2d", "avg_pool2d"])
@pytest.mark.parametrize("H,W,k,s,p", [(4, 4, 2, 2, 0), (5, 7, 3, 2, 1), (3, 3, 3, 1, 1), (6, 5, 1, 3, 0)])
def test_shapes(name, H, W, k, s, p):
    x = np.random.default_rng(0).normal(size=(2, 3, H, W))
    y = getattr(ref, f"{name}_forward")(x, k, s, p)
    assert y.shape == (2, 3, (H + 2 * p - k) // s + 1, (W + 2 * p - k) // s + 1) and y.dtype == np.float64
    assert getattr(ref, f"{name}_backward")(x, k, s, p, np.ones(y.shape)).shape == x.shape


@pytest.mark.parametrize("op", OPS, ids=op_ids(OPS))
def test_backward_matches_central_differences(op):
    rng = np.random.default_rng(4)
    with strict():
        for s in samples(op, 6):
            assert op_vjp_mismatch(op, s, rng) <= 1.0


@pytest.mark.parametrize("op", OPS, ids=op_ids(OPS))
def test_no_input_mutation_and_errstate(op):
    for s in samples(op, 2, seed=9):
        args = op.forward_args(s)
        args[0] = args[0] * 1e300
        with strict():
            y = assert_no_mutation(getattr(ref, op.forward), *args)
            dx = assert_no_mutation(getattr(ref, op.backward), *args, np.ones(y.shape))
        assert np.all(np.isfinite(y)) and np.all(np.isfinite(dx))


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("name", ["max_pool2d", "avg_pool2d"])
def test_pad_larger_than_half_the_kernel(name):
    with pytest.raises(ValueError, match=rf"{name}: pad must be <= kernel//2 .*got pad 2 for kernel 3"):
        getattr(ref, f"{name}_forward")(np.zeros((1, 1, 5, 5)), 3, 1, 2)
    with pytest.raises(ValueError, match=r"pad must be <= kernel//2 .*got pad 1 for kernel 1"):
        getattr(ref, f"{name}_backward")(np.zeros((1, 1, 5, 5)), 1, 1, 1, np.zeros((1, 1, 7, 7)))


@pytest.mark.parametrize("name", ["max_pool2d", "avg_pool2d"])
def test_kernel_larger_than_padded_input(name):
    with pytest.raises(ValueError, match=rf"{name}: kernel larger than the padded input: kernel 4x4, input 1x5 with pad 1 \(padded 3x7\)"):
        getattr(ref, f"{name}_forward")(np.zeros((1, 1, 1, 5)), 4, 1, 1)


@pytest.mark.parametrize("name", ["max_pool2d", "avg_pool2d"])
@pytest.mark.parametrize("kernel,stride,pattern", [
    (0, 1, r"kernel must be >= 1, got 0"), (2, 0, r"stride must be >= 1, got 0"), (2.5, 1, r"kernel must be an integer"),
])
def test_kernel_and_stride_rules(name, kernel, stride, pattern):
    with pytest.raises(ValueError, match=pattern):
        getattr(ref, f"{name}_forward")(np.zeros((1, 1, 4, 4)), kernel, stride, 0)


def test_pooling_needs_nchw():
    with pytest.raises(ValueError, match=r"x must have 4 dimensions, got shape \(4, 4\)"):
        ref.max_pool2d_forward(np.zeros((4, 4)), 2, 2, 0)
