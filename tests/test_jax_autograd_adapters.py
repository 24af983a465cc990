"""The JAX and HIPS autograd adapters (gradspec.adapters.jax_impl, .autograd_impl).

Each framework's conventions are checked as they are: where one differs from the spec (autograd's relu'(0)
and max-pool ties), gradspec reports it as a named finding; where it agrees, the op passes. The tests skip
when the framework is not installed (``pip install "gradspec[jax,autograd]"``). GRADSPEC_ADAPTERS_DEEP=1
checks every op the adapters provide (JAX: about 27 s of CPU with fd64); the default run checks a subset on one sample per op.

The ops whose records hold an ``xp`` form (``RECORD_OPS``) are built by ``gradspec.adapters.functional.record_ops``:
each passes every oracle through each adapter or shows the framework's difference as the op's named variant; the
builder's own behaviour (a wrong form caught, the spec's errors raised before tracing) is tested on planted forms.
"""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

import gradspec

DEEP = os.environ.get("GRADSPEC_ADAPTERS_DEEP") == "1"
PROVIDED = ["sigmoid", "tanh", "relu", "softmax", "step", "affine", "mse", "cross_entropy", "softmax_cross_entropy",
            "binary_cross_entropy", "conv2d", "max_pool2d", "avg_pool2d", "batchnorm", "dropout", "l2_penalty", "mlp"]


def _diagnoses(result, op) -> str:
    return json.dumps(result.to_dict()["ops"][op])


@pytest.mark.jax
def test_jax_adapter_passes_the_ops_where_jax_agrees_with_the_spec():
    pytest.importorskip("jax")
    from gradspec.adapters import jax_impl

    ops = PROVIDED if DEEP else ["relu", "max_pool2d"]
    result = gradspec.check(jax_impl, ops=ops, examples=None if DEEP else 1)
    assert {op: r.status for op, r in result.ops.items()} == {op: "pass" for op in ops}
    # float64 is on: a float32 JAX would miss the forward tolerance by 1e7
    assert jax_impl.sigmoid_forward(np.array([0.1])).dtype == np.float64
    assert gradspec.check(jax_impl, ops=["sgd"]).ops["sgd"].status == "not_implemented"


@pytest.mark.jax
def test_jax_max_pool_through_jnp_max_splits_ties_and_gradspec_names_it():
    """The same adapter with the pool written as jnp.max over the windows (whose VJP splits a tie evenly):
    the framework's rule is not hidden, it is gradspec's named finding."""
    pytest.importorskip("jax")
    if not DEEP:
        pytest.skip("deep run only (GRADSPEC_ADAPTERS_DEEP=1): JAX compiles every primitive for every new shape, "
                    "about 5 s of CPU here; the autograd test shows a split tie as a named finding by default")
    import types

    import jax.numpy as jnp

    from gradspec.adapters import functional

    def max_pool(x, k, s, p):
        OH, OW = functional.out_size(x.shape[2], k, s, p), functional.out_size(x.shape[3], k, s, p)
        xp = jnp.pad(x, ((0, 0), (0, 0), (p, p), (p, p)), constant_values=-jnp.inf)
        return jnp.max(functional.windows(jnp, xp, k, s, OH, OW), axis=-1)

    import jax

    backend = functional.Backend(jnp, _jax_vjp, jnp.asarray, jax.nn.relu, jax.nn.sigmoid,
                                 jax.nn.log_softmax, None, max_pool, None)
    impl = types.SimpleNamespace(__name__="jnp_max_pool", **{k: v for k, v in functional.build(backend).items()
                                                              if k.startswith("max_pool2d")})
    result = gradspec.check(impl, ops=["max_pool2d"], examples=1)
    assert result.ops["max_pool2d"].status == "fail"
    assert [c.check for c in result.ops["max_pool2d"].checks if c.status == "fail"] == ["conventions"]
    assert "max_pool_tie_split" in _diagnoses(result, "max_pool2d")


def _jax_vjp(f, args, dy):
    import jax
    import jax.numpy as jnp

    y, pull = jax.vjp(f, *args)
    return y, pull(jnp.asarray(dy, dtype=jnp.float64).reshape(jnp.shape(y)))


