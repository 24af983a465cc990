"""Time what the diagnosis adds to ``gradspec check`` on a module with several broken ops (a benchmark, not a test).

The implementation is ``SEVERAL_BROKEN`` of ``tests/_diagnosis_mutants.py``: batchnorm with two bugs at once,
cross_entropy computing log(p + 1e-7), a sigmoid backward that ignores dy, a conv2d that raises whenever pad > 0,
Adam with eps on the uncorrected sqrt(v), momentum with a hard-coded 0.9, a halved l2 gradient, a transposed
affine dW. Each repeat runs ``gradspec.check`` (fd64, seed 0) twice: with the diagnosis, and with
``gradspec.diagnosis.annotate`` replaced by a no-op; the script prints the medians and the time each op's
diagnosis took in the last run with it.

Usage::

    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_diagnosis.py --repeats 5
    git show REV:src/gradspec/diagnosis.py > /tmp/diagnosis_before.py
    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_diagnosis.py --repeats 5 --baseline /tmp/diagnosis_before.py

``--baseline FILE`` also times another version of ``diagnosis.py`` (loaded as a module of the installed
gradspec package), interleaved with the others so that the load of a shared machine affects all alike.

The same with the CLI (the first figure includes the interpreter's start-up and imports)::

    gradspec check --impl tests/_diagnosis_mutants.py:SEVERAL_BROKEN
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
import time

import gradspec
from gradspec import diagnosis

HERE = os.path.dirname(os.path.abspath(__file__))


def load_several_broken():
    path = os.path.join(HERE, "..", "tests", "_diagnosis_mutants.py")
    spec = importlib.util.spec_from_file_location("diagnosis_mutants", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.SEVERAL_BROKEN


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--baseline", help="another diagnosis.py to time as well")
    args = ap.parse_args()
    impl = load_several_broken()
    real = diagnosis.annotate
    baseline = None
    if args.baseline:
        spec = importlib.util.spec_from_file_location("gradspec.diagnosis_baseline", args.baseline)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = mod  # dataclasses look their module up
        spec.loader.exec_module(mod)
        baseline = mod.annotate
    per_op: dict[str, float] = {}

    def timed(op, *a, **k):
        t = time.perf_counter()
        real(op, *a, **k)
        per_op[op.name] = time.perf_counter() - t

    with_d, without, with_base = [], [], []
    for _ in range(args.repeats):
        if baseline is not None:
            diagnosis.annotate = baseline
            t = time.perf_counter()
            gradspec.check(impl, seed=0)
            with_base.append(time.perf_counter() - t)
        diagnosis.annotate = timed
        t = time.perf_counter()
        result = gradspec.check(impl, seed=0)
        with_d.append(time.perf_counter() - t)
        diagnosis.annotate = lambda *a, **k: None
        t = time.perf_counter()
        gradspec.check(impl, seed=0)
        without.append(time.perf_counter() - t)
    diagnosis.annotate = real
    failing = [n for n, r in result.ops.items() if r.status in ("fail", "error")]
    print(f"gradspec.check on SEVERAL_BROKEN ({len(failing)} failing ops), {args.repeats} repeats, "
          f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}")
    print(f"  with the diagnosis:    median {statistics.median(with_d):.2f} s (min {min(with_d):.2f}, max {max(with_d):.2f})")
    if with_base:
        print(f"  with {args.baseline}: median {statistics.median(with_base):.2f} s (min {min(with_base):.2f}, "
              f"max {max(with_base):.2f})")
    print(f"  without the diagnosis: median {statistics.median(without):.2f} s (min {min(without):.2f}, max {max(without):.2f})")
    print("  diagnosis per failing op (last run): " + ", ".join(f"{n} {t:.2f} s" for n, t in sorted(per_op.items(), key=lambda kv: -kv[1])))


if __name__ == "__main__":
    main()
