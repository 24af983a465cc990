r"""Every op's forward in mpmath arithmetic: the specification evaluated at arbitrary precision.

Each op's forward here (its record's ``mp_forward``, see :mod:`gradspec.ops`) takes a *sample dict* (the registry's format,
see :mod:`gradspec.registry`) whose float arrays have been converted to
object arrays of :class:`mpmath.mpf` by :func:`sample_to_mp`, and returns the
op's output as an object array of ``mpf`` (a single ``mpf`` for losses and the
MLP's loss). It evaluates the *mathematical* definition of the op, not the
float64 reference's algorithm (no max-shift in softmax, ``log(1 + e^z)`` for
the binary cross-entropy...), so nothing of the reference's implementation
leaks into the truth.

Precision
---------
Callers evaluate inside ``mpmath.mp.workdps(n)`` (see
:func:`gradspec.mpmath_oracle.truth.working_dps`); nothing here reads or sets the
global precision, and :func:`mp_context` is the one place a precision is set,
always through the context manager, so it never leaks.

Guard
-----
Every helper below (``mexp``, ``mlog``, ``msum``, ``mdot``, ...) and every
forward's result goes through :func:`guard`, which raises
:class:`PrecisionLossError` when any intermediate is not an ``mpf``: a silent
fall-back to a Python or NumPy float (``math.exp``, ``float()``, a float64
array) would round the truth to 16 digits, so it must fail loudly instead of
returning a wrong derivative.

Kinks: piece selection
----------------------
Piecewise ops (relu, max-pool, an MLP with relu hidden units) take a
``pattern``: which piece of the function is active (relu: ``x > 0``; max-pool:
the index of the winning element of each window). With ``pattern=None`` the
forward computes it at the point it is given, *with the registry's
convention at ties* (relu'(0) = 0: a zero input is inactive; the first maximum
in row-major window order wins; the padding never wins) and returns it. The
truth module computes the pattern once at the base point and freezes it for
the displaced points ``x ± h v`` of the difference quotient. Away from a kink
the frozen pattern equals the true one within the (tiny) step, so nothing
changes; exactly on a kink the difference quotient then differentiates the
piece the convention selects, which is the convention's gradient.

Shapes
------
The same as the reference (see :mod:`gradspec.registry`): e.g. conv2d
x (N, C, H, W), W (F, C, KH, KW), b (F,) -> (N, F, OH, OW).
"""
from __future__ import annotations

from typing import Any, Callable

import mpmath
import numpy as np
from mpmath import mp
from mpmath.libmp import from_man_exp
from numpy.lib.stride_tricks import sliding_window_view


#: The mpmath real type every intermediate must have.
MPF = type(mpmath.mpf(1))


class PrecisionLossError(TypeError):
    """An intermediate of a high-precision evaluation is not an mpmath number."""


# --------------------------------------------------------------------------- guard and conversion
def guard(value, where: str):
    """Return ``value`` if it is an ``mpf`` or an object array of ``mpf``; raise otherwise.

    Raises
    ------
    PrecisionLossError
        naming ``where``, the offending element's index, type and value.
    """
    if isinstance(value, np.ndarray):
        if value.dtype != object:
            raise PrecisionLossError(
                f"{where}: got a {value.dtype} array of shape {value.shape}, not mpmath numbers "
                "(a float fall-back would round the truth to 16 digits)")
        if set(map(type, value.flat)) <= {MPF}:  # the fast path: one pass in C
            return value
        for k, e in enumerate(value.flat):
            if type(e) is not MPF:
                idx = tuple(int(i) for i in np.unravel_index(k, value.shape)) if value.ndim else ()
                raise PrecisionLossError(
                    f"{where}: element {list(idx)} is a {type(e).__name__} ({e!r}), not an mpmath mpf "
                    "(a float fall-back would round the truth to 16 digits)")
        return value
    if type(value) is not MPF:
        raise PrecisionLossError(
            f"{where}: got a {type(value).__name__} ({value!r}), not an mpmath mpf "
            "(a float fall-back would round the truth to 16 digits)")
    return value


def float_parts(a: np.ndarray):
    """Integer mantissas and exponents with a = m·2^e exactly (m has at most 53 bits)."""
    m, e = np.frexp(np.asarray(a, dtype=np.float64))
    return (m * 2.0 ** 53).astype(np.int64).ravel().tolist(), (e.astype(np.int64) - 53).ravel().tolist()


