r"""The symbolic oracle: an implementation against gradients SymPy derives from each op's definition.

For a differentiable op or a loss, on ``examples`` samples at the small
structures of :data:`gradspec.symbolic.lookup.CASES` (values drawn like
the registry's, away from kinks):

* **forward** (numeric): the implementation's float64 forward against the
  SymPy forward evaluated at 50 digits. Tolerance
  :math:`10^{-10}|t| + 10^{-12}\max(1, \max|t|)`.
* **backward** (numeric): the implementation's VJP with a random cotangent
  against the ``sympy.diff`` VJP evaluated at 50 digits at the same float64
  point. Tolerance :math:`10^{-9}|t| + 10^{-11}\max(1,\max|t|)`: float64
  rounding of a small op is ~1e-15 relative, every backward bug of the
  mutation tests (a missing transpose, a dropped term, a wrong factor) is O(1).
* **exact** (per structure): the implementation's backward is called on SymPy
  symbols (``info["exact"][i]["mode"]`` and ``info["modes"]`` say what followed):

  - ``exact``: it accepts them and its output holds no float constant, so SymPy
    computed exactly (integers, rationals, symbols): *its* symbolic output is
    proved equal to the derived VJP.
  - ``numeric``: its output holds float constants (a float mask, ``1.0 - p``,
    a ``0.5``): a float computation written on symbols, which an identity
    cannot judge (``1.0*dy/(1.0 - p)`` is not syntactically ``dy/(1 - p)``).
    The output is evaluated at the sample point at 50 digits and compared with
    the derived VJP within the float64 error model of
    :func:`gradspec.mpmath_oracle.lookup.model` plus one rounding.
  - ``spec``: it rejects symbols (the reference validates float arrays and
    raises TypeError), or proving/evaluating did not finish: the spec's
    backward formula, restated in SymPy from the reference's docstrings, is
    proved equal to the derived VJP instead; the check is then not applicable
    (the implementation is covered by the numeric backward check only).

Piecewise ops carry their kink conventions in the definition (relu'(0) = 0;
max-pool ties to the first maximum, padding never wins); samples keep the
registry's margin from the kinks, and identities are proved on the branch
active at the sample point.

Networks (``mlp``): the loss and every (dW, db) against ``sympy.diff`` of the
network's SymPy loss at 50 digits; plus the BP1–BP4 proofs
(:func:`gradspec.symbolic.backprop.bp_proofs`, published as
``info["bp_proofs"]``) and the dimension-rule table
(:func:`gradspec.symbolic.dimensions.dimension_table`, ``info["dimension_table"]``),
both about the spec and checked against the *reference*.
Optimizers: the trajectory over the registry's 5 steps against the closed
forms at 50 digits, and the closed forms proved from the one-step
definitions. Clipping, step and the perceptron rule: against their SymPy
definitions at 50 digits. Init schemes: not applicable.
"""
from __future__ import annotations

import functools
import time

import mpmath
import numpy as np
import sympy as sp

from ..impl import FIRST_CALL_GRACE, Implementation, run_with_timeout
from ..oracles.common import (Tracker, as_grad_tuple, check_array, check_rule, check_scalar, check_trajectory, compare,
                              named_args, reproducer)
from ..results import CheckResult, Finding
from ..spec import OpSpec
from . import lookup as defs
from . import derive as dv
from . import rules

NAME = "symbolic"
TITLE = "SymPy-derived gradients (exact identities, 50-digit evaluation)"
DEFAULT_EXAMPLES = 2
#: Samples are drawn through the op's sampler (``op.sample.draw`` at its ``cases``), so an op narrowed to
#: declared limits (gradspec.limits) is checked within them, at the structures that meet them.
HONOURS_LIMITS = True

FWD_RTOL, FWD_ATOL = 1e-10, 1e-12
BWD_RTOL, BWD_ATOL = 1e-9, 1e-11
RULE_RTOL, RULE_ATOL = 1e-10, 1e-12

