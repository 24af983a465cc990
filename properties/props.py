r"""Properties of every op: plain functions usable from any test suite.

Each property is a function ``prop_<name>(impl, sample, ...)`` that calls the
protocol functions of ``impl`` (a module, an object, a
:class:`~gradspec.impl.Implementation`) on one ``sample`` (a dict in the
registry's sample format, e.g. drawn by :func:`gradspec.properties.lookup.samples`)
and raises :class:`AssertionError` with a message naming the rule, the
element and the values when the implementation breaks it. They use no global
state: the randomness a property needs (cotangents, masks) comes from
``np.random.default_rng(sample["seed"])``.

Use them with Hypothesis in your own suite::

    from hypothesis import given
    from gradspec.properties import props, samples
    import my_layers

    @given(samples("softmax"))
    def test_softmax_rows(sample):
        props.prop_softmax_rows_sum_to_one(my_layers, sample)

or run every property of an op with :func:`gradspec.properties.suite.check_op`.

Tolerances
----------
Exact identities (a convention, a closed form evaluated the same way) are
compared at a few ulps; identities that reorder sums use
:math:`c\,\epsilon \sum |\text{terms}|`; numerical gradients use the fd64
oracle's model (:func:`gradspec.oracles.fd64.fd_tolerance`),
:math:`10^{-6}\max(|a|,|n|) + |D_h - D_{2h}| + 32\epsilon (S + F)/h`.
"""
from __future__ import annotations

import itertools
import math

import numpy as np

from .. import reference as spec
from ..oracles.common import check_scalar, first_difference, snapshot
from ..oracles.fd64 import (FD_REL_STEP, INIT_KS_P, INIT_Z, bn_groups, central_differences, conditioning,
                             fd_tolerance, rounding_scale, step_sizes)
from ..statistics import init_statistics
from ..registry import REGISTRY
from ..spec import OpSpec
# the helpers shared with the records' own properties (registry-free, so a record may import them)
from . import checks
from .checks import EPS, NotProvided, assert_close, cotangent, fail, seeded_rng


# --------------------------------------------------------------------------- plumbing (the registry-free part: .checks)
def impl_object(impl):
    """:func:`gradspec.properties.checks.impl_object`, with None or a name loaded first
    (:func:`gradspec.impl.load`: None is ``$GRADSPEC_IMPL``, else the reference)."""
    if impl is None or isinstance(impl, str):
        from ..impl import load

        return load(impl).obj
    return checks.impl_object(impl)


def fn(impl, name: str):
    """The protocol function ``name`` of ``impl`` (see :func:`impl_object`); :class:`NotProvided` when it is missing."""
    return checks.fn(impl_object(impl), name)


def _op(op) -> OpSpec:
    return op if isinstance(op, OpSpec) else REGISTRY[op]


def _scalar(value, what: str) -> float:
    """The oracles' rule for a loss (:func:`gradspec.oracles.common.check_scalar`), as an AssertionError."""
    value, bad = check_scalar(value, what)
    if bad is not None:
        fail("outputs are finite" if bad.kind == "nonfinite" else "losses return a float64 value", bad.message)
    return value


def _grads(value, n: int, name: str) -> tuple:
    if n == 1:
        return tuple(value) if isinstance(value, (tuple, list)) and len(value) == 1 else (value,)
    if not isinstance(value, (tuple, list)) or len(value) != n:
        fail("backward returns one gradient per differentiable argument", f"{name} returned {type(value).__name__}, expected a tuple of {n} arrays")
    return tuple(value)


def _diff_index(op: OpSpec) -> list[int]:
    return [i for i, a in enumerate(op.args) if a.differentiable]


def forward(impl, op, sample):
    op = _op(op)
    return fn(impl, op.forward)(*op.forward_args(sample))


def backward(impl, op, sample, dy) -> tuple:
    op = _op(op)
    return _grads(fn(impl, op.backward)(*op.forward_args(sample), dy), len(_diff_index(op)), op.backward)


def _out_shape(op, sample):
    return () if op.kind_facts.scalar_output else tuple(op.output_shape(sample))


def draw_cotangent(op, sample, salt: int = 1):
    """A random cotangent for the op's output: N(0,1) array, or a scalar of magnitude 0.5..2 for losses."""
    op = _op(op)
    if op.kind_facts.scalar_output:
        rng = seeded_rng(sample, salt)
        return float(rng.choice([-1.0, 1.0]) * rng.uniform(0.5, 2.0))
    return cotangent(sample, _out_shape(op, sample), salt)


def _fwd_tol(expected, extra=0.0):
    expected = np.asarray(expected, dtype=np.float64)
    scale = max(1.0, float(np.max(np.abs(expected)))) if expected.size else 1.0
    return 1e-10 * np.abs(expected) + 1e-12 * scale + extra


# --------------------------------------------------------------------------- generic properties of differentiable ops and losses
def prop_forward_matches_spec(impl, sample, op):
    """The forward equals the spec's value: :math:`|y - r| \\le 10^{-10}|r| + 10^{-12}\\max(1,\\max|r|)` (+ a cancellation term)."""
    op = _op(op)
    y = forward(impl, op, sample)
    expected = getattr(spec, op.forward)(*op.forward_args(sample))
    if op.kind_facts.scalar_output:
        y = _scalar(y, f"{op.forward} output")
    assert_close(y, expected, _fwd_tol(expected, conditioning(op, sample)), f"{op.name}: forward matches the spec", "y")


def prop_shapes(impl, sample, op):
    """Forward output follows the registry's shape rule; every gradient has its argument's shape and dtype float64."""
    op = _op(op)
    y = forward(impl, op, sample)
    if op.kind_facts.scalar_output:
        _scalar(y, f"{op.forward} output")
    else:
        if not isinstance(y, np.ndarray) or y.dtype != np.float64:
            fail(f"{op.name}: forward returns a float64 array", f"got {type(y).__name__} {getattr(y, 'dtype', '')}")
        want = _out_shape(op, sample)
        if y.shape != want:
            fail(f"{op.name}: shape rule '{op.shape_rule}'", f"forward returned {y.shape}, expected {want}")
        if not np.all(np.isfinite(y)):
            fail(f"{op.name}: outputs are finite", f"forward returned {int(np.sum(~np.isfinite(y)))} non-finite values")
    grads = backward(impl, op, sample, draw_cotangent(op, sample))
    for i, g in zip(_diff_index(op), grads):
        a = op.args[i]
        want = np.shape(sample[a.name])
        if not isinstance(g, np.ndarray) or g.dtype != np.float64 or g.shape != want:
            fail(f"{op.name}: every gradient has its argument's shape and dtype",
                  f"d{a.name} is {type(g).__name__} {getattr(g, 'dtype', '')} {getattr(g, 'shape', '')}, expected float64 {want}")
        if not np.all(np.isfinite(g)):
            fail(f"{op.name}: gradients are finite", f"d{a.name} holds {int(np.sum(~np.isfinite(g)))} non-finite values")


def prop_gradient_fd64(impl, sample, op):
    """Backward equals float64 central differences of ⟨dy, forward⟩, for a random cotangent dy.

    Uses the implementation's own forward (its agreement with the spec is
    :func:`prop_forward_matches_spec`), steps :math:`h = 6\\cdot10^{-6}` times
    the scale of each input, and the fd64 tolerance model, with the rounding
    scale S widened by the op's cancellation (large sums, near-constant batch-norm groups).
    """
    op = _op(op)
    dy = draw_cotangent(op, sample)
    args = op.forward_args(sample)
    grads = backward(impl, op, sample, dy)
    fwd = fn(impl, op.forward)
    S = rounding_scale(op, sample, dy, getattr(spec, op.forward)(*args))
    for i, g in zip(_diff_index(op), grads):
        name = op.args[i].name

        def f(v, i=i):
            a = list(args)
            a[i] = v
            out = fwd(*a)
            return float(dy * float(out)) if op.kind_facts.scalar_output else float(np.sum(dy * np.asarray(out, dtype=np.float64)))

        x = np.asarray(args[i], dtype=np.float64)
        h = step_sizes(op, sample, name, x)
        d1, d2, F = central_differences(f, x, h)
        g = np.asarray(g, dtype=np.float64)
        tol = fd_tolerance(g, d1, d2, h, S, F)
        assert_close(g, d1, tol, f"{op.name}: backward equals central differences", f"d{name}")


