"""Records of the losses (``gradspec.reference.losses``): mse, cross-entropy, softmax and binary cross-entropy."""
from __future__ import annotations

import numpy as np

from ..spec import Arg, FdModel, OpProperty, OpSpec, Ref, Sampler
from ..sampling import batch_classes
from .. import reference as ref
from ..variants import Catalogue, f64


def scalar_shape(s) -> tuple:
    return ()


def mse_values(case, rng):
    N, K = case["N"], case["K"]
    return {"y": rng.normal(size=(N, K)), "t": rng.normal(size=(N, K))}


def cross_entropy_values(case, rng):
    N, K = case["N"], case["K"]
    z = rng.normal(0.0, 1.0, size=(N, K))
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    p = 0.05 + 0.9 * p  # in [0.05, 0.95]: a central difference never leaves the domain (0, 1] (K = 1 gave p = 1)
    t = np.eye(K)[rng.integers(0, K, size=N)]
    return {"p": p, "t": t}


def softmax_cross_entropy_values(case, rng):
    N, K = case["N"], case["K"]
    return {"z": rng.normal(0.0, 3.0, size=(N, K)), "labels": rng.integers(0, K, size=N)}


def binary_cross_entropy_values(case, rng):
    N, K = case["N"], case["K"]
    return {"z": rng.normal(0.0, 3.0, size=(N, K)), "t": rng.uniform(0.0, 1.0, size=(N, K))}


# ====================================================================== the ops' pieces for each oracle (named by the records' Refs)


# --------------------------------------------------------------------------- SymPy definitions (the symbolic oracle)
def mse_sympy(s):
    from ..symbolic.definitions import Definition, shape_of, sym_array
    N, K = shape_of(s["y"])
    y, t = sym_array("y", (N, K), real=True), sym_array("t", (N, K), real=True)
    C = sum((y[i] - t[i]) ** 2 for i in np.ndindex(N, K)) / (2 * N)
    return Definition({"y": y, "t": t}, C, ("y",), lambda dy: (dy * (y - t) / N,), scalar=True)


def cross_entropy_sympy(s):
    import sympy as sp
    from ..symbolic.definitions import Definition, shape_of, sym_array
    N, K = shape_of(s["p"])
    p, t = sym_array("p", (N, K), positive=True), sym_array("t", (N, K), real=True)
    C = -sum(t[i] * sp.log(p[i]) for i in np.ndindex(N, K)) / N
    return Definition({"p": p, "t": t}, C, ("p",), lambda dy: (-dy * t / (N * p),), "simplify", scalar=True)


def softmax_cross_entropy_sympy(s):
    import sympy as sp
    from ..symbolic.definitions import Definition, ew, shape_of, sym_array
    N, K = shape_of(s["z"])
    lab = [int(v) for v in np.asarray(s["labels"]).ravel()]
    z = sym_array("z", (N, K), real=True)
    # C = -(1/N) Σ_n log softmax(z_n)_{label_n}, softmax written from its definition
    C = -sum(sp.log(sp.exp(z[n, lab[n]]) / sum(sp.exp(z[n, k]) for k in range(K))) for n in range(N)) / N

    def spec(dy):  # dy (softmax(z) − onehot(labels)) / N
        e = ew(sp.exp, z)
        g = e / e.sum(axis=1, keepdims=True)
        for n in range(N):
            g[n, lab[n]] = g[n, lab[n]] - 1
        return (dy * g / N,)

    return Definition({"z": z}, C, ("z",), spec, "simplify", scalar=True)


def binary_cross_entropy_sympy(s):
    import sympy as sp
    from ..symbolic.definitions import Definition, ew, shape_of, sigmoid, sym_array
    N, K = shape_of(s["z"])
    z, t = sym_array("z", (N, K), real=True), sym_array("t", (N, K), real=True)
    # the textbook definition on probabilities (the reference uses the stable logits form)
    C = -sum(t[i] * sp.log(sigmoid(z[i])) + (1 - t[i]) * sp.log(1 - sigmoid(z[i])) for i in np.ndindex(N, K)) / N
    return Definition({"z": z, "t": t}, C, ("z",), lambda dy: (dy * (ew(sigmoid, z) - t) / N,), "simplify", scalar=True)


