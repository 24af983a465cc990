"""Conformance tests: every op of the registry × every check of the selected oracles.

Run with ``pytest --pyargs gradspec.conformance --gradspec-impl MODULE`` (see
:mod:`gradspec.conformance.plugin` for the options). The tests are generated
from the registry, so a new op or oracle gets its tests without editing this
file. Each op is checked once (all selected oracles together, the same random
streams as ``gradspec check``); each of its checks is one test.
"""
from __future__ import annotations

import pytest

from gradspec import oracles as oracle_registry, registry
from gradspec.conformance.plugin import MARKER, session
from gradspec.conformance.session import ALL_CHECKS, checks_of, format_check, split_names
from gradspec.impl import ImplementationError
from gradspec.profiles import DEFAULT_ORACLES


def pytest_generate_tests(metafunc):
    if "gradspec_case" not in metafunc.fixturenames:
        return
    names = split_names(metafunc.config.getoption("gradspec_oracle"), DEFAULT_ORACLES)
    unknown = [n for n in names if n not in oracle_registry.ORACLES]
    if unknown:
        raise pytest.UsageError(f"--gradspec-oracle: unknown oracle(s) {unknown}; known: {', '.join(oracle_registry.ORACLES)}")
    params = []
    for op in registry.OPS:
        for name in names:
            mod = oracle_registry.get(name)
            if not mod.applies(op):
                continue  # the oracle has nothing to say about this op: no test rather than a skip
            for check in checks_of(mod, op):
                params.append(pytest.param((op.name, name, check), id=f"{op.name}-{name}-{check}",
                                           marks=getattr(pytest.mark, MARKER)(op=op.name, oracle=name, check=check)))
    metafunc.parametrize("gradspec_case", params)


def test_conformance(request, gradspec_case):
    op_name, oracle, check = gradspec_case
    s = session(request.config)
    try:
        result = s.result(op_name)
    except ImplementationError as exc:
        pytest.fail(f"cannot load the implementation: {exc}", pytrace=False)
    if result.status == "not_implemented":
        functions = ", ".join(registry.get(op_name).functions)
        pytest.skip(f"not implemented: {s.impl.name} provides none of {functions}")
    mine = [c for c in result.checks if c.oracle == oracle and (check == ALL_CHECKS or c.check == check)]
    declared = checks_of(oracle_registry.get(oracle), registry.get(op_name))
    if check == declared[0] and check != ALL_CHECKS:
        # a check the oracle produced but did not declare is asserted here, never silently dropped
        mine += [c for c in result.checks if c.oracle == oracle and c.check not in declared and c.check != "-"]
    whole = [c for c in result.checks if c.oracle == oracle and c.check == "-" and c.status == "not_applicable"]
    if not mine and whole:
        # the oracle did not run on the op as checked (declared limits it cannot keep to, a backward it needs)
        pytest.skip(f"not applicable: {whole[0].message}")
    if not mine:
        # the op is provided only in part (a protocol error), or the oracle crashed before this check
        others = [c for c in result.checks if c.status in ("fail", "error")]
        detail = "\n".join(format_check(op_name, c) for c in others) or "no result"
        pytest.fail(f"{op_name}: the {oracle} oracle produced no '{check}' check\n{detail}", pytrace=False)
    bad = [c for c in mine if c.status in ("fail", "error")]
    if bad:
        pytest.fail("\n\n".join(format_check(op_name, c) for c in bad), pytrace=False)
    missing = [c for c in mine if c.status == "not_implemented"]  # a forward-only op: its backward is not provided
    if missing:
        pytest.skip(f"not implemented: {missing[0].message}")
    if all(c.status == "not_applicable" and _held_back(c) for c in mine):
        # nothing was checked, for want of a function or because of the declared limits: a skip that says why
        pytest.skip(f"not applicable: {mine[0].message}")
    assert all(c.status in ("pass", "not_applicable") for c in mine), [c.status for c in mine]


def _held_back(c) -> bool:
    """A not-applicable check that names what held it back: a missing function or the declared limits."""
    return bool(c.info.get("needs") or c.info.get("reason") or c.info.get("outside_limits"))
