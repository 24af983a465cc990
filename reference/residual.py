r"""The residual block: ``y = x + relu(x W1 + b1) W2 + b2`` (an identity path beside a two-layer branch)."""
from __future__ import annotations

import numpy as np

from ._validate import as_float_array, upstream


def _check(x, W1, b1, W2, b2):
    x = as_float_array("x", x, ndim=2)
    W1 = as_float_array("W1", W1, ndim=2)
    b1 = as_float_array("b1", b1, ndim=1)
    W2 = as_float_array("W2", W2, ndim=2)
    b2 = as_float_array("b2", b2, ndim=1)
    D, H = W1.shape
    if x.shape[1] != D:
        raise ValueError(f"residual: W1 rows must equal x columns (W1 is (D, H), x is (N, D)), "
                         f"got x {x.shape} and W1 {W1.shape}")
    if b1.shape != (H,):
        raise ValueError(f"residual: b1 must have shape (H,) = ({H},) to match W1 {W1.shape}, got {b1.shape}")
    if W2.shape != (H, D):
        raise ValueError(f"residual: W2 must have shape (H, D) = ({H}, {D}) so that the branch's output adds to x, "
                         f"got {W2.shape}")
    if b2.shape != (D,):
        raise ValueError(f"residual: b2 must have shape (D,) = ({D},) to match x {x.shape}, got {b2.shape}")
    return x, W1, b1, W2, b2


def residual_forward(x, W1, b1, W2, b2):
    r"""Residual block :math:`y = x + \mathrm{relu}(x W_1 + b_1)\,W_2 + b_2`.

    Shapes
    ------
    x : (N, D), W1 : (D, H), b1 : (H,), W2 : (H, D), b2 : (D,)
    Returns y : (N, D)
    """
    x, W1, b1, W2, b2 = _check(x, W1, b1, W2, b2)
    h = x @ W1 + b1
    return x + (np.maximum(h, 0.0) @ W2 + b2)


def residual_backward(x, W1, b1, W2, b2, dy):
    r"""VJP of the residual block, with :math:`h = x W_1 + b_1`, :math:`a = \mathrm{relu}(h)`:

    .. math::
        dW_2 = a^\top dy,\quad db_2 = \textstyle\sum_n dy_{n\cdot},\quad
        dh = (dy\,W_2^\top) \odot [h > 0],\quad
        dW_1 = x^\top dh,\quad db_1 = \textstyle\sum_n dh_{n\cdot},\quad
        dx = dy + dh\,W_1^\top

    The identity path passes dy to x unchanged: ``dx`` is ``dy`` plus the branch's ``dh W1ᵀ``, added once.
    relu'(0) = 0: a unit whose pre-activation h is exactly 0 passes no gradient.

    Shapes
    ------
    x : (N, D), W1 : (D, H), b1 : (H,), W2 : (H, D), b2 : (D,), dy : (N, D)
    Returns (dx (N, D), dW1 (D, H), db1 (H,), dW2 (H, D), db2 (D,))
    """
    x, W1, b1, W2, b2 = _check(x, W1, b1, W2, b2)
    dy = upstream(dy, x.shape)
    h = x @ W1 + b1
    a = np.maximum(h, 0.0)
    dh = (dy @ W2.T) * (h > 0)
    return dy + dh @ W1.T, x.T @ dh, dh.sum(axis=0), a.T @ dy, dy.sum(axis=0)
