"""Bounded time on misbehaving implementations, and every distinct Hypothesis failure reported.

A function that hangs is called once per run, whichever oracles run; the properties oracle calls the
implementation through the run's Implementation; shrinking has a time budget; several distinct
failures of one property are several findings, each with its falsifying example; no ``.hypothesis/``
is written into the working directory. (Wall times are measured by
``benchmarks/bench_verdict_time.py``, not here.)
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from types import SimpleNamespace

import numpy as np
import pytest

import gradspec
from gradspec import reference as ref
from gradspec.cli import main as cli_main
from gradspec.conformance.session import format_check
from gradspec.impl import CallFailed, GuardedImplementation, Implementation
from gradspec.properties import oracle as prop_oracle
from gradspec.properties import suite
from gradspec.properties.mutants import MUTANTS
from gradspec.reports.build import verification_matrix

if sys.version_info < (3, 11):  # pragma: no cover - the backport Hypothesis depends on
    from exceptiongroup import ExceptionGroup

ALL_ORACLES = ["fd64", "mpmath", "symbolic", "properties"]


@pytest.fixture
def release():
    """An event that parks 'hanging' calls; set at teardown so their threads end."""
    ev = threading.Event()
    yield ev
    ev.set()


def _relu_impl(backward, name="test impl"):
    ns = SimpleNamespace(relu_forward=ref.relu_forward, relu_backward=backward)
    ns.__name__ = name
    return ns


def _timeouts(result, fn):
    return [(c.oracle, c.check, f) for c in result.ops["relu"].checks for f in c.findings
            if f.kind == "timeout" and f.details.get("function") == fn]


# --------------------------------------------------------------------------- one timeout per hanging function per run
def test_a_hanging_function_is_called_once_by_all_four_oracles(release):
    calls = []

    def relu_backward(x, dy):
        calls.append(1)
        release.wait(60)

    result = gradspec.check(_relu_impl(relu_backward), ops=["relu"], oracles=ALL_ORACLES, timeout=0.3, examples=2)
    assert len(calls) == 1
    assert result.ops["relu"].status == "error"
    found = _timeouts(result, "relu_backward")
    assert {o for o, _, _ in found} == set(ALL_ORACLES)  # every oracle reports the timeout
    first = [f for _, _, f in found if not f.details["repeated"]]
    assert len(first) == 1 and first[0].details["timeout_s"] == pytest.approx(0.9)  # 3x for the first call
    assert all(f.details["timeout_s"] == pytest.approx(0.9) for _, _, f in found)  # the same finding for every later call
    # checks that need only the forward still run and pass
    fwd = [c for c in result.ops["relu"].checks if (c.oracle, c.check) in (("fd64", "forward"), ("properties", "forward_matches_spec[away]"))]
    assert len(fwd) == 2 and all(c.status == "pass" for c in fwd)


def test_a_correct_implementation_through_the_same_path_passes():
    result = gradspec.check(_relu_impl(ref.relu_backward), ops=["relu"], oracles=["fd64", "properties"], timeout=5, examples=2)
    assert result.ops["relu"].status == "pass"
    assert not _timeouts(result, "relu_backward")


def test_the_properties_oracle_calls_through_the_runs_implementation(release):
    """A function that hung for fd64 is not called again by the properties (nor by their agrees_with_* oracles)."""
    calls = []

    def relu_backward(x, dy):
        calls.append(1)
        release.wait(60)

    impl = Implementation("test impl", _relu_impl(relu_backward), timeout=0.2)
    first = gradspec.check(impl, ops=["relu"], oracles=["fd64"])
    assert len(calls) == 1 and _timeouts(first, "relu_backward")
    later = gradspec.check(impl, ops=["relu"], oracles=["properties"], examples=2)
    assert len(calls) == 1
    props = _timeouts(later, "relu_backward")
    assert props and all(f.details["repeated"] for _, _, f in props)
    assert any(chk.startswith("agrees_with_") for _, chk, _ in props)


def test_guarded_implementation_behaves_like_the_object(release):
    def boom(x):
        raise ValueError("bad x")

    def hang(x):
        release.wait(60)

    ns = SimpleNamespace(double=lambda x: 2 * x, boom=boom, hang=hang, CONSTANT=3, __version__="1.2")
    impl = Implementation("ns", ns, timeout=0.1)
    g = impl.guarded()
    assert isinstance(g, GuardedImplementation) and Implementation.wrap(g) is impl and impl.guarded() is g
    assert g.double(4) == 8 and g.CONSTANT == 3 and g.__version__ == "1.2"
    assert getattr(g, "missing", None) is None
    with pytest.raises(ValueError, match="bad x"):  # the implementation's own exception
        g.boom(1)
    with pytest.raises(CallFailed) as first:
        g.hang(1)
    with pytest.raises(CallFailed) as again:
        g.hang(1)
    assert first.value.finding.kind == again.value.finding.kind == "timeout"
    assert (first.value.finding.details["repeated"], again.value.finding.details["repeated"]) == (False, True)
    with pytest.raises(AttributeError):
        g.double = None


def test_a_hang_on_symbolic_input_is_not_a_hang_on_floats(release):
    """The symbolic oracle's call on SymPy symbols has its own hang key: the float calls go on."""
    def relu_backward(x, dy):
        if np.asarray(x).dtype == object:
            release.wait(60)
        return ref.relu_backward(x, dy)

    impl = Implementation("test impl", _relu_impl(relu_backward), timeout=0.3)
    sym = gradspec.check(impl, ops=["relu"], oracles=["symbolic"])
    assert sym.ops["relu"].status == "pass"
    assert "relu_backward" not in impl.hung and len(impl.hung) == 1
    assert gradspec.check(impl, ops=["relu"], oracles=["fd64"]).ops["relu"].status == "pass"


