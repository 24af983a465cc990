"""Known variants of the losses: mse, cross_entropy, softmax_cross_entropy, binary_cross_entropy."""
from __future__ import annotations

import numpy as np

from .. import reference as ref
from . import Catalogue, f64

CATALOGUE = Catalogue()
C = CATALOGUE


def ce_log_eps(eps):
    def fwd(p, t):
        p, t = f64(p), f64(t)
        return float(-np.sum(t * np.log(p + eps)) / p.shape[0])

    def bwd(p, t, dy):
        p, t = f64(p), f64(t)
        return -float(dy) * t / ((p + eps) * p.shape[0])

    return {"cross_entropy_forward": fwd, "cross_entropy_backward": bwd}


def sce_log_eps(eps):
    def probs(z, labels):
        s = ref.softmax_forward(f64(z))
        return s, np.asarray(labels).astype(int)

    def fwd(z, labels):
        s, y = probs(z, labels)
        return float(-np.mean(np.log(s[np.arange(len(y)), y] + eps)))

    def bwd(z, labels, dy):
        s, y = probs(z, labels)
        N = len(y)
        sy = s[np.arange(N), y][:, None]
        onehot = np.eye(s.shape[1])[y]
        return -float(dy) / N * (sy / (sy + eps)) * (onehot - s)

    return {"softmax_cross_entropy_forward": fwd, "softmax_cross_entropy_backward": bwd}


#: the constants people add inside a log "to avoid log(0)"
LOG_EPS = (1e-7, 1e-8, 1e-12, 1e-15, 1e-10, 1e-9, 1e-6, 1e-5)
for _e in LOG_EPS:
    C.variant("log_of_p_plus_eps", "cross_entropy", f"the loss is computed as −Σ t·log(p + {_e:g}): the constant added "
              "\"to avoid log(0)\" shifts the loss and its gradient; the spec uses log p", facts=(("eps", _e),), **ce_log_eps(_e))
    C.variant("log_of_p_plus_eps", "softmax_cross_entropy", f"the loss is computed as −log(softmax(z)_y + {_e:g}) (the "
              "probabilities formed first, a constant added \"to avoid log(0)\"); the spec uses the exact log-softmax",
              facts=(("eps", _e),), **sce_log_eps(_e))

C.mutant("mse_forward_missing_half", "mse", "mse_forward omits the ½: Σ(y−t)²/N (a factor of 2)",
         mse_forward=lambda y, t: float(np.sum((np.asarray(y) - t) ** 2) / np.shape(y)[0]))
C.mutant("mse_backward_missing_1_over_N", "mse", "mse_backward forgets the 1/N of the batch mean",
         mse_backward=lambda y, t, dy: dy * (np.asarray(y) - t))
C.mutant("cross_entropy_backward_missing_1_over_N", "cross_entropy", "cross_entropy_backward forgets the 1/N",
         cross_entropy_backward=lambda p, t, dy: -dy * np.asarray(t) / np.asarray(p))
C.mutant("cross_entropy_forward_missing_minus", "cross_entropy", "cross_entropy_forward returns Σ t·log p / N (the minus sign lost)",
         cross_entropy_forward=lambda p, t: float(np.sum(np.asarray(t) * np.log(p)) / np.shape(p)[0]))
C.mutant("cross_entropy_backward_sign_flipped", "cross_entropy", "cross_entropy_backward returns +dy·t/(N p)",
         cross_entropy_backward=lambda p, t, dy: dy * np.asarray(t) / (np.asarray(p) * np.shape(p)[0]))


def sce_no_onehot(z, labels, dy):
    return dy * ref.softmax_forward(z) / np.shape(z)[0]


C.mutant("softmax_cross_entropy_missing_onehot", "softmax_cross_entropy",
         "the backward returns softmax(z)/N, forgetting to subtract the one-hot label",
         softmax_cross_entropy_backward=sce_no_onehot)


def sce_unstable(z, labels):
    z = np.asarray(z, dtype=np.float64)
    lse = np.log(np.sum(np.exp(z), axis=1))
    return float(np.sum(lse - z[np.arange(z.shape[0]), np.asarray(labels)]) / z.shape[0])


C.mutant("softmax_cross_entropy_unstable", "softmax_cross_entropy",
         "the forward computes log Σ exp(z) without the max shift (inf at logits of 1000)",
         softmax_cross_entropy_forward=sce_unstable)
C.mutant("binary_cross_entropy_backward_missing_1_over_N", "binary_cross_entropy", "binary_cross_entropy_backward forgets the 1/N",
         binary_cross_entropy_backward=lambda z, t, dy: dy * (ref.sigmoid_forward(z) - t))


def bce_naive(z, t):
    s = ref.sigmoid_forward(z)
    t = np.asarray(t)
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(-np.sum(t * np.log(s) + (1 - t) * np.log(1 - s)) / np.shape(z)[0])


C.mutant("binary_cross_entropy_log_of_sigmoid", "binary_cross_entropy",
         "the forward takes log σ(z) and log(1 − σ(z)): −inf/NaN at logits of ±1000",
         binary_cross_entropy_forward=bce_naive)
