"""The fd64 tolerance model (shared by the fd64 oracle and the properties' gradient_fd64).

At points where float64 differences are hard (cancellation inside the stable losses, results that
underflow into the subnormals) the model widens the bound as the error analysis says; it still
rejects a gradient that is wrong by far less than gradcheck's rtol=1e-3.
"""
from __future__ import annotations

import types

import numpy as np
import pytest

from gradspec import reference as ref, registry
from gradspec.impl import Implementation
from gradspec.oracles import fd64
from gradspec.properties import props

# Points Hypothesis found where the earlier model (rounding sized by |f(x)| only) raised false alarms.
HARD_POINTS = [
    ("softmax_cross_entropy", {"z": np.array([[18.4, -0.46, -12.1]]), "labels": np.array([0])}),
    ("sigmoid", {"x": np.array([-1000.0, -732.5])}),  # the gradient is ~7e-319: subnormal
    ("binary_cross_entropy", {"z": np.array([[35.0, -40.0]]), "t": np.array([[1.0, 0.0]])}),
    ("batchnorm", {"x": np.array([[1.0, 5.0], [1.0 + 1e-6, 5.0 - 1e-7], [1.0 - 1e-6, 5.0]]),
                   "gamma": np.array([1.5, -0.5]), "beta": np.array([0.1, 0.2]), "eps": 1e-5}),
]


@pytest.mark.parametrize("op_name,sample", HARD_POINTS, ids=[p[0] for p in HARD_POINTS])
def test_no_false_alarm_at_hard_points(op_name, sample):
    for seed in range(10):  # ten random cotangents
        props.prop_gradient_fd64(ref, dict(sample, seed=seed), op_name)


def _scaled_backward(op_name, factor):
    """The reference with one backward's first gradient multiplied by ``factor``."""
    op = registry.REGISTRY[op_name]

    def backward(*args):
        out = getattr(ref, op.backward)(*args)
        if isinstance(out, tuple):
            return (out[0] * factor,) + tuple(out[1:])
        return out * factor

    mod = types.SimpleNamespace(**{f: getattr(ref, f) for f in op.functions})
    setattr(mod, op.backward, backward)
    return mod


def test_a_relative_error_of_1e_4_is_caught_where_float64_differences_can_resolve_it():
    bad = _scaled_backward("batchnorm", 1 + 1e-4)  # near-constant features: a widened, yet still tight, bound
    with pytest.raises(AssertionError, match="backward equals central differences"):
        props.prop_gradient_fd64(bad, dict(HARD_POINTS[3][1], seed=0), "batchnorm")


CANCELLING = [p for p in HARD_POINTS if p[0] != "sigmoid"]  # (the mpmath oracle's absolute floor is far above 1e-318)


@pytest.mark.parametrize("op_name,sample", CANCELLING, ids=[p[0] for p in CANCELLING])
def test_where_they_cannot_the_mpmath_oracle_does(op_name, sample):
    """At the cancelling points the gradient is far below the rounding of the terms float64 differences
    subtract (measured: fd64 resolves only a 50% error at the softmax point, none at the binary
    cross-entropy one); the 50-digit truth still sees a 1e-4 relative error."""
    from gradspec.mpmath_oracle import oracle as mp

    op = registry.REGISTRY[op_name]
    rng = np.random.default_rng(0)
    assert mp.check_sample(op, ref, sample, rng).ok
    out = mp.check_sample(op, _scaled_backward(op_name, 1 + 1e-4), sample, np.random.default_rng(0))
    assert out.backward_findings and not out.forward_findings


def test_a_wrong_gradient_is_caught_in_the_subnormals():
    bad = _scaled_backward("sigmoid", 1.5)
    with pytest.raises(AssertionError, match="backward equals central differences"):
        props.prop_gradient_fd64(bad, {"x": np.array([-1000.0, -732.5]), "seed": 0}, "sigmoid")


def test_rounding_scale_grows_with_the_cancellation_of_the_stable_losses():
    op = registry.REGISTRY["softmax_cross_entropy"]
    small = {"z": np.array([[0.1, -0.2, 0.3]]), "labels": np.array([0])}
    large = {"z": np.array([[1000.0, -0.2, 0.3]]), "labels": np.array([0])}
    s_small = fd64.rounding_scale(op, small, 1.0, ref.softmax_cross_entropy_forward(small["z"], small["labels"]))
    s_large = fd64.rounding_scale(op, large, 1.0, ref.softmax_cross_entropy_forward(large["z"], large["labels"]))
    assert s_large > 1000 > s_small  # the loss is ~0 at the large logits, yet its terms are ~1000


