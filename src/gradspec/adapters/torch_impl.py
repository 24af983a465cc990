r"""The gradspec protocol implemented with PyTorch (CPU, float64): ``gradspec.adapters.torch_impl``.

Every protocol function converts its NumPy float64 inputs to fresh torch
float64 tensors (copies: no input is ever modified), computes the forward with
torch's functional ops, the backward with :func:`torch.autograd.grad` and the
given cotangent ``dy``, and returns NumPy float64 arrays (losses: a Python
float). Optimizers run one step of the real ``torch.optim`` class on a copy of
the parameter; init schemes fill a tensor with ``torch.nn.init`` from a
``torch.Generator`` seeded from the NumPy ``Generator`` passed in.

An op whose record holds its torch form (``OpSpec.torch``, next to the op's other pieces in
``gradspec.ops``) gets its forward from that form and its backward by autograd, with nothing written
here (``gradspec ops --json`` lists the records; the conventions of those ops are in their records).

Check it with::

    gradspec check --impl gradspec.adapters.torch_impl
    pytest --pyargs gradspec.conformance --gradspec-impl gradspec.adapters.torch_impl

Conventions: where torch differs from the spec, and how the adapter maps it
==========================================================================

=====================  =====================================  ==========================================
op                     torch                                  adapter
=====================  =====================================  ==========================================
affine                 ``F.linear(x, weight, b)`` with weight  ``F.linear(x, W.T, b)``; dW is the
                       (out, in) = (M, D)                      transpose of torch's weight gradient
mse                    ``F.mse_loss`` mean over all N·K        ``0.5 · F.mse_loss(reduction="sum") / N``
cross_entropy          ``F.cross_entropy`` takes *logits*      the protocol's takes probabilities:
                                                               ``-(t · log p).sum() / N`` in torch ops
softmax_cross_entropy  ``F.cross_entropy(z, labels)``, mean    used as is (same: mean over N)
binary_cross_entropy   ``F.binary_cross_entropy_with_logits``  ``reduction="sum"`` then ``/ N`` (sum over
                       mean over all N·K                       K, mean over the batch)
conv2d                 ``F.conv2d`` (cross-correlation, zero   used as is (same layout (F, C, KH, KW))
                       padding)
max_pool2d             ``F.max_pool2d``: implicit -inf         used as is; stride None -> kernel. On CPU
                       padding, ``pad <= kernel/2``; a tie     the first maximum in row-major window
                       goes to the first maximum scanned       order wins, the spec's rule (tested in
                                                               tests/test_torch_adapter.py)
avg_pool2d             ``F.avg_pool2d`` default                ``count_include_pad=True`` (divisor k²),
                       ``count_include_pad=True``              ``ceil_mode=False``, stated explicitly
batchnorm              ``F.batch_norm``; running variance is   ``training=True`` with no running stats:
                       unbiased, the normalising one biased    batch statistics, biased variance, eps
                                                               inside the square root (the spec's)
dropout                ``F.dropout`` draws its own mask;       the protocol passes the mask:
                       p = drop probability, inverted          ``x · mask / (1 - p)`` (same p, same scaling)
l2_penalty             optimizers' ``weight_decay`` adds λW    ``0.5 · lam · (W²).sum()``; its gradient is
                       to the gradient                         that same λW
clip_grad_norm         ``clip_grad_norm_`` scales by           global norm from
                       ``max_norm / (total_norm + 1e-6)``      ``torch.nn.utils.get_total_norm``, then
                                                               scale by exactly ``max_norm / norm`` when
                                                               norm > max_norm (torch's 1e-6 would miss the
                                                               spec by ~1e-6/norm relative)
clip_grad_value        ``clip_grad_value_`` (in place on       applied to fresh parameters' ``.grad``
                       ``.grad``)                              copies; same clamp to [-clip, clip]
sgd                    ``torch.optim.SGD``                     used as is
momentum               ``SGD(momentum=μ)``: b ← μb + g,        same class; the state keeps the spec's
                       w ← w − lr·b (lr scales the buffer)     v = −lr·b and converts b = −v/lr before
                                                               each step, so the spec's v ← μv − lr·g,
                                                               w ← w + v holds even if lr changes
adagrad                ``Adagrad``: eps outside the root,      used as is with ``lr_decay=0``,
                       default eps 1e-10                       ``initial_accumulator_value=0``; default
                                                               eps is the spec's 1e-7
rmsprop                ``RMSprop(alpha=…)``: eps outside the   ``alpha = decay``; ``centered=False``,
                       root, default eps 1e-8                  ``momentum=0``; default eps the spec's 1e-7
adam                   ``Adam``: bias-corrected, t = 1 first,  used as is (``betas=(beta1, beta2)``,
                       eps outside √v̂                          ``amsgrad=False``)
init (fans)            weight (out, in): fan_in = size(1)      a dense (D, M) weight is drawn as torch's
                                                               (M, D) and transposed, so fan_in = D;
                                                               conv (F, C, KH, KW) fans agree
init_he_*              ``kaiming_*_(a=0, mode="fan_in")``      ``nonlinearity="relu"`` (gain √2)
                       (``nn.Linear`` itself uses a=√5)
init_lecun_normal      no LeCun function                       ``kaiming_normal_(nonlinearity="linear")``
                                                               (gain 1: variance 1/fan_in)
init (randomness)      a ``torch.Generator``                   seeded with one integer drawn from the
                                                               NumPy Generator passed in: the same seed
                                                               gives the same array; torch's global RNG is
                                                               never used
mlp, perceptron        no torch function                       written in torch ops (``F.linear``,
                                                               activations, losses above; autograd for
                                                               the MLP's gradients)
=====================  =====================================  ==========================================

Shapes are the protocol's (see ``gradspec ops``); every function raises
``ValueError`` naming the rule when a shape does not fit it, like the reference.

Threads: a call whose array inputs hold fewer than ``SMALL`` (65 536) elements
runs with torch's intra-op parallelism set to one thread, restored afterwards.
On a busy 2-core machine a parallel region costs milliseconds, 30 times the
whole op at the checker's small shapes (measured: the fd64 check of conv2d
0.62 s with 2 threads vs 0.02 s with 1 while another process kept a core
busy). Larger calls use the threads torch is configured with. The switch is
process-wide for the duration of the call: do not call the adapter from several
threads at once.
"""
from __future__ import annotations

