"""Records of the activations (``gradspec.reference.activations``): sigmoid, tanh, relu, leaky_relu, step, softmax."""
from __future__ import annotations

import math

import numpy as np

from ..properties.checks import EPS, assert_close, fn
from ..spec import Arg, FdModel, Hyper, Kink, OpProperty, OpSpec, Ref, Sampler
from ..sampling import any_shape, away_from_zero, min_abs, shape_of_x
from .. import reference as ref
from ..variants import Catalogue, f64

X_ANY = Arg("x", "input", True, "any shape")


def same_shape(s) -> tuple:
    return np.shape(s["x"])


def normal2_values(case, rng):
    return {"x": rng.normal(0.0, 2.0, size=case["x"])}


def relu_values(case, rng):
    return {"x": away_from_zero(rng, case["x"])}


def leaky_relu_values(case, rng):
    return {"x": away_from_zero(rng, case["x"]), "alpha": float(rng.uniform(0.0, 1.0))}


def step_values(case, rng):
    x = rng.normal(0.0, 1.0, size=case["x"])
    x.flat[:: max(1, x.size // 3)] = 0.0  # the convention step(0) = 0 is part of the check
    return {"x": x}


def softmax_structure(rng):
    return {"x": [(int(rng.integers(1, 4)), int(rng.integers(1, 6))),
                  (int(rng.integers(1, 3)), int(rng.integers(1, 3)), int(rng.integers(2, 5)))][int(rng.integers(0, 2))]}


def softmax_values(case, rng):
    return {"x": rng.normal(0.0, 3.0, size=case["x"])}


# ====================================================================== the ops' pieces for each oracle (named by the records' Refs)


# --------------------------------------------------------------------------- SymPy definitions (the symbolic oracle)
def _sympy_sigmoid_spec(x):  # sigmoid_backward docstring: dy·σ(x)(1 − σ(x))
    from ..symbolic.definitions import sigmoid
    return sigmoid(x) * (1 - sigmoid(x))


def _sympy_tanh_spec(x):  # tanh_backward docstring: dy·(1 − tanh² x)
    import sympy as sp
    return 1 - sp.tanh(x) ** 2


def _sympy_relu_spec(x):  # relu_backward docstring: dy·[x > 0]
    import sympy as sp
    return sp.Piecewise((1, x > 0), (0, True))


def sigmoid_sympy(s):
    from ..symbolic.definitions import elementwise, sigmoid
    return elementwise(s, sigmoid, _sympy_sigmoid_spec, "simplify")


def step_statement(s, notes):
    """step(x) elementwise from its SymPy statement ``Piecewise((1, x > 0), (0, True))``."""
    import mpmath
    from ..symbolic.definitions import compiled_step
    stp = compiled_step()
    x = np.asarray(s["x"], dtype=float)
    return np.vectorize(lambda v: float(stp(mpmath.mpf(float(v)))))(x) if np.size(x) else np.zeros(np.shape(x))


def tanh_sympy(s):
    import sympy as sp
    from ..symbolic.definitions import elementwise
    return elementwise(s, sp.tanh, _sympy_tanh_spec, "expand")


def relu_sympy(s):
    from ..symbolic.definitions import elementwise, relu
    return elementwise(s, relu, _sympy_relu_spec, "expand")


def leaky_relu_sympy(s):
    import sympy as sp
    from ..symbolic.definitions import Definition, ew, shape_of, sym_array
    x = sym_array("x", shape_of(s["x"]), real=True)
    alpha = sp.Symbol("alpha", nonnegative=True)
    y = ew(lambda z: sp.Piecewise((z, z > 0), (alpha * z, True)), x)

    def spec(dy):  # leaky_relu_backward docstring: dy·(1 if x > 0 else alpha), leaky_relu'(0) = alpha
        return (dy * ew(lambda z: sp.Piecewise((1, z > 0), (alpha, True)), x),)

    return Definition({"x": x, "alpha": alpha}, y, ("x",), spec, "expand")


def softmax_sympy(s):
    import sympy as sp
    from ..symbolic.definitions import Definition, ew, shape_of, sym_array
    x = sym_array("x", shape_of(s["x"]), real=True)
    e = ew(sp.exp, x)
    y = e / e.sum(axis=-1, keepdims=True)

    def spec(dy):  # softmax_backward docstring: y ⊙ (dy − <dy, y>) per row
        return (y * (dy - (dy * y).sum(axis=-1, keepdims=True)),)

    return Definition({"x": x}, y, ("x",), spec, "simplify")


# --------------------------------------------------------------------------- mpmath forwards (the mpmath oracle)
def sigmoid_mp(s, pattern=None):
    from ..mpmath_oracle.forward import guard, mexp
    x = s["x"]
    return guard(1 / (1 + mexp(-x)), "sigmoid"), None


def tanh_mp(s, pattern=None):
    from ..mpmath_oracle.forward import mtanh
    return mtanh(s["x"]), None


def relu_mp(s, pattern=None):
    """max(x, 0); pattern = x > 0 (relu'(0) = 0: a zero input is inactive)."""
    from ..mpmath_oracle.forward import guard, positive, zeros
    x = s["x"]
    if pattern is None:
        pattern = positive(x)
    return guard(np.where(pattern, x, zeros(x.shape)), "relu"), pattern


def leaky_relu_mp(s, pattern=None):
    """x where x > 0, else alpha·x; pattern = x > 0 (leaky_relu'(0) = alpha: a zero input takes the left slope)."""
    import mpmath
    from ..mpmath_oracle.forward import guard, positive
    x = s["x"]
    if pattern is None:
        pattern = positive(x)
    return guard(np.where(pattern, x, mpmath.mpf(s["alpha"]) * x), "leaky_relu"), pattern


def softmax_mp(s, pattern=None):
    from ..mpmath_oracle.forward import softmax_rows
    return softmax_rows(s["x"]), None


# --------------------------------------------------------------------------- float64 running-error models (the mpmath oracle's tolerance)
def sigmoid_error_model(s, dy):
    from ..mpmath_oracle.tolerance import Bounded, Model, bsigmoid
    x = Bounded(s["x"])
    y = bsigmoid(x)
    return Model(y, {"x": (dy * y) * (1.0 - y)})


def tanh_error_model(s, dy):
    from ..mpmath_oracle.tolerance import Bounded, Model, btanh
    t = btanh(Bounded(s["x"]))
    return Model(t, {"x": dy * (1.0 - t * t)})


def relu_error_model(s, dy):
    from ..mpmath_oracle.tolerance import Bounded, Model, bmax0, bwhere
    x = Bounded(s["x"])
    return Model(bmax0(x), {"x": bwhere(x.v > 0, Bounded(dy), 0.0)})


def leaky_relu_error_model(s, dy):
    from ..mpmath_oracle.tolerance import Bounded, Model, bwhere
    x, a = Bounded(s["x"]), float(s["alpha"])
    return Model(bwhere(x.v > 0, x, a * x), {"x": bwhere(x.v > 0, Bounded(dy), a * Bounded(dy))})


def softmax_error_model(s, dy):
    from ..mpmath_oracle.tolerance import Bounded, Model, bsoftmax, bsum
    y = bsoftmax(Bounded(s["x"]))
    return Model(y, {"x": y * (dy - bsum(dy * y, axis=-1, keepdims=True))})


# --------------------------------------------------------------------------- 50-digit closed forms (the golden vectors)
# ``<op>_vectors(s, A, d)``: ``s`` the float64 sample, ``A`` the same with every float array as mpf, ``d`` the
# cotangent as mpf (None for ops without a gradient); the record's ``vector_values`` names it.
def sigmoid_vectors(s, A, d):
    from ..mpmath_oracle.vectors_mp import msigmoid
    y = msigmoid(A["x"])
    return {"outputs": {"forward": y}, "gradients": {"x": d * y * (1 - y)}}


def tanh_vectors(s, A, d):
    import mpmath
    from ..mpmath_oracle.vectors_mp import mmap
    y = mmap(mpmath.tanh, A["x"])
    return {"outputs": {"forward": y}, "gradients": {"x": d * (1 - y * y)}}


def relu_vectors(s, A, d):
    from ..mpmath_oracle.vectors_mp import mmap, mpf
    pos = mmap(lambda v: v > 0, A["x"]).astype(bool)
    return {"outputs": {"forward": mmap(lambda v: v if v > 0 else mpf(0), A["x"])},
            "gradients": {"x": np.where(pos, d, mpf(0))}}


def leaky_relu_vectors(s, A, d):
    from ..mpmath_oracle.vectors_mp import mmap, mpf
    pos = mmap(lambda v: v > 0, A["x"]).astype(bool)
    a = mpf(s["alpha"])
    return {"outputs": {"forward": mmap(lambda v: v if v > 0 else a * v, A["x"])},
            "gradients": {"x": np.where(pos, d, a * d)}}


def step_vectors(s, A, d):
    from ..mpmath_oracle.vectors_mp import mmap, mpf
    return {"outputs": {"output": mmap(lambda v: mpf(1) if v > 0 else mpf(0), A["x"])}, "gradients": {}}


def softmax_vectors(s, A, d):
    from ..mpmath_oracle.vectors_mp import msoftmax
    y = msoftmax(A["x"])
    return {"outputs": {"forward": y}, "gradients": {"x": y * (d - np.sum(d * y, axis=-1, keepdims=True))}}


# --------------------------------------------------------------------------- Hypothesis strategies (the property library)
def leaky_relu_strategy(*args, **kwargs):
    """The Hypothesis strategy ``build(*args, **kwargs)`` below (Hypothesis is imported when called)."""
    from ..properties.strategies import elementwise
    from hypothesis import strategies as st

    @st.composite
    def build(draw, mode):
        """leaky_relu: an element-wise input with a kink at 0, and the slope alpha in [0, 1) (0 included: relu)."""
        s = draw(elementwise(mode, away_from_zero=True))
        s["alpha"] = draw(st.one_of(st.just(0.0), st.floats(0.0, 1.0, exclude_max=True)))
        return s

    return build(*args, **kwargs)


def softmax_strategy(*args, **kwargs):
    """The Hypothesis strategy ``build(*args, **kwargs)`` below (Hypothesis is imported when called)."""
    from ..properties.strategies import arrays, seeds, shape_event
    from hypothesis import event
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    @st.composite
    def build(draw, mode):
        if draw(st.booleans()):
            shape = (draw(st.integers(1, 4)), draw(st.integers(1, 5)))
        else:
            shape = (draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 4)))
        shape_event(shape)
        if mode == "hard":
            kind = draw(st.sampled_from(["pm1000", "near_one_hot"]))
            event(f"hard softmax: {kind}")
            if kind == "pm1000":
                x = np.where(draw(hnp.arrays(np.bool_, shape, fill=st.nothing())), 1000.0, -1000.0)
                x = x + draw(arrays(shape, -1.0, 1.0))
            else:
                x = draw(arrays(shape, -1.0, 1.0))
                x[..., 0] += 40.0  # the first class dominates by ~e^40
        else:
            s = draw(st.sampled_from((1e-3, 1e-1, 1.0, 10.0)))
            x = draw(arrays(shape, -s, s))
        return {"x": x, "seed": draw(seeds())}

    return build(*args, **kwargs)


