"""The property oracle: every property of an op, on Hypothesis-generated samples, as CheckResults.

``gradspec check --oracle properties`` runs, for each op, each property of
:data:`gradspec.properties.suite.PROPERTIES` (gradient against central
differences, shape rules, purity, determinism, linearity in dy, the op's
invariants, its conventions on kinks, conditioning on hard inputs) with
``examples`` Hypothesis examples each (default :data:`DEFAULT_EXAMPLES`,
scaled by the property's weight), seeded from the run's generator so a run is
reproducible.

The properties call the implementation through the run's
:class:`~gradspec.impl.Implementation` (its :class:`~gradspec.impl.GuardedImplementation`),
so they share its timeouts: a function that hung for any oracle of the run is
not called again, and every property that needs it gets the same ``timeout``
finding at once.

A failing property is shrunk for at most :data:`SHRINK_SECONDS` to a small
falsifying sample, which the finding carries as data (``falsifying_example``).
When Hypothesis finds several distinct failures in one property, each becomes a
finding of its own with its own sample.

Hypothesis keeps a cache (constants of local source files) in its storage
directory, by default ``.hypothesis/`` in the working directory. While this oracle
runs it uses :func:`hypothesis_directory` instead, under the user's cache
directory, unless ``HYPOTHESIS_STORAGE_DIRECTORY`` is set or the directory was
configured otherwise; no example database is kept.
"""
from __future__ import annotations

import contextlib
import os
from pathlib import Path

import numpy as np

from .. import limits
from ..impl import CallFailed, Implementation
from ..results import CheckResult, Finding, jsonable
from ..spec import OpSpec
from .checks import NotProvided
from .limited import NoSampleWithinLimits
from .suite import PROPERTIES, check_property, examples_for, failures

NAME = "properties"
#: An op narrowed to declared limits (gradspec.limits) is sampled within them (gradspec.properties.limited):
#: a property no example of which meets them is not applicable, with the limit that held it back.
HONOURS_LIMITS = True
TITLE = "Hypothesis properties"
DEFAULT_EXAMPLES = 5
#: Seconds Hypothesis may spend shrinking one property's failures (after the first failure is found).
SHRINK_SECONDS = 0.25
#: The directory Hypothesis uses while the oracle runs; default: ``$XDG_CACHE_HOME/gradspec/hypothesis``
#: (``~/.cache/gradspec/hypothesis``).
DIR_ENV_VAR = "GRADSPEC_HYPOTHESIS_DIR"


def applies(op: OpSpec) -> bool:
    return op.name in PROPERTIES


def check_op(op: OpSpec, impl, rng: np.random.Generator, examples: int | None = None) -> list[CheckResult]:
    """One CheckResult per property of ``op`` (check name ``<property>[<mode>]``)."""
    impl = Implementation.wrap(impl)
    guarded = impl.guarded()
    results = []
    with hypothesis_storage():
        for prop in PROPERTIES[op.name]:
            check = f"{prop.name}[{prop.mode}]"
            missing = prop.missing(guarded)
            if missing:
                # the message and info["needs"] name the functions that would enable the property
                results.append(CheckResult(NAME, check, "not_applicable", message=f"needs {', '.join(missing)}",
                                           info={"needs": [m for m in missing if not m.startswith("(")]}))
                continue
            seed = int(rng.integers(0, 2**32))
            res = CheckResult(NAME, check, "pass", message=prop.doc)
            res.examples = examples_for(prop, examples or DEFAULT_EXAMPLES)  # requested; Hypothesis stops early on a failure
            op_limits = limits.of(op)
            if op_limits:
                text = limits.describe({op.name: op_limits})
                res.message = f"{prop.doc} (checked within declared limits: {text})"
                res.info = {"limits": limits.to_json(op_limits)}
            try:
                ran = check_property(prop, guarded, max_examples=examples or DEFAULT_EXAMPLES, seed=seed, database=None,
                                     derandomize=False, shrink_seconds=SHRINK_SECONDS, op=op)
                if op_limits:  # some draws may have been rejected: the examples it ran on
                    res.examples = ran
            except NoSampleWithinLimits as exc:
                res.status, res.message, res.examples = "not_applicable", str(exc), 0
                res.info = {"limits": limits.to_json(exc.limits), "reason": "limits"}
            except NotProvided as exc:  # pragma: no cover - filtered above
                res.status, res.message = "not_applicable", str(exc)
            except KeyboardInterrupt:
                raise
            except BaseException as exc:  # noqa: BLE001 - an AssertionError, or the implementation raised (even SystemExit)
                res.findings = [_finding(prop, seed, e) for e in failures(exc)]
                res.status = "fail" if all(f.kind == "property" for f in res.findings) else "error"
                res.message = res.findings[0].message
                if len(res.findings) > 1:
                    res.message = f"{len(res.findings)} distinct failures; 1: {res.message}"
            results.append(res)
    return results


def _finding(prop, seed: int, exc: BaseException) -> Finding:
    """One failure as a finding: a broken property, a call that timed out or an exception of the implementation."""
    data = {"property": prop.id, "hypothesis_seed": seed, **_example(exc)}
    if isinstance(exc, CallFailed):  # the run's Implementation said why the call failed (a timeout)
        f = exc.finding
        return Finding(f.kind, f"{prop.id}: {f.message}", {**f.details, **data})
    if isinstance(exc, AssertionError):
        return Finding("property", str(exc), data)
    return Finding("exception", f"{prop.id}: {type(exc).__name__}: {exc}", data)


def _example(exc: BaseException) -> dict:
    """The failing sample as data (``falsifying_example``), and Hypothesis' own notes as text to read."""
    return {"falsifying_example": jsonable(getattr(exc, "gradspec_example", None)),
            "hypothesis_notes": "\n".join(str(n) for n in getattr(exc, "__notes__", []) or [])}


def hypothesis_directory() -> Path:
    """Where Hypothesis keeps its files while this oracle runs: ``$GRADSPEC_HYPOTHESIS_DIR``, else
    ``gradspec/hypothesis`` under ``$XDG_CACHE_HOME`` (default ``~/.cache``)."""
    configured = os.environ.get(DIR_ENV_VAR)
    if configured:
        return Path(configured)
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "gradspec" / "hypothesis"


@contextlib.contextmanager
def hypothesis_storage():
    """Point Hypothesis' storage directory at :func:`hypothesis_directory` while the oracle runs, when it is
    Hypothesis' default (a ``.hypothesis`` directory, and no ``HYPOTHESIS_STORAGE_DIRECTORY``); restore it
    afterwards. A directory the user chose is left alone."""
    from hypothesis import configuration

    home = configuration.storage_directory()
    previous = Path(getattr(home, "home_directory", home))  # a StorageDirectory in newer Hypothesis, a Path before
    if os.environ.get("HYPOTHESIS_STORAGE_DIRECTORY") or previous.name != ".hypothesis":
        yield
        return
    configuration.set_hypothesis_home_dir(hypothesis_directory())
    try:
        yield
    finally:
        configuration.set_hypothesis_home_dir(previous)
