r"""Vector–Jacobian products by ``sympy.diff``, cached per structure within a process.

For an op with SymPy forward :math:`y(x_1, \dots)` (see
:mod:`gradspec.symbolic.definitions`) and a cotangent :math:`\bar y` whose
every element is a symbol, the VJP of a differentiable argument :math:`x_i` is

.. math:: \bar x_i = \frac{\partial}{\partial x_i} \sum_k \bar y_k\, y_k ,

one ``sympy.diff`` per element of :math:`x_i` (for a loss, :math:`\bar y` is one
scalar symbol). Nothing here reads the reference's backward.

Derivations depend only on an op's structure (shapes, integer
hyperparameters, labels, masks), so they are memoised by
:func:`gradspec.symbolic.definitions.structure_key` in :data:`_CACHE` (a
process-local memo; :func:`clear_cache` empties it). Evaluation is by
``lambdify`` with mpmath at ``DPS`` = 50 significant digits: inputs are the
float64 sample values taken exactly, results are rounded to float64 once.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import mpmath
import numpy as np
import sympy as sp

from .definitions import Definition, structure_key, sym_array
from .lookup import define

DPS = 50
_CACHE: dict[tuple, "Derivation"] = {}


@dataclass
class Derivation:
    """One op at one structure: definition, cotangent symbols, derived VJP and compiled evaluators.

    ``order``: every symbol (arguments in order, then the cotangent) as the
    evaluators take them. ``grads``: one object array per differentiable
    argument, the derived VJP.
    """

    op: str
    key: tuple
    definition: Definition
    dy: object
    grads: tuple
    order: list
    seconds: float
    _fwd: object = None
    _vjp: object = None
    _spec: object = None
    _identity: dict = field(default_factory=dict)

    @property
    def shapes(self) -> dict:
        """Shapes of the symbolic arguments, e.g. {'x': [1, 2, 3, 3], 'W': [2, 2, 3, 2]}."""
        return {k: list(np.shape(v)) for k, v in self.definition.symbols.items() if isinstance(v, np.ndarray)}


def derive(op_name: str, sample: dict) -> Derivation:
    """The (cached) derivation of ``op_name`` at the structure of ``sample``."""
    key = structure_key(op_name, sample)
    hit = _CACHE.get(key)
    if hit is not None:
        return hit
    t0 = time.perf_counter()
    d = define(op_name, sample)
    if d.scalar:
        dy = sp.Symbol("dy", real=True)
        L = dy * d.forward
    else:
        dy = sym_array("dy", np.shape(d.forward), real=True)
        L = sp.Add(*[a * b for a, b in zip(dy.ravel(), d.forward.ravel())])
    grads = tuple(np.vectorize(lambda s: sp.diff(L, s), otypes=[object])(d.symbols[name]) for name in d.diff_args)
    order = []
    for v in d.symbols.values():
        order += list(v.ravel()) if isinstance(v, np.ndarray) else [v]
    order += list(dy.ravel()) if isinstance(dy, np.ndarray) else [dy]
    out = Derivation(op_name, key, d, dy, grads, order, time.perf_counter() - t0)
    _CACHE[key] = out
    return out


def clear_cache() -> None:
    """Forget every derivation (the next :func:`derive` recomputes)."""
    _CACHE.clear()


def cache_size() -> int:
    return len(_CACHE)


# --------------------------------------------------------------------------- evaluation at 50 digits
def _flat(exprs) -> list:
    out = []
    for e in exprs:
        out += list(e.ravel()) if isinstance(e, np.ndarray) else [e]
    return out


def _compile(order, exprs):
    return sp.lambdify(order, _flat(exprs), modules="mpmath", cse=True)


def point(der: Derivation, sample: dict, dy) -> list:
    """The sample's float values (and the cotangent) as exact mpmath numbers, in ``der.order``."""
    vals = []
    for name, v in der.definition.symbols.items():
        if isinstance(v, np.ndarray):
            vals += [mpmath.mpf(float(a)) for a in np.asarray(sample[name], dtype=np.float64).ravel()]
        else:
            vals.append(mpmath.mpf(float(sample[name])))
    vals += [mpmath.mpf(float(a)) for a in np.ravel(dy)]
    return vals


