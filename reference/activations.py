r"""Elementwise activations and softmax.

Each differentiable op is a pair of pure functions, ``<op>_forward(x)`` and
``<op>_backward(x, dy)``; the backward takes the forward's arguments followed by
the upstream gradient and returns the vector-Jacobian product.
"""
from __future__ import annotations

import numpy as np

from ._validate import as_float_array, scalar, upstream


def sigmoid_forward(x):
    r"""Logistic sigmoid, evaluated without overflow.

    .. math:: \sigma(x) = \frac{1}{1 + e^{-x}}

    Computed from :math:`e^{-|x|} \in (0, 1]`, so :math:`\sigma(\pm 1000)` is
    finite (exactly 1, and 0 by underflow).

    Shapes
    ------
    x : any shape. Returns the same shape.
    """
    x = as_float_array("x", x)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def sigmoid_backward(x, dy):
    r""":math:`\partial L/\partial x = dy \cdot \sigma(x)(1 - \sigma(x))`.

    Shapes
    ------
    x, dy : same shape. Returns dx of that shape.
    """
    s = sigmoid_forward(x)
    dy = upstream(dy, s.shape)
    return dy * s * (1.0 - s)


def tanh_forward(x):
    r"""Hyperbolic tangent.

    Shapes
    ------
    x : any shape. Returns the same shape.
    """
    return np.tanh(as_float_array("x", x))


def tanh_backward(x, dy):
    r""":math:`\partial L/\partial x = dy \cdot (1 - \tanh^2 x)`.

    Shapes
    ------
    x, dy : same shape. Returns dx of that shape.
    """
    t = tanh_forward(x)
    dy = upstream(dy, t.shape)
    return dy * (1.0 - t * t)


def relu_forward(x):
    r"""Rectified linear unit, :math:`\max(x, 0)`.

    Shapes
    ------
    x : any shape. Returns the same shape.
    """
    x = as_float_array("x", x)
    return np.maximum(x, 0.0)


def relu_backward(x, dy):
    r""":math:`\partial L/\partial x = dy \cdot [x > 0]`.

    Convention at the kink: relu'(0) = 0 (the subgradient PyTorch and JAX use).

    Shapes
    ------
    x, dy : same shape. Returns dx of that shape.
    """
    x = as_float_array("x", x)
    dy = upstream(dy, x.shape)
    return np.where(x > 0, dy, 0.0)


def leaky_relu_forward(x, alpha):
    r"""Leaky rectified linear unit: :math:`x` where :math:`x > 0`, else :math:`\alpha x`.

    ``alpha`` is the slope for negative inputs, :math:`0 \le \alpha < 1`
    (``alpha = 0`` is relu).

    Shapes
    ------
    x : any shape. Returns the same shape.
    """
    x = as_float_array("x", x)
    alpha = scalar("leaky_relu: alpha", alpha, low=0.0, high=1.0, high_open=True)
    return np.where(x > 0, x, alpha * x)


def leaky_relu_backward(x, alpha, dy):
    r""":math:`\partial L/\partial x = dy \cdot (1 \text{ if } x > 0 \text{ else } \alpha)`.

    Convention at the kink: leaky_relu'(0) = alpha, the left slope (as PyTorch's
    ``leaky_relu`` backward), so that ``alpha = 0`` gives relu'(0) = 0.

    Shapes
    ------
    x, dy : same shape. Returns dx of that shape.
    """
    x = as_float_array("x", x)
    alpha = scalar("leaky_relu: alpha", alpha, low=0.0, high=1.0, high_open=True)
    dy = upstream(dy, x.shape)
    return np.where(x > 0, dy, alpha * dy)


def step_forward(x):
    r"""Heaviside step of the perceptron: 1.0 where x > 0, else 0.0 (so step(0) = 0).

    Not differentiable: its derivative is 0 almost everywhere, which is why the
    perceptron uses its own learning rule instead of backpropagation.

    Shapes
    ------
    x : any shape. Returns the same shape.
    """
    x = as_float_array("x", x)
    return (x > 0).astype(np.float64)


def softmax_forward(x):
    r"""Softmax over the last axis, shifted by the row maximum for stability.

    .. math:: y_i = \frac{e^{x_i - m}}{\sum_j e^{x_j - m}},\quad m = \max_j x_j

    Shapes
    ------
    x : (..., K) with K >= 1. Returns the same shape; each row sums to 1.
    """
    x = as_float_array("x", x)
    if x.ndim < 1 or x.shape[-1] < 1:
        raise ValueError(f"softmax needs at least one class on the last axis, got shape {x.shape}")
    with np.errstate(over="ignore"):  # x − max < −1.8e308 rounds to −inf, and e^−inf = 0 is the true value
        e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def softmax_backward(x, dy):
    r"""VJP of softmax: :math:`dx = y \odot (dy - \langle dy, y\rangle)` per row.

    Shapes
    ------
    x, dy : (..., K). Returns dx of that shape; each row of dx sums to 0.
    """
    y = softmax_forward(x)
    dy = upstream(dy, y.shape)
    return y * (dy - np.sum(dy * y, axis=-1, keepdims=True))
