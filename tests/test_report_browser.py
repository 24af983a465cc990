"""The report renders in a real browser: headless Chromium from the system packages.

The page is opened with ``--dump-dom`` after a small checker script (added to a
copy of the page, never to the report itself) has written what it measured
into the DOM: the summary and matrix are present, every image decodes
(``naturalWidth > 0``), every MathML equation has a nonzero size and is laid out
as math (a superscript sits above its base's baseline, a fraction's numerator
above its denominator), nothing was fetched from the network, and no error
reached the console. Chromium's own console log (``--enable-logging=stderr``)
is read too. Skipped, with the reason, only when Chromium is not installed.
"""
from __future__ import annotations

import functools
import html
import importlib.util
import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from _impls import write_impl
from test_compare import BUGGY, load
from test_report import quick_report

from gradspec import cli

from gradspec.reports import build

pytestmark = [pytest.mark.report, pytest.mark.browser]

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None)
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium; .ci/run does it)")

HOOKS = """<script>
window.__errors = [];
window.addEventListener('error', function (e) {
  var t = e.target && e.target !== window ? ('resource failed: ' + (e.target.src || e.target.href || e.target.tagName)) : ('error: ' + e.message);
  window.__errors.push(t);
}, true);
(function () { var orig = console.error; console.error = function () { window.__errors.push('console.error: ' + Array.prototype.join.call(arguments, ' ')); orig.apply(console, arguments); }; })();
</script>"""

# the end of every checker script: the resources the page loaded, then the findings as JSON in a <pre> the test reads
EMIT = """  r.resources = performance.getEntriesByType('resource').map(function (e) { return e.name; }).filter(function (n) { return n.indexOf('data:') !== 0; });
  var out = document.createElement('pre');
  out.id = 'gradspec-browser-check';
  out.textContent = JSON.stringify(r);
  document.body.appendChild(out);
});
</script>"""

CHECKER = """<script>
window.addEventListener('load', function () {
  var r = {errors: window.__errors};
  var summary = document.querySelector('#summary table');
  r.summary = !!summary && summary.getBoundingClientRect().height > 0 && /verdicts/.test(summary.innerText) && /reproduce/.test(summary.innerText);
  var rows = document.querySelectorAll('#matrix tr.op-row');
  r.matrixRows = rows.length;
  r.matrixVisible = rows.length > 0 && rows[0].getBoundingClientRect().height > 0;
  var imgs = Array.prototype.slice.call(document.images);
  r.images = imgs.length;
  r.badImages = imgs.filter(function (i) { return !(i.complete && i.naturalWidth > 0 && i.naturalHeight > 0); }).map(function (i) { return i.alt; });
  var maths = Array.prototype.slice.call(document.querySelectorAll('math'));
  r.maths = maths.length;
  r.emptyMaths = maths.filter(function (m) { var b = m.getBoundingClientRect(); return !(b.width > 0 && b.height > 0); }).length;
  r.mathsWithSup = maths.filter(function (m) { return !!m.querySelector('msup'); }).length;
  r.scrollWidth = document.documentElement.scrollWidth;
  r.innerWidth = window.innerWidth;
  r.sectionPlots = {};
  Array.prototype.slice.call(document.querySelectorAll('section[id]')).forEach(function (sec) {
    var img = sec.querySelector('figure img');
    r.sectionPlots[sec.id] = !!img && img.complete && img.naturalWidth > 0 && img.getBoundingClientRect().width > 0;
  });
  r.overflowing = Array.prototype.slice.call(document.querySelectorAll('body *')).filter(function (e) {
    return e.getBoundingClientRect().right > window.innerWidth + 0.5;
  }).slice(0, 5).map(function (e) { return e.tagName + '.' + e.className + ' ' + (e.textContent || '').slice(0, 40); });
  r.supRaised = maths.filter(function (m) {
    var s = m.querySelector('msup'); if (!s) return false;
    var base = s.children[0].getBoundingClientRect(), sup = s.children[1].getBoundingClientRect();
    return sup.bottom < base.bottom - 1;
  }).length;
  var fr = document.querySelector('math mfrac');
  r.fracStacked = !!fr && fr.children[0].getBoundingClientRect().bottom <= fr.children[1].getBoundingClientRect().top + 1;
""" + EMIT