def _unflatten(values, like) -> list:
    out, i = [], 0
    for e in like:
        if isinstance(e, np.ndarray):
            n = e.size
            out.append(np.array([float(v) for v in values[i:i + n]], dtype=np.float64).reshape(e.shape))
            i += n
        else:
            out.append(float(values[i]))
            i += 1
    return out


def _evaluate(fn, der, sample, dy, like):
    with mpmath.workdps(DPS):
        vals = fn(*point(der, sample, dy))
    return _unflatten(vals, like)


def forward_value(der: Derivation, sample: dict):
    """The SymPy forward at the sample, evaluated at 50 digits and rounded to float64."""
    if der._fwd is None:
        der._fwd = _compile(der.order, [der.definition.forward])
    dy = 0.0 if der.definition.scalar else np.zeros(np.shape(der.dy))
    return _evaluate(der._fwd, der, sample, dy, [der.definition.forward])[0]


def vjp_value(der: Derivation, sample: dict, dy) -> list:
    """The derived VJP at the sample and cotangent, 50 digits, rounded to float64 (one array per argument)."""
    if der._vjp is None:
        der._vjp = _compile(der.order, der.grads)
    return _evaluate(der._vjp, der, sample, dy, der.grads)


def spec_expressions(der: Derivation) -> tuple:
    """The spec's restated backward formula on the derivation's symbols."""
    return tuple(np.asarray(g, dtype=object) for g in der.definition.spec_backward(der.dy))


def spec_value(der: Derivation, sample: dict, dy) -> list:
    """The spec's restated backward formula at the sample, 50 digits."""
    if der._spec is None:
        der._spec = _compile(der.order, [np.asarray(g, dtype=object) for g in spec_expressions(der)])
    return _evaluate(der._spec, der, sample, dy, der.grads)


# --------------------------------------------------------------------------- exact identities
def exact_point(der: Derivation, sample: dict, dy) -> dict:
    """Symbol -> exact Rational of the sample's float value (floats are dyadic rationals)."""
    vals = point(der, sample, dy)
    return {s: sp.Rational(float(v)) for s, v in zip(der.order, vals)}


def fix_branches(expr, at: dict):
    """Replace every Piecewise in ``expr`` by its branch active at the point ``at`` (symbol -> number)."""
    if isinstance(expr, sp.Piecewise):
        for val, cond in expr.args:
            c = cond if isinstance(cond, (bool, sp.logic.boolalg.BooleanAtom)) else cond.xreplace(at)
            if bool(c):
                return fix_branches(val, at)
        raise ValueError(f"no branch of {expr} holds at the sample point")
    if not getattr(expr, "args", ()):
        return expr
    return expr.func(*[fix_branches(a, at) for a in expr.args])


def has_piecewise(exprs) -> bool:
    return any(isinstance(e, sp.Basic) and e.has(sp.Piecewise) for e in _flat(exprs))


def zero(diff, method: str, at: dict | None = None) -> bool:
    """Whether ``diff`` is identically 0 by ``method``: "expand", "simplify" or "rational" (exact at ``at``)."""
    if not isinstance(diff, sp.Basic):
        return diff == 0
    if method == "rational":
        v = diff.xreplace(at)
        return sp.expand(sp.radsimp(sp.together(v))) == 0
    if sp.expand(diff) == 0:
        return True
    return method == "simplify" and sp.simplify(diff) == 0


