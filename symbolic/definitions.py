r"""Every differentiable op of the registry written directly in SymPy, from its math definition.

One builder per op, ``define_<op>``, which the op's record (``op.sympy``, see
:mod:`gradspec.ops`) refers to. It takes a sample (a dict with the registry's argument names; only its *structure* is
used: shapes, integer hyperparameters, labels, masks) and returns a
:class:`Definition`:

* ``forward``: the op's output as SymPy expressions of symbols, one symbol per
  input element, parameter element, target element and float hyperparameter
  (``eps``, ``p``, ``lam``). Written from the mathematics (softmax as
  :math:`e^{x_i}/\sum_j e^{x_j}`, batchnorm from the mean and the biased
  variance, conv2d as the cross-correlation sum, ...). Nothing here imports or
  calls :mod:`gradspec.reference`.
* ``spec_backward(dy)``: the backward formula *as the spec states it* (the
  reference's docstrings), restated independently in SymPy. The oracle proves
  it equals the VJP that :mod:`gradspec.symbolic.derive` obtains by
  ``sympy.diff`` of the forward; it is never used as the truth.

Piecewise ops state their kink conventions in the definition itself:
relu is ``Piecewise((x, x > 0), (0, True))``, whose derivative SymPy gives as
``Piecewise((1, x > 0), (0, True))``: relu'(0) = 0, the registry's convention.
Max-pool output is a ``Piecewise`` over the window's real elements in
row-major order where element i wins when it is > every earlier element and
>= every later one: ties go to the first maximum and padding (not a
candidate) never wins, the registry's conventions.

The small shapes at which each op is derived (the smallest that exercise
every term: conv2d with stride 2 and padding 1, pooling with overlapping
padded windows, batchnorm in both (N, D) and (N, C, H, W) form) are the
record's ``sample.cases``, and ``sample.draw(case, rng)`` draws values for a
case with the registry's distributions and margins from every kink;
:mod:`gradspec.symbolic.lookup` reads them from the records.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import sympy as sp


#: Float hyperparameters that become SymPy symbols (the others are structural integers).
SYMBOLIC_HYPERS = ("eps", "p", "lam")
#: Argument roles whose arrays become arrays of symbols.
SYMBOLIC_ROLES = ("input", "param", "target")


@dataclass
class Definition:
    """The SymPy statement of one op at one structure.

    ``symbols``: argument name -> object array of Symbols (or one Symbol for a
    float hyperparameter), in the forward's argument order. ``forward``: object
    array of the output's shape, or one expression for a loss. ``diff_args``:
    the differentiable arguments, in order. ``spec_backward(dy)`` returns the
    spec's restated VJP, one object array per differentiable argument.
    ``identity``: how the oracle proves derived == spec: ``"expand"``
    (polynomial identity), ``"simplify"`` or ``"rational"`` (exact at random
    rational points, for ops whose simplification is too slow for the budget).
    """

    symbols: dict
    forward: object
    diff_args: tuple
    spec_backward: Callable
    identity: str = "expand"
    scalar: bool = False
    note: str = ""


# --------------------------------------------------------------------------- helpers
def sym_array(name: str, shape, **assumptions) -> np.ndarray:
    """Object array of Symbols ``name_i_j...`` of the given shape."""
    shape = tuple(int(s) for s in shape)
    out = np.empty(shape, dtype=object)
    for idx in np.ndindex(shape):
        out[idx] = sp.Symbol(name + "".join(f"_{i}" for i in idx), **assumptions)
    return out


def ew(fn, arr) -> np.ndarray:
    """Apply a SymPy function element-wise to an object array."""
    arr = np.asarray(arr, dtype=object)
    out = np.empty(arr.shape, dtype=object)
    for idx in np.ndindex(arr.shape):
        out[idx] = fn(arr[idx])
    return out


def sigmoid(z):
    r""":math:`1/(1 + e^{-z})`."""
    return 1 / (1 + sp.exp(-z))


def relu(z):
    r""":math:`\max(z, 0)` with the derivative's convention at 0 built in: Piecewise((z, z > 0), (0, True))."""
    return sp.Piecewise((z, z > 0), (0, True))


def _shape(v):
    return tuple(np.shape(v))


def _out(size, k, s, p):
    return (size + 2 * p - k) // s + 1


def _window(h0, w0, k_h, k_w, H, W):
    """Real (in-range) positions of a window with top-left (h0, w0), row-major."""
    return [(h0 + a, w0 + c) for a in range(k_h) for c in range(k_w) if 0 <= h0 + a < H and 0 <= w0 + c < W]


