r"""A library of mutated implementations: the reference with one protocol function replaced.

Each :class:`Mutant` has a ``name``, the ``op`` it targets, a ``description``
of the bug, and ``impl``: a namespace holding every function of
:mod:`gradspec.reference` with one (or a consistent pair, e.g. a forward and
its backward) replaced by a plausible bug — a scaled gradient element, a
missing transpose, a missing activation derivative, a wrong factor of N or 2,
a convention flipped at a kink, eps in the wrong place, a wrong fan, normal
instead of uniform, a non-inverted dropout, Adam without bias correction...

``MUTANTS`` is the list; ``by_op(op)`` filters it. The meta-tests
(``tests/test_mutants.py``) show every one is caught by the properties, and
:mod:`gradspec.properties.mutation_score` reports caught / total per op.
Usable by any tool that needs known-wrong implementations (e.g. a diagnosis
engine)::

    from gradspec.properties.mutants import MUTANTS
    for m in MUTANTS:
        gradspec.check(m.impl, ops=[m.op])
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import numpy as np

from .. import reference as spec
from ..reference import mlp as ref_mlp
from ..reference.conv import check_window, output_size
from ..reference.init import fans
from ..registry import REGISTRY

_BASE = {k: getattr(spec, k) for k in dir(spec) if not k.startswith("_") and callable(getattr(spec, k))}


@dataclass(frozen=True)
class Mutant:
    """A known-wrong implementation: the reference with ``op``'s functions mutated."""

    name: str
    op: str
    description: str
    impl: Any

    def __repr__(self):
        return f"Mutant({self.name!r}, op={self.op!r})"


def make_impl(name: str, **overrides) -> SimpleNamespace:
    """A namespace with every reference function, ``overrides`` replacing some."""
    unknown = [k for k in overrides if k not in _BASE]
    if unknown:
        raise KeyError(f"mutant {name}: {unknown} are not functions of gradspec.reference")
    ns = SimpleNamespace(**{**_BASE, **overrides})
    ns.__name__ = f"mutant:{name}"
    ns.__gradspec_name__ = f"mutant {name}"
    return ns


MUTANTS: list[Mutant] = []


def _add(name, op, description, **overrides):
    if op not in REGISTRY:
        raise KeyError(f"mutant {name}: unknown op {op!r}")
    MUTANTS.append(Mutant(name, op, description, make_impl(name, **overrides)))


# --------------------------------------------------------------------------- a scaled gradient element, for every op with a gradient
def _scaled_element(backward, factor=1.001):
    def mutated(*args):
        out = backward(*args)
        grads = list(out) if isinstance(out, tuple) else [out]
        g = np.array(grads[0], dtype=np.float64)
        if g.size:
            k = int(np.argmax(np.abs(g)))
            g.flat[k] *= factor
        grads[0] = g
        return tuple(grads) if isinstance(out, tuple) else grads[0]

    return mutated


for _op in REGISTRY.values():
    if _op.kind in ("differentiable", "loss"):
        _add(f"{_op.name}_scaled_gradient_element", _op.name,
             f"{_op.backward} multiplies its largest gradient element by 1.001",
             **{_op.backward: _scaled_element(getattr(spec, _op.backward))})


# --------------------------------------------------------------------------- activations
def _sig(x):
    return spec.sigmoid_forward(x)


_add("sigmoid_missing_derivative", "sigmoid", "sigmoid_backward returns dy·σ(x), missing the factor (1 − σ(x))",
     sigmoid_backward=lambda x, dy: np.asarray(dy) * _sig(x))
_add("tanh_derivative_not_squared", "tanh", "tanh_backward uses 1 − tanh(x) instead of 1 − tanh²(x)",
     tanh_backward=lambda x, dy: np.asarray(dy) * (1.0 - np.tanh(x)))
_add("relu_prime_at_zero_is_one", "relu", "relu_backward passes the gradient at x = 0 (relu'(0) = 1)",
     relu_backward=lambda x, dy: np.where(np.asarray(x) >= 0, dy, 0.0))
_add("step_at_zero_is_one", "step", "step_forward returns 1 at x = 0", step_forward=lambda x: (np.asarray(x) >= 0).astype(np.float64))
_add("softmax_backward_diagonal_only", "softmax", "softmax_backward keeps only the diagonal of the Jacobian: y·dy",
     softmax_backward=lambda x, dy: spec.softmax_forward(x) * dy)


def _softmax_unshifted(x):
    e = np.exp(np.asarray(x, dtype=np.float64))
    return e / e.sum(axis=-1, keepdims=True)


def _softmax_unshifted_backward(x, dy):
    y = _softmax_unshifted(x)
    return y * (dy - np.sum(dy * y, axis=-1, keepdims=True))


_add("softmax_without_max_shift", "softmax", "softmax exponentiates without subtracting the row maximum (overflows at 1000)",
     softmax_forward=_softmax_unshifted, softmax_backward=_softmax_unshifted_backward)


def _softmax_axis0(x):
    x = np.asarray(x, dtype=np.float64)
    e = np.exp(x - x.max(axis=0, keepdims=True))
    return e / e.sum(axis=0, keepdims=True)


