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


def _shape_event(shape):
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
    _shape_event(shape)
    return shape


def out_size(size, k, s, p):
    return (size + 2 * p - k) // s + 1


@st.composite
def window_geometry(draw, pool: bool = False, require_pad: bool = False):
    """(H, W, KH, KW, stride, pad) with the kernel fitting the padded input.

    Pooling windows are square (KW = KH) with pad <= kernel//2; conv kernels
    may be rectangular with pad up to 2. Covers stride > 1, stride < kernel
    (overlapping windows), pad > 0 and a single output position.
    """
    KH = draw(st.integers(2 if require_pad else 1, 3))
    KW = KH if pool else draw(st.integers(1, 3))
    max_pad = KH // 2 if pool else 2
    pad = draw(st.integers(1 if require_pad else 0, max_pad))
    stride = draw(st.integers(1, 3))
    H = draw(st.integers(max(1, KH - 2 * pad), 6))
    W = draw(st.integers(max(1, KW - 2 * pad), 6))
    OH, OW = out_size(H, KH, stride, pad), out_size(W, KW, stride, pad)
    event(f"stride {stride}")
    if stride < max(KH, KW):
        event("overlapping windows (stride < kernel)")
    if pad > 0:
        event("pad > 0")
    if OH * OW == 1:
        event("single output position")
    return H, W, KH, KW, stride, pad


def _seed():
    return st.integers(0, 2**32 - 1)


# --------------------------------------------------------------------------- per-op strategies
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
    return {"x": x, "seed": draw(_seed())}


@st.composite
def leaky_relu(draw, mode):
    """leaky_relu: an element-wise input with a kink at 0, and the slope alpha in [0, 1) (0 included: relu)."""
    s = draw(elementwise(mode, away_from_zero=True))
    s["alpha"] = draw(st.one_of(st.just(0.0), st.floats(0.0, 1.0, exclude_max=True)))
    return s


@st.composite
def softmax(draw, mode):
    if draw(st.booleans()):
        shape = (draw(st.integers(1, 4)), draw(st.integers(1, 5)))
    else:
        shape = (draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 4)))
    _shape_event(shape)
    if mode == "hard":
        kind = draw(st.sampled_from(["pm1000", "near_one_hot"]))
        event(f"hard softmax: {kind}")
        if kind == "pm1000":
            x = np.where(draw(hnp.arrays(np.bool_, shape, fill=st.nothing())), 1000.0, -1000.0)
            x = x + draw(arrays(shape, -1.0, 1.0))
        else:
            x = draw(arrays(shape, -1.0, 1.0))
            x[..., 0] += 40.0  # the first class dominates by ~e^40
    else:
        s = draw(st.sampled_from((1e-3, 1e-1, 1.0, 10.0)))
        x = draw(arrays(shape, -s, s))
    return {"x": x, "seed": draw(_seed())}


@st.composite
def affine(draw, mode):
    N, D, M = draw(st.integers(1, 4)), draw(st.integers(1, 5)), draw(st.integers(1, 4))
    event(f"affine: N={'1' if N == 1 else '>1'}, {'D == M' if D == M else 'D != M'}")
    s = 1e3 if mode == "hard" else draw(scales())
    if mode == "hard":
        event("hard: large-magnitude sums")
    return {"x": draw(arrays((N, D), -s, s)), "W": draw(arrays((D, M), -s, s)), "b": draw(arrays((M,), -s, s)),
            "seed": draw(_seed())}


@st.composite
def _nk(draw):
    N, K = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    event(f"loss: N={'1' if N == 1 else '>1'}, K={'1' if K == 1 else '>1'}")
    return N, K


@st.composite
def mse(draw, mode):
    N, K = draw(_nk())
    s = 1e3 if mode == "hard" else draw(scales())
    return {"y": draw(arrays((N, K), -s, s)), "t": draw(arrays((N, K), -s, s)), "seed": draw(_seed())}


