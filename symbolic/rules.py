r"""Symbolic definitions of the update rules: optimizers, gradient clipping, step and the perceptron rule.

Optimizers act element by element, so one scalar parameter :math:`w_0`,
scalar gradients :math:`g_1, g_2, \dots` and symbolic hyperparameters say it
all. For each optimizer there are two statements:

* the **one-step definition** (the registry's formula, e.g. Adam:
  :math:`t \leftarrow t+1`, :math:`m \leftarrow \beta_1 m + (1-\beta_1) g`,
  :math:`v \leftarrow \beta_2 v + (1-\beta_2) g^2`,
  :math:`w \leftarrow w - \eta\,\hat m/(\sqrt{\hat v} + \epsilon)` with
  :math:`\hat m = m/(1-\beta_1^t)`, first step t = 1, eps outside the root);
* the **closed form after T steps** from zero state, e.g. momentum
  :math:`w_T = w_0 - \eta\sum_{s=1}^T g_s\,\frac{1-\mu^{T-s+1}}{1-\mu}`,
  RMSprop :math:`r_t = (1-\rho)\sum_{s\le t}\rho^{t-s} g_s^2`, Adam
  :math:`m_t = (1-\beta_1)\sum_{s\le t}\beta_1^{t-s} g_s`.

:func:`prove_closed_forms` proves (exact SymPy identities) that iterating the
one-step definition T times gives the closed form, for T = 1..``max_steps``;
the oracle then checks an implementation's trajectory against the closed form
evaluated at 50 digits.

Clipping: :math:`\mathrm{clip}_{norm}(g)_i = g_i \cdot c/\lVert g\rVert` when
:math:`\lVert g\rVert > c` (else :math:`g_i`), with :math:`\lVert g\rVert` the global L2 norm;
:func:`prove_clip_norm` proves :math:`\lVert \mathrm{clip}(g)\rVert = c` on the clipping
branch. :math:`\mathrm{clip}_{value}(g)_i = \min(\max(g_i, -c), c)`. Step:
``Piecewise((1, x > 0), (0, True))`` (step(0) = 0). Perceptron:
:math:`y = \mathrm{step}(w\cdot x + b)`, :math:`w \leftarrow w + \eta(t - y)x`,
:math:`b \leftarrow b + \eta(t-y)`.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable

import mpmath
import sympy as sp

from ..registry import OPS, REGISTRY
# clipping, step and the perceptron rule are registry-free building blocks (their records name them)
from .definitions import (clip_norm_definition, clip_value_definition, perceptron_definition,  # noqa: F401
                          prove_clip_norm, step_definition_fn)

DPS = 50
#: The optimizers of the registry (each record's ``sympy`` is its ``<name>_rule`` below).
OPTIMIZERS = tuple(op.name for op in OPS if op.kind_facts.trajectory)
HYPER_SYMBOLS = {"lr": sp.Symbol("lr", positive=True), "momentum": sp.Symbol("mu", positive=True),
                 "eps": sp.Symbol("eps", positive=True), "decay": sp.Symbol("rho", positive=True),
                 "beta1": sp.Symbol("beta1", positive=True), "beta2": sp.Symbol("beta2", positive=True)}
W0 = sp.Symbol("w0", real=True)


def grads(T):
    return [sp.Symbol(f"g{t}", real=True) for t in range(1, T + 1)]


# --------------------------------------------------------------------------- each optimizer's rule
@dataclass(frozen=True)
class OptimizerRule:
    """One optimizer in SymPy: ``step(w, g, state, t) -> (w_new, state_new)`` (``t`` the 1-based step), the
    closed form ``closed(T) -> w_T`` from zero state, and ``state(t, g) -> the state after step t`` in closed
    form (``g`` the gradient symbols). The optimizer's record refers to its ``<name>_rule`` (``op.sympy``)."""

    step: Callable
    closed: Callable
    state: Callable


def _ewma(decay, vals, t):
    """(1 − decay) Σ_{s<=t} decay^{t−s} x_s."""
    return (1 - decay) * sp.Add(*[decay ** (t - s) * vals[s - 1] for s in range(1, t + 1)])


def _sgd_step(w, g, state, t):
    return w - HYPER_SYMBOLS["lr"] * g, {}


def _sgd_closed(T):
    return W0 - HYPER_SYMBOLS["lr"] * sp.Add(*grads(T))


def sgd_rule() -> OptimizerRule:
    return OptimizerRule(_sgd_step, _sgd_closed, lambda t, g: {})


def _momentum_step(w, g, state, t):
    v = HYPER_SYMBOLS["momentum"] * state.get("v", 0) - HYPER_SYMBOLS["lr"] * g
    return w + v, {"v": v}


