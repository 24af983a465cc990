r"""Hypothesis strategies for every op of the registry.

``samples(op, mode)`` is a strategy of *sample dicts* in exactly the format of
the registry's ``OpSpec.sample(rng)`` (so any oracle can consume them), drawn
so that every draw is legal: shapes and hyperparameters are drawn together
(windows that fit the padded input, labels in range, at least two values per
batch-norm group, masks holding both values, strictly positive
probabilities...). Every sample also carries an int ``"seed"`` for the
properties' own randomness (cotangents, extra masks); oracles ignore it.
Each op's record (:mod:`gradspec.ops`) names its strategy here
(``op.sample.strategy``) and its modes (``op.sample.modes``).

Modes
-----
``away``
    Inputs a margin away from every kink of the registry (relu at 0, ties of
    max-pool windows, relu pre-activations of an MLP, the perceptron's
    boundary). This is where a numerical gradient is meaningful.
``on_kink``
    Inputs exactly on the kinks, for the convention tests: exact zeros for
    relu and step, ties inside max-pool windows, maxima next to the padding
    (all-negative inputs, where a zero padding would wrongly win), pre-activations
    exactly 0 in an MLP (integer-valued weights, so the zero is exact in any
    summation order), points exactly on the perceptron's decision boundary.
``hard``
    Hard but legal inputs: logits of ±1000, near-one-hot softmax rows,
    near-constant batch-norm features, large-magnitude sums, probabilities
    down to 1e-12, gradients from 1e-6 to 1e3 for optimisers.

Inputs are finite float64 with every element drawn (``fill=nothing()``, so no
dominant fill value), no subnormals, at scales from 1e-3 to 1e2 (1e3 in the
``hard`` mode). :func:`hypothesis.event` records shape classes, strides,
overlapping windows, padding, single-output windows and near-kink samples, so
``pytest --hypothesis-show-statistics`` reports the coverage.
"""
from __future__ import annotations

import math

import numpy as np
from hypothesis import event, strategies as st
from hypothesis.extra import numpy as hnp

from ..sampling import KINK_MARGIN

MODES = ("away", "on_kink", "hard")

#: Scales of the drawn inputs (tiny to large); ``hard`` adds 1e3.
SCALES = (1e-3, 1e-1, 1.0, 10.0, 100.0)

#: Relative margin from a kink in the ``away`` mode (a fraction of the scale).
REL_MARGIN = KINK_MARGIN

# --------------------------------------------------------------------------- building blocks
def floats(low: float, high: float) -> st.SearchStrategy[float]:
    """Finite float64 in [low, high], no NaN, no infinities, no subnormals.

    Magnitudes below 1e-150 become 0 (when 0 is in range): Hypothesis likes values such as 1e-307,
    which any later product (a spread, a step size) would turn into a subnormal.
    """
    base = st.floats(low, high, allow_nan=False, allow_infinity=False, allow_subnormal=False, width=64)
    if low <= 0.0 <= high:
        return base.map(lambda v: 0.0 if abs(v) < 1e-150 else v)
    return base


def arrays(shape, low: float, high: float) -> st.SearchStrategy[np.ndarray]:
    """Float64 array of ``shape`` with every element drawn from [low, high] (no fill value)."""
    return hnp.arrays(np.float64, tuple(int(s) for s in shape), elements=floats(low, high), fill=st.nothing())


def scales(hard: bool = False) -> st.SearchStrategy[float]:
    return st.sampled_from(SCALES + ((1e3,) if hard else ()))


@st.composite
def signed_away(draw, shape, scale: float, rel_margin: float = REL_MARGIN):
    """Values with rel_margin·scale <= |x| <= scale: at least the margin from 0."""
    mag = draw(arrays(shape, rel_margin * scale, scale))
    sign = draw(hnp.arrays(np.bool_, tuple(shape), fill=st.nothing()))
    return np.where(sign, mag, -mag)


