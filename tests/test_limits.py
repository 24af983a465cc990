"""Declared limits (gradspec.limits) and forward-only ops: sampled within what the code supports, never outside
it silently; an undeclared limit still fails; a forward without its backward is checked and says so."""
from __future__ import annotations

import json
import types

import numpy as np
import pytest

import gradspec
import gradspec.reference as ref
from gradspec import cli, limits, registry
from gradspec.limits import LimitsError

from _impls import fixed_eps_batchnorm, make_impl


def pad_zero_pooling(record=None, broken_at_zero=False):
    """max_pool2d that supports pad = 0 only (raises otherwise); ``record`` collects the pads it was called with."""

    def forward(x, kernel, stride, pad):
        if record is not None:
            record.append(pad)
        if pad != 0:
            raise ValueError("padding is not supported")
        return ref.max_pool2d_forward(x, kernel, stride, pad)

    def backward(x, kernel, stride, pad, dy):
        if record is not None:
            record.append(pad)
        if pad != 0:
            raise ValueError("padding is not supported")
        dx = ref.max_pool2d_backward(x, kernel, stride, pad, dy)
        return 2.0 * dx if broken_at_zero else dx

    return make_impl("pad_zero_pooling", only=(), max_pool2d_forward=forward, max_pool2d_backward=backward)


# --------------------------------------------------------------------------- an undeclared limit still fails
def test_an_undeclared_limit_fails_the_same_code_declared_passes_a_wrong_declaration_fails():
    code = pad_zero_pooling()
    undeclared = gradspec.check(code, ops="max_pool2d", oracles="fd64")
    assert undeclared.ops["max_pool2d"].status == "error"
    assert undeclared.ops["max_pool2d"].limits is None and undeclared.limits_source is None

    code.__gradspec_limits__ = {"max_pool2d": {"pad": 0}}
    declared = gradspec.check(code, ops="max_pool2d", oracles="fd64")
    r = declared.ops["max_pool2d"]
    assert r.status == "pass" and r.limits == {"pad": 0}
    assert declared.limits_source == limits.LIMITS_ATTR
    conv = next(c for c in r.checks if c.check == "conventions")
    # the kink case with pad 1 is not run, and the check says which one and why
    assert conv.status == "pass" and conv.examples == 2
    assert [o["outside"] for o in conv.info["outside_limits"]] == ["pad = 1, outside max_pool2d pad = 0"]

    wrong = pad_zero_pooling(broken_at_zero=True)
    wrong.__gradspec_limits__ = {"max_pool2d": {"pad": 0}}
    assert gradspec.check(wrong, ops="max_pool2d", oracles="fd64").ops["max_pool2d"].status == "fail"


@pytest.mark.mpmath
def test_every_sampling_oracle_draws_within_the_limits():
    seen: list = []
    code = pad_zero_pooling(record=seen)
    result = gradspec.check(code, ops="max_pool2d", oracles=["fd64", "mpmath"], limits={"max_pool2d": {"pad": 0}},
                            examples=4)
    assert result.ops["max_pool2d"].status == "pass"
    assert {(c.oracle, c.check) for c in result.ops["max_pool2d"].checks if c.status == "pass"} >= {
        ("fd64", "forward"), ("fd64", "backward"), ("mpmath", "forward"), ("mpmath", "backward")}
    assert len(seen) > 8 and set(seen) == {0}


@pytest.mark.symbolic
def test_the_symbolic_oracle_draws_within_the_limits_at_the_structures_that_meet_them():
    seen: list = []
    result = gradspec.check(pad_zero_pooling(record=seen), ops="max_pool2d", oracles="symbolic",
                            limits={"max_pool2d": {"pad": 0}})
    checks = {c.check: c.status for c in result.ops["max_pool2d"].checks}
    assert checks["forward"] == checks["backward"] == "pass" and seen and set(seen) == {0}
    # a limit no structure of the SymPy derivation meets: not applicable, saying why
    result = gradspec.check(None, ops="max_pool2d", oracles="symbolic", limits={"max_pool2d": {"stride": 1}})
    (check,) = result.ops["max_pool2d"].checks
    assert check.status == "not_applicable" and check.info["reason"] == "limits"
    assert "no structure at which SymPy derives max_pool2d meets the declared limits (max_pool2d stride = 1)" in check.message


