"""Known variants of the MLP's backpropagation (BP1–BP4), in both layouts.

One family (:func:`mlp_variant`) replaces ``mlp_backprop`` and the two ``*_loss_and_grads`` consistently; the
diagnosis evaluates ``mlp_loss_and_grads`` (the op's protocol function), the properties all three.
"""
from __future__ import annotations

import numpy as np

from .. import reference as ref
from ..reference import mlp as ref_mlp
from . import Catalogue

CATALOGUE = Catalogue()
C = CATALOGUE


def mlp_variant(no_bp2_prime=False, bias_mean=False, relu_ge=False, no_bp1_prime=False, no_transpose=False, col_no_m=False):
    def prime(name, z):
        if relu_ge and name == "relu":
            return (z >= 0).astype(np.float64)
        return ref_mlp.activation_prime(name, z)

    def backprop(params, X, T, hidden, output, layout="row"):
        params, X, T = ref_mlp.check_mlp_args(params, X, T, hidden, output, layout)
        batch_axis = 0 if layout == "row" else 1
        m = X.shape[batch_axis]
        zs, acts = ref_mlp.mlp_forward(params, X, hidden, layout)
        L = len(params)
        loss, delta = ref_mlp.output_and_delta(zs[-1], T, output, batch_axis)
        if no_bp1_prime and output == "sigmoid_mse":
            delta = ref.sigmoid_forward(zs[-1]) - T
        if layout == "row":
            delta = delta / m
        deltas = [None] * L
        deltas[L - 1] = delta
        for l in range(L - 1, 0, -1):
            Wn = params[l][0]
            if no_transpose:
                back = delta @ Wn if layout == "row" else Wn @ delta
            else:
                back = delta @ Wn.T if layout == "row" else Wn.T @ delta
            delta = back if no_bp2_prime else back * prime(hidden, zs[l - 1])
            deltas[l - 1] = delta
        grads = []
        for l in range(L):
            a_in, d = acts[l], deltas[l]
            if layout == "row":
                grads.append((a_in.T @ d, d.mean(axis=0) if bias_mean else d.sum(axis=0)))
            else:
                k = 1 if col_no_m else m
                grads.append((d @ a_in.T / k, d.sum(axis=1, keepdims=True) / m))
        return loss, grads, deltas

    return {"mlp_backprop": backprop,
            "mlp_loss_and_grads": lambda params, X, T, hidden, output: backprop(params, X, T, hidden, output, "row")[:2],
            "mlp_col_loss_and_grads": lambda params, X, T, hidden, output: backprop(params, X, T, hidden, output, "column")[:2]}


C.variant("missing_activation_derivative", "mlp", "BP2 without σ'(z^l): δ^l = (W^(l+1))ᵀ δ^(l+1), the hidden activation's "
          "derivative is missing", mutant="mlp_missing_activation_derivative",
          description="BP2 without σ'(z^l): δ^l = (W^(l+1))ᵀ δ^(l+1)", **mlp_variant(no_bp2_prime=True))
C.variant("bias_grad_averaged", "mlp", "BP3 averages δ over the batch; in the row layout the 1/N is already inside δ, so "
          "db must sum over the batch", mutant="mlp_bias_grad_averaged",
          description="BP3 in the row layout averages δ over the batch (the 1/N is already inside δ)",
          **mlp_variant(bias_mean=True))
C.variant("relu_prime_at_zero_is_one", "mlp", "hidden relu'(0) = 1 (z >= 0); the spec fixes relu'(0) = 0",
          mutant="mlp_relu_prime_at_zero_is_one", description="hidden relu'(0) = 1", **mlp_variant(relu_ge=True))
C.variant("missing_activation_derivative", "mlp", "BP1 without σ'(z^L) for the sigmoid output: δ^L = a^L − y",
          mutant="mlp_bp1_missing_output_derivative", description="BP1 for a sigmoid output forgets σ'(z^L): δ^L = a^L − y",
          **mlp_variant(no_bp1_prime=True))
C.variant("transposed_weight", "mlp", "BP2 multiplies δ^(l+1) by W^(l+1) instead of its transpose",
          mutant="mlp_missing_transpose", description="BP2 multiplies by W^(l+1) instead of its transpose",
          **mlp_variant(no_transpose=True))
C.mutant("mlp_column_dW_missing_1_over_m", "mlp", "column layout: dW = δ aᵀ without the 1/m of the mini-batch mean",
         **mlp_variant(col_no_m=True))


def probe_mlp(hidden, output, zero_pre=False):
    def probe(rng):
        widths = [3, 3, 3, 3]
        params = [(rng.normal(0, 0.6, size=(3, 3)), rng.normal(0, 0.5, size=3)) for _ in range(3)]
        X = rng.normal(size=(4, 3))
        if zero_pre:  # example 0 is all zeros and unit 1 has no bias: its pre-activation is exactly 0
            X[0] = 0.0
            params[0][1][1] = 0.0
        T = rng.integers(0, 3, size=4) if output == "softmax_cross_entropy" else rng.normal(size=(4, widths[-1]))
        return {"params": params, "X": X, "T": T, "hidden": hidden, "output": output}

    return probe


C.probe("mlp", probe_mlp("tanh", "sigmoid_mse"))
C.probe("mlp", probe_mlp("relu", "identity_mse", zero_pre=True))

C.bias_sum("mlp", lambda s, key, out: int(np.shape(s["X"])[0]) if key.startswith("db") else None, "the batch")
