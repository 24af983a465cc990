"""Records of the regularisers (``gradspec.reference.regularization``): dropout, the L2 penalty, gradient clipping."""
from __future__ import annotations

import numpy as np

from ..spec import Arg, Hyper, OpSpec, Sampler, no_structure
from . import refs
from ..sampling import any_shape


def dropout_structure(rng):
    shape = any_shape(rng)
    while int(np.prod(shape)) < 2:
        shape = any_shape(rng)
    return {"x": shape}


def dropout_values(case, rng):
    mask = (rng.random(case["x"]) < 0.5).astype(float)
    mask.flat[0], mask.flat[-1] = 0.0, 1.0  # both values present
    return {"x": rng.normal(size=case["x"]), "mask": mask, "p": float(rng.choice([0.0, 0.2, 0.5, 0.9]))}


def l2_penalty_structure(rng):
    return {"W": any_shape(rng)}


def l2_penalty_values(case, rng):
    return {"W": rng.normal(size=case["W"]), "lam": float(rng.uniform(0.0, 2.0))}


def grad_list(rng):
    return [rng.normal(0.0, 2.0, size=any_shape(rng)) for _ in range(int(rng.integers(1, 4)))]


def clip_grad_norm_values(case, rng):
    grads = grad_list(rng)
    norm = float(np.sqrt(sum(np.sum(g * g) for g in grads)))
    factor = float(rng.choice([0.3, 0.9, 1.5]))  # below, near and above the threshold
    return {"grads": grads, "max_norm": max(norm * factor, 1e-3)}


def clip_grad_value_values(case, rng):
    return {"grads": grad_list(rng), "clip": float(rng.uniform(0.1, 2.0))}


OPS = (
    OpSpec("dropout", "differentiable", "regularization", "inverted dropout x·mask/(1−p)",
           (Arg("x", "input", True, "any shape"), Arg("mask", "mask", False, "0/1, shape of x"), Arg("p", "hyper")),
           ("dropout_forward", "dropout_backward"), "y has the shape of x",
           Sampler(dropout_structure, dropout_values, refs.strategy("dropout"), ("away",),
                   cases=({"x": (2, 3)}, {"x": (5,)})),
           lambda s: np.shape(s["x"]),
           hypers=(Hyper("p", 0.0, 1.0, high_open=True, doc="drop probability"),),
           conventions=("inverted dropout: scale kept units by 1/(1−p)", "p is the drop probability"),
           sympy=refs.sympy("define_dropout"), mp_forward=refs.mp_forward("dropout"),
           error_model=refs.error_model("model_dropout"), vector_values=refs.vector_values("values_dropout"),
           variants=refs.variants("regularization")),
    OpSpec("l2_penalty", "loss", "regularization", "0.5·lam·ΣW²",
           (Arg("W", "param", True, "any shape"), Arg("lam", "hyper")), ("l2_penalty_forward", "l2_penalty_backward"),
           "W (any) -> float",
           Sampler(l2_penalty_structure, l2_penalty_values, refs.strategy("l2_penalty"), ("away", "hard"),
                   cases=({"W": (2, 3)}, {"W": (1, 1, 2, 2)})),
           lambda s: (), hypers=(Hyper("lam", 0.0),),
           sympy=refs.sympy("define_l2_penalty"), mp_forward=refs.mp_forward("l2_penalty"),
           error_model=refs.error_model("model_l2_penalty"), vector_values=refs.vector_values("values_l2_penalty"),
           variants=refs.variants("regularization")),
    OpSpec("clip_grad_norm", "function", "regularization", "rescale a list of gradients to global L2 norm <= max_norm",
           (Arg("grads", "grads"), Arg("max_norm", "hyper")), ("clip_grad_norm",), "new list, same shapes",
           Sampler(no_structure, clip_grad_norm_values, refs.strategy("clip_grad_norm"), ("away", "on_kink")),
           hypers=(Hyper("max_norm", 0.0, low_open=True),),
           conventions=("global L2 norm over all arrays", "scale exactly max_norm/norm when norm > max_norm"),
           vector_values=refs.vector_values("values_clip_grad_norm"),
           variants=refs.variants("regularization")),
    OpSpec("clip_grad_value", "function", "regularization", "clamp every element to [−clip, clip]",
           (Arg("grads", "grads"), Arg("clip", "hyper")), ("clip_grad_value",), "new list, same shapes",
           Sampler(no_structure, clip_grad_value_values, refs.strategy("clip_grad_value"), ("away", "on_kink")),
           hypers=(Hyper("clip", 0.0, low_open=True),),
           vector_values=refs.vector_values("values_clip_grad_value"),
           variants=refs.variants("regularization")),
)
