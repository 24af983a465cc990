"""Record of the L-layer perceptron (``gradspec.reference.mlp``)."""
from __future__ import annotations

import numpy as np

from ..spec import Arg, Kink, OpProperty, OpSpec, Ref, Sampler
from ..sampling import KINK_MARGIN, mlp_kink_distance
from .. import reference as ref
from ..reference import mlp as ref_mlp
from ..variants import Catalogue

HIDDEN = ("sigmoid", "tanh", "relu")
OUTPUTS = ("identity_mse", "sigmoid_mse", "softmax_cross_entropy")


def mlp_structure(rng):
    """``(widths, N)``: 1 to 4 layers of widths 1 to 4, a batch of 1 to 4."""
    L = int(rng.integers(1, 5))
    widths = tuple(int(rng.integers(1, 5)) for _ in range(L + 1))
    return widths, int(rng.integers(1, 5))


def mlp_values(case, rng):
    """An MLP sample at ``case = (widths, N)``; the relu pre-activations keep the kink margin."""
    widths, N = case
    hidden = str(rng.choice(HIDDEN))
    output = str(rng.choice(OUTPUTS))
    for _ in range(1000):
        params = [(rng.normal(0, 1.0 / np.sqrt(widths[l]), size=(widths[l], widths[l + 1])),
                   rng.normal(0, 0.5, size=widths[l + 1])) for l in range(len(widths) - 1)]
        X = rng.normal(size=(N, widths[0]))
        if mlp_kink_distance({"params": params, "X": X, "hidden": hidden}) > KINK_MARGIN:
            break
    else:  # pragma: no cover
        raise RuntimeError(f"could not draw an MLP sample {widths}, N={N} away from relu's kink")
    K = widths[-1]
    T = rng.integers(0, K, size=N) if output == "softmax_cross_entropy" else rng.normal(size=(N, K))
    return {"params": params, "X": X, "T": T, "hidden": hidden, "output": output}


# ====================================================================== the ops' pieces for each oracle (named by the records' Refs)


# --------------------------------------------------------------------------- SymPy definitions (the symbolic oracle)
def mlp_sympy(s) -> tuple:
    """The network's SymPy loss at the structure of an MLP sample: :func:`mlp_definition` of its widths."""
    from ..symbolic.definitions import mlp_definition
    widths = [np.shape(s["params"][0][0])[0]] + [np.shape(W)[1] for W, _ in s["params"]]
    return mlp_definition(widths, int(np.shape(s["X"])[0]), s["hidden"], s["output"])


# --------------------------------------------------------------------------- mpmath forwards (the mpmath oracle)
def _mp_hidden(name, z, pattern):
    from ..mpmath_oracle.forward import mexp, mtanh, positive, zeros
    if name == "sigmoid":
        return 1 / (1 + mexp(-z)), None
    if name == "tanh":
        return mtanh(z), None
    if name == "relu":
        if pattern is None:
            pattern = positive(z)
        return np.where(pattern, z, zeros(z.shape)), pattern
    raise ValueError(f"mlp: hidden must be one of ('sigmoid', 'tanh', 'relu'), got {name!r}")


def mlp_mp(s, pattern=None):
    """The mean loss of the L-layer perceptron (row layout); pattern = relu masks of the hidden layers."""
    from ..mpmath_oracle.forward import guard, mdot, mexp
    from .losses import mse_mp
    from .losses import softmax_cross_entropy_mp
    params, X, T = s["params"], s["X"], s["T"]
    hidden, output = s["hidden"], s["output"]
    L = len(params)
    a = X
    masks = [] if pattern is None else pattern
    for l, (W, b) in enumerate(params):
        z = mdot(a, W) + b[None, :]
        if l < L - 1:
            a, m = _mp_hidden(hidden, z, None if pattern is None else pattern[l])
            if pattern is None:
                masks.append(m)
    if output == "softmax_cross_entropy":
        loss = softmax_cross_entropy_mp({"z": z, "labels": T})[0]
    elif output == "identity_mse":
        loss = mse_mp({"y": z, "t": T})[0]
    elif output == "sigmoid_mse":
        loss = mse_mp({"y": 1 / (1 + mexp(-z)), "t": T})[0]
    else:
        raise ValueError(f"mlp: output must be one of ('identity_mse', 'sigmoid_mse', 'softmax_cross_entropy'), got {output!r}")
    return guard(loss, "mlp"), masks


