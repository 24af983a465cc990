"""Record of the perceptron rule (``gradspec.reference.perceptron``)."""
from __future__ import annotations

import numpy as np

from ..spec import Arg, Hyper, OpSpec, Sampler, no_structure
from . import refs


def perceptron_values(case, rng):
    D = int(rng.integers(1, 5))
    w, x = rng.normal(size=D), rng.normal(size=D)
    b = float(rng.normal())
    if rng.random() < 0.2:  # exactly on the boundary: step(0) = 0, so y = 0
        # quarter-integers: every product and partial sum of w·x is exact, so w·x + b == 0 in any summation
        # order (b = −fl(w·x) of other floats leaves a rounding error whose sign depends on the order)
        w, x = rng.integers(-8, 9, size=D) / 4.0, rng.integers(-8, 9, size=D) / 4.0
        b = -float(w @ x)
    return {"w": w, "b": b, "x": x, "t": float(rng.integers(0, 2)), "lr": float(rng.uniform(0.1, 1.0))}


def perceptron_dyadic(rng):
    """Dyadic values (multiples of 1/8), so w·x + b is exact in float64 too; one case in five on the boundary.

    The golden vectors draw these: the rule branches on the sign of w·x + b, which must be the same in
    float64 and at 50 digits.
    """
    D = int(rng.integers(1, 5))
    w, x = np.round(rng.normal(size=D) * 8) / 8, np.round(rng.normal(size=D) * 8) / 8
    b = float(np.round(rng.normal() * 8) / 8)
    if rng.random() < 0.2:
        b = -float(w @ x)
    return {"w": w, "b": b, "x": x, "t": float(rng.integers(0, 2)), "lr": float(np.round(rng.uniform(0.1, 1.0) * 8) / 8)}


OPS = (
    OpSpec("perceptron", "rule", "perceptron", "one step of the perceptron rule",
           (Arg("w", "param"), Arg("b", "param"), Arg("x", "input"), Arg("t", "target"), Arg("lr", "hyper")),
           ("perceptron_update",), "returns (w (D,), b)",
           Sampler(no_structure, perceptron_values, refs.strategy("perceptron"), ("away", "on_kink"),
                   exact=perceptron_dyadic),
           hypers=(Hyper("lr", 0.0, low_open=True),),
           conventions=("y = step(w·x + b) with step(0) = 0", "w ← w + lr(t − y)x, b ← b + lr(t − y)"),
           vector_values=refs.vector_values("values_perceptron"), kink_cases=refs.kink_cases("perceptron_cases"),
           variants=refs.variants("perceptron")),
)
