"""The op registry: one :class:`~gradspec.spec.OpSpec` per op of the protocol.

This is the single list that the checker, every oracle, the property library
and the reports iterate over. Adding an op means adding one entry here (plus
its reference functions in ``reference/``, its SymPy definition in
``symbolic/`` and its strategy in ``properties/``), never editing every test.

Each entry's ``sample(rng)`` draws a *valid* example at a small random shape
whose inputs keep a margin of at least ``KINK_MARGIN`` from every kink, which
is what a numerical-differentiation oracle needs. Samples that sit exactly on
a kink, or that are ill-conditioned, are the property library's job.
"""
from __future__ import annotations

import numpy as np

from .spec import Arg, Hyper, Kink, OpSpec

#: Every sample keeps at least this distance from a kink (relu at 0, pooling ties).
KINK_MARGIN = 0.05


# --------------------------------------------------------------------------- helpers
def _any_shape(rng):
    return [(int(rng.integers(1, 7)),), (int(rng.integers(1, 4)), int(rng.integers(1, 5))),
            (int(rng.integers(1, 3)), int(rng.integers(1, 3)), int(rng.integers(1, 4)), int(rng.integers(1, 4)))][
        int(rng.integers(0, 3))
    ]


def _away_from_zero(rng, shape, low=KINK_MARGIN * 2, high=3.0):
    return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(low, high, size=shape)


def _min_abs(x) -> float:
    x = np.asarray(x, dtype=float)
    return float(np.min(np.abs(x))) if x.size else float("inf")


def _distinct(rng, shape, spacing=0.2):
    """Values with pairwise gaps >= spacing/2 (a shuffled grid plus small jitter)."""
    n = int(np.prod(shape))
    grid = (rng.permutation(n) - n / 2.0) * spacing
    return (grid + rng.uniform(-spacing / 4, spacing / 4, size=n)).reshape(shape)


def _window_geometry(rng, pool=False):
    """(H, W, K, stride, pad) with the kernel fitting the padded input."""
    K = int(rng.integers(1, 4))
    pad = int(rng.integers(0, K // 2 + 1)) if pool else int(rng.integers(0, 3))
    stride = int(rng.integers(1, 4))
    H = int(rng.integers(max(1, K - 2 * pad), 7))
    W = int(rng.integers(max(1, K - 2 * pad), 7))
    return H, W, K, stride, pad


def _out(size, k, s, p):
    return (size + 2 * p - k) // s + 1


def pool_gap(sample) -> float:
    """Smallest gap between the largest and second-largest real value of any pooling window."""
    x = np.asarray(sample["x"], dtype=float)
    k, s, p = int(sample["kernel"]), int(sample["stride"]), int(sample["pad"])
    if k == 1:
        return float("inf")
    from numpy.lib.stride_tricks import sliding_window_view

    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)), constant_values=-np.inf)
    OH, OW = _out(x.shape[2], k, s, p), _out(x.shape[3], k, s, p)
    win = sliding_window_view(xp, (k, k), axis=(2, 3))[:, :, ::s, ::s][:, :, :OH, :OW].reshape(-1, k * k)
    top2 = np.sort(win, axis=1)[:, -2:]
    finite = np.isfinite(top2[:, 0])
    if not np.any(finite):
        return float("inf")
    return float(np.min(top2[finite, 1] - top2[finite, 0]))


# --------------------------------------------------------------------------- samplers
def _s_elementwise(rng):
    return {"x": rng.normal(0.0, 2.0, size=_any_shape(rng))}


def _s_relu(rng):
    return {"x": _away_from_zero(rng, _any_shape(rng))}


