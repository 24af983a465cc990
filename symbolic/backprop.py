r"""BP1–BP4 proved with SymPy for fully symbolic networks (column layout of Nielsen, ch. 2).

Network: widths :math:`n_0, \dots, n_L`, input :math:`a^0 = x`, for
:math:`l = 1..L`: :math:`z^l = W^l a^{l-1} + b^l`, :math:`a^l = \sigma(z^l)`, with
:math:`W^l` an :math:`n_l \times n_{l-1}` matrix of symbols, :math:`b^l`,
:math:`x` and the target :math:`y` vectors of symbols, and :math:`\sigma` an
*undefined* SymPy ``Function`` (so the proofs hold for every differentiable
activation). Quadratic cost :math:`C = \frac12 \sum_j (a^L_j - y_j)^2`.

What each proof establishes, as exact SymPy identities (the difference of the
two sides is 0):

* **BP1** :math:`\partial C/\partial z^L_j = (a^L_j - y_j)\,\sigma'(z^L_j)`,
  where the left side is ``sympy.diff`` of the cost written as a function of
  free symbols :math:`z^L`.
* **BP2** :math:`\partial C/\partial z^l_j = \sum_k W^{l+1}_{kj}\,\frac{\partial C}{\partial z^{l+1}_k}\,\sigma'(z^l_j)`
  for every :math:`l < L`, both sides ``sympy.diff`` of the cost as a function
  of free :math:`z^l` (resp. :math:`z^{l+1}`, then substituted).
* **BP3** :math:`\partial C/\partial b^l_j = \delta^l_j` and **BP4**
  :math:`\partial C/\partial W^l_{jk} = a^{l-1}_k \delta^l_j` for every layer and
  every element, the left side ``sympy.diff`` of the cost of the whole network
  as a function of :math:`x, W, b`, and :math:`\delta` computed by the
  recursion BP1/BP2 (what an implementation computes).

To test "difference = 0" cheaply and soundly, the forward quantities are
*abstracted* after differentiation: every :math:`\sigma(z^l_j(\cdot))` becomes a fresh
symbol :math:`A^l_j` and every :math:`\sigma'(z^l_j(\cdot))` a fresh :math:`S^l_j`
(likewise :math:`e^{-z}`, :math:`\tanh z`, :math:`e^{z}` for the concrete
activations). Replacing identical subexpressions by fresh symbols is
injective on the expression, so an identity in the fresh symbols implies the
original one; the converse is not needed.

Also proved: the same equations for the concrete activations sigmoid
(:math:`\sigma' = \sigma(1-\sigma)`), tanh (:math:`1 - \tanh^2`) and relu on each
of its smooth pieces (every on/off pattern of the units), the softmax
cross-entropy output layer (:math:`\delta^L = a^L - y` for any target with
:math:`\sum_k y_k = 1`), and the batch form: for :math:`m` examples and the mean
cost :math:`C = \frac1m \sum_e C_e`, :math:`\partial C/\partial W^l = \frac1m \sum_e \delta^{l,(e)} a^{l-1,(e)\top}`
and :math:`\partial C/\partial b^l = \frac1m\sum_e \delta^{l,(e)}`: the gradient of
the mean cost is the mean of the per-example gradients.

:func:`bp_proofs` runs the default set (within the test budget) and returns
the table the reports render; :func:`prove_network` proves one network.
"""
from __future__ import annotations

import functools
import itertools
import time
from dataclasses import dataclass

import sympy as sp

class sigma_prime(sp.Function):
    r"""σ', an undefined function: nothing is assumed about it."""


class sigma(sp.Function):
    r"""An arbitrary differentiable activation σ with derivative σ' (:class:`sigma_prime`).

    Nothing is known about σ except that ``sympy.diff`` turns σ(e) into σ'(e)·e'
    (the chain rule). Unlike a bare ``Function("sigma")``, whose derivative
    SymPy writes as ``Subs(Derivative(sigma(xi), xi), xi, e)`` (and builds by
    printing e, which dominates the cost for deep networks), this keeps the
    derivative a plain function application.
    """

    def fdiff(self, argindex=1):
        return sigma_prime(self.args[0])


def dsigma(e):
    r""":math:`\sigma'(e)`, the form ``sympy.diff(sigma(e), ...)`` produces."""
    return sigma_prime(e)


