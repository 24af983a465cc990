"""Record of scaled dot-product attention (``gradspec.reference.attention``), with every piece of the op here.

``attention_forward(Q, K, V, mask)`` = softmax(QKᵀ/√d + M)·V, the mask True/1 = attend and M = −∞ elsewhere.
The sampler draws causal masks most often (as a (Tq, Tk) matrix broadcast over the batch axes), random masks
with at least one attended key per row, and all-ones masks; the registry's samples hold the mask as float64 0/1
(the form the golden-vector corpus stores), the Hypothesis samples as bool, float 0/1 or None. The op is smooth:
no kinks, no pattern. Its known variants (:data:`CATALOGUE`): the 1/√d scale missing in the backward, the softmax
Jacobian without its row-sum term, the mask ignored in the backward, dK from the untransposed score gradient.
"""
from __future__ import annotations

import numpy as np

from ..properties.checks import fn
from ..spec import Arg, FdModel, OpProperty, OpSpec, Ref, Sampler
from ..variants import Catalogue, f64

MASK_KINDS = ("causal", "causal", "random", "ones")


# --------------------------------------------------------------------------- sampler
def attention_structure(rng):
    batch = [(), (2,), (1, 2)][int(rng.integers(0, 3))]
    Tq = int(rng.integers(1, 5))
    Tk = Tq if rng.random() < 0.5 else int(rng.integers(1, 5))  # square often: causal self-attention
    return {"batch": batch, "Tq": Tq, "Tk": Tk, "d": int(rng.integers(2, 5)), "dv": int(rng.integers(1, 4)),
            "mask": MASK_KINDS[int(rng.integers(0, len(MASK_KINDS)))]}


def draw_mask(kind, batch, Tq, Tk, rng) -> np.ndarray:
    """A boolean mask of ``kind`` (causal: (Tq, Tk), broadcast over the batch axes; random, ones: full shape)."""
    from ..reference.attention import causal_mask

    if kind == "causal":
        return causal_mask(Tq, Tk)
    shape = tuple(batch) + (Tq, Tk)
    if kind == "ones":
        return np.ones(shape, dtype=bool)
    m = rng.random(shape) < 0.6
    rows = np.argwhere(~m.any(axis=-1))
    for r in rows:  # every row attends at least one key
        m[tuple(r) + (int(rng.integers(0, Tk)),)] = True
    return m


def attention_values(case, rng):
    b, Tq, Tk, d, dv = tuple(case["batch"]), case["Tq"], case["Tk"], case["d"], case["dv"]
    mask = draw_mask(case["mask"], b, Tq, Tk, rng)
    return {"Q": rng.normal(size=b + (Tq, d)), "K": rng.normal(size=b + (Tk, d)), "V": rng.normal(size=b + (Tk, dv)),
            "mask": mask.astype(np.float64)}


def output_shape(s) -> tuple:
    return tuple(np.shape(s["Q"])[:-1]) + (np.shape(s["V"])[-1],)


def bool_mask(s) -> np.ndarray:
    """The sample's mask as booleans broadcast to the scores' shape (..., Tq, Tk) (None: every key attends)."""
    shape = tuple(np.shape(s["Q"])[:-1]) + (np.shape(s["K"])[-2],)
    m = s.get("mask")
    return np.ones(shape, dtype=bool) if m is None else np.broadcast_to(np.asarray(m) != 0, shape)


