"""Rewrite "textbook": every op of the protocol written the way a textbook or a first implementation writes it.

dropout as ``np.where(mask == 1, dy / (1 - p), 0)``; sigmoid as 1/(1 + e^{−x}) with σ' = σ(x)σ(−x); relu as
(x + |x|)/2; batchnorm's backward in the form of Ioffe and Szegedy (2015, §3: ∂ℓ/∂σ², ∂ℓ/∂μ, then ∂ℓ/∂x);
conv2d as nested loops over the output positions (fine at the small shapes the checker draws, slow at large
ones); losses as ``K · mean`` over all elements; im2col/col2im with explicit loops; optimizer states of every
other kind of Python value (None, a list, a namedtuple, a dict, a tuple). Each computes the spec's function;
only rounding differs. Written from the protocol in the README, not from ``gradspec.reference``.
"""
from __future__ import annotations

import math
from collections import namedtuple

import numpy as np


# ----------------------------------------------------------------------------- activations
def _sigmoid(x):
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=np.float64)))


def sigmoid_forward(x):
    return _sigmoid(x)


def sigmoid_backward(x, dy):
    """σ'(x) = σ(x)·σ(−x): both factors without cancellation."""
    x = np.asarray(x, dtype=np.float64)
    return dy * _sigmoid(x) * _sigmoid(-x)


def tanh_forward(x):
    return np.tanh(np.asarray(x, dtype=np.float64))


def tanh_backward(x, dy):
    t = np.tanh(np.asarray(x, dtype=np.float64))
    return dy * (1 - t) * (1 + t)


def relu_forward(x):
    x = np.asarray(x, dtype=np.float64)
    return (x + np.abs(x)) / 2


