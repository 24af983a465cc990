"""Reference small CNN: conv2d → relu → max_pool2d → affine → softmax cross-entropy (integration target)."""
import math

import numpy as np
import pytest

import gradspec.reference as ref
from gradspec.oracles.fd64 import central_difference
from gradspec.registry import pool_gap
from _impls import assert_no_mutation, strict

N, C, H, F, K = 2, 2, 4, 3, 3  # 3×3 conv, pad 1 keeps 4×4; 2×2 pool -> 2×2; F·2·2 = 12 features


def draw(seed):
    """Parameters and data whose relu inputs and pooling windows keep a margin from their kinks."""
    rng = np.random.default_rng(seed)
    for _ in range(500):
        params = [(rng.normal(0, 0.5, size=(F, C, 3, 3)), rng.normal(0, 0.1, size=F)),
                  (rng.normal(0, 0.5, size=(F * 4, K)), rng.normal(0, 0.1, size=K))]
        X = rng.normal(size=(N, C, H, H))
        z1 = ref.conv2d_forward(X, *params[0], 1, 1)
        a1 = np.maximum(z1, 0)
        # a window made only of relu zeros ties harmlessly (relu' = 0 there); a positive maximum must be unique
        gap = pool_gap({"x": np.where(a1 > 0, a1, -np.arange(a1.size).reshape(a1.shape) - 10.0), "kernel": 2, "stride": 2, "pad": 0})
        if np.min(np.abs(z1)) > 1e-3 and gap > 1e-3:
            return params, X, rng.integers(0, K, size=N)
    raise AssertionError("no sample away from the kinks")


def test_hand_computed_zero_network():
    # Wc = 0, bc = (1, −1, 2): every conv output is bc; relu -> (1, 0, 2); pool keeps it; Wa = 0, ba = 0 -> z = 0
    # loss = ln K = ln 3; dba = mean(softmax − onehot) = 1/3 − (label frequency); dWa = flatᵀ(softmax − onehot)/N
    params = [(np.zeros((F, C, 3, 3)), np.array([1.0, -1.0, 2.0])), (np.zeros((F * 4, K)), np.zeros(K))]
    labels = np.array([0, 0])
    loss, grads = ref.cnn_loss_and_grads(params, np.ones((N, C, H, H)), labels)
    assert loss == pytest.approx(math.log(3.0), rel=1e-15)
    np.testing.assert_allclose(grads[1][1], [1 / 3 - 1, 1 / 3, 1 / 3], rtol=1e-14)
    flat = np.repeat([1.0, 0.0, 2.0], 4)  # channel-major flatten of the 3×2×2 pooled map
    np.testing.assert_allclose(grads[1][0], np.outer(flat, [1 / 3 - 1, 1 / 3, 1 / 3]), rtol=1e-14)
    # Wa = 0 blocks every gradient to the conv layer
    assert np.all(grads[0][0] == 0) and np.all(grads[0][1] == 0)


def test_gradients_match_central_differences():
    params, X, labels = draw(0)
    with strict():
        loss, grads = assert_no_mutation(ref.cnn_loss_and_grads, params, X, labels)
    assert np.isfinite(loss)
    for l, (W, b) in enumerate(params):
        for j, p in enumerate((W, b)):
            assert grads[l][j].shape == p.shape

            def f(x, l=l, j=j):
                ps = [list(q) for q in params]
                ps[l][j] = x
                return ref.cnn_loss_and_grads([tuple(q) for q in ps], X, labels)[0]

            d1, d2, _ = central_difference(f, p)
            np.testing.assert_allclose(grads[l][j], d1, rtol=1e-6, atol=1e-9 + float(np.max(np.abs(d1 - d2))))


def test_gradient_descent_lowers_the_loss():
    params, X, labels = draw(1)
    first, _ = ref.cnn_loss_and_grads(params, X, labels)
    for _ in range(30):
        _, grads = ref.cnn_loss_and_grads(params, X, labels)
        params = [(W - 0.2 * dW, b - 0.2 * db) for (W, b), (dW, db) in zip(params, grads)]
    last, _ = ref.cnn_loss_and_grads(params, X, labels)
    assert last < 0.5 * first


def test_affine_width_must_match_the_pooled_features():
    params = [(np.zeros((F, C, 3, 3)), np.zeros(F)), (np.zeros((5, K)), np.zeros(K))]
    with pytest.raises(ValueError, match=r"cnn: affine W rows must equal the pooled features F·PH·PW = 12, got Wa \(5, 3\)"):
        ref.cnn_loss_and_grads(params, np.zeros((N, C, H, H)), np.zeros(N, dtype=int))
