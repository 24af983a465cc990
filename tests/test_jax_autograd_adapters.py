"""The JAX and HIPS autograd adapters (gradspec.adapters.jax_impl, .autograd_impl).

Each framework's conventions are checked as they are: where one differs from the spec (autograd's relu'(0)
and max-pool ties), gradspec reports it as a named finding; where it agrees, the op passes. The tests skip
when the framework is not installed (``pip install "gradspec[jax,autograd]"``). GRADSPEC_ADAPTERS_DEEP=1
checks every op the adapters provide (JAX: about 27 s of CPU with fd64); the default run checks a subset on one sample per op.
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
