"""fd64's directional mode (check_directional): the VJP checked along random directions at
shapes too large for element-wise differences; it must pass the reference and catch small errors."""
from __future__ import annotations

import types

import numpy as np
import pytest

from gradspec import reference as ref, registry
from gradspec.impl import Implementation
from gradspec.oracles import fd64

pytestmark = pytest.mark.fd64


def _conv_sample(rng):
    return {"x": rng.normal(size=(4, 6, 12, 12)), "W": rng.normal(size=(5, 6, 3, 3)), "b": rng.normal(size=5),
            "stride": 1, "pad": 1}


SAMPLES = {
    "conv2d": _conv_sample,
    "batchnorm": lambda rng: {"x": rng.normal(size=(16, 4, 6, 6)), "gamma": rng.normal(size=4),
                              "beta": rng.normal(size=4), "eps": 1e-5},
    "softmax": lambda rng: {"x": rng.normal(0, 3, size=(64, 40))},
    "softmax_cross_entropy": lambda rng: {"z": rng.normal(0, 3, size=(64, 40)), "labels": rng.integers(0, 40, size=64)},
    "avg_pool2d": lambda rng: {"x": rng.normal(size=(4, 3, 16, 16)), "kernel": 3, "stride": 2, "pad": 1},
}


def _impl(name="spec", **overrides):
    ns = types.SimpleNamespace(**{f: getattr(ref, f) for op in registry.OPS for f in op.functions if hasattr(ref, f)})
    for k, v in overrides.items():
        setattr(ns, k, v)
    return Implementation(name, ns)


@pytest.mark.parametrize("op_name", sorted(SAMPLES))
def test_the_reference_passes_at_large_shapes(op_name):
    op = registry.get(op_name)
    sample = SAMPLES[op_name](np.random.default_rng(0))
    results = fd64.check_directional(op, _impl(), sample, np.random.default_rng(1))
    assert [(c.check, c.status) for c in results] == [("forward", "pass"), ("backward_directional", "pass")]
    assert results[1].worst_error < 0.1


@pytest.mark.parametrize("scale", [1 + 1e-4, 1 - 1e-5, -1.0])
def test_a_slightly_scaled_weight_gradient_is_caught_and_located(scale):
    def conv2d_backward(*args):
        dx, dW, db = ref.conv2d_backward(*args)
        return dx, dW * scale, db

    op = registry.get("conv2d")
    results = fd64.check_directional(op, _impl(conv2d_backward=conv2d_backward), _conv_sample(np.random.default_rng(0)),
                                     np.random.default_rng(1))
    back = results[1]
    assert back.status == "fail" and back.worst_error > 1
    assert {f.details["argument"] for f in back.findings} == {"W"}


def test_one_wrong_element_of_a_gradient_is_caught():
    def softmax_backward(x, dy):
        dx = ref.softmax_backward(x, dy)
        dx[3, 7] += 1e-3 * max(1.0, abs(dx[3, 7]))
        return dx

    sample = SAMPLES["softmax"](np.random.default_rng(0))
    results = fd64.check_directional(registry.get("softmax"), _impl(softmax_backward=softmax_backward), sample,
                                     np.random.default_rng(1))
    assert results[1].status == "fail"


def test_a_forward_that_differs_from_the_spec_is_caught_even_with_a_consistent_backward():
    def avg_pool2d_forward(x, kernel, stride=None, pad=0):
        return 2 * ref.avg_pool2d_forward(x, kernel, stride, pad)

    def avg_pool2d_backward(x, kernel, stride, pad, dy):
        return 2 * ref.avg_pool2d_backward(x, kernel, stride, pad, dy)

    sample = SAMPLES["avg_pool2d"](np.random.default_rng(0))
    results = fd64.check_directional(registry.get("avg_pool2d"),
                                     _impl(avg_pool2d_forward=avg_pool2d_forward, avg_pool2d_backward=avg_pool2d_backward),
                                     sample, np.random.default_rng(1))
    assert [(c.check, c.status) for c in results] == [("forward", "fail"), ("backward_directional", "pass")]


def test_it_refuses_ops_without_a_gradient():
    with pytest.raises(ValueError, match="applies to differentiable ops and losses"):
        fd64.check_directional(registry.get("adam"), _impl(), {}, np.random.default_rng(0))
