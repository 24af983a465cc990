"""Records of the regularisers (``gradspec.reference.regularization``): dropout, the L2 penalty, gradient clipping."""
from __future__ import annotations

import numpy as np

from ..spec import Arg, Hyper, OpProperty, OpSpec, Ref, Sampler, no_structure
from ..sampling import any_shape
from .. import reference as ref
from ..variants import Catalogue, f64


def dropout_structure(rng):
    shape = any_shape(rng)
    while int(np.prod(shape)) < 2:
        shape = any_shape(rng)
    return {"x": shape}


def dropout_values(case, rng):
    mask = (rng.random(case["x"]) < 0.5).astype(float)
    mask.flat[0], mask.flat[-1] = 0.0, 1.0  # both values present
    return {"x": rng.normal(size=case["x"]), "mask": mask, "p": float(rng.choice([0.0, 0.2, 0.5, 0.9]))}


def l2_penalty_structure(rng):
    return {"W": any_shape(rng)}


def l2_penalty_values(case, rng):
    return {"W": rng.normal(size=case["W"]), "lam": float(rng.uniform(0.0, 2.0))}


def grad_list(rng):
    return [rng.normal(0.0, 2.0, size=any_shape(rng)) for _ in range(int(rng.integers(1, 4)))]


def clip_grad_norm_values(case, rng):
    grads = grad_list(rng)
    norm = float(np.sqrt(sum(np.sum(g * g) for g in grads)))
    factor = float(rng.choice([0.3, 0.9, 1.5]))  # below, near and above the threshold
    return {"grads": grads, "max_norm": max(norm * factor, 1e-3)}


def clip_grad_value_values(case, rng):
    return {"grads": grad_list(rng), "clip": float(rng.uniform(0.1, 2.0))}


# ====================================================================== the ops' pieces for each oracle (named by the records' Refs)


# --------------------------------------------------------------------------- SymPy definitions (the symbolic oracle)
def l2_penalty_sympy(s):
    import sympy as sp
    from ..symbolic.definitions import Definition, shape_of, sym_array
    W = sym_array("W", shape_of(s["W"]), real=True)
    lam = sp.Symbol("lam", nonnegative=True)
    C = lam * sum(w ** 2 for w in W.ravel()) / 2
    return Definition({"W": W, "lam": lam}, C, ("W",), lambda dy: (dy * lam * W,), scalar=True)


def dropout_sympy(s):
    import sympy as sp
    from ..symbolic.definitions import Definition, shape_of, sym_array
    x = sym_array("x", shape_of(s["x"]), real=True)
    mask = np.asarray(s["mask"], dtype=np.float64)
    p = sp.Symbol("p", nonnegative=True)
    msym = np.array([sp.Integer(int(v)) for v in mask.ravel()], dtype=object).reshape(mask.shape)
    return Definition({"x": x, "p": p}, x * msym / (1 - p), ("x",), lambda dy: (dy * msym / (1 - p),))


# --------------------------------------------------------------------------- mpmath forwards (the mpmath oracle)
def dropout_mp(s, pattern=None):
    """x·mask/(1 − p); the 0/1 mask stays a float array and selects (x·1 = x, x·0 = 0 exactly)."""
    import mpmath
    from ..mpmath_oracle.forward import guard, zeros
    keep = 1 - mpmath.mpf(float(s["p"]))
    mask = np.asarray(s["mask"], dtype=np.float64)
    return guard(np.where(mask != 0, s["x"], zeros(mask.shape)) / keep, "dropout"), None


def l2_penalty_mp(s, pattern=None):
    import mpmath
    from ..mpmath_oracle.forward import guard, msum
    W = s["W"]
    return guard(mpmath.mpf(float(s["lam"])) * msum(W * W) / 2, "l2_penalty"), None


# --------------------------------------------------------------------------- float64 running-error models (the mpmath oracle's tolerance)
def dropout_error_model(s, dy):
    from ..mpmath_oracle.tolerance import Bounded, Model
    keep = 1.0 - Bounded(float(s["p"]))
    mask = np.asarray(s["mask"], dtype=np.float64)
    return Model(Bounded(s["x"]) * mask / keep, {"x": Bounded(dy) * mask / keep})


def l2_penalty_error_model(s, dy):
    from ..mpmath_oracle.tolerance import Bounded, Model, bsum
    W = Bounded(s["W"])
    lam = float(s["lam"])
    return Model(0.5 * lam * bsum(W * W), {"W": Bounded(dy) * lam * W})


# --------------------------------------------------------------------------- 50-digit closed forms (the golden vectors)
def dropout_vectors(s, A, d):
    from ..mpmath_oracle.vectors_mp import mpf
    keep = 1 - mpf(float(s["p"]))
    return {"outputs": {"forward": A["x"] * A["mask"] / keep}, "gradients": {"x": d * A["mask"] / keep}}


def l2_penalty_vectors(s, A, d):
    from ..mpmath_oracle.vectors_mp import mpf, msum
    lam = mpf(float(s["lam"]))
    return {"outputs": {"forward": lam * msum(A["W"] * A["W"]) / 2}, "gradients": {"W": d * lam * A["W"]}}


