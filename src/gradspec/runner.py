"""Run oracles over the registry against an implementation: the engine behind every face."""
from __future__ import annotations

import dataclasses
import time

import numpy as np

from . import limits as limits_mod, oracles as oracle_registry, registry
from .version import __version__
from .impl import DEFAULT_TIMEOUT, Implementation
from .results import CheckResult, Finding, OpResult, RunResult
from .spec import OpSpec


def check(impl=None, ops=None, oracles=("fd64",), seed=0, examples=None, progress=None, timeout=None,
          limits=None) -> RunResult:
    """Check ``impl`` (module name, ``MODULE:OBJECT``, path, object, or None for the reference).

    ``ops``: op names (default: every op of the registry). ``oracles``: oracle
    names, or oracle objects (anything with ``NAME``, ``applies(op)`` and
    ``check_op(op, impl, rng, examples)``, e.g. the golden-vectors oracle on a
    corpus, :class:`gradspec.oracles.vectors.Oracle`). ``examples``: samples per op, an int for every oracle or a dict
    ``{oracle: n}`` (see :mod:`gradspec.profiles`); None: each oracle's default.
    ``seed`` fixes every random draw: the same seed gives the same
    verdicts. ``progress(op_name, index, total)`` is called before each op.
    ``timeout``: seconds one call of the implementation may take (default
    :data:`gradspec.impl.DEFAULT_TIMEOUT`; 0 for none); a call that exceeds it
    gets a ``timeout`` finding for its op and the run goes on. Importing ``impl`` (a name or None) may take
    3 times as long (:func:`gradspec.impl.load`).
    ``limits``: what the implementation supports (a dict or a JSON file, see :mod:`gradspec.limits`); None:
    its ``__gradspec_limits__``, if it declares any. A limited op's samples are drawn within its limits.
    An op whose forward is provided but not its backward is checked forward only (see :func:`forward_only`).
    Raises ``KeyError`` for an unknown op or oracle name, and
    :class:`gradspec.impl.ImplementationError` when the implementation cannot be loaded, and
    :class:`gradspec.limits.LimitsError` for limits that cannot be used.
    """
    if timeout is not None:
        if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or timeout < 0:
            raise ValueError(f"timeout must be a number of seconds >= 0 (0: no timeout), got {timeout!r}")
    impl = Implementation.wrap(impl, DEFAULT_TIMEOUT if timeout is None else timeout)
    if timeout is not None:
        impl.timeout = float(timeout)
    names = list(registry.REGISTRY) if ops is None else list(ops)
    specs = [registry.get(n) for n in names]
    declared, limits_source = limits_mod.resolve(impl.obj, limits)
    specs = [limits_mod.narrow(op, declared[op.name]) if op.name in declared else op for op in specs]
    oracle_mods = [(o, oracle_registry.get(o)) if isinstance(o, str) else (o.NAME, o) for o in oracles]
    t0 = time.perf_counter()
    results: dict[str, OpResult] = {}
    for index, op in enumerate(specs):
        if progress:
            progress(op.name, index, len(specs))
        present, missing = impl.provides(op.functions)
        op_limits = limits_mod.to_json(limits_mod.of(op)) or None
        if not present:
            results[op.name] = OpResult(op.name, "not_implemented", limits=op_limits)
            continue
        checks: list[CheckResult] = []
        if missing and op.backward is not None and missing == [op.backward]:
            op = forward_only(op)  # the forward is checked; the backward is reported not provided
            missing = []
        if missing:
            checks.append(CheckResult("protocol", "functions", "error", message=f"{op.name}: missing {', '.join(missing)}",
                                      findings=[Finding("missing", f"{op.name} provides {present} but not {missing}")]))
        else:
            for k, (oname, mod) in enumerate(oracle_mods):
                if not mod.applies(op):
                    checks.append(CheckResult(oname, "-", "not_applicable", message=f"{oname} does not apply to {op.kind} ops"))
                    continue
                skipped = unsupported(op, oname, mod)
                if skipped is not None:
                    checks.append(skipped)
                    continue
                # one independent stream per (seed, op, oracle): adding an op never changes another op's draws
                rng = np.random.default_rng([seed, _stable_hash(op.name), k])
                try:
                    n = examples.get(oname) if isinstance(examples, dict) else examples  # dict: per oracle (profiles)
                    checks.extend(mod.check_op(op, impl, rng, n))
                except KeyboardInterrupt:
                    raise
                except BaseException as exc:  # noqa: BLE001 - the runner never crashes on a bad implementation (not even SystemExit)
                    checks.append(CheckResult(oname, "-", "error", message=f"oracle {oname} crashed on {op.name}: {type(exc).__name__}: {exc}",
                                              findings=[Finding("oracle_error", f"{type(exc).__name__}: {exc}")]))
        if any(c.status in ("fail", "error") for c in checks):  # name the probable bug (never raises)
            from .diagnosis import annotate

            annotate(op, impl, checks, np.random.default_rng([seed, _stable_hash(op.name), 7919]))
        results[op.name] = OpResult.combine(op.name, checks, op_limits)
    return RunResult(__version__, impl.describe(), seed, [name for name, _ in oracle_mods], results,
                     time.perf_counter() - t0, limits_source if any(r.limits for r in results.values()) else None)


def forward_only(op: OpSpec) -> OpSpec:
    """``op``'s record marked forward only (``extra["forward_only"]``): its forward is provided, its backward
    is not. Oracles that say ``FORWARD_ONLY = True`` check the forward and report each backward check
    ``not_implemented`` with a ``missing`` finding naming the backward; the op's status is then ``partial``."""
    return dataclasses.replace(op, extra={**op.extra, "forward_only": op.backward})


def unsupported(op: OpSpec, oname: str, mod) -> CheckResult | None:
    """The not-applicable check of an oracle that cannot run on ``op`` as narrowed: declared limits it cannot
    keep to (it does not draw through ``op.sample``), or a forward-only op it cannot check. None: it can."""
    op_limits = limits_mod.of(op)
    if op_limits and not getattr(mod, "HONOURS_LIMITS", False):
        text = limits_mod.describe({op.name: op_limits})
        return CheckResult(oname, "-", "not_applicable",
                           message=f"{oname} draws its own {op.name} samples (not through the op's sampler), so it "
                                   f"cannot keep to the declared limits ({text}); not run",
                           info={"limits": limits_mod.to_json(op_limits), "reason": "limits"})
    backward = op.extra.get("forward_only")
    if backward and not getattr(mod, "FORWARD_ONLY", False):
        return CheckResult(oname, "-", "not_applicable",
                           message=f"{oname} checks the forward and the backward of {op.name} together; "
                                   f"needs {backward}, which the implementation does not provide",
                           info={"needs": [backward], "reason": "missing"})
    return None


def _stable_hash(name: str) -> int:
    """A hash of a string that is the same in every process (unlike hash())."""
    h = 2166136261
    for ch in name.encode():
        h = ((h ^ ch) * 16777619) % 2**32
    return h