def test_the_oracle_uses_the_same_model_and_catches_a_1e_4_bug():
    impl = Implementation("scaled", _scaled_backward("softmax_cross_entropy", 1 + 1e-4))
    rng = np.random.default_rng(0)
    res = {c.check: c for c in fd64.check_op(registry.REGISTRY["softmax_cross_entropy"], impl, rng, 3)}
    assert res["forward"].status == "pass" and res["backward"].status == "fail", res["backward"].message
    ok = {c.check: c for c in fd64.check_op(registry.REGISTRY["softmax_cross_entropy"], Implementation("reference", ref), rng, 3)}
    assert ok["backward"].status == "pass"


def test_a_network_whose_call_raises_does_not_pass_its_gradients():
    def mlp_loss_and_grads(*args):
        raise RuntimeError("broken")

    impl = Implementation("broken", types.SimpleNamespace(mlp_loss_and_grads=mlp_loss_and_grads))
    res = {c.check: c for c in fd64.check_op(registry.REGISTRY["mlp"], impl, np.random.default_rng(0), 2)}
    assert res["forward"].status == "error" and res["backward"].status == "error"
    assert "gradients not checked" in res["backward"].findings[0].message


def test_a_backward_never_compared_is_not_a_pass():
    def sigmoid_forward(x):
        raise RuntimeError("forward broken")

    impl = Implementation("broken", types.SimpleNamespace(sigmoid_forward=sigmoid_forward, sigmoid_backward=ref.sigmoid_backward))
    res = {c.check: c for c in fd64.check_op(registry.REGISTRY["sigmoid"], impl, np.random.default_rng(0), 2)}
    assert res["backward"].status == "error"
    assert "no example could be compared" in res["backward"].message


# --------------------------------------------------------------------------- non-finite values never pass
class _OverflowsBesideTheSample:
    """sigmoid: exact at the sample, but its forward returns 1e308 just right of it (so a difference quotient
    overflows to inf and its tolerance with it); the backward is all zeros (wrong)."""

    def __init__(self):
        self.x0 = None

    def sigmoid_forward(self, x):
        if self.x0 is None or self.x0.shape != x.shape:
            self.x0 = np.array(x, copy=True)
        d = x - self.x0
        return np.where((d > 0) & (d < 9e-6 * np.maximum(1, abs(self.x0))), 1e308, ref.sigmoid_forward(x))

    def sigmoid_backward(self, x, dy):
        return np.zeros_like(x)


def test_an_overflowing_difference_quotient_is_a_failure_not_a_nan_pass():
    import gradspec

    with np.errstate(all="ignore"):
        r = gradspec.check(_OverflowsBesideTheSample(), ops=["sigmoid"], oracles=["fd64"], examples=1)
    back = [c for c in r.ops["sigmoid"].checks if c.check == "backward"][0]
    assert back.status == "fail" and back.worst_error == float("inf"), (back.status, back.worst_error)


def test_compare_fails_on_nan_anywhere():
    from gradspec.oracles.common import compare

    op = registry.REGISTRY["sigmoid"]
    for actual, expected, tol in (([np.nan], [1.0], [1.0]), ([1.0], [np.inf], [np.inf]), ([1.0], [1.0], [np.nan]),
                                  ([np.inf], [np.inf], [1.0])):
        worst, findings = compare(np.array(actual), np.array(expected), np.array(tol), op=op, what="dx", sample={})
        assert worst == float("inf") and findings, (actual, expected, tol)
    assert compare(np.array([1.0]), np.array([1.0 + 1e-9]), np.array([1e-8]), op=op, what="dx", sample={})[0] < 1


def test_the_property_fails_when_the_difference_is_nan():
    class NanOffSample:
        def __init__(self, x0):
            self.x0 = x0

        def sigmoid_forward(self, x):
            return np.where(x != self.x0, np.nan, ref.sigmoid_forward(x))

        def sigmoid_backward(self, x, dy):
            return np.zeros_like(x)

    x = np.array([0.3, -1.2, 2.0])
    with np.errstate(all="ignore"), pytest.raises(AssertionError, match="backward equals central differences"):
        props.prop_gradient_fd64(NanOffSample(x), {"x": x, "seed": 1}, "sigmoid")


