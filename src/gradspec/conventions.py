r"""The conventions check: every op evaluated exactly *on* its kinks.

The registry's samples keep a margin from every kink (a central difference
must never straddle one), so a convention fixed only at the kink (relu'(0) = 0,
step(0) = 0, a max-pool tie sent to the first maximum, padding that never wins a
max-pool window) is invisible to them. This check evaluates each such op at
fixed points placed on the kink and compares the implementation's forward and
backward (or rule, or network gradients) with the spec's, which encode the
convention, to float64 precision:
:math:`|a - r| \le 10^{-10}|r| + 10^{-12}\max(1, \max|r|)`.

It runs as part of the ``fd64`` oracle (check name ``conventions``) for the ops
whose record has ``kink_cases`` (the functions ``<op>_cases`` below); a failure names the convention, and the
diagnosis names the variant (e.g. ``relu_prime_at_zero_is_one``).
"""
from __future__ import annotations

import numpy as np

from .evaluation import Raised, direct_caller, draw_dy, evaluate
from .results import CheckResult, Finding
from .spec import KinkCase, OpSpec

RTOL, ATOL = 1e-10, 1e-12


def cases(op: OpSpec) -> list[KinkCase]:
    """The kink cases of ``op``: its record's ``kink_cases()`` (pure: fixed values); empty when it has none."""
    return list(op.kink_cases()) if op.kink_cases is not None else []


def applies(op: OpSpec) -> bool:
    return op.kink_cases is not None


def check_op(op: OpSpec, impl) -> list[CheckResult]:
    """``[CheckResult(oracle="fd64", check="conventions")]`` for an op with kink cases, else ``[]``."""
    from . import reference as ref
    from .oracles.common import Tracker, compare

    my_cases = cases(op)
    if not my_cases:
        return []
    if op.extra.get("forward_only"):  # the kink cases compare the forward and the backward together
        from .oracles.common import backward_not_provided

        return [backward_not_provided("fd64", op, "conventions")]
    from . import limits

    op_limits = limits.of(op)
    outside = [(c, limits.outside_message(op_limits, c.sample)) for c in my_cases if limits.outside(op_limits, c.sample)]
    if outside:
        reasons = [{"case": c.title, "convention": c.convention, "outside": why} for c, why in outside]
        my_cases = [c for c in my_cases if not limits.outside(op_limits, c.sample)]
        if not my_cases:
            return [CheckResult("fd64", "conventions", "not_applicable",
                                message=f"every kink case of {op.name} is outside the declared limits: "
                                        + "; ".join(f"{r['case']}: {r['outside']}" for r in reasons),
                                info={"outside_limits": reasons})]
    t = Tracker("fd64", "conventions")
    if outside:
        t.result.info["outside_limits"] = reasons
    call_ref = direct_caller(ref)
    for case in my_cases:
        t.example()
        failures: list[Finding] = []

        def call_impl(name, *args, **kwargs):
            out = impl.call(name, *args, **kwargs)
            if out.ok:
                return out.value
            failures.append(out.finding)
            if out.finding.kind == "mutation":
                return out.value
            return Raised(str(out.finding.details.get("type", out.finding.kind)), out.finding.message)

        out_ref = evaluate(op, call_ref, case.sample)
        dy = draw_dy(op, out_ref, np.random.default_rng(case.seed))
        out_ref = evaluate(op, call_ref, case.sample, dy)
        out_impl = evaluate(op, call_impl, case.sample, dy)
        if failures:
            for f in failures:
                f.details.setdefault("convention", case.convention)
                f.sample = case.sample
                t.error(f)
            continue
        for key, r in out_ref.items():
            if isinstance(r, Raised):
                continue  # structural entries (list lengths)
            a = out_impl.get(key)
            if not isinstance(a, np.ndarray) or a.shape != r.shape:
                got = a.type + " " + a.message if isinstance(a, Raised) else f"shape {getattr(a, 'shape', None)}"
                f = Finding("convention", f"{op.name} at {case.title}: {key} must be a float64 array of shape {r.shape}, "
                                          f"got {got}", {"what": key, "convention": case.convention})
                f.sample = case.sample
                t.error(f)
                continue
            scale = max(1.0, float(np.max(np.abs(r)))) if r.size else 1.0
            worst, findings = compare(a, r, RTOL * np.abs(r) + ATOL * scale, op=op, what=key, sample=case.sample)
            for f in findings:
                f.kind = "convention"
                f.message = f"{op.name} at {case.title}: {f.message} — the spec's convention: {case.convention}"
                f.details["convention"] = case.convention
                f.sample = case.sample
            t.measured(worst, findings)
    result = t.done(f"the spec's conventions hold at {t.result.examples} kink case(s)"
                    + (f"; {len(outside)} outside the declared limits not run" if outside else ""))
    return [result]
