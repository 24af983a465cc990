"""Building blocks of the op records' samplers, and the kink-distance functions of their ``Kink`` entries.

Every sampler keeps a margin of at least :data:`KINK_MARGIN` from every kink
(relu at 0, pooling ties, the relu pre-activations of an MLP): that is what a
numerical-differentiation oracle needs. Samples placed exactly on a kink, or
ill-conditioned ones, come from the property library's ``on_kink`` and
``hard`` strategies.
"""
from __future__ import annotations

import numpy as np

#: Every sample keeps at least this distance from a kink (relu at 0, pooling ties).
KINK_MARGIN = 0.05


def any_shape(rng: np.random.Generator) -> tuple:
    """A small 1-D, 2-D or 4-D shape."""
    return [(int(rng.integers(1, 7)),), (int(rng.integers(1, 4)), int(rng.integers(1, 5))),
            (int(rng.integers(1, 3)), int(rng.integers(1, 3)), int(rng.integers(1, 4)), int(rng.integers(1, 4)))][
        int(rng.integers(0, 3))
    ]


def shape_of_x(rng: np.random.Generator) -> dict:
    """The structure ``{"x": shape}`` of an op on one array of any shape."""
    return {"x": any_shape(rng)}


def away_from_zero(rng: np.random.Generator, shape, low: float = KINK_MARGIN * 2, high: float = 3.0) -> np.ndarray:
    """Values with low <= |x| <= high and a random sign."""
    return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(low, high, size=shape)


def min_abs(x) -> float:
    """The smallest |x| (inf for an empty array)."""
    x = np.asarray(x, dtype=float)
    return float(np.min(np.abs(x))) if x.size else float("inf")


def distinct(rng: np.random.Generator, shape, spacing: float = 0.2) -> np.ndarray:
    """Values with pairwise gaps >= spacing/2 (a shuffled grid plus small jitter)."""
    n = int(np.prod(shape))
    grid = (rng.permutation(n) - n / 2.0) * spacing
    return (grid + rng.uniform(-spacing / 4, spacing / 4, size=n)).reshape(shape)


def window_geometry(rng: np.random.Generator, pool: bool = False) -> tuple:
    """(H, W, K, stride, pad) with the kernel fitting the padded input (pad <= K//2 for pooling)."""
    K = int(rng.integers(1, 4))
    pad = int(rng.integers(0, K // 2 + 1)) if pool else int(rng.integers(0, 3))
    stride = int(rng.integers(1, 4))
    H = int(rng.integers(max(1, K - 2 * pad), 7))
    W = int(rng.integers(max(1, K - 2 * pad), 7))
    return H, W, K, stride, pad


def out_size(size: int, k: int, s: int, p: int) -> int:
    """Output length of a window of k with stride s over size + 2p."""
    return (size + 2 * p - k) // s + 1


def batch_classes(rng: np.random.Generator) -> dict:
    """The structure ``{"N": N, "K": K}`` of a loss over (N, K)."""
    return {"N": int(rng.integers(1, 5)), "K": int(rng.integers(1, 5))}


def pool_gap(sample) -> float:
    """Smallest gap between the largest and second-largest real value of any pooling window."""
    x = np.asarray(sample["x"], dtype=float)
    k, s, p = int(sample["kernel"]), int(sample["stride"]), int(sample["pad"])
    if k == 1:
        return float("inf")
    from numpy.lib.stride_tricks import sliding_window_view

    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)), constant_values=-np.inf)
    OH, OW = out_size(x.shape[2], k, s, p), out_size(x.shape[3], k, s, p)
    win = sliding_window_view(xp, (k, k), axis=(2, 3))[:, :, ::s, ::s][:, :, :OH, :OW].reshape(-1, k * k)
    top2 = np.sort(win, axis=1)[:, -2:]
    finite = np.isfinite(top2[:, 0])
    if not np.any(finite):
        return float("inf")
    return float(np.min(top2[finite, 1] - top2[finite, 0]))


def mlp_kink_distance(sample) -> float:
    """Smallest |pre-activation| of a hidden relu unit of an MLP sample (inf without relu hidden layers)."""
    if sample["hidden"] != "relu" or len(sample["params"]) < 2:
        return float("inf")
    a, d = sample["X"], float("inf")
    for W, b in sample["params"][:-1]:
        z = a @ W + b
        d = min(d, min_abs(z))
        a = np.maximum(z, 0.0)
    return d