def to_mp(a) -> np.ndarray | Any:
    """Exact conversion of a float64 array (or a float) to ``mpf`` (every float64 is exactly an mpf)."""
    if not isinstance(a, np.ndarray):
        return mpmath.mpf(float(a))
    if not np.all(np.isfinite(a)):
        raise ValueError(f"to_mp: only finite floats have an exact mpf value, got {int(np.sum(~np.isfinite(a)))} non-finite")
    make = mp.make_mpf
    out = np.empty(a.size, dtype=object)
    for k, (m, e) in enumerate(zip(*float_parts(a))):
        out[k] = make(from_man_exp(m, e))
    return out.reshape(a.shape)


def shifted(x: np.ndarray, v: np.ndarray, sign: int, k: int) -> np.ndarray:
    """Exact :math:`x + \\text{sign}\\cdot 2^{-k} v` of float64 arrays as mpf (integer arithmetic, no rounding)."""
    (mx, ex), (mv, ev) = float_parts(x), float_parts(v)
    make = mp.make_mpf
    out = np.empty(len(mx), dtype=object)
    for j, (a, p, b, q) in enumerate(zip(mx, ex, mv, ev)):
        q -= k
        if not b:
            out[j] = make(from_man_exp(a, p))
        elif not a:
            out[j] = make(from_man_exp(sign * b, q))
        else:
            E = p if p < q else q
            out[j] = make(from_man_exp((a << (p - E)) + ((sign * b) << (q - E)), E))
    return out.reshape(np.shape(x))


def positive(a: np.ndarray) -> np.ndarray:
    """Boolean array ``a > 0`` of an mpf array, read from the sign and mantissa (exact)."""
    return np.array([not e._mpf_[0] and bool(e._mpf_[1]) for e in a.flat], dtype=bool).reshape(a.shape)


def float_dot(parts, y):
    r"""Exact :math:`\sum_j d_j y_j` of a float64 array d (given by ``float_parts``) and an mpf array y, rounded once."""
    terms = []
    for m, e, yi in zip(parts[0], parts[1], y.flat):
        sgn, man, ex, _ = yi._mpf_
        if m and man:
            terms.append(((-m if sgn else m) * man, e + ex))
    if not terms:
        return mpmath.mpf(0)
    E = min(e for _, e in terms)
    return mpmath.ldexp(mpmath.mpf(sum(t << (e - E) for t, e in terms)), E)


def exact_dot(a: np.ndarray, b: np.ndarray):
    r"""Exact :math:`\sum_j a_j b_j` of two float64 arrays (integer arithmetic), rounded once to an mpf."""
    (ma, ea), (mb, eb) = float_parts(a), float_parts(b)
    terms = [(x * y, p + q) for x, p, y, q in zip(ma, ea, mb, eb) if x and y]
    if not terms:
        return mpmath.mpf(0)
    E = min(e for _, e in terms)
    total = sum(m << (e - E) for m, e in terms)
    return mpmath.ldexp(mpmath.mpf(total), E)


def to_float(a) -> np.ndarray:
    """Round an mpf array (or scalar) to float64, to nearest."""
    if isinstance(a, np.ndarray):
        return np.array([float(e) for e in a.flat], dtype=np.float64).reshape(a.shape)
    return np.float64(float(a))


def _elementwise(fn, name):
    ufunc = np.frompyfunc(fn, 1, 1)

    def apply(a):
        out = ufunc(a)
        if isinstance(a, np.ndarray) and not isinstance(out, np.ndarray):
            out = np.array(out, dtype=object).reshape(a.shape)
        return guard(out, name)

    apply.__name__ = name
    return apply


mexp = _elementwise(lambda v: mp.exp(v), "exp")
mlog = _elementwise(lambda v: mp.log(v), "log")
mlog1p = _elementwise(lambda v: mp.log1p(v), "log1p")
mtanh = _elementwise(lambda v: mp.tanh(v), "tanh")
msqrt = _elementwise(lambda v: mp.sqrt(v), "sqrt")


def zeros(shape) -> np.ndarray:
    return np.full(shape, mpmath.mpf(0), dtype=object)


def msum(a: np.ndarray, axis=None, keepdims: bool = False):
    """Sum of an mpf array (``fsum`` for the total: exact before one rounding)."""
    if axis is None:
        return guard(mp.fsum(a.flat), "sum")
    out = np.sum(a, axis=axis, keepdims=keepdims)
    return guard(out if isinstance(out, np.ndarray) else np.array(out, dtype=object), "sum")