# --------------------------------------------------------------------------- activations
@dataclass(frozen=True)
class Activation:
    """An activation for the proofs: ``f(z)``, its textbook derivative ``fprime(z)`` and the atoms to abstract."""

    name: str
    f: object
    fprime: object
    atoms: object  # z -> list of (subexpression, tag) to abstract after differentiation


GENERAL = Activation("general σ (undefined Function)", sigma, dsigma, lambda z: [(sigma(z), "A"), (dsigma(z), "S")])
SIGMOID = Activation("sigmoid", lambda z: 1 / (1 + sp.exp(-z)), lambda z: (1 / (1 + sp.exp(-z))) * (1 - 1 / (1 + sp.exp(-z))),
                     lambda z: [(sp.exp(-z), "E")])
TANH = Activation("tanh", sp.tanh, lambda z: 1 - sp.tanh(z) ** 2, lambda z: [(sp.tanh(z), "T")])


def relu_piece(on: bool) -> Activation:
    """relu on one smooth piece: z (σ' = 1) where the unit is on, 0 (σ' = 0) where it is off."""
    return Activation(f"relu ({'on' if on else 'off'})", (lambda z: z) if on else (lambda z: sp.Integer(0)),
                      (lambda z: sp.Integer(1)) if on else (lambda z: sp.Integer(0)), lambda z: [])


# --------------------------------------------------------------------------- networks
def _vec(name, n):
    return [sp.Symbol(f"{name}_{j}", real=True) for j in range(n)]


def _mat(name, r, c):
    return [[sp.Symbol(f"{name}_{j}_{k}", real=True) for k in range(c)] for j in range(r)]


class Net:
    """Symbols of a network with widths ``widths``; ``acts[l]`` is the activation of unit j of layer l+1 (a callable per unit)."""

    def __init__(self, widths, acts=None, tag=""):
        self.widths = tuple(int(w) for w in widths)
        self.L = len(widths) - 1
        self.x = _vec("x" + tag, widths[0])
        self.y = _vec("y" + tag, widths[-1])
        self.W = [None] + [_mat(f"W{l}", widths[l], widths[l - 1]) for l in range(1, self.L + 1)]
        self.b = [None] + [_vec(f"b{l}", widths[l]) for l in range(1, self.L + 1)]
        acts = acts or (lambda l, j: GENERAL)
        self.act = acts

    def forward(self, start_layer=0, start=None):
        """z and a of layers > start_layer, from activations ``start`` of layer start_layer (default: x)."""
        a = {start_layer: list(start if start is not None else self.x)}
        z = {}
        for l in range(start_layer + 1, self.L + 1):
            z[l] = [sp.Add(*[self.W[l][j][k] * a[l - 1][k] for k in range(self.widths[l - 1])]) + self.b[l][j]
                    for j in range(self.widths[l])]
            a[l] = [self.act(l, j).f(z[l][j]) for j in range(self.widths[l])]
        return z, a

    def quadratic(self, aL):
        return sp.Rational(1, 2) * sp.Add(*[(aL[j] - self.y[j]) ** 2 for j in range(self.widths[-1])])

    def abstraction(self, z: dict, tag: str = "") -> dict:
        """Map of forward subexpressions (σ(z), σ'(z), e^{-z}, tanh z) to fresh symbols."""
        m = {}
        for l, zl in z.items():
            for j, e in enumerate(zl):
                for sub, kind in self.act(l, j).atoms(e):
                    m[sub] = sp.Symbol(f"{kind}{tag}_{l}_{j}")
        return m


def abstract(expr, mapping: dict):
    r"""Replace the subexpressions of ``mapping`` (outermost first) by their symbols.

    An exponential :math:`e^{c\,u}` with :math:`e^{u}` in the mapping (symbol X)
    becomes :math:`X^c` for a rational c: SymPy writes :math:`(e^u)^2` as
    :math:`e^{2u}` and :math:`1/e^u` as :math:`e^{-u}`.
    """
    if not mapping:
        return expr
    exp_args = {k.args[0]: v for k, v in mapping.items() if isinstance(k, sp.exp)}
    memo: dict = {}

    def exp_power(arg):
        for u, X in exp_args.items():
            lead = u.args[0] if isinstance(u, sp.Add) else u
            c = arg.coeff(lead) if not isinstance(u, sp.Symbol) or arg.has(u) else 0
            if c != 0 and c.is_Rational and sp.expand(arg - c * u) == 0:
                return X ** c
        return None

    def rec(e):
        hit = mapping.get(e)
        if hit is not None:
            return hit
        if e in memo:
            return memo[e]
        if isinstance(e, sp.exp) and exp_args:
            p = exp_power(e.args[0])
            if p is not None:
                memo[e] = p
                return p
        out = e if not e.args else e.func(*[rec(a) for a in e.args])
        memo[e] = out
        return out

    return rec(expr)


