r"""The spec in mpmath for the golden vectors: every op's values at 50 significant digits.

Only :func:`gradspec.vectors.write` imports this module (checking an
implementation from a corpus needs neither mpmath nor SymPy); it lives with
the mpmath oracle, and each op's record refers to its ``values_<op>``
function here (``op.vector_values``). The functions
work on NumPy object arrays of :class:`mpmath.mpf` (float64 inputs converted
exactly by :func:`M`) and evaluate the closed forms of the reference's
docstrings: the forward's definition (softmax, the binary cross-entropy as
log(1 + e^z) − z·t...) and the VJPs; optimizers, clipping and the perceptron by
their update rules; relu, step and max-pool with the spec's conventions at the
kinks (relu'(0) = 0, step(0) = 0, the first maximum of a window wins, the
padding never wins).
"""
from __future__ import annotations

import mpmath
import numpy as np

from ..reference.init import fans as init_fans
from ..spec import OpSpec

#: Working precision (decimal digits) of every evaluation.
WORKING_DPS = 50
#: Significant digits of the stored decimal strings.
DIGITS = 40


_mpf = mpmath.mpf


def M(a) -> np.ndarray:
    """A float64 array (or number) as an object array of exact mpf values."""
    a = np.asarray(a, dtype=np.float64)
    out = np.empty(a.shape, dtype=object)
    for i in np.ndindex(a.shape):
        out[i] = _mpf(float(a[i]))
    return out


def _map(fn, a):
    out = np.empty(a.shape, dtype=object)
    for i in np.ndindex(a.shape):
        out[i] = fn(a[i])
    return out


def _zeros(shape):
    out = np.empty(shape, dtype=object)
    for i in np.ndindex(shape):
        out[i] = _mpf(0)
    return out


def _sum(a, axis=None, keepdims=False):
    if axis is None:
        total = _mpf(0)
        for v in a.flat:
            total += v
        return total
    return np.sum(a, axis=axis, keepdims=keepdims)


def _sigmoid(x):
    return _map(lambda v: 1 / (1 + mpmath.exp(-v)), x)


def _softmax(x):
    m = np.max(x, axis=-1, keepdims=True)
    e = _map(mpmath.exp, x - m)
    return e / np.sum(e, axis=-1, keepdims=True)


def _pad(x, p, fill):
    N, C, H, W = x.shape
    out = np.empty((N, C, H + 2 * p, W + 2 * p), dtype=object)
    for i in np.ndindex(out.shape):
        out[i] = fill
    out[:, :, p:p + H, p:p + W] = x
    return out


def _out(n, k, s, p):
    return (n + 2 * p - k) // s + 1


def _conv(x, W, b, s, p):
    N, C, H, Wd = x.shape
    F, _, KH, KW = W.shape
    OH, OW = _out(H, KH, s, p), _out(Wd, KW, s, p)
    xp = _pad(x, p, _mpf(0))
    y = _zeros((N, F, OH, OW))
    for n, f, i, j in np.ndindex(N, F, OH, OW):
        win = xp[n, :, i * s:i * s + KH, j * s:j * s + KW]
        y[n, f, i, j] = _sum(win * W[f]) + b[f]
    return y, xp


def _conv_bwd(x, W, b, s, p, dy):
    N, C, H, Wd = x.shape
    F, _, KH, KW = W.shape
    _, xp = _conv(x, W, b, s, p)
    dxp, dW = _zeros(xp.shape), _zeros(W.shape)
    for n, f, i, j in np.ndindex(dy.shape):
        g = dy[n, f, i, j]
        dxp[n, :, i * s:i * s + KH, j * s:j * s + KW] += g * W[f]
        dW[f] += g * xp[n, :, i * s:i * s + KH, j * s:j * s + KW]
    db = np.array([_sum(dy[:, f]) for f in range(F)], dtype=object)
    return dxp[:, :, p:p + H, p:p + Wd], dW, db


def _max_pool(x, k, s, p, dy=None):
    """Forward, and with dy the VJP: the first maximum in row-major order wins; padding never wins."""
    N, C, H, W = x.shape
    OH, OW = _out(H, k, s, p), _out(W, k, s, p)
    xp = _pad(x, p, None)
    y = _zeros((N, C, OH, OW))
    dxp = _zeros(xp.shape)
    for n, c, i, j in np.ndindex(N, C, OH, OW):
        best, where = None, None
        for u in range(k):
            for v in range(k):
                val = xp[n, c, i * s + u, j * s + v]
                if val is not None and (best is None or val > best):
                    best, where = val, (i * s + u, j * s + v)
        y[n, c, i, j] = best
        if dy is not None:
            dxp[n, c, where[0], where[1]] += dy[n, c, i, j]
    return y if dy is None else dxp[:, :, p:p + H, p:p + W]


