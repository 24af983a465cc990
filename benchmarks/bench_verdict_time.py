"""Wall time to a verdict on misbehaving implementations (a benchmark script, not a test).

Builds, in a temporary directory, three implementation files and times ``gradspec`` on them in
subprocesses (what a user runs):

* ``hanging.py``: the reference, with ``softmax_backward`` replaced by ``time.sleep(600)``;
* ``no_softmax_backward.py``: the reference without ``softmax_backward`` (the same run without the
  hanging function: softmax is then reported as provided in part);
* ``broken.py``: the 14 classic differentiable ops, 11 of them taken from a mutant of
  :mod:`gradspec.properties.mutants` (one typical bug each, see :data:`BROKEN`), 3 from the reference.

Rows: ``gradspec check --oracle fd64 mpmath symbolic properties`` on each, and
``gradspec report --quick`` on ``broken.py``. The bound on a hang: the run with the hanging function
ends within 2 x the first-call timeout (``--timeout`` x 3) plus the run without it.

Usage::

    OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 python benchmarks/bench_verdict_time.py
    python benchmarks/bench_verdict_time.py --timeout 2 --rows hanging no_softmax_backward
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

from gradspec.impl import FIRST_CALL_GRACE

ORACLES = ["fd64", "mpmath", "symbolic", "properties"]
#: op -> the mutant that breaks it in ``broken.py`` (11 of the 14 ops).
BROKEN = {
    "sigmoid": "sigmoid_missing_derivative",
    "tanh": "tanh_derivative_not_squared",
    "relu": "relu_prime_at_zero_is_one",
    "softmax": "softmax_backward_diagonal_only",
    "affine": "affine_bias_grad_averaged",
    "mse": "mse_backward_missing_1_over_N",
    "softmax_cross_entropy": "softmax_cross_entropy_missing_onehot",
    "conv2d": "conv2d_kernel_flipped",
    "max_pool2d": "max_pool2d_last_max_on_ties",
    "batchnorm": "batchnorm_unbiased_variance",
    "dropout": "dropout_not_inverted",
}
CORRECT = ["cross_entropy", "binary_cross_entropy", "avg_pool2d"]

HANGING = '''"""The reference with a softmax_backward that hangs."""
import time
from gradspec.reference import *  # noqa: F401,F403


def softmax_backward(x, dy):
    time.sleep(600)
'''

WITHOUT = '''"""The reference without softmax_backward."""
from gradspec.reference import *  # noqa: F401,F403

del softmax_backward  # noqa: F821
'''

BROKEN_SRC = '''"""14 classic ops, 11 with a typical bug (gradspec.properties.mutants), 3 from the reference."""
from gradspec import reference as _ref
from gradspec.properties.mutants import MUTANTS as _MUTANTS
from gradspec.registry import REGISTRY as _REG

_BY_NAME = {{m.name: m for m in _MUTANTS}}
for _op, _mutant in {broken!r}.items():
    for _f in _REG[_op].functions:
        globals()[_f] = getattr(_BY_NAME[_mutant].impl, _f)
for _op in {correct!r}:
    for _f in _REG[_op].functions:
        globals()[_f] = getattr(_ref, _f)
'''


def write_impls(directory: str) -> dict[str, str]:
    files = {"hanging": HANGING, "no_softmax_backward": WITHOUT,
             "broken": BROKEN_SRC.format(broken=BROKEN, correct=CORRECT)}
    paths = {}
    for name, src in files.items():
        paths[name] = os.path.join(directory, f"{name}.py")
        with open(paths[name], "w") as f:
            f.write(src)
    return paths


def timed(cmd: list[str], cwd: str) -> tuple[float, int, dict | None]:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode not in (0, 1):
        sys.stderr.write(proc.stdout[-2000:] + proc.stderr[-4000:])
    return wall, proc.returncode, None


def summary(json_path: str) -> str:
    try:
        with open(json_path) as f:
            data = json.load(f)
    except (OSError, ValueError):
        return "-"
    return ", ".join(f"{k} {v}" for k, v in data["summary"].items() if v and k != "total")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--timeout", type=float, default=None, help="--timeout of gradspec check (default: its own)")
    ap.add_argument("--rows", nargs="+", default=["hanging", "no_softmax_backward", "broken", "report"],
                    choices=["hanging", "no_softmax_backward", "broken", "report"])
    args = ap.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_impls(tmp)
        for row in args.rows:
            out = os.path.join(tmp, f"{row}.json")
            if row == "report":
                cmd = [sys.executable, "-m", "gradspec", "report", "--quick", "--impl", paths["broken"],
                       "--out", os.path.join(tmp, "report")]
                out = os.path.join(tmp, "report", "report.json")
            else:
                cmd = [sys.executable, "-m", "gradspec", "check", "--impl", paths[row], "--oracle", *ORACLES,
                       "--json", out, "-q"]
                if args.timeout is not None:
                    cmd += ["--timeout", str(args.timeout)]
            wall, rc, _ = timed(cmd, tmp)
            label = ("gradspec report --quick" if row == "report" else "check, 4 oracles") + \
                f" on {'broken' if row == 'report' else row}.py"
            rows.append((label, wall, rc, summary(out) if row != "report" else "-"))
            print(f"{label}: {wall:.1f} s (exit {rc})", file=sys.stderr, flush=True)
    print("| run | wall (s) | exit | ops |")
    print("|---|---|---|---|")
    for label, wall, rc, s in rows:
        print(f"| {label} | {wall:.1f} | {rc} | {s} |")
    from gradspec.impl import DEFAULT_TIMEOUT

    t = args.timeout if args.timeout is not None else DEFAULT_TIMEOUT
    walls = {label.split(" on ")[1][:-3]: wall for label, wall, _, _ in rows if "check" in label}
    if "hanging" in walls and "no_softmax_backward" in walls:
        bound = 2 * t * FIRST_CALL_GRACE + walls["no_softmax_backward"]
        print(f"\nhang bound: 2 x {t * FIRST_CALL_GRACE:g} s + {walls['no_softmax_backward']:.1f} s = {bound:.1f} s; "
              f"measured {walls['hanging']:.1f} s: {'within' if walls['hanging'] <= bound else 'OVER'}")


if __name__ == "__main__":
    main()
