"""The symbolic oracle on the reference, and on deliberately wrong implementations it must reject."""
from __future__ import annotations

import json

import numpy as np
import pytest
import sympy as sp

import gradspec.reference as ref
from gradspec import oracles, registry
from gradspec.impl import Implementation
from gradspec.ops import rnn as rnn_record
from gradspec.runner import check
from gradspec.symbolic import definitions as defs, lookup
from gradspec.symbolic import derive as dv
from gradspec.symbolic import oracle as sym

from _impls import make_impl

pytestmark = pytest.mark.symbolic

GRAD_KINDS = ("differentiable", "loss")


@pytest.fixture(scope="module")
def reference_run():
    """One run of the symbolic oracle over the whole registry on the reference (seed 0)."""
    return check(None, oracles=["symbolic"], seed=0)


def test_registered_and_covers_every_differentiable_op():
    assert oracles.get("symbolic") is sym
    grad_ops = {op.name for op in registry.OPS if op.kind in GRAD_KINDS}
    assert {op.name for op in registry.OPS if op.sympy is not None and op.kind in GRAD_KINDS} == grad_ops
    assert set(lookup.CASES) == grad_ops


def test_every_op_gets_a_symbolic_verdict_on_the_reference(reference_run):
    res = reference_run
    assert res.ok, [(n, c.message) for n, c in res.failures()]
    for op in registry.OPS:
        r = res.ops[op.name]
        if op.kind == "init":
            assert r.status == "not_applicable"
            continue
        assert r.status == "pass", (op.name, r.status)
        checks = {c.check: c for c in r.checks}
        assert tuple(checks) == sym.CHECKS[op.kind]
        if op.kind in GRAD_KINDS:
            assert checks["forward"].info["comparison"].startswith("numeric")
            assert checks["backward"].info["comparison"].startswith("numeric")
            assert checks["backward"].worst_error is not None and checks["backward"].worst_error <= 1.0
            exact = checks["exact"].info["exact"]
            assert exact and all(e["holds"] and e["elements"] > 0 for e in exact)
            # the reference validates float arrays, so the exact comparison is stated to be on the spec's formula
            assert all(e["compared"].startswith("the spec's backward formula") for e in exact)
            assert checks["forward"].info["shapes"]


def test_conv2d_is_derived_with_stride_2_and_padding_1(reference_run):
    shapes = next(c for c in reference_run.ops["conv2d"].checks if c.check == "backward").info["shapes"]
    assert any(s["stride"] == 2 and s["pad"] == 1 for s in shapes)


def test_piecewise_ops_state_their_convention(reference_run):
    for name, words in (("relu", "relu'(0) = 0"), ("max_pool2d", "first maximum")):
        chk = next(c for c in reference_run.ops[name].checks if c.check == "exact")
        assert any(words in c for c in chk.info["conventions"])
        assert all("branch active at the sample point" in e["scope"] for e in chk.info["exact"])


def test_relu_derivative_at_zero_follows_the_registry():
    der = dv.derive("relu", {"x": np.zeros((1,))})
    x, dy = der.definition.symbols["x"][0], der.dy[0]
    assert der.grads[0][0].subs({x: 0, dy: 1}) == 0  # relu'(0) = 0
    assert der.grads[0][0].subs({x: sp.Rational(1, 10**9), dy: 1}) == 1


def test_max_pool_tie_goes_to_the_first_maximum():
    s = {"x": np.zeros((1, 1, 2, 2)), "kernel": 2, "stride": 2, "pad": 0}
    der = dv.derive("max_pool2d", s)
    g = dv.vjp_value(der, s, np.ones((1, 1, 1, 1)))[0]  # all four tie
    assert g.ravel().tolist() == [1.0, 0.0, 0.0, 0.0]
    assert ref.max_pool2d_backward(s["x"], 2, 2, 0, np.ones((1, 1, 1, 1))).ravel().tolist() == [1.0, 0.0, 0.0, 0.0]


def test_json_carries_the_verdicts_and_the_dimension_table(reference_run):
    d = json.loads(json.dumps(reference_run.to_dict(), allow_nan=False))
    aff = {c["check"]: c for c in d["ops"]["affine"]["checks"]}
    assert aff["exact"]["info"]["exact"][0]["scope"] == "exact identity for all inputs at this shape"
    mlp = {c["check"]: c for c in d["ops"]["mlp"]["checks"]}
    table = mlp["dimension_rules"]["info"]["dimension_table"]
    assert {(r["layout"], r["batch"].split()[0], r["quantity"]) for r in table} == {
        (lay, b, q) for lay in ("row", "column") for b in ("single", "batch") for q in ("W", "b", "Z", "A", "dW", "db", "dZ", "dA")}
    assert mlp["bp1_bp4"]["info"]["bp_proofs"]