# --------------------------------------------------------------------------- mpmath forwards (the mpmath oracle)
def mse_mp(s, pattern=None):
    from ..mpmath_oracle.forward import guard, msum
    r = s["y"] - s["t"]
    N = s["y"].shape[0]
    return guard(msum(r * r) / (2 * N), "mse"), None


def cross_entropy_mp(s, pattern=None):
    from ..mpmath_oracle.forward import guard, mlog, msum
    p, t = s["p"], s["t"]
    return guard(-msum(t * mlog(p)) / p.shape[0], "cross_entropy"), None


def softmax_cross_entropy_mp(s, pattern=None):
    from ..mpmath_oracle.forward import guard, mexp, mlog, msum
    z, labels = s["z"], np.asarray(s["labels"])
    N = z.shape[0]
    lse = mlog(msum(mexp(z), axis=1))
    picked = np.array([z[n, int(labels[n])] for n in range(N)], dtype=object)
    return guard(msum(lse - picked) / N, "softmax_cross_entropy"), None


def binary_cross_entropy_mp(s, pattern=None):
    r"""C = (1/N) Σ log(1 + e^z) − z t (the same function as −t log σ(z) − (1−t) log(1−σ(z)))."""
    from ..mpmath_oracle.forward import guard, mexp, mlog1p, msum
    z, t = s["z"], s["t"]
    return guard(msum(mlog1p(mexp(z)) - z * t) / z.shape[0], "binary_cross_entropy"), None


# --------------------------------------------------------------------------- float64 running-error models (the mpmath oracle's tolerance)
def mse_error_model(s, dy):
    from ..mpmath_oracle.tolerance import Bounded, Model, bsum
    y, t = Bounded(s["y"]), Bounded(s["t"])
    N = y.shape[0]
    r = y - t
    return Model(0.5 * bsum(r * r) / N, {"y": dy * (y - t) / N})


def cross_entropy_error_model(s, dy):
    from ..mpmath_oracle.tolerance import Bounded, Model, blog, bsum
    p, t = Bounded(s["p"]), Bounded(s["t"])
    N = p.shape[0]
    return Model(-bsum(t * blog(p)) / N, {"p": (-dy) * t / (p * N)})


def softmax_cross_entropy_error_model(s, dy):
    from ..mpmath_oracle.tolerance import Bounded, Model, bexp, blog, bmax, bsoftmax, bsum, one_hot
    z = Bounded(s["z"])
    N, K = z.shape
    labels = np.asarray(s["labels"], dtype=np.int64)
    with np.errstate(over="ignore", under="ignore"):
        m = bmax(z, axis=1)
        lse = m + blog(bsum(bexp(z - m.map(lambda a: a[:, None])), axis=1))
    loss = bsum(lse - z[np.arange(N), labels]) / N
    g = bsoftmax(z) - one_hot(labels, K)
    return Model(loss, {"z": dy * g / N})


def binary_cross_entropy_error_model(s, dy):
    from ..mpmath_oracle.tolerance import Bounded, Model, babs, bexp, blog1p, bmax0, bsigmoid, bsum
    z, t = Bounded(s["z"]), Bounded(s["t"])
    N = z.shape[0]
    with np.errstate(under="ignore"):
        loss = bsum(bmax0(z) - z * t + blog1p(bexp(-babs(z)))) / N
    return Model(loss, {"z": dy * (bsigmoid(z) - t) / N})


# --------------------------------------------------------------------------- 50-digit closed forms (the golden vectors)
def mse_vectors(s, A, d):
    from ..mpmath_oracle.vectors_mp import msum
    N = np.shape(s["y"])[0]
    r = A["y"] - A["t"]
    return {"outputs": {"forward": msum(r * r) / (2 * N)}, "gradients": {"y": d * r / N}}


def cross_entropy_vectors(s, A, d):
    import mpmath
    from ..mpmath_oracle.vectors_mp import mmap, msum
    N = np.shape(s["p"])[0]
    p, t = A["p"], A["t"]
    return {"outputs": {"forward": -msum(t * mmap(mpmath.log, p)) / N}, "gradients": {"p": -d * t / (p * N)}}


