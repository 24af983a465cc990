r"""The gradspec protocol's differentiable ops implemented with JAX (CPU, float64): ``gradspec.adapters.jax_impl``.

Every forward is a pure ``jax.numpy``/``jax.lax`` function; every backward is ``jax.vjp`` of it with the
given cotangent. Importing this module turns on ``jax_enable_x64`` (JAX computes in float32 otherwise), a
process-wide JAX setting. Check it with::

    pip install "gradspec[jax]"
    gradspec check --impl gradspec.adapters.jax_impl

Provided: sigmoid, tanh, relu, softmax, step, affine, the four losses, conv2d, max_pool2d, avg_pool2d,
batchnorm, dropout, l2_penalty and the mlp, written here; and every op whose record holds a form for it
(``OpSpec.jax``, JAX's own functions, else ``OpSpec.xp`` over ``jax.numpy``): leaky_relu, gelu, gelu_tanh,
layernorm, embedding, residual, attention and rnn, built by :func:`gradspec.adapters.functional.record_ops`
with nothing written here (each form's docstring, next to the op's other pieces in ``gradspec.ops``, says
what it calls). Those run under ``jax.jit`` (the forward, and the form's ``jax.vjp``), cached by the
arguments that are not traced (ids, masks, hyperparameters: compared by value) and the traced arrays' shapes,
so a repeated call reuses the compiled function. Not provided (JAX has no optimizer, clipping or init API of
its own; optax and flax are separate libraries): the optimizers, clipping, init schemes and the perceptron.

Conventions: JAX's own, never mapped to the spec's
==================================================

=============  ============================================  ============================================
op             JAX                                           what gradspec sees
=============  ============================================  ============================================
relu           ``jax.nn.relu`` (custom JVP: relu'(0) = 0)    the spec's relu'(0) = 0
sigmoid        ``jax.nn.sigmoid``                            —
softmax, CE    ``jax.nn.log_softmax``                        stable at logits of ±1000
conv2d         ``lax.conv_general_dilated`` (NCHW, OIHW),    cross-correlation with zero padding: the
               padding ``[(pad, pad), (pad, pad)]``          spec's
max_pool2d     ``lax.reduce_window(x, -inf, lax.max, ...)``  padding is −inf (the spec's); on a tie the
               with the padding in the window                VJP (select-and-scatter) picks one maximum:
                                                             if it is not the first in row-major order,
                                                             gradspec's tie check fails and names the rule
avg_pool2d     ``lax.reduce_window(x, 0, lax.add, ...)``     divides by kernel², padding counted (the
               divided by kernel²                            spec's; ``flax.linen.avg_pool`` does the same
                                                             with ``count_include_pad=True``)
batchnorm      batch statistics in ``jax.numpy``             biased variance, eps inside the root
losses         written as sums over non-batch axes / N       the spec's reduction (optax's losses return
                                                             per-example values: their mean is the same)
leaky_relu     ``jax.nn.leaky_relu``: ``where(x >= 0, ...)``  slope 1 at x = 0, the spec's is alpha: a
                                                             finding of gradspec's kink check (probable
                                                             bug: leaky_relu_prime_at_zero_is_one)
gelu,          ``jax.nn.gelu(approximate=False / True)``     the spec's (JAX's default is the tanh form)
gelu_tanh
layernorm      ``jax.nn.standardize`` over the last k axes;  called with ``algorithm="stable"``: the
               its default ``algorithm="fast"`` is            two-pass variance, the spec's. "fast" (flax's
               E[x²] − E[x]² clipped at 0                    LayerNorm default too) fails the properties'
                                                             hard inputs (cancellation: forward 1.2e-5 off,
                                                             tolerance 5e-9, seed 0)
residual       ``jax.nn.relu`` in x + relu(xW1 + b1)W2 + b2  relu'(0) = 0, the spec's
rnn            ``jax.lax.scan`` over the time axis           its transpose is backpropagation through time
embedding      ``E[ids]`` (``jnp`` gather; its transpose is  out-of-range ids are a ValueError, checked on
               a scatter-add)                                the concrete ids first: JAX's ``E[ids]`` reads
                                                             −1 as row V − 1 and clamps V to row V − 1
                                                             (``jnp.take``: V gives NaN)
attention      ``jax.nn.dot_product_attention`` computes     not used: the record's xp form in ``jnp``
               its softmax in float32 for any dtype (about   (masked scores −∞, exp(S − logsumexp S));
               1e-8 relative off in float64) and gives a     a fully masked row is the spec's ValueError,
               fully masked row the mean of V's rows         checked on the concrete mask first
=============  ============================================  ============================================
"""
from __future__ import annotations

