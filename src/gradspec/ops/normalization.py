"""Record of batch normalisation (``gradspec.reference.normalization``)."""
from __future__ import annotations

import numpy as np

from ..properties.checks import EPS, assert_close, cotangent, fn
from ..spec import Arg, FdModel, Hyper, OpProperty, OpSpec, Ref, Sampler
from ..variants import Catalogue, f64


def batchnorm_structure(rng):
    """``{"x": shape}``: (N, D) with N >= 2, or (N, C, H, W) with W >= 2 (at least 2 values per group)."""
    if rng.random() < 0.5:
        return {"x": (int(rng.integers(2, 6)), int(rng.integers(1, 4)))}
    D = int(rng.integers(1, 3))
    return {"x": (int(rng.integers(1, 3)), D, int(rng.integers(1, 3)), int(rng.integers(2, 4)))}


def batchnorm_values(case, rng):
    shape = case["x"]
    D = shape[1]
    x = rng.normal(0.0, 1.0, size=shape) * rng.uniform(0.5, 2.0) + rng.normal()
    return {"x": x, "gamma": rng.normal(1.0, 0.5, size=D), "beta": rng.normal(size=D),
            "eps": float(rng.choice([1e-5, 1e-3, 0.1]))}


# ====================================================================== the ops' pieces for each oracle (named by the records' Refs)


# --------------------------------------------------------------------------- SymPy definitions (the symbolic oracle)
def batchnorm_sympy(s):
    import sympy as sp
    from ..symbolic.definitions import Definition, ew, shape_of, sym_array
    shape = shape_of(s["x"])
    D = shape[1]
    x = sym_array("x", shape, real=True)
    gamma, beta = sym_array("gamma", (D,), real=True), sym_array("beta", (D,), real=True)
    eps = sp.Symbol("eps", positive=True)
    axes = (0,) if len(shape) == 2 else (0, 2, 3)
    bshape = (1, D) if len(shape) == 2 else (1, D, 1, 1)
    m = int(np.prod([shape[a] for a in axes]))
    mu = x.sum(axis=axes, keepdims=True) / m
    xc = x - mu
    var = (xc * xc).sum(axis=axes, keepdims=True) / m  # biased variance
    y = gamma.reshape(bshape) * xc / ew(lambda v: sp.sqrt(v + eps), var) + beta.reshape(bshape)  # eps inside the root

    def spec(dy):  # batchnorm_backward docstring
        inv = ew(lambda v: 1 / sp.sqrt(v + eps), var)
        xh = xc * inv
        dxh = dy * gamma.reshape(bshape)
        dx = (inv / m) * (m * dxh - dxh.sum(axis=axes, keepdims=True) - xh * (dxh * xh).sum(axis=axes, keepdims=True))
        return dx, (dy * xh).sum(axis=axes), dy.sum(axis=axes)

    return Definition({"x": x, "gamma": gamma, "beta": beta, "eps": eps}, y, ("x", "gamma", "beta"), spec, "rational")


# --------------------------------------------------------------------------- mpmath forwards (the mpmath oracle)
def batchnorm_mp(s, pattern=None):
    r"""y = γ (x − μ)/√(σ² + ε) + β, batch statistics, biased variance."""
    import mpmath
    from ..mpmath_oracle.forward import guard, msqrt, msum
    x, gamma, beta = s["x"], s["gamma"], s["beta"]
    eps = mpmath.mpf(float(s["eps"]))
    axes = (0,) if x.ndim == 2 else (0, 2, 3)
    shape = (1, -1) if x.ndim == 2 else (1, -1, 1, 1)
    m = int(np.prod([x.shape[a] for a in axes]))
    mu = msum(x, axis=axes, keepdims=True) / m
    xc = x - mu
    var = msum(xc * xc, axis=axes, keepdims=True) / m
    y = gamma.reshape(shape) * (xc / msqrt(var + eps)) + beta.reshape(shape)
    return guard(y, "batchnorm"), None


# --------------------------------------------------------------------------- float64 running-error models (the mpmath oracle's tolerance)
def batchnorm_error_model(s, dy):
    from ..mpmath_oracle.tolerance import Bounded, Model, bsqrt, bsum
    x = Bounded(s["x"])
    axes = (0,) if x.v.ndim == 2 else (0, 2, 3)
    shape = (1, -1) if x.v.ndim == 2 else (1, -1, 1, 1)
    gamma_, beta = Bounded(np.reshape(s["gamma"], shape)), Bounded(np.reshape(s["beta"], shape))
    eps = float(s["eps"])
    m = int(np.prod([x.v.shape[a] for a in axes]))
    mu = bsum(x, axis=axes, keepdims=True) / m
    xc = x - mu
    var = bsum(xc * xc, axis=axes, keepdims=True) / m
    y = gamma_ * (xc / bsqrt(var + eps)) + beta
    dyb = Bounded(dy)
    inv_std = 1.0 / bsqrt(var + eps)
    xhat = xc * inv_std
    dxhat = dyb * gamma_
    dx = (inv_std / m) * (m * dxhat - bsum(dxhat, axis=axes, keepdims=True)
                          - xhat * bsum(dxhat * xhat, axis=axes, keepdims=True))
    return Model(y, {"x": dx, "gamma": bsum(dyb * xhat, axis=axes), "beta": bsum(dyb, axis=axes)})


# --------------------------------------------------------------------------- 50-digit closed forms (the golden vectors)
def _vec_bn(x, gamma, beta, eps, dy=None):
    import mpmath
    from ..mpmath_oracle.vectors_mp import mmap
    axes = (0,) if x.ndim == 2 else (0, 2, 3)
    shape = (1, -1) if x.ndim == 2 else (1, -1, 1, 1)
    m = int(np.prod([x.shape[a] for a in axes]))
    mu = np.sum(x, axis=axes, keepdims=True) / m
    xc = x - mu
    var = np.sum(xc * xc, axis=axes, keepdims=True) / m
    inv = mmap(lambda v: 1 / mpmath.sqrt(v + eps), var)
    xhat = xc * inv
    g, bt = gamma.reshape(shape), beta.reshape(shape)
    if dy is None:
        return g * xhat + bt
    dxhat = dy * g
    dx = (inv / m) * (m * dxhat - np.sum(dxhat, axis=axes, keepdims=True)
                      - xhat * np.sum(dxhat * xhat, axis=axes, keepdims=True))
    return dx, np.sum(dy * xhat, axis=axes), np.sum(dy, axis=axes)


