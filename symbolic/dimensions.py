r"""Dimension rules of a hidden layer, derived with SymPy and checked against the reference.

Two layouts, each for a single example (m = 1) and a batch of m examples:

* **row** (the protocol's): :math:`A^{l-1}` is (m, n_{l-1}), :math:`W^l` is
  (n_{l-1}, n_l), :math:`b^l` is (n_l,), :math:`Z^l = A^{l-1} W^l + \mathbf 1 b^{l\top}`;
* **column** (Nielsen, Ng): :math:`A^{l-1}` is (n_{l-1}, m), :math:`W^l` is
  (n_l, n_{l-1}), :math:`b^l` is (n_l, 1), :math:`Z^l = W^l A^{l-1} + b^l \mathbf 1^\top`.

How a row of the table is obtained:

1. **shape rule** -- the layer's matrix formula written with SymPy
   ``MatrixSymbol`` of symbolic sizes :math:`m, n_{l-1}, n_l, n_{l+1}`;
   SymPy's matrix algebra gives the product's shape (e.g. row layout
   :math:`dW = A^{\top} dZ`: (n_{l-1}, m)·(m, n_l) = (n_{l-1}, n_l)).
2. **derivation** -- a two-layer network (sizes n_{l-1} = 2, n_l = 3,
   n_{l+1} = 2; m = 1 and m = 3) written element by element with an
   undefined activation σ and the mean quadratic cost
   :math:`C = \frac{1}{2m}\sum (A^{l+1} - Y)^2`; every gradient is a matrix of
   ``sympy.diff`` (dZ, dA by differentiating the cost as a function of free
   Z, A), so its shape is *derived*. Each matrix formula is then proved equal to
   the ``sympy.diff`` matrix (exact identity, fresh-symbol abstraction of
   :mod:`gradspec.symbolic.backprop`), which also proves where the 1/m lives:
   in the row layout dZ = ∂C/∂Z already holds it (the reference's δ), in the
   column layout the reference's δ is m·∂C/∂Z (per example) and the 1/m sits in
   dW = δAᵀ/m and db = Σδ/m.
3. **reference** -- the reference's :func:`~gradspec.reference.mlp.mlp_backprop`
   in each layout at the same sizes gives W, b, dW, db, δ (= dZ); Z and A come
   from its forward, dA from its δ of the next layer (W^{l+1}ᵀδ^{l+1} or
   δ^{l+1}W^{l+1}ᵀ); the measured shapes must equal the derived ones, and the
   reference's values of dW, db, δ must equal the derived formulas at a
   random point (float64, σ = tanh), which checks the 1/m placement.

:func:`dimension_table` returns the table (flat dicts, one per layout × batch
× quantity), the shape the reports render.
"""
from __future__ import annotations

import functools

import numpy as np
import sympy as sp

from .backprop import abstract, is_zero, sigma, sigma_prime

QUANTITIES = ("W", "b", "Z", "A", "dW", "db", "dZ", "dA")
SIZES = {"n_prev": 2, "n_l": 3, "n_next": 2}
BATCH = {"single": 1, "batch": 3}