def _softmax_axis0_backward(x, dy):
    y = _softmax_axis0(x)
    return y * (dy - np.sum(dy * y, axis=0, keepdims=True))


_add("softmax_over_batch_axis", "softmax", "softmax normalises over the first axis instead of the last",
     softmax_forward=_softmax_axis0, softmax_backward=_softmax_axis0_backward)

# --------------------------------------------------------------------------- affine
_add("affine_missing_transpose", "affine", "affine_backward computes dx = dy·W instead of dy·Wᵀ",
     affine_backward=lambda x, W, b, dy: (np.asarray(dy) @ np.asarray(W), np.asarray(x).T @ dy, np.asarray(dy).sum(axis=0)))
_add("affine_bias_grad_averaged", "affine", "affine_backward averages db over the batch instead of summing",
     affine_backward=lambda x, W, b, dy: (np.asarray(dy) @ np.asarray(W).T, np.asarray(x).T @ dy, np.asarray(dy).mean(axis=0)))
_add("affine_dW_divided_by_N", "affine", "affine_backward divides dW by the batch size N (the 1/N belongs to the loss)",
     affine_backward=lambda x, W, b, dy: (np.asarray(dy) @ np.asarray(W).T, np.asarray(x).T @ dy / np.shape(x)[0],
                                          np.asarray(dy).sum(axis=0)))

# --------------------------------------------------------------------------- losses
_add("mse_forward_missing_half", "mse", "mse_forward omits the ½: Σ(y−t)²/N (a factor of 2)",
     mse_forward=lambda y, t: float(np.sum((np.asarray(y) - t) ** 2) / np.shape(y)[0]))
_add("mse_backward_missing_1_over_N", "mse", "mse_backward forgets the 1/N of the batch mean",
     mse_backward=lambda y, t, dy: dy * (np.asarray(y) - t))
_add("cross_entropy_backward_missing_1_over_N", "cross_entropy", "cross_entropy_backward forgets the 1/N",
     cross_entropy_backward=lambda p, t, dy: -dy * np.asarray(t) / np.asarray(p))


def _sce_no_onehot(z, labels, dy):
    return dy * spec.softmax_forward(z) / np.shape(z)[0]


_add("softmax_cross_entropy_missing_onehot", "softmax_cross_entropy", "the backward returns softmax(z)/N, forgetting to subtract the one-hot label",
     softmax_cross_entropy_backward=_sce_no_onehot)


def _sce_unstable(z, labels):
    z = np.asarray(z, dtype=np.float64)
    lse = np.log(np.sum(np.exp(z), axis=1))
    return float(np.sum(lse - z[np.arange(z.shape[0]), np.asarray(labels)]) / z.shape[0])


_add("softmax_cross_entropy_unstable", "softmax_cross_entropy", "the forward computes log Σ exp(z) without the max shift (inf at logits of 1000)",
     softmax_cross_entropy_forward=_sce_unstable)
_add("binary_cross_entropy_backward_missing_1_over_N", "binary_cross_entropy", "binary_cross_entropy_backward forgets the 1/N",
     binary_cross_entropy_backward=lambda z, t, dy: dy * (spec.sigmoid_forward(z) - t))


def _bce_naive(z, t):
    s = spec.sigmoid_forward(z)
    t = np.asarray(t)
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(-np.sum(t * np.log(s) + (1 - t) * np.log(1 - s)) / np.shape(z)[0])


_add("binary_cross_entropy_log_of_sigmoid", "binary_cross_entropy", "the forward takes log σ(z) and log(1 − σ(z)): −inf/NaN at logits of ±1000",
     binary_cross_entropy_forward=_bce_naive)

# --------------------------------------------------------------------------- conv2d
_flip = lambda W: np.asarray(W)[..., ::-1, ::-1].copy()  # noqa: E731


def _conv_flipped_backward(x, W, b, stride, pad, dy):
    dx, dW, db = spec.conv2d_backward(x, _flip(W), b, stride, pad, dy)
    return dx, _flip(dW), db


_add("conv2d_kernel_flipped", "conv2d", "a true convolution (flipped kernel) instead of cross-correlation, forward and backward consistent",
     conv2d_forward=lambda x, W, b, stride=1, pad=0: spec.conv2d_forward(x, _flip(W), b, stride, pad),
     conv2d_backward=_conv_flipped_backward)


def _col2im_overwrite(cols, x_shape, KH, KW, stride, pad):
    N, C, H, W = (int(s) for s in x_shape)
    stride, pad, OH, OW = check_window("col2im", H, W, KH, KW, stride, pad)
    c6 = np.asarray(cols).reshape(N, OH, OW, C, KH, KW).transpose(0, 3, 4, 5, 1, 2)
    xp = np.zeros((N, C, H + 2 * pad, W + 2 * pad))
    for i in range(KH):
        for j in range(KW):
            xp[:, :, i: i + stride * OH: stride, j: j + stride * OW: stride] = c6[:, :, i, j]  # overwrites overlaps
    return xp[:, :, pad: pad + H, pad: pad + W].copy()


