r"""The float64 oracle: what a careful engineer does without a high-precision truth.

For every op of the registry, on ``examples`` random samples drawn by the
registry (valid shapes, inputs a margin away from every kink):

* **forward**: the implementation's forward against the spec's value (the
  reference), so a forward that is wrong consistently with its backward cannot
  hide behind a passing gradient check. Tolerance:
  :math:`|a - r| \le 10^{-10}|r| + 10^{-12}\max(1, \max|r|)`.
* **backward** (ops with a gradient): the implementation's VJP with a random
  cotangent :math:`dy \sim \mathcal N(0, 1)` (never a constant, which hides
  softmax and batchnorm bugs) against central differences of
  :math:`f(x) = \langle dy, \text{forward}(x)\rangle` of the implementation's
  *own* forward, element by element, with step :math:`h = 6\cdot10^{-6}\max(1,|x_i|)`.
  Per-element tolerance :math:`10^{-6}\max(|a|,|n|) + |D_h - D_{2h}| + 32\epsilon (S + F)/h`,
  where the Richardson term :math:`|D_h - D_{2h}|` estimates the truncation
  error of the difference quotient and :math:`32\epsilon (S + F)/h` its rounding
  error: :math:`F` is the largest :math:`|f|` evaluated while differencing,
  :math:`S = |f| + \sum|dy \odot y|` plus the op's cancellation
  (:func:`rounding_scale`: large sums, near-constant batch-norm groups, the
  terms the stable losses cancel). Steps follow the op's scale (:func:`step_sizes`). This is as tight as float64
  differences allow (about 1e-6 relative); the mpmath oracle goes to 1e-8.
* **targeted samples** (:func:`targeted_samples`), after the registry's: a
  square W for affine and conv2d (a transposed dW keeps its shape there) and
  inputs of ±1000 for sigmoid, tanh, softmax and the losses from logits (an
  unshifted softmax overflows there); the forward and backward checks above run
  on them too, and a finding made on one names it.
* **rule** (optimizers, clipping, step, perceptron): value for value against
  the spec; optimizers over a 5-step trajectory with a fresh gradient each step.
* **distribution** (init): shape and dtype, mean and variance within 5 standard
  errors of the scheme's target, a Kolmogorov–Smirnov test against the
  scheme's family (normal or uniform), determinism for a seeded Generator and
  no use of NumPy's global random state.

Every check also verifies output types, shapes, dtypes, finiteness, that no
input is modified, and that calling twice gives the same result.
"""
from __future__ import annotations

import math

import numpy as np

from .. import limits, reference as spec_impl
from ..impl import CallFailed, Implementation
from ..results import CheckResult, Finding
from ..registry import OPS
from ..spec import OpSpec
from ..statistics import init_statistics
from .fd64_models import FD_REL_STEP, bn_groups
from .common import (EPS, Tracker, as_grad_tuple, backward_not_provided, check_array, check_rule, check_scalar, check_trajectory, compare,
                     named_args, reproducer)

NAME = "fd64"
TITLE = "float64 central difference"
DEFAULT_EXAMPLES = 3
#: Samples come from ``op.sample`` (and targeted samples are kept within the op's declared limits).
HONOURS_LIMITS = True
#: A forward-only op (its backward not provided) gets its forward checked and its backward reported missing.
FORWARD_ONLY = True

FWD_RTOL, FWD_ATOL = 1e-10, 1e-12
FD_RTOL = 1e-6
TINY = float(np.finfo(np.float64).tiny)  # 2^-1022, the smallest normal float64
KINK_SAFETY = 1e-3  # > 4·(2h) for |x| <= 20: a difference never straddles a kink


#: The checks this oracle produces per op kind (read by the conformance suite: one test per check).
CHECKS = {"differentiable": ("forward", "backward"), "loss": ("forward", "backward"), "network": ("forward", "backward"),
          "function": ("rule",), "rule": ("rule",), "optimizer": ("trajectory",), "init": ("distribution",)}