def test_float_limits_sets_and_choices_are_kept_in_every_draw():
    rng = np.random.default_rng(1)
    cases = {"batchnorm": {"eps": 1e-5}, "dropout": {"p": [0.2, 0.5]}, "adam": {"eps": {"min": 1e-7, "max": 1e-6}},
             "mlp": {"hidden": ["sigmoid", "tanh"], "output": "sigmoid_mse"}, "conv2d": {"stride": 1, "pad": 0}}
    parsed = limits.parse(cases)
    for op_name, lims in parsed.items():
        op = limits.narrow(registry.get(op_name), lims)
        for _ in range(10):
            s = op.sample(rng)
            assert not limits.outside(lims, s), (op_name, limits.outside_message(lims, s))
            assert op.kink_distance(s) > 0
        for case in op.sample.cases:  # the structures the symbolic oracle would draw at
            assert not limits.outside(lims, op.sample.draw(case, rng))


def test_a_fixed_float_the_sampler_never_draws_is_set_within_the_sample():
    op = limits.narrow(registry.get("batchnorm"), limits.parse({"batchnorm": {"eps": 2.5e-4}})["batchnorm"])
    assert {op.sample(np.random.default_rng(k))["eps"] for k in range(5)} == {2.5e-4}


@pytest.mark.parametrize("raw, words", [
    ({"maxpool": {"pad": 0}}, ["unknown op 'maxpool'"]),
    ({"max_pool2d": {"padding": 0}}, ["max_pool2d has no hyperparameter or choice 'padding'", "kernel, stride, pad"]),
    ({"max_pool2d": {"pad": -1}}, ["max_pool2d pad", "-1", "outside the op's range 0 <= pad"]),
    ({"batchnorm": {"eps": 0}}, ["batchnorm eps", "0", "outside the op's range 0.0 < eps"]),
    ({"dropout": {"p": 1.0}}, ["dropout p", "1.0", "< 1.0"]),
    ({"dropout": {"p": []}}, ["dropout p", "empty set"]),
    ({"batchnorm": {"eps": {"min": 1e-3, "max": 1e-6}}}, ["empty range", "min 0.001 > max 1e-06"]),
    ({"batchnorm": {"eps": {"low": 1e-3}}}, ["a range has the keys ['min', 'max']", "['low']"]),
    ({"max_pool2d": {"pad": 0.5}}, ["pad is an integer", "0.5"]),
    ({"mlp": {"hidden": "softplus"}}, ["['softplus'] not among the op's choices", "sigmoid"]),
    ({"mlp": {}}, ["limits of mlp must be a non-empty dict"]),
])
def test_invalid_limits_name_the_rule_and_the_values(raw, words):
    with pytest.raises(LimitsError) as info:
        limits.parse(raw)
    for w in words:
        assert w in str(info.value)


def test_limits_no_sample_can_meet_are_an_error():
    # pad <= kernel//2: kernel 1 allows pad 0 only
    with pytest.raises(LimitsError, match="no sample of max_pool2d meets the declared limits"):
        gradspec.check(None, ops="max_pool2d", oracles="fd64", limits={"max_pool2d": {"kernel": 1, "pad": 1}})


def test_cli_limits_file_text_json_and_exit_codes(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("GRADSPEC_IMPL", raising=False)
    good = tmp_path / "limits.json"
    good.write_text(json.dumps({"max_pool2d": {"pad": 0}, "batchnorm": {"eps": {"min": 1e-6, "max": 1e-3}}}))
    out_json = tmp_path / "r.json"
    assert cli.main(["check", "--ops", "max_pool2d", "batchnorm", "--oracle", "fd64", "--limits", str(good),
                     "--json", str(out_json)]) == 0
    out = capsys.readouterr().out
    assert f"checked within declared limits: max_pool2d pad = 0; batchnorm eps in [1e-06, 0.001] (from limits file {good})" in out
    data = json.loads(out_json.read_text())
    assert data["limits"] == {"max_pool2d": {"pad": 0}, "batchnorm": {"eps": {"min": 1e-6, "max": 1e-3}}}
    assert data["ops"]["max_pool2d"]["limits"] == {"pad": 0} and data["limits_source"] == f"limits file {good}"

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"max_pool2d": {"pad": -1}}))
    assert cli.main(["check", "--ops", "max_pool2d", "--oracle", "fd64", "--limits", str(bad)]) == 2
    assert "bad limits" in capsys.readouterr().err
    assert cli.main(["check", "--ops", "max_pool2d", "--limits", str(tmp_path / "none.json")]) == 2
    assert "limits file not found" in capsys.readouterr().err