# --------------------------------------------------------------------------- float64 running-error models (the mpmath oracle's tolerance)
def _model_hidden(name, z):
    from ..mpmath_oracle.tolerance import Bounded, bmax0, bsigmoid, btanh
    if name == "sigmoid":
        a = bsigmoid(z)
        return a, a * (1.0 - a)
    if name == "tanh":
        t = btanh(z)
        return t, 1.0 - t * t
    return bmax0(z), Bounded((z.v > 0).astype(np.float64))


def mlp_error_model(s, dy):
    from ..mpmath_oracle.tolerance import Bounded, Model, bexp, blog, bmatmul, bmax, bsigmoid, bsoftmax, bsum, one_hot
    params = [(Bounded(W), Bounded(b)) for W, b in s["params"]]
    X, T, hidden, output = Bounded(s["X"]), s["T"], s["hidden"], s["output"]
    L = len(params)
    a, acts, primes = X, [X], []
    for l, (W, b) in enumerate(params):
        z = bmatmul(a, W) + b
        if l < L - 1:
            a, prime = _model_hidden(hidden, z)
            acts.append(a)
            primes.append(prime)
    N = z.shape[0]
    if output == "softmax_cross_entropy":
        labels = np.asarray(T, dtype=np.int64)
        with np.errstate(over="ignore", under="ignore"):
            m = bmax(z, axis=1)
            lse = m + blog(bsum(bexp(z - m.map(lambda v: v[:, None])), axis=1))
        loss = bsum(lse - z[np.arange(N), labels]) / N
        delta = bsoftmax(z) - one_hot(labels, z.shape[1])
    else:
        aL = z if output == "identity_mse" else bsigmoid(z)
        r = aL - Bounded(T)
        loss = 0.5 * bsum(r * r) / N
        delta = r if output == "identity_mse" else r * (aL * (1.0 - aL))
    delta = delta / N
    grads = {}
    for l in range(L - 1, -1, -1):
        grads[f"W{l + 1}"] = bmatmul(acts[l].T, delta)
        grads[f"b{l + 1}"] = bsum(delta, axis=0)
        if l > 0:
            delta = bmatmul(delta, params[l][0].T) * primes[l - 1]
    return Model(loss, {k: grads[k] for k in sorted(grads, key=lambda n: (int(n[1:]), n[0] == "b"))})


# --------------------------------------------------------------------------- 50-digit closed forms (the golden vectors)
def _vec_mlp(params, X, T, hidden, output):
    import mpmath
    from ..mpmath_oracle.vectors_mp import mmap, mpf, msigmoid, msoftmax, msum
    act = {"sigmoid": msigmoid, "tanh": lambda z: mmap(mpmath.tanh, z),
           "relu": lambda z: mmap(lambda v: v if v > 0 else mpf(0), z)}[hidden]

    def prime(z):
        if hidden == "sigmoid":
            s = msigmoid(z)
            return s * (1 - s)
        if hidden == "tanh":
            return mmap(lambda v: 1 - mpmath.tanh(v) ** 2, z)
        return mmap(lambda v: mpf(1) if v > 0 else mpf(0), z)

    N = X.shape[0]
    a, acts, zs = X, [X], []
    for l, (W, b) in enumerate(params):
        z = a.dot(W) + b
        zs.append(z)
        if l < len(params) - 1:
            a = act(z)
            acts.append(a)
    zL = zs[-1]
    if output == "softmax_cross_entropy":
        y = msoftmax(zL)
        labels = np.asarray(T, dtype=np.int64)
        loss = msum(np.array([-mpmath.log(y[n, labels[n]]) for n in range(N)], dtype=object)) / N
        delta = y.copy()
        for n in range(N):
            delta[n, labels[n]] -= 1
    else:
        aL = zL if output == "identity_mse" else msigmoid(zL)
        r = aL - T
        loss = msum(r * r) / (2 * N)
        delta = r if output == "identity_mse" else r * aL * (1 - aL)
    delta = delta / N  # BP1 with the 1/N of the mean cost
    grads = [None] * len(params)
    for l in range(len(params) - 1, -1, -1):
        grads[l] = (acts[l].T.dot(delta), np.sum(delta, axis=0))  # BP4, BP3
        if l > 0:
            delta = delta.dot(params[l][0].T) * prime(zs[l - 1])  # BP2
    return loss, grads


