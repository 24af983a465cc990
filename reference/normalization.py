r"""Batch normalisation in training mode (batch statistics, biased variance) and layer normalisation."""
from __future__ import annotations

import numpy as np

from ._validate import as_float_array, scalar, upstream


def _check_bn(x, gamma, beta, eps):
    x = as_float_array("x", x, ndim=(2, 4))
    gamma = as_float_array("gamma", gamma, ndim=1)
    beta = as_float_array("beta", beta, ndim=1)
    eps = scalar("eps", eps, low=0.0, low_open=True)
    D = x.shape[1]
    for name, p in (("gamma", gamma), ("beta", beta)):
        if p.shape != (D,):
            kind = "(D,) per feature" if x.ndim == 2 else "(C,) per channel"
            raise ValueError(f"batchnorm: {name} must have shape {kind} = ({D},) for x {x.shape}, got {p.shape}")
    axes = (0,) if x.ndim == 2 else (0, 2, 3)
    m = int(np.prod([x.shape[a] for a in axes]))
    if m < 2:
        raise ValueError(
            f"batchnorm: batch statistics need at least 2 values per normalised group (N·H·W >= 2), got x {x.shape}"
        )
    shape = (1, D) if x.ndim == 2 else (1, D, 1, 1)
    return x, gamma.reshape(shape), beta.reshape(shape), eps, axes, m


def standardise(x, eps, axes):
    r"""(:math:`\hat x`, :math:`1/\sqrt{\sigma^2+\epsilon}`) per group, without overflow for any finite x.

    The statistics are computed on :math:`x/s` with :math:`s = 2^k \le \max|x| < 2s` per group (and
    :math:`s = 1` when :math:`\max|x| < 2`): scaling by a power of two is exact, so the result agrees with
    the plain formula to rounding wherever that one does not overflow, and stays finite up to
    :math:`|x| \approx 10^{308}`, constant groups included.
    """
    big = np.max(np.abs(x), axis=axes, keepdims=True)
    k = np.frexp(np.maximum(big, 1.0))[1] - 1  # s = 2^k
    xs = np.ldexp(x, -k)
    xc = xs - xs.mean(axis=axes, keepdims=True)
    # A constant group has x̂ = 0 and 1/sqrt(eps) exactly. Any other group with s > 1 has a spread of at
    # least one ulp of max|x|, so its variance dwarfs eps/s² and the underflow of eps/s² is harmless.
    # (compared on the raw values: the rounded mean of a constant group need not equal its value, e.g. N = 6)
    first = x[tuple(slice(0, 1) if a in axes else slice(None) for a in range(x.ndim))]
    const = np.all(x == first, axis=axes, keepdims=True)
    with np.errstate(under="ignore"):
        eps_s = np.ldexp(eps, -2 * k)
    r = np.where(const, 1.0, np.sqrt(np.mean(xc * xc, axis=axes, keepdims=True) + eps_s))
    return np.where(const, 0.0, xc / r), np.where(const, 1.0 / np.sqrt(eps), np.ldexp(1.0 / r, -k))


def standardise_backward(dxhat, xhat, inv_std, axes, m):
    r""":math:`\partial x` from :math:`\partial\hat x` through :func:`standardise` over ``axes`` (m elements per
    group): :math:`\frac{1}{m\sqrt{\sigma^2+\epsilon}}\,(m\,\partial\hat x - \sum\partial\hat x
    - \hat x\sum\partial\hat x\,\hat x)`, the sums over each group (batchnorm's and layernorm's backward)."""
    return (inv_std / m) * (
        m * dxhat - dxhat.sum(axis=axes, keepdims=True) - xhat * np.sum(dxhat * xhat, axis=axes, keepdims=True)
    )


def batchnorm_forward(x, gamma, beta, eps=1e-5):
    r"""Training-mode batch normalisation.

    .. math:: \mu = \frac1m\sum x,\quad \sigma^2 = \frac1m\sum (x-\mu)^2,\quad
              \hat x = \frac{x-\mu}{\sqrt{\sigma^2+\epsilon}},\quad y = \gamma\hat x + \beta

    The statistics run over the batch for (N, D) input and over batch and space
    for (N, C, H, W) input; m is the number of values per feature/channel.

    Shapes
    ------
    x : (N, D) or (N, C, H, W); gamma, beta : (D,) or (C,); eps > 0.
    Returns y with the shape of x.
    """
    x, gamma, beta, eps, axes, m = _check_bn(x, gamma, beta, eps)
    xhat, _ = standardise(x, eps, axes)
    return gamma * xhat + beta


