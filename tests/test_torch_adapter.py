"""The PyTorch adapter (gradspec.adapters.torch_impl): passes every op, and torch's own
conventions, used naively where they differ from the spec, are caught.

Skipped as a whole when torch is not installed (CI installs the pinned CPU wheel).
"""
from __future__ import annotations

import types

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is an optional extra: pip install torch==2.13.0")
F = torch.nn.functional

import gradspec  # noqa: E402
from gradspec import reference as ref, registry  # noqa: E402
from gradspec.adapters import torch_impl as T  # noqa: E402

pytestmark = pytest.mark.torch


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """The naive torch functions below are not wrapped like the adapter's: keep them off
    torch's intra-op thread pool, which costs milliseconds per call on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_adapter_passes_every_op_of_the_registry():
    result = gradspec.check(T, seed=0)
    bad = {name: r.status for name, r in result.ops.items() if r.status != "pass"}
    assert bad == {}
    assert result.summary["pass"] == len(registry.REGISTRY)
    assert result.implementation["version"] == f"torch {torch.__version__}"


def test_adapter_passes_with_another_seed_and_the_ci_profile():
    result = gradspec.check("gradspec.adapters.torch_impl", seed=11, profile="ci",
                            ops=["conv2d", "max_pool2d", "avg_pool2d", "batchnorm", "adam", "rmsprop", "mlp"])
    assert {n: r.status for n, r in result.ops.items()} == {n: "pass" for n in result.ops}


# --------------------------------------------------------------------------- naive uses of torch are caught
def _naive(**functions):
    return types.SimpleNamespace(__name__="naive_torch", **functions)


def _np(t):
    return t.detach().numpy().copy()


def _clip_grad_norm_torch(grads, max_norm):
    """torch.nn.utils.clip_grad_norm_ as is: scales by max_norm / (norm + 1e-6)."""
    params = []
    for g in grads:
        p = torch.nn.Parameter(torch.zeros(np.shape(g), dtype=torch.float64))
        p.grad = torch.tensor(g)
        params.append(p)
    torch.nn.utils.clip_grad_norm_(params, max_norm)
    return [_np(p.grad) for p in params]


def _bce_mean(z, t):
    """F.binary_cross_entropy_with_logits with torch's default reduction (mean over N·K)."""
    return float(F.binary_cross_entropy_with_logits(torch.tensor(z), torch.tensor(t)))


def _bce_mean_backward(z, t, dy):
    zt = torch.tensor(z, requires_grad=True)
    (g,) = torch.autograd.grad(F.binary_cross_entropy_with_logits(zt, torch.tensor(t)), zt)
    return dy * _np(g)


def _avg_pool_exclude(x, kernel, stride=None, pad=0):
    return _np(F.avg_pool2d(torch.tensor(x), kernel, stride or kernel, pad, count_include_pad=False))


def _avg_pool_exclude_backward(x, kernel, stride, pad, dy):
    xt = torch.tensor(x, requires_grad=True)
    y = F.avg_pool2d(xt, kernel, stride or kernel, pad, count_include_pad=False)
    return _np(torch.autograd.grad(y, xt, torch.tensor(dy))[0])


def _he_uniform_untransposed(shape, rng):
    """kaiming_uniform_ on the protocol's (D, M) shape as is: torch reads fan_in = M, not D."""
    t = torch.empty(tuple(shape), dtype=torch.float64)
    gen = torch.Generator().manual_seed(int(rng.integers(0, 2**31)))
    torch.nn.init.kaiming_uniform_(t, nonlinearity="relu", generator=gen)
    return _np(t)


def _he_uniform_untransposed_dense_only(shape, rng):
    return _he_uniform_untransposed(shape, rng) if len(shape) == 2 else T.init_he_uniform(shape, rng)