import functools
import numbers

import numpy as np

try:
    import torch
    import torch.nn.functional as F
except ImportError as exc:  # pragma: no cover - exercised only without torch
    raise ImportError(
        "gradspec.adapters.torch_impl needs PyTorch: pip install 'gradspec[torch]'"
    ) from exc

__version__ = f"torch {torch.__version__}"
__gradspec_name__ = "PyTorch adapter (CPU, float64)"

DTYPE = torch.float64


# --------------------------------------------------------------------------- boundary helpers
def _t(name: str, x, grad: bool = False, ndim=None) -> "torch.Tensor":
    """A fresh float64 CPU tensor holding a copy of ``x`` (the input is never aliased)."""
    arr = np.asarray(x)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise TypeError(f"{name} must be a numeric array, got dtype {arr.dtype}")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else ndim
        if arr.ndim not in allowed:
            raise ValueError(f"{name} must have {' or '.join(map(str, allowed))} dimensions, got shape {arr.shape}")
    t = torch.tensor(np.array(arr, dtype=np.float64, copy=True), dtype=DTYPE)
    return t.requires_grad_(True) if grad else t


def _np(t: "torch.Tensor") -> np.ndarray:
    """A NumPy float64 array (own memory) from a tensor."""
    return np.array(t.detach().cpu().numpy(), dtype=np.float64, copy=True)


def _dy(dy, shape) -> "torch.Tensor":
    t = _t("dy", dy)
    if tuple(t.shape) != tuple(shape):
        raise ValueError(f"dy must have the forward output's shape {tuple(shape)}, got {tuple(t.shape)}")
    return t


def _dy_scalar(dy) -> "torch.Tensor":
    arr = np.asarray(dy)
    if arr.size != 1:
        raise ValueError(f"dy of a scalar-valued function must be a scalar, got shape {arr.shape}")
    return torch.tensor(float(arr.reshape(())), dtype=DTYPE)


def _vjp(y: "torch.Tensor", inputs, dy: "torch.Tensor"):
    """VJP of ``y`` with cotangent ``dy`` for every tensor of ``inputs`` (zeros where unused)."""
    grads = torch.autograd.grad(y, inputs, grad_outputs=dy, allow_unused=True)
    return tuple(_np(torch.zeros_like(x) if g is None else g) for x, g in zip(inputs, grads))


def _one(grads):
    return grads[0] if len(grads) == 1 else grads


def _int(name: str, value, low: int) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real) or float(value) != int(value):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if int(value) < low:
        raise ValueError(f"{name} must be >= {low}, got {value!r}")
    return int(value)


def _positive(name: str, value, high: float | None = None, allow_zero: bool = False) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real) or not np.isfinite(value):
        raise ValueError(f"{name} must be a finite real number, got {value!r}")
    value = float(value)
    if value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{name} must be {'>=' if allow_zero else '>'} 0, got {value!r}")
    if high is not None and value >= high:
        raise ValueError(f"{name} must be < {high}, got {value!r}")
    return value


# --------------------------------------------------------------------------- activations
def _unary(fn):
    def forward(x):
        return _np(fn(_t("x", x)))

    def backward(x, dy):
        xt = _t("x", x, grad=True)
        y = fn(xt)
        return _vjp(y, (xt,), _dy(dy, y.shape))[0]

    return forward, backward


def _softmax(x):
    if x.ndim < 1 or x.shape[-1] < 1:
        raise ValueError(f"softmax needs at least one class on the last axis, got shape {tuple(x.shape)}")
    return torch.softmax(x, dim=-1)


sigmoid_forward, sigmoid_backward = _unary(torch.sigmoid)
sigmoid_forward.__doc__ = r"""``torch.sigmoid``: :math:`\sigma(x) = 1/(1+e^{-x})`. Shapes: x any; returns x's shape."""
sigmoid_backward.__doc__ = r"""Autograd VJP of ``torch.sigmoid``: :math:`dy\,\sigma(1-\sigma)`. Shapes: x, dy same shape."""
tanh_forward, tanh_backward = _unary(torch.tanh)
tanh_forward.__doc__ = "``torch.tanh``. Shapes: x any; returns x's shape."
tanh_backward.__doc__ = r"""Autograd VJP of ``torch.tanh``: :math:`dy(1-\tanh^2 x)`. Shapes: x, dy same shape."""
relu_forward, relu_backward = _unary(F.relu)
relu_forward.__doc__ = "``F.relu``: max(x, 0). Shapes: x any; returns x's shape."
relu_backward.__doc__ = "Autograd VJP of ``F.relu``; torch's relu'(0) = 0 is the spec's. Shapes: x, dy same shape."


