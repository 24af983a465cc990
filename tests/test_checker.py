"""`gradspec check` and its first oracle (fd64): verdicts, exit codes, robustness, JSON, mutants caught."""
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

import gradspec
import gradspec.reference as ref
from gradspec import registry
from gradspec.cli import main
from gradspec.profiles import DEFAULT_ORACLES
from gradspec.reference.activations import sigmoid_forward
from _impls import make_impl, write_impl

ALL = [op.name for op in registry.OPS]


@pytest.fixture(autouse=True)
def _no_impl_env(monkeypatch):
    monkeypatch.delenv("GRADSPEC_IMPL", raising=False)


def op_result(impl, name, examples=None, seed=0):
    return gradspec.check(impl, ops=[name], seed=seed, examples=examples).ops[name]


def findings(op_res, kind=None):
    return [f for c in op_res.checks for f in c.findings if kind is None or f.kind == kind]


# --------------------------------------------------------------------------- the reference and the exit codes
def test_reference_passes_every_op():
    result = gradspec.check()
    assert list(result.ops) == ALL
    assert {n: r.status for n, r in result.ops.items() if r.status != "pass"} == {}
    assert result.ok and result.summary["pass"] == len(ALL)
    # every op was actually exercised, and differentiable ops had a backward check with a measured error
    for name, r in result.ops.items():
        assert r.checks and all(c.examples >= 1 for c in r.checks if c.status != "not_applicable"), name
        if registry.get(name).has_gradient:
            back = [c for c in r.checks if c.check == "backward"]
            assert back and back[0].worst_error is not None and back[0].worst_error <= 1.0


def test_cli_exit_0_on_the_reference(capsys):
    assert main(["check"]) == 0
    out = capsys.readouterr().out
    assert f"{len(ALL)} passed, 0 failed, 0 errors, 0 not implemented" in out
    assert "ok    conv2d" in out


def test_partial_module_gives_not_implemented(tmp_path, capsys):
    path = write_impl(tmp_path / "partial_impl.py", """
        from gradspec.reference import sigmoid_forward, sigmoid_backward, affine_forward, affine_backward
    """, star_reference=False)
    out_json = tmp_path / "r.json"
    assert main(["check", "--impl", path, "--json", str(out_json)]) == 0
    data = json.loads(out_json.read_text())
    status = {n: r["status"] for n, r in data["ops"].items()}
    assert status.pop("sigmoid") == "pass" and status.pop("affine") == "pass"
    assert set(status.values()) == {"not_implemented"} and len(status) == len(ALL) - 2
    assert data["summary"]["not_implemented"] == len(ALL) - 2 and data["summary"]["pass"] == 2
    assert f"2 passed, 0 failed, 0 errors, {len(ALL) - 2} not implemented" in capsys.readouterr().out


def test_op_with_a_missing_half_is_an_error_unless_it_is_the_backward():
    # a backward without its forward: an error naming the forward
    impl = make_impl("half", only=["sigmoid"], drop=("sigmoid_forward",))
    r = op_result(impl, "sigmoid")
    assert r.status == "error"
    assert "sigmoid_forward" in findings(r, "missing")[0].message
    # a forward without its backward: checked forward only, the backward reported not provided
    impl = make_impl("half", only=["sigmoid"], drop=("sigmoid_backward",))
    r = op_result(impl, "sigmoid")
    assert r.status == "partial"
    assert findings(r, "missing")[0].details["function"] == "sigmoid_backward"


def test_wrong_backward_exits_1_and_names_the_op(tmp_path, capsys):
    # σ' written as σ instead of σ(1 − σ)
    path = write_impl(tmp_path / "wrong_sigmoid.py", """
        def sigmoid_backward(x, dy):
            return dy * sigmoid_forward(x)
    """)
    out_json = tmp_path / "r.json"
    assert main(["check", "--impl", path, "--json", str(out_json)]) == 1
    out = capsys.readouterr().out
    assert "FAIL  sigmoid" in out and "[fd64/backward] sigmoid: dx[" in out
    assert "reproducer:" in out and "impl.sigmoid_backward(x, dy)" in out
    data = json.loads(out_json.read_text())
    assert data["ops"]["sigmoid"]["status"] == "fail"
    assert data["summary"]["fail"] == 1 and data["summary"]["pass"] == len(ALL) - 1
    back = [c for c in data["ops"]["sigmoid"]["checks"] if c["check"] == "backward"][0]
    assert back["status"] == "fail" and back["worst_error"] > 1
    assert back["findings"][0]["details"]["op"] == "sigmoid"


