"""Record of the perceptron rule (``gradspec.reference.perceptron``)."""
from __future__ import annotations

from ..spec import Arg, Hyper, OpSpec, Sampler, no_structure
from . import refs


def perceptron_values(case, rng):
    D = int(rng.integers(1, 5))
    w, x = rng.normal(size=D), rng.normal(size=D)
    b = float(rng.normal())
    if rng.random() < 0.2:  # exactly on the boundary: step(0) = 0, so y = 0
        b = -float(w @ x)
    return {"w": w, "b": b, "x": x, "t": float(rng.integers(0, 2)), "lr": float(rng.uniform(0.1, 1.0))}


OPS = (
    OpSpec("perceptron", "rule", "perceptron", "one step of the perceptron rule",
           (Arg("w", "param"), Arg("b", "param"), Arg("x", "input"), Arg("t", "target"), Arg("lr", "hyper")),
           ("perceptron_update",), "returns (w (D,), b)",
           Sampler(no_structure, perceptron_values, refs.strategy("perceptron"), ("away", "on_kink")),
           hypers=(Hyper("lr", 0.0, low_open=True),),
           conventions=("y = step(w·x + b) with step(0) = 0", "w ← w + lr(t − y)x, b ← b + lr(t − y)"),
           vector_values=refs.vector_values("values_perceptron"), kink_cases=refs.kink_cases("perceptron_cases")),
)
