"""Records of the activations (``gradspec.reference.activations``): sigmoid, tanh, relu, leaky_relu, step, softmax,
gelu, gelu_tanh.

gelu and gelu_tanh keep every piece here, next to their records: the SymPy definitions, the mpmath forwards, the
float64 error models, the golden vectors' closed forms, the Hypothesis strategy, their own property, the PyTorch
forms and the catalogue of known variants (:data:`CATALOGUE`). Their Hypothesis strategy is the property library's
``elementwise`` building block, named by a Ref (importing ``gradspec.properties`` here, even inside a function, would
close an import cycle through its package, which loads the registry)."""
from __future__ import annotations

import math

import numpy as np

from ..spec import Arg, FdModel, Hyper, Kink, OpProperty, OpSpec, Ref, Sampler
from ..variants import Catalogue, f64
from . import refs
from ..sampling import any_shape, away_from_zero, min_abs, shape_of_x

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


OPS = (
    OpSpec("sigmoid", "differentiable", "activations", "logistic sigmoid 1/(1+e^-x)", (X_ANY,),
           ("sigmoid_forward", "sigmoid_backward"), "y has the shape of x",
           Sampler(shape_of_x, normal2_values, refs.strategy("elementwise"), ("away", "hard"),
                   cases=({"x": (2, 3)}, {"x": (1, 2, 1, 2)})),
           same_shape, notes="stable for |x| = 1000",
           sympy=refs.sympy("define_sigmoid"), mp_forward=refs.mp_forward("sigmoid"),
           error_model=refs.error_model("model_sigmoid"), vector_values=refs.vector_values("values_sigmoid"),
           fd_model=FdModel(large_logits="x"),
           variants=refs.variants("activations")),
    OpSpec("tanh", "differentiable", "activations", "hyperbolic tangent", (X_ANY,),
           ("tanh_forward", "tanh_backward"), "y has the shape of x",
           Sampler(shape_of_x, normal2_values, refs.strategy("elementwise"), ("away", "hard"),
                   cases=({"x": (2, 3)}, {"x": (4,)})),
           same_shape,
           sympy=refs.sympy("define_tanh"), mp_forward=refs.mp_forward("tanh"),
           error_model=refs.error_model("model_tanh"), vector_values=refs.vector_values("values_tanh"),
           fd_model=FdModel(large_logits="x"),
           variants=refs.variants("activations")),
    OpSpec("relu", "differentiable", "activations", "max(x, 0)", (X_ANY,), ("relu_forward", "relu_backward"),
           "y has the shape of x",
           Sampler(shape_of_x, relu_values, refs.strategy("elementwise", away_from_zero=True), ("away", "on_kink", "hard"),
                   cases=({"x": (2, 3)}, {"x": (1, 1, 2, 2)})),
           same_shape,
           kinks=(Kink("x", "x == 0", "relu'(0) = 0", lambda s: min_abs(s["x"])),),
           conventions=("relu'(0) = 0",),
           sympy=refs.sympy("define_relu"), mp_forward=refs.mp_forward("relu"),
           error_model=refs.error_model("model_relu"), vector_values=refs.vector_values("values_relu"),
           kink_cases=refs.kink_cases("relu_cases"),
           variants=refs.variants("activations")),
    OpSpec("leaky_relu", "differentiable", "activations", "x where x > 0, else alpha·x",
           (X_ANY, Arg("alpha", "hyper", False, "slope for x <= 0")), ("leaky_relu_forward", "leaky_relu_backward"),
           "y has the shape of x",
           Sampler(shape_of_x, leaky_relu_values, refs.strategy("leaky_relu"), ("away", "on_kink", "hard"),
                   cases=({"x": (2, 3)}, {"x": (1, 1, 2, 2)})),
           same_shape, hypers=(Hyper("alpha", 0.0, 1.0, high_open=True, default=0.01, doc="slope for x <= 0"),),
           kinks=(Kink("x", "x == 0", "leaky_relu'(0) = alpha (the left slope)", lambda s: min_abs(s["x"])),),
           conventions=("leaky_relu'(0) = alpha",),
           sympy=refs.sympy("define_leaky_relu"), mp_forward=refs.mp_forward("leaky_relu"),
           error_model=refs.error_model("model_leaky_relu"), vector_values=refs.vector_values("values_leaky_relu"),
           kink_cases=refs.kink_cases("leaky_relu_cases"), variants=refs.variants("activations")),
    OpSpec("step", "function", "activations", "Heaviside step of the perceptron: 1.0 where x > 0 else 0.0",
           (Arg("x", "input", False, "any shape"),), ("step_forward",), "y has the shape of x",
           Sampler(shape_of_x, step_values, refs.strategy("elementwise", away_from_zero=True), ("away", "on_kink")),
           same_shape,
           kinks=(Kink("x", "x == 0", "step(0) = 0; no gradient (not used in backprop)", lambda s: min_abs(s["x"])),),
           conventions=("step(0) = 0",),
           vector_values=refs.vector_values("values_step"), kink_cases=refs.kink_cases("step_cases"),
           variants=refs.variants("activations")),
    OpSpec("softmax", "differentiable", "activations", "softmax over the last axis",
           (Arg("x", "input", True, "(..., K)"),), ("softmax_forward", "softmax_backward"),
           "y has the shape of x; rows sum to 1",
           Sampler(softmax_structure, softmax_values, refs.strategy("softmax"), ("away", "hard"),
                   cases=({"x": (2, 3)}, {"x": (1, 2, 4)})),
           same_shape,
           sympy=refs.sympy("define_softmax"), mp_forward=refs.mp_forward("softmax"),
           error_model=refs.error_model("model_softmax"), vector_values=refs.vector_values("values_softmax"),
           fd_model=FdModel(large_logits="x"),
           variants=refs.variants("activations")),
)


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