import functools

import numpy as np

try:
    import jax
    import jax.numpy as jnp
    import jax.scipy.special as jsp
    from jax import lax
except ImportError as exc:  # pragma: no cover - exercised only without jax
    raise ImportError("gradspec.adapters.jax_impl needs JAX: pip install 'gradspec[jax]'") from exc

from .functional import Backend, Namespace, RecordBackend, build, record_ops, with_traced

jax.config.update("jax_enable_x64", True)
__version__ = f"jax {jax.__version__}"


def _vjp(f, args, dy):
    y, pull = jax.vjp(f, *args)
    return y, pull(jnp.asarray(dy, dtype=jnp.float64).reshape(jnp.shape(y)))


def _asarray(a):
    a = np.asarray(a)
    return jnp.asarray(a, dtype=jnp.float64) if a.dtype.kind == "f" else jnp.asarray(a)


def _conv(x, W, s, p):
    return lax.conv_general_dilated(x, W, (s, s), [(p, p), (p, p)], dimension_numbers=("NCHW", "OIHW", "NCHW"))


def _window(x, init, op, k, s, p):
    return lax.reduce_window(x, init, op, (1, 1, k, k), (1, 1, s, s), [(0, 0), (0, 0), (p, p), (p, p)])


def _max_pool(x, k, s, p):
    return _window(x, -jnp.inf, lax.max, k, s, p)


def _avg_pool(x, k, s, p):
    return _window(x, 0.0, lax.add, k, s, p) / (k * k)


globals().update(build(Backend(jnp, _vjp, _asarray, jax.nn.relu, jax.nn.sigmoid, jax.nn.log_softmax, _conv,
                               _max_pool, _avg_pool)))


#: the namespace of the records' ``xp`` forms (``OpSpec.xp``): ``jax.numpy`` plus ``erf`` and ``logsumexp``
XP = Namespace(jnp, erf=jsp.erf, logsumexp=jsp.logsumexp)


def _hashable(v):
    if isinstance(v, np.ndarray):
        return ("array", v.dtype.str, v.shape, v.tobytes())
    if isinstance(v, (list, tuple)):
        return (type(v).__name__,) + tuple(_hashable(a) for a in v)
    try:
        hash(v)
    except TypeError:
        return ("repr", repr(v))
    return v


class _Fixed:
    """What a record form's call fixes (the form, the arguments that are not traced, which ones are): jax.jit's
    static argument, equal for equal values (arrays by dtype, shape and bytes), so a repeated call reuses the
    compiled function and a new one compiles once. The form runs with these values as they are (NumPy arrays,
    hyperparameters): its checks on them run at tracing time, before any arithmetic."""

    def __init__(self, form, values, diff):
        self.form, self.diff = form, diff
        self.values = [None if i in diff else v for i, v in enumerate(values)]
        self.key = (form, diff, tuple(None if i in diff else _hashable(v) for i, v in enumerate(values)))

    def __hash__(self):
        return hash(self.key)

    def __eq__(self, other):
        return isinstance(other, _Fixed) and self.key == other.key

    def __call__(self, arrays):
        return with_traced(self.form, self.values, self.diff)(*arrays)


@functools.partial(jax.jit, static_argnums=0)
def _record_forward(fixed, arrays):
    return fixed(arrays)


@functools.partial(jax.jit, static_argnums=0)
def _record_pullback(fixed, arrays, dy):
    return jax.vjp(lambda *a: fixed(a), *arrays)[1](dy)


def _record_evaluate(form, values, diff):
    return _record_forward(_Fixed(form, values, diff), [values[i] for i in diff])


def _record_vjp(form, values, diff):
    fixed, arrays = _Fixed(form, values, diff), [values[i] for i in diff]
    shape = jax.eval_shape(fixed, arrays).shape
    return shape, lambda dy: _record_pullback(fixed, arrays, dy)


#: how the record forms run here: ``jax.jit`` of the form (forward) and of its ``jax.vjp`` (backward)
RECORD_BACKEND = RecordBackend(lambda a: jnp.asarray(a, dtype=jnp.float64), _record_vjp, _record_evaluate)

globals().update({name: fn for name, fn in record_ops(XP, RECORD_BACKEND, own="jax").items() if name not in globals()})