# --------------------------------------------------------------------------- 1. shape rules from MatrixSymbol algebra
def shape_rules() -> dict:
    """{(layout, quantity): (formula, symbolic shape)} from SymPy's matrix algebra at symbolic sizes."""
    m, p, n, q = sp.symbols("m n_{l-1} n_l n_{l+1}", positive=True, integer=True)
    ones = sp.MatrixSymbol("1", m, 1)
    out = {}
    # row layout
    A, W, b = sp.MatrixSymbol("A", m, p), sp.MatrixSymbol("W", p, n), sp.MatrixSymbol("b", n, 1)
    Z = A * W + ones * b.T
    dZ = sp.MatrixSymbol("dZ", *Z.shape)
    W2 = sp.MatrixSymbol("W^{l+1}", n, q)
    dZ2 = sp.MatrixSymbol("dZ^{l+1}", m, q)
    rules = {"W": ("W", W), "b": ("b", b), "Z": ("Z = A W + 1 bᵀ", Z), "A": ("A = σ(Z)", Z),
             "dW": ("dW = Aᵀ dZ", A.T * dZ), "db": ("db = dZᵀ 1 (sum over the batch)", dZ.T * ones),
             "dZ": ("dZ = dA ⊙ σ'(Z) (holds the 1/m)", dZ), "dA": ("dA = dZ^{l+1} W^{l+1}ᵀ", dZ2 * W2.T)}
    for k, (f, e) in rules.items():
        out[("row", k)] = (f, e.shape)
    # column layout
    A, W, b = sp.MatrixSymbol("A", p, m), sp.MatrixSymbol("W", n, p), sp.MatrixSymbol("b", n, 1)
    Z = W * A + b * ones.T
    D = sp.MatrixSymbol("δ", *Z.shape)
    W2 = sp.MatrixSymbol("W^{l+1}", q, n)
    D2 = sp.MatrixSymbol("δ^{l+1}", q, m)
    rules = {"W": ("W", W), "b": ("b", b), "Z": ("Z = W A + b 1ᵀ", Z), "A": ("A = σ(Z)", Z),
             "dW": ("dW = δ Aᵀ / m", D * A.T / m), "db": ("db = δ 1 / m (sum over the batch)", D * ones / m),
             "dZ": ("δ = m ∂C/∂Z (per example, no 1/m)", D), "dA": ("dA = W^{l+1}ᵀ δ^{l+1} / m (= ∂C/∂A)", W2.T * D2 / m)}
    for k, (f, e) in rules.items():
        out[("column", k)] = (f, e.shape)
    return out


def _fmt(shape) -> str:
    return "(" + ", ".join(sp.sstr(s) for s in shape) + ")"


# --------------------------------------------------------------------------- 2. the element-level derivation
def _mat(name, r, c):
    return sp.Matrix(r, c, lambda i, j: sp.Symbol(f"{name}_{i}_{j}", real=True))


def derive_layer(layout: str, m: int, sizes=SIZES) -> dict:
    """Gradients of a 2-layer network by ``sympy.diff``, the matrix formulas, and their proofs.

    Returns {"mats": {quantity: sympy Matrix}, "proofs": {quantity: bool}, "symbols": ..., "exprs": ...}.
    """
    p, n, q = sizes["n_prev"], sizes["n_l"], sizes["n_next"]
    row = layout == "row"
    A0 = _mat("x", m, p) if row else _mat("x", p, m)
    W1 = _mat("W1", p, n) if row else _mat("W1", n, p)
    b1 = _mat("b1", 1, n) if row else _mat("b1", n, 1)
    W2 = _mat("W2", n, q) if row else _mat("W2", q, n)
    b2 = _mat("b2", 1, q) if row else _mat("b2", q, 1)
    Y = _mat("y", m, q) if row else _mat("y", q, m)
    ones = sp.ones(m, 1)

    def lin(A, W, b):
        return A * W + ones * b if row else W * A + b * ones.T

    def cost(A2):
        return sum((A2[i] - Y[i]) ** 2 for i in range(len(Y))) / (2 * m)

    Z1 = lin(A0, W1, b1)
    A1 = Z1.applyfunc(sigma)
    Z2 = lin(A1, W2, b2)
    C = cost(Z2.applyfunc(sigma))
    # free Z1 / A1 for dZ, dA; free Z2 for the next layer's δ
    Zf, Af, Z2f = _mat("Z", *Z1.shape), _mat("A", *Z1.shape), _mat("Zn", *Z2.shape)
    C_Z = cost(lin(Zf.applyfunc(sigma), W2, b2).applyfunc(sigma))
    C_A = cost(lin(Af, W2, b2).applyfunc(sigma))
    C_Z2 = cost(Z2f.applyfunc(sigma))
    dW = W1.applyfunc(lambda w: sp.diff(C, w))
    db = b1.applyfunc(lambda v: sp.diff(C, v))
    dZ = Zf.applyfunc(lambda v: sp.diff(C_Z, v)).xreplace(dict(zip(Zf, Z1)))
    dA = Af.applyfunc(lambda v: sp.diff(C_A, v)).xreplace(dict(zip(Af, A1)))
    dZ2 = Z2f.applyfunc(lambda v: sp.diff(C_Z2, v)).xreplace(dict(zip(Z2f, Z2)))
    mapping = {}
    for k, e in enumerate(list(Z1) + list(Z2)):
        mapping[sigma(e)] = sp.Symbol(f"Asg_{k}")
        mapping[sigma_prime(e)] = sp.Symbol(f"Spr_{k}")
    if row:
        formulas = {"dW": A0.T * dZ, "db": ones.T * dZ, "dA": dZ2 * W2.T}
        delta_ref = dZ  # the reference's row-layout δ is ∂C/∂Z: the 1/m is inside
    else:
        delta = m * dZ  # the reference's column-layout δ: per example
        formulas = {"dW": delta * A0.T / m, "db": delta * ones / m, "dA": W2.T * (m * dZ2) / m}
        delta_ref = delta
    got = {"dW": dW, "db": db, "dA": dA}
    proofs = {k: all(is_zero(abstract(e, mapping)) for e in (got[k] - formulas[k])) for k in formulas}
    # dZ = dA ⊙ σ'(Z): the chain rule through the activation (BP2 in matrix form)
    proofs["dZ"] = all(is_zero(abstract(e, mapping)) for e in (dZ - dA.multiply_elementwise(Z1.applyfunc(sigma_prime))))
    mats = {"W": W1, "b": b1, "Z": Z1, "A": A1, "dW": dW, "db": db, "dZ": dZ, "dA": dA}
    return {"mats": mats, "proofs": proofs, "delta_ref": delta_ref, "symbols": (A0, W1, b1, W2, b2, Y),
            "mapping": mapping, "Z2": Z2}


