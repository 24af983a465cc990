r"""Golden test vectors: a versioned, language-neutral corpus of the spec's values.

``gradspec vectors --out DIR`` writes, for every op of the registry, a few
cases (inputs, hyperparameters, cotangents, outputs and gradients) computed in
mpmath at 50 significant digits (:mod:`gradspec.mpmath_oracle.vectors_mp`, imported only to write) from the spec's closed
forms (the formulas of the reference docstrings; optimisers, clipping and the
perceptron by their update rules), stored as decimal strings of
:data:`DIGITS` = 40 significant digits in JSON, the same values as float64 in
``.npz``, a JSON Schema (``schema.json``) and a README. Inputs are float64
values written with 40 digits, which parse back to the same float64; every
output is the exact value of the spec *at those float64 inputs*.

``gradspec check --vectors DIR --impl MODULE`` checks an implementation
against a corpus with float64 arithmetic only (no SymPy, no mpmath): each
array the implementation returns must satisfy, element by element,

.. math:: |a - t| \le 10^{-9}\,|t| + 10^{-12}\max(1, \max|t|)

where :math:`t` is the stored truth rounded to float64 (:data:`RTOL`,
:data:`ATOL`): as tight as fd64's forward check, and 1000 times tighter than its
central differences. The float64 reference meets it with a margin of more than
6000 (worst 1.5e-4 of the tolerance over a corpus of 20 registry samples per op,
seed 0), while a 0.1 % error in one element, or eps inside Adam's square root,
fails it.
Initialisers are random: their cases store the fans, the family and the exact
target variance, and the check applies fd64's statistical test against them.

Loading never unpickles (``np.load(..., allow_pickle=False)``). A missing,
truncated or malformed file raises :class:`VectorsError` naming the file and
the field (the CLI prints it and exits with status 2).

Layout of a corpus::

    DIR/manifest.json       format, format_version, gradspec_version, digits, ops -> files
    DIR/schema.json         JSON Schema of ops/<op>.json
    DIR/README.md           this description, for people who do not read Python
    DIR/ops/<op>.json       the cases, decimal strings
    DIR/ops/<op>.npz        the same arrays as float64 (int64 for labels), key "<case>/<section>/<name>[/<i>...]"
"""
from __future__ import annotations

import json
import os
import zipfile
from typing import Any

import numpy as np

from . import __version__, conventions, registry
from .spec import OpSpec

FORMAT = "gradspec-vectors"
FORMAT_VERSION = 1
DIGITS = 40  # significant digits of every stored decimal (gradspec.mpmath_oracle.vectors_mp computes at 50)
DEFAULT_CASES = 3
RTOL, ATOL = 1e-9, 1e-12


class VectorsError(Exception):
    """A corpus that cannot be read: names the file and the field."""

    def __init__(self, file: str, field: str, problem: str):
        self.file, self.field, self.problem = file, field, problem
        super().__init__(f"{file}: {field}: {problem}")


def make_cases(op: OpSpec, n: int, rng: np.random.Generator) -> list[tuple[str, dict]]:
    """(source, sample) pairs: ``n`` registry samples (the record's exact sampler when it has one) plus its kink cases."""
    sampler = op.sample.exact or op.sample
    out = [(f"registry sample {i}", sampler(rng)) for i in range(n)]
    return out + [(f"kink case: {c.title} ({c.convention})", c.sample) for c in conventions.cases(op)]


def build_case(op: OpSpec, index: int, source: str, s: dict, rng) -> dict:
    """One JSON case of ``op`` on sample ``s`` (drawing the cotangent from ``rng``)."""
    import mpmath

    from .mpmath_oracle.vectors_mp import M, enc, enc_array, spec_values

    _mpf = mpmath.mpf
    case: dict[str, Any] = {"id": f"{op.name}/{index}", "source": source}
    if op.kind_facts.statistical:
        from .reference.init import fans, target

        fan_in, fan_out = fans(s["shape"])
        family, _ = target(op.name, s["shape"])
        var = spec_values(op, s)["variance"]
        case["inputs"] = {"shape": [int(v) for v in s["shape"]]}
        case["targets"] = {"fan_in": fan_in, "fan_out": fan_out, "family": family,
                           "variance": enc_array(np.array(var, dtype=object))}
        return case
    if op.kind_facts.trajectory:
        case["inputs"] = {"w": enc(s["w"]), "grads": enc(s["grads"])}
        case["hyper"] = {k: enc(float(v)) for k, v in s["hyper"].items()}
    else:
        case["inputs"] = {a.name: enc(s[a.name]) for a in op.args}
    dy = None
    if op.kind_facts.array_cotangent:
        from . import reference as ref

        dy = rng.normal(size=np.shape(getattr(ref, op.forward)(*op.forward_args(s))))
    elif op.kind_facts.scalar_output:
        dy = np.asarray(float(rng.choice([-1.0, 1.0]) * rng.uniform(0.5, 2.0)))
    vals = spec_values(op, s, dy)
    if dy is not None:
        case["cotangent"] = enc_array(M(dy) if np.ndim(dy) else np.array(_mpf(float(dy)), dtype=object))
    case["outputs"] = {k: enc(v) for k, v in vals["outputs"].items()}
    if vals["gradients"]:
        case["gradients"] = {k: enc(v) for k, v in vals["gradients"].items()}
    return case