#: The checks this oracle produces per op kind.
CHECKS = {"differentiable": ("forward", "backward", "exact"), "loss": ("forward", "backward", "exact"),
          "network": ("forward", "backward", "bp1_bp4", "dimension_rules"), "optimizer": ("closed_form", "trajectory"),
          "function": ("rule",), "rule": ("rule",)}


def applies(op: OpSpec) -> bool:
    return op.kind in CHECKS  # the kinds it has a procedure for (CHECKERS, the same keys)


#: Checks about the spec itself (the same for every implementation; computed once per process):
#: left out with ``check_op(..., spec_checks=False)``, as the properties' ``agrees_with_symbolic`` does.
SPEC_CHECKS = ("bp1_bp4", "dimension_rules")


def check_op(op: OpSpec, impl: Implementation, rng: np.random.Generator, examples: int | None = None, *,
             spec_checks: bool = True) -> list[CheckResult]:
    examples = examples or DEFAULT_EXAMPLES
    checker = CHECKERS.get(op.kind)  # the oracle's one choice of procedure by kind (see CHECKERS)
    if checker is None:
        return [CheckResult(NAME, "-", "not_applicable", message=f"{NAME} does not apply to {op.kind} ops")]
    return checker(op, impl, rng, examples, spec_checks)


# --------------------------------------------------------------------------- shared pieces
def _no_case_within_limits(op) -> CheckResult:
    from .. import limits

    return CheckResult(NAME, "-", "not_applicable",
                       message=f"no structure at which SymPy derives {op.name} meets the declared limits "
                               f"({limits.describe({op.name: limits.of(op)})})", info={"reason": "limits"})


def _Tracker(check: str, comparison: str) -> Tracker:
    return Tracker(NAME, check, {"comparison": comparison})


def _tol(expected, rtol, atol):
    e = np.abs(np.asarray(expected, dtype=np.float64))
    return rtol * e + atol * max(1.0, float(e.max()) if e.size else 0.0)


def _conventions(op) -> list[str]:
    return [f"{k.where}: {k.convention}" for k in op.kinks] + list(op.conventions)


# --------------------------------------------------------------------------- differentiable ops and losses
def _symbolic_args(op, der, sample):
    return [der.definition.symbols.get(a.name, sample[a.name]) for a in op.args]


def _impl_on_symbols(op, impl, der, sample):
    """The implementation's backward evaluated on SymPy symbols, or (None, reason)."""
    # not Implementation.call: its input-mutation check compares float arrays, not SymPy objects. A hang on
    # symbols is kept apart (hang_key) from one on floats, which would be a finding; one that hung on floats
    # is not called again
    value, exc, finding = impl.attempt(op.backward, tuple(_symbolic_args(op, der, sample)) + (der.dy,),
                                       hang_key=f"{op.backward} on SymPy symbols")
    if finding is not None and finding.kind == "timeout":
        return None, f"the implementation did not return on symbolic input: {finding.message}"
    if finding is not None:  # any rejection (even SystemExit) means "not evaluable on symbols"
        why = f"{type(exc).__name__}: {str(exc)[:120]}" if exc is not None else finding.message
        return None, f"the implementation rejected symbolic input ({why})"
    grads, bad = as_grad_tuple(value, len(der.definition.diff_args), op.backward)
    if bad:
        return None, f"the implementation's symbolic output is unusable ({bad.message})"
    out = []
    for g, ref in zip(grads, der.grads):
        g = np.asarray(g, dtype=object)
        if g.shape != ref.shape or not all(isinstance(e, (sp.Basic, int, float)) for e in g.ravel()):
            return None, "the implementation's symbolic output has the wrong shape or non-SymPy elements"
        out.append(g)
    return tuple(out), ""