# --------------------------------------------------------------------------- elementwise and softmax
def elementwise(s, fn, dfn_spec, identity) -> Definition:
    """The element-wise op ``fn`` at the shape of ``s["x"]``; the spec's derivative is ``dfn_spec``."""
    x = sym_array("x", _shape(s["x"]), real=True)
    return Definition({"x": x}, ew(fn, x), ("x",), lambda dy: (dy * ew(dfn_spec, x),), identity)


def _sigmoid_spec(x):  # sigmoid_backward docstring: dy·σ(x)(1 − σ(x))
    return sigmoid(x) * (1 - sigmoid(x))


def _tanh_spec(x):  # tanh_backward docstring: dy·(1 − tanh² x)
    return 1 - sp.tanh(x) ** 2


def _relu_spec(x):  # relu_backward docstring: dy·[x > 0]
    return sp.Piecewise((1, x > 0), (0, True))


def define_sigmoid(s):
    return elementwise(s, sigmoid, _sigmoid_spec, "simplify")


def define_tanh(s):
    return elementwise(s, sp.tanh, _tanh_spec, "expand")


def define_relu(s):
    return elementwise(s, relu, _relu_spec, "expand")


def define_leaky_relu(s):
    x = sym_array("x", _shape(s["x"]), real=True)
    alpha = sp.Symbol("alpha", nonnegative=True)
    y = ew(lambda z: sp.Piecewise((z, z > 0), (alpha * z, True)), x)

    def spec(dy):  # leaky_relu_backward docstring: dy·(1 if x > 0 else alpha), leaky_relu'(0) = alpha
        return (dy * ew(lambda z: sp.Piecewise((1, z > 0), (alpha, True)), x),)

    return Definition({"x": x, "alpha": alpha}, y, ("x",), spec, "expand")


def define_softmax(s):
    x = sym_array("x", _shape(s["x"]), real=True)
    e = ew(sp.exp, x)
    y = e / e.sum(axis=-1, keepdims=True)

    def spec(dy):  # softmax_backward docstring: y ⊙ (dy − <dy, y>) per row
        return (y * (dy - (dy * y).sum(axis=-1, keepdims=True)),)

    return Definition({"x": x}, y, ("x",), spec, "simplify")


# --------------------------------------------------------------------------- affine
def define_affine(s):
    N, D = _shape(s["x"])
    M = _shape(s["W"])[1]
    x, W, b = sym_array("x", (N, D), real=True), sym_array("W", (D, M), real=True), sym_array("b", (M,), real=True)
    y = np.empty((N, M), dtype=object)
    for n in range(N):
        for m in range(M):
            y[n, m] = sum(x[n, d] * W[d, m] for d in range(D)) + b[m]

    def spec(dy):  # dx = dy Wᵀ, dW = xᵀ dy, db = Σ_n dy
        return dy.dot(W.T), x.T.dot(dy), dy.sum(axis=0)

    return Definition({"x": x, "W": W, "b": b}, y, ("x", "W", "b"), spec)


# --------------------------------------------------------------------------- losses (mean over the batch N)
def define_mse(s):
    N, K = _shape(s["y"])
    y, t = sym_array("y", (N, K), real=True), sym_array("t", (N, K), real=True)
    C = sum((y[i] - t[i]) ** 2 for i in np.ndindex(N, K)) / (2 * N)
    return Definition({"y": y, "t": t}, C, ("y",), lambda dy: (dy * (y - t) / N,), scalar=True)


def define_cross_entropy(s):
    N, K = _shape(s["p"])
    p, t = sym_array("p", (N, K), positive=True), sym_array("t", (N, K), real=True)
    C = -sum(t[i] * sp.log(p[i]) for i in np.ndindex(N, K)) / N
    return Definition({"p": p, "t": t}, C, ("p",), lambda dy: (-dy * t / (N * p),), "simplify", scalar=True)


def define_softmax_cross_entropy(s):
    N, K = _shape(s["z"])
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


def define_binary_cross_entropy(s):
    N, K = _shape(s["z"])
    z, t = sym_array("z", (N, K), real=True), sym_array("t", (N, K), real=True)
    # the textbook definition on probabilities (the reference uses the stable logits form)
    C = -sum(t[i] * sp.log(sigmoid(z[i])) + (1 - t[i]) * sp.log(1 - sigmoid(z[i])) for i in np.ndindex(N, K)) / N
    return Definition({"z": z, "t": t}, C, ("z",), lambda dy: (dy * (ew(sigmoid, z) - t) / N,), "simplify", scalar=True)


def define_l2_penalty(s):
    W = sym_array("W", _shape(s["W"]), real=True)
    lam = sp.Symbol("lam", nonnegative=True)
    C = lam * sum(w ** 2 for w in W.ravel()) / 2
    return Definition({"W": W, "lam": lam}, C, ("W",), lambda dy: (dy * lam * W,), scalar=True)


