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


# --------------------------------------------------------------------------- causes with their own explanations
def _bn_stats_4d_per_activation(x, eps):
    # statistics over the batch only, for every (c, h, w) activation, as for a fully connected layer
    x = np.asarray(x, dtype=np.float64)
    mu = np.mean(x, axis=0, keepdims=True)
    var = np.mean((x - mu) ** 2, axis=0, keepdims=True)
    return (x - mu) / np.sqrt(var + eps), var


def _bn_per_activation_fwd(x, gamma, beta, eps=1e-5, fixed_eps=None):
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 2:
        return ref.batchnorm_forward(x, gamma, beta, eps if fixed_eps is None else fixed_eps)
    xhat, _ = _bn_stats_4d_per_activation(x, eps if fixed_eps is None else fixed_eps)
    return np.asarray(gamma).reshape(1, -1, 1, 1) * xhat + np.asarray(beta).reshape(1, -1, 1, 1)


def _bn_per_activation_bwd(x, gamma, beta, eps, dy, fixed_eps=None):
    x, dy = np.asarray(x, dtype=np.float64), np.asarray(dy, dtype=np.float64)
    e = eps if fixed_eps is None else fixed_eps
    if x.ndim == 2:
        return ref.batchnorm_backward(x, gamma, beta, e, dy)
    xhat, var = _bn_stats_4d_per_activation(x, e)
    N = x.shape[0]
    g = np.asarray(gamma).reshape(1, -1, 1, 1)
    dxh = dy * g
    dx = (N * dxh - dxh.sum(axis=0, keepdims=True) - xhat * np.sum(dxh * xhat, axis=0, keepdims=True)) / (N * np.sqrt(var + e))
    return dx, np.sum(dy * xhat, axis=(0, 2, 3)), np.sum(dy, axis=(0, 2, 3))


def _ce_log_eps_fwd(p, t):
    p, t = np.asarray(p, dtype=np.float64), np.asarray(t, dtype=np.float64)
    total = 0.0
    for n in range(p.shape[0]):
        for k in range(p.shape[1]):
            total -= t[n, k] * np.log(p[n, k] + 1e-7)  # "avoid log(0)"
    return float(total / p.shape[0])


def _ce_log_eps_bwd(p, t, dy):
    p, t = np.asarray(p, dtype=np.float64), np.asarray(t, dtype=np.float64)
    return -float(dy) * t / ((p + 1e-7) * p.shape[0])


def _sigmoid_backward_ignores_dy(x, dy):
    s = 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=np.float64)))
    return s * (1.0 - s)  # the local derivative, never multiplied by dy


def _affine_backward_ignores_dy(x, W, b, dy):
    x, W = np.asarray(x, dtype=np.float64), np.asarray(W, dtype=np.float64)
    ones = np.ones((x.shape[0], W.shape[1]))
    return ones @ W.T, x.T @ ones, ones.sum(axis=0)