def float_constants(exprs) -> list:
    """The float constants (Python floats, ``sympy.Float``) in an implementation's symbolic output, sorted.

    None means SymPy computed on integers, rationals and symbols only, so the output is exact; any float
    constant (a float mask, ``1.0 - p``, a ``0.5``) means the expression is a float computation written
    on symbols, which an exact identity cannot judge fairly.
    """
    out = set()
    for g in exprs:
        for e in np.ravel(np.asarray(g, dtype=object)):
            if isinstance(e, float):
                out.add(sp.Float(e))
            elif isinstance(e, sp.Basic):
                out |= e.atoms(sp.Float)
    return sorted(out, key=float)


def _flatten(arrays) -> list:
    return [e for g in arrays for e in np.ravel(np.asarray(g, dtype=object))]


def _numeric_on_symbols(op, der, sym_out, sample, dy, truth):
    """The implementation's symbolic output evaluated at the sample at 50 digits, against the derived VJP
    (``truth``, 50 digits rounded to float64), within the float64 error model of the op
    (:func:`gradspec.mpmath_oracle.lookup.model`) plus one rounding of each side.

    Returns (ident dict, worst error in units of the tolerance, findings).
    """
    from ..mpmath_oracle import lookup as hp_lookup, tolerance as hp

    t0 = time.perf_counter()
    fn = sp.lambdify(der.order, _flatten(sym_out), modules="mpmath")
    with mpmath.workdps(dv.DPS):
        vals = fn(*dv.point(der, sample, dy))
    try:
        model = hp_lookup.model(op.name, sample, dy).grads
        tol_is = "the float64 error model of mpmath_oracle/tolerance.py plus one rounding"
    except KeyError:
        model, tol_is = None, f"rtol {BWD_RTOL:g}, atol {BWD_ATOL:g}·max(1, max|t|)"
    worst, findings, failed, n, i = 0.0, [], [], 0, 0
    for name, g, t in zip(der.definition.diff_args, sym_out, truth):
        size = int(np.size(g))
        try:
            got = np.array([float(v) for v in vals[i:i + size]], dtype=np.float64).reshape(np.shape(t))
        except (TypeError, ValueError):  # a complex or non-numeric value at the sample point
            got = np.full(np.shape(t), np.nan)
        i += size
        n += size
        t = np.asarray(t, dtype=np.float64)
        tol = (model[name].tolerance(np.abs(t)) if model is not None and name in model
               else _tol(t, BWD_RTOL, BWD_ATOL)) + hp.U * np.abs(t)
        w, fs = compare(got, t, tol, op=op, what=f"d{name}", sample=sample)
        worst = max(worst, w)
        findings += fs
        failed += [f"d{name}{f.details['index']}" for f in fs]
    consts = float_constants(sym_out)
    ident = {"compared": "the implementation's backward evaluated on SymPy symbols, then at the sample point at 50 digits",
             "holds": worst <= 1.0, "mode": "numeric", "method": "numeric",
             "scope": f"numeric at the sample point: 50 digits against the sympy.diff VJP, tolerance {tol_is} "
                      "(not proved exactly: the output holds float constants)",
             "float_constants": [str(c) for c in consts[:5]] + (["..."] if len(consts) > 5 else []),
             "worst_units": round(float(worst), 6), "elements": n, "failed": failed[:5],
             "seconds": round(time.perf_counter() - t0, 4)}
    return ident, worst, findings