# --------------------------------------------------------------------------- conv and pooling
def define_conv2d(s):
    N, C, H, Wd = _shape(s["x"])
    F, _, KH, KW = _shape(s["W"])
    st, pd = int(s["stride"]), int(s["pad"])
    OH, OW = _out(H, KH, st, pd), _out(Wd, KW, st, pd)
    x, W, b = sym_array("x", (N, C, H, Wd), real=True), sym_array("W", (F, C, KH, KW), real=True), sym_array("b", (F,), real=True)

    def xpad(n, c, h, w):  # zero padding
        return x[n, c, h, w] if 0 <= h < H and 0 <= w < Wd else 0

    # y_{nfij} = b_f + Σ_{c,k,l} W_{fckl} x^{pad}_{n,c,i·s+k−pad,j·s+l−pad}: cross-correlation, no flip
    y = np.empty((N, F, OH, OW), dtype=object)
    for n, f, i, j in np.ndindex(N, F, OH, OW):
        y[n, f, i, j] = b[f] + sum(W[f, c, k, l] * xpad(n, c, i * st + k - pd, j * st + l - pd)
                                   for c in range(C) for k in range(KH) for l in range(KW))

    def spec(dy):  # conv2d_backward docstring: dW = dYᵀ im2col(x), db = Σ dy, dx = col2im(dY W) (restated as sums)
        dW = np.empty(W.shape, dtype=object)
        for f, c, k, l in np.ndindex(W.shape):
            dW[f, c, k, l] = sum(dy[n, f, i, j] * xpad(n, c, i * st + k - pd, j * st + l - pd)
                                 for n in range(N) for i in range(OH) for j in range(OW))
        db = np.array([sum(dy[:, f].ravel()) for f in range(F)], dtype=object)
        dx = np.zeros(x.shape, dtype=object)
        for n, f, i, j in np.ndindex(N, F, OH, OW):
            for c, k, l in np.ndindex(C, KH, KW):
                h, w = i * st + k - pd, j * st + l - pd
                if 0 <= h < H and 0 <= w < Wd:  # col2im discards what lands in the padding
                    dx[n, c, h, w] = dx[n, c, h, w] + dy[n, f, i, j] * W[f, c, k, l]
        return dx, dW, db

    return Definition({"x": x, "W": W, "b": b}, y, ("x", "W", "b"), spec)


def _pool_geometry(s):
    N, C, H, W = _shape(s["x"])
    k, st, pd = int(s["kernel"]), int(s["stride"]), int(s["pad"])
    return N, C, H, W, k, st, pd, _out(H, k, st, pd), _out(W, k, st, pd)


def first_max(cands):
    """Piecewise max of ``cands`` whose branch i holds when cands[i] is the *first* maximum.

    Branch i: cands[i] > cands[j] for j < i and cands[i] >= cands[j] for j > i.
    """
    if len(cands) == 1:
        return cands[0], [sp.true]
    conds = []
    for i, ci in enumerate(cands):
        conds.append(sp.And(*[ci > cj for cj in cands[:i]], *[ci >= cj for cj in cands[i + 1:]]))
    return sp.Piecewise(*[(c, cond) for c, cond in zip(cands[:-1], conds[:-1])], (cands[-1], True)), conds


def define_max_pool2d(s):
    N, C, H, W, k, st, pd, OH, OW = _pool_geometry(s)
    x = sym_array("x", (N, C, H, W), real=True)
    y = np.empty((N, C, OH, OW), dtype=object)
    routes = {}
    for n, c, i, j in np.ndindex(N, C, OH, OW):
        pos = _window(i * st - pd, j * st - pd, k, k, H, W)  # padding is not a candidate: it never wins
        y[n, c, i, j], conds = first_max([x[n, c, h, w] for h, w in pos])
        routes[(n, c, i, j)] = list(zip(pos, conds))

    def spec(dy):  # max_pool2d_backward docstring: route dy to the first maximum of each window; overlaps add
        dx = np.zeros(x.shape, dtype=object)
        for (n, c, i, j), pc in routes.items():
            for (h, w), cond in pc:
                dx[n, c, h, w] = dx[n, c, h, w] + sp.Piecewise((dy[n, c, i, j], cond), (0, True))
        return (dx,)

    return Definition({"x": x}, y, ("x",), spec, note="ties: the first maximum in row-major window order; padding never wins")