def relu_backward(x, dy):
    return dy * ((np.sign(np.asarray(x, dtype=np.float64)) + 1) // 2)  # sign(0) = 0: relu'(0) = 0


def leaky_relu_forward(x, alpha):
    x = np.asarray(x, dtype=np.float64)
    return relu_forward(x) - alpha * relu_forward(-x)  # relu(x) − alpha·relu(−x)


def leaky_relu_backward(x, alpha, dy):
    pos = (np.sign(np.asarray(x, dtype=np.float64)) + 1) // 2  # sign(0) = 0: the left slope alpha at 0
    return dy * (pos + alpha * (1 - pos))


def step_forward(x):
    return (np.sign(np.asarray(x, dtype=np.float64)) + 1) // 2


def softmax_forward(x):
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(over="ignore"):
        e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def softmax_backward(x, dy):
    y = softmax_forward(x)
    return y * (dy - (y * dy).sum(axis=-1, keepdims=True))


# ----------------------------------------------------------------------------- affine
def affine_forward(x, W, b):
    return np.dot(x, W) + b


def affine_backward(x, W, b, dy):
    return np.dot(dy, np.transpose(W)), np.dot(np.transpose(x), dy), np.sum(dy, axis=0)


# ----------------------------------------------------------------------------- losses: K · (mean over every element)
def mse_forward(y, t):
    r = np.asarray(y, dtype=np.float64) - t
    return float(0.5 * np.shape(y)[1] * np.mean(r**2))


def mse_backward(y, t, dy):
    return dy * (np.asarray(y, dtype=np.float64) - t) / np.shape(y)[0]


def cross_entropy_forward(p, t):
    return float(np.shape(p)[1] * np.mean(-t * np.log(p)))


def cross_entropy_backward(p, t, dy):
    return -dy * np.asarray(t, dtype=np.float64) / (np.shape(p)[0] * np.asarray(p, dtype=np.float64))


def softmax_cross_entropy_forward(z, labels):
    z = np.asarray(z, dtype=np.float64)
    labels = np.asarray(labels).astype(int)
    total = 0.0
    for n in range(len(z)):  # one example at a time
        m = z[n].max()
        total += m + np.log(np.sum(np.exp(z[n] - m))) - z[n, labels[n]]
    return float(total / len(z))


def softmax_cross_entropy_backward(z, labels, dy):
    z = np.asarray(z, dtype=np.float64)
    g = softmax_forward(z)
    for n, k in enumerate(np.asarray(labels).astype(int)):
        g[n, k] -= 1.0
    return dy / len(z) * g


def binary_cross_entropy_forward(z, t):
    z = np.asarray(z, dtype=np.float64)
    terms = np.maximum(z, 0.0) - z * t + np.log1p(np.exp(-np.abs(z)))
    return float(np.shape(z)[1] * np.mean(terms))


def binary_cross_entropy_backward(z, t, dy):
    return dy / len(z) * (_sigmoid(z) - t)


# ----------------------------------------------------------------------------- im2col / col2im and conv2d with loops
def _out(H, K, stride, pad):
    return (H + 2 * pad - K) // stride + 1


def im2col(x, KH, KW, stride, pad):
    x = np.asarray(x, dtype=np.float64)
    N, C, H, W = x.shape
    OH, OW = _out(H, KH, stride, pad), _out(W, KW, stride, pad)
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    cols = np.empty((N * OH * OW, C * KH * KW))
    r = 0
    for n in range(N):
        for i in range(OH):
            for j in range(OW):
                cols[r] = xp[n, :, i * stride:i * stride + KH, j * stride:j * stride + KW].ravel()
                r += 1
    return cols


def col2im(cols, x_shape, KH, KW, stride, pad):
    N, C, H, W = (int(s) for s in x_shape)
    OH, OW = _out(H, KH, stride, pad), _out(W, KW, stride, pad)
    xp = np.zeros((N, C, H + 2 * pad, W + 2 * pad))
    r = 0
    for n in range(N):
        for i in range(OH):
            for j in range(OW):
                xp[n, :, i * stride:i * stride + KH, j * stride:j * stride + KW] += np.reshape(cols[r], (C, KH, KW))
                r += 1
    return xp[:, :, pad:pad + H, pad:pad + W].copy()


def conv2d_forward(x, W, b, stride=1, pad=0):
    """Nested loops over the output positions: y[n, :, i, j] = Σ W · window + b."""
    x, W = np.asarray(x, dtype=np.float64), np.asarray(W, dtype=np.float64)
    N, C, H, Wd = x.shape
    F, _, KH, KW = W.shape
    OH, OW = _out(H, KH, stride, pad), _out(Wd, KW, stride, pad)
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    y = np.empty((N, F, OH, OW))
    for i in range(OH):
        for j in range(OW):
            win = xp[:, :, i * stride:i * stride + KH, j * stride:j * stride + KW]
            y[:, :, i, j] = np.tensordot(win, W, axes=([1, 2, 3], [1, 2, 3])) + b
    return y


def conv2d_backward(x, W, b, stride, pad, dy):
    x, W, dy = (np.asarray(a, dtype=np.float64) for a in (x, W, dy))
    N, C, H, Wd = x.shape
    F, _, KH, KW = W.shape
    OH, OW = dy.shape[2:]
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    dxp = np.zeros_like(xp)
    dW = np.zeros_like(W)
    for i in range(OH):
        for j in range(OW):
            sl = (slice(None), slice(None), slice(i * stride, i * stride + KH), slice(j * stride, j * stride + KW))
            g = dy[:, :, i, j]  # (N, F)
            dW += np.tensordot(g, xp[sl], axes=([0], [0]))
            dxp[sl] += np.tensordot(g, W, axes=([1], [0]))
    return dxp[:, :, pad:pad + H, pad:pad + Wd].copy(), dW, dy.sum(axis=(0, 2, 3))


# ----------------------------------------------------------------------------- pooling with loops over the output positions
def max_pool2d_forward(x, kernel, stride=None, pad=0):
    stride = kernel if stride is None else stride
    x = np.asarray(x, dtype=np.float64)
    N, C, H, W = x.shape
    OH, OW = _out(H, kernel, stride, pad), _out(W, kernel, stride, pad)
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), constant_values=-np.inf)
    y = np.empty((N, C, OH, OW))
    for i in range(OH):
        for j in range(OW):
            y[:, :, i, j] = xp[:, :, i * stride:i * stride + kernel, j * stride:j * stride + kernel].max(axis=(2, 3))
    return y


