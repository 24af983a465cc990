r"""2-D convolution (cross-correlation) via im2col, NCHW layout, zero padding.

``im2col`` unfolds every receptive field into a row; ``col2im`` is its adjoint
(it scatters rows back and *adds* where windows overlap). The convolution is
then one matrix product, and its backward is two matrix products and a
``col2im``.
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ._validate import as_float_array, scalar, upstream


def output_size(size: int, kernel: int, stride: int, pad: int) -> int:
    """Number of window positions along one axis: (size + 2·pad − kernel)//stride + 1."""
    return (size + 2 * pad - kernel) // stride + 1


def check_window(op: str, H: int, W: int, KH: int, KW: int, stride, pad):
    """Validate stride and pad and that the kernel fits the padded input.

    Returns (stride, pad, OH, OW) as ints.
    """
    stride = scalar("stride", stride, low=1, integer=True)
    pad = scalar("pad", pad, low=0, integer=True)
    if KH < 1 or KW < 1:
        raise ValueError(f"{op}: kernel must be at least 1x1, got {KH}x{KW}")
    if KH > H + 2 * pad or KW > W + 2 * pad:
        raise ValueError(
            f"{op}: kernel larger than the padded input: kernel {KH}x{KW}, input {H}x{W} with pad {pad} "
            f"(padded {H + 2 * pad}x{W + 2 * pad})"
        )
    return stride, pad, output_size(H, KH, stride, pad), output_size(W, KW, stride, pad)


def im2col(x, KH: int, KW: int, stride: int, pad: int, fill: float = 0.0):
    r"""Unfold the receptive fields of ``x`` into rows.

    Row ``(n, i, j)`` holds the window whose top-left corner is at
    ``(i·stride − pad, j·stride − pad)``, flattened in (c, kh, kw) order.

    Shapes
    ------
    x : (N, C, H, W)
    Returns cols : (N·OH·OW, C·KH·KW)
    """
    x = as_float_array("x", x, ndim=4)
    N, C, H, W = x.shape
    stride, pad, OH, OW = check_window("im2col", H, W, KH, KW, stride, pad)
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), constant_values=fill)
    win = sliding_window_view(xp, (KH, KW), axis=(2, 3))[:, :, ::stride, ::stride][:, :, :OH, :OW]
    # win: (N, C, OH, OW, KH, KW) -> (N, OH, OW, C, KH, KW)
    return np.ascontiguousarray(win.transpose(0, 2, 3, 1, 4, 5)).reshape(N * OH * OW, C * KH * KW)


def col2im(cols, x_shape, KH: int, KW: int, stride: int, pad: int):
    r"""Adjoint of :func:`im2col`: scatter rows back and sum where windows overlap.

    :math:`\langle \mathrm{im2col}(x), c\rangle = \langle x, \mathrm{col2im}(c)\rangle`.
    Contributions that land in the padding are discarded.

    Shapes
    ------
    cols : (N·OH·OW, C·KH·KW); x_shape : (N, C, H, W)
    Returns x : (N, C, H, W)
    """
    N, C, H, W = (int(s) for s in x_shape)
    stride, pad, OH, OW = check_window("col2im", H, W, KH, KW, stride, pad)
    cols = as_float_array("cols", cols, ndim=2)
    if cols.shape != (N * OH * OW, C * KH * KW):
        raise ValueError(
            f"col2im: cols must have shape (N·OH·OW, C·KH·KW) = ({N * OH * OW}, {C * KH * KW}), got {cols.shape}"
        )
    c6 = cols.reshape(N, OH, OW, C, KH, KW).transpose(0, 3, 4, 5, 1, 2)  # (N, C, KH, KW, OH, OW)
    xp = np.zeros((N, C, H + 2 * pad, W + 2 * pad))
    # One vectorised accumulation per kernel offset: windows overlap, so the
    # adds must accumulate (a fancy-index assignment would drop overlaps).
    for i in range(KH):
        for j in range(KW):
            xp[:, :, i : i + stride * OH : stride, j : j + stride * OW : stride] += c6[:, :, i, j]
    return xp[:, :, pad : pad + H, pad : pad + W].copy()


def _check_conv(x, W, b, stride, pad):
    x = as_float_array("x", x, ndim=4)
    W = as_float_array("W", W, ndim=4)
    b = as_float_array("b", b, ndim=1)
    if W.shape[1] != x.shape[1]:
        raise ValueError(
            f"conv2d: W channels must equal x channels (W is (F, C, KH, KW), x is (N, C, H, W)), "
            f"got x {x.shape} and W {W.shape}"
        )
    if b.shape != (W.shape[0],):
        raise ValueError(f"conv2d: b must have shape (F,) = ({W.shape[0]},) to match W {W.shape}, got {b.shape}")
    stride, pad, OH, OW = check_window("conv2d", x.shape[2], x.shape[3], W.shape[2], W.shape[3], stride, pad)
    return x, W, b, stride, pad, OH, OW


def conv2d_forward(x, W, b, stride=1, pad=0):
    r"""Cross-correlation with zero padding.

    .. math:: y_{nfij} = b_f + \sum_{c,k,l} W_{fckl}\, x^{pad}_{n,c,\,i s + k,\, j s + l}

    Shapes
    ------
    x : (N, C, H, W)
    W : (F, C, KH, KW)
    b : (F,)
    Returns y : (N, F, OH, OW), OH = (H + 2·pad − KH)//stride + 1 (likewise OW).
    """
    x, W, b, stride, pad, OH, OW = _check_conv(x, W, b, stride, pad)
    N, F = x.shape[0], W.shape[0]
    cols = im2col(x, W.shape[2], W.shape[3], stride, pad)
    y = cols @ W.reshape(F, -1).T + b  # (N·OH·OW, F)
    return np.ascontiguousarray(y.reshape(N, OH, OW, F).transpose(0, 3, 1, 2))


def conv2d_backward(x, W, b, stride, pad, dy):
    r"""VJP of :func:`conv2d_forward`.

    .. math:: dW = dY_{col}^\top\,\mathrm{im2col}(x),\quad db_f = \sum_{n,i,j} dy_{nfij},
              \quad dx = \mathrm{col2im}(dY_{col}\, W_{mat})

    Shapes
    ------
    x : (N, C, H, W), W : (F, C, KH, KW), b : (F,), dy : (N, F, OH, OW)
    Returns (dx (N, C, H, W), dW (F, C, KH, KW), db (F,))
    """
    x, W, b, stride, pad, OH, OW = _check_conv(x, W, b, stride, pad)
    N, F, KH, KW = x.shape[0], W.shape[0], W.shape[2], W.shape[3]
    dy = upstream(dy, (N, F, OH, OW))
    dcol = dy.transpose(0, 2, 3, 1).reshape(N * OH * OW, F)
    cols = im2col(x, KH, KW, stride, pad)
    dW = (dcol.T @ cols).reshape(W.shape)
    db = dy.sum(axis=(0, 2, 3))
    dx = col2im(dcol @ W.reshape(F, -1), x.shape, KH, KW, stride, pad)
    return dx, dW, db
