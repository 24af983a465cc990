"""BP1–BP4 proofs, the dimension-rule table and the optimizers' closed forms, and that each can fail."""
from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

import gradspec.reference.mlp as ref_mlp
from gradspec import symbolic
from gradspec.symbolic import backprop as bp
from gradspec.symbolic import dimensions as dims
from gradspec.symbolic import rules

pytestmark = pytest.mark.symbolic


# --------------------------------------------------------------------------- BP1–BP4
def test_bp1_to_bp4_proved_for_depths_1_to_4_and_widths_up_to_3():
    rows = symbolic.bp_proofs()
    general = [r for r in rows if r["activation"] == "general σ" and r["output"] == "quadratic" and r["statement"] == "BP1–BP4"]
    assert [r["depth"] for r in general] == [1, 2, 3, 4]
    for r in general:
        assert r["holds"] and r["identities_failed"] == 0 and r["identities_proved"] > 0
        nets = r["widths"].split()
        assert all(max(int(w) for w in n.split("-")) <= 3 for n in nets)
        assert "-".join(["3"] * (r["depth"] + 1)) in nets  # the widest network of that depth
        if r["depth"] >= 2:
            assert r["equations"] == "BP1, BP2, BP3, BP4"
    # depths 1 and 2: every width tuple in {1, 2, 3}^(L+1)
    assert general[0]["networks"] == 9 and general[1]["networks"] == 27


def test_concrete_activations_softmax_output_and_batch_form_proved():
    rows = symbolic.bp_proofs()
    acts = {r["activation"] for r in rows if r["holds"]}
    assert {"sigmoid", "tanh", "relu (smooth pieces)"} <= acts
    assert any(r["output"].startswith("softmax cross-entropy") and r["holds"] for r in rows)
    batch = [r for r in rows if r["statement"].startswith("batch")]
    assert batch and batch[0]["holds"] and "m=3" in batch[0]["widths"]
    assert all(r["holds"] for r in rows)


@pytest.mark.parametrize("wrong", bp.WRONG)
def test_a_wrong_backprop_formula_is_rejected(wrong):
    res = bp.prove_network((2, 2, 2), wrong=wrong)
    assert sum(v["failed"] for v in res.values()) > 0
    assert bp.prove_network((2, 2, 2)) == {eq: {"proved": n, "failed": 0} for eq, n in
                                           (("BP1", 2), ("BP2", 2), ("BP3", 4), ("BP4", 8))}


def test_bp1_of_the_softmax_output_needs_the_normalised_target():
    """δ^L = a^L − y holds because Σy = 1; with a free y it must not be provable (so the proof is not vacuous)."""
    Z = [sp.Symbol(f"Z_{k}", real=True) for k in range(2)]
    y = [sp.Symbol("y0"), sp.Symbol("y1")]  # not normalised
    e = [sp.exp(z) for z in Z]
    C = -sum(y[k] * sp.log(e[k] / sum(e)) for k in range(2))
    mp = {sp.exp(z): sp.Symbol(f"X{k}") for k, z in enumerate(Z)}
    assert not bp.is_zero(bp.abstract(sp.diff(C, Z[0]) - (e[0] / sum(e) - y[0]), mp))
    y1 = 1 - y[0]
    C = -(y[0] * sp.log(e[0] / sum(e)) + y1 * sp.log(e[1] / sum(e)))
    assert bp.is_zero(bp.abstract(sp.diff(C, Z[0]) - (e[0] / sum(e) - y[0]), mp))


def test_batch_form_rejects_a_sum_instead_of_a_mean():
    """The mean cost's gradient is the mean of per-example gradients, not their sum."""
    nets = [bp.Net((1, 1), tag=f"e{e}") for e in range(2)]
    nets[1].W, nets[1].b = nets[0].W, nets[0].b
    mp, Cs, g = {}, [], []
    for e, nt in enumerate(nets):
        z, a = nt.forward()
        mp.update(nt.abstraction(z, f"e{e}"))
        Cs.append(nt.quadratic(a[1]))
        g.append((a[1][0] - nt.y[0]) * bp.dsigma(z[1][0]))
    Cbar = sum(Cs) / 2
    assert bp.is_zero(bp.abstract(sp.diff(Cbar, nets[0].b[1][0]) - sum(g) / 2, mp))
    assert not bp.is_zero(bp.abstract(sp.diff(Cbar, nets[0].b[1][0]) - sum(g), mp))