def prop_agrees_with_oracle(impl, sample, op, oracle: str = "fd64"):
    """The oracle ``oracle`` of :data:`gradspec.oracles.ORACLES` (fd64, and the SymPy and mpmath
    oracles once registered) passes the op, on the registry sample its generator draws from ``sample["seed"]``.

    The oracle module is imported only when the property runs (SymPy and mpmath are slow to import).
    """
    from ..impl import CallFailed, Implementation
    from ..oracles import get as get_oracle

    op = _op(op)
    mod = get_oracle(oracle)
    if not mod.applies(op):
        raise NotProvided(f"the {oracle} oracle does not apply to {op.name}")
    obj = impl_object(impl)
    # only the checks about the implementation: an oracle's checks about the spec itself (BP1–BP4 proofs,
    # dimension rules) are the same for every implementation and tested where they are derived
    kw = {"spec_checks": False} if getattr(mod, "SPEC_CHECKS", ()) else {}
    # Implementation.wrap: a GuardedImplementation (the properties oracle's) brings its run's timeouts along
    results = mod.check_op(op, Implementation.wrap(obj), np.random.default_rng([int(sample.get("seed", 0)), 99]), 1, **kw)
    bad = [c for c in results if c.status in ("fail", "error")]
    timeouts = [f for c in bad for f in c.findings if f.kind == "timeout"]
    if timeouts:  # the implementation did not return: the run's timeout finding, not a disagreement
        raise CallFailed(timeouts[0])
    if bad:
        fail(f"{op.name}: agrees with the {oracle} oracle", "; ".join(f"{c.check}: {c.message}" for c in bad))


def _same(a, b) -> bool:
    """Equal by value, structurally (:func:`gradspec.oracles.common.first_difference`)."""
    return first_difference(a, b) is None


def call_all(impl, op, sample):
    """Call every protocol function of the op once on ``sample``; returns their outputs (for the generic properties)."""
    op = _op(op)
    args = op.forward_args(sample) if not (op.kind_facts.trajectory or op.kind_facts.statistical) else None
    if op.kind_facts.has_backward:
        return [forward(impl, op, sample), backward(impl, op, sample, draw_cotangent(op, sample))]
    if op.kind_facts.value_only or op.kind_facts.whole_network:
        return [fn(impl, op.functions[0])(*args)]
    if op.kind_facts.trajectory:
        init, update = (fn(impl, f) for f in op.functions)
        w, state, out = sample["w"], init(sample["w"]), []
        for g in sample["grads"]:
            w, state = update(w, g, state, **sample["hyper"])
            out.append(w)
        return out
    if op.kind_facts.statistical:
        return [fn(impl, op.name)(sample["shape"], np.random.default_rng(sample["seed"]))]
    raise ValueError(f"unknown op kind {op.kind!r}")  # pragma: no cover


def prop_no_mutation(impl, sample, op):
    """No function modifies its inputs (arrays, lists and optimizer states, whatever their type, are compared by
    value with a snapshot taken before the call)."""
    op = _op(op)
    before = snapshot(sample)
    rule = f"{op.name}: no function modifies its inputs"
    if op.kind_facts.trajectory:  # the state passed in must survive the update too
        init, update = (fn(impl, f) for f in op.functions)
        w0 = snapshot(sample["w"])
        state = init(w0)
        w, state = update(w0, sample["grads"][0], state, **sample["hyper"])
        changed = first_difference(before["w"], w0, "w")
        if changed:
            fail(rule, f"{op.functions[1]} modified the w it was given: {changed} (the first call)")
        state_before, w_before = snapshot(state), snapshot(w)
        update(w, sample["grads"][1], state, **sample["hyper"])
        changed = first_difference(w_before, w, "w") or first_difference(state_before, state, "state")
        if changed:
            fail(rule, f"{op.functions[1]} modified its input {changed} (the second call)")
    call_all(impl, op, sample)
    for k in before:
        changed = first_difference(before[k], sample[k], k)
        if changed:
            fail(rule, f"argument {k!r} changed during the call: {changed}")


def prop_deterministic(impl, sample, op):
    """Calling the op's functions twice on the same inputs gives identical results (bit for bit)."""
    op = _op(op)
    a = call_all(impl, op, snapshot(sample))
    b = call_all(impl, op, snapshot(sample))
    changed = first_difference(a, b, "results")
    if changed:
        fail(f"{op.name}: the same inputs give the same results",
              f"two calls of {', '.join(op.functions)} differ: {changed.replace(' before, ', ' first, ').replace(' after', ' second')}")


def prop_no_global_random_state(impl, sample, op):
    """Results do not depend on NumPy's global random state, and the call leaves it untouched."""
    op = _op(op)
    saved = np.random.get_state()
    try:
        seeds = seeded_rng(sample, 7).integers(0, 2**31, size=2)
        np.random.seed(int(seeds[0]))
        before = np.random.get_state()[1].copy()
        a = call_all(impl, op, snapshot(sample))
        after = np.random.get_state()[1].copy()
        np.random.seed(int(seeds[1]))
        b = call_all(impl, op, snapshot(sample))
    finally:
        np.random.set_state(saved)
    if not np.array_equal(before, after):
        fail(f"{op.name}: no use of NumPy's global random state", f"{', '.join(op.functions)} drew from np.random's global generator")
    if not _same(a, b):
        fail(f"{op.name}: no dependence on global random state", "results changed with the seed of np.random's global generator")


def _abs_vjp(op: OpSpec, sample: dict, dy, grads) -> list[np.ndarray]:
    """Per-element magnitude of the terms a backward sums (a bound on its rounding error / ε).

    The record's ``fd_model.backward_magnitude`` where the backward sums products or subtracts means (affine,
    conv2d, pooling, softmax, batchnorm); an op without one (element-wise ops, losses) has no cancellation: |g|.
    """
    if op.fd_model.backward_magnitude is not None:
        return [np.asarray(g) for g in op.fd_model.backward_magnitude(sample, dy)]
    return [np.abs(np.asarray(g, dtype=np.float64)) for g in grads]


def prop_linear_in_dy(impl, sample, op):
    """VJP(a·dy1 + dy2) = a·VJP(dy1) + VJP(dy2), within :math:`10^{-9}` of the magnitude of the terms summed."""
    op = _op(op)
    dy1, dy2 = draw_cotangent(op, sample, 11), draw_cotangent(op, sample, 12)
    a = float(seeded_rng(sample, 13).uniform(-3, 3))
    dy3 = a * dy1 + dy2
    g1, g2 = backward(impl, op, sample, dy1), backward(impl, op, sample, dy2)
    g3 = backward(impl, op, sample, dy3)
    m1, m2, m3 = (_abs_vjp(op, sample, d, g) for d, g in ((dy1, g1), (dy2, g2), (dy3, g3)))
    for k, i in enumerate(_diff_index(op)):
        x1, x2, x3 = (np.asarray(v[k], dtype=np.float64) for v in (g1, g2, g3))
        tol = 1e-9 * (abs(a) * m1[k] + m2[k] + m3[k]) + 1e-300
        name = op.args[i].name
        assert_close(x3, a * x1 + x2, tol, f"{op.name}: backward is linear in dy", f"d{name}(a·dy1 + dy2) vs a·d{name}(dy1) + d{name}(dy2)")


# --------------------------------------------------------------------------- activations
def prop_sigmoid_symmetry(impl, sample):
    """σ(−x) = 1 − σ(x) (within 2ε), 0 <= σ <= 1."""
    f = fn(impl, "sigmoid_forward")
    x = np.asarray(sample["x"])
    s, sm = np.asarray(f(x)), np.asarray(f(-x))
    if np.any(s < 0) or np.any(s > 1):
        fail("sigmoid lies in [0, 1]", f"got values in [{s.min()}, {s.max()}]")
    assert_close(sm, 1.0 - s, 2 * EPS, "sigmoid(−x) = 1 − sigmoid(x)", "sigmoid(−x)")


def prop_tanh_odd(impl, sample):
    """tanh(−x) = −tanh(x) and |dx| <= |dy| (tanh' <= 1)."""
    x = np.asarray(sample["x"])
    t, tm = np.asarray(fn(impl, "tanh_forward")(x)), np.asarray(fn(impl, "tanh_forward")(-x))
    assert_close(tm, -t, 2 * EPS * np.abs(t), "tanh is odd", "tanh(−x)")
    dy = draw_cotangent("tanh", sample)
    dx = np.asarray(fn(impl, "tanh_backward")(x, dy))
    if np.any(np.abs(dx) > np.abs(dy) * (1 + 4 * EPS)):
        fail("tanh' <= 1, so |dx| <= |dy|", f"max |dx|/|dy| = {float(np.max(np.abs(dx) / np.maximum(np.abs(dy), 1e-300))):.6g}")


def prop_relu_convention(impl, sample):
    """relu(x) = max(x, 0) and dx = dy·[x > 0] exactly, so relu'(0) = 0."""
    x = np.asarray(sample["x"])
    assert_close(fn(impl, "relu_forward")(x), np.maximum(x, 0.0), 0.0, "relu(x) = max(x, 0)", "y")
    dy = draw_cotangent("relu", sample)
    dx = np.asarray(fn(impl, "relu_backward")(x, dy))
    assert_close(dx, np.where(x > 0, dy, 0.0), 0.0, "relu: dx = dy·[x > 0], relu'(0) = 0", "dx")