def batchnorm_vectors(s, A, d):
    from ..mpmath_oracle.vectors_mp import mpf
    eps = mpf(float(s["eps"]))
    dx, dg, db = _vec_bn(A["x"], A["gamma"], A["beta"], eps, d)
    return {"outputs": {"forward": _vec_bn(A["x"], A["gamma"], A["beta"], eps)}, "gradients": {"x": dx, "gamma": dg, "beta": db}}


# --------------------------------------------------------------------------- Hypothesis strategies (the property library)
def batchnorm_strategy(*args, **kwargs):
    """The Hypothesis strategy ``build(*args, **kwargs)`` below (Hypothesis is imported when called)."""
    from ..properties.strategies import arrays, seeds, shape_event
    from hypothesis import event
    from hypothesis import strategies as st

    @st.composite
    def build(draw, mode):
        if draw(st.booleans()):
            D = draw(st.integers(1, 3))
            shape = (draw(st.integers(2, 5)), D)
        else:
            D = draw(st.integers(1, 2))
            N = draw(st.integers(1, 2))
            H = draw(st.integers(1, 3))
            Wd = draw(st.integers(2 if N * H < 2 else 1, 3))
            shape = (N, D, H, Wd)
        shape_event(shape)
        eps = draw(st.sampled_from([1e-5, 1e-3, 0.1]))
        if mode == "hard":
            centre = draw(arrays((D,), -100.0, 100.0))
            spread = draw(st.sampled_from([0.0, 1e-6, 1e-4, 1e-2]))
            event(f"hard: near-constant features (spread {spread:g})")
            bshape = (1, D) if len(shape) == 2 else (1, D, 1, 1)
            x = centre.reshape(bshape) + spread * draw(arrays(shape, -1.0, 1.0))
        else:
            s = draw(st.sampled_from((1e-1, 1.0, 10.0, 100.0)))
            x = draw(arrays(shape, -s, s))
        return {"x": x, "gamma": draw(arrays((D,), -2.0, 2.0)), "beta": draw(arrays((D,), -2.0, 2.0)), "eps": eps,
                "seed": draw(seeds())}

    return build(*args, **kwargs)


# --------------------------------------------------------------------------- the fd64 oracle's model (steps, conditioning, targeted samples)
def batchnorm_backward_magnitude(sample: dict, dy) -> list:
    """The terms of the batchnorm backward in absolute value (its dx subtracts two means)."""
    from ..oracles.fd64_models import bn_groups
    x = np.asarray(sample["x"])
    axes, bshape = bn_groups(x)
    mu = x.mean(axis=axes, keepdims=True)
    sd = np.sqrt(np.mean((x - mu) ** 2, axis=axes, keepdims=True) + sample["eps"])
    xhat, ady = (x - mu) / sd, np.abs(dy) * np.abs(np.asarray(sample["gamma"])).reshape(bshape)
    dx = (ady + ady.mean(axis=axes, keepdims=True) + np.abs(xhat) * np.mean(ady * np.abs(xhat), axis=axes, keepdims=True)) / sd
    return [dx, np.sum(np.abs(dy * xhat), axis=axes), np.sum(np.abs(dy), axis=axes)]


def batchnorm_step(sample: dict, name: str, x: np.ndarray):
    """x varies on the scale of its group's standard deviation."""
    from ..oracles.fd64_models import FD_REL_STEP, bn_groups
    from ..reference.normalization import standardise
    if name != "x":
        return None
    axes, _ = bn_groups(x)
    sd = 1.0 / standardise(x, sample["eps"], axes)[1]  # sqrt(var + eps) per group, finite for any finite x
    # never below what float64 can resolve at x (a large mean with a tiny spread)
    return np.maximum(FD_REL_STEP * np.broadcast_to(sd, x.shape), 1024 * np.spacing(np.abs(x)))


def batchnorm_conditioning(sample: dict):
    """Per feature/channel (broadcastable to the output), since each group has its own."""
    from ..oracles.fd64_models import EPS, bn_groups
    from ..reference.normalization import standardise
    x = np.asarray(sample["x"])
    axes, bshape = bn_groups(x)
    inv_std = standardise(x, sample["eps"], axes)[1]  # 1/sqrt(var + eps) per group
    g = np.abs(np.asarray(sample["gamma"])).reshape(bshape)
    return 64 * EPS * g * np.max(np.abs(x), axis=axes, keepdims=True) * inv_std


def batchnorm_cancellation(sample: dict, dy) -> float:
    from ..oracles.fd64_models import EPS
    return float(np.sum(np.abs(dy) * batchnorm_conditioning(sample))) / (64 * EPS)


# --------------------------------------------------------------------------- layernorm
def ln_axes(x, gamma):
    """(the normalised axes: the last k = gamma.ndim, the leading axes, m = the values per normalised group)."""
    nd, k = np.ndim(x), np.ndim(gamma)
    return tuple(range(nd - k, nd)), tuple(range(nd - k)), int(np.prod(np.shape(gamma), dtype=np.int64))


def layernorm_structure(rng):
    """``{"x": shape, "k": k}``: 1 or 2 leading axes of size 1..3 and k = 1 or 2 normalised axes, >= 2 values per group."""
    lead = tuple(int(n) for n in rng.integers(1, 4, size=int(rng.integers(1, 3))))
    if rng.random() < 0.6:
        return {"x": lead + (int(rng.integers(2, 6)),), "k": 1}
    return {"x": lead + (int(rng.integers(1, 3)), int(rng.integers(2, 4))), "k": 2}