def checks_for(op: OpSpec) -> tuple[str, ...]:
    """The checks :func:`check_op` produces for ``op``: its kind's, plus ``conventions`` where it has kink cases."""
    from .. import conventions

    return CHECKS[op.kind] + (("conventions",) if conventions.applies(op) else ())


def applies(op: OpSpec) -> bool:
    return True


def check_op(op: OpSpec, impl: Implementation, rng: np.random.Generator, examples: int | None = None) -> list[CheckResult]:
    examples = examples or DEFAULT_EXAMPLES
    # the oracle's one choice of procedure by kind
    runner = {"differentiable": _check_differentiable, "loss": _check_differentiable, "function": _check_rule,
              "optimizer": _check_optimizer, "init": _check_init, "network": _check_network, "rule": _check_rule}[op.kind]
    from .. import conventions  # the same op evaluated exactly on its kinks, which the samples above avoid

    return runner(op, impl, rng, examples) + conventions.check_op(op, impl)


# --------------------------------------------------------------------------- shared pieces
def _Tracker(check: str) -> Tracker:
    return Tracker(NAME, check)


def _spec_call(fn: str, *args):
    return getattr(spec_impl, fn)(*args)


def _fwd_tol(expected):
    expected = np.asarray(expected, dtype=np.float64)
    scale = max(1.0, float(np.max(np.abs(expected)))) if expected.size else 1.0
    return FWD_RTOL * np.abs(expected) + FWD_ATOL * scale


def _check_forward(tracker: Tracker, op: OpSpec, impl: Implementation, sample: dict, args, repro: str | None = None):
    """One example of the forward check: call it, validate its output, compare with the spec.

    Returns the spec's value (the backward checks need it), or None when the output could not be
    compared (a forward that only mutated its input is still compared, and the mutation reported).
    """
    tracker.example()
    out = impl.call(op.forward, *args, arg_names=[a.name for a in op.args])
    if not out.ok:
        tracker.error(out.finding, repro)
        if out.finding.kind != "mutation":
            return None
    expected = _spec_call(op.forward, *args)
    if op.kind_facts.scalar_output:
        y, bad = check_scalar(out.value, f"{op.forward} output")
    else:
        y, bad = out.value, check_array(out.value, np.shape(expected), f"{op.forward} output")
    if bad:
        tracker.error(bad, repro)
        return None
    tol = _fwd_tol(expected) + conditioning(op, sample)  # + the cancellation a correct forward may carry
    tracker.measured(*compare(y, expected, tol, op=op, what="forward", sample=sample), repro)
    return expected


# --------------------------------------------------------------------------- differentiable ops and losses
def _draw_dy(rng, shape, scalar: bool):
    if scalar:
        return float(rng.choice([-1.0, 1.0]) * rng.uniform(0.5, 2.0))
    return rng.normal(size=shape)


def _evaluator(impl: Implementation, fn_name: str):
    """The implementation's function for difference quotients: under the timeout, any exception it raises
    (even SystemExit) turned into :class:`~gradspec.impl.CallFailed`."""
    return lambda *args: impl.evaluate(fn_name, *args)


def _differencing_finding(fn_name: str, exc: Exception) -> Finding:
    if isinstance(exc, CallFailed):
        f = exc.finding
        f.message = f"during differencing: {f.message}"
        return f
    # the implementation returned something that is not a number where a number is needed
    return Finding("exception", f"{fn_name} during differencing: {type(exc).__name__}: {exc}")


def _objective(fn, args, diff_index, dy, scalar):
    """x ↦ <dy, forward(args with args[diff_index] = x)> using the implementation's forward."""

    def f(x):
        a = list(args)
        a[diff_index] = x
        y = fn(*a)
        return float(dy * float(y)) if scalar else float(np.sum(dy * np.asarray(y, dtype=np.float64)))

    return f


