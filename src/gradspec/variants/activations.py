"""Known variants of the activations: sigmoid, tanh, relu, step, softmax."""
from __future__ import annotations

import numpy as np

from .. import reference as ref
from . import Catalogue, f64

CATALOGUE = Catalogue()
C = CATALOGUE

C.variant("missing_activation_derivative", "sigmoid", "sigmoid_backward returns dy unchanged: the factor σ'(x) = σ(x)(1 − σ(x)) is missing",
          sigmoid_backward=lambda x, dy: f64(dy) + 0.0 * f64(x))
C.variant("missing_activation_derivative", "sigmoid", "sigmoid_backward multiplies dy by σ(x) only: the factor (1 − σ(x)) of σ' is missing",
          mutant="sigmoid_missing_derivative", description="sigmoid_backward returns dy·σ(x), missing the factor (1 − σ(x))",
          sigmoid_backward=lambda x, dy: f64(dy) * ref.sigmoid_forward(x))
C.variant("missing_activation_derivative", "tanh", "tanh_backward returns dy unchanged: the factor 1 − tanh²(x) is missing",
          tanh_backward=lambda x, dy: f64(dy) + 0.0 * f64(x))
C.variant("tanh_derivative_not_squared", "tanh", "tanh_backward uses 1 − tanh(x) instead of 1 − tanh²(x)",
          mutant="tanh_derivative_not_squared", tanh_backward=lambda x, dy: f64(dy) * (1.0 - np.tanh(f64(x))))
C.variant("relu_prime_at_zero_is_one", "relu", "relu'(0) = 1: the gradient passes where x == 0 (x >= 0 instead of x > 0); "
          "the spec fixes relu'(0) = 0 (as PyTorch and JAX do)", mutant="relu_prime_at_zero_is_one",
          description="relu_backward passes the gradient at x = 0 (relu'(0) = 1)",
          relu_backward=lambda x, dy: np.where(f64(x) >= 0, f64(dy), 0.0))
C.variant("relu_prime_at_zero_is_half", "relu", "relu'(0) = ½ at the kink; the spec fixes relu'(0) = 0",
          relu_backward=lambda x, dy: np.where(f64(x) > 0, f64(dy), np.where(f64(x) == 0, 0.5 * f64(dy), 0.0)))
C.variant("missing_activation_derivative", "relu", "relu_backward returns dy unchanged: the mask [x > 0] is missing",
          relu_backward=lambda x, dy: f64(dy) + 0.0 * f64(x))
C.variant("leaky_relu_prime_at_zero_is_one", "leaky_relu", "leaky_relu'(0) = 1: the slope of x > 0 is taken where "
          "x == 0 (x >= 0 instead of x > 0); the spec fixes leaky_relu'(0) = alpha, the left slope",
          mutant="leaky_relu_prime_at_zero_is_one", description="leaky_relu_backward uses the slope 1 at x = 0",
          leaky_relu_backward=lambda x, alpha, dy: np.where(f64(x) >= 0, f64(dy), alpha * f64(dy)))
C.variant("alpha_ignored_in_backward", "leaky_relu", "leaky_relu_backward ignores alpha: no gradient passes where x <= 0 "
          "(relu's backward); the spec's slope there is alpha", mutant="leaky_relu_backward_ignores_alpha",
          description="leaky_relu_backward is relu's: the slope alpha for x <= 0 is lost",
          leaky_relu_backward=lambda x, alpha, dy: np.where(f64(x) > 0, f64(dy), 0.0))
C.variant("step_at_zero_is_one", "step", "step(0) = 1 (x >= 0 instead of x > 0); the spec fixes step(0) = 0",
          mutant="step_at_zero_is_one", description="step_forward returns 1 at x = 0",
          step_forward=lambda x: (f64(x) >= 0).astype(np.float64))
C.variant("step_at_zero_is_half", "step", "step(0) = ½; the spec fixes step(0) = 0",
          step_forward=lambda x: np.where(f64(x) > 0, 1.0, np.where(f64(x) == 0, 0.5, 0.0)))
C.variant("softmax_backward_diagonal_only", "softmax", "softmax_backward keeps only the diagonal of the Jacobian, y·dy "
          "(the −y·⟨dy, y⟩ term is missing)", mutant="softmax_backward_diagonal_only",
          description="softmax_backward keeps only the diagonal of the Jacobian: y·dy",
          softmax_backward=lambda x, dy: ref.softmax_forward(x) * f64(dy))


def softmax_unshifted(x):
    e = np.exp(np.asarray(x, dtype=np.float64))
    return e / e.sum(axis=-1, keepdims=True)


def softmax_unshifted_backward(x, dy):
    y = softmax_unshifted(x)
    return y * (dy - np.sum(dy * y, axis=-1, keepdims=True))


C.mutant("softmax_without_max_shift", "softmax", "softmax exponentiates without subtracting the row maximum (overflows at 1000)",
         softmax_forward=softmax_unshifted, softmax_backward=softmax_unshifted_backward)


def softmax_axis0(x):
    x = np.asarray(x, dtype=np.float64)
    e = np.exp(x - x.max(axis=0, keepdims=True))
    return e / e.sum(axis=0, keepdims=True)


def softmax_axis0_backward(x, dy):
    y = softmax_axis0(x)
    return y * (dy - np.sum(dy * y, axis=0, keepdims=True))


C.mutant("softmax_over_batch_axis", "softmax", "softmax normalises over the first axis instead of the last",
         softmax_forward=softmax_axis0, softmax_backward=softmax_axis0_backward)

# bugs of the generic rules (shapes, purity, linearity, stability)
C.mutant("tanh_forward_float32", "tanh", "tanh_forward returns float32 (silent precision loss)",
         tanh_forward=lambda x: np.tanh(np.asarray(x, dtype=np.float64)).astype(np.float32))


def relu_in_place(x):
    if isinstance(x, np.ndarray) and x.dtype == np.float64:
        return np.maximum(x, 0.0, out=x)  # overwrites the caller's array
    return np.maximum(np.asarray(x, dtype=np.float64), 0.0)


C.mutant("relu_forward_in_place", "relu", "relu_forward writes max(x, 0) into x (modifies its input)", relu_forward=relu_in_place)
C.mutant("relu_backward_clips_dy", "relu", "relu_backward clips the upstream gradient to [−1, 1] (not linear in dy)",
         relu_backward=lambda x, dy: np.where(np.asarray(x) > 0, np.clip(dy, -1.0, 1.0), 0.0))


def sigmoid_overflowing(x):
    with np.errstate(over="ignore", invalid="ignore"):  # silenced, as in many a training script
        e = np.exp(np.asarray(x, dtype=np.float64))
        return e / (1.0 + e)


C.mutant("sigmoid_exp_overflow", "sigmoid", "sigmoid as e^x/(1 + e^x): inf/inf = NaN for x > 709",
         sigmoid_forward=sigmoid_overflowing)
