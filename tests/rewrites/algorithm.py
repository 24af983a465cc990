"""Rewrite "algorithm": every op of the protocol computed by another algorithm than the spec's.

sigmoid through tanh and cosh, tanh through expm1, softmax's backward through the full Jacobian, affine in the
transposed (column) form, conv2d and pooling with loops over the kernel offsets, batchnorm's staged
(computational-graph) backward, the MLP in the column layout of Nielsen and Ng, normal init by Box–Muller, and
optimizer states that are class instances (opaque to the checker: a plain class, a class with ``__slots__`` and
a dataclass). Each computes the spec's function; only rounding differs. Written from the protocol in the README,
not from ``gradspec.reference``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


# ----------------------------------------------------------------------------- activations
def _sigmoid(x):
    """σ(x) = (1 + tanh(x/2))/2 for x ≥ 0; for x < 0, 1 − tanh(a) = sech²(a)/(1 + tanh(|a|)) avoids the cancellation."""
    x = np.asarray(x, dtype=np.float64)
    h = np.abs(x) / 2
    th = np.tanh(h)
    with np.errstate(over="ignore"):
        c = np.cosh(h)
        neg = 0.5 / (c * c * (1.0 + th))  # cosh overflows to inf beyond |x| ≈ 1420: σ is 0 there
    return np.where(x >= 0, 0.5 * (1.0 + th), neg)


def sigmoid_forward(x):
    return _sigmoid(x)


def sigmoid_backward(x, dy):
    """σ'(x) = 1/(4 cosh²(x/2)): no 1 − σ cancellation."""
    with np.errstate(over="ignore"):
        c = np.cosh(np.asarray(x, dtype=np.float64) / 2)
        return dy * (0.25 / (c * c))


def tanh_forward(x):
    """tanh(x) = −expm1(−2|x|)/(1 + e^{−2|x|}) with the sign of x."""
    x = np.asarray(x, dtype=np.float64)
    e = np.exp(-2 * np.abs(x))
    return np.sign(x) * (-np.expm1(-2 * np.abs(x)) / (1 + e))


def tanh_backward(x, dy):
    """tanh' = sech² = 1/cosh²."""
    with np.errstate(over="ignore"):
        c = np.cosh(np.asarray(x, dtype=np.float64))
        return dy / (c * c)


def relu_forward(x):
    return np.where(np.asarray(x) > 0, np.asarray(x, dtype=np.float64), 0.0)


def relu_backward(x, dy):
    return np.asarray(dy, dtype=np.float64) * np.heaviside(np.asarray(x, dtype=np.float64), 0.0)


def leaky_relu_forward(x, alpha):
    x = np.asarray(x, dtype=np.float64)
    return np.maximum(x, alpha * x)  # alpha < 1: the larger of x and alpha·x


def leaky_relu_backward(x, alpha, dy):
    x = np.asarray(x, dtype=np.float64)
    return np.asarray(dy, dtype=np.float64) * (alpha + (1.0 - alpha) * np.heaviside(x, 0.0))  # slope alpha at 0


def step_forward(x):
    return np.heaviside(np.asarray(x, dtype=np.float64), 0.0)


def softmax_forward(x):
    """exp(x − logsumexp(x)) per row."""
    x = np.asarray(x, dtype=np.float64)
    m = np.max(x, axis=-1, keepdims=True)
    with np.errstate(over="ignore"):
        e = np.exp(x - m)
    return e / np.sum(e, axis=-1, keepdims=True)


def softmax_backward(x, dy):
    """dx = J dy with the full Jacobian J = diag(y) − y yᵀ of every row (K × K per row)."""
    y = softmax_forward(x)
    K = y.shape[-1]
    rows, drow = y.reshape(-1, K), np.asarray(dy, dtype=np.float64).reshape(-1, K)
    J = rows[:, :, None] * np.eye(K)[None] - rows[:, :, None] * rows[:, None, :]
    return np.einsum("rij,rj->ri", J, drow).reshape(y.shape)


# ----------------------------------------------------------------------------- affine (column form: zᵀ = Wᵀ xᵀ + b)
def affine_forward(x, W, b):
    return (np.asarray(W).T @ np.asarray(x).T).T + b


def affine_backward(x, W, b, dy):
    dy = np.asarray(dy, dtype=np.float64)
    return (np.asarray(W) @ dy.T).T, (dy.T @ np.asarray(x)).T, np.ones(dy.shape[0]) @ dy


