r"""Diagnosis: name the probable bug behind a failing check.

A failing check says *that* an implementation is wrong; this module says
*what* the bug probably is, and only on the checks whose data it explains.
Everything runs on concrete samples (the failing checks' own samples and the
falsifying examples of failing properties first, then samples made to expose
specific bugs, then fresh registry samples):

1. **Ratio patterns.** For each output that differs from the spec (the forward,
   each gradient, an optimizer's first update), fit
   :math:`a \approx c\,e` by least squares, :math:`c = \langle a, e\rangle /
   \langle e, e\rangle`, and accept the fit when the relative residual
   :math:`\lVert a - c e\rVert / \lVert a\rVert \le 10^{-8}`. Then :math:`c` is
   matched (relative tolerance :math:`10^{-6}`) against the candidates of that
   op and sample: :math:`N`, :math:`1/N`, :math:`2`, :math:`1/2`, :math:`-1`,
   :math:`1/m` for a bias summed over :math:`m` terms (the bias gradient
   averaged instead of summed), :math:`k^2`, :math:`1-p`, :math:`1/(1-p)`...
   A transposed result (``a.T == e``) is recognised the same way.
2. **Variants.** Each op has a list of known variants: the reference with one
   function replaced by a named, plausible alternative (relu'(0) = 1, the
   max-pool tie to the last maximum, avg-pool excluding the padding, batchnorm
   with the unbiased variance or with per-activation statistics on 4-D input,
   Adam without bias correction or with eps on the uncorrected √v, a loss
   computed as log(p + 1e-7)...), and every op has the generic ones: each
   hyperparameter ignored in favour of a common fixed value
   (:data:`FIXED_VALUES`: eps 1e-5, 1e-8, 0..., momentum 0.9, lr 0.01...) and a
   backward that ignores ``dy``. A variant is run on the same sample (and the
   same cotangent) as the implementation; when it differs from the spec on some
   outputs and reproduces the implementation's outputs there to float64
   precision (:math:`|a - v| \le 10^{-9}|v| + 10^{-12}\max(1, \max|v|)`), that
   is precise evidence for the bug, and explains itself. A variant that raises
   is matched by the exception type and message. When no single cause explains
   every differing output, **pairs** of variants are run (two co-occurring bugs,
   named together as ``a+b``), at most :data:`MAX_PAIRS` per op.
3. **Classes of inputs.** When the implementation raises on some valid samples
   and not on others, the condition on the samples' hyperparameters and
   dimensions that separates them is named (``raises whenever pad > 0``,
   ``whenever K = 1``; else two conditions, ``whenever N = 1 or K = 1``, with a
   lower confidence), on :data:`EXCEPTION_SAMPLES` extra samples, with at
   least two samples on each side.

Weight initialisers are diagnosed statistically: the sample variance is
compared with the variance of each scheme (LeCun, Glorot, He, He with fan_out,
a conv fan without the kernel) on two shapes, and the family (normal or
uniform) with Kolmogorov–Smirnov tests.

Hooked into :func:`gradspec.runner.check` by :func:`annotate`: one
:func:`analyse` per failing op, then :func:`attribute` per finding. A finding
gets ``details["diagnosis"]`` (a list of ``{"name", "explanation",
"confidence", "evidence", "facts"}``, best first) only for causes that
reproduce *its* output on *its* sample (an exception: the input class of that
function and exception type); its check gets the union in
``info["diagnosis"]`` and a message ending ``probable bug: <name>``. A finding
on an output that departs from the spec where nothing matches to float64
precision gets ``details["no_known_cause"]``: the nearest two candidates with
their relative residuals :math:`\lVert a - v\rVert/\lVert a\rVert`. Diagnosis
never raises and never changes a verdict.
"""
from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import limits, reference as ref
from .registry import INIT_SHAPES, OPS, OPT_HYPERS
from .evaluation import Raised, as_float, direct_caller, draw_dy, evaluate  # noqa: F401 (part of the API)
from .spec import OpSpec
from .statistics import init_statistics
from .variants import Variant, bases_of, catalogue_of, known

#: Relative residual below which a := c·e is accepted as a pure scaling.
FIT_RESIDUAL = 1e-8
#: Relative tolerance when matching the fitted c against a candidate.
CANDIDATE_RTOL = 1e-6
#: A variant reproduces an output when |a − v| <= MATCH_RTOL·|v| + MATCH_ATOL·max(1, max|v|).
MATCH_RTOL, MATCH_ATOL = 1e-9, 1e-12
#: Fresh registry samples tried when the failing sample is not known or shows nothing.
FRESH_SAMPLES = 3


@dataclass(frozen=True)
class Diagnosis:
    """A probable bug: a stable ``name``, a sentence for a person, a confidence in [0, 1]."""

    name: str
    explanation: str
    confidence: float
    evidence: str = ""
    facts: tuple = ()  # structured details as (key, value) pairs: the hyperparameter and its value, the condition...

    def as_dict(self) -> dict:
        out = {"name": self.name, "explanation": self.explanation, "confidence": round(float(self.confidence), 3),
               "evidence": self.evidence}
        if self.facts:
            out["facts"] = {k: v for k, v in self.facts}
        return out


# =========================================================================== evaluating an op on a sample
# (gradspec.evaluation: evaluate, Raised, direct_caller, draw_dy)
def _impl_caller(impl):
    def call(name, *args, **kwargs):
        out = impl.call(name, *args, **kwargs)
        if out.ok or (out.finding is not None and out.finding.kind == "mutation"):
            return out.value
        f = out.finding
        return Raised(str(f.details.get("type", f.kind)), str(f.details.get("message", f.message)))

    return call


def _close(a, v) -> bool:
    if isinstance(v, Raised) or isinstance(a, Raised):
        return isinstance(v, Raised) and v.same(a)
    if a.shape != v.shape:
        return False
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(v))):
        return bool(np.array_equal(a, v, equal_nan=True))
    scale = max(1.0, float(np.max(np.abs(v)))) if v.size else 1.0
    return bool(np.all(np.abs(a - v) <= MATCH_RTOL * np.abs(v) + MATCH_ATOL * scale))


def differing(a: dict, b: dict) -> list[str]:
    """Keys whose values differ between two :func:`evaluate` results (keys missing on one side differ)."""
    keys = list(dict.fromkeys(list(b) + list(a)))
    return [k for k in keys if k not in a or k not in b or not _close(a[k], b[k])]


# =========================================================================== ratio patterns
def fit_scale(actual, expected) -> tuple[float, float]:
    r"""Least-squares :math:`c` in :math:`a \approx c\,e` and the relative residual :math:`\lVert a - ce\rVert/\lVert a\rVert`.

    Shapes
    ------
    actual, expected : the same shape. Returns (c, residual); (nan, inf) when
    the shapes differ or ``expected`` is zero.
    """
    a = np.asarray(actual, dtype=np.float64)
    e = np.asarray(expected, dtype=np.float64)
    if a.shape != e.shape or not np.all(np.isfinite(a)) or not np.all(np.isfinite(e)):
        return float("nan"), float("inf")
    ee = float(np.sum(e * e))
    if ee == 0.0:
        return float("nan"), float("inf")
    c = float(np.sum(a * e)) / ee
    na = float(np.sqrt(np.sum(a * a)))
    res = float(np.sqrt(np.sum((a - c * e) ** 2))) / na if na > 0 else float("inf")
    return c, res


_BIAS_ARGS = {"b", "beta"}


def _batch(op: OpSpec, sample: dict) -> int | None:
    for key in ("x", "y", "p", "z", "X"):
        v = sample.get(key)
        if isinstance(v, np.ndarray) and v.ndim >= 2:
            return int(v.shape[0])
    return None


