"""The properties oracle within declared limits (gradspec.properties.limited): its Hypothesis samples meet the
limits, it never calls the implementation outside them, and a property that cannot keep to them is not applicable
with the limit named."""
from __future__ import annotations

import json
import os

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import gradspec
import gradspec.reference as ref
from gradspec import cli, limits, registry
from gradspec.properties import limited, lookup, suite
from gradspec.properties.strategies import allowed_ints

from _impls import fixed_eps_batchnorm, make_impl

DEEP = os.environ.get("GRADSPEC_LIMITS_DEEP") == "1"


def pooling(record=None, raises_outside=True, wrong_at_zero=False, wrong_outside=False):
    """max_pool2d for pad = 0: raising for pad > 0 (or, ``wrong_outside``, returning twice dx there);
    ``wrong_at_zero``: twice dx at pad = 0; ``record`` collects the pads it was called with."""

    def forward(x, kernel, stride, pad):
        if record is not None:
            record.append(pad)
        if pad != 0 and raises_outside:
            raise ValueError("padding is not supported")
        return ref.max_pool2d_forward(x, kernel, stride, pad)

    def backward(x, kernel, stride, pad, dy):
        if record is not None:
            record.append(pad)
        if pad != 0 and raises_outside:
            raise ValueError("padding is not supported")
        dx = ref.max_pool2d_backward(x, kernel, stride, pad, dy)
        return 2.0 * dx if (pad == 0 and wrong_at_zero) or (pad != 0 and wrong_outside) else dx

    return make_impl("pad_zero_pooling", only=(), max_pool2d_forward=forward, max_pool2d_backward=backward)


PAD_ZERO = {"max_pool2d": {"pad": 0}}


def properties_of(result, op):
    return {c.check: c for c in result.ops[op].checks if c.oracle == "properties"}


# --------------------------------------------------------------------------- verdicts
def test_code_wrong_within_its_limit_is_caught_by_the_properties():
    seen: list = []
    result = gradspec.check(pooling(seen, wrong_at_zero=True), ops="max_pool2d", oracles="properties",
                            limits=PAD_ZERO, examples=3)
    props = properties_of(result, "max_pool2d")
    assert result.ops["max_pool2d"].status == "fail"
    assert props["gradient_fd64[away]"].status == "fail" and props["matches_definition[away]"].status == "fail"
    assert props["routes_to_one_element[on_kink]"].status == "fail"
    assert seen and set(seen) == {0}  # never called outside the limit


def test_correct_limited_code_passes_every_property_and_is_never_called_outside():
    seen: list = []
    result = gradspec.check(pooling(seen), ops="max_pool2d", oracles="properties", limits=PAD_ZERO, examples=3)
    props = properties_of(result, "max_pool2d")
    assert result.ops["max_pool2d"].status == "pass"
    assert {c.status for c in props.values()} == {"pass"} and len(props) >= 10
    assert all(c.examples >= 1 and c.info["limits"] == {"pad": 0} for c in props.values())
    assert all("checked within declared limits: max_pool2d pad = 0" in c.message for c in props.values())
    assert seen and set(seen) == {0}


def narrowed(op_name, raw):
    return limits.narrow(registry.get(op_name), limits.parse({op_name: raw})[op_name])


def test_code_wrong_only_outside_its_limit_passes_within_it():
    code = pooling(raises_outside=False, wrong_outside=True)
    # the bug is there: undeclared, the (seeded) fd64 oracle meets it on its padded samples
    assert gradspec.check(code, ops="max_pool2d", oracles="fd64").ops["max_pool2d"].status == "fail"
    prop = suite.get("max_pool2d", "gradient_fd64")
    assert suite.check_property(prop, code, max_examples=10, database=None, op=narrowed("max_pool2d", {"pad": 0})) >= 1
    declared = gradspec.check(code, ops="max_pool2d", oracles="properties", limits=PAD_ZERO, examples=3)
    assert declared.ops["max_pool2d"].status == "pass"


def _momentum(wrong_at_zero: bool):
    def update(w, g, state, lr, momentum=0.9):
        if momentum == 0 and wrong_at_zero:
            return ref.sgd_update(w, 2.0 * g, {}, lr)[0], state  # twice the step: wrong only at momentum 0
        return ref.momentum_update(w, g, state, lr, momentum)

    return make_impl("momentum_code", only=(), momentum_init=ref.momentum_init, momentum_update=update)