def softmax_cross_entropy_vectors(s, A, d):
    import mpmath
    from ..mpmath_oracle.vectors_mp import msoftmax, msum
    N = np.shape(s["z"])[0]
    y = msoftmax(A["z"])
    lab = np.asarray(s["labels"], dtype=np.int64)
    loss = msum(np.array([-mpmath.log(y[i, lab[i]]) for i in range(N)], dtype=object)) / N
    g = y.copy()
    for i in range(N):
        g[i, lab[i]] -= 1
    return {"outputs": {"forward": loss}, "gradients": {"z": d * g / N}}


def binary_cross_entropy_vectors(s, A, d):
    import mpmath
    from ..mpmath_oracle.vectors_mp import mmap, msigmoid, msum
    N = np.shape(s["z"])[0]
    z, t = A["z"], A["t"]
    terms = mmap(lambda v: mpmath.log(1 + mpmath.exp(v)), z) - z * t
    return {"outputs": {"forward": msum(terms) / N}, "gradients": {"z": d * (msigmoid(z) - t) / N}}


# --------------------------------------------------------------------------- Hypothesis strategies (the property library)
def mse_strategy(*args, **kwargs):
    """The Hypothesis strategy ``build(*args, **kwargs)`` below (Hypothesis is imported when called)."""
    from ..properties.strategies import arrays, batch_and_classes, scales, seeds
    from hypothesis import strategies as st

    @st.composite
    def build(draw, mode):
        N, K = draw(batch_and_classes())
        s = 1e3 if mode == "hard" else draw(scales())
        return {"y": draw(arrays((N, K), -s, s)), "t": draw(arrays((N, K), -s, s)), "seed": draw(seeds())}

    return build(*args, **kwargs)


def cross_entropy_strategy(*args, **kwargs):
    """The Hypothesis strategy ``build(*args, **kwargs)`` below (Hypothesis is imported when called)."""
    from ..properties.strategies import arrays, batch_and_classes, seeds
    from hypothesis import event
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    @st.composite
    def build(draw, mode):
        N, K = draw(batch_and_classes())
        low = 1e-12 if mode == "hard" else 1e-3
        p = draw(arrays((N, K), low, 0.999))  # p + 2h stays inside the domain (0, 1] for the difference steps
        labels = draw(hnp.arrays(np.int64, (N,), elements=st.integers(0, K - 1), fill=st.nothing()))
        if draw(st.booleans()):
            t = np.eye(K)[labels]
            event("cross_entropy: one-hot targets")
        else:
            t = draw(arrays((N, K), 0.0, 1.0))
            event("cross_entropy: soft targets")
        if mode == "hard":
            p[np.arange(N), labels] = draw(st.sampled_from([1e-12, 1e-8, 0.999]))
            event("hard: tiny probability on the target class")
        return {"p": p, "t": t, "seed": draw(seeds())}

    return build(*args, **kwargs)


def softmax_cross_entropy_strategy(*args, **kwargs):
    """The Hypothesis strategy ``build(*args, **kwargs)`` below (Hypothesis is imported when called)."""
    from ..properties.strategies import batch_and_classes, logits_for, seeds
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    @st.composite
    def build(draw, mode):
        N, K = draw(batch_and_classes())
        labels = draw(hnp.arrays(np.int64, (N,), elements=st.integers(0, K - 1), fill=st.nothing()))
        return {"z": draw(logits_for(mode, (N, K))), "labels": labels, "seed": draw(seeds())}

    return build(*args, **kwargs)


def binary_cross_entropy_strategy(*args, **kwargs):
    """The Hypothesis strategy ``build(*args, **kwargs)`` below (Hypothesis is imported when called)."""
    from ..properties.strategies import arrays, batch_and_classes, logits_for, seeds
    from hypothesis import strategies as st

    @st.composite
    def build(draw, mode):
        N, K = draw(batch_and_classes())
        t = draw(arrays((N, K), 0.0, 1.0))
        return {"z": draw(logits_for(mode, (N, K))), "t": t, "seed": draw(seeds())}

    return build(*args, **kwargs)