def _conv_backward_overwrite(x, W, b, stride, pad, dy):
    x, W, dy = (np.asarray(v, dtype=np.float64) for v in (x, W, dy))
    N, F, KH, KW = x.shape[0], W.shape[0], W.shape[2], W.shape[3]
    OH, OW = dy.shape[2], dy.shape[3]
    dcol = dy.transpose(0, 2, 3, 1).reshape(N * OH * OW, F)
    cols = spec.im2col(x, KH, KW, stride, pad)
    return (_col2im_overwrite(dcol @ W.reshape(F, -1), x.shape, KH, KW, stride, pad),
            (dcol.T @ cols).reshape(W.shape), dy.sum(axis=(0, 2, 3)))


_add("conv2d_col2im_overwrites_overlaps", "conv2d", "col2im assigns instead of adding, losing gradient where windows overlap (stride < kernel)",
     col2im=_col2im_overwrite, conv2d_backward=_conv_backward_overwrite)
_add("conv2d_bias_grad_averaged", "conv2d", "conv2d_backward averages db over batch and positions instead of summing",
     conv2d_backward=lambda x, W, b, stride, pad, dy: spec.conv2d_backward(x, W, b, stride, pad, dy)[:2] + (np.asarray(dy).mean(axis=(0, 2, 3)),))

# --------------------------------------------------------------------------- pooling
from numpy.lib.stride_tricks import sliding_window_view  # noqa: E402


def _pool_windows(x, k, s, p, fill):
    x = np.asarray(x, dtype=np.float64)
    OH, OW = output_size(x.shape[2], k, s, p), output_size(x.shape[3], k, s, p)
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)), constant_values=fill)
    win = sliding_window_view(xp, (k, k), axis=(2, 3))[:, :, ::s, ::s][:, :, :OH, :OW]
    return win.reshape(*win.shape[:4], k * k), OH, OW


def _pool_scatter(g, x_shape, k, s, p, OH, OW):
    N, C, H, W = x_shape
    gp = np.zeros((N, C, H + 2 * p, W + 2 * p))
    g = g.reshape(*g.shape[:4], k, k)
    for i in range(k):
        for j in range(k):
            gp[:, :, i: i + s * OH: s, j: j + s * OW: s] += g[..., i, j]
    return gp[:, :, p: p + H, p: p + W].copy()


def _maxpool_backward(choose, fill=-np.inf):
    def backward(x, kernel, stride, pad, dy):
        win, OH, OW = _pool_windows(x, kernel, stride, pad, fill)
        weights = choose(win)
        return _pool_scatter(weights * np.asarray(dy)[..., None], np.shape(x), kernel, stride, pad, OH, OW)

    return backward


def _last_max(win):
    kk = win.shape[-1]
    idx = kk - 1 - np.argmax(win[..., ::-1], axis=-1)
    return (np.arange(kk) == idx[..., None]).astype(np.float64)


def _split_ties(win):
    m = win == win.max(axis=-1, keepdims=True)
    return m / m.sum(axis=-1, keepdims=True)


def _first_max(win):
    return (np.arange(win.shape[-1]) == win.argmax(axis=-1)[..., None]).astype(np.float64)


_add("max_pool2d_last_max_on_ties", "max_pool2d", "a tie sends the gradient to the last maximum of the window",
     max_pool2d_backward=_maxpool_backward(_last_max))
_add("max_pool2d_splits_ties", "max_pool2d", "a tie splits the gradient evenly among the maxima",
     max_pool2d_backward=_maxpool_backward(_split_ties))
_add("max_pool2d_zero_padding", "max_pool2d", "pads with 0 instead of −inf, so the padding wins windows of negative values",
     max_pool2d_forward=lambda x, kernel, stride=None, pad=0: _pool_windows(x, kernel, kernel if stride is None else stride, pad, 0.0)[0].max(axis=-1),
     max_pool2d_backward=_maxpool_backward(_first_max, fill=0.0))


def _avg_excl(x, kernel, stride, pad):
    win, OH, OW = _pool_windows(x, kernel, stride, pad, np.nan)
    return win, np.sum(~np.isnan(win), axis=-1), OH, OW


def _avg_exclude_forward(x, kernel, stride=None, pad=0):
    win, count, _, _ = _avg_excl(x, kernel, kernel if stride is None else stride, pad)
    return np.nansum(win, axis=-1) / count


def _avg_exclude_backward(x, kernel, stride, pad, dy):
    win, count, OH, OW = _avg_excl(x, kernel, stride, pad)
    g = np.broadcast_to((np.asarray(dy) / count)[..., None], win.shape)
    return _pool_scatter(g, np.shape(x), kernel, stride, pad, OH, OW)


_add("avg_pool2d_excludes_padding", "avg_pool2d", "divides by the number of real cells (count_include_pad=False) instead of kernel²",
     avg_pool2d_forward=_avg_exclude_forward, avg_pool2d_backward=_avg_exclude_backward)