def max_pool2d_backward(x, kernel, stride, pad, dy):
    stride = kernel if stride is None else stride
    x = np.asarray(x, dtype=np.float64)
    N, C, H, W = x.shape
    OH, OW = dy.shape[2:]
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), constant_values=-np.inf)
    dxp = np.zeros_like(xp)
    for n in range(N):
        for c in range(C):
            for i in range(OH):
                for j in range(OW):
                    win = xp[n, c, i * stride:i * stride + kernel, j * stride:j * stride + kernel]
                    k, l = np.unravel_index(np.argmax(win), win.shape)  # first maximum, row-major
                    dxp[n, c, i * stride + k, j * stride + l] += dy[n, c, i, j]
    return dxp[:, :, pad:pad + H, pad:pad + W].copy()


def avg_pool2d_forward(x, kernel, stride=None, pad=0):
    stride = kernel if stride is None else stride
    x = np.asarray(x, dtype=np.float64)
    N, C, H, W = x.shape
    OH, OW = _out(H, kernel, stride, pad), _out(W, kernel, stride, pad)
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    y = np.empty((N, C, OH, OW))
    for i in range(OH):
        for j in range(OW):
            y[:, :, i, j] = xp[:, :, i * stride:i * stride + kernel, j * stride:j * stride + kernel].mean(axis=(2, 3))
    return y


def avg_pool2d_backward(x, kernel, stride, pad, dy):
    stride = kernel if stride is None else stride
    N, C, H, W = np.shape(x)
    OH, OW = dy.shape[2:]
    dxp = np.zeros((N, C, H + 2 * pad, W + 2 * pad))
    for i in range(OH):
        for j in range(OW):
            dxp[:, :, i * stride:i * stride + kernel, j * stride:j * stride + kernel] += \
                (dy[:, :, i, j] / (kernel * kernel))[:, :, None, None]
    return dxp[:, :, pad:pad + H, pad:pad + W].copy()


# ----------------------------------------------------------------------------- batchnorm: Ioffe & Szegedy's backward
def _bn(x):
    axes = (0,) if x.ndim == 2 else (0, 2, 3)
    return axes, ((1, -1) if x.ndim == 2 else (1, -1, 1, 1)), x.size // x.shape[1]


def batchnorm_forward(x, gamma, beta, eps=1e-5):
    x = np.asarray(x, dtype=np.float64)
    axes, shape, _ = _bn(x)
    mu = x.mean(axis=axes, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=axes, keepdims=True)
    return np.reshape(gamma, shape) * (x - mu) / np.sqrt(var + eps) + np.reshape(beta, shape)


def batchnorm_backward(x, gamma, beta, eps, dy):
    """∂ℓ/∂x̂ = dy·γ; ∂ℓ/∂σ² = Σ ∂ℓ/∂x̂·(x − μ)·(−½)(σ² + ε)^{−3/2};
    ∂ℓ/∂μ = Σ ∂ℓ/∂x̂·(−1/√(σ² + ε)) + ∂ℓ/∂σ²·Σ(−2(x − μ))/m;
    ∂ℓ/∂x = ∂ℓ/∂x̂/√(σ² + ε) + ∂ℓ/∂σ²·2(x − μ)/m + ∂ℓ/∂μ/m."""
    x, dy = np.asarray(x, dtype=np.float64), np.asarray(dy, dtype=np.float64)
    axes, shape, m = _bn(x)
    mu = x.mean(axis=axes, keepdims=True)
    xc = x - mu
    var = (xc**2).mean(axis=axes, keepdims=True)
    sd = np.sqrt(var + eps)
    dxh = dy * np.reshape(gamma, shape)
    dvar = np.sum(dxh * xc, axis=axes, keepdims=True) * -0.5 / (sd * sd * sd)
    dmu = np.sum(-dxh / sd, axis=axes, keepdims=True) + dvar * np.sum(-2.0 * xc, axis=axes, keepdims=True) / m
    dx = dxh / sd + dvar * 2.0 * xc / m + dmu / m
    return dx, np.sum(dy * xc / sd, axis=axes), np.sum(dy, axis=axes)


