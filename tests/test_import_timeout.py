"""An implementation whose import hangs is an error naming the rule, never a hang of the checker.

Every run that could hang happens in a subprocess with a timeout of its own, so this file cannot hang either.
The planted modules live in a temporary directory, the subprocess's working directory (where ``--impl`` finds
them).
"""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time

import pytest

from gradspec.impl import FIRST_CALL_GRACE, import_limit

#: the subprocesses' own limit: far above the import limits planted below (a fraction of a second)
WALL = 120

MODULES = {
    "hang_loop": "while True:\n    pass\n",
    "hang_sleep": "import time\ntime.sleep(1e9)\n",
    # a hang that swallows ordinary exceptions is still interrupted
    "hang_swallow": "import time\nwhile True:\n    try:\n        time.sleep(1e9)\n    except Exception:\n        pass\n",
    "boom": "raise RuntimeError('broken at import')\n",
    # slow, but under the limit of 3 x 0.5 s: works
    "slow_ok": "import time\ntime.sleep(0.5)\nfrom gradspec.reference import relu_forward, relu_backward\n",
    # a library that sets a signal handler at import (possible in the main thread only) still can
    "sets_handler": ("import signal\nsignal.signal(signal.SIGUSR1, lambda *a: None)\n"
                     "from gradspec.reference import relu_forward, relu_backward\n"),
}


@pytest.fixture
def planted(tmp_path):
    for name, src in MODULES.items():
        (tmp_path / f"{name}.py").write_text(src)
    return tmp_path


def _run(args, cwd):
    t0 = time.perf_counter()
    out = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=WALL)
    return out, time.perf_counter() - t0


def _gradspec(args, cwd):
    return _run([sys.executable, "-m", "gradspec", *args], cwd)


@pytest.mark.parametrize("name", ["hang_loop", "hang_sleep", "hang_swallow"])
def test_a_hanging_import_is_a_usage_error_naming_the_limit(planted, name):
    out, seconds = _gradspec(["check", "--impl", name, "--ops", "relu", "--timeout", "0.2"], planted)
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert f"importing {name!r} took longer than 0.6 s" in out.stderr
    assert seconds < WALL / 2


def test_an_import_that_raises_keeps_its_own_error(planted):
    out, _ = _gradspec(["check", "--impl", "boom", "--ops", "relu", "--timeout", "0.2"], planted)
    assert out.returncode == 2
    assert "cannot import implementation 'boom': RuntimeError: broken at import" in out.stderr
    assert "took longer" not in out.stderr


@pytest.mark.parametrize("name", ["slow_ok", "sets_handler"])
def test_an_import_under_the_limit_works(planted, name):
    out, _ = _gradspec(["check", "--impl", name, "--ops", "relu", "--timeout", "0.5", "--json", "-"], planted)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["ops"]["relu"]["status"] == "pass"


def test_compare_shows_a_hanging_import_as_its_column_and_checks_the_others(planted):
    out, _ = _gradspec(["compare", "--impl", "hang_sleep", "--impl", "gradspec.reference", "--ops", "relu",
                        "--timeout", "0.2", "--out", str(planted / "cmp")], planted)
    assert out.returncode == 1, out.stderr
    columns = json.loads((planted / "cmp" / "compare.json").read_text())["columns"]
    assert [c["status"] for c in columns] == ["import_error", "checked"]
    assert "importing 'hang_sleep' took longer than 0.6 s" in columns[0]["error"]


def test_from_python_the_limit_follows_the_timeout_and_the_alarm_is_left_as_it_was(planted):
    script = textwrap.dedent("""
        import signal, time
        import gradspec
        from gradspec.impl import ImplementationError, load, time_limit

        def mine(*a):
            raise AssertionError("the caller's handler ran")

        signal.signal(signal.SIGALRM, mine)
        try:
            gradspec.check("hang_sleep", ops="relu", timeout=0.2)
        except ImplementationError as exc:
            print("error:", exc)
        assert signal.getsignal(signal.SIGALRM) is mine and signal.getitimer(signal.ITIMER_REAL)[0] == 0
        assert load("sets_handler", timeout=0.5).obj.relu_forward is not None
        # a class whose instantiation hangs: the same limit
        open("cls.py", "w").write("import time\\nclass Layers:\\n    def __init__(self):\\n        time.sleep(1e9)\\n")
        try:
            load("cls:Layers", timeout=0.2)
        except ImplementationError as exc:
            print("error:", exc)
        # another alarm already running (pytest-timeout's, say) is left alone: no limit of ours
        signal.signal(signal.SIGALRM, lambda *a: print("outer alarm"))
        signal.setitimer(signal.ITIMER_REAL, 5.0)
        with time_limit(0.1, "sleeping"):
            time.sleep(0.3)
        print("outer timer left:", signal.getitimer(signal.ITIMER_REAL)[0] > 3.0)
    """)
    out, _ = _run([sys.executable, "-c", script], planted)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("error: importing 'hang_sleep' took longer than 0.6 s")
    assert lines[1].startswith("error: instantiating 'cls:Layers' took longer than 0.6 s")
    assert lines[2] == "outer timer left: True"


def test_the_import_limit_is_the_first_call_grace_times_the_call_timeout():
    assert import_limit(10.0) == 10.0 * FIRST_CALL_GRACE == 30.0
    assert import_limit(0.2) == pytest.approx(0.6)
    for none in (0, 0.0, None, -1.0, float("inf"), float("nan"), True, "10"):
        assert import_limit(none) is None, none
