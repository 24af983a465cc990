"""Shared helpers for the reference, registry and checker tests.

* :func:`strict` -- the floating-point regime every reference test runs in:
  overflow, division by zero and invalid operations raise (underflow to zero
  is a correct result and stays silent).
* :func:`vjp_mismatch` / :func:`assert_vjp_matches_fd` -- a float64
  central-difference check of a backward against its forward, with a random
  (never constant) cotangent.
* :func:`assert_no_mutation` -- call a function and check no argument changed.
* :func:`make_impl` / :func:`write_impl` -- build implementations under test:
  the reference with some functions removed or replaced (mutants), as an
  in-memory module or as a ``.py`` file for ``gradspec check --impl``.
* :func:`assert_op_passes` / :func:`diagnosed` / :func:`assert_vectors_catch` -- the scaffold of an op's
  test file: one op of a run passes every check, the diagnosis' names of its failures, and the golden
  vectors passing the reference and failing a variant.

Every helper here is itself shown catching a wrong input in
``tests/meta/test_helpers_meta.py``.
"""
from __future__ import annotations

import copy
import textwrap
import types
from pathlib import Path

import numpy as np

import gradspec.reference as ref
from gradspec import registry
from gradspec.oracles.fd64 import central_difference


def strict():
    """``np.errstate`` that raises on overflow, division by zero and invalid values."""
    return np.errstate(over="raise", divide="raise", invalid="raise")


def area_ops(area: str, kinds=("differentiable", "loss")):
    """Registry entries defined in ``reference/<area>.py`` of the given kinds."""
    return [op for op in registry.OPS if op.area == area and op.kind in kinds]


def op_ids(ops):
    return [op.name for op in ops]


def samples(op, n: int, seed: int = 0):
    """``n`` registry samples of ``op`` from one seeded Generator."""
    rng = np.random.default_rng([seed, len(op.name)] + [ord(c) for c in op.name])
    return [op.sample(rng) for _ in range(n)]


# --------------------------------------------------------------------------- gradient check
def _as_tuple(value, n):
    if n == 1 and not isinstance(value, (tuple, list)):
        return (value,)
    return tuple(value)


def vjp_mismatch(fwd, bwd, args, diff_index, rng, *, scalar=False, rtol=1e-6):
    r"""Largest error of ``bwd`` against central differences of ``fwd``, in units of the tolerance.

    The objective is :math:`f(x) = \langle dy, \mathrm{fwd}(\dots x \dots)\rangle`
    with a random cotangent ``dy`` (normal for array outputs, a random
    non-unit scalar for losses); the backward must return one gradient per
    index in ``diff_index``. The tolerance of each element is
    ``rtol·max(|analytic|, |numeric|) + |D_h − D_2h| + 1e-9·scale`` where
    :math:`D_h - D_{2h}` estimates the truncation error of the difference.
    Returns a float: <= 1 means agreement.
    """
    args = list(args)
    y = fwd(*args)
    dy = float(rng.uniform(0.5, 2.0) * rng.choice([-1.0, 1.0])) if scalar else rng.normal(size=np.shape(y))
    grads = _as_tuple(bwd(*args, dy), len(diff_index))
    assert len(grads) == len(diff_index), f"backward returned {len(grads)} gradients, expected {len(diff_index)}"
    scale = 1.0 + abs(float(np.sum(dy * np.asarray(y))))
    worst = 0.0
    for i, g in zip(diff_index, grads):
        assert np.shape(g) == np.shape(args[i]), f"gradient {i} has shape {np.shape(g)}, argument {np.shape(args[i])}"

        def f(x, i=i):
            a = list(args)
            a[i] = x
            return float(np.sum(dy * np.asarray(fwd(*a))))

        d1, d2, _ = central_difference(f, np.asarray(args[i], dtype=np.float64))
        tol = rtol * np.maximum(np.abs(g), np.abs(d1)) + np.abs(d1 - d2) + 1e-9 * scale
        if np.size(g):
            worst = max(worst, float(np.max(np.abs(np.asarray(g) - d1) / tol)))
    return worst


def assert_vjp_matches_fd(fwd, bwd, args, diff_index, rng, *, scalar=False):
    worst = vjp_mismatch(fwd, bwd, args, diff_index, rng, scalar=scalar)
    assert worst <= 1.0, f"backward differs from central differences: {worst:.3g}× the tolerance"


