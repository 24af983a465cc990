"""Meta-tests: the suite's own helpers against known values, and shown catching what they must catch.

Covers the oracle helpers (compare, central_difference, fd_tolerance, the KS
machinery, init_statistics, literal/reproducer) and the test helpers in
``tests/_impls.py``.
"""
import contextlib
import io
import math
import subprocess
import sys

import numpy as np
import pytest

import gradspec
import gradspec.reference as ref
from gradspec import registry
from gradspec.oracles.common import check_array, check_scalar, compare, describe_sample, literal, reproducer
from gradspec.oracles.fd64 import FD_REL_STEP, central_difference
from gradspec.statistics import init_statistics, kolmogorov_sf, ks_test, normal_cdf, uniform_cdf
from gradspec.runner import _stable_hash
from _impls import assert_no_mutation, make_impl, strict, vjp_mismatch, write_impl

OP = registry.get("sigmoid")


# --------------------------------------------------------------------------- compare
def test_compare_reports_the_worst_element_in_units_of_the_tolerance():
    # errors (0, 0.5) over tolerances (1, 0.1) -> units (0, 5)
    worst, fs = compare(np.array([1.0, 2.0]), np.array([1.0, 2.5]), np.array([1.0, 0.1]), op=OP, what="dx", sample={"x": np.zeros(2)})
    assert worst == pytest.approx(5.0)
    assert len(fs) == 1 and fs[0].kind == "mismatch"
    d = fs[0].details
    assert d["index"] == [1] and d["expected"] == 2.5 and d["actual"] == 2.0 and d["units"] == pytest.approx(5.0)
    assert d["rel_error"] == pytest.approx(0.2) and d["sample"] == {"x": {"shape": [2]}}
    assert "sigmoid: dx[1] expected 2.5, got 2" in fs[0].message


def test_compare_within_tolerance_and_zero_tolerance():
    assert compare(np.array([1.0]), np.array([1.05]), 0.1, op=OP, what="y", sample={}) == (pytest.approx(0.5), [])
    # exact agreement over a zero tolerance is 0 units; any error over a zero tolerance is infinite
    assert compare(np.array([3.0]), np.array([3.0]), 0.0, op=OP, what="y", sample={})[0] == 0.0
    worst, fs = compare(np.array([3.0]), np.array([3.0 + 1e-15]), 0.0, op=OP, what="y", sample={})
    assert worst == math.inf and len(fs) == 1
    assert compare(np.zeros(0), np.zeros(0), 1.0, op=OP, what="y", sample={}) == (0.0, [])


def test_compare_caps_findings_and_counts_the_rest():
    worst, fs = compare(np.arange(10.0), np.zeros(10), 0.5, op=OP, what="y", sample={}, max_findings=3)
    assert worst == pytest.approx(18.0)
    assert [f.details["index"] for f in fs] == [[9], [8], [7]]  # worst first
    assert fs[-1].details["more_mismatches"] == 9 - 3  # elements 1..9 exceed; 0 agrees


def test_check_array_and_check_scalar():
    assert check_array(np.zeros(2), (2,), "dx") is None
    assert check_array([0.0, 0.0], (2,), "dx").kind == "type"
    assert check_array(np.zeros(2, np.float32), (2,), "dx").kind == "dtype"
    assert check_array(np.zeros(3), (2,), "dx").kind == "shape"
    f = check_array(np.array([0.0, np.inf, np.nan]), (3,), "dx")
    assert f.kind == "nonfinite" and f.details["count"] == 2 and f.details["index"] == [1]
    assert check_scalar(np.array(2.5), "loss") == (2.5, None)
    assert check_scalar(True, "loss")[1].kind == "type"
    assert check_scalar(float("nan"), "loss")[1].kind == "nonfinite"


# --------------------------------------------------------------------------- central differences
def test_central_difference_of_a_cubic():
    # f = Σ x³: f' = 3x²; the central difference error is h²·f'''/6 = h² (f''' = 6)
    x = np.array([1.0, -2.0, 0.5])
    d1, d2, hs = central_difference(lambda v: float(np.sum(v**3)), x)
    np.testing.assert_allclose(hs, FD_REL_STEP * np.maximum(1.0, np.abs(x)))
    np.testing.assert_allclose(d1, 3 * x**2 + hs**2, rtol=1e-9)
    np.testing.assert_allclose(d2, 3 * x**2 + 4 * hs**2, rtol=1e-9)
    np.testing.assert_array_equal(x, [1.0, -2.0, 0.5])  # the input is left alone