# --------------------------------------------------------------------------- cases exactly on the kinks
def relu_kink_cases():
    from ..spec import KinkCase
    x = np.array([[-1.5, 0.0, 2.0, 0.0], [0.0, 0.7, -0.3, 0.0]])
    return [KinkCase("relu", "x == 0 (the kink)", "relu'(0) = 0: no gradient passes where x == 0", {"x": x}, 1)]


def leaky_relu_kink_cases():
    from ..spec import KinkCase
    x = np.array([[-1.5, 0.0, 2.0, 0.0], [0.0, 0.7, -0.3, 0.0]])
    return [KinkCase("leaky_relu", "x == 0 (the kink)", "leaky_relu'(0) = alpha: the left slope applies where x == 0",
                 {"x": x, "alpha": 0.25}, 1)]


def step_kink_cases():
    from ..spec import KinkCase
    x = np.array([[-1.0, 0.0, 2.5], [0.0, 0.3, -0.0]])
    return [KinkCase("step", "x == 0 (the kink)", "step(0) = 0", {"x": x}, 2)]


# --------------------------------------------------------------------------- the fd64 oracle's model (steps, conditioning, targeted samples)
def softmax_backward_magnitude(sample: dict, dy) -> list:
    """y·(|dy| + Σ|dy|·y) per row: the terms of y ⊙ (dy − <dy, y>)."""
    from .. import reference as ref
    y = ref.softmax_forward(sample["x"])
    return [y * (np.abs(dy) + np.sum(np.abs(dy) * y, axis=-1, keepdims=True))]