# ----------------------------------------------------------------------------- losses
def mse_forward(y, t):
    r = (np.asarray(y, dtype=np.float64) - t).ravel()
    return float(np.dot(r, r) / (2 * len(y)))


def mse_backward(y, t, dy):
    return np.subtract(y, t) * dy / len(y)


def cross_entropy_forward(p, t):
    return float(-np.einsum("nk,nk->", t, np.log(p)) / len(p))


def cross_entropy_backward(p, t, dy):
    return -dy * t * (1.0 / np.asarray(p)) / len(p)


def _log_softmax(z):
    return z - np.logaddexp.reduce(z, axis=1, keepdims=True)


def softmax_cross_entropy_forward(z, labels):
    z = np.asarray(z, dtype=np.float64)
    labels = np.asarray(labels).astype(int)
    return float(-np.sum(np.take_along_axis(_log_softmax(z), labels[:, None], axis=1)) / len(z))


def softmax_cross_entropy_backward(z, labels, dy):
    z = np.asarray(z, dtype=np.float64)
    onehot = np.eye(z.shape[1])[np.asarray(labels).astype(int)]
    return dy * (np.exp(_log_softmax(z)) - onehot) / len(z)


def binary_cross_entropy_forward(z, t):
    """t·log(1 + e^{−z}) + (1 − t)·log(1 + e^{z}), both softplus terms non-negative."""
    z, t = np.asarray(z, dtype=np.float64), np.asarray(t, dtype=np.float64)
    return float(np.sum(t * np.logaddexp(0.0, -z) + (1 - t) * np.logaddexp(0.0, z)) / len(z))


def binary_cross_entropy_backward(z, t, dy):
    return dy * (_sigmoid(z) - t) / len(z)


# ----------------------------------------------------------------------------- conv2d: loops over the kernel offsets
def _out(H, K, stride, pad):
    return (H + 2 * pad - K) // stride + 1


def _padded(x, pad, fill=0.0):
    N, C, H, W = x.shape
    xp = np.full((N, C, H + 2 * pad, W + 2 * pad), fill)
    xp[:, :, pad:pad + H, pad:pad + W] = x
    return xp


def conv2d_forward(x, W, b, stride=1, pad=0):
    x, W = np.asarray(x, dtype=np.float64), np.asarray(W, dtype=np.float64)
    N, C, H, Wd = x.shape
    F, _, KH, KW = W.shape
    OH, OW = _out(H, KH, stride, pad), _out(Wd, KW, stride, pad)
    xp = _padded(x, pad)
    y = np.zeros((N, F, OH, OW))
    for k in range(KH):
        for l in range(KW):
            patch = xp[:, :, k:k + stride * OH:stride, l:l + stride * OW:stride]  # (N, C, OH, OW)
            y += np.einsum("ncij,fc->nfij", patch, W[:, :, k, l])
    return y + np.asarray(b, dtype=np.float64).reshape(1, F, 1, 1)


def conv2d_backward(x, W, b, stride, pad, dy):
    x, W, dy = (np.asarray(a, dtype=np.float64) for a in (x, W, dy))
    N, C, H, Wd = x.shape
    F, _, KH, KW = W.shape
    OH, OW = dy.shape[2:]
    xp = _padded(x, pad)
    dxp = np.zeros_like(xp)
    dW = np.zeros_like(W)
    for k in range(KH):
        for l in range(KW):
            sl = (slice(None), slice(None), slice(k, k + stride * OH, stride), slice(l, l + stride * OW, stride))
            dW[:, :, k, l] = np.einsum("nfij,ncij->fc", dy, xp[sl])
            dxp[sl] += np.einsum("nfij,fc->ncij", dy, W[:, :, k, l])
    return dxp[:, :, pad:pad + H, pad:pad + Wd].copy(), dW, dy.sum(axis=3).sum(axis=2).sum(axis=0)


# ----------------------------------------------------------------------------- pooling: loops over the kernel offsets
def _offsets(kernel):
    return [(k, l) for k in range(kernel) for l in range(kernel)]  # row-major window order


