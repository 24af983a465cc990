"""Diagnosis: each named bug is recognised on a real mutant, through gradspec.check.

A mutant -> ``gradspec.check(mutant, ops=[op])`` -> the failing check's
diagnosis names the bug (first), its findings carry it and the message says
it. Mutants come from the shared library (gradspec.properties.mutants, written
independently of the diagnosis) and from tests/_diagnosis_mutants.py.
"""
from __future__ import annotations

import numpy as np
import pytest

import gradspec
from gradspec import conventions, diagnosis, registry
from gradspec.impl import Implementation

from _diagnosis_mutants import (BATCHNORM_TWO_BUGS, CORRECT_REWRITES, DIAGNOSIS_MUTANTS, INPUT_CLASS_MUTANTS,
                                SCE_SQUEEZED, SEVERAL_BROKEN, make)

from gradspec.properties import mutants as mutants_lib
LIB = {m.name: m for m in mutants_lib.MUTANTS}

#: library mutant name -> the diagnosis it must get
EXPECTED_LIB = {
    "mse_backward_missing_1_over_N": "scaled_by_N",
    "cross_entropy_backward_missing_1_over_N": "scaled_by_N",
    "affine_dW_divided_by_N": "scaled_by_1_over_N",
    "l2_penalty_backward_factor_2": "scaled_by_2",
    "mse_forward_missing_half": "scaled_by_2",
    "cross_entropy_backward_sign_flipped": "wrong_sign",
    "sgd_sign_flipped": "wrong_sign",
    "perceptron_sign_flipped": "wrong_sign",
    "affine_missing_transpose": "transposed_weight",
    "mlp_missing_transpose": "transposed_weight",
    "sigmoid_missing_derivative": "missing_activation_derivative",
    "mlp_missing_activation_derivative": "missing_activation_derivative",
    "affine_bias_grad_averaged": "bias_grad_averaged",
    "conv2d_bias_grad_averaged": "bias_grad_averaged",
    "mlp_bias_grad_averaged": "bias_grad_averaged",
    "relu_prime_at_zero_is_one": "relu_prime_at_zero_is_one",
    "mlp_relu_prime_at_zero_is_one": "relu_prime_at_zero_is_one",
    "step_at_zero_is_one": "step_at_zero_is_one",
    "perceptron_step_at_zero_is_one": "step_at_zero_is_one",
    "max_pool2d_last_max_on_ties": "max_pool_tie_to_last_max",
    "max_pool2d_splits_ties": "max_pool_tie_split",
    "max_pool2d_zero_padding": "max_pool_padding_wins",
    "avg_pool2d_excludes_padding": "avg_pool_excludes_padding",
    "avg_pool2d_backward_missing_divisor": "scaled_by_kernel_area",
    "batchnorm_unbiased_variance": "batchnorm_unbiased_variance",
    "batchnorm_eps_outside_sqrt": "batchnorm_eps_outside_sqrt",
    "dropout_not_inverted": "dropout_not_inverted",
    "adam_no_bias_correction": "adam_no_bias_correction",
    "adam_step_counter_off_by_one": "adam_step_off_by_one",
    "adam_eps_inside_sqrt": "adam_eps_inside_sqrt",
    "adagrad_eps_inside_sqrt": "adagrad_eps_inside_sqrt",
    "rmsprop_eps_inside_sqrt": "rmsprop_eps_inside_sqrt",
    "init_xavier_normal_lecun_fan": "lecun_variance",
    "init_lecun_normal_glorot_fans": "glorot_variance",
    "init_he_normal_fan_out": "he_variance_fan_out",
    "init_he_uniform_lecun_bound": "lecun_variance",
    "init_xavier_uniform_draws_normal": "normal_instead_of_uniform",
}

CASES = [pytest.param(LIB[name].op, LIB[name].impl, want, id=f"lib-{name}") for name, want in EXPECTED_LIB.items()
         if name in LIB]