# --------------------------------------------------------------------------- the fd64 oracle's model (steps, conditioning, targeted samples)
def cross_entropy_step(sample: dict, name: str, x: np.ndarray):
    """p stays inside (0, 1): step FD_REL_STEP·min(p, 1 − p)."""
    from ..oracles.fd64_models import FD_REL_STEP
    if name != "p":
        return None
    if not np.all((x > 0) & (x < 1)):
        bad = x[~((x > 0) & (x < 1))]
        raise ValueError(f"cross_entropy: central differences in p need 0 < p < 1 on both sides of every "
                         f"element, got p = {bad[:3].tolist()}")
    return FD_REL_STEP * np.minimum(x, 1.0 - x)


def mse_conditioning(sample: dict) -> float:
    from ..oracles.fd64_models import EPS
    y, t = np.asarray(sample["y"]), np.asarray(sample["t"])
    return 64 * EPS * float(np.sum((np.abs(y) + np.abs(t)) ** 2)) / y.shape[0]


def mse_cancellation(sample: dict, dy) -> float:
    from ..oracles.fd64_models import EPS
    return mse_conditioning(sample) / (64 * EPS) * abs(dy)


def softmax_cross_entropy_cancellation(sample: dict, dy) -> float:
    """m + log Σ e^(z−m) − z_y cancels terms of size max|z|."""
    import math
    z = np.asarray(sample["z"])
    return abs(dy) * float(np.sum(2 * np.max(np.abs(z), axis=1) + math.log(z.shape[1]) + 1)) / z.shape[0]


def binary_cross_entropy_cancellation(sample: dict, dy) -> float:
    """max(z, 0) − z·t + log1p(e^−|z|) cancels terms of size |z|."""
    z = np.asarray(sample["z"])
    return abs(dy) * float(np.sum(2 * np.abs(z) + 1)) / z.shape[0]


