"""Mutation score of the property library: how many known-wrong implementations it catches, per op.

A mutant is *caught* when at least one property of its op fails against it
(shrinking off, derandomized, so the score is reproducible). Run::

    python -m gradspec.properties.mutation_score [--examples N] [--ops OP ...] [--json]

which prints, per op, caught / total and the property that caught each mutant.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from dataclasses import dataclass

from .mutants import MUTANTS, Mutant
from .suite import first_failure

#: Examples per property in the meta-tests and the score (before the property's weight).
META_EXAMPLES = 25


@dataclass
class Kill:
    mutant: Mutant
    caught: bool
    by: str = ""  # the property id that failed
    message: str = ""


def run_mutant(mutant: Mutant, max_examples: int = META_EXAMPLES) -> Kill:
    """Run the properties of ``mutant.op`` against it until one fails."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # an overflow inside a mutant is a failure, as under pytest
        outcome = first_failure(mutant.op, mutant.impl, max_examples=max_examples, derandomize=True, database=None, shrink=False)
    if outcome is None:
        return Kill(mutant, False)
    return Kill(mutant, True, outcome.prop.id, outcome.message)


def mutation_score(mutants=None, max_examples: int = META_EXAMPLES) -> dict[str, dict]:
    """{op: {"caught": int, "total": int, "missed": [names], "kills": {name: property id}}} over ``mutants``."""
    score: dict[str, dict] = {}
    for m in MUTANTS if mutants is None else mutants:
        k = run_mutant(m, max_examples)
        row = score.setdefault(m.op, {"caught": 0, "total": 0, "missed": [], "kills": {}})
        row["total"] += 1
        if k.caught:
            row["caught"] += 1
            row["kills"][m.name] = k.by
        else:
            row["missed"].append(m.name)
    return score


def format_score(score: dict[str, dict]) -> str:
    lines = [f"{'op':24s} {'caught/total':>12s}  caught by"]
    tc = tt = 0
    for op, row in score.items():
        tc, tt = tc + row["caught"], tt + row["total"]
        lines.append(f"{op:24s} {row['caught']:>5d}/{row['total']:<6d}")
        for name, by in row["kills"].items():
            lines.append(f"    {name:46s} {by}")
        for name in row["missed"]:
            lines.append(f"    {name:46s} MISSED")
    lines.append(f"{'total':24s} {tc:>5d}/{tt:<6d} ({100.0 * tc / max(tt, 1):.1f}%)")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m gradspec.properties.mutation_score", description=__doc__.splitlines()[0])
    ap.add_argument("--examples", type=int, default=META_EXAMPLES, help=f"examples per property (default {META_EXAMPLES})")
    ap.add_argument("--ops", nargs="+", help="only the mutants of these ops")
    ap.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = ap.parse_args(argv)
    chosen = [m for m in MUTANTS if not args.ops or m.op in args.ops]
    t0 = time.perf_counter()
    score = mutation_score(chosen, args.examples)
    if args.json:
        print(json.dumps(score, indent=2))
    else:
        print(format_score(score))
        print(f"({len(chosen)} mutants in {time.perf_counter() - t0:.1f} s)")
    return 0 if all(not r["missed"] for r in score.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