def identity(der: Derivation, other: tuple, sample: dict, dy, label: str) -> dict:
    """Prove element by element that the derived VJP equals ``other`` (object arrays on the same symbols).

    Piecewise expressions are first fixed to the branch active at the sample
    point; ops marked ``"rational"`` are compared exactly at the sample point
    (float values as exact rationals) instead of for all inputs.
    Returns a JSON-ready dict: ``holds``, ``scope``, ``method``, ``elements``,
    ``failed`` (first few element names) and ``seconds``.
    """
    t0 = time.perf_counter()
    method = der.definition.identity
    at = exact_point(der, sample, dy)
    piecewise = has_piecewise(der.grads) or has_piecewise(other)
    failed, n = [], 0
    for name, g, o in zip(der.definition.diff_args, der.grads, other):
        o = np.asarray(o, dtype=object)
        if o.shape != g.shape:
            failed.append(f"d{name}: shape {list(o.shape)} != {list(g.shape)}")
            continue
        for idx in np.ndindex(g.shape):
            a, b = g[idx], o[idx]
            if piecewise:
                a, b = fix_branches(sp.sympify(a), at), fix_branches(sp.sympify(b), at)
            n += 1
            if not zero(sp.sympify(a) - sp.sympify(b), method, at):
                failed.append(f"d{name}{list(idx)}")
    if method == "rational":
        scope = "exact at the sample point (its float64 values taken as exact rationals)"
    elif piecewise:
        scope = "exact identity on the branch active at the sample point, for all inputs of that branch"
    else:
        scope = "exact identity for all inputs at this shape"
    return {"compared": label, "holds": not failed, "scope": scope, "method": method, "elements": n,
            "failed": failed[:5], "seconds": round(time.perf_counter() - t0, 4)}


# --------------------------------------------------------------------------- the network
@dataclass
class NetDerivation:
    """The MLP loss and its gradients by ``sympy.diff`` for one (widths, N, hidden, output)."""

    key: tuple
    symbols: dict
    loss: object
    names: list
    grads: dict  # name -> object array of ∂C/∂param
    order: list
    seconds: float
    _fn: object = None


def derive_mlp(widths, N: int, hidden: str, output: str) -> NetDerivation:
    """Cached derivation of the MLP of :func:`gradspec.symbolic.definitions.mlp_definition`."""
    from .definitions import mlp_definition

    key = ("mlp", tuple(widths), int(N), hidden, output)
    hit = _CACHE.get(key)
    if hit is not None:
        return hit
    t0 = time.perf_counter()
    syms, C, names = mlp_definition(widths, N, hidden, output)
    grads = {n: np.vectorize(lambda s: sp.diff(C, s), otypes=[object])(syms[n]) for n in names}
    order = []
    for v in syms.values():
        order += list(v.ravel())
    out = NetDerivation(key, syms, C, names, grads, order, time.perf_counter() - t0)
    _CACHE[key] = out
    return out


def mlp_values(der: NetDerivation, sample: dict) -> tuple:
    """(loss, [(dW, db), ...]) of the derivation at the sample, 50 digits rounded to float64."""
    if der._fn is None:
        der._fn = _compile(der.order, [der.loss] + [der.grads[n] for n in der.names])
    vals = {"X": sample["X"]}
    for l, (W, b) in enumerate(sample["params"], start=1):
        vals[f"W{l}"], vals[f"b{l}"] = W, b
    T = np.asarray(sample["T"])
    if sample["output"] == "softmax_cross_entropy":
        K = der.symbols["T"].shape[1]
        T = np.eye(K)[T.astype(int)]
    vals["T"] = T
    flat = []
    for name, v in der.symbols.items():
        flat += [mpmath.mpf(float(a)) for a in np.asarray(vals[name], dtype=np.float64).ravel()]
    with mpmath.workdps(DPS):
        res = der._fn(*flat)
    like = [der.loss] + [der.grads[n] for n in der.names]
    out = _unflatten(res, like)
    return out[0], [(out[1 + 2 * i], out[2 + 2 * i]) for i in range(len(der.names) // 2)]
