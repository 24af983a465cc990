"""Record of the residual block (``gradspec.reference.residual``), with every piece of the op.

``residual_forward(x, W1, b1, W2, b2) = x + relu(x W1 + b1) W2 + b2``: an identity path beside a two-layer
branch. Conventions: the identity path's gradient is dy, added once to the branch's (dx = dy + dh W1ᵀ), and
relu'(0) = 0 at a hidden pre-activation h = x W1 + b1 that is exactly 0.
"""
from __future__ import annotations

import numpy as np

from ..properties.checks import EPS, assert_close, cotangent, fn, seeded_rng
from ..sampling import KINK_MARGIN, min_abs
from ..spec import Arg, FdModel, Kink, KinkCase, OpProperty, OpSpec, Ref, Sampler
from ..variants import Catalogue, f64

NAME = "residual"
CONVENTION = "relu'(0) = 0: a hidden unit whose pre-activation x W1 + b1 is exactly 0 passes no gradient"
IDENTITY = "dx = dy + dh W1ᵀ: the identity path's gradient dy is added once to the branch's"


def pre_activation(s: dict) -> np.ndarray:
    """h = x W1 + b1 (N, H)."""
    x, W1, b1 = (np.asarray(s[k], dtype=np.float64) for k in ("x", "W1", "b1"))
    return x @ W1 + b1


def kink_distance(s: dict) -> float:
    return min_abs(pre_activation(s))


def keep_from_zero(pre: np.ndarray, b: float, margin: float) -> float:
    """The value nearest ``b`` that keeps every ``pre + b`` at least ``margin`` from 0 (b itself when it does)."""
    pre = np.asarray(pre, dtype=np.float64)
    cands = np.concatenate([[b], -pre - margin, -pre + margin])
    ok = [c for c in cands if np.min(np.abs(pre + c)) >= 0.999 * margin]
    return float(min(ok, key=lambda c: abs(c - b)))


def fix_biases(x: np.ndarray, W1: np.ndarray, b1: np.ndarray, margin: float) -> np.ndarray:
    """b1 moved unit by unit so that every pre-activation of x W1 + b1 keeps ``margin`` from relu's kink."""
    pre = x @ W1
    return np.array([keep_from_zero(pre[:, j], float(b1[j]), margin) for j in range(len(b1))], dtype=np.float64)


# --------------------------------------------------------------------------- sampler
def residual_structure(rng: np.random.Generator) -> dict:
    N, D, H = (int(v) for v in rng.integers(1, [5, 5, 5]))
    return {"N": N, "D": D, "H": H}


def residual_values(case: dict, rng: np.random.Generator) -> dict:
    """x ~ N(0, 1), W ~ N(0, 1/fan_in), biases ~ N(0, 0.5²); b1 kept 2·KINK_MARGIN from every kink."""
    N, D, H = case["N"], case["D"], case["H"]
    x, W1 = rng.normal(size=(N, D)), rng.normal(size=(D, H)) / np.sqrt(D)
    b1 = fix_biases(x, W1, rng.normal(0.0, 0.5, size=H), 2 * KINK_MARGIN)
    return {"x": x, "W1": W1, "b1": b1, "W2": rng.normal(size=(H, D)) / np.sqrt(H), "b2": rng.normal(0.0, 0.5, size=D)}


def residual_output_shape(s: dict) -> tuple:
    return tuple(np.shape(s["x"]))