# --------------------------------------------------------------------------- SymPy
def attention_sympy(sample):
    """Y = P V with P_ij = e^{S_ij} / Σ_{j attended} e^{S_ij}, S = QKᵀ/√d, masked terms absent (weight 0)."""
    import sympy as sp

    from ..symbolic.definitions import Definition, sym_array

    Qs, Ks, Vs = (np.shape(sample[k]) for k in ("Q", "K", "V"))
    batch, (Tq, d), (Tk, dv) = Qs[:-2], Qs[-2:], Vs[-2:]
    M = bool_mask(sample)
    Q, K, V = sym_array("Q", Qs, real=True), sym_array("K", Ks, real=True), sym_array("V", Vs, real=True)
    r = sp.sqrt(d)
    P = np.empty(batch + (Tq, Tk), dtype=object)
    for b in np.ndindex(batch):
        for i in range(Tq):
            e = [sp.exp(sum(Q[b + (i, k)] * K[b + (j, k)] for k in range(d)) / r) if M[b + (i, j)] else sp.Integer(0)
                 for j in range(Tk)]
            tot = sum(e)
            for j in range(Tk):
                P[b + (i, j)] = e[j] / tot
    Y = np.empty(batch + (Tq, dv), dtype=object)
    for b in np.ndindex(batch):
        for i in range(Tq):
            for c in range(dv):
                Y[b + (i, c)] = sum(P[b + (i, j)] * V[b + (j, c)] for j in range(Tk))

    def spec(dy):  # attention_backward docstring: dV = Pᵀ dY, dP = dY Vᵀ, dS = P ⊙ (dP − rowsum(dP ⊙ P)), ...
        dQ, dK, dV = np.empty(Qs, dtype=object), np.empty(Ks, dtype=object), np.empty(Vs, dtype=object)
        for b in np.ndindex(batch):
            Pb, dyb = P[b], dy[b]
            dV[b] = Pb.T.dot(dyb)
            dP = dyb.dot(V[b].T)
            dS = Pb * (dP - (dP * Pb).sum(axis=-1, keepdims=True))
            dQ[b] = dS.dot(K[b]) / r
            dK[b] = dS.T.dot(Q[b]) / r
        return dQ, dK, dV

    return Definition({"Q": Q, "K": K, "V": V}, Y, ("Q", "K", "V"), spec, "rational")


# --------------------------------------------------------------------------- mpmath
def attention_mp(s, pattern=None):
    """The definition at 50 digits: masked scores contribute e^−∞ = 0 (left out of the sums)."""
    import mpmath

    from ..mpmath_oracle.forward import guard, mdot, mexp, msum, zeros

    Q, K, V = s["Q"], s["K"], s["V"]
    M = bool_mask(s)
    batch, d = Q.shape[:-2], Q.shape[-1]
    r = mpmath.sqrt(d)
    Y = np.empty(Q.shape[:-1] + (V.shape[-1],), dtype=object)
    for b in np.ndindex(batch):
        S = mdot(Q[b], K[b].T) / r
        e = np.where(M[b], mexp(S), zeros(S.shape))
        Y[b] = mdot(e / msum(e, axis=-1, keepdims=True), V[b])
    return guard(Y, "attention"), None


def attention_error_model(s, dy):
    """Running float64 error bounds of the reference: S = (Q Kᵀ)·(1/√d), shifted masked softmax, P V; its VJP."""
    from ..mpmath_oracle.tolerance import Bounded, Model, bexp, bmatmul, bsqrt, bsum, bwhere

    Q, K, V = Bounded(s["Q"]), Bounded(s["K"]), Bounded(s["V"])
    M = bool_mask(s)

    def tr(a):
        return a.map(lambda x: np.swapaxes(x, -1, -2))

    scale = 1.0 / bsqrt(Bounded(float(Q.shape[-1])))
    S = bmatmul(Q, tr(K)) * scale
    mx = Bounded(np.max(np.where(M, S.v, -np.inf), axis=-1, keepdims=True),
                 np.max(np.where(M, S.e, 0.0), axis=-1, keepdims=True))
    with np.errstate(over="ignore", invalid="ignore"):
        z = bwhere(M, bexp(S - mx), 0.0)
    P = z / bsum(z, axis=-1, keepdims=True)
    dyb = Bounded(dy)
    dP = bmatmul(dyb, tr(V))
    dS = P * (dP - bsum(dP * P, axis=-1, keepdims=True))
    return Model(bmatmul(P, V), {"Q": bmatmul(dS, K) * scale, "K": bmatmul(tr(dS), Q) * scale,
                                 "V": bmatmul(tr(P), dyb)})