@st.composite
def cross_entropy(draw, mode):
    N, K = draw(_nk())
    low = 1e-12 if mode == "hard" else 1e-3
    p = draw(arrays((N, K), low, 0.999))  # p + 2h stays inside the domain (0, 1] for the difference steps
    labels = draw(hnp.arrays(np.int64, (N,), elements=st.integers(0, K - 1), fill=st.nothing()))
    if draw(st.booleans()):
        t = np.eye(K)[labels]
        event("cross_entropy: one-hot targets")
    else:
        t = draw(arrays((N, K), 0.0, 1.0))
        event("cross_entropy: soft targets")
    if mode == "hard":
        p[np.arange(N), labels] = draw(st.sampled_from([1e-12, 1e-8, 0.999]))
        event("hard: tiny probability on the target class")
    return {"p": p, "t": t, "seed": draw(_seed())}


@st.composite
def _logits(draw, mode, shape):
    if mode == "hard":
        z = np.where(draw(hnp.arrays(np.bool_, shape, fill=st.nothing())), 1000.0, -1000.0)
        event("hard: logits of ±1000")
        return z + draw(arrays(shape, -1.0, 1.0))
    s = draw(st.sampled_from((1e-3, 1e-1, 1.0, 10.0)))
    return draw(arrays(shape, -s, s))


@st.composite
def softmax_cross_entropy(draw, mode):
    N, K = draw(_nk())
    labels = draw(hnp.arrays(np.int64, (N,), elements=st.integers(0, K - 1), fill=st.nothing()))
    return {"z": draw(_logits(mode, (N, K))), "labels": labels, "seed": draw(_seed())}


@st.composite
def binary_cross_entropy(draw, mode):
    N, K = draw(_nk())
    t = draw(arrays((N, K), 0.0, 1.0))
    return {"z": draw(_logits(mode, (N, K))), "t": t, "seed": draw(_seed())}


@st.composite
def conv2d(draw, mode):
    H, W, KH, KW, stride, pad = draw(window_geometry())
    N, C, F = draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    s = 1e3 if mode == "hard" else draw(scales())
    return {"x": draw(arrays((N, C, H, W), -s, s)), "W": draw(arrays((F, C, KH, KW), -s, s)),
            "b": draw(arrays((F,), -s, s)), "stride": stride, "pad": pad, "seed": draw(_seed())}


@st.composite
def _pool(draw, mode, is_max: bool):
    on_kink = mode == "on_kink"
    H, W, K, _, stride, pad = draw(window_geometry(pool=True, require_pad=on_kink and not is_max))
    N, C = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    shape = (N, C, H, W)
    s = draw(scales())
    if is_max and on_kink:
        kind = draw(st.sampled_from(["ties", "all_negative"]))
        event(f"on kink: max-pool {kind}")
        if kind == "ties":  # few distinct values: windows tie for their maximum
            x = s * draw(hnp.arrays(np.float64, shape, elements=st.sampled_from([-1.0, 0.0, 1.0]), fill=st.nothing()))
        else:  # every value negative: a zero padding would (wrongly) win
            x = draw(arrays(shape, -s, -REL_MARGIN * s))
            if draw(st.booleans()):
                x = np.full(shape, -s)  # every window a full tie
    elif is_max:
        x = draw(distinct(shape, s))
        if pad > 0 and np.all(x < 0):
            event("max-pool: negative values beside the padding")
    else:
        x = draw(arrays(shape, -s, s))
        if on_kink:
            event("on kink: avg-pool with padding")
    return {"x": x, "kernel": K, "stride": stride, "pad": pad, "seed": draw(_seed())}


@st.composite
def batchnorm(draw, mode):
    if draw(st.booleans()):
        D = draw(st.integers(1, 3))
        shape = (draw(st.integers(2, 5)), D)
    else:
        D = draw(st.integers(1, 2))
        N = draw(st.integers(1, 2))
        H = draw(st.integers(1, 3))
        Wd = draw(st.integers(2 if N * H < 2 else 1, 3))
        shape = (N, D, H, Wd)
    _shape_event(shape)
    eps = draw(st.sampled_from([1e-5, 1e-3, 0.1]))
    if mode == "hard":
        centre = draw(arrays((D,), -100.0, 100.0))
        spread = draw(st.sampled_from([0.0, 1e-6, 1e-4, 1e-2]))
        event(f"hard: near-constant features (spread {spread:g})")
        bshape = (1, D) if len(shape) == 2 else (1, D, 1, 1)
        x = centre.reshape(bshape) + spread * draw(arrays(shape, -1.0, 1.0))
    else:
        s = draw(st.sampled_from((1e-1, 1.0, 10.0, 100.0)))
        x = draw(arrays(shape, -s, s))
    return {"x": x, "gamma": draw(arrays((D,), -2.0, 2.0)), "beta": draw(arrays((D,), -2.0, 2.0)), "eps": eps,
            "seed": draw(_seed())}