def prop_step_convention(impl, sample):
    """step(x) = 1.0 where x > 0 else 0.0, so step(0) = 0."""
    x = np.asarray(sample["x"])
    y = fn(impl, "step_forward")(x)
    assert_close(y, (x > 0).astype(np.float64), 0.0, "step(x) = [x > 0], step(0) = 0", "y")


def prop_softmax_rows_sum_to_one(impl, sample):
    """Every softmax row is non-negative and sums to 1 (within 4ε(K + max|x|): the K roundings of the sum, and the
    ε|x| input perturbation a backward-stable softmax such as exp(x − logsumexp x) is exact for)."""
    x = np.asarray(sample["x"], dtype=np.float64)
    y = np.asarray(fn(impl, "softmax_forward")(x))
    K = y.shape[-1]
    if np.any(y < 0):
        fail("softmax is non-negative", f"min {y.min()}")
    tol = 4 * EPS * (K + (np.max(np.abs(x), axis=-1) if x.size else 0.0))
    assert_close(y.sum(axis=-1), np.ones(y.shape[:-1]), tol, "softmax rows sum to 1", "row sum")


def prop_softmax_shift_invariant(impl, sample):
    """softmax(x + c) = softmax(x) for a per-row constant c (up to the rounding of x + c)."""
    x = np.asarray(sample["x"])
    c = seeded_rng(sample, 3).uniform(-50, 50, size=x.shape[:-1] + (1,))
    f = fn(impl, "softmax_forward")
    y, ys = np.asarray(f(x)), np.asarray(f(x + c))
    tol = 4 * EPS * (np.max(np.abs(x), axis=-1, keepdims=True) + np.abs(c)) + 4 * EPS
    assert_close(ys, y, tol, "softmax is shift-invariant", "softmax(x + c)")


def prop_softmax_backward_rows_sum_to_zero(impl, sample):
    """Every row of softmax's dx sums to 0 (dx = y ⊙ (dy − ⟨dy, y⟩))."""
    x = np.asarray(sample["x"])
    dy = draw_cotangent("softmax", sample)
    dx = np.asarray(fn(impl, "softmax_backward")(x, dy))
    y = spec.softmax_forward(x)
    scale = np.sum(y * (np.abs(dy) + np.abs(np.sum(dy * y, axis=-1, keepdims=True))), axis=-1)
    # a correct softmax may compute y = exp(x − logsumexp(x)): the log-sum-exp's absolute error ε·max|x| becomes
    # a relative error of every y of the row (a common factor, so the rows of dx need not sum to 0 more closely)
    scale = scale * (1 + np.max(np.abs(x), axis=-1))
    assert_close(dx.sum(axis=-1), np.zeros(x.shape[:-1]), 16 * EPS * (scale + 1e-300), "softmax backward rows sum to 0", "row sum of dx")


# --------------------------------------------------------------------------- affine and losses
def prop_affine_bias_grad_is_sum(impl, sample):
    """db = Σ_n dy (summed over the batch, not averaged)."""
    dy = draw_cotangent("affine", sample)
    _, _, db = backward(impl, "affine", sample, dy)
    assert_close(db, dy.sum(axis=0), 8 * EPS * np.abs(dy).sum(axis=0), "affine: db = Σ_n dy", "db")


def prop_loss_nonnegative(impl, sample, op):
    """Every loss of the spec is >= 0 (mse, cross-entropies with targets in [0, 1])."""
    op = _op(op)
    value = _scalar(forward(impl, op, sample), f"{op.forward} output")
    if value < -1e-12:
        fail(f"{op.name} >= 0", f"got {value!r}")


def prop_sce_grad_rows_sum_to_zero(impl, sample):
    """Softmax cross-entropy: each row of dz = dy(softmax(z) − onehot)/N sums to 0, and |dz| <= |dy|/N."""
    z = np.asarray(sample["z"])
    N = z.shape[0]
    dy = draw_cotangent("softmax_cross_entropy", sample)
    g = np.asarray(fn(impl, "softmax_cross_entropy_backward")(z, sample["labels"], dy))
    # a backward-stable softmax (e.g. exp(z − logsumexp z)) is exact for inputs perturbed by ε|z|: each row may
    # be off by ~ε·max|z| besides the K roundings of the sum
    tol = 8 * EPS * abs(dy) / N * (z.shape[1] + np.max(np.abs(z), axis=1))
    assert_close(g.sum(axis=1), np.zeros(N), tol, "softmax_cross_entropy: rows of dz sum to 0", "row sum")
    if np.any(np.abs(g) > abs(dy) / N * (1 + 8 * EPS)):
        fail("softmax_cross_entropy: |dz| <= |dy|/N", f"max |dz| = {np.abs(g).max():.6g}, |dy|/N = {abs(dy) / N:.6g}")


def prop_bce_grad_bounded(impl, sample):
    """Binary cross-entropy: dz = dy(σ(z) − t)/N, so |dz| <= |dy|/N, with the sign of σ(z) − t."""
    z, t = np.asarray(sample["z"]), np.asarray(sample["t"])
    N = z.shape[0]
    dy = draw_cotangent("binary_cross_entropy", sample)
    g = np.asarray(fn(impl, "binary_cross_entropy_backward")(z, t, dy))
    if np.any(np.abs(g) > abs(dy) / N * (1 + 8 * EPS)):
        fail("binary_cross_entropy: |dz| <= |dy|/N", f"max |dz| = {np.abs(g).max():.6g}, |dy|/N = {abs(dy) / N:.6g}")


def prop_cross_entropy_grad_sign(impl, sample):
    """Cross-entropy of probabilities: dp = −dy·t/(N p) exactly zero where t = 0 and of sign −dy elsewhere."""
    p, t = np.asarray(sample["p"]), np.asarray(sample["t"])
    dy = draw_cotangent("cross_entropy", sample)
    g = np.asarray(fn(impl, "cross_entropy_backward")(p, t, dy))
    if np.any(g[t == 0] != 0):
        fail("cross_entropy: dp = 0 where t = 0", f"max |dp| there {np.abs(g[t == 0]).max():.3g}")
    wrong = (t > 0) & (np.sign(g) != -np.sign(dy))
    if np.any(wrong):
        fail("cross_entropy: dp has the sign of −dy where t > 0", f"{int(wrong.sum())} elements with the wrong sign")


# --------------------------------------------------------------------------- conv2d
def naive_conv2d(x, W, b, stride, pad):
    """Cross-correlation by explicit loops (independent of im2col): the definition of the spec."""
    N, C, H, Wd = x.shape
    F, _, KH, KW = W.shape
    OH, OW = (H + 2 * pad - KH) // stride + 1, (Wd + 2 * pad - KW) // stride + 1
    xp = np.zeros((N, C, H + 2 * pad, Wd + 2 * pad))
    xp[:, :, pad:pad + H, pad:pad + Wd] = x
    y = np.empty((N, F, OH, OW))
    for i in range(OH):
        for j in range(OW):
            patch = xp[:, :, i * stride:i * stride + KH, j * stride:j * stride + KW]
            y[:, :, i, j] = np.tensordot(patch, W, axes=([1, 2, 3], [1, 2, 3])) + b
    return y


def prop_conv2d_is_cross_correlation(impl, sample):
    """conv2d's forward equals explicit cross-correlation loops (no kernel flip, zero padding)."""
    x, W, b, s, p = (sample[k] for k in ("x", "W", "b", "stride", "pad"))
    y = fn(impl, "conv2d_forward")(x, W, b, s, p)
    ref = naive_conv2d(np.asarray(x), np.asarray(W), np.asarray(b), s, p)
    mag = naive_conv2d(np.abs(x), np.abs(W), np.abs(b), s, p)
    assert_close(y, ref, 16 * EPS * mag * (np.prod(np.shape(W)[1:]) + 1), "conv2d is a cross-correlation with zero padding", "y")


def prop_conv2d_adjoint(impl, sample):
    """conv2d's backward is the adjoint of its forward: ⟨dy, conv(x, W, 0)⟩ = ⟨dx, x⟩ = ⟨dW, W⟩ and db = Σ dy."""
    x, W, b, s, p = (np.asarray(sample[k]) if k in "xWb" else sample[k] for k in ("x", "W", "b", "stride", "pad"))
    dy = draw_cotangent("conv2d", sample)
    y0 = np.asarray(fn(impl, "conv2d_forward")(x, W, np.zeros_like(b), s, p))
    dx, dW, db = backward(impl, "conv2d", sample, dy)
    lhs = float(np.sum(dy * y0))
    scale = float(np.sum(np.abs(dy) * naive_conv2d(np.abs(x), np.abs(W), np.zeros_like(b), s, p)))
    tol = 64 * EPS * (np.prod(W.shape[1:]) + 1) * scale + 1e-300
    assert_close(np.sum(np.asarray(dx) * x), lhs, tol, "conv2d backward is the adjoint of the forward", "⟨dx, x⟩ vs ⟨dy, conv(x, W, 0)⟩")
    assert_close(np.sum(np.asarray(dW) * W), lhs, tol, "conv2d backward is the adjoint of the forward", "⟨dW, W⟩ vs ⟨dy, conv(x, W, 0)⟩")
    assert_close(db, dy.sum(axis=(0, 2, 3)), 8 * EPS * np.abs(dy).sum(axis=(0, 2, 3)), "conv2d: db = Σ dy", "db")