def _adam_amsgrad(w, g, state, lr, beta1=0.9, beta2=0.999, eps=1e-8):
    """torch.optim.Adam with amsgrad=True: not the spec's Adam once v decreases."""
    p = torch.nn.Parameter(torch.tensor(w))
    p.grad = torch.tensor(g)
    opt = torch.optim.Adam([p], lr=lr, betas=(beta1, beta2), eps=eps, amsgrad=True, foreach=False)
    if state:
        opt.state[p] = {k: (torch.tensor(float(v)) if k == "step" else torch.tensor(v)) for k, v in state.items()}
    opt.step()
    st = opt.state[p]
    return _np(p), {k: (float(v) if k == "step" else _np(v)) for k, v in st.items()}


NAIVE = {
    "clip_grad_norm": _naive(clip_grad_norm=_clip_grad_norm_torch),
    "binary_cross_entropy": _naive(binary_cross_entropy_forward=_bce_mean,
                                   binary_cross_entropy_backward=_bce_mean_backward),
    "avg_pool2d": _naive(avg_pool2d_forward=_avg_pool_exclude, avg_pool2d_backward=_avg_pool_exclude_backward),
    "init_he_uniform": _naive(init_he_uniform=_he_uniform_untransposed_dense_only),
    "adam": _naive(adam_init=lambda w: {}, adam_update=_adam_amsgrad),
}


@pytest.mark.parametrize("op", sorted(NAIVE))
def test_a_naive_torch_convention_is_caught(op):
    result = gradspec.check(NAIVE[op], ops=[op], seed=0, profile="ci")
    assert result.ops[op].status == "fail", result.ops[op]
    assert not result.ok


def test_the_adapters_mapped_versions_of_the_same_ops_pass():
    # the positive control of the test above: same ops, same seed and profile, the adapter's mapping
    result = gradspec.check(T, ops=sorted(NAIVE), seed=0, profile="ci")
    assert {n: r.status for n, r in result.ops.items()} == {n: "pass" for n in NAIVE}


def test_a_wrong_torch_backward_is_caught_and_located():
    def conv2d_backward(x, W, b, stride, pad, dy):
        dx, dW, db = T.conv2d_backward(x, W, b, stride, pad, dy)
        return dx, dW, db / 2  # a halved bias gradient

    result = gradspec.check(_naive(conv2d_forward=T.conv2d_forward, conv2d_backward=conv2d_backward), ops="conv2d")
    back = next(c for c in result.ops["conv2d"].checks if c.check == "backward")
    assert back.status == "fail"
    assert {f.details.get("argument") for f in back.findings if f.kind == "mismatch"} == {"b"}


# --------------------------------------------------------------------------- conventions the sampled checks do not reach
def test_max_pool_ties_go_to_the_first_maximum_like_the_spec():
    rng = np.random.default_rng(3)
    x = rng.integers(0, 3, size=(2, 2, 5, 5)).astype(float)  # many ties
    for kernel, stride, pad in [(2, 2, 0), (3, 1, 1), (3, 2, 1), (2, 1, 1)]:
        y = ref.max_pool2d_forward(x, kernel, stride, pad)
        dy = rng.normal(size=y.shape)
        np.testing.assert_array_equal(T.max_pool2d_forward(x, kernel, stride, pad), y)
        np.testing.assert_allclose(T.max_pool2d_backward(x, kernel, stride, pad, dy),
                                   ref.max_pool2d_backward(x, kernel, stride, pad, dy), rtol=0, atol=1e-15)


def test_relu_derivative_at_zero_is_zero():
    x = np.array([-1.0, 0.0, 2.0])
    np.testing.assert_array_equal(T.relu_backward(x, np.ones(3)), [0.0, 0.0, 1.0])