def layernorm_forward(x, gamma, beta, eps=1e-5):
    x = np.asarray(x, dtype=np.float64)
    axes = tuple(range(x.ndim - np.ndim(gamma), x.ndim))
    mu = x.mean(axis=axes, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=axes, keepdims=True)
    return gamma * (x - mu) / np.sqrt(var + eps) + beta


def layernorm_backward(x, gamma, beta, eps, dy):
    """Ioffe and Szegedy's ∂σ², ∂μ, ∂x per group of the last k axes; ∂γ, ∂β summed over the leading axes."""
    x, dy = np.asarray(x, dtype=np.float64), np.asarray(dy, dtype=np.float64)
    k = np.ndim(gamma)
    axes, lead = tuple(range(x.ndim - k, x.ndim)), tuple(range(x.ndim - k))
    m = int(np.prod(np.shape(gamma)))
    mu = x.mean(axis=axes, keepdims=True)
    xc = x - mu
    sd = np.sqrt((xc**2).mean(axis=axes, keepdims=True) + eps)
    dxh = dy * gamma
    dvar = np.sum(dxh * xc, axis=axes, keepdims=True) * -0.5 / (sd * sd * sd)
    dmu = np.sum(-dxh / sd, axis=axes, keepdims=True) + dvar * np.sum(-2.0 * xc, axis=axes, keepdims=True) / m
    dx = dxh / sd + dvar * 2.0 * xc / m + dmu / m
    return dx, np.sum(dy * xc / sd, axis=lead), np.sum(dy, axis=lead)


# ----------------------------------------------------------------------------- dropout, l2, clipping
def dropout_forward(x, mask, p):
    return np.where(np.asarray(mask) == 1, np.asarray(x, dtype=np.float64) / (1 - p), 0.0)


def dropout_backward(x, mask, p, dy):
    return np.where(np.asarray(mask) == 1, dy / (1 - p), 0)


def l2_penalty_forward(W, lam):
    return float(lam * np.sum(np.square(W)) / 2)


def l2_penalty_backward(W, lam, dy):
    return dy * lam * np.asarray(W, dtype=np.float64)


def clip_grad_norm(grads, max_norm):
    gs = [np.asarray(g, dtype=np.float64) for g in grads]
    norm = float(np.sqrt(sum(np.sum(g * g) for g in gs)))
    if norm > max_norm:
        return [g * (max_norm / norm) for g in gs]
    return [np.copy(g) for g in gs]


def clip_grad_value(grads, clip):
    return [np.where(g > clip, clip, np.where(g < -clip, -clip, g)).astype(np.float64) for g in map(np.asarray, grads)]


# ----------------------------------------------------------------------------- optimizers: states of every other kind
Cache = namedtuple("Cache", ["r"])


def sgd_init(w):
    return None


def sgd_update(w, g, state, lr):
    return w - lr * g, None


def momentum_init(w):
    return [np.zeros(np.shape(w))]


def momentum_update(w, g, state, lr, momentum=0.9):
    v = momentum * state[0] - lr * g
    return w + v, [v]


def adagrad_init(w):
    return Cache(np.zeros(np.shape(w)))


