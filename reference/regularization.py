r"""Dropout, the L2 weight penalty, and gradient clipping."""
from __future__ import annotations

import numpy as np

from ._validate import as_float_array, same_shape, scalar, upstream, upstream_scalar


def _check_dropout(x, mask, p):
    x = as_float_array("x", x)
    mask = as_float_array("mask", mask)
    same_shape("mask", mask, "x", x)
    if not np.all((mask == 0) | (mask == 1)):
        raise ValueError("dropout: mask must hold only 0 and 1 (1 = keep)")
    p = scalar("p", p, low=0.0, high=1.0, high_open=True)
    return x, mask, p


def dropout_forward(x, mask, p):
    r"""Inverted dropout with an explicit mask: :math:`y = x \odot m / (1 - p)`.

    ``p`` is the *drop* probability; ``mask`` holds 1 where a unit is kept.
    Dividing by the keep probability makes :math:`E[y] = x` when
    :math:`m \sim \text{Bernoulli}(1 - p)`, so nothing changes at test time.

    Shapes
    ------
    x, mask : same shape; p in [0, 1). Returns y of that shape.
    """
    x, mask, p = _check_dropout(x, mask, p)
    return x * mask / (1.0 - p)


def dropout_backward(x, mask, p, dy):
    r""":math:`dx = dy \odot m / (1 - p)` (the same mask as the forward).

    Shapes
    ------
    x, mask, dy : same shape. Returns dx of that shape.
    """
    x, mask, p = _check_dropout(x, mask, p)
    return upstream(dy, x.shape) * mask / (1.0 - p)


def dropout_mask(shape, p, rng):
    """Draw a keep-mask of 0/1 with keep probability 1 − p from the Generator ``rng``."""
    p = scalar("p", p, low=0.0, high=1.0, high_open=True)
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    return (rng.random(shape) >= p).astype(np.float64)


def l2_penalty_forward(W, lam):
    r"""Weight decay penalty :math:`\frac{\lambda}{2}\sum W^2` (a float).

    Shapes
    ------
    W : any shape; lam >= 0. Returns a float.
    """
    W = as_float_array("W", W)
    lam = scalar("lam", lam, low=0.0)
    return float(0.5 * lam * np.sum(W * W))


def l2_penalty_backward(W, lam, dy):
    r""":math:`dW = dy\,\lambda W`.

    Shapes
    ------
    W : any shape; dy : scalar. Returns dW of W's shape.
    """
    W = as_float_array("W", W)
    lam = scalar("lam", lam, low=0.0)
    return upstream_scalar(dy) * lam * W


def _grad_list(grads):
    if isinstance(grads, np.ndarray) or not hasattr(grads, "__iter__"):
        raise TypeError(f"grads must be a list of arrays, got {type(grads).__name__}")
    return [as_float_array(f"grads[{i}]", g) for i, g in enumerate(grads)]


def global_norm(grads) -> float:
    r"""Global L2 norm :math:`\sqrt{\sum_i \lVert g_i\rVert_2^2}` over all arrays, without overflow."""
    gs = _grad_list(grads)
    scale = max((float(np.max(np.abs(g))) for g in gs if g.size), default=0.0)
    if scale == 0.0:
        return 0.0
    return scale * float(np.sqrt(sum(float(np.sum((g / scale) ** 2)) for g in gs)))


def clip_grad_norm(grads, max_norm):
    r"""Rescale all gradients together so their global L2 norm is at most ``max_norm``.

    When :math:`\lVert g\rVert > \text{max\_norm}`, every array is multiplied by
    exactly :math:`\text{max\_norm}/\lVert g\rVert`; otherwise they are returned
    unchanged (as copies). The direction is kept.

    Shapes
    ------
    grads : list of arrays of any shapes. Returns a new list of the same shapes.
    """
    gs = _grad_list(grads)
    max_norm = scalar("max_norm", max_norm, low=0.0, low_open=True)
    norm = global_norm(gs)
    if norm > max_norm:
        return [g * (max_norm / norm) for g in gs]
    return [g.copy() for g in gs]


def clip_grad_value(grads, clip):
    r"""Clamp every gradient element to :math:`[-\text{clip}, \text{clip}]`.

    Shapes
    ------
    grads : list of arrays of any shapes. Returns a new list of the same shapes.
    """
    gs = _grad_list(grads)
    clip = scalar("clip", clip, low=0.0, low_open=True)
    return [np.clip(g, -clip, clip) for g in gs]