def test_central_difference_is_exact_for_a_quadratic_up_to_rounding():
    A = np.array([[2.0, 1.0], [1.0, 3.0]])
    x = np.array([[0.3, -1.2]])
    d1, d2, _ = central_difference(lambda v: float(0.5 * np.sum(v @ A * v)), x)
    np.testing.assert_allclose(d1, x @ A, rtol=1e-9)
    np.testing.assert_allclose(d2, x @ A, rtol=1e-9)


# --------------------------------------------------------------------------- Kolmogorov–Smirnov
@pytest.mark.parametrize("x,sf,tol", [
    (0.5, 1 - 0.0360547563, 1e-9),  # K(0.5) = 0.0360547563 (Marsaglia, Tsang & Wang 2003, to 10 digits)
    (1.0, 1 - 0.7300003283, 1e-9),  # K(1.0) = 0.7300003283
    # the classical asymptotic critical values, tabulated to 5 digits
    (1.2238, 0.10, 1e-4), (1.3581, 0.05, 1e-4), (1.6276, 0.01, 1e-4), (1.9495, 0.001, 1e-5),
])
def test_kolmogorov_sf_known_values(x, sf, tol):
    assert kolmogorov_sf(x) == pytest.approx(sf, abs=tol)


def test_kolmogorov_sf_limits():
    assert kolmogorov_sf(0.0) == 1.0 and kolmogorov_sf(-1.0) == 1.0 and kolmogorov_sf(0.1) == 1.0
    assert kolmogorov_sf(5.0) < 1e-20
    assert all(kolmogorov_sf(a) >= kolmogorov_sf(b) for a, b in zip(np.linspace(0.2, 3, 30), np.linspace(0.3, 3.1, 30)))


def test_ks_statistic_hand_value():
    # sample (0.1, 0.2, 0.9) against U(0, 1): D+ = max(1/3 − 0.1, 2/3 − 0.2, 1 − 0.9) = 0.4667; D− = 0.2333
    d, p = ks_test(np.array([0.9, 0.1, 0.2]), lambda x: x)
    assert d == pytest.approx(0.4 + 1 / 15, rel=1e-12)
    n = 3
    assert p == pytest.approx(kolmogorov_sf((math.sqrt(n) + 0.12 + 0.11 / math.sqrt(n)) * d))


def test_ks_test_accepts_the_right_family_and_rejects_others():
    rng = np.random.default_rng(0)
    u = rng.uniform(-2, 2, size=5000)
    assert ks_test(u, uniform_cdf(2.0))[1] > 0.01
    assert ks_test(u, uniform_cdf(2.4))[1] < 1e-6  # 20% wider
    z = rng.normal(0, 3, size=5000)
    assert ks_test(z, normal_cdf(3.0))[1] > 0.01
    assert ks_test(z, uniform_cdf(3 * math.sqrt(3)))[1] < 1e-6  # same variance, other family
    assert normal_cdf(1.0)(np.array([0.0, 1.0]))[1] == pytest.approx(0.8413447460685429, rel=1e-14)


def test_init_statistics_z_scores():
    rng = np.random.default_rng(1)
    good = init_statistics(rng.normal(0, 0.1, size=20000), "normal", 0.01)
    assert abs(good["mean_z"]) < 5 and abs(good["var_z"]) < 5 and good["ks_p"] > 1e-3
    wide = init_statistics(rng.normal(0, 0.1 * math.sqrt(2), size=20000), "normal", 0.01)
    assert wide["var_z"] > 50  # variance doubled: about 100 standard errors off
    shifted = init_statistics(rng.normal(0.01, 0.1, size=20000), "normal", 0.01)
    assert shifted["mean_z"] > 10


