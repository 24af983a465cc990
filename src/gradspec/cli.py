"""The ``gradspec`` command line: ``gradspec check``, ``gradspec ops``, ``report``, ``compare``, ``vectors``.

Exit status of ``check``: 0 when every op passes (or is not implemented),
1 when any op fails or errors, 2 for a usage error or an implementation that
cannot be imported.
"""
from __future__ import annotations

import argparse
import json
import sys

from . import __version__, oracles as oracle_registry, registry
from .impl import ENV_VAR, ImplementationError
from .limits import LimitsError
from .profiles import DEFAULT_ORACLES, option_problem

SYMBOL = {"pass": "ok", "fail": "FAIL", "error": "ERROR", "partial": "part", "not_implemented": "-",
          "not_applicable": "n/a"}


def _split(values):
    out = []
    for v in values or []:
        out += [p for p in v.replace(",", " ").split() if p]
    return out


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="gradspec", description="Verify backpropagation against a spec.")
    p.add_argument("--version", action="version", version=f"gradspec {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("check", help="check an implementation op by op")
    c.add_argument("--impl", help=f"MODULE, MODULE:OBJECT or file.py (default: ${ENV_VAR}, else gradspec.reference)")
    c.add_argument("--ops", nargs="+", metavar="NAME", help="ops to check (default: all); comma or space separated")
    c.add_argument("--oracle", nargs="+", metavar="NAME", default=None,
                   help=f"oracles to run (default: {' '.join(DEFAULT_ORACLES)}); known: {', '.join(oracle_registry.ORACLES)}")
    c.add_argument("--seed", type=int, default=0, help="seed of every random draw (default 0)")
    c.add_argument("--timeout", type=float, default=None, metavar="S",
                   help="seconds one call of the implementation may take (default 10, 3x for the first call of a function "
                        "and for the import; 0: none)")
    c.add_argument("--examples", type=int, default=None, help="samples per op and oracle (default: the oracle's)")
    c.add_argument("--profile", choices=["dev", "ci", "thorough"], default="dev",
                   help="example counts: dev (default, each oracle's own), ci (3x), thorough (10x); --examples overrides")
    c.add_argument("--json", metavar="FILE", help="write the structured result to FILE ('-' for stdout)")
    c.add_argument("-q", "--quiet", action="store_true", help="print only failures and the summary")
    c.add_argument("--vectors", metavar="DIR", default=None,
                   help="check against the golden vectors in DIR (written by `gradspec vectors`) instead of the oracles")
    c.add_argument("--style", choices=["cache", "layers", "network"], default=None,
                   help="the --impl code is written in this style (cs231n cache functions, fish-book layer classes, "
                        "a Nielsen network): an adapter kit wraps it (gradspec.adapters.kits)")
    c.add_argument("--mapping", metavar="FILE", default=None,
                   help="JSON mapping for the kit: which function or class is which op, hyperparameter names")
    c.add_argument("--limits", metavar="FILE", default=None,
                   help="JSON {op: {hyperparameter: value, [values] or {min, max}}}: what the implementation supports; "
                        "its ops are sampled within it (default: the implementation's __gradspec_limits__)")
    v = sub.add_parser("vectors", help="write the golden test vectors (JSON with 40-digit decimals, .npz, schema)")
    v.add_argument("--out", metavar="DIR", required=True, help="output directory (created if needed)")
    v.add_argument("--ops", nargs="+", metavar="NAME", help="ops to include (default: all)")
    v.add_argument("--cases", type=int, default=None, help="registry samples per op (default 3; kink cases are added)")
    v.add_argument("--seed", type=int, default=0, help="seed of the samples and cotangents (default 0)")
    o = sub.add_parser("ops", help="list the ops of the registry")
    o.add_argument("--json", action="store_true", help="print the registry as JSON")
    r = sub.add_parser("report", help="write the HTML verification report (index.html + report.json)")
    r.add_argument("--impl", action="append", default=None,
                   help=f"MODULE, MODULE:OBJECT or file.py (default: ${ENV_VAR}, else gradspec.reference); "
                        "given two or more times: the same as `gradspec compare` with those implementations")
    r.add_argument("--out", metavar="DIR", default=None, help="output directory (default: reports/out)")
    r.add_argument("--quick", action="store_true", help="one example per op and oracle, experiments at batch 100")
    r.add_argument("--seed", type=int, default=0, help="seed of every random draw (default 0)")
    r.add_argument("--oracle", nargs="+", metavar="NAME", default=None,
                   help="restrict the oracles (default: every registered oracle that imports)")
    r.add_argument("--ops", nargs="+", metavar="NAME", help="restrict the ops of the matrix (default: all)")
    r.add_argument("--limits", metavar="FILE", default=None,
                   help="JSON of declared limits, as for check (default: the implementation's __gradspec_limits__)")
    r.add_argument("--style", choices=["cache", "layers", "network"], default=None,
                   help="the --impl code is written in this style: an adapter kit wraps it, as for check")
    r.add_argument("--mapping", metavar="FILE", default=None, help="JSON mapping for the kit, as for check")
    r.add_argument("--no-experiments", action="store_true", help="skip the experiments (their sections say so)")
    r.add_argument("--experiments", nargs="+", metavar="NAME", default=None,
                   help="run only these experiments (default: all; the names are in gradspec.reports.build.EXPERIMENT_NAMES)")
    m = sub.add_parser("compare", help="ops × implementations: one HTML page + compare.json (status and named findings per cell)")
    m.add_argument("--impl", action="append", metavar="MODULE", default=None,
                   help="an implementation (MODULE, MODULE:OBJECT or file.py); repeat for each column, in column order")
    m.add_argument("--out", metavar="DIR", default=None, help="output directory (default: reports/out/compare)")
    m.add_argument("--oracle", "--oracles", nargs="+", metavar="NAME", default=None, dest="oracle",
                   help=f"oracles to run (default: {' '.join(DEFAULT_ORACLES)}); known: {', '.join(oracle_registry.ORACLES)}")
    m.add_argument("--ops", nargs="+", metavar="NAME", help="ops (rows) to include (default: every op of the registry)")
    m.add_argument("--seed", type=int, default=0, help="seed of every random draw (default 0)")
    m.add_argument("--examples", type=int, default=None, help="samples per op and oracle (default: the oracle's)")
    m.add_argument("--profile", choices=["dev", "ci", "thorough"], default="dev",
                   help="example counts as in check; --examples overrides")
    m.add_argument("--timeout", type=float, default=None, metavar="S",
                   help="seconds one call of an implementation may take (as in check; default 10, 3x for a first call and "
                        "for the import)")
    return p


#: Exit status when the reader of the output went away (``gradspec ... | head``): 128 + SIGPIPE, the status of a
#: command that SIGPIPE ended.
CLOSED_PIPE = 141


def main(argv=None) -> int:
    """Run one command; a reader that closes the output early (``gradspec check | head``) ends it quietly
    with :data:`CLOSED_PIPE`, without a traceback."""
    try:
        status = run_command(argv)
        sys.stdout.flush()  # what is still buffered fails here, not in the interpreter's exit
        return status
    except BrokenPipeError:
        quiet_closed_stdio()
        return CLOSED_PIPE


def quiet_closed_stdio() -> None:
    """Point stdout and stderr at the null device where their reader has gone, so nothing more is written
    and the interpreter's final flush does not fail."""
    import os

    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (BrokenPipeError, ValueError, OSError):
            try:
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, stream.fileno())
                os.close(devnull)
            except (OSError, ValueError, AttributeError):  # not a file (a test's capture): nothing to flush
                pass