def mdot(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Matrix product of 2-D mpf arrays, each entry by ``mp.fdot`` (one rounding per entry)."""
    n, k = A.shape
    k2, m = B.shape
    if k != k2:
        raise ValueError(f"mdot: inner dimensions differ, got {A.shape} and {B.shape}")
    out = np.empty((n, m), dtype=object)
    cols = [list(B[:, j]) for j in range(m)]
    for i in range(n):
        row = list(A[i])
        for j in range(m):
            out[i, j] = mp.fdot(row, cols[j]) if k else mpmath.mpf(0)
    return guard(out, "matmul")


def inner(a, b):
    """<a, b> of two mpf arrays of the same shape (exact products, one rounding)."""
    return guard(mp.fdot(list(np.ravel(a)), list(np.ravel(b))), "inner product")


# --------------------------------------------------------------------------- the forwards
def sigmoid(s, pattern=None):
    x = s["x"]
    return guard(1 / (1 + mexp(-x)), "sigmoid"), None


def tanh(s, pattern=None):
    return mtanh(s["x"]), None


def relu(s, pattern=None):
    """max(x, 0); pattern = x > 0 (relu'(0) = 0: a zero input is inactive)."""
    x = s["x"]
    if pattern is None:
        pattern = positive(x)
    return guard(np.where(pattern, x, zeros(x.shape)), "relu"), pattern


def leaky_relu(s, pattern=None):
    """x where x > 0, else alpha·x; pattern = x > 0 (leaky_relu'(0) = alpha: a zero input takes the left slope)."""
    x = s["x"]
    if pattern is None:
        pattern = positive(x)
    return guard(np.where(pattern, x, mpmath.mpf(s["alpha"]) * x), "leaky_relu"), pattern


def _softmax(x):
    e = mexp(x)  # no max-shift: mpf has an unbounded exponent range, e^1000 is finite
    return guard(e / msum(e, axis=-1, keepdims=True), "softmax")


def softmax(s, pattern=None):
    return _softmax(s["x"]), None


def affine(s, pattern=None):
    return guard(mdot(s["x"], s["W"]) + s["b"][None, :], "affine"), None


def mse(s, pattern=None):
    r = s["y"] - s["t"]
    N = s["y"].shape[0]
    return guard(msum(r * r) / (2 * N), "mse"), None


def cross_entropy(s, pattern=None):
    p, t = s["p"], s["t"]
    return guard(-msum(t * mlog(p)) / p.shape[0], "cross_entropy"), None


def softmax_cross_entropy(s, pattern=None):
    z, labels = s["z"], np.asarray(s["labels"])
    N = z.shape[0]
    lse = mlog(msum(mexp(z), axis=1))
    picked = np.array([z[n, int(labels[n])] for n in range(N)], dtype=object)
    return guard(msum(lse - picked) / N, "softmax_cross_entropy"), None


def binary_cross_entropy(s, pattern=None):
    r"""C = (1/N) Σ log(1 + e^z) − z t (the same function as −t log σ(z) − (1−t) log(1−σ(z)))."""
    z, t = s["z"], s["t"]
    return guard(msum(mlog1p(mexp(z)) - z * t) / z.shape[0], "binary_cross_entropy"), None


def _pad(x, pad, fill):
    if pad == 0:
        return x
    N, C, H, W = x.shape
    out = np.full((N, C, H + 2 * pad, W + 2 * pad), fill, dtype=object)
    out[:, :, pad:pad + H, pad:pad + W] = x
    return out


def _out(size, k, s, p):
    return (size + 2 * p - k) // s + 1


def _windows(xp, KH, KW, stride, OH, OW):
    """(N, C, OH, OW, KH, KW) windows of a padded object array (a copy, not a strided view)."""
    win = sliding_window_view(xp, (KH, KW), axis=(2, 3))[:, :, ::stride, ::stride][:, :, :OH, :OW]
    return np.array(win, dtype=object)


def conv2d(s, pattern=None):
    r"""y_{nfij} = b_f + Σ_{c,k,l} W_{fckl} x^{pad}_{n,c,is+k,js+l} (cross-correlation, zero padding)."""
    x, Wt, b = s["x"], s["W"], s["b"]
    stride, pad = int(s["stride"]), int(s["pad"])
    N, C, H, W = x.shape
    F, _, KH, KW = Wt.shape
    OH, OW = _out(H, KH, stride, pad), _out(W, KW, stride, pad)
    win = _windows(_pad(x, pad, mpmath.mpf(0)), KH, KW, stride, OH, OW)  # (N, C, OH, OW, KH, KW)
    cols = win.transpose(0, 2, 3, 1, 4, 5).reshape(N * OH * OW, C * KH * KW)
    y = mdot(cols, Wt.reshape(F, -1).T) + b[None, :]
    return guard(y.reshape(N, OH, OW, F).transpose(0, 3, 1, 2).copy(), "conv2d"), None


def _pool_geometry(s):
    k, st, p = int(s["kernel"]), int(s["stride"]), int(s["pad"])
    N, C, H, W = s["x"].shape
    return k, st, p, _out(H, k, st, p), _out(W, k, st, p)


def max_pool2d(s, pattern=None):
    """Window maxima; pattern = flat index of the first maximum of each window (padding never wins)."""
    x = s["x"]
    k, st, p, OH, OW = _pool_geometry(s)
    win = _windows(_pad(x, p, None), k, k, st, OH, OW).reshape(*x.shape[:2], OH, OW, k * k)
    if pattern is None:
        pattern = np.empty(win.shape[:4], dtype=np.int64)
        for idx in np.ndindex(*win.shape[:4]):
            best = None
            for j, v in enumerate(win[idx]):
                if v is not None and (best is None or v > win[idx][best]):  # strict: ties keep the first
                    best = j
            pattern[idx] = best
    y = np.empty(win.shape[:4], dtype=object)
    for idx in np.ndindex(*win.shape[:4]):
        y[idx] = win[idx][pattern[idx]]
    return guard(y, "max_pool2d"), pattern


def avg_pool2d(s, pattern=None):
    x = s["x"]
    k, st, p, OH, OW = _pool_geometry(s)
    win = _windows(_pad(x, p, mpmath.mpf(0)), k, k, st, OH, OW).reshape(*x.shape[:2], OH, OW, k * k)
    return guard(msum(win, axis=-1) / (k * k), "avg_pool2d"), None


def batchnorm(s, pattern=None):
    r"""y = γ (x − μ)/√(σ² + ε) + β, batch statistics, biased variance."""
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


def dropout(s, pattern=None):
    """x·mask/(1 − p); the 0/1 mask stays a float array and selects (x·1 = x, x·0 = 0 exactly)."""
    keep = 1 - mpmath.mpf(float(s["p"]))
    mask = np.asarray(s["mask"], dtype=np.float64)
    return guard(np.where(mask != 0, s["x"], zeros(mask.shape)) / keep, "dropout"), None


def l2_penalty(s, pattern=None):
    W = s["W"]
    return guard(mpmath.mpf(float(s["lam"])) * msum(W * W) / 2, "l2_penalty"), None


def _hidden(name, z, pattern):
    if name == "sigmoid":
        return 1 / (1 + mexp(-z)), None
    if name == "tanh":
        return mtanh(z), None
    if name == "relu":
        if pattern is None:
            pattern = positive(z)
        return np.where(pattern, z, zeros(z.shape)), pattern
    raise ValueError(f"mlp: hidden must be one of ('sigmoid', 'tanh', 'relu'), got {name!r}")


def mlp(s, pattern=None):
    """The mean loss of the L-layer perceptron (row layout); pattern = relu masks of the hidden layers."""
    params, X, T = s["params"], s["X"], s["T"]
    hidden, output = s["hidden"], s["output"]
    L = len(params)
    a = X
    masks = [] if pattern is None else pattern
    for l, (W, b) in enumerate(params):
        z = mdot(a, W) + b[None, :]
        if l < L - 1:
            a, m = _hidden(hidden, z, None if pattern is None else pattern[l])
            if pattern is None:
                masks.append(m)
    if output == "softmax_cross_entropy":
        loss = softmax_cross_entropy({"z": z, "labels": T})[0]
    elif output == "identity_mse":
        loss = mse({"y": z, "t": T})[0]
    elif output == "sigmoid_mse":
        loss = mse({"y": 1 / (1 + mexp(-z)), "t": T})[0]
    else:
        raise ValueError(f"mlp: output must be one of ('identity_mse', 'sigmoid_mse', 'softmax_cross_entropy'), got {output!r}")
    return guard(loss, "mlp"), masks


# --------------------------------------------------------------------------- samples
def sample_to_mp(sample: dict) -> dict:
    """A copy of a registry sample with every float array (and every (W, b) of an MLP) as exact mpf arrays.

    Integer arrays (labels) and hyperparameters are kept as they are.
    """
    out = {}
    for k, v in sample.items():
        if k == "params":
            out[k] = [(to_mp(np.asarray(W, dtype=np.float64)), to_mp(np.asarray(b, dtype=np.float64))) for W, b in v]
        elif k == "mask":  # 0/1 selector, used as a float array (see dropout)
            out[k] = v
        elif isinstance(v, np.ndarray) and v.dtype == np.float64:
            out[k] = to_mp(v)
        else:
            out[k] = v
    return out
