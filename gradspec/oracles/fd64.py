r"""The float64 oracle: what a careful engineer does without a high-precision truth.

For every op of the registry, on ``examples`` random samples drawn by the
registry (valid shapes, inputs a margin away from every kink):

* **forward**: the implementation's forward against the spec's value (the
  reference), so a forward that is wrong consistently with its backward cannot
  hide behind a passing gradient check. Tolerance:
  :math:`|a - r| \le 10^{-10}|r| + 10^{-12}\max(1, \max|r|)`.
* **backward** (ops with a gradient): the implementation's VJP with a random
  cotangent :math:`dy \sim \mathcal N(0, 1)` (never a constant, which hides
  softmax and batchnorm bugs) against central differences of
  :math:`f(x) = \langle dy, \text{forward}(x)\rangle` of the implementation's
  *own* forward, element by element, with step :math:`h = 6\cdot10^{-6}\max(1,|x_i|)`.
  Per-element tolerance :math:`10^{-6}\max(|a|,|n|) + |D_h - D_{2h}| + 32\epsilon S/h`,
  where the Richardson term :math:`|D_h - D_{2h}|` estimates the truncation
  error of the difference quotient and :math:`32\epsilon S/h` its rounding
  error (:math:`S = |f| + \sum|dy \odot y|`). This is as tight as float64
  differences allow (about 1e-6 relative); the mpmath oracle goes to 1e-8.
* **rule** (optimizers, clipping, step, perceptron): value for value against
  the spec; optimizers over a 5-step trajectory with a fresh gradient each step.
* **distribution** (init): shape and dtype, mean and variance within 5 standard
  errors of the scheme's target, a Kolmogorov–Smirnov test against the
  scheme's family (normal or uniform), determinism for a seeded Generator and
  no use of NumPy's global random state.

Every check also verifies output types, shapes, dtypes, finiteness, that no
input is modified, and that calling twice gives the same result.
"""
from __future__ import annotations

import math

import numpy as np

from .. import reference as spec_impl
from ..impl import Implementation
from ..results import CheckResult, Finding
from ..spec import OpSpec
from .common import EPS, as_grad_tuple, check_array, check_scalar, compare, reproducer

NAME = "fd64"
TITLE = "float64 central difference"
DEFAULT_EXAMPLES = 3

FWD_RTOL, FWD_ATOL = 1e-10, 1e-12
FD_REL_STEP = 6e-6  # ≈ ε^(1/3): balances truncation (h²) and rounding (ε/h)
FD_RTOL = 1e-6
KINK_SAFETY = 1e-3  # > 4·(2h) for |x| <= 20: a difference never straddles a kink


def applies(op: OpSpec) -> bool:
    return True


def check_op(op: OpSpec, impl: Implementation, rng: np.random.Generator, examples: int | None = None) -> list[CheckResult]:
    examples = examples or DEFAULT_EXAMPLES
    runner = {"differentiable": _check_differentiable, "loss": _check_differentiable, "function": _check_function,
              "optimizer": _check_optimizer, "init": _check_init, "network": _check_network, "rule": _check_rule}[op.kind]
    return runner(op, impl, rng, examples)


# --------------------------------------------------------------------------- shared pieces
class _Tracker:
    """Accumulates one check's status, worst error and findings over examples."""

    def __init__(self, check: str):
        self.result = CheckResult(NAME, check, "pass")

    def example(self):
        self.result.examples += 1

    def error(self, finding: Finding, repro: str | None = None):
        if repro:
            finding.details.setdefault("reproducer", repro)
        self.result.findings.append(finding)
        self.result.status = "error" if finding.kind in ("exception", "missing") else _worse(self.result.status, "fail")

    def measured(self, worst: float, findings: list[Finding], repro: str | None = None):
        cur = self.result.worst_error
        self.result.worst_error = worst if cur is None else max(cur, worst)
        if findings:
            if repro:
                findings[0].details["reproducer"] = repro
            self.result.findings.extend(findings)
            self.result.status = _worse(self.result.status, "fail")

    def done(self, message: str = "") -> CheckResult:
        r = self.result
        if not r.message:
            r.message = message if r.status == "pass" else (r.findings[0].message if r.findings else message)
        if r.worst_error is not None:
            r.worst_error = float(r.worst_error)
        return r


def _worse(a: str, b: str) -> str:
    order = ["pass", "fail", "error"]
    return a if order.index(a) >= order.index(b) else b