softmax_forward, softmax_backward = _unary(_softmax)
softmax_forward.__doc__ = "``torch.softmax(x, dim=-1)``. Shapes: x (..., K); returns x's shape."
softmax_backward.__doc__ = r"""Autograd VJP of softmax: :math:`y\odot(dy - \langle dy, y\rangle)`. Shapes: x, dy (..., K)."""


def step_forward(x):
    """Heaviside step ``(x > 0).double()``: step(0) = 0. Shapes: x any; returns x's shape."""
    return _np((_t("x", x) > 0).to(DTYPE))


# --------------------------------------------------------------------------- affine
def _affine(x, W, b):
    if W.shape[0] != x.shape[1]:
        raise ValueError(f"affine: W rows must equal x columns (W is (D, M), x is (N, D)), got x {tuple(x.shape)} and W {tuple(W.shape)}")
    if tuple(b.shape) != (W.shape[1],):
        raise ValueError(f"affine: b must have shape (M,) = ({W.shape[1]},) to match W {tuple(W.shape)}, got {tuple(b.shape)}")
    return F.linear(x, W.T, b)  # torch's weight is (out, in) = (M, D): the protocol's W transposed


def affine_forward(x, W, b):
    r"""``F.linear(x, W.T, b)`` = :math:`xW + b`.

    Shapes
    ------
    x : (N, D), W : (D, M), b : (M,). Returns (N, M).
    """
    return _np(_affine(_t("x", x, ndim=2), _t("W", W, ndim=2), _t("b", b, ndim=1)))


def affine_backward(x, W, b, dy):
    r"""Autograd VJP of ``F.linear``: :math:`(dy\,W^\top,\ x^\top dy,\ \sum_n dy)`.

    Shapes
    ------
    x : (N, D), W : (D, M), b : (M,), dy : (N, M). Returns (dx, dW, db).
    """
    ts = (_t("x", x, True, 2), _t("W", W, True, 2), _t("b", b, True, 1))
    y = _affine(*ts)
    return _vjp(y, ts, _dy(dy, y.shape))


# --------------------------------------------------------------------------- losses
def _pair(ny, y, nt, t, grad):
    yt, tt = _t(ny, y, grad, 2), _t(nt, t, False, 2)
    if yt.shape != tt.shape:
        raise ValueError(f"{ny} and {nt} must have the same shape, got {ny} {tuple(yt.shape)} and {nt} {tuple(tt.shape)}")
    if yt.shape[0] < 1:
        raise ValueError(f"{ny} must hold at least one example (N >= 1), got shape {tuple(yt.shape)}")
    return yt, tt


def _loss(make):
    def forward(a, b):
        return float(make(a, b, False)[0])

    def backward(a, b, dy):
        loss, first = make(a, b, True)
        return _vjp(loss, (first,), _dy_scalar(dy))[0]

    return forward, backward


def _mse(y, t, grad):
    yt, tt = _pair("y", y, "t", t, grad)
    return 0.5 * F.mse_loss(yt, tt, reduction="sum") / yt.shape[0], yt


def _cross_entropy(p, t, grad):
    pt, tt = _pair("p", p, "t", t, grad)
    if bool((pt <= 0).any()) or bool((pt > 1).any()):
        raise ValueError(f"cross_entropy: p must be probabilities in (0, 1], got values in [{float(pt.min()):.6g}, {float(pt.max()):.6g}]")
    return -(tt * torch.log(pt)).sum() / pt.shape[0], pt


def _labels(labels, n, k):
    arr = np.asarray(labels)
    if arr.shape != (n,):
        raise ValueError(f"labels must have shape (N,) = ({n},), got {arr.shape}")
    if arr.dtype.kind == "f" and not np.all(arr == np.round(arr)):
        raise ValueError("labels must hold integer class indices, got non-integer values")
    if arr.dtype.kind not in "iuf":
        raise TypeError(f"labels must be an integer array, got dtype {arr.dtype}")
    if n and (arr.min() < 0 or arr.max() >= k):
        raise ValueError(f"labels must lie in [0, K) = [0, {k}), got values in [{arr.min()}, {arr.max()}]")
    return torch.as_tensor(arr.astype(np.int64))


def _softmax_ce(z, labels, grad):
    zt = _t("z", z, grad, 2)
    if zt.shape[0] < 1 or zt.shape[1] < 1:
        raise ValueError(f"softmax_cross_entropy: z must be (N, K) with N, K >= 1, got {tuple(zt.shape)}")
    return F.cross_entropy(zt, _labels(labels, zt.shape[0], zt.shape[1]), reduction="mean"), zt


def _bce(z, t, grad):
    zt, tt = _pair("z", z, "t", t, grad)
    if bool((tt < 0).any()) or bool((tt > 1).any()):
        raise ValueError(f"binary_cross_entropy: targets t must lie in [0, 1], got values in [{float(tt.min()):.6g}, {float(tt.max()):.6g}]")
    return F.binary_cross_entropy_with_logits(zt, tt, reduction="sum") / zt.shape[0], zt