def attention_vectors(s, A, d):
    """Closed forms at 50 digits: the forward's definition and the backward's formula (reference docstring)."""
    import mpmath

    Q, K, V = A["Q"], A["K"], A["V"]
    M = bool_mask(s)
    batch, dim = Q.shape[:-2], Q.shape[-1]
    r = mpmath.sqrt(dim)
    Y, dQ, dK, dV = (np.empty(a.shape, dtype=object) for a in (d, Q, K, V))
    for b in np.ndindex(batch):
        S = Q[b].dot(K[b].T) / r
        e = np.array([[mpmath.exp(S[i, j]) if M[b + (i, j)] else mpmath.mpf(0) for j in range(S.shape[1])]
                      for i in range(S.shape[0])], dtype=object)
        P = e / e.sum(axis=-1, keepdims=True)
        Y[b] = P.dot(V[b])
        dP = d[b].dot(V[b].T)
        dS = P * (dP - (dP * P).sum(axis=-1, keepdims=True))
        dQ[b], dK[b], dV[b] = dS.dot(K[b]) / r, dS.T.dot(Q[b]) / r, P.T.dot(d[b])
    return {"outputs": {"forward": Y}, "gradients": {"Q": dQ, "K": dK, "V": dV}}


# --------------------------------------------------------------------------- Hypothesis
def attention_strategy(mode):
    """Samples of attention: shapes, a mask (causal often; bool, float 0/1 or None) and Q, K, V.

    ``away``: Q, K at scales 1e-3 to 1 (|scores| <= √d, so no weight is near 0 or 1); ``hard``: Q, K at 10, 30 or
    100 (scores up to ~10⁴·√d: near one-hot softmax rows, where dS = P ⊙ (dP − ⟨dP, P⟩) cancels). V at 1e-3, 1
    or 100.
    """
    from hypothesis import event, strategies as st

    from ..properties.strategies import arrays

    @st.composite
    def draw_sample(draw):
        batch = draw(st.sampled_from([(), (2,), (1, 2)]))
        Tq = draw(st.integers(1, 4))
        Tk = draw(st.one_of(st.just(Tq), st.integers(1, 4)))
        d, dv = draw(st.integers(1, 4)), draw(st.integers(1, 3))
        kind = draw(st.sampled_from(("causal", "causal", "random", "none")))
        shape = batch + (Tq, Tk)
        if kind == "causal":
            mask = np.tril(np.ones((Tq, Tk), dtype=bool))
        elif kind == "random":
            mask = np.array(draw(st.lists(st.booleans(), min_size=Tq * Tk * max(1, int(np.prod(batch))),
                                          max_size=Tq * Tk * max(1, int(np.prod(batch))))), dtype=bool).reshape(shape)
            mask[..., draw(st.integers(0, Tk - 1))] = True  # every row attends at least one key
        else:
            mask = None
        form = draw(st.sampled_from(("bool", "float")))
        if mask is not None and form == "float":
            mask = mask.astype(np.float64)
        event(f"attention: mask {kind}{'' if mask is None else ' ' + form}, {'Tq == Tk' if Tq == Tk else 'Tq != Tk'}")
        if mode == "hard":
            s = draw(st.sampled_from((10.0, 30.0, 100.0)))  # scores up to s²·√d: near one-hot softmax rows
            event(f"hard attention: Q, K at scale {s:g}")
        else:
            s = draw(st.sampled_from((1e-3, 1e-1, 1.0)))  # |scores| <= √d: every weight >= e^(-2√d)/Tk
        Q, K = draw(arrays(batch + (Tq, d), -s, s)), draw(arrays(batch + (Tk, d), -s, s))
        sv = draw(st.sampled_from((1e-3, 1.0, 100.0)))
        V = draw(arrays(batch + (Tk, dv), -sv, sv))
        return {"Q": Q, "K": K, "V": V, "mask": mask, "seed": draw(st.integers(0, 2**32 - 1))}

    return draw_sample()