def prop_im2col_adjoint(impl, sample):
    """im2col and col2im are adjoint: ⟨im2col(x), c⟩ = ⟨x, col2im(c)⟩ for a random c."""
    x, W, s, p = np.asarray(sample["x"]), np.asarray(sample["W"]), sample["stride"], sample["pad"]
    KH, KW = W.shape[2:]
    cols = np.asarray(fn(impl, "im2col")(x, KH, KW, s, p))
    c = seeded_rng(sample, 5).normal(size=cols.shape)
    back = np.asarray(fn(impl, "col2im")(c, x.shape, KH, KW, s, p))
    lhs, rhs = float(np.sum(cols * c)), float(np.sum(x * back))
    scale = float(np.sum(np.abs(cols) * np.abs(c)))
    assert_close(rhs, lhs, 64 * EPS * scale + 1e-300, "im2col and col2im are adjoint", "⟨x, col2im(c)⟩ vs ⟨im2col(x), c⟩")


# --------------------------------------------------------------------------- pooling
def _window_slices(H, W, k, s, p):
    OH, OW = (H + 2 * p - k) // s + 1, (W + 2 * p - k) // s + 1
    for i in range(OH):
        for j in range(OW):
            yield i, j, [(r, c) for r in range(i * s - p, i * s - p + k) for c in range(j * s - p, j * s - p + k)]


def naive_pool(x, k, s, p, dy, kind):
    """Pooling forward and backward by explicit loops, with the spec's conventions.

    max: padding never wins, a tie sends the gradient to the first maximum in
    row-major window order. avg: zero padding counts, divisor k².
    """
    N, C, H, W = x.shape
    OH, OW = (H + 2 * p - k) // s + 1, (W + 2 * p - k) // s + 1
    y, dx = np.empty((N, C, OH, OW)), np.zeros_like(x, dtype=np.float64)
    for n in range(N):
        for c in range(C):
            for i, j, cells in _window_slices(H, W, k, s, p):
                real = [(r, q) for r, q in cells if 0 <= r < H and 0 <= q < W]
                if kind == "max":
                    best = real[0]
                    for r, q in real:  # row-major: the first strict improvement wins, so ties keep the first
                        if x[n, c, r, q] > x[n, c, best[0], best[1]]:
                            best = (r, q)
                    y[n, c, i, j] = x[n, c, best[0], best[1]]
                    dx[n, c, best[0], best[1]] += dy[n, c, i, j]
                else:
                    y[n, c, i, j] = sum(x[n, c, r, q] for r, q in real) / (k * k)
                    for r, q in real:
                        dx[n, c, r, q] += dy[n, c, i, j] / (k * k)
    return y, dx


def prop_pool_matches_definition(impl, sample, op, pool: str):
    """Pooling forward and backward equal explicit loops with the spec's conventions at ties and padding.

    ``pool``: "max" or "avg", the window's reduction (each pooling record binds it with its op)."""
    op = _op(op)
    x, k, s, p = np.asarray(sample["x"]), sample["kernel"], sample["stride"], sample["pad"]
    dy = draw_cotangent(op, sample)
    if pool not in ("max", "avg"):
        raise ValueError(f"prop_pool_matches_definition: pool must be 'max' or 'avg', got {pool!r}")
    kind = pool
    y_ref, dx_ref = naive_pool(x, k, s, p, dy, kind)
    y = forward(impl, op, sample)
    (dx,) = backward(impl, op, sample, dy)
    conv = "padding never wins; ties go to the first maximum" if kind == "max" else "zero padding counts (divisor kernel²)"
    assert_close(y, y_ref, 4 * EPS * np.abs(y_ref) + (0 if kind == "max" else 4 * EPS * np.max(np.abs(x))),
                 f"{op.name} forward: {conv}", "y")
    assert_close(dx, dx_ref, 16 * EPS * (np.abs(dx_ref) + np.max(np.abs(dy))), f"{op.name} backward: {conv}", "dx")


def prop_maxpool_routes_to_one_element(impl, sample):
    """Each window's upstream gradient goes to exactly one element of that window, holding its maximum; totals are conserved."""
    x, k, s, p = np.asarray(sample["x"]), sample["kernel"], sample["stride"], sample["pad"]
    N, C, H, W = x.shape
    back = fn(impl, "max_pool2d_backward")
    windows = list(_window_slices(H, W, k, s, p))
    OH, OW = (H + 2 * p - k) // s + 1, (W + 2 * p - k) // s + 1
    rng = seeded_rng(sample, 9)
    picks = rng.permutation(len(windows) * N * C)[:8]
    for pick in picks:
        n, rest = divmod(int(pick), C * len(windows))
        c, w = divmod(rest, len(windows))
        i, j, cells = windows[w]
        dy = np.zeros((N, C, OH, OW))
        dy[n, c, i, j] = 1.0
        dx = np.asarray(back(x, k, s, p, dy))
        nz = np.argwhere(dx != 0)
        if len(nz) != 1 or dx[tuple(nz[0])] != 1.0:
            fail("max_pool2d: a window's gradient goes to exactly one element",
                  f"window (n={n}, c={c}, i={i}, j={j}) with dy = 1 gave {len(nz)} non-zero elements summing to {dx.sum()!r}")
        nn, cc, r, q = (int(v) for v in nz[0])
        real = [(a, b) for a, b in cells if 0 <= a < H and 0 <= b < W]
        if (nn, cc) != (n, c) or (r, q) not in real:
            fail("max_pool2d: the gradient stays inside its window", f"window (n={n}, c={c}, i={i}, j={j}) sent it to {(nn, cc, r, q)}")
        if x[n, c, r, q] != max(x[n, c, a, b] for a, b in real):
            fail("max_pool2d: the gradient goes to the window's maximum", f"window (n={n}, c={c}, i={i}, j={j}) sent it to x={x[n, c, r, q]!r}")
    dy = draw_cotangent("max_pool2d", sample)
    dx = np.asarray(back(x, k, s, p, dy))
    assert_close(dx.sum(), dy.sum(), 8 * EPS * np.abs(dy).sum() + 1e-300, "max_pool2d conserves the total gradient", "Σ dx vs Σ dy")


def prop_avgpool_total(impl, sample):
    """avg_pool2d: Σ dx = Σ_o dy_o·r_o/k² (r_o real cells of window o), which is Σ dy when pad = 0."""
    x, k, s, p = np.asarray(sample["x"]), sample["kernel"], sample["stride"], sample["pad"]
    N, C, H, W = x.shape
    dy = draw_cotangent("avg_pool2d", sample)
    dx = np.asarray(fn(impl, "avg_pool2d_backward")(x, k, s, p, dy))
    r = np.zeros(dy.shape[2:])
    for i, j, cells in _window_slices(H, W, k, s, p):
        r[i, j] = sum(1 for a, b in cells if 0 <= a < H and 0 <= b < W)
    expected = float(np.sum(dy * r) / (k * k))
    assert_close(dx.sum(), expected, 16 * EPS * np.abs(dy).sum() + 1e-300, "avg_pool2d: Σ dx = Σ dy·(real cells)/kernel²", "Σ dx")


# --------------------------------------------------------------------------- batchnorm
def prop_batchnorm_normalises(impl, sample):
    """With γ = 1, β = 0 the output has per-feature mean 0 and variance σ²/(σ² + eps) (≈ 1)."""
    x, eps = np.asarray(sample["x"]), sample["eps"]
    axes, bshape = bn_groups(x)
    D = x.shape[1]
    y = np.asarray(fn(impl, "batchnorm_forward")(x, np.ones(D), np.zeros(D), eps))
    m = int(np.prod([x.shape[a] for a in axes]))
    mu = x.mean(axis=axes, keepdims=True)
    var = np.mean((x - mu) ** 2, axis=axes)
    sd = np.sqrt(var + eps)
    cond = 64 * EPS * np.max(np.abs(x), axis=axes) / sd * math.sqrt(m) + 1e-12
    assert_close(y.mean(axis=axes), np.zeros(D), cond, "batchnorm: per-feature mean 0", "mean of y")
    assert_close(y.var(axis=axes), var / (var + eps), 1e-9 + 4 * cond, "batchnorm: per-feature variance σ²/(σ²+eps) (biased σ²)", "variance of y")


