r"""Losses: sum over the non-batch axes, mean over the batch (divide by N).

Every forward returns a Python float; every backward takes the forward's
arguments and the scalar upstream gradient ``dy`` and returns the gradient with
respect to the first argument only (targets and labels get no gradient).
"""
from __future__ import annotations

import numpy as np

from ._validate import as_float_array, labels as check_labels, nonempty_batch, same_shape, upstream_scalar
from .activations import sigmoid_forward, softmax_forward


def _pair(name_y, y, name_t, t):
    y = as_float_array(name_y, y, ndim=2)
    t = as_float_array(name_t, t, ndim=2)
    same_shape(name_y, y, name_t, t)
    nonempty_batch(name_y, y)
    return y, t


def mse_forward(y, t):
    r"""Quadratic cost :math:`C = \frac{1}{2N}\sum_{n,k} (y_{nk} - t_{nk})^2`.

    Shapes
    ------
    y, t : (N, K). Returns a float.
    """
    y, t = _pair("y", y, "t", t)
    r = y - t
    return float(0.5 * np.sum(r * r) / y.shape[0])


def mse_backward(y, t, dy):
    r""":math:`\partial C/\partial y = dy\,(y - t)/N`.

    Shapes
    ------
    y, t : (N, K); dy : scalar. Returns dy_grad : (N, K).
    """
    y, t = _pair("y", y, "t", t)
    return upstream_scalar(dy) * (y - t) / y.shape[0]


def _ce_inputs(p, t):
    p, t = _pair("p", p, "t", t)
    if np.any(p <= 0) or np.any(p > 1):
        raise ValueError(
            f"cross_entropy: p must be probabilities in (0, 1], got values in [{p.min():.6g}, {p.max():.6g}]"
        )
    if np.any(t < 0) or np.any(t > 1):
        raise ValueError(f"cross_entropy: t must lie in [0, 1], got values in [{t.min():.6g}, {t.max():.6g}]")
    return p, t


def cross_entropy_forward(p, t):
    r"""Cross-entropy of probabilities :math:`C = -\frac{1}{N}\sum_{n,k} t_{nk}\log p_{nk}`.

    ``p`` must be strictly positive (the loss is infinite at p = 0 where t > 0);
    ``t`` is one-hot (any values in [0, 1] are accepted).

    Shapes
    ------
    p, t : (N, K). Returns a float.
    """
    p, t = _ce_inputs(p, t)
    return float(-np.sum(t * np.log(p)) / p.shape[0])


def cross_entropy_backward(p, t, dy):
    r""":math:`\partial C/\partial p = -dy\,t/(N p)`.

    Shapes
    ------
    p, t : (N, K); dy : scalar. Returns dp : (N, K).
    """
    p, t = _ce_inputs(p, t)
    return -upstream_scalar(dy) * t / (p * p.shape[0])


def _sce_inputs(z, labels):
    z = as_float_array("z", z, ndim=2)
    nonempty_batch("z", z)
    if z.shape[1] < 1:
        raise ValueError(f"softmax_cross_entropy: z needs at least one class, got shape {z.shape}")
    return z, check_labels("labels", labels, z.shape[0], z.shape[1])


def softmax_cross_entropy_forward(z, labels):
    r"""Fused softmax and cross-entropy from logits, stable for logits of ±1000.

    .. math:: C = \frac{1}{N}\sum_n \Big(\log\sum_k e^{z_{nk}} - z_{n,y_n}\Big)

    evaluated as :math:`m_n + \log\sum_k e^{z_{nk} - m_n} - z_{n,y_n}` with
    :math:`m_n = \max_k z_{nk}`.

    Shapes
    ------
    z : (N, K) logits; labels : (N,) integers in [0, K). Returns a float.
    """
    z, labels = _sce_inputs(z, labels)
    m = z.max(axis=1)
    with np.errstate(over="ignore"):  # z − m < −1.8e308 rounds to −inf, and e^−inf = 0 is the true value
        lse = m + np.log(np.sum(np.exp(z - m[:, None]), axis=1))
    return float(np.sum(lse - z[np.arange(z.shape[0]), labels]) / z.shape[0])


def softmax_cross_entropy_backward(z, labels, dy):
    r""":math:`\partial C/\partial z = dy\,(\mathrm{softmax}(z) - \mathrm{onehot}(y))/N`.

    Shapes
    ------
    z : (N, K); labels : (N,); dy : scalar. Returns dz : (N, K).
    """
    z, labels = _sce_inputs(z, labels)
    g = softmax_forward(z)
    g[np.arange(z.shape[0]), labels] -= 1.0
    return upstream_scalar(dy) * g / z.shape[0]


def _bce_inputs(z, t):
    z, t = _pair("z", z, "t", t)
    if np.any(t < 0) or np.any(t > 1):
        raise ValueError(
            f"binary_cross_entropy: targets t must lie in [0, 1], got values in [{t.min():.6g}, {t.max():.6g}]"
        )
    return z, t


def binary_cross_entropy_forward(z, t):
    r"""Binary cross-entropy from logits, stable for logits of ±1000.

    .. math:: C = -\frac{1}{N}\sum_{n,k} t\log\sigma(z) + (1-t)\log(1-\sigma(z))
              = \frac{1}{N}\sum_{n,k} \max(z, 0) - z t + \log(1 + e^{-|z|})

    Shapes
    ------
    z : (N, K) logits; t : (N, K) targets in [0, 1]. Returns a float.
    """
    z, t = _bce_inputs(z, t)
    return float(np.sum(np.maximum(z, 0.0) - z * t + np.log1p(np.exp(-np.abs(z)))) / z.shape[0])


def binary_cross_entropy_backward(z, t, dy):
    r""":math:`\partial C/\partial z = dy\,(\sigma(z) - t)/N`.

    Shapes
    ------
    z, t : (N, K); dy : scalar. Returns dz : (N, K).
    """
    z, t = _bce_inputs(z, t)
    return upstream_scalar(dy) * (sigmoid_forward(z) - t) / z.shape[0]