CASES += [pytest.param(op, impl, want, id=f"own-{name}") for name, (op, impl, want) in DIAGNOSIS_MUTANTS.items()]


def _failing(result, op):
    bad = [c for c in result.ops[op].checks if c.status in ("fail", "error")]
    assert bad, f"the mutant was not caught on {op}: {[(c.check, c.status) for c in result.ops[op].checks]}"
    return bad


def test_every_listed_library_mutant_exists():
    missing = [n for n in EXPECTED_LIB if n not in LIB]
    assert not missing, f"mutants renamed or removed from gradspec.properties.mutants: {missing}"


@pytest.mark.parametrize("op,impl,want", CASES)
def test_mutant_gets_the_right_diagnosis(op, impl, want):
    result = gradspec.check(impl, ops=[op], seed=0)
    bad = _failing(result, op)
    diagnosed = [c for c in bad if c.info.get("diagnosis")]
    assert diagnosed, f"no diagnosis on {op}: {[c.message for c in bad]}"
    for c in diagnosed:
        names = [d["name"] for d in c.info["diagnosis"]]
        assert names[0] == want, f"{op} [{c.check}]: expected {want!r} first, got {c.info['diagnosis']}"
        assert f"probable bug: {want}" in c.message
        explained = [f for f in c.findings if f.details.get("diagnosis")]
        assert explained, f"{op} [{c.check}]: the check has a diagnosis but none of its findings does"
        for f in explained:
            assert f.details["diagnosis"][0]["name"] == want
            assert set(f.details["diagnosis"][0]) >= {"name", "explanation", "confidence"}
            assert 0.0 < f.details["diagnosis"][0]["confidence"] <= 1.0


def test_diagnosis_is_in_the_json_result():
    m = LIB["mse_backward_missing_1_over_N"]
    data = gradspec.check(m.impl, ops=["mse"]).to_dict()
    back = [c for c in data["ops"]["mse"]["checks"] if c["check"] == "backward"][0]
    assert back["findings"][0]["details"]["diagnosis"][0]["name"] == "scaled_by_N"
    assert "sample" not in back["findings"][0]  # the raw sample is not serialised


@pytest.mark.parametrize("name", ["sigmoid_scaled_gradient_element", "affine_scaled_gradient_element"])
def test_no_named_cause_for_an_unrecognised_bug(name):
    """One gradient element off by 0.1 %: caught, no known pattern claimed, and "no known cause" with the
    nearest two candidates and their residuals (none of them near float64 precision)."""
    m = LIB[name]
    result = gradspec.check(m.impl, ops=[m.op])
    for c in _failing(result, m.op):
        assert not c.info.get("diagnosis"), c.info.get("diagnosis")
        assert not any(f.details.get("diagnosis") for f in c.findings)
        nk = c.info["no_known_cause"]
        assert len(nk["nearest"]) == 2
        assert all(cand["residual"] > 1e-6 for cand in nk["nearest"]), nk
        assert "no known cause" in c.message


def test_reference_passes_without_diagnosis():
    result = gradspec.check(None, ops=["relu", "max_pool2d", "batchnorm", "adam"])
    assert result.ok
    assert all("diagnosis" not in c.info for r in result.ops.values() for c in r.checks)


# --------------------------------------------------------------------------- the pure pieces
def test_fit_scale_and_ratio_patterns():
    op = registry.get("mse")
    rng = np.random.default_rng(1)
    s = {"y": rng.normal(size=(4, 3)), "t": rng.normal(size=(4, 3))}
    e = rng.normal(size=(4, 3))
    c, res = diagnosis.fit_scale(4.0 * e, e)
    assert abs(c - 4.0) < 1e-14 and res < 1e-15
    names = lambda a: [d.name for d in diagnosis.diagnose_arrays(a, e, op=op, argument="dy", sample=s)]  # noqa: E731
    assert names(4.0 * e) == ["scaled_by_N"]
    assert names(e / 4.0) == ["scaled_by_1_over_N"]
    assert names(-e) == ["wrong_sign"]
    assert names(0.5 * e) == ["scaled_by_1_over_2"]
    assert names(e / 3.0) == ["mean_over_all_elements"]  # K = 3
    assert names(1.7 * e) == ["scaled"]
    noisy = 4.0 * e + 1e-3 * rng.normal(size=e.shape)  # not a pure scaling: nothing claimed
    assert names(noisy) == []