def _exact_check(op, impl, der, sample, dy):
    """The ``exact`` check of one structure: (ident dict with its ``mode``, worst error in units, findings).

    * ``exact``: the implementation's backward runs on SymPy symbols and its output holds no float constant:
      the identity with the derived VJP is proved exactly (a failure is a finding).
    * ``numeric``: it runs on symbols but its output holds float constants: the computation is not exact,
      so the output is evaluated at 50 digits and compared with the derived VJP within the float64 error model.
    * ``spec``: it rejects symbols (or proving/evaluating did not finish): the spec's restated formula is proved
      instead, which says nothing about the implementation.
    """
    sym_out, reason = _impl_on_symbols(op, impl, der, sample)
    # SymPy's simplification of an expression the implementation built can take unbounded time
    budget = impl.timeout * FIRST_CALL_GRACE if impl.timeout else None
    if sym_out is not None:
        truth = dv.vjp_value(der, sample, dy)
        numeric = bool(float_constants(sym_out))
        if numeric:
            done, res, exc = run_with_timeout(_numeric_on_symbols, (op, der, sym_out, sample, dy, truth), {}, budget)
        else:
            done, res, exc = run_with_timeout(
                dv.identity, (der, sym_out, sample, dy, "the implementation's backward evaluated on SymPy symbols"), {},
                budget)
        if done and exc is None:
            if numeric:
                return res
            res["mode"] = "exact"
            return res, 0.0, []
        what = "evaluating its symbolic output" if numeric else "proving the identity on its symbolic output"
        reason = (f"{what} did not finish within {budget:g} s" if not done
                  else f"{what} raised {type(exc).__name__}: {exc}")
    ident = dv.identity(der, dv.spec_expressions(der), sample, dy,
                        "the spec's backward formula restated in SymPy from the reference docstring "
                        f"(symbolic/definitions.py), not the implementation: {reason}")
    ident["mode"] = "spec"
    return ident, 0.0, []