mse_forward, mse_backward = _loss(_mse)
mse_forward.__doc__ = r""":math:`\frac{1}{2N}\sum(y-t)^2` = ``0.5 · F.mse_loss(y, t, reduction="sum") / N``. Shapes: y, t (N, K); returns a float."""
mse_backward.__doc__ = "Autograd gradient w.r.t. y, times the scalar dy. Shapes: y, t (N, K); returns (N, K)."
cross_entropy_forward, cross_entropy_backward = _loss(_cross_entropy)
cross_entropy_forward.__doc__ = r""":math:`-\frac1N\sum t\log p` in torch ops (``F.cross_entropy`` takes logits). Shapes: p, t (N, K); returns a float."""
cross_entropy_backward.__doc__ = "Autograd gradient w.r.t. p, times dy. Shapes: p, t (N, K); returns (N, K)."
softmax_cross_entropy_forward, softmax_cross_entropy_backward = _loss(_softmax_ce)
softmax_cross_entropy_forward.__doc__ = "``F.cross_entropy(z, labels)`` (mean over N). Shapes: z (N, K), labels (N,); returns a float."
softmax_cross_entropy_backward.__doc__ = "Autograd gradient w.r.t. z, times dy. Shapes: z (N, K), labels (N,); returns (N, K)."
binary_cross_entropy_forward, binary_cross_entropy_backward = _loss(_bce)
binary_cross_entropy_forward.__doc__ = "``F.binary_cross_entropy_with_logits(reduction='sum') / N``. Shapes: z, t (N, K); returns a float."
binary_cross_entropy_backward.__doc__ = "Autograd gradient w.r.t. z, times dy. Shapes: z, t (N, K); returns (N, K)."


# --------------------------------------------------------------------------- conv2d
def _conv(x, W, b, stride, pad):
    stride, pad = _int("stride", stride, 1), _int("pad", pad, 0)
    if W.shape[1] != x.shape[1]:
        raise ValueError(f"conv2d: W channels must equal x channels (W is (F, C, KH, KW), x is (N, C, H, W)), got x {tuple(x.shape)} and W {tuple(W.shape)}")
    if tuple(b.shape) != (W.shape[0],):
        raise ValueError(f"conv2d: b must have shape (F,) = ({W.shape[0]},) to match W {tuple(W.shape)}, got {tuple(b.shape)}")
    H, Wd = x.shape[2] + 2 * pad, x.shape[3] + 2 * pad
    if W.shape[2] > H or W.shape[3] > Wd:
        raise ValueError(f"conv2d: kernel larger than the padded input: kernel {W.shape[2]}x{W.shape[3]}, padded input {H}x{Wd}")
    return F.conv2d(x, W, b, stride=stride, padding=pad)


def conv2d_forward(x, W, b, stride=1, pad=0):
    r"""``F.conv2d`` (cross-correlation, zero padding).

    .. math:: y_{nfij} = b_f + \sum_{c,k,l} W_{fckl}\, x^{pad}_{n,c,is+k,js+l}

    Shapes
    ------
    x : (N, C, H, W), W : (F, C, KH, KW), b : (F,). Returns (N, F, OH, OW).
    """
    return _np(_conv(_t("x", x, ndim=4), _t("W", W, ndim=4), _t("b", b, ndim=1), stride, pad))


def conv2d_backward(x, W, b, stride, pad, dy):
    """Autograd VJP of ``F.conv2d``.

    Shapes
    ------
    x : (N, C, H, W), W : (F, C, KH, KW), b : (F,), dy : (N, F, OH, OW). Returns (dx, dW, db).
    """
    ts = (_t("x", x, True, 4), _t("W", W, True, 4), _t("b", b, True, 1))
    y = _conv(*ts, stride, pad)
    return _vjp(y, ts, _dy(dy, y.shape))


# --------------------------------------------------------------------------- pooling
def _pool_args(op, kernel, stride, pad):
    kernel = _int("kernel", kernel, 1)
    stride = kernel if stride is None else _int("stride", stride, 1)
    pad = _int("pad", pad, 0)
    if pad > kernel // 2:
        raise ValueError(f"{op}: pad must be <= kernel//2 (so every window holds a real element), got pad {pad} for kernel {kernel}")
    return kernel, stride, pad


def _max_pool(x, kernel, stride, pad):
    k, s, p = _pool_args("max_pool2d", kernel, stride, pad)
    return F.max_pool2d(x, k, s, p)  # torch pads with -inf: padding never wins


def _avg_pool(x, kernel, stride, pad):
    k, s, p = _pool_args("avg_pool2d", kernel, stride, pad)
    return F.avg_pool2d(x, k, s, p, ceil_mode=False, count_include_pad=True)  # divisor kernel²


def max_pool2d_forward(x, kernel, stride=None, pad=0):
    """``F.max_pool2d``; padding is -inf. Shapes: x (N, C, H, W); returns (N, C, OH, OW)."""
    return _np(_max_pool(_t("x", x, ndim=4), kernel, stride, pad))


def max_pool2d_backward(x, kernel, stride, pad, dy):
    """Autograd VJP of ``F.max_pool2d``; a tie goes to the first maximum in row-major order.

    Shapes: x (N, C, H, W), dy (N, C, OH, OW); returns dx (N, C, H, W).
    """
    xt = _t("x", x, True, 4)
    y = _max_pool(xt, kernel, stride, pad)
    return _vjp(y, (xt,), _dy(dy, y.shape))[0]


def avg_pool2d_forward(x, kernel, stride=None, pad=0):
    """``F.avg_pool2d(count_include_pad=True)``: divisor kernel². Shapes: x (N, C, H, W); returns (N, C, OH, OW)."""
    return _np(_avg_pool(_t("x", x, ndim=4), kernel, stride, pad))


