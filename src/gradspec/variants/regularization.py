"""Known variants of dropout, l2_penalty, clip_grad_norm and clip_grad_value."""
from __future__ import annotations

import numpy as np

from .. import reference as ref
from . import Catalogue, f64

CATALOGUE = Catalogue()
C = CATALOGUE

C.variant("dropout_not_inverted", "dropout", "classic dropout y = x·mask, without the 1/(1 − p) scale of inverted dropout "
          "(then E[y] = (1 − p)x and test time needs a rescale)", mutant="dropout_not_inverted",
          description="classic dropout: y = x·mask, without the 1/(1 − p) scale (E[y] = (1 − p)x)",
          dropout_forward=lambda x, mask, p: f64(x) * f64(mask), dropout_backward=lambda x, mask, p, dy: f64(dy) * f64(mask))
C.variant("dropout_p_as_keep_probability", "dropout", "divides by p instead of 1 − p: p taken as the keep probability; "
          "in the spec p is the drop probability",
          dropout_forward=lambda x, mask, p: f64(x) * f64(mask) / p, dropout_backward=lambda x, mask, p, dy: f64(dy) * f64(mask) / p)
C.mutant("dropout_backward_ignores_mask", "dropout", "dropout_backward scales dy by 1/(1 − p) but forgets the mask",
         dropout_backward=lambda x, mask, p, dy: np.asarray(dy) / (1.0 - p))
C.mutant("l2_penalty_backward_factor_2", "l2_penalty", "the gradient of 0.5·lam·ΣW² is taken as 2·lam·W",
         l2_penalty_backward=lambda W, lam, dy: dy * 2 * lam * np.asarray(W))


def clip_per_array(grads, max_norm):
    out = []
    for g in grads:
        n = float(np.linalg.norm(np.ravel(g)))
        out.append(np.asarray(g) * (max_norm / n) if n > max_norm else np.array(g, dtype=np.float64))
    return out


C.variant("clip_grad_norm_per_array", "clip_grad_norm", "each array is clipped to max_norm by its own norm; the spec uses "
          "the global norm over all arrays", mutant="clip_grad_norm_per_array",
          description="clips each array to max_norm separately instead of by the global norm",
          witness={"clip_grad_norm": clip_per_array},
          clip_grad_norm=lambda grads, max_norm: [f64(g) * (max_norm / max(float(np.linalg.norm(g)), max_norm)) for g in grads])
C.mutant("clip_grad_norm_always_rescales", "clip_grad_norm", "rescales to exactly max_norm even when the norm is below it",
         clip_grad_norm=lambda grads, max_norm: [np.asarray(g) * (max_norm / max(ref.global_norm(grads), 1e-300)) for g in grads])
C.mutant("clip_grad_value_one_sided", "clip_grad_value", "clamps only from above: min(g, clip)",
         clip_grad_value=lambda grads, clip: [np.minimum(np.asarray(g, dtype=np.float64), clip) for g in grads])


def probe_dropout(rng):
    mask = (rng.random((3, 4)) < 0.5).astype(float)
    mask.flat[0], mask.flat[-1] = 0.0, 1.0
    return {"x": rng.normal(size=(3, 4)), "mask": mask, "p": 0.3}


C.probe("dropout", probe_dropout)


def dropout_ratios(s, what):
    """(1 − p) (not inverted) and 1/(1 − p) (the scale applied twice), for 0 < p < 1."""
    p = float(s["p"])
    if not 0.0 < p < 1.0:
        return []
    return [(1.0 - p, "dropout_not_inverted", f"{what} is (1 − p) = {1 - p:g} times the spec's: classic dropout "
                                              "without the 1/(1 − p) scale of inverted dropout"),
            (1.0 / (1.0 - p), "dropout_scaled_twice", f"{what} is 1/(1 − p) = {1 / (1 - p):g} times the spec's: "
                                                      "the inverted-dropout scale applied twice")]


C.ratio("dropout", dropout_ratios)
