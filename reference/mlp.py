r"""L-layer perceptrons with backpropagation written as BP1–BP4.

Layers are numbered l = 1..L; :math:`a^0` is the input, :math:`z^l` the
pre-activation and :math:`a^l = \sigma(z^l)` the activation of layer l, with
the output activation applied to :math:`z^L`. Backpropagation (Nielsen, ch. 2):

* BP1  :math:`\delta^L = \nabla_a C \odot \sigma'(z^L)`
* BP2  :math:`\delta^l = ((W^{l+1})^\top \delta^{l+1}) \odot \sigma'(z^l)`
* BP3  :math:`\partial C/\partial b^l = \delta^l`
* BP4  :math:`\partial C/\partial W^l = a^{l-1} \delta^l` (outer product)

Two layouts are implemented; their gradients agree up to transposition.

Row layout (the protocol's): ``X`` (N, D), ``W`` (n_{l-1}, n_l), ``b`` (n_l,),
``z = a W + b``. The cost is the batch mean, so its 1/N sits inside
:math:`\nabla_a C` and hence inside every δ; BP3 sums δ over the batch and
BP4 is :math:`a^\top \delta`.

Column layout (Nielsen, Ng): ``X`` (n_x, m), ``W`` (n_l, n_{l-1}), ``b``
(n_l, 1), ``z = W a + b``. Each column of δ is one example's error (no 1/m),
and the 1/m of the mean cost sits in BP3/BP4:
:math:`dW = \frac1m \delta a^\top`, :math:`db = \frac1m \sum_{cols}\delta`,
which is the mini-batch rule: the mean of the per-example gradients.
"""
from __future__ import annotations

import numpy as np

from ._validate import as_float_array, labels as check_labels
from .activations import sigmoid_forward, softmax_forward, tanh_forward

HIDDEN = ("sigmoid", "tanh", "relu")
OUTPUTS = ("identity_mse", "sigmoid_mse", "softmax_cross_entropy")


def activation(name: str, z: np.ndarray) -> np.ndarray:
    """σ(z) for a hidden activation name."""
    if name == "sigmoid":
        return sigmoid_forward(z)
    if name == "tanh":
        return tanh_forward(z)
    if name == "relu":
        return np.maximum(z, 0.0)
    raise ValueError(f"mlp: hidden must be one of {HIDDEN}, got {name!r}")


def activation_prime(name: str, z: np.ndarray) -> np.ndarray:
    """σ'(z); relu'(0) = 0."""
    if name == "sigmoid":
        s = sigmoid_forward(z)
        return s * (1.0 - s)
    if name == "tanh":
        t = np.tanh(z)
        return 1.0 - t * t
    if name == "relu":
        return (z > 0).astype(np.float64)
    raise ValueError(f"mlp: hidden must be one of {HIDDEN}, got {name!r}")


def check_mlp_args(params, X, T, hidden, output, layout):
    if hidden not in HIDDEN:
        raise ValueError(f"mlp: hidden must be one of {HIDDEN}, got {hidden!r}")
    if output not in OUTPUTS:
        raise ValueError(f"mlp: output must be one of {OUTPUTS}, got {output!r}")
    if isinstance(params, np.ndarray) or not isinstance(params, (list, tuple)) or len(params) < 1:
        raise ValueError("mlp: params must be a non-empty list of (W, b) pairs")
    X = as_float_array("X", X, ndim=2)
    batch_axis = 0 if layout == "row" else 1
    width = X.shape[1 - batch_axis]
    checked = []
    for l, pair in enumerate(params, start=1):
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise ValueError(f"mlp: params[{l - 1}] must be a (W, b) pair")
        W = as_float_array(f"W{l}", pair[0], ndim=2)
        b = as_float_array(f"b{l}", pair[1], ndim=1 if layout == "row" else 2)
        n_in, n_out = W.shape if layout == "row" else W.shape[::-1]
        if n_in != width:
            rule = "rows" if layout == "row" else "columns"
            raise ValueError(f"mlp ({layout} layout): W{l} {rule} must equal the width {width} of layer {l - 1}, got W{l} {W.shape}")
        want_b = (n_out,) if layout == "row" else (n_out, 1)
        if b.shape != want_b:
            raise ValueError(f"mlp ({layout} layout): b{l} must have shape {want_b}, got {b.shape}")
        checked.append((W, b))
        width = n_out
    m = X.shape[batch_axis]
    if m < 1:
        raise ValueError(f"mlp: X must hold at least one example, got shape {X.shape}")
    if output == "softmax_cross_entropy":
        T = check_labels("T", T, m, width)
    else:
        T = as_float_array("T", T, ndim=2)
        want = (m, width) if layout == "row" else (width, m)
        if T.shape != want:
            raise ValueError(f"mlp ({layout} layout): T must have the output's shape {want}, got {T.shape}")
    return checked, X, T