def _bias_rule(op: OpSpec):
    """(terms(sample, key, out_ref) -> int | None, what the sum runs over) from the op's catalogue, or None."""
    cat = catalogue_of(op)
    return None if cat is None else cat.bias_sums.get(op.name)


def ratio_candidates(op: OpSpec, sample: dict, key: str, out_ref: dict) -> list[tuple[float, str, str]]:
    """(c, name, explanation) of the scalings worth naming for output ``key`` of ``op`` on ``sample``."""
    what = "the gradient" if key.startswith(("d", "update")) else "the output"
    cands = [(2.0, "scaled_by_2", f"{what} is twice the spec's: a factor of 2 too many (e.g. the ½ of ½·x² "
                                  "differentiated twice, or x² differentiated as 4x)"),
             (0.5, "scaled_by_1_over_2", f"{what} is half the spec's: a factor of ½ too many"),
             (-1.0, "wrong_sign", f"{what} has the wrong sign (a − b written as b − a, or ascent instead of descent)")]
    N = _batch(op, sample)
    if N and N > 1:
        cands += [(float(N), "scaled_by_N", f"{what} is N = {N} times the spec's: the 1/N of the batch mean is missing"),
                  (1.0 / N, "scaled_by_1_over_N", f"{what} is 1/N = 1/{N} of the spec's: divided by the batch size once "
                                                  "too often (the 1/N belongs to the loss only)")]
    rule = _bias_rule(op)
    m = None if rule is None else rule[0](sample, key, out_ref)
    if m and m > 1 and key.lstrip("d").rstrip("0123456789") in _BIAS_ARGS | {"gamma"}:
        arg = key[1:]
        cands.insert(0, (1.0 / m, "bias_grad_averaged",
                         f"d{arg} is the mean of its {m} terms instead of their sum: the bias gradient must sum over "
                         f"{rule[1]}"))
    cat = catalogue_of(op)
    for extra in ([] if cat is None else cat.ratios.get(op.name, [])):  # the op's own scalings (kernel², 1 − p)
        cands += extra(sample, what)
    if op.kind_facts.scalar_output:
        K = int(np.shape(sample[op.args[0].name])[-1])
        if K > 1:
            cands.append((1.0 / K, "mean_over_all_elements", f"{what} is 1/K = 1/{K} of the spec's: the loss averages "
                                                             "over all N·K elements instead of summing over K and "
                                                             "averaging over the batch"))
    return cands


def diagnose_arrays(actual, expected, *, op: OpSpec, argument: str, sample: dict, out_ref: dict | None = None) -> list[Diagnosis]:
    """Ratio patterns of one output: ``actual`` against the spec's ``expected`` (see the module docstring).

    Shapes
    ------
    actual, expected : the shape of the output (a transposed ``actual`` is recognised).
    """
    a = np.asarray(actual, dtype=np.float64)
    e = np.asarray(expected, dtype=np.float64)
    where = f"{op.name} {argument}"
    if a.ndim == 2 and e.ndim == 2 and a.shape == e.shape[::-1] and a.shape != e.shape and _close(a.T, e):
        weight = argument.lstrip("d")[:1] == "W" or argument in ("W", "dW")
        name = "transposed_weight" if weight else "transposed"
        return [Diagnosis(name, f"{where} is the transpose of the spec's ({a.shape} instead of {e.shape}): "
                                f"{'the weight gradient is returned as dyᵀ·x instead of xᵀ·dy' if weight else 'a transpose too many'}",
                          0.95, "a.T equals the expected array")]
    c, res = fit_scale(a, e)
    if not math.isfinite(c) or res > FIT_RESIDUAL:
        return []
    found = []
    cands = ratio_candidates(op, sample, argument, out_ref or {})
    hits = [(v, n, x) for v, n, x in cands if abs(c - v) <= CANDIDATE_RTOL * abs(v)]
    if any(n == "bias_grad_averaged" for _, n, _ in hits):  # the specific cause of a 1/m on a bias
        hits = [h for h in hits if h[1] == "bias_grad_averaged" or abs(h[0] - c) > CANDIDATE_RTOL * abs(c)]
    for v, name, expl in hits:
        conf = 0.9 if len({n for _, n, _ in hits}) == 1 else 0.6
        found.append(Diagnosis(name, f"{where}: {expl}", conf, f"{argument} = {c:.12g} × the spec's (residual {res:.1e})"))
    if not hits and abs(c - 1.0) > 1e-6:
        found.append(Diagnosis("scaled", f"{where} is the spec's times a constant c = {c:.6g} (no known cause matched)",
                               0.4, f"{argument} = {c:.12g} × the spec's (residual {res:.1e})"))
    return found


# =========================================================================== variants
def combine(a: Variant, b: Variant) -> Variant | None:
    """Both bugs at once, or None when the two cannot be composed (they replace the same function)."""
    name = f"{a.name}+{b.name}"
    expl = f"two bugs together: {a.explanation}; and {b.explanation}"
    facts = (("causes", (a.name, b.name)),) + tuple(a.facts) + tuple(b.facts)
    if a.family is not None and a.family is b.family:
        pa, pb = dict(a.params), dict(b.params)
        if any(k in pb and pb[k] != v for k, v in pa.items()):
            return None
        params = {**pa, **pb}
        return Variant(name, a.op, expl, a.family(**params), None, a.family, tuple(sorted(params.items())), facts,
                       bases=a.bases)
    if a.wrap is not None and b.wrap is not None and not a.overrides and not b.overrides:
        wa, wb = a.wrap, b.wrap
        return Variant(name, a.op, expl, {}, lambda ns: wb(wa(ns)), None, (), facts, bases=a.bases)
    if set(a.overrides) & set(b.overrides):
        return None
    wraps = [w for w in (a.wrap, b.wrap) if w is not None]
    wrap = None
    if len(wraps) == 1:
        wrap = wraps[0]
    elif len(wraps) == 2:
        wrap = lambda ns: wraps[1](wraps[0](ns))  # noqa: E731
    return Variant(name, a.op, expl, {**a.overrides, **b.overrides}, wrap, None, (), facts, bases=a.bases)


def expand(variants: list[Variant], functions: tuple[str, ...]) -> list[Variant]:
    """The variants plus, for each that replaces several of the op's protocol ``functions``, each replacement alone.

    A bug often sits in one function of a pair (the forward fixed, the backward
    not): the single-function forms let the diagnosis recognise it. Replacements
    of functions outside the protocol (the MLP's ``mlp_backprop``, which the
    properties read) are never split off: the diagnosis does not call them.
    """
    out = list(variants)
    for v in variants:
        own = {fn: f for fn, f in v.overrides.items() if fn in functions}
        if len(own) > 1:
            out += [Variant(v.name, v.op, f"{v.explanation} (in {fn} only)", {fn: f}, v.wrap, None, (), v.facts, False,
                            bases=v.bases)
                    for fn, f in own.items()]
    return out


def diagnosed_variants(op: OpSpec) -> list[Variant]:
    """The known variants of ``op`` (its record's catalogue) that the diagnosis recognises by name."""
    return [v for v in known(op) if v.diagnosed]


#: op -> its diagnosed variants, in the order they are tried (a snapshot of the records' catalogues)
VARIANTS: dict[str, list[Variant]] = {op.name: diagnosed_variants(op) for op in OPS}


# =========================================================================== probes: samples that expose a variant
def probes(op: OpSpec, rng: np.random.Generator) -> list[dict]:
    """Samples made to expose ``op``'s variants: the kink cases of :mod:`gradspec.conventions` and the probes of
    its record's catalogue of known variants."""
    from .conventions import cases

    cat = catalogue_of(op)
    return [c.sample for c in cases(op)] + [p(rng) for p in ([] if cat is None else cat.probes.get(op.name, []))]


