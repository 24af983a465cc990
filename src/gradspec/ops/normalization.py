"""Record of batch normalisation (``gradspec.reference.normalization``)."""
from __future__ import annotations

import numpy as np

from ..spec import Arg, FdModel, Hyper, OpSpec, Sampler
from . import refs


def batchnorm_structure(rng):
    """``{"x": shape}``: (N, D) with N >= 2, or (N, C, H, W) with W >= 2 (at least 2 values per group)."""
    if rng.random() < 0.5:
        return {"x": (int(rng.integers(2, 6)), int(rng.integers(1, 4)))}
    D = int(rng.integers(1, 3))
    return {"x": (int(rng.integers(1, 3)), D, int(rng.integers(1, 3)), int(rng.integers(2, 4)))}


def batchnorm_values(case, rng):
    shape = case["x"]
    D = shape[1]
    x = rng.normal(0.0, 1.0, size=shape) * rng.uniform(0.5, 2.0) + rng.normal()
    return {"x": x, "gamma": rng.normal(1.0, 0.5, size=D), "beta": rng.normal(size=D),
            "eps": float(rng.choice([1e-5, 1e-3, 0.1]))}


OPS = (
    OpSpec("batchnorm", "differentiable", "normalization", "training-mode batch norm, biased variance",
           (Arg("x", "input", True, "(N, D) or (N, C, H, W)"), Arg("gamma", "param", True, "(D,) or (C,)"),
            Arg("beta", "param", True, "(D,) or (C,)"), Arg("eps", "hyper")),
           ("batchnorm_forward", "batchnorm_backward"), "y has the shape of x; statistics per feature/channel",
           Sampler(batchnorm_structure, batchnorm_values, refs.strategy("batchnorm"), ("away", "hard"),
                   cases=({"x": (3, 2)}, {"x": (2, 2, 1, 2)})),
           lambda s: np.shape(s["x"]), hypers=(Hyper("eps", 0.0, low_open=True, default=1e-5),),
           domain="at least 2 values per normalised group",
           conventions=("batch statistics", "biased variance (divide by m)", "eps inside the square root"),
           sympy=refs.sympy("define_batchnorm"), mp_forward=refs.mp_forward("batchnorm"),
           error_model=refs.error_model("model_batchnorm"), vector_values=refs.vector_values("values_batchnorm"),
           fd_model=FdModel(step=refs.fd64("batchnorm_step"), conditioning=refs.fd64("batchnorm_conditioning"),
                            cancellation=refs.fd64("batchnorm_cancellation")),
           variants=refs.variants("normalization")),
)