def test_GRADSPEC_IMPL_selects_the_implementation(tmp_path, monkeypatch, capsys):
    path = write_impl(tmp_path / "env_impl.py", """
        def relu_backward(x, dy):
            return dy
    """)
    monkeypatch.setenv("GRADSPEC_IMPL", path)
    assert main(["check", "--ops", "relu", "sigmoid"]) == 1
    assert "FAIL  relu" in capsys.readouterr().out
    assert main(["check", "--impl", "gradspec.reference", "--ops", "relu"]) == 0  # --impl wins over the variable


# --------------------------------------------------------------------------- usage errors: exit 2
@pytest.mark.parametrize("argv,message", [
    (["check", "--impl", "no_such_module_for_gradspec_xyz"], "cannot import implementation 'no_such_module_for_gradspec_xyz'"),
    (["check", "--impl", "missing_file_xyz.py"], "implementation file not found: missing_file_xyz.py"),
    (["check", "--impl", "gradspec.reference:NoSuchThing"], "has no attribute 'NoSuchThing'"),
    (["check", "--ops", "sigmoid,no_such_op"], "unknown op(s) ['no_such_op']"),
    (["check", "--oracle", "oracle9000"], "unknown oracle(s) ['oracle9000']"),
    (["check", "--examples", "0"], "--examples must be >= 1, got 0"),
    (["check", "--no-such-flag"], "unrecognized arguments: --no-such-flag"),
])
def test_usage_errors_exit_2(argv, message, capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_implementation_that_raises_at_import_exits_2(tmp_path, capsys):
    path = write_impl(tmp_path / "broken_import.py", "raise RuntimeError('no GPU found')\n", star_reference=False)
    assert main(["check", "--impl", path]) == 2
    assert "RuntimeError: no GPU found" in capsys.readouterr().err
    path = write_impl(tmp_path / "exits.py", "import sys\nsys.exit(3)\n", star_reference=False)
    assert main(["check", "--impl", path]) == 2


def test_runner_rejects_unknown_names():
    with pytest.raises(KeyError, match="unknown op 'no_such_op'"):
        gradspec.check(ops=["no_such_op"])
    with pytest.raises(KeyError, match="unknown oracle 'oracle9000'"):
        gradspec.check(ops=["sigmoid"], oracles=["oracle9000"])


# --------------------------------------------------------------------------- robustness: one bad op never stops the run
def _raises(x, dy):
    raise ValueError("boom")


def _mutates(x):
    np.maximum(x, 0.0, out=x)  # relu in place: modifies the caller's array
    return x.copy()


BROKEN = {
    "sigmoid": ("exception", dict(sigmoid_backward=_raises), "sigmoid_backward raised ValueError: boom"),
    "tanh": ("shape", dict(tanh_backward=lambda x, dy: (dy * (1 - np.tanh(x) ** 2)).ravel()[:-1]), "dx must have shape"),
    "softmax": ("dtype", dict(softmax_backward=lambda x, dy: ref.softmax_backward(x, dy).astype(np.float32)), "dx must be float64, got float32"),
    "affine": ("type", dict(affine_backward=lambda x, W, b, dy: [g.tolist() for g in ref.affine_backward(x, W, b, dy)]), "dx must be a numpy.ndarray, got list"),
    "mse": ("nonfinite", dict(mse_backward=lambda y, t, dy: ref.mse_backward(y, t, dy) * np.nan), "NaN/inf value(s)"),
    "relu": ("mutation", dict(relu_forward=_mutates), "relu_forward modified its input x"),
    "cross_entropy": ("type", dict(cross_entropy_forward=lambda p, t: np.array([1.0, 2.0])), "must be a float, got ndarray"),
}


def test_misbehaving_implementation_gets_a_finding_per_op_and_the_run_goes_on():
    overrides = {k: v for _, o, _ in BROKEN.values() for k, v in o.items()}
    impl = make_impl("misbehaving", **overrides)
    result = gradspec.check(impl)
    for name, (kind, _, text) in BROKEN.items():
        r = result.ops[name]
        assert r.status in ("fail", "error"), name
        fs = findings(r, kind)
        assert fs, f"{name}: no {kind} finding in {[f.kind for f in findings(r)]}"
        assert text in fs[0].message, (name, fs[0].message)
    # the exception finding names the implementation's own frame
    exc = findings(result.ops["sigmoid"], "exception")[0]
    assert exc.details["type"] == "ValueError" and "test_checker.py" in exc.details["frame"]
    # every other op was still checked and passes
    others = {n: r.status for n, r in result.ops.items() if n not in BROKEN}
    assert set(others.values()) == {"pass"} and len(others) == len(ALL) - len(BROKEN)
    assert result.summary["pass"] == len(ALL) - len(BROKEN)


def test_nondeterministic_backward_is_reported():
    calls = []

    def flaky(x, dy):  # alternates between two answers that both pass a 1e-6 gradient check
        calls.append(1)
        return ref.tanh_backward(x, dy) * (1 + 1e-12 * (len(calls) % 2))

    r = op_result(make_impl("flaky", tanh_backward=flaky), "tanh")
    assert r.status == "fail" and findings(r, "nondeterministic")


def test_json_has_the_documented_fields(capsys):
    assert main(["check", "--ops", "sigmoid", "mlp", "--seed", "7", "--json", "-"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {"gradspec_version", "implementation", "seed", "oracles", "ops", "summary"} <= set(data)
    assert data["gradspec_version"] == gradspec.__version__
    assert data["implementation"]["name"] == "gradspec.reference" and data["implementation"]["file"].endswith("__init__.py")
    assert data["seed"] == 7 and data["oracles"] == list(DEFAULT_ORACLES)
    assert list(data["ops"]) == ["sigmoid", "mlp"]
    for name, r in data["ops"].items():
        assert r["status"] == "pass"
        for c in r["checks"]:
            assert {"oracle", "status", "examples", "worst_error"} <= set(c)
            assert c["oracle"] in DEFAULT_ORACLES and c["examples"] >= 1 and 0 <= c["worst_error"] <= 1
    assert data["summary"] == {"pass": 2, "fail": 0, "error": 0, "partial": 0, "not_implemented": 0, "not_applicable": 0,
                               "total": 2}
    assert data["limits"] == {} and data["limits_source"] is None
    assert all(r["limits"] is None for r in data["ops"].values())


def test_same_seed_same_verdicts():
    a = gradspec.check(ops=["conv2d", "batchnorm"], seed=3).to_dict()["ops"]
    b = gradspec.check(ops=["conv2d", "batchnorm"], seed=3).to_dict()["ops"]
    assert a == b


def test_ops_command(capsys):
    assert main(["ops"]) == 0
    assert "conv2d" in capsys.readouterr().out
    assert main(["ops", "--json"]) == 0
    assert [d["name"] for d in json.loads(capsys.readouterr().out)] == ALL


def test_python_dash_m_gradspec_and_the_console_script(tmp_path):
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    env.pop("GRADSPEC_IMPL", None)
    p = subprocess.run([sys.executable, "-m", "gradspec", "check", "--ops", "sigmoid,affine", "--json", "-"],
                       capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["summary"]["pass"] == 2
    path = write_impl(tmp_path / "wrong_relu.py", """
        def relu_backward(x, dy):
            return dy * (x >= 0) * 2.0
    """)
    exe = os.path.join(os.path.dirname(sys.executable), "gradspec")
    cmd = [exe] if os.path.exists(exe) else [sys.executable, "-m", "gradspec"]
    p = subprocess.run(cmd + ["check", "--impl", path, "--ops", "relu", "affine", "-q"],
                       capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert p.returncode == 1, p.stdout + p.stderr
    assert "FAIL  relu" in p.stdout and "1 passed, 1 failed" in p.stdout


# --------------------------------------------------------------------------- fd64 catches mutants of every check
def _softmax_backward_centred(x, dy):
    # y ⊙ (dy − mean(dy)): right for a constant dy (both give 0), wrong for any other
    y = ref.softmax_forward(x)
    return y * (dy - dy.mean(axis=-1, keepdims=True))


def _batchnorm_backward_no_xhat_term(x, gamma, beta, eps, dy):
    dx, dg, db = ref.batchnorm_backward(x, gamma, beta, eps, dy)
    axes = (0,) if x.ndim == 2 else (0, 2, 3)
    shape = (1, -1) if x.ndim == 2 else (1, -1, 1, 1)
    m = x.size // x.shape[1]
    xc = x - x.mean(axis=axes, keepdims=True)
    inv = 1 / np.sqrt((xc * xc).mean(axis=axes, keepdims=True) + eps)
    dxhat = dy * gamma.reshape(shape)
    return inv / m * (m * dxhat - dxhat.sum(axis=axes, keepdims=True)), dg, db


DIFF_MUTANTS = {
    "softmax_centred_dy": ("softmax", dict(softmax_backward=_softmax_backward_centred), "backward"),
    "batchnorm_missing_term": ("batchnorm", dict(batchnorm_backward=_batchnorm_backward_no_xhat_term), "backward"),
    "conv_flipped_kernel": ("conv2d", dict(conv2d_backward=lambda x, W, b, s, p, dy: (
        ref.conv2d_backward(x, W[:, :, ::-1, ::-1], b, s, p, dy)[0],) + ref.conv2d_backward(x, W, b, s, p, dy)[1:]), "backward"),
    "maxpool_split_ties_avg": ("max_pool2d", dict(max_pool2d_backward=ref.avg_pool2d_backward), "backward"),
    "avgpool_divides_by_real_count": ("avg_pool2d", dict(avg_pool2d_forward=lambda x, k, s=None, p=0: ref.avg_pool2d_forward(x, k, s, p) * 1.5), "forward"),
    "mse_sum_not_mean": ("mse", dict(mse_backward=lambda y, t, dy: dy * (y - t)), "backward"),
    "bce_wrong_sign": ("binary_cross_entropy", dict(binary_cross_entropy_backward=lambda z, t, dy: -ref.binary_cross_entropy_backward(z, t, dy)), "backward"),
    "dropout_not_inverted": ("dropout", dict(dropout_backward=lambda x, m, p, dy: dy * m), "backward"),
    "l2_missing_half": ("l2_penalty", dict(l2_penalty_forward=lambda W, lam: float(lam * np.sum(W * W)),
                                           l2_penalty_backward=lambda W, lam, dy: 2 * dy * lam * W), "forward"),
    "affine_db_mean": ("affine", dict(affine_backward=lambda x, W, b, dy: ref.affine_backward(x, W, b, dy)[:2] + (dy.mean(axis=0),)), "backward"),
    "sigmoid_forward_scaled_consistently": ("sigmoid", dict(sigmoid_forward=lambda x: 2 * sigmoid_forward(x),
                                                            sigmoid_backward=lambda x, dy: 2 * ref.sigmoid_backward(x, dy)), "forward"),
}


@pytest.mark.parametrize("mutant", list(DIFF_MUTANTS))
def test_fd64_catches_gradient_mutants(mutant):
    op, overrides, check = DIFF_MUTANTS[mutant]
    r = op_result(make_impl(mutant, **overrides), op, examples=4)
    failed = {c.check for c in r.checks if c.status == "fail"}
    assert r.status == "fail" and check in failed, [(c.check, c.status, c.message) for c in r.checks]
    assert any(f.details.get("op") == op for f in findings(r, "mismatch"))


def test_a_constant_cotangent_would_miss_the_centred_softmax_mutant():
    # why fd64 draws a random dy: with dy = 1 the mutant and the spec agree exactly
    x = np.random.default_rng(0).normal(size=(3, 4))
    np.testing.assert_allclose(_softmax_backward_centred(x, np.ones((3, 4))), ref.softmax_backward(x, np.ones((3, 4))), atol=1e-16)


def _adam_no_bias_correction(w, g, state, lr, beta1=0.9, beta2=0.999, eps=1e-8):
    m = beta1 * state["m"] + (1 - beta1) * g
    v = beta2 * state["v"] + (1 - beta2) * g * g
    return w - lr * m / (np.sqrt(v) + eps), {"m": m, "v": v, "t": state["t"] + 1}


def _adam_eps_inside(w, g, state, lr, beta1=0.9, beta2=0.999, eps=1e-8):
    t = state["t"] + 1
    m = beta1 * state["m"] + (1 - beta1) * g
    v = beta2 * state["v"] + (1 - beta2) * g * g
    return w - lr * (m / (1 - beta1**t)) / np.sqrt(v / (1 - beta2**t) + eps), {"m": m, "v": v, "t": t}


def _adam_first_t_is_2(w, g, state, lr, beta1=0.9, beta2=0.999, eps=1e-8):
    # the first update uses t = 2 (counter incremented twice)
    return ref.adam_update(w, g, {**state, "t": state["t"] + 1}, lr, beta1, beta2, eps)


def _momentum_dampened(w, g, state, lr, momentum=0.9):
    v = momentum * state["v"] - lr * (1 - momentum) * g
    return w + v, {"v": v}


def _rmsprop_eps_inside(w, g, state, lr, decay=0.99, eps=1e-7):
    cache = decay * state["cache"] + (1 - decay) * g * g
    return w - lr * g / np.sqrt(cache + eps), {"cache": cache}


def _adagrad_no_accumulation(w, g, state, lr, eps=1e-7):
    return ref.adagrad_update(w, g, {"cache": np.zeros_like(w)}, lr, eps)


OPT_MUTANTS = {
    "adam_no_bias_correction": ("adam", _adam_no_bias_correction),
    "adam_eps_inside_root": ("adam", _adam_eps_inside),
    "adam_first_t_is_2": ("adam", _adam_first_t_is_2),
    "momentum_dampened": ("momentum", _momentum_dampened),
    "rmsprop_eps_inside_root": ("rmsprop", _rmsprop_eps_inside),
    "adagrad_no_accumulation": ("adagrad", _adagrad_no_accumulation),
    "sgd_double_step": ("sgd", lambda w, g, state, lr: (w - 2 * lr * g, state)),
}


@pytest.mark.parametrize("mutant", list(OPT_MUTANTS))
def test_fd64_trajectory_check_catches_optimizer_mutants(mutant):
    op, update = OPT_MUTANTS[mutant]
    r = op_result(make_impl(mutant, **{f"{op}_update": update}), op)
    assert r.status == "fail", [c.message for c in r.checks]
    f = findings(r, "mismatch")[0]
    assert "w after step" in f.message and f.details["step"] >= 1


def _he_normal_lecun_variance(shape, rng):
    return ref.init_lecun_normal(shape, rng)  # std √(1/fan_in) instead of √(2/fan_in)


def _xavier_uniform_drawn_normal(shape, rng):
    return ref.init_xavier_normal(shape, rng)  # right variance, wrong family


def _he_uniform_global_state(shape, rng):
    fan_in = ref.fans(shape)[0]
    a = math.sqrt(6 / fan_in)
    return np.random.uniform(-a, a, size=shape)  # NumPy's global generator, ignoring rng


def _he_normal_dense_fans_for_conv(shape, rng):
    fan_in = shape[1] if len(shape) == 4 else shape[0]  # forgets the kernel area KH·KW
    return rng.normal(0.0, math.sqrt(2 / fan_in), size=shape)


INIT_MUTANTS = {
    "he_normal_wrong_variance": ("init_he_normal", _he_normal_lecun_variance, "variance"),
    "xavier_uniform_is_normal": ("init_xavier_uniform", _xavier_uniform_drawn_normal, "not uniform"),
    "he_uniform_global_state": ("init_he_uniform", _he_uniform_global_state, "global random state"),
    "he_normal_conv_fans": ("init_he_normal", _he_normal_dense_fans_for_conv, "variance"),
}


@pytest.fixture
def restore_global_rng():
    state = np.random.get_state()
    yield
    np.random.set_state(state)


@pytest.mark.parametrize("mutant", list(INIT_MUTANTS))
def test_fd64_distribution_check_catches_init_mutants(mutant, restore_global_rng):
    op, fn, text = INIT_MUTANTS[mutant]
    # examples=4: the check draws up to 2 shapes; both dense and conv are exercised at seed 0
    r = op_result(make_impl(mutant, **{op: fn}), op, examples=4)
    assert r.status == "fail", [c.message for c in r.checks]
    assert any(text in f.message for f in findings(r)), [f.message for f in findings(r)]


def test_init_check_covers_conv_shapes_at_the_default_seed():
    # the conv-fans mutant above is only visible on a conv shape: make sure one was drawn
    r = op_result(ref, "init_he_normal", examples=4)
    shapes = [tuple(s["shape"]) for s in r.checks[0].info["statistics"]]
    assert any(len(s) == 4 for s in shapes), shapes


def _clip_per_array(grads, max_norm):
    return [g * min(1.0, max_norm / max(np.linalg.norm(g), 1e-300)) for g in grads]


CLIP_MUTANTS = {
    "clip_norm_per_array": ("clip_grad_norm", _clip_per_array, "mismatch"),
    "clip_norm_returns_inputs": ("clip_grad_norm", lambda grads, max_norm: grads if ref.global_norm(grads) <= max_norm
                                 else ref.clip_grad_norm(grads, max_norm), "aliasing"),
    "clip_norm_returns_input_tuple": ("clip_grad_norm", lambda grads, max_norm: tuple(grads) if ref.global_norm(grads) <= max_norm
                                      else ref.clip_grad_norm(grads, max_norm), "aliasing"),
    "clip_norm_returns_views": ("clip_grad_norm", lambda grads, max_norm: [g[...] for g in grads] if ref.global_norm(grads) <= max_norm
                                else ref.clip_grad_norm(grads, max_norm), "aliasing"),
    "clip_value_half": ("clip_grad_value", lambda grads, clip: [np.clip(g, -clip / 2, clip / 2) for g in grads], "mismatch"),
    "clip_value_in_place": ("clip_grad_value", lambda grads, clip: [np.clip(g, -clip, clip, out=g) for g in grads], "mutation"),
}


@pytest.mark.parametrize("mutant", list(CLIP_MUTANTS))
def test_fd64_rule_check_catches_clipping_mutants(mutant):
    op, fn, kind = CLIP_MUTANTS[mutant]
    r = op_result(make_impl(mutant, **{op: fn}), op, examples=6)
    assert r.status in ("fail", "error") and findings(r, kind), [f.kind for f in findings(r)]


def _perceptron_step_at_zero_is_1(w, b, x, t, lr):
    y = 1.0 if float(w @ x + b) >= 0 else 0.0
    return w + lr * (t - y) * x, b + lr * (t - y)


PERCEPTRON_MUTANTS = {
    "step_of_0_is_1": _perceptron_step_at_zero_is_1,
    "forgets_x": lambda w, b, x, t, lr: (w + lr * (t - float(w @ x + b > 0)), b + lr * (t - float(w @ x + b > 0))),
    "bias_not_updated": lambda w, b, x, t, lr: (ref.perceptron_update(w, b, x, t, lr)[0], b),
}


@pytest.mark.parametrize("mutant", list(PERCEPTRON_MUTANTS))
def test_fd64_rule_check_catches_perceptron_mutants(mutant):
    # 20 examples: about a fifth of the samples sit exactly on the boundary w·x + b = 0
    r = op_result(make_impl(mutant, perceptron_update=PERCEPTRON_MUTANTS[mutant]), "perceptron", examples=20)
    assert r.status == "fail" and findings(r, "mismatch")


def _mlp_sum_not_mean(params, X, T, hidden, output):
    loss, grads = ref.mlp_loss_and_grads(params, X, T, hidden, output)
    return loss, [(dW * len(X), db * len(X)) for dW, db in grads]


def _mlp_no_sigma_prime_in_bp2(params, X, T, hidden, output):
    from gradspec.reference import mlp as m

    original = m.activation_prime
    try:
        m.activation_prime = lambda name, z: np.ones_like(z)
        return ref.mlp_loss_and_grads(params, X, T, hidden, output)
    finally:
        m.activation_prime = original


def _mlp_transposed_layer(params, X, T, hidden, output):
    # returns the column-layout gradient shapes (n_l, n_{l-1}) in the row-layout protocol
    loss, grads = ref.mlp_loss_and_grads(params, X, T, hidden, output)
    return loss, [(dW.T, db) for dW, db in grads]


MLP_MUTANTS = {"sum_not_mean": (_mlp_sum_not_mean, "mismatch"), "no_sigma_prime": (_mlp_no_sigma_prime_in_bp2, "mismatch"),
               "transposed": (_mlp_transposed_layer, "shape")}


@pytest.mark.parametrize("mutant", list(MLP_MUTANTS))
def test_fd64_network_check_catches_mlp_mutants(mutant):
    fn, kind = MLP_MUTANTS[mutant]
    r = op_result(make_impl(mutant, mlp_loss_and_grads=fn), "mlp", examples=6)
    assert r.status == "fail" and findings(r, kind), [f.message for f in findings(r)]


def test_step_mutant_is_caught():
    r = op_result(make_impl("step_ge", step_forward=lambda x: (np.asarray(x) >= 0).astype(float)), "step")
    assert r.status == "fail" and findings(r, "mismatch")
