r"""How small a gradient error the mpmath oracle detects: single-element perturbations, bisected.

:class:`Perturbed` is the reference with one element of one gradient of one
op multiplied by :math:`1 + \rho`. :func:`smallest_detected` bisects
:math:`\log_{10}\rho` for the smallest :math:`\rho` that the oracle reports,
for both signs of the perturbation, and returns the larger of the two (the
perturbation detected whichever way it points). Run as a script it prints,
per op, the median and the largest over registry samples, one random
non-zero element each::

    python -m gradspec.mpmath_oracle.sensitivity --samples 8 --seed 0

A perturbation is detectable at all only when it exceeds the tolerance:
:math:`|\rho\,\hat g_i| > \tau_i + |\hat g_i - g_i|`, so the bisection's answer is
close to :math:`(\tau_i + |\hat g_i - g_i|)/|\hat g_i|` in the element-wise mode
(the tolerance model's predicted resolution, printed alongside); elements with
:math:`\hat g_i = 0` have no relative perturbation and are not drawn.
"""
from __future__ import annotations

import argparse
import math
import statistics
import time

import numpy as np

from .. import reference as ref
from ..impl import Implementation
from ..registry import OPS
from . import oracle as O
from .truth import diff_names


class Perturbed:
    """The reference, except that element ``flat_index`` of gradient ``argument`` of ``op`` is scaled by 1 + rel."""

    def __init__(self, op, argument: str, flat_index: int, rel: float):
        self._op, self._arg, self._k, self._rel = op, argument, int(flat_index), float(rel)
        fn = op.functions[0] if op.kind_facts.whole_network else op.backward
        setattr(self, fn, self._perturbed_network if op.kind_facts.whole_network else self._perturbed_backward)

    def __getattr__(self, name):
        return getattr(ref, name)

    def _scale(self, g):
        g = np.array(g, dtype=np.float64, copy=True)
        g.flat[self._k] = g.flat[self._k] * (1.0 + self._rel)
        return g

    def _perturbed_backward(self, *args):
        out = getattr(ref, self._op.backward)(*args)
        names = list(self._op.differentiable_args)
        if len(names) == 1:
            return self._scale(out)
        return tuple(self._scale(g) if n == self._arg else g for n, g in zip(names, out))

    def _perturbed_network(self, params, X, T, hidden, output):
        loss, grads = ref.mlp_loss_and_grads(params, X, T, hidden, output)
        l, j = int(self._arg[1:]) - 1, 0 if self._arg[0] == "W" else 1
        grads = [list(p) for p in grads]
        grads[l][j] = self._scale(grads[l][j])
        return loss, [tuple(p) for p in grads]


def detected(op, sample, dy, argument, flat_index, rel, seed=0, **kw) -> bool:
    """Does the oracle report the reference with this one perturbation (on this sample, cotangent, directions)?"""
    impl = Implementation("perturbed gradspec.reference", Perturbed(op, argument, flat_index, rel))
    o = O.check_sample(op, impl, sample, np.random.default_rng(seed), dy=dy, **kw)
    return bool(o.backward_findings)


def smallest_detected(op, sample, dy, argument, flat_index, lo=-17.0, hi=-3.0, steps=12, seed=0, **kw) -> float:
    """Smallest ρ (to 10^((hi−lo)/2^steps)) detected for both signs; ``inf`` when 10^hi is not detected."""
    out = 0.0
    for sign in (1.0, -1.0):
        if not detected(op, sample, dy, argument, flat_index, sign * 10.0 ** hi, seed, **kw):
            return math.inf
        a, b = lo, hi
        if detected(op, sample, dy, argument, flat_index, sign * 10.0 ** a, seed, **kw):
            b = a
        for _ in range(steps):
            if b - a <= 1e-9:
                break
            mid = (a + b) / 2
            if detected(op, sample, dy, argument, flat_index, sign * 10.0 ** mid, seed, **kw):
                b = mid
            else:
                a = mid
        out = max(out, 10.0 ** b)
    return out


def pick_element(op, sample, rng, dy):
    """(argument, flat index, reference outcome) of a random element whose reference gradient is non-zero."""
    o = O.check_sample(op, ref, sample, np.random.default_rng(0), dy=dy)
    cands = [(n, k) for n in diff_names(op, sample) for k in np.flatnonzero(o.grads[n].ravel() != 0)]
    if not cands:
        return None, None, o
    n, k = cands[int(rng.integers(len(cands)))]
    return n, int(k), o


def measure(op, n_samples: int, seed: int = 0):
    """ρ_min over ``n_samples`` registry samples of ``op``; returns (list of ρ, list of predicted ρ, elementwise flags)."""
    rng = np.random.default_rng([seed, len(op.name)])
    rhos, preds, modes = [], [], []
    while len(rhos) < n_samples:
        s = op.sample(rng)
        dy = O.draw_dy(op, s, rng)
        name, k, o = pick_element(op, s, rng, dy)
        if name is None:
            continue
        rhos.append(smallest_detected(op, s, dy, name, k))
        if o.elementwise:
            g, t, tol = o.grads[name].flat[k], o.truth[name].flat[k], o.tolerance[name].flat[k]
            preds.append((tol + abs(g - t)) / abs(g))
        else:
            preds.append(float("nan"))
        modes.append(o.elementwise)
    return rhos, preds, modes


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--samples", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--ops", nargs="*", default=None)
    a = p.parse_args(argv)
    ops = [op for op in OPS if O.applies(op) and (not a.ops or op.name in a.ops)]
    print(f"smallest relative single-element perturbation detected (both signs), {a.samples} registry samples per op, "
          f"seed {a.seed}, {O.DIRECTIONS} directions, element-wise up to {O.FULL_LIMIT} elements")
    print("| op | median ρ_min | largest ρ_min | predicted (τ+err)/|g|, median | detected at 1e-8 | element-wise samples |")
    print("|---|---|---|---|---|---|")
    for op in ops:
        t0 = time.perf_counter()
        rhos, preds, modes = measure(op, a.samples, a.seed)
        finite_preds = [x for x in preds if x == x]
        pred = f"{statistics.median(finite_preds):.2g}" if finite_preds else "-"
        print(f"| {op.name} | {statistics.median(rhos):.2g} | {max(rhos):.2g} | {pred} | "
              f"{sum(r <= 1e-8 for r in rhos)}/{len(rhos)} | {sum(modes)}/{len(modes)} |  <!-- {time.perf_counter() - t0:.1f}s -->",
              flush=True)


if __name__ == "__main__":
    main()