@st.composite
def with_zeros(draw, shape, scale: float):
    """Values in [−scale, scale] with at least one exact 0 (on the kink of relu and step)."""
    x = draw(arrays(shape, -scale, scale))
    n = x.size
    idx = draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=max(1, n // 2), unique=True))
    x.flat[idx] = 0.0
    return x


#: Smallest grid spacing of :func:`distinct`: its gaps (at least half the spacing) stay above 4 difference
#: steps of fd64 (whose step is 6e-6·max(1, |x|)), however small the scale and however many the elements.
MIN_SPACING = 1e-4


@st.composite
def distinct(draw, shape, scale: float):
    """Pairwise gaps of at least max(2·scale/n, MIN_SPACING/2) (a shuffled grid plus jitter): no ties anywhere."""
    n = int(np.prod(shape))
    perm = np.array(draw(st.permutations(range(n))), dtype=np.float64)
    # jitter on a 1e-6 grid: either 0 or at least 1e-6, so a grid value of 0 plus a tiny jitter can never
    # make a subnormal once scaled (Hypothesis found 1.2e-312 in a max-pool sample)
    jitter = np.round(draw(arrays((n,), -0.25, 0.25)), 6)
    # values in [-2·scale, 2·scale] (wider when the floor applies), gaps >= half the spacing
    spacing = max(4.0 * scale / max(n, 1), MIN_SPACING)
    return ((perm - n / 2.0 + jitter) * spacing).reshape(shape)


def shape_event(shape):
    event(f"shape class: {len(shape)}-D" + (", a dimension of 1" if 1 in shape else ""))


@st.composite
def any_shape(draw, min_size: int = 1):
    """A small 1-D, 2-D or 4-D shape (sizes 1..6); the last axis grows to reach ``min_size`` elements."""
    nd = draw(st.sampled_from((1, 2, 4)))
    if nd == 1:
        shape = [draw(st.integers(1, 6))]
    elif nd == 2:
        shape = [draw(st.integers(1, 4)), draw(st.integers(1, 5))]
    else:
        shape = [draw(st.integers(1, 3)) for _ in range(4)]
    while int(np.prod(shape)) < min_size:
        shape[-1] += 1
    shape = tuple(shape)
    shape_event(shape)
    return shape


def out_size(size, k, s, p):
    return (size + 2 * p - k) // s + 1


def allowed_ints(low: int, high: int, limit=None) -> list[int]:
    """The integers a strategy draws from: ``low..high``, within ``limit`` when one is given (a declared limit,
    :class:`gradspec.limits.Limit`: anything with ``kind``, ``values``, ``low``, ``high`` and ``allows``).

    A set of values is used as declared (even beyond ``high``: a declared kernel of 5 is drawn); a range is
    intersected with ``low..high``, or gives its own smallest value when the two do not meet; nothing below
    ``low`` is drawn (a mode that needs pad >= 1 finds none in pad = 0). Empty when nothing is left (the caller then draws without the limit and the
    sample is rejected as outside it, with the reason).
    """
    if limit is None:
        out = list(range(low, high + 1))
    elif limit.kind != "range":
        out = sorted(int(v) for v in limit.values)
    else:
        lo = low if limit.low is None else max(low, math.ceil(limit.low))
        hi = high if limit.high is None else min(high, math.floor(limit.high))
        out = list(range(lo, hi + 1)) or ([math.ceil(limit.low)] if limit.low is not None else [])
    return [v for v in out if v >= low]


def floats_within(low: float, high: float, limit=None) -> st.SearchStrategy[float]:
    """Floats of [low, high] (:func:`floats`), or, given a declared limit of a float hyperparameter, values within
    it: its set, or its range (log-uniform over more than a decade; an open end a decade from the other)."""
    if limit is None:
        return floats(low, high)
    if limit.kind != "range":
        return st.sampled_from(list(limit.values))
    lo, hi = limit.low, limit.high
    if lo is None and hi is None:
        return floats(low, high)
    if lo is None:
        lo = hi / 10 if hi > 0 else hi - 1.0
    if hi is None:
        hi = lo * 10 if lo > 0 else lo + 1.0
    if lo > 0 and hi / lo > 10:
        return st.floats(math.log(lo), math.log(hi)).map(lambda t: min(max(math.exp(t), lo), hi))
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False, allow_subnormal=False)


def ints_within(low: int, high: int, limit=None) -> st.SearchStrategy[int]:
    """Integers of ``low..high`` within ``limit`` (see :func:`allowed_ints`); without the limit when none
    of them meets it."""
    if limit is None:
        return st.integers(low, high)
    values = allowed_ints(low, high, limit) or list(range(low, high + 1))
    return st.sampled_from(values) if len(values) > 1 else st.just(values[0])