def _spec_call(fn: str, *args):
    return getattr(spec_impl, fn)(*args)


def _fwd_tol(expected):
    expected = np.asarray(expected, dtype=np.float64)
    scale = max(1.0, float(np.max(np.abs(expected)))) if expected.size else 1.0
    return FWD_RTOL * np.abs(expected) + FWD_ATOL * scale


def _named(op: OpSpec, sample: dict, extra=()) -> list[tuple[str, object]]:
    return [(a.name, sample[a.name]) for a in op.args] + list(extra)


# --------------------------------------------------------------------------- differentiable ops and losses
def _draw_dy(rng, shape, scalar: bool):
    if scalar:
        return float(rng.choice([-1.0, 1.0]) * rng.uniform(0.5, 2.0))
    return rng.normal(size=shape)


def _objective(fn, args, diff_index, dy, scalar):
    """x ↦ <dy, forward(args with args[diff_index] = x)> using the implementation's forward."""

    def f(x):
        a = list(args)
        a[diff_index] = x
        y = fn(*a)
        return float(dy * float(y)) if scalar else float(np.sum(dy * np.asarray(y, dtype=np.float64)))

    return f


def central_difference(f, x: np.ndarray, rel_step: float = FD_REL_STEP):
    """(D_h, D_2h, h) per element: central differences of scalar ``f`` at two steps."""
    x = np.array(x, dtype=np.float64)
    d1, d2, hs = np.empty_like(x), np.empty_like(x), np.empty_like(x)
    for idx in np.ndindex(x.shape):
        xi = x[idx]
        h = rel_step * max(1.0, abs(xi))
        vals = []
        for step in (h, 2 * h):
            x[idx] = xi + step
            fp = f(x)
            x[idx] = xi - step
            fm = f(x)
            vals.append((fp - fm) / (2 * step))
        x[idx] = xi
        d1[idx], d2[idx], hs[idx] = vals[0], vals[1], h
    return d1, d2, hs


def fd_tolerance(analytic, d1, d2, hs, scale):
    return FD_RTOL * np.maximum(np.abs(analytic), np.abs(d1)) + np.abs(d1 - d2) + 32 * EPS * scale / hs


def _check_differentiable(op, impl, rng, examples):
    fwd, bwd = _Tracker("forward"), _Tracker("backward")
    scalar = op.kind == "loss"
    diff = [i for i, a in enumerate(op.args) if a.differentiable]
    kink_moves = 0
    for _ in range(examples):
        s = op.sample(rng)
        if op.kink_distance(s) <= KINK_SAFETY:
            kink_moves += 1  # the registry samples keep a margin; never differentiate across a kink
            continue
        args = op.forward_args(s)
        names = [a.name for a in op.args]
        fwd.example()
        out = impl.call(op.forward, *args, arg_names=names)
        repro_f = reproducer(impl.name, op.forward, _named(op, s))
        if not out.ok:
            fwd.error(out.finding, repro_f)
            if out.finding.kind != "mutation":
                continue
        expected = _spec_call(op.forward, *args)
        if scalar:
            y, bad = check_scalar(out.value, f"{op.forward} output")
        else:
            y, bad = out.value, check_array(out.value, op.output_shape(s), f"{op.forward} output")
        if bad:
            fwd.error(bad, repro_f)
            continue
        worst, findings = compare(y, expected, _fwd_tol(expected), op=op, what="forward", sample=s)
        fwd.measured(worst, findings, repro_f)

        # backward with a random cotangent
        bwd.example()
        dy = _draw_dy(rng, np.shape(expected), scalar)
        repro_b = reproducer(impl.name, op.backward, _named(op, s, [("dy", dy)]))
        res = impl.call(op.backward, *args, dy, arg_names=names)
        if not res.ok:
            bwd.error(res.finding, repro_b)
            continue
        grads, bad = as_grad_tuple(res.value, len(diff), op.backward)
        if bad:
            bwd.error(bad, repro_b)
            continue
        broken = False
        for i, g in zip(diff, grads):
            bad = check_array(g, np.shape(args[i]), f"d{op.args[i].name}")
            if bad:
                bwd.error(bad, repro_b)
                broken = True
        if broken:
            continue
        again = impl.call(op.backward, *args, dy)
        if again.ok:
            g2, _ = as_grad_tuple(again.value, len(diff), op.backward)
            if g2 is None or any(not np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(grads, g2)):
                bwd.error(Finding("nondeterministic", f"{op.backward} returned different results for the same inputs"), repro_b)
                continue
        f_scale = abs(float(np.sum(dy * expected))) + float(np.sum(np.abs(dy * np.asarray(expected))))
        fn = impl.function(op.forward)
        for i, g in zip(diff, grads):
            try:
                d1, d2, hs = central_difference(_objective(fn, args, i, dy, scalar), args[i])
            except Exception as exc:  # noqa: BLE001
                bwd.error(Finding("exception", f"{op.forward} raised {type(exc).__name__} during differencing: {exc}"))
                break
            tol = fd_tolerance(g, d1, d2, hs, f_scale)
            worst, findings = compare(g, d1, tol, op=op, what=f"d{op.args[i].name}", sample=s)
            for fnd in findings:
                fnd.details["argument"] = op.args[i].name
                fnd.details["expected_is"] = "float64 central difference of the implementation's forward"
            bwd.measured(worst, findings, repro_b)
    if kink_moves:
        bwd.result.info["samples_skipped_near_kink"] = kink_moves
    return [fwd.done("forward matches the spec"), bwd.done("backward matches central differences")]