def max_pool2d_forward(x, kernel, stride=None, pad=0):
    stride = kernel if stride is None else stride
    x = np.asarray(x, dtype=np.float64)
    OH, OW = _out(x.shape[2], kernel, stride, pad), _out(x.shape[3], kernel, stride, pad)
    xp = _padded(x, pad, -np.inf)
    best = np.full(x.shape[:2] + (OH, OW), -np.inf)
    for k, l in _offsets(kernel):
        best = np.maximum(best, xp[:, :, k:k + stride * OH:stride, l:l + stride * OW:stride])
    return best


def max_pool2d_backward(x, kernel, stride, pad, dy):
    """Scan the window in row-major order; a strictly larger value takes over, so ties stay with the first maximum."""
    stride = kernel if stride is None else stride
    x, dy = np.asarray(x, dtype=np.float64), np.asarray(dy, dtype=np.float64)
    OH, OW = dy.shape[2:]
    xp = _padded(x, pad, -np.inf)
    best = np.full(dy.shape, -np.inf)
    arg = np.zeros(dy.shape, dtype=int)
    for o, (k, l) in enumerate(_offsets(kernel)):
        v = xp[:, :, k:k + stride * OH:stride, l:l + stride * OW:stride]
        take = v > best
        best = np.where(take, v, best)
        arg = np.where(take, o, arg)
    dxp = np.zeros_like(xp)
    for o, (k, l) in enumerate(_offsets(kernel)):
        dxp[:, :, k:k + stride * OH:stride, l:l + stride * OW:stride] += np.where(arg == o, dy, 0.0)
    H, Wd = x.shape[2:]
    return dxp[:, :, pad:pad + H, pad:pad + Wd].copy()


def avg_pool2d_forward(x, kernel, stride=None, pad=0):
    stride = kernel if stride is None else stride
    x = np.asarray(x, dtype=np.float64)
    OH, OW = _out(x.shape[2], kernel, stride, pad), _out(x.shape[3], kernel, stride, pad)
    xp = _padded(x, pad)
    acc = np.zeros(x.shape[:2] + (OH, OW))
    for k, l in _offsets(kernel):
        acc += xp[:, :, k:k + stride * OH:stride, l:l + stride * OW:stride]
    return acc / kernel**2


def avg_pool2d_backward(x, kernel, stride, pad, dy):
    stride = kernel if stride is None else stride
    x, dy = np.asarray(x, dtype=np.float64), np.asarray(dy, dtype=np.float64)
    N, C, H, Wd = x.shape
    OH, OW = dy.shape[2:]
    n, c, i, j = np.indices((N, C, OH, OW))
    dxp = np.zeros((N, C, H + 2 * pad, Wd + 2 * pad))
    for k, l in _offsets(kernel):
        np.add.at(dxp, (n, c, i * stride + k, j * stride + l), dy / kernel**2)
    return dxp[:, :, pad:pad + H, pad:pad + Wd].copy()


# ----------------------------------------------------------------------------- batchnorm: the staged (computational-graph) backward
def _bn(x):
    axes = (0,) if x.ndim == 2 else (0, 2, 3)
    shape = (1, -1) if x.ndim == 2 else (1, -1, 1, 1)
    m = x.size // x.shape[1]
    return axes, shape, m


def batchnorm_forward(x, gamma, beta, eps=1e-5):
    x = np.asarray(x, dtype=np.float64)
    axes, shape, m = _bn(x)
    mu = x.sum(axis=axes, keepdims=True) / m
    xc = x - mu
    var = (xc**2).sum(axis=axes, keepdims=True) / m
    return np.reshape(gamma, shape) * (xc / np.sqrt(var + eps)) + np.reshape(beta, shape)


def batchnorm_backward(x, gamma, beta, eps, dy):
    """Back through the graph μ → x − μ → σ² → 1/√(σ²+ε) → x̂ → y, one node at a time."""
    x, dy = np.asarray(x, dtype=np.float64), np.asarray(dy, dtype=np.float64)
    axes, shape, m = _bn(x)
    mu = x.sum(axis=axes, keepdims=True) / m
    xc = x - mu
    var = (xc**2).sum(axis=axes, keepdims=True) / m
    istd = 1.0 / np.sqrt(var + eps)
    xh = xc * istd
    dxh = dy * np.reshape(gamma, shape)
    dvar = np.sum(dxh * xc, axis=axes, keepdims=True) * (-0.5) * istd**3
    dxc = dxh * istd + dvar * 2.0 * xc / m
    dmu = -np.sum(dxc, axis=axes, keepdims=True)
    dx = dxc + dmu / m
    return dx, np.sum(dy * xh, axis=axes), np.sum(dy, axis=axes)