def test_transposed_result_is_named():
    op = registry.get("affine")
    rng = np.random.default_rng(2)
    e = rng.normal(size=(3, 5))
    ds = diagnosis.diagnose_arrays(e.T.copy(), e, op=op, argument="dW", sample={"x": rng.normal(size=(2, 3))})
    assert [d.name for d in ds] == ["transposed_weight"]


def test_diagnose_never_raises_on_a_broken_implementation():
    class Broken:
        def relu_forward(self, x):
            raise RuntimeError("boom")

        def relu_backward(self, x, dy):
            return "not an array"

    impl = Implementation("broken", Broken())
    assert diagnosis.diagnose(registry.get("relu"), impl, rng=np.random.default_rng(0)) == []
    result = gradspec.check(Broken(), ops=["relu"])
    assert result.ops["relu"].status == "error"


# --------------------------------------------------------------------------- the conventions check
CONVENTION_OPS = sorted(op.name for op in registry.OPS if conventions.applies(op))


@pytest.mark.parametrize("op", CONVENTION_OPS)
def test_reference_satisfies_its_conventions_at_the_kinks(op):
    [res] = conventions.check_op(registry.get(op), Implementation.wrap(None))
    assert res.status == "pass" and res.examples >= 1 and res.worst_error is not None, res.message


def test_kink_cases_sit_on_the_kink():
    """The cases are where the registry samples never go: at distance 0 from a kink."""
    for op in CONVENTION_OPS:
        spec = registry.get(op)
        if spec.kinks:
            assert any(spec.kink_distance(c.sample) == 0.0 for c in conventions.cases(spec)), op


@pytest.mark.parametrize("name,op,convention_word", [
    ("relu_prime_at_zero_is_one", "relu", "relu'(0) = 0"),
    ("max_pool2d_last_max_on_ties", "max_pool2d", "first maximum"),
    ("perceptron_step_at_zero_is_one", "perceptron", "step(0) = 0"),
])
def test_conventions_check_catches_what_the_samples_cannot(name, op, convention_word):
    result = gradspec.check(LIB[name].impl, ops=[op])
    by_check = {c.check: c for c in result.ops[op].checks}
    assert by_check["conventions"].status == "fail"
    assert convention_word in by_check["conventions"].findings[0].message
    if op in ("relu", "max_pool2d"):
        assert by_check["backward"].status == "pass"  # away from the kink the mutant is right


# --------------------------------------------------------------------------- a cause goes to the check whose data it explains
def _sm_forward_over_batch(x):
    x = np.asarray(x, dtype=np.float64)
    e = np.exp(x - x.max(axis=0, keepdims=True))
    return e / e.sum(axis=0, keepdims=True)  # normalises over the first axis


def _sm_backward_3d_only(x, dy):
    y = gradspec.reference.softmax_forward(x)
    return y * (dy - np.sum(dy * y, axis=2, keepdims=True))  # AxisError on 2-D input


def test_a_cause_is_attached_only_to_the_check_it_explains():
    """A wrong forward (no known cause) and a backward raising AxisError on 2-D input: the input class goes
    to the backward's exception only; the forward gets "no known cause", never the other check's cause."""
    impl = make("two_unrelated", softmax_forward=_sm_forward_over_batch, softmax_backward=_sm_backward_3d_only)
    result = gradspec.check(impl, ops=["softmax"], examples=6, seed=0)
    by = {c.check: c for c in result.ops["softmax"].checks if c.oracle == "fd64"}
    fwd, bwd = by["forward"], by["backward"]
    assert fwd.status == "fail" and bwd.status == "error"
    assert not fwd.info.get("diagnosis") and not any(f.details.get("diagnosis") for f in fwd.findings)
    assert fwd.info["no_known_cause"]["output"] == "forward"
    assert "raises_for_input_class" not in fwd.message
    [d] = bwd.info["diagnosis"]
    assert d["name"] == "raises_for_input_class"
    assert d["facts"]["function"] == "softmax_backward" and d["facts"]["exception"] == "AxisError"
    assert tuple(d["facts"]["condition"]) == ("x.ndim", "=", 2.0)
    assert "no known cause" not in bwd.message