# --------------------------------------------------------------------------- literal and reproducers
@pytest.mark.parametrize("value", [
    np.array([[1 / 3, -0.0], [1e-300, 2.5e300]]), np.array([1, 2], dtype=np.int64), np.array([0.5], dtype=np.float32),
    (np.array([1.0]),), [np.zeros((0, 2)), 3.0], {"lr": 0.1, "beta1": np.float64(0.9)}, (4, 4), 7, "relu",
])
def test_literal_round_trips_exactly(value):
    rebuilt = eval(literal(value), {"np": np})
    if isinstance(value, np.ndarray):
        assert rebuilt.dtype == value.dtype and rebuilt.shape == value.shape and np.array_equal(rebuilt, value)
    elif isinstance(value, (list, tuple)):
        assert type(rebuilt) is type(value) and len(rebuilt) == len(value)
        for a, b in zip(rebuilt, value):
            assert np.array_equal(a, b) and np.shape(a) == np.shape(b)
    elif isinstance(value, dict):
        assert rebuilt == {k: float(v) for k, v in value.items()}
    else:
        assert rebuilt == value and type(rebuilt) is type(value)


def test_describe_sample():
    d = describe_sample({"x": np.zeros((2, 3)), "grads": [np.zeros(2), np.zeros((1, 1))],
                         "params": [(np.zeros((2, 2)), np.zeros(2))], "stride": 2, "hidden": "relu", "rng": np.random.default_rng(0)})
    assert d["x"] == {"shape": [2, 3]} and d["grads"] == {"shapes": [[2], [1, 1]]}
    assert d["params"] == {"shapes": [[[2, 2], [2]]]} and d["stride"] == 2 and d["hidden"] == "relu"
    assert d["rng"].startswith("Generator(")


def _run(code: str) -> tuple[dict, str]:
    ns, buf = {}, io.StringIO()
    with contextlib.redirect_stdout(buf):
        exec(compile(code, "<reproducer>", "exec"), ns)
    return ns, buf.getvalue()


def _first_reproducer(result, op):
    return next(f.details["reproducer"] for c in result.ops[op].checks for f in c.findings if "reproducer" in f.details)


def test_reproducer_of_a_file_implementation_rebuilds_the_inputs_and_shows_the_bug(tmp_path):
    path = write_impl(tmp_path / "bad_sigmoid.py", """
        def sigmoid_backward(x, dy):
            return dy * sigmoid_forward(x)
    """)
    result = gradspec.check(path, ops=["sigmoid"], seed=5)
    code = _first_reproducer(result, "sigmoid")
    ns, printed = _run(code)
    # the same stream the runner used: sample, then the random cotangent
    rng = np.random.default_rng([5, _stable_hash("sigmoid"), 0])
    s = OP.sample(rng)
    dy = rng.normal(size=s["x"].shape)
    assert np.array_equal(ns["x"], s["x"]) and np.array_equal(ns["dy"], dy)
    bad = ns["impl"].sigmoid_backward(ns["x"], ns["dy"])
    assert printed.strip() == str(bad).strip()
    assert not np.allclose(bad, ref.sigmoid_backward(ns["x"], ns["dy"]))
    # and it is self-contained: it runs in a fresh interpreter
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert p.returncode == 0, p.stderr