def adagrad_update(w, g, state, lr, eps=1e-7):
    r = state.r + g**2
    return w - lr * g / (np.sqrt(r) + eps), Cache(r)


def rmsprop_init(w):
    return {"mean_square": np.zeros(np.shape(w))}


def rmsprop_update(w, g, state, lr, decay=0.99, eps=1e-7):
    r = decay * state["mean_square"] + (1 - decay) * g**2
    return w - lr * g / (np.sqrt(r) + eps), {"mean_square": r}


def adam_init(w):
    return (0, np.zeros(np.shape(w)), np.zeros(np.shape(w)))


def adam_update(w, g, state, lr, beta1=0.9, beta2=0.999, eps=1e-8):
    t, m, v = state
    t += 1
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g**2
    m_hat = m / (1 - beta1**t)
    v_hat = v / (1 - beta2**t)
    return w - lr * m_hat / (np.sqrt(v_hat) + eps), (t, m, v)


# ----------------------------------------------------------------------------- init
def _fans(shape):
    if len(shape) == 2:
        return int(shape[0]), int(shape[1])
    F, C, KH, KW = (int(s) for s in shape)
    return C * KH * KW, F * KH * KW


def init_xavier_normal(shape, rng):
    fi, fo = _fans(shape)
    return rng.normal(0.0, (2.0 / (fi + fo)) ** 0.5, size=tuple(shape))


def init_xavier_uniform(shape, rng):
    fi, fo = _fans(shape)
    a = (6.0 / (fi + fo)) ** 0.5
    return rng.uniform(-a, a, size=tuple(shape))


def init_he_normal(shape, rng):
    fi, _ = _fans(shape)
    return rng.normal(0.0, (2.0 / fi) ** 0.5, size=tuple(shape))


def init_he_uniform(shape, rng):
    fi, _ = _fans(shape)
    a = (6.0 / fi) ** 0.5
    return rng.uniform(-a, a, size=tuple(shape))


def init_lecun_normal(shape, rng):
    fi, _ = _fans(shape)
    return rng.normal(0.0, fi**-0.5, size=tuple(shape))


# ----------------------------------------------------------------------------- perceptron
def perceptron_update(w, b, x, t, lr):
    s = sum(wi * xi for wi, xi in zip(np.asarray(w, dtype=np.float64), np.asarray(x, dtype=np.float64))) + b
    y = 1.0 if s > 0 else 0.0
    return np.asarray(w, dtype=np.float64) + lr * (t - y) * np.asarray(x, dtype=np.float64), float(b + lr * (t - y))


# ----------------------------------------------------------------------------- MLP (row layout, the 1/N inside δ^L)
def mlp_loss_and_grads(params, X, T, hidden, output):
    act = {"sigmoid": _sigmoid, "tanh": np.tanh, "relu": relu_forward}[hidden]
    d_act = {"sigmoid": lambda z: sigmoid_backward(z, 1.0), "tanh": lambda z: tanh_backward(z, 1.0),
             "relu": lambda z: relu_backward(z, 1.0)}[hidden]
    X = np.asarray(X, dtype=np.float64)
    N = len(X)
    a, acts, zs = X, [X], []
    for l, (W, b) in enumerate(params):
        z = np.dot(a, W) + b
        zs.append(z)
        if l + 1 < len(params):
            a = act(z)
            acts.append(a)
    if output == "softmax_cross_entropy":
        loss = softmax_cross_entropy_forward(zs[-1], T)
        delta = softmax_cross_entropy_backward(zs[-1], T, 1.0)
    elif output == "identity_mse":
        loss = mse_forward(zs[-1], T)
        delta = mse_backward(zs[-1], T, 1.0)
    else:
        aL = _sigmoid(zs[-1])
        loss = mse_forward(aL, T)
        delta = mse_backward(aL, T, 1.0) * sigmoid_backward(zs[-1], 1.0)
    grads = []
    for l in reversed(range(len(params))):
        grads.insert(0, (np.dot(acts[l].T, delta), delta.sum(axis=0)))
        if l > 0:
            delta = np.dot(delta, np.transpose(params[l][0])) * d_act(zs[l - 1])
    return loss, grads


