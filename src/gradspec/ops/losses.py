"""Records of the losses (``gradspec.reference.losses``): mse, cross-entropy, softmax and binary cross-entropy."""
from __future__ import annotations

import numpy as np

from ..spec import Arg, FdModel, OpSpec, Sampler
from . import refs
from ..sampling import batch_classes


def scalar_shape(s) -> tuple:
    return ()


def mse_values(case, rng):
    N, K = case["N"], case["K"]
    return {"y": rng.normal(size=(N, K)), "t": rng.normal(size=(N, K))}


def cross_entropy_values(case, rng):
    N, K = case["N"], case["K"]
    z = rng.normal(0.0, 1.0, size=(N, K))
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    p = 0.05 + 0.9 * p  # in [0.05, 0.95]: a central difference never leaves the domain (0, 1] (K = 1 gave p = 1)
    t = np.eye(K)[rng.integers(0, K, size=N)]
    return {"p": p, "t": t}


def softmax_cross_entropy_values(case, rng):
    N, K = case["N"], case["K"]
    return {"z": rng.normal(0.0, 3.0, size=(N, K)), "labels": rng.integers(0, K, size=N)}


def binary_cross_entropy_values(case, rng):
    N, K = case["N"], case["K"]
    return {"z": rng.normal(0.0, 3.0, size=(N, K)), "t": rng.uniform(0.0, 1.0, size=(N, K))}


OPS = (
    OpSpec("mse", "loss", "losses", "0.5·Σ(y−t)²/N",
           (Arg("y", "input", True, "(N, K)"), Arg("t", "target", False, "(N, K)")),
           ("mse_forward", "mse_backward"), "y, t (N,K) -> float",
           Sampler(batch_classes, mse_values, refs.strategy("mse"), ("away", "hard"),
                   cases=({"N": 2, "K": 3}, {"N": 3, "K": 1})),
           scalar_shape,
           sympy=refs.sympy("define_mse"), mp_forward=refs.mp_forward("mse"),
           error_model=refs.error_model("model_mse"), vector_values=refs.vector_values("values_mse"),
           fd_model=FdModel(conditioning=refs.fd64("mse_conditioning"), cancellation=refs.fd64("mse_cancellation")),
           variants=refs.variants("losses")),
    OpSpec("cross_entropy", "loss", "losses", "−Σ t·log p / N",
           (Arg("p", "input", True, "(N, K) probabilities"), Arg("t", "target", False, "(N, K) one-hot")),
           ("cross_entropy_forward", "cross_entropy_backward"), "p, t (N,K) -> float",
           Sampler(batch_classes, cross_entropy_values, refs.strategy("cross_entropy"), ("away", "hard"),
                   cases=({"N": 2, "K": 3}, {"N": 3, "K": 2})),
           scalar_shape, domain="p in (0, 1]; t in [0, 1]",
           sympy=refs.sympy("define_cross_entropy"), mp_forward=refs.mp_forward("cross_entropy"),
           error_model=refs.error_model("model_cross_entropy"), vector_values=refs.vector_values("values_cross_entropy"),
           fd_model=FdModel(step=refs.fd64("cross_entropy_step")), variants=refs.variants("losses")),
    OpSpec("softmax_cross_entropy", "loss", "losses", "fused softmax + cross-entropy from logits, mean over N",
           (Arg("z", "input", True, "(N, K) logits"), Arg("labels", "labels", False, "(N,) ints in [0, K)")),
           ("softmax_cross_entropy_forward", "softmax_cross_entropy_backward"), "z (N,K), labels (N,) -> float",
           Sampler(batch_classes, softmax_cross_entropy_values, refs.strategy("softmax_cross_entropy"), ("away", "hard"),
                   cases=({"N": 2, "K": 3}, {"N": 3, "K": 2})),
           scalar_shape, conventions=("stable for logits of ±1000",),
           sympy=refs.sympy("define_softmax_cross_entropy"), mp_forward=refs.mp_forward("softmax_cross_entropy"),
           error_model=refs.error_model("model_softmax_cross_entropy"),
           vector_values=refs.vector_values("values_softmax_cross_entropy"),
           fd_model=FdModel(cancellation=refs.fd64("softmax_cross_entropy_cancellation"), large_logits="z"),
           variants=refs.variants("losses")),
    OpSpec("binary_cross_entropy", "loss", "losses", "binary cross-entropy from logits, mean over N",
           (Arg("z", "input", True, "(N, K) logits"), Arg("t", "target", False, "(N, K) in [0, 1]")),
           ("binary_cross_entropy_forward", "binary_cross_entropy_backward"), "z, t (N,K) -> float",
           Sampler(batch_classes, binary_cross_entropy_values, refs.strategy("binary_cross_entropy"), ("away", "hard"),
                   cases=({"N": 2, "K": 2}, {"N": 1, "K": 3})),
           scalar_shape, domain="t in [0, 1]", conventions=("from logits; stable for ±1000",),
           sympy=refs.sympy("define_binary_cross_entropy"), mp_forward=refs.mp_forward("binary_cross_entropy"),
           error_model=refs.error_model("model_binary_cross_entropy"),
           vector_values=refs.vector_values("values_binary_cross_entropy"),
           fd_model=FdModel(cancellation=refs.fd64("binary_cross_entropy_cancellation"), large_logits="z"),
           variants=refs.variants("losses")),
)
