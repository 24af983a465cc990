"""The state of one conformance run: the implementation, the cached results, the xfail list.

Imported only when conformance tests are collected (never by the plugin's
module import), so an ordinary pytest run of another project pays nothing.
One :class:`ConformanceSession` lives in ``config.stash``; every test of an op
reads the same :func:`gradspec.runner.check` result, computed once per op with
all the selected oracles (so the random streams, hence the verdicts, are those
of ``gradspec check --seed S --oracle ...``).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from .. import __version__
from ..impl import ENV_VAR, Implementation, ImplementationError, load
from ..results import CheckResult, OpResult

#: Name of the test with no per-check split: an oracle that does not declare its checks.
ALL_CHECKS = "all"


def checks_of(oracle_module, op) -> tuple[str, ...]:
    """Check names an oracle declares for ``op``: its ``checks_for(op)``, else its ``CHECKS[op.kind]``,
    else ``("all",)`` (one test for every check of the op)."""
    per_op = getattr(oracle_module, "checks_for", None)
    if callable(per_op):
        names = tuple(per_op(op))
        if names:
            return names
    table = getattr(oracle_module, "CHECKS", None)
    if isinstance(table, dict) and table.get(op.kind):
        return tuple(table[op.kind])
    return (ALL_CHECKS,)


def split_names(values, default) -> list[str]:
    out = []
    for v in values or []:
        out += [p for p in str(v).replace(",", " ").split() if p]
    return out or list(default)


@dataclass
class XfailEntry:
    text: str
    lineno: int
    matched: int = 0


def read_xfails(path: str) -> list[XfailEntry]:
    """Entries of an xfail file: one op name or test id per line, ``#`` starts a comment.

    Raises ``FileNotFoundError`` naming the file.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"--gradspec-xfails: no such file: {path}")
    entries = []
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            text = line.split("#", 1)[0].strip()
            if text:
                entries.append(XfailEntry(text, lineno))
    return entries


def entry_matches(entry: str, op: str, param_id: str, name: str, nodeid: str) -> bool:
    """An xfail line names an op, a parameter id (``op-oracle-check``), a test name or a node id."""
    return entry in (op, param_id, name, nodeid) or nodeid.endswith("::" + entry)


class ConformanceSession:
    """Loads the implementation once and runs each op once, on demand."""

    def __init__(self, impl_spec: str | None, oracles, seed: int, profile: str, style: str | None = None,
                 mapping: str | None = None, limits: str | None = None):
        self.impl_spec = impl_spec
        self.limits = limits  # a JSON file of declared limits (gradspec.limits); None: the implementation's own
        self.style, self.mapping = style, mapping  # code in another style: wrapped by gradspec.adapters.kits
        self.oracles = list(oracles)
        self.seed = int(seed)
        self.profile = profile
        self._impl: Implementation | None = None
        self._load_error: str | None = None
        self._results: dict[str, OpResult] = {}

    # -- implementation
    @property
    def impl(self) -> Implementation:
        if self._impl is None and self._load_error is None:
            try:
                self._impl = self._load()
            except ImplementationError as exc:
                self._load_error = str(exc)
        if self._impl is None:
            raise ImplementationError(self._load_error)
        return self._impl

    def _load(self) -> Implementation:
        if not (self.style or self.mapping):
            return load(self.impl_spec)
        from ..adapters import kits

        from .. import limits

        try:  # the kit as gradspec check and gradspec report build it
            return Implementation.wrap(kits.load_kit(self.impl_spec, self.style, self.mapping, self.limits))
        except limits.LimitsError as exc:
            raise ImplementationError(str(exc)) from None

    def resolved_name(self) -> str:
        return self.impl_spec or os.environ.get(ENV_VAR) or "gradspec.reference"

    def header(self) -> list[str]:
        try:
            impl = self.impl
            version = impl.version or "none declared"
            what = f"implementation {impl.name} (version: {version})"
        except ImplementationError as exc:
            what = f"implementation {self.resolved_name()}: cannot load: {exc}"
        lines = [f"gradspec {__version__} conformance: {what}",
                 f"gradspec conformance: oracles {', '.join(self.oracles)} | profile {self.profile} | seed {self.seed}"]
        try:
            from .. import limits

            declared, source = limits.resolve(self.impl.obj, None if (self.style or self.mapping) else self.limits)
            if declared:
                lines.append(f"gradspec conformance: checked within declared limits: {limits.describe(declared)} (from {source})")
        except (ImplementationError, ValueError) as exc:
            lines.append(f"gradspec conformance: bad limits: {exc}")
        return lines

    # -- results
    def result(self, op: str) -> OpResult:
        if op not in self._results:
            from .. import check

            if self.style or self.mapping:
                from ..adapters.kits import check  # noqa: F811 - a kit may narrow an op (network style)
            from ..limits import LimitsError

            kit = bool(self.style or self.mapping)  # a kit holds the --gradspec-limits file among its own limits
            try:
                self._results[op] = check(self.impl.obj if kit else self.impl, ops=[op], oracles=self.oracles,
                                          seed=self.seed, profile=self.profile,
                                          limits=None if kit else self.limits).ops[op]
            except LimitsError as exc:
                raise ImplementationError(f"bad limits: {exc}") from None
        return self._results[op]


    def warnings(self) -> dict[str, str]:
        """Op -> the message of its ``protocol/warnings`` check, for the ops run so far that raised warnings."""
        return {op: c.message for op, r in self._results.items() for c in r.checks
                if c.oracle == "protocol" and c.check == "warnings"}


def format_check(op: str, c: CheckResult, max_findings: int = 8) -> str:
    """A failing check as text: message, worst error, findings, diagnosis (if any), reproducer."""
    lines = [f"{op} [{c.oracle}/{c.check}] {c.status.upper()}: {c.message}"]
    if c.worst_error is not None and c.status != "error":  # an error was not judged: no ratio to show
        lines.append(f"  worst error {c.worst_error:.4g}× the tolerance over {c.examples} example(s)")
    shown = [f for f in c.findings if f.message != c.message][:max_findings]
    if shown:
        lines.append("  findings:")
        lines += [f"    - {f.message}" for f in shown]
    if len(c.findings) > len(shown) + 1:
        lines.append(f"    ... ({len(c.findings)} findings in all)")
    seen = []
    for source in [c.info] + [f.details for f in c.findings]:  # the diagnosis, where an area adds one
        for key in ("diagnosis", "diagnoses"):
            d = source.get(key) if isinstance(source, dict) else None
            text = d if isinstance(d, str) else repr(d) if d else None
            if text and text not in seen:
                seen.append(text)
                lines.append(f"  {key}: {text}")
    repro = next((f.details.get("reproducer") for f in c.findings if f.details.get("reproducer")), None)
    if repro:
        lines.append("  reproducer:")
        lines += ["    " + line for line in repro.splitlines()]
    return "\n".join(lines)