# --------------------------------------------------------------------------- mutated backwards
def _sig(x):
    return ref.sigmoid_forward(x)


def _bn_dropped_term(x, gamma, beta, eps, dy):
    axes = (0,) if x.ndim == 2 else (0, 2, 3)
    shape = (1, -1) if x.ndim == 2 else (1, -1, 1, 1)
    mu = x.mean(axis=axes, keepdims=True)
    inv = 1.0 / np.sqrt(((x - mu) ** 2).mean(axis=axes, keepdims=True) + eps)
    dxh = dy * gamma.reshape(shape)
    dx = inv * (dxh - dxh.mean(axis=axes, keepdims=True))  # the x̂·Σ(dx̂·x̂) term is dropped
    _, dg, db = ref.batchnorm_backward(x, gamma, beta, eps, dy)
    return dx, dg, db


def _conv_flipped(x, W, b, stride, pad, dy):
    dx, dW, db = ref.conv2d_backward(x, W, b, stride, pad, dy)
    return dx, dW[:, :, ::-1, ::-1].copy(), db  # a convolution's dW, not the cross-correlation's


def _affine_mean(x, W, b, dy):
    dx, dW, _ = ref.affine_backward(x, W, b, dy)
    return dx, dW, dy.mean(axis=0)  # wrong factor 1/N


def _affine_no_transpose(x, W, b, dy):
    _, dW, db = ref.affine_backward(x, W, b, dy)
    return dy @ W, dW, db  # W instead of Wᵀ: right shape only when W is square (the second case), wrong values


def _embedding_assigned(ids, E, dy):
    dE = np.zeros_like(E)
    dE[np.ravel(ids)] = np.reshape(dy, (-1, E.shape[1]))  # last write wins
    return dE


def _residual_branch_only(x, W1, b1, W2, b2, dy):
    dx, dW1, db1, dW2, db2 = ref.residual_backward(x, W1, b1, W2, b2, dy)
    return dx - dy, dW1, db1, dW2, db2


#: op -> (description, wrong backward)
MUTANTS = {
    "sigmoid": ("dropped (1 − σ) factor", lambda x, dy: dy * _sig(x)),
    "tanh": ("1 − tanh instead of 1 − tanh²", lambda x, dy: dy * (1.0 - np.tanh(x))),
    "relu": ("wrong factor on the active side", lambda x, dy: 0.5 * ref.relu_backward(x, dy)),
    "leaky_relu": ("the slope alpha on the active side too", lambda x, a, dy: a * dy),
    "rnn": ("tanh' from the pre-activation (1 − a²)", rnn_record.tanh_prime_from_preactivation),
    "softmax": ("dropped the −<dy, y> term", lambda x, dy: ref.softmax_forward(x) * dy),
    "gelu": ("the tanh approximation's derivative", lambda x, dy: ref.gelu_tanh_backward(x, dy)),
    "gelu_tanh": ("the exact gelu's derivative", lambda x, dy: ref.gelu_backward(x, dy)),
    "affine": ("db = mean instead of sum", _affine_mean),
    "mse": ("missing 1/N", lambda y, t, dy: dy * (y - t)),
    "cross_entropy": ("sign flipped", lambda p, t, dy: dy * t / (p * p.shape[0])),
    "softmax_cross_entropy": ("missing 1/N", lambda z, lab, dy: ref.softmax_cross_entropy_backward(z, lab, dy) * z.shape[0]),
    "binary_cross_entropy": ("dropped the sigmoid", lambda z, t, dy: dy * (z - t) / z.shape[0]),
    "conv2d": ("kernel flipped in dW", _conv_flipped),
    "max_pool2d": ("spread over the window instead of routed to the maximum",
                   lambda x, k, s, p, dy: ref.avg_pool2d_backward(x, k, s, p, dy)),
    "avg_pool2d": ("divided by kernel instead of kernel²", lambda x, k, s, p, dy: ref.avg_pool2d_backward(x, k, s, p, dy) * k),
    "batchnorm": ("dropped the x̂·Σ(dx̂·x̂) term", _bn_dropped_term),
    "layernorm": ("dx without the mean terms (μ, σ² taken as constants)",
                  lambda x, g, b, eps, dy: (dy * g / np.sqrt(x.var(axis=tuple(range(x.ndim - g.ndim, x.ndim)),
                                                                   keepdims=True) + eps),
                                            *ref.layernorm_backward(x, g, b, eps, dy)[1:])),
    "dropout": ("mask dropped", lambda x, m, p, dy: dy / (1.0 - p)),
    "l2_penalty": ("wrong factor 1/2", lambda W, lam, dy: 0.5 * dy * lam * W),
    "embedding": ("assignment: a repeated id keeps its last row of dy", _embedding_assigned),
    "residual": ("the identity path's dy dropped from dx", _residual_branch_only),
    "attention": ("1/√d missing in dQ and dK", lambda Q, K, V, m, dy: tuple(
        g * np.sqrt(np.shape(Q)[-1]) if i < 2 else g for i, g in enumerate(ref.attention_backward(Q, K, V, m, dy)))),
}