@st.composite
def dropout(draw, mode):
    shape = draw(any_shape(min_size=2))
    mask = draw(hnp.arrays(np.float64, shape, elements=st.sampled_from([0.0, 1.0]), fill=st.nothing()))
    i, j = draw(st.lists(st.integers(0, mask.size - 1), min_size=2, max_size=2, unique=True))
    mask.flat[i], mask.flat[j] = 0.0, 1.0  # both values present
    p = draw(st.one_of(st.sampled_from([0.0, 0.2, 0.5, 0.9]), floats(0.0, 0.95)))
    event("dropout: p = 0" if p == 0 else "dropout: p > 0")
    s = draw(scales())
    return {"x": draw(arrays(shape, -s, s)), "mask": mask, "p": p, "seed": draw(_seed())}


@st.composite
def l2_penalty(draw, mode):
    shape = draw(any_shape())
    s = 1e3 if mode == "hard" else draw(scales())
    return {"W": draw(arrays(shape, -s, s)), "lam": draw(floats(0.0, 2.0)), "seed": draw(_seed())}


@st.composite
def _grad_list(draw, scale):
    n = draw(st.integers(1, 3))
    return [draw(arrays(draw(any_shape()), -scale, scale)) for _ in range(n)]


@st.composite
def clip_grad_norm(draw, mode):
    grads = draw(_grad_list(draw(scales())))
    norm = math.sqrt(sum(float(np.sum(g * g)) for g in grads))
    if mode == "on_kink":  # exactly at the threshold: no rescaling
        event("on kink: norm == max_norm")
        return {"grads": grads, "max_norm": norm if norm > 0 else 1.0, "seed": draw(_seed())}
    factor = draw(st.sampled_from([0.3, 0.9, 1.5, 3.0]))
    event("clip_grad_norm: " + ("above" if factor < 1 else "below") + " the threshold")
    return {"grads": grads, "max_norm": max(norm * factor, 1e-3), "seed": draw(_seed())}


@st.composite
def clip_grad_value(draw, mode):
    clip = draw(floats(0.1, 2.0))
    grads = draw(_grad_list(3.0))
    if mode == "on_kink":  # some elements exactly at ±clip
        event("on kink: elements at ±clip")
        for g in grads:
            g.flat[0] = draw(st.sampled_from([clip, -clip]))
    return {"grads": grads, "clip": clip, "seed": draw(_seed())}


def max_pool2d(mode):
    return _pool(mode, True)


def avg_pool2d(mode):
    return _pool(mode, False)


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
    return {"w": w, "grads": grads, "hyper": hyper, "seed": draw(_seed())}


@st.composite
def init(draw, mode):
    """Dense (D, M) or conv (F, C, KH, KW) shapes with fan_in != fan_out and >= 4000 weights."""
    if draw(st.booleans()):
        D, M = draw(st.sampled_from([(200, 60), (64, 256), (500, 30), (100, 300)]))
        shape = (D, M)
    else:
        F, C = draw(st.sampled_from([(64, 16), (16, 64), (32, 8)]))
        k = draw(st.sampled_from([3, 5]))
        shape = (F, C, k, k)
    event(f"init: {len(shape)}-D shape")
    return {"shape": shape, "seed": draw(_seed())}


def _sigmoid(z):
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _hidden_inputs(X, params):
    """The input of each layer of a relu network: X, relu(z^1), ..."""
    a, out = X, []
    for W, b in params:
        out.append(a)
        a = np.maximum(a @ W + b, 0.0)
    return out


def _fix_bias(pre: np.ndarray, b: float, margin: float) -> float:
    """Move b to the nearest value keeping every pre + b at least ``margin`` from 0."""
    centres = np.sort(-pre)
    intervals = []
    for c in centres:
        lo, hi = c - margin, c + margin
        if intervals and lo <= intervals[-1][1]:
            intervals[-1][1] = max(intervals[-1][1], hi)
        else:
            intervals.append([lo, hi])
    for lo, hi in intervals:
        if lo < b < hi:
            return lo - margin if (b - lo) < (hi - b) else hi + margin
    return b


