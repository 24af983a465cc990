"""The mpmath oracle at inputs whose outputs span a huge exponent range (a benchmark script, not a test).

gelu_tanh(−1000) = −1000/(1 + e^(7.1e7)) is about 2^(−10^8): the objective <dy, F(x ± h·v)> then adds terms
10^8 bits apart. Summed as one integer at the smallest exponent, that is a 10^8-bit integer per evaluation;
:func:`gradspec.mpmath_oracle.forward.exact_sum` sums clusters of nearby terms and keeps a far smaller cluster
as a sticky bit, with the same correctly rounded result. Printed: CPU seconds of one ``check_sample`` on a
(2, 3) sample with ±1000 in it (median of ``--repeats``), and of the objective's dot product by both sums.

Usage::

    python benchmarks/bench_wide_exponents.py --repeats 5
"""
from __future__ import annotations

import argparse
import statistics
import time

import mpmath
import numpy as np
from mpmath import mp
from mpmath.libmp import from_man_exp

import gradspec.reference as ref
from gradspec import registry
from gradspec.mpmath_oracle import forward as F, oracle as O


def integer_sum(terms):
    """The sum as one integer at the smallest exponent, rounded once (the definition exact_sum must match)."""
    terms = [(m, e) for m, e in terms if m]
    low = min(e for _, e in terms)
    return mp.make_mpf(from_man_exp(sum(m << (e - low) for m, e in terms), low, mp.prec, "n"))


def cpu(fn, repeats):
    times = []
    for _ in range(repeats):
        t = time.process_time()
        out = fn()
        times.append(time.process_time() - t)
    return statistics.median(times), out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    op = registry.get("gelu_tanh")
    sample = {"x": np.array([[1000.0, -1000.0, 0.5], [-3.0, 2.0, -1000.0]])}
    t, o = cpu(lambda: O.check_sample(op, ref, sample, np.random.default_rng(0)), args.repeats)
    print(f"check_sample(gelu_tanh, x with ±1000): {t:.3f} s CPU, worst backward error {o.backward_worst:.3g} × tol")
    with mp.workdps(85):
        y = F.sample_to_mp(sample)["x"].ravel()
        y = np.array([v / (1 + mpmath.exp(-2 * mpmath.sqrt(2 / mp.pi) * (v + mpmath.mpf(44715) / 10**6 * v**3)))
                      for v in y], dtype=object)
        parts = F.float_parts(np.linspace(-1.0, 1.0, y.size))
        terms = [((-m if yi._mpf_[0] else m) * yi._mpf_[1], e + yi._mpf_[2]) for m, e, yi in zip(*parts, y)]
        t_new, a = cpu(lambda: F.exact_sum(terms), args.repeats)
        t_old, b = cpu(lambda: integer_sum(terms), args.repeats)
    print(f"<dy, gelu_tanh(x)>: exact_sum {t_new:.5f} s, one integer {t_old:.3f} s CPU; equal: {a == b}")


if __name__ == "__main__":
    main()
