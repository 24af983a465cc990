"""Structured results: what every oracle produces and every face renders.

A run (:class:`RunResult`) maps each op to an :class:`OpResult`, which holds
one :class:`CheckResult` per (oracle, check); a failing check carries
:class:`Finding` objects with the details a person needs to fix the bug.
``RunResult.to_dict()`` is exactly what ``gradspec check --json`` writes.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

#: Check and op statuses. ``not_applicable``: the oracle has nothing to say
#: about this op (e.g. no gradient); ``not_implemented``: the implementation
#: does not provide the op (or, for a check, the function the check needs: a
#: backward that is not provided). ``partial`` (ops only): every check that ran
#: passed, and some could not run because a function of the op is not provided
#: (a forward without its backward). None of these counts as a failure.
STATUSES = ("pass", "fail", "error", "partial", "not_implemented", "not_applicable")


@dataclass
class Finding:
    """One concrete problem: a mismatch, an exception, a wrong shape, a mutated input..."""

    kind: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class CheckResult:
    oracle: str
    check: str
    status: str
    examples: int = 0
    worst_error: float | None = None  # in units of the tolerance: <= 1 passes
    message: str = ""
    findings: list[Finding] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class OpResult:
    op: str
    status: str
    checks: list[CheckResult] = field(default_factory=list)
    #: the declared limits the op's samples were drawn within (:mod:`gradspec.limits`), None when there were none
    limits: dict[str, Any] | None = None

    @staticmethod
    def combine(op: str, checks: list[CheckResult], limits: dict[str, Any] | None = None) -> "OpResult":
        statuses = {c.status for c in checks}
        for s in ("error", "fail"):
            if s in statuses:
                return OpResult(op, s, checks, limits)
        if "pass" in statuses:
            return OpResult(op, "partial" if "not_implemented" in statuses else "pass", checks, limits)
        return OpResult(op, "not_applicable" if checks else "not_implemented", checks, limits)


@dataclass
class RunResult:
    version: str
    implementation: dict[str, Any]
    seed: int
    oracles: list[str]
    ops: dict[str, OpResult]
    duration_s: float = 0.0
    #: where the declared limits came from (``__gradspec_limits__``, a limits file, ...), None without limits
    limits_source: str | None = None

    @property
    def limits(self) -> dict[str, dict[str, Any]]:
        """{op: its declared limits} of the ops checked within limits."""
        return {name: r.limits for name, r in self.ops.items() if r.limits}

    @property
    def summary(self) -> dict[str, int]:
        counts = {s: 0 for s in STATUSES}
        for r in self.ops.values():
            counts[r.status] += 1
        counts["total"] = len(self.ops)
        return counts

    @property
    def ok(self) -> bool:
        return all(r.status not in ("fail", "error") for r in self.ops.values())

    def failures(self) -> list[tuple[str, CheckResult]]:
        return [(name, c) for name, r in self.ops.items() for c in r.checks if c.status in ("fail", "error")]

    def to_dict(self) -> dict[str, Any]:
        return jsonable(
            {
                "gradspec_version": self.version,
                "implementation": self.implementation,
                "seed": self.seed,
                "oracles": self.oracles,
                "duration_s": round(self.duration_s, 3),
                "ops": {name: asdict(r) for name, r in self.ops.items()},
                "summary": self.summary,
                "limits": self.limits,
                "limits_source": self.limits_source,
            }
        )


def jsonable(obj):
    """Make numpy scalars/arrays and non-finite floats safe for strict JSON."""
    import numpy as np

    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return jsonable(obj.item())
    if isinstance(obj, float) and not math.isfinite(obj):
        return repr(obj)  # "nan", "inf": strict JSON has no literal for them
    return obj
