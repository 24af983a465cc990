"""gradspec compare: ops × implementations, each cell the op's status and its failing checks by name.

The matrix of the reference and a deliberately buggy module (relu'(0) = 1, affine's dW doubled) is built once
per process through the CLI (``reference_and_buggy()``), over every op of the registry with 3 examples per op
and oracle. The page in a real browser: ``tests/test_report_browser.py``.
"""
from __future__ import annotations

import copy
import functools
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from _impls import write_impl
from test_report import disagreements

from gradspec import cli, registry
from gradspec.reports import compare, schema

pytestmark = pytest.mark.report

BUGGY = """
from gradspec.reference import affine_backward as reference_affine_backward

def relu_backward(x, dy):
    return np.where(np.asarray(x) >= 0, dy, 0.0)   # relu'(0) = 1: the gradient passes where x == 0

def affine_backward(x, W, b, dy):
    dx, dW, db = reference_affine_backward(x, W, b, dy)
    return dx, 2.0 * dW, db                          # dW twice too large
"""


@functools.lru_cache(maxsize=None)
def reference_and_buggy() -> str:
    """Directory of ``gradspec compare --impl gradspec.reference --impl buggy_layers.py`` over every op."""
    out = tempfile.mkdtemp(prefix="gradspec-compare-")
    buggy = write_impl(Path(out) / "buggy_layers.py", BUGGY)
    rc = cli.main(["compare", "--impl", "gradspec.reference", "--impl", buggy, "--examples", "3", "--seed", "2",
                   "--out", os.path.join(out, "matrix")])
    assert rc == 1, f"gradspec compare with a buggy column exited {rc}"
    return os.path.join(out, "matrix")


def load(out: str) -> tuple[dict, str]:
    with open(os.path.join(out, compare.JSON_NAME), encoding="utf-8") as fh:
        report = json.load(fh)
    with open(os.path.join(out, "index.html"), encoding="utf-8") as fh:
        return report, fh.read()


def page_cell(page: str, op: str, column: int) -> str:
    """The HTML of one cell of the page's matrix."""
    row = re.search(rf'<tr class="op-row" data-op="{re.escape(op)}">(.*?)</tr>', page, re.S)
    assert row, f"no row for {op} on the page"
    cells = re.findall(r'<td class="cell" data-column="(\d+)">(.*?)</td>(?=<td class="cell"|$)', row.group(1), re.S)
    return dict((int(i), html) for i, html in cells)[column]


def by_op(report: dict) -> dict:
    return {row["op"]: row for row in report["rows"]}


# --------------------------------------------------------------------------- the reference and a buggy module
def test_buggy_column_fails_with_its_named_causes_and_the_reference_column_passes():
    report, page = load(reference_and_buggy())
    rows = by_op(report)
    ref_col, bug_col = report["columns"]
    assert ref_col["impl"] == "gradspec.reference" and bug_col["impl"].endswith("buggy_layers.py")
    assert ref_col["status"] == bug_col["status"] == "checked" and ref_col["error"] is bug_col["error"] is None
    # the reference: every op passes, nothing named
    assert {row["cells"][0]["status"] for row in report["rows"]} == {"pass"}
    assert ref_col["named"] == [] and all(row["cells"][0]["entries"] == [] for row in report["rows"])
    # the buggy module: exactly its two ops fail, each with its cause by name and its category
    failing = {op: row["cells"][1] for op, row in rows.items() if row["cells"][1]["status"] != "pass"}
    assert set(failing) == {"relu", "affine"}
    assert failing["relu"]["status"] == failing["affine"]["status"] == "fail"
    assert "relu_prime_at_zero_is_one" in failing["relu"]["names"]
    assert {e["category"] for e in failing["relu"]["entries"]} == {"convention_difference"}
    assert all(e["conventions"] for e in failing["relu"]["entries"])  # the spec's convention is quoted
    assert failing["affine"]["names"] == ["scaled_by_2"]
    assert {e["category"] for e in failing["affine"]["entries"]} == {"diagnosed_bug"}
    assert {(n["category"], n["name"]): n["ops"] for n in bug_col["named"]} == {
        ("convention_difference", "relu_prime_at_zero_is_one"): ["relu"], ("diagnosed_bug", "scaled_by_2"): ["affine"]}
    assert bug_col["verdicts"]["fail"] == 2 and bug_col["verdicts"]["pass"] == len(registry.OPS) - 2
    # the page's cells show the names, and the reference's cells show none
    assert "relu_prime_at_zero_is_one" in page_cell(page, "relu", 1)
    assert "scaled_by_2" in page_cell(page, "affine", 1)
    assert "cause" not in page_cell(page, "relu", 0) and "s-pass" in page_cell(page, "relu", 0)


