"""Known variants of affine."""
from __future__ import annotations

import numpy as np

from . import Catalogue, f64

CATALOGUE = Catalogue()
C = CATALOGUE

C.variant("transposed_weight", "affine", "affine_backward computes dx = dy·W instead of dy·Wᵀ (the weight is not transposed)",
          mutant="affine_missing_transpose", description="affine_backward computes dx = dy·W instead of dy·Wᵀ",
          affine_backward=lambda x, W, b, dy: (f64(dy) @ f64(W), f64(x).T @ f64(dy), f64(dy).sum(axis=0)))
C.variant("transposed_weight", "affine", "affine_backward returns dW = dyᵀ·x, the transpose of xᵀ·dy",
          affine_backward=lambda x, W, b, dy: (f64(dy) @ f64(W).T, f64(dy).T @ f64(x), f64(dy).sum(axis=0)))
C.mutant("affine_bias_grad_averaged", "affine", "affine_backward averages db over the batch instead of summing",
         affine_backward=lambda x, W, b, dy: (np.asarray(dy) @ np.asarray(W).T, np.asarray(x).T @ dy, np.asarray(dy).mean(axis=0)))
C.mutant("affine_dW_divided_by_N", "affine", "affine_backward divides dW by the batch size N (the 1/N belongs to the loss)",
         affine_backward=lambda x, W, b, dy: (np.asarray(dy) @ np.asarray(W).T, np.asarray(x).T @ dy / np.shape(x)[0],
                                              np.asarray(dy).sum(axis=0)))


def affine_accumulating():
    buffers = {}

    def backward(x, W, b, dy):
        dy = np.asarray(dy, dtype=np.float64)
        buf = buffers.setdefault(dy.shape[1], np.zeros(dy.shape[1]))
        buf += dy.sum(axis=0)  # a gradient buffer that is never zeroed between calls
        return dy @ np.asarray(W).T, np.asarray(x).T @ dy, buf.copy()

    return backward


C.mutant("affine_backward_accumulates_db", "affine", "db accumulates into a persistent buffer that is never zeroed (the second call differs)",
         affine_backward=affine_accumulating())


def probe_affine_square(rng):
    """A square W: a dW transposed by mistake keeps its shape."""
    N, D = 3, 4
    return {"x": rng.normal(size=(N, D)), "W": rng.normal(size=(D, D)), "b": rng.normal(size=D)}


C.probe("affine", probe_affine_square)

C.bias_sum("affine", lambda s, key, out: int(np.shape(s["x"])[0]) if key == "db" else None, "the batch")