_add("avg_pool2d_backward_missing_divisor", "avg_pool2d", "avg_pool2d_backward spreads dy without dividing by kernel²",
     avg_pool2d_backward=lambda x, kernel, stride, pad, dy: spec.avg_pool2d_backward(x, kernel, stride, pad, dy) * kernel * kernel)


# --------------------------------------------------------------------------- batchnorm
def _bn(ddof=0, eps_outside=False, drop_var_term=False, dbeta_mean=False):
    def stats(x, eps):
        x = np.asarray(x, dtype=np.float64)
        axes = (0,) if x.ndim == 2 else (0, 2, 3)
        shape = (1, -1) if x.ndim == 2 else (1, -1, 1, 1)
        m = int(np.prod([x.shape[a] for a in axes]))
        xc = x - x.mean(axis=axes, keepdims=True)
        var = np.sum(xc * xc, axis=axes, keepdims=True) / (m - ddof)
        inv = 1.0 / (np.sqrt(var) + eps) if eps_outside else 1.0 / np.sqrt(var + eps)
        return x, axes, shape, m, xc * inv, inv

    def fwd(x, gamma, beta, eps=1e-5):
        x, axes, shape, m, xhat, _ = stats(x, eps)
        return np.asarray(gamma).reshape(shape) * xhat + np.asarray(beta).reshape(shape)

    def bwd(x, gamma, beta, eps, dy):
        x, axes, shape, m, xhat, inv = stats(x, eps)
        dy = np.asarray(dy, dtype=np.float64)
        dxhat = dy * np.asarray(gamma).reshape(shape)
        dx = inv * (dxhat - dxhat.mean(axis=axes, keepdims=True))
        if not drop_var_term:
            dx = dx - inv * xhat * np.sum(dxhat * xhat, axis=axes, keepdims=True) / (m - ddof)
        dbeta = dy.mean(axis=axes) if dbeta_mean else dy.sum(axis=axes)
        return dx, np.sum(dy * xhat, axis=axes), dbeta

    return fwd, bwd


_f, _b = _bn(ddof=1)
_add("batchnorm_unbiased_variance", "batchnorm", "normalises by the unbiased variance (÷(m−1)) instead of the biased one (÷m)",
     batchnorm_forward=_f, batchnorm_backward=_b)
_f, _b = _bn(eps_outside=True)
_add("batchnorm_eps_outside_sqrt", "batchnorm", "divides by √σ² + eps instead of √(σ² + eps)", batchnorm_forward=_f)
_f, _b = _bn(drop_var_term=True)
_add("batchnorm_backward_missing_variance_term", "batchnorm", "the backward treats the variance as a constant (drops the x̂·Σ dx̂·x̂ term)",
     batchnorm_backward=_b)
_f, _b = _bn(dbeta_mean=True)
_add("batchnorm_dbeta_averaged", "batchnorm", "dbeta is the mean of dy instead of its sum", batchnorm_backward=_b)

# --------------------------------------------------------------------------- dropout, l2, clipping
_add("dropout_not_inverted", "dropout", "classic dropout: y = x·mask, without the 1/(1 − p) scale (E[y] = (1 − p)x)",
     dropout_forward=lambda x, mask, p: np.asarray(x) * mask, dropout_backward=lambda x, mask, p, dy: np.asarray(dy) * mask)
_add("dropout_backward_ignores_mask", "dropout", "dropout_backward scales dy by 1/(1 − p) but forgets the mask",
     dropout_backward=lambda x, mask, p, dy: np.asarray(dy) / (1.0 - p))
_add("l2_penalty_backward_factor_2", "l2_penalty", "the gradient of 0.5·lam·ΣW² is taken as 2·lam·W",
     l2_penalty_backward=lambda W, lam, dy: dy * 2 * lam * np.asarray(W))


def _clip_per_array(grads, max_norm):
    out = []
    for g in grads:
        n = float(np.linalg.norm(np.ravel(g)))
        out.append(np.asarray(g) * (max_norm / n) if n > max_norm else np.array(g, dtype=np.float64))
    return out


_add("clip_grad_norm_per_array", "clip_grad_norm", "clips each array to max_norm separately instead of by the global norm",
     clip_grad_norm=_clip_per_array)
_add("clip_grad_norm_always_rescales", "clip_grad_norm", "rescales to exactly max_norm even when the norm is below it",
     clip_grad_norm=lambda grads, max_norm: [np.asarray(g) * (max_norm / max(spec.global_norm(grads), 1e-300)) for g in grads])
_add("clip_grad_value_one_sided", "clip_grad_value", "clamps only from above: min(g, clip)",
     clip_grad_value=lambda grads, clip: [np.minimum(np.asarray(g, dtype=np.float64), clip) for g in grads])


# --------------------------------------------------------------------------- optimizers
_add("sgd_sign_flipped", "sgd", "w ← w + lr·g (ascends)", sgd_update=lambda w, g, state, lr: (np.asarray(w) + lr * np.asarray(g), {}))


def _momentum_dampened(w, g, state, lr, momentum=0.9):
    v = momentum * state["v"] - (1 - momentum) * lr * np.asarray(g)
    return np.asarray(w) + v, {"v": v}