def _avg_pool(x, k, s, p, dy=None):
    N, C, H, W = x.shape
    OH, OW = _out(H, k, s, p), _out(W, k, s, p)
    xp = _pad(x, p, _mpf(0))
    y, dxp = _zeros((N, C, OH, OW)), _zeros(xp.shape)
    for n, c, i, j in np.ndindex(N, C, OH, OW):
        y[n, c, i, j] = _sum(xp[n, c, i * s:i * s + k, j * s:j * s + k]) / (k * k)
        if dy is not None:
            dxp[n, c, i * s:i * s + k, j * s:j * s + k] += dy[n, c, i, j] / (k * k)
    return y if dy is None else dxp[:, :, p:p + H, p:p + W]


def _bn(x, gamma, beta, eps, dy=None):
    axes = (0,) if x.ndim == 2 else (0, 2, 3)
    shape = (1, -1) if x.ndim == 2 else (1, -1, 1, 1)
    m = int(np.prod([x.shape[a] for a in axes]))
    mu = np.sum(x, axis=axes, keepdims=True) / m
    xc = x - mu
    var = np.sum(xc * xc, axis=axes, keepdims=True) / m
    inv = _map(lambda v: 1 / mpmath.sqrt(v + eps), var)
    xhat = xc * inv
    g, bt = gamma.reshape(shape), beta.reshape(shape)
    if dy is None:
        return g * xhat + bt
    dxhat = dy * g
    dx = (inv / m) * (m * dxhat - np.sum(dxhat, axis=axes, keepdims=True)
                      - xhat * np.sum(dxhat * xhat, axis=axes, keepdims=True))
    return dx, np.sum(dy * xhat, axis=axes), np.sum(dy, axis=axes)


def _mlp(params, X, T, hidden, output):
    act = {"sigmoid": _sigmoid, "tanh": lambda z: _map(mpmath.tanh, z),
           "relu": lambda z: _map(lambda v: v if v > 0 else _mpf(0), z)}[hidden]

    def prime(z):
        if hidden == "sigmoid":
            s = _sigmoid(z)
            return s * (1 - s)
        if hidden == "tanh":
            return _map(lambda v: 1 - mpmath.tanh(v) ** 2, z)
        return _map(lambda v: _mpf(1) if v > 0 else _mpf(0), z)

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
        y = _softmax(zL)
        labels = np.asarray(T, dtype=np.int64)
        loss = _sum(np.array([-mpmath.log(y[n, labels[n]]) for n in range(N)], dtype=object)) / N
        delta = y.copy()
        for n in range(N):
            delta[n, labels[n]] -= 1
    else:
        aL = zL if output == "identity_mse" else _sigmoid(zL)
        r = aL - T
        loss = _sum(r * r) / (2 * N)
        delta = r if output == "identity_mse" else r * aL * (1 - aL)
    delta = delta / N  # BP1 with the 1/N of the mean cost
    grads = [None] * len(params)
    for l in range(len(params) - 1, -1, -1):
        grads[l] = (acts[l].T.dot(delta), np.sum(delta, axis=0))  # BP4, BP3
        if l > 0:
            delta = delta.dot(params[l][0].T) * prime(zs[l - 1])  # BP2
    return loss, grads


def _sgd_step(w, g, state, h):
    return w - h["lr"] * g


def _momentum_step(w, g, state, h):
    state["v"] = h["momentum"] * state["v"] - h["lr"] * g
    return w + state["v"]


def _adagrad_step(w, g, state, h):
    state["cache"] = state["cache"] + g * g
    return w - h["lr"] * g / (_map(mpmath.sqrt, state["cache"]) + h["eps"])


def _rmsprop_step(w, g, state, h):
    state["cache"] = h["decay"] * state["cache"] + (1 - h["decay"]) * g * g
    return w - h["lr"] * g / (_map(mpmath.sqrt, state["cache"]) + h["eps"])


def _adam_step(w, g, state, h):
    state["t"] += 1
    t = state["t"]
    state["m"] = h["beta1"] * state["m"] + (1 - h["beta1"]) * g
    state["v"] = h["beta2"] * state["v"] + (1 - h["beta2"]) * g * g
    mh = state["m"] / (1 - h["beta1"] ** t)
    vh = state["v"] / (1 - h["beta2"] ** t)
    return w - h["lr"] * mh / (_map(mpmath.sqrt, vh) + h["eps"])


def _trajectory(step, s):
    w, h = M(s["w"]), {k: _mpf(float(v)) for k, v in s["hyper"].items()}
    state = {"v": _zeros(w.shape), "cache": _zeros(w.shape), "m": _zeros(w.shape), "t": 0}
    traj = []
    for g in s["grads"]:
        w = step(w, M(g), state, h)
        traj.append(w)
    return {"outputs": {"trajectory": traj}, "gradients": {}}