def central_differences(f, x: np.ndarray, h: np.ndarray):
    """(D_h, D_2h, F) per element of the scalar function ``f`` at ``x``, steps ``h`` (same shape as x).

    F is the largest |f| evaluated for that element: the rounding error of a
    difference quotient is about ε·F/h, and F can far exceed |f(x)| when the
    step is larger than x (e.g. ½W² at W = 1e-268, h = 6e-6).
    """
    x = np.array(x, dtype=np.float64)
    d1, d2, fmax = np.empty_like(x), np.empty_like(x), np.empty_like(x)
    for idx in np.ndindex(x.shape):
        xi = x[idx]
        vals, big = [], 0.0
        for step in (h[idx], 2 * h[idx]):
            x[idx] = xi + step
            fp = f(x)
            x[idx] = xi - step
            fm = f(x)
            vals.append((fp - fm) / (2 * step))
            big = max(big, abs(fp), abs(fm))
        x[idx] = xi
        d1[idx], d2[idx], fmax[idx] = vals[0], vals[1], big
    return d1, d2, fmax


def central_difference(f, x: np.ndarray, rel_step: float = FD_REL_STEP):
    r"""(D_h, D_2h, h) per element, with the plain step :math:`h = \text{rel\_step}\cdot\max(1, |x_i|)`."""
    x = np.asarray(x, dtype=np.float64)
    hs = rel_step * np.maximum(1.0, np.abs(x))
    d1, d2, _ = central_differences(f, x, hs)
    return d1, d2, hs


def step_sizes(op: OpSpec, sample: dict, name: str, x: np.ndarray) -> np.ndarray:
    """Per-element difference step: FD_REL_STEP × the scale at which the op varies in argument ``name``.

    The op's ``fd_model.step`` when it gives one (cross_entropy's p stays inside (0, 1); batchnorm's x varies
    on the scale of its group's standard deviation); everything else on max(1, |x|).
    """
    x = np.asarray(x, dtype=np.float64)
    if op.fd_model.step is not None:
        h = op.fd_model.step(sample, name, x)
        if h is not None:
            return h
    return FD_REL_STEP * np.maximum(1.0, np.abs(x))


def magnitude(op: OpSpec, sample: dict):
    """The forward evaluated on absolute values (a bound on the terms summed inside it), or None."""
    return None if op.fd_model.magnitude is None else op.fd_model.magnitude(sample)


def conditioning(op: OpSpec, sample: dict):
    """Extra absolute rounding error a correct forward may carry (cancellation), per output element: a float,
    or an array broadcastable to the output (batchnorm: one per feature/channel, since each group has its own).

    The op's ``fd_model.conditioning``, else 64ε·max of its :func:`magnitude` (large sums), else 0.
    """
    if op.fd_model.conditioning is not None:
        return op.fd_model.conditioning(sample)
    mag = magnitude(op, sample)
    return 64 * EPS * float(np.max(mag)) if mag is not None and mag.size else 0.0


def rounding_scale(op: OpSpec, sample: dict, dy, y) -> float:
    r"""S: the magnitude of the terms whose rounding enters :math:`f = \langle dy, \text{forward}\rangle`.

    :math:`|f| + \sum|dy \odot y|`, widened by the op's cancellation: the
    absolute-value forward of the large sums (affine, conv2d), and the op's
    ``fd_model.cancellation`` (near-constant batch-norm groups, the terms of
    size max|z| that the stable losses (log-sum-exp, softplus) cancel); plus
    TINY·(1 + Σ|dy|) for results that underflow into the subnormals (there
    float64 keeps an absolute, not a relative, precision of 2^-1074 = ε·TINY).
    """
    y = np.asarray(y, dtype=np.float64)
    S = abs(float(np.sum(dy * y))) + float(np.sum(np.abs(dy * y)))
    # underflow: a subnormal term carries an absolute error up to 2^-1074 = ε·TINY, not a relative one
    S += TINY * (1.0 + float(np.sum(np.abs(dy))))
    mag = magnitude(op, sample)
    if mag is not None:
        S += float(np.sum(np.abs(dy) * mag))
    if op.fd_model.cancellation is not None:
        S += op.fd_model.cancellation(sample, dy)
    return S