def test_reproducer_of_a_module_object_implementation(tmp_path, monkeypatch):
    (tmp_path / "layers_under_test.py").write_text(
        "import gradspec.reference as r\n"
        "class Layers:\n"
        "    affine_forward = staticmethod(r.affine_forward)\n"
        "    @staticmethod\n"
        "    def affine_backward(x, W, b, dy):\n"
        "        dx, dW, db = r.affine_backward(x, W, b, dy)\n"
        "        return dx, dW, -db\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    result = gradspec.check("layers_under_test:Layers", ops=["affine"], seed=1)
    assert result.ops["affine"].status == "fail"
    code = _first_reproducer(result, "affine")
    assert "import layers_under_test as impl" in code and "impl = impl.Layers" in code
    ns, printed = _run(code)
    dx, dW, db = ns["impl"].affine_backward(ns["x"], ns["W"], ns["b"], ns["dy"])
    np.testing.assert_array_equal(db, -ns["dy"].sum(axis=0))
    assert printed


def test_optimizer_reproducer_replays_the_mutant_trajectory(monkeypatch):
    def bad_sgd(w, g, state, lr):
        return w - 2 * lr * g, state

    impl = make_impl("bad_sgd_impl", sgd_update=bad_sgd)
    result = gradspec.check(impl, ops=["sgd"], seed=2)
    code = _first_reproducer(result, "sgd")
    monkeypatch.setitem(sys.modules, "bad_sgd_impl", impl)  # the snippet imports the implementation by name
    ns, printed = _run(code)
    # rebuild the first sample from the runner's stream and run the mutant over it
    s = registry.get("sgd").sample(np.random.default_rng([2, _stable_hash("sgd"), 0]))
    w = s["w"]
    for g in s["grads"]:
        w, _ = bad_sgd(w, g, {}, **s["hyper"])
    np.testing.assert_array_equal(ns["w"], w)
    assert len(s["grads"]) == 5 and printed.count("[") >= 5  # one printed w per step


def test_init_reproducer_uses_the_seeded_generator(monkeypatch):
    def bad_he(shape, rng):
        return ref.init_lecun_normal(shape, rng)

    impl = make_impl("bad_he_impl", init_he_normal=bad_he)
    result = gradspec.check(impl, ops=["init_he_normal"])
    code = _first_reproducer(result, "init_he_normal")
    seed_line = next(line for line in code.splitlines() if line.startswith("rng = "))
    assert seed_line.startswith("rng = np.random.default_rng(")
    monkeypatch.setitem(sys.modules, "bad_he_impl", impl)
    ns, printed = _run(code)
    # the snippet's Generator reproduces the very array whose statistics were reported
    stats = result.ops["init_he_normal"].checks[0].info["statistics"][0]
    W = bad_he(ns["shape"], eval(seed_line.split("=", 1)[1], {"np": np}))
    assert list(W.shape) == stats["shape"] and W.var() == pytest.approx(stats["var"], rel=1e-12)
    assert printed


def test_reproducer_text():
    code = reproducer("pkg.mod:Obj", "relu_backward", [("x", np.array([1.0])), ("dy", np.array([2.0]))])
    assert code.splitlines() == ["import numpy as np", "import gradspec.reference as spec", "import pkg.mod as impl",
                                 "impl = impl.Obj", "x = np.array([1.0])", "dy = np.array([2.0])",
                                 "print(impl.relu_backward(x, dy))"]


# --------------------------------------------------------------------------- the helpers of tests/_impls.py
def test_vjp_mismatch_passes_the_reference_and_catches_a_wrong_backward():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 4))
    assert vjp_mismatch(ref.softmax_forward, ref.softmax_backward, [x], [0], rng) <= 1.0
    wrong = lambda x, dy: ref.softmax_forward(x) * (dy - dy.mean(axis=-1, keepdims=True))  # noqa: E731
    assert vjp_mismatch(ref.softmax_forward, wrong, [x], [0], rng) > 1e3
    # several differentiable arguments, one of them wrong
    a = [rng.normal(size=(2, 3)), rng.normal(size=(3, 2)), rng.normal(size=2)]
    bad_db = lambda x, W, b, dy: ref.affine_backward(x, W, b, dy)[:2] + (2 * dy.sum(axis=0),)  # noqa: E731
    assert vjp_mismatch(ref.affine_forward, ref.affine_backward, a, [0, 1, 2], rng) <= 1.0
    assert vjp_mismatch(ref.affine_forward, bad_db, a, [0, 1, 2], rng) > 1e3
    # losses: a scalar cotangent
    y, t = rng.normal(size=(2, 2)), rng.normal(size=(2, 2))
    assert vjp_mismatch(ref.mse_forward, lambda y, t, dy: dy * (y - t), [y, t], [0], rng, scalar=True) > 1e3


def test_assert_no_mutation_catches_in_place_changes():
    def in_place(x):
        x += 1
        return x

    with pytest.raises(AssertionError, match="modified its argument 0"):
        assert_no_mutation(in_place, np.zeros(2))

    def touches_state(w, state):
        state["m"][0] = 1.0
        return w

    with pytest.raises(AssertionError, match="modified its argument 1"):
        assert_no_mutation(touches_state, np.zeros(2), {"m": np.zeros(2)})

    def appends(grads):
        grads.append(np.zeros(1))
        return grads

    with pytest.raises(AssertionError):
        assert_no_mutation(appends, [np.zeros(1)])
    assert assert_no_mutation(lambda x: x * 2, np.ones(2)).tolist() == [2.0, 2.0]


