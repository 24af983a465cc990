"""Records of max and average pooling (``gradspec.reference.pooling``)."""
from __future__ import annotations

import numpy as np

from ..spec import Arg, Hyper, Kink, OpSpec, Sampler
from . import refs
from ..sampling import distinct, out_size, pool_gap, window_geometry


def pool_structure(rng):
    """``{"geom": (N, C, H, W, kernel, stride, pad)}`` with pad <= kernel//2."""
    H, W, K, stride, pad = window_geometry(rng, pool=True)
    N, C = int(rng.integers(1, 3)), int(rng.integers(1, 3))
    return {"geom": (N, C, H, W, K, stride, pad)}


def max_pool2d_values(case, rng):
    N, C, H, W, k, st, pd = case["geom"]
    return {"x": distinct(rng, (N, C, H, W)), "kernel": k, "stride": st, "pad": pd}  # no ties: away from the kink


def avg_pool2d_values(case, rng):
    N, C, H, W, k, st, pd = case["geom"]
    return {"x": rng.normal(size=(N, C, H, W)), "kernel": k, "stride": st, "pad": pd}


def pool_out(s) -> tuple:
    N, C, H, W = np.shape(s["x"])
    k, st, p = s["kernel"], s["stride"], s["pad"]
    return (N, C, out_size(H, k, st, p), out_size(W, k, st, p))


POOL_ARGS = (Arg("x", "input", True, "(N, C, H, W)"), Arg("kernel", "hyper"), Arg("stride", "hyper"), Arg("pad", "hyper"))
POOL_HYPERS = (Hyper("kernel", 1, integer=True), Hyper("stride", 1, integer=True),
               Hyper("pad", 0, integer=True, doc="pad <= kernel//2"))
POOL_RULE = "x (N,C,H,W) -> (N,C,OH,OW), OH = (H+2·pad-kernel)//stride+1, pad <= kernel//2"
#: overlapping padded windows; then tiling windows
POOL_CASES = ({"geom": (1, 2, 3, 3, 3, 2, 1)}, {"geom": (1, 1, 4, 4, 2, 2, 0)})

OPS = (
    OpSpec("max_pool2d", "differentiable", "pooling", "max over square windows", POOL_ARGS,
           ("max_pool2d_forward", "max_pool2d_backward"), POOL_RULE,
           Sampler(pool_structure, max_pool2d_values, refs.strategy("max_pool2d"), ("away", "on_kink"), cases=POOL_CASES),
           pool_out, hypers=POOL_HYPERS,
           kinks=(Kink("x", "a tie for the maximum of a window",
                       "the gradient goes to the first maximum in row-major window order", pool_gap),),
           conventions=("padding never wins (it is -inf)", "a tie sends the gradient to the first maximum"),
           sympy=refs.sympy("define_max_pool2d"), mp_forward=refs.mp_forward("max_pool2d"),
           error_model=refs.error_model("model_max_pool2d"), vector_values=refs.vector_values("values_max_pool2d"),
           kink_cases=refs.kink_cases("max_pool2d_cases"),
           variants=refs.variants("pooling")),
    OpSpec("avg_pool2d", "differentiable", "pooling", "mean over square windows", POOL_ARGS,
           ("avg_pool2d_forward", "avg_pool2d_backward"), POOL_RULE,
           Sampler(pool_structure, avg_pool2d_values, refs.strategy("avg_pool2d"), ("away", "on_kink"), cases=POOL_CASES),
           pool_out, hypers=POOL_HYPERS,
           conventions=("zero padding counts in the divisor (kernel²)",),
           sympy=refs.sympy("define_avg_pool2d"), mp_forward=refs.mp_forward("avg_pool2d"),
           error_model=refs.error_model("model_avg_pool2d"), vector_values=refs.vector_values("values_avg_pool2d"),
           kink_cases=refs.kink_cases("avg_pool2d_cases"),
           variants=refs.variants("pooling")),
)