@pytest.mark.autograd
def test_autograd_adapter_shows_autograd_conventions_as_named_findings():
    pytest.importorskip("autograd")
    from gradspec.adapters import autograd_impl

    ops = PROVIDED if DEEP else ["relu", "max_pool2d", "avg_pool2d", "conv2d", "softmax_cross_entropy", "batchnorm"]
    result = gradspec.check(autograd_impl, ops=ops)
    differs = {"relu": "relu_prime_at_zero_is_half", "max_pool2d": "max_pool_tie_split", "mlp": None}
    for op in ops:
        r = result.ops[op]
        if op in differs:
            assert r.status == "fail", op
            assert [c.check for c in r.checks if c.status == "fail"] == ["conventions"], op
            if differs[op]:
                assert differs[op] in _diagnoses(result, op)
        else:
            assert r.status == "pass", (op, [c.message for c in r.checks if c.status != "pass"])


# --------------------------------------------------------------------------- the ops built from their records' forms
#: the ops whose records hold an ``xp`` form (``OpSpec.xp``): both adapters build them with nothing written there
RECORD_OPS = ["leaky_relu", "gelu", "gelu_tanh", "layernorm", "embedding", "residual", "attention", "rnn"]
#: the framework's differences from the spec, each the name of the op's catalogue variant
AUTOGRAD_FINDINGS = {"residual": "relu_prime_at_zero_is_half"}  # autograd's maximum splits a tie
JAX_FINDINGS = {"leaky_relu": "leaky_relu_prime_at_zero_is_one"}  # jax.nn.leaky_relu is where(x >= 0, ...)


def _failed(result, op):
    return [c for c in result.ops[op].checks if c.status == "fail"]


def _named(checks) -> set:
    return {d["name"] for c in checks for d in (c.info or {}).get("diagnosis", [])}


def _assert_pass_or_named(result, ops, findings, required=True):
    """Each op passes, or fails with the framework's named variant (``required``: it must fail; False for an oracle
    that does not look at the op's kinks, e.g. symbolic)."""
    for op in ops:
        bad = _failed(result, op)
        if op in findings and (bad or required):
            assert bad, f"{op}: expected the finding {findings[op]}, but every check passed"
            # every oracle's failing check names the variant; of the properties, the convention's does (a
            # property that reruns another oracle, agrees_with_fd64, carries that oracle's message, no diagnosis)
            assert all(findings[op] in _named([c]) for c in bad if c.oracle != "properties"
                       or "convention" in c.check), (op, [(c.check, c.message[:200]) for c in bad])
            assert findings[op] in _named(bad)
        else:
            assert result.ops[op].status == "pass", (op, [(c.check, c.message[:200]) for c in bad])


def test_every_record_form_is_provided_by_both_adapters():
    import importlib

    from gradspec.registry import OPS

    assert sorted(op.name for op in OPS if op.xp is not None) == sorted(RECORD_OPS)
    for name in ("jax", "autograd"):
        pytest.importorskip(name)
        impl = importlib.import_module(f"gradspec.adapters.{name}_impl")
        missing = [f for op in OPS if op.xp is not None for f in op.functions if not callable(getattr(impl, f, None))]
        assert missing == [], name


@pytest.mark.autograd
def test_autograd_record_ops_pass_every_oracle_or_show_the_named_variant():
    pytest.importorskip("autograd")
    from gradspec.adapters import autograd_impl

    result = gradspec.check(autograd_impl, ops=RECORD_OPS, oracles=["fd64", "mpmath"], seed=0,
                            examples=None if DEEP else 1)
    _assert_pass_or_named(result, RECORD_OPS, AUTOGRAD_FINDINGS)
    for oracle, ops in (("symbolic", RECORD_OPS if DEEP else ["gelu"]),
                        ("properties", RECORD_OPS if DEEP else ["residual", "attention"])):
        result = gradspec.check(autograd_impl, ops=ops, oracles=[oracle], seed=0, examples=None if DEEP else 1)
        _assert_pass_or_named(result, ops, AUTOGRAD_FINDINGS, required=oracle == "properties")


