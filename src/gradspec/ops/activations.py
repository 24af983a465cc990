"""Records of the activations (``gradspec.reference.activations``): sigmoid, tanh, relu, leaky_relu, step, softmax."""
from __future__ import annotations

import numpy as np

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
           kink_cases=Ref(__name__, "leaky_relu_kink_cases"), variants=Ref(__name__, "CATALOGUE")),
    OpSpec("step", "function", "activations", "Heaviside step of the perceptron: 1.0 where x > 0 else 0.0",
           (Arg("x", "input", False, "any shape"),), ("step_forward",), "y has the shape of x",
           Sampler(shape_of_x, step_values, Ref("gradspec.properties.strategies", "elementwise", (("away_from_zero", True),)), ("away", "on_kink")),
           same_shape,
           kinks=(Kink("x", "x == 0", "step(0) = 0; no gradient (not used in backprop)", lambda s: min_abs(s["x"])),),
           conventions=("step(0) = 0",),
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