def browser_check(page_html: str, tmpdir: str, width: int = 1200, checker: str = CHECKER) -> tuple[dict, list[str]]:
    """Open ``page_html`` (with ``checker`` added) in headless Chromium; return (measurements, console errors)."""
    page = page_html.replace("<head>", "<head>" + HOOKS, 1).replace("</body>", checker + "</body>", 1)
    path = os.path.join(tmpdir, "checked.html")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(page)
    profile = tempfile.mkdtemp(prefix="chromium-profile-", dir=tmpdir)
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
           "--enable-logging=stderr", "--v=0", "--virtual-time-budget=10000", f"--window-size={width},1024",
           "--dump-dom", "file://" + path]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    m = re.search(r'<pre id="gradspec-browser-check">(.*?)</pre>', proc.stdout, re.S)
    assert m, f"the checker did not run (exit {proc.returncode}); stderr:\n{proc.stderr[-2000:]}"
    console = [line for line in proc.stderr.splitlines() if "CONSOLE" in line and ("rror" in line or "Uncaught" in line)]
    return json.loads(html.unescape(m.group(1))), console


@needs_chromium
def test_report_renders_in_headless_chromium(tmp_path):
    out = quick_report()
    with open(os.path.join(out, "index.html"), encoding="utf-8") as fh:
        page = fh.read()
    with open(os.path.join(out, "report.json"), encoding="utf-8") as fh:
        report = json.load(fh)
    r, console = browser_check(page, str(tmp_path))
    assert r["summary"], r
    assert r["matrixRows"] == len(report["matrix"]) and r["matrixVisible"]
    assert r["images"] == page.count("<img ") and r["images"] >= 10
    assert r["badImages"] == []
    assert r["maths"] == page.count("<math") and r["emptyMaths"] == 0
    assert r["mathsWithSup"] >= 8 and r["supRaised"] == r["mathsWithSup"] and r["fracStacked"], "MathML is not laid out as math"
    # every experiment section that has a plot shows it, decoded and laid out
    plotted = [name for name in build.EXPERIMENT_NAMES if name != "init"]
    assert {name: r["sectionPlots"].get(name) for name in plotted} == {name: True for name in plotted}
    # no horizontal overflow at 1200 px
    assert r["innerWidth"] == 1200 and r["scrollWidth"] <= r["innerWidth"], r["overflowing"]
    assert r["resources"] == [], "the report fetched something"
    assert r["errors"] == [] and console == []


@needs_chromium
def test_browser_check_catches_a_broken_image_and_a_script_error(tmp_path):
    page = ("<!DOCTYPE html><html><head><meta charset='utf-8'></head><body><section id='summary'><table><tr><td>verdicts reproduce"
            "</td></tr></table></section><img alt='broken' src='data:image/png;base64,AAAA'>"
            "<math><msup><mi>x</mi><mn>2</mn></msup></math><script>undefinedFunction()</script></body></html>")
    r, console = browser_check(page, str(tmp_path))
    assert r["badImages"] == ["broken"]
    assert any("undefinedFunction" in e for e in r["errors"] + console)
    assert r["matrixRows"] == 0


@needs_chromium
def test_browser_check_catches_horizontal_overflow_and_a_missing_plot(tmp_path):
    page = ("<!DOCTYPE html><html><head><meta charset='utf-8'></head><body><section id='optimizers'><h2>x</h2></section>"
            "<table><tr><td style='white-space:nowrap'>" + "wide " * 400 + "</td></tr></table></body></html>")
    r, _ = browser_check(page, str(tmp_path))
    assert r["scrollWidth"] > r["innerWidth"] == 1200
    assert r["sectionPlots"] == {"optimizers": False}


# --------------------------------------------------------------------------- gradspec compare: ops × implementations
#: The frameworks whose adapters get a column of the compare page, when installed.
FRAMEWORKS = {"torch": "gradspec.adapters.torch_impl", "jax": "gradspec.adapters.jax_impl",
              "autograd": "gradspec.adapters.autograd_impl"}
#: A few ops (JAX compiles every primitive for every new shape): activations with kinks, a pool with ties, an affine
#: layer, an optimizer the JAX and autograd adapters do not provide.
COMPARE_OPS = ("relu", "max_pool2d", "affine", "softmax", "sgd")

COMPARE_CHECKER = """<script>
window.addEventListener('load', function () {
  var r = {errors: window.__errors};
  r.columns = Array.prototype.slice.call(document.querySelectorAll('#matrix th.col')).map(function (th) {
    return th.querySelector('code').textContent; });
  var rows = Array.prototype.slice.call(document.querySelectorAll('#matrix tr.op-row'));
  r.rows = rows.map(function (tr) { return tr.getAttribute('data-op'); });
  r.cellsPerRow = rows.map(function (tr) { return tr.querySelectorAll('td.cell').length; });
  r.cellStatus = {};
  r.failing = [];
  rows.forEach(function (tr) {
    var op = tr.getAttribute('data-op');
    r.cellStatus[op] = Array.prototype.slice.call(tr.querySelectorAll('td.cell')).map(function (td) {
      var b = td.querySelector('.badge'), box = b ? b.getBoundingClientRect() : null;
      var shown = !!box && box.width > 0 && box.height > 0;
      var status = b ? b.textContent : null;
      if (status === 'fail' || status === 'error') {
        r.failing.push({op: op, column: +td.getAttribute('data-column'),
          causes: Array.prototype.slice.call(td.querySelectorAll('code.cause')).filter(function (c) {
            var cb = c.getBoundingClientRect(); return cb.width > 0 && cb.height > 0; }).map(function (c) { return c.textContent; })});
      }
      return shown ? status : null;
    });
  });
  r.scrollWidth = document.documentElement.scrollWidth;
  r.innerWidth = window.innerWidth;
""" + EMIT


