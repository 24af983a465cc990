r"""Assemble ``report.json``: the checker over the registry with every available oracle, plus the experiments.

:func:`build_report` is what ``gradspec report`` runs. It

1. runs :func:`gradspec.runner.check` on the implementation with every oracle of
   :data:`gradspec.oracles.ORACLES` that imports (an oracle that does not import
   is listed as ``not_available`` with the reason, never faked);
2. turns the run into the verification matrix (ops × oracles), keeping the
   findings, reproducers and diagnoses of every failure;
3. collects what the symbolic oracle proved and derived (BP1–BP4, dimension
   rules) and what the properties oracle drew (Hypothesis events), when they ran;
4. measures the shapes the reference produces for every layer quantity in both
   layouts (the dimension-rule table);
5. runs the experiments of :mod:`gradspec.reports.experiments` (initialisation) and
   :mod:`gradspec.reports.remedies` (remedies and training dynamics), all or those selected;
6. writes ``DIR/report.json`` (validated against ``schema.json``) and
   ``DIR/index.html`` (:mod:`gradspec.reports.render`).

Everything is a function of the seed; nothing reads global random state.
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import importlib
import json
import os
import platform
import shlex
import sys
import time
from importlib.metadata import PackageNotFoundError, version as _pkg_version

import numpy as np

from .. import __version__, oracles as oracle_registry, registry
from ..impl import DEFAULT_IMPL, Implementation
from ..results import jsonable
from . import experiments as E, remedies as R

SCHEMA_VERSION = 1
DEFAULT_OUT = os.path.join("reports", "out")
LIBRARIES = ("numpy", "sympy", "mpmath", "gmpy2", "hypothesis", "matplotlib")
MAX_FINDINGS = 5  # per check in the report (the count of the rest is kept)
MAX_REPRODUCER = 20000  # characters

#: The experiment sizes of the report's two depths (``full``, and ``quick`` for ``--quick``). ``quick`` keeps
#: every configuration and the 5 seeds but uses a batch of 100 (``full``: 1000, as specified).
#: The remedies' experiments carry their own sizes per depth (``remedies.EXPERIMENTS``).
DEPTHS = {
    "full": {"batch": 1000, "seeds": 5, "depths": (5, 10, 30), "numdiff_points": 24, "examples": None},
    "quick": {"batch": 100, "seeds": 5, "depths": (5, 10, 30), "numdiff_points": 8, "examples": 1},
}


#: Every experiment section, in page order: the first half (initialisation), then the remedies and training
#: dynamics of :mod:`gradspec.reports.remedies`. ``gradspec report --experiments NAME ...`` selects some.
INIT_EXPERIMENTS = ("vanishing", "clipping", "init", "histograms", "numdiff")
EXPERIMENT_NAMES = INIT_EXPERIMENTS + tuple(R.EXPERIMENTS)


def selected_experiments(experiments) -> tuple[str, ...]:
    """The experiment names a ``build_report(experiments=...)`` value selects: True (all), False/None (none) or names."""
    if experiments is True:
        return EXPERIMENT_NAMES
    if not experiments:
        return ()
    names = [experiments] if isinstance(experiments, str) else list(experiments)
    unknown = [n for n in names if n not in EXPERIMENT_NAMES]
    if unknown:
        raise KeyError(f"unknown experiment(s) {unknown}; known: {', '.join(EXPERIMENT_NAMES)}")
    return tuple(n for n in EXPERIMENT_NAMES if n in names)


def library_versions() -> dict:
    out = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            out[name] = _pkg_version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


#: The oracles the design names (README). One that is not registered yet gets a
#: "not available" column rather than silently disappearing from the matrix.
EXPECTED_ORACLES = {
    "fd64": "float64 central difference",
    "symbolic": "SymPy-derived gradients",
    "mpmath": "mpmath 50-digit truth",
    "properties": "Hypothesis properties",
}


def oracle_availability(selected=None) -> list[dict]:
    """Every registered oracle: importable or not (with the reason), and whether it is selected for the run.

    The expected oracles that are not registered are listed too, as ``not_available``.
    """
    rows = []
    for name in list(oracle_registry.ORACLES) + [n for n in EXPECTED_ORACLES if n not in oracle_registry.ORACLES]:
        if name not in oracle_registry.ORACLES:
            rows.append({"name": name, "title": EXPECTED_ORACLES[name], "status": "not_available",
                         "reason": "not registered in gradspec.oracles.ORACLES"})
            continue
        row = {"name": name, "title": name, "status": "available", "reason": ""}
        try:
            mod = oracle_registry.get(name)
            row["title"] = str(getattr(mod, "TITLE", name))
            for attr in ("applies", "check_op"):
                if not callable(getattr(mod, attr, None)):
                    raise AttributeError(f"oracle module has no {attr}()")
        except Exception as exc:  # noqa: BLE001 - an oracle under construction may fail to import in any way
            row.update(status="not_available", reason=f"{type(exc).__name__}: {exc}")
        if row["status"] == "available" and selected is not None and name not in selected:
            row.update(status="not_selected", reason="not selected for this report (--oracle)")
        rows.append(row)
    return rows


# --------------------------------------------------------------------------- the verification matrix
def _combine(statuses) -> str:
    for s in ("error", "fail"):
        if s in statuses:
            return s
    if "pass" in statuses:  # a forward-only op: its forward checks passed, its backward is not provided
        return "partial" if "not_implemented" in statuses else "pass"
    return "not_implemented" if "not_implemented" in statuses else "not_applicable" if statuses else "not_run"


def _format_diagnosis(value) -> str:
    """Text of a diagnosis: a string, or ``gradspec.diagnosis``'s list of {name, explanation, confidence} (best first)."""
    if isinstance(value, str):
        return value
    items = value if isinstance(value, list) else [value]
    parts = []
    for d in items:
        if isinstance(d, dict) and d.get("name"):
            text = str(d["name"])
            if d.get("explanation"):
                text += f": {d['explanation']}"
            if d.get("confidence") is not None:
                text += f" (confidence {d['confidence']})"
            parts.append(text)
        else:
            parts.append(json.dumps(jsonable(d), default=str))
    return "; ".join(parts)