def fd_tolerance(analytic, d1, d2, h, S, F=0.0):
    r"""Per element: :math:`10^{-6}\max(|a|,|n|) + |D_h - D_{2h}| + 32\epsilon (S + F)/h`."""
    return FD_RTOL * np.maximum(np.abs(analytic), np.abs(d1)) + np.abs(d1 - d2) + 32 * EPS * (S + F) / h


LOGIT = 1000.0


#: {op: argument} of the ops that take logits (or any real input) and must stay finite and correct at ±1000
#: (their records' ``fd_model.large_logits``; see :func:`targeted_samples`).
LARGE_LOGITS = {op.name: op.fd_model.large_logits for op in OPS if op.fd_model.large_logits}


def targeted_samples(op: OpSpec, rng: np.random.Generator) -> list[tuple[str, dict]]:
    """(label, sample) pairs checked after the registry's samples: inputs where common bugs hide and that the
    registry draws rarely or never.

    * the op's ``fd_model.targeted``: affine: a square W (D = M >= 2), where a dW transposed by mistake keeps
      its shape (elsewhere the shape check catches it); conv2d: W with F = C >= 2 and KH = KW >= 2, where dW
      with its filter and channel axes, or its kernel axes, swapped keeps its shape;
    * the op's ``fd_model.large_logits`` argument (sigmoid, tanh, softmax and the losses from logits): inputs
      of ±1000 (+ U(-1, 1), both signs), where the spec stays finite and correct and a forward without the max
      shift, or a log of a saturated sigmoid, overflows.

    Drawn from ``rng`` after the registry's samples, so those are the same with or without these.
    """
    if op.fd_model.targeted is not None:
        return op.fd_model.targeted(op, rng)
    name = op.fd_model.large_logits
    if name:
        s = dict(op.sample(rng))
        shape = np.shape(s[name])
        z = rng.choice([-LOGIT, LOGIT], size=shape) + rng.uniform(-1.0, 1.0, size=shape)
        z.flat[0] = LOGIT + rng.uniform(-1.0, 1.0)
        if z.size > 1:
            z.flat[-1] = -LOGIT + rng.uniform(-1.0, 1.0)
        s[name] = z
        return [(f"{name} of ±{LOGIT:g}", s)]
    return []


def targeted_labels(op: OpSpec) -> list[str]:
    """The labels of ``op``'s :func:`targeted_samples` (what the fd64 checks add to the registry's samples)."""
    return [label for label, _ in targeted_samples(op, np.random.default_rng(0))]


def _samples(op: OpSpec, rng: np.random.Generator, examples: int, skipped: list | None = None):
    """(label, sample): the registry's ``examples`` samples (label None), then :func:`targeted_samples`. Drawn
    lazily, so the registry samples and the cotangents drawn between them are those of a run without the others.

    On an op narrowed to declared limits (:mod:`gradspec.limits`), a targeted sample outside them is drawn
    again (or set within them); one that cannot be is left out and its label appended to ``skipped``."""
    for _ in range(examples):
        yield None, op.sample(rng)
    op_limits = limits.of(op)
    for label, s in targeted_samples(op, rng):
        if op_limits and limits.outside(op_limits, s):
            s = limits.constrain(op, op_limits, lambda r, label=label: dict(
                next((t for lb, t in targeted_samples(op, r) if lb == label), s)), rng, max_draws=100)
            if s is None:
                if skipped is not None:
                    skipped.append(label)
                continue
        yield label, s


def _label(findings: list[Finding], label: str | None):
    """Name the targeted sample findings were made on, in their messages and details."""
    if label:
        for f in findings:
            if "sample_kind" not in f.details:
                f.details["sample_kind"] = label
                f.message = f"{f.message} [sample: {label}]"