def test_rows_are_every_op_of_the_registry_and_columns_keep_the_given_order():
    report, page = load(reference_and_buggy())
    assert [row["op"] for row in report["rows"]] == [op.name for op in registry.OPS]
    assert all(len(row["cells"]) == 2 for row in report["rows"])
    assert page.count('<tr class="op-row"') == len(registry.OPS)
    s = report["summary"]
    assert s["oracles"] == ["fd64", "mpmath"] and s["examples"] == 3 and s["seed"] == 2  # the default oracles
    assert s["command"].startswith("gradspec compare --impl gradspec.reference --impl ")
    # the same command with the columns swapped gives the columns in that order
    out = tempfile.mkdtemp(prefix="gradspec-compare-")
    buggy = report["columns"][1]["impl"]
    assert cli.main(["compare", "--impl", buggy, "--impl", "gradspec.reference", "--ops", "relu", "sigmoid",
                     "--examples", "1", "--oracle", "fd64", "--out", out]) == 1
    swapped, _ = load(out)
    assert [c["impl"] for c in swapped["columns"]] == [buggy, "gradspec.reference"]
    assert [row["op"] for row in swapped["rows"]] == ["relu", "sigmoid"]  # --ops keeps the registry's order
    assert [c["status"] for c in swapped["rows"][0]["cells"]] == ["fail", "pass"]


def test_page_shows_the_values_of_the_json():
    report, page = load(reference_and_buggy())
    n, bad = disagreements(report, page)
    assert not bad, bad[:10]
    assert n > 4 * len(registry.OPS)


# --------------------------------------------------------------------------- implementations that cannot be checked
BROKEN_IMPORT = 'raise RuntimeError("this module refuses to load")\n'
HANGS = """
import time
from gradspec.reference import relu_forward, sigmoid_forward, sigmoid_backward

def relu_backward(x, dy):
    time.sleep(60)
"""


def test_an_unimportable_or_hanging_implementation_is_a_column_and_the_matrix_goes_on(tmp_path):
    broken = tmp_path / "broken_layers.py"
    broken.write_text(BROKEN_IMPORT)
    hangs = tmp_path / "hanging_layers.py"
    hangs.write_text(HANGS)
    out = tmp_path / "out"
    rc = cli.main(["compare", "--impl", "gradspec.no_such_module", "--impl", str(broken), "--impl", str(hangs),
                   "--impl", "gradspec.reference", "--ops", "relu", "sigmoid", "--examples", "1", "--timeout", "0.2",
                   "--out", str(out)])
    assert rc == 1
    report, page = load(str(out))
    compare.validate(report)
    missing, refuses, hanging, reference = report["columns"]
    assert missing["status"] == refuses["status"] == "import_error"
    assert "ModuleNotFoundError" in missing["error"] and "gradspec.no_such_module" in missing["error"]
    assert "RuntimeError" in refuses["error"] and "broken_layers.py" in refuses["error"]
    for i in (0, 1):
        assert [row["cells"][i]["status"] for row in report["rows"]] == ["not_run", "not_run"]
        assert report["columns"][i]["verdicts"]["not_run"] == 2
    # the hanging function: its op errs with a timeout, the next column still ran
    assert hanging["status"] == "checked"
    relu = by_op(report)["relu"]["cells"][2]
    assert relu["status"] == "error" and any(e["kind"] == "timeout" for e in relu["entries"])
    assert all(e["category"] == "no_known_cause" for e in relu["entries"])  # a timeout on a kink is no convention
    assert by_op(report)["sigmoid"]["cells"][2]["status"] == "pass"
    assert [row["cells"][3]["status"] for row in report["rows"]] == ["pass", "pass"]
    # the page shows each column, with the import errors in their headers
    headers = re.findall(r'<th class="col" data-column="(\d+)">(.*?)</th>', page, re.S)
    assert [int(i) for i, _ in headers] == [0, 1, 2, 3]
    assert "ModuleNotFoundError" in headers[0][1] and "RuntimeError" in headers[1][1]
    assert "import error" in headers[0][1] and "import error" not in headers[2][1]
    _, bad = disagreements(report, page)
    assert not bad, bad[:5]