def _diagnosis_of(finding: dict, check: dict) -> str | None:
    """The diagnosis attached to the finding or its check (``gradspec.diagnosis`` annotates failing checks
    in the runner: ``details["diagnosis"]``), as text; None when there is none."""
    for source in (finding.get("details") or {}, check.get("info") or {}):
        for key in ("diagnosis", "diagnoses", "probable_cause"):
            value = source.get(key)
            if value:
                return _format_diagnosis(value)
    return None


def _finding(f: dict, check: dict) -> dict:
    details = dict(f.get("details") or {})
    repro = details.pop("reproducer", None)
    if isinstance(repro, str) and len(repro) > MAX_REPRODUCER:
        repro = repro[:MAX_REPRODUCER] + "\n# ... (truncated)"
    out = {"kind": str(f.get("kind", "")), "message": str(f.get("message", "")),
           "reproducer": repro, "diagnosis": _diagnosis_of(f, check),
           "details": json.loads(json.dumps(details, default=str))}
    return out


def limits_text(limited: dict) -> str:
    """``max_pool2d pad = 0; ...`` of ``{op: declared limits}`` (as a run's JSON holds them)."""
    from ..limits import describe, parse

    return describe(parse(limited, "report"))


def verification_matrix(run: dict, oracle_names: list[str]) -> list[dict]:
    """One row per op of the run: a cell per oracle (status, examples, worst error in tolerance units, checks)."""
    rows = []
    for name, op_result in run["ops"].items():
        spec = registry.get(name)
        cells = {}
        protocol = []
        for chk in op_result["checks"]:
            entry = {
                "check": chk["check"], "status": chk["status"], "examples": int(chk.get("examples") or 0),
                "worst_error": _num(chk.get("worst_error")), "message": str(chk.get("message", "")),
                "findings": [_finding(f, chk) for f in chk.get("findings", [])[:MAX_FINDINGS]],
                "more_findings": max(0, len(chk.get("findings", [])) - MAX_FINDINGS),
                "info": json.loads(json.dumps(jsonable(chk.get("info") or {}), default=str)),
            }
            if chk["oracle"] not in oracle_names:
                protocol.append(entry)
                continue
            cells.setdefault(chk["oracle"], []).append(entry)
        row_cells = {}
        for oname in oracle_names:
            checks = cells.get(oname, [])
            if not checks:
                status = "not_implemented" if op_result["status"] == "not_implemented" else (
                    "error" if protocol else "not_run")
            else:
                status = _combine({c["status"] for c in checks})
            worst = [c["worst_error"] for c in checks if c["worst_error"] is not None]
            row_cells[oname] = {
                "status": status, "examples": sum(c["examples"] for c in checks),
                "worst_error": max(worst) if worst else None, "checks": checks,
            }
        limits = op_result.get("limits") or None
        rows.append({"op": name, "kind": spec.kind, "summary": spec.summary, "status": op_result["status"],
                     "protocol": protocol, "cells": row_cells, "limits": limits,
                     "limits_text": limits_text({name: limits}) if limits else None})
    return rows


def _num(v):
    """A JSON number, or None (strings 'inf'/'nan' from results.jsonable become None plus nothing else)."""
    if v is None:
        return None
    if isinstance(v, str):
        try:
            v = float(v)
        except ValueError:
            return None
    v = float(v)
    return v if np.isfinite(v) else (1e308 if v > 0 else None)


# --------------------------------------------------------------------------- symbolic and properties extras
#: (report key, the symbolic oracle's check and its info key, the gradspec.symbolic function computing the same table)
_SYMBOLIC_TABLES = (("bp", "bp1_bp4", "bp_proofs"), ("dimensions", "dimension_rules", "dimension_table"))


def _published(matrix, check: str, key: str):
    """info[key] of the symbolic oracle's check ``check`` on any op of the matrix, with where it came from."""
    for row in matrix:
        cell = row["cells"].get("symbolic") or {}
        for chk in cell.get("checks", []):
            if chk["check"] == check and chk["info"].get(key):
                return chk["info"][key], f"symbolic oracle, op {row['op']}, check {check}, info['{key}']"
    return None, None


