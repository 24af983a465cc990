"""The high-precision oracle: truth, guard, tolerance model, kinks, diagnostics, the two promises.

Hypothesis example counts scale with the loaded profile (``dev`` by default,
``--hypothesis-profile thorough`` for 15× more), never fixed.
"""
from __future__ import annotations

import json
import math
import subprocess
import sys

import mpmath
import numpy as np
import pytest
from hypothesis import event, given, settings, strategies as st
from mpmath import mp
from mpmath.libmp import from_man_exp

import gradspec.reference as ref
from gradspec import registry
from gradspec.ops import activations
from gradspec.mpmath_oracle import forward as F, lookup as L, oracle as O, tolerance as T
from gradspec.mpmath_oracle.sensitivity import Perturbed
from gradspec.mpmath_oracle.truth import Problem, direction, get_arg, spread_digits
from gradspec.impl import Implementation
from gradspec.properties.lookup import OP_MODES, samples as strategy

from _impls import write_impl

pytestmark = pytest.mark.mpmath

OPS = [op for op in registry.OPS if O.applies(op)]
OP_IDS = [op.name for op in OPS]


def _scaled(fraction: float) -> int:
    """A fraction of the loaded Hypothesis profile's max_examples (at least 2)."""
    return max(2, int(settings().max_examples * fraction))


def _clean(sample: dict) -> dict:
    s = dict(sample)
    s.pop("seed", None)
    return s


# --------------------------------------------------------------------------- the registry is covered
def test_every_gradient_op_of_the_registry_is_checked():
    with_gradient = {op.name for op in registry.OPS if op.has_gradient}
    assert with_gradient == set(OP_IDS)
    assert set(L.FORWARDS) == set(L.MODELS) == with_gradient


# --------------------------------------------------------------------------- the truth: 40 digits
def _closed_forms(op_name, s, dy):
    """Closed-form VJPs in mpmath (the chain rule done by hand), at the current precision."""
    m = F.sample_to_mp(s)
    if op_name == "sigmoid":
        sg = 1 / (1 + F.mexp(-m["x"]))
        return {"x": F.to_mp(dy) * sg * (1 - sg)}
    if op_name == "tanh":
        t = F.mtanh(m["x"])
        return {"x": F.to_mp(dy) * (1 - t * t)}
    if op_name == "softmax":
        y = F.softmax_rows(m["x"])
        d = F.to_mp(dy)
        return {"x": y * (d - F.msum(d * y, axis=-1, keepdims=True))}
    if op_name == "affine":
        d = F.to_mp(dy)
        return {"x": F.mdot(d, m["W"].T), "W": F.mdot(m["x"].T, d), "b": F.msum(d, axis=0)}
    if op_name == "softmax_cross_entropy":
        z = m["z"]
        N, K = z.shape
        g = F.softmax_rows(z) - F.to_mp(np.eye(K)[s["labels"]])
        return {"z": mpmath.mpf(dy) * g / N}
    if op_name == "binary_cross_entropy":
        z = m["z"]
        return {"z": mpmath.mpf(dy) * (1 / (1 + F.mexp(-z)) - m["t"]) / z.shape[0]}
    if op_name == "batchnorm":
        x, d = m["x"], F.to_mp(dy)
        ax = (0,) if x.ndim == 2 else (0, 2, 3)
        sh = (1, -1) if x.ndim == 2 else (1, -1, 1, 1)
        n = int(np.prod([x.shape[a] for a in ax]))
        mu = F.msum(x, axis=ax, keepdims=True) / n
        xc = x - mu
        inv = 1 / F.msqrt(F.msum(xc * xc, axis=ax, keepdims=True) / n + mpmath.mpf(s["eps"]))
        xh = xc * inv
        dxh = d * m["gamma"].reshape(sh)
        dx = inv / n * (n * dxh - F.msum(dxh, axis=ax, keepdims=True) - xh * F.msum(dxh * xh, axis=ax, keepdims=True))
        return {"x": dx, "gamma": F.msum(d * xh, axis=ax), "beta": F.msum(d, axis=ax)}
    raise KeyError(op_name)