def test_cli_compare_usage_errors(tmp_path, capsys):
    out = str(tmp_path / "out")
    assert cli.main(["compare", "--out", out]) == 2
    assert "--impl" in capsys.readouterr().err
    assert cli.main(["compare", "--impl", "gradspec.reference", "--ops", "nope", "--out", out]) == 2
    assert "unknown op" in capsys.readouterr().err
    assert cli.main(["compare", "--impl", "gradspec.reference", "--oracles", "nope", "--out", out]) == 2
    assert "unknown oracle" in capsys.readouterr().err
    assert cli.main(["compare", "--impl", "gradspec.reference", "--examples", "0", "--out", out]) == 2
    assert cli.main(["compare", "--impl", "gradspec.reference", "--timeout", "-1", "--out", out]) == 2
    assert not os.path.exists(out)


# --------------------------------------------------------------------------- one cell from the checks
def _check(name, status, findings, info=None):
    return {"oracle": "fd64", "check": name, "status": status, "examples": 1, "worst_error": None, "message": f"{name} {status}",
            "findings": findings, "info": info or {}}


def test_cell_categories_follow_what_the_findings_say():
    cause = {"name": "relu_prime_at_zero_is_one", "explanation": "x >= 0", "confidence": 0.97}
    on_kink = {"kind": "convention", "message": "m", "details": {"convention": "relu'(0) = 0", "diagnosis": [cause]}}
    timed_out = {"kind": "timeout", "message": "m", "details": {"convention": "relu'(0) = 0"}}
    mismatch = {"kind": "mismatch", "message": "m", "details": {}}
    cell = compare.cell_of({"status": "fail", "checks": [
        _check("forward", "pass", []), _check("conventions", "fail", [on_kink]),
        _check("backward", "fail", [mismatch], info={"diagnosis": [dict(cause, name="scaled_by_2")]}),
        _check("tie", "error", [timed_out])]})
    assert cell["status"] == "fail" and cell["names"] == ["relu_prime_at_zero_is_one", "scaled_by_2"]
    assert [(e["check"], e["category"]) for e in cell["entries"]] == [
        ("conventions", "convention_difference"), ("backward", "diagnosed_bug"), ("tie", "no_known_cause")]
    assert cell["entries"][0]["conventions"] == ["relu'(0) = 0"] and cell["entries"][2]["conventions"] == []
    # a kink property naming the cause the kink check names is the same convention difference; alone, a bug
    kink_property = _check("convention[on_kink]", "fail", [{"kind": "property", "message": "m", "details": {"diagnosis": [cause]}}])
    both = compare.cell_of({"status": "fail", "checks": [_check("conventions", "fail", [on_kink]), kink_property]})
    assert [e["category"] for e in both["entries"]] == ["convention_difference", "convention_difference"]
    alone = compare.cell_of({"status": "fail", "checks": [kink_property]})
    assert [e["category"] for e in alone["entries"]] == ["diagnosed_bug"]
    # a passing op has no entry and no name
    passing = compare.cell_of({"status": "pass", "checks": [_check("forward", "pass", [])]})
    assert passing["entries"] == [] and passing["names"] == []