def symbolic_extras(matrix, availability) -> dict:
    """What the symbolic oracle proved (BP1–BP4) and derived (dimension rules), if it ran.

    Read from the oracle's results (``info["bp_proofs"]`` of its ``bp1_bp4`` check,
    ``info["dimension_table"]`` of its ``dimension_rules`` check, both on the mlp op); when the matrix
    did not include mlp, computed by :func:`gradspec.symbolic.bp_proofs` and
    :func:`gradspec.symbolic.dimension_table` (tables about the spec, cached per process).
    Absent: ``available`` is False with the reason; nothing is made up.
    """
    status = {r["name"]: r for r in availability}
    sym = status.get("symbolic")
    out = {"bp": {"available": False, "source": None, "reason": "", "items": []},
           "dimensions": {"available": False, "source": None, "reason": "", "rows": []}}
    if sym is None or sym["status"] != "available":
        reason = ("the symbolic oracle is not registered in gradspec.oracles.ORACLES" if sym is None
                  else f"the symbolic oracle is {sym['status'].replace('_', ' ')}: {sym['reason']}")
        out["bp"]["reason"] = out["dimensions"]["reason"] = reason
        return out
    for key, check, info_key in _SYMBOLIC_TABLES:
        data, source = _published(matrix, check, info_key)
        if data is None:
            source = f"gradspec.symbolic.{info_key}()"
            try:
                data = getattr(importlib.import_module("gradspec.symbolic"), info_key)()
            except Exception as exc:  # noqa: BLE001
                out[key]["reason"] = f"{source} raised {type(exc).__name__}: {exc}"
                continue
        rows = json.loads(json.dumps(jsonable(data), default=str))
        out[key].update(available=True, source=source, **({"items": rows} if key == "bp" else {"rows": rows}))
    return out


def observe_hypothesis(events_by_op: dict, current: dict):
    """A context manager recording Hypothesis's test cases and ``event()`` counts per op while the checks run.

    Uses Hypothesis's statistics collector (``hypothesis.statistics.collector``,
    what its pytest plugin uses for ``--hypothesis-show-statistics``): at the end
    of each property run it receives every test case with the events its
    strategies recorded (shape classes, strides, near-kink samples, hard
    inputs), attributed here to ``current["op"]``, the op being checked. Unlike
    observability callbacks it adds no cost per test case (which matters:
    properties run with a deadline). A no-op when Hypothesis lacks it.
    """
    try:
        from hypothesis import statistics as hstats

        collector = hstats.collector
        collector.with_value  # noqa: B018 - fail early on an API change
    except (ImportError, AttributeError):  # the coverage section then says no events were recorded
        return contextlib.nullcontext()

    def callback(stats):
        op = current.get("op")
        if op is None or not isinstance(stats, dict):
            return
        counts = events_by_op.setdefault(op, {"test cases": 0})
        for phase, data in stats.items():
            if not (phase.endswith("-phase") and isinstance(data, dict)):
                continue
            for case in data.get("test-cases", []):
                if case.get("status") not in ("valid", "interesting"):
                    continue  # invalid and overrun draws were discarded by Hypothesis
                counts["test cases"] += 1
                for ev in case.get("events", []):
                    if isinstance(ev, str) and not ev.startswith("invalid because") and not ev.startswith("Retried draw"):
                        counts[ev] = counts.get(ev, 0) + 1

    return collector.with_value(callback)


@contextlib.contextmanager
def gradspec_hypothesis_profile():
    """Run the properties oracle under gradspec's Hypothesis profile (``dev``, or ``$GRADSPEC_HYPOTHESIS_PROFILE``).

    Outside pytest, Hypothesis's own default profile is active, whose 200 ms
    deadline turns a slow example on a busy machine into a ``FlakyFailure`` of
    the reference. gradspec's Hypothesis profiles (:mod:`gradspec.properties.hypothesis_profiles`)
    have no deadline. The previous profile is restored afterwards; a profile of
    gradspec's that is already loaded (under pytest) is left alone.
    """
    try:
        from hypothesis import settings

        from ..properties import hypothesis_profiles as profiles

        previous = settings.get_current_profile_name()
    except Exception:  # noqa: BLE001 - no properties package or an older Hypothesis: nothing to do
        yield
        return
    if previous in profiles.PROFILES:
        yield
        return
    profiles.register()
    try:
        yield
    finally:
        settings.load_profile(previous)


def hypothesis_coverage(matrix, availability, observed: dict | None = None) -> dict:
    """Hypothesis ``event()`` counts per op: observed during the properties oracle's run
    (:func:`observe_hypothesis`), or recorded by the oracle itself in ``info['events']``."""
    status = {r["name"]: r for r in availability}
    prop = status.get("properties")
    if prop is None or prop["status"] != "available":
        reason = ("the properties oracle is not registered in gradspec.oracles.ORACLES" if prop is None
                  else f"the properties oracle is {prop['status'].replace('_', ' ')}: {prop['reason']}")
        return {"available": False, "reason": reason, "ops": {}}
    ops = {op: dict(ev) for op, ev in (observed or {}).items() if len(ev) > 0}
    for row in matrix:
        cell = row["cells"].get("properties")
        if not cell or row["op"] in ops:
            continue
        events: dict[str, float] = {}
        for chk in cell["checks"]:
            for key in ("events", "coverage", "hypothesis_events"):
                ev = chk["info"].get(key)
                if isinstance(ev, dict):
                    for k, v in ev.items():
                        if isinstance(v, (int, float)):
                            events[str(k)] = events.get(str(k), 0) + v
                elif isinstance(ev, list):
                    for k in ev:
                        events[str(k)] = events.get(str(k), 0) + 1
        if events:
            ops[row["op"]] = events
    return {"available": bool(ops), "reason": "" if ops else "the properties oracle ran but recorded no Hypothesis events",
            "ops": ops}