def layernorm_values(case, rng):
    shape, k = tuple(case["x"]), int(case["k"])
    lead = shape[:len(shape) - k]
    offset = rng.normal(0.0, 1.0, size=lead + (1,) * k) * rng.choice([1.0, 10.0])
    x = rng.normal(0.0, 1.0, size=shape) * rng.uniform(0.5, 2.0) + offset
    pshape = shape[len(shape) - k:]
    return {"x": x, "gamma": rng.normal(1.0, 0.5, size=pshape), "beta": rng.normal(size=pshape),
            "eps": float(rng.choice([1e-5, 1e-3, 0.1]))}


def layernorm_sympy(s):
    """y = γ(x − μ)/√(σ² + ε) + β over the last k axes (biased σ²); the spec's VJP from the reference's docstring."""
    import sympy as sp

    from ..symbolic.definitions import Definition, ew, sym_array

    shape, pshape = tuple(np.shape(s["x"])), tuple(np.shape(s["gamma"]))
    axes, lead, m = ln_axes(s["x"], s["gamma"])
    x = sym_array("x", shape, real=True)
    gamma, beta = sym_array("gamma", pshape, real=True), sym_array("beta", pshape, real=True)
    eps = sp.Symbol("eps", positive=True)
    mu = x.sum(axis=axes, keepdims=True) / m
    xc = x - mu
    var = (xc * xc).sum(axis=axes, keepdims=True) / m  # biased variance
    y = gamma * xc / ew(lambda v: sp.sqrt(v + eps), var) + beta  # eps inside the root

    def spec(dy):  # layernorm_backward docstring
        inv = ew(lambda v: 1 / sp.sqrt(v + eps), var)
        xh = xc * inv
        dxh = dy * gamma
        dx = (inv / m) * (m * dxh - dxh.sum(axis=axes, keepdims=True) - xh * (dxh * xh).sum(axis=axes, keepdims=True))
        return dx, np.asarray((dy * xh).sum(axis=lead), dtype=object), np.asarray(dy.sum(axis=lead), dtype=object)

    return Definition({"x": x, "gamma": gamma, "beta": beta, "eps": eps}, y, ("x", "gamma", "beta"), spec, "rational")


def layernorm_mp(s, pattern=None):
    r"""y = γ (x − μ)/√(σ² + ε) + β per group of the last k axes, biased variance (no pieces: smooth everywhere)."""
    import mpmath

    from ..mpmath_oracle.forward import guard, msqrt, msum

    x, gamma, beta = s["x"], s["gamma"], s["beta"]
    axes, _, m = ln_axes(x, gamma)
    eps = mpmath.mpf(float(s["eps"]))
    mu = msum(x, axis=axes, keepdims=True) / m
    xc = x - mu
    var = msum(xc * xc, axis=axes, keepdims=True) / m
    return guard(gamma * (xc / msqrt(var + eps)) + beta, "layernorm"), None


def layernorm_error_model(s, dy):
    """The reference's forward and backward in Bounded arithmetic (its power-of-two scaling is exact)."""
    from ..mpmath_oracle.tolerance import Bounded, Model, bsqrt, bsum

    x, gamma, beta = Bounded(s["x"]), Bounded(s["gamma"]), Bounded(s["beta"])
    axes, lead, m = ln_axes(s["x"], s["gamma"])
    eps = float(s["eps"])
    mu = bsum(x, axis=axes, keepdims=True) / m
    xc = x - mu
    var = bsum(xc * xc, axis=axes, keepdims=True) / m
    inv_std = 1.0 / bsqrt(var + eps)
    xhat = xc * inv_std
    y = gamma * xhat + beta
    dyb = Bounded(dy)
    dxhat = dyb * gamma
    dx = (inv_std / m) * (m * dxhat - bsum(dxhat, axis=axes, keepdims=True)
                          - xhat * bsum(dxhat * xhat, axis=axes, keepdims=True))
    return Model(y, {"x": dx, "gamma": bsum(dyb * xhat, axis=lead), "beta": bsum(dyb, axis=lead)})


def layernorm_vectors(s, A, d):
    """Closed forms at 50 digits: the forward and the VJP of the reference's docstring."""
    import mpmath

    x, gamma, beta = A["x"], A["gamma"], A["beta"]
    axes, lead, m = ln_axes(x, gamma)
    eps = mpmath.mpf(float(s["eps"]))
    mu = np.sum(x, axis=axes, keepdims=True) / m
    xc = x - mu
    var = np.sum(xc * xc, axis=axes, keepdims=True) / m
    inv = np.frompyfunc(lambda v: 1 / mpmath.sqrt(v + eps), 1, 1)(var)
    xhat = xc * inv
    dxhat = d * gamma
    dx = (inv / m) * (m * dxhat - np.sum(dxhat, axis=axes, keepdims=True)
                      - xhat * np.sum(dxhat * xhat, axis=axes, keepdims=True))
    as_obj = lambda a: np.asarray(a, dtype=object)  # noqa: E731
    return {"outputs": {"forward": as_obj(gamma * xhat + beta)},
            "gradients": {"x": as_obj(dx), "gamma": as_obj(np.sum(d * xhat, axis=lead)),
                          "beta": as_obj(np.sum(d, axis=lead))}}


#: machine epsilon 2^-52, as the oracles use it
#: relative difference step on the scale of a group's standard deviation: ≈ ε^(1/3), which balances truncation (h²)
#: and rounding (ε/h), the value fd64 uses on the scale max(1, |x|) (the records import no oracle module)
LN_REL_STEP = 6e-6


def ln_std(x, gamma, eps):
    """√(σ² + ε) per normalised group (keepdims), finite for any finite x (statistics of x/2^j, then scaled back)."""
    x = np.asarray(x, dtype=np.float64)
    axes, _, _ = ln_axes(x, gamma)
    j = np.frexp(np.maximum(np.max(np.abs(x), axis=axes, keepdims=True), 1.0))[1] - 1
    xs = np.ldexp(x, -j)
    xc = xs - xs.mean(axis=axes, keepdims=True)
    with np.errstate(under="ignore"):
        return np.ldexp(np.sqrt(np.mean(xc * xc, axis=axes, keepdims=True) + np.ldexp(float(eps), -2 * j)), j)