def test_a_nan_exactly_on_the_kink_fails_the_conventions_check():
    import gradspec

    class NanAtKink:
        def relu_forward(self, x):
            return np.where(x == 0, np.nan, ref.relu_forward(x))

        def relu_backward(self, x, dy):
            return np.where(x == 0, np.nan, ref.relu_backward(x, dy))

    r = gradspec.check(NanAtKink(), ops=["relu"], oracles=["fd64"])
    conv = [c for c in r.ops["relu"].checks if c.check == "conventions"][0]
    assert conv.status == "fail", conv.message


# --------------------------------------------------------------------------- steps and conditioning at the edges
BN_HUGE = {"x": np.array([[1e200, 1.0], [2e200, 2.0], [3e200, 0.5]]), "gamma": np.array([1.5, -0.5]),
           "beta": np.array([0.1, 0.2]), "eps": 1e-5}


def test_batchnorm_at_1e200_no_false_alarm_and_a_1e_4_bug_is_caught():
    """One feature at 1e200, one at 1: the steps and the cancellation bound are per feature (before, x.var()
    overflowed, and the bound of the huge feature drowned the other one)."""
    with np.errstate(over="raise", invalid="raise"):
        for seed in range(10):
            props.prop_gradient_fd64(ref, dict(BN_HUGE, seed=seed), "batchnorm")
            props.prop_forward_matches_spec(ref, dict(BN_HUGE, seed=seed), "batchnorm")
    with pytest.raises(AssertionError, match="backward equals central differences"):
        props.prop_gradient_fd64(_scaled_backward("batchnorm", 1 + 1e-4), dict(BN_HUGE, seed=0), "batchnorm")


def test_steps_stay_resolvable_and_inside_the_domain():
    bn = registry.REGISTRY["batchnorm"]
    x = np.array([[1e8, 1.0], [1e8 + 1e-7, 2.0], [1e8 - 1e-7, 0.5]])  # a large mean, a spread of a few ulps
    h = fd64.step_sizes(bn, {"eps": 1e-5}, "x", x)
    assert np.all(x + h != x) and np.all(x - h != x) and np.all(np.isfinite(fd64.step_sizes(bn, BN_HUGE, "x", BN_HUGE["x"])))
    ce = registry.REGISTRY["cross_entropy"]
    p = np.array([[0.2, 0.999999]])
    hp = fd64.step_sizes(ce, {}, "p", p)
    assert np.all(p - 2 * hp > 0) and np.all(p + 2 * hp < 1)
    with pytest.raises(ValueError, match=r"cross_entropy: central differences in p need 0 < p < 1"):
        fd64.step_sizes(ce, {}, "p", np.array([[0.0, 1.0]]))


def test_a_textbook_batchnorm_passes_the_forward_check_at_a_huge_constant_feature():
    """The textbook formula (mean, then x − mean) gives x̂ ≈ 1 on a constant feature at 1.86e15 where the spec
    gives 0: both are within that algorithm's rounding error (ε·|x|/sqrt(eps)), which the forward tolerance
    now includes, as the properties' did; a real bug in the same forward is still caught."""
    from gradspec.impl import Implementation
    from gradspec.oracles.common import Tracker

    def plain(x, gamma, beta, eps):
        xc = x - x.mean(axis=0)
        return gamma * xc / np.sqrt((xc * xc).mean(axis=0) + eps) + beta

    op = registry.REGISTRY["batchnorm"]
    s = {"x": np.concatenate([np.full((11, 1), 1860701409547677.8), np.linspace(-1, 1, 11).reshape(11, 1)], axis=1),
         "gamma": np.array([1.0, 2.0]), "beta": np.array([0.25, 0.0]), "eps": 1e-5}
    for fwd, want in ((plain, "pass"), (lambda x, g, b, eps: plain(x, g, b, eps) * 1.001, "fail")):
        t = Tracker("fd64", "forward")
        fd64._check_forward(t, op, Implementation("textbook", types.SimpleNamespace(batchnorm_forward=fwd)), s,
                            op.forward_args(s))
        assert t.done().status == want, t.result.message
