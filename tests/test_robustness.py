"""Robustness: a bad implementation gets a clear finding for that op and the run goes on.

Every way an implementation can misbehave is a test: an implementation that raises (type,
message and its own frame kept), hangs (per-call timeout), returns the wrong
shape, dtype or type, NaN or inf, modifies its inputs, or a nondeterministic
backward; the runner never crashes (no ``oracle_error``) and the same seed
gives the same verdicts.
"""
from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from types import SimpleNamespace

import numpy as np
import pytest

import gradspec
import gradspec.reference as ref
from gradspec.impl import DEFAULT_TIMEOUT, FIRST_CALL_GRACE, Implementation, run_with_timeout

_BASE = {k: getattr(ref, k) for k in dir(ref) if not k.startswith("_") and callable(getattr(ref, k))}


def impl_with(**overrides):
    ns = SimpleNamespace(**{**_BASE, **overrides})
    ns.__name__ = "robustness-impl"
    return ns


def findings(result, op, kind=None):
    fs = [f for c in result.ops[op].checks for f in c.findings]
    return [f for f in fs if kind is None or f.kind == kind]


def no_oracle_errors(result):
    crashed = [(op, f.message) for op, r in result.ops.items() for c in r.checks for f in c.findings if f.kind == "oracle_error"]
    assert not crashed, crashed


# --------------------------------------------------------------------------- exceptions
def _helper_that_fails(x):
    raise ValueError(f"my layer cannot take shape {np.shape(x)}")  # the implementation's own frame


def _relu_raises(x):
    return _helper_that_fails(x)


def test_exception_keeps_type_message_and_the_implementations_frame():
    result = gradspec.check(impl_with(relu_forward=_relu_raises), ops=["relu", "sigmoid"])
    assert result.ops["relu"].status == "error"
    assert result.ops["sigmoid"].status == "pass"  # the run went on
    f = findings(result, "relu", "exception")[0]
    assert f.details["type"] == "ValueError"
    assert "my layer cannot take shape" in f.details["message"]
    assert f.details["frame"].startswith(__file__) and "_helper_that_fails" in f.details["frame"]
    assert "raise ValueError" in f.details["line"]
    no_oracle_errors(result)


def _pad_wrongly(x):
    return np.pad(np.asarray(x), "not a width")  # raises inside NumPy


def test_exception_inside_numpy_points_at_the_implementations_line():
    result = gradspec.check(impl_with(relu_forward=_pad_wrongly), ops=["relu"])
    f = findings(result, "relu", "exception")[0]
    assert f.details["frame"].startswith(__file__) and "_pad_wrongly" in f.details["frame"], f.details["frame"]


def _exits(x):
    sys.exit(3)


def test_system_exit_from_the_implementation_is_a_finding_not_an_exit():
    result = gradspec.check(impl_with(sigmoid_forward=_exits), ops=["sigmoid", "tanh"])
    assert findings(result, "sigmoid", "exception")[0].details["type"] == "SystemExit"
    assert result.ops["tanh"].status == "pass"


# --------------------------------------------------------------------------- hangs
@pytest.fixture
def release():
    """An event that hung implementations wait on; set at teardown so no thread outlives the test for long."""
    ev = threading.Event()
    yield ev
    ev.set()


def test_hanging_call_times_out_and_the_run_goes_on(release):
    calls = []

    def relu_backward(x, dy):
        calls.append(1)
        release.wait(60)
        return ref.relu_backward(x, dy)

    t0 = time.perf_counter()
    result = gradspec.check(impl_with(relu_backward=relu_backward), ops=["relu", "sigmoid"], timeout=0.3)
    elapsed = time.perf_counter() - t0
    assert result.ops["relu"].status == "error"
    assert result.ops["sigmoid"].status == "pass"
    ts = findings(result, "relu", "timeout")
    assert ts and "did not return within 0.9 s (timeout 0.3 s, x3 for a first call" in ts[0].message
    assert ts[0].details["timeout_s"] == pytest.approx(0.9)
    assert any(f.details.get("repeated") for f in ts)  # later calls are not made again...
    assert len(calls) == 1  # ...so the hang costs one timeout, not one per example
    assert elapsed < 5.0, elapsed
    no_oracle_errors(result)