def define_avg_pool2d(s):
    N, C, H, W, k, st, pd, OH, OW = _pool_geometry(s)
    x = sym_array("x", (N, C, H, W), real=True)
    y = np.empty((N, C, OH, OW), dtype=object)
    for n, c, i, j in np.ndindex(N, C, OH, OW):  # zero padding counts in the divisor k²
        y[n, c, i, j] = sum(x[n, c, h, w] for h, w in _window(i * st - pd, j * st - pd, k, k, H, W)) / k**2

    def spec(dy):  # avg_pool2d_backward docstring: spread dy/k² over the window
        dx = np.zeros(x.shape, dtype=object)
        for n, c, i, j in np.ndindex(N, C, OH, OW):
            for h, w in _window(i * st - pd, j * st - pd, k, k, H, W):
                dx[n, c, h, w] = dx[n, c, h, w] + dy[n, c, i, j] / k**2
        return (dx,)

    return Definition({"x": x}, y, ("x",), spec)


# --------------------------------------------------------------------------- normalization, dropout
def define_batchnorm(s):
    shape = _shape(s["x"])
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


def define_dropout(s):
    x = sym_array("x", _shape(s["x"]), real=True)
    mask = np.asarray(s["mask"], dtype=np.float64)
    p = sp.Symbol("p", nonnegative=True)
    msym = np.array([sp.Integer(int(v)) for v in mask.ravel()], dtype=object).reshape(mask.shape)
    return Definition({"x": x, "p": p}, x * msym / (1 - p), ("x",), lambda dy: (dy * msym / (1 - p),))


# --------------------------------------------------------------------------- cases and values
def structure_key(op_name: str, sample: dict) -> tuple:
    """What a derivation depends on: shapes, integer hyperparameters, labels and masks (not float values)."""
    parts = [op_name]
    for k in sorted(sample):
        v = sample[k]
        if k == "labels":
            parts.append((k, tuple(int(a) for a in np.asarray(v).ravel())))
        elif k == "mask":
            parts.append((k, np.asarray(v).shape, np.asarray(v, dtype=np.float64).tobytes()))
        elif isinstance(v, np.ndarray):
            parts.append((k, v.shape))
        elif k in SYMBOLIC_HYPERS:
            parts.append((k, "symbol"))
        else:
            parts.append((k, v))
    return tuple(parts)


# --------------------------------------------------------------------------- the network (op "mlp", row layout)
HIDDEN = {"sigmoid": sigmoid, "tanh": sp.tanh, "relu": relu}


def mlp_definition(widths, N: int, hidden: str, output: str):
    r"""The protocol's MLP loss in SymPy (row layout): :math:`z^l = a^{l-1} W^l + b^l`, hidden σ, mean cost over N.

    Outputs: ``identity_mse`` :math:`\frac{1}{2N}\sum (z^L - T)^2`; ``sigmoid_mse``
    :math:`\frac{1}{2N}\sum (\sigma(z^L) - T)^2`; ``softmax_cross_entropy``
    :math:`-\frac1N \sum_{n,k} Y_{nk}\log \mathrm{softmax}(z^L_n)_k` with Y the one-hot
    labels (a matrix of symbols, given 0/1 values at evaluation).

    Returns (symbols: dict name -> object array, loss expression, parameter names in order).
    """
    L = len(widths) - 1
    X = sym_array("X", (N, widths[0]), real=True)
    T = sym_array("T", (N, widths[-1]), real=True)
    syms = {"X": X}
    names = []
    a = X
    for l in range(1, L + 1):
        W = sym_array(f"W{l}", (widths[l - 1], widths[l]), real=True)
        b = sym_array(f"b{l}", (widths[l],), real=True)
        syms[f"W{l}"], syms[f"b{l}"] = W, b
        names += [f"W{l}", f"b{l}"]
        z = a.dot(W) + b
        a = ew(HIDDEN[hidden], z) if l < L else z
    syms["T"] = T
    if output == "identity_mse":
        C = sum((a[i] - T[i]) ** 2 for i in np.ndindex(a.shape)) / (2 * N)
    elif output == "sigmoid_mse":
        C = sum((sigmoid(a[i]) - T[i]) ** 2 for i in np.ndindex(a.shape)) / (2 * N)
    elif output == "softmax_cross_entropy":
        K = widths[-1]
        C = -sum(T[n, k] * sp.log(sp.exp(a[n, k]) / sum(sp.exp(a[n, j]) for j in range(K)))
                 for n in range(N) for k in range(K)) / N
    else:
        raise ValueError(f"mlp output must be identity_mse, sigmoid_mse or softmax_cross_entropy, got {output!r}")
    return syms, C, names


def define_mlp(s) -> tuple:
    """The network's SymPy loss at the structure of an MLP sample: :func:`mlp_definition` of its widths."""
    widths = [np.shape(s["params"][0][0])[0]] + [np.shape(W)[1] for W, _ in s["params"]]
    return mlp_definition(widths, int(np.shape(s["X"])[0]), s["hidden"], s["output"])
