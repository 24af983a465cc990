r"""Cross-implementation matrix: ``gradspec compare --impl A --impl B ...``.

:func:`build_compare` checks each implementation in turn with :func:`gradspec.runner.check` (the same oracles,
seed and example counts for all, each call under the usual per-call timeouts of :mod:`gradspec.impl`, so a
hanging function costs one timeout and the matrix goes on) and assembles ``compare.json``: one row per op of
the registry, one column per implementation in the order given. Each cell holds the op's status for that
implementation (pass / fail / error / not_implemented / not_applicable) and one entry per check that failed or
erred, with what it found *by name*:

* ``convention_difference``: the op disagrees with the spec's convention on one of its kinks (a finding of kind
  ``convention``, made by the ``conventions`` check); the spec's convention is quoted, and the diagnosis' name of the
  difference is given when it has one (``relu_prime_at_zero_is_half``, ``max_pool_tie_split``);
* ``diagnosed_bug``: any other failing check whose findings carry a diagnosis (:mod:`gradspec.diagnosis`),
  named by its probable causes (``scaled_by_2``, ...), unless every cause it names is one the op's kink check names
  as a convention difference (a kink property of the ``properties`` oracle finding the same rule): then it is that
  convention difference too;
* ``no_known_cause``: a failing or erring check that no diagnosis explains; its message is kept, so no
  difference is ever hidden behind a cell that only says "fail".

An implementation that cannot be imported (or whose run raises) is still a column: its ``error`` says why,
and its cells are ``not_run``. :func:`write_compare` validates the dict against ``compare_schema.json``
(beside this file) and writes ``DIR/compare.json`` and ``DIR/index.html``; the page is rendered from the JSON
alone by :mod:`gradspec.reports.render_compare`.
"""
from __future__ import annotations

import datetime as dt
import json
import math
import os
import platform
import shlex
import sys
import time

from .. import __version__, oracles as oracle_registry, registry
from ..impl import DEFAULT_TIMEOUT, ImplementationError, Implementation
from ..profiles import DEFAULT_ORACLES, PROFILES, examples_for, option_problem
from ..results import jsonable

SCHEMA_VERSION = 1
SCHEMA_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "compare_schema.json")
DEFAULT_OUT = os.path.join("reports", "out", "compare")
JSON_NAME = "compare.json"
MAX_MESSAGE = 2000  # characters of a check's message kept in a cell
CATEGORIES = ("convention_difference", "diagnosed_bug", "no_known_cause")
CATEGORY_WORDS = {"convention_difference": "convention:", "diagnosed_bug": "bug:", "no_known_cause": "failing check,"}


# --------------------------------------------------------------------------- one cell
def causes_of(check: dict) -> list[dict]:
    """The diagnosed causes of a check (a ``RunResult.to_dict()`` check): the names in its findings'
    ``details["diagnosis"]`` and its ``info["diagnosis"]``, each once, best first."""
    out: dict[str, dict] = {}
    sources = [f.get("details") or {} for f in check.get("findings", [])] + [check.get("info") or {}]
    for source in sources:
        value = source.get("diagnosis")
        for d in value if isinstance(value, list) else ([value] if value else []):
            if isinstance(d, dict) and d.get("name") and str(d["name"]) not in out:
                out[str(d["name"])] = {"name": str(d["name"]), "explanation": str(d.get("explanation") or ""),
                                       "confidence": number(d.get("confidence"))}
    return list(out.values())


def check_entry(check: dict) -> dict:
    """What a failing or erring check found, by name (see the module docstring for the categories)."""
    findings = check.get("findings", [])
    causes = causes_of(check)
    differing = [f for f in findings if f.get("kind") == "convention"]  # the op was evaluated on a kink and differs
    conventions = []
    for f in differing:
        c = (f.get("details") or {}).get("convention")
        if isinstance(c, str) and c not in conventions:
            conventions.append(c)
    is_convention = bool(differing)  # (a call on a kink that raised or timed out is not a convention difference)
    category = "convention_difference" if is_convention else ("diagnosed_bug" if causes else "no_known_cause")
    message = str(check.get("message", ""))
    return {
        "oracle": str(check.get("oracle", "")), "check": str(check.get("check", "")), "status": str(check["status"]),
        "category": category, "causes": causes, "conventions": conventions,
        "kind": str(findings[0].get("kind", "")) if findings else "",
        "findings": len(findings),
        "message": message if len(message) <= MAX_MESSAGE else message[:MAX_MESSAGE] + " …",
    }