def test_strict_raises_on_overflow_divide_invalid_but_not_underflow():
    with strict():
        with pytest.raises(FloatingPointError):
            np.exp(np.array([1000.0]))
        with pytest.raises(FloatingPointError):
            np.array([1.0]) / np.array([0.0])
        with pytest.raises(FloatingPointError):
            np.sqrt(np.array([-1.0]))
        assert np.exp(np.array([-1000.0]))[0] == 0.0


def test_make_impl_and_write_impl(tmp_path):
    impl = make_impl("some", only=["relu", "adam"], drop=("adam_init",), relu_backward=len)
    assert impl.relu_forward is ref.relu_forward and impl.relu_backward is len
    assert hasattr(impl, "adam_update") and not hasattr(impl, "adam_init") and not hasattr(impl, "sigmoid_forward")
    path = write_impl(tmp_path / "star.py", "def extra():\n    return 1\n")
    result = gradspec.check(path, ops=["relu", "adam"])
    assert result.ok and {r.status for r in result.ops.values()} == {"pass"}


def test_tracker_needs_a_comparison_to_pass_and_tells_errors_from_failures():
    from gradspec.oracles.common import Tracker
    from gradspec.results import Finding

    t = Tracker("fd64", "backward")
    t.example()
    assert t.done("ok").status == "error"  # nothing was compared
    t = Tracker("fd64", "backward")
    t.measured(0.5, [])
    assert t.done("ok").status == "pass" and t.result.worst_error == 0.5
    t = Tracker("fd64", "backward")
    t.measured(0.5, [])
    t.error(Finding("shape", "dx must have shape (2,), got (3,)"))
    assert t.done().status == "fail"
    t.error(Finding("timeout", "sigmoid_backward took more than 10 s"))
    assert t.done().status == "error"


def test_check_scalar_wants_a_float64_loss():
    from gradspec.oracles.common import check_scalar

    assert check_scalar(1.5, "loss") == (1.5, None)
    assert check_scalar(np.float64(1.5), "loss")[0] == 1.5
    assert check_scalar(np.array([1.5]), "loss")[0] == 1.5
    assert check_scalar(np.float32(1.5), "loss")[1].kind == "dtype"  # precision lost before the check
    assert check_scalar(2, "loss")[1].kind == "type" and check_scalar(True, "loss")[1].kind == "type"
    assert check_scalar(float("nan"), "loss")[1].kind == "nonfinite"


# --------------------------------------------------------------------------- the op test files' scaffold
def test_assert_op_passes_passes_the_reference_and_catches_a_failing_op():
    from _impls import assert_op_passes

    assert_op_passes(gradspec.check(ref, ops=["relu"], oracles=["fd64"], seed=0), "relu")
    bad = make_impl(relu_backward=lambda x, dy: 2.0 * ref.relu_backward(x, dy))
    with pytest.raises(AssertionError):
        assert_op_passes(gradspec.check(bad, ops=["relu"], oracles=["fd64"], seed=0), "relu")
    with pytest.raises(AssertionError):  # not implemented is no pass
        assert_op_passes(gradspec.check(make_impl(only=["sigmoid"]), ops=["relu"], oracles=["fd64"], seed=0), "relu")


def test_diagnosed_names_the_bug_and_a_passing_op_is_no_diagnosis():
    from _impls import diagnosed

    bad = make_impl(affine_backward=lambda x, W, b, dy: tuple(2.0 * g for g in ref.affine_backward(x, W, b, dy)))
    assert "scaled_by_2" in diagnosed(gradspec.check(bad, ops=["affine"], oracles=["fd64"], seed=0), "affine")
    with pytest.raises(AssertionError, match="no check failed"):
        diagnosed(gradspec.check(ref, ops=["affine"], oracles=["fd64"], seed=0), "affine")


def test_assert_vectors_catch_fails_when_the_wrong_implementation_is_right(tmp_path):
    from _impls import assert_vectors_catch

    assert_vectors_catch(tmp_path / "a", "relu", make_impl(relu_backward=lambda x, dy: dy))
    with pytest.raises(AssertionError, match="the vectors passed"):
        assert_vectors_catch(tmp_path / "b", "relu", ref)