# --------------------------------------------------------------------------- each op's closed forms
# ``values_<op>(s, A, d)``: ``s`` the float64 sample, ``A`` the same with every float array as mpf, ``d`` the
# cotangent as mpf (None for ops without a gradient). Each op's record refers to its function (``vector_values``).
def values_sigmoid(s, A, d):
    y = _sigmoid(A["x"])
    return {"outputs": {"forward": y}, "gradients": {"x": d * y * (1 - y)}}


def values_tanh(s, A, d):
    y = _map(mpmath.tanh, A["x"])
    return {"outputs": {"forward": y}, "gradients": {"x": d * (1 - y * y)}}


def values_relu(s, A, d):
    pos = _map(lambda v: v > 0, A["x"]).astype(bool)
    return {"outputs": {"forward": _map(lambda v: v if v > 0 else _mpf(0), A["x"])},
            "gradients": {"x": np.where(pos, d, _mpf(0))}}


def values_leaky_relu(s, A, d):
    pos = _map(lambda v: v > 0, A["x"]).astype(bool)
    a = _mpf(s["alpha"])
    return {"outputs": {"forward": _map(lambda v: v if v > 0 else a * v, A["x"])},
            "gradients": {"x": np.where(pos, d, a * d)}}


def values_step(s, A, d):
    return {"outputs": {"output": _map(lambda v: _mpf(1) if v > 0 else _mpf(0), A["x"])}, "gradients": {}}


def values_softmax(s, A, d):
    y = _softmax(A["x"])
    return {"outputs": {"forward": y}, "gradients": {"x": y * (d - np.sum(d * y, axis=-1, keepdims=True))}}


def values_affine(s, A, d):
    x, W, b = A["x"], A["W"], A["b"]
    return {"outputs": {"forward": x.dot(W) + b}, "gradients": {"x": d.dot(W.T), "W": x.T.dot(d), "b": np.sum(d, axis=0)}}


def values_mse(s, A, d):
    N = np.shape(s["y"])[0]
    r = A["y"] - A["t"]
    return {"outputs": {"forward": _sum(r * r) / (2 * N)}, "gradients": {"y": d * r / N}}


def values_cross_entropy(s, A, d):
    N = np.shape(s["p"])[0]
    p, t = A["p"], A["t"]
    return {"outputs": {"forward": -_sum(t * _map(mpmath.log, p)) / N}, "gradients": {"p": -d * t / (p * N)}}


def values_softmax_cross_entropy(s, A, d):
    N = np.shape(s["z"])[0]
    y = _softmax(A["z"])
    lab = np.asarray(s["labels"], dtype=np.int64)
    loss = _sum(np.array([-mpmath.log(y[i, lab[i]]) for i in range(N)], dtype=object)) / N
    g = y.copy()
    for i in range(N):
        g[i, lab[i]] -= 1
    return {"outputs": {"forward": loss}, "gradients": {"z": d * g / N}}


def values_binary_cross_entropy(s, A, d):
    N = np.shape(s["z"])[0]
    z, t = A["z"], A["t"]
    terms = _map(lambda v: mpmath.log(1 + mpmath.exp(v)), z) - z * t
    return {"outputs": {"forward": _sum(terms) / N}, "gradients": {"z": d * (_sigmoid(z) - t) / N}}


def values_conv2d(s, A, d):
    st, p = int(s["stride"]), int(s["pad"])
    y, _ = _conv(A["x"], A["W"], A["b"], st, p)
    dx, dW, db = _conv_bwd(A["x"], A["W"], A["b"], st, p, d)
    return {"outputs": {"forward": y}, "gradients": {"x": dx, "W": dW, "b": db}}


def _pool_values(fn, s, A, d):
    k, st, p = int(s["kernel"]), int(s["stride"]), int(s["pad"])
    return {"outputs": {"forward": fn(A["x"], k, st, p)}, "gradients": {"x": fn(A["x"], k, st, p, d)}}


def values_max_pool2d(s, A, d):
    return _pool_values(_max_pool, s, A, d)


def values_avg_pool2d(s, A, d):
    return _pool_values(_avg_pool, s, A, d)


def values_batchnorm(s, A, d):
    eps = _mpf(float(s["eps"]))
    dx, dg, db = _bn(A["x"], A["gamma"], A["beta"], eps, d)
    return {"outputs": {"forward": _bn(A["x"], A["gamma"], A["beta"], eps)}, "gradients": {"x": dx, "gamma": dg, "beta": db}}


def values_dropout(s, A, d):
    keep = 1 - _mpf(float(s["p"]))
    return {"outputs": {"forward": A["x"] * A["mask"] / keep}, "gradients": {"x": d * A["mask"] / keep}}


def values_l2_penalty(s, A, d):
    lam = _mpf(float(s["lam"]))
    return {"outputs": {"forward": lam * _sum(A["W"] * A["W"]) / 2}, "gradients": {"W": d * lam * A["W"]}}


