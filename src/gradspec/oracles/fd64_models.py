"""Building blocks of the fd64 oracle's models of ops (an op record's :class:`~gradspec.spec.FdModel`).

The relative difference step, the float64 epsilon and batchnorm's reduction groups, shared by
:mod:`gradspec.oracles.fd64` (the generic machinery) and the op-specific functions in the records
(steps on the scale at which an op varies, the forward on absolute values of the large sums, the
cancellation a correct forward may carry, the targeted samples where common bugs hide). It imports no
registry, so a record may use it.
"""
from __future__ import annotations

import math

import numpy as np

from .. import reference as spec_impl
from ..reference.normalization import standardise  # the spec's overflow-free batch statistics

FD_REL_STEP = 6e-6  # ≈ ε^(1/3): balances truncation (h²) and rounding (ε/h)
EPS = float(np.finfo(np.float64).eps)


def bn_groups(x):
    """Axes over which batchnorm reduces, and the broadcast shape of per-feature values."""
    return ((0,), (1, -1)) if x.ndim == 2 else ((0, 2, 3), (1, -1, 1, 1))


# --------------------------------------------------------------------------- steps
def cross_entropy_step(sample: dict, name: str, x: np.ndarray):
    """p stays inside (0, 1): step FD_REL_STEP·min(p, 1 − p)."""
    if name != "p":
        return None
    if not np.all((x > 0) & (x < 1)):
        bad = x[~((x > 0) & (x < 1))]
        raise ValueError(f"cross_entropy: central differences in p need 0 < p < 1 on both sides of every "
                         f"element, got p = {bad[:3].tolist()}")
    return FD_REL_STEP * np.minimum(x, 1.0 - x)


def batchnorm_step(sample: dict, name: str, x: np.ndarray):
    """x varies on the scale of its group's standard deviation."""
    if name != "x":
        return None
    axes, _ = bn_groups(x)
    sd = 1.0 / standardise(x, sample["eps"], axes)[1]  # sqrt(var + eps) per group, finite for any finite x
    # never below what float64 can resolve at x (a large mean with a tiny spread)
    return np.maximum(FD_REL_STEP * np.broadcast_to(sd, x.shape), 1024 * np.spacing(np.abs(x)))


# --------------------------------------------------------------------------- magnitudes (large sums)
def affine_magnitude(sample: dict):
    return spec_impl.affine_forward(np.abs(sample["x"]), np.abs(sample["W"]), np.abs(sample["b"]))


def conv2d_magnitude(sample: dict):
    return spec_impl.conv2d_forward(np.abs(sample["x"]), np.abs(sample["W"]), np.abs(sample["b"]),
                                    sample["stride"], sample["pad"])


# --------------------------------------------------------------------------- conditioning and cancellation
def batchnorm_conditioning(sample: dict):
    """Per feature/channel (broadcastable to the output), since each group has its own."""
    x = np.asarray(sample["x"])
    axes, bshape = bn_groups(x)
    inv_std = standardise(x, sample["eps"], axes)[1]  # 1/sqrt(var + eps) per group
    g = np.abs(np.asarray(sample["gamma"])).reshape(bshape)
    return 64 * EPS * g * np.max(np.abs(x), axis=axes, keepdims=True) * inv_std


def batchnorm_cancellation(sample: dict, dy) -> float:
    return float(np.sum(np.abs(dy) * batchnorm_conditioning(sample))) / (64 * EPS)


def mse_conditioning(sample: dict) -> float:
    y, t = np.asarray(sample["y"]), np.asarray(sample["t"])
    return 64 * EPS * float(np.sum((np.abs(y) + np.abs(t)) ** 2)) / y.shape[0]


def mse_cancellation(sample: dict, dy) -> float:
    return mse_conditioning(sample) / (64 * EPS) * abs(dy)


def softmax_cross_entropy_cancellation(sample: dict, dy) -> float:
    """m + log Σ e^(z−m) − z_y cancels terms of size max|z|."""
    z = np.asarray(sample["z"])
    return abs(dy) * float(np.sum(2 * np.max(np.abs(z), axis=1) + math.log(z.shape[1]) + 1)) / z.shape[0]


def binary_cross_entropy_cancellation(sample: dict, dy) -> float:
    """max(z, 0) − z·t + log1p(e^−|z|) cancels terms of size |z|."""
    z = np.asarray(sample["z"])
    return abs(dy) * float(np.sum(2 * np.abs(z) + 1)) / z.shape[0]


# --------------------------------------------------------------------------- targeted samples
def affine_targeted(op, rng: np.random.Generator) -> list[tuple[str, dict]]:
    """A square W (D = M >= 2), where a dW transposed by mistake keeps its shape."""
    N, D = int(rng.integers(1, 4)), int(rng.integers(2, 5))
    return [("square W (D = M)", {"x": rng.normal(size=(N, D)), "W": rng.normal(size=(D, D)),
                                  "b": rng.normal(size=D)})]


def conv2d_targeted(op, rng: np.random.Generator) -> list[tuple[str, dict]]:
    """W with F = C >= 2 and KH = KW >= 2, where dW with its filter/channel or kernel axes swapped keeps its shape."""
    N, C, K = int(rng.integers(1, 3)), 2, int(rng.integers(2, 4))
    pad, stride = int(rng.integers(0, 2)), int(rng.integers(1, 3))
    H, W = (int(v) for v in rng.integers(K, 6, size=2))
    return [("square W (F = C, KH = KW)", {"x": rng.normal(size=(N, C, H, W)), "W": rng.normal(size=(C, C, K, K)),
                                           "b": rng.normal(size=C), "stride": stride, "pad": pad})]
