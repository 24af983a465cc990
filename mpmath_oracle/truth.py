r"""The ground truth: high-precision numerical differentiation of the mpmath forward.

For an op :math:`y = F(x_1, \dots)`, a cotangent :math:`dy` and one
differentiable argument :math:`x`, the quantity a backward must return is the
vector–Jacobian product :math:`\bar x = J_x^\top dy`, the gradient of the
scalar :math:`f(x) = \langle dy, F(x)\rangle` (for a loss, :math:`f = dy\cdot F`;
for the MLP, :math:`f` is the loss itself). Two truths are computed from
:math:`f` evaluated in mpmath (:mod:`gradspec.mpmath_oracle.forward`) at exactly the
float64 inputs:

* **directional**: :math:`\langle \bar x, v\rangle = \frac{d}{dt} f(x + t v)\big|_{t=0}`
  for a random direction :math:`v`, for any shape, at a cost of two forwards
  per direction whatever the number of elements;
* **element-wise** (small shapes): every :math:`\bar x_j` as the directional
  derivative along the unit vector :math:`e_j`: the full Jacobian–vector
  products, two forwards per element.

The difference quotient
-----------------------
Central difference :math:`D(h) = \frac{f(x + hv) - f(x - hv)}{2h}` with the
binary step :math:`h = 2^{-\lceil \tfrac{d}{2}\log_2 10\rceil}` (about
:math:`10^{-d/2}`, :math:`10^{-25}` for the default :math:`d = 50` digits),
evaluated at a working precision of :math:`w = d + \lceil d/2\rceil + 10`
significant digits (85 for :math:`d = 50`), plus :func:`spread_digits` when
the inputs' magnitudes leave [1e-8, 1e8] (an input of 1e-131 next to inputs
of order 1 needs 131 + 16 more digits to keep its share of the difference).
Its error has two parts:

* truncation :math:`\tfrac{h^2}{6}|f'''(\xi)|`: about :math:`10^{-d}` relative
  for a function whose scale of variation along :math:`v` is 1, and still
  :math:`10^{-d+2k}` when that scale is :math:`10^{-k}` (batch norm with a spread
  of 1e-6: 1e-38 relative);
* rounding :math:`10^{-w} S_f / h = 10^{-d-10} S_f` with :math:`S_f = \sum|dy \odot y|`
  (the points :math:`x \pm hv` are exact: :math:`h` is a power of two and
  :math:`w` digits hold every bit of :math:`x + hv`).

So the truth carries about :math:`d` correct digits; :func:`truth_error`
states the bound used by the oracle, about :math:`10^{-d}|D| + 10^{-d-7}A`
(:math:`A` the absolute scale of the forward's terms), some :math:`10^{-30}`
times a float64 tolerance. ``order=4`` adds
Richardson's extrapolation :math:`(4D(h) - D(2h))/3` (four forwards per
direction) with the error estimate :math:`|D(h) - D(2h)|/3`; the tests use it
to show that the truth agrees with closed-form derivatives to more than 40
digits.

Kinks
-----
The piece pattern of a piecewise op (see :mod:`gradspec.mpmath_oracle.forward`)
is computed once at the base point, with the registry's conventions at ties,
and frozen for every displaced point: exactly on a kink the difference
quotient is the derivative of the conventional piece (relu'(0) = 0, the first
maximum wins), and a difference never straddles a kink.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import mpmath
import numpy as np
from mpmath import mp

from ..spec import OpSpec
from . import forward as F, lookup as L

DEFAULT_DPS = 50


def working_dps(dps: int = DEFAULT_DPS) -> int:
    """Working precision (decimal digits) of the forward evaluations for a truth of ``dps`` digits."""
    return dps + (dps + 1) // 2 + 10


#: Inputs inside [1e-8, 1e8] need no precision beyond working_dps; each decade outside adds a digit.
SPREAD_WINDOW = (1e-8, 1e8)


def spread_digits(*arrays) -> int:
    r"""Extra working digits for inputs of very different magnitudes.

    The step is absolute (:math:`h\max(1, |x_j|)`), so an input (or a cotangent)
    of magnitude :math:`10^{-k}` contributes to :math:`f(x \pm hv)` at
    :math:`10^{-k}` times the scale of the others: its share of the difference
    quotient survives the rounding only with :math:`k` more digits (plus 16
    for a difference of two such floats). Returns 0 when every non-zero
    magnitude lies in :data:`SPREAD_WINDOW`, else the decades outside it + 16.
    """
    mags = [np.abs(np.asarray(a, dtype=np.float64)).ravel() for a in arrays if np.size(a)]
    if not mags:
        return 0
    m = np.concatenate(mags)
    m = m[(m > 0) & np.isfinite(m)]
    if m.size == 0:
        return 0
    lo, hi = float(m.min()), float(m.max())
    # differences of logarithms: the quotient 1e-8 / 5e-324 (a subnormal input) overflows to inf
    extra = (max(0.0, math.log10(SPREAD_WINDOW[0]) - math.log10(lo))
             + max(0.0, math.log10(hi) - math.log10(SPREAD_WINDOW[1])))
    return 0 if extra == 0 else math.ceil(extra) + 16


def float_inputs(sample: dict) -> list:
    """Every float array and float hyperparameter of a sample (the MLP's params included)."""
    out = []
    for k, v in sample.items():
        if k == "params":
            out += [np.asarray(a, dtype=np.float64) for pair in v for a in pair]
        elif isinstance(v, np.ndarray) and v.dtype == np.float64:
            out.append(v)
        elif isinstance(v, float):
            out.append(np.array([v]))
    return out


def step_bits(dps: int = DEFAULT_DPS) -> int:
    """The difference step is 2^-step_bits, about 10^(-dps/2)."""
    return math.ceil(dps / 2 * math.log2(10))


def truth_error(D, A: float, dps: int = DEFAULT_DPS, wdps: int | None = None) -> float:
    r"""Bound on the error of a difference-quotient truth :math:`D`.

    .. math:: 10^{-d}|D| + 10^{-(w - \lceil d/2\rceil - 3)} A

    the first term for the truncation (:math:`h^2 f^{(3)}/6`, relative, see the
    module docstring), the second for the rounding of :math:`f(x \pm hv)` at
    ``wdps`` = :math:`w` digits divided by :math:`2h \approx 10^{-d/2}`, with
    three digits for the growth of rounding errors over the forward's
    operations; :math:`A` is the absolute scale of the forward's terms
    (:attr:`Problem.abs_scale`).
    """
    wdps = working_dps(dps) if wdps is None else wdps
    return 10.0 ** (-dps) * abs(float(D)) + 10.0 ** (-(wdps - (dps + 1) // 2 - 3)) * A


# --------------------------------------------------------------------------- arguments of an op
def diff_names(op: OpSpec, sample: dict) -> list[str]:
    """The differentiable arguments: the registry's, or W1, b1, W2, ... for the MLP."""
    if op.kind_facts.whole_network:
        return [f"{p}{l}" for l in range(1, len(sample["params"]) + 1) for p in ("W", "b")]
    return list(op.differentiable_args)


def get_arg(sample: dict, name: str):
    if name in sample:
        return sample[name]
    if name[0] in "Wb" and name[1:].isdigit() and "params" in sample:
        return sample["params"][int(name[1:]) - 1][0 if name[0] == "W" else 1]
    raise KeyError(f"no argument {name!r} in the sample (keys {sorted(sample)})")


def with_arg(sample: dict, name: str, value) -> dict:
    """A shallow copy of ``sample`` with argument ``name`` replaced."""
    out = dict(sample)
    if name in sample:
        out[name] = value
        return out
    l, j = int(name[1:]) - 1, (0 if name[0] == "W" else 1)
    params = [list(p) for p in sample["params"]]
    params[l][j] = value
    out["params"] = [tuple(p) for p in params]
    return out


# --------------------------------------------------------------------------- the problem at one point
@dataclass
class Problem:
    """One op at one float64 sample with one cotangent: every truth the oracle needs.

    Parameters
    ----------
    op : the registry entry.
    sample : a registry sample (float64 arrays, hyperparameters).
    dy : the cotangent: an array of the output's shape, a float for losses;
        ignored (taken as 1) for the MLP, whose gradients are of the loss itself.
    dps : significant digits of the truth (default 50).
    """

    op: OpSpec
    sample: dict
    dy: object
    dps: int = DEFAULT_DPS
    forward_evaluations: int = 0
    _mp: dict = field(default=None, repr=False)
    _dy: object = field(default=None, repr=False)
    _y: object = field(default=None, repr=False)
    pattern: object = field(default=None, repr=False)
    _S_f: float = field(default=0.0, repr=False)
    _A: float = field(default=0.0, repr=False)
    _dy_parts: object = field(default=None, repr=False)
    forward_float: object = field(default=None, repr=False)

    def __post_init__(self):
        if self.op.mp_forward is None:
            raise KeyError(f"no high-precision forward for {self.op.name!r}")
        self.names = diff_names(self.op, self.sample)
        dy_arr = [] if self.op.kind_facts.whole_network else [np.asarray(self.dy, dtype=np.float64)]
        self.wdps = working_dps(self.dps) + spread_digits(*float_inputs(self.sample), *dy_arr)
        with mp.workdps(self.wdps):
            self._mp = F.sample_to_mp(self.sample)
            self.h = mpmath.ldexp(mpmath.mpf(1), -step_bits(self.dps))
            if self.op.kind_facts.array_cotangent:
                self._dy = None  # contracted exactly from its float parts (F.float_dot)
            elif self.op.kind_facts.scalar_output:
                self._dy = mpmath.mpf(float(self.dy))
            else:
                self._dy = mpmath.mpf(1)
            y, self.pattern = self._evaluate(self._mp, None)
            self._y = y
            if isinstance(y, np.ndarray):
                self._dy_parts = F.float_parts(np.asarray(self.dy, dtype=np.float64))
                self.forward_float = F.to_float(y)
                self._S_f = float(np.sum(np.abs(np.asarray(self.dy, dtype=np.float64)) * np.abs(self.forward_float)))
            else:
                self.forward_float = F.to_float(y)
                self._S_f = float(abs(self._dy * y))
            ins = float_inputs(self.sample) + dy_arr
            M = max([1.0] + [float(np.max(np.abs(a))) for a in ins if np.size(a)])
            n = sum(int(np.size(a)) for a in ins) + int(np.size(y))
            self._A = self._S_f + n * M ** 3

    # the forward and the objective
    def _evaluate(self, sample_mp, pattern):
        self.forward_evaluations += 1
        return L.evaluate(self.op.name, sample_mp, pattern)

    def _objective(self, y):
        if self.op.kind_facts.array_cotangent:
            return F.guard(F.float_dot(self._dy_parts, y), "objective")
        return F.guard(self._dy * y, "objective")

    @property
    def forward_mp(self):
        """The op's output at the sample, at ``working_dps`` digits."""
        return self._y

    @property
    def abs_scale(self) -> float:
        r"""Absolute scale :math:`A` of the terms the forward adds: :math:`S_f + n M^3`.

        :math:`n` counts the elements of the inputs and the output, :math:`M`
        is the largest magnitude of an input or cotangent (at least 1): every
        op here adds terms that are products of at most three inputs (or
        their exponentials, which mpmath carries with relative precision),
        so cancellation inside the forward cannot hide a term larger than that.
        """
        return self._A

    @property
    def objective_scale(self) -> float:
        r""":math:`S_f = \sum |dy \odot y|` (or :math:`|dy\,y|`), the scale of the objective's rounding."""
        return self._S_f

    def _f_shift(self, name: str, x: np.ndarray, v: np.ndarray, sign: int, k: int):
        """f at the sample with argument ``name`` = x + sign·2^-k·v, exactly (frozen pattern)."""
        point = F.guard(F.shifted(x, v, sign, k), f"{name} + t·v")
        y, _ = self._evaluate(with_arg(self._mp, name, point), self.pattern)
        return self._objective(y)

    def directional(self, name: str, v: np.ndarray, order: int = 2):
        r""":math:`\langle \bar x, v\rangle = \frac{d}{dt} f(x + tv)|_0` for a float64 direction ``v``.

        ``order=2``: central difference, 2 forwards; ``order=4``: Richardson, 4
        forwards. Returns (D, error_estimate) as (mpf, float); the estimate is
        :func:`truth_error` for order 2 and the Richardson estimate plus it for order 4.
        """
        if order not in (2, 4):
            raise ValueError(f"order must be 2 (central difference) or 4 (Richardson), got {order!r}")
        x = np.asarray(get_arg(self.sample, name), dtype=np.float64)
        v = np.asarray(v, dtype=np.float64)
        if v.shape != x.shape:
            raise ValueError(f"direction for {name} must have the shape {x.shape} of {name}, got {v.shape}")
        with mp.workdps(self.wdps):
            h, k = self.h, step_bits(self.dps)
            D1 = (self._f_shift(name, x, v, 1, k) - self._f_shift(name, x, v, -1, k)) / (2 * h)
            err = truth_error(D1, self.abs_scale, self.dps, self.wdps)
            if order == 2:
                return D1, err
            D2 = (self._f_shift(name, x, v, 1, k - 1) - self._f_shift(name, x, v, -1, k - 1)) / (4 * h)
            R = (4 * D1 - D2) / 3
            return R, float(abs(D1 - D2)) / 3 + err

    def vjp(self, name: str, order: int = 2):
        r"""The full truth :math:`\bar x_j` for every element j of argument ``name`` (two forwards per element).

        Each element is the derivative along :math:`e_j` scaled by the power
        of two nearest above :math:`\max(1, |x_j|)`. Returns (object array of
        mpf, float64 array of error bounds), both of the argument's shape.
        """
        x = np.asarray(get_arg(self.sample, name), dtype=np.float64)
        out = np.empty(x.shape, dtype=object)
        errs = np.zeros(x.shape)
        with mp.workdps(self.wdps):
            x_mp = get_arg(self._mp, name)
            for idx in np.ndindex(x.shape):
                scale = 2.0 ** math.ceil(math.log2(max(1.0, abs(float(x[idx])))))

                def f(t, idx=idx, scale=scale):
                    point = x_mp.copy()
                    point[idx] = point[idx] + t * scale
                    y, _ = self._evaluate(with_arg(self._mp, name, F.guard(point, f"{name} + t·e_j")), self.pattern)
                    return self._objective(y)

                D1 = (f(self.h) - f(-self.h)) / (2 * self.h)
                if order == 2:
                    D, err = D1, truth_error(D1, self.abs_scale, self.dps, self.wdps)
                else:
                    D2 = (f(2 * self.h) - f(-2 * self.h)) / (4 * self.h)
                    D = (4 * D1 - D2) / 3
                    err = float(abs(D1 - D2)) / 3 + truth_error(D, self.abs_scale, self.dps, self.wdps)
                out[idx] = D / scale
                errs[idx] = err / scale
        return F.guard(out, f"truth d{name}"), errs

    def exact_inner(self, g: np.ndarray, v: np.ndarray):
        r""":math:`\langle g, v\rangle` of two float64 arrays, exactly (one rounding at ``working_dps``)."""
        with mp.workdps(self.wdps):
            return F.guard(F.exact_dot(np.asarray(g, dtype=np.float64), np.asarray(v, dtype=np.float64)), "<g, v>")


def direction(rng: np.random.Generator, x: np.ndarray) -> np.ndarray:
    r"""A random direction :math:`v_i = \pm u_i \max(1, |x_i|)`, :math:`u_i \sim U[0.5, 1.5]`.

    Every element moves (no zero weight that could hide an element's error),
    scaled like the element, with no cancelling pattern.
    """
    x = np.asarray(x, dtype=np.float64)
    return rng.choice([-1.0, 1.0], size=x.shape) * rng.uniform(0.5, 1.5, size=x.shape) * np.maximum(1.0, np.abs(x))
