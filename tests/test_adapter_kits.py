"""The adapter kits (gradspec.adapters.kits): code in the cache, layers and network styles, checked as it is.

The example codebases in examples/ hold correct ops and typical bugs; gradspec's verdict on every op must be
exactly the expected one: every bug caught, every correct op passing, with the default check (fd64) and with
all four oracles (on a subset of the ops, to stay affordable).
"""
from __future__ import annotations

import importlib
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import gradspec
from gradspec import cli
from gradspec.adapters import dropout_draws, kits

#: GRADSPEC_KITS_DEEP=1 runs every op of every example with all four oracles (slow: Hypothesis shrinks each bug's
#: counterexample through every property); the default run uses all four oracles on a cheap subset of the ops.
DEEP = os.environ.get("GRADSPEC_KITS_DEEP") == "1"
EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")
ALL_ORACLES = ["fd64", "properties", "mpmath", "symbolic"]

CACHE_VERDICTS = {"sigmoid": "pass", "relu": "fail", "affine": "pass", "conv2d": "pass", "max_pool2d": "pass",
                  "batchnorm": "pass", "dropout": "pass", "softmax_cross_entropy": "pass", "sgd": "fail",
                  "momentum": "pass", "rmsprop": "pass", "adam": "fail"}
LAYER_VERDICTS = {"affine": "pass", "relu": "pass", "sigmoid": "pass", "softmax_cross_entropy": "pass",
                  "conv2d": "pass", "max_pool2d": "fail", "dropout": "fail", "batchnorm": "fail", "sgd": "pass",
                  "momentum": "pass", "adagrad": "pass", "adam": "pass"}


def _module(monkeypatch, folder, name):
    monkeypatch.syspath_prepend(os.path.join(EXAMPLES, folder))
    return importlib.import_module(name)


@pytest.fixture
def cs231n(monkeypatch):
    return _module(monkeypatch, "cache_style", "my_cs231n_code")


@pytest.fixture
def fish(monkeypatch):
    return _module(monkeypatch, "layer_style", "my_fish_net")


@pytest.fixture
def nielsen(monkeypatch):
    return _module(monkeypatch, "network_style", "nielsen_network")


def _verdicts(result):
    """op -> pass/fail. "fail": the op is caught by at least one failing check (its status may be "error" when,
    besides, the properties oracle's Hypothesis run found several distinct failures and reports them as an
    ExceptionGroup); anything else keeps its status (a crash of the kit is never counted as a caught bug)."""
    out = {}
    for name, r in result.ops.items():
        if r.status == "not_implemented":
            continue
        caught = r.status in ("fail", "error") and any(c.status == "fail" for c in r.checks)
        out[name] = "fail" if caught else r.status
    return out


def _failing_checks(result, op):
    return [(c.oracle, c.check) for c in result.ops[op].checks if c.status in ("fail", "error")]


# --------------------------------------------------------------------------- cache style (cs231n)
def test_cache_kit_verdicts_fd64(cs231n):
    kit = kits.wrap(cs231n, "cache")
    result = gradspec.check(kit)
    assert _verdicts(result) == CACHE_VERDICTS
    assert kit.skipped["svm_loss"].startswith("svm_loss (multiclass hinge loss) has no op")
    # the bugs are named as what they are
    sgd = result.ops["sgd"].checks[0]
    assert sgd.findings[0].kind == "mutation" and sgd.findings[0].details["argument"] == "w"
    relu = [c for c in result.ops["relu"].checks if c.status == "fail"]
    assert [c.check for c in relu] == ["conventions"]
    assert "relu_prime_at_zero_is_one" in json.dumps(result.to_dict()["ops"]["relu"])
    assert "adam_step_off_by_one" in json.dumps(result.to_dict()["ops"]["adam"])