# --------------------------------------------------------------------------- networks
def _check_network(op, impl, rng, examples):
    fwd, bwd = _Tracker("forward"), _Tracker("backward")
    fn_name = op.functions[0]
    names = [a.name for a in op.args]
    for _ in range(examples):
        s = op.sample(rng)
        args = op.forward_args(s)
        fwd.example()
        bwd.example()
        repro = reproducer(impl.name, fn_name, _named(op, s))
        res = impl.call(fn_name, *args, arg_names=names)
        if not res.ok:
            fwd.error(res.finding, repro)
            continue
        ref_loss, _ = _spec_call(fn_name, *args)
        value = res.value
        if not isinstance(value, (tuple, list)) or len(value) != 2:
            fwd.error(Finding("type", f"{fn_name} must return (loss, grads), got {type(value).__name__}"), repro)
            continue
        loss, bad = check_scalar(value[0], "loss")
        if bad:
            fwd.error(bad, repro)
            continue
        worst, findings = compare(loss, ref_loss, _fwd_tol(ref_loss), op=op, what="loss", sample=s)
        fwd.measured(worst, findings, repro)
        grads = value[1]
        params = s["params"]
        if not isinstance(grads, (list, tuple)) or len(grads) != len(params):
            bwd.error(Finding("type", f"{fn_name} must return one (dW, db) per layer ({len(params)}), got {type(grads).__name__}"), repro)
            continue
        fn = impl.function(fn_name)
        for l, ((W, b), pair) in enumerate(zip(params, grads), start=1):
            if not isinstance(pair, (list, tuple)) or len(pair) != 2:
                bwd.error(Finding("type", f"grads[{l - 1}] must be a (dW, db) pair"), repro)
                continue
            for j, (name, p, g) in enumerate((("W", W, pair[0]), ("b", b, pair[1]))):
                bad = check_array(g, np.shape(p), f"d{name}{l}")
                if bad:
                    bwd.error(bad, repro)
                    continue

                def f(x, l=l, j=j):
                    ps = [list(q) for q in params]
                    ps[l - 1][j] = x
                    return float(fn([tuple(q) for q in ps], *args[1:])[0])

                try:
                    d1, d2, hs = central_difference(f, p)
                except Exception as exc:  # noqa: BLE001
                    bwd.error(Finding("exception", f"{fn_name} raised {type(exc).__name__} during differencing: {exc}"))
                    continue
                tol = fd_tolerance(g, d1, d2, hs, abs(ref_loss) + 1.0)
                worst, findings = compare(g, d1, tol, op=op, what=f"d{name}{l}", sample=s)
                bwd.measured(worst, findings, repro)
    return [fwd.done("loss matches the spec"), bwd.done("gradients match central differences")]