def _conv_raises_with_padding(x, W, b, stride, pad):
    if pad:  # pads only H: the im2col shapes no longer agree
        x = np.pad(np.asarray(x, dtype=np.float64), ((0, 0), (0, 0), (pad, pad), (0, 0)))
        N, C, H, Wd = x.shape
        F, _, KH, KW = np.shape(W)
        cols = np.empty((N, C * KH * KW, ((H - KH) // stride + 1) * ((Wd + 2 * pad - KW) // stride + 1)))
        cols[...] = x.reshape(N, C * KH * KW, -1)  # raises
    return ref.conv2d_forward(x, W, b, stride, pad)


def _conv_raises_with_padding_bwd(x, W, b, stride, pad, dy):
    _conv_raises_with_padding(x, W, b, stride, pad)
    return ref.conv2d_backward(x, W, b, stride, pad, dy)


def _mse_raises_for_one_column(y, t, dy):
    y, t = np.asarray(y, dtype=np.float64), np.asarray(t, dtype=np.float64)
    K = y.shape[1]
    return float(dy) * (y - t) / y.shape[0] * ((K - 1) // (K - 1))  # ZeroDivisionError when K = 1


def _sce_squeezed(z, labels):
    z = np.asarray(z, dtype=np.float64)
    zs = z - z.max(axis=1, keepdims=True)
    logp = (zs - np.log(np.exp(zs).sum(axis=1, keepdims=True))).squeeze()  # meant to drop a stray axis
    n = np.arange(len(labels))
    return -float(np.mean(logp[n, np.asarray(labels)]))  # IndexError whenever N = 1 or K = 1


def _adam_eps_on_raw_sqrt_v(w, g, state, lr, beta1=0.9, beta2=0.999, eps=1e-8):
    # Kingma & Ba's "efficient" ordering: both corrections folded into the step, eps on the raw sqrt(v)
    t = int(state["t"]) + 1
    g = np.asarray(g, dtype=np.float64)
    m = beta1 * state["m"] + (1 - beta1) * g
    v = beta2 * state["v"] + (1 - beta2) * g * g
    step = lr * np.sqrt(1 - beta2**t) / (1 - beta1**t)
    return np.asarray(w) - step * m / (np.sqrt(v) + eps), {"m": m, "v": v, "t": t}


def _momentum_fixed_mu(w, g, state, lr, momentum=0.9):
    v = 0.9 * np.asarray(state["v"]) - lr * np.asarray(g)  # the momentum passed in is ignored
    return np.asarray(w) + v, {"v": v}


def _sgd_fixed_lr(w, g, state, lr):
    return np.asarray(w, dtype=np.float64) - 0.01 * np.asarray(g, dtype=np.float64), {}


def _dropout_fixed_p_fwd(x, mask, p):
    return np.asarray(x, dtype=np.float64) * mask / 0.5


def _dropout_fixed_p_bwd(x, mask, p, dy):
    return np.asarray(dy, dtype=np.float64) * mask / 0.5


# --------------------------------------------------------------------------- correct rewrites (no diagnosis allowed)
def _bn_rewrite_fwd(x, gamma, beta, eps=1e-5):
    x = np.asarray(x, dtype=np.float64)
    axes = (0,) if x.ndim == 2 else (0, 2, 3)
    shape = (1, -1) if x.ndim == 2 else (1, -1, 1, 1)
    mu = x.mean(axis=axes, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=axes, keepdims=True)
    return np.asarray(gamma).reshape(shape) * (x - mu) / np.sqrt(var + eps) + np.asarray(beta).reshape(shape)


def _bn_rewrite_bwd(x, gamma, beta, eps, dy):
    x, dy = np.asarray(x, dtype=np.float64), np.asarray(dy, dtype=np.float64)
    axes = (0,) if x.ndim == 2 else (0, 2, 3)
    shape = (1, -1) if x.ndim == 2 else (1, -1, 1, 1)
    m = x.size // x.shape[1]
    mu = x.mean(axis=axes, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=axes, keepdims=True)
    xhat = (x - mu) / np.sqrt(var + eps)
    dxh = dy * np.asarray(gamma).reshape(shape)
    dx = (m * dxh - dxh.sum(axis=axes, keepdims=True) - xhat * (dxh * xhat).sum(axis=axes, keepdims=True)) / (m * np.sqrt(var + eps))
    return dx, (dy * xhat).sum(axis=axes), dy.sum(axis=axes)


def _ce_rewrite_fwd(p, t):
    p, t = np.asarray(p, dtype=np.float64), np.asarray(t, dtype=np.float64)
    return float(-(t * np.log(p)).sum() / p.shape[0])


def _adam_rewrite(w, g, state, lr, beta1=0.9, beta2=0.999, eps=1e-8):
    t = int(state["t"]) + 1
    g = np.asarray(g, dtype=np.float64)
    m = beta1 * state["m"] + (1 - beta1) * g
    v = beta2 * state["v"] + (1 - beta2) * g * g
    return np.asarray(w) - lr * (m / (1 - beta1**t)) / (np.sqrt(v / (1 - beta2**t)) + eps), {"m": m, "v": v, "t": t}


def _sigmoid_rewrite_bwd(x, dy):
    s = 0.5 * (1.0 + np.tanh(0.5 * np.asarray(x, dtype=np.float64)))
    return np.asarray(dy, dtype=np.float64) * s * (1.0 - s)


#: op -> a correct implementation written differently from the reference: no cause may be named for it
CORRECT_REWRITES = {
    "batchnorm": make("bn_rewrite", batchnorm_forward=_bn_rewrite_fwd, batchnorm_backward=_bn_rewrite_bwd),
    "cross_entropy": make("ce_rewrite", cross_entropy_forward=_ce_rewrite_fwd),
    "adam": make("adam_rewrite", adam_update=_adam_rewrite),
    "sigmoid": make("sigmoid_rewrite", sigmoid_backward=_sigmoid_rewrite_bwd),
}


#: name -> (op, implementation, the diagnosis name that must be given)
DIAGNOSIS_MUTANTS = {
    "l2_penalty_backward_half": ("l2_penalty", make("l2_half", l2_penalty_backward=_l2_half), "scaled_by_1_over_2"),
    "affine_dW_transposed": ("affine", make("affine_dWT", affine_backward=_affine_dW_transposed), "transposed_weight"),
    "tanh_no_derivative": ("tanh", make("tanh_noderiv", tanh_backward=_tanh_no_derivative), "missing_activation_derivative"),
    "relu_loop_ge": ("relu", make("relu_ge", relu_backward=_relu_loop_ge), "relu_prime_at_zero_is_one"),
    "batchnorm_fixed_eps": ("batchnorm", make("bn_eps", batchnorm_forward=_bn_fixed_eps,
                                              batchnorm_backward=_bn_fixed_eps_backward), "ignored_hyperparameter"),
    "mse_mean_over_all": ("mse", make("mse_all", mse_backward=_mse_mean_all), "mean_over_all_elements"),
    "softmax_ce_sum": ("softmax_cross_entropy", make("sce_sum", softmax_cross_entropy_backward=_softmax_ce_sum),
                       "scaled_by_N"),
    "adam_counter_plus_two": ("adam", make("adam_t2", adam_update=_adam_t0), "adam_step_off_by_one"),
    "batchnorm_per_activation_4d": ("batchnorm", make("bn_act", batchnorm_forward=_bn_per_activation_fwd,
                                                    batchnorm_backward=_bn_per_activation_bwd),
                                    "batchnorm_per_activation_statistics"),
    "cross_entropy_log_p_plus_eps": ("cross_entropy", make("ce_eps", cross_entropy_forward=_ce_log_eps_fwd,
                                                            cross_entropy_backward=_ce_log_eps_bwd), "log_of_p_plus_eps"),
    "sigmoid_backward_ignores_dy": ("sigmoid", make("sig_nody", sigmoid_backward=_sigmoid_backward_ignores_dy),
                                    "backward_ignores_dy"),
    "affine_backward_ignores_dy": ("affine", make("aff_nody", affine_backward=_affine_backward_ignores_dy),
                                   "backward_ignores_dy"),
    "adam_eps_on_raw_sqrt_v": ("adam", make("adam_raw_v", adam_update=_adam_eps_on_raw_sqrt_v), "adam_eps_on_uncorrected_sqrt_v"),
    "momentum_fixed_mu": ("momentum", make("mom_fixed", momentum_update=_momentum_fixed_mu), "ignored_hyperparameter"),
    "sgd_fixed_lr": ("sgd", make("sgd_fixed", sgd_update=_sgd_fixed_lr), "ignored_hyperparameter"),
    "dropout_fixed_p": ("dropout", make("drop_fixed", dropout_forward=_dropout_fixed_p_fwd,
                                        dropout_backward=_dropout_fixed_p_bwd), "ignored_hyperparameter"),
}

#: two bugs at once: batchnorm with eps hard-coded to 1e-5 AND per-activation statistics on 4-D input
BATCHNORM_TWO_BUGS = make(
    "bn_two_bugs",
    batchnorm_forward=lambda x, gamma, beta, eps=1e-5: _bn_per_activation_fwd(x, gamma, beta, eps, fixed_eps=1e-5),
    batchnorm_backward=lambda x, gamma, beta, eps, dy: _bn_per_activation_bwd(x, gamma, beta, eps, dy, fixed_eps=1e-5))

#: functions that raise for one class of inputs: (op, implementation, the hyperparameter or dimension, the class)
INPUT_CLASS_MUTANTS = {
    "conv2d_raises_with_padding": ("conv2d", make("conv_pad", conv2d_forward=_conv_raises_with_padding,
                                                  conv2d_backward=_conv_raises_with_padding_bwd), "pad", ">", 0),
    "mse_raises_for_one_column": ("mse", make("mse_k1", mse_backward=_mse_raises_for_one_column), "K", "=", 1),
}

#: raises whenever N = 1 or K = 1 (two conditions)
SCE_SQUEEZED = make("sce_squeeze", softmax_cross_entropy_forward=_sce_squeezed)

#: several broken ops in one module, for timing ``gradspec check`` (see benchmarks/bench_diagnosis.py)
SEVERAL_BROKEN = make(
    "several_broken",
    batchnorm_forward=BATCHNORM_TWO_BUGS.batchnorm_forward, batchnorm_backward=BATCHNORM_TWO_BUGS.batchnorm_backward,
    cross_entropy_forward=_ce_log_eps_fwd, cross_entropy_backward=_ce_log_eps_bwd,
    sigmoid_backward=_sigmoid_backward_ignores_dy, conv2d_forward=_conv_raises_with_padding,
    conv2d_backward=_conv_raises_with_padding_bwd, mse_backward=_mse_raises_for_one_column,
    adam_update=_adam_eps_on_raw_sqrt_v, momentum_update=_momentum_fixed_mu,
    l2_penalty_backward=_l2_half, affine_backward=_affine_dW_transposed)