def residual_strategy(mode: str):
    """Hypothesis samples. ``away``: b1 moved so every pre-activation keeps a margin from 0; ``hard``: every value
    up to 1e3 in magnitude (sums of 1e6-sized terms), margin kept; ``on_kink``: small integers (every sum exact
    in any order) with the pre-activation of one unit of example 0 exactly 0."""
    from hypothesis import event, strategies as st
    from hypothesis.extra import numpy as hnp

    from ..properties.strategies import SCALES, arrays

    @st.composite
    def draw_sample(draw):
        N, D, H = draw(st.integers(1, 4)), draw(st.integers(1, 4)), draw(st.integers(1, 4))
        if mode == "on_kink":
            def ints(shape):
                return draw(hnp.arrays(np.float64, shape, elements=st.integers(-2, 2).map(float), fill=st.nothing()))

            x, W1, b1, W2, b2 = ints((N, D)), ints((D, H)), ints((H,)), ints((H, D)), ints((D,))
            j = draw(st.integers(0, H - 1))
            b1[j] = -float((x @ W1)[0, j]) + 0.0  # unit j of example 0 sits exactly on relu's kink
            event("on kink: a hidden pre-activation exactly 0")
        else:
            s = 1e3 if mode == "hard" else draw(st.sampled_from(SCALES))
            x = draw(arrays((N, D), -s, s))
            W1, W2 = draw(arrays((D, H), -1.0, 1.0)), draw(arrays((H, D), -1.0, 1.0))
            if mode == "hard":
                W1, W2 = W1 * 1e3, W2 * 1e3
                event("hard: values up to 1e3, sums of terms up to 1e6")
            b2 = draw(arrays((D,), -s, s))
            scale = max(1.0, float(np.max(np.abs(x @ W1))))
            b1 = fix_biases(x, W1, draw(arrays((H,), -scale, scale)), 2 * KINK_MARGIN * scale)
            if kink_distance({"x": x, "W1": W1, "b1": b1}) < 4 * KINK_MARGIN * scale:
                event("near kink: a pre-activation within two margins of 0")
        return {"x": x, "W1": W1, "b1": b1, "W2": W2, "b2": b2, "seed": draw(st.integers(0, 2**32 - 1))}

    return draw_sample()


# --------------------------------------------------------------------------- SymPy, mpmath, error model, vectors
def residual_sympy(sample: dict):
    """y = x + relu(x W1 + b1) W2 + b2 on symbols (relu as Piecewise((z, z > 0), (0, True)): relu'(0) = 0)."""
    from ..symbolic.definitions import Definition, ew, relu, sym_array

    N, D = np.shape(sample["x"])
    H = np.shape(sample["W1"])[1]
    x, W1, b1 = sym_array("x", (N, D), real=True), sym_array("W1", (D, H), real=True), sym_array("b1", (H,), real=True)
    W2, b2 = sym_array("W2", (H, D), real=True), sym_array("b2", (D,), real=True)
    h = x.dot(W1) + b1
    y = x + ew(relu, h).dot(W2) + b2

    def spec(dy):  # residual_backward docstring
        import sympy as sp

        dh = dy.dot(W2.T) * ew(lambda z: sp.Piecewise((1, z > 0), (0, True)), h)
        return dy + dh.dot(W1.T), x.T.dot(dh), dh.sum(axis=0), ew(relu, h).T.dot(dy), dy.sum(axis=0)

    return Definition({"x": x, "W1": W1, "b1": b1, "W2": W2, "b2": b2}, y, ("x", "W1", "b1", "W2", "b2"), spec)


def residual_mp(s: dict, pattern=None):
    """The block in mpmath; pattern = h > 0 (relu'(0) = 0: a zero pre-activation is inactive)."""
    from ..mpmath_oracle.forward import guard, mdot, positive, zeros

    h = mdot(s["x"], s["W1"]) + s["b1"][None, :]
    if pattern is None:
        pattern = positive(h)
    a = np.where(pattern, h, zeros(h.shape))
    return guard(s["x"] + (mdot(a, s["W2"]) + s["b2"][None, :]), "residual"), pattern


def residual_error_model(s: dict, dy):
    """The reference's graph in Bounded arithmetic: h = x W1 + b1, y = x + (relu(h) W2 + b2), then the VJP."""
    from ..mpmath_oracle.tolerance import Bounded, Model, bmatmul, bmax0, bsum, bwhere

    x, W1, b1, W2, b2 = (Bounded(s[k]) for k in ("x", "W1", "b1", "W2", "b2"))
    dy = Bounded(dy)
    h = bmatmul(x, W1) + b1
    a = bmax0(h)
    y = x + (bmatmul(a, W2) + b2)
    dh = bwhere(h.v > 0, bmatmul(dy, W2.T), 0.0)
    return Model(y, {"x": dy + bmatmul(dh, W1.T), "W1": bmatmul(x.T, dh), "b1": bsum(dh, axis=0),
                     "W2": bmatmul(a.T, dy), "b2": bsum(dy, axis=0)})