def _check_differentiable(op, impl, rng, examples):
    fwd = _Tracker("forward", "numeric: float64 implementation vs the SymPy forward at 50 digits")
    bwd = _Tracker("backward", "numeric: float64 implementation vs the sympy.diff VJP at 50 digits")
    exact = _Tracker("exact", "exact: SymPy identity against the sympy.diff VJP where the implementation's symbolic output "
                              "is exact, else numeric at 50 digits within the float64 error model "
                              "(info['modes'] counts each; info['exact'] says per structure)")
    scalar = op.kind_facts.scalar_output
    diff_idx = [i for i, a in enumerate(op.args) if a.differentiable]
    names = [a.name for a in op.args]
    cases = list(op.sample.cases)  # the record's structures (fewer on an op narrowed to declared limits)
    if not cases:
        return [_no_case_within_limits(op)]
    shapes, proved, seen = [], [], {}
    for k in range(examples):
        case = cases[k % len(cases)]
        s = op.sample.draw(case, rng)
        der = dv.derive(op.name, s)
        shapes.append({n: list(np.shape(s[n])) for n in names if isinstance(s[n], np.ndarray)}
                      | {n: s[n] for n in names if isinstance(s[n], int)})
        args = op.forward_args(s)
        # forward
        fwd.example()
        repro_f = reproducer(impl.name, op.forward, named_args(op, s))
        out = impl.call(op.forward, *args, arg_names=names)
        truth_f = dv.forward_value(der, s)
        if not out.ok:
            fwd.error(out.finding, repro_f)
        else:
            if scalar:
                y, bad = check_scalar(out.value, f"{op.forward} output")
            else:
                y, bad = out.value, check_array(out.value, np.shape(truth_f), f"{op.forward} output")
            if bad:
                fwd.error(bad, repro_f)
            else:
                worst, findings = compare(y, truth_f, _tol(truth_f, FWD_RTOL, FWD_ATOL), op=op, what="forward", sample=s)
                for f in findings:
                    f.details["expected_is"] = "the SymPy forward of symbolic/definitions.py at 50 digits"
                fwd.measured(worst, findings, repro_f)
        # backward
        bwd.example()
        dy = float(rng.choice([-1.0, 1.0]) * rng.uniform(0.5, 2.0)) if scalar else rng.normal(size=np.shape(truth_f))
        repro_b = reproducer(impl.name, op.backward, named_args(op, s, [("dy", dy)]))
        res = impl.call(op.backward, *args, dy, arg_names=names)
        truth = dv.vjp_value(der, s, dy)
        if not res.ok:
            bwd.error(res.finding, repro_b)
        else:
            grads, bad = as_grad_tuple(res.value, len(diff_idx), op.backward)
            if bad:
                bwd.error(bad, repro_b)
            else:
                for i, g, t in zip(diff_idx, grads, truth):
                    what = f"d{op.args[i].name}"
                    bad = check_array(g, np.shape(t), what)
                    if bad:
                        bwd.error(bad, repro_b)
                        continue
                    worst, findings = compare(g, t, _tol(t, BWD_RTOL, BWD_ATOL), op=op, what=what, sample=s)
                    for f in findings:
                        f.details.update(argument=op.args[i].name,
                                         expected_is="sympy.diff of <dy, forward> (symbolic/derive.py) at 50 digits")
                    bwd.measured(worst, findings, repro_b)
        # exact: once per structure
        if der.key not in seen:
            seen[der.key] = der.seconds
            exact.example()
            ident, worst, findings = _exact_check(op, impl, der, s, dy)
            ident["shapes"] = der.shapes
            proved.append(ident)
            if ident["mode"] == "numeric":
                for f in findings:
                    f.details.update(expected_is="sympy.diff of <dy, forward> (symbolic/derive.py) at 50 digits",
                                     actual_is="the implementation's symbolic output evaluated at 50 digits")
                exact.measured(worst, findings, repro_b)
            elif ident["holds"]:
                if ident["compared"].startswith("the implementation"):
                    exact.measured(0.0, [])  # the implementation's backward proved equal: a comparison with no error
            else:
                exact.error(Finding("identity", f"{op.name}: {ident['compared'].split(' (')[0]} differs from the sympy.diff VJP "
                                                f"at {', '.join(ident['failed'])} (shapes {der.shapes})", ident))
    for t in (fwd, bwd, exact):
        t.result.info["shapes"] = shapes
        t.result.info["derivation_seconds"] = round(sum(seen.values()), 3)  # SymPy's time to derive (possibly earlier in this process: cached)
        if op.kinks or op.conventions:
            t.result.info["conventions"] = _conventions(op)
    exact.result.info["exact"] = proved
    modes = {m: sum(p["mode"] == m for p in proved) for m in ("exact", "numeric", "spec")}
    exact.result.info["modes"] = modes
    if exact.result.status == "pass" and exact.measurements == 0:
        # the implementation does not evaluate on symbols: what was proved is the spec's formula, which says
        # nothing about this implementation (its verdict is the numeric backward check beside this one)
        r = exact.result
        r.status = "not_applicable"
        r.message = ("the implementation does not evaluate on SymPy symbols, so no exact identity is about it; "
                     f"proved instead (about the spec): its backward formula = sympy.diff VJP ({len(proved)} structures)")
        exact_result = r
    else:
        parts = []
        if modes["exact"]:
            kinds = sorted({p["scope"] for p in proved if p["mode"] == "exact"})
            parts.append(f"proved exactly: the implementation on symbols = sympy.diff VJP ({modes['exact']} structures; "
                         + "; ".join(kinds) + ")")
        if modes["numeric"]:
            parts.append(f"compared numerically: the implementation's symbolic output holds float constants, so it is "
                         f"evaluated at 50 digits against the sympy.diff VJP within the float64 error model "
                         f"({modes['numeric']} structures)")
        if modes["spec"]:
            parts.append(f"the spec's formula proved instead for {modes['spec']} structures (the implementation "
                         "rejected symbols there)")
        exact_result = exact.done("; ".join(parts))
    return [fwd.done("forward matches the SymPy definition (50 digits)"),
            bwd.done("backward matches the sympy.diff VJP (50 digits)"), exact_result]


