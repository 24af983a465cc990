r"""The golden-vectors oracle: an implementation against a stored corpus, in float64 only.

A corpus (written by ``gradspec vectors``, read by :func:`gradspec.vectors.load`)
holds, per op, cases with inputs, cotangent and the spec's outputs and
gradients at 50 digits. This oracle calls the implementation on each stored
case and compares element by element with

.. math:: |a - t| \le 10^{-9}\,|t| + 10^{-12}\max(1, \max|t|)

(:data:`gradspec.vectors.RTOL`, :data:`gradspec.vectors.ATOL`), with no SymPy
and no mpmath. Initialisers are checked statistically against the stored
target variance (fd64's test).

The runner drives it like the other oracles (:func:`gradspec.runner.check`);
it needs a corpus, so it is an object: ``Oracle(corpus_dir)``. It is
registered in :data:`gradspec.oracles.CORPUS_ORACLES` (not in
:data:`gradspec.oracles.ORACLES`, whose oracles need no input and all run in
a report); ``gradspec check --vectors DIR`` runs it. Through
``gradspec.oracles.get("vectors")`` (this module), the corpus is the
directory in the environment variable ``GRADSPEC_VECTORS``.
"""
from __future__ import annotations

import os

import numpy as np

from .. import limits
from ..results import CheckResult, Finding, RunResult
from ..spec import OpSpec
from ..vectors import ATOL, RTOL, load, manifest

NAME = "vectors"
TITLE = "golden test vectors (stored 50-digit truth, float64 comparison)"
DEFAULT_EXAMPLES = None  # every stored case
#: Stored cases outside an op's declared limits (gradspec.limits) are left out, and the check says so.
HONOURS_LIMITS = True
#: A forward-only op: the stored forwards are compared, the backward is reported not provided.
FORWARD_ONLY = True
ENV = "GRADSPEC_VECTORS"


class Oracle:
    """The vectors oracle on the corpus at ``root`` (loaded and validated now: a bad corpus raises VectorsError)."""

    NAME = NAME
    TITLE = TITLE
    DEFAULT_EXAMPLES = DEFAULT_EXAMPLES
    HONOURS_LIMITS = HONOURS_LIMITS
    FORWARD_ONLY = FORWARD_ONLY

    def __init__(self, root: str, ops=None):
        self.root = root
        self.corpus = load(root, ops)

    def applies(self, op: OpSpec) -> bool:
        return op.name in self.corpus

    def check_op(self, op: OpSpec, impl, rng: np.random.Generator, examples: int | None = None) -> list[CheckResult]:
        cases = self.corpus[op.name]["cases"]
        op_limits = limits.of(op)
        kept = [c for c in cases if not limits.outside(op_limits, sample_of(op, c))]
        if not kept:
            why = sorted({limits.outside_message(op_limits, sample_of(op, c)) for c in cases})
            return [CheckResult(NAME, "-", "not_applicable",
                                message=f"every stored case of {op.name} is outside the declared limits: {'; '.join(why)}",
                                info={"cases_outside_limits": len(cases)})]
        checks = check_cases(op, impl, kept if examples is None else kept[:max(1, int(examples))])
        if len(kept) < len(cases):
            for c in checks:
                c.info["cases_outside_limits"] = len(cases) - len(kept)
        return checks


def applies(op: OpSpec) -> bool:
    """True when ``GRADSPEC_VECTORS`` names a corpus whose manifest lists ``op``."""
    root = os.environ.get(ENV)
    return bool(root) and op.name in manifest(root).get("ops", {})


def check_op(op: OpSpec, impl, rng: np.random.Generator, examples: int | None = None) -> list[CheckResult]:
    """``impl`` on the stored cases of ``op`` in the corpus named by ``GRADSPEC_VECTORS``."""
    root = os.environ.get(ENV)
    if not root:
        raise ValueError(f"the vectors oracle needs a corpus: set {ENV} to a directory written by `gradspec vectors`")
    return Oracle(root, [op.name]).check_op(op, impl, rng, examples)


def tolerance(t):
    """RTOL·|t| + ATOL·max(1, max|t|), element by element."""
    t = np.asarray(t, dtype=np.float64)
    scale = max(1.0, float(np.max(np.abs(t)))) if t.size else 1.0
    return RTOL * np.abs(t) + ATOL * scale


