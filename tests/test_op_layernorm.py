"""layernorm end to end: every oracle passes the reference and the PyTorch adapter; each known variant fails and the
diagnosis names it; the record's own properties pass the reference and catch their witnesses; the fd64 model of
the record neither misses a wrong gradient nor flags rounding at γ = 0.

The deeper runs (commands, not tests)::

    python -m gradspec check --oracle fd64 symbolic mpmath properties --ops layernorm --profile thorough
    python -m gradspec check --impl gradspec.adapters.torch_impl --oracle fd64 symbolic mpmath properties --ops layernorm
    python -m gradspec.properties.mutation_score --ops layernorm
"""
from __future__ import annotations

import numpy as np
import pytest

from gradspec.oracles import vectors as vectors_oracle
import gradspec
from gradspec import reference as ref, registry, vectors
from gradspec.ops import normalization as rec
from gradspec.properties import mutants, suite
from gradspec.variants import known

OP = registry.get("layernorm")
VARIANTS = known(OP)


def _bad(result):
    return [c for c in result.ops["layernorm"].checks if c.status in ("fail", "error")]


# --------------------------------------------------------------------------- the reference passes every oracle
@pytest.mark.parametrize("oracle", ["fd64", "symbolic", "mpmath", "properties"])
def test_the_reference_passes_each_oracle(oracle):
    r = gradspec.check(ref, ops=["layernorm"], oracles=[oracle], seed=0,
                       examples=2 if oracle == "properties" else None)
    assert r.ops["layernorm"].status == "pass", [(c.oracle, c.check, c.message) for c in _bad(r)]
    assert any(c.status == "pass" for c in r.ops["layernorm"].checks)


def test_the_symbolic_oracle_proves_the_spec_backward_at_both_structures():
    """The SymPy derivation runs at a group of 3 (k = 1) and at a 2×2 group (k = 2): the record's cases."""
    assert [c["k"] for c in OP.sample.cases] == [1, 2]
    r = gradspec.check(ref, ops=["layernorm"], oracles=["symbolic"], seed=1)
    assert {c.check: c.status for c in r.ops["layernorm"].checks}["backward"] == "pass"


def test_the_reference_passes_its_golden_vectors(tmp_path):
    vectors.write(str(tmp_path), ops=["layernorm"], cases=3, seed=2)
    r = vectors_oracle.check_from_vectors(str(tmp_path), None, ops=["layernorm"])
    assert r.ops["layernorm"].status == "pass", [(c.check, c.message) for c in _bad(r)]
    # a variant is wrong against the same vectors
    bad = vectors_oracle.check_from_vectors(str(tmp_path), VARIANTS[0].namespace(), ops=["layernorm"])
    assert bad.ops["layernorm"].status == "fail"


def test_the_torch_adapter_passes_every_oracle():
    """F.layer_norm has the spec's conventions (biased variance, eps inside the root): no finding at all.
    (fd64 and mpmath run on every op of the adapter in tests/test_torch_adapter.py.)"""
    pytest.importorskip("torch", reason="torch is an optional extra: pip install torch==2.13.0")
    from gradspec.adapters import torch_impl

    r = gradspec.check(torch_impl, ops=["layernorm"], oracles=["symbolic", "properties"], seed=0,
                       examples={"properties": 2})
    assert r.ops["layernorm"].status == "pass", [(c.oracle, c.check, c.message) for c in _bad(r)]


# --------------------------------------------------------------------------- each variant fails, diagnosed by name
def test_the_catalogue_has_the_four_bugs_each_a_mutant():
    assert [v.name for v in VARIANTS] == ["layernorm_unbiased_variance", "layernorm_eps_outside_sqrt",
                                          "layernorm_param_grads_over_axis0", "layernorm_dx_missing_mean_terms"]
    assert all(v.mutant and v.diagnosed for v in VARIANTS)


@pytest.mark.parametrize("form", ["diagnosis form", "independent witness"])
@pytest.mark.parametrize("variant", VARIANTS, ids=[v.name for v in VARIANTS])
def test_each_variant_fails_and_is_named(variant, form):
    impl = variant.namespace() if form == "diagnosis form" else mutants.get(variant.mutant).impl
    r = gradspec.check(impl, ops=["layernorm"], seed=0)
    bad = _bad(r)
    assert bad, f"{variant.name} ({form}) passed"
    named = {d["name"] for c in bad for d in c.info.get("diagnosis", [])}
    assert named == {variant.name}, (variant.name, form, [(c.oracle, c.check, c.message) for c in bad])


