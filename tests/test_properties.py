"""The property library: the reference satisfies every property of every op, on every strategy mode.

The properties are shown catching wrong implementations in tests/test_mutants.py.
"""
import types

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import gradspec.reference as ref
from gradspec import registry
from gradspec.ops import optim
from gradspec.oracles import fd64
from gradspec.properties import hypothesis_profiles, lookup, props, strategies, suite

pytestmark = pytest.mark.properties


def _reference_satisfies(weight):
    """One test function per example weight, so slow properties run fewer examples (never none).

    The sample is drawn inside the test (``st.data()``) so the strategies' ``event()``s show in
    ``pytest --hypothesis-show-statistics`` (shape classes, strides, overlapping windows, near-kink draws).
    """
    chosen = [p for p in suite.ALL if p.weight == weight]

    @pytest.mark.parametrize("prop", chosen, ids=lambda p: p.id)
    @settings(max_examples=suite.examples_for(chosen[0]))
    @given(data=st.data())
    def test(prop, data):
        sample = data.draw(lookup.samples(prop.op, prop.mode), label="sample")
        prop.check(ref, sample)

    test.__doc__ = f"The reference satisfies every property of weight {weight} on Hypothesis samples of its op and mode."
    return test


for _w in sorted({p.weight for p in suite.ALL}):
    globals()[f"test_reference_satisfies_w{round(_w * 100):03d}"] = _reference_satisfies(_w)


# --------------------------------------------------------------------------- the catalogue covers the registry
def test_every_op_has_a_strategy_and_properties():
    assert set(lookup.STRATEGIES) == set(registry.REGISTRY)
    assert set(suite.PROPERTIES) == set(registry.REGISTRY)
    for op in registry.OPS:
        names = {p.name for p in suite.PROPERTIES[op.name]}
        assert {"no_mutation", "deterministic", "no_global_random_state"} <= names, op.name
        if op.has_gradient and op.kind != "network":
            assert {"gradient_fd64", "shapes", "linear_in_dy", "forward_matches_spec"} <= names, op.name


def test_every_kink_of_the_registry_has_on_kink_samples():
    for op in registry.OPS:
        if op.kinks:
            assert "on_kink" in lookup.OP_MODES[op.name], op.name


def test_unsupported_mode_is_a_clear_error():
    with pytest.raises(ValueError, match=r"op 'sigmoid' has no 'on_kink' samples; its modes are \('away', 'hard'\)"):
        lookup.samples("sigmoid", "on_kink")
    with pytest.raises(ValueError, match="mode must be one of"):
        lookup.samples("relu", "sideways")
    with pytest.raises(KeyError, match="unknown op 'no_such_op'"):
        lookup.samples("no_such_op")


# --------------------------------------------------------------------------- the strategies draw what they promise
def _legal(op, s):
    """The reference accepts the sample (it validates every rule and raises ValueError otherwise)."""
    props.call_all(ref, op, s)


@pytest.mark.parametrize("op_mode", [(o, m) for o in lookup.OP_MODES for m in lookup.OP_MODES[o]], ids=lambda t: f"{t[0]}[{t[1]}]")
def test_samples_are_legal_and_respect_their_mode(op_mode):
    name, mode = op_mode
    op = registry.get(name)

    @settings(max_examples=6, database=None)
    @given(lookup.samples(name, mode))
    def check(s):
        _legal(op, s)
        for k, v in s.items():
            arrays = v if isinstance(v, list) and k == "grads" else [v] if isinstance(v, np.ndarray) else []
            for a in arrays:
                if a.dtype.kind == "f":
                    assert np.all(np.isfinite(a)), k
                    tiny = (a != 0) & (np.abs(a) < np.finfo(np.float64).tiny)
                    assert not np.any(tiny), f"{k} holds subnormals"
        if mode == "away" and op.kinks:
            # the difference steps (h = FD_REL_STEP·max(1, |x|), and 2h) never cross a kink
            assert op.kink_distance(s) > 4 * fd64.FD_REL_STEP, (name, op.kink_distance(s))
        if mode == "on_kink" and name in ("relu", "step"):
            assert np.any(s["x"] == 0)
        if mode == "on_kink" and name == "perceptron":
            assert float(s["w"] @ s["x"]) + s["b"] == 0.0
        if name == "dropout":
            assert set(np.unique(s["mask"])) == {0.0, 1.0}
        if name == "cross_entropy":
            assert np.all(s["p"] > 0) and np.all(s["p"] < 1)
        if name == "batchnorm":
            axes = (0,) if s["x"].ndim == 2 else (0, 2, 3)
            assert int(np.prod([s["x"].shape[a] for a in axes])) >= 2
        if name in ("softmax_cross_entropy", "mlp") and "labels" in s:
            assert s["labels"].min() >= 0 and s["labels"].max() < s["z"].shape[1]
        if name == "init_he_normal":
            fi, fo = props.fans(s["shape"])
            assert fi != fo

    check()


