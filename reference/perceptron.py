r"""Rosenblatt's perceptron and its learning rule."""
from __future__ import annotations

import numpy as np

from ._validate import as_float_array, scalar
from .activations import step_forward


def perceptron_predict(w, b, x):
    r""":math:`y = \text{step}(w\cdot x + b)` for one example (D,) or a batch (N, D)."""
    w = as_float_array("w", w, ndim=1)
    x = as_float_array("x", x, ndim=(1, 2))
    if x.shape[-1] != w.shape[0]:
        raise ValueError(f"perceptron: x must have D = {w.shape[0]} features to match w {w.shape}, got x {x.shape}")
    return step_forward(x @ w + scalar("b", b))


def perceptron_update(w, b, x, t, lr):
    r"""One step of the perceptron rule on one example.

    .. math:: y = \text{step}(w\cdot x + b),\quad w \leftarrow w + \eta (t - y) x,\quad
              b \leftarrow b + \eta (t - y)

    Shapes
    ------
    w : (D,), b : scalar, x : (D,), t in {0, 1}. Returns (w_new (D,), b_new float).
    """
    w = as_float_array("w", w, ndim=1)
    x = as_float_array("x", x, ndim=1)
    b = scalar("b", b)
    t = scalar("t", t)
    if t not in (0.0, 1.0):
        raise ValueError(f"perceptron: target t must be 0 or 1, got {t!r}")
    lr = scalar("lr", lr, low=0.0, low_open=True)
    y = float(perceptron_predict(w, b, x))
    return w + lr * (t - y) * x, b + lr * (t - y)


def perceptron_train(X, T, lr=1.0, epochs=100, w=None, b=0.0):
    """Run the rule over the rows of X for up to ``epochs`` passes; stop at a pass with no mistake.

    Returns (w, b, converged).
    """
    X = as_float_array("X", X, ndim=2)
    T = as_float_array("T", T, ndim=1)
    if T.shape[0] != X.shape[0]:
        raise ValueError(f"perceptron: T must have one target per row of X ({X.shape[0]}), got {T.shape}")
    w = np.zeros(X.shape[1]) if w is None else as_float_array("w", w, ndim=1)
    for _ in range(int(epochs)):
        mistakes = 0
        for x, t in zip(X, T):
            w_new, b_new = perceptron_update(w, b, x, t, lr)
            mistakes += int(b_new != b or np.any(w_new != w))
            w, b = w_new, b_new
        if mistakes == 0:
            return w, b, True
    return w, b, False