def op_vjp_mismatch(op, sample, rng, impl=ref):
    """:func:`vjp_mismatch` for a registry entry (differentiable or loss) on one sample."""
    diff = [i for i, a in enumerate(op.args) if a.differentiable]
    return vjp_mismatch(getattr(impl, op.forward), getattr(impl, op.backward), op.forward_args(sample), diff, rng,
                        scalar=op.kind == "loss")


# --------------------------------------------------------------------------- purity
def _equal(a, b) -> bool:
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    return a == b


def assert_no_mutation(fn, *args, **kwargs):
    """Call ``fn`` and assert that no argument (arrays, lists, dicts, nested) changed. Returns the result."""
    before = copy.deepcopy((args, kwargs))
    out = fn(*args, **kwargs)
    for k, (b, a) in enumerate(zip(before[0], args)):
        assert _equal(b, a), f"{getattr(fn, '__name__', fn)} modified its argument {k}"
    for k in before[1]:
        assert _equal(before[1][k], kwargs[k]), f"{getattr(fn, '__name__', fn)} modified its argument {k!r}"
    return out


# --------------------------------------------------------------------------- implementations under test
def protocol_functions() -> list[str]:
    """Every protocol function named by the registry."""
    return [f for op in registry.OPS for f in op.functions]


def make_impl(name: str = "mutant", *, only=None, drop=(), **overrides) -> types.ModuleType:
    """An in-memory module exposing the reference's protocol functions.

    ``only``: keep just the functions of these ops; ``drop``: remove these
    function names; ``overrides``: replace (or add) functions.
    """
    mod = types.ModuleType(name)
    keep_ops = set(only) if only is not None else None
    for op in registry.OPS:
        if keep_ops is not None and op.name not in keep_ops:
            continue
        for fn in op.functions:
            if fn not in drop:
                setattr(mod, fn, getattr(ref, fn))
    for fn, impl in overrides.items():
        setattr(mod, fn, impl)
    return mod


def fixed_eps_batchnorm(fixed: float = 1e-5) -> types.ModuleType:
    """A batchnorm that ignores the eps it is given and always uses ``fixed``: wrong at any other eps, correct
    where it declares eps = ``fixed`` as its limit."""

    def forward(x, gamma, beta, eps):
        return ref.batchnorm_forward(x, gamma, beta, fixed)

    def backward(x, gamma, beta, eps, dy):
        return ref.batchnorm_backward(x, gamma, beta, fixed, dy)

    return make_impl("fixed_eps_batchnorm", only=(), batchnorm_forward=forward, batchnorm_backward=backward)


def write_impl(path: Path, body: str, *, star_reference: bool = True) -> str:
    """Write a ``.py`` implementation (optionally starting from ``from gradspec.reference import *``)."""
    head = "import numpy as np\n"
    if star_reference:
        names = ", ".join(protocol_functions())
        head += f"from gradspec.reference import {names}\n"
    path.write_text(head + textwrap.dedent(body))
    return str(path)


def assert_op_passes(result, op: str) -> None:
    """``op`` passes in ``result`` (a :class:`gradspec.results.RunResult`): status pass, at least one check,
    and every check pass or not_applicable; else AssertionError listing the others."""
    checks = result.ops[op].checks
    others = [(c.oracle, c.check, c.status, c.message) for c in checks if c.status not in ("pass", "not_applicable")]
    assert result.ops[op].status == "pass" and checks and not others, (result.ops[op].status, others)


def diagnosed(result, op: str) -> set[str]:
    """The top diagnosis name of each failed or erred check of ``op`` in ``result``; AssertionError when none
    failed (a variant that passes is a miss, not an empty diagnosis)."""
    bad = [c for c in result.ops[op].checks if c.status in ("fail", "error")]
    assert bad, f"{op}: no check failed"
    return {c.info["diagnosis"][0]["name"] for c in bad if c.info.get("diagnosis")}


def assert_vectors_catch(root: Path, op: str, wrong, cases: int = 2, seed: int = 3) -> None:
    """Golden vectors of ``op`` written at ``root`` pass the reference and fail ``wrong``."""
    from gradspec import vectors
    from gradspec.oracles.vectors import check_from_vectors

    vectors.write(str(root), ops=[op], cases=cases, seed=seed)
    assert check_from_vectors(str(root), ref, ops=[op]).ops[op].status == "pass"
    assert check_from_vectors(str(root), wrong, ops=[op]).ops[op].status == "fail", f"{op}: the vectors passed {wrong}"