def cell_of(op_result: dict) -> dict:
    """One cell of the matrix from one op of a ``RunResult.to_dict()``."""
    checks = op_result.get("checks", [])
    entries = [check_entry(c) for c in checks if c.get("status") in ("fail", "error")]
    # a cause that the op's kink check names as a convention difference is one in every check of the op that names
    # it (the properties oracle's kink properties find the same rule through findings of kind "property")
    on_kinks = {c["name"] for e in entries if e["category"] == "convention_difference" for c in e["causes"]}
    for e in entries:
        if e["category"] == "diagnosed_bug" and {c["name"] for c in e["causes"]} <= on_kinks:
            e["category"] = "convention_difference"
    worst = [number(c.get("worst_error")) for c in checks if c.get("status") in ("pass", "fail")]
    worst = [w for w in worst if w is not None]
    names = []
    for e in entries:
        for c in e["causes"]:
            if c["name"] not in names:
                names.append(c["name"])
    return {"status": str(op_result["status"]), "examples": int(sum(int(c.get("examples") or 0) for c in checks)),
            "worst_error": max(worst) if worst else None, "names": names, "entries": entries}


def not_run_cell(reason: str) -> dict:
    return {"status": "not_run", "examples": 0, "worst_error": None, "names": [], "entries": [], "reason": reason}


def number(v):
    """A finite JSON number or None (an infinite error becomes 1e308, as in report.json)."""
    if v is None or isinstance(v, bool):
        return None
    try:
        v = float(v)
    except (TypeError, ValueError):
        return None
    if math.isnan(v):
        return None
    return v if math.isfinite(v) else (1e308 if v > 0 else None)


def named_differences(rows: list[dict], column: int) -> list[dict]:
    """Every named finding of one column, in row order: each cause by name (with its category, the ops where it
    shows and the checks that found it); a check with no known cause is an item ``no known cause`` of its own per
    check (``oracle/check``), so the list hides nothing the cells show."""
    out: dict[tuple, dict] = {}
    for row in rows:
        for e in row["cells"][column]["entries"]:
            where = f"{e['oracle']}/{e['check']}"
            keys = [(e["category"], c["name"]) for c in e["causes"]] or [(e["category"], "no known cause", where)]
            for key in keys:
                item = out.setdefault(key, {"name": key[1], "category": e["category"], "ops": [], "checks": [],
                                            "conventions": []})
                if row["op"] not in item["ops"]:
                    item["ops"].append(row["op"])
                if where not in item["checks"]:
                    item["checks"].append(where)
                item["conventions"] += [c for c in e["conventions"] if c not in item["conventions"]]
    return list(out.values())


# --------------------------------------------------------------------------- the matrix
def describe_impl(impl) -> str:
    if isinstance(impl, str):
        return impl
    if isinstance(impl, Implementation):
        return impl.name
    name = getattr(impl, "__name__", None)
    return name if isinstance(name, str) else type(impl).__name__


def reproduce_command(impls, out, seed, oracles, examples, profile, ops, timeout) -> str:
    parts = ["gradspec", "compare"]
    for name in impls:
        parts += ["--impl", name]
    parts += ["--out", out, "--seed", str(seed), "--oracle", *oracles]
    if examples is not None:
        parts += ["--examples", str(examples)]
    elif profile != "dev":
        parts += ["--profile", profile]
    if ops is not None:
        parts += ["--ops", *ops]
    if timeout is not None:
        parts += ["--timeout", format(timeout, "g")]
    return " ".join(shlex.quote(p) for p in parts)


