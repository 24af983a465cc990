"""gradspec vs torch.autograd.gradcheck on the PyTorch adapter's conv2d, side by side.

Problem: x (8, 16, 16, 16), W (16, 16, 3, 3), b (16,), stride 1, pad 1, float64 CPU
(35 088 inputs, 32 768 outputs).

* gradspec: its full check of conv2d, i.e. ``gradspec.check(torch_impl, ops="conv2d")``
  (forward against the spec and an element-wise central-difference VJP check on
  the registry's small samples) plus, at the benchmark's size,
  :func:`gradspec.oracles.fd64.check_directional` (forward against the spec and
  the VJP along random directions, per argument).
* gradcheck fast mode (``fast_mode=True``) on the full problem.
* gradcheck slow mode builds dense Jacobians: 32 768 × 35 088 float64 = 9.2 GB
  each, and it holds at least three of them (numerical, and two analytical
  ones for its reentrancy check), about 28 GB. When the machine has that much
  free memory (``--slow full``, or ``auto``) it runs on the full problem.
  Otherwise (``auto`` on a smaller machine, or ``--slow per-sample``) it runs
  once per batch sample on (x[n:n+1], W, b): the Jacobian blocks that are not
  structurally zero, with 8 × fewer outputs per backward and 8 × smaller forwards.
  That time is a lower bound of the full run's whenever a batch-8 forward costs
  at least 1.46 × a batch-1 forward (the script measures and prints the ratio).

Tightness: every configuration is also run on a mutant whose dW is scaled by
(1 + 2e-4), an error below gradcheck's rtol = 1e-3.

Usage::

    python benchmarks/bench_torch_gradcheck.py              # auto
    python benchmarks/bench_torch_gradcheck.py --slow skip  # seconds, not minutes
    python benchmarks/bench_torch_gradcheck.py --threads 1  # what the README reports
"""
from __future__ import annotations

import argparse
import os
import time
import types

import numpy as np
import torch
import torch.nn.functional as F

import gradspec
from gradspec import registry
from gradspec.adapters import torch_impl
from gradspec.impl import Implementation
from gradspec.oracles import fd64

N, C, H, W_, FILT, K, STRIDE, PAD = 8, 16, 16, 16, 16, 3, 1, 1
MUTATION = 1 + 2e-4


def timed(fn):
    t = time.perf_counter()
    value = fn()
    return time.perf_counter() - t, value


def mutant_module(scale: float):
    """The torch adapter with dW scaled by ``scale`` (a bug below gradcheck's rtol)."""
    def conv2d_backward(*args):
        dx, dW, db = torch_impl.conv2d_backward(*args)
        return dx, dW * scale, db

    return types.SimpleNamespace(__name__="mutant_dW", conv2d_forward=torch_impl.conv2d_forward,
                                 conv2d_backward=conv2d_backward)


def torch_conv(scale: float = 1.0):
    """conv2d as gradcheck sees it; with scale != 1 the weight's gradient is scaled (same mutant)."""
    class Scaled(torch.autograd.Function):
        @staticmethod
        def forward(ctx, w):
            return w.clone()

        @staticmethod
        def backward(ctx, g):
            return g * scale

    def fn(x, w, b):
        return F.conv2d(x, Scaled.apply(w) if scale != 1.0 else w, b, stride=STRIDE, padding=PAD)

    return fn


def gradspec_full_check(module, sample, seed):
    """gradspec's full check of conv2d: registry samples (element-wise) + the large sample (directional)."""
    impl = Implementation(getattr(module, "__name__", "impl"), module)
    small = gradspec.check(impl, ops="conv2d", seed=seed)
    large = fd64.check_directional(registry.get("conv2d"), impl, sample, np.random.default_rng([seed, 1]))
    checks = small.ops["conv2d"].checks + large
    ok = all(c.status == "pass" for c in checks)
    worst = max(c.worst_error for c in checks if c.worst_error is not None)
    return ok, worst, checks


def gradcheck(fn, inputs, fast):
    try:
        return bool(torch.autograd.gradcheck(fn, inputs, fast_mode=fast, raise_exception=False))
    except RuntimeError as exc:  # pragma: no cover
        return f"error: {exc}"


def available_bytes() -> int:
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):  # pragma: no cover
        return 0