@pytest.mark.jax
def test_jax_record_ops_pass_or_show_the_named_variant():
    pytest.importorskip("jax")
    from gradspec.adapters import jax_impl

    oracles = ["fd64", "mpmath", "symbolic", "properties"] if DEEP else ["fd64"]
    ops = RECORD_OPS if DEEP else ["leaky_relu", "embedding", "attention"]
    result = gradspec.check(jax_impl, ops=ops, oracles=oracles, seed=0, examples=None if DEEP else 1)
    _assert_pass_or_named(result, ops, JAX_FINDINGS)


@pytest.mark.parametrize("adapter", ["autograd_impl", "jax_impl"])
def test_golden_vectors_pass_the_record_ops_of_each_adapter(adapter, tmp_path):
    pytest.importorskip(adapter.split("_")[0])
    import importlib

    from gradspec import vectors
    from gradspec.oracles import vectors as vectors_oracle

    impl = importlib.import_module(f"gradspec.adapters.{adapter}")
    ops = RECORD_OPS if DEEP else ["gelu", "embedding", "attention", "rnn"] if adapter == "autograd_impl" else ["rnn"]
    vectors.write(str(tmp_path), ops=ops, cases=2, seed=3)
    result = vectors_oracle.check_from_vectors(str(tmp_path), impl, ops=ops)
    findings = AUTOGRAD_FINDINGS if adapter == "autograd_impl" else JAX_FINDINGS  # the vectors hold kink cases
    assert {op: result.ops[op].status for op in ops} == {op: "fail" if op in findings else "pass" for op in ops}


# --------------------------------------------------------------------------- the builder (functional.from_record)
def _op(name):
    from gradspec.registry import OPS

    return next(op for op in OPS if op.name == name)


def _built(adapter, op, form):
    import types

    fns = adapter_functional().from_record(op, form, adapter.RECORD_BACKEND)
    return types.SimpleNamespace(__name__=f"planted_{op.name}", **fns)


def adapter_functional():
    from gradspec.adapters import functional

    return functional


def leaky_relu_as_maximum(xp, x, alpha):
    """A plausible rewrite, max(x, alpha·x), equal in value: autograd's gradient of maximum splits the tie at 0."""
    return xp.maximum(x, alpha * x)


def gelu_with_erf_of_half_x(xp, x):
    """A wrong form: erf(x/2) for erf(x/√2)."""
    return 0.5 * x * (1.0 + xp.erf(x / 2.0))


@pytest.mark.autograd
def test_a_planted_record_with_a_wrong_xp_form_is_caught_and_the_records_own_passes():
    pytest.importorskip("autograd")
    import dataclasses

    from gradspec.adapters import autograd_impl
    from gradspec.spec import Ref

    import types

    op = dataclasses.replace(_op("gelu"), xp=Ref(__name__, "gelu_with_erf_of_half_x"))
    fns = adapter_functional().record_ops(autograd_impl.XP, autograd_impl.RECORD_BACKEND, ops=[op])
    assert sorted(fns) == ["gelu_backward", "gelu_forward"]
    impl = types.SimpleNamespace(__name__="planted", **fns)
    result = gradspec.check(impl, ops=["gelu"], oracles=["fd64"], seed=0, examples=1)
    assert {c.check for c in _failed(result, "gelu")} >= {"forward"}
    assert gradspec.check(autograd_impl, ops=["gelu"], oracles=["fd64"], seed=0, examples=1).ops["gelu"].status == "pass"


@pytest.mark.autograd
def test_a_form_equal_in_value_but_differentiated_by_the_framework_shows_the_frameworks_tie_rule():
    """max(x, αx) = leaky_relu(x) for 0 <= α < 1, but autograd's VJP of maximum at the tie x = 0 is (1 + α)/2:
    the builder differentiates the form as written, so gradspec sees the framework's rule at the kink."""
    pytest.importorskip("autograd")
    from gradspec.adapters import autograd_impl

    impl = _built(autograd_impl, _op("leaky_relu"), lambda x, alpha: leaky_relu_as_maximum(autograd_impl.XP, x, alpha))
    result = gradspec.check(impl, ops=["leaky_relu"], oracles=["fd64"], seed=0, examples=1)
    assert [c.check for c in _failed(result, "leaky_relu")] == ["conventions"]
    x = np.array([-1.0, 0.0, 2.0])
    assert np.array_equal(impl.leaky_relu_backward(x, 0.25, np.ones(3)), [0.25, 0.625, 1.0])


