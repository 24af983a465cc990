"""The property oracle: every property of an op, on Hypothesis-generated samples, as CheckResults.

``gradspec check --oracle properties`` runs, for each op, each property of
:data:`gradspec.properties.suite.PROPERTIES` (gradient against central
differences, shape rules, purity, determinism, linearity in dy, the op's
invariants, its conventions on kinks, conditioning on hard inputs) with
``examples`` Hypothesis examples each (default :data:`DEFAULT_EXAMPLES`,
scaled by the property's weight), seeded from the run's generator so a run is
reproducible. A failing property is shrunk to a minimal falsifying sample,
which the finding carries.
"""
from __future__ import annotations

import numpy as np

from ..results import CheckResult, Finding, jsonable
from ..spec import OpSpec
from .props import NotProvided
from .suite import PROPERTIES, check_property, examples_for

NAME = "properties"
TITLE = "Hypothesis properties"
DEFAULT_EXAMPLES = 5


def applies(op: OpSpec) -> bool:
    return op.name in PROPERTIES


def check_op(op: OpSpec, impl, rng: np.random.Generator, examples: int | None = None) -> list[CheckResult]:
    """One CheckResult per property of ``op`` (check name ``<property>[<mode>]``)."""
    obj = getattr(impl, "obj", impl)
    results = []
    for prop in PROPERTIES[op.name]:
        check = f"{prop.name}[{prop.mode}]"
        missing = prop.missing(obj)
        if missing:
            results.append(CheckResult(NAME, check, "not_applicable", message=f"needs {', '.join(missing)}"))
            continue
        seed = int(rng.integers(0, 2**32))
        res = CheckResult(NAME, check, "pass", message=prop.doc)
        try:
            check_property(prop, obj, max_examples=examples or DEFAULT_EXAMPLES, seed=seed, database=None, derandomize=False)
        except NotProvided as exc:  # pragma: no cover - filtered above
            res.status, res.message = "not_applicable", str(exc)
        except AssertionError as exc:
            res.status, res.message = "fail", str(exc)
            res.findings.append(Finding("property", str(exc), {"property": prop.id, "hypothesis_seed": seed,
                                                               **_example(exc)}))
        except Exception as exc:  # noqa: BLE001 - the implementation raised on a valid sample
            res.status, res.message = "error", f"{type(exc).__name__}: {exc}"
            res.findings.append(Finding("exception", f"{prop.id}: {type(exc).__name__}: {exc}",
                                        {"property": prop.id, "hypothesis_seed": seed, **_example(exc)}))
        res.examples = examples_for(prop, examples or DEFAULT_EXAMPLES)  # requested; Hypothesis stops early on a failure
        results.append(res)
    return results


def _example(exc: BaseException) -> dict:
    """The failing sample as data (``falsifying_example``), and Hypothesis' own notes as text to read."""
    return {"falsifying_example": jsonable(getattr(exc, "gradspec_example", None)),
            "hypothesis_notes": "\n".join(str(n) for n in getattr(exc, "__notes__", []) or [])}
