"""Mutants for the diagnosis tests that the shared library (gradspec.properties.mutants) does not have.

Each is the reference with one protocol function rewritten the way a person
might get it wrong, written independently of :mod:`gradspec.diagnosis`'s
variants (loops instead of vectorised code where that is natural), so a
diagnosis that names them is recognising the bug, not its own code.
"""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np

import gradspec.reference as ref

_BASE = {k: getattr(ref, k) for k in dir(ref) if not k.startswith("_") and callable(getattr(ref, k))}


def make(name: str, **overrides) -> SimpleNamespace:
    ns = SimpleNamespace(**{**_BASE, **overrides})
    ns.__name__ = f"diagnosis-mutant:{name}"
    return ns


def _l2_half(W, lam, dy):
    # d/dW of ½·lam·ΣW² taken as ½·lam·W
    return float(dy) * 0.5 * lam * np.asarray(W, dtype=np.float64)


def _affine_dW_transposed(x, W, b, dy):
    x, W, dy = (np.asarray(a, dtype=np.float64) for a in (x, W, dy))
    return dy @ W.T, dy.T @ x, dy.sum(axis=0)  # dW as (M, D)


def _tanh_no_derivative(x, dy):
    out = np.empty_like(np.asarray(x, dtype=np.float64))
    for i in np.ndindex(out.shape):
        out[i] = np.asarray(dy)[i]  # "the activation's gradient is just the upstream gradient"
    return out


def _relu_loop_ge(x, dy):
    x = np.asarray(x, dtype=np.float64)
    out = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        if x[i] >= 0:
            out[i] = dy[i]
    return out


def _bn_fixed_eps(x, gamma, beta, eps=1e-5):
    return ref.batchnorm_forward(x, gamma, beta, 1e-5)  # ignores the eps passed in


def _bn_fixed_eps_backward(x, gamma, beta, eps, dy):
    return ref.batchnorm_backward(x, gamma, beta, 1e-5, dy)


def _mse_mean_all(y, t, dy):
    y, t = np.asarray(y, dtype=np.float64), np.asarray(t, dtype=np.float64)
    return float(dy) * (y - t) / y.size  # 1/(N·K): the mean over every element


def _softmax_ce_sum(z, labels, dy):
    # forgets the 1/N of the batch mean
    return ref.softmax_cross_entropy_backward(z, labels, dy) * np.shape(z)[0]


def _adam_t0(w, g, state, lr, beta1=0.9, beta2=0.999, eps=1e-8):
    # increments the counter after the update: the first update uses t = 0 + ... written as t = state + 2
    t = int(state["t"])
    g = np.asarray(g, dtype=np.float64)
    m = beta1 * state["m"] + (1 - beta1) * g
    v = beta2 * state["v"] + (1 - beta2) * g * g
    tt = t + 2
    w_new = np.asarray(w) - lr * (m / (1 - beta1**tt)) / (np.sqrt(v / (1 - beta2**tt)) + eps)
    return w_new, {"m": m, "v": v, "t": t + 1}


#: name -> (op, implementation, the diagnosis name that must be given)
DIAGNOSIS_MUTANTS = {
    "l2_penalty_backward_half": ("l2_penalty", make("l2_half", l2_penalty_backward=_l2_half), "scaled_by_1_over_2"),
    "affine_dW_transposed": ("affine", make("affine_dWT", affine_backward=_affine_dW_transposed), "transposed_weight"),
    "tanh_no_derivative": ("tanh", make("tanh_noderiv", tanh_backward=_tanh_no_derivative), "missing_activation_derivative"),
    "relu_loop_ge": ("relu", make("relu_ge", relu_backward=_relu_loop_ge), "relu_prime_at_zero_is_one"),
    "batchnorm_fixed_eps": ("batchnorm", make("bn_eps", batchnorm_forward=_bn_fixed_eps,
                                              batchnorm_backward=_bn_fixed_eps_backward), "batchnorm_other_eps"),
    "mse_mean_over_all": ("mse", make("mse_all", mse_backward=_mse_mean_all), "mean_over_all_elements"),
    "softmax_ce_sum": ("softmax_cross_entropy", make("sce_sum", softmax_cross_entropy_backward=_softmax_ce_sum),
                       "scaled_by_N"),
    "adam_counter_plus_two": ("adam", make("adam_t2", adam_update=_adam_t0), "adam_step_off_by_one"),
}