OPS = (
    OpSpec("sigmoid", "differentiable", "activations", "logistic sigmoid 1/(1+e^-x)", (X_ANY,),
           ("sigmoid_forward", "sigmoid_backward"), "y has the shape of x",
           Sampler(shape_of_x, normal2_values, Ref("gradspec.properties.strategies", "elementwise"), ("away", "hard"),
                   cases=({"x": (2, 3)}, {"x": (1, 2, 1, 2)})),
           same_shape, notes="stable for |x| = 1000",
           sympy=Ref(__name__, "sigmoid_sympy"), mp_forward=Ref(__name__, "sigmoid_mp"),
           error_model=Ref(__name__, "sigmoid_error_model"), vector_values=Ref(__name__, "sigmoid_vectors"),
           fd_model=FdModel(large_logits="x"),
           variants=Ref(__name__, "CATALOGUE"),
           properties=(OpProperty("symmetry", Ref("gradspec.properties.props", "prop_sigmoid_symmetry"), ('away', 'hard')),)),
    OpSpec("tanh", "differentiable", "activations", "hyperbolic tangent", (X_ANY,),
           ("tanh_forward", "tanh_backward"), "y has the shape of x",
           Sampler(shape_of_x, normal2_values, Ref("gradspec.properties.strategies", "elementwise"), ("away", "hard"),
                   cases=({"x": (2, 3)}, {"x": (4,)})),
           same_shape,
           sympy=Ref(__name__, "tanh_sympy"), mp_forward=Ref(__name__, "tanh_mp"),
           error_model=Ref(__name__, "tanh_error_model"), vector_values=Ref(__name__, "tanh_vectors"),
           fd_model=FdModel(large_logits="x"),
           variants=Ref(__name__, "CATALOGUE"),
           properties=(OpProperty("odd_and_bounded_derivative", Ref("gradspec.properties.props", "prop_tanh_odd"), ('away', 'hard')),)),
    OpSpec("relu", "differentiable", "activations", "max(x, 0)", (X_ANY,), ("relu_forward", "relu_backward"),
           "y has the shape of x",
           Sampler(shape_of_x, relu_values, Ref("gradspec.properties.strategies", "elementwise", (("away_from_zero", True),)), ("away", "on_kink", "hard"),
                   cases=({"x": (2, 3)}, {"x": (1, 1, 2, 2)})),
           same_shape,
           kinks=(Kink("x", "x == 0", "relu'(0) = 0", lambda s: min_abs(s["x"])),),
           conventions=("relu'(0) = 0",),
           sympy=Ref(__name__, "relu_sympy"), mp_forward=Ref(__name__, "relu_mp"),
           error_model=Ref(__name__, "relu_error_model"), vector_values=Ref(__name__, "relu_vectors"),
           kink_cases=Ref(__name__, "relu_kink_cases"),
           variants=Ref(__name__, "CATALOGUE"),
           properties=(OpProperty("convention", Ref("gradspec.properties.props", "prop_relu_convention"), ('away', 'on_kink', 'hard')),)),
    OpSpec("leaky_relu", "differentiable", "activations", "x where x > 0, else alpha·x",
           (X_ANY, Arg("alpha", "hyper", False, "slope for x <= 0")), ("leaky_relu_forward", "leaky_relu_backward"),
           "y has the shape of x",
           Sampler(shape_of_x, leaky_relu_values, Ref(__name__, "leaky_relu_strategy"), ("away", "on_kink", "hard"),
                   cases=({"x": (2, 3)}, {"x": (1, 1, 2, 2)})),
           same_shape, hypers=(Hyper("alpha", 0.0, 1.0, high_open=True, default=0.01, doc="slope for x <= 0"),),
           kinks=(Kink("x", "x == 0", "leaky_relu'(0) = alpha (the left slope)", lambda s: min_abs(s["x"])),),
           conventions=("leaky_relu'(0) = alpha",),
           sympy=Ref(__name__, "leaky_relu_sympy"), mp_forward=Ref(__name__, "leaky_relu_mp"),
           error_model=Ref(__name__, "leaky_relu_error_model"), vector_values=Ref(__name__, "leaky_relu_vectors"),
           kink_cases=Ref(__name__, "leaky_relu_kink_cases"), variants=Ref(__name__, "CATALOGUE"),
           torch=Ref(__name__, "leaky_relu_torch"), xp=Ref(__name__, "leaky_relu_xp"),
           jax=Ref(__name__, "leaky_relu_jax")),
    OpSpec("step", "function", "activations", "Heaviside step of the perceptron: 1.0 where x > 0 else 0.0",
           (Arg("x", "input", False, "any shape"),), ("step_forward",), "y has the shape of x",
           Sampler(shape_of_x, step_values, Ref("gradspec.properties.strategies", "elementwise", (("away_from_zero", True),)), ("away", "on_kink")),
           same_shape,
           kinks=(Kink("x", "x == 0", "step(0) = 0; no gradient (not used in backprop)", lambda s: min_abs(s["x"])),),
           conventions=("step(0) = 0",),
           sympy=Ref(__name__, "step_statement"),
           vector_values=Ref(__name__, "step_vectors"), kink_cases=Ref(__name__, "step_kink_cases"),
           variants=Ref(__name__, "CATALOGUE"),
           properties=(OpProperty("convention", Ref("gradspec.properties.props", "prop_step_convention"), ('away', 'on_kink')),)),
    OpSpec("softmax", "differentiable", "activations", "softmax over the last axis",
           (Arg("x", "input", True, "(..., K)"),), ("softmax_forward", "softmax_backward"),
           "y has the shape of x; rows sum to 1",
           Sampler(softmax_structure, softmax_values, Ref(__name__, "softmax_strategy"), ("away", "hard"),
                   cases=({"x": (2, 3)}, {"x": (1, 2, 4)})),
           same_shape,
           sympy=Ref(__name__, "softmax_sympy"), mp_forward=Ref(__name__, "softmax_mp"),
           error_model=Ref(__name__, "softmax_error_model"), vector_values=Ref(__name__, "softmax_vectors"),
           fd_model=FdModel(large_logits="x", backward_magnitude=Ref(__name__, "softmax_backward_magnitude")),
           variants=Ref(__name__, "CATALOGUE"),
           properties=(OpProperty("rows_sum_to_one", Ref("gradspec.properties.props", "prop_softmax_rows_sum_to_one"), ('away', 'hard')),
                       OpProperty("shift_invariant", Ref("gradspec.properties.props", "prop_softmax_shift_invariant"), ('away', 'hard')),
                       OpProperty("backward_rows_sum_to_zero", Ref("gradspec.properties.props", "prop_softmax_backward_rows_sum_to_zero"), ('away', 'hard')))),
)