def test_every_differentiable_op_has_a_mutant():
    assert set(MUTANTS) == {op.name for op in registry.OPS if op.kind in GRAD_KINDS}


@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_mutated_backward_is_caught(name):
    op = registry.get(name)
    desc, wrong = MUTANTS[name]
    impl = Implementation(f"mutant:{name}", make_impl(only=[name], **{op.backward: wrong}))
    checks = {c.check: c for c in sym.check_op(op, impl, np.random.default_rng(7), 2)}
    assert checks["backward"].status == "fail", (desc, checks["backward"].message)
    assert checks["forward"].status == "pass"
    assert checks["backward"].findings[0].details["expected_is"].startswith("sympy.diff")


def test_affine_missing_transpose_is_caught():
    """dx = dy W instead of dy Wᵀ: the second affine case has a square W, so only the values are wrong."""
    assert lookup.CASES["affine"][1]["D"] == lookup.CASES["affine"][1]["M"]
    op = registry.get("affine")
    impl = Implementation("mutant", make_impl(only=["affine"], affine_backward=_affine_no_transpose))
    checks = {c.check: c for c in sym.check_op(op, impl, np.random.default_rng(0), 2)}
    # case 1 (D != M): the product raises (an error); case 2 (square W): a value mismatch in dx
    assert checks["backward"].status in ("fail", "error")
    assert any(f.kind == "mismatch" and f.details.get("argument") == "x" for f in checks["backward"].findings)


def test_wrong_forward_is_caught():
    op = registry.get("softmax")
    impl = Implementation("mutant", make_impl(only=["softmax"], softmax_forward=lambda x: np.exp(x) / np.exp(x).sum()))
    checks = {c.check: c for c in sym.check_op(op, impl, np.random.default_rng(1), 2)}
    assert checks["forward"].status == "fail"


# --------------------------------------------------------------------------- the exact comparison
class SymbolicAffine:
    """An implementation without input validation: its backward runs on SymPy symbols (object arrays)."""

    def __init__(self, db_factor=1):
        self.db_factor = db_factor

    def affine_forward(self, x, W, b):
        return x @ W + b

    def affine_backward(self, x, W, b, dy):
        return dy @ W.T, x.T @ dy, self.db_factor * dy.sum(axis=0)


def test_exact_comparison_uses_the_implementation_when_it_accepts_symbols():
    op = registry.get("affine")
    checks = {c.check: c for c in sym.check_op(op, Implementation("sym", SymbolicAffine()), np.random.default_rng(0), 2)}
    assert all(c.status == "pass" for c in checks.values())
    assert all(e["compared"].startswith("the implementation's backward evaluated on SymPy symbols")
               for e in checks["exact"].info["exact"])


def test_exact_comparison_fails_for_a_wrong_symbolic_implementation():
    op = registry.get("affine")
    checks = {c.check: c for c in sym.check_op(op, Implementation("sym", SymbolicAffine(db_factor=2)), np.random.default_rng(0), 2)}
    assert checks["exact"].status == "fail"
    assert any("db" in f for e in checks["exact"].info["exact"] for f in e["failed"])
    assert checks["backward"].status == "fail"


@pytest.mark.parametrize("name", ["softmax", "batchnorm", "max_pool2d", "conv2d"])
def test_identity_rejects_a_wrong_formula(name):
    """The exact check can fail: a restated formula with one term scaled must not be proved equal."""
    rng = np.random.default_rng(3)
    s = lookup.draw(name, lookup.CASES[name][0], rng)
    der = dv.derive(name, s)
    dy = rng.normal(size=np.shape(der.dy))
    good = dv.spec_expressions(der)
    assert dv.identity(der, good, s, dy, "spec")["holds"]
    bad = (good[0] * sp.Rational(3, 2),) + good[1:]
    out = dv.identity(der, bad, s, dy, "wrong")
    assert not out["holds"] and out["failed"]


