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


def test_a_hanging_import_is_a_usage_error_naming_the_limit(planted):
    out, seconds = _gradspec(["check", "--impl", "hang_loop", "--ops", "relu", "--timeout", "0.2"], planted)
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert "importing 'hang_loop' took longer than 0.6 s" in out.stderr
    assert seconds < WALL / 2


def test_an_import_under_the_limit_works(planted):
    out, _ = _gradspec(["check", "--impl", "slow_ok", "--ops", "relu", "--timeout", "0.5", "--json", "-"], planted)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["ops"]["relu"]["status"] == "pass"


#: one interpreter for the other cases (each line of output is one case, checked below)
SCRIPT = textwrap.dedent("""
    import signal, time
    import gradspec
    from gradspec.impl import ImplementationError, load, time_limit
    from gradspec.reports.compare import build_compare

    def mine(*a):
        raise AssertionError("the caller's handler ran")

    def error(call):
        try:
            call()
        except ImplementationError as exc:
            return str(exc)
        return "no error"

    signal.signal(signal.SIGALRM, mine)
    print(error(lambda: gradspec.check("hang_sleep", ops="relu", timeout=0.2)))
    print(error(lambda: load("hang_swallow", timeout=0.2)))
    print(error(lambda: load("boom", timeout=0.2)))
    print("handler and timer as they were:",
          signal.getsignal(signal.SIGALRM) is mine and signal.getitimer(signal.ITIMER_REAL)[0] == 0)
    print("handler set at import:", load("sets_handler", timeout=0.5).obj.relu_forward is not None)
    open("cls.py", "w").write("import time\\nclass Layers:\\n    def __init__(self):\\n        time.sleep(1e9)\\n")
    print(error(lambda: load("cls:Layers", timeout=0.2)))
    cols = build_compare(["hang_sleep", "gradspec.reference"], ops=["relu"], timeout=0.2, out="cmp")["columns"]
    print("compare:", [c["status"] for c in cols], cols[0]["error"])
    # another alarm already running (pytest-timeout's, say) is left alone: no limit of ours
    signal.signal(signal.SIGALRM, lambda *a: print("outer alarm"))
    signal.setitimer(signal.ITIMER_REAL, 5.0)
    with time_limit(0.1, "sleeping"):
        time.sleep(0.3)
    print("outer timer left:", signal.getitimer(signal.ITIMER_REAL)[0] > 3.0)
""")


def test_hanging_imports_raising_imports_and_the_alarm_from_python(planted):
    out, _ = _run([sys.executable, "-c", SCRIPT], planted)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("importing 'hang_sleep' took longer than 0.6 s")
    assert lines[1].startswith("importing 'hang_swallow' took longer than 0.6 s")  # its `except Exception` no matter
    assert lines[2] == "cannot import implementation 'boom': RuntimeError: broken at import"  # the existing error
    assert lines[3] == "handler and timer as they were: True"
    assert lines[4] == "handler set at import: True"  # the import runs in the main thread
    assert lines[5].startswith("instantiating 'cls:Layers' took longer than 0.6 s")
    assert lines[6].startswith("compare: ['import_error', 'checked'] importing 'hang_sleep' took longer than 0.6 s")
    assert lines[7] == "outer timer left: True"


def test_the_import_limit_is_the_first_call_grace_times_the_call_timeout():
    assert import_limit(10.0) == 10.0 * FIRST_CALL_GRACE == 30.0
    assert import_limit(0.2) == pytest.approx(0.6)
    for none in (0, 0.0, None, -1.0, float("inf"), float("nan"), True, "10"):
        assert import_limit(none) is None, none