# --------------------------------------------------------------------------- torch
def attention_torch(Q, K, V, mask):
    """torch's own F.scaled_dot_product_attention with a boolean attn_mask (True = attend), as the spec's mask."""
    import torch.nn.functional as F

    return F.scaled_dot_product_attention(Q, K, V, attn_mask=None if mask is None else mask != 0)


# --------------------------------------------------------------------------- the forms of the JAX and autograd adapters
def attention_checked_mask(Q, K, V, mask):
    """The shapes checked and the concrete mask as a boolean array broadcast to (..., Tq, Tk) (None stays None):
    the spec's errors (bad shapes, a mask not 0/1, a fully masked query row) raised before any arithmetic."""
    from ..reference.attention import attention_mask

    shapes = [tuple(a.shape) for a in (Q, K, V)]
    if any(len(s) < 2 or 0 in s for s in shapes) or not shapes[0][:-2] == shapes[1][:-2] == shapes[2][:-2] \
            or shapes[1][-1] != shapes[0][-1] or shapes[2][-2] != shapes[1][-2]:
        raise ValueError(f"attention: shapes must be Q (..., Tq, d), K (..., Tk, d), V (..., Tk, dv) with the same "
                         f"leading axes and no empty axis, got Q {shapes[0]}, K {shapes[1]}, V {shapes[2]}")
    return attention_mask(mask, shapes[0][:-1] + (shapes[1][-2],))


def attention_xp(xp, Q, K, V, mask):
    """softmax(QKᵀ/√d)·V in NumPy: masked scores replaced by −∞ (``xp.where``), the softmax as
    exp(S − logsumexp S).

    JAX uses this form too: ``jax.nn.dot_product_attention`` computes its softmax in float32 whatever the input
    dtype (its source: "always carried out in fp32"), about 1e-8 relative off the spec in float64, and gives a
    fully masked row the mean of V's rows; tests/test_jax_autograd_adapters.py shows gradspec failing it."""
    M = attention_checked_mask(Q, K, V, mask)
    S = (Q @ xp.swapaxes(K, -1, -2)) * (1.0 / np.sqrt(Q.shape[-1]))
    if M is not None:
        S = xp.where(M, S, -np.inf)
    return xp.exp(S - xp.logsumexp(S, axis=-1, keepdims=True)) @ V


# --------------------------------------------------------------------------- properties
def prop_masked_positions_get_zero_gradient(impl, sample):
    """A masked position (i, j) passes exactly no gradient: with dY nonzero in query row i only, dK_j = dV_j = 0."""
    M = bool_mask(sample)
    hits = np.argwhere(~M)
    if not hits.size:
        return
    rng = np.random.default_rng(sample["seed"])
    pos = tuple(int(v) for v in hits[int(rng.integers(0, len(hits)))])
    b, i = pos[:-2], pos[-2]
    dy = np.zeros(output_shape(sample))
    dy[b + (i,)] = rng.choice([-1.0, 1.0], size=dy.shape[-1]) * rng.uniform(0.5, 2.0, size=dy.shape[-1])
    _, dK, dV = fn(impl, "attention_backward")(sample["Q"], sample["K"], sample["V"], sample["mask"], dy)
    for name, g in (("dK", dK), ("dV", dV)):
        for j in np.flatnonzero(~M[b + (i,)]):
            row = np.asarray(g)[b + (int(j),)]
            if np.any(row != 0):
                raise AssertionError(f"attention: a masked position passes no gradient (exactly 0); with dY nonzero "
                                     f"in query row {b + (i,)} only, key {int(j)} is masked there but "
                                     f"{name}[{b + (int(j),)}] = {row.tolist()}")


