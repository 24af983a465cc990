"""Reference conv2d (cross-correlation, zero padding, NCHW) and its im2col/col2im."""
import numpy as np
import pytest

import gradspec.reference as ref
from _impls import area_ops, assert_no_mutation, op_ids, op_vjp_mismatch, samples, strict

OPS = area_ops("conv")

X3 = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)  # [[1,2,3],[4,5,6],[7,8,9]]
W2 = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])  # [[1,2],[3,4]]


def naive_conv(x, W, b, stride, pad):
    """The definition, one output element at a time (independent of im2col)."""
    N, C, H, Wd = x.shape
    F, _, KH, KW = W.shape
    xp = np.zeros((N, C, H + 2 * pad, Wd + 2 * pad))
    xp[:, :, pad:pad + H, pad:pad + Wd] = x
    OH, OW = (H + 2 * pad - KH) // stride + 1, (Wd + 2 * pad - KW) // stride + 1
    y = np.zeros((N, F, OH, OW))
    for n in range(N):
        for f in range(F):
            for i in range(OH):
                for j in range(OW):
                    y[n, f, i, j] = b[f] + np.sum(W[f] * xp[n, :, i * stride:i * stride + KH, j * stride:j * stride + KW])
    return y


def test_hand_computed_2x2_cross_correlation():
    # no kernel flip: out[i,j] = 1·x[i,j] + 2·x[i,j+1] + 3·x[i+1,j] + 4·x[i+1,j+1]
    # (0,0): 1+4+12+20 = 37; (0,1): 2+6+15+24 = 47; (1,0): 4+10+21+32 = 67; (1,1): 5+12+24+36 = 77
    # (a flipped convolution would give 5+8+6+1 = 20 at (0,0)); plus b = 0.5
    with strict():
        y = ref.conv2d_forward(X3, W2, np.array([0.5]), 1, 0)
    np.testing.assert_array_equal(y, [[[[37.5, 47.5], [67.5, 77.5]]]])


def test_hand_computed_2x2_backward():
    with strict():
        dx, dW, db = ref.conv2d_backward(X3, W2, np.array([0.5]), 1, 0, np.ones((1, 1, 2, 2)))
    # db = Σ dy = 4
    np.testing.assert_array_equal(db, [4.0])
    # dW[k,l] = Σ_windows x[i+k, j+l]: (1+2+4+5, 2+3+5+6; 4+5+7+8, 5+6+8+9)
    np.testing.assert_array_equal(dW, [[[[12.0, 16.0], [24.0, 28.0]]]])
    # dx[p,q] = Σ over the windows covering (p,q) of W at the offset: corners 1,2,3,4; edges 1+2, 1+3, 2+4, 3+4; centre 10
    np.testing.assert_array_equal(dx, [[[[1.0, 3.0, 2.0], [4.0, 10.0, 6.0], [3.0, 7.0, 4.0]]]])


def test_hand_computed_padding_and_stride():
    # x = 2 (1×1), 3×3 kernel of ones, pad 1: only the centre is real -> 2 (zero padding)
    y = ref.conv2d_forward(np.full((1, 1, 1, 1), 2.0), np.ones((1, 1, 3, 3)), np.zeros(1), 1, 1)
    np.testing.assert_array_equal(y, [[[[2.0]]]])
    # stride 2 on the 3×3 image with a 1×1 kernel of 10 picks x[0,0], x[0,2], x[2,0], x[2,2]
    y = ref.conv2d_forward(X3, np.full((1, 1, 1, 1), 10.0), np.zeros(1), 2, 0)
    np.testing.assert_array_equal(y, [[[[10.0, 30.0], [70.0, 90.0]]]])
    # and its backward puts dy back on those four pixels only, times 10
    dx, _, _ = ref.conv2d_backward(X3, np.full((1, 1, 1, 1), 10.0), np.zeros(1), 2, 0, np.array([[[[1.0, 2.0], [3.0, 4.0]]]]))
    np.testing.assert_array_equal(dx, [[[[10.0, 0.0, 20.0], [0.0, 0.0, 0.0], [30.0, 0.0, 40.0]]]])


def test_channels_add_and_filters_are_independent():
    # 2 input channels, 2 filters: filter 0 = ones on channel 0, filter 1 = ones on channel 1, 1×1
    x = np.stack([X3[0, 0], 100 * X3[0, 0]])[None]  # (1, 2, 3, 3)
    W = np.zeros((2, 2, 1, 1))
    W[0, 0], W[1, 1] = 1.0, 1.0
    y = ref.conv2d_forward(x, W, np.array([0.0, 1.0]), 1, 0)
    np.testing.assert_array_equal(y[0, 0], X3[0, 0])
    np.testing.assert_array_equal(y[0, 1], 100 * X3[0, 0] + 1)
    W[0, 1] = 1.0  # filter 0 now sums both channels
    np.testing.assert_array_equal(ref.conv2d_forward(x, W, np.zeros(2), 1, 0)[0, 0], 101 * X3[0, 0])