def _s_step(rng):
    x = rng.normal(0.0, 1.0, size=_any_shape(rng))
    x.flat[:: max(1, x.size // 3)] = 0.0  # the convention step(0) = 0 is part of the check
    return {"x": x}


def _s_softmax(rng):
    shape = [(int(rng.integers(1, 4)), int(rng.integers(1, 6))),
             (int(rng.integers(1, 3)), int(rng.integers(1, 3)), int(rng.integers(2, 5)))][int(rng.integers(0, 2))]
    return {"x": rng.normal(0.0, 3.0, size=shape)}


def _s_affine(rng):
    N, D, M = (int(v) for v in rng.integers(1, [5, 6, 5]))
    return {"x": rng.normal(size=(N, D)), "W": rng.normal(size=(D, M)), "b": rng.normal(size=M)}


def _nk(rng):
    return int(rng.integers(1, 5)), int(rng.integers(1, 5))


def _s_mse(rng):
    N, K = _nk(rng)
    return {"y": rng.normal(size=(N, K)), "t": rng.normal(size=(N, K))}


def _s_cross_entropy(rng):
    N, K = _nk(rng)
    z = rng.normal(0.0, 1.0, size=(N, K))
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    p = 0.05 + 0.9 * p  # in [0.05, 0.95]: a central difference never leaves the domain (0, 1] (K = 1 gave p = 1)
    t = np.eye(K)[rng.integers(0, K, size=N)]
    return {"p": p, "t": t}


def _s_softmax_cross_entropy(rng):
    N, K = _nk(rng)
    return {"z": rng.normal(0.0, 3.0, size=(N, K)), "labels": rng.integers(0, K, size=N)}


def _s_binary_cross_entropy(rng):
    N, K = _nk(rng)
    return {"z": rng.normal(0.0, 3.0, size=(N, K)), "t": rng.uniform(0.0, 1.0, size=(N, K))}


def _s_conv2d(rng):
    H, W, K, stride, pad = _window_geometry(rng)
    N, C, F = int(rng.integers(1, 3)), int(rng.integers(1, 4)), int(rng.integers(1, 4))
    KW = int(rng.integers(1, min(4, W + 2 * pad + 1)))
    return {"x": rng.normal(size=(N, C, H, W)), "W": rng.normal(size=(F, C, K, KW)), "b": rng.normal(size=F),
            "stride": stride, "pad": pad}


def _s_max_pool(rng):
    H, W, K, stride, pad = _window_geometry(rng, pool=True)
    N, C = int(rng.integers(1, 3)), int(rng.integers(1, 3))
    return {"x": _distinct(rng, (N, C, H, W)), "kernel": K, "stride": stride, "pad": pad}


def _s_avg_pool(rng):
    H, W, K, stride, pad = _window_geometry(rng, pool=True)
    N, C = int(rng.integers(1, 3)), int(rng.integers(1, 3))
    return {"x": rng.normal(size=(N, C, H, W)), "kernel": K, "stride": stride, "pad": pad}


def _s_batchnorm(rng):
    if rng.random() < 0.5:
        N, D = int(rng.integers(2, 6)), int(rng.integers(1, 4))
        shape = (N, D)
    else:
        D = int(rng.integers(1, 3))
        shape = (int(rng.integers(1, 3)), D, int(rng.integers(1, 3)), int(rng.integers(2, 4)))
    x = rng.normal(0.0, 1.0, size=shape) * rng.uniform(0.5, 2.0) + rng.normal()
    return {"x": x, "gamma": rng.normal(1.0, 0.5, size=D), "beta": rng.normal(size=D),
            "eps": float(rng.choice([1e-5, 1e-3, 0.1]))}


def _s_dropout(rng):
    shape = _any_shape(rng)
    while int(np.prod(shape)) < 2:
        shape = _any_shape(rng)
    mask = (rng.random(shape) < 0.5).astype(float)
    mask.flat[0], mask.flat[-1] = 0.0, 1.0  # both values present
    return {"x": rng.normal(size=shape), "mask": mask, "p": float(rng.choice([0.0, 0.2, 0.5, 0.9]))}


def _s_l2(rng):
    return {"W": rng.normal(size=_any_shape(rng)), "lam": float(rng.uniform(0.0, 2.0))}


def _grad_list(rng):
    return [rng.normal(0.0, 2.0, size=_any_shape(rng)) for _ in range(int(rng.integers(1, 4)))]


def _s_clip_norm(rng):
    grads = _grad_list(rng)
    norm = float(np.sqrt(sum(np.sum(g * g) for g in grads)))
    factor = float(rng.choice([0.3, 0.9, 1.5]))  # below, near and above the threshold
    return {"grads": grads, "max_norm": max(norm * factor, 1e-3)}


def _s_clip_value(rng):
    return {"grads": _grad_list(rng), "clip": float(rng.uniform(0.1, 2.0))}


OPT_HYPERS = {
    "sgd": {"lr": (1e-3, 0.5)},
    "momentum": {"lr": (1e-3, 0.5), "momentum": (0.0, 0.99)},
    "adagrad": {"lr": (1e-3, 0.5), "eps": (1e-8, 1e-6)},
    "rmsprop": {"lr": (1e-3, 0.5), "decay": (0.5, 0.999), "eps": (1e-8, 1e-6)},
    "adam": {"lr": (1e-3, 0.5), "beta1": (0.5, 0.95), "beta2": (0.9, 0.9999), "eps": (1e-8, 1e-6)},
}


def _s_optimizer(name):
    def sample(rng):
        shape = _any_shape(rng)
        steps = 5
        hyper = {k: float(rng.uniform(*r)) for k, r in OPT_HYPERS[name].items()}
        return {"w": rng.normal(size=shape), "grads": [rng.normal(size=shape) for _ in range(steps)], "hyper": hyper}

    return sample


#: Shapes on which init schemes are checked: dense and conv with fan_in != fan_out,
#: so Glorot, LeCun and He give different variances.
INIT_SHAPES = ((300, 200), (64, 32, 3, 3))


def _s_init(rng):
    return {"shape": INIT_SHAPES[int(rng.integers(0, len(INIT_SHAPES)))], "seed": int(rng.integers(0, 2**31))}


def _mlp_kink_distance(sample) -> float:
    if sample["hidden"] != "relu" or len(sample["params"]) < 2:
        return float("inf")
    a, d = sample["X"], float("inf")
    for W, b in sample["params"][:-1]:
        z = a @ W + b
        d = min(d, _min_abs(z))
        a = np.maximum(z, 0.0)
    return d


def _s_mlp(rng):
    for _ in range(1000):
        L = int(rng.integers(1, 5))
        widths = [int(rng.integers(1, 5)) for _ in range(L + 1)]
        N = int(rng.integers(1, 5))
        hidden = str(rng.choice(["sigmoid", "tanh", "relu"]))
        output = str(rng.choice(["identity_mse", "sigmoid_mse", "softmax_cross_entropy"]))
        params = [(rng.normal(0, 1.0 / np.sqrt(widths[l]), size=(widths[l], widths[l + 1])), rng.normal(0, 0.5, size=widths[l + 1]))
                  for l in range(L)]
        X = rng.normal(size=(N, widths[0]))
        K = widths[-1]
        T = rng.integers(0, K, size=N) if output == "softmax_cross_entropy" else rng.normal(size=(N, K))
        s = {"params": params, "X": X, "T": T, "hidden": hidden, "output": output}
        if _mlp_kink_distance(s) > KINK_MARGIN:
            return s
    raise RuntimeError("could not draw an MLP sample away from relu's kink")  # pragma: no cover


def _s_perceptron(rng):
    D = int(rng.integers(1, 5))
    w, x = rng.normal(size=D), rng.normal(size=D)
    b = float(rng.normal())
    if rng.random() < 0.2:  # exactly on the boundary: step(0) = 0, so y = 0
        # quarter-integers: every product and partial sum of w·x is exact, so w·x + b == 0 in any summation
        # order (b = −fl(w·x) of other floats leaves a rounding error whose sign depends on the order)
        w, x = rng.integers(-8, 9, size=D) / 4.0, rng.integers(-8, 9, size=D) / 4.0
        b = -float(w @ x)
    return {"w": w, "b": b, "x": x, "t": float(rng.integers(0, 2)), "lr": float(rng.uniform(0.1, 1.0))}


# --------------------------------------------------------------------------- entries
X_ANY = Arg("x", "input", True, "any shape")
_same = lambda s: np.shape(s["x"])  # noqa: E731
_scalar = lambda s: ()  # noqa: E731


def _conv_out(s):
    N, _, H, W = np.shape(s["x"])
    F, _, KH, KW = np.shape(s["W"])
    return (N, F, _out(H, KH, s["stride"], s["pad"]), _out(W, KW, s["stride"], s["pad"]))


def _pool_out(s):
    N, C, H, W = np.shape(s["x"])
    k, st, p = s["kernel"], s["stride"], s["pad"]
    return (N, C, _out(H, k, st, p), _out(W, k, st, p))


_POOL_ARGS = (Arg("x", "input", True, "(N, C, H, W)"), Arg("kernel", "hyper"), Arg("stride", "hyper"), Arg("pad", "hyper"))
_POOL_HYPERS = (Hyper("kernel", 1, integer=True), Hyper("stride", 1, integer=True),
                Hyper("pad", 0, integer=True, doc="pad <= kernel//2"))
_POOL_RULE = "x (N,C,H,W) -> (N,C,OH,OW), OH = (H+2·pad-kernel)//stride+1, pad <= kernel//2"

OPS: tuple[OpSpec, ...] = (
    OpSpec("sigmoid", "differentiable", "activations", "logistic sigmoid 1/(1+e^-x)", (X_ANY,),
           ("sigmoid_forward", "sigmoid_backward"), "y has the shape of x", _s_elementwise, _same,
           notes="stable for |x| = 1000"),
    OpSpec("tanh", "differentiable", "activations", "hyperbolic tangent", (X_ANY,),
           ("tanh_forward", "tanh_backward"), "y has the shape of x", _s_elementwise, _same),
    OpSpec("relu", "differentiable", "activations", "max(x, 0)", (X_ANY,), ("relu_forward", "relu_backward"),
           "y has the shape of x", _s_relu, _same,
           kinks=(Kink("x", "x == 0", "relu'(0) = 0", lambda s: _min_abs(s["x"])),),
           conventions=("relu'(0) = 0",)),
    OpSpec("step", "function", "activations", "Heaviside step of the perceptron: 1.0 where x > 0 else 0.0",
           (Arg("x", "input", False, "any shape"),), ("step_forward",), "y has the shape of x", _s_step, _same,
           kinks=(Kink("x", "x == 0", "step(0) = 0; no gradient (not used in backprop)", lambda s: _min_abs(s["x"])),),
           conventions=("step(0) = 0",)),
    OpSpec("softmax", "differentiable", "activations", "softmax over the last axis",
           (Arg("x", "input", True, "(..., K)"),), ("softmax_forward", "softmax_backward"),
           "y has the shape of x; rows sum to 1", _s_softmax, _same),
    OpSpec("affine", "differentiable", "affine", "x @ W + b",
           (Arg("x", "input", True, "(N, D)"), Arg("W", "param", True, "(D, M)"), Arg("b", "param", True, "(M,)")),
           ("affine_forward", "affine_backward"), "x (N,D), W (D,M), b (M,) -> (N,M)", _s_affine,
           lambda s: (np.shape(s["x"])[0], np.shape(s["W"])[1])),
    OpSpec("mse", "loss", "losses", "0.5·Σ(y−t)²/N",
           (Arg("y", "input", True, "(N, K)"), Arg("t", "target", False, "(N, K)")),
           ("mse_forward", "mse_backward"), "y, t (N,K) -> float", _s_mse, _scalar),
    OpSpec("cross_entropy", "loss", "losses", "−Σ t·log p / N",
           (Arg("p", "input", True, "(N, K) probabilities"), Arg("t", "target", False, "(N, K) one-hot")),
           ("cross_entropy_forward", "cross_entropy_backward"), "p, t (N,K) -> float", _s_cross_entropy, _scalar,
           domain="p in (0, 1]; t in [0, 1]"),
    OpSpec("softmax_cross_entropy", "loss", "losses", "fused softmax + cross-entropy from logits, mean over N",
           (Arg("z", "input", True, "(N, K) logits"), Arg("labels", "labels", False, "(N,) ints in [0, K)")),
           ("softmax_cross_entropy_forward", "softmax_cross_entropy_backward"), "z (N,K), labels (N,) -> float",
           _s_softmax_cross_entropy, _scalar, conventions=("stable for logits of ±1000",)),
    OpSpec("binary_cross_entropy", "loss", "losses", "binary cross-entropy from logits, mean over N",
           (Arg("z", "input", True, "(N, K) logits"), Arg("t", "target", False, "(N, K) in [0, 1]")),
           ("binary_cross_entropy_forward", "binary_cross_entropy_backward"), "z, t (N,K) -> float",
           _s_binary_cross_entropy, _scalar, domain="t in [0, 1]", conventions=("from logits; stable for ±1000",)),
    OpSpec("conv2d", "differentiable", "conv", "cross-correlation with zero padding (im2col)",
           (Arg("x", "input", True, "(N, C, H, W)"), Arg("W", "param", True, "(F, C, KH, KW)"),
            Arg("b", "param", True, "(F,)"), Arg("stride", "hyper"), Arg("pad", "hyper")),
           ("conv2d_forward", "conv2d_backward"),
           "x (N,C,H,W), W (F,C,KH,KW), b (F,) -> (N,F,OH,OW), OH = (H+2·pad−KH)//stride+1", _s_conv2d, _conv_out,
           hypers=(Hyper("stride", 1, integer=True), Hyper("pad", 0, integer=True)),
           conventions=("cross-correlation (no kernel flip)", "zero padding")),
    OpSpec("max_pool2d", "differentiable", "pooling", "max over square windows", _POOL_ARGS,
           ("max_pool2d_forward", "max_pool2d_backward"), _POOL_RULE, _s_max_pool, _pool_out, hypers=_POOL_HYPERS,
           kinks=(Kink("x", "a tie for the maximum of a window",
                       "the gradient goes to the first maximum in row-major window order", pool_gap),),
           conventions=("padding never wins (it is -inf)", "a tie sends the gradient to the first maximum")),
    OpSpec("avg_pool2d", "differentiable", "pooling", "mean over square windows", _POOL_ARGS,
           ("avg_pool2d_forward", "avg_pool2d_backward"), _POOL_RULE, _s_avg_pool, _pool_out, hypers=_POOL_HYPERS,
           conventions=("zero padding counts in the divisor (kernel²)",)),
    OpSpec("batchnorm", "differentiable", "normalization", "training-mode batch norm, biased variance",
           (Arg("x", "input", True, "(N, D) or (N, C, H, W)"), Arg("gamma", "param", True, "(D,) or (C,)"),
            Arg("beta", "param", True, "(D,) or (C,)"), Arg("eps", "hyper")),
           ("batchnorm_forward", "batchnorm_backward"), "y has the shape of x; statistics per feature/channel",
           _s_batchnorm, _same, hypers=(Hyper("eps", 0.0, low_open=True, default=1e-5),),
           domain="at least 2 values per normalised group",
           conventions=("batch statistics", "biased variance (divide by m)", "eps inside the square root")),
    OpSpec("dropout", "differentiable", "regularization", "inverted dropout x·mask/(1−p)",
           (Arg("x", "input", True, "any shape"), Arg("mask", "mask", False, "0/1, shape of x"), Arg("p", "hyper")),
           ("dropout_forward", "dropout_backward"), "y has the shape of x", _s_dropout, _same,
           hypers=(Hyper("p", 0.0, 1.0, high_open=True, doc="drop probability"),),
           conventions=("inverted dropout: scale kept units by 1/(1−p)", "p is the drop probability")),
    OpSpec("l2_penalty", "loss", "regularization", "0.5·lam·ΣW²",
           (Arg("W", "param", True, "any shape"), Arg("lam", "hyper")), ("l2_penalty_forward", "l2_penalty_backward"),
           "W (any) -> float", _s_l2, _scalar, hypers=(Hyper("lam", 0.0),)),
    OpSpec("clip_grad_norm", "function", "regularization", "rescale a list of gradients to global L2 norm <= max_norm",
           (Arg("grads", "grads"), Arg("max_norm", "hyper")), ("clip_grad_norm",), "new list, same shapes",
           _s_clip_norm, hypers=(Hyper("max_norm", 0.0, low_open=True),),
           conventions=("global L2 norm over all arrays", "scale exactly max_norm/norm when norm > max_norm")),
    OpSpec("clip_grad_value", "function", "regularization", "clamp every element to [−clip, clip]",
           (Arg("grads", "grads"), Arg("clip", "hyper")), ("clip_grad_value",), "new list, same shapes",
           _s_clip_value, hypers=(Hyper("clip", 0.0, low_open=True),)),
)

_OPT_DOC = {
    "sgd": ("w ← w − lr·g", ()),
    "momentum": ("v ← μv − lr·g, w ← w + v", ("momentum: v ← μv − lr·g, w ← w + v",)),
    "adagrad": ("r ← r + g², w ← w − lr·g/(√r + eps)", ("eps outside the square root (default 1e-7)",)),
    "rmsprop": ("r ← ρr + (1−ρ)g², w ← w − lr·g/(√r + eps)", ("eps outside the square root (default 1e-7)",)),
    "adam": ("bias-corrected Adam", ("the first update uses t = 1", "bias-corrected", "eps outside the square root")),
}
OPS += tuple(
    OpSpec(name, "optimizer", "optim", summary,
           (Arg("w", "param"), Arg("g", "input"), Arg("state", "state")) + tuple(Arg(h, "hyper") for h in OPT_HYPERS[name]),
           (f"{name}_init", f"{name}_update"), "w_new has the shape of w; state is opaque", _s_optimizer(name),
           hypers=tuple(Hyper(h, 0.0, low_open=True) for h in OPT_HYPERS[name]), conventions=conv,
           notes="compared by the parameter trajectory over several steps")
    for name, (summary, conv) in _OPT_DOC.items()
)

_INIT_DOC = {
    "init_xavier_normal": "N(0, 2/(fan_in+fan_out))",
    "init_xavier_uniform": "U[−a, a], a = √(6/(fan_in+fan_out))",
    "init_he_normal": "N(0, 2/fan_in)",
    "init_he_uniform": "U[−a, a], a = √(6/fan_in)",
    "init_lecun_normal": "N(0, 1/fan_in) (what some books call Xavier)",
}
OPS += tuple(
    OpSpec(name, "init", "init", summary, (Arg("shape", "shape"), Arg("rng", "rng")), (name,),
           "returns an array of the given shape", _s_init,
           conventions=("fan_in, fan_out: (D, M) -> D, M; (F, C, KH, KW) -> C·KH·KW, F·KH·KW",
                        "rng is a NumPy Generator; no global random state"))
    for name, summary in _INIT_DOC.items()
)

OPS += (
    OpSpec("mlp", "network", "mlp", "L-layer perceptron: loss and gradients by BP1–BP4",
           (Arg("params", "params", True, "[(W (n_{l-1}, n_l), b (n_l,))]"), Arg("X", "input", False, "(N, D)"),
            Arg("T", "target", False, "(N, K) or labels (N,)"), Arg("hidden", "choice"), Arg("output", "choice")),
           ("mlp_loss_and_grads",), "grads: list of (dW, db) with the shapes of params", _s_mlp,
           kinks=(Kink("params", "a hidden relu pre-activation at 0", "relu'(0) = 0", _mlp_kink_distance),),
           conventions=("hidden in {sigmoid, tanh, relu}", "output in {identity_mse, sigmoid_mse, softmax_cross_entropy}")),
    OpSpec("perceptron", "rule", "perceptron", "one step of the perceptron rule",
           (Arg("w", "param"), Arg("b", "param"), Arg("x", "input"), Arg("t", "target"), Arg("lr", "hyper")),
           ("perceptron_update",), "returns (w (D,), b)", _s_perceptron,
           hypers=(Hyper("lr", 0.0, low_open=True),),
           conventions=("y = step(w·x + b) with step(0) = 0", "w ← w + lr(t − y)x, b ← b + lr(t − y)")),
)

REGISTRY: dict[str, OpSpec] = {op.name: op for op in OPS}
assert len(REGISTRY) == len(OPS), "duplicate op names in the registry"


def get(name: str) -> OpSpec:
    """The entry for ``name``; ``KeyError`` lists the known ops."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown op {name!r}; known ops: {', '.join(REGISTRY)}") from None


def differentiable_ops() -> list[OpSpec]:
    """Ops that have a gradient to check (differentiable, loss, network)."""
    return [op for op in OPS if op.has_gradient]
