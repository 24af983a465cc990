r"""The spec in mpmath for the golden vectors: every op's values at 50 significant digits.

Only :func:`gradspec.vectors.write` imports this module (checking an
implementation from a corpus needs neither mpmath nor SymPy); it lives with
the mpmath oracle, and holds the blocks of the closed forms that each op's record
module writes as its ``<op>_vectors`` (``op.vector_values``). They
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


mpf = mpmath.mpf


def M(a) -> np.ndarray:
    """A float64 array (or number) as an object array of exact mpf values."""
    a = np.asarray(a, dtype=np.float64)
    out = np.empty(a.shape, dtype=object)
    for i in np.ndindex(a.shape):
        out[i] = mpf(float(a[i]))
    return out


def mmap(fn, a):
    out = np.empty(a.shape, dtype=object)
    for i in np.ndindex(a.shape):
        out[i] = fn(a[i])
    return out


def mzeros(shape):
    out = np.empty(shape, dtype=object)
    for i in np.ndindex(shape):
        out[i] = mpf(0)
    return out


def msum(a, axis=None, keepdims=False):
    if axis is None:
        total = mpf(0)
        for v in a.flat:
            total += v
        return total
    return np.sum(a, axis=axis, keepdims=keepdims)


def msigmoid(x):
    return mmap(lambda v: 1 / (1 + mpmath.exp(-v)), x)


def msoftmax(x):
    m = np.max(x, axis=-1, keepdims=True)
    e = mmap(mpmath.exp, x - m)
    return e / np.sum(e, axis=-1, keepdims=True)


def mpad(x, p, fill):
    N, C, H, W = x.shape
    out = np.empty((N, C, H + 2 * p, W + 2 * p), dtype=object)
    for i in np.ndindex(out.shape):
        out[i] = fill
    out[:, :, p:p + H, p:p + W] = x
    return out


def out_size(n, k, s, p):
    return (n + 2 * p - k) // s + 1


def optimizer_trajectory(step, s):
    w, h = M(s["w"]), {k: mpf(float(v)) for k, v in s["hyper"].items()}
    state = {"v": mzeros(w.shape), "cache": mzeros(w.shape), "m": mzeros(w.shape), "t": 0}
    traj = []
    for g in s["grads"]:
        w = step(w, M(g), state, h)
        traj.append(w)
    return {"outputs": {"trajectory": traj}, "gradients": {}}


# --------------------------------------------------------------------------- shared by several ops (each op's closed forms are in its record module)
def values_init(s, A, d, *, numerator: int, fan: str):
    """An initialiser's exact target variance: numerator / fan_in, or numerator / (fan_in + fan_out) for ``fan="sum"``."""
    fan_in, fan_out = init_fans(s["shape"])
    return {"variance": mpf(numerator) / (fan_in + fan_out if fan == "sum" else fan_in)}


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
        v = v if isinstance(v, mpmath.mpf) else mpf(v)
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