# =========================================================================== generic variants: any op
#: Values a hyperparameter is commonly hard-coded to, tried when an implementation ignores the one passed in.
FIXED_VALUES: dict[str, tuple] = {
    "eps": (1e-5, 1e-8, 1e-7, 1e-3, 1e-6, 1e-4, 1e-2, 0.0),
    "momentum": (0.9, 0.99, 0.5, 0.0),
    "lr": (0.01, 0.1, 1e-3, 1.0, 1e-4, 0.5),
    "p": (0.5, 0.0, 0.2, 0.1),
    "decay": (0.9, 0.99, 0.999),
    "beta1": (0.9,),
    "beta2": (0.999,),
    "lam": (1e-4, 1e-3, 1e-2, 0.1, 1.0, 0.5),
    "max_norm": (1.0, 5.0),
    "clip": (1.0, 5.0),
    "stride": (1, 2),
    "pad": (0,),
    "kernel": (2,),
}


def _hyper_names(op: OpSpec) -> list[tuple[str, int | None]]:
    """(name, positional index in the op's functions, or None when passed by keyword) of each hyperparameter."""
    if op.kind_facts.trajectory:
        return [(h, None) for h in OPT_HYPERS.get(op.name, {})]
    return [(a.name, i) for i, a in enumerate(op.args) if a.role == "hyper"]


def _with_fixed(f, name: str, pos: int | None, value):
    def fixed(*args, **kw):
        if name in kw:
            kw = {**kw, name: value}
        elif pos is not None and pos < len(args):
            args = args[:pos] + (value,) + args[pos + 1:]
        return f(*args, **kw)

    return fixed


def _fix_wrap(fns, name, pos, value):
    def wrap(ns: dict) -> dict:
        return {**ns, **{fn: _with_fixed(ns[fn], name, pos, value) for fn in fns if fn in ns}}

    return wrap


def _ones_dy_wrap(fn: str, scalar: bool):
    def wrap(ns: dict) -> dict:
        f = ns[fn]

        def ignores_dy(*args, **kw):
            dy = args[-1]
            return f(*args[:-1], 1.0 if scalar else np.ones(np.shape(dy)), **kw)

        return {**ns, fn: ignores_dy}

    return wrap


def generic_variants(op: OpSpec) -> list[Variant]:
    """Variants every op has: each hyperparameter ignored in favour of a common fixed value
    (:data:`FIXED_VALUES`), and a backward that ignores ``dy`` (the Jacobian applied to ones)."""
    out = []
    bases = bases_of(op)
    fns = [f for f in op.functions if not op.kind_facts.trajectory or f.endswith("_update")]
    for name, pos in _hyper_names(op):
        for v in FIXED_VALUES.get(name, ()):
            expl = f"ignores the {name} passed in and always uses {name} = {v:g}"
            facts = (("hyperparameter", name), ("value", v))
            out.append(Variant("ignored_hyperparameter", op.name, expl, {}, _fix_wrap(fns, name, pos, v), facts=facts,
                               bases=bases))
            if len(fns) > 1:
                out += [Variant("ignored_hyperparameter", op.name, f"{expl} (in {fn} only)", {},
                                _fix_wrap([fn], name, pos, v), facts=facts, primary=False, bases=bases) for fn in fns]
    if op.kind_facts.has_backward:
        out.append(Variant("backward_ignores_dy", op.name, f"{op.backward} ignores the upstream gradient dy: it returns "
                           "the Jacobian applied to ones (as if dy = 1) instead of the vector–Jacobian product with dy",
                           {}, _ones_dy_wrap(op.backward, op.kind_facts.scalar_output), bases=bases))
    return out


def _label(v: Variant) -> str:
    """A variant's name with its parameters, for lists of candidates."""
    facts = dict(v.facts)
    if "hyperparameter" in facts:
        return f"{v.name}({facts['hyperparameter']}={facts['value']:g})"
    if "eps" in facts:
        return f"{v.name}(eps={facts['eps']:g})"
    return v.name


# =========================================================================== the engine
def _ratio_key(op: OpSpec, key: str) -> bool:
    """Outputs on which a scaling is meaningful: an optimizer's or a learning rule's update, not its new weights."""
    if op.kind_facts.trajectory:
        return key == "update[1]"
    if op.kind_facts.learning_rule:
        return key == "update"
    return True


def norm_key(op: OpSpec, key: str) -> str:
    """The output a key belongs to, for matching a finding with a diagnosis (an optimizer's steps are one output)."""
    if op.kind_facts.trajectory and (key.startswith(("w[", "update")) or key == "init"):
        return "w"
    if op.kind_facts.learning_rule and key == "update":
        return "output[0]"
    return key


#: Evaluations of a pair of variants allowed per op (the search for two co-occurring bugs).
MAX_PAIRS = 300
#: Extra registry samples drawn to relate an exception to a class of inputs.
EXCEPTION_SAMPLES = 16
#: Seconds after which the search for further causes and the evaluation of further samples stop (a guard for
#: slow implementations; the counts above keep a normal diagnosis well under it).
TIME_BUDGET_S = 20.0
#: Samples of findings outside the analysis that :func:`attribute` evaluates (a finding on a further sample gets no cause).
MAX_EXTRA_SAMPLES = 6
#: Raised types that are structure, not an exception of the implementation.
_STRUCT = ("len", "type", "missing", "timeout", "mutation")


@dataclass
class _Ev:
    """One sample: the spec's outputs, the implementation's and the keys where they differ."""

    sample: dict
    dy: Any
    ref: dict
    impl: dict
    bad: list


@dataclass
class Named:
    """A named cause with the outputs it explains on each sample of the analysis (index -> keys)."""

    diagnosis: Diagnosis
    keys: dict
    variant: Variant | None = None
    exception: tuple | None = None  # (function, exception type) for an input-class exception
    scale: tuple | None = None  # (key, candidate name) for a scaling

    def all_keys(self) -> set:
        return set().union(*self.keys.values()) if self.keys else set()


@dataclass
class Analysis:
    """Everything :func:`analyse` found about one op: the samples, the named causes, the residuals of the nearest."""

    op: OpSpec
    evs: list
    named: list
    residuals: dict  # (sample index, key) -> [(residual, label)]
    fits: dict  # (sample index, key) -> (c, residual) of the least-squares scaling
    impl: Any = None
    deadline: float = float("inf")  # time.perf_counter() after which no further sample is evaluated

    def diagnoses(self) -> list[Diagnosis]:
        found: dict = {}
        for n in self.named:
            _keep(found, n.diagnosis)
        return sorted(found.values(), key=lambda d: -d.confidence)


def _evaluate_sample(op, call_ref, call_impl, s, rng) -> _Ev:
    out_ref = evaluate(op, call_ref, s)
    dy = draw_dy(op, out_ref, rng)
    out_ref = evaluate(op, call_ref, s, dy)
    out_impl = evaluate(op, call_impl, s, dy)
    return _Ev(s, dy, out_ref, out_impl, differing(out_impl, out_ref))


def _rel_residual(a, v) -> float:
    if not (isinstance(a, np.ndarray) and isinstance(v, np.ndarray)) or a.shape != v.shape:
        return float("inf")
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(v))):
        return float("inf")
    na = float(np.linalg.norm(a))
    d = float(np.linalg.norm(a - v))
    return d / na if na > 0 else (0.0 if d == 0 else float("inf"))