def _ln_rows(x, k):
    """x as (rows, m): one row per group of the last k axes."""
    m = int(np.prod(x.shape[x.ndim - k:], dtype=np.int64))
    return x.reshape(-1, m), m


def layernorm_forward(x, gamma, beta, eps=1e-5):
    x = np.asarray(x, dtype=np.float64)
    X, m = _ln_rows(x, np.ndim(gamma))
    mu = X.sum(axis=1, keepdims=True) / m
    Xc = X - mu
    var = np.einsum("ij,ij->i", Xc, Xc)[:, None] / m
    Y = Xc / np.sqrt(var + eps) * np.ravel(gamma) + np.ravel(beta)
    return Y.reshape(x.shape)


def layernorm_backward(x, gamma, beta, eps, dy):
    """Back through the graph μ → x − μ → σ² → 1/√(σ²+ε) → x̂ → y on the (rows, m) matrix, one node at a time."""
    x = np.asarray(x, dtype=np.float64)
    k = np.ndim(gamma)
    X, m = _ln_rows(x, k)
    D = np.asarray(dy, dtype=np.float64).reshape(X.shape)
    g = np.ravel(gamma)
    mu = X.sum(axis=1, keepdims=True) / m
    Xc = X - mu
    var = np.einsum("ij,ij->i", Xc, Xc)[:, None] / m
    istd = 1.0 / np.sqrt(var + eps)
    Xh = Xc * istd
    dXh = D * g
    dvar = np.sum(dXh * Xc, axis=1, keepdims=True) * (-0.5) * istd**3
    dXc = dXh * istd + dvar * 2.0 * Xc / m
    dX = dXc - np.sum(dXc, axis=1, keepdims=True) / m
    shape = np.shape(gamma)
    return dX.reshape(x.shape), np.einsum("ij,ij->j", D, Xh).reshape(shape), D.sum(axis=0).reshape(shape)


# ----------------------------------------------------------------------------- dropout, l2, clipping
def dropout_forward(x, mask, p):
    return x * (mask / (1 - p))


def dropout_backward(x, mask, p, dy):
    return dy * (mask / (1 - p))


def l2_penalty_forward(W, lam):
    W = np.asarray(W, dtype=np.float64)
    return float(0.5 * lam * np.vdot(W, W))


def l2_penalty_backward(W, lam, dy):
    return lam * np.asarray(W, dtype=np.float64) * dy


def clip_grad_norm(grads, max_norm):
    grads = [np.asarray(g, dtype=np.float64) for g in grads]
    flat = np.concatenate([g.ravel() for g in grads]) if grads else np.zeros(0)
    big = float(np.max(np.abs(flat))) if flat.size else 0.0
    norm = big * float(np.linalg.norm(flat / big)) if big > 0 else 0.0
    if norm > max_norm:
        return [g * (max_norm / norm) for g in grads]
    return [g.copy() for g in grads]


def clip_grad_value(grads, clip):
    return [np.clip(np.asarray(g, dtype=np.float64), -clip, clip) for g in grads]


# ----------------------------------------------------------------------------- optimizers: opaque class-instance states
class NoState:
    """SGD's state: an object with no fields."""


class Velocity:
    """Momentum's state: a plain class holding the velocity."""

    def __init__(self, v):
        self.v = v


class Accumulator:
    """AdaGrad's and RMSprop's state: a class with ``__slots__`` (no ``__dict__``)."""

    __slots__ = ("r",)

    def __init__(self, r):
        self.r = r


@dataclass
class Moments:
    """Adam's state: a dataclass."""

    m: np.ndarray
    v: np.ndarray
    t: int = 0


def sgd_init(w):
    return NoState()


def sgd_update(w, g, state, lr):
    return np.asarray(w, dtype=np.float64) - lr * np.asarray(g, dtype=np.float64), NoState()


def momentum_init(w):
    return Velocity(np.zeros_like(np.asarray(w, dtype=np.float64)))


def momentum_update(w, g, state, lr, momentum=0.9):
    v = momentum * state.v - lr * np.asarray(g, dtype=np.float64)
    return np.asarray(w, dtype=np.float64) + v, Velocity(v)


def adagrad_init(w):
    return Accumulator(np.zeros_like(np.asarray(w, dtype=np.float64)))