def _npz_arrays(prefix: str, value, out: dict):
    """Flatten an encoded value into float64/int64 arrays keyed by path."""
    if isinstance(value, dict) and "dtype" in value and "data" in value:
        dt = np.int64 if value["dtype"] == "int64" else np.float64
        out[prefix] = np.array([dt(v) if dt is np.int64 else float(v) for v in value["data"]], dtype=dt).reshape(value["shape"])
    elif isinstance(value, dict):
        for k, v in value.items():
            _npz_arrays(f"{prefix}/{k}", v, out)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _npz_arrays(f"{prefix}/{i}", v, out)


def _working_dps() -> int:
    from .mpmath_oracle.vectors_mp import WORKING_DPS

    return WORKING_DPS


def write(out_dir: str, ops=None, cases: int = DEFAULT_CASES, seed: int = 0) -> dict:
    """Write a corpus to ``out_dir``; returns the manifest. Deterministic for a given seed."""
    names = list(registry.REGISTRY) if ops is None else list(ops)
    specs = [registry.get(n) for n in names]
    os.makedirs(os.path.join(out_dir, "ops"), exist_ok=True)
    manifest = {"format": FORMAT, "format_version": FORMAT_VERSION, "gradspec_version": __version__, "digits": DIGITS,
                "working_dps": _working_dps(), "seed": seed, "tolerance": {"rtol": RTOL, "atol": ATOL}, "ops": {}}
    for k, op in enumerate(specs):
        rng = np.random.default_rng([seed, k, len(op.name)])
        doc = {"format": FORMAT, "format_version": FORMAT_VERSION, "op": op.name, "kind": op.kind,
               "functions": list(op.functions),
               "args": [{"name": a.name, "role": a.role, "differentiable": a.differentiable} for a in op.args],
               "conventions": list(op.conventions), "digits": DIGITS, "working_dps": _working_dps(), "cases": []}
        for i, (source, s) in enumerate(make_cases(op, cases, rng)):
            doc["cases"].append(build_case(op, i, source, s, rng))
        arrays: dict[str, np.ndarray] = {}
        for i, case in enumerate(doc["cases"]):
            for section in ("inputs", "hyper", "cotangent", "outputs", "gradients", "targets"):
                if section in case:
                    _npz_arrays(f"{i}/{section}", case[section], arrays)
        jpath, npath = f"ops/{op.name}.json", f"ops/{op.name}.npz"
        with open(os.path.join(out_dir, jpath), "w", encoding="utf-8") as fh:
            json.dump(doc, fh, indent=1)
            fh.write("\n")
        np.savez(os.path.join(out_dir, npath), **arrays)
        manifest["ops"][op.name] = {"json": jpath, "npz": npath, "cases": len(doc["cases"]), "kind": op.kind}
    with open(os.path.join(out_dir, "manifest.json"), "w", encoding="utf-8") as fh:
        json.dump(manifest, fh, indent=1)
        fh.write("\n")
    with open(os.path.join(out_dir, "schema.json"), "w", encoding="utf-8") as fh:
        json.dump(SCHEMA, fh, indent=1)
        fh.write("\n")
    with open(os.path.join(out_dir, "README.md"), "w", encoding="utf-8") as fh:
        fh.write(README.format(version=__version__, digits=DIGITS, dps=_working_dps(), rtol=RTOL, atol=ATOL,
                               fmt=FORMAT, fv=FORMAT_VERSION, n=len(specs)))
    return manifest


ARRAY_SCHEMA = {
    "type": "object", "required": ["dtype", "shape", "data"], "additionalProperties": False,
    "description": "An array in row-major (C) order. float64: decimal strings of 40 significant digits "
                   "(\"0\" for zero); int64: JSON integers. A scalar has shape [].",
    "properties": {"dtype": {"enum": ["float64", "int64"]},
                   "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}},
                   "data": {"type": "array", "items": {"oneOf": [
                       {"type": "string", "pattern": "^-?(0|[0-9](\\.[0-9]+)?(e[-+]?[0-9]+)?)$"}, {"type": "integer"}]}}},
}

SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://gradspec.invalid/vectors/op.schema.json",
    "title": "gradspec golden test vectors: one op",
    "description": "ops/<op>.json of a corpus written by `gradspec vectors`. Every float is a decimal string with 40 "
                   "significant digits, computed in mpmath at 50 digits from the spec's closed forms; inputs are float64 "
                   "values (their strings parse back to the same float64), outputs are exact at those inputs.",
    "type": "object",
    "required": ["format", "format_version", "op", "kind", "functions", "args", "digits", "working_dps", "cases"],
    "$defs": {
        "array": ARRAY_SCHEMA,
        "value": {"description": "an array, an integer hyperparameter (stride, pad, kernel), a string choice "
                                 "(hidden, output), or a list of values (grads; params as [[W, b], ...])",
                  "oneOf": [{"$ref": "#/$defs/array"}, {"type": "integer"}, {"type": "string"},
                            {"type": "array", "items": {"$ref": "#/$defs/value"}}]},
        "values": {"type": "object", "additionalProperties": {"$ref": "#/$defs/value"}},
    },
    "properties": {
        "format": {"const": FORMAT},
        "format_version": {"const": FORMAT_VERSION, "description": "bumped on any incompatible change"},
        "op": {"type": "string", "description": "the op's name in the registry (`gradspec ops`)"},
        "kind": {"enum": ["differentiable", "loss", "function", "optimizer", "init", "network", "rule"]},
        "functions": {"type": "array", "items": {"type": "string"},
                      "description": "protocol functions: forward then backward; init then update; or the one function"},
        "args": {"type": "array", "description": "the forward's positional arguments in order",
                 "items": {"type": "object", "required": ["name", "role", "differentiable"]}},
        "conventions": {"type": "array", "items": {"type": "string"}},
        "digits": {"type": "integer", "minimum": 30}, "working_dps": {"type": "integer"},
        "cases": {"type": "array", "items": {
            "type": "object", "required": ["id", "source", "inputs"],
            "properties": {
                "id": {"type": "string"}, "source": {"type": "string"},
                "inputs": {"$ref": "#/$defs/values",
                           "description": "forward arguments by name (optimizers: w and the list of grads, one per step; "
                                          "init: shape)"},
                "hyper": {"$ref": "#/$defs/values", "description": "optimizers: keyword hyperparameters of every update"},
                "cotangent": {"$ref": "#/$defs/array",
                              "description": "dy passed to the backward (shape of the output; shape [] for losses)"},
                "outputs": {"$ref": "#/$defs/values",
                            "description": "forward: the forward's value; output: a function's or rule's value "
                                           "(perceptron: [w_new, b_new]); trajectory: w after each optimizer step; "
                                           "loss: the network's loss"},
                "gradients": {"$ref": "#/$defs/values",
                              "description": "the backward's VJP per differentiable argument name (networks: params as "
                                             "[[dW, db], ...])"},
                "targets": {"type": "object", "description": "init: fan_in, fan_out, family and the exact variance"},
            }}},
    },
}

README = """# gradspec golden test vectors

Written by gradspec {version} (`gradspec vectors`), format `{fmt}` version {fv}, {n} ops.

Every value of the spec needed to test an implementation of the protocol in any
language: per op, a few cases with their inputs, hyperparameters, cotangent
`dy`, outputs and gradients.

* `ops/<op>.json`: the cases. Every float is a decimal string with {digits}
  significant digits computed with mpmath at {dps} digits from the spec's closed
  forms (optimisers, clipping and the perceptron by their update rules). Inputs
  are float64 values: parse each string to the nearest float64 and you get the
  exact input; the outputs and gradients are the exact values of the spec at
  those float64 inputs, rounded to {digits} digits.
* `ops/<op>.npz`: the same arrays in float64 (int64 for labels), NumPy's zip
  format, keys `<case>/<section>/<name>[/<index>...]` (e.g. `0/gradients/W`,
  `2/inputs/grads/1`, `0/gradients/params/1/0` for dW of layer 2). No pickled
  objects: load with `allow_pickle=False`.
* `schema.json`: JSON Schema of `ops/<op>.json`; `manifest.json`: the index.

Conventions the values encode (also in each file): relu'(0) = 0; step(0) = 0;
max-pool padding never wins and a tie goes to the first maximum in row-major
window order; avg-pool divides by kernel² (padding counts); batchnorm uses the
biased variance with eps inside the square root; inverted dropout with p the
drop probability; Adam's first update uses t = 1, bias-corrected, eps outside
the square root; adagrad/rmsprop eps outside the root; momentum v <- mu v - lr g,
w <- w + v. Losses are means over the batch and their backward takes a scalar dy.
Cases whose source starts with "kink case" sit exactly on a kink.

Suggested tolerance for a float64 implementation (what `gradspec check --vectors`
uses), element by element: |a - t| <= {rtol:g}·|t| + {atol:g}·max(1, max|t|), with t
the stored value rounded to float64. Initialisers are random: their cases give
fan_in, fan_out, the family and the exact target variance.
"""


