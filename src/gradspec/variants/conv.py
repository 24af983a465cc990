"""Known variants of conv2d."""
from __future__ import annotations

import numpy as np

from .. import reference as ref
from ..reference.conv import check_window
from . import Catalogue, f64

CATALOGUE = Catalogue()
C = CATALOGUE


def conv_flipped_fwd(x, W, b, stride, pad):
    return ref.conv2d_forward(x, f64(W)[:, :, ::-1, ::-1], b, stride, pad)


def conv_flipped_bwd(x, W, b, stride, pad, dy):
    dx, dW, db = ref.conv2d_backward(x, f64(W)[:, :, ::-1, ::-1], b, stride, pad, dy)
    return dx, dW[:, :, ::-1, ::-1], db


def flip(W):
    return np.asarray(W)[..., ::-1, ::-1].copy()


def witness_flipped_backward(x, W, b, stride, pad, dy):
    dx, dW, db = ref.conv2d_backward(x, flip(W), b, stride, pad, dy)
    return dx, flip(dW), db


C.variant("conv_kernel_flipped", "conv2d", "a true convolution (the kernel flipped) instead of the cross-correlation the spec uses",
          mutant="conv2d_kernel_flipped",
          description="a true convolution (flipped kernel) instead of cross-correlation, forward and backward consistent",
          witness={"conv2d_forward": lambda x, W, b, stride=1, pad=0: ref.conv2d_forward(x, flip(W), b, stride, pad),
                   "conv2d_backward": witness_flipped_backward},
          conv2d_forward=conv_flipped_fwd, conv2d_backward=conv_flipped_bwd)


def col2im_overwrite(cols, x_shape, KH, KW, stride, pad):
    N, C_, H, W = (int(s) for s in x_shape)
    stride, pad, OH, OW = check_window("col2im", H, W, KH, KW, stride, pad)
    c6 = np.asarray(cols).reshape(N, OH, OW, C_, KH, KW).transpose(0, 3, 4, 5, 1, 2)
    xp = np.zeros((N, C_, H + 2 * pad, W + 2 * pad))
    for i in range(KH):
        for j in range(KW):
            xp[:, :, i: i + stride * OH: stride, j: j + stride * OW: stride] = c6[:, :, i, j]  # overwrites overlaps
    return xp[:, :, pad: pad + H, pad: pad + W].copy()


def conv_backward_overwrite(x, W, b, stride, pad, dy):
    x, W, dy = (np.asarray(v, dtype=np.float64) for v in (x, W, dy))
    N, F, KH, KW = x.shape[0], W.shape[0], W.shape[2], W.shape[3]
    OH, OW = dy.shape[2], dy.shape[3]
    dcol = dy.transpose(0, 2, 3, 1).reshape(N * OH * OW, F)
    cols = ref.im2col(x, KH, KW, stride, pad)
    return (col2im_overwrite(dcol @ W.reshape(F, -1), x.shape, KH, KW, stride, pad),
            (dcol.T @ cols).reshape(W.shape), dy.sum(axis=(0, 2, 3)))


C.mutant("conv2d_col2im_overwrites_overlaps", "conv2d", "col2im assigns instead of adding, losing gradient where windows overlap (stride < kernel)",
         col2im=col2im_overwrite, conv2d_backward=conv_backward_overwrite)
C.mutant("conv2d_bias_grad_averaged", "conv2d", "conv2d_backward averages db over batch and positions instead of summing",
         conv2d_backward=lambda x, W, b, stride, pad, dy: ref.conv2d_backward(x, W, b, stride, pad, dy)[:2] + (np.asarray(dy).mean(axis=(0, 2, 3)),))


def conv2d_bias_terms(s, key, out):
    y = out.get("forward")
    if key != "db":
        return None
    return int(y.shape[0] * y.shape[2] * y.shape[3]) if isinstance(y, np.ndarray) else None


C.bias_sum("conv2d", conv2d_bias_terms, "the batch and positions")