OPS = (
    OpSpec("mse", "loss", "losses", "0.5·Σ(y−t)²/N",
           (Arg("y", "input", True, "(N, K)"), Arg("t", "target", False, "(N, K)")),
           ("mse_forward", "mse_backward"), "y, t (N,K) -> float",
           Sampler(batch_classes, mse_values, Ref(__name__, "mse_strategy"), ("away", "hard"),
                   cases=({"N": 2, "K": 3}, {"N": 3, "K": 1})),
           scalar_shape,
           sympy=Ref(__name__, "mse_sympy"), mp_forward=Ref(__name__, "mse_mp"),
           error_model=Ref(__name__, "mse_error_model"), vector_values=Ref(__name__, "mse_vectors"),
           fd_model=FdModel(conditioning=Ref(__name__, "mse_conditioning"), cancellation=Ref(__name__, "mse_cancellation")),
           variants=Ref(__name__, "CATALOGUE"),
           properties=(OpProperty("nonnegative", Ref("gradspec.properties.props", "prop_loss_nonnegative", (("op", "mse"),)), ('away', 'hard')),)),
    OpSpec("cross_entropy", "loss", "losses", "−Σ t·log p / N",
           (Arg("p", "input", True, "(N, K) probabilities"), Arg("t", "target", False, "(N, K) one-hot")),
           ("cross_entropy_forward", "cross_entropy_backward"), "p, t (N,K) -> float",
           Sampler(batch_classes, cross_entropy_values, Ref(__name__, "cross_entropy_strategy"), ("away", "hard"),
                   cases=({"N": 2, "K": 3}, {"N": 3, "K": 2})),
           scalar_shape, domain="p in (0, 1]; t in [0, 1]",
           sympy=Ref(__name__, "cross_entropy_sympy"), mp_forward=Ref(__name__, "cross_entropy_mp"),
           error_model=Ref(__name__, "cross_entropy_error_model"), vector_values=Ref(__name__, "cross_entropy_vectors"),
           fd_model=FdModel(step=Ref(__name__, "cross_entropy_step")), variants=Ref(__name__, "CATALOGUE"),
           properties=(OpProperty("nonnegative", Ref("gradspec.properties.props", "prop_loss_nonnegative", (("op", "cross_entropy"),)), ('away', 'hard')),
                       OpProperty("grad_sign", Ref("gradspec.properties.props", "prop_cross_entropy_grad_sign"), ('away', 'hard')),)),
    OpSpec("softmax_cross_entropy", "loss", "losses", "fused softmax + cross-entropy from logits, mean over N",
           (Arg("z", "input", True, "(N, K) logits"), Arg("labels", "labels", False, "(N,) ints in [0, K)")),
           ("softmax_cross_entropy_forward", "softmax_cross_entropy_backward"), "z (N,K), labels (N,) -> float",
           Sampler(batch_classes, softmax_cross_entropy_values, Ref(__name__, "softmax_cross_entropy_strategy"), ("away", "hard"),
                   cases=({"N": 2, "K": 3}, {"N": 3, "K": 2})),
           scalar_shape, conventions=("stable for logits of ±1000",),
           sympy=Ref(__name__, "softmax_cross_entropy_sympy"), mp_forward=Ref(__name__, "softmax_cross_entropy_mp"),
           error_model=Ref(__name__, "softmax_cross_entropy_error_model"),
           vector_values=Ref(__name__, "softmax_cross_entropy_vectors"),
           fd_model=FdModel(cancellation=Ref(__name__, "softmax_cross_entropy_cancellation"), large_logits="z"),
           variants=Ref(__name__, "CATALOGUE"),
           properties=(OpProperty("nonnegative", Ref("gradspec.properties.props", "prop_loss_nonnegative", (("op", "softmax_cross_entropy"),)), ('away', 'hard')),
                       OpProperty("grad_rows_sum_to_zero", Ref("gradspec.properties.props", "prop_sce_grad_rows_sum_to_zero"), ('away', 'hard')),)),
    OpSpec("binary_cross_entropy", "loss", "losses", "binary cross-entropy from logits, mean over N",
           (Arg("z", "input", True, "(N, K) logits"), Arg("t", "target", False, "(N, K) in [0, 1]")),
           ("binary_cross_entropy_forward", "binary_cross_entropy_backward"), "z, t (N,K) -> float",
           Sampler(batch_classes, binary_cross_entropy_values, Ref(__name__, "binary_cross_entropy_strategy"), ("away", "hard"),
                   cases=({"N": 2, "K": 2}, {"N": 1, "K": 3})),
           scalar_shape, domain="t in [0, 1]", conventions=("from logits; stable for ±1000",),
           sympy=Ref(__name__, "binary_cross_entropy_sympy"), mp_forward=Ref(__name__, "binary_cross_entropy_mp"),
           error_model=Ref(__name__, "binary_cross_entropy_error_model"),
           vector_values=Ref(__name__, "binary_cross_entropy_vectors"),
           fd_model=FdModel(cancellation=Ref(__name__, "binary_cross_entropy_cancellation"), large_logits="z"),
           variants=Ref(__name__, "CATALOGUE"),
           properties=(OpProperty("nonnegative", Ref("gradspec.properties.props", "prop_loss_nonnegative", (("op", "binary_cross_entropy"),)), ('away', 'hard')),
                       OpProperty("grad_bounded", Ref("gradspec.properties.props", "prop_bce_grad_bounded"), ('away', 'hard')),)),
)


# ====================================================================== known wrong variants (the diagnosis and the mutants)
# Known variants of the losses: mse, cross_entropy, softmax_cross_entropy, binary_cross_entropy.
CATALOGUE = Catalogue()
C = CATALOGUE


def ce_log_eps(eps):
    def fwd(p, t):
        p, t = f64(p), f64(t)
        return float(-np.sum(t * np.log(p + eps)) / p.shape[0])

    def bwd(p, t, dy):
        p, t = f64(p), f64(t)
        return -float(dy) * t / ((p + eps) * p.shape[0])

    return {"cross_entropy_forward": fwd, "cross_entropy_backward": bwd}


