r"""Max and average pooling over square windows, NCHW layout.

Conventions (also in the op registry):

* max pool: padding never wins (it is -inf); a tie sends the whole upstream
  gradient to the *first* maximum in row-major window order.
* avg pool: zero padding counts in the divisor, which is always kernel².
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ._validate import as_float_array, scalar, upstream
from .conv import check_window


def check_pool(op, x, kernel, stride, pad):
    x = as_float_array("x", x, ndim=4)
    kernel = scalar("kernel", kernel, low=1, integer=True)
    stride, pad, OH, OW = check_window(op, x.shape[2], x.shape[3], kernel, kernel, stride, pad)
    if pad > kernel // 2:
        raise ValueError(f"{op}: pad must be <= kernel//2 (so every window holds a real element), got pad {pad} for kernel {kernel}")
    return x, kernel, stride, pad, OH, OW


def window_view(x, kernel, stride, pad, OH, OW, fill):
    """(N, C, OH, OW, kernel·kernel) view of the windows, row-major inside each."""
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), constant_values=fill)
    win = sliding_window_view(xp, (kernel, kernel), axis=(2, 3))[:, :, ::stride, ::stride][:, :, :OH, :OW]
    return win.reshape(*win.shape[:4], kernel * kernel)


def scatter_windows(windows_grad, x_shape, kernel, stride, pad, OH, OW):
    """Add per-window gradients (N, C, OH, OW, k, k) back onto the input grid."""
    N, C, H, W = x_shape
    gp = np.zeros((N, C, H + 2 * pad, W + 2 * pad))
    for i in range(kernel):
        for j in range(kernel):
            gp[:, :, i : i + stride * OH : stride, j : j + stride * OW : stride] += windows_grad[..., i, j]
    return gp[:, :, pad : pad + H, pad : pad + W].copy()


def max_pool2d_forward(x, kernel, stride=None, pad=0):
    r"""Max pooling, :math:`y_{ncij} = \max_{(k,l)\in\text{window}(i,j)} x_{nckl}`.

    ``stride`` defaults to ``kernel``. Padding is -inf, so it never wins;
    ``pad <= kernel//2`` guarantees every window holds a real element.

    Shapes
    ------
    x : (N, C, H, W). Returns y : (N, C, OH, OW), OH = (H + 2·pad − kernel)//stride + 1.
    """
    stride = kernel if stride is None else stride
    x, kernel, stride, pad, OH, OW = check_pool("max_pool2d", x, kernel, stride, pad)
    return window_view(x, kernel, stride, pad, OH, OW, -np.inf).max(axis=-1)


def max_pool2d_backward(x, kernel, stride, pad, dy):
    r"""Route each window's upstream gradient to its maximum.

    Ties go to the first maximum in row-major window order (``np.argmax``);
    overlapping windows add their contributions.

    Shapes
    ------
    x : (N, C, H, W), dy : (N, C, OH, OW). Returns dx : (N, C, H, W).
    """
    stride = kernel if stride is None else stride
    x, kernel, stride, pad, OH, OW = check_pool("max_pool2d", x, kernel, stride, pad)
    dy = upstream(dy, (x.shape[0], x.shape[1], OH, OW))
    win = window_view(x, kernel, stride, pad, OH, OW, -np.inf)
    onehot = np.arange(kernel * kernel) == win.argmax(axis=-1)[..., None]
    g = (onehot * dy[..., None]).reshape(*dy.shape, kernel, kernel)
    return scatter_windows(g, x.shape, kernel, stride, pad, OH, OW)


def avg_pool2d_forward(x, kernel, stride=None, pad=0):
    r"""Average pooling with zero padding counted: :math:`y = \frac{1}{k^2}\sum_{\text{window}} x^{pad}`.

    Shapes
    ------
    x : (N, C, H, W). Returns y : (N, C, OH, OW).
    """
    stride = kernel if stride is None else stride
    x, kernel, stride, pad, OH, OW = check_pool("avg_pool2d", x, kernel, stride, pad)
    return window_view(x, kernel, stride, pad, OH, OW, 0.0).sum(axis=-1) / (kernel * kernel)


def avg_pool2d_backward(x, kernel, stride, pad, dy):
    r"""Spread each window's upstream gradient evenly, dy/kernel², over the window.

    Shapes
    ------
    x : (N, C, H, W), dy : (N, C, OH, OW). Returns dx : (N, C, H, W).
    """
    stride = kernel if stride is None else stride
    x, kernel, stride, pad, OH, OW = check_pool("avg_pool2d", x, kernel, stride, pad)
    dy = upstream(dy, (x.shape[0], x.shape[1], OH, OW))
    g = np.broadcast_to((dy / (kernel * kernel))[..., None, None], (*dy.shape, kernel, kernel))
    return scatter_windows(g, x.shape, kernel, stride, pad, OH, OW)