def mlp_vectors(s, A, d):
    from ..mpmath_oracle.vectors_mp import M
    params = [(M(W), M(b)) for W, b in s["params"]]
    T = s["T"] if s["output"] == "softmax_cross_entropy" else M(s["T"])
    loss, grads = _vec_mlp(params, M(s["X"]), T, s["hidden"], s["output"])
    return {"outputs": {"loss": loss}, "gradients": {"params": [[dW, db] for dW, db in grads]}}


# --------------------------------------------------------------------------- Hypothesis strategies (the property library)
def _st_hidden_inputs(X, params):
    """The input of each layer of a relu network: X, relu(z^1), ..."""
    a, out = X, []
    for W, b in params:
        out.append(a)
        a = np.maximum(a @ W + b, 0.0)
    return out


def _st_fix_bias(pre: np.ndarray, b: float, margin: float) -> float:
    """Move b to the nearest value keeping every pre + b at least ``margin`` from 0."""
    centres = np.sort(-pre)
    intervals = []
    for c in centres:
        lo, hi = c - margin, c + margin
        if intervals and lo <= intervals[-1][1]:
            intervals[-1][1] = max(intervals[-1][1], hi)
        else:
            intervals.append([lo, hi])
    for lo, hi in intervals:
        if lo < b < hi:
            return lo - margin if (b - lo) < (hi - b) else hi + margin
    return b


def mlp_strategy(*args, **kwargs):
    """The Hypothesis strategy ``build(*args, **kwargs)`` below (Hypothesis is imported when called)."""
    import math
    from ..properties.strategies import arrays, seeds, sigmoid_np
    from ..sampling import KINK_MARGIN
    from hypothesis import event
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    @st.composite
    def build(draw, mode, limits=None):
        """``limits``: declared limits of hidden and output, drawn within (``Sampler.strategy_limits``); the
        on_kink mode needs relu hidden units (a sample outside a limit without relu is rejected by the caller)."""
        limits = limits or {}

        def choice(name, options):
            lim = limits.get(name)
            return st.sampled_from([o for o in options if lim is None or lim.allows(o)] or options)

        L = draw(st.integers(1, 5))
        widths = [draw(st.integers(1, 4)) for _ in range(L + 1)]
        N = draw(st.integers(1, 4))
        on_kink = mode == "on_kink"
        hidden = "relu" if on_kink else draw(choice("hidden", ["sigmoid", "tanh", "relu"]))
        output = draw(choice("output", ["identity_mse", "sigmoid_mse", "softmax_cross_entropy"]))
        event(f"mlp depth {L}")
        event(f"mlp hidden {hidden}, output {output}")
        if 1 in widths or N == 1:
            event("mlp: a width of 1 or N = 1")
        if on_kink:  # small integers: every sum is exact, so pre-activations of exactly 0 stay 0 in any order
            ints = lambda shape: draw(hnp.arrays(np.float64, shape, elements=st.integers(-2, 2).map(float), fill=st.nothing()))  # noqa: E731
            X = ints((N, widths[0]))
            params, a = [], X
            for l in range(L):
                W, b = ints((widths[l], widths[l + 1])), ints((widths[l + 1],))
                if l < L - 1:
                    j = draw(st.integers(0, widths[l + 1] - 1))
                    b[j] = -float((a @ W)[0, j])  # unit j of example 0 sits exactly on relu's kink
                z = a @ W + b
                a = np.maximum(z, 0.0)
                params.append((W, b))
            if L > 1:
                event("on kink: a hidden pre-activation exactly 0")
        else:
            X = draw(arrays((N, widths[0]), -2.0, 2.0))
            params, a = [], X
            for l in range(L):
                std = 1.0 / math.sqrt(widths[l])
                W = draw(arrays((widths[l], widths[l + 1]), -2 * std, 2 * std))
                b = draw(arrays((widths[l + 1],), -0.5, 0.5))
                pre = a @ W
                if hidden == "relu" and l < L - 1:
                    for j in range(widths[l + 1]):
                        b[j] = _st_fix_bias(pre[:, j], b[j], 2 * KINK_MARGIN)
                z = pre + b
                a = {"sigmoid": sigmoid_np, "tanh": np.tanh, "relu": lambda v: np.maximum(v, 0.0)}[hidden](z)
                params.append((W, b))
        if not on_kink and hidden == "relu" and L > 1:
            d = min(float(np.min(np.abs(a @ W + b))) for a, (W, b) in zip(_st_hidden_inputs(X, params), params[:-1]))
            if d < 0.2:
                event("near kink: a relu pre-activation within 0.2 of 0")
        K = widths[-1]
        if output == "softmax_cross_entropy":
            T = draw(hnp.arrays(np.int64, (N,), elements=st.integers(0, K - 1), fill=st.nothing()))
        else:
            T = draw(arrays((N, K), -1.0, 1.0)) if output == "identity_mse" else draw(arrays((N, K), 0.0, 1.0))
        return {"params": params, "X": X, "T": T, "hidden": hidden, "output": output, "seed": draw(seeds())}

    return build(*args, **kwargs)