def prop_batchnorm_grad_identities(impl, sample):
    """dx sums to 0 per feature, dbeta = Σ dy, dgamma = Σ dy·x̂."""
    x, gamma, eps = np.asarray(sample["x"]), np.asarray(sample["gamma"]), sample["eps"]
    axes, bshape = bn_groups(x)
    dy = draw_cotangent("batchnorm", sample)
    dx, dgamma, dbeta = (np.asarray(v) for v in backward(impl, "batchnorm", sample, dy))
    mu = x.mean(axis=axes, keepdims=True)
    sd = np.sqrt(np.mean((x - mu) ** 2, axis=axes, keepdims=True) + eps)
    xhat = (x - mu) / sd
    m = int(np.prod([x.shape[a] for a in axes]))
    cond = 64 * EPS * (np.max(np.abs(x), axis=axes) / sd.reshape(-1) + 1) * m
    assert_close(dbeta, dy.sum(axis=axes), 8 * EPS * np.abs(dy).sum(axis=axes), "batchnorm: dbeta = Σ dy", "dbeta")
    assert_close(dgamma, np.sum(dy * xhat, axis=axes), cond * np.abs(dy).sum(axis=axes) + 1e-300, "batchnorm: dgamma = Σ dy·x̂", "dgamma")
    scale = np.abs(gamma) / sd.reshape(-1) * np.abs(dy).sum(axis=axes) * m
    assert_close(dx.sum(axis=axes), np.zeros(x.shape[1]), cond * scale + 1e-300, "batchnorm: dx sums to 0 per feature", "Σ dx")


# --------------------------------------------------------------------------- dropout, l2, clipping
def prop_dropout_same_mask(impl, sample):
    """dx = dy·mask/(1 − p): exactly 0 where the mask drops, the same mask and scale as the forward."""
    x, mask, p = np.asarray(sample["x"]), np.asarray(sample["mask"]), sample["p"]
    dy = draw_cotangent("dropout", sample)
    dx = np.asarray(fn(impl, "dropout_backward")(x, mask, p, dy))
    y = np.asarray(fn(impl, "dropout_forward")(x, mask, p))
    assert_close(dx, dy * mask / (1.0 - p), 2 * EPS * np.abs(dy) / (1.0 - p), "dropout backward uses the mask: dx = dy·mask/(1−p)", "dx")
    assert_close(y, x * mask / (1.0 - p), 2 * EPS * np.abs(x) / (1.0 - p), "inverted dropout: y = x·mask/(1−p)", "y")


#: Probability that a correct dropout fails :func:`prop_dropout_unbiased` on one element (Bernstein's bound).
DROPOUT_FALSE_ALARM = 1e-9


def prop_dropout_unbiased(impl, sample):
    r"""E[y] = x when mask ~ Bernoulli(1 − p): the mean over M = 2000 masks is within Bernstein's bound of x.

    The mean is :math:`x\,K/(M(1-p))` with :math:`K` kept of :math:`M`, so its error is
    :math:`|x|\,|D - Mp|/(M(1-p))` for the :math:`D \sim \mathrm{Bin}(M, p)` drops. Bernstein's inequality
    bounds :math:`|D - Mp| \le t/3 + \sqrt{t^2/9 + 2Mp(1-p)t}` except with probability :math:`2e^{-t}`
    (:data:`DROPOUT_FALSE_ALARM`). Unlike "5 standard errors" it holds for rare drops too: at p = 1e-5 a
    single drop is 7 standard errors (Hypothesis found that false alarm).
    """
    x, p = np.asarray(sample["x"]), sample["p"]
    M = 2000
    rng = seeded_rng(sample, 21)
    f = fn(impl, "dropout_forward")
    total = np.zeros_like(x)
    for _ in range(M):
        total += np.asarray(f(x, (rng.random(x.shape) >= p).astype(np.float64), p))
    mean = total / M
    t = math.log(2.0 / DROPOUT_FALSE_ALARM)
    drops = t / 3.0 + math.sqrt(t * t / 9.0 + 2.0 * M * p * (1.0 - p) * t) if p > 0 else 0.0
    tol = np.abs(x) * drops / (M * (1.0 - p)) + 1e-12 * np.abs(x) + 1e-300
    assert_close(mean, x, tol, "dropout is unbiased: E[y] = x (inverted dropout)", "mean of y over 2000 masks")


def prop_l2_gradient(impl, sample):
    """l2 penalty 0.5·lam·ΣW² >= 0 and its gradient is dy·lam·W."""
    W, lam = np.asarray(sample["W"]), sample["lam"]
    v = _scalar(fn(impl, "l2_penalty_forward")(W, lam), "l2_penalty_forward output")
    assert_close(v, 0.5 * lam * np.sum(W * W), 4 * EPS * 0.5 * lam * np.sum(W * W) * W.size + 1e-300, "l2 penalty = 0.5·lam·ΣW²", "penalty")
    dy = draw_cotangent("l2_penalty", sample)
    g = fn(impl, "l2_penalty_backward")(W, lam, dy)
    assert_close(g, dy * lam * W, 2 * EPS * np.abs(dy * lam * W), "l2 penalty: dW = dy·lam·W", "dW")


def prop_clip_norm(impl, sample):
    """clip_grad_norm keeps the direction (one common factor c in (0, 1]) and bounds the global norm by max_norm."""
    grads, max_norm = [np.asarray(g) for g in sample["grads"]], sample["max_norm"]
    out = fn(impl, "clip_grad_norm")(sample["grads"], max_norm)
    if not isinstance(out, (list, tuple)) or len(out) != len(grads):
        fail("clip_grad_norm returns a list of the same length", f"got {type(out).__name__}")
    norm = math.sqrt(sum(float(np.sum(g * g)) for g in grads))
    c = 1.0 if norm <= max_norm else max_norm / norm
    for k, (g, o) in enumerate(zip(grads, out)):
        assert_close(o, c * g, 4 * EPS * np.abs(g), "clip_grad_norm scales every array by the same max_norm/‖g‖ (global norm), or not at all",
                     f"grads[{k}]")
    new = math.sqrt(sum(float(np.sum(np.asarray(o) ** 2)) for o in out))
    if new > max_norm * (1 + 1e-12):
        fail("clip_grad_norm bounds the global norm", f"‖out‖ = {new!r} > max_norm = {max_norm!r}")


def prop_clip_value(impl, sample):
    """clip_grad_value clamps every element to [−clip, clip] and leaves the others unchanged."""
    grads, clip = [np.asarray(g) for g in sample["grads"]], sample["clip"]
    out = fn(impl, "clip_grad_value")(sample["grads"], clip)
    if not isinstance(out, (list, tuple)) or len(out) != len(grads):
        fail("clip_grad_value returns a list of the same length", f"got {type(out).__name__}")
    for k, (g, o) in enumerate(zip(grads, out)):
        assert_close(o, np.minimum(np.maximum(g, -clip), clip), 0.0, "clip_grad_value clamps to [−clip, clip]", f"grads[{k}]")


# --------------------------------------------------------------------------- optimizers
def closed_form_constant_gradient(closed_form, w0, g, steps: int, hyper: dict):
    """Closed-form parameters after each of ``steps`` updates with the same gradient g every step.

    ``closed_form(w0, g, j, hyper)`` is w_j, the optimizer's own (its record's ``<name>_constant_gradient``, e.g.
    sgd :math:`w_j = w_0 - j\\eta g`). Returns the list [w_1, ..., w_steps].
    """
    return [closed_form(w0, g, j, hyper) for j in range(1, steps + 1)]


def _trajectory(impl, name, w, grads, hyper):
    """w after each of the updates, each a snapshot taken when its update returned; the caller's ``w`` and
    ``grads`` are never handed to the implementation (it gets copies), so expected values computed from them
    are pre-call values even when the implementation modifies its inputs."""
    init, update = fn(impl, f"{name}_init"), fn(impl, f"{name}_update")
    w = snapshot(w)
    state, out = init(w), []
    for g in grads:
        w, state = update(w, snapshot(g), state, **hyper)
        w = np.asarray(w)
        if not np.all(np.isfinite(w)):
            fail(f"{name}: parameters stay finite", f"after step {len(out) + 1}: {w!r}")
        out.append(w.copy())
    return out


def prop_optimizer_closed_form(impl, sample, op, closed_form):
    """With a constant gradient, the trajectory equals the optimizer's closed form (see :func:`closed_form_constant_gradient`).

    ``closed_form(w0, g, j, hyper)``: w after j steps, from the optimizer's record (which binds it with its op)."""
    name = _op(op).name
    w0, g, hyper = np.array(sample["w"]), np.array(sample["grads"][0]), sample["hyper"]  # copies: pre-call values
    steps = len(sample["grads"])
    got = _trajectory(impl, name, w0, [g] * steps, hyper)
    want = closed_form_constant_gradient(closed_form, w0, g, steps, hyper)
    for k, (a, b) in enumerate(zip(got, want), start=1):
        tol = 1e-9 * (np.abs(w0) + hyper["lr"] * k * 10) + 1e-300
        assert_close(a, b, tol, f"{name}: constant-gradient trajectory equals the closed form", f"w after step {k}")