def residual_vectors(s: dict, A: dict, d) -> dict:
    """The golden values at 50 digits, relu'(0) = 0."""
    import mpmath

    x, W1, b1, W2, b2 = (A[k] for k in ("x", "W1", "b1", "W2", "b2"))
    h = x.dot(W1) + b1
    pos = np.vectorize(lambda v: v > 0, otypes=[bool])(h)
    a = np.where(pos, h, mpmath.mpf(0))
    dh = np.where(pos, d.dot(W2.T), mpmath.mpf(0))
    return {"outputs": {"forward": x + a.dot(W2) + b2},
            "gradients": {"x": d + dh.dot(W1.T), "W1": x.T.dot(dh), "b1": np.sum(dh, axis=0),
                          "W2": a.T.dot(d), "b2": np.sum(d, axis=0)}}


def residual_magnitude(sample: dict):
    """The forward on absolute values (a bound on the terms summed inside it)."""
    from .. import reference as ref

    return ref.residual_forward(*(np.abs(sample[k]) for k in ("x", "W1", "b1", "W2", "b2")))


def residual_kink_cases() -> list[KinkCase]:
    x = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    W1 = np.array([[1.0, -1.0, 0.5], [2.0, 1.0, -1.0]])
    b1 = np.array([-1.0, 0.0, 0.5])  # h = [[0, -1, 1], [1, 1, -0.5], [2, 0, 0]]: four units exactly on the kink
    W2 = np.array([[0.5, -1.0], [1.5, 0.25], [-0.75, 2.0]])
    b2 = np.array([0.1, -0.2])
    return [KinkCase(NAME, "hidden pre-activations x W1 + b1 exactly 0", CONVENTION,
                     {"x": x, "W1": W1, "b1": b1, "W2": W2, "b2": b2}, 11)]


def residual_torch(x, W1, b1, W2, b2):
    """``x + F.relu(x @ W1 + b1) @ W2 + b2`` (torch's relu passes no gradient at 0, the spec's convention)."""
    import torch.nn.functional as F

    return x + F.relu(x @ W1 + b1) @ W2 + b2


def residual_shapes(x, W1, b1, W2, b2) -> None:
    """x (N, D), W1 (D, H), b1 (H,), W2 (H, D), b2 (D,), or a ValueError naming the rule and the shapes."""
    shapes = [tuple(a.shape) for a in (x, W1, b1, W2, b2)]
    ok = [len(s) for s in shapes] == [2, 2, 1, 2, 1]
    if ok:
        (N, D), (D1, H) = shapes[0], shapes[1]
        ok = D1 == D and shapes[2] == (H,) and shapes[3] == (H, D) and shapes[4] == (D,)
    if not ok:
        raise ValueError("residual: shapes must be x (N, D), W1 (D, H), b1 (H,), W2 (H, D), b2 (D,), got "
                         + ", ".join(f"{n} {s}" for n, s in zip(ARGS, shapes)))


def residual_xp(xp, x, W1, b1, W2, b2):
    """``x + xp.maximum(x @ W1 + b1, 0) @ W2 + b2``, relu as a NumPy user writes it (the framework's gradient of
    ``maximum`` at a tie is the framework's: autograd's splits it, ½)."""
    residual_shapes(x, W1, b1, W2, b2)
    return x + xp.maximum(x @ W1 + b1, 0.0) @ W2 + b2


def residual_jax(x, W1, b1, W2, b2):
    """``x + jax.nn.relu(x @ W1 + b1) @ W2 + b2``: JAX's own relu (its derivative at 0 is 0, the spec's)."""
    import jax

    residual_shapes(x, W1, b1, W2, b2)
    return x + jax.nn.relu(x @ W1 + b1) @ W2 + b2


# --------------------------------------------------------------------------- the op's own properties
ARGS = ("x", "W1", "b1", "W2", "b2")