def test_a_gradient_cause_is_not_given_to_the_forward():
    """backward_ignores_dy explains dx, never the (correct) forward, nor the kink convention of another op."""
    name = "affine_backward_ignores_dy"
    op, impl, _ = DIAGNOSIS_MUTANTS[name]
    result = gradspec.check(impl, ops=[op], seed=0)
    by = {c.check: c for c in result.ops[op].checks if c.oracle == "fd64"}
    assert by["forward"].status == "pass" and "diagnosis" not in by["forward"].info
    assert by["backward"].info["diagnosis"][0]["name"] == "backward_ignores_dy"
    for f in by["backward"].findings:
        assert f.details["diagnosis"][0]["name"] == "backward_ignores_dy"


def test_a_forward_only_bug_leaves_the_backward_finding_unblamed():
    """eps outside the sqrt in the forward only: the backward (right, but compared with differences of a wrong
    forward) is marked as agreeing with the spec, never given the forward's cause."""
    bn = diagnosis.VARIANTS["batchnorm"][1]
    assert bn.name == "batchnorm_eps_outside_sqrt"
    impl = make("bn_fwd_only", batchnorm_forward=bn.overrides["batchnorm_forward"])
    result = gradspec.check(impl, ops=["batchnorm"], seed=0)
    by = {c.check: c for c in result.ops["batchnorm"].checks if c.oracle == "fd64"}
    assert by["forward"].info["diagnosis"][0]["name"] == "batchnorm_eps_outside_sqrt"
    assert by["backward"].status == "fail"  # central differences of the wrong forward
    assert not by["backward"].info.get("diagnosis") and "probable bug" not in by["backward"].message
    assert by["backward"].findings and all("agrees_with_spec" in f.details for f in by["backward"].findings)
    assert "dx" in by["backward"].info["agrees_with_spec"]
    assert set(by["backward"].info["agrees_with_spec"]) <= {"dx", "dgamma", "dbeta"}


# --------------------------------------------------------------------------- two bugs at once
def test_two_cooccurring_batchnorm_bugs_are_named_together():
    """eps hard-coded to 1e-5 AND per-activation statistics on 4-D input: no single variant explains the data,
    the pair does, and is named with both causes and the fixed value."""
    result = gradspec.check(BATCHNORM_TWO_BUGS, ops=["batchnorm"], seed=0)
    fwd = {c.check: c for c in result.ops["batchnorm"].checks}["forward"]
    top = fwd.info["diagnosis"][0]
    assert top["name"] == "batchnorm_per_activation_statistics+ignored_hyperparameter"
    assert tuple(top["facts"]["causes"]) == ("batchnorm_per_activation_statistics", "ignored_hyperparameter")
    assert top["facts"]["hyperparameter"] == "eps" and top["facts"]["value"] == 1e-5
    singles = [d["name"] for d in fwd.info["diagnosis"]]
    assert "batchnorm_per_activation_statistics" not in singles  # refuted alone: the eps is off too


def test_each_of_the_two_bugs_alone_is_named_alone():
    for name, want in (("batchnorm_per_activation_4d", "batchnorm_per_activation_statistics"),
                       ("batchnorm_fixed_eps", "ignored_hyperparameter")):
        op, impl, _ = DIAGNOSIS_MUTANTS[name]
        an = diagnosis.analyse(registry.get(op), Implementation.wrap(impl), rng=np.random.default_rng(0))
        assert [n.diagnosis.name for n in an.named] == [want], name