# ====================================================================== known wrong variants (the diagnosis and the mutants)
# Known variants of the activations: sigmoid, tanh, relu, step, softmax.
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


# --------------------------------------------------------------------------- gelu and gelu_tanh
# The spec's constants: 1/√2, 1/√(2π) and √(2/π) are irrational; the tanh approximation's cubic coefficient is the
# decimal 0.044715 exactly. The SymPy and mpmath forms use the exact values; the float64 reference rounds them, and
# its error models carry that rounding.
GELU_TANH_COEFF_NUM, GELU_TANH_COEFF_DEN = 44715, 1_000_000


def gelu_sympy(sample):
    """gelu = x·(1 + erf(x/√2))/2; the spec's derivative Φ(x) + x·φ(x) (gelu_backward's docstring)."""
    import sympy as sp

    from ..symbolic.definitions import elementwise

    def forward(x):
        return x * (1 + sp.erf(x / sp.sqrt(2))) / 2

    def spec(x):
        return (1 + sp.erf(x / sp.sqrt(2))) / 2 + x * sp.exp(-x ** 2 / 2) / sp.sqrt(2 * sp.pi)

    return elementwise(sample, forward, spec, "simplify")


def gelu_tanh_sympy(sample):
    """gelu_tanh = x·(1 + tanh u)/2, u = √(2/π)(x + c·x³), c = 44715/10⁶; the spec's derivative
    (1 + tanh u)/2 + x·(1 − tanh² u)·√(2/π)(1 + 3c·x²)/2 (gelu_tanh_backward's docstring)."""
    import sympy as sp

    from ..symbolic.definitions import elementwise

    k, c = sp.sqrt(2 / sp.pi), sp.Rational(GELU_TANH_COEFF_NUM, GELU_TANH_COEFF_DEN)

    def forward(x):
        return x * (1 + sp.tanh(k * (x + c * x ** 3))) / 2

    def spec(x):
        t = sp.tanh(k * (x + c * x ** 3))
        return (1 + t) / 2 + x * (1 - t ** 2) * k * (1 + 3 * c * x ** 2) / 2

    return elementwise(sample, forward, spec, "expand")


