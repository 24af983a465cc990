"""Time the reference conv2d forward + backward (a benchmark script, not a test).

Problem: x (N=32, C=16, H=32, W=32), W (F=32, C=16, 3, 3), b (32,),
stride 1, pad 1, float64, so y is (32, 32, 32, 32). One repeat is
``conv2d_forward`` followed by ``conv2d_backward`` with a random upstream
gradient; the script prints the median (and min/max) over the repeats after
one untimed warm-up.

Usage::

    python benchmarks/bench_conv2d.py               # 7 repeats
    python benchmarks/bench_conv2d.py --repeats 15 --seed 1
    OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 python benchmarks/bench_conv2d.py --repeats 15

On a machine shared with other jobs a multi-threaded BLAS fights for the cores
and the median swings several-fold between runs; single-threaded BLAS (the
last line) gives a stable figure, and the printout says which was used.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import numpy as np

from gradspec.reference import conv2d_backward, conv2d_forward

N, C, H, W, F, K, STRIDE, PAD = 32, 16, 32, 32, 32, 3, 1, 1


def one_step(x, Wt, b, dy):
    """Forward and backward once; returns the elapsed seconds."""
    t0 = time.perf_counter()
    y = conv2d_forward(x, Wt, b, STRIDE, PAD)
    dx, dW, db = conv2d_backward(x, Wt, b, STRIDE, PAD, dy)
    elapsed = time.perf_counter() - t0
    assert y.shape == dy.shape and dx.shape == x.shape and dW.shape == Wt.shape and db.shape == b.shape
    return elapsed


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=7, help="timed repeats (default 7)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.repeats < 1:
        p.error(f"--repeats must be >= 1, got {args.repeats}")
    rng = np.random.default_rng(args.seed)
    x = rng.normal(size=(N, C, H, W))
    Wt = rng.normal(size=(F, C, K, K))
    b = rng.normal(size=F)
    dy = rng.normal(size=(N, F, (H + 2 * PAD - K) // STRIDE + 1, (W + 2 * PAD - K) // STRIDE + 1))
    one_step(x, Wt, b, dy)  # warm-up: page in the arrays and the BLAS
    times = [one_step(x, Wt, b, dy) for _ in range(args.repeats)]
    med = statistics.median(times)
    print(f"reference conv2d forward+backward, N={N} C={C} H=W={H} F={F} {K}x{K} stride {STRIDE} pad {PAD}, float64")
    print(f"median {med * 1e3:.1f} ms over {args.repeats} repeats (min {min(times) * 1e3:.1f} ms, max {max(times) * 1e3:.1f} ms)")
    blas = {k: os.environ[k] for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS") if k in os.environ}
    print(f"numpy {np.__version__}, Python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPU(s), "
          f"BLAS threads: {blas or 'library default'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
