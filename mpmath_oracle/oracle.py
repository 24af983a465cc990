r"""The mpmath oracle: float64 forwards and backwards against a 50-digit truth, within a running error bound.

For every op with a gradient (differentiable ops, losses, the MLP) and each of
``examples`` registry samples (``op.sample(rng)``), with a random cotangent
:math:`dy \sim \mathcal N(0, 1)` (a random scalar for losses):

* **forward**: the implementation's output against the mpmath forward
  (:mod:`gradspec.mpmath_oracle.forward`) element by element;
* **backward**: the implementation's VJP of every differentiable argument
  against the truth of :mod:`gradspec.mpmath_oracle.truth`:

  - *element-wise* (the full Jacobian–vector products) when the differentiable
    arguments hold at most ``full_limit`` elements together (default
    :data:`FULL_LIMIT`): every element, with its index in a mismatch;
  - *directional*, always, for :data:`DIRECTIONS` random directions :math:`v` per
    argument: :math:`\langle \hat g, v\rangle` (computed exactly from the float64
    :math:`\hat g`) against :math:`\frac{d}{dt}\langle dy, F(x + tv)\rangle`, two
    high-precision forwards per direction whatever the number of elements.

The tolerance of every comparison is the running error bound of
:mod:`gradspec.mpmath_oracle.tolerance`, computed at the same point: per element
:math:`\tau_j = 2e_j + u|g_j| + \tau_\text{truth} + \eta_0`, and
:math:`\sum_j |v_j|(2e_j + \eta_0) + \tau_\text{truth}` for a direction.
``worst_error`` is the largest error in units of its tolerance (<= 1 passes).

Kinks
-----
The oracle reads ``op.kinks`` from the registry. A sample whose distance to a
kink (``op.kink_distance``) is within the reach of the difference step
(:math:`h \max_j|v_j|`, about :math:`10^{-25}`) is checked against the
registry's convention at that point (the truth differentiates the piece the
convention selects, see :mod:`gradspec.mpmath_oracle.forward`); every such sample
is counted in ``info["kink_samples_convention_checked"]``, with the
conventions in ``info["kink_conventions"]``. Samples are never moved
(``info["kink_samples_moved"]`` is 0) and never skipped.

Diagnostics
-----------
A mismatch carries the op, the argument, the element index (or the direction
for a directional mismatch), the expected value (the truth, printed to 17
significant digits) and the actual value, the absolute and relative errors,
the error in units of the tolerance, the sample's shapes and
hyperparameters, which side is which (``expected_is``/``actual_is``), and a
reproducer: a Python snippet that rebuilds the inputs, calls the
implementation's function and prints the truth (:func:`truth_of`).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import mpmath
import numpy as np
from mpmath import mp

from ..impl import Implementation
from ..oracles.common import as_grad_tuple, check_array, check_scalar, compare, describe_sample, literal, named_args, reproducer
from ..registry import get as get_op
from ..results import CheckResult, Finding
from ..spec import OpSpec
from . import forward as F
from . import lookup as L, tolerance as T
from .truth import DEFAULT_DPS, Problem, diff_names, direction, get_arg

NAME = "mpmath"
TITLE = "mpmath 50-digit truth"
DEFAULT_EXAMPLES = 2
#: Samples come from ``op.sample``, so an op narrowed to declared limits (gradspec.limits) is sampled within them.
HONOURS_LIMITS = True
#: A forward-only op (``op.extra["forward_only"]``): the forward is checked, the backward reported not provided.
FORWARD_ONLY = True
DIRECTIONS = 2  #: random directions per differentiable argument (at least two, so one direction orthogonal to a bug cannot hide it)
FULL_LIMIT = 64  #: element-wise truth when the differentiable arguments hold at most this many elements

CHECKS = {"differentiable": ("forward", "backward"), "loss": ("forward", "backward"),
          "network": ("forward", "backward")}

EXPECTED_IS = "mpmath truth: central difference of <dy, forward> in mpmath at {dps} digits, at the float64 inputs"
ACTUAL_IS = "the implementation's {fn} (float64)"


def applies(op: OpSpec) -> bool:
    return op.has_gradient and op.name in L.FORWARDS and op.name in L.MODELS


# --------------------------------------------------------------------------- one sample
@dataclass
class SampleOutcome:
    """Everything the oracle measured on one sample (the tests read it)."""

    forward_worst: float | None = None
    forward_findings: list = field(default_factory=list)
    backward_worst: float | None = None
    backward_findings: list = field(default_factory=list)
    errors: list = field(default_factory=list)  # protocol problems: exceptions, shapes, types
    elementwise: bool = False
    directions: int = 0
    at_kink: bool = False
    forward_evaluations: int = 0
    dy: object = None
    grads: dict = field(default_factory=dict)  # name -> float64 gradient of the implementation
    truth: dict = field(default_factory=dict)  # name -> float64 truth (element-wise mode)
    tolerance: dict = field(default_factory=dict)  # name -> per-element tolerance
    directional: list = field(default_factory=list)  # per direction: argument, v, tolerance, error
    reproducer: str = ""

    @property
    def ok(self) -> bool:
        return not (self.forward_findings or self.backward_findings or self.errors)


def draw_dy(op: OpSpec, sample: dict, rng: np.random.Generator):
    """The cotangent: N(0, 1) of the output's shape; ±U[0.5, 2] for a loss; None for the MLP."""
    if op.kind_facts.array_cotangent:
        return rng.normal(size=op.output_shape(sample))
    if op.kind_facts.scalar_output:
        return float(rng.choice([-1.0, 1.0]) * rng.uniform(0.5, 2.0))
    return None