def test_the_reference_and_a_rewrite_get_no_diagnosis():
    """On the probes and fresh samples no variant of the catalogue is taken for the reference or a correct rewrite."""
    from rewrites import algorithm

    from gradspec import diagnosis
    from gradspec.impl import Implementation

    for impl in (None, algorithm):
        an = diagnosis.analyse(OP, Implementation.wrap(impl), rng=np.random.default_rng(0))
        assert an.named == [] and all(not ev.bad for ev in an.evs)


def test_param_grads_over_axis0_is_invisible_with_one_leading_axis():
    """The (N, D) code's sums are right for 2-D input: the variant differs only with two or more leading axes."""
    v = {e.name: e for e in VARIANTS}["layernorm_param_grads_over_axis0"].namespace()
    rng = np.random.default_rng(0)
    x, g, b, dy = rng.normal(size=(4, 3)), rng.normal(size=3), rng.normal(size=3), rng.normal(size=(4, 3))
    for a, e in zip(v.layernorm_backward(x, g, b, 1e-3, dy), ref.layernorm_backward(x, g, b, 1e-3, dy)):
        np.testing.assert_allclose(a, e, rtol=1e-12, atol=1e-14)
    x3, dy3 = rng.normal(size=(2, 4, 3)), rng.normal(size=(2, 4, 3))
    assert v.layernorm_backward(x3, g, b, 1e-3, dy3)[1].shape == (4, 3)
    assert ref.layernorm_backward(x3, g, b, 1e-3, dy3)[1].shape == (3,)


# --------------------------------------------------------------------------- the record's own properties
#: property -> the mutants (catalogue witnesses) it catches by itself
OWN = {"normalises": ["layernorm_unbiased_variance", "layernorm_eps_outside_sqrt"],
       "gradient_identities": ["layernorm_dx_missing_mean_terms", "layernorm_param_grads_over_axis0"]}


@pytest.mark.parametrize("name", list(OWN))
def test_own_property_passes_the_reference_and_a_rewrite(name):
    from rewrites import textbook

    for mode in ("away", "hard"):
        prop = suite.get("layernorm", name, mode)
        for impl in (ref, textbook):
            suite.check_property(prop, impl, max_examples=8, derandomize=True, database=None)


@pytest.mark.parametrize("name,mutant", [(n, m) for n, ms in OWN.items() for m in ms])
def test_own_property_catches_its_witness(name, mutant):
    prop = suite.get("layernorm", name, "away")
    with pytest.raises(AssertionError, match=r"^layernorm: "):
        suite.check_property(prop, mutants.get(mutant).impl, max_examples=50, derandomize=True, database=None,
                             shrink=False)


# --------------------------------------------------------------------------- the fd64 model at γ = 0
def _zero_gamma_sample():
    """γ = 0, β = 0 (so y = 0 and ⟨dy, y⟩ = 0), and a middle column whose x̂ is exactly 0 in the reference."""
    m = 1 / 3
    x = np.array([[0.3 - 0.2, 0.3, 0.3 + 0.2], [m - 0.25, m, m + 0.25], [-3.0, 0.0, 3.0]])
    return {"x": x, "gamma": np.zeros(3), "beta": np.zeros(3), "eps": 1e-5, "seed": 7}


class ShiftedMean:
    """A correct layernorm up to rounding whose forward and backward round differently (as torch's kernels do):
    the backward takes the mean of x + 1 and subtracts 1, so its x̂ carries rounding where the forward's is 0."""

    @staticmethod
    def _xhat(x, eps, shift):
        mu = np.mean(x + shift, axis=-1, keepdims=True) - shift
        return (x - mu) / np.sqrt(np.mean((x - mu) ** 2, axis=-1, keepdims=True) + eps)

    def layernorm_forward(self, x, gamma, beta, eps):
        return gamma * self._xhat(x, eps, 0.0) + beta

    def layernorm_backward(self, x, gamma, beta, eps, dy):
        xh = self._xhat(x, eps, 1.0)
        g = dy * gamma
        sd = np.sqrt(np.mean((x - x.mean(axis=-1, keepdims=True)) ** 2, axis=-1, keepdims=True) + eps)
        dx = (g - g.mean(axis=-1, keepdims=True) - xh * np.mean(g * xh, axis=-1, keepdims=True)) / sd
        return dx, np.sum(dy * xh, axis=0), np.sum(dy, axis=0)


class OffGamma(ShiftedMean):
    """ShiftedMean with dgamma off by 1e-9 in one element (far above rounding, far below 1e-6 relative of 1)."""

    def layernorm_backward(self, x, gamma, beta, eps, dy):
        dx, dg, db = super().layernorm_backward(x, gamma, beta, eps, dy)
        dg = dg.copy()
        dg[1] += 1e-9
        return dx, dg, db