# --------------------------------------------------------------------------- dimension rules measured on the reference
def measured_dimensions() -> dict:
    r"""Shapes of W, b, Z, A, dW, db, dZ, dA of a hidden layer, produced by the reference, both layouts.

    A 3-layer network with distinct sizes (:math:`n_0 = 2, n_1 = 3, n_2 = 5, n_3 = 4`,
    batch :math:`m = 7` or a single example) is run through
    :func:`gradspec.reference.mlp.mlp_backprop`; each shape of layer 2 is written
    back in terms of :math:`n_{l-1} = 3`, :math:`n_l = 5` and :math:`m`. ``dZ``
    is the reference's δ; ``dA`` is :math:`\delta^{l+1}(W^{l+1})^\top` (row) or
    :math:`(W^{l+1})^\top\delta^{l+1}` (column) — the gradient reaching :math:`a^l`.
    """
    from ..reference import mlp as ref_mlp

    sizes = [2, 3, 5, 4]
    names = {3: "n_{l−1}", 5: "n_l"}
    rows = []
    for layout in ("row", "column"):
        for m in (1, 7):
            rng = np.random.default_rng([m, len(layout)])
            if layout == "row":
                params = [(rng.normal(size=(sizes[i], sizes[i + 1])), rng.normal(size=sizes[i + 1])) for i in range(3)]
                X, T = rng.normal(size=(m, sizes[0])), rng.normal(size=(m, sizes[-1]))
            else:
                params = [(rng.normal(size=(sizes[i + 1], sizes[i])), rng.normal(size=(sizes[i + 1], 1))) for i in range(3)]
                X, T = rng.normal(size=(sizes[0], m)), rng.normal(size=(sizes[-1], m))
            loss, grads, deltas = ref_mlp.mlp_backprop(params, X, T, "tanh", "identity_mse", layout=layout)
            zs, acts = ref_mlp.mlp_forward(params, X, "tanh", layout)
            l = 2  # layer 2: n_{l-1} = 3, n_l = 5
            W, b = params[l - 1]
            W_next = params[l][0]
            dA = deltas[l] @ W_next.T if layout == "row" else W_next.T @ deltas[l]
            shapes = {"W": W.shape, "b": b.shape, "Z": zs[l - 1].shape, "A": acts[l].shape,
                      "dW": grads[l - 1][0].shape, "db": grads[l - 1][1].shape, "dZ": deltas[l - 1].shape, "dA": dA.shape}
            for q, shp in shapes.items():
                sym = [names.get(d, "m" if (d == m and m != 1) else str(d)) for d in shp]
                rows.append({"layout": layout, "batch": "single example" if m == 1 else "m-example batch", "m": m,
                             "quantity": q, "shape": list(shp), "rule": "(" + ", ".join(sym) + (",)" if len(sym) == 1 else ")"),
                             "same_as_param": (shapes[q] == shapes[q[1:]]) if q in ("dW", "db") else None})
    return {"network": {"sizes": sizes, "layer": 2, "hidden": "tanh", "output": "identity_mse"}, "rows": rows}


#: The formula of every layer quantity in both layouts (shown when the symbolic oracle did not publish its own).
LAYER_FORMULAS = {
    "row": {"W": "W", "b": "b", "Z": "Z = A W + 1 bᵀ", "A": "A = σ(Z)", "dW": "dW = Aᵀ dZ", "db": "db = dZᵀ 1 (sum over the batch)",
            "dZ": "dZ = dA ⊙ σ'(Z) (holds the 1/m)", "dA": "dA = dZ^{l+1} W^{l+1}ᵀ"},
    "column": {"W": "W", "b": "b", "Z": "Z = W A + b 1ᵀ", "A": "A = σ(Z)", "dW": "dW = δ Aᵀ / m", "db": "db = δ 1 / m (sum over the batch)",
               "dZ": "δ = m ∂C/∂Z (per example, no 1/m)", "dA": "dA = W^{l+1}ᵀ δ^{l+1} / m (= ∂C/∂A)"},
}
ONE_OVER_M = {"row": "inside dZ (= ∂C/∂Z of the mean cost)", "column": "in dW and db (δ is per example)"}
LAYOUT_TITLES = {"row": ("row layout (the protocol): one example per row", "Z = A W + 1 bᵀ"),
                 "column": ("column layout (Nielsen, Ng): one example per column", "Z = W A + b 1ᵀ")}