def _forward_failing_after(n_ok, fail):
    """A sigmoid forward that behaves for its first ``n_ok`` calls, then calls ``fail()``: the fd64 oracle's
    difference quotients call the forward many more times than the checks before them."""
    calls = []

    def sigmoid_forward(x):
        calls.append(1)
        if len(calls) > n_ok:
            fail()
        return ref.sigmoid_forward(x)

    return sigmoid_forward


def test_system_exit_while_differencing_is_a_finding_not_a_crash():
    def bye():
        raise SystemExit("bye")

    result = gradspec.check(impl_with(sigmoid_forward=_forward_failing_after(3, bye)), ops=["sigmoid", "tanh"],
                            oracles=["fd64"])
    assert result.ops["sigmoid"].status == "error" and result.ops["tanh"].status == "pass"
    fs = findings(result, "sigmoid", "exception")
    assert any("during differencing" in f.message and "SystemExit" in f.message for f in fs), [f.message for f in fs]
    no_oracle_errors(result)


def test_a_forward_that_hangs_while_differencing_times_out(release):
    result = gradspec.check(impl_with(sigmoid_forward=_forward_failing_after(3, lambda: release.wait(60))),
                            ops=["sigmoid", "tanh"], oracles=["fd64"], timeout=0.3)
    assert result.ops["sigmoid"].status == "error" and result.ops["tanh"].status == "pass"
    fs = findings(result, "sigmoid", "timeout")
    assert any("while differencing" in f.message for f in fs), [f.message for f in fs]
    no_oracle_errors(result)


def test_an_attribute_lookup_that_raises_does_not_crash_the_run():
    class Moody:
        sigmoid_forward = staticmethod(ref.sigmoid_forward)
        sigmoid_backward = staticmethod(ref.sigmoid_backward)

        def __getattr__(self, name):  # every other lookup (__version__, tanh_forward, ...) raises
            raise RuntimeError(f"no {name} here")

    result = gradspec.check(Moody(), ops=["sigmoid", "tanh"])
    assert result.ops["sigmoid"].status == "pass" and result.ops["tanh"].status == "not_implemented"


def test_a_symbolic_identity_that_does_not_finish_falls_back_to_the_spec(release, monkeypatch):
    """A backward that runs on SymPy symbols hands back an expression; proving the identity on it runs under
    the timeout (3× the per-call one): one that does not finish is reported, and the run goes on."""
    from gradspec.symbolic import oracle as sym

    real = sym.dv.identity

    def identity(der, grads, sample, dy, compared):
        if compared.startswith("the implementation"):
            release.wait(60)  # stands for a simplification that never ends
        return real(der, grads, sample, dy, compared)

    monkeypatch.setattr(sym.dv, "identity", identity)
    impl = impl_with(l2_penalty_backward=lambda W, lam, dy: np.asarray(W) * lam * dy)  # also evaluates on symbols
    t0 = time.perf_counter()
    result = gradspec.check(impl, ops=["l2_penalty"], oracles=["symbolic"], timeout=0.2)
    exact = [c for c in result.ops["l2_penalty"].checks if c.check == "exact"][0]
    assert exact.status == "not_applicable" and "did not finish within 0.6 s" in exact.message + str(exact.info)
    assert result.ops["l2_penalty"].status == "pass" and time.perf_counter() - t0 < 20


def test_later_calls_get_the_plain_timeout(release):
    n = []

    def tanh_backward(x, dy):
        n.append(1)
        if len(n) > 1:
            release.wait(60)
        return ref.tanh_backward(x, dy)

    result = gradspec.check(impl_with(tanh_backward=tanh_backward), ops=["tanh"], timeout=0.3)
    ts = findings(result, "tanh", "timeout")
    assert ts and "did not return within 0.3 s (timeout 0.3 s;" in ts[0].message, ts[0].message


def test_timeout_is_configurable_and_zero_means_direct_call():
    impl = Implementation("ref", ref)
    assert impl.timeout == DEFAULT_TIMEOUT and 1.0 <= DEFAULT_TIMEOUT <= 10.0 and FIRST_CALL_GRACE >= 1.0
    assert gradspec.check(impl, ops=["relu"], timeout=0).ok and impl.timeout == 0.0
    with pytest.raises(ValueError, match="timeout must be a number of seconds >= 0"):
        gradspec.check(None, ops=["relu"], timeout=-1)
    done, value, exc = run_with_timeout(lambda: threading.current_thread(), (), {}, 0)
    assert done and value is threading.current_thread() and exc is None