def per_forward_cost(x, w, b, batch):
    xb = x[:batch].detach()
    F.conv2d(xb, w.detach(), b.detach(), stride=STRIDE, padding=PAD)
    reps = 50
    t = time.perf_counter()
    for _ in range(reps):
        F.conv2d(xb, w.detach(), b.detach(), stride=STRIDE, padding=PAD)
    return (time.perf_counter() - t) / reps


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--slow", choices=["auto", "full", "per-sample", "skip"], default="auto")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None,
                   help="torch intra-op threads for both sides (default: torch's). On a busy machine 1 is "
                        "the robust choice: torch's parallel regions then cost milliseconds per call")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    rng = np.random.default_rng(args.seed)
    sample = {"x": rng.normal(size=(N, C, H, W_)), "W": rng.normal(size=(FILT, C, K, K)), "b": rng.normal(size=FILT),
              "stride": STRIDE, "pad": PAD}
    xt, wt, bt = (torch.tensor(sample[k], requires_grad=True) for k in ("x", "W", "b"))
    print(f"conv2d x {tuple(xt.shape)} W {tuple(wt.shape)} b {tuple(bt.shape)} stride {STRIDE} pad {PAD}; "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads, gradspec {gradspec.__version__}")
    gradspec_full_check(torch_impl, sample, args.seed)  # warm-up (imports, torch kernels), not timed

    rows = []
    t, (ok, worst, checks) = timed(lambda: gradspec_full_check(torch_impl, sample, args.seed))
    rows.append(("gradspec full check (fd64 element-wise small + directional large)", t, ok))
    detail = ", ".join(f"{c.check}:{c.status}" for c in checks)
    t_mut, (ok_mut, worst_mut, _) = timed(lambda: gradspec_full_check(mutant_module(MUTATION), sample, args.seed))
    t_gs = t

    t_fast, ok_fast = timed(lambda: gradcheck(torch_conv(), (xt, wt, bt), True))
    rows.append(("gradcheck fast_mode=True (full problem)", t_fast, ok_fast))
    _, ok_fast_mut = timed(lambda: gradcheck(torch_conv(MUTATION), (xt, wt, bt), True))

    need = 3 * xt.numel() * (xt.numel() + wt.numel() + bt.numel()) * 8
    mode = args.slow
    if mode == "auto":
        mode = "full" if available_bytes() > 1.2 * need else "per-sample"
    t_slow = ok_slow = ok_slow_mut = None
    if mode == "full":
        t_slow, ok_slow = timed(lambda: gradcheck(torch_conv(), (xt, wt, bt), False))
        rows.append(("gradcheck slow mode (full problem)", t_slow, ok_slow))
        _, ok_slow_mut = timed(lambda: gradcheck(torch_conv(MUTATION), (xt, wt, bt), False))
    elif mode == "per-sample":
        def per_sample(fn):
            return all(gradcheck(fn, (xt[n:n + 1].detach().clone().requires_grad_(True), wt, bt), False) for n in range(N))

        t_slow, ok_slow = timed(lambda: per_sample(torch_conv()))
        rows.append((f"gradcheck slow mode, per sample (x[n:n+1], W, b), n = 0..{N - 1}", t_slow, ok_slow))
        ok_slow_mut = gradcheck(torch_conv(MUTATION), (xt[:1].detach().clone().requires_grad_(True), wt, bt), False)

    print(f"\n{'configuration':72s} {'seconds':>9s}  verdict")
    for name, t, ok in rows:
        print(f"{name:72s} {t:9.3f}  {'pass' if ok is True else ok}")
    print(f"  gradspec checks: {detail}; worst error {worst:.3g}× the tolerance")
    print(f"\nratio gradcheck fast / gradspec: {t_fast / t_gs:.2f}")
    if t_slow is not None:
        print(f"ratio gradcheck slow ({mode}) / gradspec: {t_slow / t_gs:.1f}   (target: > 50)")
        if mode == "per-sample":
            c1, c8 = per_forward_cost(xt, wt, bt, 1), per_forward_cost(xt, wt, bt, N)
            print(f"  full slow mode needs ~{need / 1e9:.1f} GB of Jacobians (free: {available_bytes() / 1e9:.1f} GB); "
                  f"forward batch {N} / batch 1 cost = {c8 / c1:.2f} (>= 1.46: the per-sample time is a lower bound)")
            est = 2 * xt.numel() * c8 + 2 * (wt.numel() + bt.numel()) * c8
            print(f"  the full slow mode's numerical Jacobian alone would take ~{est:.0f} s "
                  f"(2 forwards × {xt.numel() + wt.numel() + bt.numel()} inputs × {c8 * 1e3:.2f} ms)")
    print(f"\nmutant: dW × (1 + {MUTATION - 1:.0e})")
    print(f"  gradspec:               {'caught' if not ok_mut else 'MISSED'} (worst {worst_mut:.3g}× the tolerance, {t_mut:.3f} s)")
    print(f"  gradcheck fast mode:    {'caught' if ok_fast_mut is not True else 'missed'}")
    if ok_slow_mut is not None:
        where = "full problem" if mode == "full" else "sample 0"
        print(f"  gradcheck slow mode:    {'caught' if ok_slow_mut is not True else 'missed'} ({where})")
    print("\ntolerances: gradcheck |numerical - analytical| <= 1e-5 + 1e-3·|analytical| per Jacobian entry "
          "(or per u^T J v in fast mode), no check of the forward;\n"
          "gradspec: forward vs the spec within 1e-10 relative; VJP within 1e-6 relative (+ Richardson "
          "truncation and rounding estimates) element-wise at small shapes and per direction at this size.")


if __name__ == "__main__":
    main()