def _record_residuals(residuals, ev: _Ev, si: int, out_v: dict, label: str, shows: set):
    for k in set(ev.bad) & shows:  # a candidate that leaves an output as the spec's is no candidate for it
        r = _rel_residual(ev.impl.get(k), out_v.get(k))
        if math.isfinite(r):
            residuals.setdefault((si, k), []).append((r, label))


def _score(op, variant, call_v, evs, bad_idx, residuals, record=True):
    """(reproduced keys per sample, complete on every sample with evidence, refuted) of one variant."""
    keys: dict = {}
    complete = True
    for si in bad_idx:
        ev = evs[si]
        out_v = evaluate(op, call_v, ev.sample, ev.dy)
        shows = set(differing(out_v, ev.ref))
        if record:
            _record_residuals(residuals, ev, si, out_v, _label(variant), shows)
        both = shows & set(ev.bad)
        if not both:
            complete = False
            continue  # no evidence either way on this sample
        if differing({k: ev.impl[k] for k in shows if k in ev.impl}, {k: out_v[k] for k in shows if k in out_v}):
            return keys, False, True  # where the variant departs from the spec, the implementation must follow it
        keys[si] = both
        complete = complete and both >= set(ev.bad)
    return keys, complete and bool(keys), False


def _refuted_on_clean(op, call_v, evs) -> bool:
    """A variant that departs from the spec on a sample where the implementation agrees with it is refuted."""
    for ev in evs:
        if not ev.bad and differing(evaluate(op, call_v, ev.sample, ev.dy), ev.ref):
            return True
    return False


def _variant_diagnosis(op, v: Variant, keys: dict, complete: bool, bads: set, pair=False) -> Diagnosis:
    n = len(keys)
    matched = sorted(set().union(*keys.values()))
    conf = (0.9 if n >= 2 else 0.75) if pair else (0.97 if n >= 2 else 0.85) if complete else 0.75
    ev = (f"{'a variant with both bugs' if pair else 'a variant with this bug'} reproduces the implementation's "
          f"{', '.join(matched)} to float64 precision on {n} sample(s)")
    if not complete:
        ev += f"; other outputs differ too: {', '.join(sorted(bads - set(matched)))}" if bads - set(matched) else ""
    return Diagnosis(v.name, f"{op.name}: {v.explanation}", conf, ev, tuple(v.facts))


def analyse(op: OpSpec, impl, samples=(), rng: np.random.Generator | None = None, *, fresh: int = FRESH_SAMPLES,
            exceptions: bool = False) -> Analysis:
    """Every named cause of ``impl``'s departures from the spec on ``op``, with the outputs each explains.

    ``samples``: the failing checks' own samples (tried first), then the
    variant probes, then ``fresh`` registry samples drawn from ``rng``; on an op narrowed to declared limits
    (:mod:`gradspec.limits`) only those within them (the implementation is never called outside them).
    ``impl`` is a :class:`gradspec.impl.Implementation` (every call goes
    through its ``call``, so a timeout or an exception cannot escape).

    A variant is *supported* on a sample when it differs from the spec there
    and the implementation equals it on every output where it differs from the
    spec; it is *refuted* when the implementation differs from it on such an
    output, or when it departs from the spec on a sample where the
    implementation does not. When no single variant reproduces every differing
    output, pairs of variants are tried (:data:`MAX_PAIRS`). A scaling candidate
    is refuted when, on some sample, the output is an exact multiple of the
    spec's by another factor. An exception is related to a class of inputs
    (:func:`input_class`) on extra samples, when one of the samples raised or
    ``exceptions`` says a check saw one.
    """
    t0 = time.perf_counter()
    rng = rng if rng is not None else np.random.default_rng(0)
    call_impl, call_ref = _impl_caller(impl), direct_caller(ref)
    pool = list(samples) + probes(op, rng) + [op.sample(rng) for _ in range(fresh)]
    op_limits = limits.of(op)
    if op_limits:
        pool = [s for s in pool if not limits.outside(op_limits, s)]
    evs = [_evaluate_sample(op, call_ref, call_impl, s, rng) for s in pool]
    residuals: dict = {}
    fits: dict = {}
    named: list[Named] = []
    bad_idx = [i for i, ev in enumerate(evs) if ev.bad]
    if not bad_idx:
        named = input_class(op, evs, call_ref, call_impl, rng, force=exceptions, deadline=t0 + TIME_BUDGET_S)
        return Analysis(op, evs, named, residuals, fits, deadline=t0 + TIME_BUDGET_S)
    all_bad = set().union(*(set(evs[i].bad) for i in bad_idx))

    # --- scalings and transposes, output by output
    ratio: dict[tuple, tuple] = {}  # (name, key) -> (Diagnosis, {si: {key}})
    ratio_misses: set = set()
    for si in bad_idx:
        ev = evs[si]
        for key in ev.bad:
            a, e = ev.impl.get(key), ev.ref.get(key)
            if not (isinstance(a, np.ndarray) and isinstance(e, np.ndarray) and _ratio_key(op, key)):
                continue
            arg = key if key != "forward" else "output"
            ds = diagnose_arrays(a, e, op=op, argument=arg, sample=ev.sample, out_ref=ev.ref)
            if ds and ds[0].name in ("transposed", "transposed_weight"):
                named.append(Named(ds[0], {si: {key}}))
                continue
            c, res = fit_scale(a, e)
            for v, name, _ in ratio_candidates(op, ev.sample, arg, ev.ref):
                r = _rel_residual(a, v * e)
                if math.isfinite(r):
                    residuals.setdefault((si, key), []).append((r, name))
            if not (math.isfinite(c) and res <= FIT_RESIDUAL):
                continue
            fits[(si, key)] = (c, res)
            hit = {d.name for d in ds}
            ratio_misses.update((n, norm_key(op, key)) for _, n, _ in ratio_candidates(op, ev.sample, arg, ev.ref) if n not in hit)
            for d in ds:
                if d.name == "scaled":
                    continue  # a constant with no known cause: reported as such, never as a cause
                cur = ratio.get((d.name, norm_key(op, key)))
                keys = dict(cur[1]) if cur else {}
                keys.setdefault(si, set()).add(key)
                ratio[(d.name, norm_key(op, key))] = (d if cur is None or d.confidence > cur[0].confidence else cur[0], keys)
    for (name, nk), (d, keys) in ratio.items():
        if (name, nk) not in ratio_misses:
            named.append(Named(d, keys, scale=(nk, name)))

    # --- single variants
    singles = expand(diagnosed_variants(op), op.functions) + generic_variants(op)
    scored = []
    for v in singles:
        call_v = direct_caller(v.namespace())
        keys, complete, refuted = _score(op, v, call_v, evs, bad_idx, residuals)
        if refuted or not keys:
            continue
        if _refuted_on_clean(op, call_v, evs):
            continue
        scored.append((v, keys, complete))
    complete_ones = [(v, k, c) for v, k, c in scored if c]
    for v, keys, complete in (complete_ones or scored):
        named.append(Named(_variant_diagnosis(op, v, keys, complete, all_bad), keys, variant=v))

    # --- two variants at once, when no single cause explains every differing output
    covered = {si: set() for si in bad_idx}
    for n in named:
        for si, ks in n.keys.items():
            covered.setdefault(si, set()).update(ks)
    if not complete_ones and any(not covered[si] >= set(evs[si].bad) for si in bad_idx):
        primaries = [v for v in singles if v.primary]
        first = max(bad_idx, key=lambda i: len(evs[i].bad))
        tried = 0
        for i, a in enumerate(primaries):
            if tried >= MAX_PAIRS or time.perf_counter() - t0 > TIME_BUDGET_S:
                break
            for b in primaries[i + 1:]:
                if a.name == b.name:
                    continue
                v = combine(a, b)
                if v is None:
                    continue
                tried += 1
                if tried > MAX_PAIRS:
                    break
                call_v = direct_caller(v.namespace())
                keys, complete, refuted = _score(op, v, call_v, evs, [first], residuals)
                if refuted or not complete:
                    continue
                keys, complete, refuted = _score(op, v, call_v, evs, bad_idx, residuals, record=False)
                if refuted or not complete or _refuted_on_clean(op, call_v, evs):
                    continue
                named.append(Named(_variant_diagnosis(op, v, keys, True, all_bad, pair=True), keys, variant=v))

    # --- exceptions related to a class of inputs
    if time.perf_counter() - t0 <= TIME_BUDGET_S:
        named += input_class(op, evs, call_ref, call_impl, rng, force=exceptions, deadline=t0 + TIME_BUDGET_S)

    # a scaling is redundant beside a variant that explains the same outputs
    variant_keys = set().union(*[{norm_key(op, k) for k in n.all_keys()} for n in named if n.variant is not None] or [set()])
    named = [n for n in named if n.scale is None or n.scale[0] not in variant_keys]
    return Analysis(op, evs, named, residuals, fits, deadline=t0 + TIME_BUDGET_S)