def layernorm_step(sample, name, x):
    """x varies on the scale of its group's standard deviation, never below what float64 resolves at x."""
    if name != "x":
        return None
    sd = ln_std(x, sample["gamma"], sample["eps"])
    return np.maximum(LN_REL_STEP * np.broadcast_to(sd, x.shape), 1024 * np.spacing(np.abs(x)))


def layernorm_conditioning(sample):
    """x − μ cancels terms of size max|x| of the group: 64ε·|γ|·max|x|/√(σ² + ε), per element."""
    x = np.asarray(sample["x"], dtype=np.float64)
    axes, _, _ = ln_axes(x, sample["gamma"])
    big = np.max(np.abs(x), axis=axes, keepdims=True) / ln_std(x, sample["gamma"], sample["eps"])
    return 64 * EPS * np.abs(np.asarray(sample["gamma"], dtype=np.float64)) * big


def layernorm_cancellation(sample, dy):
    """Σ|dy|·(|γ| + h_γ)·max|x|/√(σ² + ε): x̂ carries an absolute error of order ε·max|x|/√(σ² + ε) (x − μ
    cancels), and ⟨dy, y⟩ is differenced at γ ± h_γ, so even γ = 0 differences h_γ·x̂ (h_γ = fd64's default step
    in γ, max(1, |γ|) times the relative step)."""
    x = np.asarray(sample["x"], dtype=np.float64)
    axes, _, _ = ln_axes(x, sample["gamma"])
    g = np.abs(np.asarray(sample["gamma"], dtype=np.float64))
    big = np.max(np.abs(x), axis=axes, keepdims=True) / ln_std(x, sample["gamma"], sample["eps"])
    return float(np.sum(np.abs(dy) * (g + LN_REL_STEP * np.maximum(1.0, g)) * big))


def layernorm_targeted(op, rng):
    """A 3-D input normalised over its last axis (two leading axes, where dgamma summed over axis 0 only keeps
    a wrong shape), and rows of 2 (where dx is (g₁ − g₂)/(2σ)·ε/(σ² + ε): the mean terms are all there is)."""
    out = []
    for label, shape, k in (("3-D x, k = 1", (2, 3, 4), 1), ("groups of 2", (3, 2), 1), ("3-D x, k = 2", (2, 2, 3), 2)):
        out.append((label, layernorm_values({"x": shape, "k": k}, rng)))
    return out


def layernorm_strategy(mode):
    """Hypothesis samples of layernorm, the sampler's keys plus "seed".

    ``away``: 0 to 2 leading axes, k = 1 or 2 normalised axes holding at least 3 values, pairwise distinct
    (``distinct``: no two values of a group tie, so no element of dx is structurally ε/(σ² + ε) of its
    terms). ``hard``: groups of 1 to 12 values, near-constant (spread 0 to 1e-2, so ε dominates the
    variance) around centres up to ±100, or with large offsets (1e3 to 1e5) over a unit spread.
    """
    from hypothesis import event, strategies as st

    from ..properties.strategies import arrays, distinct

    @st.composite
    def draw_sample(draw):
        lead = tuple(draw(st.lists(st.integers(1, 3), min_size=0, max_size=2)))
        k = draw(st.integers(1, 2))
        if mode == "hard":
            trail = (draw(st.integers(1, 4)),) if k == 1 else (draw(st.integers(1, 3)), draw(st.integers(1, 4)))
        else:
            trail = (draw(st.integers(3, 5)),) if k == 1 else draw(st.sampled_from([(1, 3), (2, 2), (2, 3)]))
        shape = lead + trail
        event(f"layernorm: {len(lead)} leading and {k} normalised axes")
        if mode == "hard":
            big = draw(st.booleans())
            if big:
                centre = draw(arrays(lead + (1,) * k, 1e3, 1e5)) * draw(st.sampled_from([-1.0, 1.0]))
                spread = 1.0
            else:
                centre = draw(arrays(lead + (1,) * k, -100.0, 100.0))
                spread = draw(st.sampled_from([0.0, 1e-6, 1e-4, 1e-2]))
            event(f"hard: {'large offsets' if big else f'near-constant groups (spread {spread:g})'}")
            x = centre + spread * draw(arrays(shape, -1.0, 1.0))
        else:
            x = draw(distinct(shape, draw(st.sampled_from((1e-1, 1.0, 10.0, 100.0)))))
        return {"x": x, "gamma": draw(arrays(trail, -2.0, 2.0)), "beta": draw(arrays(trail, -2.0, 2.0)),
                "eps": draw(st.sampled_from([1e-5, 1e-3, 0.1])), "seed": draw(st.integers(0, 2**32 - 1))}

    return draw_sample()


def ln_reference_stats(x, gamma, eps):
    """(x̂, μ, biased σ², the normalised axes, the leading axes, m) in plain float64 (for the properties)."""
    axes, lead, m = ln_axes(x, gamma)
    mu = x.mean(axis=axes, keepdims=True)
    var = np.mean((x - mu) ** 2, axis=axes, keepdims=True)
    return (x - mu) / np.sqrt(var + eps), mu, var, axes, lead, m


