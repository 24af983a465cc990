"""Cost of the mpmath oracle's directional check, in high-precision forwards (a benchmark script, not a test).

For each op with a gradient, at the mid-size shape listed in ``SHAPES``:

* ``fwd``: one bare high-precision forward of the op (mpmath, at the oracle's
  working precision, inputs already converted), median of ``--repeats``;
* ``eval``: one evaluation of the difference quotient's objective
  f(x + t·v) = <dy, F(x + t·v)>: building the displaced input exactly, the
  forward, the contraction with dy (per differentiable argument; their mean);
* ``check``: one full directional check of the reference by the oracle
  (``check_sample(..., full_limit=0)``: conversion of the inputs, the forward at
  the sample, ``DIRECTIONS`` random directions per differentiable argument, the
  float64 forward, backward and tolerance model, the comparisons);
* ``f64``: the float64 side alone (reference forward + backward + the
  tolerance model);
* ``floor``: 2 evaluations per direction, Σ over the arguments of
  2 · directions · eval(argument), in seconds and in bare forwards;
* ``check/floor``: the measured cost over the floor; the target is
  "within 2× of the floor plus the float64 side's cost": ``limit`` =
  2 + f64/floor.

For ops whose forward is a selection (relu, max-pool, dropout) the bare
forward costs less than building the displaced input, so the floor (and the
check) is many bare forwards; ``check/fwd`` shows it.

Usage::

    python benchmarks/bench_mpmath_oracle.py                 # every op, 3 repeats
    python benchmarks/bench_mpmath_oracle.py --ops conv2d affine --repeats 5
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from mpmath import mp

import gradspec.reference as ref
from gradspec import registry
from gradspec.mpmath_oracle import lookup as L, oracle as O, tolerance as T
from gradspec.mpmath_oracle.truth import Problem, direction, get_arg, step_bits


def _bn(rng):
    return {"x": rng.normal(size=(64, 32)) * 2 + 1, "gamma": rng.normal(size=32), "beta": rng.normal(size=32), "eps": 1e-5}


def _mlp(rng):
    widths = [32, 64, 64, 10]
    params = [(rng.normal(0, 1 / np.sqrt(a), size=(a, b)), rng.normal(0, 0.5, size=b)) for a, b in zip(widths, widths[1:])]
    return {"params": params, "X": rng.normal(size=(32, 32)), "T": rng.integers(0, 10, size=32), "hidden": "tanh",
            "output": "softmax_cross_entropy"}


#: op -> (description of the shape, sampler)
SHAPES = {
    "sigmoid": ("x (64, 64)", lambda r: {"x": r.normal(0, 2, size=(64, 64))}),
    "tanh": ("x (64, 64)", lambda r: {"x": r.normal(0, 2, size=(64, 64))}),
    "relu": ("x (64, 64)", lambda r: {"x": r.normal(0, 2, size=(64, 64))}),
    "softmax": ("x (32, 64)", lambda r: {"x": r.normal(0, 3, size=(32, 64))}),
    "affine": ("x (32, 64), W (64, 32), b (32,)", lambda r: {"x": r.normal(size=(32, 64)), "W": r.normal(size=(64, 32)),
                                                           "b": r.normal(size=32)}),
    "mse": ("y, t (64, 32)", lambda r: {"y": r.normal(size=(64, 32)), "t": r.normal(size=(64, 32))}),
    "cross_entropy": ("p, t (64, 32)", lambda r: {"p": r.uniform(0.05, 0.95, size=(64, 32)),
                                                  "t": np.eye(32)[r.integers(0, 32, size=64)]}),
    "softmax_cross_entropy": ("z (64, 32)", lambda r: {"z": r.normal(0, 3, size=(64, 32)), "labels": r.integers(0, 32, size=64)}),
    "binary_cross_entropy": ("z, t (64, 32)", lambda r: {"z": r.normal(0, 3, size=(64, 32)), "t": r.uniform(size=(64, 32))}),
    "conv2d": ("x (2, 4, 16, 16), W (8, 4, 3, 3), pad 1", lambda r: {"x": r.normal(size=(2, 4, 16, 16)),
                                                                   "W": r.normal(size=(8, 4, 3, 3)), "b": r.normal(size=8),
                                                                   "stride": 1, "pad": 1}),
    "max_pool2d": ("x (2, 4, 16, 16), k 2, s 2", lambda r: {"x": r.normal(size=(2, 4, 16, 16)), "kernel": 2, "stride": 2, "pad": 0}),
    "avg_pool2d": ("x (2, 4, 16, 16), k 3, s 1, pad 1", lambda r: {"x": r.normal(size=(2, 4, 16, 16)), "kernel": 3, "stride": 1,
                                                                  "pad": 1}),
    "batchnorm": ("x (64, 32)", _bn),
    "dropout": ("x (64, 64), p 0.5", lambda r: {"x": r.normal(size=(64, 64)), "mask": (r.random((64, 64)) < 0.5).astype(float),
                                                "p": 0.5}),
    "l2_penalty": ("W (64, 64)", lambda r: {"W": r.normal(size=(64, 64)), "lam": 0.1}),
    "mlp": ("32-64-64-10 tanh, softmax-CE, N 32", _mlp),
}


def _median_time(fn, repeats):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench(op_name: str, repeats: int, seed: int = 0) -> dict:
    op = registry.get(op_name)
    shape, sampler = SHAPES[op_name]
    rng = np.random.default_rng(seed)
    s = sampler(rng)
    dy = O.draw_dy(op, s, rng)
    P = Problem(op, s, dy if dy is not None else 1.0)

    def forward():
        with mp.workdps(P.wdps):
            P._evaluate(P._mp, P.pattern)

    def float64_side():
        if op.kind == "network":
            ref.mlp_loss_and_grads(*op.forward_args(s))
        else:
            getattr(ref, op.forward)(*op.forward_args(s))
            getattr(ref, op.backward)(*op.forward_args(s), dy)
        L.model(op.name, s, dy)

    outcome = {}

    def check():
        outcome["o"] = O.check_sample(op, ref, s, np.random.default_rng(seed), dy=dy, full_limit=0)

    t_fwd = _median_time(forward, repeats)
    t_f64 = _median_time(float64_side, repeats)
    t_check = _median_time(check, repeats)
    evals = {}
    for name in P.names:
        x = np.asarray(get_arg(s, name), dtype=np.float64)
        v = direction(np.random.default_rng(seed), x)

        def one_eval(name=name, x=x, v=v):
            with mp.workdps(P.wdps):
                P._f_shift(name, x, v, 1, step_bits(P.dps))

        evals[name] = _median_time(one_eval, repeats)
    o = outcome["o"]
    assert o.ok, (o.errors + o.forward_findings + o.backward_findings)[0].message
    floor_s = sum(2 * O.DIRECTIONS * t for t in evals.values())
    return {"op": op_name, "shape": shape, "elements": int(sum(np.size(get_arg(s, n)) for n in P.names)),
            "fwd_s": t_fwd, "eval_s": statistics.mean(evals.values()), "check_s": t_check, "f64_s": t_f64,
            "floor_s": floor_s, "ratio": t_check / floor_s, "limit": 2 + t_f64 / floor_s,
            "check_fwd": t_check / t_fwd, "forwards": o.forward_evaluations, "wdps": P.wdps}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--ops", nargs="*", default=None)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    names = a.ops or list(SHAPES)
    print(f"mpmath oracle, directional check ({O.DIRECTIONS} directions per argument), median of {a.repeats}; "
          f"times in seconds, ratio in high-precision forwards")
    print("| op | shape | elements | fwd (s) | eval (s) | floor (s) | check (s) | float64 side (s) | "
          "forwards evaluated | check/fwd | check/floor | limit | within |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name in names:
        r = bench(name, a.repeats, a.seed)
        print(f"| {r['op']} | {r['shape']} | {r['elements']} | {r['fwd_s']:.4f} | {r['eval_s']:.4f} | {r['floor_s']:.3f} | "
              f"{r['check_s']:.3f} | {r['f64_s']:.4f} | {r['forwards']} | {r['check_fwd']:.1f} | {r['ratio']:.2f} | "
              f"{r['limit']:.2f} | {'yes' if r['ratio'] <= r['limit'] else 'NO'} |", flush=True)


if __name__ == "__main__":
    main()
