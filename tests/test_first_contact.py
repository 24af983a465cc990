"""The installed ``gradspec`` command works from any working directory, as a new user runs it.

``gradspec report`` spawns worker processes for its experiments. They must import the same gradspec as the
command itself, whatever the working directory holds: the repository root (whose folders are the package's
sources, mapped by ``package-dir``), or a user's directory with modules of its own, a decoy ``gradspec``
package included. The implementation named by ``--impl`` is still found in the working directory, as
``python -m`` finds it.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gradspec.reports import schema

pytestmark = pytest.mark.cli

ROOT = Path(__file__).resolve().parents[1]
#: The console script pip installed beside this interpreter (an installed package always has one).
SCRIPT = Path(sys.executable).with_name("gradspec")

USER_MODULE = '''
from gradspec.reference import relu_forward  # noqa: F401
from my_helpers import relu_backward  # noqa: F401  (a sibling file, found as python -m finds it)
'''
HELPERS = 'from gradspec.reference import relu_backward  # noqa: F401\n'
DECOY = 'raise ImportError("a decoy gradspec in the working directory was imported")\n'


def run_report(cwd: Path, out: Path, *extra: str) -> dict:
    """``gradspec report --quick`` on one op with the numerical-differentiation experiment, which runs in the spawned
    workers, as every experiment but the initialisation statistics does, and so do their plots (the whole report
    runs in ``.ci/run``'s main job)."""
    assert SCRIPT.exists(), f"gradspec is not installed beside {sys.executable}: no console script {SCRIPT}"
    env = {k: v for k, v in os.environ.items() if k not in ("GRADSPEC_IMPL", "PYTHONPATH")}
    proc = subprocess.run([str(SCRIPT), "report", "--quick", "--ops", "relu", "--oracle", "fd64", "--experiments", "numdiff",
                           "--out", str(out),
                           *extra], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (out / "index.html").is_file()
    report = json.loads((out / "report.json").read_text())
    schema.validate(report)
    return report


def ran_in_workers(report: dict) -> bool:
    """The numerical-differentiation experiment ran: it runs in the spawned worker processes."""
    exp = report["experiments"]
    return "not_run" not in exp and len(exp["numdiff"]["functions"]) > 0


def test_report_from_the_repository_root(tmp_path):
    report = run_report(ROOT, tmp_path / "out")
    assert ran_in_workers(report)
    assert report["matrix"][0]["op"] == "relu" and report["matrix"][0]["status"] == "pass"


def test_report_from_a_user_directory_with_a_decoy_gradspec_and_an_implementation(tmp_path):
    user = tmp_path / "project"
    (user / "gradspec").mkdir(parents=True)
    (user / "gradspec" / "__init__.py").write_text(DECOY)
    (user / "my_layers.py").write_text(USER_MODULE)
    (user / "my_helpers.py").write_text(HELPERS)
    report = run_report(user, tmp_path / "out", "--impl", "my_layers")
    assert ran_in_workers(report)
    impl = report["summary"]["implementation"]
    assert impl["name"] == "my_layers" and Path(impl["file"]).resolve() == (user / "my_layers.py").resolve()
    assert report["matrix"][0]["status"] == "pass"


def test_the_decoy_would_be_imported_if_the_directory_came_first(tmp_path):
    """The decoy is a real hazard: a process that puts the directory first imports it (so the test above can fail)."""
    (tmp_path / "gradspec").mkdir()
    (tmp_path / "gradspec" / "__init__.py").write_text(DECOY)
    proc = subprocess.run([sys.executable, "-c", "import sys; sys.path.insert(0, '.'); import gradspec"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "decoy" in proc.stderr
