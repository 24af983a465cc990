"""Rewrite "order": every op of the protocol, written with the floating-point operations in another order.

Same functions as the spec, rounded differently: divisions before products, means taken per row first,
reductions with ``einsum`` or ``@`` instead of ``sum``, constants folded (``1 - p`` with an integer 1).
Written from the protocol in the README, not from ``gradspec.reference``.
"""
from __future__ import annotations

import math

import numpy as np


# ----------------------------------------------------------------------------- activations
def _sigmoid(x):
    # e^{-|x|} in (0, 1]: no overflow; the negative side as e/(1 + e)
    e = np.exp(-np.abs(x))
    d = 1.0 + e
    return np.where(x < 0, e / d, 1.0 / d)


def sigmoid_forward(x):
    return _sigmoid(np.asarray(x, dtype=np.float64))


def sigmoid_backward(x, dy):
    s = _sigmoid(np.asarray(x, dtype=np.float64))
    return (s * (1 - s)) * dy


def tanh_forward(x):
    return np.tanh(np.asarray(x, dtype=np.float64))


def tanh_backward(x, dy):
    t = np.tanh(np.asarray(x, dtype=np.float64))
    return dy - dy * t * t


def relu_forward(x):
    x = np.asarray(x, dtype=np.float64)
    return x * (x > 0)


def relu_backward(x, dy):
    return dy * (np.asarray(x) > 0)


def leaky_relu_forward(x, alpha):
    x = np.asarray(x, dtype=np.float64)
    return x * (x > 0) + alpha * x * (x <= 0)


def leaky_relu_backward(x, alpha, dy):
    x = np.asarray(x)
    return dy * (x > 0) + alpha * dy * (x <= 0)


def step_forward(x):
    return np.where(np.asarray(x) > 0, 1.0, 0.0)


def softmax_forward(x):
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(over="ignore"):
        e = np.exp(x - np.max(x, axis=-1, keepdims=True))
    return e * (1 / np.sum(e, axis=-1, keepdims=True))


def softmax_backward(x, dy):
    y = softmax_forward(x)
    inner = np.einsum("...k,...k->...", y, dy)[..., None]
    return y * dy - y * inner


# ----------------------------------------------------------------------------- affine
def affine_forward(x, W, b):
    return np.einsum("nd,dm->nm", x, W) + b


def affine_backward(x, W, b, dy):
    return np.einsum("nm,dm->nd", dy, W), np.einsum("nd,nm->dm", x, dy), np.einsum("nm->m", dy)


# ----------------------------------------------------------------------------- losses (mean over the batch taken first per row)
def mse_forward(y, t):
    r = np.asarray(y, dtype=np.float64) - t
    return float(np.mean(0.5 * np.sum(r * r, axis=1)))


def mse_backward(y, t, dy):
    return (dy / len(y)) * (np.asarray(y, dtype=np.float64) - t)


def cross_entropy_forward(p, t):
    return float(np.mean(-np.sum(t * np.log(p), axis=1)))


def cross_entropy_backward(p, t, dy):
    return -(dy / len(p)) * (t / p)


def _logsumexp(z):
    m = np.max(z, axis=1)
    with np.errstate(over="ignore"):
        return m + np.log(np.sum(np.exp(z - m[:, None]), axis=1))


def softmax_cross_entropy_forward(z, labels):
    z = np.asarray(z, dtype=np.float64)
    labels = np.asarray(labels).astype(int)
    return float(np.mean(_logsumexp(z) - z[np.arange(len(z)), labels]))


def softmax_cross_entropy_backward(z, labels, dy):
    z = np.asarray(z, dtype=np.float64)
    labels = np.asarray(labels).astype(int)
    onehot = np.zeros_like(z)
    onehot[np.arange(len(z)), labels] = 1.0
    return (softmax_forward(z) - onehot) * (dy / len(z))


def binary_cross_entropy_forward(z, t):
    z = np.asarray(z, dtype=np.float64)
    per_row = np.sum(np.logaddexp(0.0, z) - z * t, axis=1)  # softplus(z) − z·t
    return float(np.mean(per_row))