def _agreement_digits(op_name, seed, dps):
    op = registry.get(op_name)
    rng = np.random.default_rng(seed)
    s = op.sample(rng)
    dy = O.draw_dy(op, s, rng)
    P = Problem(op, s, dy, dps=dps)
    worst = math.inf
    with mp.workdps(2 * dps + 20):
        exact = _closed_forms(op_name, s, dy)
    for name in P.names:
        got, _ = P.vjp(name)
        with mp.workdps(2 * dps + 20):
            for a, b in zip(got.flat, exact[name].flat):
                if b != 0:
                    worst = min(worst, -float(mpmath.log10(abs((a - b) / b))))
        v = direction(rng, get_arg(s, name))
        D, _ = P.directional(name, v)
        with mp.workdps(2 * dps + 20):
            Db = F.inner(exact[name], F.to_mp(v))
            worst = min(worst, -float(mpmath.log10(abs((D - Db) / Db))))
    return worst


@pytest.mark.parametrize("op_name", ["sigmoid", "tanh", "softmax", "affine", "softmax_cross_entropy",
                                     "binary_cross_entropy", "batchnorm"])
def test_truth_agrees_with_closed_forms_to_40_digits(op_name):
    digits = min(_agreement_digits(op_name, seed, 50) for seed in range(2))
    assert digits >= 40, f"{op_name}: the 50-digit truth agrees with the closed form to only {digits:.1f} digits"


def test_the_digit_count_is_a_real_measurement():
    """At 12 digits the same comparison shows ~12 digits, not 40: the test above can fail."""
    digits = _agreement_digits("sigmoid", 0, 12)
    assert 8 <= digits < 20


def test_richardson_truth_carries_its_own_error_estimate():
    op = registry.get("tanh")
    s = {"x": np.array([0.3, -1.7, 2.5])}
    P = Problem(op, s, np.array([1.0, -2.0, 0.5]))
    v = np.array([1.0, 0.5, -1.0])
    D2, e2 = P.directional("x", v, order=2)
    D4, e4 = P.directional("x", v, order=4)
    assert abs(float(D2 - D4)) <= e2 + e4 and e2 < 1e-45 and e4 < 1e-45
    with pytest.raises(ValueError, match="order must be 2"):
        P.directional("x", v, order=3)


def test_precision_is_scoped_never_leaked():
    before = mp.dps
    O.check_op(registry.get("softmax"), ref, np.random.default_rng(0), 1)
    assert mp.dps == before


# --------------------------------------------------------------------------- exact sums over any exponent range
def _integer_sum(terms):
    """The exact sum of (m, e) terms as one integer at the smallest exponent, rounded once (the definition)."""
    terms = [(m, e) for m, e in terms if m]
    if not terms:
        return mpmath.mpf(0)
    low = min(e for _, e in terms)
    return mp.make_mpf(from_man_exp(sum(m << (e - low) for m, e in terms), low, mp.prec, "n"))


def _sum_cases(rng):
    """(precision, terms): exponent gaps of up to 10^4 bits, exact cancellations, and ties decided by a far term."""
    for _ in range(300):
        terms = [(int(rng.integers(1, 2**62)) * int(rng.choice([-1, 1])) << int(rng.choice([0, 40, 200])),
                  int(rng.choice([0, -60, -400, -3000, rng.integers(-10_000, 100)]))) for _ in range(rng.integers(1, 6))]
        if rng.random() < 0.3:
            terms.append((-terms[0][0], terms[0][1]))
        yield int(rng.choice([53, 113, 300])), terms
    for prec in (53, 100, 300):
        for sign in (-1, 1):  # the leading term is exactly half-way between two floats of prec bits
            yield prec, [((1 << prec) | 1, 0), (sign, -5000)]


def test_exact_sum_is_the_correctly_rounded_sum_whatever_the_exponent_gaps():
    for prec, terms in _sum_cases(np.random.default_rng(0)):
        with mp.workprec(prec):
            assert F.exact_sum(terms) == _integer_sum(terms), (prec, terms)


def test_a_term_5000_bits_below_a_tie_decides_its_rounding():
    """The cases above can fail: at a tie, the sign of a far smaller term picks the neighbour."""
    for prec in (53, 100, 300):
        with mp.workprec(prec):
            up, down = (_integer_sum([((1 << prec) | 1, 0), (s, -5000)]) for s in (1, -1))
            assert up > down and F.exact_sum([((1 << prec) | 1, 0), (1, -5000)]) == up
            assert F.exact_sum([((1 << prec) | 1, 0), (-1, -5000)]) == down