def avg_pool2d_backward(x, kernel, stride, pad, dy):
    """Autograd VJP of ``F.avg_pool2d``. Shapes: x (N, C, H, W), dy (N, C, OH, OW); returns dx."""
    xt = _t("x", x, True, 4)
    y = _avg_pool(xt, kernel, stride, pad)
    return _vjp(y, (xt,), _dy(dy, y.shape))[0]


# --------------------------------------------------------------------------- batchnorm, dropout, l2
def _bn(x, gamma, beta, eps):
    eps = _positive("eps", eps)
    D = x.shape[1]
    for name, p in (("gamma", gamma), ("beta", beta)):
        if tuple(p.shape) != (D,):
            raise ValueError(f"batchnorm: {name} must have shape ({D},) for x {tuple(x.shape)}, got {tuple(p.shape)}")
    m = x.numel() // D
    if m < 2:
        raise ValueError(f"batchnorm: batch statistics need at least 2 values per normalised group, got x {tuple(x.shape)}")
    # training=True without running statistics: batch mean, biased variance, eps inside the root
    return F.batch_norm(x, None, None, weight=gamma, bias=beta, training=True, eps=eps)


def batchnorm_forward(x, gamma, beta, eps=1e-5):
    r"""``F.batch_norm(training=True)``: :math:`\gamma(x-\mu)/\sqrt{\sigma^2+\epsilon} + \beta`, biased :math:`\sigma^2`.

    Shapes
    ------
    x : (N, D) or (N, C, H, W); gamma, beta : (D,) or (C,). Returns x's shape.
    """
    return _np(_bn(_t("x", x, ndim=(2, 4)), _t("gamma", gamma, ndim=1), _t("beta", beta, ndim=1), eps))


def batchnorm_backward(x, gamma, beta, eps, dy):
    """Autograd VJP of ``F.batch_norm(training=True)``. Returns (dx, dgamma, dbeta)."""
    ts = (_t("x", x, True, (2, 4)), _t("gamma", gamma, True, 1), _t("beta", beta, True, 1))
    y = _bn(*ts, eps)
    return _vjp(y, ts, _dy(dy, y.shape))


def _dropout(x, mask, p):
    p = _positive("p", p, high=1.0, allow_zero=True)
    if tuple(mask.shape) != tuple(x.shape):
        raise ValueError(f"mask and x must have the same shape, got mask {tuple(mask.shape)} and x {tuple(x.shape)}")
    if not bool(((mask == 0) | (mask == 1)).all()):
        raise ValueError("dropout: mask must hold only 0 and 1 (1 = keep)")
    return x * mask / (1.0 - p)  # F.dropout draws its own mask; the protocol passes it


def dropout_forward(x, mask, p):
    r"""Inverted dropout with the given mask, :math:`x \odot m/(1-p)` (p = drop probability, as in torch).

    Shapes: x, mask same shape; returns x's shape.
    """
    return _np(_dropout(_t("x", x), _t("mask", mask), p))


def dropout_backward(x, mask, p, dy):
    """Autograd VJP: dy·mask/(1 − p). Shapes: x, mask, dy same shape."""
    xt = _t("x", x, True)
    y = _dropout(xt, _t("mask", mask), p)
    return _vjp(y, (xt,), _dy(dy, y.shape))[0]


def _l2(W, lam, grad):
    lam = _positive("lam", lam, allow_zero=True)
    Wt = _t("W", W, grad)
    return 0.5 * lam * (Wt * Wt).sum(), Wt


def l2_penalty_forward(W, lam):
    r""":math:`\frac{\lambda}{2}\sum W^2` (a float). Shapes: W any."""
    return float(_l2(W, lam, False)[0])


def l2_penalty_backward(W, lam, dy):
    r"""Autograd gradient :math:`dy\,\lambda W` (torch's ``weight_decay`` adds the same λW). Shapes: W any."""
    loss, Wt = _l2(W, lam, True)
    return _vjp(loss, (Wt,), _dy_scalar(dy))[0]


# --------------------------------------------------------------------------- clipping
def _grad_tensors(grads):
    if isinstance(grads, np.ndarray) or not hasattr(grads, "__iter__"):
        raise TypeError(f"grads must be a list of arrays, got {type(grads).__name__}")
    return [_t(f"grads[{i}]", g) for i, g in enumerate(grads)]


def clip_grad_norm(grads, max_norm):
    r"""Scale all gradients by exactly :math:`\text{max\_norm}/\lVert g\rVert` when the global norm exceeds max_norm.

    The norm is ``torch.nn.utils.get_total_norm``; torch's own ``clip_grad_norm_``
    would divide by ``norm + 1e-6``, which the spec does not.

    Shapes: grads list of arrays of any shapes; returns a new list of the same shapes.
    """
    ts = _grad_tensors(grads)
    max_norm = _positive("max_norm", max_norm)
    if not ts:
        return []
    norm = float(torch.nn.utils.get_total_norm(ts, norm_type=2.0))
    if norm > max_norm:
        return [_np(t * (max_norm / norm)) for t in ts]
    return [_np(t) for t in ts]


def clip_grad_value(grads, clip):
    """``torch.nn.utils.clip_grad_value_`` on fresh parameters whose ``.grad`` are copies of ``grads``.

    Shapes: grads list of arrays of any shapes; returns a new list of the same shapes.
    """
    ts = _grad_tensors(grads)
    clip = _positive("clip", clip)
    params = []
    for t in ts:
        p = torch.nn.Parameter(torch.zeros_like(t))
        p.grad = t
        params.append(p)
    if params:
        torch.nn.utils.clip_grad_value_(params, clip)
    return [_np(p.grad) for p in params]