def prop_layernorm_normalises(impl, sample):
    """With γ = 1, β = 0 every group of the last k axes has mean 0 and variance σ²/(σ² + ε) (biased σ², ε inside)."""
    x, gamma, eps = np.asarray(sample["x"]), np.asarray(sample["gamma"]), sample["eps"]
    y = np.asarray(fn(impl, "layernorm_forward")(x, np.ones_like(gamma), np.zeros_like(gamma), eps))
    _, mu, var, axes, _, m = ln_reference_stats(x, gamma, eps)
    sd = np.sqrt(var + eps)
    cond = 64 * EPS * np.max(np.abs(x), axis=axes, keepdims=True) / sd * np.sqrt(m) + 1e-12
    if y.shape != x.shape:
        assert_close(y, x, 0.0, "layernorm: y has the shape of x", "y")
    assert_close(y.mean(axis=axes, keepdims=True), np.zeros_like(mu), cond, "layernorm: every group has mean 0",
                 "mean of y over the last k axes")
    assert_close(y.var(axis=axes, keepdims=True), var / (var + eps), 1e-9 + 4 * cond,
                 "layernorm: every group has variance σ²/(σ²+eps) (biased σ², eps inside the root)",
                 "variance of y over the last k axes")


def prop_layernorm_gradient_identities(impl, sample):
    """dbeta = Σ dy and dgamma = Σ dy·x̂ over the leading axes; dx sums to 0 over every group of the last k axes."""
    x, gamma, eps = np.asarray(sample["x"]), np.asarray(sample["gamma"]), sample["eps"]
    dy = cotangent(sample, x.shape)
    out = fn(impl, "layernorm_backward")(x, gamma, sample["beta"], eps, dy)
    if not isinstance(out, (tuple, list)) or len(out) != 3:
        raise AssertionError(f"layernorm: the backward returns (dx, dgamma, dbeta): got {type(out).__name__}")
    dx, dgamma, dbeta = (np.asarray(v, dtype=np.float64) for v in out)
    xhat, _, var, axes, lead, m = ln_reference_stats(x, gamma, eps)
    sd = np.sqrt(var + eps)
    rel = 64 * EPS * (np.max(np.abs(x), axis=axes, keepdims=True) / sd + 1) * m  # x − μ cancels terms of size |x|
    ady = np.abs(dy)
    assert_close(dbeta, dy.sum(axis=lead), 8 * EPS * ady.sum(axis=lead) * max(1, dy.size // max(m, 1)),
                 "layernorm: dbeta = Σ dy over the leading axes", "dbeta")
    assert_close(dgamma, np.sum(dy * xhat, axis=lead), np.sum(rel * ady * (np.abs(xhat) + 1), axis=lead) + 1e-300,
                 "layernorm: dgamma = Σ dy·x̂ over the leading axes", "dgamma")
    if dx.shape != x.shape:
        assert_close(dx, x, 0.0, "layernorm: dx has the shape of x", "dx")
    scale = np.sum(np.abs(gamma) * ady, axis=axes, keepdims=True) / sd * m
    assert_close(dx.sum(axis=axes, keepdims=True), np.zeros(var.shape), rel * scale + 1e-300,
                 "layernorm: dx sums to 0 over every group of the last k axes", "Σ dx over the last k axes")


def layernorm_torch(x, gamma, beta, eps):
    """PyTorch's own layer norm: F.layer_norm(x, gamma.shape, gamma, beta, eps)."""
    import torch.nn.functional as F

    return F.layer_norm(x, tuple(gamma.shape), gamma, beta, eps)


def layernorm_axes(x, gamma, beta, eps) -> tuple:
    """The last k = gamma.ndim axes of x, after checking the shapes and eps (ValueError naming the rule)."""
    k = len(gamma.shape)
    if not 1 <= k <= len(x.shape) or tuple(x.shape[len(x.shape) - k:]) != tuple(gamma.shape) \
            or tuple(beta.shape) != tuple(gamma.shape):
        raise ValueError(f"layernorm: gamma and beta must have the shape x.shape[-k:] with 1 <= k = gamma.ndim <= "
                         f"x.ndim, got x {tuple(x.shape)}, gamma {tuple(gamma.shape)}, beta {tuple(beta.shape)}")
    if isinstance(eps, (bool, np.bool_)) or not isinstance(eps, (int, float, np.integer, np.floating)) \
            or not float(eps) > 0 or not np.isfinite(eps):
        raise ValueError(f"layernorm: eps must be a finite number > 0, got {eps!r}")
    return tuple(range(len(x.shape) - k, len(x.shape)))


def layernorm_xp(xp, x, gamma, beta, eps):
    """The spec's formula in NumPy: two-pass statistics over the last k axes, γ(x − μ)/√(σ² + eps) + β."""
    axes = layernorm_axes(x, gamma, beta, eps)
    xc = x - xp.mean(x, axis=axes, keepdims=True)
    var = xp.mean(xc * xc, axis=axes, keepdims=True)
    return gamma * (xc / xp.sqrt(var + float(eps))) + beta


def layernorm_jax(x, gamma, beta, eps):
    """JAX's own ``jax.nn.standardize(x, axis=last k axes, epsilon=eps, algorithm="stable")·γ + β``: the two-pass
    variance, the spec's. JAX's default, ``algorithm="fast"`` (E[x²] − E[x]², clipped at 0; flax's LayerNorm
    computes the same by default), loses digits to cancellation when |mean| ≫ spread: gradspec fails it (see
    tests/test_jax_autograd_adapters.py)."""
    import jax

    axes = layernorm_axes(x, gamma, beta, eps)
    return jax.nn.standardize(x, axis=axes, epsilon=float(eps), algorithm="stable") * gamma + beta




OPS = (
    OpSpec("batchnorm", "differentiable", "normalization", "training-mode batch norm, biased variance",
           (Arg("x", "input", True, "(N, D) or (N, C, H, W)"), Arg("gamma", "param", True, "(D,) or (C,)"),
            Arg("beta", "param", True, "(D,) or (C,)"), Arg("eps", "hyper")),
           ("batchnorm_forward", "batchnorm_backward"), "y has the shape of x; statistics per feature/channel",
           Sampler(batchnorm_structure, batchnorm_values, Ref(__name__, "batchnorm_strategy"), ("away", "hard"),
                   cases=({"x": (3, 2)}, {"x": (2, 2, 1, 2)})),
           lambda s: np.shape(s["x"]), hypers=(Hyper("eps", 0.0, low_open=True, default=1e-5),),
           domain="at least 2 values per normalised group",
           conventions=("batch statistics", "biased variance (divide by m)", "eps inside the square root"),
           sympy=Ref(__name__, "batchnorm_sympy"), mp_forward=Ref(__name__, "batchnorm_mp"),
           error_model=Ref(__name__, "batchnorm_error_model"), vector_values=Ref(__name__, "batchnorm_vectors"),
           fd_model=FdModel(step=Ref(__name__, "batchnorm_step"), conditioning=Ref(__name__, "batchnorm_conditioning"),
                            cancellation=Ref(__name__, "batchnorm_cancellation"),
                            backward_magnitude=Ref(__name__, "batchnorm_backward_magnitude")),
           variants=Ref(__name__, "CATALOGUE"),
           properties=(OpProperty("normalises", Ref("gradspec.properties.props", "prop_batchnorm_normalises"), ('away', 'hard')),
                       OpProperty("gradient_identities", Ref("gradspec.properties.props", "prop_batchnorm_grad_identities"), ('away', 'hard')))),
    OpSpec("layernorm", "differentiable", "normalization",
           "layer norm over the last k = gamma.ndim axes of each sample, biased variance",
           (Arg("x", "input", True, "any shape with x.ndim >= k"), Arg("gamma", "param", True, "x.shape[-k:]"),
            Arg("beta", "param", True, "x.shape[-k:]"), Arg("eps", "hyper")),
           ("layernorm_forward", "layernorm_backward"),
           "y has the shape of x; statistics per group of the last k = gamma.ndim axes",
           Sampler(layernorm_structure, layernorm_values, Ref(__name__, "layernorm_strategy"), ("away", "hard"),
                   cases=({"x": (2, 3), "k": 1}, {"x": (1, 2, 2), "k": 2})),
           lambda s: np.shape(s["x"]), hypers=(Hyper("eps", 0.0, low_open=True, default=1e-5),),
           domain="gamma.ndim = k <= x.ndim, gamma and beta of shape x.shape[-k:]",
           conventions=("statistics per group of the last k = gamma.ndim axes", "biased variance (divide by m)",
                        "eps inside the square root"),
           sympy=Ref(__name__, "layernorm_sympy"), mp_forward=Ref(__name__, "layernorm_mp"),
           error_model=Ref(__name__, "layernorm_error_model"), vector_values=Ref(__name__, "layernorm_vectors"),
           fd_model=FdModel(step=Ref(__name__, "layernorm_step"), conditioning=Ref(__name__, "layernorm_conditioning"),
                            cancellation=Ref(__name__, "layernorm_cancellation"),
                            targeted=Ref(__name__, "layernorm_targeted")),
           variants=Ref(__name__, "CATALOGUE"), torch=Ref(__name__, "layernorm_torch"),
           xp=Ref(__name__, "layernorm_xp"), jax=Ref(__name__, "layernorm_jax"),
           properties=(OpProperty("normalises", Ref(__name__, "prop_layernorm_normalises"), ("away", "hard")),
                       OpProperty("gradient_identities", Ref(__name__, "prop_layernorm_gradient_identities"),
                                  ("away", "hard")))),
)


# ====================================================================== known wrong variants (the diagnosis and the mutants)
# Known variants of batchnorm.
CATALOGUE = Catalogue()
C = CATALOGUE


def bn_variant(ddof=0, eps_outside=False, per_activation=False):
    def stats(x, eps):
        x = f64(x)
        eps = float(eps)
        axes = (0,) if (x.ndim == 2 or per_activation) else (0, 2, 3)
        shape = (1, -1) if x.ndim == 2 else (1, -1, 1, 1)
        m = int(np.prod([x.shape[a] for a in axes]))
        xc = x - x.mean(axis=axes, keepdims=True)
        var = np.sum(xc * xc, axis=axes, keepdims=True) / (m - ddof)
        sd = np.sqrt(var)
        s = sd + eps if eps_outside else np.sqrt(var + eps)
        ds_dvar = 0.5 / sd if eps_outside else 0.5 / s
        return x, axes, shape, m - ddof, xc, s, ds_dvar

    def fwd(x, gamma, beta, eps=1e-5):
        x, axes, shape, d, xc, s, _ = stats(x, eps)
        return f64(gamma).reshape(shape) * (xc / s) + f64(beta).reshape(shape)

    def bwd(x, gamma, beta, eps, dy):
        x, axes, shape, d, xc, s, ds_dvar = stats(x, eps)
        dy = f64(dy)
        dxh = dy * f64(gamma).reshape(shape)
        S = np.sum(dxh * xc, axis=axes, keepdims=True)
        dx = (dxh - dxh.mean(axis=axes, keepdims=True)) / s - (S / s**2) * ds_dvar * 2.0 * xc / d
        param_axes = (0,) if x.ndim == 2 else (0, 2, 3)
        return dx, np.sum(dy * xc / s, axis=param_axes), dy.sum(axis=param_axes)

    return {"batchnorm_forward": fwd, "batchnorm_backward": bwd}


def bn_witness(ddof=0, eps_outside=False, drop_var_term=False, dbeta_mean=False):
    def stats(x, eps):
        x = np.asarray(x, dtype=np.float64)
        axes = (0,) if x.ndim == 2 else (0, 2, 3)
        shape = (1, -1) if x.ndim == 2 else (1, -1, 1, 1)
        m = int(np.prod([x.shape[a] for a in axes]))
        xc = x - x.mean(axis=axes, keepdims=True)
        var = np.sum(xc * xc, axis=axes, keepdims=True) / (m - ddof)
        inv = 1.0 / (np.sqrt(var) + eps) if eps_outside else 1.0 / np.sqrt(var + eps)
        return x, axes, shape, m, xc * inv, inv

    def fwd(x, gamma, beta, eps=1e-5):
        x, axes, shape, m, xhat, _ = stats(x, eps)
        return np.asarray(gamma).reshape(shape) * xhat + np.asarray(beta).reshape(shape)

    def bwd(x, gamma, beta, eps, dy):
        x, axes, shape, m, xhat, inv = stats(x, eps)
        dy = np.asarray(dy, dtype=np.float64)
        dxhat = dy * np.asarray(gamma).reshape(shape)
        dx = inv * (dxhat - dxhat.mean(axis=axes, keepdims=True))
        if not drop_var_term:
            dx = dx - inv * xhat * np.sum(dxhat * xhat, axis=axes, keepdims=True) / (m - ddof)
        dbeta = dy.mean(axis=axes) if dbeta_mean else dy.sum(axis=axes)
        return dx, np.sum(dy * xhat, axis=axes), dbeta

    return {"batchnorm_forward": fwd, "batchnorm_backward": bwd}


C.base("batchnorm", bn_variant())
C.variant("batchnorm_unbiased_variance", "batchnorm", "the variance is the unbiased one, Σ(x−μ)²/(m−1); the spec "
          "normalises with the biased batch variance Σ(x−μ)²/m", family=bn_variant, params={"ddof": 1},
          mutant="batchnorm_unbiased_variance",
          description="normalises by the unbiased variance (÷(m−1)) instead of the biased one (÷m)", witness=bn_witness(ddof=1))
C.variant("batchnorm_eps_outside_sqrt", "batchnorm", "divides by √σ² + eps instead of √(σ² + eps) (eps outside the square root)",
          family=bn_variant, params={"eps_outside": True}, mutant="batchnorm_eps_outside_sqrt",
          description="divides by √σ² + eps instead of √(σ² + eps)",
          witness={"batchnorm_forward": bn_witness(eps_outside=True)["batchnorm_forward"]})
C.variant("batchnorm_per_activation_statistics", "batchnorm", "on 4-D input the mean and variance are taken per activation "
          "(over N only, as for a fully connected layer) instead of per channel (over N, H and W)",
          family=bn_variant, params={"per_activation": True})
C.mutant("batchnorm_backward_missing_variance_term", "batchnorm",
         "the backward treats the variance as a constant (drops the x̂·Σ dx̂·x̂ term)",
         batchnorm_backward=bn_witness(drop_var_term=True)["batchnorm_backward"])
C.mutant("batchnorm_dbeta_averaged", "batchnorm", "dbeta is the mean of dy instead of its sum",
         batchnorm_backward=bn_witness(dbeta_mean=True)["batchnorm_backward"])


def probe_batchnorm(rng):
    x = rng.normal(0.0, 0.3, size=(5, 3))
    return {"x": x, "gamma": rng.normal(1.0, 0.5, size=3), "beta": rng.normal(size=3), "eps": 0.05}


def probe_batchnorm_4d(rng):
    x = rng.normal(0.0, 0.3, size=(3, 2, 2, 3))
    return {"x": x, "gamma": rng.normal(1.0, 0.5, size=2), "beta": rng.normal(size=2), "eps": 0.05}


C.probe("batchnorm", probe_batchnorm)
C.probe("batchnorm", probe_batchnorm_4d)


def batchnorm_bias_terms(s, key, out):
    if key not in ("dbeta", "dgamma"):
        return None
    x = np.asarray(s["x"])
    return int(x.shape[0] if x.ndim == 2 else x.shape[0] * x.shape[2] * x.shape[3])


C.bias_sum("batchnorm", batchnorm_bias_terms, "the batch and positions")


# --------------------------------------------------------------------------- layernorm: known variants
def ln_variant(ddof=0, eps_outside=False, params_over_axis0=False, no_mean_terms=False):
    """The diagnosis forms, one family (two bugs merge into one function): the spec with
    ``ddof``: the variance divides by m − ddof; ``eps_outside``: σ + ε instead of √(σ² + ε);
    ``params_over_axis0``: dgamma and dbeta summed over axis 0 only; ``no_mean_terms``: dx = dy·γ/s, μ and σ²
    taken as constants. Validation-free (the base the generic variants build on)."""
    def stats(x, gamma, eps):
        x, gamma = f64(x), f64(gamma)
        axes, lead, m = ln_axes(x, gamma)
        xc = x - x.mean(axis=axes, keepdims=True)
        var = np.sum(xc * xc, axis=axes, keepdims=True) / (m - ddof)
        sd = np.sqrt(var)
        s = sd + float(eps) if eps_outside else np.sqrt(var + float(eps))
        with np.errstate(divide="ignore", invalid="ignore"):
            ds_dvar = np.where(sd > 0, 0.5 / sd, 0.0) if eps_outside else 0.5 / s
        return x, gamma, axes, lead, m - ddof, xc, s, ds_dvar

    def fwd(x, gamma, beta, eps=1e-5):
        x, gamma, axes, lead, d, xc, s, _ = stats(x, gamma, eps)
        return gamma * (xc / s) + f64(beta)

    def bwd(x, gamma, beta, eps, dy):
        x, gamma, axes, lead, d, xc, s, ds_dvar = stats(x, gamma, eps)
        dy = f64(dy)
        dxh = dy * gamma
        if no_mean_terms:
            dx = dxh / s
        else:
            S = np.sum(dxh * xc, axis=axes, keepdims=True)
            dx = (dxh - dxh.mean(axis=axes, keepdims=True)) / s - (S / s**2) * ds_dvar * 2.0 * xc / d
        psum = (0,) if params_over_axis0 and len(lead) else lead
        return dx, np.sum(dy * xc / s, axis=psum), dy.sum(axis=psum)

    return {"layernorm_forward": fwd, "layernorm_backward": bwd}


def ln_witness_unbiased_forward(x, gamma, beta, eps=1e-5):
    x = np.asarray(x, dtype=np.float64)
    axes = tuple(range(x.ndim - np.ndim(gamma), x.ndim))
    return gamma * (x - x.mean(axis=axes, keepdims=True)) / np.sqrt(x.var(axis=axes, ddof=1, keepdims=True) + eps) + beta


def ln_witness_unbiased_backward(x, gamma, beta, eps, dy):
    """Ioffe and Szegedy's staged backward, with the unbiased variance throughout."""
    x, dy = np.asarray(x, dtype=np.float64), np.asarray(dy, dtype=np.float64)
    k = np.ndim(gamma)
    axes, lead = tuple(range(x.ndim - k, x.ndim)), tuple(range(x.ndim - k))
    n = int(np.prod(np.shape(gamma)))
    mu = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, ddof=1, keepdims=True)
    inv = 1.0 / np.sqrt(var + eps)
    xhat = (x - mu) * inv
    dxhat = dy * gamma
    dvar = np.sum(dxhat * (x - mu), axis=axes, keepdims=True) * -0.5 * inv**3
    dmu = -np.sum(dxhat * inv, axis=axes, keepdims=True)
    dx = dxhat * inv + dvar * 2.0 * (x - mu) / (n - 1) + dmu / n
    return dx, np.sum(dy * xhat, axis=lead), np.sum(dy, axis=lead)