def is_zero(expr) -> bool:
    """Exact zero test of a rational function in the fresh symbols."""
    if sp.expand(expr) == 0:  # polynomial in the fresh symbols (general σ, relu pieces)
        return True
    num, _ = sp.fraction(sp.together(expr))  # rational (sigmoid, softmax)
    return sp.expand(num) == 0


def _check(expr, mapping) -> bool:
    return is_zero(abstract(expr, mapping))


# --------------------------------------------------------------------------- the proofs for one network
#: Deliberately wrong recursions, to show the proofs can fail (used by the tests).
WRONG = ("bp1_no_sigma_prime", "bp2_no_transpose", "bp2_no_sigma_prime", "bp4_swap")


def prove_network(widths, acts=None, output: str = "quadratic", wrong: str | None = None) -> dict:
    """Prove BP1–BP4 for one network; returns counts of identities proved and failed per equation.

    ``acts(l, j)`` gives the :class:`Activation` of unit j of layer l (default:
    the undefined σ everywhere). ``output``: ``"quadratic"`` (σ on the last
    layer, :math:`C = \\frac12\\lVert a^L - y\\rVert^2`) or ``"softmax_ce"``
    (softmax output, :math:`C = -\\sum_k y_k \\log a^L_k` with
    :math:`y_{K} = 1 - \\sum_{k<K} y_k`, and BP1 in the form :math:`\\delta^L = a^L - y`).
    ``wrong``: one of :data:`WRONG`, a deliberately wrong BP formula (a missing
    σ', a missing transpose, swapped indices) that the proof must reject.
    """
    if wrong is not None and wrong not in WRONG:
        raise ValueError(f"wrong must be one of {WRONG} or None, got {wrong!r}")
    sp_ = (lambda f, z: sp.Integer(1)) if wrong in ("bp1_no_sigma_prime",) else (lambda f, z: f(z))
    sp2 = (lambda f, z: sp.Integer(1)) if wrong in ("bp2_no_sigma_prime",) else (lambda f, z: f(z))
    Wt = (lambda Wm, k, j: Wm[j][k]) if wrong == "bp2_no_transpose" else (lambda Wm, k, j: Wm[k][j])
    net = Net(widths, acts)
    L, n = net.L, net.widths
    res = {"BP1": [0, 0], "BP2": [0, 0], "BP3": [0, 0], "BP4": [0, 0]}

    def tally(eq, ok):
        res[eq][0 if ok else 1] += 1

    y = list(net.y)
    if output == "softmax_ce":
        y[-1] = 1 - sp.Add(*y[:-1])  # any target distribution: Σ y = 1

    def cost_from(aL, zL):
        if output == "quadratic":
            return sp.Rational(1, 2) * sp.Add(*[(aL[j] - y[j]) ** 2 for j in range(n[L])])
        e = [sp.exp(v) for v in zL]
        tot = sp.Add(*e)
        return -sp.Add(*[y[k] * sp.log(e[k] / tot) for k in range(n[L])])

    def out_act(zL):
        if output == "quadratic":
            return [net.act(L, j).f(zL[j]) for j in range(n[L])]
        e = [sp.exp(v) for v in zL]
        return [v / sp.Add(*e) for v in e]

    def out_atoms(zL, tag):
        if output == "quadratic":
            return {}
        return {sp.exp(v): sp.Symbol(f"X{tag}_{k}") for k, v in enumerate(zL)}

    # δ^l := ∂C/∂z^l with z^l free symbols: C as a function of z^l
    Z = {l: [sp.Symbol(f"Z{l}_{j}", real=True) for j in range(n[l])] for l in range(1, L + 1)}

    def cost_of_z(l):
        """(C, abstraction map) with z^l free: a^l = σ(Z^l), layers > l from there."""
        if l == L:
            return cost_from(out_act(Z[L]), Z[L]), {**(net.abstraction({L: Z[L]}) if output == "quadratic" else {}),
                                                     **out_atoms(Z[L], "Z")}
        a_l = [net.act(l, j).f(Z[l][j]) for j in range(n[l])]
        z, a = net.forward(l, a_l)
        zL = z[L]
        aL = out_act(zL) if output == "softmax_ce" else a[L]
        if output == "softmax_ce":
            z = {k: v for k, v in z.items() if k < L}
        mp = {**net.abstraction({l: Z[l]}, "z"), **net.abstraction(z, "z"), **out_atoms(zL, "z")}
        return cost_from(aL, zL), mp

    delta_free = {}
    for l in range(L, 0, -1):
        C_l, mp = cost_of_z(l)
        delta_free[l] = ([sp.diff(C_l, Z[l][j]) for j in range(n[l])], mp)
    # BP1
    dL, mpL = delta_free[L]
    for j in range(n[L]):
        if output == "quadratic":
            rhs = (net.act(L, j).f(Z[L][j]) - y[j]) * sp_(net.act(L, j).fprime, Z[L][j])
        else:
            rhs = out_act(Z[L])[j] - y[j]
        tally("BP1", _check(dL[j] - rhs, mpL))
    # BP2: δ^l_j = Σ_k W^{l+1}_kj δ^{l+1}_k |_{Z^{l+1} = W σ(Z^l) + b} σ'(Z^l_j)
    for l in range(L - 1, 0, -1):
        d_l, mp = delta_free[l]
        d_next, _ = delta_free[l + 1]
        a_l = [net.act(l, j).f(Z[l][j]) for j in range(n[l])]
        z_next = [sp.Add(*[net.W[l + 1][k][i] * a_l[i] for i in range(n[l])]) + net.b[l + 1][k] for k in range(n[l + 1])]
        sub = dict(zip(Z[l + 1], z_next))
        back = [e.subs(sub) for e in d_next]
        for j in range(n[l]):
            rhs = sp.Add(*[Wt(net.W[l + 1], k, j) * back[k] for k in range(n[l + 1])]) * sp2(net.act(l, j).fprime, Z[l][j])
            tally("BP2", _check(d_l[j] - rhs, mp))
    # BP3, BP4 with δ from the recursion, against sympy.diff of C(x, W, b)
    z, a = net.forward()
    aL = out_act(z[L]) if output == "softmax_ce" else a[L]
    C = cost_from(aL, z[L])
    mp = {**net.abstraction({k: v for k, v in z.items() if output == "quadratic" or k < L}), **out_atoms(z[L], "")}
    delta = {}
    if output == "quadratic":
        delta[L] = [(a[L][j] - y[j]) * sp_(net.act(L, j).fprime, z[L][j]) for j in range(n[L])]
    else:
        delta[L] = [aL[j] - y[j] for j in range(n[L])]
    for l in range(L - 1, 0, -1):
        delta[l] = [sp.Add(*[Wt(net.W[l + 1], k, j) * delta[l + 1][k] for k in range(n[l + 1])])
                    * sp2(net.act(l, j).fprime, z[l][j]) for j in range(n[l])]
    for l in range(1, L + 1):
        for j in range(n[l]):
            tally("BP3", _check(sp.diff(C, net.b[l][j]) - delta[l][j], mp))
            for k in range(n[l - 1]):
                a_k = a[l - 1][j if wrong == "bp4_swap" and j < n[l - 1] else k]
                tally("BP4", _check(sp.diff(C, net.W[l][j][k]) - a_k * delta[l][j], mp))
    return {eq: {"proved": v[0], "failed": v[1]} for eq, v in res.items()}


