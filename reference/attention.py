r"""Scaled dot-product attention: forward, backward and the causal mask.

.. math:: \mathrm{attention}(Q, K, V, M) = \mathrm{softmax}\Big(\frac{QK^\top}{\sqrt d} + M\Big)\,V

where the mask enters as :math:`M_{ij} = 0` where query i may attend key j and :math:`-\infty` where it may
not. The mask argument is boolean (True = attend): masked scores are *replaced* by −∞ (``np.where``), never
offset by a large negative number, so a masked position gets exactly zero weight (e^−∞ = 0) and exactly
zero gradient, at any score magnitude. A query row with every key masked has no softmax (0/0): it is a
``ValueError``, never a uniform row nor a row of NaN.
"""
from __future__ import annotations

import numpy as np

from ._validate import as_float_array, upstream


def causal_mask(Tq, Tk) -> np.ndarray:
    r"""The causal mask: query i attends keys j <= i (top-left aligned, as ``torch.ones(Tq, Tk).tril()``).

    Every row attends at least key 0, so a causal mask is always legal.

    Shapes
    ------
    Returns a boolean array (Tq, Tk) with ``mask[i, j] = j <= i``.
    """
    for name, v in (("Tq", Tq), ("Tk", Tk)):
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"causal_mask: {name} must be an integer >= 1, got {v!r}")
    return np.tril(np.ones((int(Tq), int(Tk)), dtype=bool))


def attention_mask(mask, shape) -> np.ndarray | None:
    """The mask as a boolean array broadcast to the scores' ``shape`` (None stays None: every key attends).

    A boolean array, or an integer or float array holding only 0 and 1 (1 = attend; the golden-vector corpus
    stores masks so), broadcastable to ``shape``; every row must attend at least one key.
    """
    if mask is None:
        return None
    arr = np.asarray(mask)
    if arr.dtype != bool:
        if arr.dtype == object or not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
            raise TypeError(f"attention: mask must be a boolean array (True = attend), got dtype {arr.dtype}")
        bad = ~((arr == 0) | (arr == 1))
        if np.any(bad):
            raise ValueError(f"attention: a numeric mask must hold only 0 and 1 (1 = attend), got "
                             f"{arr[bad].ravel()[:3].tolist()}")
        arr = arr == 1
    try:
        full = np.broadcast_shapes(arr.shape, tuple(shape))
    except ValueError:
        full = None
    if full != tuple(shape):
        raise ValueError(f"attention: mask must be broadcastable to the scores' shape (..., Tq, Tk) = {tuple(shape)}, "
                         f"got mask shape {arr.shape}")
    arr = np.broadcast_to(arr, tuple(shape))
    empty = ~arr.any(axis=-1)
    if np.any(empty):
        rows = [tuple(int(i) for i in r) for r in np.argwhere(empty)[:3]]
        raise ValueError(f"attention: every query row must attend at least one key (a fully masked row has no "
                         f"softmax), got {int(empty.sum())} fully masked row(s), e.g. at (..., i) = {rows}")
    return arr


def attention_inputs(Q, K, V, mask):
    """Validated float64 Q, K, V and the boolean mask broadcast to (..., Tq, Tk) (or None)."""
    Q, K, V = as_float_array("Q", Q), as_float_array("K", K), as_float_array("V", V)
    for name, a in (("Q", Q), ("K", K), ("V", V)):
        if a.ndim < 2:
            raise ValueError(f"attention: {name} must have at least 2 dimensions (..., T, d), got shape {a.shape}")
        if 0 in a.shape:
            raise ValueError(f"attention: {name} must have no empty axis, got shape {a.shape}")
    if not (Q.shape[:-2] == K.shape[:-2] == V.shape[:-2]):
        raise ValueError(f"attention: Q, K and V must have the same leading (batch) axes, got Q {Q.shape}, "
                         f"K {K.shape}, V {V.shape}")
    if K.shape[-1] != Q.shape[-1]:
        raise ValueError(f"attention: K must have Q's feature size d = {Q.shape[-1]} (Q (..., Tq, d), K (..., Tk, d)), "
                         f"got Q {Q.shape} and K {K.shape}")
    if V.shape[-2] != K.shape[-2]:
        raise ValueError(f"attention: V must have one row per key, Tk = {K.shape[-2]} (K (..., Tk, d), V (..., Tk, dv)), "
                         f"got K {K.shape} and V {V.shape}")
    M = attention_mask(mask, Q.shape[:-1] + (K.shape[-2],))
    return Q, K, V, M


def attention_weights(Q, K, M) -> np.ndarray:
    r"""P = softmax over keys of :math:`QK^\top/\sqrt d`, masked scores replaced by −∞ (validated inputs)."""
    scale = 1.0 / np.sqrt(Q.shape[-1])
    S = (Q @ np.swapaxes(K, -1, -2)) * scale
    if M is not None:
        S = np.where(M, S, -np.inf)
    with np.errstate(over="ignore"):  # S − max < −1.8e308 rounds to −inf, and e^−inf = 0 is the true value
        e = np.exp(S - S.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def attention_forward(Q, K, V, mask=None):
    r"""Scaled dot-product attention :math:`Y = PV`, :math:`P = \mathrm{softmax}_j(S)`,
    :math:`S = QK^\top/\sqrt d` with :math:`S_{ij} = -\infty` where ``mask[..., i, j]`` is False.

    The softmax is shifted by the row maximum (stable at any score size); a masked position has weight exactly 0.

    Shapes
    ------
    Q : (..., Tq, d); K : (..., Tk, d); V : (..., Tk, dv), the same leading axes; mask : None (every key
    attends) or a boolean array broadcastable to (..., Tq, Tk), True = attend, each row with at least one True.
    Returns Y (..., Tq, dv).
    """
    Q, K, V, M = attention_inputs(Q, K, V, mask)
    return attention_weights(Q, K, M) @ V


def attention_backward(Q, K, V, mask, dy):
    r"""VJP of attention: returns (dQ, dK, dV).

    .. math::
        dV = P^\top dY,\quad dP = dY V^\top,\quad
        dS = P \odot \big(dP - \textstyle\sum_j (dP \odot P)_{\cdot j}\big),\quad
        dQ = dS\,K/\sqrt d,\quad dK = dS^\top Q/\sqrt d

    (the softmax Jacobian with its row-sum term). A masked position has P = 0, so dS = 0 there exactly: no
    gradient flows to a key or value through a masked position.

    Shapes
    ------
    Q, K, V, mask as in :func:`attention_forward`; dy : (..., Tq, dv).
    Returns dQ (..., Tq, d), dK (..., Tk, d), dV (..., Tk, dv).
    """
    Q, K, V, M = attention_inputs(Q, K, V, mask)
    P = attention_weights(Q, K, M)
    dy = upstream(dy, Q.shape[:-1] + (V.shape[-1],))
    scale = 1.0 / np.sqrt(Q.shape[-1])
    dV = np.swapaxes(P, -1, -2) @ dy
    dP = dy @ np.swapaxes(V, -1, -2)
    dS = P * (dP - np.sum(dP * P, axis=-1, keepdims=True))
    dQ = (dS @ K) * scale
    dK = (np.swapaxes(dS, -1, -2) @ Q) * scale
    return dQ, dK, dV