def sce_log_eps(eps):
    def probs(z, labels):
        s = ref.softmax_forward(f64(z))
        return s, np.asarray(labels).astype(int)

    def fwd(z, labels):
        s, y = probs(z, labels)
        return float(-np.mean(np.log(s[np.arange(len(y)), y] + eps)))

    def bwd(z, labels, dy):
        s, y = probs(z, labels)
        N = len(y)
        sy = s[np.arange(N), y][:, None]
        onehot = np.eye(s.shape[1])[y]
        return -float(dy) / N * (sy / (sy + eps)) * (onehot - s)

    return {"softmax_cross_entropy_forward": fwd, "softmax_cross_entropy_backward": bwd}


#: the constants people add inside a log "to avoid log(0)"
LOG_EPS = (1e-7, 1e-8, 1e-12, 1e-15, 1e-10, 1e-9, 1e-6, 1e-5)
for _e in LOG_EPS:
    C.variant("log_of_p_plus_eps", "cross_entropy", f"the loss is computed as −Σ t·log(p + {_e:g}): the constant added "
              "\"to avoid log(0)\" shifts the loss and its gradient; the spec uses log p", facts=(("eps", _e),), **ce_log_eps(_e))
    C.variant("log_of_p_plus_eps", "softmax_cross_entropy", f"the loss is computed as −log(softmax(z)_y + {_e:g}) (the "
              "probabilities formed first, a constant added \"to avoid log(0)\"); the spec uses the exact log-softmax",
              facts=(("eps", _e),), **sce_log_eps(_e))

C.mutant("mse_forward_missing_half", "mse", "mse_forward omits the ½: Σ(y−t)²/N (a factor of 2)",
         mse_forward=lambda y, t: float(np.sum((np.asarray(y) - t) ** 2) / np.shape(y)[0]))
C.mutant("mse_backward_missing_1_over_N", "mse", "mse_backward forgets the 1/N of the batch mean",
         mse_backward=lambda y, t, dy: dy * (np.asarray(y) - t))
C.mutant("cross_entropy_backward_missing_1_over_N", "cross_entropy", "cross_entropy_backward forgets the 1/N",
         cross_entropy_backward=lambda p, t, dy: -dy * np.asarray(t) / np.asarray(p))
C.mutant("cross_entropy_forward_missing_minus", "cross_entropy", "cross_entropy_forward returns Σ t·log p / N (the minus sign lost)",
         cross_entropy_forward=lambda p, t: float(np.sum(np.asarray(t) * np.log(p)) / np.shape(p)[0]))
C.mutant("cross_entropy_backward_sign_flipped", "cross_entropy", "cross_entropy_backward returns +dy·t/(N p)",
         cross_entropy_backward=lambda p, t, dy: dy * np.asarray(t) / (np.asarray(p) * np.shape(p)[0]))


def sce_no_onehot(z, labels, dy):
    return dy * ref.softmax_forward(z) / np.shape(z)[0]


C.mutant("softmax_cross_entropy_missing_onehot", "softmax_cross_entropy",
         "the backward returns softmax(z)/N, forgetting to subtract the one-hot label",
         softmax_cross_entropy_backward=sce_no_onehot)


def sce_unstable(z, labels):
    z = np.asarray(z, dtype=np.float64)
    lse = np.log(np.sum(np.exp(z), axis=1))
    return float(np.sum(lse - z[np.arange(z.shape[0]), np.asarray(labels)]) / z.shape[0])


C.mutant("softmax_cross_entropy_unstable", "softmax_cross_entropy",
         "the forward computes log Σ exp(z) without the max shift (inf at logits of 1000)",
         softmax_cross_entropy_forward=sce_unstable)
C.mutant("binary_cross_entropy_backward_missing_1_over_N", "binary_cross_entropy", "binary_cross_entropy_backward forgets the 1/N",
         binary_cross_entropy_backward=lambda z, t, dy: dy * (ref.sigmoid_forward(z) - t))


def bce_naive(z, t):
    s = ref.sigmoid_forward(z)
    t = np.asarray(t)
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(-np.sum(t * np.log(s) + (1 - t) * np.log(1 - s)) / np.shape(z)[0])


C.mutant("binary_cross_entropy_log_of_sigmoid", "binary_cross_entropy",
         "the forward takes log σ(z) and log(1 − σ(z)): −inf/NaN at logits of ±1000",
         binary_cross_entropy_forward=bce_naive)