def ln_witness_eps_outside_forward(x, gamma, beta, eps=1e-5):
    x = np.asarray(x, dtype=np.float64)
    axes = tuple(range(x.ndim - np.ndim(gamma), x.ndim))
    return gamma * (x - x.mean(axis=axes, keepdims=True)) / (x.std(axis=axes, keepdims=True) + eps) + beta


def ln_witness_no_mean_terms_backward(x, gamma, beta, eps, dy):
    """dx = dy·γ/√(σ² + ε): the chain rule stopped at x̂, as if μ and σ² were constants."""
    x, dy = np.asarray(x, dtype=np.float64), np.asarray(dy, dtype=np.float64)
    k = np.ndim(gamma)
    axes, lead = tuple(range(x.ndim - k, x.ndim)), tuple(range(x.ndim - k))
    inv = 1.0 / np.sqrt(x.var(axis=axes, keepdims=True) + eps)
    xhat = (x - x.mean(axis=axes, keepdims=True)) * inv
    return dy * gamma * inv, np.sum(dy * xhat, axis=lead), np.sum(dy, axis=lead)


def ln_witness_params_over_axis0_backward(x, gamma, beta, eps, dy):
    """The (N, D) code's dgamma = Σ_n, dbeta = Σ_n applied to any input: only axis 0 is summed."""
    x, dy = np.asarray(x, dtype=np.float64), np.asarray(dy, dtype=np.float64)
    k = np.ndim(gamma)
    axes = tuple(range(x.ndim - k, x.ndim))
    m = int(np.prod(np.shape(gamma)))
    inv = 1.0 / np.sqrt(x.var(axis=axes, keepdims=True) + eps)
    xhat = (x - x.mean(axis=axes, keepdims=True)) * inv
    g = dy * gamma
    dx = inv / m * (m * g - g.sum(axis=axes, keepdims=True) - xhat * np.sum(g * xhat, axis=axes, keepdims=True))
    if x.ndim == k:
        return dx, dy * xhat, dy.copy()
    return dx, np.sum(dy * xhat, axis=0), np.sum(dy, axis=0)


