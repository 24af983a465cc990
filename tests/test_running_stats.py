"""Batch normalisation's running statistics through the cache and layers kits: the spec's update passes (also
written differently), each known wrong update fails with its name, and code without running statistics is
reported not applicable with the reason."""
from __future__ import annotations

import json
import textwrap

import numpy as np
import pytest

from gradspec.adapters import kits, running_stats

CACHE = '''
import numpy as np

def batchnorm_forward(x, gamma, beta, bn_param):
    mode, eps, momentum = bn_param["mode"], bn_param.get("eps", 1e-5), bn_param.get("momentum", 0.9)
    N, D = x.shape
    running_mean = bn_param.get("running_mean", np.zeros(D))
    running_var = bn_param.get("running_var", np.zeros(D))
    if mode == "train":
        mu = x.mean(axis=0)
        var = x.var(axis=0)
        xhat = (x - mu) / np.sqrt(var + eps)
        out = gamma * xhat + beta
        cache = (xhat, gamma, np.sqrt(var + eps))
        running_mean = {MEAN}
        running_var = {VAR}
    else:
        out = {INFER}
        cache = None
    bn_param["running_mean"] = running_mean
    bn_param["running_var"] = running_var
    return out, cache

def batchnorm_backward(dout, cache):
    xhat, gamma, std = cache
    N = dout.shape[0]
    dxhat = dout * gamma
    dx = (dxhat - dxhat.mean(axis=0) - xhat * (dxhat * xhat).mean(axis=0)) / std
    return dx, (dout * xhat).sum(axis=0), dout.sum(axis=0)
'''
SPEC = {"MEAN": "momentum * running_mean + (1 - momentum) * mu",
        "VAR": "momentum * running_var + (1 - momentum) * var",
        "INFER": "gamma * (x - running_mean) / np.sqrt(running_var + eps) + beta"}

LAYER = '''
import numpy as np

class BatchNormalization:
    def __init__(self, gamma, beta, momentum=0.9, running_mean=None, running_var=None, eps=1e-5):
        self.gamma, self.beta, self.momentum, self.eps = gamma, beta, momentum, eps
        self.running_mean, self.running_var = running_mean, running_var

    def forward(self, x, train_flg=True):
        if self.running_mean is None:
            self.running_mean, self.running_var = np.zeros(x.shape[1]), np.zeros(x.shape[1])
        if train_flg:
            mu = x.mean(axis=0)
            xc = x - mu
            var = np.mean(xc ** 2, axis=0)
            self.std = np.sqrt(var + self.eps)
            self.xn, self.n = xc / self.std, x.shape[0]
            {UPDATE}
        else:
            self.xn = (x - self.running_mean) / np.sqrt(self.running_var + self.eps)
        return self.gamma * self.xn + self.beta

    def backward(self, dout):
        self.dbeta, self.dgamma = dout.sum(axis=0), (self.xn * dout).sum(axis=0)
        d = self.gamma * dout
        return (d - d.mean(axis=0) - self.xn * (d * self.xn).mean(axis=0)) / self.std
'''
LAYER_SPEC = ("self.running_mean = self.momentum * self.running_mean + (1 - self.momentum) * mu; "
              "self.running_var = self.momentum * self.running_var + (1 - self.momentum) * var")


def _cache_module(tmp_path, name, **parts):
    path = tmp_path / f"{name}.py"
    src = CACHE
    for k, v in {**SPEC, **parts}.items():
        src = src.replace("{" + k + "}", v)
    path.write_text(src)
    return str(path)


def _layer_module(tmp_path, name, update=LAYER_SPEC):
    path = tmp_path / f"{name}.py"
    path.write_text(LAYER.replace("{UPDATE}", update))
    return str(path)


def _stats(target, style):
    result = kits.check(kits.wrap(target, style), ops=["batchnorm"], oracles=["fd64"], examples=3)
    (check,) = [c for c in result.ops["batchnorm"].checks if c.check == "running_statistics"]
    return result, check


def _cause(check):
    return [d["name"] for d in check.info.get("diagnosis", [])]


# --------------------------------------------------------------------------- correct code passes
@pytest.mark.parametrize("parts", [
    {},
    {"MEAN": "running_mean * momentum + mu * (1.0 - momentum)",  # the same update, rearranged
     "VAR": "running_var - (1 - momentum) * (running_var - np.mean((x - mu) ** 2, axis=0))"},
    {"INFER": "(x - running_mean) * (gamma / np.sqrt(running_var + eps)) + beta"},
], ids=["spec", "rearranged-update", "folded-inference"])
def test_cache_style_spec_update_passes(tmp_path, parts):
    result, check = _stats(_cache_module(tmp_path, "bn_ok", **parts), "cache")
    assert check.status == "pass", check.message
    assert result.ops["batchnorm"].status == "pass"