def prove_batch(widths, m: int) -> dict:
    r"""Batch form, general σ, quadratic cost: :math:`\partial \bar C/\partial W^l = \frac1m\sum_e \delta^{l,(e)} a^{l-1,(e)\top}`.

    The m examples share W and b; each has its own x, y. ``sympy.diff`` of the
    mean cost :math:`\bar C = \frac1m\sum_e C_e` is compared element by element
    with the mean of the per-example BP3/BP4 gradients (column layout: the 1/m
    sits in BP3/BP4, δ has no 1/m). Returns proved/failed counts.
    """
    nets = [Net(widths, tag=f"e{e}") for e in range(m)]
    base = nets[0]
    for nt in nets[1:]:  # shared parameters
        nt.W, nt.b = base.W, base.b
    L, n = base.L, base.widths
    mp, Cs, per = {}, [], []
    for e, nt in enumerate(nets):
        z, a = nt.forward()
        mp.update(nt.abstraction(z, f"e{e}"))
        Cs.append(nt.quadratic(a[L]))
        delta = {L: [(a[L][j] - nt.y[j]) * dsigma(z[L][j]) for j in range(n[L])]}
        for l in range(L - 1, 0, -1):
            delta[l] = [sp.Add(*[base.W[l + 1][k][j] * delta[l + 1][k] for k in range(n[l + 1])]) * dsigma(z[l][j])
                        for j in range(n[l])]
        per.append((a, delta))
    Cbar = sp.Add(*Cs) / m
    ok = bad = 0
    for l in range(1, L + 1):
        for j in range(n[l]):
            rhs = sp.Add(*[per[e][1][l][j] for e in range(m)]) / m
            good = _check(sp.diff(Cbar, base.b[l][j]) - rhs, mp)
            ok, bad = ok + good, bad + (not good)
            for k in range(n[l - 1]):
                rhs = sp.Add(*[per[e][0][l - 1][k] * per[e][1][l][j] for e in range(m)]) / m
                good = _check(sp.diff(Cbar, base.W[l][j][k]) - rhs, mp)
                ok, bad = ok + good, bad + (not good)
    return {"proved": ok, "failed": bad}