CATALOGUE.base("layernorm", ln_variant())
CATALOGUE.variant(
    "layernorm_unbiased_variance", "layernorm", "the variance is the unbiased one, Σ(x−μ)²/(m−1); the spec "
    "normalises each group with the biased variance Σ(x−μ)²/m", family=ln_variant, params={"ddof": 1},
    mutant="layernorm_unbiased_variance", description="normalises by the unbiased variance (÷(m−1)), forward and backward",
    witness={"layernorm_forward": ln_witness_unbiased_forward, "layernorm_backward": ln_witness_unbiased_backward})
CATALOGUE.variant(
    "layernorm_eps_outside_sqrt", "layernorm", "divides by √σ² + eps instead of √(σ² + eps) (eps outside the "
    "square root)", family=ln_variant, params={"eps_outside": True}, mutant="layernorm_eps_outside_sqrt",
    description="the forward divides by √σ² + eps instead of √(σ² + eps)",
    witness={"layernorm_forward": ln_witness_eps_outside_forward})
CATALOGUE.variant(
    "layernorm_param_grads_over_axis0", "layernorm", "dgamma and dbeta are summed over axis 0 only (the (N, D) "
    "case's sum) instead of over every leading axis: with more than one leading axis they keep the shape "
    "x.shape[1:] instead of gamma's", family=ln_variant, params={"params_over_axis0": True},
    mutant="layernorm_param_grads_over_axis0", description="dgamma and dbeta summed over axis 0 only",
    witness={"layernorm_backward": ln_witness_params_over_axis0_backward})