# --------------------------------------------------------------------------- shrinking budget
def _mutant(name):
    return next(m for m in MUTANTS if m.name == name)


def test_shrink_budget_keeps_the_latest_failure_of_each_origin():
    def prop(sample):
        if sample == "other":
            raise ValueError("another bug")
        if sample != "ok":
            raise AssertionError(f"{sample} fails")

    b = suite.ShrinkBudget(3600, min_calls=2)
    run = b.around(prop)
    run("ok")  # nothing failed yet
    for sample in ("big sample", "other", "smaller sample"):
        with pytest.raises((AssertionError, ValueError)):
            run(sample)
    run("ok")  # within the budget
    b.expire()
    with pytest.raises(suite.BudgetSpent):
        run("ok")
    with pytest.raises(ExceptionGroup) as group:
        b.raise_failures()
    assert [str(e) for e in suite.failures(group.value)] == ["smaller sample fails", "another bug"]
    with pytest.raises(ValueError, match="shrink_seconds"):
        suite.ShrinkBudget(-1)


def test_shrink_budget_never_cuts_the_generation():
    calls = []

    def prop(sample):
        calls.append(sample)
        if sample == "bad":
            raise AssertionError("bad")

    b = suite.ShrinkBudget(0.0, min_calls=5)
    run = b.around(prop)
    with pytest.raises(AssertionError):
        run("bad")
    b.expire()
    for k in range(4):  # calls 2..5 (Hypothesis' generated examples) run, whatever the time
        run(f"ok {k}")
    with pytest.raises(suite.BudgetSpent):  # call 6 (shrinking) ends the run
        run("ok 5")
    assert len(calls) == 5


@pytest.mark.parametrize("seconds", [0.0, 0.5])
def test_budgeted_shrinking_reports_a_real_failure(seconds):
    prop = suite.get("relu", "convention", "on_kink")
    impl = _mutant("relu_prime_at_zero_is_one").impl
    with pytest.raises(AssertionError) as err:
        suite.check_property(prop, impl, max_examples=10, seed=1, database=None, shrink_seconds=seconds)
    example = err.value.gradspec_example
    with pytest.raises(AssertionError):  # the reported example fails when run again
        prop.check(impl, example)
    suite.check_property(prop, ref, max_examples=10, seed=1, database=None, shrink_seconds=seconds)  # no false alarm


def test_failures_flattens_exception_groups():
    a, b, c = ValueError("a"), AssertionError("b"), KeyError("c")
    group = ExceptionGroup("two", [a, ExceptionGroup("inner", [b, c])])
    assert suite.failures(group) == [a, b, c]
    assert suite.failures(a) == [a]


# --------------------------------------------------------------------------- every distinct failure reported
TWO_BUGS = '''
import numpy as np
from gradspec.reference import relu_forward


def relu_backward(x, dy):
    if np.ndim(x) == 1:
        raise ValueError("vectors are not supported")
    return 2.0 * dy * (x > 0)
'''


def test_two_distinct_bugs_in_one_property_are_two_findings(tmp_path, capsys):
    path = tmp_path / "two_bugs.py"
    path.write_text(TWO_BUGS)
    out = tmp_path / "result.json"
    status = cli_main(["check", "--impl", str(path), "--ops", "relu", "--oracle", "properties", "--examples", "10",
                       "--json", str(out)])
    text = capsys.readouterr().out
    assert status == 1
    data = json.loads(out.read_text())
    chk = next(c for c in data["ops"]["relu"]["checks"] if c["check"] == "gradient_fd64[away]")
    kinds = sorted(f["kind"] for f in chk["findings"])
    assert kinds == ["exception", "property"], chk["findings"]
    examples = {f["kind"]: f["details"]["falsifying_example"] for f in chk["findings"]}
    assert np.ndim(examples["exception"]["x"]) == 1  # each finding carries the sample that shows its own bug
    assert np.ndim(examples["property"]["x"]) >= 2
    exc = next(f for f in chk["findings"] if f["kind"] == "exception")
    assert exc["details"]["property"] == "relu:gradient_fd64[away]"
    for f in chk["findings"]:  # both visible in the CLI output
        assert f["message"].splitlines()[0][:60] in text

    result = gradspec.check(str(path), ops=["relu"], oracles=["properties"], examples=10)
    check = next(c for c in result.ops["relu"].checks if c.check == "gradient_fd64[away]")
    shown = format_check("relu", check)  # what the pytest plugin prints
    assert all(f.message.splitlines()[0] in shown for f in check.findings)
    cell = verification_matrix(result.to_dict(), ["properties"])[0]["cells"]["properties"]
    in_report = next(c for c in cell["checks"] if c["check"] == "gradient_fd64[away]")
    assert sorted(f["kind"] for f in in_report["findings"]) == ["exception", "property"]
    assert all(f["details"]["falsifying_example"] for f in in_report["findings"])