def clip_grad_norm_vectors(s, A, d):
    import mpmath
    from ..mpmath_oracle.vectors_mp import M, mpf, msum
    gs = [M(g) for g in s["grads"]]
    norm = mpmath.sqrt(sum((msum(g * g) for g in gs), mpf(0)))
    mx = mpf(float(s["max_norm"]))
    return {"outputs": {"output": [g * (mx / norm) if norm > mx else g for g in gs]}, "gradients": {}}


def clip_grad_value_vectors(s, A, d):
    from ..mpmath_oracle.vectors_mp import M, mmap, mpf
    c = mpf(float(s["clip"]))
    return {"outputs": {"output": [mmap(lambda v: min(max(v, -c), c), M(g)) for g in s["grads"]]}, "gradients": {}}


# --------------------------------------------------------------------------- Hypothesis strategies (the property library)
def dropout_strategy(*args, **kwargs):
    """The Hypothesis strategy ``build(*args, **kwargs)`` below (Hypothesis is imported when called)."""
    from ..properties.strategies import any_shape, arrays, floats, scales, seeds
    from hypothesis import event
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    @st.composite
    def build(draw, mode):
        shape = draw(any_shape(min_size=2))
        mask = draw(hnp.arrays(np.float64, shape, elements=st.sampled_from([0.0, 1.0]), fill=st.nothing()))
        i, j = draw(st.lists(st.integers(0, mask.size - 1), min_size=2, max_size=2, unique=True))
        mask.flat[i], mask.flat[j] = 0.0, 1.0  # both values present
        p = draw(st.one_of(st.sampled_from([0.0, 0.2, 0.5, 0.9]), floats(0.0, 0.95)))
        event("dropout: p = 0" if p == 0 else "dropout: p > 0")
        s = draw(scales())
        return {"x": draw(arrays(shape, -s, s)), "mask": mask, "p": p, "seed": draw(seeds())}

    return build(*args, **kwargs)


def l2_penalty_strategy(*args, **kwargs):
    """The Hypothesis strategy ``build(*args, **kwargs)`` below (Hypothesis is imported when called)."""
    from ..properties.strategies import any_shape, arrays, floats, scales, seeds
    from hypothesis import strategies as st

    @st.composite
    def build(draw, mode):
        shape = draw(any_shape())
        s = 1e3 if mode == "hard" else draw(scales())
        return {"W": draw(arrays(shape, -s, s)), "lam": draw(floats(0.0, 2.0)), "seed": draw(seeds())}

    return build(*args, **kwargs)


def clip_grad_norm_strategy(*args, **kwargs):
    """The Hypothesis strategy ``build(*args, **kwargs)`` below (Hypothesis is imported when called)."""
    import math
    from ..properties.strategies import grad_list, scales, seeds
    from hypothesis import event
    from hypothesis import strategies as st

    @st.composite
    def build(draw, mode):
        grads = draw(grad_list(draw(scales())))
        norm = math.sqrt(sum(float(np.sum(g * g)) for g in grads))
        if mode == "on_kink":  # exactly at the threshold: no rescaling
            event("on kink: norm == max_norm")
            return {"grads": grads, "max_norm": norm if norm > 0 else 1.0, "seed": draw(seeds())}
        factor = draw(st.sampled_from([0.3, 0.9, 1.5, 3.0]))
        event("clip_grad_norm: " + ("above" if factor < 1 else "below") + " the threshold")
        return {"grads": grads, "max_norm": max(norm * factor, 1e-3), "seed": draw(seeds())}

    return build(*args, **kwargs)


def clip_grad_value_strategy(*args, **kwargs):
    """The Hypothesis strategy ``build(*args, **kwargs)`` below (Hypothesis is imported when called)."""
    from ..properties.strategies import floats_within, grad_list, seeds
    from hypothesis import event
    from hypothesis import strategies as st

    @st.composite
    def build(draw, mode, limits=None):
        """``limits``: a declared limit of clip, drawn within (``Sampler.strategy_limits``): the kink samples
        put elements at ±clip, so clip is drawn before them."""
        clip = draw(floats_within(0.1, 2.0, (limits or {}).get("clip")))
        grads = draw(grad_list(3.0))
        if mode == "on_kink":  # some elements exactly at ±clip
            event("on kink: elements at ±clip")
            for g in grads:
                g.flat[0] = draw(st.sampled_from([clip, -clip]))
        return {"grads": grads, "clip": clip, "seed": draw(seeds())}

    return build(*args, **kwargs)


def clip_grad_norm_statement(s, notes):
    """The clipped gradients from the SymPy statement of clip-by-global-norm over all the arrays."""
    import mpmath
    from ..symbolic.definitions import compiled_clip_norm
    flat = np.concatenate([np.ravel(g) for g in s["grads"]])
    vals = compiled_clip_norm(flat.size)(*[mpmath.mpf(float(v)) for v in flat], mpmath.mpf(float(s["max_norm"])))
    out, i = [], 0
    for g in s["grads"]:
        out.append(np.array([float(v) for v in vals[i:i + g.size]], dtype=np.float64).reshape(g.shape))
        i += g.size
    return out


