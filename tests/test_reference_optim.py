"""Reference optimisers: pure (init, update) pairs for sgd, momentum, adagrad, rmsprop, adam."""
import math

import numpy as np
import pytest

import gradspec.reference as ref
from gradspec import registry
from _impls import assert_no_mutation, strict

NAMES = ["sgd", "momentum", "adagrad", "rmsprop", "adam"]


def run(name, w, grads, **hyper):
    state = getattr(ref, f"{name}_init")(w)
    out = []
    for g in grads:
        w, state = getattr(ref, f"{name}_update")(w, np.asarray(g, dtype=float), state, **hyper)
        out.append(w)
    return out, state


def test_sgd_hand_values():
    # w − lr·g = (1 − 0.05, 2 + 0.1)
    (w1,), state = run("sgd", np.array([1.0, 2.0]), [[0.5, -1.0]], lr=0.1)
    np.testing.assert_allclose(w1, [0.95, 2.1], rtol=1e-15)
    assert state == {}


def test_momentum_hand_values():
    # v1 = −0.1·1 = −0.1, w1 = 0.9; v2 = 0.9·(−0.1) − 0.1 = −0.19, w2 = 0.71; v3 = −0.171 + 0.1 (g = −1) = −0.071, w3 = 0.639
    ws, state = run("momentum", np.array([1.0]), [[1.0], [1.0], [-1.0]], lr=0.1, momentum=0.9)
    np.testing.assert_allclose(np.concatenate(ws), [0.9, 0.71, 0.639], rtol=1e-14)
    np.testing.assert_allclose(state["v"], [-0.071], rtol=1e-13)


def test_adagrad_eps_is_outside_the_root():
    # g = 1e−7, eps = 1e−7, lr = 1: r = 1e−14, √r = 1e−7 -> w = 1 − 1e−7/(1e−7 + 1e−7) = 1/2
    # (eps inside the root would give 1 − 1e−7/√(1e−14 + 1e−7) ≈ 1 − 3.2e−4)
    (w1,), _ = run("adagrad", np.array([1.0]), [[1e-7]], lr=1.0, eps=1e-7)
    np.testing.assert_allclose(w1, [0.5], rtol=1e-12)
    # accumulation: g = 2 then 2: r = 4 then 8 -> w = 1 − 0.1·2/(2 + eps) − 0.1·2/(√8 + eps)
    ws, st = run("adagrad", np.array([1.0]), [[2.0], [2.0]], lr=0.1, eps=1e-7)
    np.testing.assert_allclose(ws[-1], [1 - 0.2 / (2 + 1e-7) - 0.2 / (math.sqrt(8) + 1e-7)], rtol=1e-15)
    np.testing.assert_array_equal(st["cache"], [8.0])


def test_adagrad_default_eps_is_1e_7():
    (w1,), _ = run("adagrad", np.array([1.0]), [[1e-7]], lr=1.0)
    np.testing.assert_allclose(w1, [0.5], rtol=1e-12)


def test_rmsprop_hand_values():
    # decay 0.75, g = 1e−7: r = 0.25·1e−14, √r = 0.5e−7; eps = 1e−7 outside: step = lr·1e−7/1.5e−7 = 2lr/3 = 0.2
    (w1,), st = run("rmsprop", np.array([1.0]), [[1e-7]], lr=0.3, decay=0.75, eps=1e-7)
    np.testing.assert_allclose(w1, [0.8], rtol=1e-12)
    np.testing.assert_allclose(st["cache"], [0.25e-14], rtol=1e-15)
    # default decay 0.99, eps 1e−7: g = 1 -> r = 0.01, w = 1 − lr/(0.1 + 1e−7)
    (w1,), _ = run("rmsprop", np.array([1.0]), [[1.0]], lr=0.01)
    np.testing.assert_allclose(w1, [1 - 0.01 / (0.1 + 1e-7)], rtol=1e-15)


def test_adam_first_step_uses_t_equal_1_with_bias_correction():
    # t = 1: m̂ = g, v̂ = g² -> w = w − lr·g/(|g| + eps) ≈ w − lr·sign(g)
    # (without bias correction the step would be lr·0.1g/(√0.001·|g|) ≈ 3.16·lr)
    (w1,), st = run("adam", np.array([1.0, -2.0]), [[0.5, -3.0]], lr=0.1)
    np.testing.assert_allclose(w1, [1 - 0.1 * 0.5 / (0.5 + 1e-8), -2 + 0.1 * 3.0 / (3.0 + 1e-8)], rtol=1e-15)
    assert st["t"] == 1
    np.testing.assert_allclose(st["m"], [0.05, -0.3], rtol=1e-15)
    np.testing.assert_allclose(st["v"], [0.00025, 0.009], rtol=1e-12)


