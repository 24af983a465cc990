"""The default check (no oracle named): what it runs, the bug classes it catches, and that the reference passes it.

The default (:data:`gradspec.profiles.DEFAULT_ORACLES`) is shared by ``gradspec check``, ``gradspec.check()`` and
the pytest plugin. Each deliberately wrong implementation below is the reference with one function replaced, and is
caught by the default check alone, on every seed tried; the reference passes it.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import gradspec
from gradspec import cli, profiles, reference as spec, registry
from gradspec.conformance import plugin
from gradspec.conformance.session import format_check
from gradspec.oracles import common, fd64
from gradspec.properties.mutants import make_impl
from gradspec.results import CheckResult

SEEDS = (0, 1, 2)


# --------------------------------------------------------------------------- deliberately wrong implementations
def _affine_dW_transposed_when_square(x, W, b, dy):
    dx, dW, db = spec.affine_backward(x, W, b, dy)
    return dx, (dW.T.copy() if W.shape[0] == W.shape[1] else dW), db


def _conv2d_dW_axes_swapped_when_F_equals_C(x, W, b, stride, pad, dy):
    dx, dW, db = spec.conv2d_backward(x, W, b, stride, pad, dy)
    return dx, (np.ascontiguousarray(dW.transpose(1, 0, 2, 3)) if W.shape[0] == W.shape[1] else dW), db


def _one_element_off(backward, which: int, rel: float):
    """``backward`` with one element (the middle one) of its ``which``-th gradient multiplied by 1 + rel."""

    def wrong(*args):
        out = backward(*args)
        grads = [np.array(g, dtype=np.float64) for g in (out if isinstance(out, tuple) else (out,))]
        g = grads[which]
        g.flat[g.size // 2] *= 1.0 + rel
        return tuple(grads) if isinstance(out, tuple) else grads[0]

    return wrong


def _softmax_naive(x):
    e = np.exp(x)  # no max shift: overflows at 1000
    return e / e.sum(axis=-1, keepdims=True)


def _softmax_naive_backward(x, dy):
    y = _softmax_naive(x)
    return y * (dy - np.sum(dy * y, axis=-1, keepdims=True))


def _bce_naive(z, t):
    s = 1.0 / (1.0 + np.exp(-z))  # log of a saturated sigmoid: log(0) at ±1000
    return float(-np.sum(t * np.log(s) + (1.0 - t) * np.log(1.0 - s)) / z.shape[0])


def _bce_naive_backward(z, t, dy):
    return dy * (1.0 / (1.0 + np.exp(-z)) - t) / z.shape[0]


WRONG = {
    "affine_dW_transposed_when_W_is_square": ("affine", dict(affine_backward=_affine_dW_transposed_when_square)),
    "conv2d_dW_F_and_C_swapped_when_equal": ("conv2d", dict(conv2d_backward=_conv2d_dW_axes_swapped_when_F_equals_C)),
    "affine_dW_one_element_1e-6": ("affine", dict(affine_backward=_one_element_off(spec.affine_backward, 1, 1e-6))),
    "affine_dW_one_element_1e-8": ("affine", dict(affine_backward=_one_element_off(spec.affine_backward, 1, 1e-8))),
    "sigmoid_dx_one_element_1e-6": ("sigmoid", dict(sigmoid_backward=_one_element_off(spec.sigmoid_backward, 0, 1e-6))),
    "sigmoid_dx_one_element_-1e-8": ("sigmoid", dict(sigmoid_backward=_one_element_off(spec.sigmoid_backward, 0, -1e-8))),
    "softmax_without_max_shift": ("softmax", dict(softmax_forward=_softmax_naive, softmax_backward=_softmax_naive_backward)),
    "binary_cross_entropy_log_of_sigmoid": ("binary_cross_entropy",
                                            dict(binary_cross_entropy_forward=_bce_naive,
                                                 binary_cross_entropy_backward=_bce_naive_backward)),
}


def _wrong(name):
    op, overrides = WRONG[name]
    return op, make_impl(name, **overrides)


def _bad_findings(op_result):
    return [(c, f) for c in op_result.checks if c.status in ("fail", "error") for f in c.findings]


# --------------------------------------------------------------------------- one default, three faces
def test_the_cli_the_api_and_the_plugin_share_one_default():
    assert profiles.DEFAULT_ORACLES == ("fd64", "mpmath")
    assert gradspec.check(None, ops="relu").oracles == list(profiles.DEFAULT_ORACLES)
    args = cli.build_parser().parse_args(["check"])
    assert args.oracle is None  # resolved to DEFAULT_ORACLES by the command (below, through its JSON)
    assert plugin.DEFAULT_ORACLES is profiles.DEFAULT_ORACLES


def test_the_cli_default_runs_the_default_oracles(tmp_path):
    import json

    out = tmp_path / "r.json"
    assert cli.main(["check", "--ops", "relu", "--json", str(out), "-q"]) == 0
    result = json.loads(out.read_text())
    assert result["oracles"] == list(profiles.DEFAULT_ORACLES)
    assert {c["oracle"] for c in result["ops"]["relu"]["checks"]} == set(profiles.DEFAULT_ORACLES)


# --------------------------------------------------------------------------- the bug classes
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", sorted(WRONG))
def test_each_wrong_implementation_is_caught_by_the_default_check(name, seed):
    op, impl = _wrong(name)
    r = gradspec.check(impl, ops=[op], seed=seed)
    assert r.oracles == list(profiles.DEFAULT_ORACLES)
    assert r.ops[op].status == "fail" and not r.ok, [(c.oracle, c.check, c.status) for c in r.ops[op].checks]


@pytest.mark.parametrize("name, argument", [("affine_dW_transposed_when_W_is_square", "dW"),
                                            ("conv2d_dW_F_and_C_swapped_when_equal", "dW")])
def test_a_transpose_that_keeps_the_shape_is_found_on_the_square_sample(name, argument):
    op, impl = _wrong(name)
    r = gradspec.check(impl, ops=[op], oracles="fd64")
    mismatches = [f for c, f in _bad_findings(r.ops[op]) if f.kind == "mismatch"]
    assert mismatches and all(f.details["what"] == argument for f in mismatches)
    labels = fd64.targeted_labels(registry.get(op))
    assert {f.details.get("sample_kind") for f in mismatches} <= set(labels) | {None}
    assert any(f.details.get("sample_kind") in labels for f in mismatches)


@pytest.mark.parametrize("name, argument", [("affine_dW_one_element_1e-6", "dW"), ("affine_dW_one_element_1e-8", "dW"),
                                            ("sigmoid_dx_one_element_1e-6", "dx"), ("sigmoid_dx_one_element_-1e-8", "dx")])
def test_a_small_relative_error_in_one_element_is_located_by_the_mpmath_oracle(name, argument):
    op, impl = _wrong(name)
    r = gradspec.check(impl, ops=[op])
    found = [(c, f) for c, f in _bad_findings(r.ops[op]) if c.oracle == "mpmath" and f.kind == "mismatch"]
    assert found, [(c.oracle, c.check, c.status) for c in r.ops[op].checks]
    elementwise = [f for _, f in found if f.details["what"] == argument]
    directional = [f for _, f in found if f.details["what"] != argument]
    assert elementwise and all(f.details["what"].startswith(f"<{argument}, v") for f in directional)
    for f in elementwise:  # the one perturbed element: the middle one of the argument
        shape = f.details["sample"][{"dW": "W", "dx": "x"}[argument]]["shape"]
        assert f.details["index"] == [int(i) for i in np.unravel_index(int(np.prod(shape)) // 2, shape)]


@pytest.mark.parametrize("name", ["softmax_without_max_shift", "binary_cross_entropy_log_of_sigmoid"])
def test_an_overflow_at_logits_of_1000_is_found_on_the_large_logit_sample(name):
    op, impl = _wrong(name)
    r = gradspec.check(impl, ops=[op], oracles="fd64")
    label = fd64.targeted_labels(registry.get(op))[0]
    forward = next(c for c in r.ops[op].checks if c.check == "forward")
    assert forward.status == "fail"
    assert [f.details.get("sample_kind") for f in forward.findings] == [label] * len(forward.findings)
    assert {f.kind for f in forward.findings} == {"nonfinite"}


# --------------------------------------------------------------------------- correct implementations pass
@pytest.mark.parametrize("seed", SEEDS)
def test_the_reference_passes_the_default_check(seed):
    r = gradspec.check(None, seed=seed)
    assert r.ok and set(r.ops) == set(registry.REGISTRY)
    assert {o.status for o in r.ops.values()} == {"pass"}
    assert not [c for o in r.ops.values() for c in o.checks if c.check == "warnings"]  # the reference never warns


# The PyTorch adapter passes the default check too: tests/test_torch_adapter.py
# (test_adapter_passes_every_op_of_the_registry runs gradspec.check with the default oracles).


def test_the_targeted_samples_are_what_they_say():
    rng = np.random.default_rng(0)
    for _ in range(20):
        (label, s), = fd64.targeted_samples(registry.get("affine"), rng)
        assert s["W"].shape[0] == s["W"].shape[1] >= 2 and label == "square W (D = M)"
        spec.affine_forward(s["x"], s["W"], s["b"])  # a valid sample
        (label, s), = fd64.targeted_samples(registry.get("conv2d"), rng)
        F, C, KH, KW = s["W"].shape
        assert F == C >= 2 and KH == KW >= 2
        spec.conv2d_forward(s["x"], s["W"], s["b"], s["stride"], s["pad"])
        for op, arg in fd64.LARGE_LOGITS.items():
            (label, s), = fd64.targeted_samples(registry.get(op), rng)
            z = s[arg]
            assert np.all(np.abs(np.abs(z) - 1000.0) <= 1.0) and label == f"{arg} of ±1000"
            assert z.max() > 999 and (z.size == 1 or z.min() < -999)
    assert fd64.targeted_samples(registry.get("relu"), rng) == []


# --------------------------------------------------------------------------- frictions: argument names
def test_every_protocol_function_has_the_reproducers_argument_names():
    rng = np.random.default_rng(0)
    for op in registry.OPS:
        s = op.sample(rng)
        if op.kind in ("differentiable", "loss"):
            assert common.argument_names(op.forward) == [n for n, _ in common.named_args(op, s)]
            assert common.argument_names(op.backward) == [n for n, _ in common.named_args(op, s, [("dy", 0.0)])]
        elif op.kind == "optimizer":
            assert common.argument_names(op.functions[0]) == ["w"]
            assert common.argument_names(op.functions[1]) == ["w", "g", "state"]
        else:
            assert common.argument_names(op.functions[0]) == [a.name for a in op.args]
    assert common.argument_names("not_a_protocol_function") is None
    assert common.argument_path("args[0][3]", ["x", "W", "b", "dy"]) == "dy"
    assert common.argument_path("args[0][0][2]", ["grads", "max_norm"]) == "grads[2]"
    assert common.argument_path("args[0][2]['m']", ["w", "g", "state"]) == "state['m']"
    assert common.argument_path("args[1]['lr']", ["w", "g", "state"]) == "lr"
    assert common.argument_path("args[0][5]", ["w"]) == "args[5]"


def _relu_backward_in_place(x, dy):
    dy *= np.asarray(x) > 0  # modifies its input dy
    return dy


def _clip_grad_norm_in_place(grads, max_norm):
    out = spec.clip_grad_norm(grads, max_norm)
    grads[-1][...] = out[-1]  # modifies the last array of its input list
    return out


def _adam_update_in_place(w, g, state, **hyper):
    w_new, new_state = spec.adam_update(w, g, state, **hyper)
    for k, v in state.items():  # modifies the state it was given
        if isinstance(v, np.ndarray):
            v += 1.0
    return w_new, new_state


@pytest.mark.parametrize("op, overrides, argument", [
    ("relu", dict(relu_backward=_relu_backward_in_place), "dy"),
    ("clip_grad_norm", dict(clip_grad_norm=_clip_grad_norm_in_place), "grads["),
    ("adam", dict(adam_update=_adam_update_in_place), "state"),
])
def test_a_modified_input_has_its_protocol_name_in_every_finding(op, overrides, argument):
    r = gradspec.check(make_impl(f"{op}_in_place", **overrides), ops=[op])
    mutations = [f for _, f in _bad_findings(r.ops[op]) if f.kind == "mutation"]
    assert mutations, [(c.oracle, c.check, c.status, c.message) for c in r.ops[op].checks]
    for f in mutations:
        assert f.details["argument"].startswith(argument) and "args[" not in f.details["argument"]
        assert "args[" not in f.message


def test_the_reference_modifies_no_input():
    r = gradspec.check(None, ops=["relu", "clip_grad_norm", "adam"])
    assert r.ok and not [f for _, c in r.failures() for f in c.findings if f.kind == "mutation"]


# --------------------------------------------------------------------------- frictions: the implementation's warnings
def _sigmoid_warns(x):
    return 1.0 / (1.0 + np.exp(-np.asarray(x)))  # right values; overflows (and warns) in exp at x = -1000


def test_the_implementations_warnings_are_one_finding_per_op_never_raw_output(capsys):
    impl = make_impl("sigmoid_warns", sigmoid_forward=_sigmoid_warns)
    with warnings.catch_warnings(record=True) as escaped:
        warnings.simplefilter("always")
        r = gradspec.check(impl, ops=["sigmoid", "tanh"])
    assert not escaped, [str(w.message) for w in escaped]
    assert r.ops["sigmoid"].status == "pass" and r.ok  # a warning is not a wrong result
    (check,) = [c for c in r.ops["sigmoid"].checks if c.check == "warnings"]
    assert check.oracle == "protocol" and check.status == "pass" and len(check.findings) == 1
    raised = check.findings[0].details["warnings"]
    assert list(raised) == ["sigmoid_forward"]
    assert [k.split(":")[0] for k in raised["sigmoid_forward"]] == ["RuntimeWarning"]
    assert check.findings[0].details["count"] == sum(raised["sigmoid_forward"].values()) >= 1
    assert not [c for c in r.ops["tanh"].checks if c.check == "warnings"]
    assert capsys.readouterr() == ("", "")


def test_the_cli_prints_the_warnings_once_per_op_and_a_summary(tmp_path, capsys):
    path = tmp_path / "warns.py"
    path.write_text("from gradspec.reference import *  # noqa\nimport numpy as np\n"
                    "def sigmoid_forward(x):\n    return 1.0 / (1.0 + np.exp(-np.asarray(x)))\n")
    assert cli.main(["check", "--impl", str(path), "--ops", "sigmoid", "relu"]) == 0
    out, err = capsys.readouterr()
    assert "Warning" not in err
    lines = out.splitlines()
    sig = lines.index(next(line for line in lines if line.split()[:2] == ["ok", "sigmoid"]))
    assert lines[sig + 1].strip().startswith("warnings inside the implementation's calls: sigmoid_forward:")
    assert sum("sigmoid_forward" in line for line in lines) == 1
    assert lines[-2].startswith("warnings inside the implementation's calls in 1 op(s): sigmoid")
    assert cli.main(["check", "--ops", "sigmoid", "relu"]) == 0  # the reference: no warning lines
    assert "warnings" not in capsys.readouterr().out


# --------------------------------------------------------------------------- frictions: no ratio on an error
def _affine_backward_raises(x, W, b, dy):
    raise RuntimeError("not written yet")


def test_an_error_line_shows_no_error_ratio(tmp_path, capsys):
    path = tmp_path / "raises.py"
    path.write_text("from gradspec.reference import *  # noqa\n"
                    "def affine_backward(x, W, b, dy):\n    raise RuntimeError('not written yet')\n")
    assert cli.main(["check", "--impl", str(path), "--ops", "affine", "relu"]) == 1
    lines = capsys.readouterr().out.splitlines()
    error = next(line for line in lines if line.split()[:2] == ["ERROR", "affine"])
    ok = next(line for line in lines if line.split()[:2] == ["ok", "relu"])
    assert "tol" not in error and "worst" in ok
    r = gradspec.check(make_impl("raises", affine_backward=_affine_backward_raises), ops=["affine"])
    assert r.ops["affine"].status == "error"


def test_a_failure_out_of_tolerance_shows_its_ratio(tmp_path, capsys):
    path = tmp_path / "transposes.py"
    path.write_text("from gradspec.reference import *  # noqa\nfrom gradspec import reference as spec\n"
                    "def affine_backward(x, W, b, dy):\n    dx, dW, db = spec.affine_backward(x, W, b, dy)\n"
                    "    return dx, (dW.T.copy() if W.shape[0] == W.shape[1] else dW), db\n")
    assert cli.main(["check", "--impl", str(path), "--ops", "affine"]) == 1
    line = next(line for line in capsys.readouterr().out.splitlines() if line.split()[:2] == ["FAIL", "affine"])
    assert float(line.split("worst ")[1].split("×")[0]) > 1.0


def test_a_conformance_failure_text_shows_the_ratio_only_where_it_was_measured():
    error = CheckResult("fd64", "backward", "error", examples=1, worst_error=2.19e-6, message="affine_backward raised")
    fail = CheckResult("fd64", "backward", "fail", examples=1, worst_error=3.5, message="dW[0, 1] off")
    assert "worst error" not in format_check("affine", error)
    assert "worst error 3.5× the tolerance" in format_check("affine", fail)


@pytest.mark.cli
def test_the_conformance_suite_lists_the_warnings_in_its_summary(tmp_path):
    import os
    import subprocess
    import sys

    (tmp_path / "gs_warns.py").write_text("from gradspec.reference import *  # noqa\nimport numpy as np\n"
                                          "def sigmoid_forward(x):\n    return 1.0 / (1.0 + np.exp(-np.asarray(x)))\n")
    env = {k: v for k, v in os.environ.items() if k != "GRADSPEC_IMPL"}
    env["PYTHONPATH"] = str(tmp_path)

    def run(impl):  # a fresh interpreter, as a user runs it; only two ops' tests
        return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-n", "0", "-q", "--pyargs",
                               "gradspec.conformance", "--gradspec-impl", impl, "-k", "sigmoid or tanh"],
                              cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)

    warns = run("gs_warns")
    assert warns.returncode == 0, warns.stdout + warns.stderr  # a warning is not a failure
    lines = warns.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if "gradspec: warnings inside the implementation's calls" in line)
    assert lines[header + 1].startswith("sigmoid: warnings inside the implementation's calls: sigmoid_forward: ")
    assert not any(line.startswith("tanh:") for line in lines)


def test_a_conformance_session_has_warnings_only_for_the_ops_that_raised_them(tmp_path):
    from gradspec.conformance.session import ConformanceSession

    path = tmp_path / "gs_warns_session.py"
    path.write_text("from gradspec.reference import *  # noqa\nimport numpy as np\n"
                    "def sigmoid_forward(x):\n    return 1.0 / (1.0 + np.exp(-np.asarray(x)))\n")
    warns = ConformanceSession(str(path), profiles.DEFAULT_ORACLES, 0, "dev")
    reference = ConformanceSession("gradspec.reference", profiles.DEFAULT_ORACLES, 0, "dev")
    for s in (warns, reference):
        assert s.result("sigmoid").status == "pass" and s.result("tanh").status == "pass"
    assert list(warns.warnings()) == ["sigmoid"] and "sigmoid_forward: RuntimeWarning" in warns.warnings()["sigmoid"]
    assert reference.warnings() == {}