def prop_identity_path(impl, sample):
    """With W2 = 0 the block is x + b2: y = x + b2, dx = dy (the identity path, once), dW1 = 0 and db1 = 0, exactly."""

    s = dict(sample, W2=np.zeros_like(np.asarray(sample["W2"], dtype=np.float64)))
    args = [np.asarray(s[k], dtype=np.float64) for k in ARGS]
    y = fn(impl, "residual_forward")(*args)
    assert_close(y, args[0] + args[4], 0.0, "residual with W2 = 0: y = x + b2", "y")
    dy = cotangent(s, np.shape(s["x"]))
    dx, dW1, db1, _, _ = fn(impl, "residual_backward")(*args, dy)
    assert_close(dx, dy, 0.0, f"residual with W2 = 0: {IDENTITY}, and the branch's is 0", "dx")
    assert_close(dW1, np.zeros_like(args[1]), 0.0, "residual with W2 = 0: no gradient reaches W1", "dW1")
    assert_close(db1, np.zeros_like(args[2]), 0.0, "residual with W2 = 0: no gradient reaches b1", "db1")


def prop_relu_convention(impl, sample):
    """On a sample with pre-activations exactly 0 (the on_kink mode: small integers, every sum exact): the forward
    and every gradient equal the spec's formulas with relu'(0) = 0, within 16ε times the same formulas on absolute
    values (0 on integer samples, where every sum is exact; dy is drawn as small integers too)."""
    x, W1, b1, W2, b2 = (np.asarray(sample[k], dtype=np.float64) for k in ARGS)
    rng = seeded_rng(sample, 11)
    dy = rng.integers(-3, 4, size=x.shape).astype(np.float64)
    eps16 = 16 * EPS
    h = x @ W1 + b1
    a, mask = np.maximum(h, 0.0), h > 0
    assert_close(fn(impl, "residual_forward")(x, W1, b1, W2, b2), x + a @ W2 + b2,
                 eps16 * (np.abs(x) + a @ np.abs(W2) + np.abs(b2)), "residual: y = x + relu(x W1 + b1) W2 + b2", "y")
    dh = (dy @ W2.T) * mask
    dh_abs = (np.abs(dy) @ np.abs(W2).T) * mask
    want = (dy + dh @ W1.T, x.T @ dh, dh.sum(axis=0), a.T @ dy, dy.sum(axis=0))
    scale = (np.abs(dy) + dh_abs @ np.abs(W1).T, np.abs(x).T @ dh_abs, dh_abs.sum(axis=0), a.T @ np.abs(dy),
             np.abs(dy).sum(axis=0))
    got = fn(impl, "residual_backward")(x, W1, b1, W2, b2, dy)
    for name, g, w, m in zip(ARGS, got, want, scale):
        assert_close(g, w, eps16 * m, f"residual: {CONVENTION}", f"d{name}")


# --------------------------------------------------------------------------- known variants
CATALOGUE = Catalogue()


def parts(x, W1, b1, W2, b2, dy, mask_from=None):
    """The reference's intermediate values (validated there): dy, h, a, dh with the mask from ``mask_from``."""
    from .. import reference as ref

    ref.residual_backward(x, W1, b1, W2, b2, dy)
    x, W1, b1, W2, dy = f64(x), f64(W1), f64(b1), f64(W2), f64(dy)
    h = x @ W1 + b1
    mask = (h if mask_from is None else mask_from) > 0
    return x, dy, h, np.maximum(h, 0.0), (dy @ W2.T) * mask


def backward_identity_dropped(x, W1, b1, W2, b2, dy):
    x, dy, h, a, dh = parts(x, W1, b1, W2, b2, dy)
    return dh @ f64(W1).T, x.T @ dh, dh.sum(axis=0), a.T @ dy, dy.sum(axis=0)


def backward_identity_twice(x, W1, b1, W2, b2, dy):
    x, dy, h, a, dh = parts(x, W1, b1, W2, b2, dy)
    return dy + (dh @ f64(W1).T + dy), x.T @ dh, dh.sum(axis=0), a.T @ dy, dy.sum(axis=0)


def backward_mask_without_bias(x, W1, b1, W2, b2, dy):
    x, dy, h, a, dh = parts(x, W1, b1, W2, b2, dy, mask_from=f64(x) @ f64(W1))
    return dy + dh @ f64(W1).T, x.T @ dh, dh.sum(axis=0), a.T @ dy, dy.sum(axis=0)