def prop_optimizer_matches_spec(impl, sample, op):
    """Over 5 steps with a fresh gradient each step, the trajectory equals the spec's."""
    name = _op(op).name
    w0, grads = snapshot(np.asarray(sample["w"])), snapshot(sample["grads"])  # pre-call values
    got = _trajectory(impl, name, w0, grads, sample["hyper"])
    want = _trajectory(spec, name, w0, grads, sample["hyper"])
    for k, (a, b) in enumerate(zip(got, want), start=1):
        assert_close(a, b, 1e-10 * (np.abs(b) + sample["hyper"]["lr"] * k) + 1e-12, f"{name}: trajectory matches the spec", f"w after step {k}")


def prop_optimizer_decreases_quadratic(impl, sample, op):
    """On f(w) = ½Σ a_i w_i² (a_i in [0.5, 2]) every step decreases f when lr is small enough."""
    name = _op(op).name
    rng = seeded_rng(sample, 31)
    shape = np.shape(sample["w"])
    w = rng.choice([-1.0, 1.0], size=shape) * rng.uniform(0.5, 3.0, size=shape)
    a = rng.uniform(0.5, 2.0, size=shape)
    hyper = dict(sample["hyper"])
    hyper["lr"] = 1e-4  # every method moves each coordinate by <= ~100·lr per step here, far less than |w_i| >= 0.5
    init, update = fn(impl, f"{name}_init"), fn(impl, f"{name}_update")
    state, f_prev = init(w), 0.5 * float(np.sum(a * w * w))
    for k in range(1, 6):
        w, state = update(w, a * w, state, **hyper)
        f = 0.5 * float(np.sum(a * np.asarray(w) ** 2))
        if not f < f_prev:
            fail(f"{name}: a small step decreases a convex quadratic", f"f went from {f_prev!r} to {f!r} at step {k}")
        f_prev = f


def prop_sgd_step(impl, sample):
    """SGD steps by exactly −lr·g."""
    w, g, lr = np.array(sample["w"]), np.array(sample["grads"][0]), sample["hyper"]["lr"]  # copies: pre-call values
    w1, _ = fn(impl, "sgd_update")(w.copy(), g.copy(), fn(impl, "sgd_init")(w.copy()), lr=lr)
    assert_close(w1, w - lr * g, 2 * EPS * (np.abs(w) + np.abs(lr * g)), "sgd: w ← w − lr·g", "w_new")


def prop_momentum_zero_is_sgd(impl, sample):
    """Momentum with μ = 0 follows SGD's trajectory."""
    hyper = dict(sample["hyper"], momentum=0.0)
    w = np.array(sample["w"])  # a copy: pre-call values
    got = _trajectory(impl, "momentum", w, sample["grads"], hyper)
    for k, (a, g) in enumerate(zip(got, sample["grads"]), start=1):
        w = w - hyper["lr"] * g
        assert_close(a, w, 1e-12 * (np.abs(w) + hyper["lr"] * k), "momentum with μ = 0 equals SGD", f"w after step {k}")


def prop_adam_first_step_is_sign(impl, sample):
    """Adam's first step is −lr·g/(|g| + eps) ≈ −lr·sign(g) where |g| ≫ eps (bias correction, t = 1)."""
    w, g, hyper = np.array(sample["w"]), np.array(sample["grads"][0]), sample["hyper"]  # copies: pre-call values
    w1, _ = fn(impl, "adam_update")(w.copy(), g.copy(), fn(impl, "adam_init")(w.copy()), **hyper)
    step = np.asarray(w1) - w
    big = np.abs(g) > 1e3 * hyper["eps"]
    lr = hyper["lr"]
    assert_close(step[big], -lr * np.sign(g[big]), lr * 2e-3 + 4 * EPS * np.abs(w[big]), "adam: the first step is ≈ −lr·sign(g)", "Δw")


def prop_adagrad_step_shrinks(impl, sample):
    """AdaGrad's effective step shrinks: with a constant gradient |Δw| decreases every step."""
    w, g, hyper = np.array(sample["w"]), np.array(sample["grads"][0]), sample["hyper"]  # copies: pre-call values
    traj = [w] + _trajectory(impl, "adagrad", w, [g] * 5, hyper)
    steps = [np.abs(b - a) for a, b in zip(traj, traj[1:])]
    live = np.abs(g) > 1e3 * hyper["eps"]
    for k in range(1, len(steps)):
        grew = live & ~(steps[k] < steps[k - 1])
        if np.any(grew):
            i = tuple(int(v) for v in np.argwhere(grew)[0])
            fail("adagrad: the effective step shrinks", f"|Δw{list(i)}| went from {steps[k - 1][i]!r} to {steps[k][i]!r} at step {k + 1}")


# --------------------------------------------------------------------------- init
def fans(shape) -> tuple[int, int]:
    """(fan_in, fan_out): (D, M) → (D, M); (F, C, KH, KW) → (C·KH·KW, F·KH·KW)."""
    if len(shape) == 2:
        return int(shape[0]), int(shape[1])
    F, C, KH, KW = shape
    return C * KH * KW, F * KH * KW


def init_target(name: str, shape) -> tuple[str, float]:
    """(family, variance) of a scheme, written out independently of the reference."""
    fi, fo = fans(shape)
    return {
        "init_xavier_normal": ("normal", 2.0 / (fi + fo)),
        "init_xavier_uniform": ("uniform", 2.0 / (fi + fo)),
        "init_he_normal": ("normal", 2.0 / fi),
        "init_he_uniform": ("uniform", 2.0 / fi),
        "init_lecun_normal": ("normal", 1.0 / fi),
    }[name]


def prop_init_statistics(impl, sample, op):
    """Shape, dtype, mean and variance within 5 standard errors of the scheme's target, KS p >= 1e-6 against its family."""
    name = _op(op).name
    shape = tuple(sample["shape"])
    W = fn(impl, name)(shape, np.random.default_rng(sample["seed"]))
    if not isinstance(W, np.ndarray) or W.dtype != np.float64 or W.shape != shape:
        fail(f"{name} returns a float64 array of the given shape", f"got {type(W).__name__} {getattr(W, 'dtype', '')} {getattr(W, 'shape', '')}")
    family, var = init_target(name, shape)
    st = init_statistics(W, family, var)
    where = f"{name}{shape} (fan_in, fan_out = {fans(shape)})"
    if abs(st["mean_z"]) > INIT_Z:
        fail(f"{name}: mean 0", f"{where}: mean {st['mean']:.4g} is {st['mean_z']:.1f} standard errors from 0")
    if abs(st["var_z"]) > INIT_Z:
        fail(f"{name}: variance {var:.4g}", f"{where}: variance {st['var']:.4g} is {st['var_z']:.1f} standard errors off (ratio {st['var'] / var:.3f})")
    if st["ks_p"] < INIT_KS_P:
        fail(f"{name}: {family} distribution", f"{where}: Kolmogorov–Smirnov D = {st['ks_d']:.4f}, p = {st['ks_p']:.2g}")


# --------------------------------------------------------------------------- perceptron
GATES = {"AND": (0, 0, 0, 1), "NAND": (1, 1, 1, 0), "OR": (0, 1, 1, 1), "XOR": (0, 1, 1, 0), "XNOR": (1, 0, 0, 1)}
BOOL_X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])


def prop_perceptron_rule(impl, sample):
    """One step: y = step(w·x + b) with step(0) = 0, w ← w + lr(t − y)x, b ← b + lr(t − y)."""
    w, b, x, t, lr = (sample[k] for k in ("w", "b", "x", "t", "lr"))
    w2, b2 = fn(impl, "perceptron_update")(w, b, x, t, lr)
    y = 1.0 if float(np.dot(w, x)) + b > 0 else 0.0
    assert_close(w2, np.asarray(w) + lr * (t - y) * np.asarray(x), 4 * EPS * (np.abs(w) + lr * np.abs(x)), "perceptron rule (step(0) = 0)", "w_new")
    assert_close(_scalar(b2, "b_new"), b + lr * (t - y), 4 * EPS * (abs(b) + lr), "perceptron rule (step(0) = 0)", "b_new")


def train_gate(impl, targets, w, b, lr, epochs=200):
    """Run the implementation's perceptron rule over the four boolean inputs; returns (w, b, converged)."""
    update = fn(impl, "perceptron_update")
    for _ in range(epochs):
        mistakes = 0
        for x, t in zip(BOOL_X, targets):
            y = 1.0 if float(np.dot(w, x)) + b > 0 else 0.0
            mistakes += int(y != t)
            w, b = update(w, b, x, float(t), lr)
            w, b = np.asarray(w, dtype=np.float64), float(b)
        if mistakes == 0:
            return w, b, True
    return w, b, False


def prop_perceptron_learns_gates(impl, sample):
    """The rule converges on AND, NAND and OR from a drawn start (they are linearly separable)."""
    rng = seeded_rng(sample, 41)
    for gate in ("AND", "NAND", "OR"):
        w0, b0 = rng.uniform(-1, 1, size=2), float(rng.uniform(-1, 1))
        w, b, ok = train_gate(impl, GATES[gate], w0, b0, sample["lr"])
        if not ok:
            fail(f"the perceptron rule converges on {gate}", f"no mistake-free pass in 200 epochs from w = {w0.tolist()}, b = {b0!r}, lr = {sample['lr']!r}")