# --------------------------------------------------------------------------- optimizers (torch.optim)
def _wg(w, g):
    wt, gt = _t("w", w), _t("g", g)
    if wt.shape != gt.shape:
        raise ValueError(f"g and w must have the same shape, got g {tuple(gt.shape)} and w {tuple(wt.shape)}")
    return wt, gt


def _state(state, keys, w, name):
    if not isinstance(state, dict) or any(k not in state for k in keys):
        raise ValueError(f"{name}: state must be the dict returned by {name}_init (keys {list(keys)}), got {state!r:.80}")
    for k in keys:
        if k != "step" and np.shape(state[k]) != tuple(w.shape):
            raise ValueError(f"{name}: state[{k!r}] has shape {np.shape(state[k])}, expected w's shape {tuple(w.shape)}")


def _step(cls, w, g, torch_state: dict, **options):
    """One ``cls`` step on a copy of w with gradient g; returns (w_new tensor, the optimizer's new state)."""
    wt, gt = _wg(w, g)
    p = torch.nn.Parameter(wt)
    p.grad = gt
    opt = cls([p], foreach=False, **options)
    opt.state[p] = {k: (torch.tensor(float(v)) if k == "step" else _t(k, v)) for k, v in torch_state.items()}
    opt.step()
    return p.detach(), opt.state[p]


def sgd_init(w):
    """SGD keeps no state."""
    _t("w", w)
    return {}


def sgd_update(w, g, state, lr):
    r"""``torch.optim.SGD(lr)``: :math:`w \leftarrow w - \eta g`. Shapes: w, g same shape; returns (w_new, {})."""
    w_new, _ = _step(torch.optim.SGD, w, g, {}, lr=_positive("lr", lr))
    return _np(w_new), {}


def momentum_init(w):
    """The spec's velocity v starts at zero."""
    return {"v": np.zeros(np.shape(_t("w", w)))}


def momentum_update(w, g, state, lr, momentum=0.9):
    r"""``torch.optim.SGD(momentum=μ)`` mapped to the spec's :math:`v \leftarrow \mu v - \eta g,\ w \leftarrow w + v`.

    torch keeps :math:`b \leftarrow \mu b + g,\ w \leftarrow w - \eta b`; with
    :math:`b = -v/\eta` before the step and :math:`v = -\eta b` after it the two
    coincide for any sequence of learning rates.

    Shapes: w, g same shape; returns (w_new, {"v": v_new}).
    """
    lr = _positive("lr", lr)
    mu = _positive("momentum", momentum, high=1.0, allow_zero=True)
    wt = _t("w", w)
    _state(state, ("v",), wt, "momentum")
    buf = -np.asarray(state["v"], dtype=np.float64) / lr
    w_new, st = _step(torch.optim.SGD, w, g, {"momentum_buffer": buf}, lr=lr, momentum=mu, dampening=0.0, nesterov=False)
    return _np(w_new), {"v": _np(-lr * st["momentum_buffer"])}


def adagrad_init(w):
    """torch's Adagrad state: the sum of squared gradients (0) and the step count."""
    return {"sum": np.zeros(np.shape(_t("w", w))), "step": 0}


def adagrad_update(w, g, state, lr, eps=1e-7):
    r"""``torch.optim.Adagrad``: :math:`r \leftarrow r + g^2,\ w \leftarrow w - \eta g/(\sqrt r + \epsilon)`.

    ``lr_decay=0``, ``initial_accumulator_value=0``; the default eps is the spec's 1e-7 (torch's is 1e-10).
    Shapes: w, g same shape; returns (w_new, state).
    """
    wt = _t("w", w)
    _state(state, ("sum", "step"), wt, "adagrad")
    w_new, st = _step(torch.optim.Adagrad, w, g, {"sum": state["sum"], "step": state["step"]},
                      lr=_positive("lr", lr), eps=_positive("eps", eps), lr_decay=0.0, initial_accumulator_value=0.0)
    return _np(w_new), {"sum": _np(st["sum"]), "step": int(st["step"])}


def rmsprop_init(w):
    """torch's RMSprop state: the running mean of squared gradients (0) and the step count."""
    return {"square_avg": np.zeros(np.shape(_t("w", w))), "step": 0}


def rmsprop_update(w, g, state, lr, decay=0.99, eps=1e-7):
    r"""``torch.optim.RMSprop(alpha=decay)``: :math:`r \leftarrow \rho r + (1-\rho)g^2,\ w \leftarrow w - \eta g/(\sqrt r + \epsilon)`.

    ``centered=False``, ``momentum=0``; the default eps is the spec's 1e-7 (torch's is 1e-8).
    Shapes: w, g same shape; returns (w_new, state).
    """
    wt = _t("w", w)
    _state(state, ("square_avg", "step"), wt, "rmsprop")
    w_new, st = _step(torch.optim.RMSprop, w, g, {"square_avg": state["square_avg"], "step": state["step"]},
                      lr=_positive("lr", lr), alpha=_positive("decay", decay, high=1.0, allow_zero=True),
                      eps=_positive("eps", eps), centered=False, momentum=0.0)
    return _np(w_new), {"square_avg": _np(st["square_avg"]), "step": int(st["step"])}


def adam_init(w):
    """torch's Adam state: first and second moments (0) and the step count (0: the first update uses t = 1)."""
    z = np.zeros(np.shape(_t("w", w)))
    return {"exp_avg": z, "exp_avg_sq": z.copy(), "step": 0}


