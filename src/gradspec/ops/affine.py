"""Record of the affine layer (``gradspec.reference.affine``)."""
from __future__ import annotations

import numpy as np

from ..spec import Arg, FdModel, OpSpec, Sampler
from . import refs


def affine_structure(rng):
    N, D, M = (int(v) for v in rng.integers(1, [5, 6, 5]))
    return {"N": N, "D": D, "M": M}


def affine_values(case, rng):
    N, D, M = case["N"], case["D"], case["M"]
    return {"x": rng.normal(size=(N, D)), "W": rng.normal(size=(D, M)), "b": rng.normal(size=M)}


OPS = (
    OpSpec("affine", "differentiable", "affine", "x @ W + b",
           (Arg("x", "input", True, "(N, D)"), Arg("W", "param", True, "(D, M)"), Arg("b", "param", True, "(M,)")),
           ("affine_forward", "affine_backward"), "x (N,D), W (D,M), b (M,) -> (N,M)",
           # the second case's W is square: a missing transpose keeps the shape
           Sampler(affine_structure, affine_values, refs.strategy("affine"), ("away", "hard"),
                   cases=({"N": 2, "D": 3, "M": 2}, {"N": 3, "D": 2, "M": 2})),
           lambda s: (np.shape(s["x"])[0], np.shape(s["W"])[1]),
           sympy=refs.sympy("define_affine"), mp_forward=refs.mp_forward("affine"),
           error_model=refs.error_model("model_affine"), vector_values=refs.vector_values("values_affine"),
           fd_model=FdModel(magnitude=refs.fd64("affine_magnitude"), targeted=refs.fd64("affine_targeted")),
           variants=refs.variants("affine")),
)