@st.composite
def mlp(draw, mode):
    L = draw(st.integers(1, 5))
    widths = [draw(st.integers(1, 4)) for _ in range(L + 1)]
    N = draw(st.integers(1, 4))
    on_kink = mode == "on_kink"
    hidden = "relu" if on_kink else draw(st.sampled_from(["sigmoid", "tanh", "relu"]))
    output = draw(st.sampled_from(["identity_mse", "sigmoid_mse", "softmax_cross_entropy"]))
    event(f"mlp depth {L}")
    event(f"mlp hidden {hidden}, output {output}")
    if 1 in widths or N == 1:
        event("mlp: a width of 1 or N = 1")
    if on_kink:  # small integers: every sum is exact, so pre-activations of exactly 0 stay 0 in any order
        ints = lambda shape: draw(hnp.arrays(np.float64, shape, elements=st.integers(-2, 2).map(float), fill=st.nothing()))  # noqa: E731
        X = ints((N, widths[0]))
        params, a = [], X
        for l in range(L):
            W, b = ints((widths[l], widths[l + 1])), ints((widths[l + 1],))
            if l < L - 1:
                j = draw(st.integers(0, widths[l + 1] - 1))
                b[j] = -float((a @ W)[0, j])  # unit j of example 0 sits exactly on relu's kink
            z = a @ W + b
            a = np.maximum(z, 0.0)
            params.append((W, b))
        if L > 1:
            event("on kink: a hidden pre-activation exactly 0")
    else:
        X = draw(arrays((N, widths[0]), -2.0, 2.0))
        params, a = [], X
        for l in range(L):
            std = 1.0 / math.sqrt(widths[l])
            W = draw(arrays((widths[l], widths[l + 1]), -2 * std, 2 * std))
            b = draw(arrays((widths[l + 1],), -0.5, 0.5))
            pre = a @ W
            if hidden == "relu" and l < L - 1:
                for j in range(widths[l + 1]):
                    b[j] = _fix_bias(pre[:, j], b[j], 2 * KINK_MARGIN)
            z = pre + b
            a = {"sigmoid": _sigmoid, "tanh": np.tanh, "relu": lambda v: np.maximum(v, 0.0)}[hidden](z)
            params.append((W, b))
    if not on_kink and hidden == "relu" and L > 1:
        d = min(float(np.min(np.abs(a @ W + b))) for a, (W, b) in zip(_hidden_inputs(X, params), params[:-1]))
        if d < 0.2:
            event("near kink: a relu pre-activation within 0.2 of 0")
    K = widths[-1]
    if output == "softmax_cross_entropy":
        T = draw(hnp.arrays(np.int64, (N,), elements=st.integers(0, K - 1), fill=st.nothing()))
    else:
        T = draw(arrays((N, K), -1.0, 1.0)) if output == "identity_mse" else draw(arrays((N, K), 0.0, 1.0))
    return {"params": params, "X": X, "T": T, "hidden": hidden, "output": output, "seed": draw(_seed())}


@st.composite
def perceptron(draw, mode):
    D = draw(st.integers(1, 4))
    t = float(draw(st.integers(0, 1)))
    lr = draw(floats(0.1, 1.0))
    if mode == "on_kink":  # integers: w·x + b == 0 exactly, so y = step(0) = 0
        ints = lambda shape: draw(hnp.arrays(np.float64, shape, elements=st.integers(-3, 3).map(float), fill=st.nothing()))  # noqa: E731
        w, x = ints((D,)), ints((D,))
        b = -float(w @ x)
        event("on kink: w·x + b == 0")
    else:
        w, x = draw(arrays((D,), -2.0, 2.0)), draw(arrays((D,), -2.0, 2.0))
        b = draw(floats(-2.0, 2.0))
        if abs(float(w @ x) + b) < KINK_MARGIN:
            b += 2 * KINK_MARGIN if float(w @ x) + b >= 0 else -2 * KINK_MARGIN
    return {"w": w, "b": b, "x": x, "t": t, "lr": lr, "seed": draw(_seed())}