# --------------------------------------------------------------------------- ignored hyperparameters
@pytest.mark.parametrize("name,hyper,value", [("batchnorm_fixed_eps", "eps", 1e-5), ("momentum_fixed_mu", "momentum", 0.9),
                                              ("sgd_fixed_lr", "lr", 0.01), ("dropout_fixed_p", "p", 0.5)])
def test_ignored_hyperparameter_names_the_hyperparameter_and_its_value(name, hyper, value):
    op, impl, _ = DIAGNOSIS_MUTANTS[name]
    result = gradspec.check(impl, ops=[op], seed=0)
    top = [c for c in _failing(result, op) if c.info.get("diagnosis")][0].info["diagnosis"][0]
    assert top["name"] == "ignored_hyperparameter"
    assert top["facts"] == {"hyperparameter": hyper, "value": value}


# --------------------------------------------------------------------------- exceptions for one class of inputs
@pytest.mark.parametrize("name", sorted(INPUT_CLASS_MUTANTS))
def test_an_exception_is_related_to_its_class_of_inputs(name):
    op, impl, feature, rel, value = INPUT_CLASS_MUTANTS[name]
    spec = registry.get(op)
    rng = np.random.default_rng(0)
    samples = [spec.sample(rng) for _ in range(40)]
    in_class = {"=": lambda f: f == value, ">": lambda f: f > value}[rel]
    raising = [s for s in samples if in_class(diagnosis.features(spec, s)[feature])]
    an = diagnosis.analyse(spec, Implementation.wrap(impl), raising[:1], np.random.default_rng(1))
    found = [n for n in an.named if n.diagnosis.name == "raises_for_input_class"]
    assert found  # one per function that raises (conv2d's backward calls its forward)
    for n in found:
        facts = dict(n.diagnosis.facts)
        assert facts["condition"] == (feature, rel, float(value)), facts
        assert facts["raised"] >= 2 and facts["not_raised"] >= 2
        assert facts["also_consistent"] == ()


def test_an_exception_of_two_classes_is_named_with_both_conditions():
    """squeeze() then 2-D indexing: raises whenever N = 1 or K = 1; no single condition separates the samples."""
    op = registry.get("softmax_cross_entropy")
    rng = np.random.default_rng(0)
    one = {"z": rng.normal(size=(1, 3)), "labels": np.array([2])}
    an = diagnosis.analyse(op, Implementation.wrap(SCE_SQUEEZED), [one], np.random.default_rng(1))
    [n] = [n for n in an.named if n.diagnosis.name == "raises_for_input_class"]
    facts = dict(n.diagnosis.facts)
    how, a, b = facts["condition"]
    assert how == "or" and {a, b} == {("N", "=", 1.0), ("K", "=", 1.0)}, facts
    assert n.diagnosis.confidence <= 0.7  # two conditions: a weaker claim than one


def test_separate_two_finds_or_and_and():
    rows = [({"N": 1.0, "K": 3.0}, True), ({"N": 4.0, "K": 1.0}, True), ({"N": 1.0, "K": 2.0}, True),
            ({"N": 2.0, "K": 1.0}, True), ({"N": 2.0, "K": 2.0}, False), ({"N": 3.0, "K": 4.0}, False)]
    assert diagnosis.separate(rows) == []
    assert ("or", ("N", "=", 1.0), ("K", "=", 1.0)) in diagnosis.separate_two(rows)
    rows_and = [({"pad": 1.0, "stride": 2.0}, True), ({"pad": 2.0, "stride": 3.0}, True),
                ({"pad": 0.0, "stride": 2.0}, False), ({"pad": 0.0, "stride": 3.0}, False),
                ({"pad": 1.0, "stride": 1.0}, False), ({"pad": 2.0, "stride": 1.0}, False)]
    assert diagnosis.separate(rows_and) == []
    assert ("and", ("pad", ">", 0.0), ("stride", ">", 1.0)) in diagnosis.separate_two(rows_and)


