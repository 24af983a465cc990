"""Batch normalisation's running statistics, checked for the kits' batchnorm (cache and layers styles).

The protocol's ``batchnorm_forward(x, gamma, beta, eps)`` is the training-mode transform; code written in
the cs231n or fish-book style also keeps running statistics for inference. Their spec (cs231n's
``batchnorm_forward`` docstring and the fish book's ``BatchNormalization``) is, with ``momentum`` the
weight of the *old* value and the batch variance *biased* (divided by N)::

    running_mean' = momentum · running_mean + (1 − momentum) · mean(x)
    running_var'  = momentum · running_var  + (1 − momentum) · var(x)
    inference:  y = gamma · (x − running_mean) / sqrt(running_var + eps) + beta

A kit supplies a :class:`Probe`: ``train(x, gamma, beta, eps, momentum, running_mean, running_var)`` runs one
training-mode forward and returns the updated statistics, ``infer(x, gamma, beta, eps, running_mean,
running_var)`` one inference-mode forward. :func:`check` compares both with the spec on a few draws and, when
they differ, names the known variant the code matches (:data:`VARIANTS`), e.g. PyTorch's convention (momentum
weighting the *batch*, the unbiased variance) written into code that claims the cs231n one.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..results import CheckResult, Finding

#: Relative tolerance of the comparison: the spec's update is a few roundings (a mean, a variance, two products).
RTOL = 1e-10


@dataclass(frozen=True)
class Probe:
    """How a kit runs the code's running statistics (see the module docstring). ``bound``: what it calls."""

    train: Callable
    infer: Callable | None
    bound: str


def spec_update(x, momentum, rm, rv):
    """The spec's running statistics after one training-mode forward on ``x`` (N, D)."""
    return momentum * rm + (1 - momentum) * x.mean(axis=0), momentum * rv + (1 - momentum) * x.var(axis=0)


def spec_infer(x, gamma, beta, eps, rm, rv):
    """The spec's inference-mode output."""
    return gamma * (x - rm) / np.sqrt(rv + eps) + beta


#: Known wrong (or other-convention) running-statistics updates: name -> (explanation, update).
VARIANTS: dict[str, tuple[str, Callable]] = {
    "running_momentum_swapped": (
        "momentum weights the batch statistic instead of the old value: (1 − momentum)·old + momentum·batch "
        "(PyTorch's meaning of momentum, whose default is 0.1); the spec's is momentum·old + (1 − momentum)·batch",
        lambda x, m, rm, rv: ((1 - m) * rm + m * x.mean(axis=0), (1 - m) * rv + m * x.var(axis=0))),
    "running_var_unbiased": (
        "the running variance averages the unbiased batch variance (divided by N − 1, PyTorch's convention); "
        "the spec's is the biased one the forward normalises with (divided by N)",
        lambda x, m, rm, rv: (m * rm + (1 - m) * x.mean(axis=0), m * rv + (1 - m) * x.var(axis=0, ddof=1))),
    "running_stats_not_updated": (
        "the training-mode forward leaves the running statistics unchanged",
        lambda x, m, rm, rv: (rm, rv)),
    "running_stats_replaced": (
        "the running statistics are replaced by the batch's (momentum ignored): inference then depends on the "
        "last batch only",
        lambda x, m, rm, rv: (x.mean(axis=0), x.var(axis=0))),
}

#: Known wrong inference-mode forwards: name -> (explanation, forward).
INFER_VARIANTS: dict[str, tuple[str, Callable]] = {
    "inference_uses_batch_statistics": (
        "the inference-mode forward normalises with the batch's own mean and variance instead of the running ones",
        lambda x, g, b, eps, rm, rv: g * (x - x.mean(axis=0)) / np.sqrt(x.var(axis=0) + eps) + b),
    "inference_eps_outside_root": (
        "the inference-mode forward divides by sqrt(running_var) + eps instead of sqrt(running_var + eps)",
        lambda x, g, b, eps, rm, rv: g * (x - rm) / (np.sqrt(rv) + eps) + b),
}


def _close(a, b) -> bool:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        return False
    scale = np.maximum(np.abs(b), 1.0)
    return bool(np.all(np.abs(a - b) <= RTOL * scale))