def adam_update(w, g, state, lr, beta1=0.9, beta2=0.999, eps=1e-8):
    r"""``torch.optim.Adam(betas=(beta1, beta2))``: bias-corrected, t = 1 first, eps outside :math:`\sqrt{\hat v}`.

    Shapes: w, g same shape; returns (w_new, state).
    """
    wt = _t("w", w)
    _state(state, ("exp_avg", "exp_avg_sq", "step"), wt, "adam")
    b1 = _positive("beta1", beta1, high=1.0, allow_zero=True)
    b2 = _positive("beta2", beta2, high=1.0, allow_zero=True)
    w_new, st = _step(torch.optim.Adam, w, g, {k: state[k] for k in ("exp_avg", "exp_avg_sq", "step")},
                      lr=_positive("lr", lr), betas=(b1, b2), eps=_positive("eps", eps), amsgrad=False)
    return _np(w_new), {"exp_avg": _np(st["exp_avg"]), "exp_avg_sq": _np(st["exp_avg_sq"]), "step": int(st["step"])}


# --------------------------------------------------------------------------- init (torch.nn.init)
def _init(shape, rng, fill):
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator (np.random.default_rng(seed)), got {type(rng).__name__}")
    try:
        shape = tuple(int(s) for s in shape)
    except TypeError:
        raise TypeError(f"shape must be a tuple of ints, got {shape!r}") from None
    if len(shape) not in (2, 4) or any(s < 1 for s in shape):
        raise ValueError(f"init: shape must be dense (D, M) or conv (F, C, KH, KW) with every dimension >= 1, got {shape}")
    gen = torch.Generator().manual_seed(int(rng.integers(0, 2**63 - 1)))
    # torch reads a 2-D weight as (out, in): draw the protocol's (D, M) as (M, D) and transpose
    t = torch.empty(shape[::-1] if len(shape) == 2 else shape, dtype=DTYPE)
    fill(t, gen)
    return _np(t.T if len(shape) == 2 else t)


def init_xavier_normal(shape, rng):
    r"""``nn.init.xavier_normal_``: :math:`\mathcal N(0, 2/(n_{in}+n_{out}))`. Shapes: shape (D, M) or (F, C, KH, KW)."""
    return _init(shape, rng, lambda t, g: torch.nn.init.xavier_normal_(t, generator=g))


def init_xavier_uniform(shape, rng):
    r"""``nn.init.xavier_uniform_``: :math:`U[-a, a]`, :math:`a = \sqrt{6/(n_{in}+n_{out})}`."""
    return _init(shape, rng, lambda t, g: torch.nn.init.xavier_uniform_(t, generator=g))


def init_he_normal(shape, rng):
    r"""``nn.init.kaiming_normal_(mode="fan_in", nonlinearity="relu")``: :math:`\mathcal N(0, 2/n_{in})`."""
    return _init(shape, rng, lambda t, g: torch.nn.init.kaiming_normal_(t, mode="fan_in", nonlinearity="relu", generator=g))


def init_he_uniform(shape, rng):
    r"""``nn.init.kaiming_uniform_(mode="fan_in", nonlinearity="relu")``: :math:`U[-a, a]`, :math:`a = \sqrt{6/n_{in}}`."""
    return _init(shape, rng, lambda t, g: torch.nn.init.kaiming_uniform_(t, mode="fan_in", nonlinearity="relu", generator=g))


def init_lecun_normal(shape, rng):
    r"""``nn.init.kaiming_normal_(mode="fan_in", nonlinearity="linear")``: :math:`\mathcal N(0, 1/n_{in})`."""
    return _init(shape, rng, lambda t, g: torch.nn.init.kaiming_normal_(t, mode="fan_in", nonlinearity="linear", generator=g))


# --------------------------------------------------------------------------- mlp, perceptron
_HIDDEN = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": F.relu}
_OUTPUTS = ("identity_mse", "sigmoid_mse", "softmax_cross_entropy")