def _momentum_closed(T):
    # v_t = -lr Σ_{s<=t} μ^{t-s} g_s ; w_T = w0 + Σ_t v_t = w0 - lr Σ_s g_s Σ_{k=0}^{T-s} μ^k
    lr, mu, g = HYPER_SYMBOLS["lr"], HYPER_SYMBOLS["momentum"], grads(T)
    return W0 - lr * sp.Add(*[g[s - 1] * sp.Add(*[mu**k for k in range(T - s + 1)]) for s in range(1, T + 1)])


def _momentum_state(t, g):
    return {"v": -HYPER_SYMBOLS["lr"] * sp.Add(*[HYPER_SYMBOLS["momentum"] ** (t - s) * g[s - 1] for s in range(1, t + 1)])}


def momentum_rule() -> OptimizerRule:
    return OptimizerRule(_momentum_step, _momentum_closed, _momentum_state)


def _adagrad_step(w, g, state, t):
    r = state.get("r", 0) + g**2
    return w - HYPER_SYMBOLS["lr"] * g / (sp.sqrt(r) + HYPER_SYMBOLS["eps"]), {"r": r}


def _adagrad_closed(T):
    lr, eps, g = HYPER_SYMBOLS["lr"], HYPER_SYMBOLS["eps"], grads(T)
    return W0 - lr * sp.Add(*[g[t - 1] / (sp.sqrt(sp.Add(*[gs**2 for gs in g[:t]])) + eps) for t in range(1, T + 1)])


def adagrad_rule() -> OptimizerRule:
    return OptimizerRule(_adagrad_step, _adagrad_closed, lambda t, g: {"r": sp.Add(*[gs**2 for gs in g[:t]])})


def _rmsprop_step(w, g, state, t):
    rho = HYPER_SYMBOLS["decay"]
    r = rho * state.get("r", 0) + (1 - rho) * g**2
    return w - HYPER_SYMBOLS["lr"] * g / (sp.sqrt(r) + HYPER_SYMBOLS["eps"]), {"r": r}


def _rmsprop_closed(T):
    lr, eps, rho, g = HYPER_SYMBOLS["lr"], HYPER_SYMBOLS["eps"], HYPER_SYMBOLS["decay"], grads(T)
    sq = [gs**2 for gs in g]
    return W0 - lr * sp.Add(*[g[t - 1] / (sp.sqrt(_ewma(rho, sq, t)) + eps) for t in range(1, T + 1)])


def rmsprop_rule() -> OptimizerRule:
    return OptimizerRule(_rmsprop_step, _rmsprop_closed,
                         lambda t, g: {"r": _ewma(HYPER_SYMBOLS["decay"], [gs**2 for gs in g], t)})


def _adam_step(w, g, state, t):
    H = HYPER_SYMBOLS
    b1, b2 = H["beta1"], H["beta2"]
    m = b1 * state.get("m", 0) + (1 - b1) * g
    v = b2 * state.get("v", 0) + (1 - b2) * g**2
    mh, vh = m / (1 - b1**t), v / (1 - b2**t)
    return w - H["lr"] * mh / (sp.sqrt(vh) + H["eps"]), {"m": m, "v": v}


def _adam_closed(T):
    H, g = HYPER_SYMBOLS, grads(T)
    b1, b2 = H["beta1"], H["beta2"]
    sq = [gs**2 for gs in g]
    return W0 - H["lr"] * sp.Add(*[(_ewma(b1, g, t) / (1 - b1**t)) / (sp.sqrt(_ewma(b2, sq, t) / (1 - b2**t)) + H["eps"])
                                   for t in range(1, T + 1)])


def _adam_state(t, g):
    return {"m": _ewma(HYPER_SYMBOLS["beta1"], g, t), "v": _ewma(HYPER_SYMBOLS["beta2"], [gs**2 for gs in g], t)}


def adam_rule() -> OptimizerRule:
    return OptimizerRule(_adam_step, _adam_closed, _adam_state)


def rule(name: str) -> OptimizerRule:
    """The SymPy rule of optimizer ``name``: its record's ``sympy()``."""
    op = REGISTRY.get(name)
    if op is None or not op.kind_facts.trajectory or op.sympy is None:
        raise KeyError(f"unknown optimizer {name!r}; known: {', '.join(OPTIMIZERS)}")
    return op.sympy()


# --------------------------------------------------------------------------- by name
def step_definition(name: str, w, g, state: dict, t: int):
    """One update of ``name`` (scalar, symbolic): returns (w_new, state_new). ``t`` is the 1-based step."""
    return rule(name).step(w, g, state, t)