def _momentum_stale(w, g, state, lr, momentum=0.9):
    return np.asarray(w) + state["v"], {"v": momentum * state["v"] - lr * np.asarray(g)}


_add("momentum_dampened", "momentum", "v ← μv − (1 − μ)·lr·g (an EMA of gradients) instead of v ← μv − lr·g",
     momentum_update=_momentum_dampened)
_add("momentum_stale_velocity", "momentum", "steps with the old velocity, then updates it (the step lags by one)",
     momentum_update=_momentum_stale)


def _adagrad(eps_inside=False, accumulate=True):
    def update(w, g, state, lr, eps=1e-7):
        g = np.asarray(g, dtype=np.float64)
        cache = state["cache"] + g * g if accumulate else g * g
        denom = np.sqrt(cache + eps) if eps_inside else np.sqrt(cache) + eps
        return np.asarray(w) - lr * g / denom, {"cache": cache}

    return update


_add("adagrad_eps_inside_sqrt", "adagrad", "divides by √(r + eps) instead of √r + eps", adagrad_update=_adagrad(eps_inside=True))
_add("adagrad_no_accumulation", "adagrad", "r ← g² (forgets the accumulated sum): the step never shrinks", adagrad_update=_adagrad(accumulate=False))


def _rmsprop(eps_inside=False, swapped=False):
    def update(w, g, state, lr, decay=0.99, eps=1e-7):
        g = np.asarray(g, dtype=np.float64)
        cache = (1 - decay) * state["cache"] + decay * g * g if swapped else decay * state["cache"] + (1 - decay) * g * g
        denom = np.sqrt(cache + eps) if eps_inside else np.sqrt(cache) + eps
        return np.asarray(w) - lr * g / denom, {"cache": cache}

    return update


_add("rmsprop_eps_inside_sqrt", "rmsprop", "divides by √(r + eps) instead of √r + eps", rmsprop_update=_rmsprop(eps_inside=True))
_add("rmsprop_decay_swapped", "rmsprop", "r ← (1 − ρ)r + ρg² (the decay applied to the wrong term)", rmsprop_update=_rmsprop(swapped=True))


def _adam(bias_correction=True, eps_inside=False):
    def update(w, g, state, lr, beta1=0.9, beta2=0.999, eps=1e-8):
        g = np.asarray(g, dtype=np.float64)
        t = int(state["t"]) + 1
        m = beta1 * state["m"] + (1 - beta1) * g
        v = beta2 * state["v"] + (1 - beta2) * g * g
        mh, vh = (m / (1 - beta1**t), v / (1 - beta2**t)) if bias_correction else (m, v)
        denom = np.sqrt(vh + eps) if eps_inside else np.sqrt(vh) + eps
        return np.asarray(w) - lr * mh / denom, {"m": m, "v": v, "t": t}

    return update


_add("adam_no_bias_correction", "adam", "Adam without the bias correction of m and v", adam_update=_adam(bias_correction=False))
_add("adam_step_counter_off_by_one", "adam", "the step counter starts at 1, so the first update uses t = 2",
     adam_init=lambda w: {"m": np.zeros_like(np.asarray(w, dtype=np.float64)), "v": np.zeros_like(np.asarray(w, dtype=np.float64)), "t": 1})
_add("adam_eps_inside_sqrt", "adam", "divides by √(v̂ + eps) instead of √v̂ + eps", adam_update=_adam(eps_inside=True))


# --------------------------------------------------------------------------- init
def _normal(var_fn):
    return lambda shape, rng: rng.normal(0.0, math.sqrt(var_fn(*fans(shape))), size=tuple(shape))


def _uniform(var_fn):
    return lambda shape, rng: (lambda a: rng.uniform(-a, a, size=tuple(shape)))(math.sqrt(3 * var_fn(*fans(shape))))


_add("init_xavier_normal_lecun_fan", "init_xavier_normal", "Xavier normal with LeCun's variance 1/fan_in instead of 2/(fan_in + fan_out)",
     init_xavier_normal=_normal(lambda fi, fo: 1.0 / fi))
_add("init_xavier_uniform_draws_normal", "init_xavier_uniform", "Xavier 'uniform' drawn from a normal of the right variance",
     init_xavier_uniform=_normal(lambda fi, fo: 2.0 / (fi + fo)))
_add("init_he_normal_fan_out", "init_he_normal", "He normal with fan_out instead of fan_in", init_he_normal=_normal(lambda fi, fo: 2.0 / fo))
_add("init_he_uniform_lecun_bound", "init_he_uniform", "He uniform with the LeCun bound √(3/fan_in) instead of √(6/fan_in)",
     init_he_uniform=_uniform(lambda fi, fo: 1.0 / fi))
_add("init_lecun_normal_glorot_fans", "init_lecun_normal", "LeCun normal with Glorot's 2/(fan_in + fan_out)",
     init_lecun_normal=_normal(lambda fi, fo: 2.0 / (fi + fo)))