# --------------------------------------------------------------------------- rules: functions, optimizers, perceptron
def _compare_structured(tracker, op, actual, expected, what, sample, repro):
    """Compare arrays or (nested) lists of arrays/floats with the spec's tolerance."""
    if isinstance(expected, (list, tuple)):
        if not isinstance(actual, (list, tuple)) or len(actual) != len(expected):
            tracker.error(Finding("type", f"{what} must be a list/tuple of {len(expected)}, got {type(actual).__name__}"), repro)
            return
        for k, (a, e) in enumerate(zip(actual, expected)):
            _compare_structured(tracker, op, a, e, f"{what}[{k}]", sample, repro)
        return
    if isinstance(expected, np.ndarray):
        bad = check_array(actual, expected.shape, what)
        if bad:
            tracker.error(bad, repro)
            return
    else:
        actual, bad = check_scalar(actual, what)
        if bad:
            tracker.error(bad, repro)
            return
    worst, findings = compare(actual, expected, _fwd_tol(expected), op=op, what=what, sample=sample)
    tracker.measured(worst, findings, repro)


def _check_function(op, impl, rng, examples):
    t = _Tracker("rule")
    fn = op.functions[0]
    names = [a.name for a in op.args]
    for _ in range(examples):
        s = op.sample(rng)
        args = op.forward_args(s)
        t.example()
        repro = reproducer(impl.name, fn, _named(op, s))
        res = impl.call(fn, *args, arg_names=names)
        if not res.ok:
            t.error(res.finding, repro)
            continue
        expected = _spec_call(fn, *args)
        if isinstance(expected, list) and isinstance(res.value, list) and any(a is b for a, b in zip(res.value, args[0])):
            t.error(Finding("aliasing", f"{fn} must return a new list of new arrays, not its inputs"), repro)
            continue
        _compare_structured(t, op, res.value, expected, "output", s, repro)
    return [t.done(f"{fn} matches the spec")]


def _check_rule(op, impl, rng, examples):
    t = _Tracker("rule")
    fn = op.functions[0]
    names = [a.name for a in op.args]
    for _ in range(examples):
        s = op.sample(rng)
        args = op.forward_args(s)
        t.example()
        repro = reproducer(impl.name, fn, _named(op, s))
        res = impl.call(fn, *args, arg_names=names)
        if not res.ok:
            t.error(res.finding, repro)
            continue
        _compare_structured(t, op, res.value, _spec_call(fn, *args), "output", s, repro)
    return [t.done(f"{fn} matches the spec")]


def _check_optimizer(op, impl, rng, examples):
    t = _Tracker("trajectory")
    init, update = op.functions
    for _ in range(examples):
        s = op.sample(rng)
        t.example()
        hyper = s["hyper"]
        repro = reproducer(impl.name, init, [("w", s["w"])],
                           extra="\n".join([f"grads = {[g.tolist() for g in s['grads']]!r}", "state = impl." + init + "(w)",
                                            "for g in grads:",
                                            f"    w, state = impl.{update}(w, np.array(g), state, **{hyper!r})",
                                            "    print(w)"]))
        st = impl.call(init, s["w"], arg_names=["w"])
        if not st.ok:
            t.error(st.finding, repro)
            continue
        state, w = st.value, s["w"]
        ref_w, ref_state = s["w"], _spec_call(init, s["w"])
        for step, g in enumerate(s["grads"], start=1):
            res = impl.call(update, w, g, state, arg_names=["w", "g", "state"], **hyper)
            if not res.ok:
                t.error(res.finding, repro)
                break
            if not isinstance(res.value, (tuple, list)) or len(res.value) != 2:
                t.error(Finding("type", f"{update} must return (w_new, state_new), got {type(res.value).__name__}"), repro)
                break
            w, state = res.value
            ref_w, ref_state = getattr(spec_impl, update)(ref_w, g, ref_state, **hyper)
            bad = check_array(w, ref_w.shape, f"w after step {step}")
            if bad:
                t.error(bad, repro)
                break
            tol = FWD_RTOL * (np.abs(ref_w) + hyper["lr"] * step) + FWD_ATOL
            worst, findings = compare(w, ref_w, tol, op=op, what=f"w after step {step}", sample=s)
            for f in findings:
                f.details["step"] = step
            t.measured(worst, findings, repro)
            if findings:
                break
    return [t.done("the parameter trajectory matches the spec over 5 steps")]


# --------------------------------------------------------------------------- init
INIT_Z = 5.0  # standard errors allowed for the mean and the variance
INIT_KS_P = 1e-6  # KS p-value below which the distribution is rejected


def kolmogorov_sf(x: float) -> float:
    """Survival function of the Kolmogorov distribution, P(K > x) = 2Σ(−1)^{k−1} e^{−2k²x²}."""
    if x <= 0.0:
        return 1.0
    if x < 0.2:
        return 1.0
    total = sum((-1) ** (k - 1) * math.exp(-2.0 * k * k * x * x) for k in range(1, 101))
    return min(1.0, max(0.0, 2.0 * total))


