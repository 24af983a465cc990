"""Run the oracles on ops a kit narrows (an OpSpec of the registry with a narrower sampler).

Used by :func:`gradspec.adapters.kits.check` for the network style: the same loop as
:func:`gradspec.runner.check` (one random stream per seed, op and oracle; the probable-bug diagnosis on
a failure), on the kit's OpSpec instead of the registry's. The symbolic oracle draws its own
architectures for networks, so it is reported not applicable to a narrowed op.
"""
from __future__ import annotations

import time

import numpy as np

from ..impl import Implementation
from ..results import CheckResult, Finding, OpResult

#: Oracles that take their samples from ``op.sample`` (the narrowing applies to them). The properties
#: oracle draws from its own Hypothesis strategies, the symbolic oracle from its own architectures.
SAMPLING_ORACLES = ("fd64", "mpmath")


def stable_hash(name: str) -> int:
    """FNV-1a of the name: the same in every process (the runner's per-op stream uses the same)."""
    h = 2166136261
    for ch in name.encode():
        h = ((h ^ ch) * 16777619) % 2**32
    return h


def kink_cases_outside(op, check: CheckResult) -> CheckResult:
    """fd64's ``conventions`` check runs fixed kink cases (an mlp with relu units); on an op narrowed to
    another architecture those cases are outside what the code implements: not applicable, and said so."""
    narrowed = op.extra.get("narrowed")
    if check.oracle != "fd64" or check.check != "conventions" or not narrowed:
        return check
    from .. import conventions

    pairs = {(c.sample.get("hidden"), c.sample.get("output")) for c in conventions.cases(op)}
    if (narrowed["hidden"], narrowed["output"]) in pairs:
        return check
    return CheckResult("fd64", "conventions", "not_applicable", message=f"the kink cases of {op.name} use "
                       f"{sorted(pairs)}; the code implements ({narrowed['hidden']}, {narrowed['output']})")


def run_narrowed(kit, specs, oracles, seed: int, examples, timeout=None) -> tuple[dict[str, OpResult], float]:
    from .. import oracles as oracle_registry
    from ..diagnosis import annotate

    impl = Implementation.wrap(kit)
    if timeout is not None:
        impl.timeout = float(timeout)
    t0 = time.perf_counter()
    out = {}
    for op in specs:
        checks = []
        for k, oname in enumerate(oracles):
            mod = oracle_registry.get(oname)
            if oname not in SAMPLING_ORACLES or not mod.applies(op):
                checks.append(CheckResult(oname, "-", "not_applicable",
                                          message=f"{oname} draws its own {op.name} architectures; the kit narrows "
                                                  f"{op.name} to {op.summary}"))
                continue
            rng = np.random.default_rng([seed, stable_hash(op.name), k])
            n = examples.get(oname) if isinstance(examples, dict) else examples
            try:
                checks.extend(kink_cases_outside(op, c) for c in mod.check_op(op, impl, rng, n))
            except KeyboardInterrupt:
                raise
            except BaseException as exc:  # noqa: BLE001 - as the runner: never crash on a bad implementation
                checks.append(CheckResult(oname, "-", "error", message=f"oracle {oname} crashed on {op.name}: "
                                                                      f"{type(exc).__name__}: {exc}",
                                          findings=[Finding("oracle_error", f"{type(exc).__name__}: {exc}")]))
        if any(c.status in ("fail", "error") for c in checks):
            annotate(op, impl, checks, np.random.default_rng([seed, stable_hash(op.name), 7919]))
        out[op.name] = OpResult.combine(op.name, checks)
    return out, time.perf_counter() - t0
