"""Record of conv2d (``gradspec.reference.conv``)."""
from __future__ import annotations

import numpy as np

from ..spec import Arg, FdModel, Hyper, OpSpec, Sampler
from . import refs
from ..sampling import out_size, window_geometry


def conv2d_structure(rng):
    """``{"geom": (N, C, H, W, F, KH, KW, stride, pad)}`` with the kernel fitting the padded input."""
    H, W, K, stride, pad = window_geometry(rng)
    N, C, F = int(rng.integers(1, 3)), int(rng.integers(1, 4)), int(rng.integers(1, 4))
    KW = int(rng.integers(1, min(4, W + 2 * pad + 1)))
    return {"geom": (N, C, H, W, F, K, KW, stride, pad)}


def conv2d_values(case, rng):
    N, C, H, W, F, KH, KW, st, pd = case["geom"]
    return {"x": rng.normal(size=(N, C, H, W)), "W": rng.normal(size=(F, C, KH, KW)), "b": rng.normal(size=F),
            "stride": st, "pad": pd}


def conv2d_out(s) -> tuple:
    N, _, H, W = np.shape(s["x"])
    F, _, KH, KW = np.shape(s["W"])
    return (N, F, out_size(H, KH, s["stride"], s["pad"]), out_size(W, KW, s["stride"], s["pad"]))


OPS = (
    OpSpec("conv2d", "differentiable", "conv", "cross-correlation with zero padding (im2col)",
           (Arg("x", "input", True, "(N, C, H, W)"), Arg("W", "param", True, "(F, C, KH, KW)"),
            Arg("b", "param", True, "(F,)"), Arg("stride", "hyper"), Arg("pad", "hyper")),
           ("conv2d_forward", "conv2d_backward"),
           "x (N,C,H,W), W (F,C,KH,KW), b (F,) -> (N,F,OH,OW), OH = (H+2·pad−KH)//stride+1",
           # stride 2 with padding 1 and a non-square kernel; then overlapping windows
           Sampler(conv2d_structure, conv2d_values, refs.strategy("conv2d"), ("away", "hard"),
                   cases=({"geom": (1, 2, 3, 3, 2, 3, 2, 2, 1)}, {"geom": (2, 1, 3, 4, 1, 2, 2, 1, 0)})),
           conv2d_out,
           hypers=(Hyper("stride", 1, integer=True), Hyper("pad", 0, integer=True)),
           conventions=("cross-correlation (no kernel flip)", "zero padding"),
           sympy=refs.sympy("define_conv2d"), mp_forward=refs.mp_forward("conv2d"),
           error_model=refs.error_model("model_conv2d"), vector_values=refs.vector_values("values_conv2d"),
           fd_model=FdModel(magnitude=refs.fd64("conv2d_magnitude"), targeted=refs.fd64("conv2d_targeted")),
           variants=refs.variants("conv")),
)