def _check_differentiable(op, impl, rng, examples):
    fwd, bwd = _Tracker("forward"), _Tracker("backward")
    scalar = op.kind_facts.scalar_output
    diff = [i for i, a in enumerate(op.args) if a.differentiable]
    kink_moves = 0
    targeted_skipped: list[str] = []
    forward_only = bool(op.extra.get("forward_only"))
    for label, s in _samples(op, rng, examples, targeted_skipped):
        seen = len(fwd.result.findings), len(bwd.result.findings)
        try:
            if op.kink_distance(s) <= KINK_SAFETY:
                kink_moves += 1  # the registry samples keep a margin; never differentiate across a kink
                continue
            args = op.forward_args(s)
            names = [a.name for a in op.args]
            expected = _check_forward(fwd, op, impl, s, args, reproducer(impl.name, op.forward, named_args(op, s)))
            if expected is None or forward_only:
                continue

            # backward with a random cotangent
            bwd.example()
            dy = _draw_dy(rng, np.shape(expected), scalar)
            repro_b = reproducer(impl.name, op.backward, named_args(op, s, [("dy", dy)]))
            res = impl.call(op.backward, *args, dy, arg_names=names)
            if not res.ok:
                bwd.error(res.finding, repro_b)
                continue
            grads, bad = as_grad_tuple(res.value, len(diff), op.backward)
            if bad:
                bwd.error(bad, repro_b)
                continue
            broken = False
            for i, g in zip(diff, grads):
                bad = check_array(g, np.shape(args[i]), f"d{op.args[i].name}")
                if bad:
                    bwd.error(bad, repro_b)
                    broken = True
            if broken:
                continue
            again = impl.call(op.backward, *args, dy, arg_names=names)
            if not again.ok and again.finding.kind in ("timeout", "exception"):  # a second call that hangs or raises
                bwd.error(again.finding, repro_b)
                continue
            if again.ok:
                g2, _ = as_grad_tuple(again.value, len(diff), op.backward)
                if g2 is None or any(not np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(grads, g2)):
                    bwd.error(Finding("nondeterministic", f"{op.backward} returned different results for the same inputs"), repro_b)
                    continue
            S = rounding_scale(op, s, dy, expected)
            fn = _evaluator(impl, op.forward)
            for i, g in zip(diff, grads):
                try:
                    hs = step_sizes(op, s, op.args[i].name, args[i])
                    d1, d2, F = central_differences(_objective(fn, args, i, dy, scalar), args[i], hs)
                except Exception as exc:  # noqa: BLE001
                    bwd.error(_differencing_finding(op.forward, exc), repro_b)
                    break
                tol = fd_tolerance(g, d1, d2, hs, S, F)
                worst, findings = compare(g, d1, tol, op=op, what=f"d{op.args[i].name}", sample=s)
                for fnd in findings:
                    fnd.details["argument"] = op.args[i].name
                    fnd.details["expected_is"] = "float64 central difference of the implementation's forward"
                bwd.measured(worst, findings, repro_b)
        finally:  # also after a `continue`
            _label(fwd.result.findings[seen[0]:] + bwd.result.findings[seen[1]:], label)
    if kink_moves:
        bwd.result.info["samples_skipped_near_kink"] = kink_moves
    labels = [lb for lb in targeted_labels(op) if lb not in targeted_skipped]
    if labels:
        fwd.result.info["targeted_samples"] = bwd.result.info["targeted_samples"] = labels
    if targeted_skipped:
        fwd.result.info["targeted_outside_limits"] = bwd.result.info["targeted_outside_limits"] = targeted_skipped
    if forward_only:
        return [fwd.done("forward matches the spec"), backward_not_provided(NAME, op)]
    return [fwd.done("forward matches the spec"), bwd.done("backward matches central differences")]


