"""Record of the affine layer (``gradspec.reference.affine``)."""
from __future__ import annotations

import numpy as np

from ..spec import Arg, FdModel, OpProperty, OpSpec, Ref, Sampler
from ..variants import Catalogue, f64


def affine_structure(rng):
    N, D, M = (int(v) for v in rng.integers(1, [5, 6, 5]))
    return {"N": N, "D": D, "M": M}


def affine_values(case, rng):
    N, D, M = case["N"], case["D"], case["M"]
    return {"x": rng.normal(size=(N, D)), "W": rng.normal(size=(D, M)), "b": rng.normal(size=M)}


# ====================================================================== the ops' pieces for each oracle (named by the records' Refs)


# --------------------------------------------------------------------------- SymPy definitions (the symbolic oracle)
def affine_sympy(s):
    from ..symbolic.definitions import Definition, shape_of, sym_array
    N, D = shape_of(s["x"])
    M = shape_of(s["W"])[1]
    x, W, b = sym_array("x", (N, D), real=True), sym_array("W", (D, M), real=True), sym_array("b", (M,), real=True)
    y = np.empty((N, M), dtype=object)
    for n in range(N):
        for m in range(M):
            y[n, m] = sum(x[n, d] * W[d, m] for d in range(D)) + b[m]

    def spec(dy):  # dx = dy Wᵀ, dW = xᵀ dy, db = Σ_n dy
        return dy.dot(W.T), x.T.dot(dy), dy.sum(axis=0)

    return Definition({"x": x, "W": W, "b": b}, y, ("x", "W", "b"), spec)


# --------------------------------------------------------------------------- mpmath forwards (the mpmath oracle)
def affine_mp(s, pattern=None):
    from ..mpmath_oracle.forward import guard, mdot
    return guard(mdot(s["x"], s["W"]) + s["b"][None, :], "affine"), None


# --------------------------------------------------------------------------- float64 running-error models (the mpmath oracle's tolerance)
def affine_error_model(s, dy):
    from ..mpmath_oracle.tolerance import Bounded, Model, bmatmul, bsum
    x, W, b = Bounded(s["x"]), Bounded(s["W"]), Bounded(s["b"])
    dyb = Bounded(dy)
    return Model(bmatmul(x, W) + b, {"x": bmatmul(dyb, W.T), "W": bmatmul(x.T, dyb), "b": bsum(dyb, axis=0)})


# --------------------------------------------------------------------------- 50-digit closed forms (the golden vectors)
def affine_vectors(s, A, d):
    x, W, b = A["x"], A["W"], A["b"]
    return {"outputs": {"forward": x.dot(W) + b}, "gradients": {"x": d.dot(W.T), "W": x.T.dot(d), "b": np.sum(d, axis=0)}}


# --------------------------------------------------------------------------- Hypothesis strategies (the property library)
def affine_strategy(*args, **kwargs):
    """The Hypothesis strategy ``build(*args, **kwargs)`` below (Hypothesis is imported when called)."""
    from ..properties.strategies import arrays, scales, seeds
    from hypothesis import event
    from hypothesis import strategies as st

    @st.composite
    def build(draw, mode):
        N, D, M = draw(st.integers(1, 4)), draw(st.integers(1, 5)), draw(st.integers(1, 4))
        event(f"affine: N={'1' if N == 1 else '>1'}, {'D == M' if D == M else 'D != M'}")
        s = 1e3 if mode == "hard" else draw(scales())
        if mode == "hard":
            event("hard: large-magnitude sums")
        return {"x": draw(arrays((N, D), -s, s)), "W": draw(arrays((D, M), -s, s)), "b": draw(arrays((M,), -s, s)),
                "seed": draw(seeds())}

    return build(*args, **kwargs)


# --------------------------------------------------------------------------- the fd64 oracle's model (steps, conditioning, targeted samples)
def affine_backward_magnitude(sample: dict, dy) -> list:
    """The backward on absolute values: a bound on the terms each gradient sums."""
    from .. import reference as ref
    return list(ref.affine_backward(np.abs(sample["x"]), np.abs(sample["W"]), np.abs(sample["b"]), np.abs(dy)))


def affine_magnitude(sample: dict):
    from .. import reference as spec_impl
    return spec_impl.affine_forward(np.abs(sample["x"]), np.abs(sample["W"]), np.abs(sample["b"]))


def affine_targeted(op, rng: np.random.Generator) -> list[tuple[str, dict]]:
    """A square W (D = M >= 2), where a dW transposed by mistake keeps its shape."""
    N, D = int(rng.integers(1, 4)), int(rng.integers(2, 5))
    return [("square W (D = M)", {"x": rng.normal(size=(N, D)), "W": rng.normal(size=(D, D)),
                                  "b": rng.normal(size=D)})]


OPS = (
    OpSpec("affine", "differentiable", "affine", "x @ W + b",
           (Arg("x", "input", True, "(N, D)"), Arg("W", "param", True, "(D, M)"), Arg("b", "param", True, "(M,)")),
           ("affine_forward", "affine_backward"), "x (N,D), W (D,M), b (M,) -> (N,M)",
           # the second case's W is square: a missing transpose keeps the shape
           Sampler(affine_structure, affine_values, Ref(__name__, "affine_strategy"), ("away", "hard"),
                   cases=({"N": 2, "D": 3, "M": 2}, {"N": 3, "D": 2, "M": 2})),
           lambda s: (np.shape(s["x"])[0], np.shape(s["W"])[1]),
           sympy=Ref(__name__, "affine_sympy"), mp_forward=Ref(__name__, "affine_mp"),
           error_model=Ref(__name__, "affine_error_model"), vector_values=Ref(__name__, "affine_vectors"),
           fd_model=FdModel(magnitude=Ref(__name__, "affine_magnitude"), targeted=Ref(__name__, "affine_targeted"),
                             backward_magnitude=Ref(__name__, "affine_backward_magnitude")),
           variants=Ref(__name__, "CATALOGUE"),
           properties=(OpProperty("bias_grad_is_sum", Ref("gradspec.properties.props", "prop_affine_bias_grad_is_sum")),)),
)


# ====================================================================== known wrong variants (the diagnosis and the mutants)
# Known variants of affine.
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