def diagnose(op: OpSpec, impl, samples=(), rng: np.random.Generator | None = None, *, fresh: int = FRESH_SAMPLES) -> list[Diagnosis]:
    """Probable bugs of ``impl`` on ``op``, best first (an empty list when nothing is recognised).

    See :func:`analyse`; this flattens its named causes (initialisers are diagnosed statistically,
    :func:`diagnose_init`).
    """
    if op.kind_facts.statistical:
        return diagnose_init(op, impl)
    return analyse(op, impl, samples, rng, fresh=fresh).diagnoses()


def _keep(found: dict, d: Diagnosis):
    key = (d.name, d.facts)
    cur = found.get(key)
    if cur is None or d.confidence > cur.confidence:
        found[key] = d


# --------------------------------------------------------------------------- exceptions and classes of inputs
def _key_function(op: OpSpec, key: str) -> str | None:
    """The protocol function whose output (or exception) ``key`` of :func:`evaluate` holds."""
    if op.kind_facts.has_backward:
        return op.forward if key == "forward" else op.backward
    if op.kind_facts.trajectory:
        return op.functions[0] if key == "init" else op.functions[1]
    return op.functions[0]


def _raised(op: OpSpec, out: dict) -> dict:
    """function -> exception type name, for the exceptions in one :func:`evaluate` result."""
    found = {}
    for k, v in out.items():
        if isinstance(v, Raised) and v.type not in _STRUCT:
            found.setdefault(_key_function(op, k), v.type)
    return found


_DIMS = re.compile(r"\(([^()]*)\)")


def features(op: OpSpec, sample: dict) -> dict:
    """Named numbers of a sample to relate an exception to: its hyperparameters and dimensions.

    Dimensions are named from the op's argument docs, e.g. ``(N, C, H, W)`` and ``(F, C, KH, KW)``
    for conv2d, ``(N, K)`` for the losses; an argument of any shape gives ``x.ndim`` and ``x.size``.
    """
    out: dict = {}
    for a in op.args:
        v = sample.get(a.name)
        if a.role == "hyper" and isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool):
            out[a.name] = float(v)
        if isinstance(v, np.ndarray) and a.role in ("input", "param", "target", "mask"):
            alts = [tuple(n.strip() for n in m.split(",") if n.strip()) for m in _DIMS.findall(a.doc)]
            names = next((t for t in alts if len(t) == v.ndim and "..." not in t), None)
            if names:
                for n, size in zip(names, v.shape):
                    out.setdefault(n, float(size))
            else:
                out[f"{a.name}.size"] = float(v.size)
            if len(alts) != 1 or not names:
                out[f"{a.name}.ndim"] = float(v.ndim)
    if op.kind_facts.trajectory:
        for h, val in (sample.get("hyper") or {}).items():
            out[h] = float(val)
        w = np.asarray(sample.get("w"))
        out["w.ndim"], out["w.size"] = float(w.ndim), float(w.size)
    if op.kind_facts.whole_network:
        out["layers"] = float(len(sample.get("params", [])))
        out["N"] = float(np.shape(sample.get("X"))[0])
    return out