# --------------------------------------------------------------------------- 3. the reference at the same sizes
def _reference(layout, m, rng, sizes=SIZES):
    from ..reference.mlp import mlp_backprop, mlp_forward

    p, n, q = sizes["n_prev"], sizes["n_l"], sizes["n_next"]
    X = rng.normal(size=(m, p))
    params = [(rng.normal(size=(p, n)), rng.normal(size=n)), (rng.normal(size=(n, q)), rng.normal(size=q))]
    T = rng.normal(size=(m, q))
    if layout == "column":
        X, T = X.T.copy(), T.T.copy()
        params = [(W.T.copy(), b.reshape(-1, 1).copy()) for W, b in params]
    # the derivation has σ on both layers; it is evaluated with σ = tanh on the hidden layer and the
    # identity on the output, which is the reference's ("tanh", "identity_mse") network
    loss, grads, deltas = mlp_backprop(params, X, T, "tanh", "identity_mse", layout=layout)
    zs, acts = mlp_forward(params, X, "tanh", layout)
    W2 = params[1][0]
    dA = deltas[1] @ W2.T if layout == "row" else W2.T @ deltas[1]
    out = {"W": params[0][0], "b": params[0][1], "Z": zs[0], "A": acts[1], "dW": grads[0][0], "db": grads[0][1],
           "dZ": deltas[0], "dA": dA}
    return out, (X, params, T)


def _numeric_check(layout, m, der, ref_vals, inputs) -> dict:
    """Max |reference − derived| of dW, db and δ at the reference's random point.

    The derivation (σ on both layers) is evaluated with σ = tanh on the hidden
    layer and the identity on the output, i.e. the reference's ("tanh",
    "identity_mse") network: the abstracted derivation is a polynomial in the
    fresh symbols σ(z_k), σ'(z_k), evaluated in float64 from the derivation's
    own forward (not the reference's).
    """
    X, params, T = inputs
    A0, W1, b1, W2, b2, Y = der["symbols"]
    vals = {}
    for S, V in ((A0, X), (W1, params[0][0]), (b1, params[0][1]), (W2, params[1][0]), (b2, params[1][1]), (Y, T)):
        V = np.asarray(V, dtype=np.float64).reshape(S.shape)
        vals.update({S[i, j]: float(V[i, j]) for i in range(S.shape[0]) for j in range(S.shape[1])})
    mapping = der["mapping"]
    Z1, Z2 = list(der["mats"]["Z"]), list(der["Z2"])

    def ev(e):
        return float(sp.sympify(abstract(e, mapping)).xreplace(vals))

    for k, z in enumerate(Z1):  # hidden layer: σ = tanh
        t = np.tanh(ev(z))
        vals[mapping[sigma(z)]], vals[mapping[sigma_prime(z)]] = t, 1.0 - t * t
    for z in Z2:  # output layer: identity
        vals[mapping[sigma(z)]], vals[mapping[sigma_prime(z)]] = ev(z), 1.0
    out = {}
    for k, M in (("dW", der["mats"]["dW"]), ("db", der["mats"]["db"]), ("dZ", der["delta_ref"])):
        val = np.array([ev(e) for e in M], dtype=np.float64).reshape(np.shape(ref_vals[k]))
        out[k] = float(np.max(np.abs(val - ref_vals[k])))
    return out