def build_compare(impls, oracles=None, seed: int = 0, examples: int | None = None, profile: str = "dev", ops=None,
                  timeout: float | None = None, out: str = DEFAULT_OUT, progress=None) -> dict:
    """Check every implementation of ``impls`` (names, paths, module objects) and return the compare dict.

    ``oracles`` default to :data:`gradspec.profiles.DEFAULT_ORACLES`; ``examples`` (per op and oracle)
    overrides ``profile``; ``ops`` restricts the rows (default: every op of the registry); ``timeout`` is the
    per-call timeout of :func:`gradspec.runner.check`. ``progress(label, index, total)`` is called before each
    implementation and each op. Raises ``KeyError`` for an unknown op or oracle and ``ValueError`` for no
    implementation, an unknown profile or an example count below 1; an implementation that cannot be imported
    or whose run raises never does: it is a column with the error.
    """
    from ..runner import check

    impls = list(impls)
    if not impls:
        raise ValueError("compare needs at least one implementation (--impl)")
    oracles = list(DEFAULT_ORACLES if oracles is None else oracles)
    unknown = [o for o in oracles if o not in oracle_registry.ORACLES]
    if unknown:
        raise KeyError(f"unknown oracle(s) {unknown}; known: {', '.join(oracle_registry.ORACLES)}")
    names = [op.name for op in registry.OPS] if ops is None else list(ops)
    unknown = [o for o in names if o not in registry.REGISTRY]
    if unknown:
        raise KeyError(f"unknown op(s) {unknown}; known: {', '.join(registry.REGISTRY)}")
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; known: {', '.join(PROFILES)}")
    if examples is not None and (isinstance(examples, bool) or not isinstance(examples, int) or examples < 1):
        raise ValueError(f"examples must be an integer >= 1, got {examples!r}")
    per_oracle = examples if examples is not None else examples_for(profile, oracles)

    t0 = time.perf_counter()
    started = dt.datetime.now(dt.timezone.utc)
    columns, runs = [], []
    for index, impl in enumerate(impls):
        label = describe_impl(impl)
        if progress:
            progress(label, index, len(impls))
        column = {"impl": label, "name": label, "version": None, "file": None, "status": "checked", "error": None,
                  "duration_s": 0.0}
        t_col = time.perf_counter()
        run = None
        try:
            wrapped = Implementation.wrap(impl, DEFAULT_TIMEOUT if timeout is None else timeout)
            desc = wrapped.describe()
            column.update(name=str(desc["name"]), version=None if desc["version"] is None else str(desc["version"]),
                          file=None if desc["file"] is None else str(desc["file"]))
            run = check(impl=wrapped, ops=names, oracles=oracles, seed=seed, examples=per_oracle, timeout=timeout,
                        progress=(lambda op, i, n, label=label: progress(f"{label}: {op}", i, n)) if progress else None
                        ).to_dict()
        except ImplementationError as exc:
            column.update(status="import_error", error=str(exc))
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # noqa: BLE001 - one implementation's crash never ends the matrix
            column.update(status="error", error=f"the check of {label} raised {type(exc).__name__}: {exc}")
        column["duration_s"] = round(time.perf_counter() - t_col, 3)
        columns.append(column)
        runs.append(run)

    rows = []
    for name in names:
        spec = registry.get(name)
        cells = []
        for column, run in zip(columns, runs):
            if run is None:
                cells.append(not_run_cell(f"{column['impl']} was not checked: {column['error']}"))
            else:
                cells.append(cell_of(run["ops"][name]))
        rows.append({"op": name, "kind": spec.kind, "summary": spec.summary, "cells": cells})
    for i, column in enumerate(columns):
        statuses = [row["cells"][i]["status"] for row in rows]
        column["verdicts"] = {s: statuses.count(s) for s in ("pass", "fail", "error", "not_implemented", "not_applicable",
                                                             "not_run")}
        column["named"] = named_differences(rows, i)
    report = {
        "schema_version": SCHEMA_VERSION,
        "summary": {
            "gradspec_version": __version__,
            "python": platform.python_version(),
            "platform": f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores",
            "seed": seed, "oracles": oracles, "examples": examples, "profile": profile,
            "timeout_s": timeout,
            "date": started.isoformat(timespec="seconds"),
            "duration_s": round(time.perf_counter() - t0, 3),
            "command": reproduce_command([c["impl"] for c in columns], out, seed, oracles, examples, profile, ops, timeout),
        },
        "columns": columns,
        "rows": rows,
    }
    return json.loads(json.dumps(jsonable(report), allow_nan=False, default=str))


def validate(report: dict) -> None:
    """Raise :class:`gradspec.reports.schema.SchemaError` listing the violations of ``compare_schema.json``."""
    from .schema import SchemaError, errors, load_schema

    errs = errors(report, load_schema(SCHEMA_PATH))
    if errs:
        raise SchemaError(f"compare.json does not match reports/compare_schema.json ({len(errs)} problem(s)):\n  "
                          + "\n  ".join(errs))