def test_the_call_sees_the_callers_floating_point_settings():
    def overflow():
        return np.exp(np.array([1000.0]))

    with np.errstate(over="raise"):
        done, value, exc = run_with_timeout(overflow, (), {}, 5.0)
    assert done and isinstance(exc, FloatingPointError)


HANGING_IMPL = '''
import time
from gradspec.reference import *  # noqa: F401,F403
from gradspec.reference import relu_forward as _rf


def relu_forward(x):
    time.sleep(20)
    return _rf(x)
'''


@pytest.mark.cli
def test_cli_timeout_option(tmp_path):
    path = tmp_path / "hanging_impl.py"
    path.write_text(HANGING_IMPL)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "gradspec", "check", "--impl", str(path), "--ops", "relu", "tanh",
                           "--timeout", "0.5", "--json", "-"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1, proc.stderr
    data = json.loads(proc.stdout[proc.stdout.index("{"):])
    assert data["ops"]["relu"]["status"] == "error" and data["ops"]["tanh"]["status"] == "pass"
    kinds = [f["kind"] for c in data["ops"]["relu"]["checks"] for f in c["findings"]]
    assert "timeout" in kinds
    assert time.perf_counter() - t0 < 15  # the sleeping thread does not hold the exit
    bad = subprocess.run([sys.executable, "-m", "gradspec", "check", "--timeout", "-2"], capture_output=True, text=True)
    assert bad.returncode == 2 and "--timeout must be" in bad.stderr


# --------------------------------------------------------------------------- wrong outputs
@pytest.mark.parametrize("override,op,kind,text", [
    (dict(relu_forward=lambda x: ref.relu_forward(x).T.reshape(-1)[:-1] if np.size(x) > 1 else np.zeros(2)),
     "relu", "shape", "must have shape"),
    (dict(affine_backward=lambda x, W, b, dy: tuple(g.T for g in ref.affine_backward(x, W, b, dy))),
     "affine", "shape", "must have shape"),
    (dict(tanh_forward=lambda x: ref.tanh_forward(x).astype(np.float32)), "tanh", "dtype", "float64"),
    (dict(sigmoid_backward=lambda x, dy: ref.sigmoid_backward(x, dy).astype(np.int64)), "sigmoid", "dtype", "float64"),
    (dict(sigmoid_forward=lambda x: ref.sigmoid_forward(x).tolist()), "sigmoid", "type", "numpy.ndarray, got list"),
    (dict(tanh_backward=lambda x, dy: None), "tanh", "type", "got NoneType"),
    (dict(affine_backward=lambda x, W, b, dy: ref.affine_backward(x, W, b, dy)[:2]), "affine", "type", "tuple of 3"),
    (dict(mse_forward=lambda y, t: "0.5"), "mse", "type", "must be a float"),
    (dict(softmax_forward=lambda x: np.full(np.shape(x), np.nan)), "softmax", "nonfinite", "NaN/inf"),
    (dict(relu_backward=lambda x, dy: np.where(np.asarray(x) > 0, np.inf, 0.0)), "relu", "nonfinite", "NaN/inf"),
    (dict(mse_forward=lambda y, t: float("inf")), "mse", "nonfinite", "is inf"),
    (dict(adam_update=lambda w, g, state, lr, **h: np.asarray(w) - lr * np.asarray(g)), "adam", "type", "(w_new, state_new)"),
    (dict(clip_grad_value=lambda grads, clip: (np.clip(g, -clip, clip) for g in grads)), "clip_grad_value", "type", "list/tuple"),
])
def test_wrong_output_gets_a_clear_finding(override, op, kind, text):
    result = gradspec.check(impl_with(**override), ops=[op, "sigmoid" if op != "sigmoid" else "tanh"])
    assert result.ops[op].status in ("fail", "error")
    fs = findings(result, op, kind)
    assert fs, [(f.kind, f.message) for f in findings(result, op)]
    assert text in fs[0].message, fs[0].message
    other = [n for n in result.ops if n != op][0]
    assert result.ops[other].status == "pass"
    no_oracle_errors(result)