def test_a_property_that_calls_outside_the_limit_is_not_applicable_naming_it():
    # momentum's "μ = 0 is SGD" calls the update with momentum 0 itself: outside a declared momentum of 0.9
    code = _momentum(wrong_at_zero=True)
    with pytest.raises(AssertionError):  # without the limit, the property sees the bug at momentum 0
        # (30 examples: Hypothesis may begin with zero gradients, on which the bug does not show)
        suite.check_property(suite.get("momentum", "zero_momentum_is_sgd"), code, max_examples=30, database=None,
                             shrink=False)
    result = gradspec.check(code, ops="momentum", oracles="properties", examples=2,
                            limits={"momentum": {"momentum": 0.9}})
    props = properties_of(result, "momentum")
    assert result.ops["momentum"].status == "pass"
    for mode in ("away", "hard"):
        c = props[f"zero_momentum_is_sgd[{mode}]"]
        assert c.status == "not_applicable" and c.examples == 0
        assert c.info == {"limits": {"momentum": 0.9}, "reason": "limits"}
        assert "calls momentum_update with momentum = 0.0, outside momentum momentum = 0.9" in c.message
    assert {c.status for k, c in props.items() if not k.startswith("zero_momentum")} == {"pass"}


def test_a_property_no_sample_of_which_meets_the_limits_is_not_applicable_naming_it():
    # average pooling's kink samples are those with padding: none has pad = 0
    result = gradspec.check(None, ops="avg_pool2d", oracles="properties", examples=2,
                            limits={"avg_pool2d": {"pad": 0}})
    props = properties_of(result, "avg_pool2d")
    kink = {k: c for k, c in props.items() if k.endswith("[on_kink]")}
    assert kink and all(c.status == "not_applicable" and c.info["reason"] == "limits" for c in kink.values())
    assert all("pad = 1, outside avg_pool2d pad = 0" in c.message for c in kink.values())
    assert {c.status for k, c in props.items() if k not in kink} == {"pass"}
    assert result.ops["avg_pool2d"].status == "pass"


def test_batchnorm_that_hard_codes_eps_passes_the_properties_only_at_its_declared_eps():
    # a float the strategies never draw (eps = 1e-5) is given to every sample within the limit
    code = fixed_eps_batchnorm()
    prop = suite.get("batchnorm", "forward_matches_spec")
    with pytest.raises(AssertionError):  # at another eps, any example whose features are not constant shows it
        suite.check_property(prop, code, max_examples=10, database=None, shrink=False,
                             op=narrowed("batchnorm", {"eps": 1e-2}))
    assert suite.check_property(prop, code, max_examples=10, database=None, op=narrowed("batchnorm", {"eps": 1e-5})) == 10
    result = gradspec.check(code, ops="batchnorm", oracles="properties", examples=2, limits={"batchnorm": {"eps": 1e-5}})
    assert result.ops["batchnorm"].status == "pass"