# --------------------------------------------------------------------------- cases exactly on the kinks
def mlp_kink_cases():
    from ..spec import KinkCase
    X = np.array([[0.0, 0.0], [1.0, -0.5], [0.3, 0.8]])
    W1 = np.array([[0.5, -1.0, 0.7], [0.2, 0.4, -0.6]])
    b1 = np.array([0.1, 0.0, -0.2])  # example 0 is all zeros: unit 1's pre-activation is exactly 0
    W2 = np.array([[1.0, -0.5], [0.8, 0.3], [-0.4, 0.9]])
    b2 = np.array([0.05, -0.1])
    return [KinkCase("mlp", "a hidden relu pre-activation exactly 0", "relu'(0) = 0 in BP2",
                 {"params": [(W1, b1), (W2, b2)], "X": X, "T": np.array([[0.5, -1.0], [1.0, 0.0], [0.0, 0.3]]),
                  "hidden": "relu", "output": "identity_mse"}, 9)]


OPS = (
    OpSpec("mlp", "network", "mlp", "L-layer perceptron: loss and gradients by BP1–BP4",
           (Arg("params", "params", True, "[(W (n_{l-1}, n_l), b (n_l,))]"), Arg("X", "input", False, "(N, D)"),
            Arg("T", "target", False, "(N, K) or labels (N,)"), Arg("hidden", "choice", choices=HIDDEN), Arg("output", "choice", choices=OUTPUTS)),
           ("mlp_loss_and_grads",), "grads: list of (dW, db) with the shapes of params",
           Sampler(mlp_structure, mlp_values, Ref(__name__, "mlp_strategy"), ("away", "on_kink"),
                   cases=(((2, 3, 2), 2), ((3, 2), 3), ((2, 2, 2, 2), 1)), strategy_limits=("hidden", "output")),
           kinks=(Kink("params", "a hidden relu pre-activation at 0", "relu'(0) = 0", mlp_kink_distance),),
           conventions=("hidden in {sigmoid, tanh, relu}", "output in {identity_mse, sigmoid_mse, softmax_cross_entropy}"),
           sympy=Ref(__name__, "mlp_sympy"), mp_forward=Ref(__name__, "mlp_mp"),
           error_model=Ref(__name__, "mlp_error_model"), vector_values=Ref(__name__, "mlp_vectors"),
           kink_cases=Ref(__name__, "mlp_kink_cases"),
           variants=Ref(__name__, "CATALOGUE"),
           properties=(OpProperty("gradients_fd64", Ref("gradspec.properties.props", "prop_mlp_gradients_fd64"), weight=0.5),
                       OpProperty("bp1_row", Ref("gradspec.properties.props", "prop_mlp_bp1", (("layout", 'row'),)), requires=('mlp_backprop',), weight=0.5),
                       OpProperty("bp2_row", Ref("gradspec.properties.props", "prop_mlp_bp2", (("layout", 'row'),)), requires=('mlp_backprop',), weight=0.5),
                       OpProperty("bp3_row", Ref("gradspec.properties.props", "prop_mlp_bp3", (("layout", 'row'),)), requires=('mlp_backprop',), weight=0.5),
                       OpProperty("bp4_row", Ref("gradspec.properties.props", "prop_mlp_bp4", (("layout", 'row'),)), requires=('mlp_backprop',), weight=0.5),
                       OpProperty("gradient_flow_row", Ref("gradspec.properties.props", "prop_gradient_flow", (("layout", 'row'),)), requires=('mlp_backprop',)),
                       OpProperty("bp1_column", Ref("gradspec.properties.props", "prop_mlp_bp1", (("layout", 'column'),)), requires=('mlp_backprop',), weight=0.5),
                       OpProperty("bp2_column", Ref("gradspec.properties.props", "prop_mlp_bp2", (("layout", 'column'),)), requires=('mlp_backprop',), weight=0.5),
                       OpProperty("bp3_column", Ref("gradspec.properties.props", "prop_mlp_bp3", (("layout", 'column'),)), requires=('mlp_backprop',), weight=0.5),
                       OpProperty("bp4_column", Ref("gradspec.properties.props", "prop_mlp_bp4", (("layout", 'column'),)), requires=('mlp_backprop',), weight=0.5),
                       OpProperty("gradient_flow_column", Ref("gradspec.properties.props", "prop_gradient_flow", (("layout", 'column'),)), requires=('mlp_backprop',)),
                       OpProperty("layouts_agree", Ref("gradspec.properties.props", "prop_mlp_layouts_agree"), requires=('mlp_col_loss_and_grads',)),
                       OpProperty("relu_convention", Ref("gradspec.properties.props", "prop_mlp_relu_convention"), ('on_kink',)))),
)