@functools.lru_cache(maxsize=None)
def framework_matrix() -> tuple[str, tuple[str, ...]]:
    """``gradspec compare`` of the reference, every installed framework adapter and a buggy module on
    :data:`COMPARE_OPS` (one example per op and oracle): (output directory, the column names)."""
    out = tempfile.mkdtemp(prefix="gradspec-compare-browser-")
    buggy = write_impl(Path(out) / "buggy_layers.py", BUGGY)
    columns = ("gradspec.reference",) + tuple(m for name, m in FRAMEWORKS.items() if importlib.util.find_spec(name)) + (buggy,)
    args = ["compare", *[a for c in columns for a in ("--impl", c)], "--ops", *COMPARE_OPS, "--examples", "1",
            "--out", os.path.join(out, "matrix")]
    assert cli.main(args) == 1  # the buggy column fails
    return os.path.join(out, "matrix"), columns


@needs_chromium
def test_compare_page_renders_in_headless_chromium(tmp_path):
    out, columns = framework_matrix()
    report, page = load(out)
    r, console = browser_check(page, str(tmp_path), checker=COMPARE_CHECKER)
    assert r["columns"] == list(columns) == [c["impl"] for c in report["columns"]]
    assert r["rows"] == list(COMPARE_OPS) and r["cellsPerRow"] == [len(columns)] * len(COMPARE_OPS)
    # every cell shows its status, the JSON's
    assert r["cellStatus"] == {row["op"]: [c["status"].replace("_", " ") for c in row["cells"]] for row in report["rows"]}
    # every failing cell shows the names of its causes; the buggy column's relu and affine are among them
    expected = [{"op": row["op"], "column": i, "causes": row["cells"][i]["names"]} for row in report["rows"]
                for i in range(len(columns)) if row["cells"][i]["status"] in ("fail", "error")]
    shown = [dict(f, causes=list(dict.fromkeys(f["causes"]))) for f in r["failing"]]  # a cause of two checks: once
    assert sorted(shown, key=json.dumps) == sorted(expected, key=json.dumps)
    buggy = len(columns) - 1
    assert {"op": "relu", "column": buggy, "causes": ["relu_prime_at_zero_is_one"]} in shown
    assert {"op": "affine", "column": buggy, "causes": ["scaled_by_2"]} in shown
    assert r["innerWidth"] == 1200 and r["scrollWidth"] <= r["innerWidth"]
    assert r["resources"] == [] and r["errors"] == [] and console == []


#: What each framework's column shows on COMPARE_OPS: status per op, and the named convention differences.
FRAMEWORK_EXPECTED = {
    "torch": ({"relu": "pass", "max_pool2d": "pass", "affine": "pass", "softmax": "pass", "sgd": "pass"}, {}),
    "jax": ({"relu": "pass", "max_pool2d": "pass", "affine": "pass", "softmax": "pass", "sgd": "not_implemented"}, {}),
    "autograd": ({"relu": "fail", "max_pool2d": "fail", "affine": "pass", "softmax": "pass", "sgd": "not_implemented"},
                 {"relu": ["relu_prime_at_zero_is_half"], "max_pool2d": ["max_pool_tie_split"]}),
}


@pytest.mark.parametrize("framework", list(FRAMEWORKS))
def test_compare_page_has_a_column_for_each_installed_framework(framework):
    if importlib.util.find_spec(framework) is None:
        pytest.skip(f"{framework} is not installed: the compare page has no {FRAMEWORKS[framework]} column "
                    f"(pip install 'gradspec[{framework}]')")
    out, columns = framework_matrix()
    report, page = load(out)
    i = columns.index(FRAMEWORKS[framework])
    column = report["columns"][i]
    assert column["status"] == "checked" and column["error"] is None
    statuses, names = FRAMEWORK_EXPECTED[framework]
    assert {row["op"]: row["cells"][i]["status"] for row in report["rows"]} == statuses
    assert {row["op"]: row["cells"][i]["names"] for row in report["rows"] if row["cells"][i]["names"]} == names
    for row in report["rows"]:
        for e in row["cells"][i]["entries"]:
            assert e["category"] == "convention_difference", (row["op"], e)
    assert f'<th class="col" data-column="{i}"><code data-k="columns/{i}/impl">{FRAMEWORKS[framework]}</code>' in page
