"""The protocol's differentiable ops written once over a NumPy-like namespace, for function-transform frameworks.

:mod:`gradspec.adapters.jax_impl` (``jax.numpy`` + ``jax.vjp``) and :mod:`gradspec.adapters.autograd_impl`
(``autograd.numpy`` + ``autograd.make_vjp``) both call :func:`build`: every forward is a pure function of
the framework's arrays, and every backward is the framework's own vector-Jacobian product of that forward
with the given cotangent. Ops whose framework primitive matters (relu, sigmoid, softmax, conv2d, the
pools) come from the framework module, so the framework's conventions are what gradspec checks.

The ops whose records hold a form (``OpSpec.xp``: the op over a NumPy-like :class:`Namespace`; ``OpSpec.jax``:
with JAX's own functions) are built from it by :func:`record_ops` / :func:`from_record`, so adding such an op
touches no adapter: the arity is checked, arguments that are not differentiable stay concrete NumPy arrays
(the form checks them, and every shape, before any arithmetic: the spec's errors are raised, never traced),
and the backward is the framework's VJP of the differentiable arguments (a :class:`RecordBackend`).
"""
from __future__ import annotations

import numpy as np


class Backend:
    """What :func:`build` needs from a framework.

    ``xnp``: its NumPy namespace. ``vjp(f, args, dy)``: (f(*args), the VJP of every argument).
    ``asarray``: a framework array from NumPy. ``relu``, ``sigmoid``, ``log_softmax``, ``conv2d(x, W, stride,
    pad)``, ``max_pool(x, k, s, p)``, ``avg_pool(x, k, s, p)``: the framework's ops.
    """

    def __init__(self, xnp, vjp, asarray, relu, sigmoid, log_softmax, conv2d, max_pool, avg_pool):
        self.xnp, self.vjp, self.asarray = xnp, vjp, asarray
        self.relu, self.sigmoid, self.log_softmax = relu, sigmoid, log_softmax
        self.conv2d, self.max_pool, self.avg_pool = conv2d, max_pool, avg_pool


def out_size(size, k, s, p):
    return (size + 2 * p - k) // s + 1


def _f64(name, x):
    a = np.asarray(x)
    if a.dtype == object or not (np.issubdtype(a.dtype, np.number) or a.dtype == bool):
        raise TypeError(f"{name} must be a numeric array, got dtype {a.dtype}")
    return np.array(a, dtype=np.float64, copy=True)


def _int(name, v, low):
    if isinstance(v, (bool, np.bool_)) or float(v) != int(v) or int(v) < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {v!r}")
    return int(v)


