"""The pytest plugin and the conformance suite, run the way a user runs them,
``pytest --pyargs gradspec.conformance --gradspec-impl MODULE``, with the plugin loaded
through its ``pytest11`` entry point: two runs in a fresh interpreter (subprocess), the
others in-process through ``pytester`` (a new pytest session each, 1-2 s cheaper).
"""
from __future__ import annotations

import collections
import os
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET

import pytest

import gradspec
import gradspec.conformance.session  # noqa: F401
import gradspec.conformance.test_conformance as _conformance_module  # noqa: F401
import gradspec.mpmath_oracle.oracle  # noqa: F401
import gradspec.oracles.fd64  # noqa: F401
import gradspec.profiles  # noqa: F401
import gradspec.reference  # noqa: F401
import gradspec.runner  # noqa: F401
from gradspec import oracles as oracle_registry, registry
from gradspec.conformance.session import checks_of
from gradspec.profiles import DEFAULT_ORACLES

# The imports above pin the modules an in-process conformance run uses: pytester restores
# sys.modules after each in-process run, which would otherwise drop (and later re-import as
# new objects) any module first imported inside it.

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.cli

MUTANT = '''
from gradspec.reference import *  # noqa: F401,F403
from gradspec.reference import affine_backward as _affine_backward
__version__ = "1.2.3"

def affine_backward(x, W, b, dy):
    dx, dW, db = _affine_backward(x, W, b, dy)
    return dx, 2.0 * dW, db  # the bug
'''

PARTIAL = '''
from gradspec.reference import relu_forward, relu_backward, affine_backward  # affine without its forward
from gradspec.reference import mse_forward  # mse forward only
'''


def expected_tests(oracles=DEFAULT_ORACLES) -> int:
    mods = [oracle_registry.get(o) for o in oracles]
    return sum(len(checks_of(m, op)) for op in registry.OPS for m in mods if m.applies(op))


def n_checks(op: str, oracles=DEFAULT_ORACLES) -> int:
    """Conformance tests of one op: one per check of every oracle that applies to it."""
    mods = [oracle_registry.get(o) for o in oracles]
    return sum(len(checks_of(m, registry.get(op))) for m in mods if m.applies(registry.get(op)))


def run_pytest(cwd, *args, env=None):
    """A fresh interpreter: what a user's shell does. Returns the exit code, the output and the outcome of every
    test, read from the JUnit XML report (a structured record, not the console's wording)."""
    full_env = {k: v for k, v in os.environ.items() if k != "GRADSPEC_IMPL"}
    full_env.update(env or {})
    xml = os.path.join(str(cwd), "outcomes.xml")
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", f"--junitxml={xml}", *args],
                          cwd=cwd, env=full_env, capture_output=True, text=True, timeout=300)
    return proc.returncode, proc.stdout + proc.stderr, junit_outcomes(xml)


def junit_outcomes(path) -> dict[str, str]:
    """Test name -> passed | failed | skipped, from a JUnit XML report."""
    out = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        kinds = {child.tag for child in case}
        out[case.get("name")] = ("failed" if kinds & {"failure", "error"} else "skipped" if "skipped" in kinds
                                 else "passed")
    return out


def tally(outcomes: dict[str, str]) -> dict[str, int]:
    return dict(collections.Counter(outcomes.values()))


@pytest.fixture
def run_inprocess(pytester, monkeypatch):
    """A new pytest session in this process, in pytester's temporary directory; returns the exit code, the output
    and pytester's RunResult (its ``parseoutcomes()`` and hook recorder are pytest's structured record)."""
    monkeypatch.delenv("GRADSPEC_IMPL", raising=False)

    def run(*args, env=None):
        for k, v in (env or {}).items():
            monkeypatch.setenv(k, v)
        result = pytester.runpytest_inprocess("-p", "no:cacheprovider", *args)
        return int(result.ret), "\n".join(result.outlines + result.errlines), result

    return run


