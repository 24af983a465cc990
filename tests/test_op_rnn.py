"""The rnn op through its record: every oracle passes the reference, the torch adapter passes, each known variant
fails with the diagnosis naming it, the hard inputs are what they claim, the error model is a bound and is tight
enough to see a 1e-8 relative error, and the op's own property catches a non-causal implementation."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from gradspec.oracles import vectors as vectors_oracle
import gradspec
from gradspec import registry, vectors
from gradspec.mpmath_oracle import oracle as mp_oracle
from gradspec.ops import rnn as record
from gradspec.variants import known, reference_functions

OP = registry.get("rnn")
ARGS = ("x", "h0", "Wx", "Wh", "b")
VARIANTS = known(OP)


def _failing(result):
    return [c for c in result.ops["rnn"].checks if c.status != "pass" and c.status != "not_applicable"]


# --------------------------------------------------------------------------- the reference passes every oracle
@pytest.mark.parametrize("oracle", ["fd64", "mpmath", "symbolic", "properties"])
def test_the_reference_passes_each_oracle(oracle):
    result = gradspec.check(None, ops=["rnn"], oracles=[oracle], seed=0, examples=2 if oracle == "properties" else None)
    assert result.ok, [(c.check, c.message) for c in _failing(result)]
    assert [c for c in result.ops["rnn"].checks if c.status == "pass"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("rnn_vectors"))
    vectors.write(root, ops=["rnn"], cases=2, seed=5)
    return root


def test_the_reference_passes_from_the_golden_vectors(corpus):
    result = vectors_oracle.check_from_vectors(corpus, None, ops=["rnn"])
    assert result.ok, [(c.check, c.message) for c in _failing(result)]


def test_a_variant_fails_from_the_golden_vectors(corpus):
    wrong = [v for v in VARIANTS if v.name == "dh0_missing"][0]
    assert not vectors_oracle.check_from_vectors(corpus, wrong.namespace(), ops=["rnn"]).ok


# --------------------------------------------------------------------------- the variants: caught and named
def test_the_catalogue_has_the_four_named_variants_each_a_mutant():
    assert [v.name for v in VARIANTS] == ["truncated_bptt", "dh0_missing", "tanh_prime_from_preactivation",
                                          "dWh_uses_current_state"]
    assert all(v.mutant and v.diagnosed for v in VARIANTS)


@pytest.mark.parametrize("variant", VARIANTS, ids=[v.name for v in VARIANTS])
def test_each_variant_fails_and_the_diagnosis_names_it(variant):
    result = gradspec.check(variant.namespace(), ops=["rnn"], seed=0)
    bad = _failing(result)
    assert bad, f"{variant.name} passed"
    named = [c for c in bad if c.info.get("diagnosis")]
    assert named, [c.message for c in bad]
    for c in named:
        assert c.info["diagnosis"][0]["name"] == variant.name, c.info["diagnosis"]


@pytest.mark.parametrize("variant", VARIANTS, ids=[v.name for v in VARIANTS])
def test_each_variant_departs_from_the_spec_on_the_probe(variant):
    s = record.probe_rnn_recurrent(np.random.default_rng(0))
    args = [s[k] for k in ARGS]
    dy = np.random.default_rng(1).normal(size=record.rnn_output_shape(s))
    spec = reference_functions()["rnn_backward"](*args, dy)
    wrong = variant.functions()["rnn_backward"](*args, dy)
    assert max(float(np.max(np.abs(a - b))) for a, b in zip(spec, wrong)) > 1e-3


def test_the_variants_switched_off_are_the_reference():
    s = record.probe_rnn_recurrent(np.random.default_rng(3))
    args = [s[k] for k in ARGS]
    dy = np.random.default_rng(4).normal(size=record.rnn_output_shape(s))
    for a, b in zip(record.bptt(*args, dy), reference_functions()["rnn_backward"](*args, dy)):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-15)


# --------------------------------------------------------------------------- the torch adapter
def test_the_torch_adapter_passes():
    pytest.importorskip("torch", reason="torch is an optional extra: pip install torch==2.13.0")
    result = gradspec.check("gradspec.adapters.torch_impl", ops=["rnn"], oracles=["fd64", "mpmath"], seed=0)
    assert result.ok, [(c.check, c.message) for c in _failing(result)]


def test_the_torch_form_rejects_mismatched_shapes_naming_them():
    torch = pytest.importorskip("torch", reason="torch is an optional extra: pip install torch==2.13.0")
    t = torch.zeros
    with pytest.raises(ValueError) as err:
        record.rnn_torch(t(1, 2, 1, dtype=torch.float64), t(1, 1, dtype=torch.float64), t(1, 1, dtype=torch.float64),
                         t(1, 2, dtype=torch.float64), t(1, dtype=torch.float64))
    assert "Wh (1, 2)" in str(err.value)


# --------------------------------------------------------------------------- the hard inputs
def _hard_kind(s):
    if np.max(np.abs(s["x"])) > 10:
        return "saturated"
    return "vanishing" if np.max(np.abs(s["Wh"])) <= 1e-3 else "exploding"


def test_the_hard_samples_explode_and_vanish_as_named():
    """dy = 1 on the last state only: |dh0| grows past 10 on some exploding samples and stays below 1e-20 on every
    vanishing one (the gradient through T >= 8 steps of |Wh| <= 1e-3)."""
    seen = {"exploding": [], "vanishing": [], "saturated": []}

    @settings(max_examples=40, database=None, deadline=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(record.rnn_strategy("hard"))
    def run(s):
        args = [s[k] for k in ARGS]
        h = gradspec.reference.rnn_forward(*args)
        dy = np.zeros_like(h)
        dy[:, -1] = 1.0
        seen[_hard_kind(s)].append(float(np.max(np.abs(gradspec.reference.rnn_backward(*args, dy)[1]))))

    run()
    assert all(seen.values()), {k: len(v) for k, v in seen.items()}
    assert max(seen["exploding"]) > 10.0
    assert max(seen["vanishing"]) < 1e-20


def test_the_mpmath_oracle_passes_the_reference_on_hard_samples():
    @settings(max_examples=6, database=None, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
    @given(record.rnn_strategy("hard"))
    def run(s):
        out = mp_oracle.check_sample(OP, None, {k: s[k] for k in ARGS}, np.random.default_rng(0))
        assert out.ok, (out.backward_findings, out.forward_findings, out.errors)

    run()


# --------------------------------------------------------------------------- the error model
def test_tanh_bound_holds_on_the_whole_interval_and_contracts_when_saturated():
    from gradspec.mpmath_oracle.tolerance import Bounded, btanh

    rng = np.random.default_rng(0)
    a = Bounded(rng.normal(0.0, 5.0, size=200), np.abs(rng.normal(0.0, 1e-3, size=200)))
    bound = record.tanh_bound(a)
    for s in np.linspace(-1.0, 1.0, 11):
        assert np.all(np.abs(np.tanh(a.v + s * a.e) - bound.v) <= bound.e * (1 + 1e-12) + 1e-300)
    saturated = np.abs(a.v) > 5
    assert np.all(bound.e[saturated] < btanh(a).e[saturated] / 10)


def _perturbed(rel):
    """The reference with dWh[0, 0] off by the relative amount ``rel``."""
    ns = dict(reference_functions())

    def backward(*args):
        dx, dh0, dWx, dWh, db = ns_ref(*args)
        dWh = dWh.copy()
        dWh[0, 0] *= 1 + rel
        return dx, dh0, dWx, dWh, db

    ns_ref = ns["rnn_backward"]
    ns["rnn_backward"] = backward
    return SimpleNamespace(**ns)


def test_the_mpmath_oracle_sees_a_1e8_relative_error_in_one_element():
    s = record.rnn_values({"N": 2, "T": 4, "D": 2, "H": 2}, np.random.default_rng(7))
    assert mp_oracle.check_sample(OP, None, s, np.random.default_rng(0)).ok
    assert not mp_oracle.check_sample(OP, _perturbed(1e-8), s, np.random.default_rng(0)).ok


# --------------------------------------------------------------------------- the op's own property
def _sample():
    s = record.rnn_values({"N": 2, "T": 4, "D": 2, "H": 2}, np.random.default_rng(11))
    s["seed"] = 3
    return s


def test_the_causal_prefix_property_passes_the_reference():
    record.prop_rnn_causal_prefix(gradspec.reference, _sample())


def test_the_causal_prefix_property_fails_a_non_causal_forward():
    """An implementation that feeds every step the mean input over the whole sequence sees the future."""
    ns = dict(reference_functions())
    fwd = ns["rnn_forward"]
    ns["rnn_forward"] = lambda x, h0, Wx, Wh, b: fwd(np.broadcast_to(np.mean(x, axis=1, keepdims=True), x.shape),
                                                     h0, Wx, Wh, b)
    with pytest.raises(AssertionError):
        record.prop_rnn_causal_prefix(SimpleNamespace(**ns), _sample())


def test_the_causal_prefix_property_fails_a_backward_leaking_into_later_steps():
    ns = dict(reference_functions())
    bwd = ns["rnn_backward"]

    def leaking(x, h0, Wx, Wh, b, dy):
        dx, *rest = bwd(x, h0, Wx, Wh, b, dy)
        return (dx + np.mean(dx, axis=1, keepdims=True), *rest)

    ns["rnn_backward"] = leaking
    with pytest.raises(AssertionError):
        record.prop_rnn_causal_prefix(SimpleNamespace(**ns), _sample())