# --------------------------------------------------------------------------- the schema
def test_compare_json_validates_against_its_documented_schema():
    report, _ = load(reference_and_buggy())
    compare.validate(report)
    sch = schema.load_schema(compare.SCHEMA_PATH)
    assert schema.undocumented(sch) == []
    broken = copy.deepcopy(report)
    del broken["summary"]["seed"]
    broken["rows"][0]["cells"][1]["status"] = "maybe"
    broken["columns"][0]["surprise"] = 1
    broken["rows"][3]["cells"][0]["entries"] = [{"category": "convention_difference"}]
    errs = schema.errors(broken, sch)
    assert any(e.startswith("/summary/seed: required") for e in errs), errs
    assert any(e.startswith("/rows/0/cells/1/status:") and "not one of" in e for e in errs), errs
    assert any(e.startswith("/columns/0/surprise: field not documented") for e in errs), errs
    assert any(e.startswith("/rows/3/cells/0/entries/0/causes: required") for e in errs), errs
    with pytest.raises(schema.SchemaError, match="compare_schema.json"):
        compare.validate(broken)


# --------------------------------------------------------------------------- the renderer reads the JSON only
HEAVY = ("sympy", "mpmath", "hypothesis", "gradspec.oracles", "gradspec.symbolic", "gradspec.mpmath_oracle",
         "gradspec.properties", "gradspec.runner", "gradspec.diagnosis", "gradspec.reports.build",
         "gradspec.reports.compare", "gradspec.reports.experiments", "gradspec.reports.remedies")
RENDER_ONLY = ("import json, sys\n{pre}from gradspec.reports import render_compare\n"
               "render_compare.render_compare_html(json.load(open(sys.argv[1], encoding='utf-8')))\n"
               "print(json.dumps(sorted(m for m in sys.modules if m.startswith({heavy!r}))))\n")


def heavy_modules_after_rendering(path: str, pre: str = "") -> list[str]:
    proc = subprocess.run([sys.executable, "-c", RENDER_ONLY.format(pre=pre, heavy=HEAVY), path], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_the_compare_renderer_imports_neither_sympy_nor_any_oracle():
    path = os.path.join(reference_and_buggy(), compare.JSON_NAME)
    assert heavy_modules_after_rendering(path) == []
    assert "gradspec.oracles" in heavy_modules_after_rendering(path, pre="import gradspec.oracles.fd64\n")


def test_report_with_several_implementations_is_the_comparison(tmp_path, capsys):
    buggy = write_impl(tmp_path / "buggy_layers.py", BUGGY)
    out = tmp_path / "out"
    args = ["report", "--impl", "gradspec.reference", "--impl", buggy, "--ops", "relu", "affine", "--quick",
            "--oracle", "fd64", "--out", str(out)]
    assert cli.main(args) == 1
    report, _ = load(str(out))
    compare.validate(report)
    assert [c["impl"] for c in report["columns"]] == ["gradspec.reference", buggy]
    assert report["summary"]["examples"] == 1 and report["summary"]["oracles"] == ["fd64"]
    assert [[c["status"] for c in row["cells"]] for row in report["rows"]] == [["pass", "fail"], ["pass", "fail"]]
    assert not (out / "report.json").exists()
    # experiments are the single-implementation report's: asking for them with several --impl is a usage error
    assert cli.main(args[:-2] + ["--experiments", "xor", "--out", str(tmp_path / "other")]) == 2
    assert "--experiments" in capsys.readouterr().err and not (tmp_path / "other").exists()