# ====================================================================== known wrong variants (the diagnosis and the mutants)
# Known variants of the MLP's backpropagation (BP1–BP4), in both layouts.
CATALOGUE = Catalogue()
C = CATALOGUE


def mlp_variant(no_bp2_prime=False, bias_mean=False, relu_ge=False, no_bp1_prime=False, no_transpose=False, col_no_m=False,
                relu_half=False):
    def prime(name, z):
        if relu_ge and name == "relu":
            return (z >= 0).astype(np.float64)
        if relu_half and name == "relu":
            return np.where(z > 0, 1.0, np.where(z == 0, 0.5, 0.0))
        return ref_mlp.activation_prime(name, z)

    def backprop(params, X, T, hidden, output, layout="row"):
        params, X, T = ref_mlp.check_mlp_args(params, X, T, hidden, output, layout)
        batch_axis = 0 if layout == "row" else 1
        m = X.shape[batch_axis]
        zs, acts = ref_mlp.mlp_forward(params, X, hidden, layout)
        L = len(params)
        loss, delta = ref_mlp.output_and_delta(zs[-1], T, output, batch_axis)
        if no_bp1_prime and output == "sigmoid_mse":
            delta = ref.sigmoid_forward(zs[-1]) - T
        if layout == "row":
            delta = delta / m
        deltas = [None] * L
        deltas[L - 1] = delta
        for l in range(L - 1, 0, -1):
            Wn = params[l][0]
            if no_transpose:
                back = delta @ Wn if layout == "row" else Wn @ delta
            else:
                back = delta @ Wn.T if layout == "row" else Wn.T @ delta
            delta = back if no_bp2_prime else back * prime(hidden, zs[l - 1])
            deltas[l - 1] = delta
        grads = []
        for l in range(L):
            a_in, d = acts[l], deltas[l]
            if layout == "row":
                grads.append((a_in.T @ d, d.mean(axis=0) if bias_mean else d.sum(axis=0)))
            else:
                k = 1 if col_no_m else m
                grads.append((d @ a_in.T / k, d.sum(axis=1, keepdims=True) / m))
        return loss, grads, deltas

    return {"mlp_backprop": backprop,
            "mlp_loss_and_grads": lambda params, X, T, hidden, output: backprop(params, X, T, hidden, output, "row")[:2],
            "mlp_col_loss_and_grads": lambda params, X, T, hidden, output: backprop(params, X, T, hidden, output, "column")[:2]}