# ----------------------------------------------------------------------------- rnn (cs231n: a step function with a
# cache, and the backward step called in a loop, dh_t = dy_t + dprev_h)
def rnn_step_forward(x, prev_h, Wx, Wh, b):
    next_h = np.tanh(np.dot(x, Wx) + np.dot(prev_h, Wh) + b)
    return next_h, (x, prev_h, Wx, Wh, next_h)


def rnn_step_backward(dnext_h, cache):
    x, prev_h, Wx, Wh, next_h = cache
    da = dnext_h * (1 - next_h * next_h)
    return np.dot(da, Wx.T), np.dot(da, Wh.T), np.dot(x.T, da), np.dot(prev_h.T, da), np.sum(da, axis=0)


def rnn_forward(x, h0, Wx, Wh, b):
    N, T, _ = np.shape(x)
    h, prev = np.zeros((N, T, np.shape(Wx)[1])), h0
    for t in range(T):
        prev, _ = rnn_step_forward(x[:, t, :], prev, Wx, Wh, b)
        h[:, t, :] = prev
    return h


def rnn_backward(x, h0, Wx, Wh, b, dy):
    N, T, D = np.shape(x)
    caches, prev = [], h0
    for t in range(T):
        prev, cache = rnn_step_forward(x[:, t, :], prev, Wx, Wh, b)
        caches.append(cache)
    dx = np.zeros((N, T, D))
    dWx, dWh, db = np.zeros(np.shape(Wx)), np.zeros(np.shape(Wh)), np.zeros(np.shape(b))
    dprev_h = np.zeros(np.shape(h0))
    for t in reversed(range(T)):
        dx[:, t, :], dprev_h, dWx_t, dWh_t, db_t = rnn_step_backward(dy[:, t, :] + dprev_h, caches[t])
        dWx += dWx_t
        dWh += dWh_t
        db += db_t
    return dx, dprev_h, dWx, dWh, db
# ----------------------------------------------------------------------------- embedding, residual block
def _checked_ids(ids, V):
    flat = [int(v) for v in np.asarray(ids).reshape(-1)]
    for v in flat:
        if not 0 <= v < V:
            raise ValueError(f"embedding id {v} is not a row of E (V = {V})")
    return flat


def embedding_forward(ids, E):
    E = np.asarray(E, dtype=np.float64)
    rows = [E[v] for v in _checked_ids(ids, E.shape[0])]
    return np.array(rows, dtype=np.float64).reshape(np.shape(ids) + (E.shape[1],))


def embedding_backward(ids, E, dy):
    E = np.asarray(E, dtype=np.float64)
    rows = np.asarray(dy, dtype=np.float64).reshape(-1, E.shape[1])
    dE = np.zeros(E.shape)
    for i, v in enumerate(_checked_ids(ids, E.shape[0])):  # one position at a time: repeated ids accumulate
        dE[v] += rows[i]
    return dE


def residual_forward(x, W1, b1, W2, b2):
    # the block as its layers: affine, relu, affine, plus the skip connection
    return np.asarray(x, dtype=np.float64) + affine_forward(relu_forward(affine_forward(x, W1, b1)), W2, b2)


def residual_backward(x, W1, b1, W2, b2, dy):
    h = affine_forward(x, W1, b1)
    da, dW2, db2 = affine_backward(relu_forward(h), W2, b2, dy)
    dx_branch, dW1, db1 = affine_backward(x, W1, b1, relu_backward(h, da))
    return np.asarray(dy, dtype=np.float64) + dx_branch, dW1, db1, dW2, db2