# --------------------------------------------------------------------------- networks
def _check_network(op, impl, rng, examples):
    fwd, bwd = _Tracker("forward"), _Tracker("backward")
    fn_name = op.functions[0]
    names = [a.name for a in op.args]
    for _ in range(examples):
        s = op.sample(rng)
        args = op.forward_args(s)
        fwd.example()
        bwd.example()
        repro = reproducer(impl.name, fn_name, named_args(op, s))
        res = impl.call(fn_name, *args, arg_names=names)
        value = res.value if res.ok else None
        if not res.ok or not isinstance(value, (tuple, list)) or len(value) != 2:
            # the loss and the gradients come from this one call: neither can be checked
            bad = res.finding if not res.ok else Finding(
                "type", f"{fn_name} must return (loss, grads), got {type(value).__name__}")
            fwd.error(bad, repro)
            bwd.error(Finding(bad.kind, f"gradients not checked: {bad.message}"), repro)
            continue
        ref_loss, _ = _spec_call(fn_name, *args)
        loss, bad = check_scalar(value[0], "loss")
        if bad:
            fwd.error(bad, repro)  # the gradients are still checked below
        else:
            worst, findings = compare(loss, ref_loss, _fwd_tol(ref_loss), op=op, what="loss", sample=s)
            fwd.measured(worst, findings, repro)
        grads = value[1]
        params = s["params"]
        if not isinstance(grads, (list, tuple)) or len(grads) != len(params):
            bwd.error(Finding("type", f"{fn_name} must return one (dW, db) per layer ({len(params)}), got {type(grads).__name__}"), repro)
            continue
        fn = _evaluator(impl, fn_name)
        for l, ((W, b), pair) in enumerate(zip(params, grads), start=1):
            if not isinstance(pair, (list, tuple)) or len(pair) != 2:
                bwd.error(Finding("type", f"grads[{l - 1}] must be a (dW, db) pair"), repro)
                continue
            for j, (name, p, g) in enumerate((("W", W, pair[0]), ("b", b, pair[1]))):
                bad = check_array(g, np.shape(p), f"d{name}{l}")
                if bad:
                    bwd.error(bad, repro)
                    continue

                def f(x, l=l, j=j):
                    ps = [list(q) for q in params]
                    ps[l - 1][j] = x
                    return float(fn([tuple(q) for q in ps], *args[1:])[0])

                hs = FD_REL_STEP * np.maximum(1.0, np.abs(np.asarray(p, dtype=np.float64)))
                try:
                    d1, d2, F = central_differences(f, p, hs)
                except Exception as exc:  # noqa: BLE001
                    bwd.error(_differencing_finding(fn_name, exc), repro)
                    continue
                tol = fd_tolerance(g, d1, d2, hs, abs(ref_loss) + 1.0, F)
                worst, findings = compare(g, d1, tol, op=op, what=f"d{name}{l}", sample=s)
                bwd.measured(worst, findings, repro)
    return [fwd.done("loss matches the spec"), bwd.done("gradients match central differences")]


# --------------------------------------------------------------------------- rules: functions, optimizers, perceptron
def _check_rule(op, impl, rng, examples):
    """Functions, rules and the perceptron: value for value against the spec."""
    t = _Tracker("rule")
    check_rule(t, op, impl, rng, examples, lambda s, args: _spec_call(op.functions[0], *args), _fwd_tol)
    return [t.done(f"{op.functions[0]} matches the spec")]


def _check_optimizer(op, impl, rng, examples):
    t = _Tracker("trajectory")
    init, update = op.functions
    for _ in range(examples):
        s = op.sample(rng)
        t.example()
        hyper = s["hyper"]
        repro = reproducer(impl.name, init, [("w", s["w"])],
                           extra="\n".join([f"grads = {[g.tolist() for g in s['grads']]!r}", "state = impl." + init + "(w)",
                                            "for g in grads:",
                                            f"    w, state = impl.{update}(w, np.array(g), state, **{hyper!r})",
                                            "    print(w)"]))
        ref, ref_w, ref_state = [], s["w"], _spec_call(init, s["w"])
        for g in s["grads"]:
            ref_w, ref_state = getattr(spec_impl, update)(ref_w, g, ref_state, **hyper)
            ref.append(ref_w)
        check_trajectory(t, op, impl, s, lambda step: ref[step - 1], FWD_RTOL, FWD_ATOL, repro,
                         "the spec's trajectory (gradspec.reference)")
    return [t.done("the parameter trajectory matches the spec over 5 steps")]


