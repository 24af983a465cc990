r"""Elementwise activations and softmax.

Each differentiable op is a pair of pure functions, ``<op>_forward(x)`` and
``<op>_backward(x, dy)``; the backward takes the forward's arguments followed by
the upstream gradient and returns the vector-Jacobian product.
"""
from __future__ import annotations

import math

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


#: float64 roundings of the GELU constants (each within half an ulp of the exact value)
SQRT1_2 = 0.7071067811865476  # 1/√2
INV_SQRT_2PI = 0.3989422804014327  # 1/√(2π)
SQRT_2_OVER_PI = 0.7978845608028654  # √(2/π)
GELU_TANH_COEFF = 0.044715  # the cubic coefficient of the tanh approximation

erf = np.vectorize(math.erf, otypes=[np.float64])
erf.__doc__ = "The error function, element-wise (the C library's erf, through :func:`math.erf`)."


def gelu_forward(x):
    r"""Gaussian error linear unit, the exact (erf) form.

    .. math:: \mathrm{gelu}(x) = x\,\Phi(x) = \tfrac12 x\,\bigl(1 + \mathrm{erf}(x/\sqrt2)\bigr)

    Shapes
    ------
    x : any shape. Returns the same shape.
    """
    x = as_float_array("x", x)
    return 0.5 * x * (1.0 + erf(x * SQRT1_2))


def gelu_backward(x, dy):
    r""":math:`\partial L/\partial x = dy \cdot (\Phi(x) + x\,\varphi(x))`, with
    :math:`\Phi(x) = \tfrac12(1 + \mathrm{erf}(x/\sqrt2))` and :math:`\varphi(x) = e^{-x^2/2}/\sqrt{2\pi}`.

    Shapes
    ------
    x, dy : same shape. Returns dx of that shape.
    """
    x = as_float_array("x", x)
    dy = upstream(dy, x.shape)
    cdf = 0.5 * (1.0 + erf(x * SQRT1_2))
    with np.errstate(over="ignore"):  # x² = inf for |x| > 1.3e154: e^−inf = 0, the true value
        pdf = np.exp(-0.5 * x * x) * INV_SQRT_2PI
    return dy * (cdf + x * pdf)


def gelu_tanh_forward(x):
    r"""GELU by its tanh approximation (Hendrycks and Gimpel; PyTorch's ``approximate="tanh"``).

    .. math:: \mathrm{gelu\_tanh}(x) = \tfrac12 x\,\bigl(1 + \tanh u\bigr),\quad
              u = \sqrt{2/\pi}\,(x + 0.044715\,x^3)

    Shapes
    ------
    x : any shape. Returns the same shape.
    """
    x = as_float_array("x", x)
    with np.errstate(over="ignore"):  # x³ = ±inf for |x| > 5.6e102: tanh(±inf) = ±1, the true limit
        u = SQRT_2_OVER_PI * (x + GELU_TANH_COEFF * (x * x * x))
    return 0.5 * x * (1.0 + np.tanh(u))


def gelu_tanh_backward(x, dy):
    r""":math:`\partial L/\partial x = dy \cdot \bigl(\tfrac12(1 + \tanh u)
    + \tfrac12 x\,(1 - \tanh^2 u)\,\sqrt{2/\pi}\,(1 + 3 \cdot 0.044715\,x^2)\bigr)`,
    :math:`u = \sqrt{2/\pi}\,(x + 0.044715\,x^3)`.

    Where :math:`1 - \tanh^2 u` is 0 in float64 (:math:`|u| > 19`) the second term is 0, also when
    :math:`x^2` overflows.

    Shapes
    ------
    x, dy : same shape. Returns dx of that shape.
    """
    x = as_float_array("x", x)
    dy = upstream(dy, x.shape)
    with np.errstate(over="ignore", invalid="ignore"):  # only where 1 − tanh² u = 0, replaced by 0 below
        x2 = x * x
        t = np.tanh(SQRT_2_OVER_PI * (x + GELU_TANH_COEFF * (x2 * x)))
        sech2 = 1.0 - t * t
        slope = 0.5 * x * sech2 * (SQRT_2_OVER_PI * (1.0 + 3.0 * GELU_TANH_COEFF * x2))
    return dy * (0.5 * (1.0 + t) + np.where(sech2 > 0.0, slope, 0.0))