# ----------------------------------------------------------------------------- gelu
def gelu_forward(x):
    """0.5·x·(1 + erf(x/√2)), one element at a time with the math module."""
    x = np.asarray(x, dtype=np.float64)
    return np.array([0.5 * v * (1.0 + math.erf(v / math.sqrt(2.0))) for v in x.flat], dtype=np.float64).reshape(x.shape)


def gelu_backward(x, dy):
    """Φ(x) + x·φ(x), one element at a time."""
    x = np.asarray(x, dtype=np.float64)
    d = [0.5 * (1.0 + math.erf(v / math.sqrt(2.0))) + v * math.exp(-v * v / 2.0) / math.sqrt(2.0 * math.pi)
         for v in x.flat]
    return dy * np.array(d, dtype=np.float64).reshape(x.shape)


def gelu_tanh_forward(x):
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(over="ignore"):
        return 0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * x ** 3)))


def gelu_tanh_backward(x, dy):
    """0.5·(1 + tanh u) + 0.5·x·sech²(u)·u', sech² u = 1/cosh² u."""
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(over="ignore"):
        u = np.sqrt(2.0 / np.pi) * (x + 0.044715 * x ** 3)
        sech2 = 1.0 / np.cosh(u) ** 2  # cosh overflows to inf for |u| > 710: sech² = 0 there
    with np.errstate(invalid="ignore"):
        slope = 0.5 * x * sech2 * np.sqrt(2.0 / np.pi) * (1.0 + 3 * 0.044715 * x ** 2)
    return dy * (0.5 * (1.0 + np.tanh(u)) + np.where(sech2 > 0, slope, 0.0))
# ----------------------------------------------------------------------------- attention
def _attention_rows(Q, K, mask):
    """(batch index, query i, attended keys, weights over them): masked keys never enter the softmax."""
    Q, K = np.asarray(Q, dtype=np.float64), np.asarray(K, dtype=np.float64)
    Tq, Tk = Q.shape[-2], K.shape[-2]
    m = np.ones(Q.shape[:-2] + (Tq, Tk), dtype=bool) if mask is None else \
        np.broadcast_to(np.asarray(mask) == 1, Q.shape[:-2] + (Tq, Tk))
    for b in np.ndindex(Q.shape[:-2]):
        for i in range(Tq):
            keys = [j for j in range(Tk) if m[b + (i, j)]]
            if not keys:
                raise ValueError(f"attention: query row {b + (i,)} attends no key")
            s = np.array([np.dot(Q[b + (i,)], K[b + (j,)]) for j in keys]) / math.sqrt(Q.shape[-1])
            w = np.exp(s - s.max())
            yield b, i, keys, w / w.sum()


def attention_forward(Q, K, V, mask=None):
    V = np.asarray(V, dtype=np.float64)
    out = np.zeros(np.shape(Q)[:-1] + (V.shape[-1],))
    for b, i, keys, p in _attention_rows(Q, K, mask):
        for j, pj in zip(keys, p):
            out[b + (i,)] += pj * V[b + (j,)]
    return out


def attention_backward(Q, K, V, mask, dy):
    Q, K, V, dy = (np.asarray(a, dtype=np.float64) for a in (Q, K, V, dy))
    dQ, dK, dV = np.zeros(Q.shape), np.zeros(K.shape), np.zeros(V.shape)
    r = math.sqrt(Q.shape[-1])
    for b, i, keys, p in _attention_rows(Q, K, mask):
        dp = np.array([np.dot(dy[b + (i,)], V[b + (j,)]) for j in keys])
        ds = p * (dp - np.dot(p, dp))
        for j, pj, dsj in zip(keys, p, ds):
            dV[b + (j,)] += pj * dy[b + (i,)]
            dQ[b + (i,)] += dsj * K[b + (j,)] / r
            dK[b + (j,)] += dsj * Q[b + (i,)] / r
    return dQ, dK, dV