# --------------------------------------------------------------------------- init
INIT_Z = 5.0  # standard errors allowed for the mean and the variance
INIT_KS_P = 1e-6  # KS p-value below which the distribution is rejected


def _check_init(op, impl, rng, examples):
    t = _Tracker("distribution")
    fn = op.name
    stats_seen = []
    for _ in range(max(1, min(examples, 2))):
        s = op.sample(rng)
        shape, seed = s["shape"], s["seed"]
        t.example()
        repro = reproducer(impl.name, fn, [("shape", shape), ("rng", "RNG")]).replace("rng = 'RNG'", f"rng = np.random.default_rng({seed})")
        global_before = np.random.get_state()[1].copy()
        res = impl.call(fn, shape, np.random.default_rng(seed), arg_names=["shape", "rng"])
        if not res.ok:
            t.error(res.finding, repro)
            continue
        if not np.array_equal(np.random.get_state()[1], global_before):
            t.error(Finding("global_state", f"{fn} used NumPy's global random state; draw from the Generator passed in"), repro)
        W = res.value
        bad = check_array(W, shape, f"{fn} output")
        if bad:
            t.error(bad, repro)
            continue
        again = impl.call(fn, shape, np.random.default_rng(seed), arg_names=["shape", "rng"])
        if again.ok and not (isinstance(again.value, np.ndarray) and np.array_equal(again.value, W)):
            t.error(Finding("nondeterministic", f"{fn} gave different arrays for two Generators with the same seed"), repro)
        family, var = spec_impl.init.target(fn, shape)
        st = init_statistics(W, family, var)
        st["shape"] = list(shape)
        stats_seen.append(st)
        worst = max(abs(st["mean_z"]), abs(st["var_z"])) / INIT_Z
        findings = []
        if abs(st["mean_z"]) > INIT_Z:
            findings.append(Finding("statistic", f"{fn}{tuple(shape)}: mean {st['mean']:.4g} is {st['mean_z']:.1f} standard errors from 0", st))
        if abs(st["var_z"]) > INIT_Z:
            findings.append(Finding("statistic", f"{fn}{tuple(shape)}: variance {st['var']:.4g} vs target {var:.4g} "
                                                 f"({st['var_z']:.1f} standard errors; ratio {st['var'] / var:.3f})", st))
        if st["ks_p"] < INIT_KS_P:
            findings.append(Finding("statistic", f"{fn}{tuple(shape)}: not {family} (KS D = {st['ks_d']:.4f}, p = {st['ks_p']:.2g})", st))
        t.measured(worst, findings, repro)
    t.result.info["statistics"] = stats_seen
    return [t.done("mean, variance and distribution match the scheme")]


# =========================================================================== directional mode (large shapes)
# Additive: nothing above calls this section. The element-wise backward check
# costs 4 forwards per input element, fine at the registry's small shapes but
# not at, say, a conv2d with 35 000 inputs. Here the VJP is checked through
# directional derivatives instead: for a random direction v of one argument,
#     <dx, v>  (from the backward)   vs   d/dt <dy, f(x + t v)> at t = 0
# by central differences with Richardson's error estimate: 4 forwards per
# direction, whatever the number of elements.
DIRECTIONS = 3


def _direction(rng, x):
    """v_i = ±u_i·max(1, |x_i|), u_i ~ U[0.5, 1.5]: continuous (no cancelling pattern), bounded
    (each element moves at most 1.5 times the element-wise step, so KINK_SAFETY still holds)."""
    x = np.asarray(x, dtype=np.float64)
    return rng.choice([-1.0, 1.0], size=x.shape) * rng.uniform(0.5, 1.5, size=x.shape) * np.maximum(1.0, np.abs(x))


def directional_difference(f, x, v, rel_step: float = FD_REL_STEP):
    """(D_h, D_2h, h): central differences of scalar ``f`` along ``v`` at x, steps h and 2h."""
    x = np.asarray(x, dtype=np.float64)
    h = rel_step
    vals = []
    for step in (h, 2 * h):
        vals.append((f(x + step * v) - f(x - step * v)) / (2 * step))
    return vals[0], vals[1], h