def ks_test(sample: np.ndarray, cdf) -> tuple[float, float]:
    """One-sample KS statistic D and its asymptotic p-value (with Stephens' small-n correction)."""
    x = np.sort(np.ravel(sample))
    n = x.size
    F = cdf(x)
    d = max(float(np.max(np.arange(1, n + 1) / n - F)), float(np.max(F - np.arange(n) / n)))
    sqn = math.sqrt(n)
    return d, kolmogorov_sf((sqn + 0.12 + 0.11 / sqn) * d)


def normal_cdf(std):
    erf = np.vectorize(math.erf)
    return lambda x: 0.5 * (1.0 + erf(np.asarray(x) / (std * math.sqrt(2.0))))


def uniform_cdf(a):
    return lambda x: np.clip((np.asarray(x) + a) / (2.0 * a), 0.0, 1.0)


def init_statistics(W: np.ndarray, family: str, var: float) -> dict:
    """Mean, variance and KS statistics of a drawn weight array against its scheme's target."""
    n = W.size
    std = math.sqrt(var)
    mean = float(W.mean())
    s2 = float(W.var())
    kurt_factor = 2.0 if family == "normal" else 0.8  # Var(s²) ≈ (μ4 − σ⁴)/n: 2σ⁴ normal, 0.8σ⁴ uniform
    cdf = normal_cdf(std) if family == "normal" else uniform_cdf(math.sqrt(3.0 * var))
    d, p = ks_test(W, cdf)
    return {
        "n": n, "family": family, "target_var": var, "mean": mean, "var": s2,
        "mean_z": mean / (std / math.sqrt(n)),
        "var_z": (s2 - var) / (var * math.sqrt(kurt_factor / n)),
        "ks_d": d, "ks_p": p,
    }


def _check_init(op, impl, rng, examples):
    t = _Tracker("distribution")
    fn = op.name
    stats_seen = []
    for _ in range(max(1, min(examples, 2))):
        s = op.sample(rng)
        shape, seed = s["shape"], s["seed"]
        t.example()
        repro = reproducer(impl.name, fn, [("shape", shape), ("rng", "RNG")]).replace("rng = 'RNG'", f"rng = np.random.default_rng({seed})")
        global_before = np.random.get_state()[1].copy()
        res = impl.call(fn, shape, np.random.default_rng(seed), arg_names=["shape", "rng"])
        if not res.ok:
            t.error(res.finding, repro)
            continue
        if not np.array_equal(np.random.get_state()[1], global_before):
            t.error(Finding("global_state", f"{fn} used NumPy's global random state; draw from the Generator passed in"), repro)
        W = res.value
        bad = check_array(W, shape, f"{fn} output")
        if bad:
            t.error(bad, repro)
            continue
        again = impl.call(fn, shape, np.random.default_rng(seed))
        if again.ok and not (isinstance(again.value, np.ndarray) and np.array_equal(again.value, W)):
            t.error(Finding("nondeterministic", f"{fn} gave different arrays for two Generators with the same seed"), repro)
        family, var = spec_impl.init.target(fn, shape)
        st = init_statistics(W, family, var)
        st["shape"] = list(shape)
        stats_seen.append(st)
        worst = max(abs(st["mean_z"]), abs(st["var_z"])) / INIT_Z
        findings = []
        if abs(st["mean_z"]) > INIT_Z:
            findings.append(Finding("statistic", f"{fn}{tuple(shape)}: mean {st['mean']:.4g} is {st['mean_z']:.1f} standard errors from 0", st))
        if abs(st["var_z"]) > INIT_Z:
            findings.append(Finding("statistic", f"{fn}{tuple(shape)}: variance {st['var']:.4g} vs target {var:.4g} "
                                                 f"({st['var_z']:.1f} standard errors; ratio {st['var'] / var:.3f})", st))
        if st["ks_p"] < INIT_KS_P:
            findings.append(Finding("statistic", f"{fn}{tuple(shape)}: not {family} (KS D = {st['ks_d']:.4f}, p = {st['ks_p']:.2g})", st))
        t.measured(worst, findings, repro)
    t.result.info["statistics"] = stats_seen
    return [t.done("mean, variance and distribution match the scheme")]