def clip_grad_norm_proofs():
    from ..symbolic.definitions import prove_clip_norm
    return {"norm of the clipped gradients equals max_norm on the clipping branch (3 symbols)": prove_clip_norm(3)}


def clip_grad_value_statement(s, notes):
    """The clamped gradients from the SymPy statement ``Min(Max(g, -c), c)``."""
    import mpmath
    from ..symbolic.definitions import compiled_clip_value
    clipv = compiled_clip_value()
    c = mpmath.mpf(float(s["clip"]))
    return [np.vectorize(lambda v: float(clipv(mpmath.mpf(float(v)), c)), otypes=[float])(g) for g in s["grads"]]


OPS = (
    OpSpec("dropout", "differentiable", "regularization", "inverted dropout x·mask/(1−p)",
           (Arg("x", "input", True, "any shape"), Arg("mask", "mask", False, "0/1, shape of x"), Arg("p", "hyper")),
           ("dropout_forward", "dropout_backward"), "y has the shape of x",
           Sampler(dropout_structure, dropout_values, Ref(__name__, "dropout_strategy"), ("away",),
                   cases=({"x": (2, 3)}, {"x": (5,)})),
           lambda s: np.shape(s["x"]),
           hypers=(Hyper("p", 0.0, 1.0, high_open=True, doc="drop probability"),),
           conventions=("inverted dropout: scale kept units by 1/(1−p)", "p is the drop probability"),
           sympy=Ref(__name__, "dropout_sympy"), mp_forward=Ref(__name__, "dropout_mp"),
           error_model=Ref(__name__, "dropout_error_model"), vector_values=Ref(__name__, "dropout_vectors"),
           variants=Ref(__name__, "CATALOGUE"),
           properties=(OpProperty("same_mask_backward", Ref("gradspec.properties.props", "prop_dropout_same_mask")),
                       OpProperty("unbiased", Ref("gradspec.properties.props", "prop_dropout_unbiased"), weight=0.3))),
    OpSpec("l2_penalty", "loss", "regularization", "0.5·lam·ΣW²",
           (Arg("W", "param", True, "any shape"), Arg("lam", "hyper")), ("l2_penalty_forward", "l2_penalty_backward"),
           "W (any) -> float",
           Sampler(l2_penalty_structure, l2_penalty_values, Ref(__name__, "l2_penalty_strategy"), ("away", "hard"),
                   cases=({"W": (2, 3)}, {"W": (1, 1, 2, 2)})),
           lambda s: (), hypers=(Hyper("lam", 0.0),),
           sympy=Ref(__name__, "l2_penalty_sympy"), mp_forward=Ref(__name__, "l2_penalty_mp"),
           error_model=Ref(__name__, "l2_penalty_error_model"), vector_values=Ref(__name__, "l2_penalty_vectors"),
           variants=Ref(__name__, "CATALOGUE"),
           properties=(OpProperty("gradient_is_lam_W", Ref("gradspec.properties.props", "prop_l2_gradient"), ('away', 'hard')),)),
    OpSpec("clip_grad_norm", "function", "regularization", "rescale a list of gradients to global L2 norm <= max_norm",
           (Arg("grads", "grads"), Arg("max_norm", "hyper")), ("clip_grad_norm",), "new list, same shapes",
           Sampler(no_structure, clip_grad_norm_values, Ref(__name__, "clip_grad_norm_strategy"), ("away", "on_kink")),
           hypers=(Hyper("max_norm", 0.0, low_open=True),),
           conventions=("global L2 norm over all arrays", "scale exactly max_norm/norm when norm > max_norm"),
           sympy=Ref(__name__, "clip_grad_norm_statement"), sympy_proofs=Ref(__name__, "clip_grad_norm_proofs"),
           vector_values=Ref(__name__, "clip_grad_norm_vectors"),
           variants=Ref(__name__, "CATALOGUE"),
           properties=(OpProperty("direction_and_bound", Ref("gradspec.properties.props", "prop_clip_norm"), ('away', 'on_kink')),)),
    OpSpec("clip_grad_value", "function", "regularization", "clamp every element to [−clip, clip]",
           (Arg("grads", "grads"), Arg("clip", "hyper")), ("clip_grad_value",), "new list, same shapes",
           Sampler(no_structure, clip_grad_value_values, Ref(__name__, "clip_grad_value_strategy"), ("away", "on_kink"),
                   strategy_limits=("clip",)),
           hypers=(Hyper("clip", 0.0, low_open=True),),
           sympy=Ref(__name__, "clip_grad_value_statement"),
           vector_values=Ref(__name__, "clip_grad_value_vectors"),
           variants=Ref(__name__, "CATALOGUE"),
           properties=(OpProperty("clamps", Ref("gradspec.properties.props", "prop_clip_value"), ('away', 'on_kink')),)),
)


# ====================================================================== known wrong variants (the diagnosis and the mutants)
# Known variants of dropout, l2_penalty, clip_grad_norm and clip_grad_value.
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