def test_cli_json_says_the_properties_were_checked_within_the_declared_limits(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("GRADSPEC_IMPL", raising=False)
    lim = tmp_path / "limits.json"
    lim.write_text(json.dumps({"avg_pool2d": {"pad": 0}}))
    out_json = tmp_path / "r.json"
    assert cli.main(["check", "--ops", "avg_pool2d", "--oracle", "properties", "--examples", "2", "--limits", str(lim),
                     "--json", str(out_json)]) == 0
    assert "checked within declared limits: avg_pool2d pad = 0" in capsys.readouterr().out
    data = json.loads(out_json.read_text())
    checks = data["ops"]["avg_pool2d"]["checks"]
    assert data["ops"]["avg_pool2d"]["limits"] == {"pad": 0}
    assert all(c["info"]["limits"] == {"pad": 0} for c in checks)
    assert {c["status"] for c in checks} == {"pass", "not_applicable"}
    assert all("checked within declared limits: avg_pool2d pad = 0" in c["message"] for c in checks if c["status"] == "pass")
    assert all(c["info"]["reason"] == "limits" for c in checks if c["status"] == "not_applicable")


# --------------------------------------------------------------------------- the strategies
LIMITED = [("max_pool2d", {"kernel": 2, "stride": 2, "pad": 0}, "away"),
           ("max_pool2d", {"kernel": 3, "stride": [2, 3]}, "on_kink"),
           ("avg_pool2d", {"pad": 1}, "on_kink"),
           ("conv2d", {"stride": [1, 3], "pad": {"min": 1}}, "away"),
           ("mlp", {"hidden": ["tanh", "relu"], "output": "softmax_cross_entropy"}, "away"),
           ("batchnorm", {"eps": 2.5e-4}, "hard"),
           ("adam", {"beta1": {"min": 0.5, "max": 0.6}, "eps": [1e-8, 1e-6]}, "away"),
           ("leaky_relu", {"alpha": 0.01}, "on_kink"),
           ("clip_grad_value", {"clip": 0.5}, "on_kink"),  # drawn by the record's strategy, elements at ±clip
           ("perceptron", {"lr": {"min": 2.0, "max": 3.0}}, "on_kink")]


@pytest.mark.parametrize("op_name, raw, mode", LIMITED)
def test_the_limited_strategies_draw_within_the_limits(op_name, raw, mode):
    lims = limits.parse({op_name: raw})[op_name]
    op = limits.narrow(registry.get(op_name), lims)
    strategy = lookup.samples(op, mode)

    @settings(max_examples=15, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
    @given(st.data())
    def draws(data):
        s = data.draw(strategy)
        assert not limits.outside(lims, s), limits.outside_message(lims, s)
        if mode == "on_kink" and op.kinks and any(lim.settable for lim in lims.values()):
            assert op.kink_distance(s) == 0  # a float set within its limit leaves the sample on its kink
        if op_name == "clip_grad_value" and mode == "on_kink":
            assert all(abs(g.flat[0]) == 0.5 for g in s["grads"])  # still on the kink, at the declared clip

    draws()


def test_a_limited_strategy_that_cannot_meet_the_limits_rejects_naming_them():
    lims = limits.parse({"avg_pool2d": {"pad": 0}})["avg_pool2d"]
    record = limited.Rejections(give_up_after=5)
    strategy = limited.samples(limits.narrow(registry.get("avg_pool2d"), lims), "on_kink", record)

    @settings(max_examples=5, database=None, suppress_health_check=list(HealthCheck))
    @given(strategy)
    def draws(s):
        raise AssertionError(f"drew a sample outside the limits: {s}")  # never reached

    with pytest.raises(limited.NoSampleFound):
        draws()
    assert record.rejected == 5 and record.used == 0
    assert record.message() == "on_kink samples have pad = 1, outside avg_pool2d pad = 0"


def test_allowed_ints_within_a_limit():
    lim = lambda raw: limits.parse({"max_pool2d": raw})["max_pool2d"]  # noqa: E731
    assert allowed_ints(1, 3) == [1, 2, 3]
    assert allowed_ints(1, 3, lim({"stride": [2, 7]})["stride"]) == [2, 7]
    assert allowed_ints(1, 3, lim({"stride": {"min": 2}})["stride"]) == [2, 3]
    assert allowed_ints(1, 3, lim({"stride": {"min": 5, "max": 9}})["stride"]) == [5]
    assert allowed_ints(1, 2, lim({"pad": 0})["pad"]) == []  # a mode that needs padding finds none


# --------------------------------------------------------------------------- no false alarm (deep)
@pytest.mark.skipif(not DEEP, reason="deep run: GRADSPEC_LIMITS_DEEP=1 python -m pytest -n 0 tests/test_limits_properties.py")
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_reference_passes_every_property_within_float_and_integer_limits(seed):
    lim = {op.name: {h.name: (h.low or 0.0) + 0.3137 * ((h.high if h.high is not None else 2.0) - (h.low or 0.0))
                     for h in op.hypers if not h.integer} for op in registry.OPS}
    lim = {name: entry for name, entry in lim.items() if entry}
    lim.update({"conv2d": {"stride": 1, "pad": 0}, "max_pool2d": {"kernel": 2, "stride": 2, "pad": 0},
                "avg_pool2d": {"kernel": 3, "pad": 1}, "mlp": {"hidden": "tanh", "output": "sigmoid_mse"}})
    result = gradspec.check(None, ops=list(lim), oracles="properties", limits=lim, seed=seed)
    bad = {(op, c.check): c.message for op, r in result.ops.items() for c in r.checks if c.status in ("fail", "error")}
    assert not bad
    assert result.summary["pass"] == len(lim)
