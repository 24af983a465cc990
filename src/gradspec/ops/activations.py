"""Records of the activations (``gradspec.reference.activations``): sigmoid, tanh, relu, leaky_relu, step, softmax."""
from __future__ import annotations

import numpy as np

from ..spec import Arg, FdModel, Hyper, Kink, OpSpec, Sampler
from . import refs
from ..sampling import any_shape, away_from_zero, min_abs, shape_of_x

X_ANY = Arg("x", "input", True, "any shape")


def same_shape(s) -> tuple:
    return np.shape(s["x"])


def normal2_values(case, rng):
    return {"x": rng.normal(0.0, 2.0, size=case["x"])}


def relu_values(case, rng):
    return {"x": away_from_zero(rng, case["x"])}


def leaky_relu_values(case, rng):
    return {"x": away_from_zero(rng, case["x"]), "alpha": float(rng.uniform(0.0, 1.0))}


def step_values(case, rng):
    x = rng.normal(0.0, 1.0, size=case["x"])
    x.flat[:: max(1, x.size // 3)] = 0.0  # the convention step(0) = 0 is part of the check
    return {"x": x}


def softmax_structure(rng):
    return {"x": [(int(rng.integers(1, 4)), int(rng.integers(1, 6))),
                  (int(rng.integers(1, 3)), int(rng.integers(1, 3)), int(rng.integers(2, 5)))][int(rng.integers(0, 2))]}


def softmax_values(case, rng):
    return {"x": rng.normal(0.0, 3.0, size=case["x"])}


OPS = (
    OpSpec("sigmoid", "differentiable", "activations", "logistic sigmoid 1/(1+e^-x)", (X_ANY,),
           ("sigmoid_forward", "sigmoid_backward"), "y has the shape of x",
           Sampler(shape_of_x, normal2_values, refs.strategy("elementwise"), ("away", "hard"),
                   cases=({"x": (2, 3)}, {"x": (1, 2, 1, 2)})),
           same_shape, notes="stable for |x| = 1000",
           sympy=refs.sympy("define_sigmoid"), mp_forward=refs.mp_forward("sigmoid"),
           error_model=refs.error_model("model_sigmoid"), vector_values=refs.vector_values("values_sigmoid"),
           fd_model=FdModel(large_logits="x"),
           variants=refs.variants("activations")),
    OpSpec("tanh", "differentiable", "activations", "hyperbolic tangent", (X_ANY,),
           ("tanh_forward", "tanh_backward"), "y has the shape of x",
           Sampler(shape_of_x, normal2_values, refs.strategy("elementwise"), ("away", "hard"),
                   cases=({"x": (2, 3)}, {"x": (4,)})),
           same_shape,
           sympy=refs.sympy("define_tanh"), mp_forward=refs.mp_forward("tanh"),
           error_model=refs.error_model("model_tanh"), vector_values=refs.vector_values("values_tanh"),
           fd_model=FdModel(large_logits="x"),
           variants=refs.variants("activations")),
    OpSpec("relu", "differentiable", "activations", "max(x, 0)", (X_ANY,), ("relu_forward", "relu_backward"),
           "y has the shape of x",
           Sampler(shape_of_x, relu_values, refs.strategy("elementwise", away_from_zero=True), ("away", "on_kink", "hard"),
                   cases=({"x": (2, 3)}, {"x": (1, 1, 2, 2)})),
           same_shape,
           kinks=(Kink("x", "x == 0", "relu'(0) = 0", lambda s: min_abs(s["x"])),),
           conventions=("relu'(0) = 0",),
           sympy=refs.sympy("define_relu"), mp_forward=refs.mp_forward("relu"),
           error_model=refs.error_model("model_relu"), vector_values=refs.vector_values("values_relu"),
           kink_cases=refs.kink_cases("relu_cases"),
           variants=refs.variants("activations")),
    OpSpec("leaky_relu", "differentiable", "activations", "x where x > 0, else alpha·x",
           (X_ANY, Arg("alpha", "hyper", False, "slope for x <= 0")), ("leaky_relu_forward", "leaky_relu_backward"),
           "y has the shape of x",
           Sampler(shape_of_x, leaky_relu_values, refs.strategy("leaky_relu"), ("away", "on_kink", "hard"),
                   cases=({"x": (2, 3)}, {"x": (1, 1, 2, 2)})),
           same_shape, hypers=(Hyper("alpha", 0.0, 1.0, high_open=True, default=0.01, doc="slope for x <= 0"),),
           kinks=(Kink("x", "x == 0", "leaky_relu'(0) = alpha (the left slope)", lambda s: min_abs(s["x"])),),
           conventions=("leaky_relu'(0) = alpha",),
           sympy=refs.sympy("define_leaky_relu"), mp_forward=refs.mp_forward("leaky_relu"),
           error_model=refs.error_model("model_leaky_relu"), vector_values=refs.vector_values("values_leaky_relu"),
           kink_cases=refs.kink_cases("leaky_relu_cases"), variants=refs.variants("activations")),
    OpSpec("step", "function", "activations", "Heaviside step of the perceptron: 1.0 where x > 0 else 0.0",
           (Arg("x", "input", False, "any shape"),), ("step_forward",), "y has the shape of x",
           Sampler(shape_of_x, step_values, refs.strategy("elementwise", away_from_zero=True), ("away", "on_kink")),
           same_shape,
           kinks=(Kink("x", "x == 0", "step(0) = 0; no gradient (not used in backprop)", lambda s: min_abs(s["x"])),),
           conventions=("step(0) = 0",),
           vector_values=refs.vector_values("values_step"), kink_cases=refs.kink_cases("step_cases"),
           variants=refs.variants("activations")),
    OpSpec("softmax", "differentiable", "activations", "softmax over the last axis",
           (Arg("x", "input", True, "(..., K)"),), ("softmax_forward", "softmax_backward"),
           "y has the shape of x; rows sum to 1",
           Sampler(softmax_structure, softmax_values, refs.strategy("softmax"), ("away", "hard"),
                   cases=({"x": (2, 3)}, {"x": (1, 2, 4)})),
           same_shape,
           sympy=refs.sympy("define_softmax"), mp_forward=refs.mp_forward("softmax"),
           error_model=refs.error_model("model_softmax"), vector_values=refs.vector_values("values_softmax"),
           fd_model=FdModel(large_logits="x"),
           variants=refs.variants("activations")),
)