def binary_cross_entropy_backward(z, t, dy):
    return (_sigmoid(np.asarray(z, dtype=np.float64)) - t) * (dy / len(z))


# ----------------------------------------------------------------------------- conv2d (einsum over sliding windows)
def _pad(x, pad, fill=0.0):
    return np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), constant_values=fill)


def _windows(xp, KH, KW, stride, OH, OW):
    from numpy.lib.stride_tricks import sliding_window_view

    return sliding_window_view(xp, (KH, KW), axis=(2, 3))[:, :, ::stride, ::stride][:, :, :OH, :OW]


def _out(H, K, stride, pad):
    return (H + 2 * pad - K) // stride + 1


def conv2d_forward(x, W, b, stride=1, pad=0):
    x, W = np.asarray(x, dtype=np.float64), np.asarray(W, dtype=np.float64)
    OH, OW = _out(x.shape[2], W.shape[2], stride, pad), _out(x.shape[3], W.shape[3], stride, pad)
    win = _windows(_pad(x, pad), W.shape[2], W.shape[3], stride, OH, OW)  # (N, C, OH, OW, KH, KW)
    return np.einsum("ncijkl,fckl->nfij", win, W) + np.asarray(b)[None, :, None, None]


def conv2d_backward(x, W, b, stride, pad, dy):
    x, W = np.asarray(x, dtype=np.float64), np.asarray(W, dtype=np.float64)
    N, C, H, Wd = x.shape
    F, _, KH, KW = W.shape
    OH, OW = dy.shape[2], dy.shape[3]
    win = _windows(_pad(x, pad), KH, KW, stride, OH, OW)
    dW = np.einsum("ncijkl,nfij->fckl", win, dy)
    db = np.einsum("nfij->f", dy)
    dxp = np.zeros((N, C, H + 2 * pad, Wd + 2 * pad))
    contrib = np.einsum("nfij,fckl->ncklij", dy, W)
    for k in range(KH):
        for l in range(KW):
            dxp[:, :, k:k + stride * OH:stride, l:l + stride * OW:stride] += contrib[:, :, k, l]
    return dxp[:, :, pad:pad + H, pad:pad + Wd].copy(), dW, db


# ----------------------------------------------------------------------------- pooling
def max_pool2d_forward(x, kernel, stride=None, pad=0):
    stride = kernel if stride is None else stride
    x = np.asarray(x, dtype=np.float64)
    OH, OW = _out(x.shape[2], kernel, stride, pad), _out(x.shape[3], kernel, stride, pad)
    return _windows(_pad(x, pad, -np.inf), kernel, kernel, stride, OH, OW).max(axis=(-2, -1))