@pytest.mark.autograd
def test_the_builder_passes_traced_arrays_only_for_differentiable_arguments():
    pytest.importorskip("autograd")
    from gradspec.adapters import autograd_impl

    seen = []

    def spy(ids, E):
        seen.append((type(ids), ids.dtype, type(E).__module__.split(".")[0]))
        return E[ids]

    impl = _built(autograd_impl, _op("embedding"), spy)
    ids, E = np.array([[1, 0], [1, 2]], dtype=np.int32), np.arange(6.0).reshape(3, 2)
    dE = impl.embedding_backward(ids, E, np.ones((2, 2, 2)))
    assert seen[-1][:2] == (np.ndarray, np.dtype(np.int64))  # the ids: a concrete NumPy int64 copy
    assert seen[-1][2] == "autograd"  # E: traced by autograd
    assert np.array_equal(dE, [[1.0, 1.0], [2.0, 2.0], [1.0, 1.0]])  # id 1, twice, accumulates
    assert ids.dtype == np.int32 and np.array_equal(E, np.arange(6.0).reshape(3, 2))  # inputs untouched


@pytest.mark.parametrize("adapter", ["autograd_impl", "jax_impl"])
def test_the_specs_errors_are_raised_before_tracing_with_the_rule_named(adapter):
    pytest.importorskip(adapter.split("_")[0])
    import importlib

    impl = importlib.import_module(f"gradspec.adapters.{adapter}")
    Q = K = V = np.ones((2, 2))
    with pytest.raises(ValueError, match="fully masked"):
        impl.attention_backward(Q, K, V, np.array([[True, False], [False, False]]), np.ones((2, 2)))
    with pytest.raises(ValueError, match=r"\[0, V\)"):
        impl.embedding_forward(np.array([0, -1]), np.ones((3, 2)))
    with pytest.raises(ValueError, match=r"\[0, V\)"):
        impl.embedding_backward(np.array([3]), np.ones((3, 2)), np.ones((1, 2)))
    with pytest.raises(ValueError, match="dy must have the forward output's shape"):
        impl.gelu_backward(np.ones(3), np.ones(4))
    with pytest.raises(TypeError, match="takes 2 arguments"):
        impl.leaky_relu_forward(np.ones(3))
    with pytest.raises(ValueError, match="alpha"):
        impl.leaky_relu_forward(np.ones(3), 1.5)
    with pytest.raises(ValueError, match="layernorm: gamma and beta"):
        impl.layernorm_forward(np.ones((2, 3)), np.ones(2), np.ones(2), 1e-5)
    with pytest.raises(ValueError, match="rnn: shapes"):
        impl.rnn_forward(np.ones((1, 2, 3)), np.ones((1, 2)), np.ones((2, 2)), np.ones((2, 2)), np.ones(2))
    with pytest.raises(ValueError, match="residual: shapes"):
        impl.residual_forward(np.ones((2, 2)), np.ones((2, 3)), np.ones(3), np.ones((3, 3)), np.ones(2))


@pytest.mark.jax
def test_jax_dot_product_attention_is_float32_in_its_softmax_and_the_property_names_its_masked_row():
    """Why the JAX adapter's attention is the record's xp form and not ``jax.nn.dot_product_attention``: JAX's
    function computes its softmax in float32 whatever the dtype, and gives a fully masked row the mean of V."""
    pytest.importorskip("jax")
    import jax
    import jax.numpy as jnp

    from gradspec.adapters import jax_impl
    from gradspec.ops import attention as rec

    def sdpa(Q, K, V, mask):
        """(..., T, d) as JAX's (B, T, heads = 1, d); JAX needs V's width d: zero columns pad the narrower side."""
        lead, (Tq, d), (Tk, dv) = tuple(Q.shape[:-2]), tuple(Q.shape[-2:]), tuple(V.shape[-2:])
        B, w = int(np.prod(lead, dtype=np.int64)), max(d, dv)
        m = None if mask is None else np.broadcast_to(np.asarray(mask) != 0, lead + (Tq, Tk)).reshape(B, 1, Tq, Tk)
        q, k, v = (jnp.pad(jnp.reshape(a, (B, a.shape[-2], 1, a.shape[-1])),
                           ((0, 0), (0, 0), (0, 0), (0, w - a.shape[-1]))) for a in (Q, K, V))
        y = jax.nn.dot_product_attention(q, k, v, mask=m, scale=1.0 / np.sqrt(d), implementation="xla")
        return jnp.reshape(y[..., :dv], lead + (Tq, dv))

    impl = _built(jax_impl, _op("attention"), sdpa)
    s = _op("attention").sample.draw({"batch": (2,), "Tq": 3, "Tk": 3, "d": 2, "dv": 2, "mask": "causal"},
                                     np.random.default_rng(3))
    s["seed"] = 1
    with pytest.raises(AssertionError, match="returned finite values"):
        rec.prop_fully_masked_row_is_rejected(impl, s)
    if DEEP:  # about 7 s of JAX compilation
        result = gradspec.check(impl, ops=["attention"], oracles=["fd64"], seed=0, examples=1)
        assert "forward" in {c.check for c in _failed(result, "attention")}
        assert gradspec.check(jax_impl, ops=["attention"], oracles=["fd64"], seed=0,
                              examples=1).ops["attention"].status == "pass"


