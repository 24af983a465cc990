r"""The affine (fully connected) layer in the row layout: ``out = x @ W + b``."""
from __future__ import annotations


from ._validate import as_float_array, upstream


def _check(x, W, b):
    x = as_float_array("x", x, ndim=2)
    W = as_float_array("W", W, ndim=2)
    b = as_float_array("b", b, ndim=1)
    if W.shape[0] != x.shape[1]:
        raise ValueError(
            f"affine: W rows must equal x columns (W is (D, M), x is (N, D)), got x {x.shape} and W {W.shape}"
        )
    if b.shape != (W.shape[1],):
        raise ValueError(f"affine: b must have shape (M,) = ({W.shape[1]},) to match W {W.shape}, got {b.shape}")
    return x, W, b


def affine_forward(x, W, b):
    r"""Affine map :math:`\text{out}_{nm} = \sum_d x_{nd} W_{dm} + b_m`.

    Shapes
    ------
    x : (N, D)
    W : (D, M)
    b : (M,)
    Returns out : (N, M)
    """
    x, W, b = _check(x, W, b)
    return x @ W + b


def affine_backward(x, W, b, dy):
    r"""VJP of the affine map.

    .. math:: dx = dy\,W^\top,\qquad dW = x^\top dy,\qquad db = \sum_n dy_{n\cdot}

    Shapes
    ------
    x : (N, D), W : (D, M), b : (M,), dy : (N, M)
    Returns (dx (N, D), dW (D, M), db (M,))
    """
    x, W, b = _check(x, W, b)
    dy = upstream(dy, (x.shape[0], W.shape[1]))
    return dy @ W.T, x.T @ dy, dy.sum(axis=0)
