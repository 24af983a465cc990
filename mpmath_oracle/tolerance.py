r"""The float64 tolerance model: a running error bound of the reference's computation graph.

The oracle compares a float64 result :math:`\hat g` with the truth :math:`g`
(the exact derivative at the float64 inputs, known to ~50 digits). The only
legitimate difference is the rounding error of a float64 algorithm, so the
tolerance is a *bound on that error*, computed at the same point alongside
the reference algorithm, element by element — never a fixed rtol/atol.

The model
---------
Every quantity of the reference's forward and backward is carried as a pair
:class:`Bounded` ``(v, e)``: the float64 value :math:`v` the algorithm computes
and a bound :math:`e \ge |v - v^\ast|` on its distance from the exact value
:math:`v^\ast` of the same expression over the reals. Inputs (x, W, dy, ...)
are exact: :math:`e = 0`. Each operation propagates the bound by the standard
model of floating-point arithmetic, :math:`\mathrm{fl}(a \circ b) = (a\circ b)(1+\delta) + \eta`,
:math:`|\delta| \le u = 2^{-53}`, :math:`|\eta| \le \eta_0 = 2^{-1074}` (underflow),
to first order (a running error analysis; Wilkinson 1986, Higham 2002, §3.3):

=====================  ======================================================================
operation              bound on the error of the result
=====================  ======================================================================
:math:`a \pm b`        :math:`e_a + e_b + u|v|`
:math:`a b`            :math:`|a|e_b + |b|e_a + e_a e_b + u|v| + \eta_0`
:math:`a / b`          :math:`(e_a + |v| e_b)/(|b| - e_b) + u|v| + \eta_0`
:math:`\sqrt a`        :math:`e_a/(\sqrt{a} + \sqrt{\max(a - e_a, 0)}) + u|v|`
:math:`\exp a`         :math:`|v|\,\mathrm{expm1}(e_a)(1 + \phi) + \phi|v| + \eta_0`
:math:`\log a`         :math:`e_a/(a - e_a) + \phi|v|`; ``log1p``: :math:`e_a/(1 + a - e_a) + \phi|v|`
:math:`\tanh a`        :math:`e_a + \phi|v|` (tanh is 1-Lipschitz)
max, abs, selection    :math:`e` carried over (1-Lipschitz, exact in float64)
:math:`\sum_{i=1}^n a_i`   :math:`\sum e_i + \gamma_{n-1}\sum|a_i|` (any summation order)
:math:`(AB)_{ij}`      :math:`(|A|E_B + E_A|B| + E_AE_B)_{ij} + \gamma_K (|A||B|)_{ij} + K\eta_0`
=====================  ======================================================================

with :math:`\gamma_n = nu/(1 - nu)` and :math:`\phi = 8u` the error of NumPy's
``exp``, ``log``, ``log1p``, ``tanh`` (at most 4 ulps; glibc and NumPy's SIMD
routines document < 1–4 ulp). The sum and matrix-product bounds hold for
*every* order of summation (pairwise, BLAS blocking, FMA), so they bound any
implementation of the same formula, not just NumPy's.

The per-element tolerance of a checked value with truth :math:`g` is

.. math:: \tau = c\,e + u|g| + \tau_\text{truth} + \eta_0

with the safety factor :math:`c = 2` (:data:`SAFETY`: covers the neglected
second-order terms and the first-order treatment of division and the
elementary functions), :math:`u|g|` for rounding the truth to float64 before
comparing, and :math:`\tau_\text{truth}` the bound of the truth's own error
(:func:`gradspec.mpmath_oracle.truth.truth_error`, about :math:`10^{-50}`
relative). A directional comparison of :math:`\langle \hat g, v\rangle` (computed
exactly from the float64 :math:`\hat g`) with :math:`\langle g, v\rangle` is made
in mpmath, so no rounding of the truth enters: its tolerance is
:math:`(1 + 4nu)\sum_j |v_j|(c\,e_j + \eta_0) + \tau_\text{truth}`.

Ill-conditioned points widen the bound by themselves, because the bound
follows the algorithm: a softmax near one-hot has :math:`dy - \langle dy, y\rangle`
cancelling, and its :math:`e` is relative to :math:`|dy| + |\langle dy, y\rangle|`;
near-constant batch-norm features make :math:`x - \mu` cancel, so :math:`e_{x-\mu}`
is relative to :math:`|x|`, not to the tiny :math:`|x - \mu|`, and the bound of
:math:`\hat x` grows by :math:`|x|/|x - \mu|`; a large sum with cancellation is
bounded relative to :math:`\sum|a_i|`, not to :math:`|\sum a_i|`; the sigmoid
derivative :math:`s(1 - s)` at :math:`|x| \gtrsim 20` loses every digit of
:math:`1 - s` and its bound says so (the absolute error stays ~1e-16·|dy|).

Each op's model mirrors the formula of the reference (``gradspec.reference``),
written once here in :class:`Bounded` arithmetic; pure data movement (im2col,
col2im, pooling windows) reuses the reference's helpers on the value and the
bound arrays, which involves only exact copies and additions of non-negative
bounds. An implementation using a *different* formula with a larger error
than the reference's (say, a one-pass variance :math:`E[x^2] - E[x]^2`) is
outside the model and may be reported: the model certifies the reference
algorithm's accuracy, which is what a float64 backward should achieve.

Shapes
------
:func:`model` takes a registry sample and a cotangent of the output's shape
(a float for losses) and returns bounds of the forward's output shape and of
each differentiable argument's shape.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..reference import conv as _conv, pooling as _pool

U = 2.0 ** -53  #: unit roundoff of float64
ETA = 2.0 ** -1074  #: bound on the absolute error of an underflowing operation
PHI = 8 * U  #: error of exp, log, log1p, tanh (4 ulps)
SAFETY = 2.0  #: multiplies the first-order bound


def gamma(n) -> float:
    r""":math:`\gamma_n = nu/(1 - nu)` (Higham's constant for n roundings)."""
    n = max(int(n), 0)
    if n * U >= 1:
        return float("inf")
    return n * U / (1 - n * U)


class Bounded:
    """A float64 value and a bound on its distance from the exact value of the same expression.

    Constants (Python numbers, float64 arrays) mix in as exact values.
    """

    __slots__ = ("v", "e")
    __array_priority__ = 1000  # numpy arrays defer to Bounded in mixed arithmetic

    def __init__(self, v, e=None):
        self.v = np.asarray(v, dtype=np.float64)
        self.e = np.zeros_like(self.v) if e is None else np.asarray(e, dtype=np.float64)

    @staticmethod
    def of(a) -> "Bounded":
        return a if isinstance(a, Bounded) else Bounded(a)

    # arithmetic -----------------------------------------------------------------
    def __add__(self, o):
        o = Bounded.of(o)
        v = self.v + o.v
        return Bounded(v, self.e + o.e + U * np.abs(v))

    __radd__ = __add__

    def __sub__(self, o):
        o = Bounded.of(o)
        v = self.v - o.v
        return Bounded(v, self.e + o.e + U * np.abs(v))

    def __rsub__(self, o):
        return Bounded.of(o) - self

    def __neg__(self):
        return Bounded(-self.v, self.e)

    def __mul__(self, o):
        o = Bounded.of(o)
        v = self.v * o.v
        return Bounded(v, np.abs(self.v) * o.e + np.abs(o.v) * self.e + self.e * o.e + U * np.abs(v) + ETA)

    __rmul__ = __mul__

    def __truediv__(self, o):
        o = Bounded.of(o)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            v = self.v / o.v
            denom = np.abs(o.v) - o.e
            prop = np.where(denom > 0, (self.e + np.abs(v) * o.e) / np.where(denom > 0, denom, 1.0), np.inf)
            prop = np.where((self.e == 0) & (o.e == 0), 0.0, prop)
        return Bounded(v, prop + U * np.abs(v) + ETA)

    def __rtruediv__(self, o):
        return Bounded.of(o) / self

    # structure (exact) ------------------------------------------------------------
    def map(self, fn) -> "Bounded":
        """Apply a pure data movement (reshape, transpose, indexing, broadcast) to value and bound."""
        return Bounded(fn(self.v), fn(self.e))

    def __getitem__(self, idx):
        return self.map(lambda a: a[idx])

    @property
    def T(self):
        return self.map(lambda a: a.T)

    def reshape(self, *shape):
        return self.map(lambda a: a.reshape(*shape))

    def transpose(self, *axes):
        return self.map(lambda a: a.transpose(*axes))

    @property
    def shape(self):
        return self.v.shape

    def tolerance(self, truth_abs, truth_err=0.0) -> np.ndarray:
        r"""The comparison tolerance :math:`c\,e + u|g| + \tau_\text{truth} + \eta_0`."""
        return SAFETY * self.e + U * np.asarray(truth_abs, dtype=np.float64) + truth_err + ETA


# --------------------------------------------------------------------------- functions
def babs(a: Bounded) -> Bounded:
    return Bounded(np.abs(a.v), a.e)


def bmax0(a: Bounded) -> Bounded:
    return Bounded(np.maximum(a.v, 0.0), a.e)


def bwhere(cond, a, b) -> Bounded:
    a, b = Bounded.of(a), Bounded.of(b)
    return Bounded(np.where(cond, a.v, b.v), np.where(cond, a.e, b.e))


def bexp(a: Bounded) -> Bounded:
    with np.errstate(over="ignore", under="ignore"):
        v = np.exp(a.v)
        return Bounded(v, np.abs(v) * np.expm1(a.e) * (1 + PHI) + PHI * np.abs(v) + ETA)


def blog(a: Bounded) -> Bounded:
    with np.errstate(divide="ignore", invalid="ignore"):
        v = np.log(a.v)
        lo = a.v - a.e
        prop = np.where(a.e == 0, 0.0, np.where(lo > 0, a.e / np.where(lo > 0, lo, 1.0), np.inf))
    return Bounded(v, prop + PHI * np.abs(v))


def blog1p(a: Bounded) -> Bounded:
    with np.errstate(divide="ignore", invalid="ignore"):
        v = np.log1p(a.v)
        lo = 1.0 + a.v - a.e
        prop = np.where(a.e == 0, 0.0, np.where(lo > 0, a.e / np.where(lo > 0, lo, 1.0), np.inf))
    return Bounded(v, prop + PHI * np.abs(v))


def btanh(a: Bounded) -> Bounded:
    v = np.tanh(a.v)
    return Bounded(v, a.e + PHI * np.abs(v))


def bsqrt(a: Bounded) -> Bounded:
    v = np.sqrt(a.v)
    lo = np.sqrt(np.maximum(a.v - a.e, 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        prop = np.where(v + lo > 0, a.e / np.where(v + lo > 0, v + lo, 1.0), np.sqrt(a.e))
    prop = np.where(a.e == 0, 0.0, prop)
    return Bounded(v, prop + U * v)


def bsum(a: Bounded, axis=None, keepdims=False) -> Bounded:
    """Sum with the order-independent bound Σe + γ_{n−1} Σ|a|."""
    n = a.v.size if axis is None else int(np.prod([a.v.shape[i] for i in np.atleast_1d(axis)]))
    v = np.sum(a.v, axis=axis, keepdims=keepdims)
    e = np.sum(a.e, axis=axis, keepdims=keepdims) + gamma(n - 1) * np.sum(np.abs(a.v), axis=axis, keepdims=keepdims)
    return Bounded(v, e)


def bmax(a: Bounded, axis, keepdims=False) -> Bounded:
    return Bounded(np.max(a.v, axis=axis, keepdims=keepdims), np.max(a.e, axis=axis, keepdims=keepdims))


def bmatmul(A, B) -> Bounded:
    """Matrix product with the order-independent bound γ_K |A||B| plus propagation."""
    A, B = Bounded.of(A), Bounded.of(B)
    K = A.v.shape[-1]
    aA, aB = np.abs(A.v), np.abs(B.v)
    e = aA @ B.e + A.e @ aB + A.e @ B.e + gamma(K) * (aA @ aB) + K * ETA
    return Bounded(A.v @ B.v, e)


def bsigmoid(x: Bounded) -> Bounded:
    """The reference's stable sigmoid: e = exp(−|x|); x ≥ 0: 1/(1+e), else e/(1+e)."""
    e = bexp(-babs(x))
    return bwhere(x.v >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def bsoftmax(x: Bounded) -> Bounded:
    """The reference's shifted softmax over the last axis."""
    with np.errstate(over="ignore", under="ignore"):
        z = bexp(x - bmax(x, axis=-1, keepdims=True))
    return z / bsum(z, axis=-1, keepdims=True)


# --------------------------------------------------------------------------- the model of one op (each op's is in its record module)
@dataclass
class Model:
    """Bounds of one op at one point: ``forward`` (output) and ``grads`` (name -> Bounded)."""

    forward: Bounded
    grads: dict


def one_hot(labels, K):
    return np.eye(K)[np.asarray(labels, dtype=np.int64)]


def overlap(k, stride):
    """Most windows of size k (stride) that contain one input position along one axis."""
    return -(-k // stride)


def pool_geometry(s):
    x = s["x"]
    k, st, p = int(s["kernel"]), int(s["stride"]), int(s["pad"])
    return x, k, st, p, _conv.output_size(x.shape[2], k, st, p), _conv.output_size(x.shape[3], k, st, p)