def write_compare(report: dict, out: str) -> tuple[str, str]:
    """Validate ``report`` and write ``out/compare.json`` and ``out/index.html``; return their paths."""
    from .render_compare import render_compare_html

    validate(report)
    page = render_compare_html(report)
    os.makedirs(out, exist_ok=True)
    json_path, html_path = os.path.join(out, JSON_NAME), os.path.join(out, "index.html")
    with open(json_path, "w", encoding="utf-8") as fh:
        json.dump(report, fh, indent=1, allow_nan=False)
        fh.write("\n")
    with open(html_path, "w", encoding="utf-8") as fh:
        fh.write(page)
    return json_path, html_path


# --------------------------------------------------------------------------- the command
def main_compare(args, split=lambda v: list(v or [])) -> int:
    """``gradspec compare``: exit 0 when the matrix is written and every cell passes, is not implemented or not
    applicable; 1 when a cell fails or errs or an implementation could not be checked (the matrix is written all
    the same); 2 for a usage error."""
    impls = list(args.impl or [])
    out = args.out or DEFAULT_OUT
    err = sys.stderr
    if not impls:
        print("gradspec compare: name at least one implementation with --impl (e.g. --impl gradspec.reference "
              "--impl gradspec.adapters.torch_impl)", file=err)
        return 2
    problem = option_problem("compare", args.timeout, args.examples)
    if problem:
        print(problem, file=err)
        return 2
    tty = err.isatty()
    t0 = time.perf_counter()

    def progress(label, i, n):
        if tty:
            err.write(f"\r{time.perf_counter() - t0:6.1f}s [{i + 1}/{n}] {label:<60.60s}")
            err.flush()

    try:
        report = build_compare(impls, oracles=split(args.oracle) or None, seed=args.seed, examples=args.examples,
                               profile=args.profile, ops=split(args.ops) or None, timeout=args.timeout, out=out,
                               progress=progress)
    except (KeyError, ValueError) as exc:
        print(f"gradspec compare: {exc.args[0] if exc.args else exc}", file=err)
        return 2
    if tty:
        err.write("\r" + " " * 80 + "\r")
    json_path, html_path = write_compare(report, out)
    bad = False
    for c in report["columns"]:
        v = c["verdicts"]
        if c["status"] != "checked":
            print(f"  {c['impl']}: not checked: {c['error']}")
            bad = True
            continue
        bad = bad or v["fail"] > 0 or v["error"] > 0
        named = "; ".join(f"{CATEGORY_WORDS[n['category']]} {n['name']}"
                          + (f" in {', '.join(n['checks'])}" if n["name"] == "no known cause" else "")
                          + (f" [the spec: {' / '.join(n['conventions'])}]" if n["name"] == "no known cause" and n["conventions"] else "")
                          + f" ({', '.join(n['ops'])})" for n in c["named"])
        print(f"  {c['impl']}: {v['pass']} passed, {v['fail']} failed, {v['error']} errors, "
              f"{v['not_implemented']} not implemented ({c['duration_s']:.1f} s)" + (f" | {named}" if named else ""))
    print(f"gradspec compare: {len(report['columns'])} implementations × {len(report['rows'])} ops in "
          f"{time.perf_counter() - t0:.1f} s; wrote {html_path} and {json_path}")
    return 1 if bad else 0


def main_report_compare(args, split=lambda v: list(v or [])) -> int:
    """``gradspec report --impl A --impl B ...``: the comparison of those implementations (:func:`main_compare`),
    with ``report``'s options read as ``compare``'s: ``--quick`` is one example per op and oracle, ``--oracle``
    and ``--ops`` as given (default: :data:`gradspec.profiles.DEFAULT_ORACLES`, every op), ``--out`` default
    ``reports/out/compare``. Experiments belong to the single-implementation report: ``--experiments`` is a usage
    error (exit 2)."""
    if getattr(args, "experiments", None):
        print("gradspec report: --experiments runs on one implementation; with several --impl the report is the "
              f"comparison (gradspec compare), which runs none (got --impl {' --impl '.join(args.impl)})", file=sys.stderr)
        return 2
    import argparse

    return main_compare(argparse.Namespace(impl=list(args.impl), out=args.out, oracle=args.oracle, ops=args.ops,
                                           seed=args.seed, examples=1 if args.quick else None, profile="dev",
                                           timeout=None), split)