def test_fd64_model_at_zero_gamma_accepts_rounding_and_rejects_an_error():
    prop = suite.get("layernorm", "gradient_fd64", "away")
    s = _zero_gamma_sample()
    impl = ShiftedMean()
    assert ref.layernorm_backward(s["x"], s["gamma"], s["beta"], s["eps"], np.ones((3, 3)))[1][1] == 0.0
    assert impl.layernorm_backward(s["x"], s["gamma"], s["beta"], s["eps"], np.ones((3, 3)))[1][1] != 0.0
    prop.check(impl, s)  # dgamma[1] carries rounding (the exact value is 0): no false alarm
    with pytest.raises(AssertionError, match=r"layernorm: backward equals central differences: dgamma\[1\]"):
        prop.check(OffGamma(), s)


def test_fd64_step_follows_the_group_spread_and_stays_resolvable():
    x = np.array([[1e4, 1e4 + 1e-3, 1e4 - 1e-3], [0.0, 1.0, 2.0]])
    s = {"x": x, "gamma": np.ones(3), "beta": np.zeros(3), "eps": 1e-5}
    h = rec.layernorm_step(s, "x", x)
    sd = np.sqrt(x.var(axis=1) + 1e-5)
    np.testing.assert_allclose(h[1], rec.LN_REL_STEP * sd[1], rtol=1e-12)  # the group's spread sets the step
    assert np.all(h[0] >= 1024 * np.spacing(1e4))  # never below what float64 resolves at 1e4
    assert rec.layernorm_step(s, "gamma", np.ones(3)) is None  # γ, β: fd64's default step


# --------------------------------------------------------------------------- the mpmath oracle on the hard inputs
def _hard_samples():
    """A near-constant group (spread 1e-6: eps dominates the variance) and large offsets (1e4 over a unit spread)."""
    rng = np.random.default_rng(0)
    near = 100.0 + 1e-6 * rng.uniform(-1, 1, size=(2, 3, 4))
    far = np.array([[1e4], [-3e4], [5e3]]) + rng.uniform(-1, 1, size=(3, 5))
    return [{"x": near, "gamma": rng.uniform(-2, 2, 4), "beta": rng.uniform(-2, 2, 4), "eps": 1e-5},
            {"x": far, "gamma": rng.uniform(-2, 2, 5), "beta": rng.uniform(-2, 2, 5), "eps": 1e-5}]


@pytest.mark.parametrize("k", [0, 1], ids=["near-constant", "large offsets"])
def test_mpmath_error_model_covers_the_hard_inputs_and_still_sees_a_bug(k):
    from gradspec.mpmath_oracle import oracle as mp_oracle

    s = _hard_samples()[k]
    assert mp_oracle.check_sample(OP, ref, s, np.random.default_rng(1)).ok
    wrong = {v.name: v for v in VARIANTS}["layernorm_dx_missing_mean_terms"].namespace()
    assert not mp_oracle.check_sample(OP, wrong, s, np.random.default_rng(1)).ok


def test_away_samples_have_groups_of_three_distinct_values_and_hard_ones_reach_the_hard_inputs():
    """linear_in_dy bounds its error by |VJP| (props has no layernorm magnitude); a group of 2 or a tie makes dx
    structurally ε/(σ² + ε) of its terms, below that bound, so those are drawn only in the hard mode."""
    from hypothesis import given, settings

    from gradspec.properties import lookup

    seen = set()

    @settings(max_examples=20, derandomize=True, database=None, deadline=None)
    @given(lookup.samples("layernorm", "away"))
    def away(s):
        axes, _, m = rec.ln_axes(s["x"], s["gamma"])
        assert m >= 3 and s["gamma"].shape == s["x"].shape[s["x"].ndim - len(axes):]
        rows = np.moveaxis(s["x"], axes, tuple(range(-len(axes), 0))).reshape(-1, m)
        assert all(len(set(r.tolist())) == m for r in rows)

    @settings(max_examples=40, derandomize=True, database=None, deadline=None)
    @given(lookup.samples("layernorm", "hard"))
    def hard(s):
        axes, _, m = rec.ln_axes(s["x"], s["gamma"])
        spread = float(np.max(np.ptp(s["x"], axis=axes))) if s["x"].size else 0.0
        seen.add("near-constant" if spread <= 2e-2 else "large offset" if np.max(np.abs(s["x"])) >= 1e3 else "other")
        seen.add("group of 2 or less" if m <= 2 else "larger group")

    away()
    hard()
    assert {"near-constant", "large offset", "group of 2 or less"} <= seen, seen