def test_adam_constant_gradient_steps_by_lr():
    # with a constant g, m̂ = g and v̂ = g² at every t: each step moves by lr·g/(|g| + eps)
    ws, st = run("adam", np.array([0.0]), [[2.0]] * 4, lr=0.01, beta1=0.8, beta2=0.95)
    np.testing.assert_allclose(np.concatenate(ws), -0.01 * 2 / (2 + 1e-8) * np.arange(1, 5), rtol=1e-12)
    assert st["t"] == 4


def test_adam_eps_is_outside_the_root():
    # g = 1e−8 = eps: step = lr·g/(|g| + eps) = lr/2
    (w1,), _ = run("adam", np.array([1.0]), [[1e-8]], lr=0.2, eps=1e-8)
    np.testing.assert_allclose(w1, [0.9], rtol=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_updates_are_pure(name):
    rng = np.random.default_rng(0)
    hyper = {k: (lo + hi) / 2 for k, (lo, hi) in registry.OPT_HYPERS[name].items()}
    w = rng.normal(size=(3, 2))
    state = getattr(ref, f"{name}_init")(w)
    for _ in range(3):
        w_new, state_new = assert_no_mutation(getattr(ref, f"{name}_update"), w, rng.normal(size=(3, 2)), state, **hyper)
        assert w_new is not w and state_new is not state
        assert w_new.shape == w.shape and w_new.dtype == np.float64
        w, state = w_new, state_new


@pytest.mark.parametrize("name", NAMES)
def test_init_state_starts_at_zero(name):
    state = getattr(ref, f"{name}_init")(np.ones((2, 2)))
    for k, v in state.items():
        assert np.all(np.asarray(v) == 0), k


@pytest.mark.parametrize("name", NAMES)
def test_errstate_with_zero_tiny_and_large_gradients(name):
    # g = 0 must not divide by zero (eps); g² of 1e−300 underflows to 0, which is fine
    hyper = {k: lo for k, (lo, hi) in registry.OPT_HYPERS[name].items()}
    with strict():
        ws, _ = run(name, np.array([1.0, -1.0, 0.0]), [[0.0, 1e-300, -1e100]] * 3, **hyper)
    assert all(np.all(np.isfinite(w)) for w in ws)


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("name", NAMES)
def test_gradient_shape_must_match(name):
    hyper = {k: lo for k, (lo, hi) in registry.OPT_HYPERS[name].items()}
    state = getattr(ref, f"{name}_init")(np.ones(3))
    with pytest.raises(ValueError, match=r"g and w must have the same shape, got g \(2,\) and w \(3,\)"):
        getattr(ref, f"{name}_update")(np.ones(3), np.ones(2), state, **hyper)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("lr", [0.0, -0.1])
def test_lr_must_be_positive(name, lr):
    state = getattr(ref, f"{name}_init")(np.ones(3))
    with pytest.raises(ValueError, match=rf"lr must be > 0.0, got {lr}"):
        getattr(ref, f"{name}_update")(np.ones(3), np.ones(3), state, lr=lr)


@pytest.mark.parametrize("name,hyper,pattern", [
    ("momentum", {"momentum": 1.0}, r"momentum must be < 1.0, got 1.0"),
    ("rmsprop", {"decay": -0.1}, r"decay must be >= 0.0, got -0.1"),
    ("adam", {"beta1": 1.0}, r"beta1 must be < 1.0, got 1.0"),
    ("adam", {"beta2": 1.5}, r"beta2 must be < 1.0, got 1.5"),
    ("adagrad", {"eps": 0.0}, r"eps must be > 0.0, got 0.0"),
])
def test_hyperparameter_ranges(name, hyper, pattern):
    state = getattr(ref, f"{name}_init")(np.ones(3))
    with pytest.raises(ValueError, match=pattern):
        getattr(ref, f"{name}_update")(np.ones(3), np.ones(3), state, lr=0.1, **hyper)


def test_state_must_come_from_init():
    with pytest.raises(ValueError, match=r"adam: state must be the dict returned by adam_init \(keys \['m', 'v', 't'\]\)"):
        ref.adam_update(np.ones(3), np.ones(3), {"m": np.zeros(3)}, lr=0.1)
    with pytest.raises(ValueError, match=r"momentum: state\['v'\] has shape \(2,\), expected w's shape \(3,\)"):
        ref.momentum_update(np.ones(3), np.ones(3), {"v": np.zeros(2)}, lr=0.1)