def _fmt(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else f"{v:g}"


def split_rows(rows: list[tuple[dict, bool]]):
    """(features of the rows that raised, of those that did not, the feature names all rows have), or None when
    there are fewer than 2 rows of either kind (too few to relate an exception to an input class)."""
    yes = [f for f, r in rows if r]
    no = [f for f, r in rows if not r]
    if len(yes) < 2 or len(no) < 2:
        return None
    return yes, no, [k for k in yes[0] if all(k in f for f in yes + no)]


def separate(rows: list[tuple[dict, bool]]) -> list[tuple[str, str, float]]:
    """Conditions ``(feature, op, value)`` that hold on exactly the rows that raised (op in ``=``, ``>``, ``<``, ``≠``).

    Needs at least 2 rows that raised and 2 that did not. Hyperparameters come before dimensions
    only by the order of the features in the rows.
    """
    split = split_rows(rows)
    if split is None:
        return []
    yes, no, names = split
    out = []
    for k in names:
        R = [f[k] for f in yes]
        O = [f[k] for f in no]
        if len(set(R)) == 1 and R[0] not in O:
            out.append((k, "=", R[0]))
        elif min(R) > max(O):
            out.append((k, ">", max(O)))
        elif max(R) < min(O):
            out.append((k, "<", min(O)))
        elif len(set(O)) == 1 and O[0] not in R:
            out.append((k, "≠", O[0]))
    return out


_RELS = {"=": lambda x, v: x == v, ">": lambda x, v: x > v, "<": lambda x, v: x < v, "≠": lambda x, v: x != v}


def separate_two(rows: list[tuple[dict, bool]]) -> list[tuple[str, tuple, tuple]]:
    """When no single condition separates the rows (:func:`separate`), pairs ``("or", a, b)`` and
    ``("and", a, b)`` of conditions ``(feature, op, value)`` that do: for "or", each condition holds on no row
    that did not raise and on at least two that did; for "and", each holds on every row that raised and fails
    on at least two that did not. Same minimum of rows as :func:`separate`."""
    split = split_rows(rows)
    if split is None:
        return []
    yes, no, names = split
    atoms = []
    for k in names:
        for v in sorted({f[k] for f in yes + no}):
            atoms += [(k, "=", v), (k, ">", v), (k, "<", v)]

    def holds(atom, f):
        return _RELS[atom[1]](f[atom[0]], atom[2])

    # each condition of a pair must carry weight of its own: hold on (or exclude) at least two samples
    pure = [a for a in atoms if not any(holds(a, f) for f in no) and sum(holds(a, f) for f in yes) >= 2]
    full = [a for a in atoms if all(holds(a, f) for f in yes) and sum(not holds(a, f) for f in no) >= 2]
    out = []
    for i, a in enumerate(pure):
        for b in pure[i + 1:]:
            if a[0] != b[0] and all(holds(a, f) or holds(b, f) for f in yes):
                out.append(("or", a, b))
    for i, a in enumerate(full):
        for b in full[i + 1:]:
            if a[0] != b[0] and not any(holds(a, f) and holds(b, f) for f in no):
                out.append(("and", a, b))
    return out


def _atom_text(a) -> str:
    return f"{a[0]} {a[1]} {_fmt(a[2])}"


def input_class(op: OpSpec, evs: list, call_ref, call_impl, rng, force: bool = False,
                deadline: float = float("inf")) -> list[Named]:
    """When the implementation raises on some samples and not on others, the condition on the samples'
    hyperparameters and dimensions that separates them (``raises whenever pad > 0``), found on the
    analysis' samples plus :data:`EXCEPTION_SAMPLES` fresh ones. Nothing when it always raises, or when no
    single condition separates the samples that raise from those that do not."""
    def raising(evs):
        return {(fn, typ) for ev in evs for fn, typ in _raised(op, ev.impl).items() if fn not in _raised(op, ev.ref)}

    if not raising(evs) and not force:
        return []
    rows_evs = list(evs)
    for _ in range(EXCEPTION_SAMPLES):
        if time.perf_counter() > deadline:
            break
        rows_evs.append(_evaluate_sample(op, call_ref, call_impl, op.sample(rng), rng))
    seen = sorted(raising(rows_evs))
    out = []
    for (fn, typ) in seen:
        rows, where = [], []
        for ev in rows_evs:
            if fn in _raised(op, ev.ref):
                continue  # the spec itself rejects it: not a valid input
            raised = _raised(op, ev.impl).get(fn) == typ
            rows.append((features(op, ev.sample), raised))
            where.append(ev)
        n_yes = sum(r for _, r in rows)
        n_no = len(rows) - n_yes
        conds = separate(rows)
        if conds:
            cond_fact = conds[0][0], conds[0][1], float(conds[0][2])
            cond = _atom_text(conds[0])
            others = [_atom_text(c) for c in conds[1:]]
            conf = 0.5 if others else (0.9 if min(n_yes, n_no) >= 3 else 0.7)
        else:  # two conditions together, a weaker claim (more ways to fit the samples by chance)
            pairs = separate_two(rows)
            if not pairs:
                continue
            texts = [f"{_atom_text(a)} {how} {_atom_text(b)}" for how, a, b in pairs]
            how, a, b = pairs[0]
            cond_fact = (how, (a[0], a[1], float(a[2])), (b[0], b[1], float(b[2])))
            cond, others = texts[0], texts[1:]
            conf = 0.4 if others else (0.7 if min(n_yes, n_no) >= 4 else 0.5)
        msg = next((v.message for ev in where for v in ev.impl.values() if isinstance(v, Raised) and v.type == typ), "")
        keys = {i: {k for k, v in ev.impl.items() if isinstance(v, Raised) and v.type == typ and _key_function(op, k) == fn}
                for i, ev in enumerate(evs) if _raised(op, ev.impl).get(fn) == typ}
        facts = (("function", fn), ("exception", typ), ("condition", cond_fact),
                 ("raised", n_yes), ("not_raised", n_no), ("also_consistent", tuple(others)))
        d = Diagnosis("raises_for_input_class",
                      f"{op.name}: {fn} raises {typ} whenever {cond}, and only then ({n_yes} sample(s) with {cond} raised, "
                      f"none of the {n_no} others)" + (f"; equally consistent with the samples: {', '.join(others)}" if others else "")
                      + (f" — first message: {msg[:160]}" if msg else ""),
                      conf, f"{n_yes} samples raised, {n_no} did not; the condition is on the samples' "
                            "hyperparameters and dimensions", facts)
        out.append(Named(d, keys, exception=(fn, typ)))
    return out


# --------------------------------------------------------------------------- init
def _init_variances(shape) -> dict[str, tuple[float, str]]:
    fan_in, fan_out = ref.fans(shape)
    out = {
        "lecun_variance": (1.0 / fan_in, "LeCun's variance 1/fan_in"),
        "glorot_variance": (2.0 / (fan_in + fan_out), "Glorot/Xavier's variance 2/(fan_in + fan_out)"),
        "he_variance": (2.0 / fan_in, "He's variance 2/fan_in"),
        "he_variance_fan_out": (2.0 / fan_out, "He's variance with fan_out, 2/fan_out"),
        "lecun_variance_fan_out": (1.0 / fan_out, "1/fan_out"),
    }
    if len(shape) == 4:
        C = shape[1]
        out["conv_fan_without_kernel"] = (2.0 / C, f"2/C: the conv fan_in taken as C = {C}, without the kernel's KH·KW")
    return out


def diagnose_init(op: OpSpec, impl) -> list[Diagnosis]:
    """Which scheme's variance and which family an initialiser actually draws from.

    On each shape of :data:`gradspec.registry.INIT_SHAPES`, the sample variance
    is compared with every candidate scheme's variance (within 4 standard
    errors on both shapes), and the family with KS tests (p < 1e-6 rejects).
    """
    target = ref.init.target
    want_family = target(op.name, INIT_SHAPES[0])[0]
    consistent: dict[str, int] = {}
    families = {"normal": 0, "uniform": 0}
    off_shapes, ratios = 0, []
    for k, shape in enumerate(INIT_SHAPES):
        res = impl.call(op.name, shape, np.random.default_rng(1234 + k))
        W = res.value if res.ok else None
        if not isinstance(W, np.ndarray) or W.shape != tuple(shape) or not np.all(np.isfinite(W)):
            return []
        W = W.astype(np.float64)
        _, var_t = target(op.name, shape)
        ratios.append(float(W.var()) / var_t)
        target_ok = abs(init_statistics(W, want_family, var_t)["var_z"]) < 4.0
        off_shapes += not target_ok
        cands = _init_variances(shape)
        for name in set(consistent) | set(cands) | set(_init_variances((2, 2, 2, 2))):
            if name in cands:
                ok = abs(init_statistics(W, want_family, cands[name][0])["var_z"]) < 4.0
            else:
                ok = target_ok  # a candidate that does not apply to this shape (a conv fan on a dense shape)
            consistent[name] = consistent.get(name, 0) + int(ok)
        for fam in families:
            if init_statistics(W, fam, float(W.var()))["ks_p"] > 1e-4:
                families[fam] += 1
    found = []
    n = len(INIT_SHAPES)
    if off_shapes:
        for name, hits in consistent.items():
            if hits == n:
                desc = (_init_variances(INIT_SHAPES[-1]).get(name) or _init_variances((2, 2, 2, 2))[name])[1]
                found.append(Diagnosis(name, f"{op.name} draws with {desc} instead of the scheme's variance "
                                             f"(variance / target on {', '.join(str(tuple(s)) for s in INIT_SHAPES)}: "
                                             f"{', '.join(f'{r:.3f}' for r in ratios)})",
                                       0.85, f"the sample variance is within 4 standard errors of it on all {n} shapes"))
    other = "uniform" if want_family == "normal" else "normal"
    if families[other] == n and families[want_family] < n:
        found.append(Diagnosis(f"{other}_instead_of_{want_family}",
                               f"{op.name} draws from a {other} distribution; the scheme asks for a {want_family} one",
                               0.9, f"a KS test accepts {other} and rejects {want_family}"))
    return sorted(found, key=lambda d: -d.confidence)


# =========================================================================== hooking into a run
def _shape_diagnosis(op: OpSpec, finding) -> Diagnosis | None:
    det = finding.details
    exp, act = det.get("expected"), det.get("actual")
    if finding.kind == "shape" and isinstance(exp, list) and isinstance(act, list) and len(exp) == 2 and act == exp[::-1]:
        what = str(det.get("what", ""))
        weight = what.lstrip("d").startswith("W")
        return Diagnosis("transposed_weight" if weight else "transposed",
                         f"{op.name}: {what} has the transposed shape {tuple(act)} instead of {tuple(exp)}"
                         + (": the weight gradient is returned as dyᵀ·x instead of xᵀ·dy" if weight else ""), 0.8,
                         "the shape is the expected one reversed")
    return None


_STEP = re.compile(r"^w after step (\d+)")
_DIR = re.compile(r"^<(d\w+),")


def finding_key(op: OpSpec, finding) -> str | None:
    """The output of :func:`evaluate` a finding is about (``forward``, ``dW``, ``w[2]``, ``output[0]``, ``backward``
    for an exception of the backward...), or None when it names none."""
    d = finding.details
    if finding.kind in ("exception", "timeout") and d.get("function") in op.functions:
        fn = d["function"]
        if op.kind_facts.has_backward:
            return "forward" if fn == op.forward else "backward"
        if op.kind_facts.trajectory:
            return "init" if fn == op.functions[0] else "w[1]"
        return "loss" if op.kind_facts.whole_network else "output"
    what = d.get("what")
    if not isinstance(what, str):
        return None
    m = _STEP.match(what)
    if m:
        return f"w[{m.group(1)}]"
    m = _DIR.match(what)
    if m:
        return m.group(1)
    if what.endswith(" output"):
        return "forward" if op.kind_facts.has_backward else "output"
    return what


def _sample_from_data(op: OpSpec, data) -> dict | None:
    """A sample rebuilt from its JSON form (a property's ``falsifying_example``), or None."""
    if not isinstance(data, dict):
        return None
    s = {}
    try:
        for a in op.args:
            v = data[a.name] if a.name in data else None
            if v is None and not op.kind_facts.trajectory:
                return None
            if a.role in ("input", "param", "target", "mask") and not (op.kind_facts.trajectory or op.kind_facts.whole_network):
                s[a.name] = np.asarray(v, dtype=np.float64)
            elif a.role == "labels":
                s[a.name] = np.asarray(v, dtype=np.int64)
            elif a.role == "grads":
                s[a.name] = [np.asarray(g, dtype=np.float64) for g in v]
            elif a.role == "params":
                s[a.name] = [(np.asarray(W, dtype=np.float64), np.asarray(b, dtype=np.float64)) for W, b in v]
            else:
                s[a.name] = v
        if op.kind_facts.trajectory:
            s = {"w": np.asarray(data["w"], dtype=np.float64), "grads": [np.asarray(g, dtype=np.float64) for g in data["grads"]],
                 "hyper": dict(data["hyper"])}
        if op.kind_facts.whole_network:
            s["X"] = np.asarray(data["X"], dtype=np.float64)
            T = np.asarray(data["T"])
            s["T"] = T.astype(np.int64) if T.ndim == 1 else T.astype(np.float64)
            s["params"] = [(np.asarray(W, dtype=np.float64), np.asarray(b, dtype=np.float64)) for W, b in data["params"]]
    except (KeyError, TypeError, ValueError):
        return None
    return s


def _explains_on(an: Analysis, n: Named, ev: _Ev, exc_type: str | None) -> bool:
    """Does the named cause explain a finding on ``ev``? For an exception of type ``exc_type``: the input class
    of that exception (or a variant raising alike); otherwise: a cause that reproduces every output that
    departs from the spec there (exceptions aside)."""
    op = an.op
    if exc_type is not None:
        if n.exception is not None:
            return n.exception[1] == exc_type and _raised(op, ev.impl).get(n.exception[0]) == exc_type
        keys = [k for k in ev.bad if isinstance(ev.impl.get(k), Raised) and ev.impl[k].type == exc_type]
    else:
        if n.exception is not None:
            return False
        keys = [k for k in ev.bad if not isinstance(ev.impl.get(k), Raised)]
    if not keys:
        return False
    if n.variant is not None:
        out_v = evaluate(op, direct_caller(n.variant.namespace()), ev.sample, ev.dy)
        return not differing({k: ev.impl[k] for k in keys if k in ev.impl}, {k: out_v[k] for k in keys if k in out_v})
    if n.scale is not None and exc_type is None:
        for k in keys:
            a, e = ev.impl.get(k), ev.ref.get(k)
            arg = k if k != "forward" else "output"
            cands = {name: v for v, name, _ in ratio_candidates(op, ev.sample, arg, ev.ref)}
            if norm_key(op, k) != n.scale[0] or n.scale[1] not in cands or not _close(a, cands[n.scale[1]] * e):
                return False
        return True
    return False


def _keys_on(an: Analysis, n: Named, ev: _Ev) -> set:
    """The outputs the named cause reproduces on a sample that was not part of the analysis."""
    op = an.op
    if n.variant is not None:
        out_v = evaluate(op, direct_caller(n.variant.namespace()), ev.sample, ev.dy)
        shows = set(differing(out_v, ev.ref))
        if differing({k: ev.impl[k] for k in shows if k in ev.impl}, {k: out_v[k] for k in shows if k in out_v}):
            return set()
        return shows & set(ev.bad)
    keys = set()
    for k in ev.bad:
        a, e = ev.impl.get(k), ev.ref.get(k)
        if not (isinstance(a, np.ndarray) and isinstance(e, np.ndarray)):
            continue
        if n.scale is not None and norm_key(op, k) == n.scale[0]:
            arg = k if k != "forward" else "output"
            cands = {name: v for v, name, _ in ratio_candidates(op, ev.sample, arg, ev.ref)}
            if n.scale[1] in cands and _close(a, cands[n.scale[1]] * e):
                keys.add(k)
        elif n.exception is None and n.scale is None and n.diagnosis.name in ("transposed", "transposed_weight"):
            if a.ndim == 2 and a.shape == e.shape[::-1] and a.shape != e.shape and _close(a.T, e):
                keys.add(k)
    return keys


def _nearest(an: Analysis, si: int, key: str) -> dict:
    """The best two candidates by relative residual ‖a − v‖/‖a‖ on output ``key`` of sample ``si``, and the fitted scale."""
    best: dict = {}
    for r, label in an.residuals.get((si, key), []):
        if label not in best or r < best[label]:
            best[label] = r
    ranked = sorted(best.items(), key=lambda kv: kv[1])[:2]
    ev = an.evs[si]
    out = {"output": key, "nearest": [{"name": n, "residual": float(f"{r:.3g}")} for n, r in ranked],
           "spec_residual": float(f"{_rel_residual(ev.impl.get(key), ev.ref.get(key)):.3g}")}
    fit = an.fits.get((si, key))
    if fit:
        out["scale"] = {"c": float(f"{fit[0]:.12g}"), "residual": float(f"{fit[1]:.3g}")}
    return out


def _describe_nearest(nk: dict) -> str:
    parts = [f"{c['name']} (residual {c['residual']:.2g})" for c in nk["nearest"]]
    text = "no known cause"
    if "scale" in nk:
        text += f": {nk['output']} is the spec's × {nk['scale']['c']:.6g}, a factor no known cause gives"
    text += f"; nearest: {', '.join(parts)}" if parts else "; no candidate changes this output"
    return text + f" (the spec's own residual: {nk['spec_residual']:.2g})"


def attribute(an: Analysis, checks, rng: np.random.Generator) -> None:
    """Attach to each finding of a failing check the named causes that explain *its* data (in place).

    A finding about output ``k`` of a sample gets the causes that reproduce ``k`` on that sample (a sample
    outside the analysis is evaluated here, up to :data:`MAX_EXTRA_SAMPLES`); one with no sample, the causes that
    reproduce ``k`` on every sample of the analysis where ``k`` departs from the spec; an
    exception, the input class of that function and exception type (or a variant that raises alike); a
    property's finding, the causes that reproduce every differing output on its falsifying example.
    A finding about an output that departs from the spec where no cause matches gets
    ``details["no_known_cause"]`` with the nearest two candidates and their residuals; one about an output
    that equals the spec's on its sample gets ``details["agrees_with_spec"]`` (the check's other side is off,
    e.g. central differences of a wrong forward).
    """
    op = an.op
    index = {id(ev.sample): i for i, ev in enumerate(an.evs)}
    extra: set = set()
    call_impl = _impl_caller(an.impl) if an.impl is not None else None

    def sample_index(s) -> int | None:
        if not isinstance(s, dict):
            return None
        if (id(s) not in index and call_impl is not None and len(extra) < MAX_EXTRA_SAMPLES
                and time.perf_counter() < an.deadline):
            ev = _evaluate_sample(op, direct_caller(ref), call_impl, s, rng)
            an.evs.append(ev)
            si = index[id(s)] = len(an.evs) - 1
            extra.add(si)
            for n in an.named:
                keys = _keys_on(an, n, ev)
                if keys:
                    n.keys[si] = keys
        return index.get(id(s))

    for c in checks:
        if c.status not in ("fail", "error"):
            continue
        per_check: dict = {}
        unknown = None
        agrees = []
        for f in c.findings:
            found: list[Named] = []
            key = finding_key(op, f)
            s = getattr(f, "sample", None)
            shape_d = _shape_diagnosis(op, f)
            si = sample_index(s) if f.kind != "exception" else None
            if f.kind == "exception" and f.details.get("function") in op.functions:
                fn, typ = f.details.get("function"), f.details.get("type")
                found = [n for n in an.named if n.exception == (fn, typ)]
                found += [n for n in an.named if n.variant is not None and any(  # a variant that raises alike
                    key in ks and isinstance(an.evs[i].impl.get(key), Raised) and an.evs[i].impl[key].type == typ
                    for i, ks in n.keys.items())]
            elif key is not None and si is not None:
                ev = an.evs[si]
                nk = norm_key(op, key)
                bad = {norm_key(op, k) for k in ev.bad}
                if nk not in bad and key in ev.impl:
                    f.details["agrees_with_spec"] = (f"the implementation's {key} equals the spec's on this sample: the "
                                                     "difference is on the other side of the comparison")
                    agrees.append((key, f))
                    continue
                found = [n for n in an.named if nk in {norm_key(op, k) for k in n.keys.get(si, set())}]
                if not found and shape_d is None and nk in bad and si not in extra:
                    k_res = next((k for k in ev.bad if norm_key(op, k) == nk and (si, k) in an.residuals), key)
                    f.details["no_known_cause"] = _nearest(an, si, k_res)
                    unknown = unknown or f.details["no_known_cause"]
            elif key is not None and s is None:  # no sample: a cause that reproduces this output on every sample
                nk = norm_key(op, key)
                where = [i for i, ev in enumerate(an.evs) if nk in {norm_key(op, k) for k in ev.bad}]
                found = [n for n in an.named if n.exception is None and where and all(
                    nk in {norm_key(op, k) for k in n.keys.get(i, set())} for i in where)]
                if not found and shape_d is None and where:  # departs from the spec, and nothing explains it
                    ev = an.evs[where[0]]
                    k_res = next((k for k in ev.bad if norm_key(op, k) == nk and (where[0], k) in an.residuals), key)
                    f.details["no_known_cause"] = _nearest(an, where[0], k_res)
                    unknown = unknown or f.details["no_known_cause"]
            elif f.kind in ("property", "exception") or "falsifying_example" in f.details:
                s2 = _sample_from_data(op, f.details.get("falsifying_example"))
                if s2 is not None and call_impl is not None and time.perf_counter() < an.deadline:
                    ev = _evaluate_sample(op, direct_caller(ref), call_impl, s2, rng)
                    exc_type = None
                    if f.kind == "exception":  # the property's message names the exception type
                        types = {v.type for v in ev.impl.values() if isinstance(v, Raised) and v.type not in _STRUCT}
                        exc_type = next((t for t in sorted(types) if f"{t}:" in f.message), "")
                    found = [n for n in an.named if _explains_on(an, n, ev, exc_type)]
            ds = [n.diagnosis for n in found]
            if shape_d is not None and shape_d.name not in {d.name for d in ds}:
                ds.append(shape_d)
            if ds:
                uniq: dict = {}
                for d in ds:
                    _keep(uniq, d)
                ds = sorted(uniq.values(), key=lambda d: -d.confidence)
                f.details["diagnosis"] = [d.as_dict() for d in ds[:5]]
                for d in ds:
                    _keep(per_check, d)
        if per_check:
            ds = sorted(per_check.values(), key=lambda d: -d.confidence)
            c.info["diagnosis"] = [d.as_dict() for d in ds[:5]]
            if "probable bug:" not in c.message:
                top = ds[0]
                c.message = f"{c.message} — probable bug: {top.name} ({top.explanation})"
        elif unknown is not None:
            c.info["no_known_cause"] = unknown
            if "no known cause" not in c.message:
                c.message = f"{c.message} — {_describe_nearest(unknown)}"
        elif agrees and len(agrees) == len(c.findings):
            keys = sorted({k for k, _ in agrees})
            own_forward = any("forward" in str(f.details.get("expected_is", "")) for _, f in agrees)
            c.info["agrees_with_spec"] = keys
            c.message = (f"{c.message} — the implementation's {', '.join(keys)} equal(s) the spec's on these samples: "
                         + ("the differences of its own forward are what is off (see the forward check)" if own_forward
                            else "the difference is on the other side of the comparison"))


def annotate(op: OpSpec, impl, checks, rng: np.random.Generator) -> None:
    """Attach the probable bug to each failing check of ``op`` whose data it explains (in place); never raises.

    One :func:`analyse` per op (the failing samples come from the findings, ``finding.sample``, attached by
    the oracles' comparisons), then :func:`attribute` per finding: a finding gets ``details["diagnosis"]``
    (a list of :meth:`Diagnosis.as_dict`, best first) only for causes that explain its own output and sample,
    its check ``info["diagnosis"]`` the union, and the check's message ends with ``probable bug: <name>``;
    where nothing matches, ``no known cause`` with the nearest two candidates. Initialisers are diagnosed
    statistically and the result goes on the failing statistical checks. Skipped when a call timed out
    (calling a hung implementation again would only wait). Never changes a verdict.
    """
    try:
        bad = [c for c in checks if c.status in ("fail", "error")]
        if not bad or any(f.kind in ("timeout", "missing") for c in bad for f in c.findings):
            return
        if op.kind_facts.statistical:
            diags = diagnose_init(op, impl)
            if diags:
                payload = [d.as_dict() for d in diags[:5]]
                for c in bad:
                    stats = [f for f in c.findings if f.kind == "statistic"]
                    if stats:
                        for f in stats:
                            f.details["diagnosis"] = payload
                        c.info["diagnosis"] = payload
                        if "probable bug:" not in c.message:
                            c.message = f"{c.message} — probable bug: {diags[0].name} ({diags[0].explanation})"
            return
        samples, examples = [], []
        for c in bad:
            for f in c.findings:
                s = getattr(f, "sample", None)
                if isinstance(s, dict) and not any(s is t for t in samples):
                    samples.append(s)
                elif "falsifying_example" in f.details and len(examples) < 2:  # a property's (shrunk) sample
                    s = _sample_from_data(op, f.details["falsifying_example"])
                    if s is not None:
                        examples.append(s)
        raised = any(f.kind == "exception" for c in bad for f in c.findings)
        an = analyse(op, impl, samples[:3] + examples, rng, exceptions=raised)
        an.impl = impl
        attribute(an, bad, rng)
    except Exception:  # noqa: BLE001 - a diagnosis must never break a run
        return