def _relu_in_place(x):
    np.maximum(x, 0.0, out=x)
    return x.copy()


def test_mutating_an_input_is_named():
    result = gradspec.check(impl_with(relu_forward=_relu_in_place), ops=["relu"])
    f = findings(result, "relu", "mutation")[0]
    assert f.details["argument"] == "x" and "modified its input x" in f.message


def test_nondeterministic_backward_is_named():
    rng = np.random.default_rng()

    def noisy(x, dy):
        return ref.tanh_backward(x, dy) + 1e-9 * rng.normal(size=np.shape(x))

    result = gradspec.check(impl_with(tanh_backward=noisy), ops=["tanh"])
    assert findings(result, "tanh", "nondeterministic")


class _Zoo:
    """Every kind of nonsense at once, one op each."""

    def sigmoid_forward(self, x):
        return [1.0]

    def sigmoid_backward(self, x, dy):
        return dy

    def step_forward(self, x):
        return np.array([object()] * np.size(x), dtype=object).reshape(np.shape(x))

    def batchnorm_forward(self, x, gamma, beta, eps=1e-5):
        return ref.batchnorm_forward(x, gamma, beta, eps) + 0j

    def batchnorm_backward(self, x, gamma, beta, eps, dy):
        return ref.batchnorm_backward(x, gamma, beta, eps, dy)

    def dropout_forward(self, x, mask, p):
        return np.float64(1.0)

    def dropout_backward(self, x, mask, p, dy):
        return {"dx": dy}

    def momentum_init(self, w):
        return threading.Lock()  # a state that cannot be copied

    def momentum_update(self, w, g, state, lr, momentum=0.9):
        return w, state

    def init_he_normal(self, shape, rng):
        return [[0.0] * shape[-1]] * shape[0]

    def mlp_loss_and_grads(self, params, X, T, hidden, output):
        return (1.0,)

    def perceptron_update(self, w, b, x, t, lr):
        return None

    def avg_pool2d_forward(self, x, kernel, stride=None, pad=0):
        return ref.avg_pool2d_forward(x, kernel, stride, pad).astype(int)

    def avg_pool2d_backward(self, x, kernel, stride, pad, dy):
        return ref.avg_pool2d_backward(x, kernel, stride, pad, dy)

    def clip_grad_norm(self, grads, max_norm):
        return grads  # aliasing: returns its input list


ZOO_OPS = ["sigmoid", "step", "batchnorm", "dropout", "momentum", "init_he_normal", "mlp", "perceptron", "avg_pool2d",
           "clip_grad_norm"]


def test_the_runner_never_crashes_on_nonsense():
    result = gradspec.check(_Zoo(), ops=ZOO_OPS + ["relu"])
    for op in ZOO_OPS:
        assert result.ops[op].status in ("fail", "error"), (op, result.ops[op].status)
        assert findings(result, op), op
    assert result.ops["relu"].status == "not_implemented"
    no_oracle_errors(result)
    json.dumps(result.to_dict(), allow_nan=False)  # the result is still strict JSON


# --------------------------------------------------------------------------- determinism
def _verdicts(result):
    d = result.to_dict()
    d.pop("duration_s")
    return d


def test_same_seed_same_verdicts():
    bad = impl_with(relu_backward=lambda x, dy: np.where(np.asarray(x) >= 0, dy, 0.0),
                    affine_backward=lambda x, W, b, dy: (np.asarray(dy) @ np.asarray(W).T, np.asarray(x).T @ dy,
                                                         np.asarray(dy).mean(axis=0)),
                    tanh_forward=_relu_raises)
    ops = ["relu", "affine", "tanh", "max_pool2d", "adam", "init_he_normal"]
    a = gradspec.check(bad, ops=ops, seed=11)
    b = gradspec.check(bad, ops=ops, seed=11)
    assert _verdicts(a) == _verdicts(b)
    assert {n: r.status for n, r in a.ops.items()} == {"relu": "fail", "affine": "fail", "tanh": "error",
                                                        "max_pool2d": "pass", "adam": "pass", "init_he_normal": "pass"}
    c = gradspec.check(bad, ops=ops, seed=12)
    assert _verdicts(c) != _verdicts(a)  # the seed does drive the draws