def test_hard_mode_reaches_extreme_inputs():
    """The hard mode really draws logits of ±1000, near-constant batch-norm groups and tiny probabilities."""
    seen = {"logit": 0.0, "bn_spread": np.inf, "p": 1.0}

    @settings(max_examples=30, database=None)
    @given(lookup.samples("softmax_cross_entropy", "hard"), lookup.samples("batchnorm", "hard"),
           lookup.samples("cross_entropy", "hard"))
    def draw(a, b, c):
        seen["logit"] = max(seen["logit"], float(np.max(np.abs(a["z"]))))
        x = b["x"]
        spread = float(np.max(np.ptp(x, axis=(0,) if x.ndim == 2 else (0, 2, 3))))
        seen["bn_spread"] = min(seen["bn_spread"], spread)
        seen["p"] = min(seen["p"], float(c["p"].min()))

    draw()
    assert seen["logit"] >= 999.0
    assert seen["bn_spread"] <= 2e-4
    assert seen["p"] <= 1e-8


@pytest.mark.parametrize("scale", [1e-3, 1.0])
def test_distinct_keeps_four_difference_steps_between_values_at_any_scale(scale):
    """144 values at scale 1e-3 once came 2.1e-5 apart (grid 4·scale/n); the floor keeps every gap > 4 fd64 steps."""
    assert 0.5 * strategies.MIN_SPACING > 4 * fd64.FD_REL_STEP

    @given(strategies.distinct((2, 2, 6, 6), scale))
    @settings(max_examples=20, database=None)
    def check(x):
        v = np.sort(x.ravel())
        assert float(np.min(np.diff(v))) > 4 * fd64.FD_REL_STEP * max(1.0, float(np.max(np.abs(v))))

    check()


def test_window_geometry_covers_the_classes():
    """Strides > 1, overlapping windows, padding and single-output windows all occur."""
    seen = set()

    @settings(max_examples=60, database=None)
    @given(strategies.window_geometry())
    def draw(g):
        H, W, KH, KW, s, p = g
        OH, OW = strategies.out_size(H, KH, s, p), strategies.out_size(W, KW, s, p)
        assert OH >= 1 and OW >= 1 and KH <= H + 2 * p and KW <= W + 2 * p
        seen.update({"stride>1"} if s > 1 else set())
        seen.update({"overlap"} if s < max(KH, KW) else set())
        seen.update({"pad"} if p > 0 else set())
        seen.update({"single"} if OH * OW == 1 else set())

    draw()
    assert seen == {"stride>1", "overlap", "pad", "single"}


# --------------------------------------------------------------------------- perceptron certificates, by hand
def test_xor_certificate_is_the_hand_derived_one():
    # positives (0,1), (1,0): w2 + b > 0, w1 + b > 0; negatives (0,0), (1,1): b <= 0, w1 + w2 + b <= 0.
    # Adding the two positives and subtracting the two negatives gives 0 > 0: λ = (1, 1, 1, 1).
    cert = props.separability_certificate(props.BOOL_X, props.GATES["XOR"])
    assert cert is not None
    s = np.array([-1, 1, 1, -1])
    A = np.hstack([props.BOOL_X, np.ones((4, 1))]) * s[:, None]
    assert np.all(cert >= 0) and np.any(cert[s == 1] > 0) and np.all(A.T @ cert == 0)
    assert props.separability_certificate(props.BOOL_X, props.GATES["AND"]) is None


def test_exactly_two_of_sixteen_labellings_are_not_separable():
    census = props.sign_pattern_census(ref)
    assert sorted(t for t, v in census.items() if not isinstance(v, str)) == [(0, 1, 1, 0), (1, 0, 0, 1)]
    assert sum(isinstance(v, str) for v in census.values()) == 14


# --------------------------------------------------------------------------- independent definitions agree with the reference
def test_naive_pool_agrees_with_hand_values():
    # one 3x3 channel, kernel 2, stride 1, pad 0: windows [[1,2],[4,5]] ... maxima 5, 6, 8, 9
    x = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)
    y, dx = props.naive_pool(x, 2, 1, 0, np.ones((1, 1, 2, 2)), "max")
    assert y.ravel().tolist() == [5.0, 6.0, 8.0, 9.0]
    assert dx.ravel().tolist() == [0, 0, 0, 0, 1, 1, 0, 1, 1]
    y, dx = props.naive_pool(x, 2, 2, 1, np.ones((1, 1, 2, 2)), "avg")  # padded corner windows hold one real cell
    assert y.ravel().tolist() == [1 / 4, (2 + 3) / 4, (4 + 7) / 4, (5 + 6 + 8 + 9) / 4]