# --------------------------------------------------------------------------- the default set of proofs
def _widths(depth, max_width, exhaustive_depth):
    if depth <= exhaustive_depth:
        return list(itertools.product(range(1, max_width + 1), repeat=depth + 1))
    # deeper: all-equal widths 1..max (the widest network included), and the two cyclic patterns
    # that change the width at every layer (1-2-3-1-2..., 3-2-1-3-2...)
    shapes = [tuple([w] * (depth + 1)) for w in range(1, max_width + 1)]
    shapes += [tuple(1 + i % max_width for i in range(depth + 1)), tuple(max_width - i % max_width for i in range(depth + 1))]
    return sorted(set(shapes))


#: Tables proved in another process and handed over with :func:`adopt` (the report proves them in a worker
#: process while its checks run), by (max_depth, max_width, exhaustive_depth).
_ADOPTED: dict[tuple, tuple] = {}


def adopt(rows: list[dict], max_depth: int = 4, max_width: int = 3, exhaustive_depth: int = 2) -> None:
    """Hand this process the table :func:`bp_proofs` computed elsewhere with the same arguments."""
    _ADOPTED[(max_depth, max_width, exhaustive_depth)] = tuple(dict(r) for r in rows)


def bp_proofs(max_depth: int = 4, max_width: int = 3, exhaustive_depth: int = 2) -> list[dict]:
    """Run the proofs and return one flat row per (statement, depth): the table the reports render.

    General σ, quadratic cost: every width tuple in {1..max_width}^(L+1) for
    depths L <= ``exhaustive_depth``; for deeper networks the all-equal widths
    1..max_width (so the widest network, all widths max_width) and the two
    cyclic width patterns 1-2-3-1-2... and 3-2-1-3-2.... Each row names the
    widths proved, so the table says exactly what was proved. BP2 involves
    one pair of adjacent layers at a time, so every adjacent width pair
    (n_l, n_{l+1}) in {1..3}² is covered by the exhaustive depth-2 set.
    Cached per process (the oracle and the tests share one run).
    """
    key = (max_depth, max_width, exhaustive_depth)
    return [dict(r) for r in (_ADOPTED.get(key) or _bp_proofs(*key))]