def run_command(argv=None) -> int:
    """Parse ``argv`` and run the command (:func:`main` adds the closed-pipe handling)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    if args.command == "ops":
        return _cmd_ops(args)
    if args.command == "vectors":
        from .vectors import main_vectors

        return main_vectors(args, _split)
    if args.command == "compare":
        from .reports.compare import main_compare

        return main_compare(args, _split)
    if args.command == "report" and len(args.impl or []) >= 2 and (args.style or args.mapping):
        print("gradspec report: --style/--mapping wrap one implementation; give one --impl", file=sys.stderr)
        return 2
    if args.command == "report" and len(args.impl or []) >= 2:  # several implementations: a comparison
        from .reports.compare import main_report_compare

        return main_report_compare(args, _split)
    if args.command == "report":
        args.impl = args.impl[0] if args.impl else None
        from .reports.build import main_report

        return main_report(args, _split)
    return _cmd_check(args, parser)


def _cmd_ops(args) -> int:
    if args.json:
        print(json.dumps([op.describe() for op in registry.OPS], indent=2))
        return 0
    for op in registry.OPS:
        print(f"{op.name:24s} {op.kind:15s} {op.summary}")
    return 0


def _cmd_check(args, parser) -> int:
    from . import check

    ops = _split(args.ops) or None
    oracles = _split(args.oracle) or list(DEFAULT_ORACLES)
    unknown_ops = [o for o in ops or [] if o not in registry.REGISTRY]
    unknown_oracles = [o for o in oracles if o not in oracle_registry.ORACLES]
    if unknown_ops or unknown_oracles:
        if unknown_ops:
            print(f"gradspec check: unknown op(s) {unknown_ops}; known: {', '.join(registry.REGISTRY)}", file=sys.stderr)
        if unknown_oracles:
            print(f"gradspec check: unknown oracle(s) {unknown_oracles}; known: {', '.join(oracle_registry.ORACLES)}", file=sys.stderr)
        return 2
    problem = option_problem("check", args.timeout, args.examples)
    if problem:
        print(problem, file=sys.stderr)
        return 2
    to_stdout = args.json == "-"
    out = sys.stderr if to_stdout else sys.stdout
    tty = out.isatty()

    def progress(name, i, n):
        if tty:
            out.write(f"\r[{i + 1}/{n}] {name:<28s}")
            out.flush()

    try:
        if args.vectors:  # golden vectors: float64 only, no SymPy or mpmath
            from .oracles.vectors import check_from_vectors

            result = check_from_vectors(args.vectors, impl=args.impl, ops=ops, seed=args.seed, timeout=args.timeout,
                                        progress=progress, limits=args.limits)
        elif args.style or args.mapping:  # code in another style, wrapped by an adapter kit
            from .adapters.kits import run_cli

            from .profiles import examples_for

            examples = args.examples if args.examples is not None else examples_for(args.profile, oracles)
            result = run_cli(args, ops, oracles, examples, progress, out)
        else:
            result = check(impl=args.impl, ops=ops, oracles=oracles, seed=args.seed, examples=args.examples,
                           profile=args.profile, progress=progress, timeout=args.timeout, limits=args.limits)
    except ImplementationError as exc:
        print(f"gradspec check: {exc}", file=sys.stderr)
        return 2
    except LimitsError as exc:
        print(f"gradspec check: bad limits: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - a malformed corpus (gradspec.vectors.VectorsError): usage error
        if type(exc).__name__ != "VectorsError":
            raise
        print(f"gradspec check: bad vectors corpus {args.vectors}: {exc}", file=sys.stderr)
        return 2
    if tty:
        out.write("\r" + " " * 40 + "\r")
    _print_human(result, out, quiet=args.quiet)
    if args.json:
        text = json.dumps(result.to_dict(), indent=2, allow_nan=False)
        if to_stdout:
            print(text)
        else:
            with open(args.json, "w", encoding="utf-8") as fh:
                fh.write(text + "\n")
    return 0 if result.ok else 1


def _print_human(result, out, quiet=False):
    impl = result.implementation
    print(f"gradspec {result.version} checking {impl['name']}" + (f" {impl['version']}" if impl.get("version") else "")
          + f" | oracles: {', '.join(result.oracles)} | seed {result.seed}", file=out)
    limited = result.limits
    if limited:
        print(f"checked within declared limits: {limits_text(limited)} (from {result.limits_source})", file=out)
    warned = []
    for name, r in result.ops.items():
        bad = r.status in ("fail", "error")
        warning = next((c for c in r.checks if c.oracle == "protocol" and c.check == "warnings"), None)
        if warning is not None:
            warned.append(name)
        if quiet and not bad:
            continue
        # the worst error in units of the tolerance, where it says something: not on an error (a check that could
        # not be judged), nor on a failure that is not a value out of tolerance (a modified input, a wrong type)
        worst = max((c.worst_error for c in r.checks if c.worst_error is not None), default=None)
        show = worst is not None and (r.status == "pass" or (r.status == "fail" and worst > 1.0))
        w = f"  worst {worst:.3g}× tol" if show else ""
        print(f"  {SYMBOL[r.status]:5s} {name:24s}{w}".rstrip(), file=out)
        if warning is not None:
            print(f"        {warning.message}", file=out)
        if r.status == "partial":
            missing = sorted({f.details.get("function") for c in r.checks if c.status == "not_implemented"
                              for f in c.findings if f.kind == "missing" and f.details.get("function")})
            print(f"        forward checked; backward not provided ({', '.join(missing)})", file=out)
        if bad:
            for c in r.checks:
                if c.status in ("fail", "error"):
                    print(f"        [{c.oracle}/{c.check}] {c.message}", file=out)
                    for f in c.findings[1:3]:
                        print(f"          {f.message}", file=out)
                    repro = next((f.details.get("reproducer") for f in c.findings if f.details.get("reproducer")), None)
                    if repro and len(repro) < 1500:
                        print("        reproducer:\n" + "\n".join("          " + line for line in repro.splitlines()), file=out)
    if warned:
        print(f"warnings inside the implementation's calls in {len(warned)} op(s): {', '.join(warned)}"
              + (" (shown under each op without -q; in --json as a protocol/warnings check)" if quiet else ""), file=out)
    s = result.summary
    partial = f", {s['partial']} forward only (backward not provided)" if s["partial"] else ""
    print(f"{s['pass']} passed, {s['fail']} failed, {s['error']} errors{partial}, {s['not_implemented']} not implemented "
          f"({s['total']} ops, {result.duration_s:.1f} s)", file=out)


def limits_text(limited: dict) -> str:
    """``max_pool2d pad = 0; mlp hidden in {sigmoid, tanh}`` from a result's ``limits`` ({op: {name: limit}})."""
    from .limits import parse, describe

    return describe(parse(limited, "result"))