def _named(op, sample, dy):
    return named_args(op, sample, [("dy", dy)] if dy is not None else [])


def truth_of(op_name: str, sample: dict, dy, argument: str, index=None, dps: int = DEFAULT_DPS):
    """The high-precision truth of d(argument) (one element when ``index`` is given), as an mpf.

    The reproducers print it next to the implementation's value.
    """
    op = get_op(op_name)
    P = Problem(op, sample, dy if dy is not None else 1.0, dps)
    g, _ = P.vjp(argument) if index is None or np.size(get_arg(sample, argument)) <= 1 else _one_element(P, argument, index)
    return g if index is None else g[tuple(index)]


def _one_element(P: Problem, name: str, index):
    x = np.asarray(get_arg(P.sample, name), dtype=np.float64)
    v = np.zeros_like(x)
    v[tuple(index)] = 1.0
    D, err = P.directional(name, v)
    out = np.empty(x.shape, dtype=object)
    out[tuple(index)] = D
    return out, err


def _reproducer(impl, op, sample, dy, argument=None, index=None):
    """A snippet rebuilding the sample and calling the implementation; with ``argument``, it also prints the
    implementation's element (or whole gradient) and the 50-digit truth of that element."""
    fn = op.backward if not op.kind_facts.whole_network else op.functions[0]
    named = _named(op, sample, dy)
    if op.extra.get("forward_only"):  # the backward is not provided: the reproducer calls the forward
        fn, named = op.forward, named_args(op, sample)
    extra = []
    if argument is not None:
        call = f"impl.{fn}({', '.join(n for n, _ in named)})"
        names = diff_names(op, sample)
        if op.kind_facts.whole_network:
            l = int(argument[1:]) - 1
            pick = f"_out[1][{l}][{0 if argument[0] == 'W' else 1}]"
        else:
            pick = "_out" if len(names) == 1 else f"_out[{names.index(argument)}]"
        idx = "" if index is None else "[" + ", ".join(str(i) for i in index) + "]"
        keys = ", ".join(f"{n!r}: {n}" for n, _ in named if n != "dy")
        extra = ["import mpmath", "from gradspec.mpmath_oracle.oracle import truth_of",
                 f"_out = {call}",
                 f"print('actual:', repr({pick}{idx}))",
                 f"print('truth (50 digits):', mpmath.nstr(truth_of({op.name!r}, {{{keys}}}, "
                 f"{'dy' if dy is not None else 'None'}, {argument!r}, {None if index is None else list(index)!r}), 50))"]
    return reproducer(impl.name, fn, named, extra="\n".join(extra))


def _details(f: Finding, op, name, fn, dps, mode):
    f.details.update(argument=name, mode=mode, dps=dps,
                     expected_is=EXPECTED_IS.format(dps=dps), actual_is=ACTUAL_IS.format(fn=fn))