def separability_certificate(X, targets):
    """A Farkas certificate that no (w, b) has step(w·x + b) = t on every row, or None.

    Searches λ ∈ {0, 1, 2}^n with Σ_i λ_i s_i (x_i, 1) = 0 (s_i = +1 for t = 1, −1 for t = 0)
    and λ > 0 on some positive example. Then Σ λ_i s_i (w·x_i + b) = 0, yet every term
    is >= 0 and one is > 0 for any separating (w, b): a contradiction, in exact arithmetic.
    """
    X = np.asarray(X, dtype=np.int64)
    s = np.where(np.asarray(targets) == 1, 1, -1)
    A = (np.hstack([X, np.ones((len(X), 1), dtype=np.int64)]) * s[:, None]).T
    for lam in itertools.product(range(3), repeat=len(X)):
        lam = np.array(lam)
        if np.any(lam[s == 1] > 0) and not np.any(A @ lam):
            return lam
    return None


def sign_pattern_census(impl=None):
    """For all 16 labellings of {0,1}²: separable (the rule, from w = 0, b = 0, lr = 1, converges
    within 100 epochs) or a certificate of non-separability, never both, never neither.

    Returns {labelling: "separable" | certificate λ}; raises AssertionError
    when a labelling is both or neither (e.g. a broken update rule that does not learn AND).
    """
    impl = spec if impl is None else impl
    out = {}
    for targets in itertools.product((0, 1), repeat=4):
        _, _, ok = train_gate(impl, targets, np.zeros(2), 0.0, 1.0, epochs=100)
        cert = separability_certificate(BOOL_X, targets)
        if ok == (cert is not None):
            fail("each labelling is either learnt or certified non-separable", f"labelling {targets}: converged={ok}, certificate={cert}")
        out[targets] = "separable" if ok else cert
    return out


def prop_perceptron_separability(impl, sample):
    """Of the 16 labellings of {0,1}², the rule learns exactly the 14 separable ones; XOR and XNOR carry a
    verified Farkas certificate, and no drawn (w, b) computes XOR."""
    census = sign_pattern_census(impl)
    hard = sorted(t for t, v in census.items() if not isinstance(v, str))
    if hard != [GATES["XOR"], GATES["XNOR"]]:
        fail("exactly XOR and XNOR are not linearly separable", f"non-separable labellings found: {hard}")
    w, b = np.resize(np.asarray(sample["w"], dtype=np.float64), 2), float(sample["b"])
    y = (BOOL_X @ w + b > 0).astype(np.float64)
    if np.array_equal(y, np.array(GATES["XOR"], dtype=float)):  # pragma: no cover - impossible by the certificate
        fail("no single perceptron computes XOR", f"(w, b) = ({w.tolist()}, {b!r}) does")


def prop_two_layer_xor(impl, sample):
    """Gates learnt by the rule compose into XOR: XOR(x) = AND(OR(x), NAND(x))."""
    lr = sample["lr"]
    trained = {}
    for gate in ("OR", "NAND", "AND"):
        w, b, ok = train_gate(impl, GATES[gate], np.zeros(2), 0.0, lr)
        if not ok:
            fail(f"the perceptron rule learns {gate}", f"no convergence with lr = {lr!r}")
        trained[gate] = (w, b)
    step = lambda v: (v > 0).astype(np.float64)  # noqa: E731
    h = np.stack([step(BOOL_X @ trained["OR"][0] + trained["OR"][1]), step(BOOL_X @ trained["NAND"][0] + trained["NAND"][1])], axis=1)
    y = step(h @ trained["AND"][0] + trained["AND"][1])
    assert_close(y, np.array(GATES["XOR"], dtype=float), 0.0, "a two-layer network of learnt gates computes XOR", "AND(OR, NAND)")


# --------------------------------------------------------------------------- networks (BP1–BP4)
SIGMA_PRIME_MAX = {"sigmoid": 0.25, "tanh": 1.0, "relu": 1.0}


def _act(name, z):  # ``name`` is the MLP's hidden-activation choice (a sample value), not an op name
    if name == "sigmoid":
        e = np.exp(-np.abs(z))
        return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
    return np.tanh(z) if name == "tanh" else np.maximum(z, 0.0)


def _act_prime(name, z):
    if name == "sigmoid":
        s = _act("sigmoid", z)
        return s * (1 - s)
    return 1 - np.tanh(z) ** 2 if name == "tanh" else (z > 0).astype(np.float64)


def _output_loss(zL, T, output):
    """The cost as a function of z^L (row layout), written out independently of the reference."""
    N = zL.shape[0]
    if output == "softmax_cross_entropy":
        m = zL.max(axis=1, keepdims=True)
        lse = m[:, 0] + np.log(np.exp(zL - m).sum(axis=1))
        return float(np.sum(lse - zL[np.arange(N), T]) / N)
    a = zL if output == "identity_mse" else _act("sigmoid", zL)
    return float(0.5 * np.sum((a - T) ** 2) / N)


def _forward_from(params, l, z, T, hidden, output):
    """Cost given z^l (1-based layer l, row layout): the rest of the network written out."""
    L = len(params)
    for k in range(l, L):
        z = _act(hidden, z) @ params[k][0] + params[k][1]
    return _output_loss(z, T, output)


def _zs(params, X, hidden):
    zs, a = [], X
    for l, (W, b) in enumerate(params, start=1):
        z = a @ W + b
        zs.append(z)
        a = _act(hidden, z)
    return zs


def _backprop(impl, s, layout):
    """(loss, grads, deltas) from the implementation's mlp_backprop in ``layout``, returned in the row layout.

    Column-layout δ (per example, no 1/m) is converted to the row layout's ∂C/∂z = δᵀ/m.
    """
    f = fn(impl, "mlp_backprop")
    params, X, T = s["params"], np.asarray(s["X"]), s["T"]
    if layout == "row":
        return f(params, X, T, s["hidden"], s["output"], layout="row")
    cparams = [(np.asarray(W).T.copy(), np.asarray(b).reshape(-1, 1).copy()) for W, b in params]
    cT = T if s["output"] == "softmax_cross_entropy" else np.asarray(T).T.copy()
    loss, grads, deltas = f(cparams, X.T.copy(), cT, s["hidden"], s["output"], layout="column")
    m = X.shape[0]
    return loss, [(np.asarray(dW).T, np.asarray(db).reshape(-1)) for dW, db in grads], [np.asarray(d).T / m for d in deltas]


def _fd_vs(analytic, f, x, rule, what, scale):
    x = np.asarray(x, dtype=np.float64)
    h = FD_REL_STEP * np.maximum(1.0, np.abs(x))
    d1, d2, F = central_differences(f, x, h)
    a = np.asarray(analytic, dtype=np.float64)
    if a.shape != x.shape:
        fail(rule, f"{what} has shape {a.shape}, expected {x.shape}")
    assert_close(a, d1, fd_tolerance(a, d1, d2, h, scale, F), rule, what)


def prop_mlp_bp1(impl, sample, layout="row"):
    """BP1: δ^L = ∂C/∂z^L, against central differences of the cost as a function of z^L."""
    loss, _, deltas = _backprop(impl, sample, layout)
    zs = _zs(sample["params"], np.asarray(sample["X"]), sample["hidden"])
    L = len(zs)
    _fd_vs(deltas[-1], lambda z: _forward_from(sample["params"], L, z, sample["T"], sample["hidden"], sample["output"]),
           zs[-1], f"BP1 ({layout} layout): δ^L = ∇_a C ⊙ σ'(z^L)", "δ^L", abs(loss) + 1)


def prop_mlp_bp2(impl, sample, layout="row"):
    """BP2: each δ^l = ((W^{l+1})ᵀ δ^{l+1}) ⊙ σ'(z^l), step by step and against central differences in z^l."""
    loss, _, deltas = _backprop(impl, sample, layout)
    params, hidden = sample["params"], sample["hidden"]
    zs = _zs(params, np.asarray(sample["X"]), hidden)
    for l in range(len(params) - 1, 0, -1):  # layer l (1-based) < L
        d_next, W_next = np.asarray(deltas[l]), np.asarray(params[l][0])
        step = (d_next @ W_next.T) * _act_prime(hidden, zs[l - 1])
        assert_close(deltas[l - 1], step, 16 * EPS * (np.abs(d_next) @ np.abs(W_next.T)) + 1e-300,
                     f"BP2 ({layout} layout): δ^l = ((W^(l+1))ᵀ δ^(l+1)) ⊙ σ'(z^l)", f"δ^{l}")
        _fd_vs(deltas[l - 1], lambda z, l=l: _forward_from(params, l, z, sample["T"], hidden, sample["output"]),
               zs[l - 1], f"BP2 ({layout} layout): δ^l = ∂C/∂z^l", f"δ^{l}", abs(loss) + 1)