def test_float_dot_is_exact_with_an_element_a_million_bits_below_the_others():
    """gelu_tanh(-1000) = -1000/(1 + e^(7.1e7)) lies 10^8 bits below gelu_tanh(0.5): the objective's dot spans such
    gaps. Here 1 + 2^-prec is a tie at the working precision, and the element 10^6 bits below decides it."""
    with mp.workdps(85):
        parts = F.float_parts(np.array([1.0, 1.0, 1.0]))
        got = {}
        for sign in (1, -1):
            y = np.array([mpmath.ldexp(sign, -1_000_000), mpmath.mpf(1), mpmath.ldexp(1, -mp.prec)], dtype=object)
            terms = [((-m if yi._mpf_[0] else m) * yi._mpf_[1], e + yi._mpf_[2]) for m, e, yi in zip(*parts, y)]
            got[sign] = F.float_dot(parts, y)
            assert got[sign] == _integer_sum(terms)
        assert got[1] > got[-1]


# --------------------------------------------------------------------------- the guard
def test_guard_catches_a_float_fallback(monkeypatch):
    """A forward that silently uses math.exp (a Python float) raises instead of returning a wrong truth."""

    def leaky_sigmoid(s, pattern=None):
        return np.array([1.0 / (1.0 + math.exp(-float(v))) for v in s["x"].flat], dtype=object).reshape(s["x"].shape), None

    monkeypatch.setattr(activations, "sigmoid_mp", leaky_sigmoid)  # the sigmoid record refers to it
    with pytest.raises(F.PrecisionLossError, match=r"element \[0\] is a float"):
        Problem(registry.get("sigmoid"), {"x": np.array([0.5, -1.0])}, np.array([1.0, 1.0]))


def test_guard_rejects_float_arrays_and_numpy_scalars():
    with pytest.raises(F.PrecisionLossError, match="float64 array"):
        F.guard(np.ones(3), "here")
    mixed = F.to_mp(np.ones(3))
    mixed[1] = np.float64(2.0)
    with pytest.raises(F.PrecisionLossError, match=r"element \[1\] is a float64"):
        F.guard(mixed, "here")
    with pytest.raises(F.PrecisionLossError, match="not an mpmath mpf"):
        F.guard(0.5, "scalar")
    assert F.guard(mixed[:1], "ok") is not None


# --------------------------------------------------------------------------- promise 1: no false alarms
_MODES = [(op, mode) for op in OPS for mode in OP_MODES[op.name]]


@pytest.mark.parametrize("op,mode", _MODES, ids=[f"{op.name}[{m}]" for op, m in _MODES])
def test_no_false_alarm_on_the_reference(op, mode):
    @settings(max_examples=_scaled(0.7))
    @given(sample=strategy(op, mode), seed=st.integers(0, 2**32 - 1))
    def run(sample, seed):
        o = O.check_sample(op, ref, _clean(sample), np.random.default_rng(seed))
        if o.at_kink:
            event("sample on a kink: convention checked")
        problems = o.errors + o.forward_findings + o.backward_findings
        assert not problems, problems[0].message
        assert o.backward_worst is not None and o.backward_worst <= 1.0

    run()


# --------------------------------------------------------------------------- promise 2: 1e-8 is detected
REL = 1e-8


def _guaranteed(o, name, k, rel):
    """Does the tolerance model guarantee that scaling element k of d<name> by 1 + rel is detected?"""
    g = o.grads[name].flat[k]
    if o.elementwise:
        if abs(rel * g) > o.tolerance[name].flat[k] + abs(g - o.truth[name].flat[k]):
            return True
    for d in o.directional:
        if d["argument"] == name and abs(rel * g * d["v"].flat[k]) > d["tolerance"] + d["error"]:
            return True
    return False