def test_closed_forms_by_hand():
    w0, g = np.array([1.0]), np.array([2.0])
    assert props.closed_form_constant_gradient(optim.sgd_constant_gradient, w0, g, 2, {"lr": 0.5})[1].tolist() == [
        1.0 - 2 * 0.5 * 2.0]
    # momentum μ = 0.5: steps −lr·g·1, −lr·g·1.5 -> w2 = 1 − 0.1·2·2.5
    got = props.closed_form_constant_gradient(optim.momentum_constant_gradient, w0, g, 2, {"lr": 0.1, "momentum": 0.5})[1]
    assert got == pytest.approx([1.0 - 0.1 * 2.0 * 2.5], abs=1e-15)


# --------------------------------------------------------------------------- Hypothesis profiles
def test_profiles_are_registered_with_their_settings():
    hypothesis_profiles.register()
    ci = settings.get_profile("ci")
    assert ci.derandomize and ci.database is None and ci.deadline is None
    assert settings.get_profile("thorough").max_examples >= 10 * settings.get_profile("dev").max_examples
    with pytest.raises(ValueError, match="unknown Hypothesis profile 'fast'"):
        hypothesis_profiles.load("fast")


def test_slow_properties_run_fewer_examples_not_zero():
    slow = suite.get("init_he_normal", "statistics")
    assert suite.examples_for(slow, 10) == 4 and suite.examples_for(slow, 1) == 2
    assert suite.examples_for(suite.get("relu", "gradient_fd64"), 150) == 90


# --------------------------------------------------------------------------- the oracle plug-in
def test_properties_oracle_passes_the_reference_and_reports_a_shrunk_failure():
    from gradspec import runner
    from gradspec.properties import mutants

    ok = runner.check(ref, ops=["relu"], oracles=["properties"], seed=3, examples=3)
    assert ok.ok, ok.failures()
    bad = runner.check(mutants.get("relu_prime_at_zero_is_one").impl, ops=["relu"], oracles=["properties"], seed=3, examples=5)
    fails = {c.check: c for _, c in bad.failures()}
    # the convention property, and the fd64 oracle's own conventions check run through agrees_with_fd64
    assert sorted(fails) == ["agrees_with_fd64[away]", "convention[on_kink]"]
    conv = fails["convention[on_kink]"]
    assert "relu'(0) = 0" in conv.message
    # the failing sample, as data: relu on its kink (how far it shrinks depends on the shrinking budget)
    example = conv.findings[0].details["falsifying_example"]
    assert 0.0 in np.ravel(example["x"]), example


def test_dropout_unbiased_holds_with_rare_drops():
    """Hypothesis found it: at p = 1e-5, one drop in 2000 masks is 7 standard errors, so "5 standard errors"
    raised a false alarm on the reference; the bound is Bernstein's now, and the non-inverted mutant still fails."""
    from gradspec.properties.mutants import get

    s = {"x": np.array([[2.98674804e-64, 0.0], [0.0, 0.0]]), "mask": np.array([[0.0, 1.0], [0.0, 0.0]]), "p": 1e-05,
         "seed": 0}
    props.prop_dropout_unbiased(ref, s)  # seed 0 drops element [0, 0] once
    with pytest.raises(AssertionError, match="dropout is unbiased"):
        props.prop_dropout_unbiased(get("dropout_not_inverted").impl, dict(s, p=0.05, x=np.array([[1.5, -2.0]]),
                                                                            mask=np.array([[0.0, 1.0]])))


def test_bp4_allows_the_rounding_of_recomputed_activations():
    """A Hypothesis-found network where the column layout's a = Wa + b rounds differently from the row layout's
    (cancellation in z): BP4 on the reference passes; a dW off by 1e-9 relative still fails."""
    s = {"params": [(np.array([[0.0]]), np.array([0.4375])),
                    (np.array([[-1.5, -1.5, 0.0, -1.25]]), np.array([-0.1875, 0.0, 0.0, 0.0])),
                    (np.array([[0.0, 0.0, 0.59375, 0.0], [0.0, 0.0, 0.78125, 0.0], [0.0] * 4, [0.0, 0.0, -0.6875, 0.0]]),
                     np.array([0.0, 0.0, 0.5, 0.0])),
                    (np.zeros((4, 1)), np.array([0.0]))],
         "X": np.array([[0.0]]), "T": np.array([[0.0]]), "hidden": "tanh", "output": "sigmoid_mse", "seed": 0}
    for layout in ("row", "column"):
        props.prop_mlp_bp4(ref, s, layout)

    def off(params, X, T, hidden, output, layout="row"):
        loss, grads, deltas = ref.mlp_backprop(params, X, T, hidden, output, layout)
        dW, db = grads[-1]
        return loss, grads[:-1] + [(dW * (1 + 1e-9) + 1e-9 * np.abs(dW).max(), db)], deltas

    with pytest.raises(AssertionError, match="BP4"):
        props.prop_mlp_bp4(types.SimpleNamespace(mlp_backprop=off), s, "row")