def prop_fully_masked_row_is_rejected(impl, sample):
    """A mask with a query row that attends no key is a ValueError (the row has no softmax), forward and backward."""
    Q, K, V = sample["Q"], sample["K"], sample["V"]
    shape = tuple(np.shape(Q)[:-1]) + (np.shape(K)[-2],)
    rng = np.random.default_rng(sample["seed"])
    mask = np.array(bool_mask(sample))
    row = tuple(int(rng.integers(0, n)) for n in shape[:-1])
    mask[row] = False
    dy = np.ones(output_shape(sample))
    for name, call in (("attention_forward", lambda: fn(impl, "attention_forward")(Q, K, V, mask)),
                       ("attention_backward", lambda: fn(impl, "attention_backward")(Q, K, V, mask, dy))):
        try:
            out = call()
        except ValueError:
            continue
        outs = [np.asarray(o, dtype=np.float64) for o in (out if isinstance(out, tuple) else (out,))]
        if any(np.isnan(o).any() for o in outs):
            got = "NaN"
        elif name == "attention_forward" and not np.any(outs[0][row]):
            got = "zeros in that row"
        else:
            got = "finite values"
        raise AssertionError(f"attention: a fully masked query row is a ValueError (it has no softmax); {name} "
                             f"returned {got} for the mask with row {row} fully masked")


# --------------------------------------------------------------------------- known variants
def weights(Q, K, mask):
    from ..reference.attention import attention_inputs, attention_weights

    Q, K, _, M = attention_inputs(Q, K, np.zeros(np.shape(K)[:-1] + (1,)), mask)
    return Q, K, attention_weights(Q, K, M)


def tr(a):
    return np.swapaxes(a, -1, -2)


def backward_with(Q, K, V, mask, dy, *, scaled=True, row_sum=True, masked=True, dk_transposed=True):
    """The reference's backward, or one of its known bugs: ``scaled=False`` leaves out the 1/√d of dQ and dK,
    ``row_sum=False`` uses dS = P ⊙ dP (the softmax Jacobian's −P·⟨dP, P⟩ term missing), ``masked=False``
    recomputes P without the mask, ``dk_transposed=False`` computes dK from dS·Q instead of dSᵀ·Q."""
    Q, K, P = weights(Q, K, mask if masked else None)
    V, dy = f64(V), f64(dy)
    dP = dy @ tr(V)
    dS = P * (dP - np.sum(dP * P, axis=-1, keepdims=True)) if row_sum else P * dP
    c = 1.0 / np.sqrt(Q.shape[-1]) if scaled else 1.0
    return (dS @ K) * c, ((tr(dS) if dk_transposed else dS) @ Q) * c, tr(P) @ dy


def backward_without_scale(Q, K, V, mask, dy):
    return backward_with(Q, K, V, mask, dy, scaled=False)


def backward_without_row_sum(Q, K, V, mask, dy):
    return backward_with(Q, K, V, mask, dy, row_sum=False)


def backward_ignoring_mask(Q, K, V, mask, dy):
    return backward_with(Q, K, V, mask, dy, masked=False)


def backward_dk_untransposed(Q, K, V, mask, dy):
    return backward_with(Q, K, V, mask, dy, dk_transposed=False)


def square_probe(rng):
    """A sample with Tq == Tk, d >= 2 and a causal mask: where every variant of attention shows."""
    case = {"batch": (2,), "Tq": 3, "Tk": 3, "d": 2, "dv": 2, "mask": "causal"}
    return attention_values(case, rng)