def dimension_table(measured: dict, symbolic: dict) -> dict:
    """One table of the dimension rules: per layout and quantity, the formula, the shape rule, the reference's measured
    shapes (one example and a batch), the symbolic oracle's derived shapes and its verdict on the row.

    The verdict is computed here, at build time, with :func:`gradspec.symbolic.dimensions.row_problems` on the symbolic
    rows of the same layout, quantity and batch kind (the page only shows it).
    """
    problems_of = None
    if symbolic["available"]:
        try:
            from ..symbolic.dimensions import row_problems as problems_of
        except Exception:  # noqa: BLE001 - without the symbolic package the rows are "not checked"
            problems_of = None
    rows = []
    for layout in ("row", "column"):
        for q in ("W", "b", "Z", "A", "dW", "db", "dZ", "dA"):
            meas = {r["m"]: r for r in measured["rows"] if r["layout"] == layout and r["quantity"] == q}
            batch_m = max(meas)
            sym = [r for r in symbolic["rows"] if isinstance(r, dict) and r.get("layout") == layout and r.get("quantity") == q]
            sym_single = next((r for r in sym if str(r.get("batch", "")).startswith("single")), None)
            sym_batch = next((r for r in sym if not str(r.get("batch", "")).startswith("single")), None)
            formula = next((r["formula"] for r in sym if r.get("formula")), LAYER_FORMULAS[layout][q])
            row = {"layout": layout, "quantity": q, "formula": str(formula), "rule": meas[batch_m]["rule"],
                   "shape_single": meas[1]["shape"], "shape_batch": meas[batch_m]["shape"], "batch_m": batch_m,
                   "same_as_param": meas[batch_m]["same_as_param"],
                   "derived_single": (sym_single or {}).get("derived_shape"), "derived_batch": (sym_batch or {}).get("derived_shape"),
                   "formula_proved": None, "value_error": None, "verdict": "not checked", "problems": []}
            proved = [r.get("formula_proved") for r in sym if isinstance(r.get("formula_proved"), bool)]
            row["formula_proved"] = all(proved) if proved else None
            errs = [r.get("reference_value_error") for r in sym if isinstance(r.get("reference_value_error"), (int, float))]
            row["value_error"] = max(errs) if errs else None
            if problems_of is not None:
                if not sym:
                    row["verdict"] = "not derived"
                else:
                    row["problems"] = [p_ for r in sym for p_ in problems_of(r)]
                    row["verdict"] = "mismatch" if row["problems"] else "agrees"
            rows.append(row)
    one_over_m = {}
    for layout in ("row", "column"):
        one_over_m[layout] = next((str(r["one_over_m"]) for r in symbolic["rows"] if isinstance(r, dict)
                                   and r.get("layout") == layout and r.get("one_over_m")), ONE_OVER_M[layout])
    return {"rows": rows, "layouts": {lay: {"title": LAYOUT_TITLES[lay][0], "formula": LAYOUT_TITLES[lay][1],
                                            "one_over_m": one_over_m[lay]} for lay in ("row", "column")},
            "checked_by": symbolic["source"] if problems_of is not None else None}


def conventions_table() -> list[dict]:
    """The conventions and kinks of every registry entry."""
    rows = []
    for op in registry.OPS:
        if op.kind_facts.statistical or op.kind_facts.trajectory:  # their definition is the convention (variances, update rules)
            rows.append({"op": op.name, "where": "definition", "convention": op.summary, "source": "definition"})
        for k in op.kinks:
            rows.append({"op": op.name, "where": k.where, "convention": k.convention, "source": "kink"})
        for c in op.conventions:
            rows.append({"op": op.name, "where": "", "convention": c, "source": "convention"})
        if op.domain != "all finite float64 inputs":
            rows.append({"op": op.name, "where": "domain", "convention": op.domain, "source": "domain"})
    return rows


# --------------------------------------------------------------------------- experiments
#: BLAS thread variables set to 1 for the experiment workers: the matrices are small
#: (1000 × 100), and on a loaded 2-core machine a multi-threaded BLAS spins and runs
#: several times slower than one thread per process.
_THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


class _Env:
    """Set environment variables for the lifetime of a block (children spawned inside inherit them)."""

    def __init__(self, **values):
        self.values, self.saved = values, {}

    def __enter__(self):
        for key, v in self.values.items():
            self.saved[key] = os.environ.get(key)
            os.environ[key] = v

    def __exit__(self, *exc):
        for key, v in self.saved.items():
            if v is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = v


def _call(task):
    """Run ``experiments.<name>(**kwargs)`` (a picklable task for the worker processes)."""
    name, kwargs = task
    t0 = time.perf_counter()
    out = getattr(E, name)(**kwargs)
    return out, round(time.perf_counter() - t0, 3)


def _remedy_task(task):
    """Run ``remedies.run(name, seed, depth)`` (a picklable task for the worker processes)."""
    name, seed, depth = task
    t0 = time.perf_counter()
    out = R.run(name, seed, depth)
    return out, round(time.perf_counter() - t0, 3)


def _bp_task() -> list[dict]:
    """BP1–BP4 proved in a worker process (the symbolic oracle's slowest piece, the same for every implementation)."""
    from ..symbolic.backprop import bp_proofs

    return bp_proofs()


def _figures_task(task) -> dict:
    """Draw one figure of an experiment section (a picklable task for the worker processes)."""
    from .render import figure_pngs

    group, data, fid = task
    return figure_pngs(group, data, [fid])