_add("init_he_normal_global_rng", "init_he_normal", "He normal drawn from NumPy's global random state, ignoring the Generator",
     init_he_normal=lambda shape, rng: np.random.normal(0.0, math.sqrt(2.0 / fans(shape)[0]), size=tuple(shape)))


def _he_conv_channels_only(shape, rng):
    shape = tuple(shape)
    fan_in = shape[1] if len(shape) == 4 else shape[0]  # forgets the receptive field KH·KW
    return rng.normal(0.0, math.sqrt(2.0 / fan_in), size=shape)


_add("init_he_normal_conv_fan_without_kernel", "init_he_normal", "for conv weights fan_in = C, forgetting the receptive field KH·KW",
     init_he_normal=_he_conv_channels_only)


# --------------------------------------------------------------------------- perceptron
def _perceptron(ge=False, sign=1.0, bias=True):
    def update(w, b, x, t, lr):
        w, x = np.asarray(w, dtype=np.float64), np.asarray(x, dtype=np.float64)
        a = float(w @ x) + b
        y = 1.0 if (a >= 0 if ge else a > 0) else 0.0
        return w + sign * lr * (t - y) * x, (b + sign * lr * (t - y)) if bias else float(b)

    return update


_add("perceptron_step_at_zero_is_one", "perceptron", "predicts 1 on the boundary w·x + b = 0 (step(0) = 1)", perceptron_update=_perceptron(ge=True))
_add("perceptron_sign_flipped", "perceptron", "w ← w − lr(t − y)x: moves away from the target", perceptron_update=_perceptron(sign=-1.0))
_add("perceptron_bias_not_updated", "perceptron", "updates w but never b", perceptron_update=_perceptron(bias=False))


# --------------------------------------------------------------------------- networks
def _mlp_variant(no_bp2_prime=False, bias_mean=False, relu_ge=False, no_bp1_prime=False, no_transpose=False, col_no_m=False):
    def prime(name, z):
        if relu_ge and name == "relu":
            return (z >= 0).astype(np.float64)
        return ref_mlp.activation_prime(name, z)

    def backprop(params, X, T, hidden, output, layout="row"):
        params, X, T = ref_mlp._check(params, X, T, hidden, output, layout)
        batch_axis = 0 if layout == "row" else 1
        m = X.shape[batch_axis]
        zs, acts = ref_mlp.mlp_forward(params, X, hidden, layout)
        L = len(params)
        loss, delta = ref_mlp._output_and_delta(zs[-1], T, output, batch_axis)
        if no_bp1_prime and output == "sigmoid_mse":
            aL = spec.sigmoid_forward(zs[-1])
            delta = aL - T
        if layout == "row":
            delta = delta / m
        deltas = [None] * L
        deltas[L - 1] = delta
        for l in range(L - 1, 0, -1):
            Wn = params[l][0]
            if no_transpose:
                back = delta @ Wn if layout == "row" else Wn @ delta
            else:
                back = delta @ Wn.T if layout == "row" else Wn.T @ delta
            delta = back if no_bp2_prime else back * prime(hidden, zs[l - 1])
            deltas[l - 1] = delta
        grads = []
        for l in range(L):
            a_in, d = acts[l], deltas[l]
            if layout == "row":
                grads.append((a_in.T @ d, d.mean(axis=0) if bias_mean else d.sum(axis=0)))
            else:
                k = 1 if col_no_m else m
                grads.append((d @ a_in.T / k, d.sum(axis=1, keepdims=True) / m))
        return loss, grads, deltas

    return {"mlp_backprop": backprop,
            "mlp_loss_and_grads": lambda params, X, T, hidden, output: backprop(params, X, T, hidden, output, "row")[:2],
            "mlp_col_loss_and_grads": lambda params, X, T, hidden, output: backprop(params, X, T, hidden, output, "column")[:2]}


_add("mlp_missing_activation_derivative", "mlp", "BP2 without σ'(z^l): δ^l = (W^(l+1))ᵀ δ^(l+1)", **_mlp_variant(no_bp2_prime=True))
_add("mlp_bias_grad_averaged", "mlp", "BP3 in the row layout averages δ over the batch (the 1/N is already inside δ)", **_mlp_variant(bias_mean=True))
_add("mlp_relu_prime_at_zero_is_one", "mlp", "hidden relu'(0) = 1", **_mlp_variant(relu_ge=True))
_add("mlp_bp1_missing_output_derivative", "mlp", "BP1 for a sigmoid output forgets σ'(z^L): δ^L = a^L − y", **_mlp_variant(no_bp1_prime=True))
_add("mlp_missing_transpose", "mlp", "BP2 multiplies by W^(l+1) instead of its transpose", **_mlp_variant(no_transpose=True))
_add("mlp_column_dW_missing_1_over_m", "mlp", "column layout: dW = δ aᵀ without the 1/m of the mini-batch mean", **_mlp_variant(col_no_m=True))

# --------------------------------------------------------------------------- bugs of the generic rules (shapes, purity, determinism, linearity)
_add("tanh_forward_float32", "tanh", "tanh_forward returns float32 (silent precision loss)",
     tanh_forward=lambda x: np.tanh(np.asarray(x, dtype=np.float64)).astype(np.float32))