def mlp_loss_and_grads(params, X, T, hidden, output):
    r"""Loss and autograd gradients of an L-layer perceptron in the row layout.

    :math:`a^0 = X,\ z^l = a^{l-1}W^l + b^l` (``F.linear(a, W.T, b)``),
    :math:`a^l = \sigma(z^l)` for hidden layers; the output is ``identity_mse``
    (:math:`\frac{1}{2N}\sum(z^L-T)^2`), ``sigmoid_mse`` (the same on
    :math:`\sigma(z^L)`) or ``softmax_cross_entropy`` (``F.cross_entropy``).

    Shapes
    ------
    params : [(W (n_{l-1}, n_l), b (n_l,))]; X : (N, D); T : (N, K) or labels (N,).
    Returns (loss float, [(dW, db)] with the shapes of params).
    """
    if hidden not in _HIDDEN:
        raise ValueError(f"mlp: hidden must be one of {tuple(_HIDDEN)}, got {hidden!r}")
    if output not in _OUTPUTS:
        raise ValueError(f"mlp: output must be one of {_OUTPUTS}, got {output!r}")
    if isinstance(params, np.ndarray) or not isinstance(params, (list, tuple)) or len(params) < 1:
        raise ValueError("mlp: params must be a non-empty list of (W, b) pairs")
    a = _t("X", X, ndim=2)
    N = a.shape[0]
    if N < 1:
        raise ValueError(f"mlp: X must hold at least one example, got shape {tuple(a.shape)}")
    leaves = []
    for l, pair in enumerate(params, start=1):
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise ValueError(f"mlp: params[{l - 1}] must be a (W, b) pair")
        W, b = _t(f"W{l}", pair[0], True, 2), _t(f"b{l}", pair[1], True, 1)
        if W.shape[0] != a.shape[1] or tuple(b.shape) != (W.shape[1],):
            raise ValueError(f"mlp: layer {l} needs W{l} ({a.shape[1]}, n) and b{l} (n,), got W{l} {tuple(W.shape)} and b{l} {tuple(b.shape)}")
        leaves += [W, b]
        z = F.linear(a, W.T, b)
        a = _HIDDEN[hidden](z) if l < len(params) else z
    if output == "softmax_cross_entropy":
        loss = F.cross_entropy(z, _labels(T, N, z.shape[1]))
    else:
        Tt = _t("T", T, ndim=2)
        if tuple(Tt.shape) != tuple(z.shape):
            raise ValueError(f"mlp: T must have the output's shape {tuple(z.shape)}, got {tuple(Tt.shape)}")
        out = z if output == "identity_mse" else torch.sigmoid(z)
        loss = 0.5 * F.mse_loss(out, Tt, reduction="sum") / N
    grads = _vjp(loss, leaves, torch.tensor(1.0, dtype=DTYPE))
    return float(loss.detach()), [(grads[2 * i], grads[2 * i + 1]) for i in range(len(params))]


def perceptron_update(w, b, x, t, lr):
    r"""One step of the perceptron rule in torch ops: :math:`y = [w\cdot x + b > 0]`,
    :math:`w \leftarrow w + \eta(t-y)x,\ b \leftarrow b + \eta(t-y)`.

    Shapes: w (D,), x (D,), b and t scalars (t in {0, 1}); returns (w_new (D,), b_new float).
    """
    wt, xt = _t("w", w, ndim=1), _t("x", x, ndim=1)
    if wt.shape != xt.shape:
        raise ValueError(f"perceptron: x must have D = {wt.shape[0]} features to match w, got x {tuple(xt.shape)}")
    if float(t) not in (0.0, 1.0):
        raise ValueError(f"perceptron: target t must be 0 or 1, got {t!r}")
    lr = _positive("lr", lr)
    y = (torch.dot(wt, xt) + float(b) > 0).to(DTYPE)
    delta = lr * (float(t) - y)
    return _np(wt + delta * xt), float(float(b) + delta)


# --------------------------------------------------------------------------- ops whose record holds their torch form
def _record_arg(arg, value, grad: bool):
    """A forward argument as the record's torch form takes it (see ``OpSpec.torch``)."""
    if isinstance(value, (np.ndarray, list, tuple)) and np.asarray(value).dtype != object:
        arr = np.asarray(value)
        if arr.dtype.kind in "iu":
            return torch.as_tensor(np.array(arr, dtype=np.int64, copy=True))
        if arr.dtype.kind in "fb":
            return _t(arg.name, arr, grad=grad)
    return value


def _from_record(op):
    """The forward and backward of ``op`` from its record's torch form, the backward by autograd."""
    def forward(*args):
        if len(args) != len(op.args):
            raise TypeError(f"{op.forward} takes {len(op.args)} arguments ({', '.join(a.name for a in op.args)}), "
                            f"got {len(args)}")
        y = op.torch(*[_record_arg(a, v, False) for a, v in zip(op.args, args)])
        return float(y) if op.kind_facts.scalar_output else _np(y)

    def backward(*args):
        if len(args) != len(op.args) + 1:
            raise TypeError(f"{op.backward} takes {len(op.args) + 1} arguments "
                            f"({', '.join(a.name for a in op.args)}, dy), got {len(args)}")
        *fargs, dy = args
        ts = [_record_arg(a, v, a.differentiable) for a, v in zip(op.args, fargs)]
        y = op.torch(*ts)
        inputs = tuple(t for a, t in zip(op.args, ts) if a.differentiable)
        return _one(_vjp(y, inputs, _dy_scalar(dy) if op.kind_facts.scalar_output else _dy(dy, y.shape)))

    forward.__name__, backward.__name__ = op.forward, op.backward
    return {op.forward: forward, op.backward: backward}


def _record_ops() -> dict:
    from ..registry import OPS

    return {name: fn for op in OPS if op.torch is not None and op.kind_facts.has_backward
            for name, fn in _from_record(op).items()}


globals().update({name: fn for name, fn in _record_ops().items() if name not in globals()})


# --------------------------------------------------------------------------- threads
SMALL = 1 << 16


def _elements(value) -> int:
    if isinstance(value, np.ndarray):
        return value.size
    if isinstance(value, (list, tuple)):
        return sum(_elements(v) for v in value)
    return 0


def _small_single_threaded(fn):
    """Run ``fn`` on one torch thread when its array inputs are small (see the module docstring)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        threads = torch.get_num_threads()
        if threads == 1 or _elements(args) >= SMALL:
            return fn(*args, **kwargs)
        torch.set_num_threads(1)
        try:
            return fn(*args, **kwargs)
        finally:
            torch.set_num_threads(threads)

    return wrapper


for _name in [n for n, v in list(globals().items()) if callable(v) and not n.startswith("_")
              and getattr(v, "__module__", None) == __name__ and not isinstance(v, type)]:
    globals()[_name] = _small_single_threaded(globals()[_name])
del _name