def _draws(rng, n: int):
    for k in range(n):
        N, D = int(rng.integers(3, 7)), int(rng.integers(1, 5))
        x = rng.normal(rng.normal(0, 2, size=D), rng.uniform(0.5, 3, size=D), size=(N, D))
        yield (x, rng.normal(1, 0.3, size=D), rng.normal(0, 0.5, size=D), float(rng.choice([1e-5, 1e-3, 0.1])),
               float(rng.choice([0.9, 0.7, 0.99])), rng.normal(0, 1, size=D), rng.uniform(0.2, 2, size=D))


def _call(fn, *args):
    """(value, None) or (None, "ExcType: message") — a raising probe is a finding, never a crash."""
    try:
        return fn(*args), None
    except Exception as exc:  # noqa: BLE001 - the code under test may raise anything
        return None, f"{type(exc).__name__}: {exc}"


def check(probe: Probe | None, rng: np.random.Generator, examples: int = 4, why_not: str = "") -> CheckResult:
    """The running statistics of ``probe`` against the spec; ``not_applicable`` (saying ``why_not``) without one."""
    if probe is None:
        return CheckResult("kit", "running_statistics", "not_applicable",
                           message=why_not or "the code keeps no running statistics")
    findings: list[Finding] = []
    n = 0
    for x, g, b, eps, m, rm, rv in _draws(rng, examples):
        n += 1
        got, err = _call(probe.train, x.copy(), g.copy(), b.copy(), eps, m, rm.copy(), rv.copy())
        if err is not None:
            findings.append(Finding("exception", f"{probe.bound} (training mode) raised {err}", {"momentum": m}))
            break
        want = spec_update(x, m, rm, rv)
        if not (_close(got[0], want[0]) and _close(got[1], want[1])):
            named = [name for name, (_, f) in VARIANTS.items()
                     if all(_close(a, e) for a, e in zip(got, f(x, m, rm, rv)))]
            cause = named[0] if named else None
            text = VARIANTS[cause][0] if cause else "the running statistics differ from the spec's update"
            findings.append(Finding("running_statistics", f"running statistics after one training step: {text}",
                                    {"cause": cause, "momentum": m, "got_mean": got[0], "spec_mean": want[0],
                                     "got_var": got[1], "spec_var": want[1]}))
            break
        if probe.infer is not None:
            y, err = _call(probe.infer, x.copy(), g.copy(), b.copy(), eps, rm.copy(), rv.copy())
            if err is not None:
                findings.append(Finding("exception", f"{probe.bound} (inference mode) raised {err}", {}))
                break
            want_y = spec_infer(x, g, b, eps, rm, rv)
            if not _close(y, want_y):
                named = [name for name, (_, f) in INFER_VARIANTS.items() if _close(y, f(x, g, b, eps, rm, rv))]
                cause = named[0] if named else None
                text = INFER_VARIANTS[cause][0] if cause else "the inference-mode output differs from the spec's"
                findings.append(Finding("running_statistics", f"inference with running statistics: {text}",
                                        {"cause": cause, "eps": eps, "worst_abs_error":
                                         float(np.max(np.abs(np.asarray(y, dtype=np.float64) - want_y)))}))
                break
    checked = "the update and inference" if probe.infer is not None else "the update (no inference mode found)"
    if findings:
        f = findings[0]
        cause = f.details.get("cause")
        info = {"bound": probe.bound}
        message = f.message
        if cause:  # the same form as gradspec.diagnosis: info["diagnosis"], and the message names the bug
            explanation = {**VARIANTS, **INFER_VARIANTS}[cause][0]
            info["diagnosis"] = [{"name": cause, "explanation": explanation, "confidence": 1.0,
                                  "evidence": "the code's output equals this variant's on the failing draw"}]
            f.details["diagnosis"] = info["diagnosis"]
            message = f"{message} — probable bug: {cause}"
        return CheckResult("kit", "running_statistics", "fail", n, message=message, findings=findings, info=info)
    return CheckResult("kit", "running_statistics", "pass", n,
                       message=f"{checked} match the spec (momentum weights the old value, biased variance) "
                               f"on {n} draws", info={"bound": probe.bound})