def gelu_torch(x):
    """PyTorch's exact GELU, ``F.gelu(x)`` (approximate="none")."""
    import torch.nn.functional as F

    return F.gelu(x)


def gelu_tanh_torch(x):
    """PyTorch's tanh-approximated GELU, ``F.gelu(x, approximate="tanh")``."""
    import torch.nn.functional as F

    return F.gelu(x, approximate="tanh")


EPS = float(np.finfo(np.float64).eps)


def protocol_function(impl, name: str):
    """The protocol function ``name`` of ``impl``: a module or object, or a ``gradspec.impl.Implementation``
    wrapping one as ``.obj`` (the property suite checks beforehand that the function exists)."""
    return getattr(getattr(impl, "obj", impl), name)


def assert_within(actual, expected, tol, rule: str, what: str):
    """|actual − expected| <= tol element-wise, else AssertionError naming the rule, the worst element and its values."""
    actual, expected = np.asarray(actual, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    if actual.shape != expected.shape:
        raise AssertionError(f"{rule}: {what} has shape {actual.shape}, expected {expected.shape}")
    err = np.abs(actual - expected)
    bad = ~(err <= tol)  # NaN is never within
    if np.any(bad):
        k = int(np.argmax(np.where(bad, np.nan_to_num(err, nan=np.inf) - tol, -np.inf)))
        idx = list(np.unravel_index(k, expected.shape)) if expected.ndim else []
        raise AssertionError(f"{rule}: {what}{[int(i) for i in idx]} = {float(actual.flat[k])!r}, expected "
                             f"{float(expected.flat[k])!r} (|error| {float(err.flat[k]):.3g} > tolerance "
                             f"{float(np.broadcast_to(tol, expected.shape).flat[k]):.3g}; {int(bad.sum())} of {bad.size} off)")


def odd_part_is_identity(impl, sample, name: str):
    """g(x) − g(−x) = x within 16ε|x|, and g'(x) + g'(−x) = 1 within 32ε, for g = x·F(x) with F(x) + F(−x) = 1
    (F = Φ, and F = (1 + tanh u)/2 with u odd)."""
    x = np.asarray(sample["x"], dtype=np.float64)
    f, b = protocol_function(impl, f"{name}_forward"), protocol_function(impl, f"{name}_backward")
    odd = np.asarray(f(x), dtype=np.float64) - np.asarray(f(-x), dtype=np.float64)
    assert_within(odd, x, 16 * EPS * np.abs(x), f"{name}(x) − {name}(−x) = x", f"{name}(x) − {name}(−x)")
    ones = np.ones_like(x)
    even = np.asarray(b(x, ones), dtype=np.float64) + np.asarray(b(-x, ones), dtype=np.float64)
    assert_within(even, ones, 32 * EPS, f"{name}'(x) + {name}'(−x) = 1", f"{name}'(x) + {name}'(−x)")


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


CATALOGUE = Catalogue()
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
GELU_OPS = (
    OpSpec("gelu", "differentiable", "activations", "Gaussian error linear unit x·Φ(x) = x·(1 + erf(x/√2))/2 (exact form)",
           (X_ANY,), ("gelu_forward", "gelu_backward"), "y has the shape of x",
           Sampler(shape_of_x, normal2_values, refs.strategy("elementwise"), ("away", "hard"), cases=GELU_CASES),
           same_shape, notes="the exact erf form (PyTorch's F.gelu default, approximate='none')",
           sympy=Ref(__name__, "gelu_sympy"), mp_forward=Ref(__name__, "gelu_mp"),
           error_model=Ref(__name__, "gelu_error_model"), vector_values=Ref(__name__, "gelu_vectors"),
           fd_model=FdModel(large_logits="x"), variants=Ref(__name__, "CATALOGUE"), torch=Ref(__name__, "gelu_torch"),
           properties=(OpProperty("odd_part_is_identity", Ref(__name__, "gelu_odd_part_is_identity"), ("away", "hard")),)),
    OpSpec("gelu_tanh", "differentiable", "activations",
           "GELU by its tanh approximation x·(1 + tanh(√(2/π)(x + 0.044715x³)))/2",
           (X_ANY,), ("gelu_tanh_forward", "gelu_tanh_backward"), "y has the shape of x",
           Sampler(shape_of_x, normal2_values, refs.strategy("elementwise"), ("away", "hard"), cases=GELU_CASES),
           same_shape, notes="PyTorch's F.gelu(x, approximate='tanh'); a different function from gelu (up to 4.7e-4 apart, at x ≈ −2.70)",
           sympy=Ref(__name__, "gelu_tanh_sympy"), mp_forward=Ref(__name__, "gelu_tanh_mp"),
           error_model=Ref(__name__, "gelu_tanh_error_model"), vector_values=Ref(__name__, "gelu_tanh_vectors"),
           fd_model=FdModel(large_logits="x"), variants=Ref(__name__, "CATALOGUE"),
           torch=Ref(__name__, "gelu_tanh_torch"),
           properties=(OpProperty("odd_part_is_identity", Ref(__name__, "gelu_tanh_odd_part_is_identity"),
                                  ("away", "hard")),)),
)
OPS = OPS + GELU_OPS