def mp_map(fn, a, where: str):
    """``fn`` on every element of an mpf object array (or on one mpf), the result guarded."""
    from ..mpmath_oracle.forward import guard

    out = np.frompyfunc(fn, 1, 1)(a)
    if isinstance(a, np.ndarray) and not isinstance(out, np.ndarray):
        out = np.array(out, dtype=object).reshape(a.shape)
    return guard(out, where)


def gelu_mp(s, pattern=None):
    """x·Φ(x) with Φ(x) = erfc(−x/√2)/2: equal to (1 + erf(x/√2))/2, without its cancellation for x ≪ 0."""
    from mpmath import mp

    return mp_map(lambda v: v * mp.erfc(-v / mp.sqrt(2)) / 2, s["x"], "gelu"), None


def gelu_tanh_u(v):
    """u = √(2/π)(x + 0.044715·x³) at the working precision (0.044715 exact)."""
    from mpmath import mp

    return mp.sqrt(2 / mp.pi) * (v + mp.mpf(GELU_TANH_COEFF_NUM) / GELU_TANH_COEFF_DEN * v ** 3)


def gelu_tanh_mp(s, pattern=None):
    """x·(1 + tanh u)/2 written as x/(1 + e^{−2u}): the same value, without the cancellation of 1 + tanh u for u ≪ 0."""
    from mpmath import mp

    return mp_map(lambda v: v / (1 + mp.exp(-2 * gelu_tanh_u(v))), s["x"], "gelu_tanh"), None


def rounded_constant(value: float):
    """A float64 constant within half an ulp of an irrational (or decimal) value: its bound is u·|value|."""
    from ..mpmath_oracle.tolerance import U, Bounded

    return Bounded(value, U * abs(value))


def berf(a):
    r"""erf of a bounded argument: :math:`|\mathrm{erf}'| = (2/\sqrt\pi)e^{-z^2}` at most at the point of the interval
    :math:`[v - e, v + e]` nearest 0, plus the C library's error (within :data:`PHI` relative, glibc: < 1 ulp)."""
    from ..mpmath_oracle.tolerance import ETA, PHI, Bounded

    v = erf_values(a.v)
    near = np.maximum(np.abs(a.v) - a.e, 0.0)
    with np.errstate(under="ignore"):
        lipschitz = 2.0 / math.sqrt(math.pi) * np.exp(-near * near)
    return Bounded(v, lipschitz * a.e * (1 + PHI) + PHI * np.abs(v) + ETA)


def erf_values(z):
    from ..reference.activations import erf

    return erf(z)


def gelu_error_model(s, dy):
    """The reference's gelu: y = 0.5·x·(1 + erf(x·c₁)); dx = dy·(0.5·(1 + erf(x·c₁)) + x·e^{−0.5x²}·c₂)."""
    from ..mpmath_oracle.tolerance import Bounded, Model, bexp
    from ..reference.activations import INV_SQRT_2PI, SQRT1_2

    x = Bounded(s["x"])
    one_plus_erf = 1.0 + berf(x * rounded_constant(SQRT1_2))
    with np.errstate(over="ignore", under="ignore"):
        pdf = bexp(-0.5 * x * x) * rounded_constant(INV_SQRT_2PI)
    return Model(0.5 * x * one_plus_erf, {"x": dy * (0.5 * one_plus_erf + x * pdf)})