def test_oracles_that_draw_their_own_samples_are_not_applicable_with_the_reason():
    from gradspec.runner import unsupported

    op = limits.narrow(registry.get("max_pool2d"), limits.parse({"max_pool2d": {"pad": 0}})["max_pool2d"])
    own = types.SimpleNamespace()  # an oracle module that does not say it keeps to declared limits
    check = unsupported(op, "properties", own)
    assert check.status == "not_applicable" and check.info == {"limits": {"pad": 0}, "reason": "limits"}
    assert "cannot keep to the declared limits (max_pool2d pad = 0)" in check.message
    assert unsupported(op, "fd64", types.SimpleNamespace(HONOURS_LIMITS=True)) is None
    assert unsupported(registry.get("max_pool2d"), "symbolic", own) is None  # no limits: it runs


def test_kit_mapping_declares_limits_and_rejects_bad_ones():
    from gradspec.adapters import kits

    code = pad_zero_pooling()
    code.max_pool_forward_naive = None  # nothing in the cache style: the limits are read all the same
    kit = kits.wrap(code, "cache", {"limits": {"batchnorm": {"eps": 1e-5}},
                                    "ops": {"dropout": {"limits": {"p": 0.5}}}})
    assert kit.__gradspec_limits__ == {"batchnorm": {"eps": 1e-5}, "dropout": {"p": 0.5}}
    with pytest.raises(kits.MappingError, match="dropout p: value 1.5 is outside"):
        kits.wrap(code, "cache", {"ops": {"dropout": {"limits": {"p": 1.5}}}})
    with pytest.raises(kits.MappingError, match="'limits' of 'dropout' must be a dict"):
        kits.wrap(code, "cache", {"ops": {"dropout": {"limits": 0.5}}})
    code.__gradspec_limits__ = {"dropout": 0.5}  # the wrapped code's own declaration is checked too
    with pytest.raises(kits.MappingError, match="the limits of 'dropout' must be a dict"):
        kits.wrap(code, "cache")


# --------------------------------------------------------------------------- forward-only ops
def _forward_only(**overrides):
    fns = {"softmax_forward": ref.softmax_forward, "mse_forward": ref.mse_forward,
           "cross_entropy_forward": ref.cross_entropy_forward}
    fns.update(overrides)
    return make_impl("forward_only", only=(), **fns)


FWD_OPS = ["softmax", "mse", "cross_entropy"]


@pytest.mark.mpmath
def test_a_correct_forward_only_module_passes_its_forward_and_says_the_backward_is_missing():
    result = gradspec.check(_forward_only(), ops=FWD_OPS)  # the default oracles: fd64 and mpmath
    assert result.ok and result.summary["partial"] == 3
    for name in FWD_OPS:
        r = result.ops[name]
        by = {(c.oracle, c.check): c for c in r.checks}
        assert r.status == "partial"
        assert by[("fd64", "forward")].status == by[("mpmath", "forward")].status == "pass"
        assert by[("fd64", "forward")].examples >= 3
        for key in (("fd64", "backward"), ("mpmath", "backward")):
            assert by[key].status == "not_implemented"
            assert [(f.kind, f.details["function"]) for f in by[key].findings] == [("missing", f"{name}_backward")]


def _mse_without_mean(y, t):
    return 0.5 * float(np.sum((np.asarray(y) - np.asarray(t)) ** 2))  # forgets to divide by N


def _cross_entropy_shifted_log(p, t):
    return -float(np.sum(np.asarray(t) * np.log(np.asarray(p) + 1e-7))) / np.shape(p)[0]


@pytest.mark.parametrize("name, fn", [("mse", _mse_without_mean), ("cross_entropy", _cross_entropy_shifted_log)])
def test_a_wrong_forward_only_loss_fails(name, fn):
    r = gradspec.check(_forward_only(**{f"{name}_forward": fn}), ops=name, oracles="fd64").ops[name]
    assert r.status == "fail"
    assert {(c.check, c.status) for c in r.checks} == {("forward", "fail"), ("backward", "not_implemented")}


def test_forward_only_in_the_cli(tmp_path, capsys, monkeypatch):
    path = tmp_path / "fwd_only_losses.py"
    path.write_text("from gradspec.reference import mse_forward, softmax_forward\n")
    monkeypatch.delenv("GRADSPEC_IMPL", raising=False)
    assert cli.main(["check", "--impl", str(path), "--ops", "mse", "softmax", "--oracle", "fd64"]) == 0
    out = capsys.readouterr().out
    assert "part  mse" in out and "forward checked; backward not provided (mse_backward)" in out
    assert "0 passed, 0 failed, 0 errors, 2 forward only (backward not provided)" in out
    path.write_text("import numpy as np\ndef mse_forward(y, t):\n    return 0.5 * float(np.sum((y - t) ** 2))\n")
    assert cli.main(["check", "--impl", str(path), "--ops", "mse", "--oracle", "fd64", "-q"]) == 1


