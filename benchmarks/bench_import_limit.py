"""What the import limit costs (a benchmark, not a test).

``gradspec.impl.load`` imports the implementation under a ``SIGALRM`` timer (:func:`gradspec.impl.time_limit`). For
each module this times, in fresh interpreters (so the import is a real one each time), interleaved:

* ``limit``: ``load(MODULE)`` with the default limit (3 x the 10 s call timeout);
* ``none``: ``load(MODULE, timeout=0)``, no limit;
* ``probe``: what a probe import in a subprocess would add instead: a fresh interpreter that imports the module
  (the subprocess alternative pays this on top of the real import).

gradspec itself (and NumPy) is imported before the clock starts, so the figures are the implementation's import.
Last, the timer's own cost: entering and leaving ``time_limit`` around nothing, in this process.

Usage::

    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_import_limit.py --repeats 7
    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_import_limit.py --repeats 7 --modules gradspec.reference
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
import timeit

TIMED = """
import sys, time
import gradspec.impl as I
t = time.perf_counter()
I.load({module!r}, timeout={timeout!r})
print(time.perf_counter() - t)
"""


def timed_load(module: str, timeout) -> float:
    out = subprocess.run([sys.executable, "-c", TIMED.format(module=module, timeout=timeout)],
                         capture_output=True, text=True, check=True, timeout=600)
    return float(out.stdout.strip().splitlines()[-1])


def probe(module: str) -> float:
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", f"import {module}"], check=True, capture_output=True, timeout=600)
    return time.perf_counter() - t


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--modules", nargs="+", default=["gradspec.reference", "gradspec.adapters.torch_impl"])
    args = p.parse_args(argv)
    print(f"{'module':32s} {'limit (s)':>10s} {'none (s)':>10s} {'probe (s)':>10s}   medians of {args.repeats}")
    for module in args.modules:
        runs = {"limit": [], "none": [], "probe": []}
        for _ in range(args.repeats):
            runs["limit"].append(timed_load(module, 10.0))
            runs["none"].append(timed_load(module, 0))
            runs["probe"].append(probe(module))
        med = {k: statistics.median(v) for k, v in runs.items()}
        print(f"{module:32s} {med['limit']:10.3f} {med['none']:10.3f} {med['probe']:10.3f}"
              f"   (limit min {min(runs['limit']):.3f} max {max(runs['limit']):.3f};"
              f" none min {min(runs['none']):.3f} max {max(runs['none']):.3f})")
    from gradspec.impl import time_limit

    def empty():
        with time_limit(30.0, "nothing"):
            pass

    n = 20000
    print(f"time_limit around nothing: {timeit.timeit(empty, number=n) / n * 1e6:.1f} us")
    return 0


if __name__ == "__main__":
    sys.exit(main())