def gelu_tanh_error_model(s, dy):
    """The reference's gelu_tanh: t = tanh(k·(x + c·x³)); y = 0.5·x·(1 + t);
    dx = dy·(0.5·(1 + t) + 0.5·x·(1 − t²)·k·(1 + 3c·x²)), the second term 0 where 1 − t² is 0 in float64."""
    from ..mpmath_oracle.tolerance import Bounded, Model, btanh, bwhere
    from ..reference.activations import GELU_TANH_COEFF, SQRT_2_OVER_PI

    x = Bounded(s["x"])
    k, c = rounded_constant(SQRT_2_OVER_PI), rounded_constant(GELU_TANH_COEFF)
    with np.errstate(over="ignore", invalid="ignore"):
        x2 = x * x
        t = btanh(k * (x + c * (x2 * x)))
        sech2 = 1.0 - t * t
        slope = 0.5 * x * sech2 * (k * (1.0 + 3.0 * c * x2))
    return Model(0.5 * x * (1.0 + t), {"x": dy * (0.5 * (1.0 + t) + bwhere(sech2.v > 0.0, slope, 0.0))})


def gelu_vectors(s, A, d):
    """gelu = x·Φ(x), gelu' = Φ(x) + x·φ(x), Φ(x) = erfc(−x/√2)/2, φ(x) = e^{−x²/2}/√(2π), at 50 digits."""
    import mpmath

    x = A["x"]
    cdf = mp_map(lambda v: mpmath.erfc(-v / mpmath.sqrt(2)) / 2, x, "Φ")
    pdf = mp_map(lambda v: mpmath.exp(-v * v / 2) / mpmath.sqrt(2 * mpmath.pi), x, "φ")
    return {"outputs": {"forward": x * cdf}, "gradients": {"x": d * (cdf + x * pdf)}}


def gelu_tanh_vectors(s, A, d):
    """gelu_tanh = x·(1 + tanh u)/2 and its derivative (1 + tanh u)/2 + x·(1 − tanh² u)·u'/2 at 50 digits,
    with 1 + tanh u = 2/(1 + e^{−2u}) and 1 − tanh² u = 4e^{−2u}/(1 + e^{−2u})² (no cancellation for u ≪ 0)."""
    import mpmath

    x = A["x"]
    k, c = mpmath.sqrt(2 / mpmath.pi), mpmath.mpf(GELU_TANH_COEFF_NUM) / GELU_TANH_COEFF_DEN
    half_1pt = mp_map(lambda v: 1 / (1 + mpmath.exp(-2 * gelu_tanh_u(v))), x, "(1 + tanh u)/2")
    half_sech2 = mp_map(lambda v: 2 * mpmath.exp(-2 * gelu_tanh_u(v)) / (1 + mpmath.exp(-2 * gelu_tanh_u(v))) ** 2,
                        x, "(1 − tanh² u)/2")
    du = mp_map(lambda v: k * (1 + 3 * c * v * v), x, "u'")
    return {"outputs": {"forward": x * half_1pt}, "gradients": {"x": d * (half_1pt + x * half_sech2 * du)}}


def leaky_relu_torch(x, alpha):
    """PyTorch's ``F.leaky_relu(x, negative_slope=alpha)``; its slope at 0 is alpha, the spec's."""
    import torch.nn.functional as F

    return F.leaky_relu(x, negative_slope=float(alpha))


def gelu_torch(x):
    """PyTorch's exact GELU, ``F.gelu(x)`` (approximate="none")."""
    import torch.nn.functional as F

    return F.gelu(x)


def gelu_tanh_torch(x):
    """PyTorch's tanh-approximated GELU, ``F.gelu(x, approximate="tanh")``."""
    import torch.nn.functional as F

    return F.gelu(x, approximate="tanh")



# --------------------------------------------------------------------------- the forms of the JAX and autograd adapters
def leaky_relu_alpha(alpha) -> float:
    """alpha checked as the spec's hyperparameter, 0 <= alpha < 1 (ValueError naming the rule and the value)."""
    if isinstance(alpha, (bool, np.bool_)) or not isinstance(alpha, (int, float, np.integer, np.floating)) \
            or not 0.0 <= float(alpha) < 1.0:
        raise ValueError(f"leaky_relu: alpha must be a real number with 0 <= alpha < 1, got {alpha!r}")
    return float(alpha)


def leaky_relu_xp(xp, x, alpha):
    """The spec's formula in NumPy, ``xp.where(x > 0, x, alpha·x)``: the slope at 0 is alpha's branch."""
    alpha = leaky_relu_alpha(alpha)
    return xp.where(x > 0, x, alpha * x)