class ExperimentRunner:
    """Runs the experiments in the background (worker processes) while the checks run in the foreground.

    ``workers`` processes (spawned, one BLAS thread each); ``workers=0`` runs
    everything in this process when :meth:`finish` is called. The init
    statistics call the implementation under test, so they always run here.
    """

    def __init__(self, seed: int, depth: str, workers: int = 2, prove_bp: bool = False, selected=EXPERIMENT_NAMES):
        self.seed, self.p, self.workers = seed, DEPTHS[depth], workers
        self.depth = depth
        self.selected = tuple(selected)
        self.prove_bp = prove_bp  # also prove BP1–BP4 in a worker (for the symbolic oracle); see adopt_bp()
        self.bp_future = None
        self.bp_error: str | None = None
        self.done, self.total = 0, 0
        self.timings: dict[str, float] = {}
        self.results: dict = {}
        self.figures: dict = {}  # figure id -> base64 PNG, drawn by the workers once the experiments are done
        self.error: BaseException | None = None
        self._pool = self._thread = None
        self._env = _Env(**{k: "1" for k in _THREAD_VARS})

    def _map(self, fn, tasks):
        if self._pool is None:
            out = []
            for t in tasks:
                out.append(fn(t))
                self.done += 1
            return out
        futs = [self._pool.submit(fn, t) for t in tasks]
        for f in futs:
            f.add_done_callback(self._tick)
        return [f.result() for f in futs]

    def _tick(self, _):
        self.done += 1

    def _run_all(self):
        p, seed, sel = self.p, self.seed, self.selected
        try:
            small = {"clipping": (_call, ("clipping", {"seed": seed, "batch": p["batch"]})),
                     "histograms": (_call, ("activation_histograms", {"seed": seed})),
                     "numdiff": (_call, ("numerical_differentiation", {"seed": seed, "points": p["numdiff_points"]}))}
            small.update({name: (_remedy_task, (name, seed, self.depth)) for name in R.EXPERIMENTS})
            small = {name: task for name, task in small.items() if name in sel}
            self.total = len(small) + (3 * len(E.WEIGHT_SCALES) * len(p["depths"]) if "vanishing" in sel else 0)
            t0 = time.perf_counter()
            if self._pool is not None:
                futs = {name: self._pool.submit(fn, task) for name, (fn, task) in small.items()}
                for f in futs.values():
                    f.add_done_callback(self._tick)
            if "vanishing" in sel:
                self.results["vanishing"] = E.vanishing_exploding(seed, seeds=p["seeds"], depths=p["depths"], batch=p["batch"],
                                                                  map_fn=self._map)
                self.timings["vanishing"] = round(time.perf_counter() - t0, 3)
            for name, (fn, task) in small.items():
                if self._pool is not None:
                    self.results[name], self.timings[name] = futs[name].result()
                else:
                    self.results[name], self.timings[name] = fn(task)
                    self.done += 1
            if self._pool is not None:  # the figures too, while the checks may still run
                from .render import FIGURE_GROUPS, figure_ids

                tasks = [(g, self.results[g], fid) for g in FIGURE_GROUPS if g in self.results
                         for fid in figure_ids(g, self.results[g])]
                self.total += len(tasks)
                futs = [self._pool.submit(_figures_task, t) for t in tasks]
                for f in futs:
                    f.add_done_callback(self._tick)
                for f in futs:
                    self.figures.update(f.result())
        except BaseException as exc:  # noqa: BLE001 - re-raised in finish()
            self.error = exc

    def start(self):
        if self.workers > 0:
            import multiprocessing
            import threading
            from concurrent.futures import ProcessPoolExecutor

            self._env.__enter__()
            self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=multiprocessing.get_context("spawn"))
            if self.prove_bp:
                self.bp_future = self._pool.submit(_bp_task)  # first in the queue: it is the longest task
            self._thread = threading.Thread(target=self._run_all, name="gradspec-experiments", daemon=True)
            self._thread.start()
        return self

    def adopt_bp(self) -> None:
        """Wait for the worker's BP1–BP4 table and hand it to this process's symbolic oracle (once)."""
        if self.bp_future is None:
            return
        future, self.bp_future = self.bp_future, None
        from ..symbolic.backprop import adopt

        try:
            rows = future.result()
        except Exception as exc:  # noqa: BLE001 - a dead or failing worker: the symbolic oracle proves them itself
            self.bp_error = f"{type(exc).__name__}: {exc}"  # the report is complete all the same, only slower
            return
        adopt(rows)

    def finish(self, impl: Implementation | None, progress=None) -> dict:
        t0 = time.perf_counter()

        def draw(scheme, shape, rng):
            if impl is None:
                return getattr(ref_pkg, scheme)(shape, rng)
            if impl.function(scheme) is None:
                return None
            res = impl.call(scheme, shape, rng)
            if not res.ok:
                raise RuntimeError(res.finding.message)
            return res.value

        from .. import reference as ref_pkg

        init = None
        if "init" in self.selected:
            provides_init = impl is not None and any(impl.function(s) is not None for s in E.INIT_SCHEMES)
            if provides_init:
                init = E.init_statistics(self.seed, draw)
                init["setup"]["drawn_by"] = impl.name
            else:  # nothing to measure on the implementation: the section shows the schemes themselves
                init = E.init_statistics(self.seed)
                init["setup"]["drawn_by"] = ("gradspec.reference" if impl is None or impl.name == DEFAULT_IMPL else
                                             f"gradspec.reference ({impl.name} provides no init scheme)")
            self.timings["init"] = round(time.perf_counter() - t0, 3)
        try:
            if self._thread is None:
                self._run_all()
            else:
                while self._thread.is_alive():
                    if progress:
                        progress("experiments", self.done, self.total or None)
                    self._thread.join(0.25)
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True, cancel_futures=True)
                self._env.__exit__()
        if self.error is not None:
            raise self.error
        results = dict(self.results, init=init)
        out = {key: results[key] for key in self.selected}
        out["timings_s"] = self.timings
        return out


# --------------------------------------------------------------------------- the report
def reproduce_command(impl_name: str | None, out: str, seed: int, quick: bool, oracles=None, experiments=None,
                      options=()) -> str:
    """The ``gradspec report`` command line of a report; ``options``: further ``(flag, value)`` pairs (the kit's
    ``--style`` and ``--mapping``, a ``--limits`` file), value None for none."""
    parts = ["gradspec", "report"]
    if impl_name:
        parts += ["--impl", impl_name]
    for flag, value in options:
        if value is not None:
            parts += [flag, os.fspath(value)]
    parts += ["--out", out, "--seed", str(seed)]
    if quick:
        parts.append("--quick")
    if oracles is not None:
        parts += ["--oracle", *oracles]
    if experiments is not None:
        parts += ["--experiments", *experiments] if experiments else ["--no-experiments"]
    return " ".join(shlex.quote(p) for p in parts)