@pytest.mark.mpmath
@pytest.mark.symbolic
def test_cache_kit_verdicts_all_oracles(cs231n):
    ops = list(CACHE_VERDICTS) if DEEP else ["affine", "softmax_cross_entropy", "rmsprop", "adam", "relu"]
    result = gradspec.check(kits.wrap(cs231n, "cache"), ops=ops, oracles=["fd64", "mpmath", "symbolic"], examples=1)
    assert _verdicts(result) == {op: CACHE_VERDICTS[op] for op in ops}
    # the properties oracle: Hypothesis shrinks a bug's counterexample through every property, which costs up to
    # a minute per bug here, so the default run gives it the correct ops and one bug (relu'(0) = 1)
    prop_ops = ops if DEEP else ["affine", "softmax_cross_entropy", "rmsprop", "relu"]
    props = gradspec.check(kits.wrap(cs231n, "cache"), ops=prop_ops, oracles=["properties"], examples=1)
    assert _verdicts(props) == {op: CACHE_VERDICTS[op] for op in prop_ops}
    for op in ("affine", "softmax_cross_entropy"):  # every oracle had something to say and agreed
        assert {c.oracle for c in result.ops[op].checks if c.status == "pass"} == {"fd64", "mpmath", "symbolic"}
    # the Adam bug is seen by the symbolic oracle too (mpmath does not apply to optimizers)
    assert ("symbolic", "trajectory") in _failing_checks(result, "adam")


def test_cache_kit_detects_p_and_the_mapping_overrides_it(cs231n):
    kit = kits.wrap(cs231n, "cache")
    assert gradspec.check(kit, ops=["dropout"]).ops["dropout"].status == "pass"
    assert any("p read as the keep probability (measured" in n for n in kit.notes["dropout"])
    # the same code read with the other meaning of p: its kept units are scaled by 1/p, not 1/(1 - p)
    wrong = kits.wrap(cs231n, "cache", {"ops": {"dropout": {"p": "drop"}}})
    res = gradspec.check(wrong, ops=["dropout"]).ops["dropout"]
    assert res.status in ("fail", "error")  # error: at p = 0 the misread code divides 0 by 0
    forward = next(c for c in res.checks if c.check == "forward")
    assert any(f.kind == "mismatch" for f in forward.findings)


def test_cache_kit_leaves_numpy_global_state_as_it_was(cs231n):
    kit = kits.wrap(cs231n, "cache")
    before = np.random.get_state()[1].copy()
    x = np.arange(1.0, 13.0).reshape(3, 4)
    mask = (np.arange(12) % 3 != 0).astype(float).reshape(3, 4)
    out = kit.dropout_forward(x, mask, 0.5)
    assert np.array_equal(np.random.get_state()[1], before)
    np.testing.assert_allclose(out, x * mask / 0.5, rtol=0, atol=0)


def test_cache_kit_mapping_renames_functions(cs231n, tmp_path):
    mapping = tmp_path / "m.json"
    mapping.write_text(json.dumps({"style": "cache", "ops": {"relu": {"forward": "relu_forward",
                                                                         "backward": "sigmoid_backward"},
                                                                "adam": None}}))
    kit = kits.wrap(cs231n, None, str(mapping))
    assert kit.bound["relu"] == "relu_forward, sigmoid_backward"
    assert "adam" not in kit.bound and kit.skipped["adam"] == "excluded by the mapping"
    assert gradspec.check(kit, ops=["relu"]).ops["relu"].status == "fail"


def test_mapping_errors_name_the_rule(cs231n, tmp_path):
    with pytest.raises(kits.MappingError, match="unknown op 'relu6'"):
        kits.wrap(cs231n, "cache", {"ops": {"relu6": None}})
    with pytest.raises(kits.MappingError, match=r"unknown key\(s\) \['fwd'\]"):
        kits.wrap(cs231n, "cache", {"ops": {"relu": {"fwd": "relu_forward"}}})
    with pytest.raises(kits.MappingError, match="'keep' or 'drop', got 'half'"):
        kits.wrap(cs231n, "cache", {"ops": {"dropout": {"p": "half"}}})
    with pytest.raises(kits.MappingError, match="names 'relu_fwd'"):
        kits.wrap(cs231n, "cache", {"ops": {"relu": {"forward": "relu_fwd"}}})
    with pytest.raises(kits.MappingError, match="style must be one of cache, layers, network, got 'keras'"):
        kits.wrap(cs231n, "keras")
    with pytest.raises(kits.MappingError, match="mapping is for style 'layers'"):
        kits.wrap(cs231n, "cache", {"style": "layers"})
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(kits.MappingError, match="not valid JSON"):
        kits.wrap(cs231n, "cache", str(bad))