def adagrad_update(w, g, state, lr, eps=1e-7):
    g = np.asarray(g, dtype=np.float64)
    r = state.r + g * g
    return np.asarray(w, dtype=np.float64) - lr * g / (np.sqrt(r) + eps), Accumulator(r)


def rmsprop_init(w):
    return Accumulator(np.zeros_like(np.asarray(w, dtype=np.float64)))


def rmsprop_update(w, g, state, lr, decay=0.99, eps=1e-7):
    """The running mean in its incremental form r ← r + (1 − ρ)(g² − r)."""
    g = np.asarray(g, dtype=np.float64)
    r = state.r + (1 - decay) * (g * g - state.r)
    return np.asarray(w, dtype=np.float64) - lr * g / (np.sqrt(r) + eps), Accumulator(r)


def adam_init(w):
    z = np.zeros_like(np.asarray(w, dtype=np.float64))
    return Moments(z, z.copy(), 0)


def adam_update(w, g, state, lr, beta1=0.9, beta2=0.999, eps=1e-8):
    """√v̂ taken as √v/√(1 − β₂ᵗ): the same function as the spec's m̂/(√v̂ + ε)."""
    g = np.asarray(g, dtype=np.float64)
    t = state.t + 1
    m = beta1 * state.m + (1 - beta1) * g
    v = beta2 * state.v + (1 - beta2) * g * g
    m_hat = m / (1 - beta1**t)
    root_v_hat = np.sqrt(v) / np.sqrt(1 - beta2**t)
    return np.asarray(w, dtype=np.float64) - lr * m_hat / (root_v_hat + eps), Moments(m, v, t)


# ----------------------------------------------------------------------------- init: normals by Box–Muller
def _fans(shape):
    shape = tuple(int(s) for s in shape)
    if len(shape) == 2:
        return shape[0], shape[1]
    return shape[1] * shape[2] * shape[3], shape[0] * shape[2] * shape[3]


def _box_muller(shape, rng):
    n = int(np.prod(shape))
    u1 = 1.0 - rng.random(n)  # in (0, 1]: log is finite
    u2 = rng.random(n)
    return (np.sqrt(-2.0 * np.log(u1)) * np.cos(2 * np.pi * u2)).reshape(tuple(int(s) for s in shape))


def init_xavier_normal(shape, rng):
    fi, fo = _fans(shape)
    return np.sqrt(2.0 / (fi + fo)) * _box_muller(shape, rng)


def init_xavier_uniform(shape, rng):
    fi, fo = _fans(shape)
    a = np.sqrt(6.0 / (fi + fo))
    return rng.uniform(-a, a, size=tuple(int(s) for s in shape))


def init_he_normal(shape, rng):
    fi, _ = _fans(shape)
    return np.sqrt(2.0 / fi) * _box_muller(shape, rng)


def init_he_uniform(shape, rng):
    fi, _ = _fans(shape)
    a = np.sqrt(6.0 / fi)
    return rng.uniform(-a, a, size=tuple(int(s) for s in shape))


def init_lecun_normal(shape, rng):
    fi, _ = _fans(shape)
    return _box_muller(shape, rng) / np.sqrt(fi)


# ----------------------------------------------------------------------------- perceptron
def perceptron_update(w, b, x, t, lr):
    w, x = np.asarray(w, dtype=np.float64), np.asarray(x, dtype=np.float64)
    y = float(np.heaviside(w @ x + b, 0.0))
    return w + lr * (t - y) * x, float(b) + lr * (t - y)


# ----------------------------------------------------------------------------- MLP in the column layout (Nielsen, Ng)
def _act(name, z):
    return _sigmoid(z) if name == "sigmoid" else np.tanh(z) if name == "tanh" else np.maximum(z, 0.0)


def _act_prime(name, z):
    if name == "sigmoid":
        return sigmoid_backward(z, 1.0)
    if name == "tanh":
        return tanh_backward(z, 1.0)
    return (z > 0).astype(np.float64)