# --------------------------------------------------------------------------- the network
def _check_network(op, impl, rng, examples):
    fwd = _Tracker("forward", "numeric: float64 loss vs the SymPy network loss at 50 digits")
    bwd = _Tracker("backward", "numeric: float64 (dW, db) vs sympy.diff of the SymPy network loss at 50 digits")
    fn = op.functions[0]
    names = [a.name for a in op.args]
    shapes = []
    if not op.sample.cases:
        return [_no_case_within_limits(op)]
    for k in range(examples):
        case = op.sample.cases[k % len(op.sample.cases)]
        s = op.sample.draw(case, rng)
        widths, N = case
        shapes.append({"widths": list(widths), "N": N, "hidden": s["hidden"], "output": s["output"]})
        der = dv.derive_mlp(widths, N, s["hidden"], s["output"])
        loss_t, grads_t = dv.mlp_values(der, s)
        args = op.forward_args(s)
        fwd.example()
        bwd.example()
        repro = reproducer(impl.name, fn, named_args(op, s))
        res = impl.call(fn, *args, arg_names=names)
        if not res.ok:
            fwd.error(res.finding, repro)
            continue
        if not isinstance(res.value, (tuple, list)) or len(res.value) != 2:
            fwd.error(Finding("type", f"{fn} must return (loss, grads), got {type(res.value).__name__}"), repro)
            continue
        loss, bad = check_scalar(res.value[0], "loss")
        if bad:
            fwd.error(bad, repro)
        else:
            fwd.measured(*compare(loss, loss_t, _tol(loss_t, FWD_RTOL, FWD_ATOL), op=op, what="loss", sample=s), repro)
        grads = res.value[1]
        if not isinstance(grads, (list, tuple)) or len(grads) != len(grads_t):
            bwd.error(Finding("type", f"{fn} must return one (dW, db) per layer ({len(grads_t)})"), repro)
            continue
        for l, (pair, (tW, tb)) in enumerate(zip(grads, grads_t), start=1):
            if not isinstance(pair, (list, tuple)) or len(pair) != 2:
                bwd.error(Finding("type", f"grads[{l - 1}] must be a (dW, db) pair"), repro)
                continue
            for what, g, t in ((f"dW{l}", pair[0], tW), (f"db{l}", pair[1], tb)):
                bad = check_array(g, np.shape(t), what)
                if bad:
                    bwd.error(bad, repro)
                    continue
                bwd.measured(*compare(g, t, _tol(t, BWD_RTOL, BWD_ATOL), op=op, what=what, sample=s), repro)
    for t in (fwd, bwd):
        t.result.info["shapes"] = shapes
    return [fwd.done("loss matches the SymPy network (50 digits)"),
            bwd.done("gradients match sympy.diff of the network loss (50 digits)")]


def _bp_check() -> CheckResult:
    from .backprop import bp_proofs

    rows = bp_proofs()
    r = CheckResult(NAME, "bp1_bp4", "pass", examples=len(rows),
                    info={"comparison": "exact: sympy.diff of the network cost vs BP1–BP4 (about the spec, not the implementation)",
                          "bp_proofs": rows})
    bad = [x for x in rows if not x["holds"]]
    if bad:
        r.status = "fail"
        r.findings = [Finding("identity", f"{x['statement']} ({x['activation']}, depth {x['depth']}): "
                                          f"{x['identities_failed']} identities failed", x) for x in bad]
        r.message = r.findings[0].message
    else:
        r.message = f"BP1–BP4 proved: {sum(x['identities_proved'] for x in rows)} exact identities"
    return r


def _dimension_check() -> CheckResult:
    from .dimensions import dimension_table, table_ok

    rows = dimension_table()
    ok, problems = table_ok(rows)
    r = CheckResult(NAME, "dimension_rules", "pass" if ok else "fail", examples=len(rows),
                    info={"comparison": "shapes: MatrixSymbol rule vs sympy.diff matrices vs gradspec.reference "
                                        "(about the spec: checked against the reference, not the implementation)",
                          "dimension_table": rows})
    r.findings = [Finding("dimension", p) for p in problems]
    r.message = ("dimension rules derived in both layouts, single example and batch; they match the reference"
                 if ok else problems[0])
    return r


