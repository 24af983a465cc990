"""gradspec's pytest plugin (``pytest11`` entry point ``gradspec``): conformance tests for any implementation.

Run the conformance suite against an implementation::

    pytest --pyargs gradspec.conformance --gradspec-impl my_layers
    GRADSPEC_IMPL=my_layers pytest --pyargs gradspec.conformance
    pytest --pyargs gradspec.conformance --gradspec-impl gradspec.adapters.torch_impl \\
        --gradspec-seed 3 --gradspec-oracle fd64 --gradspec-profile ci --gradspec-xfails known.txt
    pytest --pyargs gradspec.conformance --gradspec-impl my_code --gradspec-style cache [--gradspec-mapping map.json]

One test per op × oracle check (``test_conformance[affine-fd64-backward]``);
a failure shows the findings and a copy-paste reproducer. Ops the
implementation does not provide are *skipped* with the reason
"not implemented" (an op that is provided in part fails). The header names the
implementation, its version (``__version__``/``version``/``VERSION``, if any),
gradspec's version, the oracles, the profile and the seed. Warnings the
implementation raises inside its calls are listed, one line per op, in a
section of the terminal summary.

``--gradspec-xfails FILE``: known failures, one per line, each an op name
(``conv2d``: all its tests), a parameter id (``conv2d-fd64-backward``), a test
name or a node id; ``#`` starts a comment. Matching tests are marked xfail
(non-strict: a listed test that passes is reported XPASS, so the list can be
pruned); a line that matches no collected test is reported as a warning.

This module is imported by *every* pytest run in an environment where gradspec
is installed, so it imports nothing heavy and does nothing unless conformance
tests are collected: it only adds options, registers its marker, and prints its
header when the run was asked for ``gradspec.conformance``.
"""
from __future__ import annotations

import os
import warnings

import pytest

from ..profiles import DEFAULT_ORACLES

CONFORMANCE_DIR = os.path.dirname(os.path.abspath(__file__))
MARKER = "gradspec_conformance"
_SESSION = pytest.StashKey()


class GradspecXfailWarning(UserWarning):
    """A line of the --gradspec-xfails file that matches no collected conformance test."""


def pytest_addoption(parser):
    group = parser.getgroup("gradspec", "gradspec conformance tests (pytest --pyargs gradspec.conformance)")
    group.addoption("--gradspec-impl", metavar="MODULE", default=None,
                    help="implementation to test: MODULE, MODULE:OBJECT or file.py "
                         "(default: $GRADSPEC_IMPL, else gradspec.reference)")
    group.addoption("--gradspec-seed", metavar="N", type=int, default=0, help="seed of every random draw (default 0)")
    group.addoption("--gradspec-oracle", metavar="NAME", action="append", default=None,
                    help=f"oracle to run (repeatable or comma-separated; default: {', '.join(DEFAULT_ORACLES)}, "
                         "as for gradspec check)")
    group.addoption("--gradspec-profile", choices=["dev", "ci", "thorough"], default="dev",
                    help="example counts: dev (default), ci (3x), thorough (10x)")
    group.addoption("--gradspec-xfails", metavar="FILE", default=None,
                    help="known failures: one op or test id per line, '#' comments")
    group.addoption("--gradspec-style", choices=["cache", "layers", "network"], default=None,
                    help="the implementation is written in this style; an adapter kit wraps it (gradspec.adapters.kits)")
    group.addoption("--gradspec-mapping", metavar="FILE", default=None,
                    help="JSON mapping for the adapter kit (which function or class is which op)")
    group.addoption("--gradspec-limits", metavar="FILE", default=None,
                    help="JSON {op: {hyperparameter: limit}}: what the implementation supports; its ops are sampled "
                         "within it (default: the implementation's __gradspec_limits__)")


def pytest_configure(config):
    config.addinivalue_line("markers", f"{MARKER}: a gradspec conformance test (op × oracle check)")


def requested(config) -> bool:
    """Whether this run was asked for the conformance suite (by package name or path)."""
    for arg in config.args:
        base = str(arg).split("::", 1)[0]
        if base == "gradspec.conformance" or base.startswith("gradspec.conformance."):
            return True
        path = os.path.abspath(base)
        if path == CONFORMANCE_DIR or path.startswith(CONFORMANCE_DIR + os.sep):
            return True
    return False


def session(config):
    """The run's :class:`~gradspec.conformance.session.ConformanceSession` (created on first use)."""
    s = config.stash.get(_SESSION, None)
    if s is None:
        from .session import ConformanceSession, split_names

        s = ConformanceSession(config.getoption("gradspec_impl"), split_names(config.getoption("gradspec_oracle"), DEFAULT_ORACLES),
                               config.getoption("gradspec_seed"), config.getoption("gradspec_profile"),
                               style=config.getoption("gradspec_style"), mapping=config.getoption("gradspec_mapping"),
                               limits=config.getoption("gradspec_limits"))
        config.stash[_SESSION] = s
    return s


def pytest_report_header(config):
    if not requested(config):
        return None
    return session(config).header()


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """The warnings the implementation raised inside its calls: one line per op, never a verdict (a warning is not
    a wrong result). Printed by the process that ran the tests (with pytest-xdist, each worker's are not shown)."""
    s = config.stash.get(_SESSION, None)
    if s is None or not requested(config):
        return
    warned = s.warnings()
    if warned:
        terminalreporter.section("gradspec: warnings inside the implementation's calls")
        for op, message in warned.items():
            terminalreporter.write_line(f"{op}: {message}")


def pytest_collection_modifyitems(session, config, items):
    path = config.getoption("gradspec_xfails")
    if not path:
        return  # the ordinary case: nothing to do, whatever was collected
    conformance = [item for item in items if item.get_closest_marker(MARKER) is not None]
    from .session import entry_matches, read_xfails

    try:
        entries = read_xfails(path)
    except FileNotFoundError as exc:
        raise pytest.UsageError(str(exc)) from None
    for item in conformance:
        op = item.get_closest_marker(MARKER).kwargs["op"]
        param_id = item.callspec.id if hasattr(item, "callspec") else ""
        for e in entries:
            if entry_matches(e.text, op, param_id, item.name, item.nodeid):
                e.matched += 1
                item.add_marker(pytest.mark.xfail(reason=f"listed in {path}:{e.lineno} ({e.text})", strict=False))
                break
    for e in entries:
        if not e.matched:
            warnings.warn(GradspecXfailWarning(
                f"{path}:{e.lineno}: {e.text!r} matches no collected conformance test "
                f"(expected an op name, a parameter id such as 'affine-fd64-backward', a test name or a node id)"))