def sample_of(op: OpSpec, case: dict) -> dict:
    """The registry-format sample of a stored case (decoded inputs, optimiser hyperparameters, (W, b) tuples)."""
    s = dict(case["inputs"])
    if op.kind_facts.trajectory:
        s["hyper"] = dict(case.get("hyper", {}))
    if op.kind_facts.whole_network:
        s["params"] = [tuple(p) for p in s["params"]]
    for a in op.args:
        if a.role == "hyper" and isinstance(s.get(a.name), np.ndarray) and s[a.name].shape == ():
            s[a.name] = float(s[a.name])
    return s


def _compare_value(tracker: CheckResult, op, actual, expected, what, sample, repro_fn=None):
    from .common import check_array, check_scalar, compare

    if isinstance(expected, list):
        if not isinstance(actual, (list, tuple)) or len(actual) != len(expected):
            _fail(tracker, Finding("type", f"{what} must be a list/tuple of {len(expected)}, got {type(actual).__name__}"))
            return
        for k, (a, e) in enumerate(zip(actual, expected)):
            _compare_value(tracker, op, a, e, f"{what}[{k}]", sample)
        return
    if isinstance(expected, np.ndarray) and expected.shape != ():
        bad = check_array(actual, expected.shape, what)
        if bad:
            _fail(tracker, bad)
            return
    else:
        actual, bad = check_scalar(actual, what)
        if bad:
            _fail(tracker, bad)
            return
    worst, findings = compare(actual, expected, tolerance(expected), op=op, what=what, sample=sample)
    for fnd in findings:
        fnd.details["expected_is"] = "the stored high-precision value rounded to float64"
    tracker.worst_error = worst if tracker.worst_error is None else max(tracker.worst_error, worst)
    if findings:
        tracker.findings.extend(findings)
        tracker.status = "fail" if tracker.status == "pass" else tracker.status


def _fail(tracker: CheckResult, finding: Finding):
    tracker.findings.append(finding)
    tracker.status = "error" if finding.kind in ("exception", "missing", "timeout") or tracker.status == "error" else "fail"