def iterate(name: str, T: int):
    """w_T by applying :func:`step_definition` T times from zero state."""
    w, state = W0, {}
    for t, g in enumerate(grads(T), start=1):
        w, state = step_definition(name, w, g, state, t)
    return w


def closed_form(name: str, T: int):
    r"""w_T as an explicit sum over the gradients (see the module docstring)."""
    return rule(name).closed(T)


def iterate_states(name: str, T: int) -> list:
    """The optimizer state after each of T steps of :func:`step_definition` from zero state."""
    w, state, out = W0, {}, []
    for t, g in enumerate(grads(T), start=1):
        w, state = step_definition(name, w, g, state, t)
        out.append(dict(state))
    return out


def closed_states(name: str, T: int) -> list:
    r"""The state after step t = 1..T in closed form: velocity, :math:`r_t`, :math:`m_t`, :math:`v_t` as sums over the gradients."""
    r, g = rule(name), grads(T)
    return [r.state(t, g) for t in range(1, T + 1)]


def _zero_at_rationals(d, points: int = 3, seed: int = 0) -> bool:
    """Exact test of d = 0 at ``points`` random rational points (hyperparameters in (0, 1), gradients any sign)."""
    import random

    rng = random.Random(seed)
    for _ in range(points):
        at = {}
        for s in d.free_symbols:
            if s.name == "w0" or s.name.startswith("g"):
                at[s] = sp.Rational(rng.randint(-9, 9) or 1, rng.randint(1, 5))
            else:
                at[s] = sp.Rational(rng.randint(1, 9), rng.randint(10, 20))
        if sp.expand(sp.radsimp(sp.together(d.xreplace(at)))) != 0:
            return False
    return True


@functools.lru_cache(maxsize=None)
def prove_closed_forms(max_steps: int = 3) -> tuple:
    r"""Iterating the one-step definition T times gives the closed form, T = 1..max_steps.

    Two statements per (optimizer, T): the state after every step equals its
    closed form (an exact polynomial identity, ``expand``), and w_T equals the
    closed form: an exact identity when the square roots' canonical forms
    agree, otherwise exact at 3 random rational points (SymPy splits
    :math:`\sqrt{(1-\rho)X}` differently on the two sides). Each row says which.
    Returns a tuple of rows {optimizer, steps, state_identity, w_holds, w_scope, holds}. (Cached per process.)
    """
    rows = []
    for name in OPTIMIZERS:
        for T in range(1, max_steps + 1):
            it, cl = iterate_states(name, T), closed_states(name, T)
            state_ok = all(sp.expand(a[k] - b[k]) == 0 for a, b in zip(it, cl) for k in a) and all(
                set(a) == set(b) for a, b in zip(it, cl))
            d = iterate(name, T) - closed_form(name, T)
            if sp.expand(_canonical_roots(iterate(name, T)) - _canonical_roots(closed_form(name, T))) == 0:
                w_ok, scope = True, "exact identity"
            else:
                w_ok, scope = _zero_at_rationals(d), "exact at 3 random rational points"
            rows.append({"optimizer": name, "steps": T, "state_identity": state_ok, "w_holds": w_ok, "w_scope": scope,
                         "holds": state_ok and w_ok})
    return tuple(rows)


def _canonical_roots(e):
    """Put the base of every non-integer power (the square roots) in SymPy's canonical rational form (``cancel``).

    Two equal rational functions have the same ``cancel`` form, so equal
    square roots become syntactically equal; the rest is then a polynomial
    identity in them, which ``expand`` decides.
    """
    return e.replace(lambda a: isinstance(a, sp.Pow) and not a.exp.is_Integer,
                     lambda a: sp.Pow(sp.cancel(a.base), a.exp))


@functools.lru_cache(maxsize=None)
def compiled_closed_form(name: str, T: int, hypers: tuple):
    """mpmath function (w0, g1..gT, *hypers) -> w_T."""
    syms = [W0] + grads(T) + [HYPER_SYMBOLS[h] for h in hypers]
    return sp.lambdify(syms, closed_form(name, T), modules="mpmath")


def trajectory(name: str, w0: float, gs, hyper: dict) -> list:
    """[w_1, ..., w_T] of one scalar element by the closed form at 50 digits (as mpf)."""
    keys = tuple(sorted(hyper))
    out = []
    with mpmath.workdps(DPS):
        for T in range(1, len(gs) + 1):
            f = compiled_closed_form(name, T, keys)
            out.append(f(mpmath.mpf(w0), *[mpmath.mpf(float(g)) for g in gs[:T]], *[mpmath.mpf(float(hyper[k])) for k in keys]))
    return out