def test_a_correct_cs231n_module_passes_every_op_it_provides(cs231n, monkeypatch):
    """The example with its three bugs fixed (relu'(0) = 0, sgd out of place, adam from t = 0) passes."""
    import types

    fixed = types.ModuleType("fixed_cs231n")
    fixed.__dict__.update({k: v for k, v in vars(cs231n).items() if not k.startswith("__")})

    def relu_backward(dout, cache):
        return dout * (cache > 0)

    def sgd(w, dw, config=None):
        config = config or {}
        config.setdefault("learning_rate", 1e-2)
        return w - config["learning_rate"] * dw, config

    def adam(w, dw, config=None):
        config = config or {}
        config.setdefault("t", 0)  # the example's bug is its initial t = 1
        return cs231n.adam(w, dw, config)

    fixed.relu_backward, fixed.sgd, fixed.adam = relu_backward, sgd, adam
    result = gradspec.check(kits.wrap(fixed, "cache"), ops=["relu", "sgd", "adam"])
    assert _verdicts(result) == {"relu": "pass", "sgd": "pass", "adam": "pass"}


# --------------------------------------------------------------------------- layers style (fish book)
def test_layer_kit_verdicts_fd64(fish):
    kit = kits.wrap(fish, "layers")
    result = gradspec.check(kit)
    assert _verdicts(result) == LAYER_VERDICTS
    d = json.dumps(result.to_dict()["ops"])
    for bug in ("dropout_not_inverted", "ignored_hyperparameter"):
        assert bug in d
    assert '"hyperparameter": "eps"' in d  # the batchnorm that ignores the eps passed in
    assert _failing_checks(result, "max_pool2d") == [("fd64", "conventions")]  # the tie rule, on the kink
    # the in-place update is the style's contract: noted, not a failure
    assert any("wrote params in place" in n for n in kit.notes["sgd"])


@pytest.mark.mpmath
@pytest.mark.symbolic
def test_layer_kit_verdicts_all_oracles(fish):
    ops = list(LAYER_VERDICTS) if DEEP else ["affine", "sgd", "adam", "batchnorm"]
    oracles = ALL_ORACLES if DEEP else ["fd64", "mpmath", "symbolic"]  # + properties below, on the correct ops
    result = gradspec.check(kits.wrap(fish, "layers"), ops=ops, oracles=oracles, examples=1)
    assert _verdicts(result) == {op: LAYER_VERDICTS[op] for op in ops}
    assert {"mpmath", "symbolic"} <= {o for o, _ in _failing_checks(result, "batchnorm")}
    if not DEEP:  # Hypothesis shrinking a bug's counterexample through every property costs minutes here
        correct = [op for op in ops if LAYER_VERDICTS[op] == "pass"]
        props = gradspec.check(kits.wrap(fish, "layers"), ops=correct, oracles=["properties"], examples=1)
        assert _verdicts(props) == {op: "pass" for op in correct}


def test_layer_kit_dropout_with_a_named_rng(fish):
    """A layer drawing from its own generator: the kit seeds that attribute, NumPy's global state is untouched."""

    class OwnRngDropout:
        def __init__(self, dropout_ratio=0.5):
            self.ratio, self.rng = dropout_ratio, None

        def forward(self, x, train_flg=True):
            self.mask = self.rng.random(x.shape) >= self.ratio
            return x * self.mask / (1.0 - self.ratio)

        def backward(self, dout):
            return dout * self.mask / (1.0 - self.ratio)

    import types

    code = types.ModuleType("own_rng")
    code.Dropout = OwnRngDropout
    kit = kits.wrap(code, "layers", {"ops": {"dropout": {"rng": "rng"}}})
    before = np.random.get_state()[1].copy()
    assert gradspec.check(kit, ops=["dropout"]).ops["dropout"].status == "pass"
    assert np.array_equal(np.random.get_state()[1], before)
    assert any("rng = np.random.default_rng(k)" in n for n in kit.notes["dropout"])
    # without the mapping the layer has no generator: the kit cannot call it, and says so as an error
    plain = gradspec.check(kits.wrap(code, "layers"), ops=["dropout"])
    assert plain.ops["dropout"].status == "error"