def values_clip_grad_norm(s, A, d):
    gs = [M(g) for g in s["grads"]]
    norm = mpmath.sqrt(sum((_sum(g * g) for g in gs), _mpf(0)))
    mx = _mpf(float(s["max_norm"]))
    return {"outputs": {"output": [g * (mx / norm) if norm > mx else g for g in gs]}, "gradients": {}}


def values_clip_grad_value(s, A, d):
    c = _mpf(float(s["clip"]))
    return {"outputs": {"output": [_map(lambda v: min(max(v, -c), c), M(g)) for g in s["grads"]]}, "gradients": {}}


def values_sgd(s, A, d):
    return _trajectory(_sgd_step, s)


def values_momentum(s, A, d):
    return _trajectory(_momentum_step, s)


def values_adagrad(s, A, d):
    return _trajectory(_adagrad_step, s)


def values_rmsprop(s, A, d):
    return _trajectory(_rmsprop_step, s)


def values_adam(s, A, d):
    return _trajectory(_adam_step, s)


def values_mlp(s, A, d):
    params = [(M(W), M(b)) for W, b in s["params"]]
    T = s["T"] if s["output"] == "softmax_cross_entropy" else M(s["T"])
    loss, grads = _mlp(params, M(s["X"]), T, s["hidden"], s["output"])
    return {"outputs": {"loss": loss}, "gradients": {"params": [[dW, db] for dW, db in grads]}}


def values_perceptron(s, A, d):
    w, x = M(s["w"]), M(s["x"])
    b, t, lr = _mpf(float(s["b"])), _mpf(float(s["t"])), _mpf(float(s["lr"]))
    a = _sum(w * x) + b
    y = _mpf(1) if a > 0 else _mpf(0)  # step(0) = 0
    return {"outputs": {"output": [w + lr * (t - y) * x, b + lr * (t - y)]}, "gradients": {}}


def values_init(s, A, d, *, numerator: int, fan: str):
    """An initialiser's exact target variance: numerator / fan_in, or numerator / (fan_in + fan_out) for ``fan="sum"``."""
    fan_in, fan_out = init_fans(s["shape"])
    return {"variance": _mpf(numerator) / (fan_in + fan_out if fan == "sum" else fan_in)}


def spec_values(op: OpSpec, s: dict, dy=None) -> dict:
    """The spec's exact values on sample ``s`` (mpf object arrays), at ``WORKING_DPS`` digits.

    Returns ``{"outputs": {...}, "gradients": {...}}`` in the corpus' sections (an initialiser:
    ``{"variance": ...}``), from the op record's ``vector_values``.

    Shapes
    ------
    ``s`` holds the op's arguments as the registry draws them (see
    :mod:`gradspec.registry`); ``dy`` has the forward output's shape (a
    0-d array for losses).
    """
    if op.vector_values is None:
        raise ValueError(f"vectors: no high-precision definition for op {op.name!r}")
    with mpmath.workdps(WORKING_DPS):
        A = {k: (M(v) if isinstance(v, np.ndarray) and v.dtype.kind == "f" else v) for k, v in s.items()}
        d = M(dy) if dy is not None else None
        return op.vector_values(s, A, d)


# =========================================================================== encoding
def dec(v) -> str:
    """A decimal string of ``DIGITS`` significant digits ("0" for zero)."""
    with mpmath.workdps(WORKING_DPS):
        v = v if isinstance(v, mpmath.mpf) else _mpf(v)
        if v == 0:
            return "0"
        return mpmath.nstr(v, DIGITS, strip_zeros=False, min_fixed=1, max_fixed=0)


def enc_array(a) -> dict:
    """``{"dtype", "shape", "data"}`` of an array: int64 as JSON integers, floats as decimal strings."""
    a = a if isinstance(a, np.ndarray) else np.asarray(a, dtype=object)
    if a.dtype.kind in "iu":
        return {"dtype": "int64", "shape": list(a.shape), "data": [int(v) for v in a.ravel()]}
    return {"dtype": "float64", "shape": list(a.shape), "data": [dec(v) for v in a.ravel()]}


def enc(v):
    """Encode a sample value: arrays and floats as decimal arrays, ints and strings as JSON, lists recursively."""
    if isinstance(v, (list, tuple)):
        return [enc(e) for e in v]
    if isinstance(v, np.ndarray):
        return enc_array(v)
    if isinstance(v, (bool, np.bool_)):
        raise TypeError("booleans are not part of the corpus")
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, str):
        return v
    if isinstance(v, dict):
        return {k: enc(e) for k, e in v.items()}
    if isinstance(v, mpmath.mpf):
        return enc_array(np.array(v, dtype=object))
    return enc_array(np.asarray(float(v)))
