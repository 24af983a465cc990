"""Record of the L-layer perceptron (``gradspec.reference.mlp``)."""
from __future__ import annotations

import numpy as np

from ..spec import Arg, Kink, OpSpec, Sampler
from . import refs
from ..sampling import KINK_MARGIN, mlp_kink_distance

HIDDEN = ("sigmoid", "tanh", "relu")
OUTPUTS = ("identity_mse", "sigmoid_mse", "softmax_cross_entropy")


def mlp_structure(rng):
    """``(widths, N)``: 1 to 4 layers of widths 1 to 4, a batch of 1 to 4."""
    L = int(rng.integers(1, 5))
    widths = tuple(int(rng.integers(1, 5)) for _ in range(L + 1))
    return widths, int(rng.integers(1, 5))


def mlp_values(case, rng):
    """An MLP sample at ``case = (widths, N)``; the relu pre-activations keep the kink margin."""
    widths, N = case
    hidden = str(rng.choice(HIDDEN))
    output = str(rng.choice(OUTPUTS))
    for _ in range(1000):
        params = [(rng.normal(0, 1.0 / np.sqrt(widths[l]), size=(widths[l], widths[l + 1])),
                   rng.normal(0, 0.5, size=widths[l + 1])) for l in range(len(widths) - 1)]
        X = rng.normal(size=(N, widths[0]))
        if mlp_kink_distance({"params": params, "X": X, "hidden": hidden}) > KINK_MARGIN:
            break
    else:  # pragma: no cover
        raise RuntimeError(f"could not draw an MLP sample {widths}, N={N} away from relu's kink")
    K = widths[-1]
    T = rng.integers(0, K, size=N) if output == "softmax_cross_entropy" else rng.normal(size=(N, K))
    return {"params": params, "X": X, "T": T, "hidden": hidden, "output": output}


OPS = (
    OpSpec("mlp", "network", "mlp", "L-layer perceptron: loss and gradients by BP1–BP4",
           (Arg("params", "params", True, "[(W (n_{l-1}, n_l), b (n_l,))]"), Arg("X", "input", False, "(N, D)"),
            Arg("T", "target", False, "(N, K) or labels (N,)"), Arg("hidden", "choice"), Arg("output", "choice")),
           ("mlp_loss_and_grads",), "grads: list of (dW, db) with the shapes of params",
           Sampler(mlp_structure, mlp_values, refs.strategy("mlp"), ("away", "on_kink"),
                   cases=(((2, 3, 2), 2), ((3, 2), 3), ((2, 2, 2, 2), 1))),
           kinks=(Kink("params", "a hidden relu pre-activation at 0", "relu'(0) = 0", mlp_kink_distance),),
           conventions=("hidden in {sigmoid, tanh, relu}", "output in {identity_mse, sigmoid_mse, softmax_cross_entropy}"),
           sympy=refs.sympy("define_mlp"), mp_forward=refs.mp_forward("mlp"),
           error_model=refs.error_model("model_mlp"), vector_values=refs.vector_values("values_mlp"),
           kink_cases=refs.kink_cases("mlp_cases"),
           variants=refs.variants("mlp")),
)