CATALOGUE.variant(
    "layernorm_dx_missing_mean_terms", "layernorm", "dx = dy·γ/√(σ² + eps): the backward treats the mean and "
    "the variance as constants (drops −Σdx̂/m and −x̂·Σdx̂·x̂/m)", family=ln_variant, params={"no_mean_terms": True},
    mutant="layernorm_dx_missing_mean_terms", description="dx misses the mean and variance terms",
    witness={"layernorm_backward": ln_witness_no_mean_terms_backward})


def probe_layernorm(rng):
    return {"x": rng.normal(0.0, 0.3, size=(4, 5)), "gamma": rng.normal(1.0, 0.5, size=5), "beta": rng.normal(size=5),
            "eps": 0.05}


def probe_layernorm_3d(rng):
    """Two leading axes: where a sum of dgamma, dbeta over axis 0 alone shows."""
    return {"x": rng.normal(0.0, 0.3, size=(2, 3, 4)), "gamma": rng.normal(1.0, 0.5, size=4),
            "beta": rng.normal(size=4), "eps": 0.05}


CATALOGUE.probe("layernorm", probe_layernorm)
CATALOGUE.probe("layernorm", probe_layernorm_3d)


def layernorm_bias_terms(s, key, out):
    if key not in ("dbeta", "dgamma"):
        return None
    return int(np.size(s["x"]) // max(1, np.size(s["gamma"])))


CATALOGUE.bias_sum("layernorm", layernorm_bias_terms, "the leading axes")