def check_sample(op: OpSpec, impl, sample: dict, rng: np.random.Generator, *, directions: int = DIRECTIONS,
                 full_limit: int = FULL_LIMIT, dps: int = DEFAULT_DPS, dy=None) -> SampleOutcome:
    """Check ``impl`` on one sample of ``op``: forward and backward against the truth.

    ``dy``: the cotangent (default: drawn from ``rng``). ``full_limit``: the
    largest total number of elements of the differentiable arguments for the
    element-wise truth (0: directional only). Never raises for a misbehaving
    implementation (its problems are in ``errors``).
    """
    if not applies(op):
        raise ValueError(f"the mpmath oracle applies to ops with a gradient and a high-precision forward; "
                         f"{op.name} is a {op.kind} op")
    if directions < 1:
        raise ValueError(f"directions must be >= 1, got {directions}")
    impl = Implementation.wrap(impl)
    out = SampleOutcome()
    out.dy = dy = draw_dy(op, sample, rng) if dy is None else dy
    args = op.forward_args(sample)
    names = [a.name for a in op.args]
    network = op.kind_facts.whole_network
    fwd_fn = op.functions[0] if network else op.forward
    bwd_fn = op.functions[0] if network else op.backward
    repro = _LazyRepro(impl, op, sample, dy)

    # the truth and the tolerance model at this point
    P = Problem(op, sample, dy if dy is not None else 1.0, dps)
    model = L.model(op.name, sample, dy)
    reach = float(P.h) * 1.5 * max([1.0] + [float(np.max(np.abs(get_arg(sample, n)))) for n in P.names
                                             if np.size(get_arg(sample, n))])
    out.at_kink = bool(op.kinks) and op.kink_distance(sample) <= reach

    # forward
    res = impl.call(fwd_fn, *args, arg_names=names)
    if not res.ok:
        out.errors.append(_with_repro(res.finding, repro))
        if res.finding.kind != "mutation":
            return out
    value = res.value
    grads_raw = None
    if network:
        if not isinstance(value, (tuple, list)) or len(value) != 2:
            out.errors.append(_with_repro(Finding("type", f"{fwd_fn} must return (loss, grads), got {type(value).__name__}"), repro))
            return out
        value, grads_raw = value
    truth_y = P.forward_float
    if op.kind_facts.array_cotangent:
        y, bad = value, check_array(value, np.shape(truth_y), f"{fwd_fn} output")
    else:
        y, bad = check_scalar(value, "loss" if network else f"{fwd_fn} output")
    if bad:
        out.errors.append(_with_repro(bad, repro))
        return out
    tol_y = model.forward.tolerance(np.abs(truth_y), 10.0 ** (-P.wdps + 3) * P.abs_scale)
    worst, findings = compare(y, truth_y, tol_y, op=op, what="forward", sample=sample)
    for f in findings:
        _details(f, op, "output", fwd_fn, dps, "forward")
        f.details["truth_digits"] = mpmath.nstr(P.forward_mp if np.ndim(truth_y) == 0 else P.forward_mp[tuple(f.details["index"])], 25)
        f.details["reproducer"] = str(repro)
    out.forward_worst, out.forward_findings = worst, findings
    if op.extra.get("forward_only"):
        return out

    # backward
    if network:
        if not isinstance(grads_raw, (list, tuple)) or len(grads_raw) != len(sample["params"]) or \
                any(not isinstance(p, (list, tuple)) or len(p) != 2 for p in grads_raw):
            out.errors.append(_with_repro(Finding("type", f"{fwd_fn} must return one (dW, db) pair per layer ({len(sample['params'])})"), repro))
            return out
        grads = tuple(g for pair in grads_raw for g in pair)
    else:
        res = impl.call(bwd_fn, *args, dy, arg_names=names)
        if not res.ok:
            out.errors.append(_with_repro(res.finding, repro))
            return out
        grads, bad = as_grad_tuple(res.value, len(P.names), bwd_fn)
        if bad:
            out.errors.append(_with_repro(bad, repro))
            return out
    for name, g in zip(P.names, grads):
        bad = check_array(g, np.shape(get_arg(sample, name)), f"d{name}")
        if bad:
            out.errors.append(_with_repro(bad, repro))
            return out
        out.grads[name] = np.asarray(g, dtype=np.float64)

    worsts = []
    total = sum(int(np.size(get_arg(sample, n))) for n in P.names)
    out.elementwise = total <= full_limit
    if out.elementwise:
        for name in P.names:
            g = out.grads[name]
            truth_mp, terr = P.vjp(name)
            truth = F.to_float(truth_mp)
            tol = model.grads[name].tolerance(np.abs(truth), terr)
            out.truth[name], out.tolerance[name] = truth, tol
            w, findings = compare(g, truth, tol, op=op, what=f"d{name}", sample=sample)
            worsts.append(w)
            for f in findings:
                idx = tuple(f.details["index"])
                _details(f, op, name, bwd_fn, dps, "element-wise")
                f.details["truth_digits"] = mpmath.nstr(truth_mp[idx], 25)
                f.details["rel_error"] = float(abs(mpmath.mpf(float(g[idx])) - truth_mp[idx]) / abs(truth_mp[idx])) if truth_mp[idx] != 0 else None
                f.details["reproducer"] = _reproducer(impl, op, sample, dy, name, idx)
            out.backward_findings.extend(findings)
    for name in P.names:
        g, x = out.grads[name], np.asarray(get_arg(sample, name), dtype=np.float64)
        if g.size == 0:
            continue
        elem_bound = T.SAFETY * model.grads[name].e + T.ETA
        for k in range(directions):
            v = direction(rng, x)
            D, derr = P.directional(name, v)
            a = P.exact_inner(g, v)
            tol = float(np.sum(np.abs(v) * elem_bound)) * (1 + 4 * g.size * T.U) + derr
            with mp.workdps(P.wdps):
                err = abs(a - D)
            units = float(err / tol) if tol > 0 else (0.0 if err == 0 else float("inf"))
            worsts.append(units)
            out.directions += 1
            out.directional.append({"argument": name, "v": v, "tolerance": tol, "error": float(err), "units": units})
            if units > 1.0:
                f = Finding("mismatch",
                            f"{op.name}: <d{name}, v{k}> expected {mpmath.nstr(D, 17)}, got {mpmath.nstr(a, 17)} "
                            f"(abs err {float(err):.3g}, {units:.3g}× the tolerance {tol:.3g})",
                            {"op": op.name, "what": f"<d{name}, v{k}>", "index": None, "direction": k,
                             "expected": float(D), "actual": float(a), "truth_digits": mpmath.nstr(D, 25),
                             "abs_error": float(err),
                             "rel_error": float(err / abs(D)) if D != 0 else None, "tolerance": tol, "units": units,
                             "sample": describe_sample(sample), "reproducer": _reproducer(impl, op, sample, dy, name)})
                _details(f, op, name, bwd_fn, dps, "directional")
                f.details["direction_literal"] = literal(v) if v.size <= 64 else f"shape {list(v.shape)}"
                out.backward_findings.append(f)
    out.backward_worst = max(worsts) if worsts else None
    out.forward_evaluations = P.forward_evaluations
    if not out.ok:
        out.reproducer = str(repro)
    return out