def test_one_bug_is_one_finding_and_the_reference_none():
    mutant = gradspec.check(_mutant("relu_prime_at_zero_is_one").impl, ops=["relu"], oracles=["properties"], examples=4)
    bad = [c for c in mutant.ops["relu"].checks if c.status == "fail"]
    assert bad and all(len(c.findings) == 1 and c.findings[0].details["falsifying_example"] for c in bad)
    good = gradspec.check(None, ops=["relu"], oracles=["properties"], examples=4)
    assert good.ops["relu"].status == "pass"
    assert not [f for c in good.ops["relu"].checks for f in c.findings]


# --------------------------------------------------------------------------- no .hypothesis/ in the working directory
LOCAL_IMPL = '''
from gradspec.reference import relu_forward, relu_backward
THRESHOLD = 0.125  # a constant Hypothesis would cache from a local file
'''


def test_check_writes_no_hypothesis_directory_into_the_working_directory(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    (work / "local_layers.py").write_text(LOCAL_IMPL)
    cache = tmp_path / "cache"
    env = {k: v for k, v in os.environ.items() if k != "HYPOTHESIS_STORAGE_DIRECTORY"}
    env[prop_oracle.DIR_ENV_VAR] = str(cache)
    proc = subprocess.run([sys.executable, "-m", "gradspec", "check", "--impl", "local_layers", "--ops", "relu",
                           "--oracle", "properties", "--examples", "2", "-q"], cwd=work, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert not (work / ".hypothesis").exists()
    assert set(os.listdir(work)) <= {"local_layers.py", "__pycache__"}


def test_hypothesis_storage_is_redirected_only_from_its_default(tmp_path, monkeypatch):
    from hypothesis import configuration

    def home():
        d = configuration.storage_directory()
        return os.fspath(getattr(d, "home_directory", d))

    before = home()
    monkeypatch.delenv("HYPOTHESIS_STORAGE_DIRECTORY", raising=False)
    monkeypatch.setenv(prop_oracle.DIR_ENV_VAR, str(tmp_path / "gradspec-cache"))
    try:
        configuration.set_hypothesis_home_dir(tmp_path / ".hypothesis")  # Hypothesis' default form
        with prop_oracle.hypothesis_storage():
            assert home() == str(tmp_path / "gradspec-cache")
        assert home() == str(tmp_path / ".hypothesis")
        configuration.set_hypothesis_home_dir(tmp_path / "mine")  # the user's choice is left alone
        with prop_oracle.hypothesis_storage():
            assert home() == str(tmp_path / "mine")
    finally:
        configuration.set_hypothesis_home_dir(before)
    monkeypatch.delenv(prop_oracle.DIR_ENV_VAR)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert prop_oracle.hypothesis_directory() == tmp_path / "xdg" / "gradspec" / "hypothesis"


def test_a_budget_spent_during_hypothesis_replay_is_never_a_finding(tmp_path):
    """With no shrinking time at all, the budget runs out while Hypothesis replays its failures, and Hypothesis
    reports the stop signal inside its group: what the budget recorded is raised instead, the two real bugs."""
    import importlib.util

    from gradspec.properties import suite

    path = tmp_path / "two_bugs_replay.py"
    path.write_text(TWO_BUGS)
    spec = importlib.util.spec_from_file_location("two_bugs_replay", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    prop = suite.get("relu", "gradient_fd64")
    for seed in range(5):
        with pytest.raises(BaseException) as info:
            suite.check_property(prop, module, max_examples=10, seed=seed, database=None, derandomize=False,
                                 shrink_seconds=0.0)
        kinds = {type(e).__name__ for e in suite.failures(info.value)}
        assert "BudgetSpent" not in kinds, kinds
        assert kinds <= {"ValueError", "AssertionError"} and kinds, kinds
    group = getattr(suite, "BaseExceptionGroup", None) or BaseExceptionGroup  # the backport on Python 3.10
    assert suite.holds_budget_spent(group("g", [ValueError(), group("h", [suite.BudgetSpent()])]))
    assert not suite.holds_budget_spent(group("g", [ValueError()]))