def check_cases(op: OpSpec, impl, cases: list[dict]) -> list[CheckResult]:
    """CheckResults (oracle ``vectors``) of ``impl`` on ``op``'s stored cases."""
    names = [a.name for a in op.args]
    if op.kind_facts.has_backward:
        fwd, bwd = CheckResult("vectors", "forward", "pass"), CheckResult("vectors", "backward", "pass")
        diff = list(op.differentiable_args)
        for c in cases:
            s = sample_of(op, c)
            args = op.forward_args(s)
            fwd.examples += 1
            out = impl.call(op.forward, *args, arg_names=names)
            if not out.ok:
                _fail(fwd, out.finding)
            else:
                _compare_value(fwd, op, out.value, c["outputs"]["forward"], "forward", s)
            if op.extra.get("forward_only"):
                continue
            bwd.examples += 1
            dy = c["cotangent"]
            res = impl.call(op.backward, *args, dy, arg_names=names)
            if not res.ok:
                _fail(bwd, res.finding)
                continue
            g = res.value
            if len(diff) == 1 and not isinstance(g, (tuple, list)):
                g = (g,)
            if not isinstance(g, (tuple, list)) or len(g) != len(diff):
                _fail(bwd, Finding("type", f"{op.backward} must return {len(diff)} gradient(s), got {type(res.value).__name__}"))
                continue
            for name, gi in zip(diff, g):
                _compare_value(bwd, op, gi, c["gradients"][name], f"d{name}", s)
        checks = [fwd, bwd]
        if op.extra.get("forward_only"):
            from .common import backward_not_provided

            checks = [fwd, backward_not_provided(NAME, op)]
    elif op.kind_facts.value_only:
        t = CheckResult("vectors", "rule", "pass")
        for c in cases:
            s = sample_of(op, c)
            t.examples += 1
            res = impl.call(op.functions[0], *op.forward_args(s), arg_names=names)
            if not res.ok:
                _fail(t, res.finding)
                continue
            _compare_value(t, op, res.value, c["outputs"]["output"], "output", s)
        checks = [t]
    elif op.kind_facts.trajectory:
        t = CheckResult("vectors", "trajectory", "pass")
        init, update = op.functions
        for c in cases:
            s = sample_of(op, c)
            t.examples += 1
            st = impl.call(init, s["w"], arg_names=["w"])
            if not st.ok:
                _fail(t, st.finding)
                continue
            w, state = s["w"], st.value
            for k, (g, want) in enumerate(zip(s["grads"], c["outputs"]["trajectory"]), start=1):
                res = impl.call(update, w, g, state, arg_names=["w", "g", "state"], **s["hyper"])
                if not res.ok:
                    _fail(t, res.finding)
                    break
                if not isinstance(res.value, (tuple, list)) or len(res.value) != 2:
                    _fail(t, Finding("type", f"{update} must return (w_new, state_new), got {type(res.value).__name__}"))
                    break
                w, state = res.value
                n_before = len(t.findings)
                _compare_value(t, op, w, want, f"w after step {k}", s)
                if len(t.findings) > n_before:
                    break
        checks = [t]
    elif op.kind_facts.whole_network:
        fwd, bwd = CheckResult("vectors", "forward", "pass"), CheckResult("vectors", "backward", "pass")
        for c in cases:
            s = sample_of(op, c)
            fwd.examples += 1
            bwd.examples += 1
            res = impl.call(op.functions[0], *op.forward_args(s), arg_names=names)
            if not res.ok:
                _fail(fwd, res.finding)
                continue
            if not isinstance(res.value, (tuple, list)) or len(res.value) != 2:
                _fail(fwd, Finding("type", f"{op.functions[0]} must return (loss, grads), got {type(res.value).__name__}"))
                continue
            _compare_value(fwd, op, res.value[0], c["outputs"]["loss"], "loss", s)
            _compare_value(bwd, op, res.value[1], c["gradients"]["params"], "grads", s)
        checks = [fwd, bwd]
    else:  # init: statistics against the stored target
        from ..statistics import init_statistics
        from .fd64 import INIT_KS_P, INIT_Z

        t = CheckResult("vectors", "distribution", "pass")
        for k, c in enumerate(cases):
            shape = tuple(c["inputs"]["shape"])
            tg = c["targets"]
            t.examples += 1
            res = impl.call(op.name, shape, np.random.default_rng(k), arg_names=["shape", "rng"])
            if not res.ok:
                _fail(t, res.finding)
                continue
            from .common import check_array

            bad = check_array(res.value, shape, f"{op.name} output")
            if bad:
                _fail(t, bad)
                continue
            st = init_statistics(res.value, tg["family"], float(tg["variance"]))
            worst = max(abs(st["mean_z"]), abs(st["var_z"])) / INIT_Z
            t.worst_error = worst if t.worst_error is None else max(t.worst_error, worst)
            if worst > 1 or st["ks_p"] < INIT_KS_P:
                _fail(t, Finding("statistic", f"{op.name}{shape}: variance {st['var']:.4g} vs stored target "
                                              f"{float(tg['variance']):.4g} ({st['var_z']:.1f} standard errors), "
                                              f"mean {st['mean_z']:.1f} s.e., KS p = {st['ks_p']:.2g} for {tg['family']}", st))
        checks = [t]
    for c in checks:
        if c.status == "not_implemented":
            continue
        c.message = (f"matches the stored vectors ({c.examples} case(s))" if c.status == "pass"
                     else c.findings[0].message if c.findings else c.status)
        if c.worst_error is not None:
            c.worst_error = float(c.worst_error)
    return checks


def check_from_vectors(root: str, impl=None, ops=None, seed: int = 0, timeout=None, progress=None,
                       limits=None) -> RunResult:
    """Check ``impl`` against the corpus at ``root`` (float64 only): the runner driving the vectors oracle.
    ``limits``: as :func:`gradspec.runner.check` (stored cases outside them are left out).

    Raises VectorsError for a bad corpus (before anything runs). 
    """
    from ..runner import check

    oracle = Oracle(root, ops)
    return check(impl, ops=list(oracle.corpus), oracles=[oracle], seed=seed, progress=progress, timeout=timeout,
                 limits=limits)