def build_report(impl=None, out: str = DEFAULT_OUT, seed: int = 0, quick: bool = False, ops=None, oracles=None,
                 experiments: bool = True, progress=None, write: bool = True, workers: int = 2, limits=None,
                 style: str | None = None, mapping=None) -> dict:
    """Run everything and (with ``write``) write ``out/report.json`` and ``out/index.html``; return the report dict.

    Parameters
    ----------
    impl : str, module, object or None
        The implementation (None: ``$GRADSPEC_IMPL`` or the reference).
    out : str
        Output directory (created).
    seed : int
        Seed of every random draw, in the checks and the experiments.
    quick : bool
        The ``quick`` depth: one example per op and oracle, experiments at batch 100.
    ops : list of str, optional
        Restrict the verification matrix to these ops (default: the whole registry).
    oracles : list of str, optional
        Restrict the oracles (default: every registered oracle that imports).
    experiments : bool or list of str
        Run every experiment (True), none (False: those sections are marked as not run), or the named ones
        (:data:`EXPERIMENT_NAMES`; the others are listed as not selected).
    progress : callable, optional
        ``progress(label, index, total)``; index/total may be None.
    workers : int
        Worker processes for the experiments, which run while the checks run
        (0: everything in this process, one after the other).
    limits : dict or str, optional
        Declared limits (:mod:`gradspec.limits`; default: the implementation's ``__gradspec_limits__``): the
        matrix is checked within them, and the summary and each limited op's row show them.
    style, mapping : optional
        The code is written in another style: an adapter kit wraps it (``--style``, ``--mapping``, as for
        ``gradspec check``; :func:`gradspec.adapters.kits.load_kit`, with ``limits`` a JSON file merged over
        the kit's own). The matrix then holds the kit's own checks too, and ``summary.implementation.kit``
        what it bound (``describe_mapping()``).
    """
    from ..runner import check as runner_check

    t0 = time.perf_counter()
    started = _dt.datetime.now(_dt.timezone.utc)
    depth = "quick" if quick else "full"
    impl_name = impl if isinstance(impl, str) else None
    limits_file = limits if isinstance(limits, (str, os.PathLike)) else None
    mapping_file = mapping if isinstance(mapping, (str, os.PathLike)) else None
    kit, run_check = None, runner_check
    if style or mapping:
        from ..adapters import kits

        kit = kits.load_kit(impl, style, mapping, limits)
        run_check, impl, limits = kits.check, kit, None  # the limits are the kit's (merged); its own checks are run
    impl_obj = Implementation.wrap(impl)
    if oracles is not None:
        unknown = [o for o in oracles if o not in oracle_registry.ORACLES]
        if unknown:
            raise KeyError(f"unknown oracle(s) {unknown}; known: {', '.join(oracle_registry.ORACLES)}")
    availability = oracle_availability(oracles)
    run_oracles = [r["name"] for r in availability if r["status"] == "available"]
    examples = None if DEPTHS[depth]["examples"] is None else {o: DEPTHS[depth]["examples"] for o in run_oracles}

    observed: dict = {}
    current: dict = {"op": None}

    def check_progress(name, i, n):
        current["op"] = name
        if name == "mlp" and runner is not None:  # the network op: the report's BP1–BP4 section reads its check
            runner.adopt_bp()  # the symbolic oracle's mlp check publishes the BP1–BP4 table
        if progress:
            progress(f"check: {name}", i, n)

    selected = selected_experiments(experiments)
    runner = (ExperimentRunner(seed, depth, workers, prove_bp="symbolic" in run_oracles, selected=selected).start()
              if selected else None)
    try:
        t_check = time.perf_counter()
        props = "properties" in run_oracles
        with (gradspec_hypothesis_profile() if props else contextlib.nullcontext()), \
                (observe_hypothesis(observed, current) if props else contextlib.nullcontext()):
            result = run_check(impl_obj if kit is None else kit, ops=ops, oracles=run_oracles, seed=seed, examples=examples,
                           progress=check_progress, limits=limits)
        check_s = time.perf_counter() - t_check
        if runner is not None:
            runner.adopt_bp()  # without mlp in the matrix, the BP section still shows the proofs
        t_exp = time.perf_counter()
        exp = runner.finish(impl_obj, progress) if runner else None
        figures = runner.figures if runner else None
        exp_s = time.perf_counter() - t_exp
    except BaseException:
        if runner is not None and runner._pool is not None:
            runner._pool.shutdown(wait=False, cancel_futures=True)
            runner._env.__exit__()
        raise
    run = result.to_dict()
    matrix = verification_matrix(run, run_oracles)
    extras = symbolic_extras(matrix, availability)
    impl_desc = impl_obj.describe()
    report = {
        "schema_version": SCHEMA_VERSION,
        "summary": {
            "implementation": {"name": str(impl_desc.get("name")), "version": impl_desc.get("version"),
                               "file": impl_desc.get("file"),
                               **({"kit": run["implementation"]["kit"]} if kit is not None else {})},
            "gradspec_version": __version__,
            "libraries": library_versions(),
            "platform": f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores",
            "seed": seed, "depth": depth,
            "date": started.isoformat(timespec="seconds"),
            "duration_s": 0.0,
            "durations_s": {"check": round(check_s, 3)},
            "command": reproduce_command(
                impl_name if kit is not None else None if impl_obj.name == DEFAULT_IMPL else impl_obj.name, out, seed,
                quick, oracles, None if selected == EXPERIMENT_NAMES else list(selected),
                (("--style", style), ("--mapping", mapping_file), ("--limits", limits_file))),
            "verdicts": run["summary"],
            "claims": {"agree": 0, "disagree": 0},
            "limits": ({"source": run["limits_source"], "text": limits_text(run["limits"])} if run["limits"] else None),
        },
        "oracles": availability,
        "matrix": matrix,
        "bp": extras["bp"],
        "dimensions": {"measured": measured_dimensions(), "symbolic": extras["dimensions"]},  # the table: below
        "experiments": exp if exp is not None else {"not_run": "experiments disabled for this report"},
        "hypothesis": hypothesis_coverage(matrix, availability, observed),
        "conventions": conventions_table(),
    }
    report["dimensions"]["table"] = dimension_table(report["dimensions"]["measured"], extras["dimensions"])
    if exp is not None:
        report["summary"]["durations_s"]["experiments"] = round(exp_s, 3)  # beyond the checks (they overlap)
        exp["not_selected"] = [n for n in EXPERIMENT_NAMES if n not in selected]
        claims = [c for key in selected for c in exp[key]["claims"]]
        report["summary"]["claims"] = {"agree": sum(c["agrees"] for c in claims),
                                       "disagree": sum(not c["agrees"] for c in claims)}
    report = json.loads(json.dumps(jsonable(report), allow_nan=False, default=str))
    if write:
        from .render import render_html
        from .schema import validate

        report["summary"]["duration_s"] = round(time.perf_counter() - t0, 3)  # everything but the rendering
        t_render = time.perf_counter()
        html = render_html(report, figures)
        report["summary"]["durations_s"]["render"] = round(time.perf_counter() - t_render, 3)  # not on the page
        validate(report)
        os.makedirs(out, exist_ok=True)
        with open(os.path.join(out, "report.json"), "w", encoding="utf-8") as fh:
            json.dump(report, fh, indent=1, allow_nan=False)
            fh.write("\n")
        with open(os.path.join(out, "index.html"), "w", encoding="utf-8") as fh:
            fh.write(html)
    else:
        report["summary"]["duration_s"] = round(time.perf_counter() - t0, 3)
    return report


