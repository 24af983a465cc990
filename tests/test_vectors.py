"""Golden vectors: written, the reference checked from them passes, a mutant is caught from them;
a malformed, truncated or pickled-object corpus gives a clear error naming the file and field."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

import mpmath
import numpy as np
import pytest

from gradspec import registry, vectors
from gradspec.mpmath_oracle import vectors_mp
from gradspec.oracles import vectors as vectors_oracle

from gradspec.properties import mutants as mutants_lib
LIB = {m.name: m for m in mutants_lib.MUTANTS}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """The full corpus (every op, 2 registry samples each plus the kink cases): about 0.4 s."""
    root = str(tmp_path_factory.mktemp("vectors"))
    vectors.write(root, cases=2, seed=5)
    return root


def _copy(corpus, tmp_path):
    dst = tmp_path / "corpus"
    shutil.copytree(corpus, dst)
    return dst


def test_layout_and_every_op(corpus):
    assert sorted(os.listdir(corpus)) == ["README.md", "manifest.json", "ops", "schema.json"]
    man = json.load(open(os.path.join(corpus, "manifest.json")))
    assert man["format"] == "gradspec-vectors" and man["format_version"] == vectors.FORMAT_VERSION
    assert set(man["ops"]) == set(registry.REGISTRY)
    for name, e in man["ops"].items():
        assert os.path.isfile(os.path.join(corpus, e["json"])) and os.path.isfile(os.path.join(corpus, e["npz"]))
    assert "allow_pickle=False" in open(os.path.join(corpus, "README.md")).read()


def _walk(v, path=""):
    if isinstance(v, dict) and "dtype" in v and "data" in v:
        yield path, v
    elif isinstance(v, dict):
        for k, e in v.items():
            yield from _walk(e, f"{path}.{k}")
    elif isinstance(v, list):
        for i, e in enumerate(v):
            yield from _walk(e, f"{path}[{i}]")


def test_every_float_is_a_decimal_string_of_at_least_30_significant_digits(corpus):
    schema = json.load(open(os.path.join(corpus, "schema.json")))
    pattern = re.compile(schema["$defs"]["array"]["properties"]["data"]["items"]["oneOf"][0]["pattern"])
    case_fields = set(schema["properties"]["cases"]["items"]["properties"])
    n = 0
    for name in registry.REGISTRY:
        doc = json.load(open(os.path.join(corpus, "ops", f"{name}.json")))
        assert set(schema["required"]) <= set(doc)
        for case in doc["cases"]:
            assert set(case) <= case_fields, set(case) - case_fields  # every field is documented
            for path, arr in _walk(case):
                assert len(arr["data"]) == int(np.prod(arr["shape"]))
                if arr["dtype"] == "int64":
                    continue
                for s in arr["data"]:
                    assert pattern.match(s), (name, path, s)
                    if s != "0":
                        mant = s.split("e")[0].lstrip("-").replace(".", "")
                        assert len(mant) >= 30, (name, path, s)
                        n += 1
    assert n > 1000


def test_stored_digits_are_correct_to_36_digits(corpus, monkeypatch):
    """Recomputed at 80 digits, the stored 40-digit values agree to better than 1e-36 (relative)."""
    monkeypatch.setattr(vectors_mp, "WORKING_DPS", 80)
    for name in ("softmax", "batchnorm", "conv2d", "binary_cross_entropy", "adam", "mlp"):
        op = registry.get(name)
        loaded = vectors.load(corpus, [name])[name]
        raw = json.load(open(os.path.join(corpus, "ops", f"{name}.json")))["cases"][0]
        s = vectors_oracle.sample_of(op, loaded["cases"][0])
        if name == "mlp":
            s["params"] = [tuple(p) for p in s["params"]]
        dy = loaded["cases"][0].get("cotangent")
        vals = vectors_mp.spec_values(op, s, None if dy is None else np.asarray(dy))
        section = "gradients" if vals["gradients"] else "outputs"
        key = next(iter(vals[section]))
        got = vals[section][key]
        stored = raw[section][key]
        while isinstance(got, list):
            got, stored = got[-1], stored[-1]
        got = np.asarray(got, dtype=object).ravel()
        with mpmath.workdps(80):
            for g, st in zip(got, stored["data"]):
                assert abs(g - mpmath.mpf(st)) <= mpmath.mpf("1e-36") * max(abs(g), mpmath.mpf("1e-300")), (name, g, st)


def test_forwards_agree_with_the_independent_mpmath_oracle(corpus):
    from gradspec.mpmath_oracle import forward, lookup

    for name in ("sigmoid", "softmax", "affine", "conv2d", "avg_pool2d", "batchnorm", "mse", "binary_cross_entropy"):
        op = registry.get(name)
        for c, raw in zip(vectors.load(corpus, [name])[name]["cases"],
                          json.load(open(os.path.join(corpus, "ops", f"{name}.json")))["cases"]):
            s = vectors_oracle.sample_of(op, c)
            with mpmath.workdps(50):
                y, _ = lookup.evaluate(name, forward.sample_to_mp(s))
                y = np.asarray(y, dtype=object).ravel()
                for a, st in zip(y, raw["outputs"]["forward"]["data"]):
                    assert abs(a - mpmath.mpf(st)) <= mpmath.mpf("1e-30") * max(1, abs(a)), (name, a, st)


def test_npz_holds_the_same_values_as_float64(corpus):
    z = np.load(os.path.join(corpus, "ops", "affine.npz"), allow_pickle=False)
    doc = json.load(open(os.path.join(corpus, "ops", "affine.json")))
    dW = doc["cases"][1]["gradients"]["W"]
    assert z["1/gradients/W"].dtype == np.float64
    assert np.array_equal(z["1/gradients/W"], np.array([float(v) for v in dW["data"]]).reshape(dW["shape"]))


# --------------------------------------------------------------------------- round trip
def test_reference_passes_from_the_vectors_with_margin(corpus):
    result = vectors_oracle.check_from_vectors(corpus, None)
    assert result.ok, [(n, c.message) for n, c in result.failures()]
    assert result.oracles == ["vectors"]
    worst = max(c.worst_error for r in result.ops.values() for c in r.checks
                if c.worst_error is not None and c.check != "distribution")
    assert worst < 1e-3  # the float64 reference is > 1000x inside the tolerance


def test_the_vectors_oracle_is_registered_and_the_runner_drives_it(corpus, monkeypatch):
    """``oracles.get("vectors")`` reads its corpus from GRADSPEC_VECTORS; runner.check runs an Oracle object."""
    from gradspec import oracles, runner

    mod = oracles.get("vectors")
    assert mod is vectors_oracle and "vectors" in oracles.CORPUS_ORACLES and "vectors" not in oracles.ORACLES
    monkeypatch.delenv(vectors_oracle.ENV, raising=False)
    assert not mod.applies(registry.get("affine"))
    with pytest.raises(ValueError, match="GRADSPEC_VECTORS"):
        mod.check_op(registry.get("affine"), None, np.random.default_rng(0))
    monkeypatch.setenv(vectors_oracle.ENV, corpus)
    good = runner.check(None, ops=["affine", "mse"], oracles=["vectors"])
    assert good.ok and good.oracles == ["vectors"]
    assert {c.check for r in good.ops.values() for c in r.checks} == {"forward", "backward"}
    bad = runner.check(LIB["mse_backward_missing_1_over_N"].impl, ops=["mse"], oracles=[vectors_oracle.Oracle(corpus, ["mse"])])
    assert bad.ops["mse"].status == "fail" and bad.oracles == ["vectors"]


@pytest.mark.parametrize("name,want", [
    ("mse_backward_missing_1_over_N", "scaled_by_N"),
    ("relu_prime_at_zero_is_one", "relu_prime_at_zero_is_one"),  # only the kink case in the corpus shows it
    ("max_pool2d_last_max_on_ties", "max_pool_tie_to_last_max"),
    ("adam_eps_inside_sqrt", "adam_eps_inside_sqrt"),
    ("affine_bias_grad_averaged", "bias_grad_averaged"),
    ("init_xavier_uniform_draws_normal", None),
    ("conv2d_scaled_gradient_element", None),
])
def test_mutant_is_caught_from_the_vectors_with_its_diagnosis(corpus, name, want):
    m = LIB[name]
    result = vectors_oracle.check_from_vectors(corpus, m.impl, ops=[m.op])
    assert result.ops[m.op].status == "fail", [(c.check, c.status, c.message) for c in result.ops[m.op].checks]
    if want:
        bad = [c for c in result.ops[m.op].checks if c.status == "fail"]
        assert bad[0].info["diagnosis"][0]["name"] == want, bad[0].info.get("diagnosis")


def test_cli_round_trip(tmp_path):
    out = tmp_path / "v"
    proc = subprocess.run([sys.executable, "-m", "gradspec", "vectors", "--out", str(out), "--ops", "mse", "affine",
                           "--cases", "2"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "wrote" in proc.stdout and sorted(os.listdir(out / "ops")) == ["affine.json", "affine.npz", "mse.json", "mse.npz"]
    mutant = tmp_path / "my_mse.py"
    mutant.write_text("from gradspec.reference import *  # noqa\n"
                      "from gradspec.reference import mse_backward as _b\n"
                      "def mse_backward(y, t, dy):\n    return _b(y, t, dy) * len(y)\n")
    ok = subprocess.run([sys.executable, "-m", "gradspec", "check", "--vectors", str(out)], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    bad = subprocess.run([sys.executable, "-m", "gradspec", "check", "--vectors", str(out), "--impl", str(mutant)],
                         capture_output=True, text=True)
    assert bad.returncode == 1 and "probable bug: scaled_by_N" in bad.stdout, bad.stdout


# --------------------------------------------------------------------------- a bad corpus
def _err(root, ops=None):
    with pytest.raises(vectors.VectorsError) as ei:
        vectors.load(str(root), ops)
    return ei.value


def test_missing_corpus_and_manifest(tmp_path):
    e = _err(tmp_path / "nowhere")
    assert e.file == "manifest.json" and "missing" in str(e)


def test_truncated_json_names_the_file(corpus, tmp_path):
    root = _copy(corpus, tmp_path)
    p = root / "ops" / "affine.json"
    p.write_text(p.read_text()[:500])
    e = _err(root, ["affine"])
    assert e.file == "ops/affine.json" and "truncated" in str(e)


def test_truncated_npz_names_the_file(corpus, tmp_path):
    root = _copy(corpus, tmp_path)
    p = root / "ops" / "relu.npz"
    p.write_bytes(p.read_bytes()[:200])
    e = _err(root, ["relu"])
    assert e.file == "ops/relu.npz" and "npz" in str(e)


def test_pickled_object_array_is_refused_never_loaded(corpus, tmp_path):
    root = _copy(corpus, tmp_path)
    arrays = dict(np.load(root / "ops" / "relu.npz", allow_pickle=False))
    arrays["0/inputs/x"] = np.array([{"evil": 1}], dtype=object)  # np.save pickles object arrays
    np.savez(root / "ops" / "relu.npz", **arrays)
    e = _err(root, ["relu"])
    assert e.file == "ops/relu.npz" and e.field == "0/inputs/x" and "refused" in str(e)


def test_malformed_field_names_file_and_field(corpus, tmp_path):
    root = _copy(corpus, tmp_path)
    p = root / "ops" / "affine.json"
    doc = json.loads(p.read_text())
    doc["cases"][1]["gradients"]["W"]["data"].pop()
    p.write_text(json.dumps(doc))
    e = _err(root, ["affine"])
    assert (e.file, e.field) == ("ops/affine.json", "cases[1].gradients.W.data"), str(e)
    doc["cases"][1]["gradients"]["W"]["data"].append("not a number")
    p.write_text(json.dumps(doc))
    e = _err(root, ["affine"])
    assert e.field == "cases[1].gradients.W.data" and "not a number" in str(e)


def test_npz_that_disagrees_with_the_json_is_named(corpus, tmp_path):
    root = _copy(corpus, tmp_path)
    arrays = dict(np.load(root / "ops" / "mse.npz", allow_pickle=False))
    arrays["0/gradients/y"] = arrays["0/gradients/y"] * 2.0
    np.savez(root / "ops" / "mse.npz", **arrays)
    e = _err(root, ["mse"])
    assert (e.file, e.field) == ("ops/mse.npz", "0/gradients/y") and "differs" in str(e)


def test_wrong_version_and_unknown_op(corpus, tmp_path):
    root = _copy(corpus, tmp_path)
    man = json.loads((root / "manifest.json").read_text())
    e = _err(root, ["nosuchop"])
    assert (e.file, e.field) == ("manifest.json", "ops") and "nosuchop" in str(e)
    man["format_version"] = 99
    (root / "manifest.json").write_text(json.dumps(man))
    e = _err(root)
    assert (e.file, e.field) == ("manifest.json", "format_version")


def test_cli_bad_corpus_exits_2_naming_file(corpus, tmp_path):
    root = _copy(corpus, tmp_path)
    (root / "ops" / "sigmoid.json").write_text('{"format": "gradspec-vectors", "op": ')
    proc = subprocess.run([sys.executable, "-m", "gradspec", "check", "--vectors", str(root), "--ops", "sigmoid"],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "ops/sigmoid.json" in proc.stderr, proc.stderr


def test_checking_needs_neither_mpmath_nor_sympy(corpus):
    code = ("import sys, gradspec.oracles.vectors as v; r = v.check_from_vectors(sys.argv[1], None); "
            "assert r.ok; bad = [m for m in ('mpmath', 'sympy') if m in sys.modules]; assert not bad, bad")
    proc = subprocess.run([sys.executable, "-c", code, corpus], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_vectors_keep_to_declared_limits_and_check_a_forward_only_op(corpus):
    import types

    import gradspec.reference as ref

    def forward(x, kernel, stride, pad):
        if pad != 0:
            raise ValueError("padding is not supported")
        return ref.max_pool2d_forward(x, kernel, stride, pad)

    def backward(x, kernel, stride, pad, dy):
        if pad != 0:
            raise ValueError("padding is not supported")
        return ref.max_pool2d_backward(x, kernel, stride, pad, dy)

    code = types.ModuleType("pad_zero_and_softmax_forward")
    code.max_pool2d_forward, code.max_pool2d_backward, code.softmax_forward = forward, backward, ref.softmax_forward
    ops = ["max_pool2d", "softmax"]
    stored = [vectors_oracle.sample_of(registry.get("max_pool2d"), c)["pad"]
              for c in vectors.load(corpus, ["max_pool2d"])["max_pool2d"]["cases"]]
    assert 0 in stored and any(p > 0 for p in stored)  # the corpus holds cases on both sides of the limit
    assert vectors_oracle.check_from_vectors(corpus, impl=code, ops=ops).ops["max_pool2d"].status == "error"
    result = vectors_oracle.check_from_vectors(corpus, impl=code, ops=ops, limits={"max_pool2d": {"pad": 0}})
    pool, soft = result.ops["max_pool2d"], result.ops["softmax"]
    assert pool.status == "pass" and pool.limits == {"pad": 0}
    assert all(c.info["cases_outside_limits"] == sum(p > 0 for p in stored) for c in pool.checks)
    assert soft.status == "partial"
    assert {(c.check, c.status) for c in soft.checks} == {("forward", "pass"), ("backward", "not_implemented")}