def mlp_loss_and_grads(params, X, T, hidden, output):
    """Transposes to the column layout (W (out, in), b (out, 1), one example per column), runs BP1–BP4 there with
    the 1/m in BP3/BP4, and transposes the gradients back."""
    cols = [(np.asarray(W, dtype=np.float64).T, np.asarray(b, dtype=np.float64).reshape(-1, 1)) for W, b in params]
    A = np.asarray(X, dtype=np.float64).T
    m = A.shape[1]
    acts, zs = [A], []
    for l, (W, b) in enumerate(cols):
        Z = W @ A + b
        zs.append(Z)
        if l < len(cols) - 1:
            A = _act(hidden, Z)
            acts.append(A)
    ZL = zs[-1]
    if output == "softmax_cross_entropy":
        labels = np.asarray(T).astype(int)
        logp = _log_softmax(ZL.T).T
        loss = float(-np.sum(logp[labels, np.arange(m)]) / m)
        delta = np.exp(logp)
        delta[labels, np.arange(m)] -= 1.0
    else:
        TT = np.asarray(T, dtype=np.float64).T
        AL = ZL if output == "identity_mse" else _sigmoid(ZL)
        r = AL - TT
        loss = float(np.sum(r * r) / (2 * m))
        delta = r if output == "identity_mse" else r * sigmoid_backward(ZL, 1.0)
    grads = [None] * len(cols)
    for l in range(len(cols) - 1, -1, -1):
        grads[l] = ((delta @ acts[l].T / m).T, delta.sum(axis=1) / m)
        if l:
            delta = (cols[l][0].T @ delta) * _act_prime(hidden, zs[l - 1])
    return loss, grads


# ----------------------------------------------------------------------------- rnn (input projection for all steps
# at once, tanh' = 1/cosh² of the pre-activation, gradients accumulated into the time-major arrays)
def _rnn_pre(x, h0, Wx, Wh, b):
    proj = np.einsum("ntd,dh->tnh", x, Wx) + b  # x_t Wx + b for every t in one product
    pre, h = np.empty_like(proj), h0
    for t in range(proj.shape[0]):
        pre[t] = proj[t] + h @ Wh
        h = np.tanh(pre[t])
    return pre


def rnn_forward(x, h0, Wx, Wh, b):
    return np.tanh(_rnn_pre(*(np.asarray(a, dtype=np.float64) for a in (x, h0, Wx, Wh, b)))).transpose(1, 0, 2)


def rnn_backward(x, h0, Wx, Wh, b, dy):
    x, h0, Wx, Wh, b, dy = (np.asarray(a, dtype=np.float64) for a in (x, h0, Wx, Wh, b, dy))
    pre = _rnn_pre(x, h0, Wx, Wh, b)
    states = np.concatenate([h0[None], np.tanh(pre)])  # (T + 1, N, H): h_0 .. h_T
    dpre = np.empty_like(pre)
    g = np.zeros_like(h0)
    for t in range(pre.shape[0] - 1, -1, -1):
        dpre[t] = (dy[:, t] + g) / np.cosh(pre[t]) ** 2
        g = dpre[t] @ Wh.T
    dWh = sum(states[t].T @ dpre[t] for t in range(pre.shape[0]))
    return ((dpre @ Wx.T).transpose(1, 0, 2), g, np.einsum("ntd,tnh->dh", x, dpre), dWh, dpre.sum(axis=(0, 1)))
# ----------------------------------------------------------------------------- embedding, residual block
def _one_hot(ids, V):
    """(positions, V) one-hot rows of the flattened ids; ids outside [0, V) are refused."""
    flat = np.asarray(ids).reshape(-1)
    if flat.size and (flat.min() < 0 or flat.max() >= V):
        raise ValueError(f"embedding ids must lie in [0, {V})")
    return (flat[:, None] == np.arange(V)[None, :]).astype(np.float64)


def embedding_forward(ids, E):
    E = np.asarray(E, dtype=np.float64)
    return (_one_hot(ids, E.shape[0]) @ E).reshape(np.shape(ids) + (E.shape[1],))  # a product with one-hot rows


def embedding_backward(ids, E, dy):
    E = np.asarray(E, dtype=np.float64)
    return _one_hot(ids, E.shape[0]).T @ np.asarray(dy, dtype=np.float64).reshape(-1, E.shape[1])


def residual_forward(x, W1, b1, W2, b2):
    # column layout: hᵀ = W1ᵀxᵀ + b1, yᵀ = xᵀ + W2ᵀ relu(hᵀ) + b2, transposed back
    xT = np.asarray(x, dtype=np.float64).T
    hT = np.asarray(W1).T @ xT + np.asarray(b1)[:, None]
    return (xT + (np.asarray(W2).T @ np.maximum(hT, 0.0) + np.asarray(b2)[:, None])).T