def test_layer_kit_optimizer_without_eps_is_a_named_error(fish):
    class AdaGradFixedEps:  # the book's AdaGrad: eps hard-coded
        def __init__(self, lr=0.01):
            self.lr, self.h = lr, None

        def update(self, params, grads):
            if self.h is None:
                self.h = {k: np.zeros_like(v) for k, v in params.items()}
            for k in params:
                self.h[k] += grads[k] ** 2
                params[k] -= self.lr * grads[k] / (np.sqrt(self.h[k]) + 1e-7)

    import types

    code = types.ModuleType("fixed_eps")
    code.AdaGrad = AdaGradFixedEps
    result = gradspec.check(kits.wrap(code, "layers"), ops=["adagrad"])
    check = result.ops["adagrad"].checks[0]
    assert result.ops["adagrad"].status == "error"
    assert check.findings[0].details["type"] == "MappingError" and "takes no eps" in check.findings[0].message


def test_layer_kit_reports_a_write_into_dout(fish):
    """The book's own Relu.backward does dout[self.mask] = 0: a write into gradspec's dy, reported."""

    class BookRelu:
        def forward(self, x):
            self.mask = x <= 0
            out = x.copy()
            out[self.mask] = 0
            return out

        def backward(self, dout):
            dout[self.mask] = 0
            return dout

    import types

    code = types.ModuleType("book_relu")
    code.Relu = BookRelu
    result = gradspec.check(kits.wrap(code, "layers"), ops=["relu"])
    kinds = {f.kind for c in result.ops["relu"].checks for f in c.findings}
    assert result.ops["relu"].status == "fail" and "mutation" in kinds


# --------------------------------------------------------------------------- network style (Nielsen)
@pytest.mark.parametrize("cls, verdict", [("Network", "pass"), ("HastyNetwork", "fail")])
def test_network_kit_verdicts(nielsen, cls, verdict):
    kit = kits.wrap(nielsen, "network", {"ops": {"mlp": {"class": cls}}})
    result = kits.check(kit, ops=["mlp"])
    assert _verdicts(result) == {"mlp": verdict}
    if verdict == "fail":
        assert _failing_checks(result, "mlp") == [("fd64", "backward")]


@pytest.mark.mpmath
@pytest.mark.symbolic
@pytest.mark.parametrize("cls, verdict", [("Network", "pass"), ("HastyNetwork", "fail")])
def test_network_kit_verdicts_all_oracles(nielsen, cls, verdict):
    kit = kits.wrap(nielsen, "network", {"ops": {"mlp": {"class": cls}}})
    result = kits.check(kit, ops=["mlp"], oracles=ALL_ORACLES, examples=2)
    assert _verdicts(result) == {"mlp": verdict}
    by = {(c.oracle, c.check): c.status for c in result.ops["mlp"].checks}
    # the kit declares its architecture as limits: every oracle draws within them, the properties' Hypothesis
    # strategies included; the properties about relu's kink cannot (the kit's hidden units are sigmoid)
    assert by[("mpmath", "backward")] == by[("symbolic", "backward")] == verdict
    props = {c.check: c for c in result.ops["mlp"].checks if c.oracle == "properties"}
    # every oracle the property suite delegates to (fd64 always; symbolic and mpmath as the suite found them when
    # it was built in this process), and the gradient property of the network
    assert "agrees_with_fd64[away]" in props
    gradient = {k for k in props if k.startswith("agrees_with_")} | {"gradients_fd64[away]"}
    assert {k for k, c in props.items() if c.status == "fail"} == (gradient if verdict == "fail" else set())
    assert {k for k, c in props.items() if c.status == "pass"} == (
        {"no_mutation[away]", "deterministic[away]", "no_global_random_state[away]"} | (gradient if verdict == "pass" else set()))
    kink = props["relu_convention[on_kink]"]
    assert kink.status == "not_applicable" and kink.info["reason"] == "limits" and kink.examples == 0
    assert kink.info["limits"] == {"hidden": "sigmoid", "output": "sigmoid_mse"}
    assert all(c.info["limits"] == kink.info["limits"] for k, c in props.items() if c.status == "pass")