def batchnorm_backward(x, gamma, beta, eps, dy):
    r"""VJP of training-mode batch normalisation.

    .. math:: d\hat x = dy\,\gamma,\quad
              dx = \frac{1}{m\sqrt{\sigma^2+\epsilon}}\Big(m\,d\hat x - \sum d\hat x
                   - \hat x \sum d\hat x\,\hat x\Big),\quad
              d\gamma = \sum dy\,\hat x,\quad d\beta = \sum dy

    Shapes
    ------
    x, dy : (N, D) or (N, C, H, W); gamma, beta : (D,) or (C,).
    Returns (dx like x, dgamma (D,), dbeta (D,)).
    """
    x, gamma, beta, eps, axes, m = _check_bn(x, gamma, beta, eps)
    dy = upstream(dy, x.shape)
    xhat, inv_std = standardise(x, eps, axes)
    dxhat = dy * gamma
    dx = standardise_backward(dxhat, xhat, inv_std, axes, m)
    return dx, np.sum(dy * xhat, axis=axes), dy.sum(axis=axes)


def _check_ln(x, gamma, beta, eps):
    x = as_float_array("x", x)
    gamma = as_float_array("gamma", gamma)
    beta = as_float_array("beta", beta)
    eps = scalar("eps", eps, low=0.0, low_open=True)
    k = gamma.ndim
    if not 1 <= k <= x.ndim:
        raise ValueError(f"layernorm: gamma must have 1 to x.ndim = {x.ndim} dimensions (it names the normalised "
                         f"trailing axes), got gamma {gamma.shape} for x {x.shape}")
    if gamma.shape != x.shape[x.ndim - k:]:
        raise ValueError(f"layernorm: gamma must have the shape of the last {k} axes of x, x.shape[-{k}:] = "
                         f"{x.shape[x.ndim - k:]}, got gamma {gamma.shape} for x {x.shape}")
    if beta.shape != gamma.shape:
        raise ValueError(f"layernorm: beta must have the shape of gamma {gamma.shape}, got beta {beta.shape}")
    if gamma.size < 1:
        raise ValueError(f"layernorm: the normalised group must hold at least 1 value, got gamma {gamma.shape}")
    axes = tuple(range(x.ndim - k, x.ndim))
    return x, gamma, beta, eps, axes, int(gamma.size)


def layernorm_forward(x, gamma, beta, eps=1e-5):
    r"""Layer normalisation over the last k = gamma.ndim axes of x.

    .. math:: \mu = \frac1m\sum x,\quad \sigma^2 = \frac1m\sum (x-\mu)^2,\quad
              \hat x = \frac{x-\mu}{\sqrt{\sigma^2+\epsilon}},\quad y = \gamma\hat x + \beta

    The statistics run over the last k axes of each sample (m = their product, biased variance, eps inside
    the square root); gamma and beta are per element of those axes and broadcast over the leading ones.

    Shapes
    ------
    x : any shape with x.ndim >= k; gamma, beta : x.shape[-k:]; eps > 0.
    Returns y with the shape of x.
    """
    x, gamma, beta, eps, axes, m = _check_ln(x, gamma, beta, eps)
    xhat, _ = standardise(x, eps, axes)
    return gamma * xhat + beta


def layernorm_backward(x, gamma, beta, eps, dy):
    r"""VJP of layer normalisation over the last k = gamma.ndim axes.

    .. math:: d\hat x = dy\,\gamma,\quad
              dx = \frac{1}{m\sqrt{\sigma^2+\epsilon}}\Big(m\,d\hat x - \sum d\hat x
                   - \hat x \sum d\hat x\,\hat x\Big),\quad
              d\gamma = \sum_{\text{lead}} dy\,\hat x,\quad d\beta = \sum_{\text{lead}} dy

    The sums in dx run over the normalised (last k) axes of each sample; those of dgamma and dbeta over
    every leading axis (all but the last k).

    Shapes
    ------
    x, dy : the same shape; gamma, beta : x.shape[-k:].
    Returns (dx like x, dgamma like gamma, dbeta like beta).
    """
    x, gamma, beta, eps, axes, m = _check_ln(x, gamma, beta, eps)
    dy = upstream(dy, x.shape)
    xhat, inv_std = standardise(x, eps, axes)
    dxhat = dy * gamma
    dx = standardise_backward(dxhat, xhat, inv_std, axes, m)
    lead = tuple(range(x.ndim - len(axes)))
    return dx, np.sum(dy * xhat, axis=lead), dy.sum(axis=lead)