@pytest.mark.parametrize("op", OPS, ids=OP_IDS)
def test_a_relative_perturbation_of_1e_8_in_any_element_is_detected(op):
    @settings(max_examples=_scaled(0.7))
    @given(sample=strategy(op, "away"), seed=st.integers(0, 2**32 - 1), sign=st.sampled_from([1.0, -1.0]),
           data=st.data())
    def run(sample, seed, sign, data):
        s = _clean(sample)
        dy = O.draw_dy(op, s, np.random.default_rng(seed))
        base = O.check_sample(op, ref, s, np.random.default_rng(seed), dy=dy)
        assert base.ok
        cands = [(n, int(k)) for n in base.grads for k in np.flatnonzero(base.grads[n].ravel())]
        if not cands:
            event("no non-zero gradient element (nothing to perturb relatively)")
            return
        name, k = data.draw(st.sampled_from(cands), label="element")
        impl = Implementation("perturbed reference", Perturbed(op, name, k, sign * REL))
        o = O.check_sample(op, impl, s, np.random.default_rng(seed), dy=dy)
        if _guaranteed(base, name, k, REL):
            assert o.backward_findings, f"d{name}.flat[{k}] scaled by 1{sign * REL:+g} was not detected"
        else:  # the reference's own error bound at this element exceeds 1e-8 relative: count it, never hide it
            g = base.grads[name].flat[k]
            event(f"element below the float64 resolution at 1e-8 (detected: {bool(o.backward_findings)})")
            if base.elementwise:
                assert base.tolerance[name].flat[k] + abs(g - base.truth[name].flat[k]) >= abs(REL * g)

    run()


def test_detection_is_at_the_level_the_tolerance_model_predicts():
    """Bisected smallest detected perturbation of one affine element ≈ (τ + |ĝ − g|)/|ĝ| ≈ 1e-15."""
    from gradspec.mpmath_oracle.sensitivity import smallest_detected

    op = registry.get("affine")
    rng = np.random.default_rng(3)
    s = op.sample(rng)
    dy = O.draw_dy(op, s, rng)
    base = O.check_sample(op, ref, s, np.random.default_rng(0), dy=dy)
    k = int(np.argmax(np.abs(base.grads["W"]).ravel()))
    rho = smallest_detected(op, s, dy, "W", k, lo=-17, hi=-6, steps=8)
    g, t, tol = base.grads["W"].flat[k], base.truth["W"].flat[k], base.tolerance["W"].flat[k]
    predicted = (tol + abs(g - t)) / abs(g)
    assert rho < 1e-13 and predicted / 2 < rho < predicted * 2


# --------------------------------------------------------------------------- ill-conditioned points
def _rel_tol(o, name):
    g = np.abs(o.truth[name])
    return float(np.max(o.tolerance[name][g > 0] / g[g > 0]))


def _rel_err(o, name):
    g = np.abs(o.truth[name])
    return float(np.max(np.abs(o.grads[name] - o.truth[name])[g > 0] / g[g > 0]))


@pytest.mark.parametrize("case", ["batchnorm_near_constant", "softmax_near_one_hot", "sigmoid_saturated",
                                  "affine_cancelling_sum"])
def test_ill_conditioned_points_widen_the_bound_instead_of_false_alarms(case):
    """At each hard point the reference's real error is far above 1e-12 relative (a tight fixed rtol would
    false-alarm), the bound widens to cover it, and the reference passes."""
    rng = np.random.default_rng(1)
    if case == "batchnorm_near_constant":
        op, name = registry.get("batchnorm"), "x"
        x = 1e4 + 1e-3 * rng.uniform(-1, 1, size=(5, 2))
        hard = {"x": x, "gamma": np.array([1.5, -0.7]), "beta": np.array([0.1, 0.2]), "eps": 1e-5}
        easy = dict(hard, x=rng.normal(size=(5, 2)))
    elif case == "softmax_near_one_hot":
        op, name = registry.get("softmax"), "x"
        hard = {"x": np.array([[40.0, 0.3, -0.2, 0.1], [0.5, 38.0, 0.0, 0.7]])}
        easy = {"x": rng.normal(size=(2, 4))}
    elif case == "sigmoid_saturated":
        op, name = registry.get("sigmoid"), "x"
        hard = {"x": np.array([25.0, 30.0, -0.5, 33.0])}
        easy = {"x": np.array([0.25, 1.0, -0.5, 2.0])}
    else:  # dx = dy Wᵀ with dy = 1: each element a sum of ±1e8 that cancels to O(1)
        op, name = registry.get("affine"), "x"
        W = np.array([[1e8, 0.3, -1e8], [-1e8, 1e8, 0.7], [0.1, 1e8, -1e8], [1e8, -1e8, 0.9]])
        hard = {"x": rng.normal(size=(2, 4)), "W": W, "b": rng.normal(size=3)}
        easy = dict(hard, W=rng.normal(size=(4, 3)))
    dy = np.ones(op.output_shape(hard)) if case == "affine_cancelling_sum" else rng.normal(size=op.output_shape(hard))
    o_hard = O.check_sample(op, ref, hard, np.random.default_rng(0), dy=dy)
    o_easy = O.check_sample(op, ref, easy, np.random.default_rng(0), dy=dy)
    assert o_hard.ok and o_easy.ok, (o_hard.backward_findings + o_hard.forward_findings + [None])[0]
    assert _rel_err(o_hard, name) > 1e-12
    assert _rel_tol(o_hard, name) > 1e3 * _rel_tol(o_easy, name)
    assert _rel_err(o_hard, name) <= _rel_tol(o_hard, name)