def _relu_in_place(x):
    if isinstance(x, np.ndarray) and x.dtype == np.float64:
        return np.maximum(x, 0.0, out=x)  # overwrites the caller's array
    return np.maximum(np.asarray(x, dtype=np.float64), 0.0)


_add("relu_forward_in_place", "relu", "relu_forward writes max(x, 0) into x (modifies its input)", relu_forward=_relu_in_place)


def _affine_accumulating():
    buffers = {}

    def backward(x, W, b, dy):
        dy = np.asarray(dy, dtype=np.float64)
        buf = buffers.setdefault(dy.shape[1], np.zeros(dy.shape[1]))
        buf += dy.sum(axis=0)  # a gradient buffer that is never zeroed between calls
        return dy @ np.asarray(W).T, np.asarray(x).T @ dy, buf.copy()

    return backward


_add("affine_backward_accumulates_db", "affine", "db accumulates into a persistent buffer that is never zeroed (the second call differs)",
     affine_backward=_affine_accumulating())
_add("relu_backward_clips_dy", "relu", "relu_backward clips the upstream gradient to [−1, 1] (not linear in dy)",
     relu_backward=lambda x, dy: np.where(np.asarray(x) > 0, np.clip(dy, -1.0, 1.0), 0.0))


def _sigmoid_overflowing(x):
    with np.errstate(over="ignore", invalid="ignore"):  # silenced, as in many a training script
        e = np.exp(np.asarray(x, dtype=np.float64))
        return e / (1.0 + e)


_add("sigmoid_exp_overflow", "sigmoid", "sigmoid as e^x/(1 + e^x): inf/inf = NaN for x > 709",
     sigmoid_forward=_sigmoid_overflowing)
_add("cross_entropy_forward_missing_minus", "cross_entropy", "cross_entropy_forward returns Σ t·log p / N (the minus sign lost)",
     cross_entropy_forward=lambda p, t: float(np.sum(np.asarray(t) * np.log(p)) / np.shape(p)[0]))
_add("cross_entropy_backward_sign_flipped", "cross_entropy", "cross_entropy_backward returns +dy·t/(N p)",
     cross_entropy_backward=lambda p, t, dy: dy * np.asarray(t) / (np.asarray(p) * np.shape(p)[0]))