@pytest.mark.report
def test_the_report_shows_the_limits_and_the_forward_only_ops(tmp_path):
    import re

    from gradspec.reports.build import build_report

    code = pad_zero_pooling()
    code.softmax_forward = ref.softmax_forward
    code.__gradspec_limits__ = {"max_pool2d": {"pad": 0}}
    report = build_report(code, out=str(tmp_path), quick=True, ops=["softmax", "max_pool2d"], oracles=["fd64"],
                          experiments=False, workers=0)  # written, and validated against the schema
    assert report["summary"]["limits"] == {"source": limits.LIMITS_ATTR, "text": "max_pool2d pad = 0"}
    rows = {row["op"]: row for row in report["matrix"]}
    assert rows["max_pool2d"]["status"] == "pass" and rows["max_pool2d"]["limits"] == {"pad": 0}
    assert rows["softmax"]["status"] == rows["softmax"]["cells"]["fd64"]["status"] == "partial"
    page = (tmp_path / "index.html").read_text(encoding="utf-8")
    shown = dict(re.findall(r'<span data-k="([^"]+)">([^<]*)</span>', page))
    assert shown["summary/limits/text"] == "max_pool2d pad = 0"
    assert shown["matrix/1/limits_text"] == "max_pool2d pad = 0"
    assert 'class="badge s-partial" data-k="matrix/0/status"' in page


def test_every_hyperparameter_and_choice_can_be_limited_to_a_value_its_sampler_draws():
    for op in registry.OPS:
        sample = op.sample(np.random.default_rng(3))
        for name in limits.limitable(op):
            lims = limits.parse({op.name: {name: limits.value_of(sample, name)}})[op.name]
            narrowed = limits.narrow(op, lims)
            for k in range(3):
                assert not limits.outside(lims, narrowed.sample(np.random.default_rng(k))), (op.name, name)


def test_the_reference_passes_at_float_limits_its_sampler_never_draws():
    # the sampler's draws get the declared values (kept as far from the kinks as the sampler keeps them): no false alarm
    lim = {op.name: {h.name: (h.low or 0.0) + 0.3137 * ((h.high if h.high is not None else 2.0) - (h.low or 0.0))
                     for h in op.hypers if not h.integer} for op in registry.OPS}
    lim = {name: entry for name, entry in lim.items() if entry}
    result = gradspec.check(None, ops=list(lim), oracles="fd64", limits=lim)
    assert result.ok and result.summary["pass"] == len(lim) >= 10


def test_batchnorm_that_hard_codes_eps_passes_only_where_it_declares_it():
    code = fixed_eps_batchnorm()
    assert gradspec.check(code, ops="batchnorm", oracles="fd64").ops["batchnorm"].status == "fail"
    assert gradspec.check(code, ops="batchnorm", oracles="fd64",
                          limits={"batchnorm": {"eps": 1e-5}}).ops["batchnorm"].status == "pass"
    assert gradspec.check(code, ops="batchnorm", oracles="fd64",
                          limits={"batchnorm": {"eps": 1e-3}}).ops["batchnorm"].status == "fail"


@pytest.mark.mpmath
def test_the_reproducers_of_a_forward_only_failure_call_the_forward():
    r = gradspec.check(_forward_only(mse_forward=_mse_without_mean), ops="mse").ops["mse"]
    failing = [c for c in r.checks if c.status == "fail"]
    assert {c.oracle for c in failing} == {"fd64", "mpmath"}
    for c in failing:
        repro = next(f.details["reproducer"] for f in c.findings if f.details.get("reproducer"))
        assert "impl.mse_forward(y, t)" in repro and "mse_backward" not in repro


def test_read_json_names_what_it_reads_for_a_missing_file_or_bad_json_and_returns_the_value(tmp_path):
    from gradspec.adapters.kits import MappingError, load_mapping
    from gradspec.limits import LimitsError, read_json

    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text('{"relu": {"x.ndim": 2}}')
    bad.write_text("{not json")
    assert read_json(good, "limits", LimitsError) == {"relu": {"x.ndim": 2}}
    with pytest.raises(LimitsError, match=r"^limits file not found: .*missing\.json$"):
        read_json(tmp_path / "missing.json", "limits", LimitsError)
    with pytest.raises(LimitsError, match=r"^limits file .*bad\.json is not valid JSON: "):
        read_json(bad, "limits", LimitsError)
    with pytest.raises(MappingError, match=r"^mapping file not found: "):  # the adapter kits' mapping files too
        load_mapping(str(tmp_path / "missing.json"))
    with pytest.raises(MappingError, match=r"^mapping file .*bad\.json is not valid JSON: "):
        load_mapping(str(bad))