def leaky_relu_jax(x, alpha):
    """JAX's own ``jax.nn.leaky_relu(x, negative_slope=alpha)``, which is ``jnp.where(x >= 0, x, alpha·x)``: its
    slope at 0 is 1 (the catalogue's ``leaky_relu_prime_at_zero_is_one``), the spec's is alpha."""
    import jax

    return jax.nn.leaky_relu(x, negative_slope=leaky_relu_alpha(alpha))


def gelu_xp(xp, x):
    """The exact GELU as the spec writes it, ``x·(1 + erf(x/√2))/2`` with the framework's erf."""
    return 0.5 * x * (1.0 + xp.erf(x * math.sqrt(0.5)))


def gelu_jax(x):
    """JAX's own exact GELU, ``jax.nn.gelu(x, approximate=False)`` (JAX's default, approximate=True, is gelu_tanh)."""
    import jax

    return jax.nn.gelu(x, approximate=False)


def gelu_tanh_xp(xp, x):
    """The tanh approximation as the spec writes it, ``x·(1 + tanh(√(2/π)(x + 0.044715x³)))/2``."""
    u = math.sqrt(2.0 / math.pi) * (x + (GELU_TANH_COEFF_NUM / GELU_TANH_COEFF_DEN) * x ** 3)
    return 0.5 * x * (1.0 + xp.tanh(u))


def gelu_tanh_jax(x):
    """JAX's own ``jax.nn.gelu(x, approximate=True)`` (JAX's default form)."""
    import jax

    return jax.nn.gelu(x, approximate=True)


def odd_part_is_identity(impl, sample, name: str):
    """g(x) − g(−x) = x within 16ε|x|, and g'(x) + g'(−x) = 1 within 32ε, for g = x·F(x) with F(x) + F(−x) = 1
    (F = Φ, and F = (1 + tanh u)/2 with u odd)."""
    x = np.asarray(sample["x"], dtype=np.float64)
    f, b = fn(impl, f"{name}_forward"), fn(impl, f"{name}_backward")
    odd = np.asarray(f(x), dtype=np.float64) - np.asarray(f(-x), dtype=np.float64)
    assert_close(odd, x, 16 * EPS * np.abs(x), f"{name}(x) − {name}(−x) = x", f"{name}(x) − {name}(−x)")
    ones = np.ones_like(x)
    even = np.asarray(b(x, ones), dtype=np.float64) + np.asarray(b(-x, ones), dtype=np.float64)
    assert_close(even, ones, 32 * EPS, f"{name}'(x) + {name}'(−x) = 1", f"{name}'(x) + {name}'(−x)")


def gelu_odd_part_is_identity(impl, sample):
    """gelu(x) − gelu(−x) = x and gelu'(x) + gelu'(−x) = 1."""
    odd_part_is_identity(impl, sample, "gelu")


def gelu_tanh_odd_part_is_identity(impl, sample):
    """gelu_tanh(x) − gelu_tanh(−x) = x and gelu_tanh'(x) + gelu_tanh'(−x) = 1."""
    odd_part_is_identity(impl, sample, "gelu_tanh")


# --------------------------------------------------------------------------- gelu's known variants
def gelu_tanh_derivative_for_exact(x, dy):
    """The exact gelu's backward written with the tanh approximation's derivative."""
    from ..reference.activations import gelu_tanh_backward

    return gelu_tanh_backward(x, dy)


def gelu_backward_without_x_pdf(x, dy):
    """dy·Φ(x): the product rule's second term x·φ(x) is missing."""
    from ..reference.activations import SQRT1_2, erf

    return f64(dy) * 0.5 * (1.0 + erf(f64(x) * SQRT1_2))


def gelu_tanh_backward_with(x, dy, k: float, c3: float):
    """The tanh approximation's backward with the constant √(2/π) taken as ``k`` and 3·0.044715 as ``c3``."""
    from ..reference.activations import GELU_TANH_COEFF

    x, dy = f64(x), f64(dy)
    t = np.tanh(k * (x + GELU_TANH_COEFF * x ** 3))
    return dy * (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * k * (1.0 + c3 * x * x))


def gelu_tanh_coefficient_not_tripled(x, dy):
    """d/dx of 0.044715·x³ taken as 0.044715·x² (the 3 of the power rule lost)."""
    from ..reference.activations import GELU_TANH_COEFF, SQRT_2_OVER_PI

    return gelu_tanh_backward_with(x, dy, SQRT_2_OVER_PI, GELU_TANH_COEFF)


def gelu_tanh_sqrt2_over_pi_wrong(x, dy):
    """The backward's √(2/π) written as √2/π (0.450 instead of 0.798)."""
    from ..reference.activations import GELU_TANH_COEFF

    return gelu_tanh_backward_with(x, dy, math.sqrt(2.0) / math.pi, 3.0 * GELU_TANH_COEFF)


CATALOGUE.variant(
    "gelu_tanh_approximation_derivative", "gelu",
    "gelu_backward uses the tanh approximation's derivative 0.5(1 + tanh u) + 0.5x(1 − tanh² u)·√(2/π)(1 + 3·0.044715x²) "
    "instead of the exact Φ(x) + x·φ(x); the two differ by up to 8.7e-4 (at x ≈ 2.02), far above rounding",
    mutant="gelu_tanh_approximation_derivative",
    description="gelu_backward returns gelu_tanh's derivative: the exact erf form's forward with the tanh form's backward",
    gelu_backward=gelu_tanh_derivative_for_exact)