@functools.lru_cache(maxsize=4)
def _table(seed: int) -> tuple:
    rules = shape_rules()
    rng = np.random.default_rng(seed)
    sizes = SIZES
    sym = {"m": None, "n_{l-1}": sizes["n_prev"], "n_l": sizes["n_l"], "n_{l+1}": sizes["n_next"]}
    rows = []
    for layout in ("row", "column"):
        for batch, m in BATCH.items():
            der = derive_layer(layout, m)
            ref_vals, inputs = _reference(layout, m, rng)
            errs = _numeric_check(layout, m, der, ref_vals, inputs)
            for qn in QUANTITIES:
                formula, shape = rules[(layout, qn)]
                at = {s: (m if s.name == "m" else sym[s.name]) for sh in shape for s in sp.sympify(sh).free_symbols}
                rule_shape = [int(sp.sympify(s).subs(at)) for s in shape]
                derived = list(der["mats"][qn].shape)
                measured = list(np.shape(ref_vals[qn]))
                rule_text = _fmt(shape)
                if layout == "row" and qn in ("b", "db"):
                    # the protocol stores b and db as 1-D (n_l,): the (n_l, 1) / (1, n_l) matrix flattened
                    rule_shape, derived = [int(np.prod(rule_shape))], [int(np.prod(derived))]
                    rule_text = "(n_l,) [the (n_l, 1) matrix, 1-D]"
                param = {"dW": "W", "db": "b"}.get(qn)
                same_as_param = None if param is None else measured == list(np.shape(ref_vals[param]))
                proof = der["proofs"].get(qn)
                one_over_m = ("inside dZ (= ∂C/∂Z of the mean cost)" if layout == "row" else "in dW and db (δ is per example)")
                rows.append({
                    "layout": layout, "batch": f"{batch} (m={m})", "quantity": qn, "formula": formula,
                    "rule": rule_text, "rule_shape": rule_shape, "derived_shape": derived, "reference_shape": measured,
                    "match": rule_shape == derived == measured,
                    "formula_proved": proof if proof is not None else "—",
                    "reference_value_error": errs.get(qn, "—"),
                    "same_shape_as_param": "—" if same_as_param is None else same_as_param,
                    "one_over_m": one_over_m,
                })
    return tuple(rows)


def dimension_table(seed: int = 0) -> list[dict]:
    """The dimension-rule table (flat dicts), derived and checked; cached per seed within a process.

    Columns: layout, batch, quantity, formula, rule (symbolic shape from
    ``MatrixSymbol`` algebra), rule_shape (the rule at n_{l-1}=2, n_l=3,
    n_{l+1}=2 and m), derived_shape (shape of the ``sympy.diff`` matrix),
    reference_shape (what the reference produces), match, formula_proved (the
    matrix formula equals the ``sympy.diff`` matrix exactly), reference_value_error
    (max |reference − derived| for dW, db, dZ at a random point), one_over_m.
    """
    return [dict(r) for r in _table(seed)]


#: A reference value error above this fails the table (float64 rounding of a tiny network is ~1e-16).
VALUE_TOL = 1e-12


def row_problems(r) -> list[str]:
    """What is wrong with one row of the table (empty when its shape, formula and reference value all agree)."""
    where = f"{r['layout']}/{r['batch']}/{r['quantity']}"
    bad = []
    if not r["match"]:
        bad.append(f"{where}: rule {r['rule_shape']}, derived {r['derived_shape']}, reference {r['reference_shape']}")
    if r["formula_proved"] is False:
        bad.append(f"{where}: the formula {r['formula']} is not the sympy.diff gradient")
    e = r["reference_value_error"]
    if isinstance(e, float) and not e <= VALUE_TOL:
        bad.append(f"{where}: reference value differs from the derivation by {e:.3g}")
    if r["same_shape_as_param"] is False:
        bad.append(f"{where}: gradient shape differs from its parameter's")
    return bad


def table_ok(rows) -> tuple[bool, list[str]]:
    """(all good, problems): every shape matches, every formula is proved, every reference value agrees."""
    bad = [p for r in rows for p in row_problems(r)]
    return not bad, bad