def check_directional(op: OpSpec, impl: Implementation, sample: dict, rng: np.random.Generator,
                      directions: int = DIRECTIONS) -> list[CheckResult]:
    r"""Check ``op`` at one (possibly large) ``sample``: forward against the spec, backward by directional derivatives.

    For each differentiable argument :math:`x_i` and each of ``directions``
    random directions :math:`v` (see :func:`_direction`), the analytic
    :math:`a = \langle \bar x_i, v\rangle` from the implementation's VJP with a
    random cotangent :math:`dy` is compared with the central difference
    :math:`D_h` of :math:`t \mapsto \langle dy, f(x_i + t v)\rangle` of the
    implementation's own forward. Tolerance
    :math:`10^{-6}\max(|a|,|D_h|) + |D_h - D_{2h}| + 32\epsilon S/h + 4\epsilon\sum|\bar x_i \odot x_i|/h`
    (relative, Richardson truncation estimate, rounding of :math:`f`, rounding of
    :math:`x + hv`), with :math:`S = |f| + \sum|dy\odot y|`. Cost: 4 forwards per
    direction and one backward, independent of the number of elements.

    Returns ``[forward, backward_directional]`` CheckResults.
    """
    if not op.kind_facts.has_backward:
        raise ValueError(f"check_directional: {op.name} is a {op.kind} op; it applies to differentiable ops and losses")
    fwd, bwd = _Tracker("forward"), _Tracker("backward_directional")
    scalar = op.kind_facts.scalar_output
    diff = [i for i, a in enumerate(op.args) if a.differentiable]
    args = op.forward_args(sample)
    names = [a.name for a in op.args]
    expected = _check_forward(fwd, op, impl, sample, args)
    if expected is None:
        return [fwd.done(), bwd.done()]
    bwd.example()
    dy = _draw_dy(rng, np.shape(expected), scalar)
    res = impl.call(op.backward, *args, dy, arg_names=names)
    if not res.ok:
        bwd.error(res.finding)
        return [fwd.done("forward matches the spec"), bwd.done()]
    grads, bad = as_grad_tuple(res.value, len(diff), op.backward)
    if bad:
        bwd.error(bad)
        return [fwd.done("forward matches the spec"), bwd.done()]
    for i, g in zip(diff, grads):
        bad = check_array(g, np.shape(args[i]), f"d{op.args[i].name}")
        if bad:
            bwd.error(bad)
            return [fwd.done("forward matches the spec"), bwd.done()]
    f_scale = rounding_scale(op, sample, dy, expected)
    fn = _evaluator(impl, op.forward)
    for i, g in zip(diff, grads):
        f = _objective(fn, args, i, dy, scalar)
        x = np.asarray(args[i], dtype=np.float64)
        for k in range(directions):
            v = _direction(rng, x)
            analytic = float(np.sum(g * v))
            try:
                d1, d2, h = directional_difference(f, x, v)
            except Exception as exc:  # noqa: BLE001
                bwd.error(_differencing_finding(op.forward, exc))
                return [fwd.done("forward matches the spec"), bwd.done()]
            tol = (FD_RTOL * max(abs(analytic), abs(d1)) + abs(d1 - d2) + 32 * EPS * f_scale / h
                   + 4 * EPS * float(np.sum(np.abs(g * x))) / h)
            what = f"<d{op.args[i].name}, v{k}>"
            worst, findings = compare(np.array([analytic]), np.array([d1]), np.array([tol]), op=op, what=what, sample=sample)
            for fnd in findings:
                fnd.details.update(argument=op.args[i].name, direction=k,
                                   expected_is="float64 central difference of <dy, forward> along a random direction")
            bwd.measured(worst, findings)
    bwd.result.info["directions_per_argument"] = directions
    return [fwd.done("forward matches the spec"), bwd.done("backward matches directional central differences")]
