r"""The gradspec protocol's differentiable ops implemented with HIPS autograd: ``gradspec.adapters.autograd_impl``.

Every forward is a pure ``autograd.numpy`` function; every backward is ``autograd.make_vjp`` of it with
the given cotangent. Check it with::

    pip install "gradspec[autograd]"
    gradspec check --impl gradspec.adapters.autograd_impl

Provided: sigmoid, tanh, relu, softmax, step, affine, the four losses, conv2d, max_pool2d, avg_pool2d,
batchnorm, dropout, l2_penalty and the mlp, written here; and every op whose record holds an ``xp`` form
(``OpSpec.xp``, NumPy code run over ``autograd.numpy`` with autograd's ``erf`` and ``logsumexp``):
leaky_relu, gelu, gelu_tanh, layernorm, embedding, residual, attention and rnn, built by
:func:`gradspec.adapters.functional.record_ops` with nothing written here (autograd has no optimizer,
clipping or init API: those ops are not provided). autograd has no convolution or pooling primitive for NCHW
images: they are written here in ``autograd.numpy`` (strided slices of the padded input, ``einsum`` and
``max``/``mean`` over the window), so autograd's gradients of those primitives are what gradspec checks.

Conventions: autograd's own, never mapped to the spec's
=======================================================

=============  ============================================  ============================================
op             autograd                                      what gradspec sees
=============  ============================================  ============================================
relu           ``np.maximum(x, 0)``: autograd's gradient of  relu'(0) = 0.5, not the spec's 0: a finding
               ``maximum`` splits a tie evenly               of gradspec's relu kink check
max_pool2d     ``np.max`` over the window: autograd's        a tie splits the gradient evenly among the
               gradient of ``max`` divides it among every    maxima: a finding of gradspec's tie check
               maximum                                       (probable bug: max_pool_tie_split)
mlp            relu hidden units are ``np.maximum(z, 0)``    the same ½ at a pre-activation of exactly 0:
                                                             a finding of gradspec's mlp kink check
avg_pool2d     ``np.mean`` over the zero-padded window       divides by kernel², padding counted: the
                                                             spec's
sigmoid        ``0.5·(tanh(x/2) + 1)``                       stable for |x| = 1000
softmax, CE    ``x − logsumexp(x)``                          stable at logits of ±1000
residual       ``np.maximum(x @ W1 + b1, 0)`` (record form)  relu'(0) = ½ at a pre-activation of exactly
                                                             0: a finding of gradspec's kink check and
                                                             the relu_convention property (probable bug:
                                                             relu_prime_at_zero_is_half)
leaky_relu     ``np.where(x > 0, x, alpha·x)``               slope alpha at 0, the spec's (written as
                                                             ``np.maximum(x, alpha·x)`` it would be
                                                             (1 + alpha)/2: the tie is split)
gelu_tanh      ``np.tanh``: autograd's VJP is 1/cosh²        right; ``cosh`` overflows for |u| > 710 (a
                                                             RuntimeWarning gradspec reports; the value,
                                                             0, is the spec's)
embedding      ``E[ids]``: the VJP of indexing accumulates   the spec's scatter-add; ids outside [0, V)
                                                             are a ValueError, checked before indexing
                                                             (NumPy would read −1 as row V − 1)
attention      ``np.where(mask, S, -inf)``, exp(S − lse)     the spec's; a fully masked row is a
                                                             ValueError, checked on the mask first
=============  ============================================  ============================================
"""
from __future__ import annotations

import numpy as np

try:
    import autograd
    import autograd.numpy as anp
    from autograd.scipy.special import erf, logsumexp
except ImportError as exc:  # pragma: no cover - exercised only without autograd
    raise ImportError("gradspec.adapters.autograd_impl needs autograd: pip install 'gradspec[autograd]'") from exc

from .functional import Backend, Namespace, RecordBackend, build, out_size, record_ops, windows, with_traced

try:
    from importlib.metadata import version as _dist_version

    __version__ = f"autograd {_dist_version('autograd')}"
except Exception:  # noqa: BLE001 - the version is informative only
    __version__ = "autograd"


def _vjp(f, args, dy):
    vjp, y = autograd.make_vjp(lambda flat: f(*flat))(tuple(args))
    return y, tuple(vjp(anp.reshape(dy, anp.shape(y))))


def _log_softmax(x):
    return x - logsumexp(x, axis=-1, keepdims=True)


def _pad(x, p, value):
    if p == 0:
        return x
    return anp.pad(x, ((0, 0), (0, 0), (p, p), (p, p)), mode="constant", constant_values=value)


def _conv(x, W, s, p):
    N, C, H, Wd = x.shape
    F, _, KH, KW = W.shape
    OH, OW = out_size(H, KH, s, p), out_size(Wd, KW, s, p)
    xp = _pad(x, p, 0.0)
    out = 0.0
    for i in range(KH):
        for j in range(KW):
            patch = xp[:, :, i:i + s * (OH - 1) + 1:s, j:j + s * (OW - 1) + 1:s]
            out = out + anp.einsum("nchw,fc->nfhw", patch, W[:, :, i, j])
    return out


def _pool(x, k, s, p, fill, reduce):
    OH, OW = out_size(x.shape[2], k, s, p), out_size(x.shape[3], k, s, p)
    return reduce(windows(anp, _pad(x, p, fill), k, s, OH, OW), axis=-1)


def _max_pool(x, k, s, p):
    return _pool(x, k, s, p, -np.inf, anp.max)


def _avg_pool(x, k, s, p):
    return _pool(x, k, s, p, 0.0, anp.mean)


globals().update(build(Backend(anp, _vjp, lambda a: np.asarray(a), lambda x: anp.maximum(x, 0.0),
                               lambda x: 0.5 * (anp.tanh(0.5 * x) + 1.0), _log_softmax, _conv, _max_pool,
                               _avg_pool)))


#: the namespace of the records' ``xp`` forms (``OpSpec.xp``): ``autograd.numpy`` plus ``erf`` and ``logsumexp``
XP = Namespace(anp, erf=erf, logsumexp=logsumexp)


def _record_vjp(form, values, diff):
    vjp, y = autograd.make_vjp(lambda flat: with_traced(form, values, diff)(*flat))(tuple(values[i] for i in diff))
    return anp.shape(y), lambda d: tuple(vjp(d))


#: how the record forms run here: called as they are (forward) and through ``autograd.make_vjp`` (backward)
RECORD_BACKEND = RecordBackend(lambda a: np.asarray(a, dtype=np.float64), _record_vjp)

globals().update({name: fn for name, fn in record_ops(XP, RECORD_BACKEND).items() if name not in globals()})
