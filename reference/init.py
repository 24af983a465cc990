r"""Weight initialisation schemes (Glorot/Xavier, He, LeCun).

Fans follow the protocol: a dense weight (D, M) has fan_in = D and
fan_out = M; a conv weight (F, C, KH, KW) has fan_in = C·KH·KW and
fan_out = F·KH·KW. Every scheme draws from the NumPy ``Generator`` passed in
and from nothing else.

=====================  ============  ====================================
scheme                 distribution  variance
=====================  ============  ====================================
init_xavier_normal     normal        2 / (fan_in + fan_out)
init_xavier_uniform    U[-a, a]      2 / (fan_in + fan_out), a = √(6/(fan_in+fan_out))
init_he_normal         normal        2 / fan_in
init_he_uniform        U[-a, a]      2 / fan_in, a = √(6/fan_in)
init_lecun_normal      normal        1 / fan_in
=====================  ============  ====================================
"""
from __future__ import annotations

import numpy as np


def fans(shape) -> tuple[int, int]:
    """(fan_in, fan_out) of a dense (D, M) or conv (F, C, KH, KW) weight shape."""
    shape = _shape(shape)
    if len(shape) == 2:
        return shape[0], shape[1]
    F, C, KH, KW = shape
    return C * KH * KW, F * KH * KW


def _shape(shape) -> tuple[int, ...]:
    try:
        shape = tuple(int(s) for s in shape)
    except TypeError:
        raise TypeError(f"shape must be a tuple of ints, got {shape!r}") from None
    if len(shape) not in (2, 4):
        raise ValueError(f"init: shape must be dense (D, M) or conv (F, C, KH, KW), got {shape}")
    if any(s < 1 for s in shape):
        raise ValueError(f"init: every dimension must be >= 1, got {shape}")
    return shape


def _rng(rng):
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator (np.random.default_rng(seed)), got {type(rng).__name__}")
    return rng


def target(scheme: str, shape) -> tuple[str, float]:
    """The (distribution, variance) a scheme promises for ``shape``."""
    fan_in, fan_out = fans(shape)
    table = {
        "init_xavier_normal": ("normal", 2.0 / (fan_in + fan_out)),
        "init_xavier_uniform": ("uniform", 2.0 / (fan_in + fan_out)),
        "init_he_normal": ("normal", 2.0 / fan_in),
        "init_he_uniform": ("uniform", 2.0 / fan_in),
        "init_lecun_normal": ("normal", 1.0 / fan_in),
    }
    if scheme not in table:
        raise ValueError(f"unknown init scheme {scheme!r}; known: {sorted(table)}")
    return table[scheme]


def init_xavier_normal(shape, rng):
    r"""Glorot normal: :math:`W \sim \mathcal N(0, 2/(n_{in}+n_{out}))`.

    Shapes
    ------
    shape : (D, M) or (F, C, KH, KW). Returns W of that shape.
    """
    fan_in, fan_out = fans(shape)
    return _rng(rng).normal(0.0, np.sqrt(2.0 / (fan_in + fan_out)), size=_shape(shape))


def init_xavier_uniform(shape, rng):
    r"""Glorot uniform: :math:`W \sim U[-a, a]`, :math:`a = \sqrt{6/(n_{in}+n_{out})}`.

    Shapes
    ------
    shape : (D, M) or (F, C, KH, KW). Returns W of that shape.
    """
    fan_in, fan_out = fans(shape)
    a = np.sqrt(6.0 / (fan_in + fan_out))
    return _rng(rng).uniform(-a, a, size=_shape(shape))


def init_he_normal(shape, rng):
    r"""He normal: :math:`W \sim \mathcal N(0, 2/n_{in})`.

    Shapes
    ------
    shape : (D, M) or (F, C, KH, KW). Returns W of that shape.
    """
    fan_in, _ = fans(shape)
    return _rng(rng).normal(0.0, np.sqrt(2.0 / fan_in), size=_shape(shape))


def init_he_uniform(shape, rng):
    r"""He uniform: :math:`W \sim U[-a, a]`, :math:`a = \sqrt{6/n_{in}}`.

    Shapes
    ------
    shape : (D, M) or (F, C, KH, KW). Returns W of that shape.
    """
    fan_in, _ = fans(shape)
    a = np.sqrt(6.0 / fan_in)
    return _rng(rng).uniform(-a, a, size=_shape(shape))


def init_lecun_normal(shape, rng):
    r"""LeCun normal: :math:`W \sim \mathcal N(0, 1/n_{in})` (what some books call Xavier).

    Shapes
    ------
    shape : (D, M) or (F, C, KH, KW). Returns W of that shape.
    """
    fan_in, _ = fans(shape)
    return _rng(rng).normal(0.0, np.sqrt(1.0 / fan_in), size=_shape(shape))