@pytest.mark.jax
def test_jax_standardize_with_its_default_fast_variance_fails_the_hard_inputs():
    """Why the record's JAX layernorm passes ``algorithm="stable"``: jax.nn.standardize's default, E[x²] − E[x]²,
    loses digits to cancellation where |mean| ≫ spread; the properties' hard inputs show it (the stable form
    passes). Under jax.jit, as the adapter runs it, the fd64 and mpmath samples at seed 0 do not."""
    pytest.importorskip("jax")
    if not DEEP:
        pytest.skip("deep run only (GRADSPEC_ADAPTERS_DEEP=1): the properties of layernorm compile JAX code "
                    "for every sample, about 60 s")
    import jax

    from gradspec.adapters import jax_impl

    def fast(x, gamma, beta, eps):
        axes = tuple(range(len(x.shape) - len(gamma.shape), len(x.shape)))
        return jax.nn.standardize(x, axis=axes, epsilon=float(eps)) * gamma + beta

    result = gradspec.check(_built(jax_impl, _op("layernorm"), fast), ops=["layernorm"], oracles=["properties"],
                            seed=0, examples=3)
    assert {"forward_matches_spec[hard]", "gradient_fd64[hard]"} <= {c.check for c in _failed(result, "layernorm")}
    assert not {c.check for c in _failed(result, "layernorm") if not c.check.endswith("[hard]")}
    assert gradspec.check(jax_impl, ops=["layernorm"], oracles=["properties"], seed=0,
                          examples=3).ops["layernorm"].status == "pass"


@pytest.mark.jax
def test_jax_compiled_forms_are_cached_by_the_values_they_fix_not_only_by_shape():
    """The JAX adapter compiles a record form once per (shapes, arguments that are not traced): a second call with
    another alpha, other ids or another mask of the same shape must not reuse the first call's constants."""
    pytest.importorskip("jax")
    from gradspec import reference as ref
    from gradspec.adapters import jax_impl

    x = np.array([-2.0, -0.5, 1.0])
    for alpha in (0.1, 0.3, 0.1):
        np.testing.assert_allclose(jax_impl.leaky_relu_backward(x, alpha, np.ones(3)),
                                   ref.leaky_relu_backward(x, alpha, np.ones(3)), rtol=0, atol=0)
    E = np.arange(8.0).reshape(4, 2)
    for ids in (np.array([0, 1]), np.array([3, 3]), np.array([0, 1])):
        assert np.array_equal(jax_impl.embedding_forward(ids, E), E[ids])
        assert np.array_equal(jax_impl.embedding_backward(ids, E, np.ones((2, 2))),
                              ref.embedding_backward(ids, E, np.ones((2, 2))))
    rng = np.random.default_rng(0)
    Q, K, V = rng.normal(size=(3, 2)), rng.normal(size=(3, 2)), rng.normal(size=(3, 2))
    for mask in (None, ref.causal_mask(3, 3), np.ones((3, 3), bool), ref.causal_mask(3, 3).T):
        np.testing.assert_allclose(jax_impl.attention_forward(Q, K, V, mask), ref.attention_forward(Q, K, V, mask),
                                   rtol=1e-13, atol=1e-15)