def _raises_on_values(x, dy):
    if float(np.asarray(x).flat[0]) > 0:  # depends on the values, not on a class of shapes or hyperparameters
        raise ValueError("positive first element")
    return gradspec.reference.sigmoid_backward(x, dy)


def test_no_input_class_for_an_exception_that_depends_on_values():
    impl = make("values", sigmoid_backward=_raises_on_values)
    an = diagnosis.analyse(registry.get("sigmoid"), Implementation.wrap(impl), rng=np.random.default_rng(0))
    assert not [n for n in an.named if n.diagnosis.name == "raises_for_input_class"]


def test_separate_needs_samples_on_both_sides():
    rows = [({"pad": 1.0}, True), ({"pad": 2.0}, True), ({"pad": 0.0}, False)]
    assert diagnosis.separate(rows) == []  # one sample that does not raise is not enough
    assert diagnosis.separate(rows + [({"pad": 0.0}, False)]) == [("pad", ">", 0.0)]


# --------------------------------------------------------------------------- correct implementations get nothing
@pytest.mark.parametrize("op", sorted(CORRECT_REWRITES))
def test_correct_rewrites_pass_and_get_no_cause(op):
    impl = CORRECT_REWRITES[op]
    result = gradspec.check(impl, ops=[op], seed=0)
    assert result.ok, [c.message for c in result.ops[op].checks]
    an = diagnosis.analyse(registry.get(op), Implementation.wrap(impl), rng=np.random.default_rng(0))
    assert an.named == [] and all(not ev.bad for ev in an.evs)


@pytest.mark.parametrize("op", ["batchnorm", "cross_entropy", "softmax_cross_entropy", "adam", "sigmoid", "affine",
                                "momentum", "sgd", "dropout", "conv2d", "mse"])
def test_the_reference_gets_no_cause(op):
    an = diagnosis.analyse(registry.get(op), Implementation.wrap(None), rng=np.random.default_rng(0))
    assert an.named == []


def test_generic_variants_depart_from_the_spec():
    """Each generic variant (a hyperparameter fixed, dy ignored) changes some output of some probe or sample,
    so its match is evidence, and its explanation names what it changes."""
    rng = np.random.default_rng(3)
    for op_name in ("batchnorm", "dropout", "momentum", "sigmoid"):
        op = registry.get(op_name)
        call_ref = diagnosis.direct_caller(gradspec.reference)
        pool = diagnosis.probes(op, rng) + [op.sample(rng) for _ in range(4)]
        for v in diagnosis.generic_variants(op):
            call_v = diagnosis.direct_caller(v.namespace())
            shows = 0
            for s in pool:
                out_ref = diagnosis.evaluate(op, call_ref, s)
                dy = diagnosis.draw_dy(op, out_ref, rng)
                shows += bool(diagnosis.differing(diagnosis.evaluate(op, call_v, s, dy), diagnosis.evaluate(op, call_ref, s, dy)))
            assert shows, (op_name, v.explanation)


# --------------------------------------------------------------------------- never changes a verdict
def test_diagnosis_never_changes_a_verdict(monkeypatch):
    ops = ["sigmoid", "batchnorm", "conv2d", "adam", "momentum", "l2_penalty", "cross_entropy"]
    with_d = gradspec.check(SEVERAL_BROKEN, ops=ops, seed=0)
    monkeypatch.setattr(diagnosis, "annotate", lambda *a, **k: None)
    without = gradspec.check(SEVERAL_BROKEN, ops=ops, seed=0)
    assert {n: r.status for n, r in with_d.ops.items()} == {n: r.status for n, r in without.ops.items()}
    assert [(c.check, c.status, c.worst_error) for r in with_d.ops.values() for c in r.checks] == \
           [(c.check, c.status, c.worst_error) for r in without.ops.values() for c in r.checks]
    assert any(c.info.get("diagnosis") for r in with_d.ops.values() for c in r.checks)


