"""Known variants of the perceptron's learning rule."""
from __future__ import annotations

import numpy as np

from . import Catalogue, f64

CATALOGUE = Catalogue()
C = CATALOGUE


def perceptron(ge=False, sign=1.0, bias=True):
    def update(w, b, x, t, lr):
        a = float(f64(w) @ f64(x) + b)
        y = 1.0 if (a >= 0 if ge else a > 0) else 0.0
        return f64(w) + sign * lr * (t - y) * f64(x), (b + sign * lr * (t - y)) if bias else float(b)

    return update


def perceptron_witness(ge=False, sign=1.0):
    def update(w, b, x, t, lr):
        w, x = np.asarray(w, dtype=np.float64), np.asarray(x, dtype=np.float64)
        a = float(w @ x) + b
        y = 1.0 if (a >= 0 if ge else a > 0) else 0.0
        return w + sign * lr * (t - y) * x, b + sign * lr * (t - y)

    return update


C.variant("step_at_zero_is_one", "perceptron", "predicts 1 on the boundary w·x + b = 0 (step(0) = 1); the spec's step(0) = 0",
          mutant="perceptron_step_at_zero_is_one", description="predicts 1 on the boundary w·x + b = 0 (step(0) = 1)",
          witness={"perceptron_update": perceptron_witness(ge=True)}, perceptron_update=perceptron(ge=True))
C.variant("wrong_sign", "perceptron", "w ← w − lr(t − y)x: the rule moves away from the target",
          mutant="perceptron_sign_flipped", description="w ← w − lr(t − y)x: moves away from the target",
          witness={"perceptron_update": perceptron_witness(sign=-1.0)}, perceptron_update=perceptron(sign=-1.0))
C.mutant("perceptron_bias_not_updated", "perceptron", "updates w but never b", perceptron_update=perceptron(bias=False))
