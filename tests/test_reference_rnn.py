"""The reference tanh RNN: values at hand-computed points, BPTT against the step-by-step chain rule, validation."""
import math

import numpy as np
import pytest

import gradspec.reference as ref


def _scalar_case():
    """N = D = H = 1, T = 2: x = (0.5, −1), h0 = 0.2, Wx = 2, Wh = 0.5, b = 0.1."""
    return (np.array([[[0.5], [-1.0]]]), np.array([[0.2]]), np.array([[2.0]]), np.array([[0.5]]), np.array([0.1]))


def test_forward_at_a_hand_computed_point():
    h = ref.rnn_forward(*_scalar_case())
    h1 = math.tanh(0.5 * 2.0 + 0.2 * 0.5 + 0.1)
    h2 = math.tanh(-1.0 * 2.0 + h1 * 0.5 + 0.1)
    assert h.shape == (1, 2, 1)
    assert h[0, 0, 0] == pytest.approx(h1, rel=1e-15) and h[0, 1, 0] == pytest.approx(h2, rel=1e-15)


def test_backward_at_a_hand_computed_point():
    x, h0, Wx, Wh, b = _scalar_case()
    h1 = math.tanh(1.2)
    h2 = math.tanh(-2.0 + 0.5 * h1 + 0.1)
    d2 = 1.0 * (1 - h2 ** 2)               # dy_2 = 1, nothing from the future
    d1 = (1.0 + 0.5 * d2) * (1 - h1 ** 2)  # dy_1 = 1 plus the carry δ_2·Wh
    dx, dh0, dWx, dWh, db = ref.rnn_backward(x, h0, Wx, Wh, b, np.ones((1, 2, 1)))
    np.testing.assert_allclose(dx.ravel(), [2.0 * d1, 2.0 * d2], rtol=1e-14)
    np.testing.assert_allclose(dh0.ravel(), [0.5 * d1], rtol=1e-14)
    np.testing.assert_allclose(dWx.ravel(), [0.5 * d1 - 1.0 * d2], rtol=1e-14)
    np.testing.assert_allclose(dWh.ravel(), [0.2 * d1 + h1 * d2], rtol=1e-14)  # h_{t−1}, not h_t
    np.testing.assert_allclose(db.ravel(), [d1 + d2], rtol=1e-14)


def test_one_step_is_tanh_of_the_affine_map_and_its_backward_the_chain_of_theirs():
    rng = np.random.default_rng(1)
    x, h0 = rng.normal(size=(3, 1, 2)), rng.normal(size=(3, 4))
    Wx, Wh, b = rng.normal(size=(2, 4)), rng.normal(size=(4, 4)), rng.normal(size=4)
    xh, W = np.concatenate([x[:, 0], h0], axis=1), np.concatenate([Wx, Wh])
    a = ref.affine_forward(xh, W, b)
    np.testing.assert_allclose(ref.rnn_forward(x, h0, Wx, Wh, b)[:, 0], ref.tanh_forward(a), rtol=1e-14)
    dy = rng.normal(size=(3, 1, 4))
    dxh, dW, db_ref = ref.affine_backward(xh, W, b, ref.tanh_backward(a, dy[:, 0]))
    dx, dh0, dWx, dWh, db = ref.rnn_backward(x, h0, Wx, Wh, b, dy)
    np.testing.assert_allclose(dx[:, 0], dxh[:, :2], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(dh0, dxh[:, 2:], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(dWx, dW[:2], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(dWh, dW[2:], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(db, db_ref, rtol=1e-12, atol=1e-15)


def test_zero_recurrent_weight_decouples_the_steps():
    """Wh = 0: every step is tanh(x_t Wx + b), dh0 = 0 and dWh = Σ h_{t−1}ᵀ δ_t still (the states are read)."""
    rng = np.random.default_rng(2)
    x, h0, Wx, b = rng.normal(size=(2, 3, 2)), rng.normal(size=(2, 2)), rng.normal(size=(2, 2)), rng.normal(size=2)
    Wh = np.zeros((2, 2))
    h = ref.rnn_forward(x, h0, Wx, Wh, b)
    np.testing.assert_allclose(h, np.tanh(x @ Wx + b), rtol=1e-15)
    dy = rng.normal(size=h.shape)
    dx, dh0, dWx, dWh, db = ref.rnn_backward(x, h0, Wx, Wh, b, dy)
    delta = dy * (1 - h ** 2)
    assert np.all(dh0 == 0.0)
    prev = np.concatenate([h0[:, None], h[:, :-1]], axis=1)
    np.testing.assert_allclose(dWh, np.einsum("ntk,nth->kh", prev, delta), rtol=1e-13)
    np.testing.assert_allclose(dx, delta @ Wx.T, rtol=1e-13)


def test_inputs_are_not_modified():
    args = [np.array(a) for a in _scalar_case()]
    copies = [a.copy() for a in args]
    ref.rnn_backward(*args, np.ones((1, 2, 1)))
    ref.rnn_forward(*args)
    assert all(np.array_equal(a, c) for a, c in zip(args, copies))


@pytest.mark.parametrize("change,words", [
    ({"x": np.zeros((2, 3))}, "x must have 3 dimensions"),
    ({"x": np.zeros((1, 0, 1))}, "at least one time step"),
    ({"Wx": np.zeros((2, 1))}, "Wx rows must equal the input size D"),
    ({"Wh": np.zeros((1, 2))}, "Wh must be (H, H) = (1, 1)"),
    ({"b": np.zeros(2)}, "b must have shape (H,) = (1,)"),
    ({"h0": np.zeros((2, 1))}, "h0 must be (N, H) = (1, 1)"),
    ({"h0": np.array([[np.nan]])}, "h0 must be finite"),
])
def test_bad_inputs_are_rejected_naming_the_rule_and_the_values(change, words):
    names = ("x", "h0", "Wx", "Wh", "b")
    args = dict(zip(names, _scalar_case()))
    args.update(change)
    for call in (lambda: ref.rnn_forward(*args.values()), lambda: ref.rnn_backward(*args.values(), np.ones((1, 2, 1)))):
        with pytest.raises(ValueError) as err:
            call()
        assert words in str(err.value)


def test_backward_rejects_an_upstream_gradient_of_the_wrong_shape():
    with pytest.raises(ValueError) as err:
        ref.rnn_backward(*_scalar_case(), np.ones((1, 1, 1)))
    assert "(1, 2, 1)" in str(err.value)