def test_property_findings_get_only_the_cause_of_their_own_failure():
    """A property's finding carries its falsifying example as data: an exception finding gets the input class
    of that exception; a property that fails on the (wrong) forward never gets the backward's exception."""
    impl = Implementation.wrap(make("two_unrelated", softmax_forward=_sm_forward_over_batch,
                                    softmax_backward=_sm_backward_3d_only))
    op = registry.get("softmax")
    from gradspec.results import CheckResult, Finding
    exc = Finding("exception", "softmax:shapes[away]: AxisError: axis 2 is out of bounds for array of dimension 2",
                  {"property": "softmax:shapes[away]", "falsifying_example": {"x": [[0.5, 1.0], [2.0, 3.0]], "seed": 0}})
    prop = Finding("property", "softmax rows sum to 1: row sum[0] = 2.0, expected 1.0",
                   {"property": "softmax:rows_sum_to_one[away]", "falsifying_example": {"x": [[0.5, 1.0], [2.0, 3.0]], "seed": 0}})
    checks = [CheckResult("properties", "shapes[away]", "error", findings=[exc]),
              CheckResult("properties", "rows_sum_to_one[away]", "fail", findings=[prop])]
    diagnosis.annotate(op, impl, checks, np.random.default_rng(0))
    assert [d["name"] for d in checks[0].info["diagnosis"]] == ["raises_for_input_class"]
    assert exc.details["diagnosis"][0]["facts"]["exception"] == "AxisError"
    assert "diagnosis" not in checks[1].info and "diagnosis" not in prop.details


def test_time_guard_stops_the_search_but_not_the_run(monkeypatch):
    """With no time left, no pair is searched and no extra sample drawn: fewer causes, same verdicts, no error."""
    monkeypatch.setattr(diagnosis, "TIME_BUDGET_S", 0.0)
    an = diagnosis.analyse(registry.get("batchnorm"), Implementation.wrap(BATCHNORM_TWO_BUGS), rng=np.random.default_rng(0))
    assert not [n for n in an.named if "+" in n.diagnosis.name]
    result = gradspec.check(BATCHNORM_TWO_BUGS, ops=["batchnorm"], seed=0)
    assert result.ops["batchnorm"].status == "fail"


class _MlpReluHalf:
    """An MLP written independently of the catalogue (row layout) whose hidden relu has the slope ½ at 0,
    autograd's convention for np.maximum(z, 0)."""

    @staticmethod
    def mlp_loss_and_grads(params, X, T, hidden, output):
        import gradspec.reference as ref

        if hidden != "relu":
            return ref.mlp_loss_and_grads(params, X, T, hidden, output)
        acts, zs = [np.asarray(X, dtype=float)], []
        for l, (W, b) in enumerate(params):
            z = acts[-1] @ W + b
            zs.append(z)
            acts.append(np.maximum(z, 0.0) if l < len(params) - 1 else z)
        N = X.shape[0]
        ref_loss, _ = ref.mlp_loss_and_grads(params, X, T, hidden, output)
        if output == "identity_mse":
            delta = (acts[-1] - T) / N
        else:
            return ref.mlp_loss_and_grads(params, X, T, hidden, output)
        grads = [None] * len(params)
        for l in range(len(params) - 1, -1, -1):
            grads[l] = (acts[l].T @ delta, delta.sum(axis=0))
            if l:
                z = zs[l - 1]
                delta = (delta @ params[l][0].T) * np.where(z > 0, 1.0, np.where(z == 0, 0.5, 0.0))
        return ref_loss, grads


def test_an_mlp_with_relu_prime_half_at_zero_is_named():
    """autograd's relu'(0) = ½ inside a network (its mlp cell in the comparison had no known cause): the kink cases
    place a pre-activation exactly at 0, and the diagnosis names the convention."""
    result = gradspec.check(_MlpReluHalf(), ops=["mlp"], oracles=["fd64"])
    assert result.ops["mlp"].status == "fail"
    names = {d["name"] for c in result.ops["mlp"].checks for d in c.info.get("diagnosis", [])}
    assert "relu_prime_at_zero_is_half" in names