# =========================================================================== loading (no mpmath, no pickle)
def _read_json(root: str, rel: str) -> Any:
    path = os.path.join(root, rel)
    if not os.path.isfile(path):
        raise VectorsError(rel, "(file)", f"missing from the corpus at {root}")
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except json.JSONDecodeError as exc:
        raise VectorsError(rel, "(file)", f"not valid JSON (truncated or corrupted?): {exc.msg} at line {exc.lineno} "
                                          f"column {exc.colno}") from None
    except UnicodeDecodeError as exc:
        raise VectorsError(rel, "(file)", f"not UTF-8 text: {exc}") from None


def load_npz(root: str, rel: str) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz`` file, never unpickling; a bad file raises VectorsError naming it and the key."""
    path = os.path.join(root, rel)
    if not os.path.isfile(path):
        raise VectorsError(rel, "(file)", f"missing from the corpus at {root}")
    try:
        npz = np.load(path, allow_pickle=False)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise VectorsError(rel, "(file)", f"not a readable .npz (truncated or corrupted?): {type(exc).__name__}: {exc}") from None
    out = {}
    with npz:
        for key in npz.files:
            try:
                arr = npz[key]
            except ValueError as exc:  # an object array: loading it would unpickle
                raise VectorsError(rel, key, f"refused: {exc} (a corpus holds only float64/int64 arrays)") from None
            except (zipfile.BadZipFile, OSError, EOFError, KeyError) as exc:
                raise VectorsError(rel, key, f"unreadable: {type(exc).__name__}: {exc}") from None
            if arr.dtype not in (np.float64, np.int64):
                raise VectorsError(rel, key, f"dtype must be float64 or int64, got {arr.dtype}")
            out[key] = arr
    return out


def _dec_array(v, file: str, field: str) -> np.ndarray:
    if not isinstance(v, dict) or not {"dtype", "shape", "data"} <= set(v):
        raise VectorsError(file, field, f"must be an array object with dtype, shape and data, got {type(v).__name__}")
    shape, data, dtype = v["shape"], v["data"], v["dtype"]
    if dtype not in ("float64", "int64"):
        raise VectorsError(file, f"{field}.dtype", f"must be 'float64' or 'int64', got {dtype!r}")
    if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
        raise VectorsError(file, f"{field}.shape", f"must be a list of non-negative integers, got {shape!r}")
    if not isinstance(data, list) or len(data) != int(np.prod(shape)):
        n = len(data) if isinstance(data, list) else type(data).__name__
        raise VectorsError(file, f"{field}.data", f"must hold prod(shape {shape}) = {int(np.prod(shape))} values, got {n}")
    try:
        if dtype == "int64":
            if not all(isinstance(d, int) and not isinstance(d, bool) for d in data):
                raise ValueError("int64 data must be JSON integers")
            return np.array(data, dtype=np.int64).reshape(shape)
        if not all(isinstance(d, str) for d in data):
            raise ValueError("float64 data must be decimal strings")
        return np.array([float(d) for d in data], dtype=np.float64).reshape(shape)
    except (ValueError, OverflowError) as exc:
        raise VectorsError(file, f"{field}.data", str(exc)) from None


def decode(v, file: str, field: str):
    """A sample value back from JSON (arrays -> float64/int64 arrays, scalars shape [] -> float)."""
    if isinstance(v, dict) and "dtype" in v:
        a = _dec_array(v, file, field)
        return float(a) if a.shape == () and a.dtype == np.float64 else a
    if isinstance(v, list):
        return [decode(e, file, f"{field}[{i}]") for i, e in enumerate(v)]
    if isinstance(v, (int, str)) and not isinstance(v, bool):
        return v
    if isinstance(v, dict):
        return {k: decode(e, file, f"{field}.{k}") for k, e in v.items()}
    raise VectorsError(file, field, f"unexpected value of type {type(v).__name__}")


def manifest(root: str) -> dict:
    """The corpus' ``manifest.json`` (a VectorsError when it is missing or not JSON)."""
    return _read_json(root, "manifest.json")