def residual_backward(x, W1, b1, W2, b2, dy):
    xT, dyT = np.asarray(x, dtype=np.float64).T, np.asarray(dy, dtype=np.float64).T
    W1, W2 = np.asarray(W1, dtype=np.float64), np.asarray(W2, dtype=np.float64)
    hT = W1.T @ xT + np.asarray(b1)[:, None]
    aT = np.maximum(hT, 0.0)
    dhT = np.heaviside(hT, 0.0) * (W2 @ dyT)
    dxT = dyT + W1 @ dhT  # the identity path, then the branch
    return dxT.T, (dhT @ xT.T).T, dhT.sum(axis=1), (dyT @ aT.T).T, dyT.sum(axis=1)
# ----------------------------------------------------------------------------- gelu
_erfc = np.vectorize(math.erfc, otypes=[np.float64])


def _normal_cdf(x):
    """Φ from erfc on either side: erfc(−x/√2)/2 for x < 0, 1 − erfc(x/√2)/2 for x ≥ 0 (no cancellation)."""
    z = np.abs(x) * 0.7071067811865476
    tail = 0.5 * _erfc(z)
    return np.where(x < 0, tail, 1.0 - tail)


def gelu_forward(x):
    x = np.asarray(x, dtype=np.float64)
    return x * _normal_cdf(x)


def gelu_backward(x, dy):
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(over="ignore"):
        pdf = np.exp(-0.5 * np.square(x)) * 0.3989422804014327
    return np.asarray(dy, dtype=np.float64) * (_normal_cdf(x) + x * pdf)


def _sigmoid_of(z):
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _gelu_tanh_parts(x):
    """(1 + tanh u)/2 = σ(2u): s = σ(2u) and s(1 − s), without the cancellation of 1 + tanh u for u ≪ 0."""
    with np.errstate(over="ignore"):
        two_u = 2.0 * 0.7978845608028654 * (x + 0.044715 * x ** 3)
    s = _sigmoid_of(two_u)
    return s, s * _sigmoid_of(-two_u)


def gelu_tanh_forward(x):
    x = np.asarray(x, dtype=np.float64)
    return x * _gelu_tanh_parts(x)[0]


def gelu_tanh_backward(x, dy):
    """d/dx x·σ(2u) = σ(2u) + x·σ(2u)σ(−2u)·2u'."""
    x = np.asarray(x, dtype=np.float64)
    s, ss = _gelu_tanh_parts(x)
    with np.errstate(over="ignore", invalid="ignore"):
        slope = x * ss * (2.0 * 0.7978845608028654 * (1.0 + 3.0 * 0.044715 * x ** 2))
    return np.asarray(dy, dtype=np.float64) * (s + np.where(ss > 0, slope, 0.0))
# ----------------------------------------------------------------------------- attention
def _attention_probs(Q, K, mask):
    """softmax by log-sum-exp (np.logaddexp.reduce), masked scores −∞; the rows batched into one 3-D stack."""
    d = Q.shape[-1]
    S = np.matmul(Q, np.swapaxes(K, -1, -2)) / np.sqrt(d)
    if mask is not None:
        m = np.broadcast_to(np.asarray(mask).astype(bool), S.shape)
        if np.any(np.all(~m, axis=-1)):
            raise ValueError("attention: a query row with every key masked has no softmax")
        S = np.where(m, S, -np.inf)
    return np.exp(S - np.logaddexp.reduce(S, axis=-1, keepdims=True))


def attention_forward(Q, K, V, mask=None):
    Q, K, V = (np.asarray(a, dtype=np.float64) for a in (Q, K, V))
    return np.matmul(_attention_probs(Q, K, mask), V)


def attention_backward(Q, K, V, mask, dy):
    """The softmax's backward through its full Jacobian diag(p) − ppᵀ, row by row."""
    Q, K, V, dy = (np.asarray(a, dtype=np.float64) for a in (Q, K, V, dy))
    P = _attention_probs(Q, K, mask)
    dP = np.matmul(dy, np.swapaxes(V, -1, -2))
    J = P[..., :, None] * np.eye(P.shape[-1]) - P[..., :, None] * P[..., None, :]
    dS = np.einsum("...ijk,...ik->...ij", J, dP)
    r = np.sqrt(Q.shape[-1])
    return np.matmul(dS, K) / r, np.matmul(np.swapaxes(dS, -1, -2), Q) / r, np.matmul(np.swapaxes(P, -1, -2), dy)