def test_network_kit_narrows_the_op_and_says_why_elsewhere(nielsen):
    kit = kits.wrap(nielsen, "network")
    grads_ok = kit.mlp_loss_and_grads  # the architecture it implements
    from gradspec.reference.mlp import mlp_loss_and_grads

    rng = np.random.default_rng(0)
    params = [(rng.normal(size=(3, 4)), rng.normal(size=4)), (rng.normal(size=(4, 2)), rng.normal(size=2))]
    X, T = rng.normal(size=(5, 3)), rng.normal(size=(5, 2))
    loss, grads = grads_ok(params, X, T, "sigmoid", "sigmoid_mse")
    ref_loss, ref_grads = mlp_loss_and_grads(params, X, T, "sigmoid", "sigmoid_mse")
    assert loss == pytest.approx(ref_loss, rel=1e-12)
    for (dW, db), (rW, rb) in zip(grads, ref_grads):
        np.testing.assert_allclose(dW, rW, rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(db, rb, rtol=1e-10, atol=1e-14)
    with pytest.raises(Exception, match="implements hidden='sigmoid', output='sigmoid_mse' only"):
        grads_ok(params, X, T, "relu", "identity_mse")
    # the kit declares its pair as its limits; checked without them, the other architectures are an error
    # naming the pair, never a pass
    assert kit.__gradspec_limits__ == {"mlp": {"hidden": "sigmoid", "output": "sigmoid_mse"}}
    assert gradspec.check(kit, ops=["mlp"]).ops["mlp"].status == "pass"
    plain = gradspec.check(kit, ops=["mlp"], limits={})
    assert plain.ops["mlp"].status == "error"
    assert "implements hidden='sigmoid'" in plain.ops["mlp"].checks[0].message


# --------------------------------------------------------------------------- dropout draws
def test_assemble_takes_each_element_from_a_matching_draw_and_reports_the_impossible():
    x = np.array([1.0, -2.0, 3.0, 0.0])
    mask = np.array([1.0, 0.0, 1.0, 0.0])

    def draw(k):  # a code that keeps unit i on draws where bit i of k is set, scale 2
        keep = np.array([(k >> i) & 1 for i in range(4)], dtype=bool)
        return np.where(keep, 2 * x, 0.0), None

    out, _, unseen = dropout_draws.assemble(draw, x, mask, False, 0.5)
    assert unseen == 0 and np.array_equal(out, [2.0, 0.0, 6.0, 0.0])

    def never_keeps(k):
        return np.zeros(4), None

    with pytest.raises(dropout_draws.DropoutDrawError, match=r"element \(0,\) was never kept"):
        dropout_draws.assemble(never_keeps, x, mask, False, 0.5)


# --------------------------------------------------------------------------- faces: CLI and pytest plugin
@pytest.mark.cli
def test_cli_style_and_mapping(monkeypatch, capsys):
    monkeypatch.chdir(os.path.join(EXAMPLES, "cache_style"))
    monkeypatch.syspath_prepend(os.path.join(EXAMPLES, "cache_style"))
    assert cli.main(["check", "--impl", "my_cs231n_code", "--style", "cache", "--ops", "relu", "affine"]) == 1
    out = capsys.readouterr().out
    assert "relu                     <- relu_forward, relu_backward" in out
    assert cli.main(["check", "--impl", "my_cs231n_code", "--mapping", "mapping.json", "--ops", "affine", "-q"]) == 0
    monkeypatch.chdir(os.path.join(EXAMPLES, "network_style"))
    monkeypatch.syspath_prepend(os.path.join(EXAMPLES, "network_style"))
    assert cli.main(["check", "--impl", "nielsen_network", "--mapping", "mapping.json", "-q"]) == 0
    assert cli.main(["check", "--impl", "nielsen_network", "--mapping", "hasty_mapping.json", "-q"]) == 1
    assert cli.main(["check", "--impl", "nielsen_network", "--style", "cache", "--mapping", "mapping.json"]) == 2
    assert "mapping is for style 'network'" in capsys.readouterr().err


@pytest.mark.cli
@pytest.mark.report
@pytest.mark.parametrize("folder, impl, style, mapping", [
    ("cache_style", "my_cs231n_code", "cache", None),
    ("layer_style", "my_fish_net", None, "mapping.json"),
    ("network_style", "nielsen_network", None, "mapping.json"),
    ("network_style", "nielsen_network", None, "hasty_mapping.json")])
def test_report_through_a_kit_names_the_verdicts_of_check(monkeypatch, capsys, tmp_path, folder, impl, style, mapping):
    monkeypatch.chdir(os.path.join(EXAMPLES, folder))
    monkeypatch.syspath_prepend(os.path.join(EXAMPLES, folder))
    ops = ["relu", "affine", "batchnorm", "dropout", "max_pool2d", "sgd", "adam", "mlp"]
    kit = (["--style", style] if style else []) + (["--mapping", mapping] if mapping else [])
    common = ["--impl", impl, *kit, "--ops", *ops, "--oracle", "fd64"]
    rc_check = cli.main(["check", *common, "--examples", "1", "--json", str(tmp_path / "check.json"), "-q"])
    rc_report = cli.main(["report", *common, "--quick", "--no-experiments", "--out", str(tmp_path / "r")])
    capsys.readouterr()
    checked = json.loads((tmp_path / "check.json").read_text())
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    verdicts = {name: r["status"] for name, r in checked["ops"].items()}
    assert {row["op"]: row["status"] for row in report["matrix"]} == verdicts
    expected = {"mlp": "fail" if mapping == "hasty_mapping.json" else "pass"} if folder == "network_style" else None
    if expected:
        assert {k: v for k, v in verdicts.items() if v != "not_implemented"} == expected
    else:  # the cache and layer examples: bugs and correct ops
        assert "fail" in verdicts.values() and "pass" in verdicts.values()
    assert rc_report == rc_check == (1 if "fail" in verdicts.values() else 0)
    assert report["summary"]["implementation"]["kit"] == checked["implementation"]["kit"]
    assert report["summary"]["implementation"]["kit"]["ops"]  # what the kit bound
    assert report["summary"]["limits"] == ({"source": "__gradspec_limits__", "text": "mlp hidden = sigmoid; mlp output = sigmoid_mse"}
                                           if folder == "network_style" else None)
    assert report["summary"]["command"].startswith(f"gradspec report --impl {impl} {' '.join(kit)} ")
    page = (tmp_path / "r" / "index.html").read_text(encoding="utf-8")
    shown = dict(re.findall(r'<span data-k="([^"]+)">([^<]*)</span>', page))
    assert shown["summary/implementation/kit/style"] == report["summary"]["implementation"]["kit"]["style"]


@pytest.mark.cli
def test_report_kit_usage_errors(monkeypatch, capsys, tmp_path):
    assert cli.main(["report", "--impl", "a", "--impl", "b", "--style", "cache"]) == 2
    assert "give one --impl" in capsys.readouterr().err
    monkeypatch.chdir(os.path.join(EXAMPLES, "network_style"))
    monkeypatch.syspath_prepend(os.path.join(EXAMPLES, "network_style"))
    assert cli.main(["report", "--impl", "nielsen_network", "--style", "cache", "--mapping", "mapping.json",
                     "--no-experiments", "--out", str(tmp_path)]) == 2
    assert "mapping is for style 'network'" in capsys.readouterr().err
    assert not (tmp_path / "report.json").exists()


@pytest.mark.cli
def test_cli_limits_file_adds_to_the_kits_own_limits(monkeypatch, capsys, tmp_path):
    monkeypatch.chdir(os.path.join(EXAMPLES, "network_style"))
    monkeypatch.syspath_prepend(os.path.join(EXAMPLES, "network_style"))
    extra = tmp_path / "limits.json"
    extra.write_text('{"mlp": {"output": "sigmoid_mse"}, "batchnorm": {"eps": 1e-5}}')
    assert cli.main(["check", "--impl", "nielsen_network", "--style", "network", "--limits", str(extra),
                     "--oracle", "fd64", "-q"]) == 0
    out = capsys.readouterr().out
    # the kit's architecture (hidden = sigmoid) is kept; the file's limits are merged over it
    assert "batchnorm eps = 1e-05; mlp hidden = sigmoid; mlp output = sigmoid_mse" in out  # in the registry's order
    extra.write_text('{"mlp": {"hidden": "softplus"}}')
    assert cli.main(["check", "--impl", "nielsen_network", "--style", "network", "--limits", str(extra)]) == 2
    assert "['softplus'] not among the op's choices" in capsys.readouterr().err


@pytest.mark.cli
def test_pytest_plugin_style_option():
    folder = os.path.join(EXAMPLES, "layer_style")
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-n", "0", "-p", "no:cacheprovider",
                           "--pyargs", "gradspec.conformance", "--gradspec-impl", "my_fish_net",
                           "--gradspec-style", "layers", "-k", "batchnorm or affine"],
                          cwd=folder, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stdout[-2000:]
    assert "FAILED" in proc.stdout and "batchnorm-fd64-forward" in proc.stdout
    assert "affine-fd64-forward" not in proc.stdout.split("short test summary")[-1]