def test_momentum_mapping_holds_when_the_learning_rate_changes():
    rng = np.random.default_rng(0)
    w = rng.normal(size=(3, 2))
    s_t, s_r, w_t, w_r = T.momentum_init(w), ref.momentum_init(w), w, w
    for lr in (0.1, 0.3, 0.02, 0.5):
        g = rng.normal(size=w.shape)
        w_t, s_t = T.momentum_update(w_t, g, s_t, lr=lr, momentum=0.9)
        w_r, s_r = ref.momentum_update(w_r, g, s_r, lr=lr, momentum=0.9)
    np.testing.assert_allclose(w_t, w_r, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(s_t["v"], s_r["v"], rtol=1e-12, atol=1e-14)


def test_torch_sgd_momentum_used_naively_differs_when_lr_changes():
    # the reason for the mapping: torch's lr scales the whole buffer, the spec's only the new gradient
    rng = np.random.default_rng(0)
    w0 = rng.normal(size=4)
    p = torch.nn.Parameter(torch.tensor(w0))
    opt = torch.optim.SGD([p], lr=0.1, momentum=0.9)
    w_r, s_r = w0, ref.momentum_init(w0)
    for lr in (0.1, 0.5):
        g = rng.normal(size=4)
        for group in opt.param_groups:
            group["lr"] = lr
        p.grad = torch.tensor(g)
        opt.step()
        w_r, s_r = ref.momentum_update(w_r, g, s_r, lr=lr, momentum=0.9)
    assert np.max(np.abs(_np(p) - w_r)) > 1e-3


def test_init_is_deterministic_and_leaves_global_random_state_alone():
    torch_state, np_state = torch.random.get_rng_state().clone(), np.random.get_state()[1].copy()
    a = T.init_he_normal((30, 20), np.random.default_rng(5))
    b = T.init_he_normal((30, 20), np.random.default_rng(5))
    c = T.init_he_normal((30, 20), np.random.default_rng(6))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert torch.equal(torch.random.get_rng_state(), torch_state)
    np.testing.assert_array_equal(np.random.get_state()[1], np_state)


def test_dense_init_uses_the_protocols_fans():
    W = T.init_he_uniform((400, 10), np.random.default_rng(0))  # fan_in D = 400, not M = 10
    assert W.shape == (400, 10)
    assert np.max(np.abs(W)) <= np.sqrt(6.0 / 400)
    assert np.max(np.abs(W)) > 0.9 * np.sqrt(6.0 / 400)


@pytest.mark.parametrize("call, rule", [
    (lambda: T.affine_forward(np.ones((2, 3)), np.ones((4, 5)), np.ones(5)), "W rows must equal x columns"),
    (lambda: T.relu_backward(np.ones(3), np.ones(4)), "dy must have the forward output's shape"),
    (lambda: T.max_pool2d_forward(np.ones((1, 1, 4, 4)), 2, 1, 2), "pad must be <= kernel//2"),
    (lambda: T.batchnorm_forward(np.ones((1, 3)), np.ones(3), np.ones(3), 1e-5), "at least 2 values"),
    (lambda: T.init_he_normal((3, 4), 0), "numpy.random.Generator"),
])
def test_bad_input_raises_an_error_naming_the_rule(call, rule):
    with pytest.raises((ValueError, TypeError), match=rule):
        call()


def test_outputs_are_numpy_float64_and_inputs_untouched():
    rng = np.random.default_rng(1)
    x, W, b = rng.normal(size=(2, 3, 5, 5)), rng.normal(size=(4, 3, 3, 3)), rng.normal(size=4)
    copies = [x.copy(), W.copy(), b.copy()]
    y = T.conv2d_forward(x, W, b, 1, 1)
    grads = T.conv2d_backward(x, W, b, 1, 1, np.ones_like(y))
    assert isinstance(y, np.ndarray) and y.dtype == np.float64
    assert all(isinstance(g, np.ndarray) and g.dtype == np.float64 for g in grads)
    for a, c in zip((x, W, b), copies):
        np.testing.assert_array_equal(a, c)
    assert isinstance(T.mse_forward(np.ones((2, 2)), np.zeros((2, 2))), float)