def load(root: str, ops=None) -> dict[str, dict]:
    """Read and validate a corpus: op name -> its document with decoded cases. Raises VectorsError."""
    man = manifest(root)
    if not isinstance(man, dict):
        raise VectorsError("manifest.json", "(root)", "must be a JSON object")
    if man.get("format") != FORMAT:
        raise VectorsError("manifest.json", "format", f"must be {FORMAT!r}, got {man.get('format')!r}")
    if man.get("format_version") != FORMAT_VERSION:
        raise VectorsError("manifest.json", "format_version",
                           f"this gradspec reads version {FORMAT_VERSION}, got {man.get('format_version')!r}")
    entries = man.get("ops")
    if not isinstance(entries, dict):
        raise VectorsError("manifest.json", "ops", "must be an object mapping op names to files")
    wanted = list(entries) if ops is None else list(ops)
    missing = [o for o in wanted if o not in entries]
    if missing:
        raise VectorsError("manifest.json", "ops", f"the corpus has no vectors for {missing}; it has {sorted(entries)}")
    out = {}
    for name in wanted:
        if name not in registry.REGISTRY:
            raise VectorsError("manifest.json", f"ops.{name}", f"unknown op; known: {', '.join(registry.REGISTRY)}")
        e = entries[name]
        if not isinstance(e, dict) or not isinstance(e.get("json"), str) or not isinstance(e.get("npz"), str):
            raise VectorsError("manifest.json", f"ops.{name}", "must give the 'json' and 'npz' file names")
        doc = _read_json(root, e["json"])
        f = e["json"]
        for key in ("format", "op", "kind", "cases"):
            if not isinstance(doc, dict) or key not in doc:
                raise VectorsError(f, key, "missing")
        if doc["op"] != name or doc["kind"] != registry.get(name).kind:
            raise VectorsError(f, "op", f"must be {name!r} of kind {registry.get(name).kind!r}, got {doc['op']!r} {doc['kind']!r}")
        if not isinstance(doc["cases"], list) or not doc["cases"]:
            raise VectorsError(f, "cases", "must be a non-empty list")
        arrays = load_npz(root, e["npz"])
        cases = []
        for i, c in enumerate(doc["cases"]):
            if not isinstance(c, dict) or "inputs" not in c:
                raise VectorsError(f, f"cases[{i}].inputs", "missing")
            dc = {"id": c.get("id", f"{name}/{i}"), "source": c.get("source", "")}
            for section in ("inputs", "hyper", "cotangent", "outputs", "gradients", "targets"):
                if section in c:
                    dc[section] = decode(c[section], f, f"cases[{i}].{section}")
            flat: dict[str, np.ndarray] = {}
            for section in ("inputs", "hyper", "cotangent", "outputs", "gradients", "targets"):
                if section in c:
                    _npz_arrays(f"{i}/{section}", c[section], flat)
            for key, arr in flat.items():
                if key not in arrays:
                    raise VectorsError(e["npz"], key, f"missing (the JSON has it: {f})")
                if arrays[key].shape != arr.shape or not np.array_equal(arrays[key], arr):
                    raise VectorsError(e["npz"], key, f"differs from the JSON's values in {f}")
            cases.append(dc)
        out[name] = {"doc": doc, "cases": cases}
    return out


# =========================================================================== checking an implementation from a corpus
def main_vectors(args, split) -> int:
    """``gradspec vectors --out DIR [--ops ...] [--cases N] [--seed S]``: exit 0, or 2 for a usage error."""
    import sys

    ops = split(args.ops) or None
    unknown = [o for o in ops or [] if o not in registry.REGISTRY]
    if unknown:
        print(f"gradspec vectors: unknown op(s) {unknown}; known: {', '.join(registry.REGISTRY)}", file=sys.stderr)
        return 2
    cases = DEFAULT_CASES if args.cases is None else args.cases
    if cases < 1:
        print(f"gradspec vectors: --cases must be >= 1, got {cases}", file=sys.stderr)
        return 2
    try:
        man = write(args.out, ops=ops, cases=cases, seed=args.seed)
    except OSError as exc:
        print(f"gradspec vectors: cannot write {args.out}: {exc}", file=sys.stderr)
        return 2
    total = sum(e["cases"] for e in man["ops"].values())
    print(f"wrote {total} cases of {len(man['ops'])} ops to {args.out} ({DIGITS} significant digits; "
          f"format {FORMAT} v{FORMAT_VERSION})")
    return 0