@st.composite
def window_geometry(draw, pool: bool = False, require_pad: bool = False, limits=None):
    """(H, W, KH, KW, stride, pad) with the kernel fitting the padded input.

    Pooling windows are square (KW = KH) with pad <= kernel//2; conv kernels
    may be rectangular with pad up to 2. Covers stride > 1, stride < kernel
    (overlapping windows), pad > 0 and a single output position.

    ``limits``: declared limits ``{name: Limit}`` of ``kernel`` (pooling), ``stride`` and ``pad``; the
    geometry is drawn within them (:func:`ints_within`), and H, W grow to fit a declared kernel beyond 3.
    """
    limits = limits or {}
    min_pad = 1 if require_pad else 0
    if pool:  # pad <= kernel//2: a declared pad needs a kernel of at least twice it
        min_pad = min(allowed_ints(min_pad, 2, limits.get("pad")) or [min_pad])
        KH = draw(ints_within(max(1, 2 * min_pad), max(3, 2 * min_pad), limits.get("kernel")))
    else:
        KH = draw(st.integers(2 if require_pad else 1, 3))
    KW = KH if pool else draw(st.integers(1, 3))
    max_pad = KH // 2 if pool else 2
    pad_values = [v for v in allowed_ints(min_pad, max_pad, limits.get("pad")) if not pool or v <= max_pad]
    if limits.get("pad") is None or not pad_values:  # no limit, or none of its values fits (rejected later)
        pad = draw(st.integers(1 if require_pad else 0, max_pad))
    else:
        pad = draw(st.sampled_from(pad_values))
    stride = draw(ints_within(1, 3, limits.get("stride")))
    H = draw(st.integers(max(1, KH - 2 * pad), max(6, KH)))
    W = draw(st.integers(max(1, KW - 2 * pad), max(6, KW)))
    OH, OW = out_size(H, KH, stride, pad), out_size(W, KW, stride, pad)
    event(f"stride {stride}")
    if stride < max(KH, KW):
        event("overlapping windows (stride < kernel)")
    if pad > 0:
        event("pad > 0")
    if OH * OW == 1:
        event("single output position")
    return H, W, KH, KW, stride, pad


def seeds():
    return st.integers(0, 2**32 - 1)


# --------------------------------------------------------------------------- shared by several ops (each op's own strategy is in its record module)
@st.composite
def elementwise(draw, mode, away_from_zero: bool = False):
    """An element-wise op on any shape; ``away_from_zero``: the op has a kink at 0 (relu, step)."""
    shape = draw(any_shape())
    if mode == "hard":
        mag = draw(arrays(shape, 30.0, 1000.0))
        sign = draw(hnp.arrays(np.bool_, shape, fill=st.nothing()))
        x = np.where(sign, mag, -mag)
        x.flat[0] = draw(st.sampled_from([-1000.0, 1000.0]))
        event("hard: |x| in [30, 1000]")
    elif mode == "on_kink":
        x = draw(with_zeros(shape, draw(scales())))
        event("on kink: exact zeros")
    elif away_from_zero:
        s = draw(scales())
        x = draw(signed_away(shape, s))
        if float(np.min(np.abs(x))) < 2 * REL_MARGIN * s:
            event("near kink: |x| within two margins of 0")
    else:
        s = draw(scales())
        x = draw(arrays(shape, -s, s))
    return {"x": x, "seed": draw(seeds())}


@st.composite
def batch_and_classes(draw):
    N, K = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    event(f"loss: N={'1' if N == 1 else '>1'}, K={'1' if K == 1 else '>1'}")
    return N, K


@st.composite
def logits_for(draw, mode, shape):
    if mode == "hard":
        z = np.where(draw(hnp.arrays(np.bool_, shape, fill=st.nothing())), 1000.0, -1000.0)
        event("hard: logits of ±1000")
        return z + draw(arrays(shape, -1.0, 1.0))
    s = draw(st.sampled_from((1e-3, 1e-1, 1.0, 10.0)))
    return draw(arrays(shape, -s, s))


@st.composite
def grad_list(draw, scale):
    n = draw(st.integers(1, 3))
    return [draw(arrays(draw(any_shape()), -scale, scale)) for _ in range(n)]


@st.composite
def optimizer(draw, mode, hypers, zero_momentum: bool = False):
    """An optimiser's trajectory sample; ``hypers``: (name, (low, high)) pairs; ``zero_momentum``: also momentum = 0."""
    shape = draw(any_shape())
    steps = 5
    gscale = draw(st.sampled_from([1e-6, 1e-4, 1e3])) if mode == "hard" else draw(st.sampled_from([1e-2, 1.0, 10.0]))
    event(f"optimizer gradient scale {gscale:g}")
    hyper = {k: draw(floats(lo, hi)) for k, (lo, hi) in hypers}
    if zero_momentum and draw(st.booleans()):
        hyper["momentum"] = 0.0
        event("momentum = 0")
    w = draw(arrays(shape, -3.0, 3.0))
    grads = [draw(arrays(shape, -gscale, gscale)) for _ in range(steps)]
    return {"w": w, "grads": grads, "hyper": hyper, "seed": draw(seeds())}


def sigmoid_np(z):
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