def counts(result) -> dict[str, int]:
    """Outcome counts of a pytester run (``parseoutcomes``), without the warnings count."""
    return {k: v for k, v in result.parseoutcomes().items() if k not in ("warning", "warnings")}


def failed_names(result) -> list[str]:
    return sorted(rep.nodeid.rpartition("::")[2] for rep in result.reprec.getreports("pytest_runtest_logreport")
                  if rep.failed)


_counter = iter(range(10**6))


@pytest.fixture
def impls(pytester):
    """A mutant and a partial implementation, under names unique to this test (in-process imports are cached)."""
    n = next(_counter)
    names = {"mutant": f"gs_mutant_{n}", "partial": f"gs_partial_{n}"}
    pytester.makepyfile(**{names["mutant"]: MUTANT, names["partial"]: PARTIAL})
    pytester.syspathinsert()
    return names


def test_plugin_import_is_cheap():
    code = ("import sys, gradspec.conformance.plugin; "
            "print(sorted(m for m in ('numpy', 'torch', 'sympy', 'gradspec.registry', 'gradspec.runner') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_plugin_leaves_an_ordinary_run_alone(tmp_path):
    # the plugin is loaded through its entry point (the test asks pytest's plugin manager) ...
    (tmp_path / "test_plain.py").write_text("def test_one(pytestconfig):\n"
                                            "    assert pytestconfig.pluginmanager.has_plugin('gradspec')\n")
    rc, out, outcomes = run_pytest(tmp_path, "-v", env={"GRADSPEC_IMPL": "gs_mutant"})
    assert rc == 0, out
    assert "conformance" not in out  # ... but prints no header and adds no tests
    assert outcomes == {"test_one": "passed"}


def test_reference_passes_every_conformance_test_and_the_header_names_it(tmp_path):
    rc, out, outcomes = run_pytest(tmp_path, "--pyargs", "gradspec.conformance", "--gradspec-seed", "5")
    assert rc == 0, out
    assert tally(outcomes) == {"passed": expected_tests()}
    assert f"gradspec {gradspec.__version__} conformance: implementation gradspec.reference (version: none declared)" in out
    assert "seed 5" in out and f"oracles {', '.join(DEFAULT_ORACLES)}" in out
    for op in registry.OPS:
        assert any(name.startswith(f"test_conformance[{op.name}-fd64-") for name in outcomes), op.name


def test_a_mutant_fails_exactly_its_op_with_findings_and_a_reproducer(impls, run_inprocess):
    mutant = impls["mutant"]
    rc, out, res = run_inprocess("--pyargs", "gradspec.conformance", "--gradspec-impl", mutant)
    assert rc == 1, out
    assert counts(res) == {"failed": 2, "passed": expected_tests() - 2}  # the doubled dW: both default oracles
    assert failed_names(res) == ["test_conformance[affine-fd64-backward]", "test_conformance[affine-mpmath-backward]"]
    assert "affine [fd64/backward] FAIL: affine: dW[" in out
    assert "reproducer:" in out and f"import {mutant} as impl" in out and "print(impl.affine_backward(x, W, b, dy))" in out
    assert f"implementation {mutant} (version: 1.2.3)" in out


def test_xfail_file_from_the_environment_variable_and_unmatched_lines_warn(impls, run_inprocess, pytester):
    pytester.makefile(".txt", known=textwrap.dedent("""\
        # known failures of the mutant
        affine-fd64-backward   # the doubled dW
        relu                   # an op name: all its tests (they pass: XPASS)
        nosuchop
        test_conformance[sigmoid-fd64-sideways]
    """))
    rc, out, res = run_inprocess("--pyargs", "gradspec.conformance", "--gradspec-xfails", "known.txt", "-rxX",
                                 "--gradspec-oracle", "fd64", env={"GRADSPEC_IMPL": impls["mutant"]})
    assert rc == 0, out  # the only failure is a known one
    c = counts(res)
    n_relu = n_checks("relu", ["fd64"])
    assert c["xfailed"] == 1 and c["xpassed"] == n_relu and c["passed"] == expected_tests(["fd64"]) - 1 - n_relu, out
    xfailed = {rep.nodeid.rpartition("::")[2]: rep.wasxfail for rep in res.reprec.getreports("pytest_runtest_logreport")
               if rep.skipped and hasattr(rep, "wasxfail")}
    assert list(xfailed) == ["test_conformance[affine-fd64-backward]"]
    assert "listed in known.txt:2 (affine-fd64-backward)" in xfailed["test_conformance[affine-fd64-backward]"]
    assert "known.txt:4: 'nosuchop' matches no collected conformance test" in out
    assert "known.txt:5: 'test_conformance[sigmoid-fd64-sideways]' matches no collected conformance test" in out
    assert "'relu' matches no" not in out and "known.txt:2: " not in out
    assert f"implementation {impls['mutant']}" in out


def test_ops_the_implementation_lacks_are_skipped_and_a_partial_op_fails(impls, run_inprocess):
    partial = impls["partial"]
    rc, out, res = run_inprocess("--pyargs", "gradspec.conformance", "--gradspec-impl", partial,
                                 "-k", "relu or affine or sigmoid or mse", "-rs")
    assert rc == 1, out
    c = counts(res)
    # -k matches substrings: every op whose name holds one of the words is selected (leaky_relu with relu)
    lacking = [op.name for op in registry.OPS if any(w in op.name for w in ("relu", "affine", "sigmoid", "mse"))
               and op.name not in ("relu", "affine", "mse")]
    assert "sigmoid" in lacking
    # mse is forward only: its forward checks pass, its backward checks are skipped as not implemented
    mse_forward_checks = 2  # fd64/forward, mpmath/forward
    assert c["passed"] == n_checks("relu") + mse_forward_checks and c["failed"] == n_checks("affine"), out
    assert c["skipped"] == sum(n_checks(op) for op in lacking) + n_checks("mse") - mse_forward_checks, out
    assert f"not implemented: {partial} provides none of sigmoid_forward, sigmoid_backward" in out
    assert "missing affine_forward" in out
    assert "not implemented: backward not provided: mse's mse_backward" in out


@pytest.mark.parametrize("args, message", [
    (["--gradspec-xfails", "no_such_file.txt"], "--gradspec-xfails: no such file: no_such_file.txt"),
    (["--gradspec-oracle", "fd64,nosuch"], "unknown oracle(s) ['nosuch']"),
])
def test_usage_errors(run_inprocess, args, message):
    rc, out, _ = run_inprocess("--pyargs", "gradspec.conformance", *args)
    assert rc in (2, 4), out
    assert message in out


def test_an_implementation_that_cannot_be_imported_fails_every_test_with_the_reason(run_inprocess):
    rc, out, res = run_inprocess("--pyargs", "gradspec.conformance", "--gradspec-impl", "no_such_module_gs", "-k", "relu")
    assert rc == 1, out
    assert "implementation no_such_module_gs: cannot load" in out
    assert counts(res)["failed"] == sum(n_checks(op.name) for op in registry.OPS if "relu" in op.name)  # -k: substrings
    assert "cannot load the implementation" in out


@pytest.mark.torch
def test_the_torch_adapter_passes_the_conformance_suite(tmp_path):
    torch = pytest.importorskip("torch", reason="torch is an optional extra: pip install torch==2.13.0")
    # a fresh interpreter: pytester's in-process runs drop the modules they import afterwards,
    # and torch does not survive being imported twice in one process
    rc, out, outcomes = run_pytest(tmp_path, "--pyargs", "gradspec.conformance", "--gradspec-impl",
                                   "gradspec.adapters.torch_impl")
    assert rc == 0, out
    assert tally(outcomes) == {"passed": expected_tests()}
    assert f"implementation gradspec.adapters.torch_impl (version: torch {torch.__version__})" in out


PAD_ZERO = '''
from gradspec.reference import max_pool2d_forward as _fwd, max_pool2d_backward as _bwd

def max_pool2d_forward(x, kernel, stride, pad):
    if pad != 0:
        raise ValueError("padding is not supported")
    return _fwd(x, kernel, stride, pad)

def max_pool2d_backward(x, kernel, stride, pad, dy):
    if pad != 0:
        raise ValueError("padding is not supported")
    return _bwd(x, kernel, stride, pad, dy)
'''


def test_declared_limits_in_the_plugin(pytester, run_inprocess):
    name = f"gs_pad_zero_{next(_counter)}"
    pytester.makepyfile(**{name: PAD_ZERO})
    pytester.syspathinsert()
    args = ("--pyargs", "gradspec.conformance", "--gradspec-impl", name, "--gradspec-oracle", "fd64", "-k", "max_pool2d")
    rc, out, res = run_inprocess(*args)
    assert rc == 1 and counts(res)["failed"] >= 1, out  # undeclared: the padded samples fail
    limits = pytester.path / "limits.json"
    limits.write_text('{"max_pool2d": {"pad": 0}}')
    rc, out, res = run_inprocess(*args, "--gradspec-limits", str(limits))
    assert rc == 0 and counts(res)["passed"] == n_checks("max_pool2d", ["fd64"]) and "failed" not in counts(res), out
    assert "checked within declared limits: max_pool2d pad = 0 (from limits file" in out
    limits.write_text('{"max_pool2d": {"pad": -1}}')
    rc, out, res = run_inprocess(*args, "--gradspec-limits", str(limits))
    assert rc == 1 and "bad limits" in out, out


def test_a_forward_only_loss_that_forgets_the_mean_fails_its_forward_test(pytester, run_inprocess):
    name = f"gs_mse_sum_{next(_counter)}"
    pytester.makepyfile(**{name: "import numpy as np\n\ndef mse_forward(y, t):\n"
                                 "    return 0.5 * float(np.sum((np.asarray(y) - np.asarray(t)) ** 2))\n"})
    pytester.syspathinsert()
    rc, out, res = run_inprocess("--pyargs", "gradspec.conformance", "--gradspec-impl", name, "--gradspec-oracle", "fd64",
                                 "-k", "mse and not binary", "-rs")
    assert rc == 1, out
    assert failed_names(res) == ["test_conformance[mse-fd64-forward]"], out
    assert counts(res)["skipped"] == n_checks("mse", ["fd64"]) - 1 and "backward not provided" in out


@pytest.mark.symbolic
def test_oracles_that_cannot_run_on_a_limited_or_forward_only_op_skip_with_the_reason(pytester, run_inprocess):
    name = f"gs_pad_zero_fwd_{next(_counter)}"
    pytester.makepyfile(**{name: PAD_ZERO + "\nfrom gradspec.reference import softmax_forward\n"
                                            "__gradspec_limits__ = {'max_pool2d': {'pad': 0}}\n"})
    pytester.syspathinsert()
    rc, out, res = run_inprocess("--pyargs", "gradspec.conformance", "--gradspec-impl", name, "--gradspec-oracle",
                                 "properties,symbolic", "-k", "max_pool2d or (softmax and not cross)", "-rs")
    assert rc == 0 and "failed" not in counts(res), out
    # symbolic on softmax: needs softmax_backward
    assert "not applicable: symbolic checks the forward and the backward of softmax together; needs softmax_backward" in out
    # max_pool2d: symbolic's forward and backward pass within the limits (its exact check is not applicable to code
    # that rejects SymPy symbols, which passes as before), and every property passes on samples within them
    assert counts(res)["passed"] == n_checks("max_pool2d", ["symbolic", "properties"]), out