CATALOGUE = Catalogue()
for name, mutant, explanation, description, backward in (
    ("attention_backward_missing_scale", "attention_backward_missing_scale",
     "attention_backward leaves out the 1/√d of the scores: dQ = dS·K and dK = dSᵀ·Q are √d times the spec's "
     "(dV is right)", "attention_backward without the 1/√d factor in dQ and dK", backward_without_scale),
    ("softmax_jacobian_without_row_sum", "attention_softmax_jacobian_without_row_sum",
     "attention_backward applies the softmax Jacobian without its row-sum term: dS = P ⊙ dP instead of "
     "P ⊙ (dP − Σ_j dP ⊙ P) (dQ and dK wrong, dV right)",
     "attention_backward uses dS = P ⊙ dP (the −P·⟨dP, P⟩ term is missing)", backward_without_row_sum),
    ("mask_ignored_in_backward", "attention_mask_ignored_in_backward",
     "attention_backward recomputes the attention weights without the mask: masked positions leak "
     "gradient into dQ, dK and dV (the forward is right)",
     "attention_backward recomputes softmax(QKᵀ/√d) without the mask", backward_ignoring_mask),
    ("dk_from_untransposed_scores", "attention_dk_untransposed",
     "attention_backward computes dK = dS·Q/√d, the score gradient not transposed (dSᵀ·Q/√d is the "
     "spec's); it has the right shape only when Tq == Tk",
     "attention_backward computes dK from dS·Q instead of dSᵀ·Q", backward_dk_untransposed),
):
    CATALOGUE.variant(name, "attention", explanation, mutant=mutant, description=description,
                      attention_backward=backward)
del name, mutant, explanation, description, backward
CATALOGUE.probe("attention", square_probe)



def attention_backward_magnitude(sample: dict, dy) -> list:
    """The backward on absolute values (P, |dy|, |V|, |K|, |Q|): a bound on the terms each gradient sums. dS's
    row-sum term cancels, and dQ, dK sum dS over keys of very different size, so |dQ| itself is no bound."""
    from ..reference.attention import attention_inputs, attention_weights

    Q, K, V, M = attention_inputs(sample["Q"], sample["K"], sample["V"], sample["mask"])
    P = attention_weights(Q, K, M)
    ady = np.abs(np.asarray(dy, dtype=np.float64))
    scale = 1.0 / np.sqrt(Q.shape[-1])
    dP = ady @ np.swapaxes(np.abs(V), -1, -2)
    dS = P * (dP + np.sum(dP * P, axis=-1, keepdims=True))
    return [(dS @ np.abs(K)) * scale, (np.swapaxes(dS, -1, -2) @ np.abs(Q)) * scale, np.swapaxes(P, -1, -2) @ ady]

OPS = (
    OpSpec("attention", "differentiable", "attention", "scaled dot-product attention softmax(QKᵀ/√d + M)·V",
           (Arg("Q", "input", True, "(..., Tq, d)"), Arg("K", "input", True, "(..., Tk, d)"),
            Arg("V", "input", True, "(..., Tk, dv)"),
            Arg("mask", "mask", False, "None or True/1 = attend, broadcastable to (..., Tq, Tk)")),
           ("attention_forward", "attention_backward"), "Y (..., Tq, dv)",
           Sampler(attention_structure, attention_values, Ref(__name__, "attention_strategy"), ("away", "hard"),
                   cases=({"batch": (), "Tq": 2, "Tk": 2, "d": 2, "dv": 2, "mask": "causal"},
                          {"batch": (2,), "Tq": 1, "Tk": 3, "d": 2, "dv": 1, "mask": "random"})),
           output_shape,
           domain="finite Q, K, V; every query row attends at least one key",
           conventions=("masked scores are −∞ (replaced, not offset by −1e9): masked weight and gradient exactly 0",
                        "a fully masked query row is a ValueError",
                        "causal_mask(Tq, Tk)[i, j] = j <= i (top-left aligned, as torch's is_causal)"),
           sympy=Ref(__name__, "attention_sympy"), mp_forward=Ref(__name__, "attention_mp"),
           error_model=Ref(__name__, "attention_error_model"), vector_values=Ref(__name__, "attention_vectors"),
           fd_model=FdModel(backward_magnitude=Ref(__name__, "attention_backward_magnitude")),
           variants=Ref(__name__, "CATALOGUE"), torch=Ref(__name__, "attention_torch"),
           xp=Ref(__name__, "attention_xp"),
           properties=(OpProperty("masked_positions_get_zero_gradient", Ref(__name__, "prop_masked_positions_get_zero_gradient"),
                                  ("away", "hard")),
                       OpProperty("fully_masked_row_is_rejected", Ref(__name__, "prop_fully_masked_row_is_rejected"),
                                  weight=0.3))),
)