def prop_mlp_bp3(impl, sample, layout="row"):
    """BP3: ∂C/∂b^l = δ^l (summed over the batch), against the δ and against central differences in b^l."""
    loss, grads, deltas = _backprop(impl, sample, layout)
    params = sample["params"]
    for l, ((W, b), (dW, db), d) in enumerate(zip(params, grads, deltas), start=1):
        d = np.asarray(d)
        assert_close(db, d.sum(axis=0), 16 * EPS * np.abs(d).sum(axis=0) + 1e-300, f"BP3 ({layout} layout): ∂C/∂b^l = Σ_n δ^l", f"db{l}")

        def f(v, l=l):
            ps = [(W_, b_) for W_, b_ in params]
            ps[l - 1] = (ps[l - 1][0], v)
            return _loss_row(ps, sample)

        _fd_vs(db, f, b, f"BP3 ({layout} layout): ∂C/∂b^l", f"db{l}", abs(loss) + 1)


def _loss_row(params, s):
    X = np.asarray(s["X"])
    a = X
    for W, b in params[:-1]:
        a = _act(s["hidden"], a @ W + b)
    return _output_loss(a @ params[-1][0] + params[-1][1], s["T"], s["output"])


def prop_mlp_bp4(impl, sample, layout="row"):
    """BP4: ∂C/∂W^l = (a^{l−1})ᵀ δ^l, against the δ and against central differences in W^l."""
    loss, grads, deltas = _backprop(impl, sample, layout)
    params, hidden = sample["params"], sample["hidden"]
    acts = [np.asarray(sample["X"])] + [_act(hidden, z) for z in _zs(params, np.asarray(sample["X"]), hidden)[:-1]]
    # The activations are recomputed here, in row layout: the implementation's own a^(l−1) may differ by the
    # rounding of z = aW + b (any summation order), which cancellation can make large relative to a. Bound it
    # per element, layer by layer (|f'| ≤ 1 for every hidden activation).
    act_err = [np.zeros_like(acts[0])]
    for (W, b), a in zip(params[:-1], acts[:-1]):
        W, b = np.asarray(W), np.asarray(b)
        act_err.append((W.shape[0] + 2) * EPS * (np.abs(a) @ np.abs(W) + np.abs(b)) + act_err[-1] @ np.abs(W))
    for l, ((W, b), (dW, db), d, a, ea) in enumerate(zip(params, grads, deltas, acts, act_err), start=1):
        d = np.asarray(d)
        tol = 16 * EPS * (np.abs(a).T @ np.abs(d)) + 2 * (ea.T @ np.abs(d)) + 1e-300
        assert_close(dW, a.T @ d, tol, f"BP4 ({layout} layout): ∂C/∂W^l = (a^(l−1))ᵀ δ^l", f"dW{l}")

        def f(v, l=l):
            ps = [(W_, b_) for W_, b_ in params]
            ps[l - 1] = (v, ps[l - 1][1])
            return _loss_row(ps, sample)

        _fd_vs(dW, f, W, f"BP4 ({layout} layout): ∂C/∂W^l", f"dW{l}", abs(loss) + 1)


def prop_mlp_gradients_fd64(impl, sample):
    """The protocol entry point mlp_loss_and_grads: loss equals the network's cost, (dW, db) equal central differences."""
    loss, grads = fn(impl, "mlp_loss_and_grads")(sample["params"], sample["X"], sample["T"], sample["hidden"], sample["output"])
    want = _loss_row(sample["params"], sample)
    assert_close(_scalar(loss, "loss"), want, 1e-10 * abs(want) + 1e-12, "mlp: the loss is the network's cost", "loss")
    if not isinstance(grads, (list, tuple)) or len(grads) != len(sample["params"]):
        fail("mlp: one (dW, db) per layer", f"got {type(grads).__name__}")
    for l, ((W, b), (dW, db)) in enumerate(zip(sample["params"], grads), start=1):
        for name, p, g, j in (("W", W, dW, 0), ("b", b, db, 1)):
            def f(v, l=l, j=j):
                ps = [list(q) for q in sample["params"]]
                ps[l - 1][j] = v
                return _loss_row([tuple(q) for q in ps], sample)

            _fd_vs(g, f, p, "mlp: gradients equal central differences of the cost", f"d{name}{l}", abs(want) + 1)


def prop_mlp_layouts_agree(impl, sample):
    """Row and column layouts give the same loss and gradients (up to transposition)."""
    s = sample
    loss, grads = fn(impl, "mlp_loss_and_grads")(s["params"], s["X"], s["T"], s["hidden"], s["output"])
    cparams = [(np.asarray(W).T.copy(), np.asarray(b).reshape(-1, 1).copy()) for W, b in s["params"]]
    cT = s["T"] if s["output"] == "softmax_cross_entropy" else np.asarray(s["T"]).T.copy()
    closs, cgrads = fn(impl, "mlp_col_loss_and_grads")(cparams, np.asarray(s["X"]).T.copy(), cT, s["hidden"], s["output"])
    assert_close(closs, loss, 1e-12 * abs(loss) + 1e-14, "mlp: both layouts give the same loss", "column-layout loss")
    for l, ((dW, db), (cdW, cdb)) in enumerate(zip(grads, cgrads), start=1):
        sc = 1e-10 * (np.max(np.abs(dW)) + 1e-300)
        assert_close(np.asarray(cdW).T, dW, sc, "mlp: both layouts give the same gradients", f"dW{l}")
        assert_close(np.asarray(cdb).reshape(-1), db, 1e-10 * (np.max(np.abs(db)) + 1e-300), "mlp: both layouts give the same gradients", f"db{l}")


def prop_gradient_flow(impl, sample, layout="row"):
    """‖dA^{l−1}‖ <= ‖W^l‖₂ · max|σ'| · ‖dA^l‖ for every hidden layer (max|σ'| = 1/4 for sigmoid)."""
    _, _, deltas = _backprop(impl, sample, layout)
    params, hidden = sample["params"], sample["hidden"]
    L = len(params)
    dA = {l: np.asarray(deltas[l]) @ np.asarray(params[l][0]).T for l in range(1, L)}  # dA^l = δ^{l+1} (W^{l+1})ᵀ
    for l in range(2, L):
        W2 = float(np.linalg.norm(np.asarray(params[l - 1][0]), 2))
        lhs, rhs = np.linalg.norm(dA[l - 1]), W2 * SIGMA_PRIME_MAX[hidden] * np.linalg.norm(dA[l])
        if lhs > rhs * (1 + 1e-9) + 1e-300:
            fail(f"gradient flow ({layout} layout): ‖dA^(l−1)‖ <= ‖W^l‖₂·max|σ'|·‖dA^l‖",
                  f"layer {l}: {lhs:.6g} > {W2:.4g}·{SIGMA_PRIME_MAX[hidden]}·{np.linalg.norm(dA[l]):.6g} = {rhs:.6g}")


def naive_mlp_grads(params, X, T, hidden, output):
    """Per-example backprop by explicit loops with relu'(0) = 0 (an independent spec of the convention)."""
    N = X.shape[0]
    gW = [np.zeros_like(np.asarray(W, dtype=np.float64)) for W, _ in params]
    gb = [np.zeros_like(np.asarray(b, dtype=np.float64)) for _, b in params]
    for n in range(N):
        a, zs, acts = X[n], [], [X[n]]
        for l, (W, b) in enumerate(params):
            z = a @ W + b
            zs.append(z)
            a = _act(hidden, z)
            acts.append(a)
        zL = zs[-1]
        if output == "softmax_cross_entropy":
            e = np.exp(zL - zL.max())
            d = e / e.sum()
            d[T[n]] -= 1.0
        elif output == "identity_mse":
            d = zL - T[n]
        else:
            s = _act("sigmoid", zL)
            d = (s - T[n]) * s * (1 - s)
        for l in range(len(params) - 1, -1, -1):
            gW[l] += np.outer(acts[l], d) / N
            gb[l] += d / N
            if l:
                d = (np.asarray(params[l][0]) @ d) * _act_prime(hidden, zs[l - 1])
    return list(zip(gW, gb))


def prop_mlp_relu_convention(impl, sample):
    """At hidden pre-activations exactly 0, mlp_loss_and_grads uses relu'(0) = 0 (against explicit loops)."""
    _, grads = fn(impl, "mlp_loss_and_grads")(sample["params"], sample["X"], sample["T"], sample["hidden"], sample["output"])
    want = naive_mlp_grads(sample["params"], np.asarray(sample["X"]), sample["T"], sample["hidden"], sample["output"])
    for l, ((dW, db), (eW, eb)) in enumerate(zip(grads, want), start=1):
        assert_close(dW, eW, 1e-12 * (np.abs(eW) + 1), "mlp: relu'(0) = 0 at exact zeros", f"dW{l}")
        assert_close(db, eb, 1e-12 * (np.abs(eb) + 1), "mlp: relu'(0) = 0 at exact zeros", f"db{l}")
