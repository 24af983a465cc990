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


def exact_sum(terms):
    r"""The sum of exact terms :math:`\sum_j m_j 2^{e_j}` (integer pairs ``(m, e)``), rounded once to an mpf at the
    current precision.

    Terms are summed as integers in clusters of nearby magnitudes. A cluster whose largest term lies more than the
    precision + 8 + log2(terms) bits below the smallest exponent of a cluster with a non-zero sum cannot change any
    bit of that sum's rounding except through its sign: it and everything smaller are replaced by one sticky term of
    that sign, below the rounding position. So the result is the correctly rounded exact sum, without integers of the
    width of the exponent range (a term at 2^-10^8 next to one of order 1 would take a 10^8-bit shift).
    """
    terms = [(m, e) for m, e in terms if m]
    if not terms:
        return mpmath.mpf(0)
    prec = mp.prec
    gap = prec + 8 + len(terms).bit_length()
    terms.sort(key=lambda t: t[1] + abs(t[0]).bit_length(), reverse=True)
    clusters, current, low = [], [], None  # each cluster: terms no more than `gap` bits below the previous one
    for m, e in terms:
        if current and e + abs(m).bit_length() < low - gap:
            clusters.append((current, low))
            current, low = [], None
        current.append((m, e))
        low = e if low is None else min(low, e)
    clusters.append((current, low))
    man, exp = 0, 0
    for k, (cluster, low) in enumerate(clusters):
        total = sum(m << (e - low) for m, e in cluster)
        if not total:
            continue
        if man:  # everything from here on is below the rounding position: only its sign counts (a sticky bit)
            man = (man << (gap + 1)) + (1 if total > 0 else -1)
            exp -= gap + 1
            break
        man, exp = total, low
        if k + 1 == len(clusters):
            break
    return mp.make_mpf(from_man_exp(man, exp, prec, "n"))


def float_dot(parts, y):
    r"""Exact :math:`\sum_j d_j y_j` of a float64 array d (given by ``float_parts``) and an mpf array y, rounded once."""
    terms = []
    for m, e, yi in zip(parts[0], parts[1], y.flat):
        sgn, man, ex, _ = yi._mpf_
        if m and man:
            terms.append(((-m if sgn else m) * man, e + ex))
    return exact_sum(terms)


def exact_dot(a: np.ndarray, b: np.ndarray):
    r"""Exact :math:`\sum_j a_j b_j` of two float64 arrays (integer arithmetic), rounded once to an mpf."""
    (ma, ea), (mb, eb) = float_parts(a), float_parts(b)
    return exact_sum((x * y, p + q) for x, p, y, q in zip(ma, ea, mb, eb) if x and y)


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


# --------------------------------------------------------------------------- blocks of the forwards (each op's is in its record module)
def softmax_rows(x):
    e = mexp(x)  # no max-shift: mpf has an unbounded exponent range, e^1000 is finite
    return guard(e / msum(e, axis=-1, keepdims=True), "softmax")


def pad_mp(x, pad, fill):
    if pad == 0:
        return x
    N, C, H, W = x.shape
    out = np.full((N, C, H + 2 * pad, W + 2 * pad), fill, dtype=object)
    out[:, :, pad:pad + H, pad:pad + W] = x
    return out


def out_size(size, k, s, p):
    return (size + 2 * p - k) // s + 1


def windows(xp, KH, KW, stride, OH, OW):
    """(N, C, OH, OW, KH, KW) windows of a padded object array (a copy, not a strided view)."""
    win = sliding_window_view(xp, (KH, KW), axis=(2, 3))[:, :, ::stride, ::stride][:, :, :OH, :OW]
    return np.array(win, dtype=object)


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
