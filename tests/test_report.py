"""The HTML verification report: schema, page/JSON agreement, failures shown escaped, oracles never faked.

The quick report is built once per test run (``quick_report()``) through the
CLI, and shared with ``test_report_browser.py``, in another xdist worker too.
"""
from __future__ import annotations

import copy
import functools
import html
import importlib.util
import json
import math
import os
import re
import tempfile
from html.parser import HTMLParser

try:
    import fcntl
except ImportError:  # not POSIX: each process writes its own quick report
    fcntl = None

import numpy as np
import pytest

from gradspec import cli, registry
from gradspec.reports import build, experiments as E, schema

pytestmark = pytest.mark.report


@functools.lru_cache(maxsize=None)
def quick_report() -> str:
    """Directory of a quick report of the reference, written by ``gradspec report --quick``.

    Restricted to the fd64 oracle to stay within the test budget (the slower
    oracles are shown "not selected"); that the default run uses every
    importable oracle is tested on one op below. Under pytest-xdist the workers
    of one run share it: the first to need it writes it, under a lock, into a
    directory named by the run's id, and the others read it from there.
    """
    run_id = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    if run_id is None or fcntl is None:
        return _write_quick_report(tempfile.mkdtemp(prefix="gradspec-report-"))
    out = os.path.join(tempfile.gettempdir(), f"gradspec-report-{run_id}")
    with open(out + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not os.path.isfile(os.path.join(out, "done")):
            os.makedirs(out, exist_ok=True)
            _write_quick_report(out)
            with open(os.path.join(out, "done"), "w"):
                pass
    return out


def _write_quick_report(out: str) -> str:
    rc = cli.main(["report", "--quick", "--out", out, "--seed", "3", "--oracle", "fd64"])
    assert rc == 0, f"gradspec report on the reference exited {rc}"
    return out


def _load(out):
    with open(os.path.join(out, "report.json"), encoding="utf-8") as fh:
        report = json.load(fh)
    with open(os.path.join(out, "index.html"), encoding="utf-8") as fh:
        page = fh.read()
    return report, page


# --------------------------------------------------------------------------- page <-> JSON
class _Tagged(HTMLParser):
    """Collects (data-k path, text) of every tagged element."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.items, self._stack = [], []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self._stack.append((tag, a.get("data-k"), a.get("data-bool"), []))

    def handle_endtag(self, tag):
        while self._stack:
            t, key, is_bool, text = self._stack.pop()
            if key is not None:
                self.items.append((key, "".join(text), bool(is_bool)))
            if self._stack:
                self._stack[-1][3].extend(text)
            if t == tag:
                break

    def handle_data(self, data):
        if self._stack:
            self._stack[-1][3].append(data)


def resolve(report, path):
    node = report
    for part in path.split("/"):
        part = part.replace("~1", "/").replace("~0", "~")  # JSON pointer escapes
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


_NUM = re.compile(r"^-?\d+(\.\d+)?(e[+-]?\d+)?$")


def shown_matches(text: str, value, is_bool: bool) -> bool:
    """Does the text on the page show ``value``? Numbers: to within half a unit of the last digit shown."""
    if value is None:
        return text == "—"
    if isinstance(value, bool):
        return text == ({True: "agrees", False: "disagrees"} if is_bool else {True: "yes", False: "no"})[value]
    if isinstance(value, (int, float)):
        if text == "inf":
            return value >= 1e308
        if not _NUM.match(text):
            return False
        mant, _, exp = text.partition("e")
        decimals = len(mant.partition(".")[2])
        unit = 10.0 ** (-decimals + (int(exp) if exp else 0))
        return abs(float(text) - value) <= 0.5 * unit * (1 + 1e-9) + 1e-300
    if isinstance(value, str):
        return text == value.replace("_", " ") or text == value
    return False


def disagreements(report, page) -> tuple[int, list[str]]:
    parser = _Tagged()
    parser.feed(page)
    bad = []
    for key, text, is_bool in parser.items:
        try:
            value = resolve(report, key)
        except (KeyError, IndexError, ValueError, TypeError):
            bad.append(f"{key}: not in the JSON")
            continue
        if not shown_matches(text.strip() if not key.endswith("reproducer") else text, value, is_bool):
            bad.append(f"{key}: page shows {text!r}, JSON has {value!r}")
    return len(parser.items), bad


def test_report_json_validates_against_its_documented_schema():
    report, _ = _load(quick_report())
    schema.validate(report)
    assert schema.undocumented() == []
    s = report["summary"]
    assert s["depth"] == "quick" and s["seed"] == 3
    assert s["command"].startswith("gradspec report") and "--quick" in s["command"] and "--seed 3" in s["command"]
    assert s["command"].endswith("--oracle fd64")
    assert s["verdicts"]["total"] == len(report["matrix"]) == len(registry.OPS)
    # every registered oracle that imports was run; every expected one has a column, run or not
    names = [o["name"] for o in report["oracles"]]
    assert set(build.EXPECTED_ORACLES) <= set(names)
    for o in report["oracles"]:
        for row in report["matrix"]:
            assert (o["name"] in row["cells"]) == (o["status"] == "available"), (o, row["op"])


def test_schema_validator_names_the_broken_field():
    report, _ = _load(quick_report())
    broken = copy.deepcopy(report)
    del broken["summary"]["seed"]
    broken["matrix"][0]["cells"]["fd64"]["examples"] = "three"
    broken["experiments"]["vanishing"]["configs"][0]["surprise"] = 1
    errs = schema.errors(broken)
    assert any(e.startswith("/summary/seed: required") for e in errs), errs
    assert any(e.startswith("/matrix/0/cells/fd64/examples: expected integer") for e in errs), errs
    assert any(e.startswith("/experiments/vanishing/configs/0/surprise: field not documented") for e in errs), errs
    with pytest.raises(schema.SchemaError, match="does not match"):
        schema.validate(broken)


def test_page_shows_the_numbers_of_the_json():
    report, page = _load(quick_report())
    n, bad = disagreements(report, page)
    assert not bad, bad[:10]
    assert n > 2000  # the summary, the matrix, every table of every experiment
    parser = _Tagged()
    parser.feed(page)
    keys = {k for k, _, _ in parser.items}
    # the other direction: the key numbers of the JSON are all on the page
    for i, row in enumerate(report["matrix"]):
        for oname in row["cells"]:
            assert f"matrix/{i}/cells/{oname}/status" in keys
            assert f"matrix/{i}/cells/{oname}/examples" in keys
    for i in range(len(report["experiments"]["vanishing"]["configs"])):
        for f in ("factor_measured", "factor_theory", "factor_agrees"):
            assert f"experiments/vanishing/configs/{i}/{f}" in keys
    for st in ("pass", "fail", "error", "total"):
        assert f"summary/verdicts/{st}" in keys
    for i, _ in enumerate(report["experiments"]["init"]["rows"]):
        assert f"experiments/init/rows/{i}/var" in keys and f"experiments/init/rows/{i}/ks_p" in keys


def test_page_json_agreement_check_catches_a_doctored_page():
    report, page = _load(quick_report())
    value = report["experiments"]["vanishing"]["configs"][0]["factor_measured"]
    key = "experiments/vanishing/configs/0/factor_measured"
    doctored = re.sub(rf'(data-k="{key}">)[^<]*', lambda m: m.group(1) + format(value * 1.01, ".4g"), page)
    assert doctored != page
    _, bad = disagreements(report, doctored)
    assert len(bad) == 1 and bad[0].startswith(key)


def test_report_sections_and_size():
    report, page = _load(quick_report())
    for section in ("summary", "matrix", "bp", "dimensions", "vanishing", "clipping", "init", "histograms", "numdiff",
                    "hypothesis", "conventions"):
        assert f'<section id="{section}">' in page
    assert page.index('id="summary"') < page.index('id="matrix"')  # summary first
    assert os.path.getsize(os.path.join(quick_report(), "index.html")) < 10 * 2**20
    assert not re.search(r'(src|href)="(https?:)?//', page)  # nothing loaded from the network
    assert page.count('<math display="block"') == 8  # BP1-BP4, both layouts
    dims = page.split('<section id="dimensions">')[1].split("</section>")[0]
    assert dims.count('<math class="fm"') == 3 * len(report["dimensions"]["table"]["rows"]) + 2  # quantity, formula, rule; layouts
    assert page.count('src="data:image/png;base64,') >= 10
    # the measured dimension rules: each gradient has its parameter's shape, in both layouts
    rows = report["dimensions"]["measured"]["rows"]
    assert {r["same_as_param"] for r in rows if r["quantity"] in ("dW", "db")} == {True}
    assert {(r["layout"], r["m"]) for r in rows} == {("row", 1), ("row", 7), ("column", 1), ("column", 7)}


# --------------------------------------------------------------------------- a failing implementation
BAD_IMPL = '''
import numpy as np
from gradspec.reference import affine_forward, affine_backward as _ab, sigmoid_forward, sigmoid_backward, relu_forward
__version__ = "<b>0.0-bad</b>"

def relu_backward(x, dy):
    raise ValueError("<script>alert('pwned')</script> & friends")

def affine_backward(x, W, b, dy):
    dx, dW, db = _ab(x, W, b, dy)
    return dx, 2.0 * dW, db   # a wrong factor of 2
'''


def test_report_of_a_failing_implementation_shows_failure_diagnosis_and_reproducer_escaped(tmp_path):
    impl = tmp_path / "bad_layers.py"
    impl.write_text(BAD_IMPL)
    out = tmp_path / "out"
    rc = cli.main(["report", "--impl", str(impl), "--out", str(out), "--ops", "relu", "affine", "sigmoid",
                   "--quick", "--no-experiments", "--oracle", "fd64"])  # (Hypothesis shrinking of the failures is slow)
    assert rc == 1  # failures: the report is written and the exit status says so
    report, page = _load(out)
    schema.validate(report)
    status = {r["op"]: r["status"] for r in report["matrix"]}
    assert status == {"relu": "error", "affine": "fail", "sigmoid": "pass"}
    # escaped everywhere: the exception message, the implementation's version
    assert "<script>alert" not in page and "<b>0.0-bad</b>" not in page
    assert "&lt;script&gt;alert(&#x27;pwned&#x27;)&lt;/script&gt; &amp; friends" in page
    assert "&lt;b&gt;0.0-bad&lt;/b&gt;" in page
    assert page.count("<script") == 0
    # failures are in collapsed details with their reproducer
    assert page.count('<details class="failing">') == 2
    assert "<details open" not in page
    relu = next(r for r in report["matrix"] if r["op"] == "relu")
    affine = next(r for r in report["matrix"] if r["op"] == "affine")
    f_relu = relu["cells"]["fd64"]["checks"][1]["findings"][0]
    assert f_relu["kind"] == "exception" and "pwned" in f_relu["message"]
    assert f_relu["reproducer"] and "relu_backward" in f_relu["reproducer"]
    f_aff = next(f for c in affine["cells"]["fd64"]["checks"] for f in c["findings"] if f["kind"] == "mismatch")
    assert f_aff["reproducer"] and "affine_backward" in f_aff["reproducer"]
    assert html.escape(f_aff["reproducer"], quote=True) in page
    _, bad = disagreements(report, page)
    assert not bad, bad[:5]
    if importlib.util.find_spec("gradspec.diagnosis") is not None:
        assert f_aff["diagnosis"], "gradspec.diagnosis exists but the factor-2 dW was not diagnosed"
        assert html.escape(f_aff["diagnosis"], quote=True) in page
    else:
        assert f_aff["diagnosis"] is None
        assert "diagnosis: none available for this finding" in page
    assert report["experiments"] == {"not_run": "experiments disabled for this report"}
    assert "Not run: " in page


def test_every_importable_oracle_runs_by_default_and_a_broken_one_is_not_available_never_faked(tmp_path, monkeypatch):
    from gradspec import oracles

    monkeypatch.setitem(oracles.ORACLES, "broken", "gradspec.no_such_oracle_module")
    report = build.build_report(out=str(tmp_path), ops=["relu"], quick=True, experiments=False)
    row = next(o for o in report["oracles"] if o["name"] == "broken")
    assert row["status"] == "not_available" and "No module named" in row["reason"]
    assert "broken" not in report["matrix"][0]["cells"]
    importable = [n for n in oracles.ORACLES if n != "broken"]
    assert sorted(report["matrix"][0]["cells"]) == sorted(importable)
    assert all(o["status"] != "not_selected" for o in report["oracles"])
    page = (tmp_path / "index.html").read_text()
    assert 'data-k="oracles/' in page and "not available" in page
    assert report["bp"]["available"] is (report["bp"]["source"] is not None)


def test_cli_report_usage_errors(tmp_path, capsys):
    assert cli.main(["report", "--ops", "nope", "--out", str(tmp_path)]) == 2
    assert "unknown op" in capsys.readouterr().err
    assert cli.main(["report", "--oracle", "nope", "--out", str(tmp_path), "--no-experiments"]) == 2
    assert "unknown oracle" in capsys.readouterr().err
    assert cli.main(["report", "--impl", str(tmp_path / "missing.py"), "--out", str(tmp_path)]) == 2
    assert not (tmp_path / "index.html").exists()


# --------------------------------------------------------------------------- the experiments' verdicts are computed
def test_experiment_claims_are_computed_and_can_disagree():
    report, _ = _load(quick_report())
    v = report["experiments"]["vanishing"]
    configs = copy.deepcopy(v["configs"])
    assert all(c["agrees"] for c in E._vanishing_claims(configs, v["setup"]["depths"]))
    # a measurement that breaks the sigmoid bound and He's (1/sqrt 2)^L must be reported as disagreeing
    for c in configs:
        if c["activation"] == "sigmoid" and c["scale"] == "std0.01":
            c["factor_measured"] *= 1.5
        if c["activation"] == "relu" and c["scale"] == "lecun":
            c["measured"]["dA_std"]["median"][0] *= 10.0
    verdict = {c["id"]: c["agrees"] for c in E._vanishing_claims(configs, v["setup"]["depths"])}
    assert verdict["sigmoid_quarter"] is False and verdict["he_relu_lecun"] is False
    assert verdict["glorot_one_third"] is True


def test_init_statistics_reject_a_wrong_variance():
    # He's variance drawn where LeCun's is asked: the interval excludes the target and the verdict says so
    def draw(scheme, shape, rng):
        if scheme == "init_lecun_normal":
            return E.ref.init_he_normal(shape, rng)
        return getattr(E.ref, scheme)(shape, rng)

    res = E.init_statistics(0, draw)
    verdict = {(r["scheme"], r["shape_kind"]): r["agrees"] for r in res["rows"]}
    assert verdict[("init_lecun_normal", "dense")] is False and verdict[("init_lecun_normal", "conv")] is False
    assert verdict[("init_he_normal", "dense")] is True
    assert res["claims"][0]["agrees"] is False


def test_mean_field_theory_matches_closed_forms():
    # relu: E[f'^2] = 1/2 exactly, so the per-layer factor is sqrt(n Var W / 2); He: 1
    assert math.isclose(E.mean_field("relu", 2.0, 5)["geometric_factor"], 1.0, rel_tol=1e-9)
    assert math.isclose(E.mean_field("relu", 1.0, 5)["geometric_factor"], 1 / math.sqrt(2), rel_tol=1e-9)
    # sigmoid at tiny weights: sigma'(0) = 1/4
    mf = E.mean_field("sigmoid", 1e-12, 3)
    assert math.isclose(mf["fprime2"][0], 1 / 16, rel_tol=1e-6)
    # tanh with a large variance: E[tanh'(z)^2] is a narrow peak the grid must resolve (Gauss-Hermite does not);
    # the truth by mpmath quadrature
    import mpmath

    for q in (0.5, 100.0, 1e4):
        truth = mpmath.quad(lambda z: mpmath.sech(z) ** 4 * mpmath.exp(-z * z / (2 * q)) / mpmath.sqrt(2 * mpmath.pi * q),
                            [-mpmath.inf, -5, 0, 5, mpmath.inf])
        assert math.isclose(E.gauss_expect(lambda z: (1 - np.tanh(z) ** 2) ** 2, q), float(truth), rel_tol=1e-6), q


# --------------------------------------------------------------------------- what other oracles publish
def test_what_the_symbolic_oracle_publishes_is_rendered(tmp_path, monkeypatch):
    """BP1-BP4 proofs and the dimension-rule table are read from the symbolic oracle's results (here a stand-in
    module that publishes them the way the report reads them: ``info['bp_proofs']`` of its ``bp1_bp4`` check and
    ``info['dimension_table']`` of its ``dimension_rules`` check)."""
    import sys
    import types

    from gradspec import oracles
    from gradspec.results import CheckResult

    fake = types.ModuleType("_fake_symbolic_oracle")
    fake.NAME, fake.TITLE = "symbolic", "stand-in symbolic oracle"
    fake.applies = lambda op: op.name == "relu"
    proofs = [{"equation": "BP2", "layout": "column", "depth": 3, "width": 2, "activation": "σ", "proved": True}]
    rules = [{"layout": "row", "batch": "batch (m=3)", "quantity": "dW", "formula": "Aᵀ dZ", "rule": "(n_{l−1}, n_l)",
              "rule_shape": [2, 3], "derived": "(n_{l−1}, n_l)", "derived_shape": [3, 2], "reference_shape": [2, 3],
              "match": False, "formula_proved": True, "reference_value_error": 0.0, "same_shape_as_param": True}]
    fake.check_op = lambda op, impl, rng, examples: [
        CheckResult("symbolic", "backward", "pass", 1, 0.0, "exact"),
        CheckResult("symbolic", "bp1_bp4", "pass", 1, None, "proved", info={"bp_proofs": proofs}),
        CheckResult("symbolic", "dimension_rules", "pass", 1, None, "derived", info={"dimension_table": rules})]
    monkeypatch.setitem(sys.modules, "_fake_symbolic_oracle", fake)
    monkeypatch.setitem(oracles.ORACLES, "symbolic", "_fake_symbolic_oracle")
    report = build.build_report(out=str(tmp_path), ops=["relu", "sigmoid"], oracles=["fd64", "symbolic"], quick=True,
                                experiments=False)
    assert report["bp"]["available"] and report["bp"]["items"] == proofs
    assert report["dimensions"]["symbolic"]["available"] and report["dimensions"]["symbolic"]["rows"] == rules
    assert report["matrix"][1]["cells"]["symbolic"]["status"] == "not_applicable"  # sigmoid: the oracle said it does not apply
    page = (tmp_path / "index.html").read_text()
    assert 'data-k="bp/items/0/equation">BP2<' in page
    verdicts = {(r["layout"], r["quantity"]): r["verdict"] for r in report["dimensions"]["table"]["rows"]}
    assert verdicts[("row", "dW")] == "mismatch" and verdicts[("row", "W")] == "not derived"
    assert "not run" not in page.split('id="bp"')[1].split("</section>")[0]
    # each measured row shows its own symbolic verdict: the mismatching row says so, rows not derived say that
    dims = page.split('id="dimensions"')[1].split("</section>")[0]
    assert dims.count("MISMATCH") == 1 and "derived [3, 2], reference [2, 3]" in dims and "not derived" in dims
    _, bad = disagreements(report, page)
    assert not bad, bad[:5]


def test_hypothesis_coverage_is_what_the_properties_oracle_drew(tmp_path):
    report = build.build_report(out=str(tmp_path), ops=["conv2d"], oracles=["properties"], quick=True, experiments=False)
    cov = report["hypothesis"]
    assert cov["available"], cov["reason"]
    events = cov["ops"]["conv2d"]
    assert events["test cases"] >= 1 and any(e.startswith("stride ") for e in events)
    assert all(0 < n <= events["test cases"] for n in events.values())
    page = (tmp_path / "index.html").read_text()
    _, bad = disagreements(report, page)
    assert not bad, bad[:5]


def test_bp_proofs_proved_in_a_worker_are_adopted_by_the_symbolic_oracle(monkeypatch):
    """The report proves BP1–BP4 in its worker pool while the checks run; the symbolic oracle of the main
    process then reads that table instead of proving it again (here with a stand-in table and future)."""
    from concurrent.futures import Future

    from gradspec.symbolic import backprop

    monkeypatch.setattr(backprop, "_ADOPTED", {})
    rows = [{"statement": "BP1–BP4", "activation": "σ", "depth": 1, "holds": True, "identities_proved": 8,
             "identities_failed": 0}]
    runner = build.ExperimentRunner(0, "quick", workers=0, prove_bp=True)
    runner.bp_future = Future()
    runner.bp_future.set_result(rows)
    runner.adopt_bp()
    assert backprop.bp_proofs() == rows and runner.bp_future is None
    runner.adopt_bp()  # once only: a second call is a no-op
    assert list(backprop._ADOPTED) == [(4, 3, 2)]  # only the default table: other arguments are still proved here


def test_a_failed_bp_worker_leaves_the_proof_to_the_symbolic_oracle(monkeypatch):
    from concurrent.futures import Future

    from gradspec.symbolic import backprop

    monkeypatch.setattr(backprop, "_ADOPTED", {})
    runner = build.ExperimentRunner(0, "quick", workers=0, prove_bp=True)
    runner.bp_future = Future()
    runner.bp_future.set_exception(RuntimeError("worker died"))
    runner.adopt_bp()  # does not raise: the report goes on and the oracle proves BP1–BP4 itself
    assert backprop._ADOPTED == {} and runner.bp_error == "RuntimeError: worker died"


# --------------------------------------------------------------------------- the remedies and training dynamics
from gradspec.reports import remedies as R  # noqa: E402


def _verdicts(claims) -> dict:
    return {c["id"]: c["agrees"] for c in claims}


def test_every_claim_of_the_quick_report_agrees_and_is_counted():
    report, _ = _load(quick_report())
    e = report["experiments"]
    assert set(build.EXPERIMENT_NAMES) <= set(e) and e["not_selected"] == []
    claims = [c for name in build.EXPERIMENT_NAMES for c in e[name]["claims"]]
    assert [c["id"] for c in claims if not c["agrees"]] == []
    assert report["summary"]["claims"] == {"agree": len(claims), "disagree": 0}


def test_optimizer_claims_disagree_with_a_wrong_learning_rate():
    good = R.optimizer_paths(0, seeds=3)
    assert all(_verdicts(good["claims"]).values())
    # SGD at 0.4 (< 1/2) does not zigzag (so Momentum and Adam are no smoother than it); AdaGrad at 0.05 neither
    # damps y nor wins; Adam's bound does not involve the others
    bad = _verdicts(R.optimizer_paths(0, seeds=3, lrs={"sgd": 0.4, "adagrad": 0.05})["claims"])
    assert bad == {"sgd_zigzag": False, "momentum_adam_smooth": False, "adagrad_damps_y": False, "adagrad_closest": False,
                   "adam_step_bound": True}
    # a measurement doctored after the fact: a recorded SGD lr that is not the one the path was run with
    doctored = copy.deepcopy(good)
    doctored["optimizers"][0]["lr"] = 0.9
    assert _verdicts(R.optimizer_claims(doctored))["sgd_zigzag"] is False
    doctored["optimizers"][3]["max_step"][0] = 10.0
    assert _verdicts(R.optimizer_claims(doctored))["adam_step_bound"] is False


def test_xor_claims_disagree_on_separable_labels_a_broken_circuit_and_no_learning():
    bad = _verdicts(R.xor_and_depth(0, seeds=3, iterations=200, lr=0.01, parity_ns=(2, 3, 4),
                                    xor_targets=R.AND_T, gate_error=True)["claims"])
    assert bad == {"perceptron_cycles": False, "xor_not_separable": False, "mlp_learns_xor": False, "parity_depth": False}


def test_parity_circuits_compute_parity_exactly():
    rows = R.parity_table(range(2, 8))
    assert all(r["deep_errors"] == r["dnf_errors"] == r["count_errors"] == 0 for r in rows)
    assert [r["dnf_units"] for r in rows] == [2 ** (n - 1) + 1 for n in range(2, 8)]
    assert [r["deep_depth"] for r in rows] == [2 * math.ceil(math.log2(n)) for n in range(2, 8)]
    assert R.parity_table([5], gate_error=True)[0]["deep_errors"] > 0


def test_experiment_selection(tmp_path, capsys):
    out = tmp_path / "sel"
    assert cli.main(["report", "--quick", "--oracle", "fd64", "--ops", "relu", "--experiments", "optimizers",
                     "--out", str(out)]) == 0
    report, page = _load(out)
    schema.validate(report)
    assert set(report["experiments"]) == {"optimizers", "timings_s", "not_selected"}
    assert report["experiments"]["not_selected"] == [n for n in build.EXPERIMENT_NAMES if n != "optimizers"]
    assert report["summary"]["command"].endswith("--experiments optimizers")
    assert '<section id="optimizers">' in page and '<section id="vanishing">' not in page and 'id="not-selected"' in page
    _, bad = disagreements(report, page)
    assert not bad, bad[:5]
    assert cli.main(["report", "--experiments", "nope", "--out", str(tmp_path / "x")]) == 2
    assert "unknown experiment" in capsys.readouterr().err


def test_batchnorm_claim_disagrees_when_batchnorm_is_disabled():
    kw = dict(seeds=1, depth=10, width=100, batch=100)
    assert all(_verdicts(R.batchnorm_remedy(0, **kw)["claims"]).values())
    bad = _verdicts(R.batchnorm_remedy(0, use_bn=False, **kw)["claims"])
    assert bad["bn_factor_near_one"] is False
    assert bad["no_bn_vanishes_or_explodes"] is True  # the nets without batchnorm are unchanged


def test_residual_claims_disagree_when_the_skip_path_is_removed():
    kw = dict(seeds=2, depths=(10, 30), width=50, batch=50)
    assert all(_verdicts(R.residual_connections(0, **kw)["claims"]).values())
    bad = _verdicts(R.residual_connections(0, skip=False, **kw)["claims"])
    assert bad["identity_path_keeps_gradient"] is False and bad["residual_variance_growth"] is False
    assert bad["plain_mean_field"] is True


def test_mean_field_of_residual_and_batchnorm_nets_matches_closed_forms():
    # relu + He: the plain block keeps the gradient (factor 1), the unscaled residual block doubles its variance
    assert math.isclose(R.residual_theory("relu", 2.0, 10, residual=False), 1.0, rel_tol=1e-9)
    assert math.isclose(R.residual_theory("relu", 2.0, 10, residual=True), 2.0 ** 5, rel_tol=1e-9)
    # batchnorm: sqrt(E[f'(u)^2] / Var f(u)); for relu: E[f'^2] = 1/2, Var relu(u) = 1/2 - 1/(2 pi)
    assert math.isclose(R.bn_theory_factor("relu"), math.sqrt(0.5 / (0.5 - 1 / (2 * math.pi))), rel_tol=1e-6)


def test_dead_relu_claims_follow_the_closed_form_and_disagree_when_broken():
    kw = dict(nets=40, widths=(2, 4), depths=(2, 8, 16), batch=16)
    res = R.dead_relu(0, **kw)
    assert all(_verdicts(res["claims"]).values())
    assert R.dead_relu_probability(2, 3) == 1 - 0.75**3
    # a doctored measurement: nets reported alive that the closed form says die; no step effect at the large rate
    broken = copy.deepcopy(res)
    for c in broken["configs"]:
        c["dead_at_x0"] = 0.0
    broken["steps"][-1]["dead_units_after"] = broken["steps"][-1]["dead_units_before"]
    bad = _verdicts(R.dead_relu_claims(broken))
    assert bad["dead_at_a_point"] is False and bad["large_step_kills_units"] is False
    # a learning rate that is not large: the step kills nothing
    small = _verdicts(R.dead_relu(0, step_lrs=(0.001, 0.002), **kw)["claims"])
    assert small["large_step_kills_units"] is False


def test_jacobian_claim_disagrees_when_the_normalised_init_is_replaced():
    assert all(_verdicts(R.jacobian_singular_values(0, seeds=1, examples=3)["claims"]).values())
    bad = R.jacobian_singular_values(0, seeds=1, examples=3, draws={"glorot": R.JACOBIAN_INITS["classic"][1]})
    assert _verdicts(bad["claims"]) == {"jacobian_singular_values": False}


def test_batchnorm_init_scale_claim_disagrees_when_batchnorm_is_disabled():
    kw = dict(seeds=1, iterations=15, width=30, hidden=3, stds=[1.0, 0.1, 0.01, 0.001, 1e-4])
    # a doctored measurement: the "with batchnorm" curve replaced by the one without
    res = R.batchnorm_init_scale(0, **kw)
    broken = copy.deepcopy(res)
    broken["curves"][1] = dict(broken["curves"][0], batchnorm=True)
    assert _verdicts(R.bn_scale_claims(broken)) == {"bn_wide_init_range": False}
    off = R.batchnorm_init_scale(0, use_bn=False, **kw)
    assert off["curves"][0]["median"] == off["curves"][1]["median"]
    assert _verdicts(off["claims"]) == {"bn_wide_init_range": False}


def test_overfitting_claim_disagrees_without_the_regularisers():
    kw = dict(seeds=1, epochs=60, width=60)
    assert all(_verdicts(R.overfitting(0, **kw)["claims"]).values())
    assert _verdicts(R.overfitting(0, regularise=False, **kw)["claims"]) == {"regularisation_narrows_gap": False}


# --------------------------------------------------------------------------- the page: one dimension table, rendered from the JSON only
_HEAVY = ("sympy", "mpmath", "hypothesis", "gradspec.oracles", "gradspec.symbolic", "gradspec.mpmath_oracle", "gradspec.properties",
          "gradspec.runner", "gradspec.reports.build", "gradspec.reports.experiments", "gradspec.reports.remedies")
_RENDER_ONLY = ("import json, sys\n{pre}from gradspec.reports import render\n"
                "render.render_html(json.load(open(sys.argv[1], encoding='utf-8')))\n"
                "print(json.dumps(sorted(m for m in sys.modules if m.startswith({heavy!r}))))\n")


def _modules_after_rendering(path, pre=""):
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", _RENDER_ONLY.format(pre=pre, heavy=_HEAVY), path], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_the_renderer_imports_neither_sympy_nor_any_oracle(tmp_path):
    path = os.path.join(quick_report(), "report.json")
    assert _modules_after_rendering(path) == []
    # the check sees such an import when there is one (on the report without its experiments: no plots to draw)
    report, _ = _load(quick_report())
    report["experiments"] = {"not_run": "experiments disabled for this report"}
    small = tmp_path / "report.json"
    small.write_text(json.dumps(report), encoding="utf-8")
    assert _modules_after_rendering(str(small)) == []
    assert "sympy" in _modules_after_rendering(str(small), pre="import sympy\n")


def test_one_dimension_table_with_human_headers_and_math():
    report, page = _load(quick_report())
    dims = page.split('<section id="dimensions">')[1].split("</section>")[0]
    assert dims.count("<table") == 1
    headers = [re.sub(r"<[^>]+>", "", h) for h in re.findall(r"<th[^>]*>(.*?)</th>", page)]
    assert headers and not any(re.search(r"[a-z]_[a-z]", h) for h in headers), headers  # no raw JSON field names anywhere
    rows = report["dimensions"]["table"]["rows"]
    assert {(r["layout"], r["quantity"]) for r in rows} == {(lay, q) for lay in ("row", "column")
                                                            for q in ("W", "b", "Z", "A", "dW", "db", "dZ", "dA")}
    # the symbolic oracle did not run in this report: every row says so, nothing is filled in
    assert {r["verdict"] for r in rows} == {"not checked"} and all(r["derived_batch"] is None for r in rows)
    assert all(r["same_as_param"] for r in rows if r["quantity"] in ("dW", "db"))


def test_dimension_verdicts_are_computed_at_build_time():
    sym_rows = [{"layout": "row", "batch": "batch (m=3)", "quantity": "dW", "formula": "dW = Aᵀ dZ", "rule": "(n_{l-1}, n_l)",
                 "rule_shape": [2, 3], "derived_shape": [2, 3], "reference_shape": [2, 3], "match": True, "formula_proved": True,
                 "reference_value_error": 1e-16, "same_shape_as_param": True}]
    measured = build.measured_dimensions()
    sym = {"available": True, "source": "stand-in", "reason": "", "rows": sym_rows}
    good = {(r["layout"], r["quantity"]): r for r in build.dimension_table(measured, sym)["rows"]}
    assert good[("row", "dW")]["verdict"] == "agrees" and good[("row", "dW")]["formula_proved"] is True
    bad_rows = [dict(sym_rows[0], derived_shape=[3, 2], match=False)]
    bad = {(r["layout"], r["quantity"]): r for r in build.dimension_table(measured, dict(sym, rows=bad_rows))["rows"]}
    assert bad[("row", "dW")]["verdict"] == "mismatch" and bad[("row", "dW")]["problems"]
    off = build.dimension_table(measured, {"available": False, "source": None, "reason": "not run", "rows": []})
    assert {r["verdict"] for r in off["rows"]} == {"not checked"}


def test_every_remaining_claim_flips_on_a_doctored_measurement():
    """The claims not flipped by a broken run above, each fed a measurement that contradicts it."""
    bn = R.batchnorm_remedy(0, seeds=1, depth=10, width=100, batch=100)
    doctored = copy.deepcopy(bn)
    for c in doctored["configs"]:
        if not c["batchnorm"]:
            c["factor_median"] = 1.0  # the nets without batchnorm neither vanish nor explode
    assert _verdicts(R.batchnorm_claims(doctored))["no_bn_vanishes_or_explodes"] is False
    res = R.residual_connections(0, seeds=2, depths=(10, 30), width=50, batch=50)
    doctored = copy.deepcopy(res)
    for c in doctored["configs"]:
        if not c["residual"]:
            c["ratio_median"] *= 10.0  # the plain nets off their mean-field theory
    assert _verdicts(R.residual_claims(doctored))["plain_mean_field"] is False
    dead = R.dead_relu(0, nets=40, widths=(2, 4), depths=(2, 8, 16), batch=16)
    doctored = copy.deepcopy(dead)
    doctored["configs"][2]["dead_on_batch"] = 0.1  # the deepest narrow nets survive
    assert _verdicts(R.dead_relu_claims(doctored))["born_dead_with_depth"] is False