class _LazyRepro:
    """The sample's reproducer, built only when a finding needs it (literal() of big arrays is not free)."""

    def __init__(self, impl, op, sample, dy):
        self.args = (impl, op, sample, dy)
        self._text = None

    def __str__(self):
        if self._text is None:
            self._text = _reproducer(*self.args)
        return self._text


def _with_repro(f: Finding, repro) -> Finding:
    f.details.setdefault("reproducer", str(repro))
    return f


# --------------------------------------------------------------------------- the oracle
def check_op(op: OpSpec, impl, rng: np.random.Generator, examples: int | None = None, *,
             directions: int = DIRECTIONS, full_limit: int = FULL_LIMIT, dps: int = DEFAULT_DPS,
             samples=None) -> list[CheckResult]:
    """``[forward, backward]`` CheckResults of ``op`` over ``examples`` registry samples (or the given ``samples``)."""
    examples = examples or DEFAULT_EXAMPLES
    impl = Implementation.wrap(impl)
    fwd = CheckResult(NAME, "forward", "pass")
    bwd = CheckResult(NAME, "backward", "pass")
    info = {"dps": dps, "directions_per_argument": directions, "directions": 0, "elementwise_examples": 0,
            "directional_only_examples": 0, "forward_evaluations": 0, "kink_samples_convention_checked": 0,
            "kink_samples_moved": 0, "kink_conventions": [k.convention for k in op.kinks],
            "tolerance_model": "running error bound of the reference's graph (gradspec.mpmath_oracle.tolerance)"}
    draws = samples if samples is not None else (op.sample(rng) for _ in range(examples))
    for sample in draws:
        o = check_sample(op, impl, sample, rng, directions=directions, full_limit=full_limit, dps=dps)
        fwd.examples += 1
        bwd.examples += 1
        info["directions"] += o.directions
        info["elementwise_examples" if o.elementwise else "directional_only_examples"] += 1
        info["forward_evaluations"] += o.forward_evaluations
        info["kink_samples_convention_checked"] += int(o.at_kink)
        for f in o.errors:
            target = fwd if not o.grads and o.forward_worst is None else bwd
            target.findings.append(f)
            target.status = "error" if f.kind in ("exception", "missing") or target.status == "error" else "fail"
        for r, w, fs in ((fwd, o.forward_worst, o.forward_findings), (bwd, o.backward_worst, o.backward_findings)):
            if w is not None:
                r.worst_error = w if r.worst_error is None else max(r.worst_error, w)
            if fs:
                r.findings.extend(fs)
                if r.status == "pass":
                    r.status = "fail"
    bwd.info = info
    fwd.info = {"dps": dps}
    if op.extra.get("forward_only"):
        from ..oracles.common import backward_not_provided

        fwd.message = "forward matches the mpmath truth" if fwd.status == "pass" else fwd.findings[0].message
        return [fwd, backward_not_provided(NAME, op)]
    fwd.message = "forward matches the mpmath truth" if fwd.status == "pass" else fwd.findings[0].message
    bwd.message = ("backward matches the mpmath truth within the running error bound" if bwd.status == "pass"
                   else bwd.findings[0].message)
    return [fwd, bwd]