# --------------------------------------------------------------------------- optimizers
def _check_optimizer(op, impl, rng, examples):
    name = op.name
    proofs = [dict(r) for r in rules.prove_closed_forms() if r["optimizer"] == name]
    cf = CheckResult(NAME, "closed_form", "pass" if all(p["holds"] for p in proofs) else "fail", examples=len(proofs),
                     info={"comparison": "exact: T-fold one-step definition vs closed form (about the spec)", "proofs": proofs})
    cf.message = (f"{name}: one-step definition iterated 1..{len(proofs)} times equals the closed form"
                  if cf.status == "pass" else f"{name}: closed form does not follow from the definition")
    t = _Tracker("trajectory", "numeric: float64 implementation trajectory vs the closed form at 50 digits, per element")
    init, update = op.functions
    for _ in range(examples):
        s = op.sample(rng)
        t.example()
        hyper = s["hyper"]
        repro = reproducer(impl.name, init, [("w", s["w"])])
        truth = np.empty((len(s["grads"]),) + np.shape(s["w"]))
        for idx in np.ndindex(np.shape(s["w"])):
            traj = rules.trajectory(name, float(s["w"][idx]), [g[idx] for g in s["grads"]], hyper)
            for step, v in enumerate(traj):
                truth[(step,) + idx] = float(v)
        check_trajectory(t, op, impl, s, lambda step: truth[step - 1], RULE_RTOL, RULE_ATOL, repro,
                         "the closed form of symbolic/rules.py at 50 digits")
    t.result.info["steps"] = 5
    return [cf, t.done(f"{name}: the trajectory matches the closed form over 5 steps (50 digits)")]


# --------------------------------------------------------------------------- functions and learning rules
def _expected_rule(op, s, notes):
    """The op's output from its record's SymPy statement (``op.sympy``) at 50 digits."""
    if op.sympy is None:
        raise KeyError(op.name)
    with mpmath.workdps(dv.DPS):
        return op.sympy(s, notes)


def _check_rule(op, impl, rng, examples):
    t = _Tracker("rule", "numeric: float64 implementation vs the SymPy definition at 50 digits")
    fn = op.functions[0]
    notes: list[str] = []
    check_rule(t, op, impl, rng, examples, lambda s, args: _expected_rule(op, s, notes),
               lambda e: _tol(e, RULE_RTOL, RULE_ATOL))
    if notes:
        t.result.info["notes"] = sorted(set(notes))
    if op.sympy_proofs is not None:
        t.result.info["proved"] = op.sympy_proofs()
    if op.kinks or op.conventions:
        t.result.info["conventions"] = _conventions(op)
    return [t.done(f"{fn} matches its SymPy definition (50 digits)")]


def _check_network_and_spec(op, impl, rng, examples, spec_checks):
    results = _check_network(op, impl, rng, examples)
    return results + [_bp_check(), _dimension_check()] if spec_checks else results


#: The procedure for each kind the oracle checks, ``checker(op, impl, rng, examples, spec_checks)`` (the keys of
#: :data:`CHECKS`); an init is checked statistically by the fd64 oracle, not here.
CHECKERS = {
    "differentiable": lambda op, impl, rng, n, spec: _check_differentiable(op, impl, rng, n),
    "loss": lambda op, impl, rng, n, spec: _check_differentiable(op, impl, rng, n),
    "network": _check_network_and_spec,
    "optimizer": lambda op, impl, rng, n, spec: _check_optimizer(op, impl, rng, n),
    "function": lambda op, impl, rng, n, spec: _check_rule(op, impl, rng, n),
    "rule": lambda op, impl, rng, n, spec: _check_rule(op, impl, rng, n),
}