@pytest.mark.parametrize("N,C,H,Wd,F,KH,KW,stride,pad", [
    (2, 3, 5, 5, 4, 3, 3, 1, 1), (1, 2, 7, 5, 3, 3, 2, 2, 0), (2, 1, 4, 6, 2, 1, 1, 3, 2), (1, 1, 3, 3, 1, 5, 5, 1, 1),
])
def test_shapes_and_agreement_with_the_definition(N, C, H, Wd, F, KH, KW, stride, pad):
    rng = np.random.default_rng(0)
    x, W, b = rng.normal(size=(N, C, H, Wd)), rng.normal(size=(F, C, KH, KW)), rng.normal(size=F)
    y = ref.conv2d_forward(x, W, b, stride, pad)
    OH, OW = (H + 2 * pad - KH) // stride + 1, (Wd + 2 * pad - KW) // stride + 1
    assert y.shape == (N, F, OH, OW) and y.dtype == np.float64
    np.testing.assert_allclose(y, naive_conv(x, W, b, stride, pad), rtol=1e-12, atol=1e-12)
    dx, dW, db = ref.conv2d_backward(x, W, b, stride, pad, rng.normal(size=y.shape))
    assert (dx.shape, dW.shape, db.shape) == (x.shape, W.shape, b.shape)


def test_im2col_and_col2im_are_adjoint():
    # <im2col(x), c> = <x, col2im(c)> for overlapping windows with stride and padding
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 3, 5, 4))
    cols = ref.im2col(x, 3, 2, 2, 1)
    c = rng.normal(size=cols.shape)
    assert np.sum(cols * c) == pytest.approx(np.sum(x * ref.col2im(c, x.shape, 3, 2, 2, 1)), rel=1e-12)


@pytest.mark.parametrize("op", OPS, ids=op_ids(OPS))
def test_backward_matches_central_differences(op):
    rng = np.random.default_rng(2)
    with strict():
        for s in samples(op, 6):
            assert op_vjp_mismatch(op, s, rng) <= 1.0


def test_no_input_mutation_and_errstate():
    rng = np.random.default_rng(3)
    x, W, b = rng.normal(size=(2, 2, 4, 4)) * 1e100, rng.normal(size=(3, 2, 3, 3)) * 1e100, rng.normal(size=3)
    with strict():
        y = assert_no_mutation(ref.conv2d_forward, x, W, b, 1, 1)
        grads = assert_no_mutation(ref.conv2d_backward, x, W, b, 1, 1, np.ones_like(y))
    assert np.all(np.isfinite(y)) and all(np.all(np.isfinite(g)) for g in grads)


# --------------------------------------------------------------------------- bad input
def test_channels_must_match():
    with pytest.raises(ValueError, match=r"W channels must equal x channels .*got x \(1, 3, 4, 4\) and W \(2, 2, 3, 3\)"):
        ref.conv2d_forward(np.zeros((1, 3, 4, 4)), np.zeros((2, 2, 3, 3)), np.zeros(2), 1, 0)


def test_kernel_larger_than_padded_input():
    with pytest.raises(ValueError, match=r"kernel larger than the padded input: kernel 5x5, input 3x3 with pad 0 \(padded 3x3\)"):
        ref.conv2d_forward(np.zeros((1, 1, 3, 3)), np.zeros((1, 1, 5, 5)), np.zeros(1), 1, 0)
    with pytest.raises(ValueError, match=r"kernel 5x2, input 2x4 with pad 1 \(padded 4x6\)"):
        ref.conv2d_backward(np.zeros((1, 1, 2, 4)), np.zeros((1, 1, 5, 2)), np.zeros(1), 1, 1, np.zeros((1, 1, 1, 5)))


@pytest.mark.parametrize("stride,pad,pattern", [
    (0, 0, r"stride must be >= 1, got 0"),
    (-2, 0, r"stride must be >= 1, got -2"),
    (1.5, 0, r"stride must be an integer, got 1.5"),
    (1, -1, r"pad must be >= 0, got -1"),
])
def test_stride_and_pad_rules(stride, pad, pattern):
    with pytest.raises(ValueError, match=pattern):
        ref.conv2d_forward(np.zeros((1, 1, 3, 3)), np.zeros((1, 1, 2, 2)), np.zeros(1), stride, pad)


def test_bias_shape_and_dimensions():
    with pytest.raises(ValueError, match=r"b must have shape \(F,\) = \(2,\) to match W \(2, 1, 2, 2\), got \(3,\)"):
        ref.conv2d_forward(np.zeros((1, 1, 3, 3)), np.zeros((2, 1, 2, 2)), np.zeros(3), 1, 0)
    with pytest.raises(ValueError, match=r"x must have 4 dimensions, got shape \(1, 3, 3\)"):
        ref.conv2d_forward(np.zeros((1, 3, 3)), np.zeros((2, 1, 2, 2)), np.zeros(2), 1, 0)


def test_dy_must_have_the_output_shape():
    with pytest.raises(ValueError, match=r"dy must have the forward output's shape \(1, 1, 2, 2\), got \(1, 1, 3, 3\)"):
        ref.conv2d_backward(X3, W2, np.zeros(1), 1, 0, np.zeros((1, 1, 3, 3)))