def test_mlp_mutant_is_caught():
    op = registry.get("mlp")

    def wrong(params, X, T, hidden, output):
        loss, grads = ref.mlp_loss_and_grads(params, X, T, hidden, output)
        return loss, [(dW, 2.0 * db) for dW, db in grads]

    checks = {c.check: c for c in sym.check_op(op, Implementation("m", make_impl(only=["mlp"], mlp_loss_and_grads=wrong)),
                                               np.random.default_rng(0), 1)}
    assert checks["backward"].status == "fail" and checks["forward"].status == "pass"


# --------------------------------------------------------------------------- rules
def _adam_no_bias_correction(w, g, state, lr, beta1=0.9, beta2=0.999, eps=1e-8):
    m = beta1 * state["m"] + (1 - beta1) * g
    v = beta2 * state["v"] + (1 - beta2) * g * g
    return w - lr * m / (np.sqrt(v) + eps), {"m": m, "v": v, "t": state["t"] + 1}


RULE_MUTANTS = {
    "sgd": ("sgd_update", lambda w, g, state, lr: (w + lr * g, {})),
    "momentum": ("momentum_update", lambda w, g, state, lr, momentum=0.9: (w + state["v"],  # the old velocity: a step late
                                                                             {"v": momentum * state["v"] - lr * g})),
    "adagrad": ("adagrad_update", lambda w, g, state, lr, eps=1e-7: (w - lr * g / (np.abs(g) + eps), {"cache": g * g})),
    "rmsprop": ("rmsprop_update", lambda w, g, state, lr, decay=0.99, eps=1e-7: (
        w - lr * g / (np.sqrt((1 - decay) * state["cache"] + decay * g * g) + eps), {"cache": (1 - decay) * state["cache"] + decay * g * g})),
    "adam": ("adam_update", _adam_no_bias_correction),
    "step": ("step_forward", lambda x: (np.asarray(x) >= 0).astype(float)),
    "clip_grad_norm": ("clip_grad_norm", lambda grads, c: [g * (c / ref.global_norm(grads) ** 2) if ref.global_norm(grads) > c
                                                           else g.copy() for g in grads]),
    "clip_grad_value": ("clip_grad_value", lambda grads, c: [np.clip(g, 0.0, c) for g in grads]),
    "perceptron": ("perceptron_update", lambda w, b, x, t, lr: (
        w + (t - ref.perceptron_predict(w, b, x)) * x, b + (t - ref.perceptron_predict(w, b, x)))),
}


@pytest.mark.parametrize("name", sorted(RULE_MUTANTS))
def test_mutated_rule_is_caught(name):
    op = registry.get(name)
    fn, wrong = RULE_MUTANTS[name]
    impl = Implementation(f"mutant:{name}", make_impl(only=[name], **{fn: wrong}))
    checks = sym.check_op(op, impl, np.random.default_rng(11), 8)
    target = [c for c in checks if c.check in ("trajectory", "rule")]
    assert target and all(c.status == "fail" for c in target), [c.message for c in checks]


def test_rule_check_catches_a_clip_that_returns_its_inputs():
    """The rule check is shared with fd64 (gradspec.oracles.common.check_rule): a clip that hands back the
    caller's own arrays when no clipping is needed is an aliasing finding here too."""
    import types

    def clip_grad_norm(grads, max_norm):
        return grads if ref.global_norm(grads) <= max_norm else ref.clip_grad_norm(grads, max_norm)

    impl = types.SimpleNamespace(clip_grad_norm=clip_grad_norm)
    res = check(impl, ops=["clip_grad_norm"], oracles=["symbolic"], seed=0, examples=8)
    rule = [c for c in res.ops["clip_grad_norm"].checks if c.check == "rule"][0]
    assert rule.status == "fail" and any(f.kind == "aliasing" for f in rule.findings), rule.message


def test_exact_is_not_a_pass_for_an_implementation_that_rejects_symbols():
    """A backward that cannot run on SymPy symbols gets no exact verdict: what was proved is the spec's formula.
    Its numeric backward check carries the verdict (here a wrong one: 1.5× the gradient)."""
    import types

    impl = types.SimpleNamespace(sigmoid_forward=ref.sigmoid_forward,
                                 sigmoid_backward=lambda x, dy: 1.5 * ref.sigmoid_backward(x, dy))
    res = {c.check: c for c in check(impl, ops=["sigmoid"], oracles=["symbolic"], seed=0).ops["sigmoid"].checks}
    assert res["exact"].status == "not_applicable" and "about the spec" in res["exact"].message
    assert res["backward"].status == "fail"