@pytest.mark.parametrize("update", [
    LAYER_SPEC,
    "self.running_mean += (1 - self.momentum) * (mu - self.running_mean); "
    "self.running_var += (1 - self.momentum) * (var - self.running_var)",
], ids=["book", "increment-form"])
def test_layer_style_spec_update_passes(tmp_path, update):
    _, check = _stats(_layer_module(tmp_path, "bnl_ok", update), "layers")
    assert check.status == "pass", check.message


# --------------------------------------------------------------------------- wrong code fails, named
@pytest.mark.parametrize("parts, cause", [
    ({"MEAN": "(1 - momentum) * running_mean + momentum * mu", "VAR": "(1 - momentum) * running_var + momentum * var"},
     "running_momentum_swapped"),
    ({"VAR": "momentum * running_var + (1 - momentum) * x.var(axis=0, ddof=1)"}, "running_var_unbiased"),
    ({"MEAN": "running_mean", "VAR": "running_var"}, "running_stats_not_updated"),
    ({"MEAN": "mu", "VAR": "var"}, "running_stats_replaced"),
    ({"INFER": "gamma * (x - x.mean(axis=0)) / np.sqrt(x.var(axis=0) + eps) + beta"}, "inference_uses_batch_statistics"),
    ({"INFER": "gamma * (x - running_mean) / (np.sqrt(running_var) + eps) + beta"}, "inference_eps_outside_root"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_cache_style_wrong_running_statistics_are_named(tmp_path, parts, cause):
    result, check = _stats(_cache_module(tmp_path, f"bn_{cause}", **parts), "cache")
    assert check.status == "fail"
    assert _cause(check) == [cause]
    assert result.ops["batchnorm"].status == "fail"  # the gradient checks pass; the op still fails


def test_layer_style_swapped_momentum_is_named(tmp_path):
    update = ("self.running_mean = (1 - self.momentum) * self.running_mean + self.momentum * mu; "
              "self.running_var = (1 - self.momentum) * self.running_var + self.momentum * var")
    _, check = _stats(_layer_module(tmp_path, "bnl_swapped", update), "layers")
    assert check.status == "fail" and _cause(check) == ["running_momentum_swapped"]


def test_an_unknown_wrong_update_fails_without_a_made_up_name(tmp_path):
    _, check = _stats(_cache_module(tmp_path, "bn_odd", MEAN="momentum * running_mean + (1 - momentum) * mu * 1.01"),
                      "cache")
    assert check.status == "fail" and _cause(check) == []
    assert check.findings[0].kind == "running_statistics"


def test_a_raising_update_is_a_finding_not_a_crash(tmp_path):
    _, check = _stats(_cache_module(tmp_path, "bn_raise", MEAN="running_mean[999]"), "cache")
    assert check.status == "fail" and check.findings[0].kind == "exception"


def test_a_layer_without_running_statistics_is_not_applicable_and_says_why(tmp_path):
    path = tmp_path / "bnl_none.py"
    path.write_text(textwrap.dedent(LAYER.replace("{UPDATE}", "pass")).replace(
        "        self.running_mean, self.running_var = running_mean, running_var\n", "").replace(
        "        if self.running_mean is None:\n            self.running_mean, self.running_var = np.zeros(x.shape[1]), "
        "np.zeros(x.shape[1])\n", "").replace(
        "self.xn = (x - self.running_mean) / np.sqrt(self.running_var + self.eps)", "raise RuntimeError('no')"))
    _, check = _stats(str(path), "layers")
    assert check.status == "not_applicable"
    assert "running_mean" in check.message


def test_the_check_itself_fails_on_a_wrong_probe_and_passes_the_spec():
    rng = np.random.default_rng(0)
    spec = running_stats.Probe(lambda x, g, b, eps, m, rm, rv: running_stats.spec_update(x, m, rm, rv),
                               running_stats.spec_infer, "spec")
    assert running_stats.check(spec, rng).status == "pass"
    wrong = running_stats.Probe(lambda x, g, b, eps, m, rm, rv: (rm + 1e-6, rv), None, "off")
    assert running_stats.check(wrong, rng).status == "fail"


def test_the_kit_mapping_and_notes_are_in_the_json(tmp_path):
    result, _ = _stats(_cache_module(tmp_path, "bn_json", **{}), "cache")
    data = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    kit = data["implementation"]["kit"]
    assert kit["style"] == "cache"
    assert kit["ops"]["batchnorm"]["bound"].startswith("batchnorm_forward")
    assert any("running_statistics" in n for n in kit["ops"]["batchnorm"]["notes"])