def build(B: Backend) -> dict:
    """The protocol functions for backend ``B`` (a dict name -> function)."""
    xnp = B.xnp
    fns: dict = {}

    def np_out(y):
        return np.array(y, dtype=np.float64)

    def pair(name, forward, n_diff):
        """forward(*arrays, *hypers); the first ``n_diff`` arguments are differentiable arrays."""

        def fwd(*args):
            arrays = [B.asarray(_f64(f"arg{i}", a)) for i, a in enumerate(args[:n_diff])]
            return np_out(forward(*arrays, *args[n_diff:]))

        def bwd(*args):
            *args, dy = args
            arrays = [B.asarray(_f64(f"arg{i}", a)) for i, a in enumerate(args[:n_diff])]
            rest = args[n_diff:]
            _, grads = B.vjp(lambda *a: forward(*a, *rest), arrays, B.asarray(_f64("dy", dy)))
            out = tuple(np_out(g) for g in grads)
            return out[0] if len(out) == 1 else out

        fns[f"{name}_forward"], fns[f"{name}_backward"] = fwd, bwd

    def loss(name, forward, targets_as_float=True):
        def fwd(a, t):
            t = _f64("t", t) if targets_as_float else np.asarray(t)
            return float(forward(B.asarray(_f64("input", a)), B.asarray(t)))

        def bwd(a, t, dy):
            t = _f64("t", t) if targets_as_float else np.asarray(t)
            tt = B.asarray(t)
            _, grads = B.vjp(lambda z: forward(z, tt), [B.asarray(_f64("input", a))], B.asarray(np.float64(dy)))
            return np_out(grads[0])

        fns[f"{name}_forward"], fns[f"{name}_backward"] = fwd, bwd

    pair("sigmoid", B.sigmoid, 1)
    pair("tanh", xnp.tanh, 1)
    pair("relu", B.relu, 1)
    pair("softmax", lambda x: xnp.exp(B.log_softmax(x)), 1)
    pair("affine", lambda x, W, b: xnp.dot(x, W) + b, 3)

    def step_forward(x):
        return (_f64("x", x) > 0).astype(np.float64)

    fns["step_forward"] = step_forward

    def n_of(a):
        return a.shape[0]

    loss("mse", lambda y, t: 0.5 * xnp.sum((y - t) ** 2) / n_of(y))
    loss("cross_entropy", lambda p, t: -xnp.sum(t * xnp.log(p)) / n_of(p))

    def softmax_ce(z, labels):
        lp = B.log_softmax(z)
        onehot = np.eye(z.shape[1])[np.asarray(labels, dtype=np.int64)]
        return -xnp.sum(lp * B.asarray(onehot)) / n_of(z)

    loss("softmax_cross_entropy", softmax_ce, targets_as_float=False)
    loss("binary_cross_entropy", lambda z, t: xnp.sum(xnp.logaddexp(0.0, z) - t * z) / n_of(z))

    def conv(x, W, b, stride=1, pad=0):
        s, p = _int("stride", stride, 1), _int("pad", pad, 0)
        return B.conv2d(x, W, s, p) + xnp.reshape(b, (1, -1, 1, 1))

    pair("conv2d", conv, 3)

    def pool_args(kernel, stride, pad):
        k = _int("kernel", kernel, 1)
        s = k if stride is None else _int("stride", stride, 1)
        p = _int("pad", pad, 0)
        if p > k // 2:
            raise ValueError(f"pooling: pad must be <= kernel//2, got pad {p} and kernel {k}")
        return k, s, p

    pair("max_pool2d", lambda x, kernel, stride=None, pad=0: B.max_pool(x, *pool_args(kernel, stride, pad)), 1)
    pair("avg_pool2d", lambda x, kernel, stride=None, pad=0: B.avg_pool(x, *pool_args(kernel, stride, pad)), 1)

    def batchnorm(x, gamma, beta, eps=1e-5):
        axes = (0,) if len(x.shape) == 2 else (0, 2, 3)
        shape = (1, -1) if len(x.shape) == 2 else (1, -1, 1, 1)
        mu = xnp.mean(x, axis=axes, keepdims=True)
        var = xnp.mean((x - mu) ** 2, axis=axes, keepdims=True)
        return (x - mu) / xnp.sqrt(var + float(eps)) * xnp.reshape(gamma, shape) + xnp.reshape(beta, shape)

    pair("batchnorm", batchnorm, 3)

    def dropout_forward(x, mask, p):
        return np_out(B.asarray(_f64("x", x)) * B.asarray(_f64("mask", mask)) / (1.0 - float(p)))

    def dropout_backward(x, mask, p, dy):
        m = B.asarray(_f64("mask", mask))
        _, g = B.vjp(lambda a: a * m / (1.0 - float(p)), [B.asarray(_f64("x", x))], B.asarray(_f64("dy", dy)))
        return np_out(g[0])

    fns["dropout_forward"], fns["dropout_backward"] = dropout_forward, dropout_backward

    def l2(W, lam):
        return 0.5 * float(lam) * xnp.sum(W ** 2)

    def l2_forward(W, lam):
        return float(l2(B.asarray(_f64("W", W)), lam))

    def l2_backward(W, lam, dy):
        _, g = B.vjp(lambda w: l2(w, lam), [B.asarray(_f64("W", W))], B.asarray(np.float64(dy)))
        return np_out(g[0])

    fns["l2_penalty_forward"], fns["l2_penalty_backward"] = l2_forward, l2_backward

    hidden_fns = {"sigmoid": B.sigmoid, "tanh": xnp.tanh, "relu": B.relu}

    def mlp_loss_and_grads(params, X, T, hidden, output):
        if hidden not in hidden_fns:
            raise ValueError(f"mlp: hidden must be one of {tuple(hidden_fns)}, got {hidden!r}")
        if output not in ("identity_mse", "sigmoid_mse", "softmax_cross_entropy"):
            raise ValueError(f"mlp: unknown output {output!r}")
        Xa = B.asarray(_f64("X", X))
        leaves = [B.asarray(_f64(f"{n}{l}", v)) for l, pair_ in enumerate(params, start=1)
                  for n, v in zip(("W", "b"), pair_)]
        Tn = np.asarray(T) if output == "softmax_cross_entropy" else _f64("T", T)
        Ta = B.asarray(Tn) if output != "softmax_cross_entropy" else None

        def total(*flat):
            a = Xa
            L = len(flat) // 2
            for l in range(L):
                z = xnp.dot(a, flat[2 * l]) + flat[2 * l + 1]
                a = hidden_fns[hidden](z) if l < L - 1 else z
            if output == "softmax_cross_entropy":
                return softmax_ce(z, Tn)
            out = z if output == "identity_mse" else B.sigmoid(z)
            return 0.5 * xnp.sum((out - Ta) ** 2) / n_of(z)

        value, grads = B.vjp(total, leaves, B.asarray(np.float64(1.0)))
        g = [np_out(v) for v in grads]
        return float(value), [(g[2 * i], g[2 * i + 1]) for i in range(len(g) // 2)]

    fns["mlp_loss_and_grads"] = mlp_loss_and_grads
    return fns


def windows(xnp, xp, k, s, OH, OW):
    """The k·k strided views of the padded input, stacked on a last axis (row-major window order)."""
    return xnp.stack([xp[:, :, i:i + s * (OH - 1) + 1:s, j:j + s * (OW - 1) + 1:s]
                      for i in range(k) for j in range(k)], axis=-1)


# --------------------------------------------------------------------------- ops built from their records
class Namespace:
    """A framework's NumPy module plus what NumPy lacks: the ``xp`` an op's record form receives (``OpSpec.xp``).

    Every attribute of ``module`` (``jax.numpy``, ``autograd.numpy``) is this namespace's, and ``extras`` add
    to it (the adapters pass ``erf`` and ``logsumexp`` from the framework's ``scipy.special``).
    """

    def __init__(self, module, **extras):
        self.module = module
        self.__dict__.update(extras)

    def __getattr__(self, name):
        if name == "module":  # not set yet (a copy being built): no recursion
            raise AttributeError(name)
        return getattr(self.module, name)

    def __repr__(self) -> str:
        return f"Namespace({self.module.__name__}, extras {sorted(k for k in self.__dict__ if k != 'module')})"


def record_argument(arg, value, asarray, trace: bool):
    """One forward argument as a record form takes it (see ``OpSpec.xp``).

    A differentiable argument (``trace``) becomes a framework float64 array; any other array stays a NumPy
    copy (integers int64, booleans bool, floats float64), which the form can inspect concretely;
    anything else (hyperparameters, None, strings) is passed as given.
    """
    if trace:
        return asarray(_f64(arg.name, value))
    if isinstance(value, (np.ndarray, list, tuple)) and np.asarray(value).dtype != object:
        arr = np.asarray(value)
        if arr.dtype.kind in "iu":
            return np.array(arr, dtype=np.int64, copy=True)
        if arr.dtype.kind == "b":
            return np.array(arr, dtype=bool, copy=True)
        if arr.dtype.kind == "f":
            return np.array(arr, dtype=np.float64, copy=True)
    return value


class RecordBackend:
    """How a framework runs a record form (see :func:`from_record`).

    ``asarray(a)``: a framework float64 array from a NumPy one. ``vjp(form, values, diff) -> (shape, pull)``: the
    shape of ``form(*values)`` and ``pull(dy)``, the tuple of its VJPs with respect to ``values[i]`` for ``i`` in
    ``diff`` (those values are framework arrays, the others as :func:`record_argument` made them).
    ``evaluate(form, values, diff)``: ``form(*values)`` (default: called as is; a framework may compile it).
    """

    def __init__(self, asarray, vjp, evaluate=None):
        self.asarray, self.vjp = asarray, vjp
        self.evaluate = evaluate if evaluate is not None else (lambda form, values, diff: form(*values))


def from_record(op, form, backend: RecordBackend) -> dict:
    """The forward and backward of ``op`` from ``form(*forward_args)``, the backward by the framework's VJP.

    The forward returns a NumPy float64 array (a float for a loss); the backward the VJP of every
    differentiable argument, in the record's order (one array when there is one). A wrong number of arguments
    is a TypeError; a dy of another shape than the forward's output a ValueError, both naming the op's function.
    """
    names = ", ".join(a.name for a in op.args)
    diff = tuple(i for i, a in enumerate(op.args) if a.differentiable)
    scalar = op.kind_facts.scalar_output

    def values_of(args):
        return [record_argument(a, v, backend.asarray, a.differentiable) for a, v in zip(op.args, args)]

    def forward(*args):
        if len(args) != len(op.args):
            raise TypeError(f"{op.forward} takes {len(op.args)} arguments ({names}), got {len(args)}")
        y = backend.evaluate(form, values_of(args), diff)
        return float(np.asarray(y)) if scalar else np.array(y, dtype=np.float64)

    def backward(*args):
        if len(args) != len(op.args) + 1:
            raise TypeError(f"{op.backward} takes {len(op.args) + 1} arguments ({names}, dy), got {len(args)}")
        *fargs, dy = args
        shape, pull = backend.vjp(form, values_of(fargs), diff)
        if scalar:
            d = np.asarray(dy, dtype=np.float64)
            if d.size != 1:
                raise ValueError(f"{op.backward}: dy of a scalar-valued function must be a scalar, got shape {d.shape}")
            d = d.reshape(())
        else:
            d = _f64("dy", dy)
            if d.shape != tuple(shape):
                raise ValueError(f"{op.backward}: dy must have the forward output's shape {tuple(shape)}, got {d.shape}")
        grads = tuple(np.array(g, dtype=np.float64) for g in pull(backend.asarray(d)))
        return grads[0] if len(grads) == 1 else grads

    forward.__name__, backward.__name__ = op.forward, op.backward
    forward.__qualname__, backward.__qualname__ = op.forward, op.backward
    return {op.forward: forward, op.backward: backward}


def with_traced(form, values, diff):
    """``f(*traced)``: ``form`` with the arguments at ``diff`` replaced by ``traced`` (the others fixed)."""
    def f(*traced):
        full = list(values)
        for i, t in zip(diff, traced):
            full[i] = t
        return form(*full)

    return f


def record_ops(xp: Namespace, backend: RecordBackend, own: str | None = None, ops=None) -> dict:
    """The protocol functions of every op whose record has an ``xp`` form (or, with ``own``, the form that field
    names, e.g. ``"jax"``, where the record has one): see :func:`from_record`. ``ops``: the records (default:
    the registry's)."""
    if ops is None:
        from ..registry import OPS as ops
    fns: dict = {}
    for op in ops:
        if not op.kind_facts.has_backward:
            continue
        special = getattr(op, own) if own else None
        if special is not None:
            form = special
        elif op.xp is not None:
            form = BoundForm(op.xp, xp)
        else:
            continue
        fns.update(from_record(op, form, backend))
    return fns


class BoundForm:
    """``ref``'s form with the namespace bound first (the Ref resolves at each call, as every record Ref does);
    equal when ``ref`` and ``xp`` are, so a framework may cache what it compiled from it."""

    def __init__(self, ref, xp):
        self.ref, self.xp = ref, xp

    def __call__(self, *args):
        return self.ref(self.xp, *args)

    def __eq__(self, other):
        return isinstance(other, BoundForm) and (self.ref, self.xp) == (other.ref, other.xp)

    def __hash__(self):
        return hash((self.ref, id(self.xp)))
