"""Known variants of batchnorm.

The diagnosis forms are one family (:func:`bn_variant`, so two bugs merge into one function); the witnesses (the
mutants) are written independently (:func:`bn_witness`).
"""
from __future__ import annotations

import numpy as np

from . import Catalogue, f64

CATALOGUE = Catalogue()
C = CATALOGUE


def bn_variant(ddof=0, eps_outside=False, per_activation=False):
    def stats(x, eps):
        x = f64(x)
        eps = float(eps)
        axes = (0,) if (x.ndim == 2 or per_activation) else (0, 2, 3)
        shape = (1, -1) if x.ndim == 2 else (1, -1, 1, 1)
        m = int(np.prod([x.shape[a] for a in axes]))
        xc = x - x.mean(axis=axes, keepdims=True)
        var = np.sum(xc * xc, axis=axes, keepdims=True) / (m - ddof)
        sd = np.sqrt(var)
        s = sd + eps if eps_outside else np.sqrt(var + eps)
        ds_dvar = 0.5 / sd if eps_outside else 0.5 / s
        return x, axes, shape, m - ddof, xc, s, ds_dvar

    def fwd(x, gamma, beta, eps=1e-5):
        x, axes, shape, d, xc, s, _ = stats(x, eps)
        return f64(gamma).reshape(shape) * (xc / s) + f64(beta).reshape(shape)

    def bwd(x, gamma, beta, eps, dy):
        x, axes, shape, d, xc, s, ds_dvar = stats(x, eps)
        dy = f64(dy)
        dxh = dy * f64(gamma).reshape(shape)
        S = np.sum(dxh * xc, axis=axes, keepdims=True)
        dx = (dxh - dxh.mean(axis=axes, keepdims=True)) / s - (S / s**2) * ds_dvar * 2.0 * xc / d
        param_axes = (0,) if x.ndim == 2 else (0, 2, 3)
        return dx, np.sum(dy * xc / s, axis=param_axes), dy.sum(axis=param_axes)

    return {"batchnorm_forward": fwd, "batchnorm_backward": bwd}


def bn_witness(ddof=0, eps_outside=False, drop_var_term=False, dbeta_mean=False):
    def stats(x, eps):
        x = np.asarray(x, dtype=np.float64)
        axes = (0,) if x.ndim == 2 else (0, 2, 3)
        shape = (1, -1) if x.ndim == 2 else (1, -1, 1, 1)
        m = int(np.prod([x.shape[a] for a in axes]))
        xc = x - x.mean(axis=axes, keepdims=True)
        var = np.sum(xc * xc, axis=axes, keepdims=True) / (m - ddof)
        inv = 1.0 / (np.sqrt(var) + eps) if eps_outside else 1.0 / np.sqrt(var + eps)
        return x, axes, shape, m, xc * inv, inv

    def fwd(x, gamma, beta, eps=1e-5):
        x, axes, shape, m, xhat, _ = stats(x, eps)
        return np.asarray(gamma).reshape(shape) * xhat + np.asarray(beta).reshape(shape)

    def bwd(x, gamma, beta, eps, dy):
        x, axes, shape, m, xhat, inv = stats(x, eps)
        dy = np.asarray(dy, dtype=np.float64)
        dxhat = dy * np.asarray(gamma).reshape(shape)
        dx = inv * (dxhat - dxhat.mean(axis=axes, keepdims=True))
        if not drop_var_term:
            dx = dx - inv * xhat * np.sum(dxhat * xhat, axis=axes, keepdims=True) / (m - ddof)
        dbeta = dy.mean(axis=axes) if dbeta_mean else dy.sum(axis=axes)
        return dx, np.sum(dy * xhat, axis=axes), dbeta

    return {"batchnorm_forward": fwd, "batchnorm_backward": bwd}


C.base("batchnorm", bn_variant())
C.variant("batchnorm_unbiased_variance", "batchnorm", "the variance is the unbiased one, Σ(x−μ)²/(m−1); the spec "
          "normalises with the biased batch variance Σ(x−μ)²/m", family=bn_variant, params={"ddof": 1},
          mutant="batchnorm_unbiased_variance",
          description="normalises by the unbiased variance (÷(m−1)) instead of the biased one (÷m)", witness=bn_witness(ddof=1))
C.variant("batchnorm_eps_outside_sqrt", "batchnorm", "divides by √σ² + eps instead of √(σ² + eps) (eps outside the square root)",
          family=bn_variant, params={"eps_outside": True}, mutant="batchnorm_eps_outside_sqrt",
          description="divides by √σ² + eps instead of √(σ² + eps)",
          witness={"batchnorm_forward": bn_witness(eps_outside=True)["batchnorm_forward"]})
C.variant("batchnorm_per_activation_statistics", "batchnorm", "on 4-D input the mean and variance are taken per activation "
          "(over N only, as for a fully connected layer) instead of per channel (over N, H and W)",
          family=bn_variant, params={"per_activation": True})
C.mutant("batchnorm_backward_missing_variance_term", "batchnorm",
         "the backward treats the variance as a constant (drops the x̂·Σ dx̂·x̂ term)",
         batchnorm_backward=bn_witness(drop_var_term=True)["batchnorm_backward"])
C.mutant("batchnorm_dbeta_averaged", "batchnorm", "dbeta is the mean of dy instead of its sum",
         batchnorm_backward=bn_witness(dbeta_mean=True)["batchnorm_backward"])


def probe_batchnorm(rng):
    x = rng.normal(0.0, 0.3, size=(5, 3))
    return {"x": x, "gamma": rng.normal(1.0, 0.5, size=3), "beta": rng.normal(size=3), "eps": 0.05}


def probe_batchnorm_4d(rng):
    x = rng.normal(0.0, 0.3, size=(3, 2, 2, 3))
    return {"x": x, "gamma": rng.normal(1.0, 0.5, size=2), "beta": rng.normal(size=2), "eps": 0.05}


C.probe("batchnorm", probe_batchnorm)
C.probe("batchnorm", probe_batchnorm_4d)


def batchnorm_bias_terms(s, key, out):
    if key not in ("dbeta", "dgamma"):
        return None
    x = np.asarray(s["x"])
    return int(x.shape[0] if x.ndim == 2 else x.shape[0] * x.shape[2] * x.shape[3])


C.bias_sum("batchnorm", batchnorm_bias_terms, "the batch and positions")