# --------------------------------------------------------------------------- dimension rules
def test_dimension_table_covers_both_layouts_and_batch_forms_and_matches_the_reference():
    rows = symbolic.dimension_table()
    ok, problems = dims.table_ok(rows)
    assert ok, problems
    assert len(rows) == 2 * 2 * 8
    get = {(r["layout"], r["batch"].split()[0], r["quantity"]): r for r in rows}
    # gradients have the shape of their parameter, in both layouts
    for lay in ("row", "column"):
        for b in ("single", "batch"):
            assert get[(lay, b, "dW")]["reference_shape"] == get[(lay, b, "W")]["reference_shape"]
            assert get[(lay, b, "db")]["reference_shape"] == get[(lay, b, "b")]["reference_shape"]
            assert get[(lay, b, "dZ")]["derived_shape"] == get[(lay, b, "Z")]["derived_shape"]
            assert get[(lay, b, "dA")]["derived_shape"] == get[(lay, b, "A")]["derived_shape"]
    # the rules themselves (n_{l-1} = 2, n_l = 3, m = 3)
    assert get[("row", "batch", "dW")]["rule"] == "(n_{l-1}, n_l)" and get[("row", "batch", "dW")]["formula"] == "dW = Aᵀ dZ"
    assert get[("column", "batch", "dW")]["rule"] == "(n_l, n_{l-1})" and get[("column", "batch", "dW")]["formula"] == "dW = δ Aᵀ / m"
    assert get[("row", "batch", "Z")]["derived_shape"] == [3, 3] and get[("column", "single", "Z")]["derived_shape"] == [3, 1]
    assert get[("row", "batch", "db")]["reference_shape"] == [3] and get[("column", "batch", "db")]["reference_shape"] == [3, 1]
    assert "inside dZ" in get[("row", "batch", "dW")]["one_over_m"] and "in dW and db" in get[("column", "batch", "dW")]["one_over_m"]
    assert all(r["formula_proved"] is True for r in rows if r["quantity"] in ("dW", "db", "dZ", "dA"))


def test_shape_rules_come_from_matrix_algebra():
    rules_ = dims.shape_rules()
    m, p, n = sp.symbols("m n_{l-1} n_l", positive=True, integer=True)
    assert rules_[("row", "dW")][1] == (p, n)
    assert rules_[("column", "dW")][1] == (n, p)
    assert rules_[("row", "dA")][1] == (m, n) and rules_[("column", "dA")][1] == (n, m)


def test_dimension_table_catches_a_reference_without_the_one_over_m(monkeypatch):
    """A column-layout backprop that forgets the 1/m of BP3/BP4 (the shapes stay right) must be caught."""
    real = ref_mlp.mlp_backprop

    def forgetful(params, X, T, hidden, output, layout="row"):
        loss, grads, deltas = real(params, X, T, hidden, output, layout)
        if layout == "column":
            m = X.shape[1]
            grads = [(dW * m, db * m) for dW, db in grads]
        return loss, grads, deltas

    monkeypatch.setattr(ref_mlp, "mlp_backprop", forgetful)
    rows = dims.dimension_table(seed=987654)  # a seed not cached by the other tests
    ok, problems = dims.table_ok(rows)
    assert not ok
    assert any("column/batch" in p and "dW" in p for p in problems)
    assert all("row/" not in p for p in problems)


def test_table_ok_reports_a_shape_mismatch():
    rows = symbolic.dimension_table()
    bad = [dict(r) for r in rows]
    bad[4] = dict(bad[4], reference_shape=[9, 9], match=False)
    ok, problems = dims.table_ok(bad)
    assert not ok and "[9, 9]" in problems[0]


# --------------------------------------------------------------------------- optimizers, clipping
def test_optimizer_closed_forms_follow_from_the_one_step_definitions():
    rows = rules.prove_closed_forms()
    assert {r["optimizer"] for r in rows} == set(rules.OPTIMIZERS)
    assert {r["steps"] for r in rows} == {1, 2, 3}
    assert all(r["holds"] and r["state_identity"] for r in rows)


def test_a_wrong_closed_form_is_rejected():
    # Adam without bias correction is not Adam; momentum is not SGD (for μ ≠ 0)
    T = 2
    H = rules.HYPER_SYMBOLS
    g = rules.grads(T)
    no_bias = rules.W0 - H["lr"] * sum(
        ((1 - H["beta1"]) * sum(H["beta1"] ** (t - s) * g[s - 1] for s in range(1, t + 1)))
        / (sp.sqrt((1 - H["beta2"]) * sum(H["beta2"] ** (t - s) * g[s - 1] ** 2 for s in range(1, t + 1))) + H["eps"])
        for t in range(1, T + 1))
    assert not rules._zero_at_rationals(rules.iterate("adam", T) - no_bias)
    assert sp.expand(rules.iterate("momentum", 2) - rules.closed_form("sgd", 2)) != 0
    wrong_state = [{"v": -H["lr"] * g[0]}, {"v": -H["lr"] * (g[0] + g[1])}]  # μ forgotten
    assert any(sp.expand(a["v"] - b["v"]) != 0 for a, b in zip(rules.iterate_states("momentum", 2), wrong_state))


def test_clip_norm_identity():
    assert rules.prove_clip_norm(3)
    gs = [sp.Symbol(f"g{i}", real=True) for i in range(2)]
    c = sp.Symbol("c", positive=True)
    wrong = [g * c / sum(abs(x) for x in gs) for g in gs]  # L1 scaling: the norm is not c
    assert sp.simplify(sum(e ** 2 for e in wrong) - c ** 2) != 0


def test_optimizer_trajectory_matches_a_hand_computed_adam_step():
    """One Adam step from zero state: m̂ = g, v̂ = g², so w1 = w0 − lr·g/(|g| + eps) exactly."""
    w1 = rules.trajectory("adam", 0.5, [0.25], {"lr": 0.1, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8})[0]
    assert abs(float(w1) - (0.5 - 0.1 * 0.25 / (0.25 + 1e-8))) < 1e-15
    assert np.isclose(float(w1), 0.5 - 0.1, atol=1e-7)