CATALOGUE.variant(
    "gelu_missing_x_pdf_term", "gelu",
    "gelu_backward returns dy·Φ(x): the product rule's second term x·φ(x) of (x·Φ(x))' = Φ(x) + x·φ(x) is missing",
    mutant="gelu_missing_x_pdf_term", description="gelu_backward returns dy·Φ(x), missing x·φ(x)",
    gelu_backward=gelu_backward_without_x_pdf)
CATALOGUE.variant(
    "gelu_tanh_coefficient_not_tripled", "gelu_tanh",
    "gelu_tanh_backward differentiates 0.044715·x³ as 0.044715·x² instead of 3·0.044715·x²: "
    "u' = √(2/π)(1 + 0.044715x²), the power rule's 3 is missing",
    mutant="gelu_tanh_coefficient_not_tripled",
    description="gelu_tanh_backward uses √(2/π)(1 + 0.044715x²) for u', missing the factor 3",
    gelu_tanh_backward=gelu_tanh_coefficient_not_tripled)
CATALOGUE.variant(
    "gelu_tanh_wrong_sqrt_2_over_pi", "gelu_tanh",
    "gelu_tanh_backward uses √2/π ≈ 0.450 for the constant √(2/π) ≈ 0.798 (in u and in u'), while the forward uses √(2/π)",
    mutant="gelu_tanh_wrong_sqrt_2_over_pi", description="gelu_tanh_backward's constant √(2/π) written as √2/π",
    gelu_tanh_backward=gelu_tanh_sqrt2_over_pi_wrong)


GELU_CASES = ({"x": (2, 2)}, {"x": (3,)})


def gelu_cancellation(sample, dy):
    """What the forward's cancellation adds to fd64's rounding scale: x·(1 + erf(·))/2 (or 1 + tanh) sums two terms of
    size |x|/2 that cancel for x ≪ 0, so a correct forward carries an absolute error of ε·|x|/2 there."""
    return float(np.sum(np.abs(dy) * 0.5 * np.abs(np.asarray(sample["x"], dtype=np.float64))))


GELU_OPS = (
    OpSpec("gelu", "differentiable", "activations", "Gaussian error linear unit x·Φ(x) = x·(1 + erf(x/√2))/2 (exact form)",
           (X_ANY,), ("gelu_forward", "gelu_backward"), "y has the shape of x",
           Sampler(shape_of_x, normal2_values, Ref("gradspec.properties.strategies", "elementwise"), ("away", "hard"), cases=GELU_CASES),
           same_shape, notes="the exact erf form (PyTorch's F.gelu default, approximate='none')",
           sympy=Ref(__name__, "gelu_sympy"), mp_forward=Ref(__name__, "gelu_mp"),
           error_model=Ref(__name__, "gelu_error_model"), vector_values=Ref(__name__, "gelu_vectors"),
           fd_model=FdModel(large_logits="x", cancellation=Ref(__name__, "gelu_cancellation")),
           variants=Ref(__name__, "CATALOGUE"), torch=Ref(__name__, "gelu_torch"),
           xp=Ref(__name__, "gelu_xp"), jax=Ref(__name__, "gelu_jax"),
           properties=(OpProperty("odd_part_is_identity", Ref(__name__, "gelu_odd_part_is_identity"), ("away", "hard")),)),
    OpSpec("gelu_tanh", "differentiable", "activations",
           "GELU by its tanh approximation x·(1 + tanh(√(2/π)(x + 0.044715x³)))/2",
           (X_ANY,), ("gelu_tanh_forward", "gelu_tanh_backward"), "y has the shape of x",
           Sampler(shape_of_x, normal2_values, Ref("gradspec.properties.strategies", "elementwise"), ("away", "hard"), cases=GELU_CASES),
           same_shape, notes="PyTorch's F.gelu(x, approximate='tanh'); a different function from gelu (up to 4.7e-4 apart, at x ≈ −2.70)",
           sympy=Ref(__name__, "gelu_tanh_sympy"), mp_forward=Ref(__name__, "gelu_tanh_mp"),
           error_model=Ref(__name__, "gelu_tanh_error_model"), vector_values=Ref(__name__, "gelu_tanh_vectors"),
           fd_model=FdModel(large_logits="x", cancellation=Ref(__name__, "gelu_cancellation")),
           variants=Ref(__name__, "CATALOGUE"),
           torch=Ref(__name__, "gelu_tanh_torch"), xp=Ref(__name__, "gelu_tanh_xp"),
           jax=Ref(__name__, "gelu_tanh_jax"),
           properties=(OpProperty("odd_part_is_identity", Ref(__name__, "gelu_tanh_odd_part_is_identity"),
                                  ("away", "hard")),)),
)
OPS = OPS + GELU_OPS