# --------------------------------------------------------------------------- the command
def main_report(args, split=lambda v: list(v or [])) -> int:
    """``gradspec report``: exit 0 when the report is written and every op passes, 1 when an op fails
    or errors (the report is written all the same), 2 for a usage error."""
    from ..impl import ImplementationError
    from ..limits import LimitsError

    out_dir = args.out or DEFAULT_OUT
    ops = split(args.ops) or None
    oracles = split(args.oracle) or None
    unknown = [o for o in ops or [] if o not in registry.REGISTRY]
    if unknown:
        print(f"gradspec report: unknown op(s) {unknown}; known: {', '.join(registry.REGISTRY)}", file=sys.stderr)
        return 2
    err = sys.stderr
    tty = err.isatty()
    t0 = time.perf_counter()
    state = {"width": 0}

    def progress(label, i, n):
        if not tty:
            return
        where = f"[{i + 1}/{n}] " if (i is not None and n and label.startswith("check")) else (
            f"[{i}/{n}] " if (i is not None and n) else "")
        line = f"\r{time.perf_counter() - t0:6.1f}s {where}{label}"[:100]
        err.write(line + " " * max(0, state["width"] - len(line)))
        err.flush()
        state["width"] = len(line)

    if not tty:
        print(f"gradspec report: {'quick' if args.quick else 'full'} depth, writing {out_dir}/ ...", file=err)
    try:
        report = build_report(impl=args.impl, out=out_dir, seed=args.seed, quick=args.quick, ops=ops, oracles=oracles,
                              experiments=False if args.no_experiments else (split(getattr(args, "experiments", None)) or True),
                              progress=progress, limits=getattr(args, "limits", None),
                              style=getattr(args, "style", None), mapping=getattr(args, "mapping", None))
    except ImplementationError as exc:
        print(f"\ngradspec report: {exc}" if tty else f"gradspec report: {exc}", file=err)
        return 2
    except KeyError as exc:
        print(f"gradspec report: {exc.args[0] if exc.args else exc}", file=err)
        return 2
    except LimitsError as exc:
        print(f"gradspec report: bad limits: {exc}", file=err)
        return 2
    if tty:
        err.write("\r" + " " * state["width"] + "\r")
    s = report["summary"]
    v = s["verdicts"]
    oracles_run = [o["name"] for o in report["oracles"] if o["status"] == "available"]
    missing = [o["name"] for o in report["oracles"] if o["status"] == "not_available"]
    print(f"gradspec report: {s['implementation']['name']} | oracles run: {', '.join(oracles_run)}"
          + (f" | not available: {', '.join(missing)}" if missing else ""))
    print(f"  ops: {v['pass']} passed, {v['fail']} failed, {v['error']} errors, {v['not_implemented']} not implemented; "
          f"experiment claims: {s['claims']['agree']} agree, {s['claims']['disagree']} disagree")
    print(f"  {time.perf_counter() - t0:.1f} s; wrote {os.path.join(out_dir, 'index.html')} and {os.path.join(out_dir, 'report.json')}")
    return 0 if v["fail"] == 0 and v["error"] == 0 else 1