# --------------------------------------------------------------------------- kinks
def test_kinks_are_checked_against_the_convention_and_counted():
    relu, pool = registry.get("relu"), registry.get("max_pool2d")
    x = np.array([[0.0, 1.5, -2.0, 0.0]])
    r = O.check_op(relu, ref, np.random.default_rng(0), samples=[{"x": x}])
    assert [c.status for c in r] == ["pass", "pass"]
    assert r[1].info["kink_samples_convention_checked"] == 1 and r[1].info["kink_samples_moved"] == 0
    assert r[1].info["kink_conventions"] == ["relu'(0) = 0"]
    P = Problem(relu, {"x": x}, np.ones_like(x))
    t, _ = P.vjp("x")
    assert [float(v) for v in t.flat] == [0.0, 1.0, 0.0, 0.0]  # relu'(0) = 0 from the truth itself
    ties = {"x": np.array([[[[1.0, 1.0], [0.5, 1.0]]]]), "kernel": 2, "stride": 1, "pad": 1}  # ties; padding around
    r = O.check_op(pool, ref, np.random.default_rng(0), samples=[ties, {"x": -np.ones((1, 1, 2, 2)), "kernel": 2,
                                                                        "stride": 1, "pad": 1}])
    assert [c.status for c in r] == ["pass", "pass"] and r[1].info["kink_samples_convention_checked"] == 2


def test_a_wrong_convention_at_a_kink_is_caught():
    relu = registry.get("relu")
    bad = Implementation("relu'(0)=1", type("M", (), {
        "relu_forward": staticmethod(ref.relu_forward),
        "relu_backward": staticmethod(lambda x, dy: np.where(np.asarray(x) >= 0, dy, 0.0))})())
    r = O.check_op(relu, bad, np.random.default_rng(0), samples=[{"x": np.array([0.0, 1.0, -1.0])}])
    assert r[1].status == "fail" and r[1].findings[0].details["index"] == [0]

    def last_max_backward(x, kernel, stride, pad, dy):  # ties go to the *last* maximum
        return ref.max_pool2d_backward(x[..., ::-1, ::-1], kernel, stride, pad, dy[..., ::-1, ::-1])[..., ::-1, ::-1]

    pool = registry.get("max_pool2d")
    bad = Implementation("last max", type("M", (), {"max_pool2d_forward": staticmethod(ref.max_pool2d_forward),
                                                     "max_pool2d_backward": staticmethod(last_max_backward)})())
    r = O.check_op(pool, bad, np.random.default_rng(0), samples=[{"x": np.ones((1, 1, 2, 2)), "kernel": 2, "stride": 2, "pad": 0}])
    assert r[1].status == "fail"

    def zero_padding_forward(x, kernel, stride, pad):  # the padding wins over negative values
        xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
        return ref.max_pool2d_forward(xp, kernel, stride, 0)

    bad = Implementation("zero padding", type("M", (), {"max_pool2d_forward": staticmethod(zero_padding_forward),
                                                         "max_pool2d_backward": staticmethod(ref.max_pool2d_backward)})())
    r = O.check_op(pool, bad, np.random.default_rng(0), samples=[{"x": -np.ones((1, 1, 2, 2)), "kernel": 2, "stride": 1, "pad": 1}])
    assert r[0].status == "fail"


# --------------------------------------------------------------------------- cost
def test_a_directional_check_costs_a_fixed_number_of_forwards():
    """1 forward at the sample + 2 per direction and argument, whatever the number of elements."""
    op = registry.get("conv2d")
    counts = []
    for n in (1, 3):
        rng = np.random.default_rng(0)
        s = {"x": rng.normal(size=(n, 2, 4 * n, 4 * n)), "W": rng.normal(size=(2, 2, 3, 3)), "b": rng.normal(size=2),
             "stride": 1, "pad": 1}
        o = O.check_sample(op, ref, s, rng, full_limit=0, directions=2)
        assert o.ok and not o.elementwise
        counts.append(o.forward_evaluations)
    assert counts == [1 + 2 * 2 * 3] * 2