def output_and_delta(zL, T, output, batch_axis):
    """Loss, per-example output gradient (no 1/m), for the output layer."""
    m = zL.shape[batch_axis]
    if output == "softmax_cross_entropy":
        z = zL if batch_axis == 0 else zL.T
        mx = z.max(axis=1)
        with np.errstate(over="ignore"):  # z − max < −1.8e308 rounds to −inf; e^−inf = 0 is the true value
            lse = mx + np.log(np.sum(np.exp(z - mx[:, None]), axis=1))
        loss = float(np.sum(lse - z[np.arange(m), T]) / m)
        g = softmax_forward(z)
        g[np.arange(m), T] -= 1.0  # δ^L = a^L − y: the softmax Jacobian and the log cancel
        return loss, (g if batch_axis == 0 else g.T)
    aL = zL if output == "identity_mse" else sigmoid_forward(zL)
    r = aL - T
    loss = float(0.5 * np.sum(r * r) / m)
    sigma_prime = 1.0 if output == "identity_mse" else aL * (1.0 - aL)
    return loss, r * sigma_prime  # BP1: ∇_a C ⊙ σ'(z^L), per example


def mlp_forward(params, X, hidden, layout="row"):
    """Forward pass; returns (zs, activations) with activations[0] = X and zs[l-1] = z^l.

    The output activation is not applied: ``zs[-1]`` is :math:`z^L`.
    """
    zs, acts = [], [X]
    a = X
    for l, (W, b) in enumerate(params, start=1):
        z = a @ W + b if layout == "row" else W @ a + b
        zs.append(z)
        if l < len(params):
            a = activation(hidden, z)
            acts.append(a)
    return zs, acts


def mlp_backprop(params, X, T, hidden, output, layout="row"):
    r"""Loss, gradients and the δ of every layer, by BP1–BP4.

    Shapes
    ------
    row layout    : X (N, D); params [(W (n_{l-1}, n_l), b (n_l,))]; T (N, K) or labels (N,).
                    δ^l (N, n_l), including the 1/N of the mean cost.
    column layout : X (n_x, m); params [(W (n_l, n_{l-1}), b (n_l, 1))]; T (K, m) or labels (m,).
                    δ^l (n_l, m), one column per example, without 1/m.
    Returns (loss, [(dW, db)] with the shapes of params, [δ^1, ..., δ^L]).
    """
    if layout not in ("row", "column"):
        raise ValueError(f"mlp: layout must be 'row' or 'column', got {layout!r}")
    params, X, T = check_mlp_args(params, X, T, hidden, output, layout)
    batch_axis = 0 if layout == "row" else 1
    m = X.shape[batch_axis]
    zs, acts = mlp_forward(params, X, hidden, layout)
    L = len(params)
    loss, delta = output_and_delta(zs[-1], T, output, batch_axis)  # BP1
    if layout == "row":
        delta = delta / m  # the 1/N of the mean cost lives in ∇_a C
    deltas = [None] * L
    deltas[L - 1] = delta
    for l in range(L - 1, 0, -1):  # layers L-1 .. 1 (deltas index l-1 is layer l)
        W_next = params[l][0]
        back = delta @ W_next.T if layout == "row" else W_next.T @ delta
        delta = back * activation_prime(hidden, zs[l - 1])  # BP2
        deltas[l - 1] = delta
    grads = []
    for l in range(L):
        a_in, d = acts[l], deltas[l]
        if layout == "row":
            grads.append((a_in.T @ d, d.sum(axis=0)))  # BP4, BP3
        else:
            grads.append((d @ a_in.T / m, d.sum(axis=1, keepdims=True) / m))  # BP4, BP3 (mean over the batch)
    return loss, grads, deltas


def mlp_loss_and_grads(params, X, T, hidden, output):
    """The protocol's MLP entry point (row layout): returns (loss, [(dW, db), ...])."""
    loss, grads, _ = mlp_backprop(params, X, T, hidden, output, layout="row")
    return loss, grads


def mlp_col_loss_and_grads(params, X, T, hidden, output):
    """The same network in the column layout of Nielsen and Ng: returns (loss, [(dW, db), ...])."""
    loss, grads, _ = mlp_backprop(params, X, T, hidden, output, layout="column")
    return loss, grads


def to_column_layout(params):
    """Row-layout params [(W (in, out), b (out,))] -> column layout [(W (out, in), b (out, 1))]."""
    return [(np.asarray(W).T.copy(), np.asarray(b).reshape(-1, 1).copy()) for W, b in params]
