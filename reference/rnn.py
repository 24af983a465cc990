r"""The vanilla (Elman) recurrent layer with tanh, unrolled over T steps, in the row layout.

.. math:: h_t = \tanh(x_t W_x + h_{t-1} W_h + b), \qquad t = 1, \dots, T,

with the initial state :math:`h_0` given. The layer returns every hidden state
:math:`h_1, \dots, h_T`; its backward is full back-propagation through time.
"""
from __future__ import annotations

import numpy as np

from ._validate import as_float_array, upstream


def _check(x, h0, Wx, Wh, b):
    x = as_float_array("x", x, ndim=3)
    h0 = as_float_array("h0", h0, ndim=2)
    Wx = as_float_array("Wx", Wx, ndim=2)
    Wh = as_float_array("Wh", Wh, ndim=2)
    b = as_float_array("b", b, ndim=1)
    N, T, D = x.shape
    if T < 1:
        raise ValueError(f"rnn: x must hold at least one time step (x is (N, T, D)), got x {x.shape}")
    if Wx.shape[0] != D:
        raise ValueError(f"rnn: Wx rows must equal the input size D (Wx is (D, H), x is (N, T, D)), "
                         f"got x {x.shape} and Wx {Wx.shape}")
    H = Wx.shape[1]
    if Wh.shape != (H, H):
        raise ValueError(f"rnn: Wh must be (H, H) = ({H}, {H}) to match Wx {Wx.shape}, got {Wh.shape}")
    if b.shape != (H,):
        raise ValueError(f"rnn: b must have shape (H,) = ({H},) to match Wx {Wx.shape}, got {b.shape}")
    if h0.shape != (N, H):
        raise ValueError(f"rnn: h0 must be (N, H) = ({N}, {H}) to match x {x.shape} and Wx {Wx.shape}, "
                         f"got {h0.shape}")
    return x, h0, Wx, Wh, b


def _states(x, h0, Wx, Wh, b):
    N, T, _ = x.shape
    h = np.empty((N, T, Wx.shape[1]))
    prev = h0
    for t in range(T):
        prev = np.tanh(x[:, t, :] @ Wx + prev @ Wh + b)
        h[:, t, :] = prev
    return h


def rnn_forward(x, h0, Wx, Wh, b):
    r"""Every hidden state of the tanh RNN: :math:`h_t = \tanh(x_t W_x + h_{t-1} W_h + b)`.

    Shapes
    ------
    x : (N, T, D), T >= 1
    h0 : (N, H)
    Wx : (D, H)
    Wh : (H, H)
    b : (H,)
    Returns h : (N, T, H), ``h[:, t]`` the state after step t + 1 (h0 is not included)
    """
    return _states(*_check(x, h0, Wx, Wh, b))


def rnn_backward(x, h0, Wx, Wh, b, dy):
    r"""VJP of the unrolled RNN by full back-propagation through time.

    ``dy[:, t]`` is the upstream gradient of ``h[:, t]``. With the running gradient
    :math:`g_T = 0` flowing back from the future, for t = T, ..., 1:

    .. math::
        \delta_t = (dy_t + g_t) \odot (1 - h_t^2), \qquad g_{t-1} = \delta_t W_h^\top,

        dx_t = \delta_t W_x^\top, \quad dW_x = \sum_t x_t^\top \delta_t, \quad
        dW_h = \sum_t h_{t-1}^\top \delta_t, \quad db = \sum_t \sum_n \delta_t, \quad dh_0 = g_0,

    where :math:`1 - h_t^2` is tanh' at the pre-activation, computed from the output h_t.

    Shapes
    ------
    x : (N, T, D), h0 : (N, H), Wx : (D, H), Wh : (H, H), b : (H,), dy : (N, T, H)
    Returns (dx (N, T, D), dh0 (N, H), dWx (D, H), dWh (H, H), db (H,))
    """
    x, h0, Wx, Wh, b = _check(x, h0, Wx, Wh, b)
    N, T, D = x.shape
    H = Wx.shape[1]
    dy = upstream(dy, (N, T, H))
    h = _states(x, h0, Wx, Wh, b)
    dx = np.empty_like(x)
    dWx, dWh, db = np.zeros_like(Wx), np.zeros_like(Wh), np.zeros_like(b)
    g = np.zeros((N, H))
    for t in range(T - 1, -1, -1):
        prev = h[:, t - 1, :] if t > 0 else h0
        delta = (dy[:, t, :] + g) * (1.0 - h[:, t, :] ** 2)
        dx[:, t, :] = delta @ Wx.T
        dWx += x[:, t, :].T @ delta
        dWh += prev.T @ delta
        db += delta.sum(axis=0)
        g = delta @ Wh.T
    return dx, g, dWx, dWh, db