def max_pool2d_backward(x, kernel, stride, pad, dy):
    stride = kernel if stride is None else stride
    x = np.asarray(x, dtype=np.float64)
    N, C, H, Wd = x.shape
    OH, OW = dy.shape[2], dy.shape[3]
    win = _windows(_pad(x, pad, -np.inf), kernel, kernel, stride, OH, OW).reshape(N, C, OH, OW, -1)
    first = np.argmax(win, axis=-1)  # the first maximum in row-major order
    dxp = np.zeros((N, C, H + 2 * pad, Wd + 2 * pad))
    n, c, i, j = np.indices((N, C, OH, OW))
    np.add.at(dxp, (n, c, i * stride + first // kernel, j * stride + first % kernel), dy)
    return dxp[:, :, pad:pad + H, pad:pad + Wd].copy()


def avg_pool2d_forward(x, kernel, stride=None, pad=0):
    stride = kernel if stride is None else stride
    x = np.asarray(x, dtype=np.float64)
    OH, OW = _out(x.shape[2], kernel, stride, pad), _out(x.shape[3], kernel, stride, pad)
    return np.mean(_windows(_pad(x, pad), kernel, kernel, stride, OH, OW), axis=(-2, -1))


def avg_pool2d_backward(x, kernel, stride, pad, dy):
    stride = kernel if stride is None else stride
    N, C, H, Wd = np.shape(x)
    OH, OW = dy.shape[2], dy.shape[3]
    share = dy * (1.0 / (kernel * kernel))
    dxp = np.zeros((N, C, H + 2 * pad, Wd + 2 * pad))
    for k in range(kernel):
        for l in range(kernel):
            dxp[:, :, k:k + stride * OH:stride, l:l + stride * OW:stride] += share
    return dxp[:, :, pad:pad + H, pad:pad + Wd].copy()


# ----------------------------------------------------------------------------- batchnorm: dx = γ/σ·(dy − mean(dy) − x̂·mean(dy·x̂))
def _bn_axes(x):
    return ((0,), (1, -1)) if x.ndim == 2 else ((0, 2, 3), (1, -1, 1, 1))


def _bn_stats(x, eps):
    axes, _ = _bn_axes(x)
    mu = np.mean(x, axis=axes, keepdims=True)
    xc = x - mu
    sigma = np.sqrt(np.mean(xc * xc, axis=axes, keepdims=True) + eps)
    return xc / sigma, sigma


def batchnorm_forward(x, gamma, beta, eps=1e-5):
    x = np.asarray(x, dtype=np.float64)
    _, shape = _bn_axes(x)
    xh, _ = _bn_stats(x, eps)
    return xh * np.reshape(gamma, shape) + np.reshape(beta, shape)


def batchnorm_backward(x, gamma, beta, eps, dy):
    x = np.asarray(x, dtype=np.float64)
    axes, shape = _bn_axes(x)
    xh, sigma = _bn_stats(x, eps)
    dx = (np.reshape(gamma, shape) / sigma) * (
        dy - np.mean(dy, axis=axes, keepdims=True) - xh * np.mean(dy * xh, axis=axes, keepdims=True))
    return dx, np.sum(xh * dy, axis=axes), np.sum(dy, axis=axes)


def layernorm_forward(x, gamma, beta, eps=1e-5):
    x = np.asarray(x, dtype=np.float64)
    axes = tuple(range(x.ndim - np.ndim(gamma), x.ndim))
    xc = x - np.mean(x, axis=axes, keepdims=True)
    return (np.asarray(gamma) / np.sqrt(np.mean(xc * xc, axis=axes, keepdims=True) + eps)) * xc + beta


def layernorm_backward(x, gamma, beta, eps, dy):
    """γ/σ·(dy − mean dy − x̂·mean(dy·x̂)) with dy·γ inside the means (γ varies along the normalised axes)."""
    x = np.asarray(x, dtype=np.float64)
    k = np.ndim(gamma)
    axes, lead = tuple(range(x.ndim - k, x.ndim)), tuple(range(x.ndim - k))
    xc = x - np.mean(x, axis=axes, keepdims=True)
    sigma = np.sqrt(np.mean(xc * xc, axis=axes, keepdims=True) + eps)
    xh = xc / sigma
    g = dy * gamma
    dx = (g - np.mean(g, axis=axes, keepdims=True) - xh * np.mean(g * xh, axis=axes, keepdims=True)) / sigma
    return dx, np.sum(xh * dy, axis=lead), np.sum(dy, axis=lead)


# ----------------------------------------------------------------------------- dropout, l2, clipping
def dropout_forward(x, mask, p):
    return x * mask / (1 - p)


def dropout_backward(x, mask, p, dy):
    return dy * mask / (1 - p)


def l2_penalty_forward(W, lam):
    W = np.asarray(W, dtype=np.float64)
    return float(lam / 2 * np.dot(W.ravel(), W.ravel()))


def l2_penalty_backward(W, lam, dy):
    return (lam * dy) * np.asarray(W, dtype=np.float64)


def clip_grad_norm(grads, max_norm):
    grads = [np.asarray(g, dtype=np.float64) for g in grads]
    scale = max((float(np.abs(g).max()) for g in grads if g.size), default=0.0)
    norm = 0.0 if scale == 0 else scale * float(np.sqrt(sum(np.sum(np.square(g / scale)) for g in grads)))
    if norm <= max_norm:
        return [np.array(g) for g in grads]
    factor = max_norm / norm
    return [factor * g for g in grads]


def clip_grad_value(grads, clip):
    return [np.minimum(clip, np.maximum(-clip, np.asarray(g, dtype=np.float64))) for g in grads]


# ----------------------------------------------------------------------------- optimizers (dict state)
def sgd_init(w):
    return {}


def sgd_update(w, g, state, lr):
    return w - lr * np.asarray(g), {}


def momentum_init(w):
    return {"v": np.zeros(np.shape(w))}


def momentum_update(w, g, state, lr, momentum=0.9):
    v = momentum * state["v"] - lr * np.asarray(g)
    return w + v, {"v": v}


def adagrad_init(w):
    return {"r": np.zeros(np.shape(w))}


def adagrad_update(w, g, state, lr, eps=1e-7):
    r = state["r"] + np.square(g)
    return w - lr / (np.sqrt(r) + eps) * g, {"r": r}


def rmsprop_init(w):
    return {"r": np.zeros(np.shape(w))}


def rmsprop_update(w, g, state, lr, decay=0.99, eps=1e-7):
    r = decay * state["r"] + (1 - decay) * np.square(g)
    return w - lr / (np.sqrt(r) + eps) * g, {"r": r}


def adam_init(w):
    return {"t": 0, "m": np.zeros(np.shape(w)), "v": np.zeros(np.shape(w))}


def adam_update(w, g, state, lr, beta1=0.9, beta2=0.999, eps=1e-8):
    """Bias correction folded into the step size, eps rescaled to keep the function:

    lr·m̂/(√v̂ + eps) = lr·(√(1−β₂ᵗ)/(1−β₁ᵗ))·m/(√v + eps·√(1−β₂ᵗ)), exactly (multiply through by √(1−β₂ᵗ)).
    """
    t = state["t"] + 1
    m = beta1 * state["m"] + (1 - beta1) * g
    v = beta2 * state["v"] + (1 - beta2) * np.square(g)
    c2 = np.sqrt(1 - beta2**t)
    step = lr * c2 / (1 - beta1**t)
    return w - step * m / (np.sqrt(v) + eps * c2), {"t": t, "m": m, "v": v}


# ----------------------------------------------------------------------------- init (statistics only: other draws)
def _fans(shape):
    shape = tuple(int(s) for s in shape)
    if len(shape) == 2:
        return shape[0], shape[1]
    F, C, KH, KW = shape
    return C * KH * KW, F * KH * KW


def init_xavier_normal(shape, rng):
    fi, fo = _fans(shape)
    return rng.standard_normal(tuple(shape)) * np.sqrt(2 / (fi + fo))


def init_xavier_uniform(shape, rng):
    fi, fo = _fans(shape)
    return np.sqrt(6 / (fi + fo)) * (2 * rng.random(tuple(shape)) - 1)


def init_he_normal(shape, rng):
    fi, _ = _fans(shape)
    return rng.standard_normal(tuple(shape)) / np.sqrt(fi / 2)


def init_he_uniform(shape, rng):
    fi, _ = _fans(shape)
    return np.sqrt(6 / fi) * (2 * rng.random(tuple(shape)) - 1)


def init_lecun_normal(shape, rng):
    fi, _ = _fans(shape)
    return rng.standard_normal(tuple(shape)) / np.sqrt(fi)


# ----------------------------------------------------------------------------- perceptron
def perceptron_update(w, b, x, t, lr):
    w, x = np.asarray(w, dtype=np.float64), np.asarray(x, dtype=np.float64)
    y = 1.0 if float(np.dot(x, w) + b) > 0 else 0.0
    err = lr * (t - y)
    return w + err * x, float(b + err)


# ----------------------------------------------------------------------------- MLP (row layout, δ without 1/N, the mean taken in BP3/BP4)
def _act(name, z):
    if name == "sigmoid":
        return _sigmoid(z)
    return np.tanh(z) if name == "tanh" else np.maximum(z, 0.0)


def _act_prime(name, z):
    if name == "sigmoid":
        s = _sigmoid(z)
        return s * (1 - s)
    if name == "tanh":
        t = np.tanh(z)
        return 1 - t * t
    return (z > 0) * 1.0


def mlp_loss_and_grads(params, X, T, hidden, output):
    X = np.asarray(X, dtype=np.float64)
    N = X.shape[0]
    a, acts, zs = X, [X], []
    for l, (W, b) in enumerate(params):
        z = a @ W + b
        zs.append(z)
        if l < len(params) - 1:
            a = _act(hidden, z)
            acts.append(a)
    zL = zs[-1]
    if output == "softmax_cross_entropy":
        labels = np.asarray(T).astype(int)
        loss = float(np.mean(_logsumexp(zL) - zL[np.arange(N), labels]))
        delta = softmax_forward(zL)
        delta[np.arange(N), labels] -= 1
    else:
        aL = zL if output == "identity_mse" else _sigmoid(zL)
        r = aL - T
        loss = float(np.mean(0.5 * np.sum(r * r, axis=1)))
        delta = r if output == "identity_mse" else r * (aL * (1 - aL))
    grads = [None] * len(params)
    for l in range(len(params) - 1, -1, -1):
        grads[l] = (acts[l].T @ delta / N, np.sum(delta, axis=0) / N)
        if l:
            delta = (delta @ params[l][0].T) * _act_prime(hidden, zs[l - 1])
    return loss, grads


# ----------------------------------------------------------------------------- rnn (one product per step, einsum sums)
def _rnn_states(x, h0, Wx, Wh, b):
    W = np.concatenate([Wh, Wx])  # [h, x] @ [Wh; Wx]: one product per step
    h, out = h0, []
    for t in range(x.shape[1]):
        h = np.tanh(b + np.concatenate([h, x[:, t]], axis=1) @ W)
        out.append(h)
    return np.stack(out, axis=1)


def rnn_forward(x, h0, Wx, Wh, b):
    return _rnn_states(*(np.asarray(a, dtype=np.float64) for a in (x, h0, Wx, Wh, b)))


def rnn_backward(x, h0, Wx, Wh, b, dy):
    x, h0, Wx, Wh, b, dy = (np.asarray(a, dtype=np.float64) for a in (x, h0, Wx, Wh, b, dy))
    h = _rnn_states(x, h0, Wx, Wh, b)
    prev = np.concatenate([h0[:, None], h[:, :-1]], axis=1)
    delta = np.empty_like(h)
    carry = np.zeros_like(h0)
    for t in reversed(range(h.shape[1])):
        delta[:, t] = dy[:, t] * (1 - h[:, t] ** 2) + carry * (1 - h[:, t] ** 2)
        carry = delta[:, t] @ Wh.T
    return (np.einsum("nth,dh->ntd", delta, Wx), carry, np.einsum("ntd,nth->dh", x, delta),
            np.einsum("ntk,nth->kh", prev, delta), np.einsum("nth->h", delta))
# ----------------------------------------------------------------------------- embedding, residual block
def _ids_in_range(ids, V):
    ids = np.asarray(ids)
    if ids.size and not (0 <= ids.min() and ids.max() < V):
        raise ValueError(f"ids must lie in [0, {V}), got values in [{ids.min()}, {ids.max()}]")
    return ids


def embedding_forward(ids, E):
    E = np.asarray(E, dtype=np.float64)
    ids = _ids_in_range(ids, E.shape[0])
    return E[ids.reshape(-1)].reshape(ids.shape + (E.shape[1],))


def embedding_backward(ids, E, dy):
    E = np.asarray(E, dtype=np.float64)
    flat = _ids_in_range(ids, E.shape[0]).reshape(-1)
    rows = np.asarray(dy, dtype=np.float64).reshape(-1, E.shape[1])
    dE = np.zeros(E.shape)
    for v in np.unique(flat):  # each used row once, its rows of dy summed by np.sum (pairwise)
        dE[v] = rows[flat == v].sum(axis=0)
    return dE


def residual_forward(x, W1, b1, W2, b2):
    x = np.asarray(x, dtype=np.float64)
    h = x @ W1 + b1
    return (x + b2) + (h * (h > 0)) @ W2  # the biases added to x first


def residual_backward(x, W1, b1, W2, b2, dy):
    x, dy = np.asarray(x, dtype=np.float64), np.asarray(dy, dtype=np.float64)
    h = x @ W1 + b1
    a = h * (h > 0)
    dh = (h > 0) * np.einsum("nd,hd->nh", dy, W2)
    return np.einsum("nh,dh->nd", dh, W1) + dy, np.einsum("nd,nh->dh", x, dh), np.einsum("nh->h", dh), \
        np.einsum("nh,nd->hd", a, dy), np.einsum("nd->d", dy)
# ----------------------------------------------------------------------------- gelu
_erfc = np.vectorize(math.erfc, otypes=[np.float64])


def _phi_cdf(x):
    """Φ(x) = erfc(−x/√2)/2, the division by √2 done as a division."""
    return _erfc(-x / np.sqrt(2.0)) / 2.0


def gelu_forward(x):
    x = np.asarray(x, dtype=np.float64)
    return x * _phi_cdf(x)


def gelu_backward(x, dy):
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(over="ignore"):
        pdf = np.exp(-(x * x) / 2.0) / np.sqrt(2.0 * np.pi)
    return dy * _phi_cdf(x) + dy * x * pdf


def _gelu_u(x):
    """u = √(2/π)·x·(1 + 0.044715·x²): x factored out."""
    return np.sqrt(2.0 / np.pi) * x * (1.0 + 0.044715 * (x * x))


def gelu_tanh_forward(x):
    x = np.asarray(x, dtype=np.float64)
    return x * (1.0 + np.tanh(_gelu_u(x))) / 2.0


def gelu_tanh_backward(x, dy):
    x = np.asarray(x, dtype=np.float64)
    t = np.tanh(_gelu_u(x))
    du = np.sqrt(2.0 / np.pi) + (3.0 * 0.044715 * np.sqrt(2.0 / np.pi)) * (x * x)
    return dy * ((1.0 + t) + x * ((1.0 - t) * (1.0 + t)) * du) / 2.0
# ----------------------------------------------------------------------------- attention
def _attention_mask(mask, shape):
    if mask is None:
        return np.ones(shape, dtype=bool)
    m = np.broadcast_to(np.asarray(mask) != 0, shape)
    if not m.any(axis=-1).all():
        raise ValueError("attention: every query row must attend at least one key")
    return m


def _attention_weights(Q, K, mask):
    # the scale applied to Q before the product, the scores by einsum, the softmax divided after the shift
    c = 1.0 / np.sqrt(Q.shape[-1])
    S = np.einsum("...id,...jd->...ij", Q * c, K)
    S = np.where(_attention_mask(mask, S.shape), S, -np.inf)
    e = np.exp(S - np.max(S, axis=-1, keepdims=True))
    return e * (1.0 / np.sum(e, axis=-1, keepdims=True)), c


def attention_forward(Q, K, V, mask=None):
    Q, K, V = (np.asarray(a, dtype=np.float64) for a in (Q, K, V))
    P, _ = _attention_weights(Q, K, mask)
    return np.einsum("...ij,...jc->...ic", P, V)


def attention_backward(Q, K, V, mask, dy):
    Q, K, V, dy = (np.asarray(a, dtype=np.float64) for a in (Q, K, V, dy))
    P, c = _attention_weights(Q, K, mask)
    dP = np.einsum("...ic,...jc->...ij", dy, V)
    dS = P * dP - P * np.einsum("...ij,...ij->...i", P, dP)[..., None]
    return (np.einsum("...ij,...jd->...id", dS, K * c), np.einsum("...ij,...id->...jd", dS, Q * c),
            np.einsum("...ij,...ic->...jc", P, dy))
