"""Record of batch normalisation (``gradspec.reference.normalization``)."""
from __future__ import annotations

import numpy as np

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