#: For every property function, one (op, property name, mode, mutant name) it must catch by itself:
#: the proof that each property can fail (tests/test_mutants.py).
WITNESSES: dict[str, tuple[str, str, str, str]] = {
    "prop_forward_matches_spec": ("conv2d", "forward_matches_spec", "away", "conv2d_kernel_flipped"),
    "prop_shapes": ("tanh", "shapes", "away", "tanh_forward_float32"),
    "prop_gradient_fd64": ("sigmoid", "gradient_fd64", "away", "sigmoid_missing_derivative"),
    "prop_agrees_with_oracle": ("tanh", "agrees_with_fd64", "away", "tanh_derivative_not_squared"),
    "prop_linear_in_dy": ("relu", "linear_in_dy", "away", "relu_backward_clips_dy"),
    "prop_no_mutation": ("relu", "no_mutation", "away", "relu_forward_in_place"),
    "prop_deterministic": ("affine", "deterministic", "away", "affine_backward_accumulates_db"),
    "prop_no_global_random_state": ("init_he_normal", "no_global_random_state", "away", "init_he_normal_global_rng"),
    "prop_sigmoid_symmetry": ("sigmoid", "symmetry", "hard", "sigmoid_exp_overflow"),
    "prop_tanh_odd": ("tanh", "odd_and_bounded_derivative", "away", "tanh_derivative_not_squared"),
    "prop_relu_convention": ("relu", "convention", "on_kink", "relu_prime_at_zero_is_one"),
    "prop_step_convention": ("step", "convention", "on_kink", "step_at_zero_is_one"),
    "prop_softmax_rows_sum_to_one": ("softmax", "rows_sum_to_one", "away", "softmax_over_batch_axis"),
    "prop_softmax_shift_invariant": ("softmax", "shift_invariant", "away", "softmax_over_batch_axis"),
    "prop_softmax_backward_rows_sum_to_zero": ("softmax", "backward_rows_sum_to_zero", "away", "softmax_backward_diagonal_only"),
    "prop_affine_bias_grad_is_sum": ("affine", "bias_grad_is_sum", "away", "affine_bias_grad_averaged"),
    "prop_loss_nonnegative": ("cross_entropy", "nonnegative", "away", "cross_entropy_forward_missing_minus"),
    "prop_cross_entropy_grad_sign": ("cross_entropy", "grad_sign", "away", "cross_entropy_backward_sign_flipped"),
    "prop_sce_grad_rows_sum_to_zero": ("softmax_cross_entropy", "grad_rows_sum_to_zero", "away", "softmax_cross_entropy_missing_onehot"),
    "prop_bce_grad_bounded": ("binary_cross_entropy", "grad_bounded", "away", "binary_cross_entropy_backward_missing_1_over_N"),
    "prop_conv2d_is_cross_correlation": ("conv2d", "is_cross_correlation", "away", "conv2d_kernel_flipped"),
    "prop_conv2d_adjoint": ("conv2d", "backward_is_adjoint", "away", "conv2d_col2im_overwrites_overlaps"),
    "prop_im2col_adjoint": ("conv2d", "im2col_col2im_adjoint", "away", "conv2d_col2im_overwrites_overlaps"),
    "prop_pool_matches_definition": ("max_pool2d", "matches_definition", "on_kink", "max_pool2d_last_max_on_ties"),
    "prop_maxpool_routes_to_one_element": ("max_pool2d", "routes_to_one_element", "on_kink", "max_pool2d_splits_ties"),
    "prop_avgpool_total": ("avg_pool2d", "total_gradient", "on_kink", "avg_pool2d_excludes_padding"),
    "prop_batchnorm_normalises": ("batchnorm", "normalises", "away", "batchnorm_unbiased_variance"),
    "prop_batchnorm_grad_identities": ("batchnorm", "gradient_identities", "away", "batchnorm_dbeta_averaged"),
    "prop_dropout_same_mask": ("dropout", "same_mask_backward", "away", "dropout_backward_ignores_mask"),
    "prop_dropout_unbiased": ("dropout", "unbiased", "away", "dropout_not_inverted"),
    "prop_l2_gradient": ("l2_penalty", "gradient_is_lam_W", "away", "l2_penalty_backward_factor_2"),
    "prop_clip_norm": ("clip_grad_norm", "direction_and_bound", "away", "clip_grad_norm_per_array"),
    "prop_clip_value": ("clip_grad_value", "clamps", "away", "clip_grad_value_one_sided"),
    "prop_optimizer_closed_form": ("adam", "closed_form_constant_gradient", "away", "adam_no_bias_correction"),
    "prop_optimizer_matches_spec": ("momentum", "trajectory_matches_spec", "away", "momentum_dampened"),
    "prop_optimizer_decreases_quadratic": ("sgd", "decreases_convex_quadratic", "away", "sgd_sign_flipped"),
    "prop_sgd_step": ("sgd", "step_is_minus_lr_g", "away", "sgd_sign_flipped"),
    "prop_momentum_zero_is_sgd": ("momentum", "zero_momentum_is_sgd", "away", "momentum_stale_velocity"),
    "prop_adam_first_step_is_sign": ("adam", "first_step_is_sign", "away", "adam_no_bias_correction"),
    "prop_adagrad_step_shrinks": ("adagrad", "step_shrinks", "away", "adagrad_no_accumulation"),
    "prop_init_statistics": ("init_xavier_uniform", "statistics", "away", "init_xavier_uniform_draws_normal"),
    "prop_perceptron_rule": ("perceptron", "rule", "on_kink", "perceptron_step_at_zero_is_one"),
    "prop_perceptron_learns_gates": ("perceptron", "learns_and_nand_or", "away", "perceptron_sign_flipped"),
    "prop_perceptron_separability": ("perceptron", "separability", "away", "perceptron_sign_flipped"),
    "prop_two_layer_xor": ("perceptron", "two_layer_xor", "away", "perceptron_bias_not_updated"),
    "prop_mlp_gradients_fd64": ("mlp", "gradients_fd64", "away", "mlp_bias_grad_averaged"),
    "prop_mlp_bp1": ("mlp", "bp1_row", "away", "mlp_bp1_missing_output_derivative"),
    "prop_mlp_bp2": ("mlp", "bp2_column", "away", "mlp_missing_activation_derivative"),
    "prop_mlp_bp3": ("mlp", "bp3_row", "away", "mlp_bias_grad_averaged"),
    "prop_mlp_bp4": ("mlp", "bp4_column", "away", "mlp_column_dW_missing_1_over_m"),
    "prop_mlp_layouts_agree": ("mlp", "layouts_agree", "away", "mlp_column_dW_missing_1_over_m"),
    "prop_gradient_flow": ("mlp", "gradient_flow_row", "away", "mlp_missing_activation_derivative"),
    "prop_mlp_relu_convention": ("mlp", "relu_convention", "on_kink", "mlp_relu_prime_at_zero_is_one"),
}

_names = [m.name for m in MUTANTS]
assert len(set(_names)) == len(_names), "duplicate mutant names"


def by_op(op: str) -> list[Mutant]:
    """The mutants that target ``op``."""
    return [m for m in MUTANTS if m.op == op]


def get(name: str) -> Mutant:
    for m in MUTANTS:
        if m.name == name:
            return m
    raise KeyError(f"unknown mutant {name!r}; known: {', '.join(_names)}")


def __getattr__(name: str):
    """``gradspec check --impl gradspec.properties.mutants:<mutant name>`` loads that mutant's implementation."""
    for m in MUTANTS:
        if m.name == name:
            return m.impl
    raise AttributeError(f"module {__name__!r} has no attribute {name!r} (mutants: {', '.join(_names)})")