def backward_relu_half_at_zero(x, W1, b1, W2, b2, dy):
    x, dy, h, a, _ = parts(x, W1, b1, W2, b2, dy)
    dh = (dy @ f64(W2).T) * np.where(h > 0, 1.0, np.where(h == 0, 0.5, 0.0))
    return dy + dh @ f64(W1).T, x.T @ dh, dh.sum(axis=0), a.T @ dy, dy.sum(axis=0)


CATALOGUE.variant(
    "identity_gradient_dropped", NAME,
    "residual_backward returns only the branch's dx = dh W1ᵀ: the identity path's gradient dy is missing; the spec's "
    "dx = dy + dh W1ᵀ",
    mutant="residual_dx_missing_identity", description="residual_backward drops the identity path's dy from dx",
    residual_backward=backward_identity_dropped)
CATALOGUE.variant(
    "identity_gradient_added_twice", NAME,
    "residual_backward adds the identity path's gradient dy twice: dx = 2 dy + dh W1ᵀ; the spec adds it once",
    mutant="residual_dx_identity_twice", description="residual_backward adds dy to dx twice",
    residual_backward=backward_identity_twice)
CATALOGUE.variant(
    "relu_mask_from_wrong_preactivation", NAME,
    "residual_backward takes relu's mask from x W1 (the pre-activation without b1) instead of h = x W1 + b1: a unit "
    "whose bias changes its sign gets the wrong gate",
    mutant="residual_relu_mask_without_bias",
    description="residual_backward masks with x W1 > 0 instead of x W1 + b1 > 0",
    residual_backward=backward_mask_without_bias)
CATALOGUE.variant(
    "relu_prime_at_zero_is_half", NAME,
    "the hidden relu's derivative at a pre-activation of exactly 0 is ½, the mean of the one-sided slopes "
    "(autograd's gradient of np.maximum(h, 0) splits the tie); the spec fixes relu'(0) = 0",
    residual_backward=backward_relu_half_at_zero)


def probe_bias_flips_sign(rng: np.random.Generator) -> dict:
    """Biases that flip the sign of x W1 for some units (a mask without b1 shows), W2 = random."""
    x = np.array([[1.0, 0.5], [-0.5, 1.0], [0.25, -1.0]])
    W1 = np.array([[1.0, -1.0, 0.5], [0.5, 1.0, -1.0]])
    b1 = np.array([-2.0, 1.75, 0.8])
    return {"x": x, "W1": W1, "b1": b1, "W2": rng.normal(size=(3, 2)), "b2": rng.normal(size=2)}


CATALOGUE.probe(NAME, probe_bias_flips_sign)


OPS = (
    OpSpec(NAME, "differentiable", "residual", "x + relu(x W1 + b1) W2 + b2",
           (Arg("x", "input", True, "(N, D)"), Arg("W1", "param", True, "(D, H)"), Arg("b1", "param", True, "(H,)"),
            Arg("W2", "param", True, "(H, D)"), Arg("b2", "param", True, "(D,)")),
           ("residual_forward", "residual_backward"), "x (N,D), W1 (D,H), b1 (H,), W2 (H,D), b2 (D,) -> (N,D)",
           Sampler(residual_structure, residual_values, Ref(__name__, "residual_strategy"), ("away", "on_kink", "hard"),
                   cases=({"N": 2, "D": 2, "H": 3}, {"N": 3, "D": 1, "H": 2})),
           residual_output_shape,
           kinks=(Kink("b1", "x W1 + b1 == 0 (a hidden pre-activation)", CONVENTION, kink_distance),),
           conventions=("relu'(0) = 0", IDENTITY),
           sympy=Ref(__name__, "residual_sympy"), mp_forward=Ref(__name__, "residual_mp"),
           error_model=Ref(__name__, "residual_error_model"), vector_values=Ref(__name__, "residual_vectors"),
           kink_cases=Ref(__name__, "residual_kink_cases"),
           fd_model=FdModel(magnitude=Ref(__name__, "residual_magnitude")),
           variants=Ref(__name__, "CATALOGUE"), torch=Ref(__name__, "residual_torch"),
           xp=Ref(__name__, "residual_xp"), jax=Ref(__name__, "residual_jax"),
           properties=(OpProperty("identity_path", Ref(__name__, "prop_identity_path"), ("away", "hard")),
                       OpProperty("relu_convention", Ref(__name__, "prop_relu_convention"), ("on_kink",)))),
)