C.variant("missing_activation_derivative", "mlp", "BP2 without σ'(z^l): δ^l = (W^(l+1))ᵀ δ^(l+1), the hidden activation's "
          "derivative is missing", mutant="mlp_missing_activation_derivative",
          description="BP2 without σ'(z^l): δ^l = (W^(l+1))ᵀ δ^(l+1)", **mlp_variant(no_bp2_prime=True))
C.variant("bias_grad_averaged", "mlp", "BP3 averages δ over the batch; in the row layout the 1/N is already inside δ, so "
          "db must sum over the batch", mutant="mlp_bias_grad_averaged",
          description="BP3 in the row layout averages δ over the batch (the 1/N is already inside δ)",
          **mlp_variant(bias_mean=True))
C.variant("relu_prime_at_zero_is_one", "mlp", "hidden relu'(0) = 1 (z >= 0); the spec fixes relu'(0) = 0",
          mutant="mlp_relu_prime_at_zero_is_one", description="hidden relu'(0) = 1", **mlp_variant(relu_ge=True))
C.variant("relu_prime_at_zero_is_half", "mlp", "hidden relu'(0) = ½, the mean of the one-sided slopes (autograd's "
          "convention); the spec fixes relu'(0) = 0", **mlp_variant(relu_half=True))
C.variant("missing_activation_derivative", "mlp", "BP1 without σ'(z^L) for the sigmoid output: δ^L = a^L − y",
          mutant="mlp_bp1_missing_output_derivative", description="BP1 for a sigmoid output forgets σ'(z^L): δ^L = a^L − y",
          **mlp_variant(no_bp1_prime=True))
C.variant("transposed_weight", "mlp", "BP2 multiplies δ^(l+1) by W^(l+1) instead of its transpose",
          mutant="mlp_missing_transpose", description="BP2 multiplies by W^(l+1) instead of its transpose",
          **mlp_variant(no_transpose=True))
C.mutant("mlp_column_dW_missing_1_over_m", "mlp", "column layout: dW = δ aᵀ without the 1/m of the mini-batch mean",
         **mlp_variant(col_no_m=True))


def probe_mlp(hidden, output, zero_pre=False):
    def probe(rng):
        widths = [3, 3, 3, 3]
        params = [(rng.normal(0, 0.6, size=(3, 3)), rng.normal(0, 0.5, size=3)) for _ in range(3)]
        X = rng.normal(size=(4, 3))
        if zero_pre:  # example 0 is all zeros and unit 1 has no bias: its pre-activation is exactly 0
            X[0] = 0.0
            params[0][1][1] = 0.0
        T = rng.integers(0, 3, size=4) if output == "softmax_cross_entropy" else rng.normal(size=(4, widths[-1]))
        return {"params": params, "X": X, "T": T, "hidden": hidden, "output": output}

    return probe


C.probe("mlp", probe_mlp("tanh", "sigmoid_mse"))
C.probe("mlp", probe_mlp("relu", "identity_mse", zero_pre=True))

C.bias_sum("mlp", lambda s, key, out: int(np.shape(s["X"])[0]) if key.startswith("db") else None, "the batch")
