"""Statistics of random draws shared by the oracles, the diagnosis and the reports.

The Kolmogorov–Smirnov test of a sample against a distribution function, the normal and uniform distribution
functions of the init schemes, and :func:`init_statistics` (mean, variance and KS statistics of a drawn weight
array against its scheme's target). Pure functions of their arguments; NumPy only.
"""
from __future__ import annotations

import math

import numpy as np


def kolmogorov_sf(x: float) -> float:
    """Survival function of the Kolmogorov distribution, P(K > x) = 2Σ(−1)^{k−1} e^{−2k²x²}."""
    if x <= 0.0:
        return 1.0
    if x < 0.2:
        return 1.0
    total = sum((-1) ** (k - 1) * math.exp(-2.0 * k * k * x * x) for k in range(1, 101))
    return min(1.0, max(0.0, 2.0 * total))


def ks_test(sample: np.ndarray, cdf) -> tuple[float, float]:
    """One-sample KS statistic D and its asymptotic p-value (with Stephens' small-n correction)."""
    x = np.sort(np.ravel(sample))
    n = x.size
    F = cdf(x)
    d = max(float(np.max(np.arange(1, n + 1) / n - F)), float(np.max(F - np.arange(n) / n)))
    sqn = math.sqrt(n)
    return d, kolmogorov_sf((sqn + 0.12 + 0.11 / sqn) * d)


def normal_cdf(std):
    erf = np.vectorize(math.erf)
    return lambda x: 0.5 * (1.0 + erf(np.asarray(x) / (std * math.sqrt(2.0))))


def uniform_cdf(a):
    return lambda x: np.clip((np.asarray(x) + a) / (2.0 * a), 0.0, 1.0)


def init_statistics(W: np.ndarray, family: str, var: float) -> dict:
    """Mean, variance and KS statistics of a drawn weight array against its scheme's target."""
    n = W.size
    std = math.sqrt(var)
    mean = float(W.mean())
    s2 = float(W.var())
    kurt_factor = 2.0 if family == "normal" else 0.8  # Var(s²) ≈ (μ4 − σ⁴)/n: 2σ⁴ normal, 0.8σ⁴ uniform
    cdf = normal_cdf(std) if family == "normal" else uniform_cdf(math.sqrt(3.0 * var))
    d, p = ks_test(W, cdf)
    return {
        "n": n, "family": family, "target_var": var, "mean": mean, "var": s2,
        "mean_z": mean / (std / math.sqrt(n)),
        "var_z": (s2 - var) / (var * math.sqrt(kurt_factor / n)),
        "ks_d": d, "ks_p": p,
    }