@functools.lru_cache(maxsize=4)
def _bp_proofs(max_depth, max_width, exhaustive_depth) -> tuple:
    rows = []

    def row(statement, depth, widths_list, counts, seconds, activation="general σ", output="quadratic"):
        proved = sum(c["proved"] for c in counts)
        failed = sum(c["failed"] for c in counts)
        eqs = sorted({eq for c in counts for eq in c.get("equations", [])}) or ["BP1", "BP2", "BP3", "BP4"]
        rows.append({"statement": statement, "activation": activation, "output": output, "depth": depth,
                     "networks": len(widths_list), "widths": " ".join("-".join(map(str, w)) for w in widths_list),
                     "equations": ", ".join(eqs), "identities_proved": proved, "identities_failed": failed,
                     "holds": failed == 0 and proved > 0, "seconds": round(seconds, 2)})

    def flat(r):
        return {"proved": sum(v["proved"] for v in r.values()), "failed": sum(v["failed"] for v in r.values()),
                "equations": [eq for eq, v in r.items() if v["proved"] + v["failed"]]}

    for depth in range(1, max_depth + 1):
        t0 = time.perf_counter()
        ws = _widths(depth, max_width, exhaustive_depth)
        row("BP1–BP4", depth, ws, [flat(prove_network(w)) for w in ws], time.perf_counter() - t0)
    for act in (SIGMOID, TANH):
        t0 = time.perf_counter()
        ws = [(2, 2), (1, 2, 1), (2, 2, 2)]
        row("BP1–BP4", "1–2", ws, [flat(prove_network(w, lambda l, j, a=act: a)) for w in ws], time.perf_counter() - t0,
            activation=act.name)
    t0 = time.perf_counter()
    counts, ws = [], [(2, 2, 2), (1, 2, 2, 1)]
    for w in ws:
        units = [(l, j) for l in range(1, len(w)) for j in range(w[l])]
        for pattern in itertools.product((True, False), repeat=len(units)):
            on = dict(zip(units, pattern))
            counts.append(flat(prove_network(w, lambda l, j, on=on: relu_piece(on[(l, j)]))))
    row(f"BP1–BP4 on every on/off pattern of the units ({len(counts)} pieces)", "2–3", ws, counts, time.perf_counter() - t0,
        activation="relu (smooth pieces)")
    t0 = time.perf_counter()
    ws = [(2, 1), (2, 3), (1, 2, 3), (2, 2, 2)]
    row("δ^L = a^L − y, then BP2–BP4", "1–2", ws, [flat(prove_network(w, output="softmax_ce")) for w in ws],
        time.perf_counter() - t0, output="softmax cross-entropy (Σy = 1)")
    t0 = time.perf_counter()
    cases = [((2, 2), 2), ((2, 2), 3), ((1, 2, 2), 2), ((2, 3, 2), 3)]
    counts = [prove_batch(w, m) for w, m in cases]
    rows.append({"statement": "batch: ∂(mean C)/∂W = mean of per-example a δᵀ (dW = δAᵀ/m, db = Σδ/m)",
                 "activation": "general σ", "output": "quadratic", "depth": "1–2", "networks": len(cases),
                 "widths": " ".join(f"{'-'.join(map(str, w))} m={m}" for w, m in cases), "equations": "BP3, BP4 (batch)",
                 "identities_proved": sum(c["proved"] for c in counts), "identities_failed": sum(c["failed"] for c in counts),
                 "holds": all(c["failed"] == 0 for c in counts), "seconds": round(time.perf_counter() - t0, 2)})
    return tuple(rows)


def main(argv=None) -> int:
    """``python -m gradspec.symbolic.backprop [--exhaustive-depth D]``: run the proofs and print the table.

    The default run (and the oracle, the report and the tests) proves every width combination up to
    depth 2; ``--exhaustive-depth 4`` proves all 3^(L+1) width combinations of every depth up to 4 too
    (minutes, not part of the default test run). Exit status 1 if an identity fails.
    """
    import argparse

    ap = argparse.ArgumentParser(prog="python -m gradspec.symbolic.backprop", description=main.__doc__.splitlines()[0])
    ap.add_argument("--max-depth", type=int, default=4)
    ap.add_argument("--max-width", type=int, default=3)
    ap.add_argument("--exhaustive-depth", type=int, default=2, help="depths up to this get every width combination")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    rows = bp_proofs(args.max_depth, args.max_width, args.exhaustive_depth)
    print("| statement | activation | depth | networks | identities proved | failed | seconds |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['statement']} | {r['activation']} | {r['depth']} | {r['networks']} | {r['identities_proved']} | "
              f"{r['identities_failed']} | {r['seconds']} |")
    print(f"total {time.perf_counter() - t0:.1f} s; all hold: {all(r['holds'] for r in rows)}")
    return 0 if all(r["holds"] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