# --------------------------------------------------------------------------- diagnostics
MUTANT = """
def affine_backward(x, W, b, dy):
    dx = dy @ W.T
    dW = x.T @ dy
    dW[0, 0] *= 1 + 3e-9  # one element, off by 3e-9 relative
    return dx, dW, dy.sum(axis=0)
"""


def test_a_real_failure_carries_full_diagnostics_and_a_reproducer_that_runs(tmp_path):
    path = write_impl(tmp_path / "mutant_affine.py", MUTANT)
    impl = Implementation.wrap(path)
    r = O.check_op(registry.get("affine"), impl, np.random.default_rng(0), 1)
    assert r[0].status == "pass" and r[1].status == "fail"
    f = r[1].findings[0]
    d = f.details
    assert d["op"] == "affine" and d["argument"] == "W" and d["index"] == [0, 0] and d["mode"] == "element-wise"
    for key in ("expected", "actual", "abs_error", "rel_error", "tolerance", "units", "sample", "truth_digits",
                "expected_is", "actual_is", "reproducer"):
        assert key in d, key
    assert 2e-9 < d["rel_error"] < 4e-9 and d["units"] > 1e3
    assert f"{d['expected']:.17g}" in f.message and "mpmath" in d["expected_is"] and "affine_backward" in d["actual_is"]
    assert d["sample"]["x"]["shape"] and d["sample"]["W"]["shape"]
    run = subprocess.run([sys.executable, "-c", d["reproducer"]], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    printed_truth = run.stdout.split("truth (50 digits):")[1].split()[0]
    assert len(printed_truth.strip("-0.")) >= 45  # 50 significant digits printed
    assert abs(float(mpmath.mpf(printed_truth)) - d["expected"]) <= 1e-15 * abs(d["expected"])
    printed_actual = run.stdout.split("actual:")[1].split("\n")[0]
    assert float(printed_actual.strip().removeprefix("np.float64(").rstrip(")")) == d["actual"]
    # the directional check sees it too: a mismatch with a direction index
    directional = [x for x in r[1].findings if x.details.get("mode") == "directional"]
    assert directional and directional[0].details["argument"] == "W"


def test_cli_runs_the_oracle_and_writes_the_json(tmp_path):
    out = subprocess.run([sys.executable, "-m", "gradspec", "check", "--oracle", "mpmath", "--ops", "affine", "mlp",
                          "--json", "-", "-q"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout[out.stdout.index("{"):])
    for name in ("affine", "mlp"):
        checks = {c["check"]: c for c in doc["ops"][name]["checks"]}
        assert checks["backward"]["status"] == "pass" and checks["backward"]["worst_error"] <= 1
        assert checks["backward"]["info"]["directions"] >= 2 * checks["backward"]["examples"]
    path = write_impl(tmp_path / "mutant_affine.py", MUTANT)
    bad = subprocess.run([sys.executable, "-m", "gradspec", "check", "--oracle", "mpmath", "--ops", "affine",
                          "--impl", path, "--json", "-", "-q"], capture_output=True, text=True, timeout=120)
    assert bad.returncode != 0
    doc = json.loads(bad.stdout[bad.stdout.index("{"):])
    back = [c for c in doc["ops"]["affine"]["checks"] if c["check"] == "backward"][0]
    assert back["status"] == "fail" and back["findings"][0]["details"]["index"] == [0, 0]


def test_spread_digits_of_a_subnormal_input_is_finite():
    """A subnormal magnitude (leaky_relu's alpha = 5e-324) asks for its decades below 1e-8, plus 16, not an overflow."""
    assert spread_digits(np.array([5e-324]), np.array([0.5])) == math.ceil(323.30102999566 - 8) + 16
    assert spread_digits(np.array([1e-3, 2.0])) == 0  # inside the window: no extra digits
    sample = {"x": np.array([-1000.0]), "alpha": 5e-324}
    o = O.check_sample(registry.get("leaky_relu"), ref, sample, np.random.default_rng(0))
    assert not (o.errors + o.forward_findings + o.backward_findings)

